"""`tap-optimizer`: the command line. Exit codes: 0 success, 1 the job failed, 2 bad input (the
message names the field, flag or file; checked before any slow work), 141 stdout closed early (as
for any tool killed by SIGPIPE: `render x.yaml | head -1`)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import math
import os
import pathlib
import ssl
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from tap_optimizer import __version__, inputs
from tap_optimizer.adoption import command as adoption_command
from tap_optimizer.analysis import command as analysis_command
from tap_optimizer.analysis import document
from tap_optimizer.analysis.config import ConfigError
from tap_optimizer.composition.render.platform import InvalidPlatformError, render_platform
from tap_optimizer.gitops import command as export_command
from tap_optimizer.gitops.values import ExportError
from tap_optimizer.plan import preview
from tap_optimizer.plan import spec as plan_spec
from tap_optimizer.platform.parameters import API_VERSION, KIND, defaulted_parameters

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PIPE_CLOSED = 0, 1, 2, 141
COMPOSITION_RESOURCE_NAME = "crossplane.io/composition-resource-name"
BadInputError = inputs.BadInputError


def load_platforms(path: pathlib.Path, flag: str = "") -> list[dict[str, Any]]:
    """The TapPlatforms in a YAML file or stdin (`-`): documents, or a List as `kubectl get -o yaml` prints."""
    return inputs.of_kind(inputs.yaml_documents(path, flag), API_VERSION, KIND, path, flag)


def load_platform(path: pathlib.Path, flag: str = "") -> dict[str, Any]:
    """The single TapPlatform in a YAML file."""
    platforms = load_platforms(path, flag)
    if len(platforms) != 1:
        raise BadInputError(f"{inputs.where(path, flag)}: expected exactly one {KIND}, found {len(platforms)}")
    return platforms[0]


def rendered_documents(xr: dict[str, Any]) -> list[dict[str, Any]]:
    """The desired resources, annotated with their composition resource names like `crossplane render`."""
    try:
        desired = render_platform(xr)
    except InvalidPlatformError as invalid:
        raise BadInputError(f"invalid {KIND} {_plan_name(xr)!r}: {invalid}") from invalid
    documents = []
    for key, obj in desired.items():
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations[COMPOSITION_RESOURCE_NAME] = key
        documents.append(obj)
    return documents


def cmd_render(args: argparse.Namespace) -> int:
    """Every TapPlatform of the input rendered, all checked before anything is printed."""
    documents = [d for xr in load_platforms(args.xr) for d in rendered_documents(xr)]
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)
    return EXIT_OK


def cmd_function(args: argparse.Namespace) -> int:
    from crossplane.function import logging, runtime  # noqa: PLC0415 (only this command serves gRPC)

    from tap_optimizer.composition.fn import TapPlatformRunner  # noqa: PLC0415

    logging.configure(logging.Level.DEBUG if args.debug else logging.Level.INFO)
    try:
        creds = None if args.insecure else runtime.load_credentials(args.tls_certs_dir)
    except OSError as error:
        raise BadInputError(f"--tls-certs-dir {args.tls_certs_dir}: cannot read {error.filename}: {error.strerror} "
                            "(Crossplane mounts tls.crt, tls.key and ca.crt there; --insecure to serve without TLS)"
                            ) from error
    try:
        runtime.serve(TapPlatformRunner(), args.address, creds=creds, insecure=args.insecure)
    except RuntimeError as error:
        if "Failed to bind" not in str(error):
            raise
        raise BadInputError(f"--address {args.address}: cannot listen there (expected a free HOST:PORT such as "
                            "0.0.0.0:9443)") from error
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run the operator until SIGTERM/SIGINT; kopf handles both gracefully."""
    import kopf  # noqa: PLC0415 (only this command runs the operator)
    import kubernetes  # noqa: PLC0415

    from tap_optimizer import cluster, configuration, redact, running  # noqa: PLC0415
    from tap_optimizer.gates import endpoints  # noqa: PLC0415

    if not args.all_namespaces and not args.namespace:
        raise BadInputError("give --namespace NS (repeatable) or --all-namespaces")
    addresses = _run_addresses(args)
    if args.config is not None:
        os.environ[configuration.CONFIG_ENV] = str(args.config)
    try:
        config = configuration.load_gate_config()
        configuration.load_target_kinds()  # a wrong kind stops the start, naming the key
        configuration.load_instance_refresh()  # so does a wrong targets.instanceRefresh
    except endpoints.ConfigError as error:
        raise BadInputError(f"--config: {error}") from error
    if not 1 <= args.lease_duration < math.inf:  # a Lease holds whole seconds: 0.5 would be 0, nan crashed
        raise BadInputError(f"--lease-duration: expected seconds, at least 1, got {args.lease_duration:g}")
    if args.leader_election and not (args.leader_election_namespace or config.namespace):
        raise BadInputError("--leader-election-namespace: required (or the configuration's namespace)")
    try:
        cluster.load_config()
    except kubernetes.config.ConfigException as error:
        raise BadInputError(f"no cluster credentials: not in a pod, and {error}") from error
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.JSON, log_refkey="plan")
    redact.install()
    options = running.Options(
        clusterwide=args.all_namespaces, namespaces=tuple(args.namespace or ()), liveness=addresses["--liveness"],
        http=addresses["--http"], dashboard=args.dashboard, analysis=args.analysis,
        lease_name=args.leader_election, lease_namespace=args.leader_election_namespace or config.namespace,
        lease_seconds=args.lease_duration)
    try:
        return asyncio.run(running.run(options))
    except running.CannotListenError as error:
        raise BadInputError(str(error)) from error


