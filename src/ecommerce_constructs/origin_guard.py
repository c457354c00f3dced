"""``OriginGuard``: a regional web ACL that lets only the edge's requests reach an API stage."""

from __future__ import annotations

from aws_cdk import Names
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from ._references import produce_weakly
from .bundling import contract
from .origin_secret import secret_reference

REFUSED_BODY = "refused-not-through-edge"


class OriginGuard(Construct):
    """Blocks every request to ``stage`` that lacks CloudFront's secret ``X-Origin-Verify`` header.

    A WAF rule rather than an API Gateway authorizer: the methods' authorizer is Cognito's, a
    request can have only one, and WAF refuses before API Gateway bills or throttles anything. The
    rule holds two values (both the current secret after a deploy); a rotation writes new and old
    into them until CloudFront sends only the new one, so no request is refused on the way.

    Keyword-only props: ``stage`` (the API Gateway stage to protect), ``secret_name`` (an
    ``OriginSecret`` readable in this region: the primary or a replica).
    Attributes: ``web_acl`` (``CfnWebACL``), ``web_acl_arn``.

    Creates: a REGIONAL WAF web ACL and its association with the stage. Costs while kept: the web
    ACL and its rule bill monthly even when idle, plus per request (https://aws.amazon.com/waf/pricing/).
    """

    def __init__(self, scope: Construct, construct_id: str, *, stage: apigw.Stage, secret_name: str) -> None:
        super().__init__(scope, construct_id)
        terms = contract()
        current = secret_reference(secret_name)

        def header_is(value: str) -> wafv2.CfnWebACL.StatementProperty:
            return wafv2.CfnWebACL.StatementProperty(
                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                        single_header={"Name": contract().ORIGIN_HEADER.lower()}
                    ),
                    positional_constraint="EXACTLY",
                    search_string=value,
                    text_transformations=[
                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                    ],
                )
            )

        name = Names.unique_resource_name(self, max_length=100, separator="-")
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope="REGIONAL",
            description="Only CloudFront, with the origin secret header, may call this API stage",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(
                block=wafv2.CfnWebACL.BlockActionProperty(
                    custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                        response_code=403, custom_response_body_key=REFUSED_BODY
                    )
                )
            ),
            custom_response_bodies={
                REFUSED_BODY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=terms.problem_body(
                        "forbidden",
                        "Not allowed",
                        403,
                        "this endpoint serves the shop's CDN only; use the shop's public URL",
                    ),
                )
            },
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    # ``ecommerce edge rotate-origin-secret`` rewrites this rule's two values.
                    name=contract().ORIGIN_WAF_RULE,
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(allow={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        or_statement=wafv2.CfnWebACL.OrStatementProperty(
                            statements=[header_is(current), header_is(current)]
                        )
                    ),
                    visibility_config=_visibility(f"{name}-{contract().ORIGIN_WAF_RULE}"),
                )
            ],
            visibility_config=_visibility(name),
        )
        association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        association.node.add_dependency(stage)
        produce_weakly(self)  # references to these resources never become exports

    @property
    def web_acl_arn(self) -> str:
        return self.web_acl.attr_arn


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric_name[:128],
        sampled_requests_enabled=True,
    )
