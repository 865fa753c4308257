"""What the rules compare against, and what the user allows.

Defaults are the reference optimizer's thresholds and targets. A YAML file given to `analyze
--config` overrides any of them; an unknown key or a wrong type is refused naming the key,
because a typo in a threshold would otherwise silently fall back to the default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Thresholds:
    """Below these, a resource counts as over-provisioned."""

    gsiMaxWeeklyReads: float = 50           # reads per week, in every week of the window
    computeMaxCpuP95: float = 40.0          # percent
    computeMaxNetworkP95: float = 30.0      # percent of the instance type's baseline bandwidth
    cacheMaxCpuP95: float = 30.0            # percent (EngineCPUUtilization)
    cacheMaxMemoryP95: float = 50.0         # percent (DatabaseMemoryUsagePercentage)
    cacheMaxCommandsPerSecond: float = 10_000
    writerMaxCpuP95: float = 40.0           # percent
    readerMaxReplicaLagMs: float = 100.0    # p95 of AuroraReplicaLagMaximum
    readerMaxReadShare: float = 0.20        # reads / (reads + writes) of IOPS
    secondaryMaxReadsPerSecond: float = 0.0  # a secondary serving any read is kept
    consolidationMaxDailyRequests: float = 1_000


# each target and the TapPlatform field it becomes
TARGET_FIELDS = {"cacheShards": ("cache", "shards"), "cacheReplicasPerShard": ("cache", "replicasPerShard"),
                 "readerCount": ("database", "readerCount")}


@dataclass(frozen=True)
class Targets:
    """Counts a rule that fires changes the platform to (types and fleet sizes are chosen by
    projecting the load onto candidates: see Sizing)."""

    cacheShards: int = 2
    cacheReplicasPerShard: int = 1
    readerCount: int = 1

    def __post_init__(self) -> None:
        """Each count within what the TapPlatform takes for it (a plan changing it to anything else
        would be refused; 0 shards divided the cache's load by zero)."""
        from tap_optimizer.platform.parameters import parameters_schema  # noqa: PLC0415 (the XRD, once)

        fields = parameters_schema()["properties"]
        for name, (section, field_name) in TARGET_FIELDS.items():
            bounds = fields[section]["properties"][field_name]
            value = getattr(self, name)
            if not bounds["minimum"] <= value <= bounds["maximum"]:
                raise ConfigError(f"config.targets.{name}: must be {bounds['minimum']} to {bounds['maximum']} "
                                  f"(the TapPlatform's {section}.{field_name}), got {value!r}")


@dataclass(frozen=True)
class Sizing:
    """How candidate types are judged: `analysis/projection.py` and `analysis/fleet_sizing.py`."""

    headroomPercent: float = 25.0   # projected p95 and peak must stay at or under 100 minus this
    maxRisk: int = 2                # the highest risk (0 very low .. 4 very high) a planned option may have
    candidateSizes: int = 3         # sizes of the current type's family below it that are considered
    fleetCandidateSizes: int = 1    # the same for a fleet: under autoscaling a smaller type saves only its
    #                                 granularity (a few %) and costs more instances (connections, agents)
    minFleetSize: int = 2           # the fewest instances a fleet is sized to

    def __post_init__(self) -> None:
        if not 0 <= self.headroomPercent < 100:
            raise ConfigError(f"config.sizing.headroomPercent: must be 0 to 99.9, got {self.headroomPercent!r}")
        if not 0 <= self.maxRisk <= 3:
            raise ConfigError(f"config.sizing.maxRisk: must be 0 to 3 (4 never fits), got {self.maxRisk!r}")
        for name in ("candidateSizes", "fleetCandidateSizes", "minFleetSize"):
            if getattr(self, name) < 1:
                raise ConfigError(f"config.sizing.{name}: must be >= 1, got {getattr(self, name)!r}")

    @property
    def limit(self) -> float:
        """Percent of a candidate's capacity the projected load may use."""
        return 100.0 - self.headroomPercent


@dataclass(frozen=True)
class Policy:
    """Changes that are never proposed unless the user opts in."""

    allowSecondaryRegionRemoval: bool = False
    backupRetentionDays: int | None = None  # propose this retention only when set


@dataclass(frozen=True)
class AnalysisConfig:
    thresholds: Thresholds = field(default_factory=Thresholds)
    targets: Targets = field(default_factory=Targets)
    policy: Policy = field(default_factory=Policy)
    sizing: Sizing = field(default_factory=Sizing)


SECTIONS: tuple[tuple[str, type], ...] = (("thresholds", Thresholds), ("targets", Targets), ("policy", Policy),
                                          ("sizing", Sizing))


def load_config(data: dict[str, Any] | None) -> AnalysisConfig:
    """An AnalysisConfig from a parsed YAML mapping ({} or None gives the defaults)."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError("config: expected a mapping with thresholds, targets, policy and sizing")
    unknown = set(data) - {name for name, _ in SECTIONS}
    if unknown:
        raise ConfigError(f"config: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(n for n, _ in SECTIONS)}")
    return AnalysisConfig(**{name: _section(name, cls, data.get(name) or {}) for name, cls in SECTIONS})


def _section(name: str, cls: type, values: Any) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"config.{name}: expected a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"config.{name}.{key}: unknown; allowed: {', '.join(sorted(fields))}")
        _check_type(f"config.{name}.{key}", fields[key].default, value)
    return cls(**values)


def _check_type(where: str, default: Any, value: Any) -> None:
    """The value must have the default's type (ints are fine for floats); None only where allowed."""
    if default is None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{where}: expected a whole number of days >= 1 or null, got {value!r}")
        return
    expected: tuple[type, ...] = (int, float) if isinstance(default, float) else (type(default),)
    if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, expected):
        raise ConfigError(f"{where}: expected {type(default).__name__}, got {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ConfigError(f"{where}: must be >= 0, got {value!r}")
