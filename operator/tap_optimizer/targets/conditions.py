"""Conditions that speak of the spec an object has now, and nothing older.

A condition counts when it can be shown to be about the current spec: its `observedGeneration`
is the object's generation or later, or (ACK writes no `observedGeneration`, see
`../shared/reference/ack.md` 1.3) it was stamped at or after the moment of the change. Anything
else is left over from before the change and says nothing about it.

provider-upjet-aws runs updates asynchronously and keeps `Synced=True`/`Ready=True` while they
run; only two more conditions tell (crossplane/upjet `pkg/resource/conditions.go`):
`AsyncOperation` (`False`/`Ongoing` while Terraform applies, `True`/`Finished` after) and
`LastAsyncOperation` (`True`/`Success`, or `False`/`ApplyFailure` with Terraform's error).
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """The object's condition of this type, or {} when it has none."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def stamped(found: dict[str, Any]) -> dt.datetime | None:
    """The condition's lastTransitionTime (RFC 3339), or None when absent or unreadable."""
    text = found.get("lastTransitionTime")
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def current(obj: dict[str, Any], kind: str, since: dt.datetime) -> dict[str, Any]:
    """The condition if it is about the object's current spec (see the module docstring), else {}."""
    found = condition(obj, kind)
    if not found:
        return {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = found.get("observedGeneration")
    if observed is not None:
        return found if generation is None or observed >= generation else {}
    moment = stamped(found)
    return found if moment is not None and moment >= since else {}


def async_failure(obj: dict[str, Any], since: dt.datetime) -> str | None:
    """upjet's last asynchronous operation failed after the change: its message; else None.

    Only a failure stamped strictly after the change counts: one from before it is about an older
    spec, and a rollback restored right after a failure must not read that failure as its own.
    (A provider clock running behind could hide a real failure; the change then never reads back
    in atProvider and `applyTimeout` rolls it back: slower, never unsafe.)"""
    last = condition(obj, "LastAsyncOperation")
    moment = stamped(last)
    if last.get("status") != "False" or moment is None or moment <= since:
        return None
    return f"{last.get('reason', 'AsyncFailure')}: {last.get('message', '')}".rstrip(": ")


def async_ongoing(obj: dict[str, Any]) -> bool:
    """upjet is still applying an update asynchronously (AsyncOperation False, reason Ongoing)."""
    running = condition(obj, "AsyncOperation")
    return running.get("status") == "False" and running.get("reason") == "Ongoing"
