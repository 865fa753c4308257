"""`tap-optimizer analyze --ack` against moto in server mode: tap-prod seeded in AWS (8 days of
hourly metrics, the least the weekly GSI rule judges), its ACK objects from a YAML file checked
against the ACK CRDs in ../shared/schemas/ack/."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import yaml

from tap_optimizer import cli
from tap_optimizer.openapi import validate
from tap_optimizer_local.aws_platform import ASG, NOW, PlatformBuilder, Scenario
from tap_optimizer_local.moto_aws import Moto

SCHEMAS = pathlib.Path(__file__).resolve().parents[3] / "shared" / "schemas" / "ack"
OBJECTS = pathlib.Path(__file__).parent / "ack" / "objects.yaml"
INSTANCES = {"tap-prod-writer": True, "tap-prod-reader-1": False, "tap-prod-reader-2": False}


class WithInstances(PlatformBuilder):
    """tap-prod with the primary cluster's writer and readers (the ACK DBInstance objects' AWS side),
    its fleet on `instance_type` when given."""

    def __init__(self, moto: Moto, scenario: Scenario, instance_type: str = ""):
        super().__init__(moto, scenario)
        if instance_type:
            self.params["compute"]["instanceType"] = instance_type

    def cluster_created(self, region: str, identifier: str) -> None:
        if identifier != self.names.cluster:
            return
        rds = self.client("rds", region)
        for name in INSTANCES:
            rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.r6g.4xlarge", Engine="aurora-mysql",
                                   DBClusterIdentifier=identifier)


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    crds = [yaml.safe_load(f.read_text()) for f in sorted(SCHEMAS.glob("*.yaml"))]
    return {(c["spec"]["group"], c["spec"]["names"]["kind"]): c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            for c in crds}


def run(moto: Moto, tmp_path: pathlib.Path, fixture: str = "",
        instance_type: str = "") -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Seed tap-prod, write the ACK objects (`fixture`, else OBJECTS) with the group's ARN, run the CLI."""
    WithInstances(moto, Scenario(days=8, writer_cpu=12.0), instance_type).build()
    asg = moto.session().client("autoscaling", region_name="us-east-1", endpoint_url=moto.url)
    arn = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"][0]["AutoScalingGroupARN"]
    objects = tmp_path / "objects.yaml"
    objects.write_text((fixture or OBJECTS.read_text()).replace("{asg_arn}", arn))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"policy": {"backupRetentionDays": 7}}))
    code = cli.main(["analyze", "--ack", str(objects), "--namespace", "shop", "--crds", str(SCHEMAS),
                     "--config", str(tmp_path / "config.yaml"), "--days", "8", "--out", str(tmp_path / "plans.yaml"),
                     "--analysis-out", str(tmp_path / "analysis.json"), "--format", "none", "--now", NOW.isoformat()])
    plans = list(yaml.safe_load_all((tmp_path / "plans.yaml").read_text())) if code == 0 else []
    analysis = json.loads((tmp_path / "analysis.json").read_text()) if code == 0 else {}
    return code, plans, analysis


def test_the_fixture_objects_are_valid_ack_objects():
    schemas = crd_schemas()
    for obj in yaml.safe_load_all(OBJECTS.read_text()):
        group = obj["apiVersion"].partition("/")[0]
        assert validate(schemas[(group, obj["kind"])], obj) == [], obj["metadata"]["name"]


