"""`tap-optimizer`: the command line. Exit codes: 0 success, 1 the job failed, 2 bad input."""

from __future__ import annotations

import argparse
import asyncio
import collections
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from tap_optimizer.composition.render.platform import InvalidPlatformError, render_platform
from tap_optimizer.platform.parameters import API_VERSION, KIND

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
COMPOSITION_RESOURCE_NAME = "crossplane.io/composition-resource-name"
EXAMPLE = pathlib.Path(__file__).parent / "platform" / "examples" / "tap-prod.yaml"


class BadInputError(Exception):
    """Input the user must fix; the message names the file, field or flag."""


def load_platform(path: pathlib.Path) -> dict[str, Any]:
    """The single TapPlatform in a YAML file."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as error:
        raise BadInputError(f"{path}: cannot read YAML: {error}") from error
    platforms = [d for d in docs if isinstance(d, dict) and d.get("kind") == KIND]
    if len(platforms) != 1:
        raise BadInputError(f"{path}: expected exactly one {KIND}, found {len(platforms)}")
    if platforms[0].get("apiVersion") != API_VERSION:
        raise BadInputError(f"{path}: apiVersion must be {API_VERSION}, got {platforms[0].get('apiVersion')!r}")
    return platforms[0]


def rendered_documents(xr: dict[str, Any]) -> list[dict[str, Any]]:
    """The desired resources, annotated with their composition resource names like `crossplane render`."""
    try:
        desired = render_platform(xr)
    except InvalidPlatformError as invalid:
        raise BadInputError(f"invalid {KIND} {xr.get('metadata', {}).get('name')!r}: {invalid}") from invalid
    documents = []
    for key, obj in desired.items():
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations[COMPOSITION_RESOURCE_NAME] = key
        documents.append(obj)
    return documents


def cmd_render(args: argparse.Namespace) -> int:
    documents = rendered_documents(load_platform(args.xr))
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)
    return EXIT_OK


def cmd_function(args: argparse.Namespace) -> int:
    from crossplane.function import logging, runtime  # noqa: PLC0415 (only this command serves gRPC)

    from tap_optimizer.composition.fn import TapPlatformRunner  # noqa: PLC0415

    logging.configure(logging.Level.DEBUG if args.debug else logging.Level.INFO)
    creds = None if args.insecure else runtime.load_credentials(args.tls_certs_dir)
    runtime.serve(TapPlatformRunner(), args.address, creds=creds, insecure=args.insecure)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run the operator until SIGTERM/SIGINT; kopf handles both gracefully."""
    import kopf  # noqa: PLC0415 (only this command runs the operator)

    from tap_optimizer import handlers  # noqa: F401, PLC0415 (registers the handlers)

    if not args.all_namespaces and not args.namespace:
        raise BadInputError("give --namespace NS (repeatable) or --all-namespaces")
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.JSON, log_refkey="plan")
    asyncio.run(kopf.operator(clusterwide=args.all_namespaces, namespaces=args.namespace or (),
                              standalone=not args.peering, peering_name=args.peering,
                              liveness_endpoint=args.liveness))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Render the reference platform from the embedded example and summarise it."""
    xr = load_platform(args.platform)
    documents = rendered_documents(xr)
    counts = collections.Counter(f"{d['apiVersion'].split('/')[0]}/{d['kind']}" for d in documents)
    print(f"TapPlatform {xr['metadata']['name']}: {len(documents)} managed resources")
    for kind, count in sorted(counts.items()):
        print(f"  {count:4d}  {kind}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tap-optimizer", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="print the desired managed resources of a TapPlatform")
    render.add_argument("xr", type=pathlib.Path, help="YAML file holding one TapPlatform")
    render.set_defaults(run=cmd_render)

    function = commands.add_parser("function", help="serve the composition function over gRPC")
    function.add_argument("--address", default="0.0.0.0:9443", help="listen address (default %(default)s)")
    function.add_argument("--insecure", action="store_true", help="serve without TLS (local testing)")
    function.add_argument("--tls-certs-dir", default="/tls/server", help="TLS certificates from Crossplane")
    function.add_argument("--debug", action="store_true", help="log every request")
    function.set_defaults(run=cmd_function)

    run = commands.add_parser("run", help="run the operator (kubeconfig or in-cluster credentials)")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--namespace", action="append", help="watch this namespace (repeatable)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    run.add_argument("--liveness", default="http://0.0.0.0:8080/healthz",
                     help="liveness/readiness probe endpoint (default %(default)s)")
    run.add_argument("--peering", default=None, help="kopf peering name for leader election across replicas")
    run.add_argument("--verbose", action="store_true", help="log every step")
    run.set_defaults(run=cmd_run)

    demo = commands.add_parser("demo", help="run the system locally on embedded defaults, no cloud")
    demo.add_argument("--platform", type=pathlib.Path, default=EXAMPLE, help="TapPlatform to use")
    demo.set_defaults(run=cmd_demo)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except BadInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
