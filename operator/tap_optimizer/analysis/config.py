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
    cacheMaxProjectedMemory: float = 75.0    # percent of the smaller cache's memory the data would use
    consolidationMaxDailyRequests: float = 1_000


@dataclass(frozen=True)
class Targets:
    """What a rule that fires changes the platform to."""

    instanceType: str = "m5.2xlarge"
    minSize: int = 6
    desiredCapacity: int = 8
    maxSize: int = 15
    cacheNodeType: str = "cache.r6g.xlarge"
    cacheShards: int = 2
    cacheReplicasPerShard: int = 1
    writerInstanceClass: str = "db.r6g.xlarge"
    readerCount: int = 1


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


def load_config(data: dict[str, Any] | None) -> AnalysisConfig:
    """An AnalysisConfig from a parsed YAML mapping ({} or None gives the defaults)."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError("config: expected a mapping with thresholds, targets and policy")
    unknown = set(data) - {"thresholds", "targets", "policy"}
    if unknown:
        raise ConfigError(f"config: unknown key {sorted(unknown)[0]!r}; allowed: thresholds, targets, policy")
    return AnalysisConfig(**{name: _section(name, cls, data.get(name) or {})
                             for name, cls in (("thresholds", Thresholds), ("targets", Targets), ("policy", Policy))})


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
