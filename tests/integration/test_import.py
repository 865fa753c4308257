"""Adopting the reference platform as its CDK stack created it (its own names, three regions, one
table tagged TenantId), against moto in server mode: `import --stack`, `import --check`, `analyze`
on the imported TapPlatform, and its rendering in adoption mode."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
import yaml

from tap_optimizer import cli
from tap_optimizer.composition.render.common import EXTERNAL_NAME
from tap_optimizer.composition.render.platform import render_platform
from tap_optimizer.openapi import apply_defaults, validate
from tap_optimizer.platform.parameters import xr_schema
from tap_optimizer_local.aws_platform import NOW, TENANT_TABLE, PlatformBuilder
from tap_optimizer_local.cdk_platform import CDK, STACK, CdkStackBuilder
from tap_optimizer_local.moto_aws import Moto
from tests.support.crds import object_errors


@pytest.fixture
def imported(aws_env: Moto, tmp_path: pathlib.Path) -> dict[str, Any]:
    """The CDK platform seeded, then imported from its stack."""
    CdkStackBuilder(aws_env).build()
    code = cli.main(["import", "--stack", STACK, "--regions", "us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1",
                     "--name", "tap-dev", "--namespace", "tap",
                     "--out", str(tmp_path / "tap-dev.yaml"), "--report", str(tmp_path / "report.txt")])
    assert code == 0
    return yaml.safe_load((tmp_path / "tap-dev.yaml").read_text())


def check(tmp_path: pathlib.Path, xr: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (tmp_path / "checked.yaml").write_text(yaml.safe_dump(xr))
    capsys.readouterr()
    code = cli.main(["import", "--stack", STACK, "--check", str(tmp_path / "checked.yaml")])
    return code, capsys.readouterr().out


def test_import_writes_an_observe_only_platform_that_validates_and_describes_what_runs(imported, tmp_path):
    schema = xr_schema()
    assert validate(schema, apply_defaults(schema, {"spec": imported["spec"]})) == []
    params = imported["spec"]["parameters"]
    assert params["managementMode"] == "ObserveOnly"
    assert sorted(params["tables"]) == ["audit_logs", TENANT_TABLE, "tenants", "users"]
    assert sorted(params["tables"]["users"]["globalSecondaryIndexes"]) == ["ByEmail", "ByRole", "ByStatus", "ByTenant"]
    assert params["cache"] == {"nodeType": "cache.r6g.4xlarge", "shards": 4, "replicasPerShard": 2,
                               "snapshotRetentionDays": 5}
    db = params["database"]
    assert (db["writerInstanceClass"], db["readerCount"], db["backupRetentionDays"]) == ("db.r6g.4xlarge", 2, 30)
    assert [(s["region"], s["vpcCidr"]) for s in db["secondaryRegions"]] == [
        ("eu-west-1", "10.2.0.0/16"), ("us-west-2", "10.1.0.0/16")]
    assert params["compute"]["instanceType"] == "m5.4xlarge"
    assert params["network"]["natGateways"] == 3 and params["network"]["availabilityZones"] == ["a", "b", "c"]
    assert (params["compute"]["minSize"], params["compute"]["desiredCapacity"]) == (12, 15)
    names = params["externalNames"]
    assert names["cache-replication-group"] == CDK.cache and names["database-cluster"] == CDK.cluster
    assert names["compute-asg"] == CDK.asg and names["table-audit_logs"] == "tap-dev-audit_logs"
    assert names["kms-alias"] == "alias/tap-dev-key"
    assert names["database-subnet-group"] == "tapstackdev-aurorasubnets1a2b3c4d"  # moving it replaces the cluster
    assert names["secondary-us-west-2-subnet-group"] == "tap-dev-aurora-us-west-2-subnets"
    assert names["secondary-us-west-2-kms-key"] != names["kms-key"]  # each region's own key encrypts its cluster
    report = (tmp_path / "report.txt").read_text()
    assert "not adopted (no composed resource identified for it): AWS::SNS::Topic AlarmTopic" in report
    assert "AWS::IAM::Role Ec2InstanceRole" in report
    assert "tenant: dynamodb table tap-dev-tenant_acme is tagged TenantId=acme" in report
    assert "not imported: region ap-southeast-1 holds no secondary cluster" in report
    assert "region us-west-2" not in report and "region eu-west-1" not in report
    assert report.count("subnet ") == 6  # the CDK's private and isolated subnets sit elsewhere than ours
    assert "not adopted: private subnet" in report and "the composition's layout puts it at 10.0.6.0/24" in report


def test_rendering_adopts_every_resource_by_its_existing_name_and_only_observes(imported):
    rendered = render_platform(imported)
    annotations = {key: obj["metadata"].get("annotations", {}).get(EXTERNAL_NAME) for key, obj in rendered.items()}
    assert {key: annotations[key] for key in imported["spec"]["parameters"]["externalNames"]} == \
        imported["spec"]["parameters"]["externalNames"]
    assert all(obj["spec"]["managementPolicies"] == ["Observe"] for obj in rendered.values())
    assert {key: errors for key, obj in rendered.items() if (errors := object_errors(obj))} == {}


def test_check_finds_no_difference_lists_the_unmodelled_and_catches_a_change(imported, tmp_path, capsys):
    code, out = check(tmp_path, imported, capsys)
    assert code == 0 and "18 adopted resources with what runs: 0 difference(s)" in out
    assert "AWS::SNS::Topic AlarmTopic" in out and "default kept (not read from AWS)" in out
    assert "not compared: table-users: serverSideEncryption" in out
    assert "created under full management (they adopt nothing):" in out and "subnet-private-a" in out
    imported["spec"]["parameters"]["cache"]["nodeType"] = "cache.r6g.xlarge"
    imported["spec"]["parameters"]["tables"]["users"]["streamEnabled"] = False
    code, out = check(tmp_path, imported, capsys)
    assert code == 1 and "3 difference(s)" in out  # a disabled stream has no view type either
    assert "cache-replication-group: forProvider.nodeType: desired 'cache.r6g.xlarge', running " \
           "'cache.r6g.4xlarge'" in out
    assert "table-users: forProvider.streamEnabled: desired False, running True" in out
    assert "table-users: forProvider.streamViewType: desired None, running 'NEW_AND_OLD_IMAGES'" in out


def test_import_by_tag_finds_the_same_platform(imported, tmp_path, capsys):
    code = cli.main(["import", "--tag", "Platform=TAP", "--name", "tap-dev", "--namespace", "tap",
                     "--out", str(tmp_path / "by-tag.yaml"), "--report", str(tmp_path / "by-tag.txt")])
    assert code == 0
    by_tag = yaml.safe_load((tmp_path / "by-tag.yaml").read_text())
    names, tagged = imported["spec"]["parameters"]["externalNames"], by_tag["spec"]["parameters"]["externalNames"]
    # the tag cannot tell the security groups apart: the stack's outputs can
    assert tagged == {k: v for k, v in names.items() if not k.startswith("sg-")}
    assert {k: v for k, v in by_tag["spec"]["parameters"].items() if k != "externalNames"} == \
        {k: v for k, v in imported["spec"]["parameters"].items() if k != "externalNames"}
    report = (tmp_path / "by-tag.txt").read_text()
    assert report.count("ec2/security-group") == 4
    assert "rds/db" not in report and "ec2/instance" not in report  # parts of the adopted cluster and group
    code, out = check(tmp_path, by_tag, capsys)
    assert code == 0 and "0 difference(s)" in out
    for where in (["--tag", "Platform=TAP", "--regions", "ap-southeast-1"], ["--tag", "Platform=NONE"]):
        assert cli.main(["import", *where, "--out", str(tmp_path / "none.yaml")]) == 2  # not the XRD's defaults
        assert "found no DynamoDB table, Redis replication group" in capsys.readouterr().err
    assert not (tmp_path / "none.yaml").exists()


def dynamodb_changes(tmp_path: pathlib.Path, xr: dict[str, Any]) -> tuple[set[str], list[str]]:
    """analyze on a TapPlatform: the paths its plan changes, and the tenants it excludes."""
    (tmp_path / "analysed.yaml").write_text(yaml.safe_dump(xr))
    code = cli.main(["analyze", "--platform", str(tmp_path / "analysed.yaml"), "--out", str(tmp_path / "plan.yaml"),
                     "--analysis-out", str(tmp_path / "analysis.json"), "--now", NOW.isoformat(), "--no-costs",
                     "--format", "none"])
    assert code == 0
    plan = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    excluded = [e["tenantId"] for e in yaml.safe_load((tmp_path / "analysis.json").read_text())["excluded"]]
    return {c["path"] for phase in plan["spec"]["phases"] for c in phase["changes"]}, excluded


def test_analyze_on_the_imported_platform_decides_as_on_one_the_composition_created(aws_env, imported, tmp_path):
    adopted, excluded = dynamodb_changes(tmp_path, imported)
    tables = "/spec/parameters/tables"
    assert {f"{tables}/users/globalSecondaryIndexes/ByRole", f"{tables}/tenants/globalSecondaryIndexes/ByPlan",
            f"{tables}/users/streamEnabled"} <= adopted
    assert f"{tables}/audit_logs/streamEnabled" not in adopted  # its stream has a Lambda consumer
    assert not [p for p in adopted if TENANT_TABLE in p] and excluded == ["acme"]
    aws_env.reset()
    created, created_excluded = dynamodb_changes(tmp_path, PlatformBuilder(aws_env).build())
    assert adopted == created and excluded == created_excluded


def test_settings_outside_the_xrd_are_read_from_aws_and_reported(aws_env: Moto, tmp_path):
    """A table with a local index, one with time to live, and the group under a mixed instances
    policy: each named in the report, none silently dropped."""
    CdkStackBuilder(aws_env).build()
    session, tags = aws_env.session(), [{"Key": "Platform", "Value": "TAP"}]
    dynamodb = session.client("dynamodb", region_name="us-east-1")
    keys = {"AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "day")],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "BillingMode": "PAY_PER_REQUEST", "Tags": tags}
    dynamodb.create_table(TableName="tap-dev-events", **keys, LocalSecondaryIndexes=[{
        "IndexName": "ByDay", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                            {"AttributeName": "day", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"}}])
    keys["AttributeDefinitions"] = keys["AttributeDefinitions"][:2]
    dynamodb.create_table(TableName="tap-dev-sessions", **keys)  # (moto keeps no table class)
    dynamodb.update_time_to_live(TableName="tap-dev-sessions",
                                 TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    autoscaling = session.client("autoscaling", region_name="us-east-1")
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=CDK.asg, MixedInstancesPolicy={
        "LaunchTemplate": {"LaunchTemplateSpecification": {"LaunchTemplateName": CDK.asg},
                           "Overrides": [{"InstanceType": "m5.4xlarge"}, {"InstanceType": "m5a.4xlarge"}]},
        "InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 50}})
    assert cli.main(["import", "--tag", "Platform=TAP", "--name", "tap-dev", "--out", str(tmp_path / "tap-dev.yaml"),
                     "--report", str(tmp_path / "report.txt")]) == 0
    tables = yaml.safe_load((tmp_path / "tap-dev.yaml").read_text())["spec"]["parameters"]["tables"]
    assert "sessions" in tables and "events" not in tables
    report = (tmp_path / "report.txt").read_text()
    assert "not adopted: dynamodb table tap-dev-events: local secondary indexes ByDay; none are modelled" in report
    assert "dynamodb table tap-dev-sessions: time to live on attribute expires_at" in report
    assert "differs: autoscaling group tap-dev-asg has a mixed instances policy (instance types m5.4xlarge, " \
           "m5a.4xlarge, 50% on demand above its base)" in report


def test_a_stack_without_outputs_is_imported_from_its_resources(aws_env: Moto, tmp_path):
    """No outputs: the table and VPC by their CloudFormation types, the subnets by the CDK's tag."""
    def subnet(zone: str, n: int) -> dict[str, Any]:
        return {"Type": "AWS::EC2::Subnet", "Properties": {
            "VpcId": {"Ref": "Vpc"}, "CidrBlock": f"10.0.{n}.0/24", "AvailabilityZone": f"us-east-1{zone}",
            "Tags": [{"Key": "aws-cdk:subnet-type", "Value": "Public"}]}}
    template = {"Resources": {
        "Users": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "TableName": "tap-x-users", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}},
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "PublicA": subnet("a", 0), "PublicB": subnet("b", 1)}}
    aws_env.session().client("cloudformation").create_stack(StackName="NoOutputs", TemplateBody=json.dumps(template))
    assert cli.main(["import", "--stack", "NoOutputs", "--out", str(tmp_path / "x.yaml"),
                     "--report", str(tmp_path / "report.txt")]) == 0
    params = yaml.safe_load((tmp_path / "x.yaml").read_text())["spec"]["parameters"]
    assert sorted(params["externalNames"]) == ["subnet-public-a", "subnet-public-b", "table-users", "vpc"]
    assert params["network"]["availabilityZones"] == ["a", "b"]
    assert "AWS::EC2::Subnet" not in (tmp_path / "report.txt").read_text()
