"""The README's prerequisites name what the composition and the analysis really need."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tap_optimizer.composition.render.platform import InvalidPlatformError, render_platform
from tests.support.helm import ROOT
from tests.support.platforms import example

README = (ROOT / "README.md").read_text()
PREREQUISITES = README[README.index("### Prerequisites"):README.index("### Helm")]


def test_every_provider_the_composition_renders_for_is_named():
    groups = {obj["apiVersion"].split("/")[0] for obj in render_platform(example("tap-prod")).values()}
    services = {group.removesuffix(".aws.m.upbound.io") for group in groups}
    named = set(re.findall(r"`provider-aws-([a-z0-9]+)`", PREREQUISITES))
    assert named == services


def test_the_function_package_constraint_is_the_one_shipped():
    meta = yaml.safe_load((ROOT / "package" / "crossplane.yaml").read_text())
    assert f'`crossplane.version: "{meta["spec"]["crossplane"]["version"]}"`' in PREREQUISITES


def test_the_name_limit_stated_is_the_one_the_composition_enforces():
    limit = int(re.search(r"TapPlatform names of at most (\d+) characters", PREREQUISITES).group(1))
    xr = example("tap-prod")
    xr["metadata"]["name"] = "t" * limit
    assert render_platform(xr)
    xr["metadata"]["name"] = "t" * (limit + 1)
    with pytest.raises(InvalidPlatformError, match=r"metadata\.name"):
        render_platform(xr)


def test_the_analysis_permissions_listed_are_the_policy_shipped():
    policy = json.loads((ROOT / "manifests" / "iam" / "analyze-policy.json").read_text())
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    section = README[README.index("## The analysis"):README.index("## What runs here")]
    assert set(re.findall(r"`([a-z]+:[A-Za-z]+)`", section)) == actions
