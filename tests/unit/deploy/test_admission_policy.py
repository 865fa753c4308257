"""Approval is an authorization decision: the chart's ValidatingAdmissionPolicy lets only members
of approval.groups set, change or remove the approve, abort, retry and proceed annotations, and create or update a
plan so that it needs less approval (spec.approveIrreversible, spec.phases[].requiresApproval). It validates against
Kubernetes' own schema for the kind, and its CEL is evaluated here as the API server evaluates it:
variables in order, then each validation, for an allowed and a refused user."""

from __future__ import annotations

import copy
from typing import Any

import cel
import kubernetes_validate
import pytest

from tests.support import helm

GROUPS = ["platform-approvers", "sre"]
APPROVE, ABORT = "optimization.tap.io/approve", "optimization.tap.io/abort"
RETRY, PROCEED = "optimization.tap.io/retry", "optimization.tap.io/proceed"


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    [found] = [o for o in helm.render({"approval": {"groups": GROUPS}}) if o["kind"] == "ValidatingAdmissionPolicy"]
    return found


def join(items: list[str], separator: str = "") -> str:
    """Kubernetes' CEL strings library `join`, which the evaluator here does not have."""
    return separator.join(items)


def admit(policy: dict[str, Any], groups: list[str], new: dict[str, Any], old: dict[str, Any] | None) -> str | None:
    """None when the API server admits the request, else the refusal's message."""
    spec = policy["spec"]
    activation: dict[str, Any] = {"object": new, "oldObject": old, "variables": {},
                                  "request": {"userInfo": {"username": "someone", "groups": groups}}}

    def run(expression: str) -> Any:
        context = cel.Context(activation)
        context.add_function("join", join)
        return cel.compile(expression).execute(context)

    for variable in spec["variables"]:
        activation["variables"][variable["name"]] = run(variable["expression"])
    for validation in spec["validations"]:
        if run(validation["expression"]) is not True:
            return run(validation["messageExpression"])
    return None


def plan(**annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "rightsize", "namespace": "tap"}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan", "metadata": meta,
            "spec": {"suspend": False}}


CASES = [
    ("a member approves a phase", ["sre"], plan(), plan(**{APPROVE: "database"}), None),
    ("a non-member approves a phase", ["app-team"], plan(), plan(**{APPROVE: "database"}), APPROVE),
    ("a non-member aborts", ["app-team"], plan(), plan(**{ABORT: "true"}), ABORT),
    ("a non-member takes an abort back", ["app-team"], plan(**{ABORT: "true"}), plan(), ABORT),
    ("a non-member widens an approval", ["app-team"], plan(**{APPROVE: "compute"}),
     plan(**{APPROVE: "compute,database"}), APPROVE),
    ("a non-member creates a plan already approved", ["app-team"], None, plan(**{APPROVE: "database"}), APPROVE),
    ("a non-member creates a plain plan", ["app-team"], None, plan(), None),
    ("a non-member (or kopf) edits other annotations", ["app-team"], plan(**{APPROVE: "compute"}),
     plan(**{APPROVE: "compute", "kopf.optimization.tap.io/last-handled-configuration": "{}"}), None),
    ("a member of the other listed group aborts", ["system:authenticated", "platform-approvers"], plan(),
     plan(**{ABORT: "true"}), None),
    ("a non-member accepts an inconclusive hold", ["app-team"], plan(), plan(**{PROCEED: '{"by": "x"}'}), PROCEED),
    ("a non-member retries", ["app-team"], plan(), plan(**{RETRY: '{"by": "x"}'}), RETRY),
    ("a member retries, clearing abort and approvals", ["sre"], plan(**{ABORT: "true", APPROVE: "db"}),
     plan(**{RETRY: '{"by": "x"}'}), None),
]


