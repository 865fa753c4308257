"""Pointing boto3 at the moto server, as the operator and `tap-optimizer analyze` read their AWS
configuration: plain environment variables (a process started afterwards inherits them)."""

from __future__ import annotations

import pytest

from tap_optimizer_local.moto_aws import Moto


def point_aws_at(moto: Moto, monkeypatch: pytest.MonkeyPatch, region: str = "us-east-1") -> None:
    for name, value in {"AWS_ENDPOINT_URL": moto.url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": region,
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
