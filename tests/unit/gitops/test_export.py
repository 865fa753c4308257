"""`tap-optimizer export`: after a plan, the manifest in git renders exactly what runs.

The plans run through the operator's own step loop against the test world (tests/support/plans.py),
which applies each patch as the API server would; "what runs" is that world's TapPlatform. The
rendering is the composition function's (render_platform), so equal renderings mean Crossplane
would change nothing when git is synced again.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from tap_optimizer import cli
from tap_optimizer.composition.render.platform import render_platform
from tap_optimizer.platform.parameters import defaulted_parameters
from tap_optimizer.plugin import actions
from tap_optimizer_local.apiserver import merge
from tests.support.plans import FAIL, Run, World, three_phase_spec
from tests.support.platforms import EXAMPLES, example

OTHER = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept", "namespace": "tap"},
         "data": {"note": "another document of the same file"}}
COMMENT = "# The reference platform: us-east-1 primary with two Aurora secondary regions."


@pytest.fixture
def manifest(tmp_path) -> Path:
    """The user's file in git: the tap-prod example (comments and all) and another document."""
    path = tmp_path / "tap-prod.yaml"
    path.write_text((EXAMPLES / "tap-prod.yaml").read_text() + yaml.safe_dump(OTHER, explicit_start=True))
    return path


def finished_plan(fail_in_phase: int | None = None) -> tuple[dict[str, Any], World]:
    """The three-phase plan run to its end on tap-prod; with a failing gate in one phase."""
    world = World(parameters=defaulted_parameters(example("tap-prod")["spec"]["parameters"]))
    run = Run(three_phase_spec(), world)
    if fail_in_phase is None:
        run.until("Succeeded")
    else:
        run.until("Observing")
        while run.status.get("currentPhase", 0) < fail_in_phase:
            run.tick(5)
        world.gates = FAIL
        run.until("RolledBack")
    plan = {"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
            "metadata": {"name": run.name, "namespace": "tap"}, "spec": run.spec_body, "status": run.status}
    return plan, world


def live(world: World) -> dict[str, Any]:
    """The TapPlatform as the cluster has it, as `kubectl get -o yaml` prints it."""
    xr = example("tap-prod")
    xr["spec"]["parameters"] = copy.deepcopy(world.parameters)
    xr["metadata"].update(resourceVersion="42", generation=world.generation)
    xr["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    return xr


def export(tmp_path: Path, manifest: Path, source: str, body: dict[str, Any], *flags: str) -> int:
    path = tmp_path / f"{source}.yaml"
    path.write_text(yaml.safe_dump(body))
    return cli.main(["export", str(manifest), f"--{source}", str(path), *flags])


def platform_in(path: Path) -> dict[str, Any]:
    (platform,) = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "TapPlatform"]
    return platform


def test_a_succeeded_plan_written_back_renders_what_runs(tmp_path, manifest):
    plan, world = finished_plan()
    assert export(tmp_path, manifest, "plan", plan) == 0
    assert render_platform(platform_in(manifest)) == render_platform(live(world))
    assert render_platform(platform_in(manifest)) != render_platform(example("tap-prod")), "the plan changed nothing"
    text = manifest.read_text()
    assert COMMENT in text and list(yaml.safe_load_all(text))[1] == OTHER
    assert "ByRole" not in text and "m5.2xlarge" in text


def test_only_the_phases_that_stayed_applied_are_written(tmp_path, manifest):
    plan, world = finished_plan(fail_in_phase=1)
    assert [p["state"] for p in plan["status"]["phases"]] == ["Succeeded", "RolledBack", "Pending"]
    assert export(tmp_path, manifest, "plan", plan) == 0
    assert render_platform(platform_in(manifest)) == render_platform(live(world))
    assert "compute" not in platform_in(manifest)["spec"]["parameters"]