@pytest.mark.parametrize(("groups", "old", "new", "refused"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_only_the_configured_groups_may_touch_approve_and_abort(policy, groups, old, new, refused):
    message = admit(policy, groups, new, old)
    if refused is None:
        assert message is None
    else:
        assert message == f"only members of platform-approvers, sre may set {refused} on an OptimizationPlan"


def gated(*phases: tuple[str, bool | None], irreversible: bool | None = None, **annotations: str) -> dict[str, Any]:
    """A plan with phases (name, requiresApproval; None: the field left out) and approveIrreversible."""
    made = plan(**annotations)
    made["spec"]["phases"] = [{"name": name, "changes": [], **({} if gate is None else {"requiresApproval": gate})}
                              for name, gate in phases]
    if irreversible is not None:
        made["spec"]["approveIrreversible"] = irreversible
    return made


IRREVERSIBLE = "may set spec.approveIrreversible to true on an OptimizationPlan"
SPEC_CASES = [
    ("a non-member creates a plan approving one-way doors", ["app-team"], None,
     gated(("db", None), irreversible=True), IRREVERSIBLE),
    ("a non-member edits approveIrreversible to true", ["app-team"], gated(("db", None), irreversible=False),
     gated(("db", None), irreversible=True), IRREVERSIBLE),
    ("a non-member adds approveIrreversible: true", ["app-team"], gated(("db", None)),
     gated(("db", None), irreversible=True), IRREVERSIBLE),
    ("a member creates a plan approving one-way doors", ["sre"], None, gated(("db", None), irreversible=True), None),
    ("a non-member keeps approveIrreversible true (the member set it)", ["app-team"],
     gated(("db", None), irreversible=True), gated(("db", None), ("cache", None), irreversible=True), None),
    ("a non-member takes approveIrreversible back", ["app-team"], gated(("db", None), irreversible=True),
     gated(("db", None), irreversible=False), None),
    ("a non-member creates a plan with approveIrreversible false", ["app-team"], None,
     gated(("db", False), irreversible=False), None),
    ("a non-member flips requiresApproval from true to false", ["app-team"], gated(("cache", False), ("db", True)),
     gated(("cache", False), ("db", False)), "db"),
    ("a non-member leaves requiresApproval out (its default is false)", ["app-team"], gated(("db", True)),
     gated(("db", None)), "db"),
    ("a non-member removes a phase that required approval", ["app-team"], gated(("cache", False), ("db", True)),
     gated(("cache", False)), "db"),
    ("a non-member renames a phase that required approval", ["app-team"], gated(("db", True), ("x", True)),
     gated(("database", True), ("x", False)), "db, x"),
    ("a member lifts requiresApproval", ["platform-approvers"], gated(("db", True)), gated(("db", False)), None),
    ("a non-member requires approval of another phase", ["app-team"], gated(("db", True), ("cache", False)),
     gated(("db", True), ("cache", True)), None),
    ("a non-member removes a phase that did not require approval", ["app-team"],
     gated(("db", True), ("cache", False)), gated(("db", True)), None),
    ("a non-member creates a plan whose phases need no approval", ["app-team"], None, gated(("db", False)), None),
    ("a non-member edits a plan without phases or the field (kopf's annotations)", ["app-team"], plan(),
     plan(**{"kopf.optimization.tap.io/x": "{}"}), None),
]


@pytest.mark.parametrize(("groups", "old", "new", "refused"), [c[1:] for c in SPEC_CASES],
                         ids=[c[0] for c in SPEC_CASES])
def test_only_the_configured_groups_may_make_a_plan_need_less_approval(policy, groups, old, new, refused):
    message = admit(policy, groups, new, old)
    if refused is None:
        assert message is None
    elif refused == IRREVERSIBLE:
        assert message == f"only members of platform-approvers, sre {IRREVERSIBLE}"
    else:
        assert message == ("only members of platform-approvers, sre may lift spec.phases[].requiresApproval (set it "
                           f"to false, or remove or rename the phase) of phase {refused} on an OptimizationPlan")


def test_the_policy_checks_approval_as_the_api_server_sees_the_plan_after_defaulting(policy):
    """The API server applies the CRD's defaults before admission: requiresApproval and
    approveIrreversible are then present as false; the policy reads them the same either way."""
    old = gated(("db", False), irreversible=False)
    assert admit(policy, ["app-team"], gated(("db", True)), old) is None, "more approval, defaults written"
    assert admit(policy, ["app-team"], gated(("db", False), irreversible=False), gated(("db", None))) is None
    assert admit(policy, ["app-team"], gated(("db", False), irreversible=True), old) is not None


def test_the_policy_and_its_binding_validate_against_kubernetes_own_schemas(policy):
    binding = next(o for o in helm.render({"approval": {"groups": GROUPS}})
                   if o["kind"] == "ValidatingAdmissionPolicyBinding")
    for obj in (policy, binding):
        kubernetes_validate.validate(obj, helm.KUBERNETES_VERSION, strict=True)  # the built-in schema, not a CRD's
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    typo = copy.deepcopy(policy)
    typo["spec"]["validations"][0]["expresion"] = "true"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, helm.KUBERNETES_VERSION, strict=True)


def test_the_policy_can_be_left_out_for_clusters_before_1_30():
    kinds = {o["kind"] for o in helm.render({"approval": {"policy": {"enabled": False}}})}
    assert not kinds & {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
