"""The analysis JSON document: what `analyze` writes and the dashboard reads.

It is a contract between two programs that may run months apart (the analysis is committed to
git next to the plan), so it is plain JSON with a version and every number carries its unit in
its name or in a `unit` field. Optional parts are absent, never faked: a run without Cost
Explorer access has no `costs`, and the dashboard says so.
"""


from typing import Any, Literal, NotRequired, TypedDict

VERSION = 1

Risk = Literal["low", "medium", "high"]
# The reference's three phases in its order, with the cache's shard count split out of compute:
# ElastiCache changes node type and shard count in separate steps, so each gets its own gate.
Phase = Literal["dynamodb", "compute", "cache-topology", "database"]
PHASES: tuple[Phase, ...] = ("dynamodb", "compute", "cache-topology", "database")


class Change(TypedDict):
    """One JSON-patch operation on the TapPlatform, as an OptimizationPlan change."""

    op: Literal["add", "replace", "remove"]
    path: str
    value: NotRequired[Any]


class ProjectedUtilization(TypedDict):
    """One dimension of load projected onto a candidate, in percent of its capacity."""

    dimension: str                  # "CPU", "memory", "connections", "network", "CPU at maxSize"
    p95Percent: float
    peakPercent: float
    limitPercent: float             # 100 minus the configured headroom


class SizingOption(TypedDict):
    """A candidate type of a sizing rule (projection.py, options.py), ranked."""

    target: str                     # the candidate type, e.g. "m5.2xlarge"
    monthlyCost: float              # USD per month it would cost (a fleet: expected instance-hours)
    monthlySavings: float           # USD per month against what runs now (negative: costs more)
    riskScore: int                  # 0 very low .. 4 very high (does not fit)
    risk: str
    fits: bool
    projected: list[ProjectedUtilization]
    minSize: NotRequired[int]               # a fleet: the bounds its target-tracking policy would need
    desiredCapacity: NotRequired[int]
    maxSize: NotRequired[int]
    expectedInstances: NotRequired[float]   # a fleet: mean instances over the hours (what it costs)
    targetCpuPercent: NotRequired[float]
    heldCpuP95Percent: NotRequired[float]   # a fleet: its own CPU at the sizes held (at most the target)
    heldCpuPeakPercent: NotRequired[float]
    shards: NotRequired[int]                # a cache: the topology it was judged on
    replicasPerShard: NotRequired[int]


class Recommendation(TypedDict):
    """A rule that fired: the changes it proposes and why."""

    rule: str                       # e.g. "unused-gsi"
    phase: Phase
    resource: str                   # a human name, e.g. "dynamodb table users / index ByRole"
    region: str
    changes: list[Change]
    reason: str                     # one sentence with the measured numbers
    evidence: dict[str, Any]        # named measurements, e.g. {"maxWeeklyReads": 3, "weeks": 8}
    risk: Risk
    irreversible: bool
    projectedMonthlySavings: float  # USD per month, 2 decimals
    riskScore: NotRequired[int]     # sizing rules: the planned option's 0-4 risk
    options: NotRequired[list[SizingOption]]  # sizing rules: up to three, the planned one first


class Finding(TypedDict):
    """A rule that looked and did not fire, or a report-only observation: kept for the record."""

    rule: str
    resource: str
    region: str
    reason: str
    evidence: dict[str, Any]
    options: NotRequired[list[SizingOption]]  # sizing rules: the candidates judged, none planned


class Exclusion(TypedDict):
    """A resource the optimizer never touches, and why (a TenantId tag)."""

    resource: str                   # ARN
    region: str
    tenantId: str
    reason: str


class UtilizationSeries(TypedDict):
    """One resource's metric per day over the window, for the heatmap (null = no datapoint)."""

    resource: str
    region: str
    metric: str                     # e.g. "CPUUtilization p95"
    unit: str
    days: list[str]                 # ISO dates
    values: list[float | None]


class CostBreakdown(TypedDict):
    """Cost Explorer's unblended cost over the window, by service."""

    start: str
    end: str
    currency: str
    byService: dict[str, float]
    total: float


class RealizedSavings(TypedDict):
    """Cost Explorer's cost for the same number of days before and after a phase was applied."""

    plan: str
    phase: str
    appliedAt: str
    days: int
    costBefore: float
    costAfter: float
    monthlySavings: float


class Pricing(TypedDict):
    """Where the prices came from, so a reader can judge the projections."""

    source: str
    date: str
    currency: str
    pricedAt: NotRequired[dict[str, str]]  # region -> the region whose prices were used


class Analysis(TypedDict):
    """The whole document."""

    version: int
    generatedAt: str
    platform: dict[str, Any]        # {"name", "namespace", "regions": [...]}
    window: dict[str, Any]          # {"start", "end", "days", "periodSeconds"}
    pricing: Pricing
    instanceFacts: NotRequired[dict[str, str]]  # {"source", "date"} of the vCPUs, memory, bandwidth projected onto
    recommendations: list[Recommendation]
    findings: list[Finding]
    excluded: list[Exclusion]
    utilization: list[UtilizationSeries]
    costs: NotRequired[CostBreakdown]
    realized: NotRequired[list[RealizedSavings]]
    ack: NotRequired[dict[str, Any]]  # `analyze --ack`: objects skipped, recommendations not written, plans
    apiCalls: dict[str, int]        # AWS API calls made by the run, by operation


def problem(doc: Any) -> str | None:
    """Why a parsed JSON value is not an analysis document this code can read, or None."""
    version = doc.get("version") if isinstance(doc, dict) else None
    if version != VERSION:
        return f"field version must be {VERSION}, got {version!r}"
    missing = sorted(Analysis.__required_keys__ - doc.keys())
    return f"missing fields {', '.join(missing)}" if missing else None
