"""Argo CD: the Applications are valid against Argo CD's own CRD, the platform's tells Argo CD to
respect the operator's fields, and the OptimizationPlan health check (Lua, run here on Lua 5.1,
the language of Argo CD's gopher-lua) maps every plan state to the health Argo CD shows; the
resource actions (approve, abort, resume) are offered when they apply and write what the operator
reads."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml
from lupa import lua51

from tap_optimizer.cluster import FIELD_MANAGER
from tap_optimizer.plan.model import PlanRef
from tap_optimizer.plan.spec import crd as plan_crd
from tests.support.helm import ROOT, errors

ARGOCD = ROOT / "manifests" / "argocd"
HEALTH_KEY = "resource.customizations.health.optimization.tap.io_OptimizationPlan"
ACTIONS_KEY = "resource.customizations.actions.optimization.tap.io_OptimizationPlan"


def applications() -> dict[str, dict[str, Any]]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted(ARGOCD.glob("application-*.yaml"))}


def run_lua(path: pathlib.Path, obj: dict[str, Any]) -> Any:
    """Run a script as Argo CD does: the object as global `obj` (JSON arrays as 1-based tables)."""
    lua = lua51.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    return lua.execute(path.read_text())


def health(obj: dict[str, Any]) -> dict[str, str]:
    return dict(run_lua(ARGOCD / "optimizationplan-health.lua", obj).items())


def plan(status: dict[str, Any] | None) -> dict[str, Any]:
    body = {"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
            "metadata": {"name": "p", "namespace": "tap"}, "spec": {}}
    return body if status is None else {**body, "status": status}


def test_the_applications_are_valid_argo_cd_applications():
    found = applications()
    assert set(found) == {"application-operator", "application-platform", "application-plans"}
    assert {name: refused for name, app in found.items() if (refused := errors(app))} == {}


def test_the_operator_application_installs_this_chart_with_helm():
    source = applications()["application-operator"]["spec"]["source"]
    assert source["path"] == "charts/tap-optimizer"
    assert source["repoURL"].endswith("/tap-optimizer.git")
    assert "helm" in source


def test_the_plans_application_syncs_the_plans_directory():
    assert applications()["application-plans"]["spec"]["source"]["path"] == "plans"


def test_the_platform_application_leaves_the_operators_fields_to_the_operator():
    spec = applications()["application-platform"]["spec"]
    assert spec["ignoreDifferences"] == [{"group": "platform.tap.io", "kind": "TapPlatform",
                                          "managedFieldsManagers": [FIELD_MANAGER]}]
    assert "RespectIgnoreDifferences=true" in spec["syncPolicy"]["syncOptions"]


def test_argocd_cm_embeds_exactly_the_lua_files():
    config = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert (config["kind"], config["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    assert set(config["data"]) == {HEALTH_KEY, ACTIONS_KEY}
    assert config["data"][HEALTH_KEY] == (ARGOCD / "optimizationplan-health.lua").read_text()
    actions = yaml.safe_load(config["data"][ACTIONS_KEY])
    assert actions["discovery.lua"] == (ARGOCD / "actions" / "discovery.lua").read_text()
    assert {d["name"]: d["action.lua"] for d in actions["definitions"]} == {
        name: (ARGOCD / "actions" / f"{name}.lua").read_text() for name in ("approve", "abort", "resume")}


def test_the_lua_covers_every_state_the_crd_allows():
    schema = plan_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    states = set(schema["properties"]["status"]["properties"]["state"]["enum"])
    assert states == {state for state, _ in STATES}


STATES = [("Pending", "Progressing"), ("Progressing", "Progressing"), ("Observing", "Progressing"),
          ("RollingBack", "Progressing"), ("Succeeded", "Healthy"), ("RolledBack", "Degraded"),
          ("Failed", "Degraded"), ("Blocked", "Degraded"), ("Paused", "Suspended"),
          ("AwaitingApproval", "Suspended")]


@pytest.mark.parametrize(("state", "wanted"), STATES, ids=[s for s, _ in STATES])
def test_each_state_maps_to_its_health_with_the_state_as_message(state, wanted):
    assert health(plan({"state": state})) == {"status": wanted, "message": state}


def test_a_plan_without_status_is_progressing():
    assert health(plan(None)) == {"status": "Progressing", "message": "Waiting for tap-optimizer to pick the plan up"}
    assert health(plan({}))["status"] == "Progressing"


def test_the_message_comes_from_the_most_recently_changed_condition():
    conditions = [  # the operator sorts conditions by type, not by time
        {"type": "Blocked", "status": "False", "reason": "Free", "message": "target is free",
         "lastTransitionTime": "2026-11-25T10:00:00Z"},
        {"type": "Gates", "status": "False", "reason": "Fail", "message": "error-rate 0.02 > max 0.005",
         "lastTransitionTime": "2026-11-25T12:30:00Z"},
        {"type": "Ready", "status": "False", "reason": "RolledBack", "message": "",
         "lastTransitionTime": "2026-11-25T12:31:00Z"},
    ]
    assert health(plan({"state": "RolledBack", "conditions": conditions})) == {
        "status": "Degraded", "message": "RolledBack: error-rate 0.02 > max 0.005"}


def test_an_unknown_state_is_unknown_not_healthy():
    assert health(plan({"state": "Exploded"})) == {"status": "Unknown", "message": "Exploded"}


# -- resource actions ----------------------------------------------------------------------------

def as_python(value: Any) -> Any:
    """A Lua table back as JSON-like Python (what Argo CD patches the live object to)."""
    if not hasattr(value, "items"):
        return value
    items = dict(value.items())
    if items and all(isinstance(k, int) for k in items):
        return [as_python(items[k]) for k in sorted(items)]
    return {k: as_python(v) for k, v in items.items()}


def action(name: str, obj: dict[str, Any]) -> dict[str, Any]:
    return as_python(run_lua(ARGOCD / "actions" / f"{name}.lua", obj))


def offered(obj: dict[str, Any]) -> set[str]:
    found = as_python(run_lua(ARGOCD / "actions" / "discovery.lua", obj))
    return {name for name, settings in found.items() if not settings["disabled"]}


def awaiting(approved: str | None = None, suspend: bool = False) -> dict[str, Any]:
    phases = [{"name": "dynamodb", "state": "Succeeded"}, {"name": "compute", "state": "AwaitingApproval"}]
    body = plan({"state": "AwaitingApproval", "currentPhase": 1, "phases": phases})
    body["spec"] = {"suspend": suspend}
    if approved is not None:
        body["metadata"]["annotations"] = {"optimization.tap.io/approve": approved}
    return body


@pytest.mark.parametrize(("approved", "wanted"), [(None, "compute"), ("dynamodb", "dynamodb,compute"),
                                                  ("dynamodb, compute", "dynamodb, compute"), ("", "compute")],
                         ids=["no annotation", "added to the list", "already listed", "empty"])
def test_approve_adds_the_waiting_phase_to_the_list_the_operator_reads(approved, wanted):
    after = action("approve", awaiting(approved))
    assert after["metadata"]["annotations"]["optimization.tap.io/approve"] == wanted
    annotations = after["metadata"]["annotations"]
    assert "compute" in PlanRef("tap", "p", 1, annotations).approved_phases


def test_approve_of_a_plan_that_waits_for_nothing_changes_nothing():
    observing = plan({"state": "Observing", "currentPhase": 0, "phases": [{"name": "dynamodb", "state": "Observing"}]})
    assert action("approve", observing) == observing


def test_abort_sets_the_annotation_the_operator_reads():
    after = action("abort", plan({"state": "Observing"}))
    assert PlanRef("tap", "p", 1, after["metadata"]["annotations"]).aborted


def test_resume_clears_suspend():
    assert action("resume", awaiting(suspend=True))["spec"]["suspend"] is False


@pytest.mark.parametrize(("body", "wanted"), [
    (awaiting(), {"approve", "abort"}),
    (awaiting(suspend=True), {"approve", "abort", "resume"}),
    (plan({"state": "Observing", "currentPhase": 0, "phases": [{"name": "a", "state": "Observing"}]}), {"abort"}),
    (plan({"state": "RolledBack"}), set()),
    (plan(None), {"abort"}),
    ({**plan({"state": "Observing"}), "metadata": {"name": "p", "annotations": {"optimization.tap.io/abort": "true"}}},
     set())],
    ids=["awaiting approval", "awaiting approval, suspended", "observing", "ended", "no status", "aborted"])
def test_discovery_offers_the_actions_that_apply_now(body, wanted):
    assert offered(body) == wanted
