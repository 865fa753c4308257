"""An OptimizationPlan's spec: checked as the API server would (the CRD, shipped here) and for
what a schema cannot say, then read into small frozen objects the state machine works with."""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from tap_optimizer.openapi import FieldError, Schema, apply_defaults, join, validate
from tap_optimizer.plan.durations import seconds
from tap_optimizer.plan.model import TargetRef
from tap_optimizer.platform import pointer
from tap_optimizer.platform.parameters import parameter_schema_at
from tap_optimizer.targets import kinds
from tap_optimizer.targets.kinds import TAPPLATFORM

CRD_FILE = "optimizationplan.crd.yaml"
MAX_WINDOW_CHECKS = 400  # observationWindow / interval: every check of a window is kept in status
MAX_DURATION_DAYS = 365  # a longer wait is a mistake, and its timestamps would not fit a date
MIN_WINDOW_CHECKS = 3  # observationWindow / interval: a window is judged on several checks, never one
MAX_CHANGES_BYTES = 32 * 1024  # the phases' changes as JSON: status records each one (plan.evidence)
API_VERSION = "optimization.tap.io/v1alpha1"
KIND = "OptimizationPlan"


@functools.lru_cache(maxsize=1)
def crd() -> dict[str, Any]:
    """The OptimizationPlan CustomResourceDefinition, as shipped in the package."""
    return yaml.safe_load(resources.files("tap_optimizer.plan").joinpath(CRD_FILE).read_text())


def plan_schema() -> Schema:
    (version,) = crd()["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


@dataclass(frozen=True)
class Change:
    op: str
    path: str
    value: Any  # pointer.ABSENT for remove
    reason: str
    projected_monthly_savings: float


@dataclass(frozen=True)
class Phase:
    name: str
    requires_approval: bool
    changes: tuple[Change, ...]

    @property
    def projected_monthly_savings(self) -> float:
        return sum(c.projected_monthly_savings for c in self.changes)


@dataclass(frozen=True)
class MetricStat:
    """One CloudWatch metric (all its dimensions) and the statistic taken of it each period."""

    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    unit: str | None = None

    def __str__(self) -> str:
        dimensions = ",".join(f'{k}="{v}"' for k, v in self.dimensions)
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.stat}({self.namespace} {self.metric_name}{{{dimensions}}}){unit}"


@dataclass(frozen=True)
class CloudWatchQuery:
    """One GetMetricData query: a metric statistic or metric math over other queries' ids."""

    id: str
    label: str
    metric_stat: MetricStat | None = None
    expression: str | None = None
    return_data: bool = True


@dataclass(frozen=True)
class CloudWatchMetric:
    """A gate metric as GetMetricData queries: the series are the queries that return data, the
    traffic the queries named in `volume`."""

    queries: tuple[CloudWatchQuery, ...]
    volume: tuple[str, ...] = ()

    @property
    def series_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.queries if q.return_data and q.id not in self.volume)

    def describe(self, ids: tuple[str, ...], *, others: bool = True) -> str:
        """The queries on one line as status and messages show them, those in `ids` first (and, with
        `others`, the rest after): `ratio = errors / requests; errors = Sum(AWS/ApplicationELB ...); ...`."""
        ordered = sorted((q for q in self.queries if others or q.id in ids), key=lambda q: q.id not in ids)
        return "; ".join(f"{q.id} = {q.expression if q.expression is not None else q.metric_stat}" for q in ordered)


@dataclass(frozen=True)
class CloudWatchSource:
    """spec.gates.cloudwatch: where the metrics are (the endpoint's region) and the period of every statistic."""

    region: str
    period: int


@dataclass(frozen=True)
class GateMetric:
    name: str
    query: str  # PromQL, or the CloudWatch queries as `CloudWatchMetric.describe` shows them
    max: float | None
    min: float | None
    max_increase_over_baseline: float | None
    volume_query: str | None
    min_volume: float | None
    cloudwatch: CloudWatchMetric | None = None


BACKTEST_MAX_STEPS = 60 * 1440  # check steps a backtest asks per query: 60 days at a 1-minute interval


RANGE_PINNED = re.compile(r"@\s*(start|end)\s*\(\s*\)")


