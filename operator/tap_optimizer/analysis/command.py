"""`tap-optimizer analyze`: flags in, plan and analysis files out.

Bad input (a flag, the config file, the TapPlatform) raises ConfigError naming it; AWS failures
(credentials, permissions, throttling beyond the retries) are the job failing, exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import pathlib
import re
import sys
import time
import urllib.parse
from typing import Any

import yaml

from tap_optimizer import inputs
from tap_optimizer.analysis import gate_bounds, gate_check, gate_presets
from tap_optimizer.analysis.config import AnalysisConfig, ConfigError, load_config
from tap_optimizer.analysis.planwriter import plan_gates
from tap_optimizer.analysis.pricing import pinned
from tap_optimizer.plan import spec as plan_spec
from tap_optimizer.platform.parameters import (
    API_VERSION,
    KIND,
    defaulted_parameters,
    parameter_errors,
    parameters_schema,
)

PLATFORM_GROUP, PLATFORM_VERSION, PLATFORM_PLURAL = "platform.tap.io", "v1alpha1", "tapplatforms"
REPLAY_DAYS = 60.0  # history the gates are replayed on to choose their bounds, at most (6 requests a metric pair)


def add_parser(commands: Any) -> None:
    analyze = commands.add_parser("analyze", help="read 60 days of AWS data and write a recommended OptimizationPlan")
    target = analyze.add_mutually_exclusive_group(required=True)
    target.add_argument("--platform",
                        help="a TapPlatform YAML file, or the name of one in the cluster (with --namespace)")
    target.add_argument("--ack", nargs="?", const="", metavar="FILE|DIR",
                        help="analyse ACK objects (DBInstance, DBCluster, ReplicationGroup, Table, "
                             "AutoScalingGroup) instead: those of --namespace in the cluster, or those in a YAML "
                             "file or a directory of them; writes one plan per object, all in --out")
    analyze.add_argument("--namespace", default="default",
                         help="namespace of --platform NAME or of --ack's objects (default %(default)s)")
    analyze.add_argument("--crds", type=pathlib.Path, metavar="DIR",
                         help="with --ack: the ACK CRDs (YAML files) every phase is checked against (default: "
                              "read from the cluster when --ack reads it; else unchecked, said on stderr)")
    analyze.add_argument("--regions", nargs="+", help="regions to analyse (default: the platform's and its "
                                                      "database's secondary regions)")
    analyze.add_argument("--out", type=pathlib.Path, required=True, help="where to write the OptimizationPlan YAML")
    analyze.add_argument("--analysis-out", type=pathlib.Path,
                         help="where to write the analysis JSON (the dashboard's input)")
    analyze.add_argument("--format", choices=("table", "json", "none"), default="table", help="summary on stdout")
    analyze.add_argument("--days", type=int, default=60, help="days of history to read (default %(default)s)")
    analyze.add_argument("--config", type=pathlib.Path, help="YAML with thresholds, targets and policy overrides")
    gates = analyze.add_mutually_exclusive_group()
    gates.add_argument("--gates", type=pathlib.Path, help="YAML of spec.gates for the plan")
    gates.add_argument("--gates-preset", choices=sorted(gate_presets.SOURCES), default=gate_presets.DEFAULT,
                       help="error rate <= 0.5 %% and p99 at most +20 %% over baseline, on the series of: "
                            "%(choices)s (default %(default)s)")
    analyze.add_argument("--gates-selector", default="",
                         help="label matchers narrowing every --gates-preset query to the platform's own "
                              "service, e.g. 'namespace=\"tap\", service=\"api\"' (default: none, every "
                              "service exporting the series)")
    analyze.add_argument("--prometheus-url", default="",
                         help="a Prometheus URL of the plan's own (only where the operator allows plans one); "
                              "every gate query is asked there once and a plan whose queries return nothing is "
                              "not written; default: none, the plan uses the operator's endpoint")
    analyze.add_argument("--refresh-prices", action="store_true", help="take current prices from the AWS Pricing API")
    analyze.add_argument("--no-costs", action="store_true", help="skip Cost Explorer")
    analyze.add_argument("--now", help=argparse.SUPPRESS)  # tests and the demo pin the clock (ISO 8601)


def _yaml_file(path: pathlib.Path | None, flag: str) -> Any:
    if path is None:
        return None
    try:
        return yaml.safe_load(inputs.read_text(path, flag))
    except yaml.YAMLError as error:
        raise ConfigError(f"{flag} {path}: cannot read YAML: {error}") from error


def _platform(args: argparse.Namespace) -> dict[str, Any]:
    path = pathlib.Path(args.platform)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        docs = _yaml_file(path, "--platform")
        xr = docs if isinstance(docs, dict) else {}
    else:
        xr = _cluster_platform(args.platform, args.namespace)
    if (xr.get("apiVersion"), xr.get("kind")) != (API_VERSION, KIND):
        raise ConfigError(f"--platform {args.platform}: expected apiVersion {API_VERSION} kind {KIND}")
    # defaults first, as the API server applies them: a rule over a defaulted field holds then
    errors = parameter_errors(defaulted_parameters(xr.get("spec", {}).get("parameters", {})))
    if errors:
        raise ConfigError(f"--platform {args.platform}: {'; '.join(map(str, errors))}")
    return xr


def _yaml_documents(path: pathlib.Path, flag: str) -> list[dict[str, Any]]:
    """The mappings of every YAML document in a file, or in the .yaml/.yml files of a directory
    (a `kind: List` opened into its items)."""
    files = sorted(f for f in path.iterdir() if f.suffix in {".yaml", ".yml"}) if path.is_dir() else [path]
    out: list[dict[str, Any]] = []
    for file in files:
        try:
            docs = list(yaml.safe_load_all(inputs.read_text(file, flag)))
        except yaml.YAMLError as error:
            raise ConfigError(f"{flag} {file}: cannot read YAML: {error}") from error
        for doc in docs:
            if isinstance(doc, dict):
                out += [i for i in doc.get("items") or [] if isinstance(i, dict)] if doc.get("kind") == "List" \
                    else [doc]
    return out


def ack_objects(args: argparse.Namespace) -> list[dict[str, Any]]:
    """--ack's objects: from its file or directory, else every object of the supported kinds in
    --namespace of the cluster."""
    if args.ack:
        return _yaml_documents(pathlib.Path(args.ack), "--ack")
    import kubernetes  # noqa: PLC0415

    from tap_optimizer import cluster  # noqa: PLC0415
    from tap_optimizer.targets.ack import KINDS  # noqa: PLC0415

    try:
        cluster.load_config()
        api = kubernetes.client.CustomObjectsApi()
        return [{**item, "apiVersion": f"{group}/v1alpha1", "kind": kind}
                for group, kind in sorted(KINDS)
                for item in api.list_namespaced_custom_object(group, "v1alpha1", args.namespace,
                                                              cluster.plural(kind))["items"]]
    except Exception as error:  # no config, unreachable, 403, a kind not installed: the user's to fix
        raise ConfigError(f"--ack (--namespace {args.namespace}): cannot list the ACK objects: {error}") from error


def ack_crds(args: argparse.Namespace, progress: Any) -> dict[tuple[str, str], dict[str, Any]] | None:
    """The CRDs of the ACK kinds by (group, kind): from --crds, else from the cluster when --ack
    reads it; None (phases unchecked, said on stderr) when neither gives them."""
    from tap_optimizer.targets.ack import KINDS  # noqa: PLC0415

    if args.crds is not None:
        crds = [d for d in _yaml_documents(args.crds, "--crds") if d.get("kind") == "CustomResourceDefinition"]
        found = {(c["spec"]["group"], c["spec"]["names"]["kind"]): c for c in crds}
        return {k: v for k, v in found.items() if k in KINDS}
    if args.ack:
        progress("warning: --ack from files without --crds: the phases are not checked against the ACK CRDs")
        return None
    import kubernetes  # noqa: PLC0415

    from tap_optimizer import cluster  # noqa: PLC0415

    out = {}
    for group, kind in sorted(KINDS):
        try:
            crd = kubernetes.client.ApiextensionsV1Api().read_custom_resource_definition(
                f"{cluster.plural(kind)}.{group}")
            out[(group, kind)] = kubernetes.client.ApiClient().sanitize_for_serialization(crd)
        except Exception as error:  # 403 or 404: the check is skipped for that kind, said
            progress(f"warning: cannot read the CRD of {kind} ({group}): its phases are not checked: {error}")
    return out


def _cluster_platform(name: str, namespace: str) -> dict[str, Any]:
    import kubernetes  # noqa: PLC0415 (only a platform given by name needs a cluster)

    from tap_optimizer import cluster  # noqa: PLC0415

    try:
        cluster.load_config()
        return kubernetes.client.CustomObjectsApi().get_namespaced_custom_object(
            PLATFORM_GROUP, PLATFORM_VERSION, namespace, PLATFORM_PLURAL, name)
    except Exception as error:  # no config, unreachable, 404, 403: all the user's to fix
        raise ConfigError(f"--platform {name} (--namespace {namespace}): cannot read the {KIND}: {error}") from error


def _gates(args: argparse.Namespace) -> dict[str, Any]:
    """--gates (or the --gates-preset) as the plan will carry them with --prometheus-url, refused as
    the operator would refuse them, naming the file and field (or the flag)."""
    source = f"--gates {args.gates}" if args.gates is not None else f"--gates-preset {args.gates_preset}"
    if args.gates is not None and args.gates_selector:
        raise ConfigError("--gates-selector: applies to --gates-preset; write the matchers into the --gates file")
    gates = (gate_presets.gates(args.gates_preset, args.gates_selector) if args.gates is None
             else _yaml_file(args.gates, "--gates"))
    if not isinstance(gates, dict):
        raise ConfigError(f"{source}: expected the mapping of spec.gates")
    errors = plan_spec.gates_errors(plan_gates(gates, args.prometheus_url))
    url_errors = [e for e in errors if e.path == "spec.gates.prometheus.url" and args.prometheus_url]
    if url_errors:
        raise ConfigError(f"--prometheus-url {args.prometheus_url}: {url_errors[0].message}")
    if errors:
        raise ConfigError(f"{source}: {'; '.join(map(str, errors))}")
    return gates


def _check_flags(args: argparse.Namespace) -> None:
    """The flags that need no file and no network, checked first: --days, --regions (region names,
    as the TapPlatform's spec.parameters.region takes them: no AWS call learns it), and that the
    directories of --out and --analysis-out exist (the analysis must not end in an unwritable path)."""
    if not 1 <= args.days <= 455:
        raise ConfigError(f"--days {args.days}: must be 1 to 455 (CloudWatch keeps hourly data 455 days)")
    pattern = parameters_schema()["properties"]["region"]["pattern"]
    for region in args.regions or ():
        if not re.fullmatch(pattern, region):
            raise ConfigError(f"--regions {region}: not an AWS region name such as us-east-1 or eu-west-2 "
                              f"(the pattern {pattern})")
    inputs.check_output(args.out, "--out")
    inputs.check_output(args.analysis_out, "--analysis-out")
    _check_prometheus_url(args.prometheus_url)


def _check_prometheus_url(url: str) -> None:
    """--prometheus-url is written into the plan (committed, shown in its status) and the API's paths
    are appended to it: credentials in it would be published, and a query or fragment would end up
    before `/api/v1/query`. The message does not repeat the credentials."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"--prometheus-url {parts.scheme}://...@{parts.hostname}: credentials in the URL would "
                          "be written into the plan; give the plan spec.gates.prometheus.bearerTokenSecretRef "
                          "with --gates, or use an endpoint the operator configures")
    if parts.query or parts.fragment:
        raise ConfigError(f"--prometheus-url {url}: no query or fragment; the API's paths are appended to it")


