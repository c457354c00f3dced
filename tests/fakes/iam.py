"""A small IAM identity-policy evaluator, and what each Aurora DSQL control-plane call is authorized as.

The fakes check request *shapes* against botocore's model; this module lets them check *permissions*
too, so that a synthesized policy of ours that would deny a real deploy fails a test instead.

Sources, with what each part implements. "Documented" means the page says so; "assumed" means the
page is silent and the choice is ours (each assumption is also marked where it is coded).

IAM semantics (IAM User Guide):

- "Policy evaluation logic" (reference_policies_evaluation-logic.html) and "Determining whether a
  request is allowed or denied within an account" (..._policy-eval-denyallow.html): documented. Only
  identity-based policies of one account are modelled: an explicit Deny wins, else an Allow allows,
  else the request is implicitly denied. No SCPs, boundaries, session or resource policies.
- "IAM JSON policy elements: Action" / "NotAction" / "Resource" / "NotResource": documented. Actions
  match case-insensitively with ``*`` and ``?``; a Resource wildcard stays inside its colon-separated
  ARN segment unless it is the segment's last character, when it "can expand to match beyond the
  colon boundaries". An identity policy statement must have Resource or NotResource and no Principal.
- "IAM JSON policy elements: Condition operators" (reference_policies_elements_condition_operators.html):
  documented. StringEquals/NotEquals/EqualsIgnoreCase/NotEqualsIgnoreCase/Like/NotLike (values
  case-sensitive but for IgnoreCase), ArnEquals/ArnLike/ArnNotEquals/ArnNotLike (the six ARN
  components compared one by one, wildcards allowed in each, both spellings alike), Bool, Null, the
  ``...IfExists`` suffix (an absent key makes the condition true), and: a key absent from the request
  makes a condition false, except for the negated operators (StringNot*, ArnNot*), which are then true.
- "Conditions with multiple context keys or values" (reference_policies_condition-logic-multiple-
  context-keys-or-values.html): documented. Operators of a block AND, keys of an operator AND, values
  of a key OR; for a negated operator the values NOR. Condition key names are case-insensitive.
- "Single-valued vs. multivalued context keys" (reference_policies_condition-single-vs-multi-valued-
  context-keys.html): documented. ForAllValues is true when every request value matches some policy
  value, and also when the key is absent or empty; ForAnyValue needs one matching value and is false
  when the key is absent. Assumed: a plain (unqualified) operator on a multivalued key is true when
  any request value matches (negated: when none does); AWS only says not to write that.
- Not implemented: Numeric*, Date*, IpAddress, Binary, policy variables (``${aws:username}`` stays a
  literal). An unimplemented operator raises ValueError when a statement needs it, never passes.

CloudFormation ("Intrinsic function reference", "Pseudo parameters reference"): Ref to pseudo
parameters and to given logical ids, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, AWS::NoValue. Anything
else (Fn::GetAtt, Fn::ImportValue, unknown Refs) becomes ``"<unresolved:...>"``, which never matches a
real ARN or value. Assumed: a Condition block that did not resolve to an object (CDK's CfnJson) makes
an Allow never apply and a Deny always apply, the cautious reading either way.

Aurora DSQL (see :func:`dsql_requests`):

- Service Authorization Reference, "Actions, resources, and condition keys for Amazon Aurora DSQL"
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonauroradsql.html):
  documented: every action below takes the Cluster resource type except ListClusters (``*`` only);
  the Cluster type carries ``aws:ResourceTag/${TagKey}``; CreateCluster takes ``aws:RequestTag/...``,
  ``aws:TagKeys`` and ``dsql:WitnessRegion``; TagResource takes RequestTag and TagKeys; UntagResource
  takes TagKeys; PutWitnessRegion takes ``dsql:WitnessRegion``; AddPeerCluster, RemovePeerCluster,
  PutMultiRegionProperties and PutWitnessRegion are permission-only actions. Its operations table also
  maps CreateCluster to dsql:PutClusterPolicy; assumed: only when the request sends ``policy``, and
  with the request's tags in its context. Put/Get/DeleteClusterPolicy: their own action on the
  cluster's ARN (documented in the same table).
- DSQL API Reference, API_CreateCluster.html and API_UpdateCluster.html (the same text is in
  botocore's model documentation of those operations): documented: which extra actions a
  multi-Region create or update needs, on which ARNs, and that PutWitnessRegion "is checked both in
  the cluster Region and in the witness Region". UpdateCluster also lists dsql:GetCluster; assumed:
  for an update that sends multiRegionProperties (the page ties the extra permissions to those).
  AddPeerCluster is needed "for every peer cluster in your request" (the current page; an earlier
  one said "each specified peer"), RemovePeerCluster for "each current peer cluster that your list
  omits", on its exact ARN in its own Region (older text gave the policy form
  ``arn:aws:dsql:*:account-id:cluster/*``, which matches it).
- Assumed: each action's request context holds the condition keys the reference lists for that
  action, plus ``aws:ResourceTag/*`` of the ARN it is checked on when that cluster exists (the Cluster
  type's key). Whether AWS evaluates ResourceTag for the permission-only actions on a *peer's* ARN is
  undocumented; our policies do not condition those actions on tags (src/ecommerce_constructs/
  dsql_cluster.py, ``_managed``), so the choice does not decide any test of ours.
- Assumed: AddPeerCluster on the local cluster is checked when the request lists at least one peer;
  a create's ARN uses the identifier the fake will assign (:data:`PLACEHOLDER_ID` without one).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

UNRESOLVED = "<unresolved:"
#: A 26-character DSQL cluster identifier for a CreateCluster whose new identifier is not known.
PLACEHOLDER_ID = "newclusteridplaceholder000"
_EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_VALUE = object()  # AWS::NoValue: the enclosing list item or object property disappears

Context = Mapping[str, "str | Sequence[str]"]


# ------------------------------------------------------------------------- CloudFormation intrinsics
def _unresolved(what: str) -> str:
    return f"{UNRESOLVED}{what}>"


def resolve(
    value: Any,
    *,
    stack_name: str,
    region: str,
    account: str,
    partition: str = "aws",
    refs: Mapping[str, str] = _EMPTY,
) -> Any:
    """`value` (policy JSON from a template) with the intrinsics this module understands replaced."""
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": partition,
        "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
    }

    def name(ref: str) -> Any:
        if ref == "AWS::NoValue":
            return _NO_VALUE
        if ref in pseudo:
            return pseudo[ref]
        return refs.get(ref, _unresolved(f"Ref:{ref}"))

    def sub(template: Any, variables: Mapping[str, Any]) -> str:
        if not isinstance(template, str):
            return _unresolved("Fn::Sub")

        def one(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):  # ${!Literal} writes ${Literal}
                return "${" + inner[1:] + "}"
            found = variables.get(inner)
            if found is None:
                found = name(inner) if "." not in inner else _unresolved(f"Fn::GetAtt:{inner}")
            return found if isinstance(found, str) else _unresolved(f"Fn::Sub:{inner}")

        return re.sub(r"\$\{([^}]*)\}", one, template)

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in map(walk, node) if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return name(arg) if isinstance(arg, str) else _unresolved("Ref")
            if fn == "Fn::Join":
                delimiter, items = arg[0], walk(arg[1])
                ok = isinstance(items, list) and all(isinstance(i, str) for i in items)
                return delimiter.join(items) if ok else _unresolved("Fn::Join")
            if fn == "Fn::Sub":
                if isinstance(arg, list):
                    return sub(arg[0], {k: walk(v) for k, v in arg[1].items()})
                return sub(arg, {})
            if fn == "Fn::Split":
                source = walk(arg[1])
                if isinstance(source, str) and UNRESOLVED not in source:
                    return source.split(arg[0])
                return _unresolved("Fn::Split")
            if fn == "Fn::Select":
                items = walk(arg[1])
                try:
                    return items[int(walk(arg[0]))] if isinstance(items, list) else _unresolved("Fn::Select")
                except (IndexError, ValueError, TypeError):
                    return _unresolved("Fn::Select")
            if fn == "Fn::GetAtt":
                target = ".".join(arg) if isinstance(arg, list) else str(arg)
                return _unresolved(f"Fn::GetAtt:{target}")
            if fn.startswith("Fn::"):
                return _unresolved(fn)
        return {k: v for k, v in ((k, walk(v)) for k, v in node.items()) if v is not _NO_VALUE}

    return walk(value)


# --------------------------------------------------------------------------------------- matching
@functools.cache
def _glob(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``*`` any run of characters, ``?`` any one, over the whole string."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, flags | re.DOTALL)


@functools.cache
def _resource_pattern(pattern: str) -> re.Pattern[str]:
    """Resource ARNs, case-sensitive (IAM JSON policy elements: Resource): ``*`` and ``?`` stay in
    their colon-separated segment, except a ``*`` that ends a segment, which can reach past colons."""
    out = []
    for i, c in enumerate(pattern):
        if c == "*":
            out.append(".*" if i + 1 == len(pattern) or pattern[i + 1] == ":" else "[^:]*")
        elif c == "?":
            out.append("[^:]")
        else:
            out.append(re.escape(c))
    return re.compile("".join(out), re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """Action names match case-insensitively (IAM JSON policy elements: Action)."""
    return _glob(pattern, re.IGNORECASE).fullmatch(action) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    # An unresolved part ("<unresolved:...>") is literal text no real ARN contains: it never matches.
    return _resource_pattern(pattern).fullmatch(resource) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnEquals/ArnLike: each of the six colon-delimited components separately, with wildcards."""
    wanted, got = pattern.split(":", 5), value.split(":", 5)
    if len(wanted) != 6 or len(got) != 6:
        return False
    return all(_glob(w).fullmatch(g) is not None for w, g in zip(wanted, got, strict=True))


