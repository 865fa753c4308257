"""/dashboard with Kubernetes authentication, against the local API server's TokenReview and
SubjectAccessReview: no token or a refused one is 401, a viewer sees only the namespaces it may
list plans in (403 for none), the cost figures only with a cluster-wide grant; the dashboard off
serves /metrics alone."""

from __future__ import annotations

import copy
import json
import pathlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from tap_optimizer.dashboard.html import NO_ANALYSIS
from tap_optimizer.metrics import OperatorMetrics
from tap_optimizer.webauth import KubernetesAuth
from tap_optimizer.webserver import application
from tap_optimizer_local.cluster import Cluster
from tests.support import dashboard_samples

LIST = ("list", "optimization.tap.io", "optimizationplans")


@pytest.fixture(scope="module")
def cluster():
    with Cluster() as running:
        server = running.server
        server.users.update({"token-a": ("alice", ["team-a"]), "token-admin": ("root", ["platform"]),
                             "token-none": ("nobody", ["outsiders"])})
        server.grants |= {("team-a", *LIST, "team-a"), ("platform", *LIST, "")}
        yield running


def plan_in(namespace: str, name: str) -> dict:
    plan = copy.deepcopy(dashboard_samples.succeeded_plan())
    plan["metadata"].update(namespace=namespace, name=name)
    return plan


@pytest_asyncio.fixture
async def served(cluster, tmp_path: pathlib.Path) -> AsyncIterator[str]:
    metrics = OperatorMetrics()
    metrics.plan_seen("team-a/alpha-plan", plan_in("team-a", "alpha-plan"))
    metrics.plan_seen("team-b/bravo-plan", plan_in("team-b", "bravo-plan"))
    analysis = tmp_path / "analysis.json"
    analysis.write_text(json.dumps(dashboard_samples.analysis()))
    app = application(metrics, analysis, "kubernetes", KubernetesAuth(cluster.api))
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


async def view(url: str, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with ClientSession() as http, http.get(f"{url}/dashboard", headers=headers) as response:
        return response.status, await response.text()


async def test_a_viewer_needs_a_token_the_api_server_accepts(served):
    assert (await view(served, None))[0] == 401
    assert (await view(served, "forged"))[0] == 401
    assert (await view(served, "token-none"))[0] == 403


async def test_a_viewer_sees_only_the_namespaces_it_may_list_plans_in_and_no_costs(served):
    status, page = await view(served, "token-a")
    assert status == 200
    assert "alpha-plan" in page and "bravo-plan" not in page
    assert NO_ANALYSIS in page, "the analysis (Cost Explorer figures) is for cluster-wide viewers"


async def test_a_cluster_wide_viewer_sees_every_plan_and_the_costs(served):
    status, page = await view(served, "token-admin")
    assert status == 200 and "alpha-plan" in page and "bravo-plan" in page
    assert NO_ANALYSIS not in page


async def test_with_the_dashboard_off_only_metrics_are_served(tmp_path):
    async with TestServer(application(OperatorMetrics(), None, "off"), host="127.0.0.1") as server, \
            ClientSession() as http:
        url = str(server.make_url("")).rstrip("/")
        async with http.get(f"{url}/dashboard") as response:
            assert response.status == 404
        async with http.get(f"{url}/metrics") as response:
            assert response.status == 200
