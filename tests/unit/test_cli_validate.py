"""`tap-optimizer validate plan.yaml [--target XR.yaml]`: the operator's own checks, offline, every
problem named, exit 0 or 2."""

from __future__ import annotations

import io
import sys

import pytest
import yaml

from tap_optimizer.cli import EXIT_BAD_INPUT, EXIT_OK, main
from tests.support.plans import Run, World, three_phase_spec
from tests.support.platforms import EXAMPLES


def plan(name: str = "rightsize", **spec_overrides) -> dict:
    return {"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
            "metadata": {"name": name, "namespace": "tap"}, "spec": three_phase_spec(**spec_overrides)}


@pytest.fixture
def write(tmp_path):
    def write(*objects: dict) -> str:
        path = tmp_path / "plan.yaml"
        path.write_text(yaml.safe_dump_all(objects))
        return str(path)
    return write


def test_a_valid_plan_exits_0_and_says_so(write, capsys):
    assert main(["validate", write(plan())]) == EXIT_OK
    assert capsys.readouterr().out == "OptimizationPlan rightsize: valid (3 phases, 10 changes)\n"


def test_with_its_target_each_phase_shows_what_it_would_patch_and_its_one_way_doors(write, capsys):
    assert main(["validate", write(plan()), "--target", str(EXAMPLES / "tap-prod.yaml")]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  phase dynamodb: would patch 2 paths; one-way doors: disables the stream of "
                               "table-audit_logs")
    assert "drops GSI table-users/ByRole" in lines[1]
    assert lines[2] == "  phase compute: would patch 5 paths; one-way doors: none"


def _bad_gates_and_paths() -> dict:
    spec = plan(gates={"interval": "soon", "metrics": [{"name": "e", "query": "q", "max": 1}]})
    spec["spec"]["phases"][1]["changes"][0]["path"] = "/metadata/labels/x"
    return spec


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        (_bad_gates_and_paths(), ["spec.gates.interval: 'soon' does not match the pattern",
                                  "spec.phases[1].changes[0].path: '/metadata/labels/x' does not match the pattern"]),
        (plan(gates={**three_phase_spec()["gates"], "observationWindow": "20s"}),
         ["spec.gates.interval: observationWindow must hold at least 3 checks"]),
        (plan(phases=[{"name": "db", "changes": [{"op": "replace", "path": "/spec/parameters/database/readerCount",
                                                  "value": 40}]}]),
         ["spec.phases[0].changes[0].value: 40 is greater than the maximum of 15"]),
        ({**plan(), "apiVersion": "optimization.tap.io/v1"},
         ["expected apiVersion optimization.tap.io/v1alpha1 kind OptimizationPlan"]),
    ],
    ids=["the schema: every field at once", "beyond the schema: a window of too few checks",
         "a value the target's schema refuses", "another version"],
)
def test_an_invalid_plan_exits_2_naming_every_problem(write, capsys, body, wanted):
    path = write(body)
    assert main(["validate", path]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    for problem in wanted:
        assert f"error: {path}: OptimizationPlan rightsize: {problem}" in captured.err


def test_validate_refuses_what_the_operator_fails_with_the_same_words(write, capsys):
    body = plan(gates={**three_phase_spec()["gates"], "observationWindow": "20s"})
    run = Run(body["spec"], World())
    run.settle()
    assert run.status["state"] == "Failed"
    main(["validate", write(body)])
    problem = capsys.readouterr().err.split("OptimizationPlan rightsize: ", 1)[1].strip()
    assert run.status["message"] == f"invalid spec: {problem}"


def test_against_another_target_every_mismatch_is_named(write, capsys):
    path = write(plan())
    assert main(["validate", path, "--target", str(EXAMPLES / "tap-small.yaml")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "spec.targetRef.name: 'tap-prod', but the target is 'tap-small'" in err
    assert "spec.phases[0] (dynamodb): cannot apply to the target: /spec/parameters/tables/users/" in err


def test_a_list_on_stdin_is_checked_plan_by_plan(capsys, monkeypatch):
    listing = {"apiVersion": "v1", "kind": "List", "items": [plan("good"), plan("bad", applyTimeout="never")]}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(yaml.safe_dump(listing).encode())))
    assert main(["validate", "-"]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out.startswith("OptimizationPlan good: valid")
    assert "error: stdin: OptimizationPlan bad: spec.applyTimeout: 'never' does not match" in captured.err


def _without_own_url(body: dict) -> dict:
    body["spec"]["gates"].pop("prometheus")
    return body


@pytest.mark.parametrize(
    ("body", "flags", "config", "wanted"),
    [
        (plan(), ["--prometheus-url", "http://prometheus.monitoring:9090"], None,
         "spec.gates.prometheus.url: plans may not choose their own Prometheus here"),
        (_without_own_url(plan()), ["--config", "{config}"], {"gates": {"endpoints": [
            {"name": "main", "namespaces": ["other"], "prometheus": {"url": "http://p:9090"}}]}},
         "spec.gates.endpoint: required"),
        (_without_own_url(plan()), ["--prometheus-url", "http://prometheus.monitoring:9090"], None, None),
        (plan(), ["--config", "{config}"], {"gates": {"plans": {"allowURL": True, "allowedHosts": ["127.0.0.1:9090"]}}},
         None),
    ],
    ids=["a plan's own URL where the operator allows none", "no endpoint for the plan's namespace",
         "the operator's default endpoint", "a plan's own URL on an allowed host"],
)
def test_with_the_operators_configuration_the_gate_endpoint_is_checked_as_the_operator_does(
        write, tmp_path, capsys, body, flags, config, wanted):
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    code = main(["validate", write(body), *[f.format(config=config_path) for f in flags]])
    err = capsys.readouterr().err
    assert "not checked against an operator's gate endpoints" not in err
    if wanted is None:
        assert (code, err) == (EXIT_OK, "")
    else:
        assert code == EXIT_BAD_INPUT and wanted in err


def test_without_a_configuration_validate_says_the_endpoint_was_not_checked(write, capsys):
    assert main(["validate", write(plan())]) == EXIT_OK
    assert "note: spec.gates was not checked against an operator's gate endpoints" in capsys.readouterr().err
