"""Weak cross-stack references, set in code so that no ``cdk.json`` can turn them into exports.

A strong reference is an ``Export`` + ``Fn::ImportValue`` (or, across regions, the
``Custom::CrossRegionExportWriter/Reader`` pair): it locks the producing stack until every consumer
stops importing, which blocks exactly the in-place upgrades this library promises. A weak one is
``Fn::GetStackOutput`` (an output read at deploy time) and locks nothing. aws-cdk-lib's default is
strong unless the app's context sets ``@aws-cdk/core:defaultCrossStackReferences``; a library cannot
own the user's ``cdk.json``, so the strength is set on our scopes instead, which the context
lookup reaches first (``CrossStackReferences``:
https://docs.aws.amazon.com/cdk/api/v2/python/aws_cdk/CrossStackReferences.html).
"""

from __future__ import annotations

from aws_cdk import CfnResource, CrossStackReferences, ReferenceStrength, Stack
from constructs import IConstruct


def consume_weakly(stack: Stack) -> None:
    """References *into* ``stack`` (and its descendants) are weak. Call before adding children."""
    CrossStackReferences.of(stack).consume(ReferenceStrength.WEAK)


def produce_weakly(scope: IConstruct) -> None:
    """References *to* the resources under ``scope`` from any other stack are weak, whatever the
    consuming stack's own setting (for example a user's stack granting its function access)."""
    for construct in scope.node.find_all():
        if isinstance(construct, CfnResource):
            CrossStackReferences.of(construct).produce(ReferenceStrength.WEAK)