def _bool(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


# operator -> (value matcher, negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (str.__eq__, False),
    "StringNotEquals": (str.__eq__, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.casefold() == v.casefold(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.casefold() == v.casefold(), True),
    "StringLike": (lambda p, v: _glob(p).fullmatch(v) is not None, False),
    "StringNotLike": (lambda p, v: _glob(p).fullmatch(v) is not None, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
}


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"{where}: {value!r} is not a string")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(_scalar(item, where) for item in items)


def _condition_holds(operator: str, key: str, wanted: tuple[str, ...], context: _Request) -> str | None:
    """None when the condition holds, else why not (Condition operators; multiple keys or values)."""
    qualifier, base = None, operator
    for prefix in ("ForAllValues:", "ForAnyValue:"):
        if operator.startswith(prefix):
            qualifier, base = prefix[:-1], operator[len(prefix) :]
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    present = context.values(key)
    if base == "Null" and qualifier is None and not if_exists:
        # "true": the key must be absent (or empty); "false": present. Values OR.
        if any((w.lower() == "true") == (present is None) for w in wanted):
            return None
        return f"Null {key}: key is {'absent' if present is None else 'present'}"
    if base not in _OPERATORS:
        raise ValueError(f"condition operator {operator!r} is not implemented by tests/fakes/iam.py")
    match, negated = _OPERATORS[base]
    shown = f"{operator} {key} {list(wanted)}"
    if present is None:
        if if_exists:
            return None  # ...IfExists: an absent key makes the condition true
        if qualifier == "ForAllValues":
            return None  # true when the key is absent or empty
        if qualifier == "ForAnyValue":
            return f"{shown}: key absent from the request"
        if negated:
            return None  # a negated operator on an absent key is true
        return f"{shown}: key absent from the request"

    def value_ok(value: str) -> bool:
        hit = any(match(w, value) for w in wanted)  # values OR (negated: NOR)
        return not hit if negated else hit

    values, multi = present
    if qualifier == "ForAllValues":
        ok = all(value_ok(v) for v in values)
    elif qualifier == "ForAnyValue":
        ok = any(value_ok(v) for v in values)
    elif not multi:
        ok = value_ok(values[0])
    else:  # assumed: unqualified on a multivalued key = any value matches (negated: none does)
        hit = any(match(w, v) for w in wanted for v in values)
        ok = not hit if negated else hit
    return None if ok else f"{shown}: request has {values[0] if not multi else list(values)}"


@dataclass(frozen=True)
class _Request:
    action: str
    resource: str
    keys: Mapping[str, tuple[tuple[str, ...], bool]]  # lower-cased key -> (values, multivalued)

    @classmethod
    def of(cls, action: str, resource: str, context: Context) -> _Request:
        keys: dict[str, tuple[tuple[str, ...], bool]] = {}
        for key, value in context.items():
            if isinstance(value, str):
                keys[key.lower()] = ((value,), False)
            else:
                keys[key.lower()] = (tuple(value), True)
        return cls(action, resource, keys)

    def values(self, key: str) -> tuple[tuple[str, ...], bool] | None:
        """(values, multivalued), or None when absent or empty (keys are case-insensitive)."""
        found = self.keys.get(key.lower())
        return found if found is not None and found[0] else None


# ------------------------------------------------------------------------------------ statements
@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    #: operator -> key -> values; None when the block did not resolve to an object
    condition: Mapping[str, Mapping[str, tuple[str, ...]]] | None
    source: str
    sid: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any], source: str) -> Statement:
        """One statement of an identity-based policy (resolved: no intrinsics left but unresolved ones)."""
        where = f"{source} statement {raw.get('Sid', '')!s}".strip()
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise ValueError(f"{where}: Effect must be Allow or Deny, not {effect!r}")
        if "Principal" in raw or "NotPrincipal" in raw:
            raise ValueError(f"{where}: an identity-based policy has no Principal")
        if ("Action" in raw) == ("NotAction" in raw):
            raise ValueError(f"{where}: needs exactly one of Action and NotAction")
        if ("Resource" in raw) == ("NotResource" in raw):
            raise ValueError(f"{where}: needs exactly one of Resource and NotResource")

        def element(name: str) -> tuple[str, ...] | None:
            return _strings(raw[name], f"{where} {name}") if name in raw else None

        condition: dict[str, dict[str, tuple[str, ...]]] | None = {}
        block = raw.get("Condition", {})
        if isinstance(block, dict) and all(isinstance(keys, dict) for keys in block.values()):
            for operator, keys in block.items():
                assert condition is not None
                condition[operator] = {
                    key: _strings(values, f"{where} {operator} {key}") for key, values in keys.items()
                }
        else:
            condition = None
        return cls(
            effect=effect,
            actions=element("Action"),
            not_actions=element("NotAction"),
            resources=element("Resource"),
            not_resources=element("NotResource"),
            condition=condition,
            source=source,
            sid=raw.get("Sid"),
        )

    @property
    def name(self) -> str:
        return f"{self.source}" + (f" (Sid {self.sid})" if self.sid else "")

    def _scope_miss(self, request: _Request) -> str | None:
        """None when the action and resource are in this statement's scope, else why not."""
        if self.actions is not None and not any(action_matches(a, request.action) for a in self.actions):
            return f"action not in {list(self.actions)}"
        if self.not_actions is not None and any(action_matches(a, request.action) for a in self.not_actions):
            return f"action excluded by NotAction {list(self.not_actions)}"
        if self.resources is not None and not any(
            resource_matches(r, request.resource) for r in self.resources
        ):
            return f"resource not in {list(self.resources)}"
        if self.not_resources is not None and any(
            resource_matches(r, request.resource) for r in self.not_resources
        ):
            return f"resource excluded by NotResource {list(self.not_resources)}"
        return None

    def _condition_miss(self, request: _Request) -> str | None:
        if self.condition is None:  # assumed: an unresolved block never allows, always denies
            return None if self.effect == "Deny" else "Condition did not resolve"
        for operator, keys in self.condition.items():  # operators AND, keys AND
            for key, wanted in keys.items():
                if (why := _condition_holds(operator, key, wanted, request)) is not None:
                    return why
        return None

    def miss(self, request: _Request) -> str | None:
        return self._scope_miss(request) or self._condition_miss(request)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: the statement that decided (the Allow, or the explicit Deny); None for an implicit deny
    statement: Statement | None
    explicit_deny: bool
    reason: str


