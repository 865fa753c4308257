"""The application's Auto Scaling group: its hourly CPU demand projected onto the current type
and smaller ones of its family, each sized as its target-tracking policy would hold it
(`analysis/fleet_sizing.py`), priced by expected instance-hours, against the instance-hours it ran
(GroupInServiceInstances; the desired capacity now where the group's metrics were not collected)."""

from __future__ import annotations

import statistics

from tap_optimizer.analysis import fleet_sizing
from tap_optimizer.analysis.document import Change
from tap_optimizer.analysis.facts import FactMissingError, InstanceFacts
from tap_optimizer.analysis.inventory import Fleet
from tap_optimizer.analysis.options import Option
from tap_optimizer.analysis.pricing import PriceMissingError
from tap_optimizer.analysis.projection import MIN_HOURS, compute_power, of_hours
from tap_optimizer.analysis.rules import sizing
from tap_optimizer.analysis.rules.common import Context, Outcome, finding, missing, replace

SECONDS_PER_DATAPOINT = 60  # EC2 detailed monitoring (the launch template enables it): bytes per minute
RULE = "compute-rightsize"
Hour = tuple[float, float, float]  # (CPU percent, network bytes in + out per datapoint per instance, instances)


def network_percent(bytes_in: float, bytes_out: float, baseline_gbps: float) -> float:
    """p95 traffic per datapoint as a share of the instance type's baseline bandwidth."""
    bits_per_second = (bytes_in + bytes_out) * 8 / SECONDS_PER_DATAPOINT
    return 100 * bits_per_second / (baseline_gbps * 1e9)


def hours(ctx: Context, group: Fleet) -> list[Hour]:
    """The hours with CPU and both network directions measured, with the instances in service (the
    desired capacity now in an hour without that count: group metrics not collected, or collected
    only since later in the window, whose earlier hours still count)."""
    subject = f"fleet/{group.name}"
    cpu, net_in, net_out, counted = (ctx.measurements.profile(subject, n)
                                     for n in ("cpu", "networkIn", "networkOut", "instances"))
    running = [n if n is not None else float(group.desired) for n in counted] if counted else \
        [float(group.desired)] * len(cpu)
    return [(c, i + o, n) for c, i, o, n in zip(cpu, net_in, net_out, running, strict=True)
            if c is not None and i is not None and o is not None and n]


def target_cpu(ctx: Context) -> float:
    """The CPU percent the group's target-tracking policy holds: what a fleet it sizes runs at."""
    return float(ctx.parameters.get("compute", {}).get("targetCpuPercent", 70))


def _counted(ctx: Context, group: Fleet) -> str:
    """Where the instances of each hour came from."""
    collected = any(ctx.measurements.profile(f"fleet/{group.name}", "instances"))
    return "GroupInServiceInstances" if collected else "desiredCapacity"


def fleet(ctx: Context, group: Fleet) -> list[Outcome]:
    """The fleet rule's outcome (one)."""
    return [_fleet(ctx, group)]


