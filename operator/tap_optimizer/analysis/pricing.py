"""The price book: hourly and unit prices by region, with where they came from.

Savings are only as honest as their prices, so every projection names the price book's source
and date, and a region priced at the fallback region's rates is reported as such.
"""

from __future__ import annotations

import copy
import importlib.resources
from dataclasses import dataclass
from typing import Any

import yaml

Service = str  # "ec2" | "elasticache" | "rds"


class PriceMissingError(LookupError):
    """No price for this type in this region (nor in the fallback region)."""


@dataclass(frozen=True)
class PriceBook:
    table: dict[str, Any]

    @property
    def hours_per_month(self) -> float:
        return float(self.table["hoursPerMonth"])

    def provenance(self) -> dict[str, str]:
        return {"source": self.table["source"], "date": str(self.table["date"]), "currency": self.table["currency"]}

    def priced_at(self, region: str) -> str:
        """The region whose prices apply to `region`."""
        return region if region in self.table["regions"] else self.table["fallbackRegion"]

    def _region(self, region: str) -> dict[str, Any]:
        return self.table["regions"][self.priced_at(region)]

    def hourly(self, service: Service, type_name: str, region: str) -> float:
        """USD per hour of one instance or node of `type_name`."""
        try:
            return float(self._region(region)[service][type_name])
        except KeyError:
            raise PriceMissingError(f"no {service} price for {type_name} in {self.priced_at(region)}") from None

    def monthly(self, service: Service, type_name: str, region: str, count: float = 1) -> float:
        return self.hourly(service, type_name, region) * self.hours_per_month * count

    def dynamodb(self, region: str) -> dict[str, float]:
        return {k: float(v) for k, v in self._region(region)["dynamodb"].items()}

    def backup_gb_month(self, region: str) -> float:
        return float(self._region(region)["rdsBackupGbMonth"])

    def baseline_gbps(self, instance_type: str) -> float:
        try:
            return float(self.table["ec2BaselineGbps"][instance_type])
        except KeyError:
            raise PriceMissingError(f"no baseline bandwidth known for {instance_type}") from None

    def cache_memory_gib(self, node_type: str) -> float:
        try:
            return float(self.table["elasticacheMemoryGiB"][node_type])
        except KeyError:
            raise PriceMissingError(f"no memory size known for {node_type}") from None

    def with_prices(self, region: str, service: Service, prices: dict[str, float], source: str, date: str) -> PriceBook:
        """A copy with `prices` for `service` in `region` (from the Pricing API), provenance updated."""
        table = copy.deepcopy(self.table)
        regional = table["regions"].setdefault(region, copy.deepcopy(self._region(region)))
        regional.setdefault(service, {}).update(prices)
        table["source"], table["date"] = source, date
        return PriceBook(table)


def pinned() -> PriceBook:
    """The price book shipped with the package."""
    text = importlib.resources.files("tap_optimizer.analysis").joinpath("prices.yaml").read_text()
    return PriceBook(yaml.safe_load(text))
