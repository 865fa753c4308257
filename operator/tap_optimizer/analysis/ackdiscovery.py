"""`analyze --ack`: the ACK objects of a namespace (or files) into inventories the rules judge,
and their recommendations into one OptimizationPlan per object (ackplans.py).

An object's AWS identity is its `status.ackResourceMetadata.arn`, nothing else: one without an
ARN (not created in AWS yet) is skipped and reported, never looked up by name. Its region is
`status.ackResourceMetadata.region`, else the annotation `services.k8s.aws/region`, else the
ARN's. Read-only objects and objects a controller owns are skipped (`targets.ack.untouchable`).
Each object is described in AWS by its ARN's identifier, and AWS's ARN must be the object's.

Inventories, each judged by the same rules as a TapPlatform's (rules/registry.py):
- a Table, a ReplicationGroup, an AutoScalingGroup: one each, its `parameters` what a TapPlatform
  would say of it (a GSI is "declared" when the Table's spec lists it; a stream enabled when its
  spec enables it; a group's instance type from its launch template, its target CPU from its
  target-tracking policy on ASGAverageCPUUtilization);
- an Aurora cluster: one per DBCluster object and per cluster of a DBInstance object; its writer
  class is written to the writer's DBInstance object, its backup retention to the DBCluster.
A DB instance outside an Aurora cluster is skipped: the database rules read cluster metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.analysis import discovery, engine
from tap_optimizer.analysis.ackplans import Target, Unit, Written, plans, translate
from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.document import Analysis
from tap_optimizer.analysis.inventory import Cluster, Inventory
from tap_optimizer.analysis.pricing import PriceBook
from tap_optimizer.targets import ack
from tap_optimizer.targets.ack_kinds import AUTOSCALING, DYNAMODB, ELASTICACHE, RDS

REGION_ANNOTATION = "services.k8s.aws/region"
ARN_TYPES = {(RDS, "DBInstance"): ("rds", "db:"), (RDS, "DBCluster"): ("rds", "cluster:"),
             (ELASTICACHE, "ReplicationGroup"): ("elasticache", "replicationgroup:"),
             (DYNAMODB, "Table"): ("dynamodb", "table/"),
             (AUTOSCALING, "AutoScalingGroup"): ("autoscaling", "autoScalingGroup:")}
TARGET_CPU_METRIC = "ASGAverageCPUUtilization"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Result:
    plans: list[dict[str, Any]]
    analysis: Analysis
    skipped: list[dict[str, str]] = field(default_factory=list)


def _ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')} {meta.get('namespace') or 'default'}/{meta.get('name', '?')}"


def identifier(target: Target) -> str | None:
    """The resource's name in AWS as its ARN gives it, or None when the ARN is not of its kind."""
    parts = target.arn.split(":", 5)
    service, prefix = ARN_TYPES[(target.adapter.group, target.adapter.kind)]
    if len(parts) < 6 or parts[2] != service or not parts[5].startswith(prefix):
        return None
    rest = parts[5][len(prefix):]
    return rest.rpartition("autoScalingGroupName/")[2] if service == "autoscaling" else rest


