"""When a phase (or a restore) counts as live: the TapPlatform and the composed resources it
changes, read from their conditions, never from stale ones."""

from __future__ import annotations

from tap_optimizer.plan.readiness import ObjectRef, affected, readiness
from tap_optimizer.platform.parameters import defaulted_parameters

WRITER = ObjectRef("rds.aws.m.upbound.io/v1beta1", "ClusterInstance", "tap-prod-database-writer")


def obj(generation: int, synced: str = "True", ready: str = "True", observed: int | None = None,
        message: str = "") -> dict:
    seen = generation if observed is None else observed
    return {"metadata": {"generation": generation}, "status": {"conditions": [
        {"type": "Synced", "status": synced, "reason": "ReconcileError" if synced == "False" else "Ok",
         "message": message, "observedGeneration": seen},
        {"type": "Ready", "status": ready, "reason": "Available", "observedGeneration": seen}]}}


def test_ready_when_the_platform_and_every_changed_resource_are_synced_and_ready():
    assert readiness(obj(3), 3, {WRITER: obj(2)}, []).state == "Ready"


def test_a_current_refusal_is_refused_quoting_the_provider():
    found = readiness(obj(3), 3, {WRITER: obj(2, synced="False", message="requires replacing it")}, [])
    assert found.state == "Refused" and "requires replacing it" in found.message and "writer" in found.message


def test_a_refusal_observed_at_an_older_generation_is_stale_not_a_refusal():
    found = readiness(obj(3), 3, {WRITER: obj(3, synced="False", observed=2)}, [])
    assert found.state == "Waiting" and "not yet Synced and Ready" in found.message


def test_nothing_is_judged_before_the_platform_reconciled_the_generation():
    found = readiness(obj(3, observed=2), 3, {WRITER: obj(2, synced="False")}, [])
    assert found.state == "Waiting" and "generation 2 of 3" in found.message


def test_missing_and_lingering_resources_keep_it_waiting():
    gone = ObjectRef("rds.aws.m.upbound.io/v1beta1", "ClusterInstance", "tap-prod-database-reader-1")
    found = readiness(obj(3), 3, {WRITER: None}, [gone])
    assert found.state == "Waiting" and "does not exist yet" in found.message and "not deleted yet" in found.message


def test_the_resources_to_watch_are_the_difference_of_two_renders():
    before = defaulted_parameters({})
    after = {**before, "database": {**before["database"], "readerCount": 1}}
    changed, removed = affected("tap-prod", before, after)
    assert [r.name for r in removed] == ["tap-prod-database-reader-1"] and changed == []