def test_one_plan_per_ack_object_with_keyed_paths_separate_phases_and_skips_reported(aws_env: Moto,
                                                                                     tmp_path: pathlib.Path):
    code, plans, analysis = run(aws_env, tmp_path)
    assert code == 0
    by_target = {(p["spec"]["targetRef"]["kind"], p["spec"]["targetRef"]["name"]): p for p in plans}
    assert sorted(by_target) == [("DBCluster", "orders"), ("DBInstance", "orders-writer"),
                                 ("ReplicationGroup", "cache"), ("Table", "users")]
    assert all(p["metadata"]["namespace"] == "shop" and p["spec"]["gates"] for p in plans)

    table = by_target[("Table", "users")]["spec"]
    assert table["targetRef"]["apiVersion"] == "dynamodb.services.k8s.aws/v1alpha1"
    [dynamodb] = table["phases"]
    changes = {c["path"]: c for c in dynamodb["changes"]}
    assert changes["/spec/globalSecondaryIndexes[indexName=ByRole]"]["op"] == "remove"
    assert "/spec/globalSecondaryIndexes[indexName=ByEmail]" not in changes
    assert changes["/spec/streamSpecification/streamEnabled"]["value"] is False
    assert dynamodb["requiresApproval"] is True  # one-way doors

    cache = by_target[("ReplicationGroup", "cache")]["spec"]["phases"]
    assert [(p["name"], [c["path"] for c in p["changes"]]) for p in cache] == [
        ("cache-node-type", ["/spec/cacheNodeType"]), ("cache-shards", ["/spec/numNodeGroups"]),
        ("cache-replicas", ["/spec/replicasPerNodeGroup"])]
    assert cache[0]["changes"][0]["value"] == "cache.r6g.xlarge" and cache[0]["requiresApproval"] is False
    assert cache[1]["requiresApproval"] is True  # fewer shards reshard the data
    assert cache[0]["changes"][0]["projectedMonthlySavings"] > 0

    [writer] = by_target[("DBInstance", "orders-writer")]["spec"]["phases"]
    assert [c["path"] for c in writer["changes"]] == ["/spec/dbInstanceClass"]
    assert writer["changes"][0]["value"].startswith("db.r6g.") and writer["changes"][0]["value"] != "db.r6g.4xlarge"
    [backups] = by_target[("DBCluster", "orders")]["spec"]["phases"]
    assert backups["changes"] == [{**backups["changes"][0], "op": "replace", "path": "/spec/backupRetentionPeriod",
                                   "value": 7}]
    assert backups["requiresApproval"] is True

    ack = analysis["ack"]
    skipped = {s["object"]: s["reason"] for s in ack["skipped"]}
    assert "read-only" in skipped["Table shop/tenants"]
    assert "no status.ackResourceMetadata.arn" in skipped["Table shop/audit-logs"]
    assert "controlled by OrdersDatabase orders" in skipped["DBInstance shop/orders-reader-1"]
    unwritable = {u["rule"]: u["reason"] for u in ack["unwritable"]}
    assert "LaunchTemplate" in unwritable["compute-rightsize"]  # the fleet's instance type: reported, not dropped
    assert "DBInstance object" in unwritable["reader-reduce"]


def test_a_phase_the_object_refuses_is_reported_not_written_and_a_fleet_on_its_type_gets_sizes(
        aws_env: Moto, tmp_path: pathlib.Path):
    """AWS lists only cache.r6g.2xlarge as a smaller node type now: the node type's phase is refused
    (targets.ack.change_problems), the shards' and replicas' are written. The fleet runs the
    smallest m5, so its type stays: its minSize and maxSize are written, its desired capacity is not."""
    narrowed = OBJECTS.read_text().replace(
        "allowedScaleDownModifications: [cache.r6g.2xlarge, cache.r6g.xlarge, cache.r6g.large]",
        "allowedScaleDownModifications: [cache.r6g.2xlarge]")
    code, plans, analysis = run(aws_env, tmp_path, narrowed, "m5.large")
    assert code == 0
    [cache] = [p for p in plans if p["spec"]["targetRef"]["kind"] == "ReplicationGroup"]
    assert [p["name"] for p in cache["spec"]["phases"]] == ["cache-shards", "cache-replicas"]
    [refused] = [u for u in analysis["ack"]["unwritable"] if u.get("phase") == "cache-node-type"]
    assert "cache.r6g.2xlarge" in refused["reason"]
    [fleet] = [p for p in plans if p["spec"]["targetRef"]["kind"] == "AutoScalingGroup"]
    [compute] = fleet["spec"]["phases"]
    assert compute["name"] == "compute"
    assert [c["path"] for c in compute["changes"]] == ["/spec/minSize", "/spec/maxSize"]
    assert any("desiredCapacity" in note for note in analysis["ack"]["notes"])
