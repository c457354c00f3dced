#!/usr/bin/env python3
"""CDK app: one stack per configured region plus the CloudFront edge stack (see config/regions.yaml)."""

from ecommerce_constructs.app import main

if __name__ == "__main__":
    main()
