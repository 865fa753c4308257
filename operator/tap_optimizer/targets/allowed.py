"""The `targets` section of the operator's configuration: the kinds a plan's `spec.targetRef` may
name, and whether an instance-type change waits for the Auto Scaling group's instance refresh. The
chart renders it from its values `targets.kinds` and `targets.instanceRefresh`, and grants `get`
and `patch` on exactly those kinds (and `get` on their CRDs, by name), so a plan naming another
kind is Blocked with `refusal`'s reason before any call, never answered 403 over and over.

```yaml
targets:
  kinds:
  - {apiVersion: platform.tap.io/v1alpha1, kind: TapPlatform}
  - {apiVersion: rds.services.k8s.aws/v1alpha1, kind: DBInstance}
  instanceRefresh: Await   # or Skip
```

Absent: the TapPlatform only. A kind may be listed only if an adapter can change it (`supported`):
the TapPlatform, the ACK kinds of `ack_kinds.KINDS` and the provider-upjet-aws managed kinds of
`managed.RULES` (their namespaced `.aws.m.upbound.io` groups).

`instanceRefresh` (chart value `targets.instanceRefresh`): `Await`, the default, observes a
TapPlatform phase that changes the instance type only once the Auto Scaling group runs the launch
template's new version and its instance refresh has succeeded, which the operator asks of AWS
(`autoscaling:DescribeInstanceRefreshes`, `aws_refresh.py`); without AWS access such a phase waits,
saying why, and rolls back at its applyTimeout. `Skip`: the phase is observed once the group names
the new template version; instances may still be old (for an operator without AWS access)."""

from __future__ import annotations

from typing import Any

from tap_optimizer.gates.endpoints import ConfigError
from tap_optimizer.targets import kinds
from tap_optimizer.targets.kinds import supported

Kind = tuple[str, str]  # (apiVersion, kind), as an object's own fields say it
TAPPLATFORM: Kind = kinds.TAPPLATFORM
DEFAULT: frozenset[Kind] = frozenset({TAPPLATFORM})
KEYS = ("apiVersion", "kind")
CONFIG_KEY = "targets.kinds"  # in the operator's configuration, and the chart value of the same name
REFRESH_KEY = "targets.instanceRefresh"  # likewise
SECTION_KEYS = ("kinds", "instanceRefresh")
AWAIT, SKIP = "Await", "Skip"
INSTANCE_REFRESH = (AWAIT, SKIP)


def resource(kind: str) -> str:
    """The resource (plural) name of a kind: lowercase, `y` after a consonant to `ies`, `s` to
    `ses`, else `s` added. The ACK and provider-upjet-aws CRDs follow this rule, and so does the
    chart's RBAC template (`tap-optimizer.resource` in _helpers.tpl)."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


def crd_name(api_version: str, kind: str) -> str:
    """`dbinstances.rds.services.k8s.aws`: the name of the kind's CustomResourceDefinition."""
    return f"{resource(kind)}.{api_version.partition('/')[0]}"


def parse(document: Any) -> frozenset[Kind]:
    """The allowed kinds of the configuration document (None, or no `targets`: the TapPlatform only);
    ConfigError names the key and lists what is supported."""
    section = _section(document)
    entries = section.get("kinds")
    if entries is None:
        return DEFAULT
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{CONFIG_KEY}: expected a non-empty list of {{apiVersion, kind}}; supported: {_listed()}")
    found: dict[Kind, str] = {}
    for index, entry in enumerate(entries):
        where = f"{CONFIG_KEY}[{index}]"
        pair = _kind(entry, where)
        if pair in found:
            raise ConfigError(f"{where}: {_name(pair)} is listed twice (also {found[pair]})")
        found[pair] = where
    return frozenset(found)


def instance_refresh(document: Any) -> str:
    """`targets.instanceRefresh` of the configuration document: Await (the default) or Skip;
    ConfigError names the key."""
    value = _section(document).get("instanceRefresh", AWAIT)
    if value not in INSTANCE_REFRESH:
        raise ConfigError(f"{REFRESH_KEY}: expected {' or '.join(INSTANCE_REFRESH)}, found {value!r} (Await: an "
                          "instance-type change is observed once the group's instance refresh succeeded, asked of "
                          "AWS; Skip: once the group names the new template version, instances may still be old)")
    return str(value)


def _section(document: Any) -> dict[str, Any]:
    """The `targets` mapping ({} without one); ConfigError when it is not one or has another key."""
    section = document.get("targets") if isinstance(document, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict) or set(section) - set(SECTION_KEYS):
        raise ConfigError(f"targets: expected a mapping with the keys {' and '.join(SECTION_KEYS)}")
    return section


def _kind(entry: Any, where: str) -> Kind:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with keys {', '.join(KEYS)}")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(KEYS)}")
    for key, example in zip(KEYS, TAPPLATFORM, strict=True):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigError(f"{where}.{key}: required, a string such as {example}")
    pair: Kind = (entry["apiVersion"], entry["kind"])
    if pair not in supported():
        key = "kind" if any(api_version == pair[0] for api_version, _ in supported()) else "apiVersion"
        raise ConfigError(f"{where}.{key}: {_name(pair)} is not a kind the operator can change; "
                          f"supported: {_listed()}")
    return pair


def refusal(kinds: frozenset[Kind], api_version: str, kind: str) -> str:
    """Why a plan whose target is of this kind is Blocked, in one sentence naming the kind and what
    would allow it; "" when the configuration allows it."""
    pair = (api_version, kind)
    if pair in kinds:
        return ""
    if pair not in supported():
        return f"the target's kind {_name(pair)} is not one the operator can change; supported: {_listed()}"
    return (f"the target's kind {_name(pair)} is not allowed by the operator's configuration: list it in "
            f"{CONFIG_KEY} (the chart value {CONFIG_KEY}, which also grants the operator patch on it)")


def _name(pair: Kind) -> str:
    return f"{pair[0]} {pair[1]}"


def _listed() -> str:
    return ", ".join(_name(pair) for pair in supported())