def range_pinned(gates: dict[str, Any]) -> list[FieldError]:
    """Gate and volume queries with PromQL's `@ start()` or `@ end()`: a `query_range` evaluates
    them at the range's start or end, not at each step, so a replay of them is not what the live
    gate (an instant query, where both mean "now") would have said. A backtest refuses them."""
    return [FieldError(f"spec.gates.metrics[{metric.get('name', i)}].{key}",
                       f"uses `@ {found.group(1)}()`, which a replay evaluates at its range's {found.group(1)}, not at "
                       "each check: backtest the query without the modifier")
            for i, metric in enumerate(gates.get("metrics") or []) if isinstance(metric, dict)
            for key in ("query", "volumeQuery")
            if isinstance(metric.get(key), str) and (found := RANGE_PINNED.search(metric[key]))]


def backtest_steps_error(days: float, interval: float) -> str:
    """Why a backtest of `days` at `interval` asks too many points (requests and memory grow with
    days / interval), or ""."""
    steps = days * 86_400 / interval if interval > 0 else math.inf
    if steps <= BACKTEST_MAX_STEPS:
        return ""
    return (f"{days:g} days at interval {interval:g} s are {steps:,.0f} check steps per query; a backtest asks at "
            f"most {BACKTEST_MAX_STEPS:,} (60 days at 1 minute): fewer days or a longer interval")


@dataclass(frozen=True)
class BacktestPolicy:
    """spec.gates.backtest: replay the gates on `days` of history before the first change."""

    days: int
    max_false_rollback_rate: float
    on_exceed: str  # Block | Warn


@dataclass(frozen=True)
class Gates:
    prometheus_url: str
    timeout: float
    bearer_token_secret: tuple[str, str] | None
    ca_secret: tuple[str, str] | None
    insecure_skip_verify: bool
    interval: float
    observation_window: float
    baseline_window: float
    compare_with_last_week: bool
    inconclusive_limit: int
    on_inconclusive: str
    metrics: tuple[GateMetric, ...]
    cloudwatch: CloudWatchSource | None = None  # the provider: CloudWatch when set, else Prometheus
    backtest: BacktestPolicy | None = None


@dataclass(frozen=True)
class PlanSpec:
    target: str  # the target's name
    dry_run: bool
    suspend: bool
    approve_irreversible: bool
    rollback_on_delete: bool
    rollback_scope: str
    apply_timeout: float
    gates: Gates
    phases: tuple[Phase, ...]
    target_api_version: str = TAPPLATFORM[0]
    target_kind: str = TAPPLATFORM[1]

    @property
    def target_ref(self) -> TargetRef:
        return TargetRef(self.target_api_version, self.target_kind, self.target)


def spec_errors(spec: Any) -> list[FieldError]:
    """Every reason to refuse this spec, each naming its field; empty when it can run."""
    schema = plan_schema()["properties"]["spec"]
    defaulted = apply_defaults(schema, spec)
    errors = validate(schema, defaulted, root="spec")
    if errors:
        return errors
    provider = _cloudwatch_errors(defaulted) if gates_on_cloudwatch(defaulted["gates"]) else []
    durations = _duration_errors(defaulted)
    backtest = _backtest_errors(defaulted["gates"]) if not durations else []
    return provider + durations + backtest + _size_errors(defaulted) + _change_errors(defaulted)


def _backtest_errors(gates: dict[str, Any]) -> list[FieldError]:
    """spec.gates.backtest must ask a bounded history and replay queries a range query can."""
    if "backtest" not in gates:
        return []
    too_many = backtest_steps_error(gates["backtest"]["days"], seconds(gates["interval"]))
    return [FieldError("spec.gates.backtest.days", too_many)] if too_many else range_pinned(gates)


ADOPTION_FIELDS = ("managementMode", "externalNames")  # parameters of adoption, never of a plan
PROBE_PHASE = {"name": "probe", "changes": [{"op": "replace", "path": "/spec/parameters/compute/minSize", "value": 1}]}


def gates_errors(gates: Any) -> list[FieldError]:
    """Every reason to refuse `gates` as a plan's spec.gates, each naming its field: spec_errors of a
    plan with these gates and one harmless change, those under spec.gates (analyze checks --gates
    with it before it reads AWS)."""
    probe = {"targetRef": {"name": "probe"}, "gates": gates, "phases": [PROBE_PHASE]}
    return [e for e in spec_errors(probe) if e.path.startswith("spec.gates")]


