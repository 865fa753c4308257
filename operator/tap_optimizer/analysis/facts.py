"""Instance facts: what one instance, DB instance or cache node of a type has (vCPUs, memory,
baseline network bandwidth, sustained clock, default max_connections).

The projections divide measured load by these numbers, so they come from AWS (the pinned
`facts.yaml` names its source and date; `scripts/refresh_instance_facts.py` rewrites it from the
AWS APIs), never from a table typed into a rule.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from typing import Any, Literal

import yaml

Kind = Literal["ec2", "rds", "elasticache"]


class FactMissingError(LookupError):
    """No facts for this type: it cannot be projected onto, so it is never recommended."""


@dataclass(frozen=True)
class InstanceFacts:
    """One type's hardware. `clock_ghz` is 0 where AWS publishes none (databases and caches are
    only compared within their family); `max_connections` is 0 where it does not apply."""

    name: str
    vcpus: int
    memory_gib: float
    baseline_gbps: float = 0.0
    clock_ghz: float = 0.0
    max_connections: int = 0

    @property
    def family(self) -> str:
        """`m5` of `m5.2xlarge`, `db.r6g` of `db.r6g.xlarge`."""
        return self.name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class FactBook:
    """The pinned facts by kind and type name, with their provenance."""

    source: str
    date: str
    types: dict[str, dict[str, InstanceFacts]]

    def get(self, kind: Kind, name: str) -> InstanceFacts:
        try:
            return self.types[kind][name]
        except KeyError:
            raise FactMissingError(f"no instance facts for {kind} type {name}") from None

    def smaller(self, kind: Kind, name: str, steps: int) -> list[InstanceFacts]:
        """Up to `steps` sizes of `name`'s family below it, largest first; only those that, like
        `name`, have a clock or have none (a missing clock counts 1 GHz: against a type with one,
        a candidate would look up to 3 times larger than it is, or smaller)."""
        current = self.get(kind, name)
        family = [f for f in self.types[kind].values() if f.family == current.family and f.vcpus < current.vcpus
                  and bool(f.clock_ghz) == bool(current.clock_ghz)]
        family.sort(key=lambda f: -f.vcpus)
        return family[:steps]

    def provenance(self) -> dict[str, str]:
        return {"source": self.source, "date": self.date}


def _facts(name: str, values: dict[str, Any]) -> InstanceFacts:
    return InstanceFacts(name=name, vcpus=int(values["vcpus"]), memory_gib=float(values["memoryGiB"]),
                         baseline_gbps=float(values.get("baselineGbps", 0.0)),
                         clock_ghz=float(values.get("clockGhz", 0.0)),
                         max_connections=int(values.get("maxConnections", 0)))


def load(data: dict[str, Any]) -> FactBook:
    """A FactBook from the parsed `facts.yaml` mapping."""
    kinds: tuple[Kind, ...] = ("ec2", "rds", "elasticache")
    return FactBook(str(data["source"]).strip(), str(data["date"]),
                    {kind: {n: _facts(n, v) for n, v in data[kind].items()} for kind in kinds})


def pinned() -> FactBook:
    """The facts shipped with the package."""
    text = importlib.resources.files("tap_optimizer.analysis").joinpath("facts.yaml").read_text()
    return load(yaml.safe_load(text))
