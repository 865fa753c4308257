"""Leader election over a coordination.k8s.io Lease, as client-go's leaderelection does it.

Several replicas share one Lease; the one named in `spec.holderIdentity` acts, the others stand
by. The holder renews `spec.renewTime` every `retry` seconds; a candidate takes the Lease once it
has seen the same record unchanged for `leaseDurationSeconds` (measured on its own monotonic
clock, so clocks that disagree between nodes do not matter). Every write carries the
resourceVersion it read, so two candidates never both win: the API server refuses the second
(409). A holder that cannot renew within `renew_deadline` (shorter than the lease) has lost it
and must stop acting at once; a holder that stops cleanly releases the Lease so a standby takes
over without waiting for it to expire.

Every Lease call is bounded, as client-go bounds it with its context: a renewal by what is left
of the renew deadline, any other call by one renew deadline (the client's `_request_timeout`,
and asyncio.wait_for in case the call outlives it, say on urllib3's retries). A call that hangs
is a failed attempt, never a leader that keeps acting past its deadline.

Why not kopf peering: with equal priorities kopf pauses every replica ("Pausing all operators,
including self", kopf/_core/engines/peering.py), and distinct priorities would have to be handed
out to identical pods; peering has no per-object lock either.

The Kubernetes calls run on a thread of their own, so a busy worker pool never delays a renewal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.rest import ApiException

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """client-go's three durations, derived from the lease duration in the same ratios (15/10/2 s)."""

    lease: float

    @property
    def renew_deadline(self) -> float:
        return self.lease * 2 / 3

    @property
    def retry(self) -> float:
        return max(0.1, self.lease * 2 / 15)


def micro_time(at: dt.datetime) -> str:
    """A Lease's MicroTime."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claim(spec: dict[str, Any] | None, identity: str, unchanged_for: float, timing: Timing,
          now: dt.datetime) -> dict[str, Any] | None:
    """The Lease spec to write to hold the Lease now, or None when another holder's is still valid.

    `unchanged_for`: how long this candidate has seen the current record without a change."""
    spec = spec or {}
    holder = spec.get("holderIdentity") or ""
    stamp = micro_time(now)
    if holder == identity:
        return {**spec, "renewTime": stamp, "leaseDurationSeconds": int(timing.lease)}
    if holder and unchanged_for < float(spec.get("leaseDurationSeconds") or timing.lease):
        return None
    return {"holderIdentity": identity, "leaseDurationSeconds": int(timing.lease), "acquireTime": stamp,
            "renewTime": stamp, "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)}


class LeaseElector:
    """Acquire, hold and release one Lease."""

    def __init__(self, namespace: str, name: str, identity: str, timing: Timing,
                 api: kubernetes.client.ApiClient | None = None) -> None:
        self.namespace, self.name, self.identity, self.timing = namespace, name, identity, timing
        self.api = kubernetes.client.CoordinationV1Api(api)
        # two threads: a call that outlived its deadline may still hold one until its socket times out
        self._executor = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="lease")
        self._seen: tuple[Any, float] = (None, time.monotonic())  # (record, since when unchanged)
        self.leading = False
        self.holder = ""  # the holder identity last seen in the Lease ("" when none); read by /dashboard

    async def acquire(self) -> None:
        """Return once this replica holds the Lease."""
        logger.info("standing by for the Lease %s/%s as %s", self.namespace, self.name, self.identity)
        while not await self._try(time.monotonic() + self.timing.renew_deadline):
            await asyncio.sleep(self.timing.retry)
        self.leading = True
        logger.info("leading: holding the Lease %s/%s as %s", self.namespace, self.name, self.identity)

    async def hold(self) -> None:
        """Renew the Lease until a renewal has not succeeded for renew_deadline; then return (lost).

        Each attempt is bounded by what is left of the deadline, so a call that hangs ends it on time."""
        deadline = time.monotonic() + self.timing.renew_deadline
        while True:
            await asyncio.sleep(max(0.0, min(self.timing.retry, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                break
            if await self._try(deadline):
                deadline = time.monotonic() + self.timing.renew_deadline
        self.leading = False
        logger.error("lost the Lease %s/%s: no renewal for %.1f s", self.namespace, self.name,
                     self.timing.renew_deadline)

    async def release(self) -> None:
        """Give the Lease up now, if still ours, so a standby need not wait for it to expire."""
        if not self.leading:
            return
        self.leading = False
        deadline = time.monotonic() + self.timing.renew_deadline
        try:
            lease = await self._call(deadline, self.api.read_namespaced_lease, self.name, self.namespace)
            if (lease.spec.holder_identity or "") == self.identity:
                await self._call(deadline, self.api.patch_namespaced_lease, self.name, self.namespace, {
                    "metadata": {"resourceVersion": lease.metadata.resource_version},
                    "spec": {"holderIdentity": None, "renewTime": None, "acquireTime": None}})
                self.holder = ""
                logger.info("released the Lease %s/%s", self.namespace, self.name)
        except (ApiException, OSError, urllib3.exceptions.HTTPError) as error:
            logger.warning("could not release the Lease %s/%s: %s", self.namespace, self.name, error)

    async def _try(self, deadline: float) -> bool:
        """One attempt to acquire or renew by `deadline` (monotonic); False when someone else holds
        it, the API said no, or it did not answer in time."""
        try:
            return await self._attempt(deadline)
        except ApiException as error:
            if error.status not in (404, 409):
                logger.warning("Lease %s/%s: %s %s", self.namespace, self.name, error.status, error.reason)
            return False
        except TimeoutError:
            logger.warning("Lease %s/%s: the API server did not answer within the renew deadline",
                           self.namespace, self.name)
            return False
        except (OSError, urllib3.exceptions.HTTPError) as error:
            logger.warning("Lease %s/%s: %s", self.namespace, self.name, error)
            return False

    async def _attempt(self, deadline: float) -> bool:
        now = dt.datetime.now(dt.UTC)
        try:
            lease = await self._call(deadline, self.api.read_namespaced_lease, self.name, self.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            spec = claim(None, self.identity, 0, self.timing, now)
            await self._call(deadline, self.api.create_namespaced_lease, self.namespace, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec})
            self.holder = self.identity
            return True
        record = self.api.api_client.sanitize_for_serialization(lease.spec) or {}
        self.holder = record.get("holderIdentity") or ""
        if record != self._seen[0]:
            self._seen = (record, time.monotonic())
        spec = claim(record, self.identity, time.monotonic() - self._seen[1], self.timing, now)
        if spec is None:
            return False
        await self._call(deadline, self.api.patch_namespaced_lease, self.name, self.namespace,
                         {"metadata": {"resourceVersion": lease.metadata.resource_version}, "spec": spec})
        self.holder = self.identity
        return True

    async def _call(self, deadline: float, function: Any, *args: Any) -> Any:
        """The blocking client call on the Lease thread, bounded by `deadline`; TimeoutError past it."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        call = functools.partial(function, *args, _request_timeout=remaining)
        return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(self._executor, call), remaining)
