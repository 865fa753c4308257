"""Credentials masked on the way out of the process, and the Lease claims of leader election."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest

from pythonjsonlogger.json import JsonFormatter

from tap_optimizer import redact
from tap_optimizer.leaderelection import Timing, claim, micro_time

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