def parse_gates(gates: dict[str, Any]) -> Gates:
    """A plan's spec.gates as objects, defaults applied; call only when gates_errors(gates) is empty."""
    return parse({"targetRef": {"name": "probe"}, "gates": gates, "phases": [PROBE_PHASE]}).gates


def gates_on_cloudwatch(gates: dict[str, Any]) -> bool:
    """Whether a plan's gates are CloudWatch queries (spec.gates.cloudwatch, or any metric's cloudwatch
    block); the endpoint it names must then be a CloudWatch one (gates/endpoints.py checks)."""
    return "cloudwatch" in gates or any(isinstance(m, dict) and "cloudwatch" in m for m in gates.get("metrics", []))


CLOUDWATCH_SHORT_PERIODS = (1, 5, 10, 30)  # high-resolution periods; longer ones are multiples of 60 s
PROMETHEUS_ONLY = ("url", "bearerTokenSecretRef", "caSecretRef", "insecureSkipVerify")


def _cloudwatch_errors(spec: dict[str, Any]) -> list[FieldError]:
    """A plan gates on one provider: with CloudWatch queries every metric is CloudWatch queries."""
    gates = spec["gates"]
    errors = [FieldError(f"spec.gates.prometheus.{key}", "a plan gates on one provider: this one's metrics are "
                                                         "CloudWatch queries; remove the Prometheus settings")
              for key in PROMETHEUS_ONLY if key in gates["prometheus"]]
    if "backtest" in gates:
        errors.append(FieldError("spec.gates.backtest", "replays Prometheus history; this plan's metrics are "
                                                        "CloudWatch queries"))
    settings = gates.get("cloudwatch") or {}
    period_text = settings.get("period", "60s")
    period = seconds(period_text)
    if not valid_period(period):
        errors.append(FieldError("spec.gates.cloudwatch.period", f"{period_text} is no CloudWatch period: 1s, 5s, "
                                                                 "10s, 30s or a multiple of 60s"))
    elif seconds(gates["baselineWindow"]) < period:
        errors.append(FieldError("spec.gates.baselineWindow", "must be at least spec.gates.cloudwatch.period"))
    for i, metric in enumerate(gates["metrics"]):
        errors += _cloudwatch_metric_errors(metric, f"spec.gates.metrics[{i}]")
    return errors


def _cloudwatch_metric_errors(metric: dict[str, Any], where: str) -> list[FieldError]:
    if "query" in metric:
        return [FieldError(join(where, "query"), "PromQL, but this plan's metrics are CloudWatch queries: state "
                                                 "every metric as cloudwatch queries")]
    if "volumeQuery" in metric:
        return [FieldError(join(where, "volumeQuery"), "PromQL, but this plan's metrics are CloudWatch queries: "
                                                       "name the traffic's queries in cloudwatch.volume")]
    queries = metric["cloudwatch"]["queries"]
    ids = [q["id"] for q in queries]
    errors = [FieldError(join(where, "cloudwatch.queries"), f"the id {i!r} is used twice")
              for i in sorted({i for i in ids if ids.count(i) > 1})]
    volume = metric["cloudwatch"].get("volume", [])
    errors += [FieldError(f"{where}.cloudwatch.volume[{n}]", f"{v!r} names no query; the ids are {', '.join(ids)}")
               for n, v in enumerate(volume) if v not in ids]
    if not [q for q in queries if q["returnData"] and q["id"] not in volume]:
        errors.append(FieldError(join(where, "cloudwatch.queries"), "no query returns a series: at least one that "
                                                                    "is not a volume query needs returnData"))
    return errors


def valid_period(period: float) -> bool:
    """A period CloudWatch takes: 1, 5, 10, 30 seconds (high resolution) or a multiple of 60."""
    return period in CLOUDWATCH_SHORT_PERIODS or (period >= 60 and period % 60 == 0)


