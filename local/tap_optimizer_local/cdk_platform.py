"""A fixture builder: the reference platform as its AWS CDK stack creates it (../shared/reference),
in moto, to adopt. Its own names (tables `tap-dev-<table>`, the Redis group `tap-dev-redis`, the
Aurora cluster `tap-dev-aurora`, the group `tap-dev-asg`), the CDK's tags and not ours, the CDK's
VPC layout (public, private, then isolated /24s, zone after zone), the load balancer, target and
security groups, a NAT gateway per zone, a KMS key, Aurora instances, secondary clusters in two more regions, and the
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
        for subnet in self.outputs["PublicSubnetIds"].split(","):  # a NAT gateway per zone
            ec2.create_nat_gateway(SubnetId=subnet, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"],
                                   TagSpecifications=_tagged("natgateway"))
        self.outputs["VpcId"] = vpc
        return vpc

    def _edge(self, region: str, vpc: str) -> None:
        """The security groups, the load balancer and its target groups."""
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

    def _key(self) -> str:
        """The platform's KMS key (created once), which encrypts the cache and the primary cluster."""
        if "KmsKeyId" not in self.outputs:
            kms = self.client("kms", self.params["region"])
            self.outputs["KmsKeyId"] = kms.create_key(
                Description="TAP dev", Tags=[{"TagKey": k, "TagValue": v} for k, v in CDK.tags]
            )["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName="alias/tap-dev-key", TargetKeyId=self.outputs["KmsKeyId"])
        return self.outputs["KmsKeyId"]

    def cache_placement(self) -> dict[str, Any]:
        return {"AtRestEncryptionEnabled": True, "TransitEncryptionEnabled": True, "KmsKeyId": self._key()}

    def primary_placement(self) -> dict[str, Any]:
        """The primary's subnet group, in the isolated subnets (the CDK names it after the stack), and
        the platform's key."""
        name = "tapstackdev-aurorasubnets1a2b3c4d"
        self.client("rds", self.params["region"]).create_db_subnet_group(
            DBSubnetGroupName=name, DBSubnetGroupDescription="Aurora", SubnetIds=self.outputs["IsolatedSubnetIds"]
            .split(","))
        return {"DBSubnetGroupName": name, "StorageEncrypted": True, "KmsKeyId": self._key()}

    def secondary_placement(self, secondary: dict[str, Any]) -> dict[str, Any]:
        """A secondary cluster's isolated VPC, its subnet group and its region's key."""
        region = secondary["region"]
        ec2 = self.client("ec2", region)
        vpc = ec2.create_vpc(CidrBlock=secondary["vpcCidr"])["Vpc"]["VpcId"]
        blocks = ipaddress.IPv4Network(secondary["vpcCidr"]).subnets(new_prefix=24)
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=str(next(blocks)),
                                     AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"] for zone in ZONES]
        name = f"tap-dev-aurora-{region}-subnets"
        self.client("rds", region).create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription=name,
                                                          SubnetIds=subnets)
        key = self.client("kms", region).create_key(Description=f"TAP dev {region}")["KeyMetadata"]["KeyId"]
        return {"DBSubnetGroupName": name, "StorageEncrypted": True, "KmsKeyId": key}

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
