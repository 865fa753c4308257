"""The plan's status as kubectl shows it: a declared schema that `kubectl explain` documents and
that keeps every key the machine writes, a Completed condition for `kubectl wait`, printer columns
and a category that shadows no short name."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

from tap_optimizer.plan import machine
from tap_optimizer.plan.spec import crd, parse, plan_schema
from tap_optimizer.plan.status import PlanStatus
from tap_optimizer.platform.parameters import xrd
from tests.support.plans import FAIL, Run, World, status_refusals, three_phase_spec

STATUS = plan_schema()["properties"]["status"]


def kind_of(schema: dict[str, Any]) -> str:
    """The type as `kubectl explain` prints it: <string>, <[]Object>, <map[string]number>, <Object>."""
    if schema.get("type") == "array":
        return "[]" + kind_of(schema["items"])
    if schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + kind_of(schema["additionalProperties"])
    if schema.get("type") == "object":
        return "Object"
    return schema.get("type", "Object")


def explain(path: str) -> str:
    """`kubectl explain optplan.<path>`: the field, its description and its fields, from the CRD's
    openAPIV3Schema (array items and map values are looked through, as kubectl does)."""
    node: dict[str, Any] = plan_schema()
    for key in path.split("."):
        while node.get("type") == "array" or isinstance(node.get("additionalProperties"), dict):
            node = node.get("items") or node["additionalProperties"]
        node = node["properties"][key]
    lines = [f"FIELD: {path.rsplit('.', 1)[-1]} <{kind_of(node)}>", "", "DESCRIPTION:", f"    {node['description']}"]
    while node.get("type") == "array":
        node = node["items"]
    if node.get("properties"):
        lines += ["", "FIELDS:"]
        lines += [f"  {name}\t<{kind_of(sub)}>\n    {sub['description']}" for name, sub in node["properties"].items()]
    return "\n".join(lines)


def test_kubectl_explain_documents_the_status_its_conditions_and_phases():
    status = explain("status")
    for field in ("state\t<string>", "conditions\t<[]Object>", "phases\t<[]Object>",
                  "baseline\t<map[string]map[string]number>", "observedGeneration\t<integer>"):
        assert f"  {field}" in status
    conditions = explain("status.conditions")
    assert "FIELD: conditions <[]Object>" in conditions and "Completed (True once the plan ended" in conditions
    for field in ("type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"):
        assert f"  {field}\t<" in conditions
    phases = explain("status.phases")
    for field in ("changes\t<[]Object>", "checks\t<[][]Object>", "evidence\t<Object>", "gates\t<[]Object>"):
        assert f"  {field}" in phases
    assert "  before\t<Object>\n    The value before the phase" in explain("status.phases.changes")


def _nodes(schema: dict[str, Any], path: str) -> typing.Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _nodes(schema[key], f"{path}[]")


def test_every_status_field_has_a_description_and_a_type_as_a_structural_schema_needs():
    assert [path for path, node in _nodes(STATUS, "status") if not node.get("description")
            and not path.endswith("[]")] == []
    assert [path for path, node in _nodes(STATUS, "status")
            if not node.get("type") and not node.get("x-kubernetes-preserve-unknown-fields")] == []


def _schema_errors(hint: Any, schema: dict[str, Any], where: str) -> list[str]:
    """Where the declared schema does not take what the type hint allows (a TypedDict key it does
    not declare would be pruned by the API server)."""
    if typing.is_typeddict(hint):
        declared = schema.get("properties") or {}
        return [error for key, inner in typing.get_type_hints(hint).items()
                for error in (_schema_errors(inner, declared[key], f"{where}.{key}") if key in declared
                              else [f"{where}.{key}: not declared"])]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return _type_error(schema, "array", where) or _schema_errors(args[0], schema["items"], f"{where}[]")
    if origin is dict and not schema.get("x-kubernetes-preserve-unknown-fields"):
        return _type_error(schema, "object", where) or _schema_errors(
            args[1], schema.get("additionalProperties") or {}, f"{where}{{}}")
    return _leaf_errors(hint, schema, where)


def _leaf_errors(hint: Any, schema: dict[str, Any], where: str) -> list[str]:
    """A value of any shape must be preserved, a Literal is the enum, a scalar its type."""
    if hint is Any:
        return [] if schema.get("x-kubernetes-preserve-unknown-fields") else [f"{where}: any value, not preserved"]
    if typing.get_origin(hint) is typing.Literal:
        wanted = list(typing.get_args(hint))
        return [] if schema.get("enum") == wanted else [f"{where}: enum {schema.get('enum')} is not {wanted}"]
    scalars = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return _type_error(schema, scalars.get(hint, "object"), where)


def _type_error(schema: dict[str, Any], wanted: str, where: str) -> list[str]:
    return [] if schema.get("type") == wanted else [f"{where}: declared {schema.get('type')}, written {wanted}"]


def test_the_declared_schema_takes_every_key_and_type_of_the_typed_status():
    assert _schema_errors(PlanStatus, STATUS, "status") == []


def test_a_key_the_schema_does_not_declare_is_caught_where_the_api_server_would_prune_it():
    assert status_refusals({"state": "Observing", "baseline": {"error-rate": {"{}": 0.001}},
                            "phases": [{"name": "a", "checks": [["2026-11-25T12:00:00Z", "Pass", "", None, None]],
                                        "changes": [{"path": "/spec/parameters/x", "before": {"any": [1]}}]}]}) == []
    assert status_refusals({"phases": [{"name": "a", "typo": 1}]}) == [
        "status.phases[0].typo: unknown field; " + "allowed fields: " + ", ".join(sorted(
            STATUS["properties"]["phases"]["items"]["properties"]))]
    assert status_refusals({"state": "Done"})[0].startswith("status.state: 'Done' is not allowed")


def _completed(run: Run) -> dict[str, Any]:
    return next(c for c in run.status["conditions"] if c["type"] == "Completed")


def test_completed_is_false_while_the_plan_runs_and_true_with_succeeded_at_the_end():
    run = Run(three_phase_spec(), World())
    run.until("Observing")
    assert _completed(run)["status"] == "False" and _completed(run)["reason"] == "Observing"
    run.until("Succeeded", limit=400)
    assert (_completed(run)["status"], _completed(run)["reason"]) == ("True", "Succeeded")
    assert {c["type"]: c["status"] for c in run.status["conditions"]}["Ready"] == "True"
    assert {c["observedGeneration"] for c in run.status["conditions"]} == {run.plan.generation}


def _rolled_back(run: Run) -> None:
    run.until("Observing")
    run.world.gates = FAIL


def _aborted(run: Run) -> None:
    run.until("Observing")
    run.annotations["optimization.tap.io/abort"] = "true"


@pytest.mark.parametrize(
    ("spec", "act", "state", "reason"),
    [
        (three_phase_spec(), _rolled_back, "RolledBack", "RolledBack"),
        (three_phase_spec(), _aborted, "RolledBack", "Aborted"),
        (three_phase_spec(gates={"metrics": []}), lambda run: None, "Failed", "Failed"),
        (three_phase_spec(dryRun=True), lambda run: None, "Succeeded", "Succeeded"),
    ],
    ids=["a failed gate rolls back", "an abort", "an invalid spec fails", "a dry run succeeds"],
)
def test_completed_is_true_however_the_plan_ends_and_its_reason_says_how(spec, act, state, reason):
    run = Run(spec, World())
    act(run)
    run.until("Succeeded", "RolledBack", "Failed", limit=400)
    assert run.status["state"] == state
    assert (_completed(run)["status"], _completed(run)["reason"]) == ("True", reason)


def test_printer_columns_show_the_reason_and_wide_output_the_rest():
    (version,) = crd()["spec"]["versions"]
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert [n for n, c in columns.items() if not c.get("priority")] == ["Target", "State", "Reason", "Phase",
                                                                        "Savings", "Age"]
    assert [n for n, c in columns.items() if c.get("priority") == 1] == ["Completed", "Next Check", "Message"]
    assert columns["Reason"]["jsonPath"] == ".status.reason"


def test_no_category_shadows_a_name_kubectl_resolves():
    names = [crd()["spec"]["names"], xrd()["spec"]["names"]]
    taken = {n for found in names for n in (*found.get("shortNames", []), found["plural"], found["singular"])}
    categories = set(crd()["spec"]["names"].get("categories", []))
    assert categories and not categories & taken


def test_a_plan_that_ended_before_the_completed_condition_existed_gets_it_at_its_next_step():
    run = Run(three_phase_spec(), World())
    _aborted(run)
    run.until("RolledBack", limit=400)
    run.status["conditions"] = [c for c in run.status["conditions"] if c["type"] != "Completed"]
    run.step()
    assert (_completed(run)["status"], _completed(run)["reason"]) == ("True", "Aborted")


def test_a_spec_edited_after_the_end_gets_conditions_of_its_generation_for_kubectl_wait():
    """kubectl wait takes a condition whose observedGeneration is below metadata.generation as not
    met (tried: `kubectl wait --for=condition=Completed` timed out on an ended plan whose spec
    Argo CD or a person edited); the step after the edit sets them for the new generation, and
    keeps when they turned true."""
    run = Run(three_phase_spec(), World())
    _aborted(run)
    run.until("RolledBack", limit=400)
    before = {c["type"]: c for c in run.status["conditions"]}
    edited = dataclasses.replace(run.plan, generation=2)
    decision = machine.decide(edited, parse(run.spec_body), run.status, run.world.target(), run.now)
    after = {c["type"]: c for c in decision.status["conditions"]}
    assert {c["observedGeneration"] for c in after.values()} == {2}
    assert {t: (c["status"], c["reason"], c["lastTransitionTime"]) for t, c in after.items()} == \
        {t: (c["status"], c["reason"], c["lastTransitionTime"]) for t, c in before.items()}