def targets(objects: Sequence[dict[str, Any]]) -> tuple[list[Target], list[dict[str, str]]]:
    """The objects of the supported kinds a plan may change, and those skipped with why (objects
    of other kinds are ignored)."""
    found, skipped = [], []
    for obj in objects:
        adapter = ack.adapter(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if adapter is None:
            continue
        metadata = (obj.get("status") or {}).get("ackResourceMetadata") or {}
        arn = str(metadata.get("arn") or "")
        region = metadata.get("region") or ((obj.get("metadata") or {}).get("annotations") or {}).get(
            REGION_ANNOTATION) or (arn.split(":")[3] if arn.count(":") >= 5 else None)
        why = ack.untouchable(obj)
        if why is None and not arn:
            why = "no status.ackResourceMetadata.arn: ACK has not created it in AWS yet"
        if why is None and arn.count(":") >= 5 and arn.split(":")[3] not in ("", region):
            why = f"its ARN {arn} is in region {arn.split(':')[3]}, the object says {region}"
        target = Target(obj, adapter, arn, str(region)) if why is None else None
        if target is not None and identifier(target) is None:
            why = f"its ARN {arn} is not that of a {adapter.what}"
        if why is not None or target is None:
            skipped.append({"object": _ref(obj), "reason": str(why)})
        else:
            found.append(target)
    return found, skipped


def _inventory(target: Target, **resources: Any) -> Inventory:
    return Inventory(platform=f"{target.adapter.kind.lower()}/{target.name}", namespace=target.namespace,
                     region=target.region, **resources)


def _same(target: Target, arn: str, skipped: list[dict[str, str]]) -> bool:
    if arn != target.arn:
        skipped.append({"object": target.ref, "reason": f"AWS answered with {arn}, not its ARN {target.arn}"})
    return arn == target.arn


def _table(aws: Aws, target: Target, missing: list[str], skipped: list[dict[str, str]]) -> Unit | None:
    table = discovery.table(aws, target.region, target.arn, target.name, missing)
    if table is None or not _same(target, table.arn, skipped):
        return None
    spec = target.obj.get("spec") or {}
    declared: dict[str, dict[str, Any]] = {g["indexName"]: {} for g in spec.get("globalSecondaryIndexes") or []
                                           if g.get("indexName")}
    stream = bool((spec.get("streamSpecification") or {}).get("streamEnabled"))
    params = {"tables": {target.name: {"globalSecondaryIndexes": declared, "streamEnabled": stream}}}
    return Unit(_inventory(target, parameters=params, tables=(table,)), {f"tables/{target.name}": target})


def _cache(aws: Aws, target: Target, missing: list[str], skipped: list[dict[str, str]]) -> Unit | None:
    cache = discovery.cache(aws, target.region, str(identifier(target)), missing)
    if cache is None or not _same(target, cache.arn, skipped):
        return None
    current = {"nodeType": cache.node_type, "shards": cache.shards, "replicasPerShard": cache.replicas_per_shard}
    return Unit(_inventory(target, parameters={"cache": current}, caches=(cache,)), {"cache": target},
                {f"cache/{k}": v for k, v in current.items()})


def _fleet(aws: Aws, target: Target, missing: list[str], skipped: list[dict[str, str]]) -> Unit | None:
    group = discovery.auto_scaling_group(aws, target.region, str(identifier(target)), missing)
    if group is None or not _same(target, group["AutoScalingGroupARN"], skipped):
        return None
    instance_type = _instance_type(aws, target.region, group)
    if instance_type is None:
        skipped.append({"object": target.ref, "reason": "its launch template names no single instance type "
                                                        "(or it has none): the fleet cannot be sized"})
        return None
    compute: dict[str, Any] = {"instanceType": instance_type, "minSize": group["MinSize"],
                               "desiredCapacity": group["DesiredCapacity"], "maxSize": group["MaxSize"]}
    policies = aws.client("autoscaling", target.region).describe_policies(
        AutoScalingGroupName=group["AutoScalingGroupName"], PolicyTypes=["TargetTrackingScaling"])["ScalingPolicies"]
    held = [p["TargetTrackingConfiguration"]["TargetValue"] for p in policies
            if (p.get("TargetTrackingConfiguration", {}).get("PredefinedMetricSpecification") or {})
            .get("PredefinedMetricType") == TARGET_CPU_METRIC]
    if held:
        compute["targetCpuPercent"] = float(held[0])
    fleet = discovery.fleet(group, target.region, instance_type)
    return Unit(_inventory(target, parameters={"compute": compute}, fleets=(fleet,)), {"compute": target},
                {f"compute/{k}": v for k, v in compute.items()})


def _instance_type(aws: Aws, region: str, group: dict[str, Any]) -> str | None:
    """The instance type of the group's launch template version (a mixed instances policy with
    overrides has several: None)."""
    mixed = group.get("MixedInstancesPolicy") or {}
    if (mixed.get("LaunchTemplate") or {}).get("Overrides"):
        return None
    spec = group.get("LaunchTemplate") or (mixed.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")
    if not spec:
        return None
    by = {"LaunchTemplateId": spec["LaunchTemplateId"]} if spec.get("LaunchTemplateId") else \
        {"LaunchTemplateName": spec["LaunchTemplateName"]}
    versions = aws.client("ec2", region).describe_launch_template_versions(
        **by, Versions=[spec.get("Version") or "$Default"])["LaunchTemplateVersions"]
    return versions[0]["LaunchTemplateData"].get("InstanceType") if versions else None


def _instance(aws: Aws, target: Target) -> Callable[[], dict[str, Any]]:
    return lambda: dict(aws.client("rds", target.region).describe_db_instances(
        DBInstanceIdentifier=identifier(target))["DBInstances"][0])


def _clusters(aws: Aws, found: list[Target], missing: list[str], skipped: list[dict[str, str]]) -> list[Unit]:
    """One unit per Aurora cluster of the DBCluster and DBInstance objects."""
    clusters = {(t.region, str(identifier(t))): t for t in found if t.adapter.kind == "DBCluster"}
    instances: dict[tuple[str, str], Target] = {}
    for t in (t for t in found if t.adapter.kind == "DBInstance"):
        answer = discovery.described(_instance(aws, t), f"rds db instance {identifier(t)} ({t.region})", missing)
        if answer is None or not _same(t, answer["DBInstanceArn"], skipped):
            continue
        if not answer.get("DBClusterIdentifier"):
            skipped.append({"object": t.ref, "reason": "a DB instance outside an Aurora cluster: the database "
                                                       "rules judge Aurora clusters only"})
            continue
        instances[(t.region, answer["DBInstanceIdentifier"])] = t
        clusters.setdefault((t.region, answer["DBClusterIdentifier"]), t)
    units = []
    for (region, cluster_id), holder in sorted(clusters.items()):
        described = discovery.cluster(aws, region, cluster_id, missing)
        if described is None or (holder.adapter.kind == "DBCluster" and not _same(holder, described["DBClusterArn"],
                                                                                   skipped)):
            continue
        members = described.get("DBClusterMembers") or []
        classes = {i["DBInstanceIdentifier"]: i["DBInstanceClass"] for i in aws.client("rds", region)
                   .describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}])["DBInstances"]}
        writer = next((m["DBInstanceIdentifier"] for m in members if m.get("IsClusterWriter")), None)
        readers = [m["DBInstanceIdentifier"] for m in members if not m.get("IsClusterWriter")]
        database: dict[str, Any] = {"backupRetentionDays": described.get("BackupRetentionPeriod", 0),
                                    "readerCount": len(readers), "secondaryRegions": []}
        if writer in classes:
            database["writerInstanceClass"] = classes[writer]
        if readers and readers[0] in classes:
            database["readerInstanceClass"] = classes[readers[0]]
        owners = {f"database/{k}": t for k, t in (
            ("writerInstanceClass", instances.get((region, writer or ""))),
            ("backupRetentionDays", holder if holder.adapter.kind == "DBCluster" else None)) if t is not None}
        cluster = Cluster(identifier=cluster_id, region=region, arn=described["DBClusterArn"], primary=True,
                          backup_retention_days=described.get("BackupRetentionPeriod", 0))
        inventory = Inventory(platform=f"dbcluster/{cluster_id}", namespace=holder.namespace, region=region,
                              parameters={"database": database}, clusters=(cluster,))
        units.append(Unit(inventory, owners, {f"database/{k}": v for k, v in database.items()}))
    return units


