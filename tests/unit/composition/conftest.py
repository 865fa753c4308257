"""Fixtures for the renderers: a platform with the reference defaults, and schema checks."""

from __future__ import annotations

import pytest

from tap_optimizer.composition.render.common import Platform
from tap_optimizer.platform.parameters import defaulted_parameters
from tests.support.crds import object_errors


def make_platform(name: str = "tap-prod", **parameters) -> Platform:
    """A Platform with the XRD's defaults filled in under the given parameters."""
    return Platform(name=name, params=defaulted_parameters(parameters))


@pytest.fixture
def platform() -> Platform:
    return make_platform()


def assert_valid(resources: dict) -> None:
    """Every rendered object is accepted by its real upstream CRD schema."""
    problems = {key: object_errors(obj) for key, obj in resources.items()}
    assert {k: v for k, v in problems.items() if v} == {}