@dataclass(frozen=True)
class Policy:
    """Every statement one principal's identity-based policies grant (Policy evaluation logic)."""

    statements: tuple[Statement, ...]
    #: ARNs of managed policies attached to the role whose statements are not in the template
    managed_policy_arns: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, *documents: Mapping[str, Any], managed_policy_arns: Sequence[str] = ()) -> Policy:
        """From policy documents (``{"Version": ..., "Statement": ...}``), already resolved."""
        statements: list[Statement] = []
        for i, document in enumerate(documents):
            statements += _document_statements(document, f"document {i}")
        return cls(tuple(statements), tuple(managed_policy_arns))

    def decide(self, action: str, resource: str, context: Context = _EMPTY) -> Decision:
        request = _Request.of(action, resource, context)
        allow: Statement | None = None
        misses: list[str] = []
        for statement in self.statements:
            why = statement.miss(request)
            if why is None and statement.effect == "Deny":
                return Decision(False, statement, True, f"explicitly denied by {statement.name}")
            if why is None and allow is None:
                allow = statement
            elif why is not None and statement.effect == "Allow" and statement._scope_miss(request) is None:
                misses.append(f"{statement.name}: {why}")
        if allow is not None:
            return Decision(True, allow, False, f"allowed by {allow.name}")
        others = sum(1 for s in self.statements if s.effect == "Allow") - len(misses)
        detail = "; ".join(misses) if misses else "no Allow statement covers this action and resource"
        if misses and others:
            detail += f" ({others} other Allow statement(s) cover other actions or resources)"
        return Decision(False, None, False, f"no statement allows {action} on {resource}: {detail}")

    def allows(self, action: str, resource: str, context: Context = _EMPTY) -> bool:
        return self.decide(action, resource, context).allowed

    def explain(self, action: str, resource: str, context: Context = _EMPTY) -> str:
        """Which statement allowed or explicitly denied, or why none allowed."""
        return self.decide(action, resource, context).reason


