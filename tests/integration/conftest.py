"""Fixtures shared by the integration tests: the synthetic service and the real Prometheus
scraping it, started once per test module (a module that stops Prometheus affects only itself)."""

from __future__ import annotations

import pytest

from tap_optimizer_local.prometheus import PrometheusServer
from tap_optimizer_local.synthetic_service import SyntheticService


@pytest.fixture(scope="module")
def service():
    with SyntheticService() as running:
        yield running


@pytest.fixture(scope="module")
def prometheus(service):
    with PrometheusServer([f"127.0.0.1:{service.port}"]) as server:
        yield server
