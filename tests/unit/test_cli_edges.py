"""The command line at its edges (issue 18): --version, a closed pipe, binary and non-YAML input,
stdin and Lists, and bad analyze flags refused before any AWS call. Each case runs the real CLI:
`main` in-process, or the installed `tap-optimizer` where a process boundary is the point."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest
import yaml

from tap_optimizer.analysis import command as analysis_command
from tap_optimizer.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_PIPE_CLOSED, main, parser
from tap_optimizer.composition.render.platform import render_platform
from tests.support import dashboard_samples
from tests.support.plans import three_phase_spec
from tests.support.platforms import EXAMPLES, example

CLI = pathlib.Path(sys.executable).parent / "tap-optimizer"
PROD = EXAMPLES / "tap-prod.yaml"


def run_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(CLI), *args], input=stdin, capture_output=True, timeout=120, check=False)


def test_version_prints_the_installed_version():
    done = run_cli("--version")
    assert done.returncode == EXIT_OK
    assert done.stdout.decode().strip() == f"tap-optimizer {importlib.metadata.version('tap-optimizer')}"


def test_a_reader_that_leaves_early_ends_render_quietly_with_141():
    """`render x.yaml | head -1`: the output (two platforms, about 160 KB) is larger than a pipe holds,
    so render is still writing when the reader leaves."""
    both = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [example("tap-prod")] * 2}).encode()
    render = subprocess.Popen([str(CLI), "render", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    render.stdin.write(both)
    render.stdin.close()
    first = render.stdout.readline()
    render.stdout.close()
    assert render.wait(timeout=120) == EXIT_PIPE_CLOSED
    assert first.startswith(b"apiVersion: ") and render.stderr.read() == b""


def test_render_reads_a_list_from_stdin_and_renders_every_platform_in_it():
    listing = {"apiVersion": "v1", "kind": "List", "items": [example("tap-small"), example("tap-prod")]}
    done = run_cli("render", "-", stdin=yaml.safe_dump(listing).encode())
    assert done.returncode == EXIT_OK, done.stderr
    rendered = list(yaml.safe_load_all(done.stdout))
    assert len(rendered) == len(render_platform(example("tap-small"))) + len(render_platform(example("tap-prod")))


BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


@pytest.mark.parametrize(
    ("content", "wanted"),
    [
        (BINARY, "not UTF-8 text (byte 0 is 0x89); expected YAML"),
        (b"plain \x00 text", "cannot read YAML"),
        (b"key: [unclosed\n", "cannot read YAML"),
        (b"just a sentence\n", "no {kind} in the input"),
    ],
    ids=["binary", "a NUL byte", "not YAML", "YAML of no object"],
)
@pytest.mark.parametrize(
    ("command", "kind"),
    [
        (["render", "{path}"], "TapPlatform"),
        (["validate", "{path}"], "OptimizationPlan"),
        (["validate", "{plan}", "--target", "{path}"], "TapPlatform"),
    ],
    ids=["render", "validate", "validate --target"],
)
def test_unreadable_input_exits_2_naming_the_file_without_a_traceback(tmp_path, capsys, content, wanted, command,
                                                                      kind):
    path, plan = tmp_path / "input.yaml", tmp_path / "plan.yaml"
    path.write_bytes(content)
    plan.write_text(yaml.safe_dump(plan_object()))
    assert main([arg.format(path=path, plan=plan) for arg in command]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{path}: {wanted.format(kind=kind)}" in err and "Traceback" not in err


def test_a_binary_file_behind_any_flag_exits_2_naming_the_flag(tmp_path, capsys):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(BINARY)
    assert main(["report", "--analysis", str(binary)]) == EXIT_BAD_INPUT
    assert f"--analysis {binary}: not UTF-8 text" in capsys.readouterr().err
    assert main(["analyze", "--platform", str(binary), "--out", str(tmp_path / "p.yaml")]) == EXIT_BAD_INPUT
    assert f"--platform {binary}: not UTF-8 text" in capsys.readouterr().err
    assert main(["export", str(PROD), "--plan", str(binary), "--out", "-"]) == EXIT_BAD_INPUT
    assert f"--plan {binary}: not UTF-8 text" in capsys.readouterr().err
    assert main(["export", str(binary), "--live", str(PROD)]) == EXIT_BAD_INPUT
    assert f"manifest {binary}: not UTF-8 text" in capsys.readouterr().err


@pytest.fixture
def unreachable_aws(monkeypatch):
    """AWS at a local port nobody listens on: an analysis that calls AWS fails (exit 1, "error: AWS:",
    after its retries), so exit 2 naming the flag means the flag was refused before any AWS call."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for key, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
                       "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(key, value)