def _duration_errors(spec: dict[str, Any]) -> list[FieldError]:
    """A window holds at least MIN_WINDOW_CHECKS checks (one instant check is no evidence of a
    window) and at most MAX_WINDOW_CHECKS (each is kept in status); no duration is zero."""
    gates = spec["gates"]
    interval, window = seconds(gates["interval"]), seconds(gates["observationWindow"])
    if interval <= 0:
        return [FieldError("spec.gates.interval", "must be longer than 0")]
    too_long = [FieldError(field, f"must be at most {MAX_DURATION_DAYS} days") for field, value in (
        ("spec.gates.interval", gates["interval"]), ("spec.gates.observationWindow", gates["observationWindow"]),
        ("spec.gates.baselineWindow", gates["baselineWindow"]), ("spec.applyTimeout", spec["applyTimeout"]))
        if seconds(value) > MAX_DURATION_DAYS * 86400]
    if too_long:
        return too_long
    if window < interval * MIN_WINDOW_CHECKS:
        return [FieldError("spec.gates.interval", f"observationWindow must hold at least {MIN_WINDOW_CHECKS} checks: "
                                                  f"at most observationWindow / {MIN_WINDOW_CHECKS}")]
    if window > interval * MAX_WINDOW_CHECKS:
        return [FieldError("spec.gates.interval", f"observationWindow / interval is {window / interval:.0f} checks; at "
                                                  f"most {MAX_WINDOW_CHECKS} (lengthen the interval)")]
    return [FieldError(f"spec.gates.{name}", "must be longer than 0") for name in ("baselineWindow",)
            if seconds(gates[name]) <= 0]


def _size_errors(spec: dict[str, Any]) -> list[FieldError]:
    """The status records every change with its previous value: the plan's changes must fit its budget."""
    size = len(json.dumps([phase["changes"] for phase in spec["phases"]], separators=(",", ":")))
    if size <= MAX_CHANGES_BYTES:
        return []
    return [FieldError("spec.phases", f"the changes take {size} bytes as JSON; at most {MAX_CHANGES_BYTES} (split the "
                                      "plan into several plans)")]


def _change_errors(spec: dict[str, Any]) -> list[FieldError]:
    """Every change must be one the target's kind takes (a TapPlatform's parameters, checked against
    its XRD; another kind's paths, by its adapter: values and immutable fields are checked against
    the kind's CRD when the plan runs)."""
    ref = spec["targetRef"]
    kind = kinds.of(ref["apiVersion"], ref["kind"])
    if kind is None:
        listed = "; ".join(" ".join(k) for k in kinds.supported())
        return [FieldError("spec.targetRef.kind", f"{ref['apiVersion']} {ref['kind']} is not a kind a plan may "
                                                  f"target; supported: {listed}")]
    errors = []
    for p, phase in enumerate(spec["phases"]):
        for c, change in enumerate(phase["changes"]):
            where = f"spec.phases[{p}].changes[{c}]"
            errors += change_errors(change, where) if isinstance(kind, kinds.TapPlatformKind) else \
                [FieldError(join(where, "path"), problem) for problem in kind.path_problems(change["path"])]
        errors += _nested_paths(phase["changes"], f"spec.phases[{p}].changes")
    return errors


def _nested_paths(changes: list[dict[str, Any]], where: str) -> list[FieldError]:
    """Within a phase no path may lie inside another: the two would record and restore each other."""
    paths = [change["path"] for change in changes]
    return [FieldError(f"{where}[{i}].path", f"{inner} lies inside {outer}, which the same phase also changes; "
                                            "change the whole or its parts, not both")
            for i, inner in enumerate(paths) for outer in paths if inner.startswith((outer + "/", outer + "["))]


def change_errors(change: dict[str, Any], where: str) -> list[FieldError]:
    """A change must name a declared parameter, outside any list and the adoption fields, with a
    value its schema takes."""
    try:
        node, removable = parameter_schema_at(change["path"])
    except pointer.PointerError as error:
        return [FieldError(join(where, "path"), error.message)]
    if pointer.tokens(change["path"])[0] in ADOPTION_FIELDS:
        return [FieldError(join(where, "path"), f"{change['path']} says which AWS resources the platform is and "
                                                "whether Crossplane may change them, which no plan changes: set it by "
                                                "hand (managementMode Full once `tap-optimizer import --check` lists "
                                                "no difference)")]
    if change["op"] == "remove" and not removable:
        return [FieldError(join(where, "path"), "only entries of a map (such as one GSI) can be removed; "
                                                "replace other parameters with a new value")]
    if change["op"] == "remove":
        return []
    return validate(node, change["value"], root=join(where, "value"))


