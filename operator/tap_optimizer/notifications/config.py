"""The `notifications` section of the operator's configuration: the webhooks to tell, each with the
events it wants, the namespaces whose plans it hears of, its body's format and its timeout."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from tap_optimizer.gates.endpoints import ConfigError, SecretRef, config_secret
from tap_optimizer.notifications.messages import FORMATS, Format
from tap_optimizer.notifications.transitions import EVENTS
from tap_optimizer.plan.durations import seconds

DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 30.0  # a webhook never holds anything longer than this (and never a plan's step)
KEYS = ("name", "url", "urlSecretRef", "format", "events", "namespaces", "timeout")


@dataclass(frozen=True)
class Webhook:
    """One webhook: its URL given, or read from a Secret in the operator's namespace (`secret`)."""

    name: str
    url: str = ""
    form: Format = "generic"
    events: frozenset[str] = frozenset(EVENTS)
    namespaces: frozenset[str] | None = None  # None: every namespace's plans
    timeout: float = DEFAULT_TIMEOUT
    secret: SecretRef | None = None

    def wants(self, event: str, namespace: str) -> bool:
        return event in self.events and (self.namespaces is None or namespace in self.namespaces)


def parse(document: Any, namespace: str = "") -> tuple[Webhook, ...]:
    """The webhooks of the configuration document (None: none); ConfigError names the key.
    `namespace`: the operator's, where a `urlSecretRef` is read (the document's own `namespace` first)."""
    section = (document or {}).get("notifications") if isinstance(document, dict) else None
    if section is None:
        return ()
    if not isinstance(section, dict) or set(section) - {"webhooks"}:
        raise ConfigError("notifications: expected a mapping with the one key webhooks")
    hooks = section.get("webhooks") or []
    if not isinstance(hooks, list):
        raise ConfigError("notifications.webhooks: expected a list")
    namespace = str(document.get("namespace") or namespace)
    found = tuple(_webhook(entry, f"notifications.webhooks[{index}]", namespace) for index, entry in enumerate(hooks))
    names = [hook.name for hook in found]
    if len(set(names)) != len(names):
        raise ConfigError(f"notifications.webhooks: names must differ; got {', '.join(names)}")
    return found


def _webhook(entry: Any, where: str, namespace: str) -> Webhook:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with keys {', '.join(KEYS)}")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(KEYS)}")
    name, url = entry.get("name"), entry.get("url")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: required, a non-empty string")
    if ("url" in entry) == ("urlSecretRef" in entry):
        raise ConfigError(f"{where}: give url or urlSecretRef (a Secret's key holding the URL), exactly one")
    secret = config_secret(entry.get("urlSecretRef"), f"{where}.urlSecretRef", namespace)
    if secret is not None and not namespace:
        raise ConfigError("namespace: required when a webhook names a Secret (the operator's own namespace)")
    if secret is None and url_problem(url):
        raise ConfigError(f"{where}.url: {url_problem(url)}")
    form = entry.get("format", "generic")
    if form not in FORMATS:
        raise ConfigError(f"{where}.format: {form!r} is not one of: {', '.join(FORMATS)}")
    return Webhook(name, url or "", form, _events(entry.get("events"), f"{where}.events"),
                   _namespaces(entry.get("namespaces"), f"{where}.namespaces"),
                   _timeout(entry.get("timeout"), f"{where}.timeout"), secret)


def url_problem(url: Any) -> str:
    """Why `url` cannot be a webhook's URL ('' when it can)."""
    try:
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        usable = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname) and \
            (parts.port is None or parts.port > 0)
    except ValueError:  # a bracket left open, a port that is not a number (urllib raises)
        usable = False
    return "" if usable else "required, an http(s) URL"


def _events(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset(EVENTS)
    if not isinstance(value, list) or not value or not set(value) <= set(EVENTS):
        raise ConfigError(f"{where}: a non-empty list of: {', '.join(EVENTS)}")
    return frozenset(value)


def _namespaces(value: Any, where: str) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(n, str) and n for n in value):
        raise ConfigError(f"{where}: a non-empty list of namespace names (omit it for every namespace)")
    return frozenset(value)


def _timeout(value: Any, where: str) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        found = seconds(value) if isinstance(value, str) else -1.0
    except ValueError:
        found = -1.0
    if not 0 < found <= MAX_TIMEOUT:
        raise ConfigError(f"{where}: a duration such as 5s, at most {MAX_TIMEOUT:g}s; got {value!r}")
    return found
