"""Argo CD: the Applications are valid against Argo CD's own CRD, the platform's tells Argo CD to
respect the operator's fields, and the OptimizationPlan health check (Lua, run here on Lua 5.1,
the language of Argo CD's gopher-lua) maps every plan state to the health Argo CD shows."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from lupa import lua51

from tap_optimizer.cluster import FIELD_MANAGER
from tap_optimizer.plan.spec import crd as plan_crd
from tests.support.helm import ROOT, errors

ARGOCD = ROOT / "manifests" / "argocd"
HEALTH_KEY = "resource.customizations.health.optimization.tap.io_OptimizationPlan"


def applications() -> dict[str, dict[str, Any]]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted(ARGOCD.glob("application-*.yaml"))}


def health(obj: dict[str, Any]) -> dict[str, str]:
    """Run the health script as Argo CD does: the object as global `obj`, a table returned."""
    lua = lua51.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute((ARGOCD / "optimizationplan-health.lua").read_text())
    return dict(result.items())


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


def test_argocd_cm_embeds_exactly_the_lua_file():
    config = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert (config["kind"], config["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    assert config["data"] == {HEALTH_KEY: (ARGOCD / "optimizationplan-health.lua").read_text()}


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
