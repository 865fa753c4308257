"""A fixture builder: the reference platform as its AWS CDK stack creates it (../shared/reference),
in moto, to adopt. Its own names (tables `tap-dev-<table>`, the Redis group `tap-dev-redis`, the
Aurora cluster `tap-dev-aurora`, the group `tap-dev-asg`), the CDK's tags and not ours, the CDK's
VPC layout (public, private, then isolated /24s, zone after zone), the load balancer, target and
security groups, a KMS key, Aurora instances, secondary clusters in two more regions, and the
stack `TapStackdev` with the reference stack's outputs; the same 60 days of metrics as tap-prod.

moto's CloudFormation cannot create ElastiCache replication groups or Aurora clusters, so the
resources are created through their own APIs and the stack carries the outputs naming them (what
the importer reads), plus two resources the composition has no place for.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from tap_optimizer_local.aws_platform import Names, PlatformBuilder, Scenario
from tap_optimizer_local.moto_aws import Moto

STACK = "TapStackdev"
CDK = Names(prefix="tap-dev", asg="tap-dev-asg", cache="tap-dev-redis", cluster="tap-dev-aurora",
            global_cluster="tap-dev-global", secondary="tap-dev-aurora-{region}",
            tags=(("Environment", "dev"), ("ManagedBy", "CDK"), ("Platform", "TAP")))
CDK_TIERS = ("Public", "Private", "Isolated")  # the aws-cdk:subnet-type tag, in the CDK's order
ZONES = "abc"
TARGET_GROUPS = {"api": 8080, "admin": 8081, "metrics": 8082}
SECURITY_GROUPS = {"AlbSecurityGroupId": "alb", "Ec2SecurityGroupId": "ec2", "DatabaseSecurityGroupId": "database",
                   "RedisSecurityGroupId": "redis"}


def _tagged(kind: str, *extra: tuple[str, str]) -> list[dict[str, Any]]:
    """EC2 TagSpecifications: the CDK's tags on every resource of the stack, and `extra`."""
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in (*CDK.tags, *extra)]}]


class CdkStackBuilder(PlatformBuilder):
    """The platform a CDK user already runs; `build` returns nothing to analyse: import it first."""

    def __init__(self, moto: Moto, scenario: Scenario | None = None):
        super().__init__(moto, scenario, CDK)
        self.outputs: dict[str, str] = {}

    def build(self) -> dict[str, Any]:
        region = self.params["region"]
        vpc = self._vpc(region, self.params["network"]["vpcCidr"])
        xr = super().build()
        self._edge(region, vpc)
        self.outputs.update({f"DynamoTable{key.title()}Name": f"{CDK.prefix}-{key}" for key in self.params["tables"]})
        self.outputs.update(AuroraClusterIdentifier=CDK.cluster, RedisClusterId=CDK.cache,
                            AutoScalingGroupName=CDK.asg)
        self._stack(region)
        return xr

    def _vpc(self, region: str, cidr: str) -> str:
        """A VPC with a /24 per tier and zone, numbered as the CDK numbers them; outputs name them."""
        ec2 = self.client("ec2", region)
        vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_tagged("vpc"))["Vpc"]["VpcId"]
        blocks = ipaddress.IPv4Network(cidr).subnets(new_prefix=24)
        for cdk_type in CDK_TIERS:
            ids = [ec2.create_subnet(VpcId=vpc, CidrBlock=str(next(blocks)), AvailabilityZone=f"{region}{zone}",
                                     TagSpecifications=_tagged("subnet", ("aws-cdk:subnet-type", cdk_type))
                                     )["Subnet"]["SubnetId"] for zone in ZONES]
            self.outputs[f"{cdk_type}SubnetIds"] = ",".join(ids)
        self.outputs["VpcId"] = vpc
        return vpc

    def _edge(self, region: str, vpc: str) -> None:
        """The KMS key, the security groups, the load balancer and its target groups."""
        kms = self.client("kms", region)
        self.outputs["KmsKeyId"] = kms.create_key(
            Description="TAP dev", Tags=[{"TagKey": k, "TagValue": v} for k, v in CDK.tags])["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/tap-dev-key", TargetKeyId=self.outputs["KmsKeyId"])
        ec2, elb = self.client("ec2", region), self.client("elbv2", region)
        for output, name in SECURITY_GROUPS.items():
            self.outputs[output] = ec2.create_security_group(GroupName=f"tap-dev-{name}", Description=name,
                                                             VpcId=vpc, TagSpecifications=_tagged("security-group")
                                                             )["GroupId"]
        public = self.outputs["PublicSubnetIds"].split(",")
        self.outputs["AlbArn"] = elb.create_load_balancer(
            Name="TapSt-TapAl-1A2B3C4D5E6F", Subnets=public, Scheme="internet-facing",
            SecurityGroups=[self.outputs["AlbSecurityGroupId"]], Tags=CDK.tag_list("load-balancer")
        )["LoadBalancers"][0]["LoadBalancerArn"]
        for group, port in TARGET_GROUPS.items():
            self.outputs[f"TargetGroup{group.title()}Arn"] = elb.create_target_group(
                Name=f"tap-dev-{group}-tg", Protocol="HTTP", Port=port, VpcId=vpc, Tags=CDK.tag_list("load-balancer")
            )["TargetGroups"][0]["TargetGroupArn"]

    def cluster_created(self, region: str, identifier: str) -> None:
        """The primary's writer and readers, or a secondary's one instance."""
        db = self.params["database"]
        rds = self.client("rds", region)
        if identifier == CDK.cluster:
            names = [f"{identifier}-writer", *(f"{identifier}-reader{i}" for i in range(1, db["readerCount"] + 1))]
            settings = {"DBInstanceClass": db["writerInstanceClass"], "EnablePerformanceInsights": True,
                        "MonitoringInterval": db["monitoringIntervalSeconds"],
                        "MonitoringRoleArn": "arn:aws:iam::123456789012:role/tap-dev-monitoring"}
        else:
            names = [f"{identifier}-instance1"]
            settings = {"DBInstanceClass": db["secondaryRegions"][0]["instanceClass"]}
        for name in names:
            rds.create_db_instance(DBInstanceIdentifier=name, DBClusterIdentifier=identifier, Engine="aurora-mysql",
                                   Tags=CDK.tag_list("database"), **settings)

    def secondary_placement(self, secondary: dict[str, Any]) -> dict[str, Any]:
        """A secondary cluster's isolated VPC and its subnet group."""
        region = secondary["region"]
        ec2 = self.client("ec2", region)
        vpc = ec2.create_vpc(CidrBlock=secondary["vpcCidr"])["Vpc"]["VpcId"]
        blocks = ipaddress.IPv4Network(secondary["vpcCidr"]).subnets(new_prefix=24)
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=str(next(blocks)),
                                     AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"] for zone in ZONES]
        name = f"tap-dev-aurora-{region}-subnets"
        self.client("rds", region).create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription=name,
                                                          SubnetIds=subnets)
        return {"DBSubnetGroupName": name}

    def _stack(self, region: str) -> None:
        """The stack: its outputs, and two resources of kinds the composition does not render."""
        template = {
            "Resources": {
                "Ec2InstanceRole": {"Type": "AWS::IAM::Role", "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                         "Action": "sts:AssumeRole"}]}}},
                "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "tap-dev-alarms"}},
            },
            "Outputs": {key: {"Value": value} for key, value in sorted(self.outputs.items())},
        }
        self.client("cloudformation", region).create_stack(StackName=STACK, TemplateBody=json.dumps(template),
                                                           Capabilities=["CAPABILITY_IAM"])
