"""The IAM policy shipped for `tap-optimizer analyze` (manifests/iam/analyze-policy.json) grants
exactly the AWS calls the analysis makes: every call recorded while it runs against moto is
allowed, and every action the policy allows was called (least privilege, checked both ways)."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest
import yaml

from tap_optimizer import cli
from tap_optimizer_local.aws_platform import NOW, PlatformBuilder, Scenario
from tap_optimizer_local.moto_aws import Moto
from tests.support.helm import ROOT

POLICY = ROOT / "manifests" / "iam" / "analyze-policy.json"
# botocore's service names whose IAM action prefix differs.
IAM_PREFIX = {"resourcegroupstaggingapi": "tag"}


@pytest.fixture
def calls(aws_env: Moto, monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Every AWS call made through botocore, as the IAM action it needs. moto has no Pricing API:
    its calls are recorded and answered "no price found" (the pinned prices stay)."""
    made: set[str] = set()
    send = botocore.client.BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        made.add(f"{IAM_PREFIX.get(service, service)}:{operation}")
        return {"PriceList": []} if service == "pricing" else send(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    yield made


def analysed(moto: Moto, tmp_path: pathlib.Path, calls: set[str], scenario: Scenario, *flags: str) -> set[str]:
    """The calls one analysis makes (seeding the scenario's AWS resources is not recorded)."""
    (tmp_path / "xr.yaml").write_text(yaml.safe_dump(PlatformBuilder(moto, scenario).build()))
    calls.clear()
    assert cli.main(["analyze", "--platform", str(tmp_path / "xr.yaml"), "--out", str(tmp_path / "plan.yaml"),
                     "--format", "none", "--now", NOW.isoformat(), *flags]) == 0
    return set(calls)


def allowed() -> set[str]:
    statements = json.loads(POLICY.read_text())["Statement"]
    assert all(s["Effect"] == "Allow" and s["Resource"] == "*" for s in statements)
    return {action for s in statements for action in s["Action"]}


def test_the_policy_allows_exactly_the_calls_the_analysis_makes(aws_env, tmp_path, calls):
    made = analysed(aws_env, tmp_path, calls, Scenario(), "--refresh-prices")
    aws_env.reset()
    made |= analysed(aws_env, tmp_path, calls, Scenario(kinesis_streams={"users"}, lambda_streams=set()))
    assert made - allowed() == set(), "calls the policy does not allow: analyze would be refused"
    assert allowed() - made == set(), "actions the policy allows that analyze never calls: not least privilege"
