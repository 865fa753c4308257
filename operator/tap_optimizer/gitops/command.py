"""`tap-optimizer export`: write the values a finished plan applied (or the live TapPlatform's)
into the TapPlatform manifest in git, or print the same edit as a kustomize patch.

The manifest is edited in place with a round-trip YAML library, so its comments, key order,
quoting and other documents stay as they were; only the keys that change are written. The result
is checked before anything is written: with the XRD's defaults applied, the new manifest's
parameters must be exactly the applied ones, so it renders what runs.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import pathlib
import re
import sys
from collections.abc import Mapping
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tap_optimizer import inputs
from tap_optimizer.gitops import manifest as edit
from tap_optimizer.gitops import values
from tap_optimizer.gitops.values import Assignment, ExportError
from tap_optimizer.plan import spec as plan_spec
from tap_optimizer.platform.parameters import KIND, defaulted_parameters

STDIO = pathlib.Path("-")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """The `export` subcommand; the caller sets what runs it."""
    export = commands.add_parser("export", help="write the values a finished plan applied (or the live TapPlatform's) "
                                                "into the TapPlatform manifest in git, or print a kustomize patch")
    export.add_argument("manifest", type=pathlib.Path, help="the YAML file in git holding the TapPlatform")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--plan", type=pathlib.Path, metavar="FILE",
                        help="a finished plan with its status, as `kubectl get optplan NAME -o yaml` prints it "
                             "('-': stdin): the values of its Succeeded phases")
    source.add_argument("--live", type=pathlib.Path, metavar="FILE",
                        help="the live TapPlatform, as `kubectl get tapplatform NAME -o yaml` prints it ('-': stdin)")
    export.add_argument("--format", choices=("manifest", "json6902", "strategic"), default="manifest",
                        help="manifest: edit the file (default); json6902 or strategic: a kustomize patch of it")
    export.add_argument("--out", type=pathlib.Path,
                        help="where to write ('-': stdout; default: the manifest itself, a patch to stdout)")
    return export


def run(args: argparse.Namespace) -> int:
    """Export; 0 when written (or nothing to change). Bad input raises ExportError (or BadInputError
    for an unreadable file)."""
    text = inputs.read_text(args.manifest, "manifest")
    loader = _round_trip(text)
    documents = _load_all(loader, text, str(args.manifest))
    platform = _platform(documents, args.manifest)
    old = _plain(platform)
    declared = defaulted_parameters(_parameters(old))
    assignments, wanted = _source(args, old, declared)
    parameters = _editable_parameters(platform)
    for assignment in assignments:
        edit.assign(parameters, assignment)
    _check(defaulted_parameters(_plain(parameters)), wanted)
    new = _plain(platform)
    _write(args, loader, documents, old, new)
    return 0


def _source(args: argparse.Namespace, old: dict[str, Any], declared: dict[str, Any]) -> tuple[list[Assignment], Any]:
    """The assignments to make, and the defaulted parameters the manifest must then hold."""
    return _from_plan(args.plan, old, declared) if args.plan is not None else _from_live(args.live, old, declared)


def _from_plan(path: pathlib.Path, old: dict[str, Any], declared: dict[str, Any]) -> tuple[list[Assignment], Any]:
    plan = _single(inputs.yaml_documents(path, "--plan"), plan_spec.KIND, f"--plan {path}")
    _same_target(values.target_name(plan), old, f"--plan {path}: spec.targetRef.name")
    assignments = values.applied_by_plan(plan)
    if not assignments:
        print(f"--plan {path}: no phase of plan {(plan.get('metadata') or {}).get('name')} stayed applied "
              f"(none Succeeded): nothing to write", file=sys.stderr)
    wanted = copy.deepcopy(declared)
    for assignment in assignments:
        edit.assign(wanted, assignment)
    return assignments, defaulted_parameters(wanted)


def _from_live(path: pathlib.Path, old: dict[str, Any], declared: dict[str, Any]) -> tuple[list[Assignment], Any]:
    live = _single(inputs.yaml_documents(path, "--live"), KIND, f"--live {path}")
    metadata = live.get("metadata") or {}
    _same_target((metadata.get("namespace"), metadata.get("name")), old, f"--live {path}: metadata.name")
    wanted = defaulted_parameters(_parameters(live))
    return values.differences(declared, wanted), wanted


def _same_target(target: tuple[str | None, str | None], platform: Mapping[str, Any], field: str) -> None:
    namespace, name = target
    metadata = platform.get("metadata") or {}
    other_namespace = namespace and metadata.get("namespace") and namespace != metadata.get("namespace")
    if name != metadata.get("name") or other_namespace:
        raise ExportError(f"{field} names {namespace or '?'}/{name}, the manifest holds "
                          f"{metadata.get('namespace') or '?'}/{metadata.get('name')}")


def _check(result: dict[str, Any], wanted: dict[str, Any]) -> None:
    """The edited manifest, defaulted, must hold exactly the wanted parameters."""
    left = [path for path, _old, _new in values.changes(result, wanted, "/spec/parameters")]
    if left:
        raise ExportError(f"the manifest cannot declare these values (a default would put back another): "
                          f"{', '.join(left)}")


def _single(documents: list[Any], kind: str, where: str) -> dict[str, Any]:
    """The one object of `kind` among the documents (`inputs.yaml_documents` puts a List's items in its place)."""
    found = [item for item in documents if isinstance(item, dict) and item.get("kind") == kind]
    if len(found) != 1:
        raise ExportError(f"{where}: expected exactly one {kind}, found {len(found)}")
    return found[0]


def _round_trip(text: str) -> YAML:
    loader = YAML()
    loader.preserve_quotes = True
    loader.indent(mapping=2, sequence=4, offset=2)
    loader.explicit_start = re.match(r"(\s*(#.*)?\n)*---", text) is not None
    return loader


def _load_all(loader: YAML, text: str, where: str) -> list[Any]:
    try:
        return list(loader.load_all(text))
    except YAMLError as error:
        raise ExportError(f"manifest {where}: cannot read YAML: {error}") from error


def _platform(documents: list[Any], path: pathlib.Path) -> Any:
    platforms = [d for d in documents if isinstance(d, Mapping) and d.get("kind") == KIND]
    if len(platforms) != 1:
        raise ExportError(f"manifest {path}: expected exactly one {KIND}, found {len(platforms)}")
    return platforms[0]


def _parameters(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict((obj.get("spec") or {}).get("parameters") or {})


def _editable_parameters(platform: Any) -> Any:
    """The manifest's spec.parameters mapping, created when the manifest has none."""
    if not isinstance(platform.get("spec"), Mapping):
        platform["spec"] = {}
    if not isinstance(platform["spec"].get("parameters"), Mapping):
        platform["spec"]["parameters"] = {}
    return platform["spec"]["parameters"]


def _plain(obj: Any) -> Any:
    """Plain dicts, lists and scalars of a round-trip YAML object."""
    return json.loads(json.dumps(obj))


def _write(args: argparse.Namespace, loader: YAML, documents: list[Any], old: Any, new: Any) -> None:
    if args.format == "manifest":
        out = args.out or args.manifest
        if out != STDIO and out == args.manifest and old == new:
            print(f"{out}: already declares these values", file=sys.stderr)
            return
        buffer = io.StringIO()
        loader.dump_all(documents, buffer)
        text = buffer.getvalue()
    else:
        out = args.out or STDIO
        patch = edit.json6902(old, new) if args.format == "json6902" else edit.merge_patch(old, new)
        text = yaml.safe_dump(patch, sort_keys=False)
    if out == STDIO:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)