def _document_statements(document: Any, source: str) -> list[Statement]:
    if not isinstance(document, dict):
        raise ValueError(f"{source}: policy document did not resolve to an object: {document!r}")
    raw = document.get("Statement", [])
    raws = raw if isinstance(raw, list) else [raw]
    return [Statement.parse(s, f"{source}[{i}]") for i, s in enumerate(raws)]


def role_policy(template: Mapping[str, Any], role_logical_id: str, **resolve_kwargs: Any) -> Policy:
    """Everything a synthesized template grants the role `role_logical_id`: its inline ``Policies``,
    AWS::IAM::Policy and AWS::IAM::ManagedPolicy resources whose ``Roles`` name it, and managed
    policies of the template it lists in ``ManagedPolicyArns``. Other managed policy ARNs (AWS
    managed ones) are only listed, on ``managed_policy_arns``. `resolve_kwargs` go to :func:`resolve`.
    """
    resources: Mapping[str, Any] = template.get("Resources", {})
    role = resources.get(role_logical_id)
    if role is None or role.get("Type") != "AWS::IAM::Role":
        raise KeyError(f"{role_logical_id} is not an AWS::IAM::Role of this template")
    props = role.get("Properties", {})
    ref = {"Ref": role_logical_id}
    statements: list[Statement] = []
    for inline in props.get("Policies", []):
        document = resolve(inline["PolicyDocument"], **resolve_kwargs)
        statements += _document_statements(document, f"{role_logical_id}/{inline.get('PolicyName', '?')}")
    attached: set[str] = set()
    for arn in props.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and set(arn) == {"Ref"} and arn["Ref"] in resources:
            attached.add(arn["Ref"])
    managed: list[str] = []
    for arn in props.get("ManagedPolicyArns", []):
        if not (isinstance(arn, dict) and arn.get("Ref") in attached):
            managed.append(str(resolve(arn, **resolve_kwargs)))
    for logical_id in sorted(resources):
        resource = resources[logical_id]
        if resource.get("Type") not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        policy_props = resource.get("Properties", {})
        if ref in policy_props.get("Roles", []) or logical_id in attached:
            document = resolve(policy_props["PolicyDocument"], **resolve_kwargs)
            statements += _document_statements(document, logical_id)
    return Policy(tuple(statements), tuple(managed))


