"""Whether an Auto Scaling group's instance refresh, started by a phase's change, has replaced the
instances: the evidence comes from AWS (`autoscaling:DescribeInstanceRefreshes`), since neither
Crossplane nor provider-upjet-aws reports instance refreshes in the managed resource's status.

How the refresh comes about: the composition names the launch template version on the group and
renders `instanceRefresh` (`composition/render/compute.py`); when the group's launch template
changes, Terraform's `aws_autoscaling_group` cancels any active refresh and calls
StartInstanceRefresh, and does not wait for it ("This resource does not wait for the instance
refresh to complete"; "Auto Scaling Groups support up to one active instance refresh at a time.
When this resource is updated, any existing refresh is cancelled", terraform-provider-aws,
`instance_refresh.triggers`; hashicorp/terraform-provider-aws#42355: the update completes as soon
as the refresh starts). So a group that names, and runs, the new version may still serve
from the old instances for as long as the refresh takes (minutes to hours).

The statuses (Amazon EC2 Auto Scaling API Reference, InstanceRefresh `Status`,
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_InstanceRefresh.html):
- `Pending`: the request was created, but the instance refresh has not started;
- `InProgress`: in progress (`PercentageComplete`, `InstancesToUpdate`, `StatusReason` say how far);
- `Baking`: waiting the bake time after it finished updating instances;
- `Successful`: completed successfully;
- `Failed`: failed to complete (troubleshoot with the status reason and the scaling activities);
- `Cancelling` / `Cancelled`: an ongoing refresh is being / was cancelled (cancelling does not
  roll back replacements already made, but no new ones start);
- `RollbackInProgress` / `RollbackSuccessful` / `RollbackFailed`: the refresh is being / was /
  could not be rolled back to the previous configuration.

Skip matching (`preferences.skipMatching: true`, which the composition sets): AWS replaces only
the instances that do not already match the new launch template version, and "if you enable skip
matching, but none of these are changing, the instance refresh will succeed immediately without
replacing any instances" (User Guide, "Use an instance refresh with skip matching",
https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-instance-refresh-skip-matching.html).
So a refresh is recorded even when nothing needs replacing, and ends `Successful`: there is always
fresh evidence to wait for, and its absence is never read as "nothing to do".

Fresh means started at or after the phase's patch (`since`, the operator's clock) less
`CLOCK_SLACK` (AWS's StartTime is AWS's clock): the refresh starts only after Crossplane has
reconciled the patch and Terraform has updated the group, so it is always later than the patch;
the slack only absorbs a skew between the two clocks, and is far shorter than any observation
window, so a refresh of an earlier phase cannot pass for this one's. When the answer carries the
refresh's desired configuration (`DesiredConfiguration.LaunchTemplate.Version`, set when the
refresh was started with one), the refresh counts only for the version the group should run;
Terraform starts it without one, and the group's own version is judged elsewhere
(`tapplatform._on_latest_version`). The newest fresh refresh decides: an older one was cancelled
by it or finished before it started. Ask only once the group names and runs the new version (as
`aws_refresh.InstanceRefreshes.confirm` does): AWS reports the group on it only after Terraform's
update, which starts the refresh, so by then this change's refresh is the newest, even if an
earlier phase's started within the slack.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tap_optimizer.plan.model import Readiness

CLOCK_SLACK = dt.timedelta(seconds=30)
RUNNING = frozenset({"Pending", "InProgress", "Baking", "RollbackInProgress", "Cancelling"})
ENDED_BADLY = frozenset({"Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"})
SUCCESSFUL = "Successful"


def refreshed(refreshes: Sequence[Mapping[str, Any]], version: str | int, since: dt.datetime,
              what: str = "the Auto Scaling group", slack: dt.timedelta = CLOCK_SLACK) -> Readiness:
    """Whether the group's instance refresh for the change made at `since` has succeeded, from a
    DescribeInstanceRefreshes answer's `InstanceRefreshes` (boto3's parsed shapes: StartTime a
    datetime). Ready when the newest fresh refresh is `Successful`; Waiting while it runs (quoting
    its progress and AWS's reason) or before one has started; Refused when it failed, was
    cancelled or rolled back, quoting AWS's StatusReason."""
    wanted = str(version)
    earliest = _aware(since) - slack
    fresh, other_version = [], []
    for refresh in refreshes:
        started = refresh.get("StartTime")
        if not isinstance(started, dt.datetime) or _aware(started) < earliest:
            continue  # undated or from before the change: not evidence of it
        named = _desired_version(refresh)
        if named is not None and named != wanted:
            other_version.append(f"{refresh.get('InstanceRefreshId', '?')} is for version {named}")
            continue
        fresh.append(refresh)
    if not fresh:
        found = f" ({'; '.join(other_version)})" if other_version else ""
        return Readiness("Waiting", f"{what}: no instance refresh to launch template version {wanted} has started "
                                    f"since the change at {_stamp(since)}{found}")
    newest = max(fresh, key=lambda r: _aware(r["StartTime"]))
    status = str(newest.get("Status", ""))
    name = f"{what}: instance refresh {newest.get('InstanceRefreshId', '?')}"
    reason = str(newest.get("StatusReason") or "").strip()
    if status == SUCCESSFUL:
        return Readiness("Ready")
    if status in ENDED_BADLY:
        return Readiness("Refused", f"{name} ended {status}: {reason or 'AWS gives no reason'}")
    progress = newest.get("PercentageComplete")
    done = f", {progress}% complete" if progress is not None else ""
    left = newest.get("InstancesToUpdate")
    remaining = f", {left} instances to update" if left is not None else ""
    if status in RUNNING:
        return Readiness("Waiting", f"{name} is {status}{done}{remaining}{': ' + reason if reason else ''}")
    return Readiness("Waiting", f"{name} has a status this operator does not know, {status or 'none'!r}"
                                f"{': ' + reason if reason else ''}")


def _desired_version(refresh: Mapping[str, Any]) -> str | None:
    template = ((refresh.get("DesiredConfiguration") or {}).get("LaunchTemplate") or {})
    version = template.get("Version")
    return None if version is None else str(version)


def _aware(moment: dt.datetime) -> dt.datetime:
    """A naive datetime is UTC (boto3 parses AWS's timestamps as aware)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _stamp(moment: dt.datetime) -> str:
    return _aware(moment).astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
