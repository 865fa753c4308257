"""Which parameter values to write back: the changes a finished plan left applied, or the
differences between the manifest and the live TapPlatform. Pure: data in, data out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.model import TERMINAL
from tap_optimizer.platform import pointer


class ExportError(ValueError):
    """A source that cannot be written back; the message names the field and what is allowed."""


@dataclass(frozen=True)
class Assignment:
    """One parameter's value in git after the write-back (ABSENT: the key goes)."""

    path: str
    value: Any


def applied_by_plan(plan: Mapping[str, Any]) -> list[Assignment]:
    """The recorded values of the plan's Succeeded phases, in plan order (a later phase's value of
    the same path wins). A plan still under way is refused: a phase that passed its window may yet
    be rolled back (`rollbackScope: Plan`, an abort). So is a retried plan whose last attempt did
    not apply every phase: an earlier attempt may have left phases applied that it does not record."""
    name = (plan.get("metadata") or {}).get("name")
    status = plan.get("status") or {}
    state = plan_status.state(status)
    if state not in TERMINAL:
        raise ExportError(f"plan {name}: status.state is {state or 'not set'}; export a plan that finished "
                          f"({', '.join(sorted(TERMINAL))}): its Succeeded phases are then final")
    attempt, phases = plan_status.attempt(status), plan_status.phases(status)
    if attempt > 1 and any(phase.get("state") != "Succeeded" for phase in phases or [{}]):
        raise ExportError(f"plan {name}: attempt {attempt} did not apply every phase, and what the attempts before "
                          "it left applied is not in its status; write the live TapPlatform back with --live")
    return [Assignment(change["path"], change.get("after", pointer.ABSENT))
            for phase in plan_status.phases_in(status, "Succeeded")
            for change in phase.get("changes") or []]


def changes(old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> Iterator[tuple[str, Any, Any]]:
    """(path, old value, new value) of every difference: objects compared key by key, anything else
    (lists, scalars) whole; ABSENT where a key is missing on one side."""
    for key in [*old, *(k for k in new if k not in old)]:
        here = f"{path}/{pointer.escape(key)}"
        before, after = old.get(key, pointer.ABSENT), new.get(key, pointer.ABSENT)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            yield from changes(before, after, here)
        elif before != after:
            yield here, before, after


def differences(declared: Mapping[str, Any], live: Mapping[str, Any]) -> list[Assignment]:
    """What to assign so that `declared` (the manifest's parameters, defaulted) become `live`'s."""
    return [Assignment(path, after) for path, _before, after in changes(declared, live, pointer.PREFIX)]


def target_name(plan: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The (namespace, name) of the TapPlatform a plan changes: its targetRef, in the plan's namespace."""
    ref = (plan.get("spec") or {}).get("targetRef") or {}
    return (plan.get("metadata") or {}).get("namespace"), ref.get("name")
