"""The Dockerfile, without a Docker engine: hadolint (every rule, the repo's .hadolint.yaml) and
the properties the chart relies on: targets, entrypoints, a non-root numeric user, a pinned base,
and nothing but the venv carried into the images."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.support.helm import ROOT

HADOLINT = Path(sys.executable).parent / "hadolint"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arguments for instruction, arguments in self.instructions if instruction == keyword]


def stages(text: str) -> dict[str, Stage]:
    """The build stages by name, each with its instructions (continuation lines joined)."""
    out: dict[str, Stage] = {}
    current: Stage | None = None
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = arguments.partition(" AS ")
            current = out[name.strip()] = Stage(base.strip(), name.strip())
        elif current is not None:
            current.instructions.append((keyword.upper(), arguments.strip()))
    return out


def hadolint(path: Path) -> tuple[int, list[dict]]:
    done = subprocess.run([str(HADOLINT), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", "-f", "json",
                           str(path)], capture_output=True, text=True, check=False, timeout=60)
    return done.returncode, json.loads(done.stdout or "[]")


@pytest.fixture(scope="module")
def dockerfile() -> dict[str, Stage]:
    return stages((ROOT / "Dockerfile").read_text())


def test_hadolint_passes_with_every_rule_on():
    assert hadolint(ROOT / "Dockerfile") == (0, [])
    config = yaml.safe_load((ROOT / ".hadolint.yaml").read_text())
    assert "ignored" not in config and config["failure-threshold"] == "info"


def test_hadolint_fails_a_careless_dockerfile(tmp_path):
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN pip install tap-optimizer\nUSER root\nCMD tap-optimizer run\n")
    code, findings = hadolint(careless)
    assert code != 0
    assert {"DL3007", "DL3013", "DL3042", "DL3002", "DL3025", "DL3049"} <= {f["code"] for f in findings}


def test_the_base_image_is_pinned_to_a_full_version(dockerfile):
    text = (ROOT / "Dockerfile").read_text()
    [pinned] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", pinned)
    assert {stage.base for name, stage in dockerfile.items() if name in ("build", "runtime")} == {"${PYTHON_IMAGE}"}


@pytest.mark.parametrize(("target", "entrypoint"), [
    ("operator", ["tap-optimizer", "run"]),
    ("function", ["tap-optimizer", "function", "--tls-certs-dir", "/tls/server"]),
])
def test_each_target_runs_its_command_as_a_numeric_non_root_user_from_the_venv_alone(dockerfile, target, entrypoint):
    stage = dockerfile[target]
    assert json.loads(stage.all("ENTRYPOINT")[-1]) == entrypoint
    assert stage.base == "runtime"
    runtime = dockerfile["runtime"]
    [user] = runtime.all("USER")
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user)
    assert runtime.all("COPY") == ["--from=build /opt/venv /opt/venv"]
    assert not runtime.all("RUN") and not stage.all("RUN")  # no package manager, no compiler: nothing installed
    assert stage.all("HEALTHCHECK")


def test_the_images_carry_the_oci_labels(dockerfile):
    labels = " ".join(dockerfile["runtime"].all("LABEL"))
    for key in ("source", "title", "description", "version"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels
    assert "org.opencontainers.image.title=" in " ".join(dockerfile["function"].all("LABEL"))


def test_the_function_listens_where_crossplane_calls_it(dockerfile):
    assert dockerfile["function"].all("EXPOSE") == ["9443"]


def test_the_build_context_is_only_the_package():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1:][:3] == ["!pyproject.toml", "!README.md", "!operator/"]
    assert not [line for line in ignored if line.startswith("!") and line not in (
        "!pyproject.toml", "!README.md", "!operator/")], "only the product package is built"


def test_the_build_installs_only_the_product_package(dockerfile):
    """The stand-ins (local/, a distribution of their own) are neither copied nor installed."""
    build = dockerfile["build"]
    assert build.all("COPY") == ["pyproject.toml README.md ./", "operator/ operator/"]
    [install] = [run for run in build.all("RUN") if " install " in run]
    assert "/opt/venv/bin/pip install --no-cache-dir . " in install and "local" not in install
