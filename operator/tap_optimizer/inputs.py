"""The command line's input files: text from a file or from stdin (`-`), YAML documents with the
items of a `kind: List` in its place, and every way a file can be unreadable (missing, a
directory, binary, not UTF-8, not YAML) refused as BadInputError naming the flag and the file,
never a traceback.
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any

import yaml

STDIN = "-"


class BadInputError(Exception):
    """Input the user must fix; the message names the file, field or flag (exit code 2)."""


def where(path: pathlib.Path, flag: str = "") -> str:
    """How a message names an input: `--plans plans.yaml`, `plan.yaml`, or `stdin`."""
    name = "stdin" if str(path) == STDIN else str(path)
    return f"{flag} {name}" if flag else name


def read_text(path: pathlib.Path, flag: str = "") -> str:
    """The UTF-8 text of the file, or of stdin for `-`."""
    if str(path) == STDIN and sys.stdin is None:  # `<&-`: the shell closed it
        raise BadInputError(f"{where(path, flag)}: cannot read: stdin is closed")
    try:
        data = sys.stdin.buffer.read() if str(path) == STDIN else path.read_bytes()
    except OSError as error:
        raise BadInputError(f"{where(path, flag)}: cannot read: {error.strerror or error}") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadInputError(f"{where(path, flag)}: not UTF-8 text (byte {error.start} is "
                            f"{data[error.start]:#04x}); expected YAML") from error


def check_output(path: pathlib.Path | None, flag: str) -> None:
    """Refuse an output file that could not be written (its directory missing or not writable, or
    a directory in its place), before the work that would fill it."""
    if path is None or str(path) == STDIN:
        return
    if not path.parent.is_dir():
        raise BadInputError(f"{flag} {path}: the directory {path.parent} does not exist")
    if path.is_dir():
        raise BadInputError(f"{flag} {path}: is a directory; give a file name")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise BadInputError(f"{flag} {path}: not writable ({'the file' if path.exists() else 'its directory'})")


def write_text(path: pathlib.Path, text: str, flag: str) -> None:
    """Write an output file; a failure (a full disk, a file made read-only meanwhile) names the flag."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise BadInputError(f"{flag} {path}: cannot write: {error.strerror or error}") from error


def yaml_documents(path: pathlib.Path, flag: str = "") -> list[Any]:
    """The file's YAML documents, empty ones left out and a List (`kind: List` or `<Kind>List`, as
    `kubectl get -o yaml` prints) replaced by its items."""
    text = read_text(path, flag)
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise BadInputError(f"{where(path, flag)}: cannot read YAML: {error}") from error
    return [item for d in documents for item in (_items(d, path, flag) if _is_list(d) else [d])]


def _is_list(document: Any) -> bool:
    return isinstance(document, dict) and str(document.get("kind", "")).endswith("List") and "items" in document


def _items(document: dict[str, Any], path: pathlib.Path, flag: str) -> list[Any]:
    items = document.get("items") or []
    if not isinstance(items, list):
        raise BadInputError(f"{where(path, flag)}: a {document['kind']}'s items must be a list of objects, "
                            f"got {type(items).__name__}")
    return [item for item in items if item is not None]


def of_kind(documents: list[Any], api_version: str, kind: str, path: pathlib.Path,
            flag: str = "") -> list[dict[str, Any]]:
    """The documents of `kind`, at least one, each of `api_version` (else BadInputError naming the file)."""
    found = [d for d in documents if isinstance(d, dict) and d.get("kind") == kind]
    if not found:
        raise BadInputError(f"{where(path, flag)}: no {kind} in the input")
    for number, obj in enumerate(found, start=1):
        if obj.get("apiVersion") != api_version:
            raise BadInputError(f"{where(path, flag)}: {kind} {number}: apiVersion must be {api_version}, "
                                f"got {obj.get('apiVersion')!r}")
        wrong = [field for field in ("metadata", "spec") if not isinstance(obj.get(field), dict | None)]
        if wrong:
            raise BadInputError(f"{where(path, flag)}: {kind} {number}: {wrong[0]} must be an object, "
                                f"got {obj[wrong[0]]!r}")
    return found