def _fleet(ctx: Context, group: Fleet) -> Outcome:
    resource = f"autoscaling group {group.name}"
    m, t = ctx.measurements, ctx.config.thresholds
    subject = f"fleet/{group.name}"
    values = {name: m.value(subject, name) for name in ("cpu", "networkIn", "networkOut")}
    cpu, net_in, net_out = values["cpu"], values["networkIn"], values["networkOut"]
    if cpu is None or net_in is None or net_out is None:
        return finding(RULE, resource, group.region, f"Kept: no CloudWatch data for {', '.join(missing(values))}.")
    measured = hours(ctx, group)
    try:
        current = ctx.facts.get("ec2", group.instance_type)
        price = ctx.prices.monthly("ec2", group.instance_type, group.region)
    except (PriceMissingError, FactMissingError) as error:
        return finding(RULE, resource, group.region, f"Kept: {error}.")
    if current.baseline_gbps <= 0:
        return finding(RULE, resource, group.region, f"Kept: the instance facts give {group.instance_type} no "
                       "baseline network bandwidth, so its network load cannot be judged.")
    network = network_percent(net_in, net_out, current.baseline_gbps)
    ran = statistics.fmean(n for _, _, n in measured) if measured else float(group.desired)
    cost = price * ran
    evidence = {"cpuP95": cpu, "networkP95Percent": network, "instanceType": group.instance_type,
                "desiredCapacity": group.desired, "instancesInService": ran, "instancesFrom": _counted(ctx, group),
                "hoursMeasured": len(measured)}
    if cpu >= t.computeMaxCpuP95 or network >= t.computeMaxNetworkP95:
        return finding(RULE, resource, group.region,
                       f"Kept: p95 CPU {cpu:.1f} % (threshold {t.computeMaxCpuP95:g} %), p95 network "
                       f"{network:.1f} % of baseline (threshold {t.computeMaxNetworkP95:g} %).", evidence)
    if (why := _unsizable(ctx, measured)) is not None:
        return finding(RULE, resource, group.region, why, evidence)
    candidates = [current, *(c for c in ctx.facts.smaller("ec2", group.instance_type,
                                                          ctx.config.sizing.fleetCandidateSizes)
                             if c.baseline_gbps > 0)]
    options = [o for c in candidates if (o := _option(ctx, group, current, c, measured))]
    judged = sizing.SizedResource(RULE, "compute", resource, group.region, f"{ran:.3g} x {group.instance_type}",
                                  cost, options, evidence)
    return sizing.outcome(ctx, judged, lambda o: _changes(group, o),
                          f"p95 CPU {cpu:.1f} % over {m.window.days:.0f} days, {len(measured)} hours")


def _unsizable(ctx: Context, measured: list[Hour]) -> str | None:
    """Why no candidate can be sized: no hourly profile, or a target-tracking target over the limit
    (the policy would run any fleet sized down at that CPU, over the headroom)."""
    target, s = target_cpu(ctx), ctx.config.sizing
    if len(measured) < MIN_HOURS:
        return f"Kept: {len(measured)} hours of hourly CPU and network measured, fewer than {MIN_HOURS}."
    if target > s.limit:
        return (f"Kept: compute.targetCpuPercent {target:g} % is over the {s.limit:g} % limit (sizing.headroomPercent "
                f"{s.headroomPercent:g}): the group's target tracking would run any fleet sized down at that CPU.")
    return None


def _option(ctx: Context, group: Fleet, current: InstanceFacts, candidate: InstanceFacts,
            measured: list[Hour]) -> Option | None:
    """`candidate` held by the group's policy over the measured hours; None when it has no price."""
    try:
        hourly_price = ctx.prices.hourly("ec2", candidate.name, group.region)
    except PriceMissingError:
        return None
    power, s, target = compute_power(candidate), ctx.config.sizing, target_cpu(ctx)
    demands = fleet_sizing.demand([c for c, _, _ in measured], compute_power(current), [n for _, _, n in measured])
    held = fleet_sizing.held(demands, power, target, s.minFleetSize, s.headroomPercent)
    at_max = [100 * d / (held.max_size * power) for d in demands]
    traffic = [network_percent(b * n / size, 0.0, candidate.baseline_gbps)
               for (_, b, n), size in zip(measured, held.sizes, strict=True)]
    utilization = fleet_sizing.utilization(demands, held.sizes, power)
    return Option(candidate.name, held.expected_instances * hourly_price * ctx.prices.hours_per_month,
                  (of_hours("CPU at maxSize", at_max, s.limit), of_hours("network", traffic, s.limit)),
                  {"minSize": held.min_size, "desiredCapacity": held.desired, "maxSize": held.max_size,
                   "expectedInstances": round(held.expected_instances, 2), "targetCpuPercent": target,
                   "heldCpuP95Percent": round(of_hours("CPU", utilization, 100).p95, 1),
                   "heldCpuPeakPercent": round(max(utilization), 1)})


def _changes(group: Fleet, option: Option) -> list[Change]:
    changes = [] if option.target == group.instance_type else [replace(option.target, "compute", "instanceType")]
    return changes + [replace(option.details[k], "compute", k) for k in ("minSize", "desiredCapacity", "maxSize")]