# ----------------------------------------------------------------------------------- Aurora DSQL
@dataclass(frozen=True)
class AuthRequest:
    """One authorization check a DSQL API call makes: an action on a resource, in a request context."""

    action: str
    resource: str
    context: Mapping[str, str | tuple[str, ...]]


def dsql_requests(
    operation: str,
    params: Mapping[str, Any],
    *,
    region: str,
    account: str,
    tags_of: Callable[[str], Mapping[str, str] | None],
    cluster_of: Callable[[str, str], Any],
    new_identifier: str = PLACEHOLDER_ID,
    create_policy_request_tags: bool = True,
) -> list[AuthRequest]:
    """What the DSQL API call `operation` with input `params`, sent to `region`, is authorized as.

    ``tags_of(arn)`` gives a cluster's current tags (None: no such cluster); ``cluster_of(region,
    identifier)`` the cluster (an object with ``peers``, its peers' ARNs) or None. Sources and what
    is assumed: this module's docstring. ``create_policy_request_tags``: whether the
    PutClusterPolicy check of a CreateCluster that sends ``policy`` carries the request's
    ``aws:RequestTag``/``aws:TagKeys`` (assumed yes; the Service Authorization Reference lists no
    such keys for PutClusterPolicy, so tests also run the other answer).
    """

    def arn(identifier: str, in_region: str = region) -> str:
        return f"arn:aws:dsql:{in_region}:{account}:cluster/{identifier}"

    def on(action: str, resource: str, context: Mapping[str, str | tuple[str, ...]] = _EMPTY) -> AuthRequest:
        # The Cluster type's aws:ResourceTag/* (documented); assumed present for every action on the
        # ARN of an existing cluster, permission-only ones and peers' ARNs included.
        tags = tags_of(resource) or {}
        merged: dict[str, str | tuple[str, ...]] = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        merged.update(context)
        return AuthRequest(f"dsql:{action}", resource, merged)

    def request_tags(tags: Mapping[str, str]) -> dict[str, str | tuple[str, ...]]:
        out: dict[str, str | tuple[str, ...]] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
        if tags:
            out["aws:TagKeys"] = tuple(tags)
        return out

    def witness_checks(own: str, identifier: str, witness: str) -> list[AuthRequest]:
        # "checked both in the cluster Region and in the witness Region" (API_CreateCluster,
        # API_UpdateCluster); in the witness Region on the same cluster id there (assumed form).
        return [
            on("PutWitnessRegion", own, {"dsql:WitnessRegion": witness}),
            on("PutWitnessRegion", arn(identifier, witness), {"dsql:WitnessRegion": witness}),
        ]

    if operation == "CreateCluster":
        own = arn(new_identifier)
        tags = request_tags(params.get("tags") or {})
        props = params.get("multiRegionProperties")
        witness = props.get("witnessRegion") if props is not None else None
        extra = {"dsql:WitnessRegion": witness} if witness is not None else {}
        out = [on("CreateCluster", own, {**tags, **extra})]
        if tags:
            out.append(on("TagResource", own, tags))
        if "policy" in params:
            # Assumed: the check carries the request's tags, as the TagResource check does (or not:
            # create_policy_request_tags=False).
            out.append(on("PutClusterPolicy", own, tags if create_policy_request_tags else _EMPTY))
        if props is not None:
            out.append(on("PutMultiRegionProperties", own))
            peers = list(dict.fromkeys(props.get("clusters") or []))
            if peers:
                out += [on("AddPeerCluster", own), *(on("AddPeerCluster", peer) for peer in peers)]
            if witness is not None:
                out += witness_checks(own, new_identifier, witness)
        return out

    if operation == "UpdateCluster":
        identifier = params["identifier"]
        own = arn(identifier)
        out = [on("UpdateCluster", own)]
        props = params.get("multiRegionProperties")
        if props is None:
            return out
        cluster = cluster_of(region, identifier)
        current = list(getattr(cluster, "peers", None) or [])
        listed = [peer for peer in dict.fromkeys(props.get("clusters") or []) if peer != own]
        out += [on("PutMultiRegionProperties", own), on("GetCluster", own)]
        if listed:
            out += [on("AddPeerCluster", own), *(on("AddPeerCluster", peer) for peer in listed)]
        # The fake (like the service) treats the list as complete: a current peer left out is removed.
        out += [on("RemovePeerCluster", peer) for peer in current if peer not in listed]
        if (witness := props.get("witnessRegion")) is not None:
            out += witness_checks(own, identifier, witness)
        return out

    simple = {
        "DeleteCluster": "DeleteCluster",
        "GetCluster": "GetCluster",
        "PutClusterPolicy": "PutClusterPolicy",
        "GetClusterPolicy": "GetClusterPolicy",
        "DeleteClusterPolicy": "DeleteClusterPolicy",
        "GetVpcEndpointServiceName": "GetVpcEndpointServiceName",
    }
    if operation in simple:
        return [on(simple[operation], arn(params["identifier"]))]
    if operation == "ListClusters":  # no resource-level permissions: "*"
        return [AuthRequest("dsql:ListClusters", "*", {})]
    if operation == "TagResource":
        return [on("TagResource", params["resourceArn"], request_tags(params["tags"]))]
    if operation == "UntagResource":
        return [on("UntagResource", params["resourceArn"], {"aws:TagKeys": tuple(params["tagKeys"])})]
    if operation == "ListTagsForResource":
        return [on("ListTagsForResource", params["resourceArn"])]
    # Streams (CDC; user guide cdc-iam.html: the caller needs dsql:*Stream* on the cluster and on
    # its cluster/<id>/stream/* ARNs, and iam:PassRole of the role DSQL assumes). Which of the two
    # ARNs each call is checked on is not documented: the fake checks Create/List on the cluster and
    # Get/Delete on the stream (the construct grants both, so either answer passes).
    if operation == "CreateStream":
        # With tags, CreateStream also checks dsql:TagResource (Service Authorization Reference,
        # Aurora DSQL's actions table: CreateStream's dependent actions).
        role = params["targetDefinition"]["kinesis"]["roleArn"]
        tags = request_tags(params.get("tags") or {})
        cluster = arn(params["clusterIdentifier"])
        return [
            on("CreateStream", cluster, tags),
            *([on("TagResource", cluster, tags)] if tags else []),
            AuthRequest("iam:PassRole", role, {"iam:PassedToService": "dsql.amazonaws.com"}),
        ]
    if operation == "ListStreams":
        return [on("ListStreams", arn(params["clusterIdentifier"]))]
    if operation in ("GetStream", "DeleteStream"):
        stream = f"{arn(params['clusterIdentifier'])}/stream/{params['streamIdentifier']}"
        return [on(operation, stream)]
    raise ValueError(f"no authorization model for DSQL operation {operation!r}")
