"""The instance refreshes of a watched Auto Scaling group, asked of AWS
(`autoscaling:DescribeInstanceRefreshes`), judged by `targets.refresh.refreshed`.

Neither Crossplane nor provider-upjet-aws reports instance refreshes in the managed resource's
status, so this is the one piece of a phase's readiness read from AWS rather than the cluster. The
group is the managed resource's external name (`crossplane.io/external-name`) in its
`spec.forProvider.region`. Clients, credentials and endpoint are the CloudWatch gates' (the
analysis' `Aws`: the boto3 credentials chain, AWS_PROFILE, AWS_ENDPOINT_URL), with their retries
and timeouts, called off the event loop.

Never raises and never reads a failure as evidence: missing or refused credentials, a throttled or
unreachable endpoint, a group without an external name or region yet are all Waiting, quoting why,
so the phase ends by its applyTimeout and rolls back (fail safe); a Waiting for want of an answer
says how to fix it (`FIX`: credentials, or `targets.instanceRefresh: Skip`). Each call that ends
without an answer is counted in tap_optimizer_errors_total{system="aws"}. The operator's role needs
`autoscaling:DescribeInstanceRefreshes`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tap_optimizer.analysis.aws import Aws
from tap_optimizer.gates.cloudwatch import RETRIES, TIMEOUT_SECONDS, classify
from tap_optimizer.metrics import METRICS
from tap_optimizer.plan.model import Readiness
from tap_optimizer.targets.refresh import refreshed

EXTERNAL_NAME = "crossplane.io/external-name"
MAX_RECORDS = 100  # the API's largest page
MAX_PAGES = 5  # the newest refreshes come first; a phase's is among the first few
FIX = ("the phase rolls back at its applyTimeout unless the operator can ask AWS: give it credentials allowed "
       "autoscaling:DescribeInstanceRefreshes (the chart's serviceAccount.irsaRoleArn or aws.existingSecret), or "
       "set targets.instanceRefresh: Skip in its configuration (the phase is then observed once the group names "
       "the new template version; instances may still be old)")


class InstanceRefreshes:
    """DescribeInstanceRefreshes through one set of boto3 clients (one per region)."""

    def __init__(self, aws: Aws | None = None) -> None:
        self._aws = aws or Aws(max_attempts=RETRIES, timeout=TIMEOUT_SECONDS)

    async def readiness(self, group: Mapping[str, Any], version: str | int, since: dt.datetime,
                        what: str | None = None) -> Readiness:
        """Whether the Auto Scaling group `group` (the managed resource as the cluster has it) has
        an instance refresh to launch template `version`, started since `since`, that succeeded."""
        metadata = group.get("metadata") or {}
        what = what or f"{group.get('kind', 'AutoscalingGroup')}/{metadata.get('name', '?')}"
        name = (metadata.get("annotations") or {}).get(EXTERNAL_NAME)
        region = ((group.get("spec") or {}).get("forProvider") or {}).get("region")
        if not name or not region:
            return Readiness("Waiting", f"{what}: its AWS name ({EXTERNAL_NAME}) and region are not known yet, so "
                                        "its instance refresh cannot be asked of AWS")
        try:
            found = await asyncio.to_thread(self.describe, region, name)
        except Exception as error:  # never raises: no answer is no evidence
            METRICS.error("aws")
            reason, _ = classify(error, region, "Auto Scaling")
            return Readiness("Waiting", f"{what}: its instance refresh is unknown: {reason}; {FIX}")
        return refreshed(found, version, since, what)

    async def confirm(self, judged: Readiness, groups: Sequence[tuple[str, Mapping[str, Any], str]],
                      since: dt.datetime) -> Readiness:
        """The phase's readiness `judged` from the cluster (`tapplatform.readiness`), and, once that
        is Ready (every group runs its template's latest version), each group's instance refresh
        (`tapplatform.refreshing`: name, group, version): the first that is not Ready, else Ready.
        AWS is asked nothing before the cluster says Ready."""
        if judged.state != "Ready":
            return judged
        for what, group, version in groups:
            found = await self.readiness(group, version, since, what)
            if found.state != "Ready":
                return found
        return judged

    def describe(self, region: str, name: str) -> list[dict[str, Any]]:
        """The group's instance refreshes, newest first, over at most MAX_PAGES pages."""
        client = self._aws.client("autoscaling", region)
        request: dict[str, Any] = {"AutoScalingGroupName": name, "MaxRecords": MAX_RECORDS}
        out: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            answer = client.describe_instance_refreshes(**request)
            out += answer.get("InstanceRefreshes", [])
            if not answer.get("NextToken"):
                break
            request["NextToken"] = answer["NextToken"]
        return out