def test_a_plan_rolled_back_from_its_first_phase_writes_nothing(tmp_path, manifest, capsys):
    plan, _world = finished_plan(fail_in_phase=0)
    before = manifest.read_text()
    assert export(tmp_path, manifest, "plan", plan) == 0
    assert manifest.read_text() == before
    assert "no phase of plan plan-a stayed applied" in capsys.readouterr().err


def test_the_live_target_written_back_renders_what_runs(tmp_path, manifest):
    _plan, world = finished_plan()
    world.parameters["cache"]["shards"] = 3  # a change someone made by hand, not the plan
    assert export(tmp_path, manifest, "live", live(world)) == 0
    assert render_platform(platform_in(manifest)) == render_platform(live(world))
    assert "resourceVersion" not in manifest.read_text(), "only parameters are written back"


def test_a_second_export_changes_nothing(tmp_path, manifest, capsys):
    plan, _world = finished_plan()
    assert export(tmp_path, manifest, "plan", plan) == 0
    once = manifest.read_text()
    assert export(tmp_path, manifest, "plan", plan) == 0
    assert manifest.read_text() == once and "already declares" in capsys.readouterr().err


@pytest.mark.parametrize(("fmt", "apply"), [
    ("json6902", jsonpatch.apply_patch),
    ("strategic", merge),  # RFC 7386, as kustomize merges a custom resource (no merge keys)
])
def test_a_kustomize_patch_of_the_base_renders_what_runs(tmp_path, manifest, capsys, fmt, apply):
    plan, world = finished_plan()
    base = platform_in(manifest)
    assert export(tmp_path, manifest, "plan", plan, "--format", fmt) == 0
    patch = yaml.safe_load(capsys.readouterr().out)
    assert render_platform(apply(base, patch)) == render_platform(live(world))
    assert platform_in(manifest) == base, "a patch leaves the base alone"


def test_a_plan_under_way_is_refused(tmp_path, manifest, capsys):
    world = World(parameters=defaulted_parameters(example("tap-prod")["spec"]["parameters"]))
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    plan = {"kind": "OptimizationPlan", "metadata": {"name": "p", "namespace": "tap"}, "spec": run.spec_body,
            "status": run.status}
    before = manifest.read_text()
    assert export(tmp_path, manifest, "plan", plan) == 2
    assert "status.state is Observing" in capsys.readouterr().err and manifest.read_text() == before


