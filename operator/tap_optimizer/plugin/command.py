"""`kubectl optplan`: operate OptimizationPlans as `kubectl argo rollouts` operates rollouts.

kubectl runs the executable `kubectl-optplan` (installed with the package) for `kubectl optplan
...`, passing the words that follow. The kube context is kubectl's: the current context of
KUBECONFIG (or --kubeconfig, --context), its namespace unless -n names one. Exit codes: 0 done,
1 the plan cannot take the command now (or the API server refused it or cannot be reached), 2 bad
input, 141 stdout closed early (`| head`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import kubernetes
import urllib3
import yaml
from kubernetes.client.rest import ApiException

from tap_optimizer import __version__
from tap_optimizer.cluster import MERGE_PATCH, PLAN
from tap_optimizer.plugin import actions, tree

ATTEMPTS = 3  # reads and writes when the plan changes between them (409)
PIPE_CLOSED = 141  # stdout closed early, as for a tool killed by SIGPIPE


class Client:
    """The plugin's calls to the API server, in the kube context kubectl would use."""

    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        try:
            kubernetes.config.load_kube_config(config_file=kubeconfig, context=context)
            contexts, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
            chosen = next((c for c in contexts if c["name"] == context), active) if context else active
        except kubernetes.config.ConfigException as error:
            if kubeconfig or context:  # named: its error is the one to fix, not the in-cluster one
                raise
            try:
                kubernetes.config.load_incluster_config()
            except kubernetes.config.ConfigException:
                raise error from None  # no kubeconfig and not in a pod: say what the kubeconfig lacks
            chosen = {}
        except (OSError, ValueError, yaml.YAMLError) as error:  # a directory, a binary file, not YAML
            where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise kubernetes.config.ConfigException(f"cannot read the kubeconfig {where}: {error}") from error
        self.context = chosen or {}
        self.custom = kubernetes.client.CustomObjectsApi()

    @property
    def namespace(self) -> str:
        return str(self.context.get("context", {}).get("namespace") or "default")

    def who(self) -> str:
        """The user the API server authenticates (SelfSubjectReview), else the kubeconfig's user."""
        try:
            review = kubernetes.client.AuthenticationV1Api().create_self_subject_review(
                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
            return str(review.status.user_info.username)
        except (ApiException, AttributeError, TypeError):
            return str(self.context.get("context", {}).get("user") or "unknown")

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(*PLAN[:2], namespace, PLAN[2], name)  # type: ignore[no-any-return]

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        found = self.custom.list_namespaced_custom_object(*PLAN[:2], namespace, PLAN[2]) if namespace else \
            self.custom.list_cluster_custom_object(*PLAN[:2], PLAN[2])
        return sorted(found.get("items") or [], key=lambda p: (p["metadata"].get("namespace"), p["metadata"]["name"]))

    def patch(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(*PLAN[:2], namespace, PLAN[2], name, body,
                                                   _content_type=MERGE_PATCH)


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Maker = Callable[[dict[str, Any]], actions.Change]


def change(client: Client, namespace: str, name: str, make: Maker) -> str:
    """Read, compute the patch, write it; again when the plan changed in between (409)."""
    for _ in range(ATTEMPTS - 1):
        try:
            return _write(client, namespace, name, make)
        except ApiException as error:
            if error.status != 409:
                raise
    return _write(client, namespace, name, make)


def _write(client: Client, namespace: str, name: str, make: Maker) -> str:
    wanted = make(client.get(namespace, name))
    if wanted.patch:
        client.patch(namespace, name, wanted.patch)
    return wanted.said


def watch(client: Client, namespace: str, name: str, interval: float, out: Any = sys.stdout) -> None:
    """Print the tree, then again each time it changes (the screen cleared on a terminal)."""
    shown = None
    while True:
        drawn = tree.render(client.get(namespace, name))
        if drawn != shown:
            out.write(("\x1b[H\x1b[2J" if out.isatty() else "\n") + drawn)
            out.flush()
            shown = drawn
        time.sleep(interval)


def seconds(text: str) -> float:
    """--interval: a number of seconds above 0 (0 would read the plan without pause, below 0 crashed)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected seconds above 0, such as 2 or 0.5, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kubectl optplan", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"kubectl-optplan {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="the plan's namespace (default: the context's)")
    common.add_argument("--context", help="the kubeconfig context (default: the current one)")
    common.add_argument("--kubeconfig", help="the kubeconfig file (default: KUBECONFIG, ~/.kube/config)")
    commands = top.add_subparsers(dest="command", required=True)
    get = commands.add_parser("get", parents=[common], help="the plan as a tree: phases, changes, checks, conditions")
    get.add_argument("name")
    get.add_argument("-w", "--watch", action="store_true", help="draw again whenever the plan changes")
    get.add_argument("--interval", type=seconds, default=2.0, help="seconds between reads with --watch (more than 0)")
    listing = commands.add_parser("list", parents=[common], help="the plans, one a line")
    listing.add_argument("-A", "--all-namespaces", action="store_true")
    approve = commands.add_parser("approve", parents=[common], help="approve a phase (default: the one waiting)")
    approve.add_argument("name")
    approve.add_argument("phase", nargs="?")
    for verb, what in (("abort", "roll every applied phase back"), ("retry", "a new attempt after RolledBack or "
                       "Failed"), ("proceed", "accept the inconclusive hold of the phase being observed"),
                       ("pause", "hold before the next phase (spec.suspend)"), ("resume", "clear spec.suspend")):
        commands.add_parser(verb, parents=[common], help=what).add_argument("name")
    return top


def run(args: argparse.Namespace, client: Client) -> str:
    namespace = args.namespace or client.namespace
    if args.command == "list":
        return tree.table(client.list(None if args.all_namespaces else namespace), args.all_namespaces)
    if args.command == "get":
        if args.watch:
            watch(client, namespace, args.name, args.interval)
        return tree.render(client.get(namespace, args.name))
    makers: dict[str, Maker] = {
        "approve": lambda plan: actions.approve(plan, args.phase),
        "abort": actions.abort,
        "pause": lambda plan: actions.pause(plan, True),
        "resume": lambda plan: actions.pause(plan, False),
        "retry": lambda plan: actions.retry(plan, client.who(), now()),
        "proceed": lambda plan: actions.proceed(plan, client.who(), now()),
    }
    said = change(client, namespace, args.name, makers[args.command])
    return f"optimizationplan {namespace}/{args.name}: {said}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        client = Client(args.kubeconfig, args.context)
        sys.stdout.write(run(args, client))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except (actions.RefusedError, kubernetes.config.ConfigException, ApiException,
            urllib3.exceptions.HTTPError) as error:
        return failed(args, error)
    except BrokenPipeError:  # the reader left (`| head`, `get --watch | head`): quietly, as the CLI
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return PIPE_CLOSED
    except KeyboardInterrupt:
        return 0
    return 0


def failed(args: argparse.Namespace, error: Exception) -> int:
    """Say on stderr why the command did not act; its exit code."""
    if isinstance(error, actions.RefusedError):
        print(f"kubectl optplan {args.command}: {error}", file=sys.stderr)
        return error.code
    if isinstance(error, kubernetes.config.ConfigException):
        print(f"kubectl optplan: no kube context: {error}", file=sys.stderr)
        return 2
    if isinstance(error, ApiException):
        listing = args.command == "list"  # a 404 of a list: no such resource, the CRD is not installed
        what = f"refused by the API server ({error.status} {error.reason})" if error.status != 404 else \
            "not found: is the OptimizationPlan CRD installed?" if listing else "not found"
        subject = "optimizationplans" if listing else f"optimizationplan {args.name}"
        print(f"kubectl optplan {args.command}: {subject}: {what}", file=sys.stderr)
    else:
        print(f"kubectl optplan {args.command}: cannot reach the API server: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
