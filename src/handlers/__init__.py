"""Lambda handlers, database layer and developer tools for the e-commerce backend.

Nothing in this package imports aws_cdk: it is bundled into the Lambda asset as is.
"""

__version__ = "0.1.0"
