"""Build the Function package's layer as an OCI image layout, without a registry (`make package`).

Crossplane's xpkg specification (crossplane/crossplane, contributing/specifications/xpkg.md) and
its builder (crossplane-runtime, pkg/xpkg: build.go, layers.go, lint.go):
- the package is an OCI image; the layer whose descriptor carries the annotation
  `io.crossplane.xpkg: base` holds one file at its root, `package.yaml`: a YAML stream of exactly
  one `meta.pkg.crossplane.io` Function (package/crossplane.yaml) and zero or more CRDs (the
  function's input types; package/input/*.yaml);
- the builder also records the annotation as the image config label
  `io.crossplane.xpkg:<layer digest>` = `base` (an xpkg file is an image tarball, which cannot keep
  layer annotations);
- the linter refuses more than one meta object, a meta object that is not a Function, a
  `spec.crossplane.version` that is not a semver constraint, and any object that is not a CRD;
  the function specification requires a name beginning with `function-`.

This layout is the package without its runtime: the release workflow builds the installable
package with `crossplane xpkg build --embed-runtime-image`, which appends the same layer to the
runtime image. The output is reproducible (fixed timestamps and owners), so its digests are stable.

Exit codes: 0 built, 2 the package content is invalid (the message names the file and field).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import pathlib
import re
import shutil
import sys
import tarfile
import tomllib
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
ANNOTATION_KEY, BASE = "io.crossplane.xpkg", "base"
STREAM_FILE = "package.yaml"
META_GROUP, CRD_GROUP = "meta.pkg.crossplane.io", "apiextensions.k8s.io"
OCI = "application/vnd.oci.image"
# A Masterminds/semver constraint (the library Crossplane's linter parses it with): comparisons
# joined by spaces or commas, alternatives by `||`, and `A - B` ranges.
_VERSION = r"v?\d+(\.(\d+|[xX*]))?(\.(\d+|[xX*]))?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
_COMPARISON = rf"(=|!=|>=|=>|<=|=<|>|<|~>|~|\^)?\s*{_VERSION}"
_AND = rf"({_VERSION}\s+-\s+{_VERSION}|{_COMPARISON})(\s*,?\s*({_VERSION}\s+-\s+{_VERSION}|{_COMPARISON}))*"
SEMVER_CONSTRAINT = re.compile(rf"^\s*{_AND}(\s*\|\|\s*{_AND})*\s*$")


class PackageError(Exception):
    """Package content Crossplane would refuse; the message names the file and field."""


def package_documents(root: pathlib.Path) -> list[dict[str, Any]]:
    """The package's objects in stream order: the metadata, then the input CRDs, each linted."""
    meta_file = root / "crossplane.yaml"
    metas = _documents(meta_file)
    if len(metas) != 1:
        raise PackageError(f"{meta_file}: expected exactly one package meta object, found {len(metas)}")
    lint_meta(metas[0], meta_file)
    inputs = []
    for path in sorted((root / "input").glob("*.yaml")):
        for obj in _documents(path):
            lint_input(obj, path)
            inputs.append(obj)
    return [metas[0], *inputs]


def _documents(path: pathlib.Path) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as error:
        raise PackageError(f"{path}: cannot read YAML: {error}") from error
    for doc in docs:
        if not isinstance(doc, dict):
            raise PackageError(f"{path}: every document must be an object, found {type(doc).__name__}")
    return docs


def lint_meta(meta: dict[str, Any], where: pathlib.Path) -> None:
    """Crossplane's Function linter and the function specification's naming rule."""
    if meta.get("apiVersion") not in (f"{META_GROUP}/v1", f"{META_GROUP}/v1beta1") or meta.get("kind") != "Function":
        raise PackageError(f"{where}: apiVersion/kind must be {META_GROUP}/v1 Function, got "
                           f"{meta.get('apiVersion')}/{meta.get('kind')}")
    name = (meta.get("metadata") or {}).get("name") or ""
    if not name.startswith("function-"):
        raise PackageError(f"{where}: metadata.name must begin with 'function-', got {name!r}")
    version = ((meta.get("spec") or {}).get("crossplane") or {}).get("version")
    if version is not None and not (isinstance(version, str) and SEMVER_CONSTRAINT.match(version)):
        raise PackageError(f"{where}: spec.crossplane.version must be a semver constraint such as '>=v2.0.0', "
                           f"got {version!r}")


