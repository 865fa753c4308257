"""`tap-optimizer import`: write the TapPlatform of a platform that already runs, or `--check` one
against what runs. Bad input raises ImportInputError naming the flag; AWS failures exit 1."""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
from typing import TYPE_CHECKING, Any

import yaml

from tap_optimizer import inputs
from tap_optimizer.adoption import check, platform
from tap_optimizer.composition.render.platform import NAME_PATTERN, InvalidPlatformError, render_platform
from tap_optimizer.platform.parameters import parameters_schema

if TYPE_CHECKING:
    from tap_optimizer.adoption.model import Live

NOT_A_NAME = re.compile(r"[^a-z0-9-]+")
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a DNS-1123 label
DEFAULT_REGION = "us-east-1"  # when neither --regions nor the AWS configuration names one


class ImportInputError(ValueError):
    """A flag or file import cannot use; the message names it."""


def add_parser(commands: Any) -> None:
    imports = commands.add_parser("import", help="write the TapPlatform of a platform already running in AWS "
                                                 "(observe-only), or --check one against what runs")
    source = imports.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="a CloudFormation stack: its outputs and resources (as the CDK writes them)")
    source.add_argument("--tag", metavar="KEY=VALUE", help="every resource carrying this tag")
    imports.add_argument("--regions", nargs="+", help="the platform's region first (default: AWS_DEFAULT_REGION), "
                                                      "then its database's secondary regions (found by its global "
                                                      "cluster in any region; one given that holds none is reported)")
    imports.add_argument("--name", help="the TapPlatform's name (default: from the stack name or the tag value)")
    imports.add_argument("--namespace", default="default", help="the TapPlatform's namespace (default %(default)s)")
    imports.add_argument("--out", type=pathlib.Path, help="where to write the TapPlatform YAML")
    imports.add_argument("--report", type=pathlib.Path, help="where to write what could not be expressed "
                                                             "(default: stderr)")
    imports.add_argument("--check", type=pathlib.Path, metavar="TAPPLATFORM",
                         help="compare this TapPlatform's rendered forProvider fields with what runs; exit 1 on "
                              "any difference")


def run(args: argparse.Namespace, checked: dict[str, Any] | None = None) -> int:
    """Import (write --out), or with `checked`, the TapPlatform read from --check, compare it."""
    import botocore.exceptions  # noqa: PLC0415

    from tap_optimizer.adoption import live  # noqa: PLC0415 (boto3 loads only for import)
    from tap_optimizer.analysis.aws import Aws  # noqa: PLC0415

    _check_flags(args, checked)
    aws = Aws()
    region = (args.regions or [aws.session.region_name or DEFAULT_REGION])[0]
    tag = _tag(args.tag) if args.tag else None
    try:
        found = live.from_tag(aws, region, *tag) if tag else live.from_stack(aws, region, args.stack)
        refused = live.refusal(found, f"--tag {args.tag}" if tag else f"--stack {args.stack}")
        if refused:
            raise ImportInputError(refused)
        running = live.read(aws, found)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(f"error: AWS: {error}", file=sys.stderr)
        return 1
    if checked is not None:
        return _check(checked, f"--check {args.check}", running, tuple(args.regions or ()))
    xr, report = platform.imported(_name(args), args.namespace, running, tuple(args.regions or ()))
    _write_report(args.report, report)
    _rendered(xr, "what runs cannot be expressed as a TapPlatform (see the report)")  # e.g. Aurora MySQL 2
    inputs.write_text(args.out, yaml.safe_dump(xr, sort_keys=False, width=120), "--out")
    print(f"wrote {args.out}: {len(xr['spec']['parameters']['externalNames'])} resources adopted by external name, "
          f"managementMode ObserveOnly; {len(report)} report line(s)", file=sys.stderr)
    return 0


def _check_flags(args: argparse.Namespace, checked: dict[str, Any] | None) -> None:
    """Refuse what no AWS answer could make usable, before asking AWS anything."""
    if checked is None and args.out is None:
        raise ImportInputError("import: give --out FILE to write the TapPlatform, or --check FILE to compare one")
    if checked is not None and (args.out or args.report):
        raise ImportInputError(f"--{'out' if args.out else 'report'}: --check writes nothing (it prints what "
                               "differs); give --out and --report without --check")
    region = re.compile(parameters_schema()["properties"]["region"]["pattern"])
    for name in args.regions or ():
        if not region.match(name):
            raise ImportInputError(f"--regions {name}: not an AWS region name (such as us-east-1)")
    if args.tag:
        _tag(args.tag)
    if checked is None and not NAME_PATTERN.match(_name(args)):
        raise ImportInputError(f"--name {_name(args)}: a TapPlatform's name must be 1-18 lowercase letters, digits "
                               "or '-', starting with a letter (AWS load-balancer names derive from it)")
    if not NAMESPACE.match(args.namespace):
        raise ImportInputError(f"--namespace {args.namespace}: not a Kubernetes namespace name (a DNS-1123 label)")
    inputs.check_output(args.out, "--out")
    inputs.check_output(args.report, "--report")


def _tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ImportInputError(f"--tag {text}: expected KEY=VALUE")
    return key, value


def _name(args: argparse.Namespace) -> str:
    if args.name:
        return str(args.name)
    source = args.stack or args.tag.partition("=")[2]
    return NOT_A_NAME.sub("-", source.lower()).lstrip("0123456789-")[:18].rstrip("-") or "imported"


def _rendered(xr: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        return render_platform(xr)
    except InvalidPlatformError as error:
        raise ImportInputError(f"{what}: {error}") from error


def _write_report(path: pathlib.Path | None, report: list[str]) -> None:
    text = "".join(f"{line}\n" for line in report)
    if path is None:
        sys.stderr.write(text)
    else:
        inputs.write_text(path, text, "--report")


def _check(xr: dict[str, Any], what: str, running: Live, regions: tuple[str, ...]) -> int:
    rendered = _rendered(xr, what)
    found = check.differences(rendered, running)
    print(f"compared {len(check.adopted(rendered, running))} adopted resources with what runs: "
          f"{len(found)} difference(s)")
    for difference in found:
        print(f"  differs: {difference}")
    _, report = platform.imported("check", "default", running, regions)
    new = check.created(rendered)
    for line in [*report, *(f"not compared: {fields}" for fields in check.not_compared(rendered, running)),
                 f"created under full management (they adopt nothing): {len(new)} composed resources: "
                 f"{', '.join(new)}"]:
        print(f"  {line}")
    return 1 if found else 0
