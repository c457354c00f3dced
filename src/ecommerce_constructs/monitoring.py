"""``ShopMonitoring``: one SNS topic that every alarm of a stack notifies, and one dashboard.

Written with the CloudWatch and SNS L2s rather than a monitoring library: one topic, a handful of
alarms and a dashboard of the metrics the runbook (docs/operations.md) refers to are ~100 lines,
while cdk-monitoring-constructs would add a jsii dependency, its own alarm conventions and its
own cdk-nag findings to every user's app.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from ._references import produce_weakly


class ShopMonitoring(Construct):
    """Alarms notify ``topic``; ``dashboard`` shows what they watch.

    Keyword-only props (defaults in brackets):

    - ``dashboard_name``: [required].
    - ``email``: subscribe this address to the topic (it must confirm the subscription) [None].
    - ``topic_arn``: notify an existing topic in this region instead of creating one [None]. A
      created topic is encrypted with its own KMS key (CloudWatch cannot publish to a topic under
      the AWS-managed SNS key) and refuses non-TLS publishing.

    Attributes: ``topic``, ``dashboard``, ``alarms``. ``add_alarm(alarm)`` routes one more alarm;
    ``add_widgets(*row)`` adds a dashboard row.

    Creates: a dashboard, an SNS topic and its KMS key (unless ``topic_arn``). Costs while kept: a
    dashboard beyond CloudWatch's free three ($3 a month), the key ($1 a month), each alarm added
    ($0.10 a month): https://aws.amazon.com/cloudwatch/pricing/, https://aws.amazon.com/kms/pricing/.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        email: str | None = None,
        topic_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic: sns.ITopic
        if topic_arn is not None:
            self.topic = sns.Topic.from_topic_arn(self, "Topic", topic_arn)
        else:
            key = kms.Key(
                self,
                "TopicKey",
                description="Encrypts the alarm topic; CloudWatch may use it to publish alarms",
                enable_key_rotation=True,
            )
            stack = Stack.of(self)
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # a key policy's "*" is this key
                    # Only for this account's alarms in this region (confused deputy: another
                    # account's alarm must not use the key through the service). IAM user guide,
                    # confused-deputy.html; SNS developer guide, sns-key-management.html.
                    conditions={
                        "StringEquals": {"aws:SourceAccount": stack.account},
                        "ArnLike": {
                            "aws:SourceArn": stack.format_arn(
                                service="cloudwatch",
                                resource="alarm",
                                resource_name="*",
                                arn_format=ArnFormat.COLON_RESOURCE_NAME,
                            )
                        },
                    },
                )
            )
            Validations.of(key).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5", reason="In a KMS key policy the resource '*' means this key."
                )
            )
            topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True, display_name="Shop alarms")
            self.topic = topic
        if email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        self.alarms: list[cloudwatch.Alarm] = []
        self._action = cw_actions.SnsAction(self.topic)
        produce_weakly(self)  # references to these resources never become exports

    def add_alarm(self, alarm: cloudwatch.Alarm) -> None:
        """Notify the topic when ``alarm`` fires and when it recovers."""
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)

    def add_alarms(self, alarms: Sequence[cloudwatch.Alarm]) -> None:
        for alarm in alarms:
            self.add_alarm(alarm)

    def add_widgets(self, *widgets: cloudwatch.IWidget) -> None:
        self.dashboard.add_widgets(*widgets)


def graph(title: str, *metrics: cloudwatch.IMetric, width: int = 8) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6)