def _run_addresses(args: argparse.Namespace) -> dict[str, Any]:
    """--http and --liveness as addresses (None: off), refused naming the flag."""
    from tap_optimizer.webserver import parse_address  # noqa: PLC0415

    addresses = {}
    for flag, text in (("--http", args.http), ("--liveness", _liveness_address(args.liveness))):
        try:
            addresses[flag] = parse_address(text)
        except ValueError as error:
            raise BadInputError(f"{flag}: {error}") from error
    if addresses["--liveness"] is None:
        raise BadInputError("--liveness: expected http://HOST:PORT/healthz")
    return addresses


def _liveness_address(url: str) -> str:
    """HOST:PORT of a http://HOST:PORT/healthz probe URL."""
    return url.removeprefix("http://").split("/", 1)[0]


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole system locally (see tap_optimizer_local.demo). It runs on the local stand-ins, a separate
    distribution (tap-optimizer-local, in the repository's local/) that the product package does not hold."""
    try:
        from tap_optimizer_local import demo  # noqa: PLC0415 (the stand-ins load only for the demo)
    except ImportError as error:
        raise BadInputError(f"the demo needs the local stand-ins, which are not installed ({error}): install the "
                            f"distribution tap-optimizer-local from a clone of the repository, with "
                            f"`pip install -e ./local` at its root (`make setup` installs it)") from error
    return demo.run(demo.Options(out_dir=args.out_dir, hold=args.hold), say=functools.partial(print, flush=True))


def load_analysis(path: pathlib.Path) -> dict[str, Any]:
    """The analysis document; its version and top-level fields are checked so the dashboard can trust it."""
    try:
        analysis = json.loads(inputs.read_text(path, "--analysis"))
    except json.JSONDecodeError as error:
        raise BadInputError(f"--analysis {path}: not JSON: {error}") from error
    wrong = document.problem(analysis)
    if wrong:
        raise BadInputError(f"--analysis {path}: {wrong}")
    return analysis


def load_backtest(path: pathlib.Path) -> dict[str, Any]:
    """A report of `backtest --out`, checked to be one (it has a timeline and the replayed gates)."""
    where = f"--backtest {path}"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BadInputError(f"{where}: cannot read: {error.strerror}") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInputError(f"{where}: not JSON: {error}") from error
    if not isinstance(report, dict) or not isinstance(report.get("timeline"), list) or "gates" not in report:
        raise BadInputError(f"{where}: not a backtest report (it needs `timeline` and `gates`): write one with "
                            "`tap-optimizer backtest plan.yaml --out report.json`")
    return report


def check_plan(plan: Any, where: str) -> None:
    """Refuse a plan the API server would refuse, naming the field, so the dashboard reads well-formed plans."""
    errors = preview.object_refusals(plan)
    if errors:
        name = _plan_name(plan)
        raise BadInputError(f"{where}{f' ({name})' if name else ''}: {'; '.join(errors)}")


def _plan_name(plan: Any) -> str | None:
    metadata = plan.get("metadata") if isinstance(plan, dict) else None
    return metadata.get("name") if isinstance(metadata, dict) else None


def cmd_validate(args: argparse.Namespace) -> int:
    """Check every OptimizationPlan of a file (or stdin) as the API server and the operator would,
    and with --target, dry-run it on that TapPlatform: exit 0 when all would run, else 2 naming every problem."""
    if str(args.plan) == str(args.target) == inputs.STDIN:
        raise BadInputError("stdin (-) can be one input only: give the plans or --target as a file")
    plans = [d for d in inputs.yaml_documents(args.plan) if isinstance(d, dict) and d.get("kind") == plan_spec.KIND]
    if not plans:
        raise BadInputError(f"{inputs.where(args.plan)}: no {plan_spec.KIND} in the input")
    target = load_platform(args.target, "--target") if args.target else None
    config = operator_config(args) if _configured(args) else None
    now, problems = dt.datetime.now(dt.UTC), []
    for plan in plans:
        found = _plan_problems(plan, target, config, now)
        named = _plan_name(plan) or "without metadata.name"
        problems += [f"{inputs.where(args.plan)}: {plan_spec.KIND} {named}: {p}" for p in found]
        if not found:
            print(_valid_summary(plan, target, now))
    if config is None:
        print("note: spec.gates was not checked against an operator's gate endpoints (give --config or "
              "--prometheus-url)", file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_BAD_INPUT if problems else EXIT_OK


def _configured(args: argparse.Namespace) -> bool:
    """Whether the flags or the environment name the operator's gate configuration."""
    from tap_optimizer import configuration  # noqa: PLC0415

    named = (os.environ.get(configuration.CONFIG_ENV), os.environ.get(configuration.PROMETHEUS_URL_ENV))
    return bool(args.config or args.prometheus_url or any(named))


def _plan_problems(plan: dict[str, Any], target: dict[str, Any] | None, config: Any, now: dt.datetime) -> list[str]:
    """The API server's and the operator's refusals, then its endpoint's (with a configuration),
    then the dry run's on the target (with one)."""
    from tap_optimizer.gates import endpoints  # noqa: PLC0415

    found = preview.refusals(plan)
    if not found and config is not None:
        found = [str(e) for e in endpoints.checked_spec(plan["spec"], config, _namespace(plan))[2]]
    if not found and target is not None:
        found = preview.target_refusals(plan, target, now)
    return found


def _valid_summary(plan: dict[str, Any], target: dict[str, Any] | None, now: dt.datetime) -> str:
    """One line for a plan that would run, and with a target one per phase: its patch and one-way doors."""
    phases = plan["spec"]["phases"]
    lines = [f"{plan_spec.KIND} {_plan_name(plan)}: valid ({len(phases)} phases, "
             f"{sum(len(p['changes']) for p in phases)} changes)"]
    if target is not None:
        parameters = defaulted_parameters(target.get("spec", {}).get("parameters"))
        for record in preview.dry_run(plan_spec.parse(plan["spec"]), parameters, now):
            doors = "; ".join(record.get("oneWayDoors", [])) or "none"
            writes = [op for op in record.get("wouldPatch", []) if op["op"] != "test"]
            lines.append(f"  phase {record['name']}: would patch {len(writes)} paths; one-way doors: {doors}")
    return "\n".join(lines)


def load_plans(path: pathlib.Path) -> list[dict[str, Any]]:
    """The OptimizationPlans in a YAML file: several documents, or a list as `kubectl get -o yaml` prints."""
    plans = inputs.yaml_documents(path, "--plans")
    if not plans:
        raise BadInputError(f"--plans {path}: no {plan_spec.KIND} in the file")
    for number, plan in enumerate(plans, start=1):
        check_plan(plan, f"--plans {path}: plan {number}")
    return plans


def cluster_plans(namespace: str) -> list[dict[str, Any]]:
    """The OptimizationPlans in a namespace, read with the operator's credentials (in-cluster or KUBECONFIG).

    Any failure names --namespace: no credentials, an unreachable cluster or a refusal are all
    the user's to fix (context, RBAC, namespace), not a failure of the report.
    """
    import kubernetes  # noqa: PLC0415 (only --namespace talks to a cluster)
    import urllib3  # noqa: PLC0415

    from tap_optimizer import cluster  # noqa: PLC0415

    group, version, plural = cluster.PLAN
    try:
        cluster.load_config()
        listing = kubernetes.client.CustomObjectsApi().list_namespaced_custom_object(group, version, namespace, plural)
    except (kubernetes.config.ConfigException, kubernetes.client.ApiException, urllib3.exceptions.HTTPError) as error:
        raise BadInputError(f"--namespace {namespace}: cannot list {plan_spec.KIND}s: {error}") from error
    return listing.get("items", [])


def cmd_analyze(args: argparse.Namespace) -> int:
    from tap_optimizer.analysis import command  # noqa: PLC0415 (boto3 loads only for analyze)

    _check_url_flag(args.prometheus_url)
    try:
        return command.run(args)
    except ConfigError as error:
        raise BadInputError(str(error)) from error


def cmd_export(args: argparse.Namespace) -> int:
    try:
        return export_command.run(args)
    except ExportError as error:
        raise BadInputError(str(error)) from error


def cmd_import(args: argparse.Namespace) -> int:
    checked = load_platform(args.check, "--check") if args.check is not None else None
    try:
        return adoption_command.run(args, checked)
    except adoption_command.ImportInputError as error:
        raise BadInputError(str(error)) from error


def realized_savings(analysis: dict[str, Any], plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cost Explorer's before/after figures for the applied phases (AWS credentials as for analyze)."""
    from tap_optimizer.analysis import costs  # noqa: PLC0415 (only --realized talks to AWS)
    from tap_optimizer.analysis.aws import Aws  # noqa: PLC0415

    return costs.realized_for_plans(Aws(), analysis["platform"]["name"], plans, dt.datetime.now(dt.UTC).date())


def cmd_report(args: argparse.Namespace) -> int:
    """Write the dashboard, one self-contained HTML file, and print its path."""
    from tap_optimizer.dashboard.html import render_page  # noqa: PLC0415 (only this command draws)

    inputs.check_output(args.out, "--out")
    analysis = load_analysis(args.analysis)
    backtests = [load_backtest(path) for path in args.backtest]
    plans = load_plans(args.plans) if args.plans else cluster_plans(args.namespace) if args.namespace else []
    if args.realized:
        import botocore.exceptions  # noqa: PLC0415 (only --realized talks to AWS)

        try:
            analysis["realized"] = realized_savings(analysis, plans)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            print(f"error: --realized: Cost Explorer: {error}", file=sys.stderr)
            return EXIT_FAILED
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    page = render_page(analysis, plans, title=f"tap-optimizer: {analysis['platform'].get('name', '')}",
                       generated_at=now, backtests=backtests)
    inputs.write_text(args.out, page, "--out")
    print(args.out)
    return EXIT_OK


def load_plan(path: pathlib.Path) -> dict[str, Any]:
    """The single OptimizationPlan in a YAML file, refused as the API server would refuse it."""
    documents = inputs.yaml_documents(path)
    plans = [d for d in documents if isinstance(d, dict) and d.get("kind") == plan_spec.KIND]
    if len(plans) != 1:
        raise BadInputError(f"{path}: expected exactly one {plan_spec.KIND}, found {len(plans)}")
    check_plan(plans[0], str(path))
    return plans[0]


def operator_config(args: argparse.Namespace) -> Any:
    """The operator's gate configuration as the flags give it (--config, --prometheus-url) over the
    environment (TAP_OPTIMIZER_CONFIG, TAP_OPTIMIZER_PROMETHEUS_URL), as the operator reads it."""
    from tap_optimizer import configuration  # noqa: PLC0415
    from tap_optimizer.gates import endpoints  # noqa: PLC0415

    environ = dict(os.environ)
    if args.config is not None:
        environ[configuration.CONFIG_ENV] = str(args.config)
    if args.prometheus_url:
        environ[configuration.PROMETHEUS_URL_ENV] = args.prometheus_url
    _check_url_flag(args.prometheus_url)
    try:
        return configuration.load_gate_config(environ)
    except endpoints.ConfigError as error:
        raise BadInputError(f"--config: {error}") from error


def _namespace(plan: dict[str, Any]) -> str:
    return (plan.get("metadata") or {}).get("namespace") or "default"


def backtest_spec(plan: dict[str, Any], path: pathlib.Path, args: argparse.Namespace) -> tuple[Any, Any]:
    """The plan's parsed spec with its gates' endpoint resolved as the operator resolves it (the
    operator's configuration, `operator_config`), and the Access."""
    from tap_optimizer.gates import endpoints  # noqa: PLC0415

    config = operator_config(args)
    endpoint, body, refused = endpoints.checked_spec(plan["spec"], config, _namespace(plan))
    if endpoint is None:
        hint = "" if config.endpoints else " (give --prometheus-url or --config)"
        raise BadInputError(f"{path}: {'; '.join(map(str, refused)) or 'no gate endpoint'}{hint}")
    if endpoint.provider != "prometheus":
        raise BadInputError(f"{path}: spec.gates: the backtest replays Prometheus history; this plan gates on "
                            f"{endpoint.provider}")
    refused = refused or plan_spec.range_pinned(body["gates"])
    if refused:
        raise BadInputError(f"{path}: {'; '.join(map(str, refused))}")
    parsed = plan_spec.parse(body)
    return parsed, _backtest_access(endpoint, args, parsed.gates)


def _check_url_flag(url: str | None) -> None:
    """--prometheus-url is refused naming the flag (not the variable it is passed on as)."""
    from tap_optimizer.gates import endpoints  # noqa: PLC0415

    problem = endpoints.url_problem(url, None) if url else None
    if problem:
        raise BadInputError(f"--prometheus-url {url}: {problem}")


def _backtest_access(endpoint: Any, args: argparse.Namespace, gates: Any) -> Any:
    """The endpoint's Secrets from --bearer-token-file and --ca-file; a CA that is not PEM is refused
    here, naming the flag, as the operator's provider would refuse it."""
    from tap_optimizer.gates.prometheus import Access  # noqa: PLC0415

    secrets = {"--bearer-token-file": (endpoint.token, args.bearer_token_file),
               "--ca-file": (endpoint.ca, args.ca_file)}
    read: dict[str, str | None] = {}
    for flag, (ref, given) in secrets.items():
        if ref is not None and given is None:
            raise BadInputError(f"{flag}: endpoint {endpoint.name or 'of the plan'} takes {ref.field} from Secret "
                                f"{ref.namespace}/{ref.name} key {ref.key}; give its content in a file")
        read[flag] = inputs.read_text(given, flag).strip() if given is not None else None
    access = Access(token=read["--bearer-token-file"], ca=read["--ca-file"])
    try:
        access.tls(gates)
    except (ssl.SSLError, ValueError, TypeError) as error:  # TypeError: non-ASCII text around the PEM
        raise BadInputError(f"--ca-file {args.ca_file}: not a valid PEM CA bundle: {error}") from error
    return access


def cmd_backtest(args: argparse.Namespace) -> int:
    """Replay the plan's gates on Prometheus history: how often would they have rolled back a harmless change?"""
    from tap_optimizer.gates import backtest  # noqa: PLC0415
    from tap_optimizer.gates.prometheus import PrometheusGates, fetch_history  # noqa: PLC0415

    inputs.check_output(args.out, "--out")
    plan = load_plan(args.plan)
    spec, access = backtest_spec(plan, args.plan, args)
    days, limit = _backtest_days(args, spec), _backtest_limit(args, spec)
    options = backtest.Options(start_every=_start_every(args.start_every, spec.gates.interval) if args.start_every
                               else backtest.HOUR,
                               target_rate=limit if limit else 0.05,
                               regressions=tuple(_regression(text, spec) for text in args.inject or ()))
    end = _end_flag(args.end)

    def say(text: str) -> None:
        if args.format == "table" or args.out is not None:
            print(text, file=sys.stderr, flush=True)

    async def fetch() -> backtest.History:
        async with PrometheusGates() as client:
            return await fetch_history(client.provider(spec.gates, access), spec.gates, end, days,
                                       progress=lambda done, total: say(f"  fetched {done}/{total} query_range "
                                                                        "requests") if done in (1, total) else None)

    say(f"replaying {days:g} days of {spec.gates.prometheus_url} at step {spec.gates.interval:g} s")
    history = asyncio.run(fetch())
    rejected = backtest.rejected(history)
    if rejected:  # as the operator's preflight fails the plan: nothing to replay
        raise BadInputError(f"{args.plan}: Prometheus refused the query: {'; '.join(rejected)}")
    report = backtest.replay(spec.gates, history, options,
                             progress=lambda done, total: say(f"  judged {done}/{total} simulated starts"))
    report["plan"] = (plan.get("metadata") or {}).get("name")
    report["policy"] = {"maxFalseRollbackRate": limit}
    if args.out is not None:
        inputs.write_text(args.out, json.dumps(report, indent=1), "--out")
    if args.format == "json":
        print(json.dumps({k: v for k, v in report.items() if k not in ("timeline", "starts")}, indent=1))
    else:
        print(backtest_table(report))
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    rate = report["falseRollbackRate"]
    if rate is None:
        silent = backtest.unanswered(history)
        reason = f"Prometheus did not answer: {silent}" if silent else backtest.unjudged_reason(report)
        print(f"error: no simulated start could be judged: {reason}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if limit is not None and rate > limit else EXIT_OK


def _backtest_days(args: argparse.Namespace, spec: Any) -> float:
    """--days (else spec.gates.backtest.days, else 14), 1 to 400 and within the step cap."""
    if args.days is not None and not 1 <= args.days <= 400:
        raise BadInputError(f"--days: expected 1 to 400, got {args.days:g}")
    policy = spec.gates.backtest
    days: float = args.days or (policy.days if policy else 14)
    too_many = plan_spec.backtest_steps_error(days, spec.gates.interval)
    if too_many:
        raise BadInputError(f"--days {days:g} with spec.gates.interval: {too_many}")
    return days


def _backtest_limit(args: argparse.Namespace, spec: Any) -> float | None:
    policy = spec.gates.backtest
    limit = args.max_false_rollback_rate if args.max_false_rollback_rate is not None else \
        policy.max_false_rollback_rate if policy else None
    if limit is not None and not 0 <= limit <= 1:
        raise BadInputError(f"--max-false-rollback-rate: expected 0 to 1, got {limit:g}")
    return limit


def _start_every(text: str, interval: float) -> float:
    """--start-every: plans go live on check steps, so a multiple of the interval (never rounded)."""
    every = _seconds_flag("--start-every", text)
    if every < interval or abs(every / interval - round(every / interval)) > 1e-9:
        raise BadInputError(f"--start-every {text}: plans start on a check step; give a multiple of "
                            f"spec.gates.interval ({interval:g} s)")
    return every


def _seconds_flag(flag: str, text: str) -> float:
    from tap_optimizer.plan.durations import seconds  # noqa: PLC0415

    try:
        value = seconds(text)
    except ValueError as error:
        raise BadInputError(f"{flag}: expected a duration such as 1h, got {text!r}") from error
    if value <= 0:
        raise BadInputError(f"{flag}: must be longer than 0")
    return value


def _end_flag(text: str | None) -> float:
    """--end, or now; a time after now is now (history has nothing after it: the checks there
    would be judged NoData and counted as rollbacks), said on stderr."""
    now = dt.datetime.now(dt.UTC).timestamp()
    if text is None:
        return now
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise BadInputError(f"--end: expected an RFC 3339 time such as 2026-11-29T00:00:00Z, got {text!r}") from error
    end = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
    if end > now:
        print(f"note: --end {text} is in the future: replaying up to now", file=sys.stderr)
    return min(end, now)


def _regression(text: str, spec: Any) -> Any:
    """--inject METRIC*1.5 (values times 1.5) or METRIC+0.01 (plus 0.01)."""
    from tap_optimizer.gates.backtest import Regression  # noqa: PLC0415

    names = [m.name for m in spec.gates.metrics]
    for sign in ("*", "+"):
        name, found, number = text.partition(sign)
        if found:
            if name not in names:
                raise BadInputError(f"--inject {text}: no gate metric {name!r}; the plan's: {', '.join(names)}")
            try:
                value = float(number)
            except ValueError:
                break
            return Regression(name, factor=value) if sign == "*" else Regression(name, offset=value)
    raise BadInputError(f"--inject {text}: expected METRIC*FACTOR (p99-latency*1.5) or METRIC+OFFSET (error-rate+0.01)")


def backtest_table(report: dict[str, Any]) -> str:
    """The report for a terminal: the rate with its interval, coverage, failures, noise, bounds."""
    rate, (low, high) = report["falseRollbackRate"], report["interval95"]
    outcomes = report["outcomes"]
    lines = [f"covered {report['coveredDays']:g} of {report['askedDays']:g} days ({report['from']} to {report['to']}); "
             f"{report['requests']} query_range requests",
             f"simulated starts: {outcomes['simulated']} (judged {outcomes['judged']}: {outcomes['Pass']} pass, "
             f"{outcomes['Fail']} fail, {outcomes['Inconclusive']} inconclusive; not judged: {outcomes['Paused']} "
             f"paused on inconclusive checks, {outcomes['NoBaseline']} without a baseline, {outcomes['Unfinished']} "
             f"unfinished, {outcomes.get('Unanswered', 0)} whose history Prometheus did not answer)"]
    if rate is not None:
        lines.append(f"false-rollback rate: {rate:.1%} (95 % interval {low:.1%} to {high:.1%} over "
                     f"{report['independentWindows']} independent windows; "
                     f"{report['ifChecksWereIndependent']:.1%} if checks were independent)")
    else:
        lines.append("false-rollback rate: n/a (no start judged)")
    lines += [f"warning: {warning}" for warning in report.get("warnings", [])]
    limit = (report.get("policy") or {}).get("maxFalseRollbackRate")
    if limit is not None and rate is not None:
        lines.append(f"policy maxFalseRollbackRate {limit:g}: {'EXCEEDED' if rate > limit else 'within'}")
    lines.append("")
    lines.append(f"{'metric':<20} {'checks':>7} {'inconcl.':>8} {'value/bound p50':>15} {'p99':>8} {'max':>8}  "
                 "recommended")
    for metric in report["metrics"]:
        ratio = metric["valueOverBound"] or {}
        share = metric["inconclusiveShare"]
        recommended = ", ".join(f"{k} {v:.6g}" for k, v in metric["recommended"].items()
                                if k not in ("targetRate", "windows"))
        lines.append(f"{metric['name'][:20]:<20} {metric['checks']:>7} {'n/a' if share is None else f'{share:.1%}':>8} "
                     f"{ratio.get('p50', float('nan')):>15.3g} {ratio.get('p99', float('nan')):>8.3g} "
                     f"{ratio.get('max', float('nan')):>8.3g}  {recommended or '-'}")
    if report["failures"]:
        lines += ["", "would have rolled back at (first 10):"]
        lines += [f"  {f['at']}  {f['verdict']:<12} {f['starts']:>4} starts  {f['message'][:110]}"
                  for f in report["failures"][:10]]
    for found in report["regressions"]:
        delay = (found["delaySeconds"] or {}).get("p50")
        rate_text = "n/a" if found["detectionRate"] is None else f"{found['detectionRate']:.1%}"
        lines.append(f"injected {found['regression']}: caught in {rate_text} of {found['starts']} starts"
                     + (f", median after {delay:g} s" if delay is not None else ""))
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tap-optimizer", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="print the desired managed resources of TapPlatforms")
    render.add_argument("xr", type=pathlib.Path, help="YAML file of TapPlatforms (documents or a List); - for stdin")
    render.set_defaults(run=cmd_render)

    check = commands.add_parser("validate", help="check OptimizationPlans offline as the API server and the operator "
                                                 "would; exit 0 valid, 2 naming every problem")
    check.add_argument("plan", type=pathlib.Path, help="YAML file of OptimizationPlans (documents or a List); - for "
                                                       "stdin")
    check.add_argument("--target", type=pathlib.Path, help="the TapPlatform YAML: also dry-run each phase on its "
                                                           "parameters (patches, one-way doors, values it refuses)")
    check.add_argument("--config", type=pathlib.Path, help="the operator's configuration (gate endpoints; also "
                                                           "TAP_OPTIMIZER_CONFIG): check spec.gates against it")
    check.add_argument("--prometheus-url", help="the operator's default Prometheus (as TAP_OPTIMIZER_PROMETHEUS_URL)")
    check.set_defaults(run=cmd_validate)

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
    run.add_argument("--leader-election", metavar="LEASE", default=None,
                     help="elect one acting replica through this coordination.k8s.io Lease (several replicas)")
    run.add_argument("--leader-election-namespace", metavar="NS", default=None,
                     help="the Lease's namespace (default: the configuration's namespace)")
    run.add_argument("--lease-duration", type=float, default=15.0,
                     help="seconds a standby waits for a silent leader before it takes over (default %(default)s)")
    run.add_argument("--config", type=pathlib.Path, default=None,
                     help="the operator's configuration (gate endpoints); also TAP_OPTIMIZER_CONFIG")
    run.add_argument("--verbose", action="store_true", help="log every step")
    run.add_argument("--http", default="0.0.0.0:8000",
                     help="HOST:PORT serving /metrics (and /dashboard); '' or off: none (default %(default)s)")
    run.add_argument("--dashboard", choices=("off", "open", "kubernetes"), default="off",
                     help="/dashboard: off, open to whoever reaches --http, or for bearer tokens the Kubernetes API "
                          "accepts, each seeing the namespaces it may list plans in (default %(default)s)")
    run.add_argument("--analysis", type=pathlib.Path,
                     help="analysis JSON written by analyze, for /dashboard (read on every view)")
    run.set_defaults(run=cmd_run)

    demo = commands.add_parser("demo", help="run the system locally on embedded defaults, no cloud")
    demo.add_argument("--out-dir", type=pathlib.Path, default=pathlib.Path("demo-output"),
                      help="where the plan, the analysis and dashboard.html go (default %(default)s)")
    demo.add_argument("--hold", action="store_true", help="keep the local cluster up at the end, until Ctrl-C")
    demo.set_defaults(run=cmd_demo)

    analysis_command.add_parser(commands)
    commands.choices["analyze"].set_defaults(run=cmd_analyze)
    adoption_command.add_parser(commands)
    commands.choices["import"].set_defaults(run=cmd_import)
    _add_report(commands)
    _add_backtest(commands)
    export_command.add_parser(commands).set_defaults(run=cmd_export)
    return top


def _add_report(commands: Any) -> None:
    report = commands.add_parser("report", help="write the dashboard: one self-contained HTML file")
    report.add_argument("--analysis", type=pathlib.Path, required=True, help="analysis JSON written by analyze")
    source = report.add_mutually_exclusive_group()
    source.add_argument("--plans", type=pathlib.Path, help="YAML file of OptimizationPlans (documents or a List)")
    source.add_argument("--namespace", help="read the OptimizationPlans of this namespace from the cluster")
    report.add_argument("--out", type=pathlib.Path, default=pathlib.Path("dashboard.html"),
                        help="HTML file to write (default %(default)s)")
    report.add_argument("--backtest", type=pathlib.Path, action="append", default=[],
                        help="a report of `backtest --out`, drawn as the gates' value over bound on history with "
                             "the simulated rollbacks (repeatable)")
    report.add_argument("--realized", action="store_true",
                        help="add realized savings of applied phases from Cost Explorer (AWS credentials)")
    report.set_defaults(run=cmd_report)


def _add_backtest(commands: Any) -> None:
    replay = commands.add_parser("backtest", help="replay a plan's gates on Prometheus history (what-if): how often "
                                                  "would they have rolled back a harmless change?")
    replay.add_argument("plan", type=pathlib.Path, help="YAML file holding one OptimizationPlan")
    replay.add_argument("--days", type=float, help="days of history to replay (default: spec.gates.backtest.days, "
                                                   "else 14)")
    replay.add_argument("--end", help="replay up to this RFC 3339 time (default, and at most, now)")
    replay.add_argument("--format", choices=("table", "json"), default="table", help="stdout (default %(default)s)")
    replay.add_argument("--out", type=pathlib.Path, help="write the whole report (JSON, with the timeline) here")
    replay.add_argument("--config", type=pathlib.Path, help="the operator's configuration (gate endpoints); also "
                                                            "TAP_OPTIMIZER_CONFIG")
    replay.add_argument("--prometheus-url", help="the default endpoint's Prometheus (as TAP_OPTIMIZER_PROMETHEUS_URL)")
    replay.add_argument("--bearer-token-file", type=pathlib.Path, help="the endpoint's bearer token")
    replay.add_argument("--ca-file", type=pathlib.Path, help="the endpoint's CA bundle (PEM)")
    replay.add_argument("--start-every", help="simulate a plan start this often, a multiple of spec.gates.interval "
                                              "(default: the multiple nearest 1h)")
    replay.add_argument("--max-false-rollback-rate", type=float,
                        help="exit 1 above this rate (default: spec.gates.backtest.maxFalseRollbackRate)")
    replay.add_argument("--inject", action="append", metavar="METRIC*F|METRIC+X",
                        help="also replay a regression (p99-latency*1.5, error-rate+0.01): detection rate and delay")
    replay.set_defaults(run=cmd_backtest)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except BadInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader left (`| head`): stop quietly, and point stdout at /dev/null so that
        # Python's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    return code


if __name__ == "__main__":
    sys.exit(main())
