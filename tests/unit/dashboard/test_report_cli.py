"""`tap-optimizer report` from the user's side: the file it writes, and exit 2 naming the flag."""

from __future__ import annotations

import kubernetes
import pytest
import yaml

from tap_optimizer.cli import EXIT_BAD_INPUT, EXIT_OK, main
from tap_optimizer.cluster import PLAN
from tap_optimizer_local.cluster import Cluster


def report(*args: str) -> int:
    return main(["report", *args])


def test_report_writes_one_page_with_the_plans_of_a_multi_document_file(tmp_path, capsys, analysis_file, succeeded,
                                                                         rolled_back):
    plans, out = tmp_path / "plans.yaml", tmp_path / "dashboard.html"
    plans.write_text(yaml.safe_dump_all([succeeded, rolled_back]))
    assert report("--analysis", str(analysis_file), "--plans", str(plans), "--out", str(out)) == EXIT_OK
    assert capsys.readouterr().out.strip() == str(out)
    page = out.read_text()
    assert "tap/rightsize-retry" in page and "Cost by service" in page


def test_report_reads_a_list_as_kubectl_prints_it(tmp_path, capsys, analysis_file, succeeded):
    plans, out = tmp_path / "plans.yaml", tmp_path / "dashboard.html"
    plans.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [succeeded]}))
    assert report("--analysis", str(analysis_file), "--plans", str(plans), "--out", str(out)) == EXIT_OK
    assert "tap/rightsize" in out.read_text()


@pytest.mark.parametrize(
    ("content", "wanted"),
    [
        (None, "--analysis {path}: cannot read: No such file or directory"),
        ("{not json", "--analysis {path}: not JSON"),
        ('{"version": 2}', "--analysis {path}: field version must be 1, got 2"),
        ('[1]', "--analysis {path}: field version must be 1, got None"),
        ('{"version": 1, "generatedAt": "x"}',
         "--analysis {path}: missing fields apiCalls, excluded, findings, platform, pricing, recommendations, "
         "utilization, window"),
    ],
    ids=["missing", "not JSON", "wrong version", "not an object", "missing fields"],
)
def test_a_bad_analysis_file_exits_2_naming_the_flag(tmp_path, capsys, content, wanted):
    path = tmp_path / "analysis.json"
    if content is not None:
        path.write_text(content)
    assert report("--analysis", str(path), "--out", str(tmp_path / "out.html")) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert wanted.format(path=path) in captured.err and captured.out == ""
    assert not (tmp_path / "out.html").exists()


@pytest.mark.parametrize(
    ("edit", "wanted"),
    [
        (lambda plan: {"kind": "ConfigMap"}, "plan 1: expected apiVersion optimization.tap.io/v1alpha1 kind "
                                             "OptimizationPlan, got (None, 'ConfigMap')"),
        (lambda plan: {**plan, "spec": {**plan["spec"], "gates": {}}},
         "plan 1 (rightsize): spec.gates: 'metrics' is a required field"),
        (lambda plan: {**plan, "status": {**plan["status"], "state": "Done"}}, "status.state"),
    ],
    ids=["not a plan", "a spec the CRD refuses", "a status the CRD refuses"],
)
def test_a_bad_plans_file_exits_2_naming_the_flag_and_field(tmp_path, capsys, analysis_file, succeeded, edit, wanted):
    plans = tmp_path / "plans.yaml"
    plans.write_text(yaml.safe_dump(edit(succeeded)))
    assert report("--analysis", str(analysis_file), "--plans", str(plans), "--out", str(tmp_path / "o.html")) \
        == EXIT_BAD_INPUT
    assert f"--plans {plans}: " in (err := capsys.readouterr().err) and wanted in err


def test_report_reads_the_plans_of_a_namespace_from_the_cluster(tmp_path, capsys, monkeypatch, analysis_file,
                                                                 succeeded):
    with Cluster() as cluster:
        monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig()))
        monkeypatch.setattr(kubernetes.client.Configuration, "_default", kubernetes.client.Configuration._default)
        cluster.create({k: v for k, v in succeeded.items() if k != "status"})
        cluster.custom.patch_namespaced_custom_object_status(*PLAN[:2], "tap", PLAN[2], "rightsize",
                                                             {"status": succeeded["status"]})
        out = tmp_path / "dashboard.html"
        assert report("--analysis", str(analysis_file), "--namespace", "tap", "--out", str(out)) == EXIT_OK
    page = out.read_text()
    assert "tap/rightsize" in page and "all 3 phases passed" in page


def test_an_unreachable_cluster_exits_2_naming_the_flag(tmp_path, capsys, monkeypatch, analysis_file):
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "none"))
    assert report("--analysis", str(analysis_file), "--namespace", "tap", "--out", str(tmp_path / "o.html")) \
        == EXIT_BAD_INPUT
    assert "--namespace tap: cannot list OptimizationPlans" in capsys.readouterr().err
