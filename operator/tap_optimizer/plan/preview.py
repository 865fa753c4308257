"""What the API server and the operator would say about an OptimizationPlan before it is applied,
offline and with the operator's own code: the CRD's schema and rules (`openapi`), the checks a
schema cannot express (`spec.spec_errors`: durations, window sizes, change paths and values), and,
given the target's parameters, the state machine's own dry run (`machine.decide` with dryRun):
each phase's JSON patch and one-way doors, or why it cannot apply to that target.

`tap-optimizer validate` prints these; `report` and `backtest` refuse a plan file with
`object_refusals`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from tap_optimizer.openapi import apply_defaults, validate
from tap_optimizer.plan import machine
from tap_optimizer.plan.model import PlanRef, Target
from tap_optimizer.plan.spec import API_VERSION, KIND, PlanSpec, parse, plan_schema, spec_errors
from tap_optimizer.plan.status import PhaseRecord
from tap_optimizer.platform.parameters import defaulted_parameters, parameter_errors
from tap_optimizer.targets.kinds import TapPlatformKind


def object_refusals(plan: Any) -> list[str]:
    """Every reason the API server would refuse the object: apiVersion and kind, then the CRD's
    schema and rules over its spec and status (after defaulting), each naming its field."""
    kind = (plan.get("apiVersion"), plan.get("kind")) if isinstance(plan, dict) else None
    if kind != (API_VERSION, KIND):
        return [f"expected apiVersion {API_VERSION} kind {KIND}, got {kind}"]
    if not isinstance(plan.get("metadata"), dict | None):
        return [f"metadata: {plan['metadata']!r} is not of type 'object'"]
    schema = plan_schema()
    return [str(e) for e in validate(schema, apply_defaults(schema, {k: v for k, v in plan.items()
                                                                     if k in ("spec", "status")}))]


def refusals(plan: Any) -> list[str]:
    """Every reason the API server or the operator would refuse the plan (the operator fails a plan
    whose spec cannot run, naming every field); empty when it would start."""
    return object_refusals(plan) or [str(e) for e in spec_errors(plan.get("spec"))]


def dry_run(spec: PlanSpec, parameters: Mapping[str, Any], now: dt.datetime) -> list[PhaseRecord]:
    """The state machine's dry run of `spec` on a target with these (defaulted) parameters, as the
    operator runs it for `dryRun: true`: per phase `WouldPatch` with `wouldPatch` (the JSON-patch
    operations) and `oneWayDoors` (sentences), or `Invalid` with `message` (why it cannot apply)."""
    target = Target(exists=True, kind=TapPlatformKind(), obj={"spec": {"parameters": dict(parameters)}})
    decision = machine.decide(PlanRef("offline", "preview", 1), dataclasses.replace(spec, dry_run=True), {},
                              target, now)
    return list(decision.status.get("phases", []))


def target_refusals(plan: Mapping[str, Any], target: Mapping[str, Any], now: dt.datetime) -> list[str]:
    """Why the plan (one `refusals` accepts) would not run on this TapPlatform object: another name
    or namespace than spec.targetRef, parameters the XRD refuses (after its defaults, as the API
    server stores them), or phases the dry run finds invalid on them."""
    spec, meta = plan["spec"], target.get("metadata") or {}
    found = []
    if spec["targetRef"]["name"] != meta.get("name"):
        found.append(f"spec.targetRef.name: {spec['targetRef']['name']!r}, but the target is {meta.get('name')!r}")
    namespaces = {str(n) for n in ((plan.get("metadata") or {}).get("namespace"), meta.get("namespace")) if n}
    if len(namespaces) > 1:
        found.append(f"metadata.namespace: the plan and its target must share a namespace, got {sorted(namespaces)}")
    parameters = defaulted_parameters((target.get("spec") or {}).get("parameters"))
    invalid = parameter_errors(parameters)
    if invalid:
        return found + [f"the target's {error}" for error in invalid]
    phases = dry_run(parse(spec), parameters, now)
    found += [f"spec.phases[{i}] ({p['name']}): cannot apply to the target: {p.get('message', '')}"
              for i, p in enumerate(phases) if p["state"] == "Invalid"]
    return found
