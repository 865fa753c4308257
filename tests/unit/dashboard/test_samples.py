"""The sample input is what the operator and analyze would really produce: plans the CRD accepts,
a document with every field of the contract."""

from __future__ import annotations

import typing

from tap_optimizer.analysis.document import VERSION, Analysis
from tap_optimizer.openapi import apply_defaults, validate
from tap_optimizer.plan.spec import plan_schema, spec_errors


def test_the_sample_plans_are_accepted_by_the_crd_and_the_operator(succeeded, rolled_back):
    schema = plan_schema()
    for plan in (succeeded, rolled_back):
        body = {"spec": plan["spec"], "status": plan["status"]}
        assert validate(schema, apply_defaults(schema, body)) == []
        assert spec_errors(plan["spec"]) == []


def test_the_sample_plans_end_as_named_with_a_gate_history(succeeded, rolled_back):
    assert [p["state"] for p in succeeded["status"]["phases"]] == ["Succeeded"] * 3
    assert [p["state"] for p in rolled_back["status"]["phases"]] == ["RolledBack", "RolledBack", "Pending"]
    failed = rolled_back["status"]["phases"][1]["gates"][-1]
    assert failed["verdict"] == "Fail" and {m["name"] for m in failed["metrics"]} == {"error-rate", "p99-latency"}


def test_the_sample_analysis_has_every_field_of_the_contract(analysis):
    assert analysis["version"] == VERSION
    assert Analysis.__required_keys__ <= set(analysis) <= set(typing.get_type_hints(Analysis))
