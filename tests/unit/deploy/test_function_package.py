"""The composition function's Crossplane package: its metadata against the upstream meta schema,
the package layer built as an OCI image layout and read back by skopeo (an independent OCI tool,
Debian's), the release workflow that embeds the runtime image, and the Function manifest that
installs the package."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support.crds import crd_entries, object_errors
from tests.support.crossplane_meta import FUNCTION_META_CRD
from tests.support.helm import ROOT

PACKAGE = ROOT / "package"
META = yaml.safe_load((PACKAGE / "crossplane.yaml").read_text())
TAG = "v" + tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def meta_errors(obj: dict) -> list[str]:
    return object_errors(obj, extra=crd_entries(FUNCTION_META_CRD))


def build(package_root: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "xpkg.py"), "--package-root", str(package_root),
                           "--out", str(out), "--tag", TAG], capture_output=True, text=True, check=False, timeout=60)


def skopeo(*args: str) -> str:
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is not installed: run `make setup` (Debian package skopeo)")
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_metadata_validates_against_the_meta_function_schema():
    assert META["apiVersion"] == "meta.pkg.crossplane.io/v1"
    assert meta_errors(META) == []


@pytest.mark.parametrize(("reason", "edit", "wanted"), [
    ("a misspelt field would be pruned", lambda m: m["spec"].update(crosplane={}), "crosplane"),
    ("a version constraint must be a string", lambda m: m["spec"]["crossplane"].update(version=2), "version"),
    ("a dependency needs a version", lambda m: m["spec"].update(dependsOn=[{"function": "x"}]), "version"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_the_schema_check_refuses_what_crossplane_would(reason, edit, wanted):
    meta = yaml.safe_load((PACKAGE / "crossplane.yaml").read_text())
    edit(meta)
    errors = meta_errors(meta)
    assert errors, reason
    assert wanted in " ".join(errors)


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("xpkg") / "layout"
    done = build(PACKAGE, out)
    assert done.returncode == 0, done.stderr
    return out


def test_skopeo_reads_the_layout_and_the_package_layer_is_annotated_base(layout):
    manifest = json.loads(skopeo("inspect", "--raw", f"oci:{layout}:{TAG}"))
    (layer,) = manifest["layers"]
    assert layer["annotations"] == {"io.crossplane.xpkg": "base"}
    config = json.loads(skopeo("inspect", "--config", f"oci:{layout}:{TAG}"))
    assert config["config"]["Labels"] == {f"io.crossplane.xpkg:{layer['digest']}": "base"}


def test_the_base_layer_holds_package_yaml_with_the_metadata(layout, tmp_path):
    copy = tmp_path / "copy"
    skopeo("copy", "--quiet", f"oci:{layout}:{TAG}", f"dir:{copy}")  # verifies every blob's digest
    layer = json.loads((copy / "manifest.json").read_text())["layers"][0]["digest"].removeprefix("sha256:")
    with tarfile.open(fileobj=io.BytesIO((copy / layer).read_bytes()), mode="r:gz") as tar:
        assert tar.getnames() == ["package.yaml"]
        stream = tar.extractfile("package.yaml").read().decode()
    assert list(yaml.safe_load_all(stream)) == [META]


def test_the_build_is_reproducible(layout, tmp_path):
    again = tmp_path / "again"
    assert build(PACKAGE, again).returncode == 0
    assert (again / "index.json").read_bytes() == (layout / "index.json").read_bytes()


CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"}}


@pytest.mark.parametrize(("reason", "metas", "inputs", "wanted"), [
    ("the function specification: names begin with function-", [{**META, "metadata": {"name": "tap"}}], [],
     "metadata.name must begin with 'function-'"),
    ("the linter parses spec.crossplane.version as a semver constraint",
     [{**META, "spec": {"crossplane": {"version": "two or later"}}}], [], "spec.crossplane.version"),
    ("exactly one meta object", [META, META], [], "exactly one package meta object, found 2"),
    ("a Provider is not a Function", [{**META, "kind": "Provider"}], [], "meta.pkg.crossplane.io/v1 Function"),
    ("only CRDs besides the metadata", [META], [{**CRD, "kind": "Composition"}], "only apiextensions.k8s.io/v1"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_the_build_refuses_what_crossplane_would(tmp_path, reason, metas, inputs, wanted):
    (tmp_path / "crossplane.yaml").write_text(yaml.safe_dump_all(metas))
    if inputs:
        (tmp_path / "input").mkdir()
        (tmp_path / "input" / "input.yaml").write_text(yaml.safe_dump_all(inputs))
    done = build(tmp_path, tmp_path / "layout")
    assert (done.returncode, wanted in done.stderr) == (2, True), (reason, done.stderr)
    assert not (tmp_path / "layout").exists()


def test_input_crds_follow_the_metadata_in_the_stream(tmp_path):
    (tmp_path / "crossplane.yaml").write_text(yaml.safe_dump(META))
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "input.yaml").write_text(yaml.safe_dump(CRD))
    assert build(tmp_path, tmp_path / "layout").returncode == 0
    copy = tmp_path / "copy"
    skopeo("copy", "--quiet", f"oci:{tmp_path / 'layout'}:{TAG}", f"dir:{copy}")
    layer = json.loads((copy / "manifest.json").read_text())["layers"][0]["digest"].removeprefix("sha256:")
    with tarfile.open(fileobj=io.BytesIO((copy / layer).read_bytes()), mode="r:gz") as tar:
        assert list(yaml.safe_load_all(tar.extractfile("package.yaml"))) == [META, CRD]


def release_steps() -> list[dict]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yaml").read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_the_release_embeds_the_runtime_image_built_from_the_function_target():
    steps = release_steps()
    (image,) = [s for s in steps if s.get("uses", "").startswith("docker/build-push-action")]
    (xpkg,) = [s["run"] for s in steps if "xpkg build" in s.get("run", "")]
    assert image["with"]["target"] == "function" and image["with"]["load"] is True
    runtime = image["with"]["tags"].replace("${{ matrix.arch }}", "${ARCH}")
    assert f"--embed-runtime-image={runtime}" in xpkg.split()
    assert "--package-root=package" in xpkg.split()


def test_the_function_manifest_installs_the_package_the_release_pushes():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yaml").read_text())
    (push,) = [s["run"] for s in release_steps() if "xpkg push" in s.get("run", "")]
    functions = yaml.safe_load_all((ROOT / "manifests" / "crossplane" / "functions.yaml").read_text())
    ours = next(f for f in functions if f and f["metadata"]["name"] == META["metadata"]["name"])
    assert ours["spec"]["package"] == f"{workflow['env']['XPKG']}:{TAG}"
    assert push.split()[-1] == '"${XPKG}:${GITHUB_REF_NAME}"'
