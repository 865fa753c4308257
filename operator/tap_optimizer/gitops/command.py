"""`tap-optimizer export`: write the values a finished plan applied (or the live TapPlatform's)
into the TapPlatform manifest in git, or print the same edit as a kustomize patch.

The manifest is edited in place with a round-trip YAML library, so its comments, key order,
quoting and indentation stay as they were; only the TapPlatform's document is written again (the
file's other documents are kept byte for byte), and in it only the keys that change. The result
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
from ruamel.yaml.util import load_yaml_guess_indent

from tap_optimizer import inputs
from tap_optimizer.gitops import manifest as edit
from tap_optimizer.gitops import values
from tap_optimizer.gitops.values import Assignment, ExportError
from tap_optimizer.plan import spec as plan_spec
from tap_optimizer.platform.parameters import KIND, defaulted_parameters

STDIO = pathlib.Path("-")
# A line that starts or ends a YAML document (`---`, `...`): one never occurs inside a document.
MARKER = re.compile(r"^\ufeff?(---|\.\.\.)(\s|$)")  # after a byte-order mark on the first line too
WIDTH = 4096  # never fold a long line the user wrote on one


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
    if args.manifest == STDIO and STDIO in (args.plan, args.live):
        raise ExportError("stdin (-) can be one input only: give the manifest or the source as a file")
    text = inputs.read_text(args.manifest, "manifest")
    inputs.check_output(args.manifest if args.out is None and args.format == "manifest" else args.out, "--out")
    loader = YAML()
    loader.preserve_quotes = True
    platform = _platform(_load_all(loader, text, str(args.manifest)), args.manifest)
    old = _plain(platform)
    declared = defaulted_parameters(_parameters(old))
    assignments, wanted = _source(args, old, declared)
    parameters = _editable_parameters(platform)
    for assignment in assignments:
        edit.assign(parameters, assignment)
    _check(defaulted_parameters(_plain(parameters)), wanted)
    new = _plain(platform)
    _write(args, loader, text, platform, old, new)
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


def _spliced(text: str, loader: YAML, platform: Any) -> str:
    """The manifest with the TapPlatform's document written again in its own indentation, and
    every other line (other documents, their markers and comments) as it was."""
    lines = text.splitlines(keepends=True)
    first = platform.lc.line  # the line of its first key, after its `---` and leading comments
    start = max((i + 1 for i, line in enumerate(lines[:first]) if MARKER.match(line)), default=0)
    end = next((i for i in range(first + 1, len(lines)) if MARKER.match(lines[i])), len(lines))
    _, sequence, offset = load_yaml_guess_indent("".join(lines[start:end]))
    indents = [len(line) - len(line.lstrip(" ")) for line in lines[start:end] if line.strip()[:1] not in ("", "#", "-")]
    loader.indent(mapping=min((i for i in indents if i), default=2), sequence=sequence or 4,
                  offset=2 if offset is None else offset)
    loader.width = WIDTH
    buffer = io.StringIO()
    loader.dump(platform, buffer)
    written = buffer.getvalue().replace("\r\n", "\n")  # a comment kept its \r
    if "\r\n" in text:  # the file's line ends, not a mix
        written = written.replace("\n", "\r\n")
    return "".join(lines[:start]) + written + "".join(lines[end:])


def _load_all(loader: YAML, text: str, where: str) -> list[Any]:
    try:
        return list(loader.load_all(text))
    except YAMLError as error:
        raise ExportError(f"manifest {where}: cannot read YAML: {error}") from error


def _platform(documents: list[Any], path: pathlib.Path) -> Any:
    platforms = [d for d in documents if isinstance(d, Mapping) and d.get("kind") == KIND]
    listed = [item for d in documents if isinstance(d, Mapping) and isinstance(d.get("items"), list)
              for item in d["items"] if isinstance(item, Mapping) and item.get("kind") == KIND]
    if not platforms and listed:
        raise ExportError(f"manifest {path}: its {KIND} is an item of a List; export edits a {KIND} that is a "
                          "document of its own (---)")
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


def _write(args: argparse.Namespace, loader: YAML, manifest: str, platform: Any, old: Any, new: Any) -> None:
    if args.format == "manifest":
        out = args.out or args.manifest
        if out != STDIO and out == args.manifest and old == new:
            print(f"{out}: already declares these values", file=sys.stderr)
            return
        text = _spliced(manifest, loader, platform)
    else:
        out = args.out or STDIO
        patch = edit.json6902(old, new) if args.format == "json6902" else edit.merge_patch(old, new)
        text = yaml.safe_dump(patch, sort_keys=False)
    if out == STDIO:
        sys.stdout.write(text)
    else:
        inputs.write_text(out, text, "--out")
        print(f"wrote {out}", file=sys.stderr)
