"""The real `helm` binary (installed into the venv by `make setup`), with throwaway homes, and the
validation of what it renders: built-in kinds with kubernetes-validate, custom resources with
their CRD's schema (ours, kopf's, and the upstream ones in ../shared/schemas)."""

from __future__ import annotations

import functools
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import kubernetes_validate
import yaml

from tests.support.crds import crd_entries, object_errors

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tap-optimizer"
KUBERNETES_VERSION = "1.37.0"  # the newest schemas kubernetes-validate bundles; the chart needs >= 1.27


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def binary() -> str:
    beside = pathlib.Path(sys.executable).parent / "helm"
    found = str(beside) if beside.exists() else shutil.which("helm")
    if found is None:
        raise RuntimeError("no helm: run `make setup` (scripts/install-helm.sh installs it into the venv)")
    return found


def helm(*args: str) -> Result:
    """Run helm with cache/config/data homes in a temp dir, so the machine's Helm state is irrelevant."""
    with tempfile.TemporaryDirectory(prefix="helm-home-") as home:
        env = {**os.environ, **{f"HELM_{kind}_HOME": os.path.join(home, kind.lower())
                                for kind in ("CACHE", "CONFIG", "DATA")}}
        done = subprocess.run([binary(), *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    return Result(done.returncode, done.stdout, done.stderr)


def values_file(directory: pathlib.Path, values: dict[str, Any]) -> str:
    path = directory / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def render(values: dict[str, Any] | None = None, namespace: str = "tap-optimizer") -> list[dict[str, Any]]:
    """`helm template --include-crds` of the chart: every object it would install."""
    with tempfile.TemporaryDirectory(prefix="values-") as directory:
        result = helm("template", "tap-optimizer", str(CHART), "--namespace", namespace, "--include-crds",
                      "-f", values_file(pathlib.Path(directory), values or {}))
    if result.code != 0:
        raise AssertionError(f"helm template failed: {result.stderr}")
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@functools.lru_cache(maxsize=1)
def chart_crds() -> dict[tuple[str, str], tuple[str, dict[str, Any], bool]]:
    """The chart's own CRDs (the plan's and kopf's peerings), indexed like the upstream ones."""
    out = {}
    for path in sorted((CHART / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            out.update(crd_entries(crd))
    return out


def custom_resource_errors(obj: dict[str, Any]) -> list[str]:
    """Validate a custom resource whole, metadata included: some CRDs (Argo CD's) require it."""
    return object_errors(obj, chart_crds(), with_metadata=True)


def errors(obj: dict[str, Any]) -> list[str]:
    """Why a real API server (with our CRDs and the upstream ones installed) would refuse obj."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return custom_resource_errors(obj)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []


def grants(objects: list[dict[str, Any]]) -> set[tuple[str | None, str, str, str]]:
    """(namespace or None for cluster-wide, API group, resource, verb) for every permission the
    rendered Roles and ClusterRoles give (the chart binds each to the operator's account)."""
    out = set()
    for role in objects:
        if role["kind"] not in ("Role", "ClusterRole"):
            continue
        namespace = role["metadata"].get("namespace") if role["kind"] == "Role" else None
        for rule in role.get("rules") or []:
            out |= {(namespace, group, resource, verb) for group in rule.get("apiGroups", [])
                    for resource in rule.get("resources", []) for verb in rule.get("verbs", [])}
    return out