def units(aws: Aws, found: list[Target], progress: Progress) -> tuple[list[Unit], list[dict[str, str]]]:
    """The inventories to judge, and the objects skipped on what AWS answered."""
    missing: list[str] = []
    skipped: list[dict[str, str]] = []
    describe = {"Table": _table, "ReplicationGroup": _cache, "AutoScalingGroup": _fleet}
    out = [u for t in found if t.adapter.kind in describe
           if (u := describe[t.adapter.kind](aws, t, missing, skipped)) is not None]
    out += _clusters(aws, found, missing, skipped)
    for gap in missing:
        progress(f"discovery: not found in AWS: {gap}")
    return out, skipped


def run(aws: Aws, objects: Sequence[dict[str, Any]], crds: dict[tuple[str, str], dict[str, Any]] | None,
        request: engine.Request, prices: PriceBook, namespace: str, progress: Progress = print) -> Result:
    """Judge the ACK objects and write their plans (`crds` by (group, kind): the check of every
    phase against its CRD; None: unchecked)."""
    found, skipped = targets(objects)
    judged_units, gone = units(aws, found, progress)
    skipped += gone
    for s in skipped:
        progress(f"skipped: {s['object']}: {s['reason']}")
    progress(f"discovery: {len(found)} ACK object(s) with an ARN, {len(judged_units)} to judge")
    regions = sorted({u.inventory.region for u in judged_units}) or list(request.regions)
    request = engine.Request(**{**request.__dict__, "regions": regions})
    judged = engine.judge(aws, [u.inventory for u in judged_units], request, prices, progress)
    written = Written()
    for unit, outcomes in zip(judged_units, judged.outcomes, strict=True):
        for rec in (o for o in outcomes if "changes" in o):
            translate(unit, rec, written)  # type: ignore[arg-type]
    recommendations, findings = judged.split()
    found_plans = plans(written, crds, date=request.now.date().isoformat(), prometheus_url=request.prometheus_url,
                        gates=request.gates)
    for note in written.notes:
        progress(f"note: {note}")
    for refused in written.unwritable:
        progress(f"not written: {refused.get('target') or refused.get('resource')}: {refused['reason']}")
    analysis = engine.document(request, {"name": f"ack/{namespace}", "namespace": namespace, "regions": regions},
                               judged, recommendations, findings)
    analysis["ack"] = {"skipped": skipped, "unwritable": written.unwritable, "notes": written.notes,
                       "plans": [p["metadata"]["name"] for p in found_plans]}
    analysis["apiCalls"] = dict(sorted(aws.calls.items()))
    progress(f"analysis: {len(recommendations)} recommendation(s), {len(findings)} finding(s), "
             f"{len(found_plans)} plan(s), {aws.total_calls} AWS API calls")
    return Result(found_plans, analysis, skipped)
