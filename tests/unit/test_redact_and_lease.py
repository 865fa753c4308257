"""Credentials masked on the way out of the process, and the Lease claims of leader election."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import kubernetes
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from pythonjsonlogger.json import JsonFormatter

from tap_optimizer import redact
from tap_optimizer.leaderelection import LeaseElector, Timing, claim, micro_time

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
TIMING = Timing(15)


@pytest.mark.parametrize(("text", "masked"), [
    ("GET http://alice:s3cret@prometheus:9090/api", "GET http://***@prometheus:9090/api"),
    ("https://token@host and http://plain:9090", "https://***@host and http://plain:9090"),
    ("Authorization: Bearer abc.DEF-123", "Authorization: Bearer ***"),
    ("mail me at a@b.c", "mail me at a@b.c"),
    # the reviewer's inputs: user information runs to the last @ before the host
    ("http://alice:s3cr@t-Leak@host:9", "http://***@host:9"),
    ("http://alice:Le#ak@host:9", "http://***@host:9"),
    ("http://user:pa?ss@h", "http://***@h"),
    ("//user:pass@h", "//***@h"),
    ("see //user:pass@h/x", "see //***@h/x"),
    ("http://user:pa/ss@h/api", "http://***@h/api"),
    ('{"url": "http://a:b@h1:9", "mail": "x@y.z"}', '{"url": "http://***@h1:9", "mail": "x@y.z"}'),
    # any Authorization scheme, any case; a bearer token of any characters
    ("BEARER abc", "BEARER ***"),
    ("Bearer abc!def$ghi", "Bearer ***"),
    ("bearer abc!def$ghi, then more", "bearer *** then more"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
    ("authorization: DIGEST username=alice", "authorization: DIGEST ***"),
    ("AUTHORIZATION=s3cret", "AUTHORIZATION=***"),
    ("{'Authorization': 'Basic dXNlcjpwYXNz', 'Accept': '*/*'}", "{'Authorization': 'Basic ***', 'Accept': '*/*'}"),
    ('{"authorization":"Token abc"}', '{"authorization":"Token ***"}'),
    ("Proxy-Authorization: Basic dXNl", "Proxy-Authorization: Basic ***"),
    ("the authorization failed: 403", "the authorization failed: 403"),
])
def test_user_information_and_bearer_tokens_are_masked(text, masked):
    assert redact.text(text) == masked
    assert redact.text(masked) == masked, "masking twice changes nothing"


def test_documents_are_masked_everywhere_and_not_changed_in_place():
    plan = {"spec": {"gates": {"prometheus": {"url": "http://u:p@h:1"}}, "list": ["Bearer xyz", 3]}}
    assert redact.document(plan) == {"spec": {"gates": {"prometheus": {"url": "http://***@h:1"}},
                                              "list": ["Bearer ***", 3]}}
    assert plan["spec"]["gates"]["prometheus"]["url"] == "http://u:p@h:1"


def test_every_log_line_is_masked_once_the_filter_is_installed():
    logger, out = logging.getLogger("redaction-test"), io.StringIO()
    logger.addHandler(logging.StreamHandler(out))
    logger.propagate = False
    redact.install(logger)
    logger.warning("querying %s failed", "http://alice:pw@prometheus:9090")
    assert out.getvalue() == "querying http://***@prometheus:9090 failed\n"


URL, BASIC = "http://alice:s3cr@t-Leak@prometheus:9090", "dXNlcjpwYXNz"


def raise_with_credentials() -> None:
    raise ConnectionError(f"cannot reach {URL}, Authorization: Basic {BASIC} refused")


@pytest.mark.parametrize("formatter", [logging.Formatter(), JsonFormatter()], ids=["plain", "kopf's JSON"])
def test_a_traceback_and_a_stack_attached_to_a_log_line_are_masked(formatter):
    logger, out = logging.getLogger(f"redaction-test-{id(formatter)}"), io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.propagate = False
    redact.install(logger)
    try:
        raise_with_credentials()
    except ConnectionError:
        logger.exception("query failed")
    logger.warning("where: %s", "here", stack_info=True)
    logger.error("wrapped", exc_info=RuntimeError("Bearer abc!def$ghi"))
    written = out.getvalue()
    assert "ConnectionError: cannot reach http://***@prometheus:9090, Authorization: Basic *** refused" in written
    assert "raise_with_credentials" in written and "Stack (most recent call last)" in written
    assert "RuntimeError: Bearer ***" in written
    for secret in ("alice", "s3cr", "Leak", "dXNlcjpwYXNz", "abc!def"):
        assert secret not in written, secret


def test_a_free_lease_is_taken_and_ones_own_is_renewed():
    taken = claim(None, "a", 0, TIMING, NOW)
    assert taken == {"holderIdentity": "a", "leaseDurationSeconds": 15, "acquireTime": micro_time(NOW),
                     "renewTime": micro_time(NOW), "leaseTransitions": 0}
    later = NOW + dt.timedelta(seconds=2)
    assert claim(taken, "a", 0, TIMING, later) == {**taken, "renewTime": micro_time(later)}


def test_anothers_lease_is_taken_only_after_it_went_unrenewed_for_its_duration():
    held = {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": micro_time(NOW), "leaseTransitions": 2}
    assert claim(held, "b", 14.9, TIMING, NOW) is None
    taken = claim(held, "b", 15, TIMING, NOW)
    assert taken["holderIdentity"] == "b" and taken["leaseTransitions"] == 3
    released = {**held, "holderIdentity": None}
    assert claim(released, "b", 0, TIMING, NOW)["holderIdentity"] == "b", "a released Lease is free at once"


def test_timing_keeps_client_gos_ratios():
    assert (TIMING.renew_deadline, TIMING.retry) == (10, 2)


@dataclasses.dataclass
class LeaseServer:
    """The Lease endpoints of an API server, over HTTP; `hang` makes it stop answering Lease reads."""

    api: kubernetes.client.ApiClient | None = None
    lease: dict[str, Any] | None = None
    hang: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    end: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    reads: int = 0


@pytest_asyncio.fixture
async def lease_server() -> AsyncIterator[LeaseServer]:
    made = LeaseServer()
    path = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    def stored(body: dict[str, Any], request: web.Request) -> web.Response:
        version = int((made.lease or {}).get("metadata", {}).get("resourceVersion", "0")) + 1
        made.lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                      "metadata": {"name": request.match_info.get("name") or body["metadata"]["name"],
                                   "namespace": request.match_info["namespace"], "resourceVersion": str(version)},
                      "spec": body["spec"]}
        return web.json_response(made.lease)

    async def read(request: web.Request) -> web.Response:
        made.reads += 1
        if made.hang.is_set():
            await made.end.wait()  # until the test is over: a read that never answers
        if made.lease is None:
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"}, status=404)
        return web.json_response(made.lease)

    async def create(request: web.Request) -> web.Response:
        return stored(await request.json(), request)

    async def patch(request: web.Request) -> web.Response:
        body = await request.json()
        if body["metadata"]["resourceVersion"] != made.lease["metadata"]["resourceVersion"]:
            return web.json_response({"kind": "Status", "code": 409, "reason": "Conflict"}, status=409)
        return stored({"spec": {**made.lease["spec"], **body["spec"]}}, request)

    app = web.Application()
    app.router.add_get(path + "/{name}", read)
    app.router.add_patch(path + "/{name}", patch)
    app.router.add_post(path, create)
    async with TestServer(app, host="127.0.0.1") as server:
        configuration = kubernetes.client.Configuration(host=str(server.make_url("")).rstrip("/"))
        made.api = kubernetes.client.ApiClient(configuration)
        yield made
        made.end.set()


async def test_a_leader_whose_lease_reads_hang_steps_down_by_its_renew_deadline(lease_server):
    timing = Timing(1.5)  # renew deadline 1 s, retry 0.2 s
    elector = LeaseElector("tap-optimizer", "tap-optimizer", "replica-a", timing, lease_server.api)
    await asyncio.wait_for(elector.acquire(), 5)
    assert elector.leading and lease_server.lease["spec"]["holderIdentity"] == "replica-a"
    lease_server.hang.set()
    started = time.monotonic()
    await asyncio.wait_for(elector.hold(), 10)
    took = time.monotonic() - started
    assert not elector.leading
    assert lease_server.reads >= 2, "it read the Lease, then hung on it"
    assert took < timing.renew_deadline + 1.0, f"stepped down {took:.2f} s after the last renewal"


async def test_a_leader_renews_while_the_api_server_answers(lease_server):
    timing = Timing(1.5)
    elector = LeaseElector("tap-optimizer", "tap-optimizer", "replica-a", timing, lease_server.api)
    await asyncio.wait_for(elector.acquire(), 5)
    holding = asyncio.create_task(elector.hold())
    await asyncio.sleep(3 * timing.renew_deadline)
    assert not holding.done() and elector.leading and elector.holder == "replica-a"
    assert int(lease_server.lease["metadata"]["resourceVersion"]) > 5, "renewed every retry period"
    holding.cancel()
    await elector.release()
    assert lease_server.lease["spec"]["holderIdentity"] is None
