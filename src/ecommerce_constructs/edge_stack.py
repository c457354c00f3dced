"""``EdgeStack``: the global CloudFront distribution (stack ``<app>-edge``, always us-east-1)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from constructs import Construct

from .config import EdgeConfig
from .ecommerce_api import EcommerceApi
from .global_edge import EdgeOrigin, GlobalEdge

_PRICE_CLASSES = {
    "PriceClass_100": cloudfront.PriceClass.PRICE_CLASS_100,
    "PriceClass_200": cloudfront.PriceClass.PRICE_CLASS_200,
    "PriceClass_All": cloudfront.PriceClass.PRICE_CLASS_ALL,
}


class EdgeStack(Stack):
    """A thin composition: ``Edge`` (GlobalEdge) in front of the primary region's API.

    The API's domain crosses regions as a weak reference (``Fn::GetStackOutput``), so no export
    locks the regional stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        edge: EdgeConfig,
        primary_api: EcommerceApi,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", edge.certificate_arn)
            if edge.certificate_arn
            else None
        )
        self.edge = GlobalEdge(
            self,
            "Edge",
            origin=EdgeOrigin(domain_name=primary_api.domain_name, origin_path=primary_api.origin_path),
            price_class=_PRICE_CLASSES[edge.price_class],
            catalog_cache_ttl=Duration.seconds(edge.catalog_cache_ttl_seconds),
            domain_name=edge.domain_name,
            certificate=certificate,
            web_acl_arn=edge.web_acl_arn,
        )
        CfnOutput(
            self,
            "EcommerceDistributionDomainName",
            value=self.edge.distribution_domain_name,
            description="CloudFront domain",
        )