def analyze(tmp_path: pathlib.Path, *flags: str) -> int:
    return main(["analyze", "--platform", str(PROD), "--out", str(tmp_path / "plan.yaml"), "--no-costs", *flags])


@pytest.mark.parametrize(
    ("flags", "files", "wanted"),
    [
        (["--regions", "us-east-1", "mars-1"], {}, "--regions mars-1: not an AWS region name"),
        (["--gates", "{gates}"], {"gates": "interval: 1m\nobservationWindow: 2m\n"
                                            "metrics: [{name: e, query: q, max: 1}]\n"},
         "--gates {gates}: spec.gates.interval: observationWindow must hold at least 3 checks"),
        (["--gates", "{gates}"], {"gates": "metrics: [{name: Error Rate, query: q, max: 1}]\n"},
         "--gates {gates}: spec.gates.metrics[0].name: 'Error Rate' does not match"),
        (["--gates", "{gates}"], {"gates": "- interval: 1m\n"}, "--gates {gates}: expected the mapping of spec.gates"),
        (["--prometheus-url", "prometheus:9090"], {}, "--prometheus-url prometheus:9090: expected an http:// or https://"),
        (["--prometheus-url", "http://admin:secret@prometheus:9090"], {},
         "--prometheus-url http://admin:secret@prometheus:9090: must not carry a user or password"),
        (["--days", "0"], {}, "--days 0: must be 1 to 455"),
        (["--analysis-out", "{missing}/analysis.json"], {}, "--analysis-out {missing}/analysis.json: the directory "
                                                            "{missing} does not exist"),
    ],
    ids=["a made-up region", "gates of too short a window", "a gate metric's bad name", "gates not a mapping",
         "a URL without a scheme", "a URL with a password", "no days", "an output directory that does not exist"],
)
def test_a_bad_analyze_flag_exits_2_naming_it_before_any_aws_call(tmp_path, capsys, unreachable_aws, flags, files,
                                                                   wanted):
    paths = {name: tmp_path / f"{name}.yaml" for name in files}
    for name, text in files.items():
        paths[name].write_text(text)
    names = {**{k: str(v) for k, v in paths.items()}, "missing": str(tmp_path / "missing")}
    assert analyze(tmp_path, *[f.format(**names) for f in flags]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert wanted.format(**names) in err and "AWS" not in err.replace("an AWS region", "")


@pytest.mark.parametrize(
    ("flags", "wanted"),
    [(["--ack", "{objects}", "--regions", "us-east-1"], "--regions: not with --ack"),
     (["--platform", str(PROD), "--crds", "{objects}"], "--crds: only with --ack")],
    ids=["--ack with --regions", "--crds without --ack"],
)
def test_ack_flags_that_do_not_go_together_exit_2_before_any_aws_call(tmp_path, capsys, unreachable_aws, flags,
                                                                      wanted):
    objects = tmp_path / "objects.yaml"
    objects.write_text("[]\n")
    args = [f.format(objects=objects) for f in flags]
    assert main(["analyze", *args, "--out", str(tmp_path / "plans.yaml"), "--no-costs"]) == EXIT_BAD_INPUT
    assert wanted in capsys.readouterr().err


def plan_object(**spec_overrides) -> dict:
    return {"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
            "metadata": {"name": "rightsize", "namespace": "tap"}, "spec": three_phase_spec(**spec_overrides)}


def test_good_analyze_flags_pass_the_checks_into_the_request(tmp_path):
    gates = tmp_path / "gates.yaml"
    gates.write_text("interval: 1m\nobservationWindow: 10m\nmetrics: [{name: e, query: q, max: 1}]\n")
    args = parser().parse_args(["analyze", "--platform", str(PROD), "--out", str(tmp_path / "plan.yaml"),
                                "--regions", "us-east-1", "eu-west-2", "--gates", str(gates),
                                "--prometheus-url", "http://prometheus.monitoring:9090", "--now", "2026-11-29"])
    request = analysis_command.request(args)
    assert (request.regions, request.gates["interval"], request.prometheus_url) == (
        ["us-east-1", "eu-west-2"], "1m", "http://prometheus.monitoring:9090")
    assert request.xr["metadata"]["name"] == "tap-prod"


@pytest.mark.parametrize(
    "command",
    [["report", "--analysis", "{missing}/a.json"], ["backtest", "{missing}/plan.yaml"],
     ["analyze", "--platform", str(PROD)]],
    ids=["report", "backtest", "analyze"],
)
def test_an_output_in_a_directory_that_does_not_exist_is_refused_first(tmp_path, capsys, command):
    missing = tmp_path / "missing"
    out = missing / "out.file"
    assert main([*[arg.format(missing=missing) for arg in command], "--out", str(out)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == f"error: --out {out}: the directory {missing} does not exist\n"


def test_a_closed_stdin_exits_2_naming_it():
    """`tap-optimizer render - <&-`: no stdin at all, not an empty one."""
    done = subprocess.run(["sh", "-c", 'exec "$0" render - <&-', str(CLI)], capture_output=True, timeout=120,
                          check=False)
    assert (done.returncode, done.stderr) == (EXIT_BAD_INPUT, b"error: stdin: cannot read: stdin is closed\n")


@pytest.mark.parametrize(
    ("items", "wanted"),
    [("5", "a List's items must be a list of objects, got int"),
     ("{a: 1}", "a List's items must be a list of objects, got dict")],
    ids=["a number", "a mapping"],
)
@pytest.mark.parametrize("command", ["render", "validate", "backtest"])
def test_a_list_whose_items_are_not_a_list_exits_2(tmp_path, capsys, items, wanted, command):
    path = tmp_path / "list.yaml"
    path.write_text(f"apiVersion: v1\nkind: List\nitems: {items}\n")
    assert main([command, str(path)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == f"error: {path}: {wanted}\n"


@pytest.mark.parametrize(
    ("command", "flag"),
    [(["report", "--analysis", "{missing}/a.json"], "--out"), (["backtest", "{missing}/plan.yaml"], "--out"),
     (["analyze", "--platform", str(PROD)], "--out"),
     (["analyze", "--platform", str(PROD), "--out", "{tmp}/plan.yaml"], "--analysis-out"),
     (["import", "--stack", "tap"], "--out"), (["import", "--stack", "tap", "--out", "{tmp}/tap.yaml"], "--report")],
    ids=["report", "backtest", "analyze", "analyze --analysis-out", "import", "import --report"],
)
def test_an_output_that_is_a_directory_is_refused_first(tmp_path, capsys, unreachable_aws, command, flag):
    """Before any work (AWS, Prometheus, the input files): the write at the end would fail."""
    names = {"missing": tmp_path / "missing", "tmp": tmp_path}
    assert main([*[arg.format(**names) for arg in command], flag, str(tmp_path)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == f"error: {flag} {tmp_path}: is a directory; give a file name\n"


PLATFORM_SPEC_STRING = "apiVersion: platform.tap.io/v1alpha1\nkind: TapPlatform\nmetadata: {name: x}\nspec: hello\n"
PLATFORM_METADATA_STRING = "apiVersion: platform.tap.io/v1alpha1\nkind: TapPlatform\nmetadata: hello\n"
PLAN_METADATA_STRING = "apiVersion: optimization.tap.io/v1alpha1\nkind: OptimizationPlan\nmetadata: hello\nspec: {}\n"


@pytest.mark.parametrize(
    ("command", "document", "wanted"),
    [(["render", "{path}"], PLATFORM_SPEC_STRING, "{path}: TapPlatform 1: spec must be an object, got 'hello'"),
     (["render", "{path}"], PLATFORM_METADATA_STRING, "{path}: TapPlatform 1: metadata must be an object, got 'hello'"),
     (["validate", "{plan}", "--target", "{path}"], PLATFORM_SPEC_STRING,
      "--target {path}: TapPlatform 1: spec must be an object, got 'hello'"),
     (["validate", "{path}"], PLAN_METADATA_STRING,
      "{path}: OptimizationPlan without metadata.name: metadata: 'hello' is not of type 'object'"),
     (["backtest", "{path}"], PLAN_METADATA_STRING, "{path}: metadata: 'hello' is not of type 'object'")],
    ids=["a platform's spec a string", "a platform's metadata a string",
         "validate --target: a platform's spec a string", "validate: a plan's metadata a string",
         "backtest: a plan's metadata a string"],
)
def test_an_object_whose_metadata_or_spec_is_not_a_mapping_exits_2(tmp_path, capsys, command, document, wanted):
    path, plan = tmp_path / "object.yaml", tmp_path / "plan.yaml"
    path.write_text(document)
    plan.write_text(yaml.safe_dump(plan_object()))
    assert main([arg.format(path=path, plan=plan) for arg in command]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"error: {wanted.format(path=path)}" in err and "Traceback" not in err


@pytest.mark.parametrize("duration", ["nan", "0.5", "-15", "inf"])
def test_a_lease_duration_that_is_not_whole_seconds_is_refused_before_the_operator_starts(tmp_path, monkeypatch,
                                                                                           capsys, duration):
    """nan crashed at the first Lease write (int(nan)); 0.5 wrote leaseDurationSeconds 0."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))  # were the flag let through, no cluster to start on
    args = ["run", "--all-namespaces", "--leader-election", "tap-optimizer", "--leader-election-namespace", "tap"]
    assert main([*args, f"--lease-duration={duration}"]) == EXIT_BAD_INPUT
    wanted = f"error: --lease-duration: expected seconds, at least 1, got {float(duration):g}\n"
    assert capsys.readouterr().err == wanted


def cli_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The installed CLI with this environment (the kubernetes client reads KUBECONFIG when imported)."""
    environ = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"} | env
    return subprocess.run([str(CLI), *args], env=environ, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("kubeconfig", ["{tmp}/none", "{tmp}"], ids=["none", "a directory"])
def test_no_cluster_credentials_exit_2_saying_so_before_the_operator_or_the_report_starts(tmp_path, kubeconfig):
    """`tap-optimizer run` outside a pod without a kubeconfig ended in a ConfigException traceback;
    a kubeconfig that is a directory, in an IsADirectoryError one (run and report --namespace)."""
    env = {"KUBECONFIG": kubeconfig.format(tmp=tmp_path)}
    done = cli_with(env, "run", "--namespace", "tap", "--http", "off")
    assert done.returncode == EXIT_BAD_INPUT
    assert done.stderr.startswith("error: no cluster credentials: not in a pod, and ")
    analysis = tmp_path / "analysis.json"
    analysis.write_text(json.dumps(dashboard_samples.analysis()))
    done = cli_with(env, "report", "--analysis", str(analysis), "--namespace", "tap", "--out", str(tmp_path / "d.html"))
    assert done.returncode == EXIT_BAD_INPUT
    assert done.stderr.startswith("error: --namespace tap: cannot list OptimizationPlans: ")


def test_the_function_refuses_missing_certificates_and_an_address_it_cannot_listen_on(tmp_path, capsys):
    """Both were tracebacks (FileNotFoundError; grpc's RuntimeError 'Failed to bind'), exit 1."""
    missing = tmp_path / "tls"
    assert main(["function", "--tls-certs-dir", str(missing)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith(f"error: --tls-certs-dir {missing}: cannot read {missing}/tls.crt: "
                                              "No such file or directory")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        assert main(["function", "--insecure", "--address", address]) == EXIT_BAD_INPUT
    assert f"error: --address {address}: cannot listen there" in capsys.readouterr().err


def test_an_address_the_operator_cannot_listen_on_exits_2_naming_its_flag(tmp_path):
    """A port in use for --liveness or --http ended in an OSError traceback, exit 1."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}], "users": [{"name": "u", "user": {}}]}))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for flags, flag in ((["--http", "off", "--liveness", f"http://127.0.0.1:{port}/healthz"], "--liveness"),
                            (["--http", f"127.0.0.1:{port}"], "--http")):
            done = cli_with({"KUBECONFIG": str(kubeconfig)}, "run", "--namespace", "tap", *flags)
            assert done.returncode == EXIT_BAD_INPUT, done.stderr
            assert done.stderr.startswith(f"error: {flag} 127.0.0.1:{port}: cannot listen there: ")


def test_validate_refuses_stdin_for_both_the_plans_and_the_target(capsys):
    """The second read found nothing: '--target stdin: no TapPlatform in the input'."""
    assert main(["validate", "-", "--target", "-"]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == "error: stdin (-) can be one input only: give the plans or --target as a file\n"
