"""The pinned instance facts against DescribeInstanceTypes, through the refresh script's own code.

moto (server mode) answers DescribeInstanceTypes from its bundled copy of AWS's answers, so this
checks the hand transcription of `analysis/facts.yaml` and the script's parsing; it is not a live
AWS call. moto answers no Aurora orderable options and no ElastiCache offerings, so those two
parts of the script are not exercised here.
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import yaml

from tap_optimizer_local.moto_aws import moto_server

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "refresh_instance_facts.py"


def refresh_script():
    spec = importlib.util.spec_from_file_location("refresh_instance_facts", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ec2():
    with moto_server() as moto:
        yield moto.session().client("ec2", region_name="us-east-1", endpoint_url=moto.url)


def test_pinned_ec2_facts_are_what_describe_instance_types_says(ec2):
    script = refresh_script()
    pinned = yaml.safe_load(script.FACTS.read_text())
    found = script.ec2_facts(ec2, sorted(pinned["ec2"]))
    assert found == {name: {k: pytest.approx(v) for k, v in facts.items()} for name, facts in pinned["ec2"].items()}


def test_pinned_database_and_cache_hardware_is_their_ec2_types(ec2):
    script = refresh_script()
    pinned = yaml.safe_load(script.FACTS.read_text())
    hardware = script.ec2_facts(ec2, [n.removeprefix("db.") for n in pinned["rds"]])
    for name, facts in pinned["rds"].items():
        assert (facts["vcpus"], facts["memoryGiB"]) == (hardware[name.removeprefix("db.")]["vcpus"],
                                                        hardware[name.removeprefix("db.")]["memoryGiB"]), name
    vcpus = script.ec2_facts(ec2, [n.removeprefix("cache.") for n in pinned["elasticache"]])
    assert {n: f["vcpus"] for n, f in pinned["elasticache"].items()} == {
        n: vcpus[n.removeprefix("cache.")]["vcpus"] for n in pinned["elasticache"]}