@pytest.mark.parametrize(("reason", "edit", "wanted"), [
    ("another target", lambda p: p["spec"]["targetRef"].update(name="tap-dev"),
     "spec.targetRef.name names tap/tap-dev"),
    ("another namespace", lambda p: p["metadata"].update(namespace="prod"), "names prod/tap-prod"),
    ("no plan in the file", lambda p: p.update(kind="Other"), "expected exactly one OptimizationPlan, found 0"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_a_plan_for_another_platform_is_refused(tmp_path, manifest, capsys, reason, edit, wanted):
    plan, _world = finished_plan()
    edit(plan)
    assert export(tmp_path, manifest, "plan", plan) == 2, reason
    assert wanted in capsys.readouterr().err


DEPLOYMENT = """# kept exactly as written: its own list style, a long line, an explicit document end
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    description: "a description longer than the eighty columns a YAML writer folds at, written on one line by a person"
spec:
  template:
    spec:
      containers:
      - name: web
        args: [a, b]
...
"""


def test_the_other_documents_and_the_platforms_own_style_are_kept(tmp_path):
    """Only the TapPlatform's document is written again, in its own list indentation; the document
    before it (another list style, a long line, `...`) stays byte for byte."""
    manifest = tmp_path / "platforms.yaml"
    platform = (EXAMPLES / "tap-prod.yaml").read_text().replace("        - region", "      - region") \
        .replace("          vpcCidr", "        vpcCidr")
    manifest.write_text(DEPLOYMENT + platform)
    plan, world = finished_plan()
    assert export(tmp_path, manifest, "plan", plan) == 0
    text = manifest.read_text()
    assert text.startswith(DEPLOYMENT + "---\n# The reference platform")
    assert "      - region: us-west-2\n        vpcCidr: 10.1.0.0/16\n" in text
    assert render_platform(platform_in(manifest)) == render_platform(live(world))


def test_an_output_that_cannot_be_written_is_refused_before_anything(tmp_path, manifest, capsys):
    plan, _world = finished_plan()
    assert export(tmp_path, manifest, "plan", plan, "--out", str(tmp_path)) == 2
    assert capsys.readouterr().err == f"error: --out {tmp_path}: is a directory; give a file name\n"


@pytest.mark.parametrize("source", ["--plan", "--live"])
def test_stdin_given_for_two_inputs_is_refused_naming_it(capsys, source):
    """`export - --plan -`: the second read found nothing ('expected exactly one TapPlatform, found 0')."""
    assert cli.main(["export", "-", source, "-"]) == 2
    assert capsys.readouterr().err == "error: stdin (-) can be one input only: give the manifest or the source as " \
                                      "a file\n"


def test_a_retried_plan_whose_last_attempt_did_not_apply_every_phase_is_refused_pointing_to_live(tmp_path, manifest,
                                                                                                 capsys):
    """Attempt 1 kept phase dynamodb and rolled compute back; the retry's attempt 2 failed its gate
    in dynamodb and 'restored' it to the values attempt 1 left: the export wrote nothing while
    dynamodb's values ran (git diverged)."""
    plan, world = finished_plan(fail_in_phase=1)
    run_plan = {**plan, "metadata": {**plan["metadata"], "resourceVersion": "1", "annotations": {}}}
    retry = actions.retry(run_plan, "alice", "2026-11-25T13:00:00Z").patch["metadata"]["annotations"]
    run = Run(plan["spec"], world)
    run.status = plan["status"]
    run.annotations.update({k: v for k, v in retry.items() if v is not None})
    run.until("RolledBack", "Failed", limit=400)
    assert run.status["attempt"] == 2 and run.status["phases"][0]["state"] == "RolledBack"
    before = manifest.read_text()
    retried = {**plan, "status": run.status}
    assert export(tmp_path, manifest, "plan", retried) == 2
    assert "attempt 2 did not apply every phase" in capsys.readouterr().err and manifest.read_text() == before
    assert export(tmp_path, manifest, "live", live(world)) == 0
    assert render_platform(platform_in(manifest)) == render_platform(live(world))


@pytest.mark.parametrize(("encode", "reason"), [
    (lambda text: text.replace("\n", "\r\n"), "Windows line ends: the rewritten lines got \\n, the kept ones \\r\\n"),
    (lambda text: "\ufeff" + text, "a byte-order mark before the first ---: the --- line was dropped")],
    ids=["CRLF", "BOM"])
def test_the_files_line_ends_and_first_line_are_kept(tmp_path, manifest, encode, reason):
    manifest.write_bytes(encode(manifest.read_text()).encode())
    plan, world = finished_plan()
    assert export(tmp_path, manifest, "plan", plan) == 0
    data = manifest.read_bytes()
    assert encode("---\n# The reference platform").encode() in data, reason
    if b"\r\n" in data:
        assert data.count(b"\n") == data.count(b"\r\n"), reason
    assert render_platform(platform_in(manifest)) == render_platform(live(world))


def test_a_manifest_holding_its_platform_in_a_list_is_refused_saying_so(tmp_path, capsys):
    """Not 'expected exactly one TapPlatform, found 0' for a file that holds one, as kubectl prints them."""
    manifest = tmp_path / "list.yaml"
    manifest.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [example("tap-prod")]}))
    plan, _world = finished_plan()
    assert export(tmp_path, manifest, "plan", plan) == 2
    assert capsys.readouterr().err == (f"error: manifest {manifest}: its TapPlatform is an item of a List; export "
                                       "edits a TapPlatform that is a document of its own (---)\n")
