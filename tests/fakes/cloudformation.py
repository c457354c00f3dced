"""CloudFormation's custom-resource protocol, replayed against real handlers behind CDK's Provider framework.

Each rule cites where it comes from (docs/dsql-clusters.md, "What CloudFormation does", has the table):

- Create, then on any failure in the stack a rollback that sends Delete for every resource created or
  being created, in reverse order, the failed one included with the physical id of its FAILED
  response ("When a CREATE operation fails, CloudFormation will automatically issue a DELETE operation
  with the PhysicalResourceId submitted by the FAILED response", aws/aws-cdk#5525; CloudFormation
  User Guide, "Delete request": every Delete carries a PhysicalResourceId). The stack ends
  ROLLBACK_COMPLETE, where "only a delete operation can be performed" (User Guide, stack status codes).
- ``cdk deploy`` of a stack in ROLLBACK_COMPLETE deletes it and creates it again, with a new StackId
  (aws-cdk-cli, toolkit-lib ``deploy-stack.ts``: "Found existing stack … that had previously failed
  creation. Deleting it before attempting to re-create it").
- Update sends ResourceProperties (new) and OldResourceProperties (old) for changed resources; a
  failure anywhere rolls back with an Update whose ResourceProperties are the old properties and
  OldResourceProperties the new ones ("If the update fails, you will get a subsequent Update event
  to roll back to the previous state (with ResourceProperties and OldResourceProperties reversed)",
  aws-cdk-lib custom_resources README). A failed rollback leaves UPDATE_ROLLBACK_FAILED (User Guide,
  "Continue rolling back an update").
- An Update returning another physical id is a replacement: CloudFormation sends Delete for the old
  id after the update succeeds (User Guide, "Update request": "If the value returned is different,
  AWS CloudFormation recognizes the update as a replacement and sends a delete request to the old
  resource"; "Update behaviors": during the cleanup phase), or Delete for the new id if it rolls back.
- Delete of a stack deletes its resources in reverse order; a failure leaves DELETE_FAILED.
- Every request may arrive more than once (Lambda guide, asynchronous invocation: "it's possible for
  it to receive the same event from Lambda multiple times"); ``deliver_twice`` runs each twice and
  keeps the first answer, as CloudFormation takes the first response to its presigned URL.

CDK's Provider framework around the user handlers (aws-cdk-lib ``provider-framework/runtime``):
``onEvent`` once, then ``isComplete`` with the merged event until it says done; a Create whose
``onEvent`` fails answers FAILED with the marker ``AWSCDK::CustomResourceProviderFramework::CREATE_FAILED``
and the Delete that follows with that marker is answered without calling the handler; for Create the
physical id defaults to the RequestId; a Delete that returns another physical id is an error.
A provider ``silent_on`` a request type never answers it: the operation fails after the custom
resource's timeout, and a create's rollback Delete carries a physical id CloudFormation made up.
"""

from __future__ import annotations

import itertools
import random
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

CREATE_FAILED_MARKER = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"
REGION_OF = "us-east-1"
ACCOUNT = "123456789012"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
#: Resolves a resource's properties from what is deployed (other resources' attributes, other
#: stacks' outputs), as CloudFormation resolves Ref/GetAtt/Fn::GetStackOutput before a request.
Properties = Callable[["Lookup"], dict[str, Any]]


class ResourceFailed(Exception):
    """A resource answered FAILED (the reason is what CloudFormation shows)."""