def _check_gates(gates: dict[str, Any], args: argparse.Namespace, progress: Any) -> bool:
    """Refuse, before the analysis, gates (the plan's spec.gates) whose queries return nothing on
    the Prometheus the plan will ask: its spec.gates.prometheus.url (--prometheus-url, unless --gates
    gave a URL of its own); gates naming an endpoint are asked there, which is not checked from here.
    An unreachable Prometheus is only a warning. True when every query answered (the history can be
    replayed)."""
    if not args.prometheus_url or plan_spec.gates_on_cloudwatch(gates):
        return False
    url = gates.get("prometheus", {}).get("url")
    if not url:
        progress(f"warning: the gates name endpoint {gates.get('endpoint')!r}, which the operator asks: "
                 "their queries are not checked on --prometheus-url")
        return False
    try:
        silent = gate_check.silent(url, gates)
    except gate_check.UnreachableError as error:
        progress(f"warning: --prometheus-url did not answer ({error}): the gate queries are not checked")
        return False
    if silent:
        given = f"--gates {args.gates}" if args.gates else f"--gates-preset {args.gates_preset}"
        raise ConfigError(f"{given}: these queries return nothing on {url}, so the plan would "
                          f"never get a baseline: {', '.join(silent)}; choose another --gates-preset "
                          f"({', '.join(sorted(gate_presets.SOURCES))}) or give --gates; no plan written")
    return True


