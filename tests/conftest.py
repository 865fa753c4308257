"""Fixtures shared across test levels: moto in server mode (extended where it falls short of AWS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tap_optimizer_local.moto_aws import Moto, moto_server
from tests.support.aws import point_aws_at


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    with moto_server() as server:
        yield server


@pytest.fixture
def aws_env(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> Moto:
    """A clean moto, and boto3 pointed at it."""
    moto.reset()
    point_aws_at(moto, monkeypatch)
    return moto