@dataclass(frozen=True)
class Provider:
    """A Provider-framework custom resource provider: the user handlers."""

    on_event: Handler
    is_complete: Handler | None = None
    max_polls: int = 200  # totalTimeout / queryInterval
    #: Request types whose response never reaches CloudFormation (the handler ran, then the
    #: function died or timed out before the framework answered).
    silent_on: frozenset[str] = frozenset()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """What the framework answers CloudFormation: SUCCESS with id and data, or FAILED."""
        if request["RequestType"] == "Delete" and request.get("PhysicalResourceId") == CREATE_FAILED_MARKER:
            return {"Status": "SUCCESS", "PhysicalResourceId": CREATE_FAILED_MARKER, "Data": {}}
        try:
            started = dict(self.on_event(dict(request), None) or {})
        except Exception as exc:
            physical = request.get("PhysicalResourceId") or CREATE_FAILED_MARKER
            return {"Status": "FAILED", "PhysicalResourceId": physical, "Reason": str(exc)}
        physical = (
            started.get("PhysicalResourceId") or request.get("PhysicalResourceId") or request["RequestId"]
        )
        if request["RequestType"] == "Delete" and physical != request["PhysicalResourceId"]:
            return {
                "Status": "FAILED",
                "PhysicalResourceId": request["PhysicalResourceId"],
                "Reason": "DELETE: cannot change the physical resource ID",
            }
        data = dict(started.get("Data") or {})
        if self.is_complete is not None:
            merged = {**request, **started, "PhysicalResourceId": physical}
            for _ in range(self.max_polls):
                try:
                    result = dict(self.is_complete(dict(merged), None))
                except Exception as exc:
                    return {"Status": "FAILED", "PhysicalResourceId": physical, "Reason": str(exc)}
                if result.get("IsComplete"):
                    data |= dict(result.get("Data") or {})
                    break
            else:
                return {"Status": "FAILED", "PhysicalResourceId": physical, "Reason": "Operation timed out"}
        return {"Status": "SUCCESS", "PhysicalResourceId": physical, "Data": data}


@dataclass
class Resource:
    """A custom resource of a stack's template (``properties`` resolved at each deploy)."""

    logical_id: str
    resource_type: str
    provider: Provider | None  # None: a resource that only ever fails (``Trip``)
    properties: Properties = lambda lookup: {}


def Trip(logical_id: str = "Trip") -> Resource:
    """A resource that fails whenever CloudFormation creates or updates it: "anything else in the
    stack failed"."""
    return Resource(logical_id, "Custom::Trip", None)


@dataclass
class Deployed:
    physical_id: str
    properties: dict[str, Any]
    data: dict[str, Any]


@dataclass
class Stack:
    name: str
    region: str
    stack_id: str
    status: str = "CREATE_IN_PROGRESS"
    resources: dict[str, Deployed] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    template: dict[str, Resource] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class Event:
    stack: str
    stack_id: str
    logical_id: str
    request: str
    status: str
    physical_id: str | None
    reason: str | None = None


class Lookup:
    """Attribute values of what is deployed, across stacks (Ref/GetAtt/Fn::GetStackOutput)."""

    def __init__(self, cloud: FakeCloudFormation, stack: Stack) -> None:
        self._cloud, self._stack = cloud, stack

    def ref(self, logical_id: str, stack: str | None = None) -> str:
        return self._deployed(logical_id, stack).physical_id

    def att(self, logical_id: str, name: str, stack: str | None = None) -> Any:
        return self._deployed(logical_id, stack).data[name]

    def _deployed(self, logical_id: str, stack: str | None) -> Deployed:
        owner = self._stack if stack is None else self._cloud.stacks[stack]
        if logical_id not in owner.resources:
            raise ResourceFailed(f"{owner.name}.{logical_id} is not deployed (a reference cannot resolve)")
        return owner.resources[logical_id]