def _replayed(gates: dict[str, Any], args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """The gates with the bounds the replay of the last days of --prometheus-url's history chooses
    (analysis/gate_bounds.py), each choice said on stderr; unchanged when the history cannot be read."""
    from tap_optimizer.gates import backtest  # noqa: PLC0415 (aiohttp loads only for a replay)
    from tap_optimizer.gates.prometheus import PrometheusGates, fetch_history  # noqa: PLC0415

    pinned = plan_spec.range_pinned(gates)
    if pinned:
        progress(f"  bounds kept, not replayed: {'; '.join(map(str, pinned))}")
        return gates
    spec = plan_spec.parse_gates(gates)
    days = min(float(args.days), REPLAY_DAYS)

    async def fetch() -> backtest.History:
        async with PrometheusGates() as client:
            return await fetch_history(client.provider(spec), spec, time.time(), days)

    progress(f"replaying the gates on the last {days:g} days of {spec.prometheus_url} to choose their bounds")
    report = backtest.replay(spec, asyncio.run(fetch()), backtest.Options(target_rate=gate_bounds.TARGET_RATE))
    chosen, notes = gate_bounds.tuned(gates, report)
    for note in notes:
        progress(f"  {note}")
    return chosen


def _now(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    except ValueError as error:
        raise ConfigError(f"--now {value}: not an ISO 8601 time") from error


def request(args: argparse.Namespace) -> Any:
    """The analysis asked for, every flag and file checked before any AWS or cluster call."""
    from tap_optimizer.analysis import discovery, engine  # noqa: PLC0415 (boto3 loads only for analyze)

    _check_flags(args)
    gates = _gates(args)
    config: AnalysisConfig = load_config(_yaml_file(args.config, "--config"))
    now = _now(args.now)
    if args.ack is not None:
        if args.regions:
            raise ConfigError("--regions: not with --ack; each ACK object says its region")
        return engine.Request(xr={}, regions=[], now=now, days=args.days, config=config,
                              prometheus_url=args.prometheus_url, gates=gates, refresh_prices=args.refresh_prices,
                              with_costs=False)
    if args.crds is not None:
        raise ConfigError("--crds: only with --ack")
    xr = _platform(args)
    return engine.Request(xr=xr, regions=args.regions or discovery.regions_of(xr), now=now,
                          days=args.days, config=config, prometheus_url=args.prometheus_url, gates=gates,
                          refresh_prices=args.refresh_prices, with_costs=not args.no_costs)


def check(plan: dict[str, Any]) -> None:
    """The plan must be one the API server and the operator accept; anything else is our bug."""
    from tap_optimizer.openapi import apply_defaults, validate  # noqa: PLC0415

    schema = plan_spec.plan_schema()
    errors = validate(schema, apply_defaults(schema, {"spec": plan["spec"]})) + plan_spec.spec_errors(plan["spec"])
    if errors:
        raise RuntimeError(f"the generated plan is invalid: {'; '.join(map(str, errors))}")


def run(args: argparse.Namespace) -> int:
    import botocore.exceptions  # noqa: PLC0415

    from tap_optimizer.analysis import engine  # noqa: PLC0415
    from tap_optimizer.analysis.aws import Aws  # noqa: PLC0415

    req = request(args)
    progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if _check_gates(plan_gates(req.gates, args.prometheus_url), args, progress):
        req = dataclasses.replace(req, gates=_replayed(plan_gates(req.gates, args.prometheus_url), args, progress))
    if args.ack is not None:
        return _run_ack(args, req, progress)
    try:
        result = engine.run(Aws(), req, pinned(), progress)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(f"error: AWS: {error}", file=sys.stderr)
        return 1
    plans = [result.plan] if result.plan is not None else []
    return _written(args, plans, result.analysis, progress, "no recommendation: no plan written")


def _run_ack(args: argparse.Namespace, req: Any, progress: Any) -> int:
    import botocore.exceptions  # noqa: PLC0415

    from tap_optimizer.analysis import ackdiscovery  # noqa: PLC0415
    from tap_optimizer.analysis.aws import Aws  # noqa: PLC0415

    objects = ack_objects(args)
    crds = ack_crds(args, progress)
    try:
        result = ackdiscovery.run(Aws(), objects, crds, req, pinned(), args.namespace, progress)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(f"error: AWS: {error}", file=sys.stderr)
        return 1
    return _written(args, result.plans, result.analysis, progress,
                    "no recommendation an ACK object can take: no plan written")


def _written(args: argparse.Namespace, plans: list[dict[str, Any]], analysis: Any, progress: Any,
             nothing: str) -> int:
    """Check and write the plans (one YAML document each) and the analysis; print the summary."""
    from tap_optimizer.analysis import summary  # noqa: PLC0415

    for plan in plans:
        check(plan)
    if plans:
        inputs.write_text(args.out, yaml.safe_dump_all(plans, sort_keys=False, width=120), "--out")
        progress(f"wrote {args.out}" if len(plans) == 1 else f"wrote {len(plans)} plans to {args.out}")
    else:
        progress(nothing)
    if args.analysis_out:
        inputs.write_text(args.analysis_out, json.dumps(analysis, indent=1), "--analysis-out")
        progress(f"wrote {args.analysis_out}")
    if args.format == "table":
        print(summary.table(analysis))
    elif args.format == "json":
        print(json.dumps(analysis, indent=1))
    return 0
