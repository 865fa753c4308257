"""Generated files stay current: the chart's copies of the CRD and the Crossplane package, its
list of composed resources, and the plain manifests rendered from the chart."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import ModuleType

import yaml

from tests.support import helm

SCRIPT = helm.ROOT / "scripts" / "manifests.py"
INSTALL = helm.ROOT / "manifests" / "operator" / "install.yaml"


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("manifests_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_generated_file_is_current():
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_check_names_a_stale_file_and_writes_nothing(tmp_path, monkeypatch, capsys):
    module = script()
    stale = tmp_path / "copy.yaml"
    stale.write_text("old\n")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "generated", lambda: [(stale, lambda: "new\n")])
    assert module.main(["--check"]) == 1
    assert "copy.yaml" in capsys.readouterr().err
    assert stale.read_text() == "old\n"
    assert module.main([]) == 0
    assert stale.read_text() == "new\n"


def test_the_chart_copies_equal_their_sources():
    for target, source in script().COPIES.items():
        assert target.read_text() == source.read_text(), target


def test_plain_manifests_are_the_chart_defaults_in_their_namespace():
    objects = [d for d in yaml.safe_load_all(INSTALL.read_text()) if d]
    assert objects[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tap-optimizer"}}
    assert objects[1:] == helm.render()
    assert {f"{o['kind']}/{o['metadata']['name']}": e for o in objects if (e := helm.errors(o))} == {}
