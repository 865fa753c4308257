"""Literal inventories and measurements for the pure analysis rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from tap_optimizer.analysis.config import AnalysisConfig, load_config
from tap_optimizer.analysis.inventory import Cache, Cluster, Fleet, Inventory, Table, Tenanted
from tap_optimizer.analysis.pricing import pinned
from tap_optimizer.analysis.queries import Measurements, Window
from tap_optimizer.analysis.rules.common import Context, Outcome
from tap_optimizer.composition.render.platform import platform_of
from tap_optimizer.platform.parameters import REFERENCE_PLATFORM

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
WINDOW = Window.ending(NOW, 60)
REGION = "us-east-1"


def parameters() -> dict[str, Any]:
    return platform_of(yaml.safe_load(REFERENCE_PLATFORM.read_text())).params


def table(key: str = "users", **overrides: Any) -> Table:
    fields = {"key": key, "name": f"tap-prod-{key}", "region": REGION,
              "arn": f"arn:aws:dynamodb:{REGION}:1:table/tap-prod-{key}",
              "indexes": {"ByRole": 2_000_000_000, "ByEmail": None},
              "stream_arn": f"arn:aws:dynamodb:{REGION}:1:table/tap-prod-{key}/stream/1", "stream_label": "1"}
    return Table(**{**fields, **overrides})


FLEET = Fleet("tap-prod-compute-asg", REGION, "arn:asg", "m5.4xlarge", 12, 15, 25)
CACHE = Cache("tap-prod-cache", REGION, "arn:cache", "cache.r6g.4xlarge", 4, 2, ("n1", "n2"))
PRIMARY = Cluster("tap-prod-database-cluster", REGION, "arn:aurora", True, 30)
SECONDARIES = (Cluster("west", "us-west-2", "arn:west", False), Cluster("eu", "eu-west-1", "arn:eu", False))


def inventory(**overrides: Any) -> Inventory:
    fields = {"platform": "tap-prod", "namespace": "tap", "region": REGION, "parameters": parameters(),
              "tables": (table(),), "fleets": (FLEET,), "caches": (CACHE,), "clusters": (PRIMARY, *SECONDARIES)}
    return Inventory(**{**fields, **overrides})


def daily(value: float | None) -> list[float | None]:
    return [value] * len(WINDOW.slots())


def hourly(value: float | None) -> list[float | None]:
    """A flat 60-day hourly profile: every hour at `value`."""
    return [value] * len(WINDOW.hours())


def context(summaries: dict[tuple[str, str], float | None] | None = None,
            series: dict[tuple[str, str], list[float | None]] | None = None,
            config: dict[str, Any] | None = None, profiles: dict[tuple[str, str], list[float | None]] | None = None,
            **inventory_overrides: Any) -> Context:
    cfg: AnalysisConfig = load_config(config)
    measurements = Measurements(WINDOW, summaries or {}, series or {}, profiles or {})
    return Context(inventory(**inventory_overrides), measurements, cfg, pinned())


def one(outcomes: list[Outcome]) -> Outcome:
    """The single outcome a rule gave for one resource."""
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


@pytest.fixture
def tenanted() -> Tenanted:
    return Tenanted(table().arn, REGION, "acme")
