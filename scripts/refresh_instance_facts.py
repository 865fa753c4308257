#!/usr/bin/env python3
"""Rewrite operator/tap_optimizer/analysis/facts.yaml from the AWS APIs.

    AWS_PROFILE=... python scripts/refresh_instance_facts.py [--region us-east-1] [--out PATH]

For every type already pinned:
- EC2 types: DescribeInstanceTypes (VCpuInfo.DefaultVCpus, MemoryInfo.SizeInMiB, the first network
  card's BaselineBandwidthInGbps, ProcessorInfo.SustainedClockSpeedInGhz);
- Aurora MySQL classes: DescribeOrderableDBInstanceOptions must still offer the class (else it is
  dropped), vCPUs and memory from DescribeInstanceTypes of the EC2 type it runs on (db.r6g.xlarge:
  r6g.xlarge); maxConnections is kept from the pinned file (AWS documents it as a table, no API
  returns it);
- ElastiCache node types: DescribeReservedCacheNodesOfferings must still list the type, vCPUs from
  DescribeInstanceTypes; memory is kept (the usable memory AWS documents per node type is not
  returned by any API).
The file's `source` and `date` then name the APIs, the region and the day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
from typing import Any

import boto3
import yaml

FACTS = pathlib.Path(__file__).resolve().parent.parent / "operator/tap_optimizer/analysis/facts.yaml"


def ec2_facts(ec2: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """vcpus, memoryGiB, baselineGbps and clockGhz of each EC2 type (paged, 100 a call)."""
    out: dict[str, dict[str, Any]] = {}
    for page in ec2.get_paginator("describe_instance_types").paginate(InstanceTypes=names):
        for t in page["InstanceTypes"]:
            cards = t.get("NetworkInfo", {}).get("NetworkCards", [])
            out[t["InstanceType"]] = {
                "vcpus": t["VCpuInfo"]["DefaultVCpus"], "memoryGiB": round(t["MemoryInfo"]["SizeInMiB"] / 1024, 2),
                "baselineGbps": cards[0].get("BaselineBandwidthInGbps", 0.0) if cards else 0.0,
                "clockGhz": t.get("ProcessorInfo", {}).get("SustainedClockSpeedInGhz", 0.0)}
    return out


def rds_facts(rds: Any, ec2: Any, pinned: dict[str, Any]) -> dict[str, dict[str, Any]]:
    offered = {o["DBInstanceClass"] for page in rds.get_paginator("describe_orderable_db_instance_options")
               .paginate(Engine="aurora-mysql") for o in page["OrderableDBInstanceOptions"]}
    names = [n for n in pinned if n in offered]
    hardware = ec2_facts(ec2, [n.removeprefix("db.") for n in names]) if names else {}
    return {n: {"vcpus": hardware[n.removeprefix("db.")]["vcpus"],
                "memoryGiB": hardware[n.removeprefix("db.")]["memoryGiB"],
                "maxConnections": pinned[n]["maxConnections"]} for n in names}


def cache_facts(elasticache: Any, ec2: Any, pinned: dict[str, Any]) -> dict[str, dict[str, Any]]:
    offered = {o["CacheNodeType"] for page in elasticache.get_paginator("describe_reserved_cache_nodes_offerings")
               .paginate() for o in page["ReservedCacheNodesOfferings"]}
    names = [n for n in pinned if n in offered]
    hardware = ec2_facts(ec2, [n.removeprefix("cache.") for n in names]) if names else {}
    return {n: {"vcpus": hardware[n.removeprefix("cache.")]["vcpus"], "memoryGiB": pinned[n]["memoryGiB"]}
            for n in names}


def refresh(session: Any, region: str, pinned: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """The facts document for the types `pinned` names, as the APIs give them today."""
    ec2 = session.client("ec2", region_name=region)
    return {
        "source": f"AWS APIs in {region}: EC2 DescribeInstanceTypes; RDS DescribeOrderableDBInstanceOptions "
                  "(aurora-mysql); ElastiCache DescribeReservedCacheNodesOfferings; maxConnections and cache "
                  "memory kept from the documented figures",
        "date": today.isoformat(),
        "ec2": ec2_facts(ec2, sorted(pinned["ec2"])),
        "rds": rds_facts(session.client("rds", region_name=region), ec2, pinned["rds"]),
        "elasticache": cache_facts(session.client("elasticache", region_name=region), ec2, pinned["elasticache"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--out", type=pathlib.Path, default=FACTS)
    args = parser.parse_args()
    pinned = yaml.safe_load(FACTS.read_text())
    facts = refresh(boto3.Session(), args.region, pinned, dt.date.today())
    args.out.write_text("---\n" + yaml.safe_dump(facts, sort_keys=False, width=120))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