class FakeCloudFormation:
    """Stacks of custom resources, deployed the way CloudFormation and ``cdk deploy`` do it."""

    def __init__(self, *, deliver_twice: bool = False) -> None:
        self.deliver_twice = deliver_twice
        self.stacks: dict[str, Stack] = {}
        self.events: list[Event] = []
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------------------- cdk commands
    def deploy(self, name: str, region: str, template: list[Resource]) -> Stack:
        """``cdk deploy`` of one stack: create, re-create after a failed create, or update."""
        stack = self.stacks.get(name)
        if stack is not None and stack.status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
            self.delete(name)
            if self.stacks[name].status != "DELETE_COMPLETE":
                return self.stacks[name]
            stack = None
        if stack is None or stack.status == "DELETE_COMPLETE":
            return self._create(name, region, template)
        if stack.status.endswith("_FAILED") or stack.status.endswith("_IN_PROGRESS"):
            raise AssertionError(f"cdk deploy cannot update {name} in {stack.status}")
        return self._update(stack, template)

    def delete(self, name: str) -> Stack:
        """``cdk destroy`` of one stack (and what ``cdk deploy`` does to a failed first create)."""
        stack = self.stacks[name]
        stack.status = "DELETE_IN_PROGRESS"
        for logical_id in reversed(stack.order):
            deployed = stack.resources[logical_id]
            answer = self._send(
                stack, logical_id, "Delete", deployed.properties, physical_id=deployed.physical_id
            )
            if answer["Status"] != "SUCCESS":
                stack.status, stack.reason = "DELETE_FAILED", answer.get("Reason")
                return stack
            del stack.resources[logical_id]
            stack.order.remove(logical_id)
        stack.status = "DELETE_COMPLETE"
        return stack

    # ----------------------------------------------------------------------------- stack operations
    def _create(self, name: str, region: str, template: list[Resource]) -> Stack:
        stack_id = f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/{uuid.uuid4()}"
        stack = Stack(name, region, stack_id, template={r.logical_id: r for r in template})
        self.stacks[name] = stack
        lookup = Lookup(self, stack)
        for resource in template:
            try:
                properties = resource.properties(lookup)
            except ResourceFailed as exc:
                return self._rollback_create(stack, str(exc))
            answer = self._send(stack, resource.logical_id, "Create", properties)
            if answer["Status"] != "SUCCESS":
                stack.resources[resource.logical_id] = Deployed(answer["PhysicalResourceId"], properties, {})
                stack.order.append(resource.logical_id)
                return self._rollback_create(stack, answer.get("Reason"))
            stack.resources[resource.logical_id] = Deployed(
                answer["PhysicalResourceId"], properties, answer["Data"]
            )
            stack.order.append(resource.logical_id)
        stack.status = "CREATE_COMPLETE"
        return stack

    def _rollback_create(self, stack: Stack, reason: str | None) -> Stack:
        stack.status, stack.reason = "ROLLBACK_IN_PROGRESS", reason
        for logical_id in reversed(stack.order):
            deployed = stack.resources[logical_id]
            answer = self._send(
                stack, logical_id, "Delete", deployed.properties, physical_id=deployed.physical_id
            )
            if answer["Status"] != "SUCCESS":
                stack.status = "ROLLBACK_FAILED"
                return stack
            del stack.resources[logical_id]
            stack.order.remove(logical_id)
        stack.status = "ROLLBACK_COMPLETE"
        return stack

    def _update(self, stack: Stack, template: list[Resource]) -> Stack:
        stack.status, stack.reason = "UPDATE_IN_PROGRESS", None
        lookup = Lookup(self, stack)
        previous = {
            k: Deployed(v.physical_id, dict(v.properties), dict(v.data)) for k, v in stack.resources.items()
        }
        previous_order = list(stack.order)
        touched: list[str] = []  # updated or created by this update, in order
        replaced: list[tuple[str, Deployed]] = []  # (logical id, old resource) to delete in cleanup
        failure: str | None = None
        for resource in template:
            try:
                properties = resource.properties(lookup)
            except ResourceFailed as exc:
                failure = str(exc)
                break
            current = stack.resources.get(resource.logical_id)
            if current is None:
                answer = self._send(stack, resource.logical_id, "Create", properties)
                stack.resources[resource.logical_id] = Deployed(
                    answer["PhysicalResourceId"], properties, answer.get("Data") or {}
                )
                stack.order.append(resource.logical_id)
            elif current.properties != properties or resource.provider is None:
                answer = self._send(
                    stack,
                    resource.logical_id,
                    "Update",
                    properties,
                    physical_id=current.physical_id,
                    old=current.properties,
                )
                if answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] != current.physical_id:
                    replaced.append((resource.logical_id, current))
                stack.resources[resource.logical_id] = Deployed(
                    answer["PhysicalResourceId"] if answer["Status"] == "SUCCESS" else current.physical_id,
                    properties,
                    answer.get("Data") or current.data,
                )
            else:
                continue
            touched.append(resource.logical_id)
            if answer["Status"] != "SUCCESS":
                failure = answer.get("Reason")
                break
        if failure is None:
            stack.template = {r.logical_id: r for r in template}
            removed = [k for k in stack.order if k not in stack.template]
            stack.status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
            for logical_id, old in replaced:
                self._send(stack, logical_id, "Delete", old.properties, physical_id=old.physical_id)
            for logical_id in reversed(removed):
                deployed = stack.resources.pop(logical_id)
                stack.order.remove(logical_id)
                self._send(stack, logical_id, "Delete", deployed.properties, physical_id=deployed.physical_id)
            stack.status = "UPDATE_COMPLETE"
            return stack
        return self._rollback_update(stack, failure, touched, previous, previous_order, replaced)

    def _rollback_update(
        self,
        stack: Stack,
        reason: str | None,
        touched: list[str],
        previous: dict[str, Deployed],
        previous_order: list[str],
        replaced: list[tuple[str, Deployed]],
    ) -> Stack:
        stack.status, stack.reason = "UPDATE_ROLLBACK_IN_PROGRESS", reason
        replaced_ids = dict(replaced)
        failed = False
        for logical_id in reversed(touched):
            current = stack.resources[logical_id]
            if logical_id not in previous:
                continue  # created by the failed update: deleted in the cleanup below
            old = previous[logical_id]
            if logical_id in replaced_ids:
                continue  # the old one still exists: the new one is deleted in the cleanup below
            answer = self._send(
                stack,
                logical_id,
                "Update",
                old.properties,
                physical_id=current.physical_id,
                old=current.properties,
            )
            if answer["Status"] != "SUCCESS":
                failed = True
                break
        if failed:
            stack.status = "UPDATE_ROLLBACK_FAILED"
            return stack
        stack.status = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
        for logical_id in reversed(touched):
            current = stack.resources[logical_id]
            if logical_id not in previous or logical_id in replaced_ids:
                self._send(stack, logical_id, "Delete", current.properties, physical_id=current.physical_id)
        stack.resources = previous
        stack.order = previous_order
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
        return stack

    # ---------------------------------------------------------------------------------- requests
    def _no_response(self, stack: Stack, logical_id: str, physical_id: str | None) -> dict[str, Any]:
        """No response before the custom resource's ServiceTimeout: the operation fails (User Guide,
        ``AWS::CloudFormation::CustomResource``, "ServiceTimeout ... default 3600 seconds"). The
        physical id of the Delete that follows a create that never answered is not documented:
        assumed here to be one CloudFormation makes up (stack name, logical id, random suffix)."""
        suffix = "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(12))
        return {
            "Status": "FAILED",
            "PhysicalResourceId": physical_id or f"{stack.name}-{logical_id}-{suffix}",
            "Reason": "CloudFormation did not receive a response from your Custom Resource",
        }

    def _delete_one(self, stack: Stack, logical_id: str, deployed: Deployed) -> dict[str, Any]:
        return self._send(stack, logical_id, "Delete", deployed.properties, physical_id=deployed.physical_id)

    def _send(
        self,
        stack: Stack,
        logical_id: str,
        kind: str,
        properties: Mapping[str, Any],
        *,
        physical_id: str | None = None,
        old: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        resource = stack.template.get(logical_id)
        request: dict[str, Any] = {
            "RequestType": kind,
            "ServiceToken": f"arn:aws:lambda:{stack.region}:{ACCOUNT}:function:provider",
            "ResponseURL": "https://cloudformation-custom-resource-response.s3.amazonaws.com/presigned",
            "StackId": stack.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": logical_id,
            "ResourceType": resource.resource_type if resource else "Custom::Unknown",
            "ResourceProperties": {"ServiceToken": "token", **properties},
        }
        if physical_id is not None:
            request["PhysicalResourceId"] = physical_id
        if old is not None:
            request["OldResourceProperties"] = {"ServiceToken": "token", **old}
        if resource is None or resource.provider is None:
            if kind == "Delete":
                answer = {"Status": "SUCCESS", "PhysicalResourceId": physical_id, "Data": {}}
            else:
                answer = {
                    "Status": "FAILED",
                    "PhysicalResourceId": physical_id or f"trip-{next(self._ids)}",
                    "Reason": f"{logical_id} failed (the rest of the stack failing)",
                }
        else:
            answer = resource.provider.handle(request)
            if self.deliver_twice:
                resource.provider.handle(request)  # the duplicate's answer comes too late to count
            if kind in resource.provider.silent_on:
                answer = self._no_response(stack, logical_id, physical_id)
        self.events.append(
            Event(
                stack.name,
                stack.stack_id,
                logical_id,
                kind,
                answer["Status"],
                answer.get("PhysicalResourceId"),
                answer.get("Reason"),
            )
        )
        return answer