def lint_input(obj: dict[str, Any], where: pathlib.Path) -> None:
    """A Function package carries only CRDs besides its metadata (the schemas of its input)."""
    if obj.get("apiVersion") != f"{CRD_GROUP}/v1" or obj.get("kind") != "CustomResourceDefinition":
        raise PackageError(f"{where}: a Function package holds only {CRD_GROUP}/v1 CustomResourceDefinitions "
                           f"besides its metadata, got {obj.get('apiVersion')}/{obj.get('kind')}")


def stream(documents: list[dict[str, Any]]) -> bytes:
    """package.yaml: the objects as one YAML stream, each document started with `---`."""
    return yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True).encode()


def layer(content: bytes) -> tuple[bytes, str]:
    """The gzipped tar holding package.yaml (mode 0644, no timestamps or owners), and its diff id."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(STREAM_FILE)
        info.size, info.mode, info.mtime = len(content), 0o644, 0
        tar.addfile(info, io.BytesIO(content))
    raw = tar_bytes.getvalue()
    return gzip.compress(raw, mtime=0), _digest(raw)


def _digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def write_layout(out: pathlib.Path, content: bytes, tag: str) -> str:
    """Write the OCI image layout at out (replacing it); the manifest's digest."""
    if out.exists():
        shutil.rmtree(out)
    (out / "blobs" / "sha256").mkdir(parents=True)
    gzipped, diff_id = layer(content)
    layer_descriptor = _blob(out, gzipped, f"{OCI}.layer.v1.tar+gzip", {ANNOTATION_KEY: BASE})
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Labels": {f"{ANNOTATION_KEY}:{layer_descriptor['digest']}": BASE}},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    manifest = {"schemaVersion": 2, "mediaType": f"{OCI}.manifest.v1+json",
                "config": _blob(out, _json(config), f"{OCI}.config.v1+json"), "layers": [layer_descriptor]}
    manifest_descriptor = _blob(out, _json(manifest), f"{OCI}.manifest.v1+json",
                                {"org.opencontainers.image.ref.name": tag})
    index = {"schemaVersion": 2, "mediaType": f"{OCI}.index.v1+json", "manifests": [manifest_descriptor]}
    (out / "index.json").write_bytes(_json(index))
    (out / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    return manifest_descriptor["digest"]


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _blob(out: pathlib.Path, blob: bytes, media_type: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """Store a blob under its digest; its descriptor."""
    digest = _digest(blob)
    (out / "blobs" / "sha256" / digest.removeprefix("sha256:")).write_bytes(blob)
    descriptor: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": len(blob)}
    if annotations:
        descriptor["annotations"] = annotations
    return descriptor


def project_version() -> str:
    """The package's default tag: v and the project's version (pyproject.toml)."""
    return "v" + tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def main(argv: list[str] | None = None) -> int:
    """Build the layout; print its manifest digest and the reference to read it with."""
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--package-root", type=pathlib.Path, default=ROOT / "package",
                      help="directory with crossplane.yaml and input/ (default %(default)s)")
    args.add_argument("--out", type=pathlib.Path, default=ROOT / "dist" / "function-xpkg",
                      help="the OCI image layout to write (default %(default)s)")
    args.add_argument("--tag", default=project_version(), help="the image's ref name (default %(default)s)")
    options = args.parse_args(argv)
    try:
        content = stream(package_documents(options.package_root))
    except PackageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    digest = write_layout(options.out, content, options.tag)
    print(f"oci:{options.out}:{options.tag} {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