def parse(spec: dict[str, Any]) -> PlanSpec:
    """The spec as objects; call only when spec_errors(spec) is empty."""
    spec = apply_defaults(plan_schema()["properties"]["spec"], spec)
    return PlanSpec(
        target=spec["targetRef"]["name"],
        target_api_version=spec["targetRef"]["apiVersion"],
        target_kind=spec["targetRef"]["kind"],
        dry_run=spec["dryRun"],
        suspend=spec["suspend"],
        approve_irreversible=spec["approveIrreversible"],
        rollback_on_delete=spec["rollbackOnDelete"],
        rollback_scope=spec["rollbackScope"],
        apply_timeout=seconds(spec["applyTimeout"]),
        gates=_gates(spec["gates"]),
        phases=tuple(_phase(p) for p in spec["phases"]),
    )


def _phase(phase: dict[str, Any]) -> Phase:
    return Phase(
        name=phase["name"],
        requires_approval=phase["requiresApproval"],
        changes=tuple(
            Change(op=c["op"], path=c["path"], value=c.get("value", pointer.ABSENT) if c["op"] != "remove"
                   else pointer.ABSENT, reason=c.get("reason", ""),
                   projected_monthly_savings=float(c.get("projectedMonthlySavings", 0)))
            for c in phase["changes"]
        ),
    )


def _gates(gates: dict[str, Any]) -> Gates:
    prometheus, cloudwatch = gates["prometheus"], gates.get("cloudwatch") or {}
    token, ca = prometheus.get("bearerTokenSecretRef"), prometheus.get("caSecretRef")
    return Gates(
        prometheus_url=prometheus.get("url", "").rstrip("/"),  # gates/endpoints.py resolves it before a check
        timeout=seconds(prometheus.get("timeout", "10s")),
        bearer_token_secret=(token["name"], token["key"]) if token else None,
        ca_secret=(ca["name"], ca["key"]) if ca else None,
        insecure_skip_verify=prometheus.get("insecureSkipVerify", False),
        interval=seconds(gates["interval"]),
        observation_window=seconds(gates["observationWindow"]),
        baseline_window=seconds(gates["baselineWindow"]),
        compare_with_last_week=gates["compareWithLastWeek"],
        inconclusive_limit=gates["inconclusiveLimit"],
        on_inconclusive=gates["onInconclusive"],
        metrics=tuple(_gate_metric(m) for m in gates["metrics"]),
        cloudwatch=CloudWatchSource(cloudwatch.get("region", ""), int(seconds(cloudwatch.get("period", "60s"))))
        if gates_on_cloudwatch(gates) else None,
        backtest=BacktestPolicy(gates["backtest"]["days"], float(gates["backtest"]["maxFalseRollbackRate"]),
                                gates["backtest"]["onExceed"]) if "backtest" in gates else None,
    )


def _gate_metric(metric: dict[str, Any]) -> GateMetric:
    bounds = {"max": metric.get("max"), "min": metric.get("min"), "min_volume": metric.get("minVolume"),
              "max_increase_over_baseline": metric.get("maxIncreaseOverBaseline")}
    if "cloudwatch" not in metric:
        return GateMetric(name=metric["name"], query=metric["query"], volume_query=metric.get("volumeQuery"), **bounds)
    cloudwatch = CloudWatchMetric(tuple(_cloudwatch_query(q) for q in metric["cloudwatch"]["queries"]),
                                  tuple(metric["cloudwatch"].get("volume", ())))
    return GateMetric(name=metric["name"], query=cloudwatch.describe(cloudwatch.series_ids),
                      volume_query=cloudwatch.describe(cloudwatch.volume, others=False) if cloudwatch.volume else None,
                      cloudwatch=cloudwatch, **bounds)


def _cloudwatch_query(query: dict[str, Any]) -> CloudWatchQuery:
    stat = query.get("metricStat")
    return CloudWatchQuery(
        id=query["id"], label=query.get("label", query["id"]), expression=query.get("expression"),
        return_data=query["returnData"],
        metric_stat=MetricStat(stat["namespace"], stat["metricName"], tuple(sorted((stat.get("dimensions") or {})
                                                                                   .items())),
                               stat["stat"], stat.get("unit")) if stat else None)
