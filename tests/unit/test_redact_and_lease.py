"""Credentials masked on the way out of the process, and the Lease claims of leader election."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest

from tap_optimizer import redact
from tap_optimizer.leaderelection import Timing, claim, micro_time

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
TIMING = Timing(15)


@pytest.mark.parametrize(("text", "masked"), [
    ("GET http://alice:s3cret@prometheus:9090/api", "GET http://***@prometheus:9090/api"),
    ("https://token@host and http://plain:9090", "https://***@host and http://plain:9090"),
    ("Authorization: Bearer abc.DEF-123", "Authorization: Bearer ***"),
    ("mail me at a@b.c", "mail me at a@b.c"),
])
def test_user_information_and_bearer_tokens_are_masked(text, masked):
    assert redact.text(text) == masked


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
