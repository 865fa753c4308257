"""Which metric endpoint a plan's gates query, and with which credentials: the administrator's choice.

The operator's configuration lists the endpoints plans may use, by name, each with one provider
block (`prometheus: {url, ...}`, or `cloudwatch: {region}` queried with the operator's own AWS
credentials) and credentials in Secrets of the operator's own namespace. A plan's metrics are
PromQL or CloudWatch queries; the endpoint it names (or the default) must be of that provider.
A plan names one (`spec.gates.endpoint`) or none (the default endpoint).
A plan's own URL or Secret reference (`spec.gates.prometheus.url`, `...SecretRef`) is refused
unless the administrator allows it, and then only for allowed hosts, never with a user or
password in the URL, and only for Secrets labelled for gates (checked when they are read).

An endpoint answers any query a plan sends, and the answers land in the plan's status: an
endpoint gives its plans read access to everything it can query. `namespaces:` limits which
namespaces' plans may use an endpoint. A plan may shorten its endpoint's query timeout, never
lengthen it (its own URL: at most `gates.plans.maxTimeout`), so slow queries hold the connections
every plan shares for a bounded time.

Pure: `parse_config` reads the configuration document, `resolve` turns a plan's spec and the
configuration into the endpoint to query or the fields to refuse, `effective_spec` fills the
plan's `gates.prometheus` with what was resolved. No message here ever repeats a URL's user
information or a Secret's content.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.openapi import FieldError
from tap_optimizer.plan.durations import seconds
from tap_optimizer.plan.spec import gates_on_cloudwatch, spec_errors

PROVIDERS = ("prometheus", "cloudwatch")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
DEFAULT_TIMEOUT = "10s"
DEFAULT_MAX_TIMEOUT = "30s"  # the longest query timeout a plan's own URL may ask for
DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_ENDPOINT = "default"  # the endpoint TAP_OPTIMIZER_PROMETHEUS_URL (Helm prometheus.url) makes
# A Secret in a plan's namespace is used for gates only when its owner labels it so: a plan author
# who may create plans but not read Secrets cannot make the operator send just any Secret.
CREDENTIAL_LABEL = "optimization.tap.io/gate-credential"
OWN_FIELDS = ("url", "bearerTokenSecretRef", "caSecretRef", "insecureSkipVerify")
SECRET_FIELDS = ("bearerTokenSecretRef", "caSecretRef")


@dataclass(frozen=True)
class SecretRef:
    """One key of one Secret; `field` is where it was named (for messages), `plan_owned` when a
    plan named it (then the Secret must carry CREDENTIAL_LABEL)."""

    namespace: str
    name: str
    key: str
    field: str
    plan_owned: bool = False


@dataclass(frozen=True)
class Endpoint:
    """A resolved metric endpoint: where to send a plan's queries and how."""

    name: str  # "" for a plan's own URL
    provider: str
    url: str
    timeout: str = DEFAULT_TIMEOUT
    insecure_skip_verify: bool = False
    token: SecretRef | None = None
    ca: SecretRef | None = None
    region: str = ""  # a CloudWatch endpoint's (its url is "")
    namespaces: tuple[str, ...] | None = None  # the namespaces whose plans may use it; None: every one

    def offered_to(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces

    @property
    def secrets(self) -> tuple[SecretRef, ...]:
        return tuple(ref for ref in (self.token, self.ca) if ref is not None)


@dataclass(frozen=True)
class PlanPolicy:
    """What the administrator lets a plan say about its own endpoint (all off by default)."""

    allow_url: bool = False
    allowed_hosts: tuple[str, ...] = ()
    allow_secret_refs: bool = False
    max_timeout: str = DEFAULT_MAX_TIMEOUT


@dataclass(frozen=True)
class GateConfig:
    namespace: str = ""  # the operator's own namespace, where endpoint Secrets live
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    default: str | None = None
    plans: PlanPolicy = PlanPolicy()


class ConfigError(ValueError):
    """The operator's configuration is unusable; the message names the key."""


# -- the operator's configuration ------------------------------------------------------------


CONFIG_KEYS = ("namespace", "gates", "notifications", "targets")  # a misspelt section would be silently empty


def parse_config(document: Any, *, default_url: str | None = None, namespace: str = "") -> GateConfig:
    """The `gates` section of the operator's configuration document (a mapping, or None for none).

    `default_url` (TAP_OPTIMIZER_PROMETHEUS_URL) adds an endpoint named `default` when the
    document has none of that name, and makes it the default when the document names none."""
    document = document or {}
    _expect(document, dict, "configuration")
    if document.get("kind") == "ConfigMap":
        raise ConfigError("configuration: this file is a ConfigMap; give the file its data.config.yaml holds")
    _known(document, CONFIG_KEYS, "configuration")
    namespace = document.get("namespace") or namespace
    gates = document.get("gates") or {}
    _expect(gates, dict, "gates")
    _known(gates, ("endpoints", "defaultEndpoint", "plans"), "gates")
    endpoints: dict[str, Endpoint] = {}
    for index, entry in enumerate(gates.get("endpoints") or []):
        endpoint = _config_endpoint(entry, f"gates.endpoints[{index}]", namespace)
        if endpoint.name in endpoints:
            raise ConfigError(f"gates.endpoints[{index}].name: {endpoint.name!r} is listed twice")
        endpoints[endpoint.name] = endpoint
    if default_url and DEFAULT_ENDPOINT not in endpoints:
        problem = url_problem(default_url, None)
        if problem:
            raise ConfigError(f"TAP_OPTIMIZER_PROMETHEUS_URL: {problem}")
        endpoints[DEFAULT_ENDPOINT] = Endpoint(DEFAULT_ENDPOINT, "prometheus", default_url.rstrip("/"))
    default = gates.get("defaultEndpoint") or (DEFAULT_ENDPOINT if DEFAULT_ENDPOINT in endpoints else None)
    if default is not None and default not in endpoints:
        raise ConfigError(f"gates.defaultEndpoint: no endpoint named {default!r}; listed: {_names(endpoints)}")
    if any(e.secrets for e in endpoints.values()) and not namespace:
        raise ConfigError("namespace: required when an endpoint names a Secret (the operator's own namespace)")
    return GateConfig(namespace, endpoints, default, _plan_policy(gates.get("plans") or {}))


def _config_endpoint(entry: Any, where: str, namespace: str) -> Endpoint:
    _expect(entry, dict, where)
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: required, a non-empty string")
    providers = [k for k in entry if k not in ("name", "namespaces")]
    if len(providers) != 1 or providers[0] not in PROVIDERS:
        raise ConfigError(f"{where}: give exactly one provider block, one of: {', '.join(PROVIDERS)}")
    namespaces = _namespaces(entry.get("namespaces"), f"{where}.namespaces")
    settings = entry[providers[0]]
    where = f"{where}.{providers[0]}"
    _expect(settings, dict, where)
    if providers[0] == "cloudwatch":
        return dataclasses.replace(_cloudwatch_endpoint(name, settings, where), namespaces=namespaces)
    _known(settings, (*OWN_FIELDS, "timeout"), where)
    url = settings.get("url")
    problem = url_problem(url, None) if isinstance(url, str) else "required, an http(s) URL"
    if problem:
        raise ConfigError(f"{where}.url: {problem}")
    timeout = settings.get("timeout", DEFAULT_TIMEOUT)
    if not _is_duration(timeout):
        raise ConfigError(f"{where}.timeout: expected a duration such as 10s, got {timeout!r}")
    token, ca = (config_secret(settings.get(key), f"{where}.{key}", namespace) for key in SECRET_FIELDS)
    return Endpoint(name, providers[0], url.rstrip("/"), timeout, bool(settings.get("insecureSkipVerify", False)),
                    token, ca, namespaces=namespaces)


def _namespaces(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(n, str) and n for n in value):
        raise ConfigError(f"{where}: expected a non-empty list of namespace names (omit it for every namespace)")
    return tuple(value)


def _cloudwatch_endpoint(name: str, settings: dict[str, Any], where: str) -> Endpoint:
    """CloudWatch in one region, with the operator's own AWS credentials (the credentials chain)."""
    _known(settings, ("region",), where)
    region = settings.get("region")
    if not isinstance(region, str) or not REGION.match(region):
        raise ConfigError(f"{where}.region: required, an AWS region such as us-east-1")
    return Endpoint(name, "cloudwatch", "", region=region)


def config_secret(ref: Any, where: str, namespace: str) -> SecretRef | None:
    """A `{name, key}` of the operator's configuration at `where`: a Secret in its namespace."""
    if ref is None:
        return None
    _expect(ref, dict, where)
    if not all(isinstance(ref.get(k), str) and ref.get(k) for k in ("name", "key")):
        raise ConfigError(f"{where}: needs name and key of a Secret in the operator's namespace")
    return SecretRef(namespace, ref["name"], ref["key"], where)


def _plan_policy(plans: Any) -> PlanPolicy:
    _expect(plans, dict, "gates.plans")
    _known(plans, ("allowURL", "allowedHosts", "allowSecretRefs", "maxTimeout"), "gates.plans")
    hosts = plans.get("allowedHosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) and host_entry(h) for h in hosts):
        raise ConfigError("gates.plans.allowedHosts: expected a list of host, host:port, host:*, [IPv6]:port or "
                          "*.domain entries")
    max_timeout = plans.get("maxTimeout", DEFAULT_MAX_TIMEOUT)
    if not _is_duration(max_timeout):
        raise ConfigError(f"gates.plans.maxTimeout: expected a duration such as 30s, got {max_timeout!r}")
    policy = PlanPolicy(bool(plans.get("allowURL", False)), tuple(h.lower() for h in hosts),
                        bool(plans.get("allowSecretRefs", False)), max_timeout)
    if policy.allow_url and not policy.allowed_hosts:
        raise ConfigError("gates.plans.allowedHosts: required when gates.plans.allowURL is true")
    if policy.allow_secret_refs and not policy.allow_url:
        raise ConfigError("gates.plans.allowSecretRefs: a plan's Secret goes only with its own URL; "
                          "set gates.plans.allowURL too")
    return policy


def _expect(value: Any, kind: type, where: str) -> None:
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected a {'mapping' if kind is dict else kind.__name__}")


def _known(mapping: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(mapping) - set(keys))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(keys)}")


def _is_duration(text: Any) -> bool:
    try:
        return isinstance(text, str) and seconds(text) > 0
    except ValueError:
        return False


def _names(endpoints: Mapping[str, Endpoint], namespace: str | None = None) -> str:
    """The endpoints' names (those offered to `namespace`, when given)."""
    return ", ".join(sorted(n for n, e in endpoints.items() if namespace is None or e.offered_to(namespace))) or "none"


# -- a plan's endpoint -----------------------------------------------------------------------


def url_problem(url: str, allowed_hosts: tuple[str, ...] | None) -> str | None:
    """Why `url` cannot be a gate endpoint's base URL, never quoting its user information; None if it can.

    allowed_hosts None: any host (the administrator's own configuration)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL with a host"
    if "@" in parts.netloc:
        return "must not carry a user or password (user:password@host): credentials belong in a Secret"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "must be the base URL of the HTTP API, without a ?query or #fragment"
    port = port if port is not None else DEFAULT_PORTS[parts.scheme]
    if allowed_hosts is not None and not host_allowed(parts.hostname, port, DEFAULT_PORTS[parts.scheme],
                                                      allowed_hosts):
        return (f"host {_show(parts.hostname)}:{port} is not one the operator lets plans use "
                f"(gates.plans.allowedHosts: {', '.join(allowed_hosts) or 'none'})")
    return None


def host_entry(entry: str) -> tuple[str, int | str | None] | None:
    """An allowedHosts entry as (host, port): port None for the scheme's default port only, "*" for
    any port; None when the entry is not one. Forms: host, host:port, host:*, *.domain[:port],
    [IPv6], [IPv6]:port, [IPv6]:*, and a bare IPv6 address (its default port)."""
    entry = entry.strip().lower()
    if not entry or any(c in entry for c in "@/?# "):
        return None
    if entry.startswith("["):
        host, close, rest = entry[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    elif entry.count(":") > 1:
        host, port_text = entry, None  # a bare IPv6 address
    else:
        host, _, port_text = entry.partition(":")
        port_text = port_text if ":" in entry else None
    if not host:
        return None
    if port_text is None or port_text == "*":
        return _normal_host(host), port_text
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return _normal_host(host), int(port_text)


def host_allowed(host: str, port: int, default_port: int, allowed: tuple[str, ...]) -> bool:
    """`host` (a URL's hostname) and its effective `port` match an entry: the same host, or under a
    `*.domain`; on the entry's port, any port for `:*`, and only `default_port` (the scheme's: 80
    for http, 443 for https) for an entry without a port."""
    host = _normal_host(host)
    for entry in allowed:
        parsed = host_entry(entry)
        if parsed is None:
            continue
        name, entry_port = parsed
        if entry_port != "*" and port != (default_port if entry_port is None else entry_port):
            continue
        if name == host or (name.startswith("*.") and fnmatch.fnmatchcase(host, name)):
            return True
    return False


def _normal_host(host: str) -> str:
    """Lower case; an IP address in its canonical form (so [0:0::1] and [::1] are one host)."""
    host = host.lower()
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def _show(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def resolve(spec: Any, config: GateConfig, namespace: str) -> tuple[Endpoint | None, list[FieldError]]:
    """The endpoint a plan in `namespace` queries, or every field to refuse (nothing is then sent).

    A spec whose gates are not even a mapping resolves to (None, []): the schema check names it."""
    gates = spec.get("gates") if isinstance(spec, dict) else None
    if not isinstance(gates, dict):
        return None, []
    endpoint, errors = _endpoint_of(gates, config, namespace)
    errors += _provider_errors(gates, endpoint, config, namespace) if endpoint is not None else []
    return (None, errors) if errors else (endpoint, [])


def _provider_errors(gates: dict[str, Any], endpoint: Endpoint, config: GateConfig,
                     namespace: str) -> list[FieldError]:
    """A plan of CloudWatch queries needs a CloudWatch endpoint, and PromQL a Prometheus one; the
    region is the endpoint's, never the plan's."""
    cloudwatch = gates_on_cloudwatch(gates)
    wanted = "cloudwatch" if cloudwatch else "prometheus"
    errors = []
    settings = gates.get("cloudwatch")
    if isinstance(settings, dict) and "region" in settings:
        errors.append(FieldError("spec.gates.cloudwatch.region", "the region is the endpoint's: name one of "
                                                                 "the operator's CloudWatch endpoints in "
                                                                 "spec.gates.endpoint"))
    if endpoint.provider != wanted:
        offered = _names({k: e for k, e in config.endpoints.items() if e.provider == wanted}, namespace)
        which = f"endpoint {endpoint.name!r}" if endpoint.name else "the plan's own Prometheus"
        errors.append(FieldError("spec.gates.endpoint", f"this plan's metrics are {_queries(wanted)} but {which} is "
                                                        f"{endpoint.provider}; {wanted} endpoints: {offered}"))
    return errors


def _queries(provider: str) -> str:
    return "CloudWatch queries" if provider == "cloudwatch" else "PromQL"


def _endpoint_of(gates: dict[str, Any], config: GateConfig, namespace: str) -> tuple[Endpoint | None,
                                                                                    list[FieldError]]:
    """The endpoint the plan names, its own, or the default; or the fields to refuse."""
    own = gates.get("prometheus") if isinstance(gates.get("prometheus"), dict) else {}
    given = [k for k in OWN_FIELDS if k in own and (k != "insecureSkipVerify" or own[k] is True)]
    name = gates.get("endpoint")
    offered = _names(config.endpoints, namespace)
    if name:
        errors = [FieldError(f"spec.gates.prometheus.{k}", "give either spec.gates.endpoint or the plan's own "
                                                           "connection settings, not both") for k in given]
        endpoint = config.endpoints.get(name)
        if endpoint is None:
            errors.append(FieldError("spec.gates.endpoint", f"no endpoint named {name!r}; the operator offers "
                                                            f"plans in {namespace}: {offered}"))
        elif not endpoint.offered_to(namespace):
            errors.append(FieldError("spec.gates.endpoint", f"endpoint {name!r} is not offered to plans in namespace "
                                                            f"{namespace}; offered there: {offered}"))
        return (None, errors) if errors else _with_timeout(endpoint, own, endpoint.timeout)
    if given:
        return _own_endpoint(own, config, namespace)
    if config.default is None:
        return None, [FieldError("spec.gates.endpoint", "required: the plan names no endpoint and the operator has "
                                                        "no default (the Helm value prometheus.url or "
                                                        f"gates.defaultEndpoint); offered: {offered}")]
    endpoint = config.endpoints[config.default]
    if not endpoint.offered_to(namespace):
        return None, [FieldError("spec.gates.endpoint", f"required here: the default endpoint {endpoint.name!r} is "
                                                        f"not offered to plans in namespace {namespace}; offered "
                                                        f"there: {offered}")]
    return _with_timeout(endpoint, own, endpoint.timeout)


def _own_endpoint(own: dict[str, Any], config: GateConfig, namespace: str) -> tuple[Endpoint | None, list[FieldError]]:
    """A plan's own URL and Secrets, where the administrator allows them."""
    policy, errors = config.plans, []
    offered = f"name one of the operator's endpoints in spec.gates.endpoint ({_names(config.endpoints, namespace)})"
    for key in OWN_FIELDS:
        if key not in own or (key == "insecureSkipVerify" and own[key] is not True):
            continue
        where = f"spec.gates.prometheus.{key}"
        if key in SECRET_FIELDS and not policy.allow_secret_refs:
            errors.append(FieldError(where, f"plans may not name Secrets for their gates here; {offered}"))
        elif not policy.allow_url:
            errors.append(FieldError(where, f"plans may not choose their own Prometheus here; {offered}"))
    url = own.get("url")
    if not isinstance(url, str):
        if not errors:
            errors.append(FieldError("spec.gates.prometheus.url", "required with the plan's own connection settings"))
    elif policy.allow_url:
        problem = url_problem(url, policy.allowed_hosts)
        if problem:
            errors.append(FieldError("spec.gates.prometheus.url", problem))
    if errors:
        return None, errors
    token, ca = (_plan_secret(own.get(key), f"spec.gates.prometheus.{key}", namespace) for key in SECRET_FIELDS)
    endpoint = Endpoint("", "prometheus", url.rstrip("/"), DEFAULT_TIMEOUT, own.get("insecureSkipVerify") is True,
                        token, ca)
    return _with_timeout(endpoint, own, policy.max_timeout)


def _plan_secret(ref: Any, where: str, namespace: str) -> SecretRef | None:
    if not isinstance(ref, dict):
        return None
    return SecretRef(namespace, str(ref.get("name", "")), str(ref.get("key", "")), where, plan_owned=True)


def _with_timeout(endpoint: Endpoint, own: dict[str, Any], most: str) -> tuple[Endpoint | None, list[FieldError]]:
    """A plan may shorten the query timeout of its endpoint, never lengthen it past `most` (the
    endpoint's own, or gates.plans.maxTimeout for a plan's own URL): a slow query holds a connection
    of the pool every plan shares. A timeout that is no duration is left for the schema check."""
    timeout = own.get("timeout")
    if not isinstance(timeout, str):
        return endpoint, []
    if _is_duration(timeout) and seconds(timeout) > seconds(most):
        return None, [FieldError("spec.gates.prometheus.timeout", f"at most {most} with this endpoint, got "
                                                                   f"{timeout}: a slow query holds connections "
                                                                   "every plan's gates share")]
    return dataclasses.replace(endpoint, timeout=timeout), []


def checked_spec(spec: Any, config: GateConfig, namespace: str) -> tuple[Endpoint | None, Any, list[FieldError]]:
    """A plan's spec as the operator runs it (handlers; offline, `validate` and `backtest`): the
    endpoint its gates query, the spec with that endpoint's settings (`effective_spec`), and every
    field to refuse: the endpoint's refusals, else `spec_errors` of that spec."""
    endpoint, refused = resolve(spec, config, namespace)
    body = effective_spec(spec, endpoint) if endpoint else spec
    return endpoint, body, refused or spec_errors(body)


def effective_spec(spec: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """The spec the state machine runs: `gates.prometheus` is the resolved endpoint's URL and
    settings (its Secrets are read by the caller, never written into a spec), or
    `gates.cloudwatch.region` the CloudWatch endpoint's region."""
    out = copy.deepcopy(spec)
    if endpoint.provider == "cloudwatch":
        out["gates"]["cloudwatch"] = {**(out["gates"].get("cloudwatch") or {}), "region": endpoint.region}
        return out
    out["gates"]["prometheus"] = {"url": endpoint.url, "timeout": endpoint.timeout,
                                  "insecureSkipVerify": endpoint.insecure_skip_verify}
    return out


def credential_refusal(ref: SecretRef, labels: Mapping[str, str] | None) -> str | None:
    """Why a plan may not use the Secret it named (None: it may): its owner did not label it for gates."""
    if ref.plan_owned and (labels or {}).get(CREDENTIAL_LABEL) != "true":
        return (f"Secret {ref.namespace}/{ref.name} is not labelled {CREDENTIAL_LABEL}=true; only Secrets their "
                "owner labels for gates may be named by a plan")
    return None


def credential_missing(ref: SecretRef, data: Mapping[str, Any] | None) -> str | None:
    """Why a Secret's key cannot be read now (None: it can); names the Secret, never its content."""
    if data is None:
        return f"Secret {ref.namespace}/{ref.name} does not exist or the operator may not read it"
    if ref.key not in data:
        return f"Secret {ref.namespace}/{ref.name} has no key {ref.key!r}"
    if data[ref.key] is None:
        return f"Secret {ref.namespace}/{ref.name} key {ref.key!r} is not text (a CA bundle must be PEM, not DER)"
    return None
