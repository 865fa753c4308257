"""Render a whole TapPlatform: check its input, then merge every component's resources."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from tap_optimizer.composition.render.cache import render_cache
from tap_optimizer.composition.render.common import Platform, Resources, observed_only
from tap_optimizer.composition.render.compute import render_compute
from tap_optimizer.composition.render.database import render_database
from tap_optimizer.composition.render.loadbalancer import render_load_balancer
from tap_optimizer.composition.render.monitoring import render_monitoring
from tap_optimizer.composition.render.network import render_network
from tap_optimizer.composition.render.security import render_security
from tap_optimizer.composition.render.tables import render_tables
from tap_optimizer.openapi import FieldError, coerce_integers
from tap_optimizer.platform.parameters import (
    defaulted_parameters,
    observe_only,
    parameter_errors,
    parameters_schema,
)

RENDERERS: tuple[Callable[[Platform], Resources], ...] = (
    render_security,
    render_network,
    render_database,
    render_cache,
    render_tables,
    render_compute,
    render_load_balancer,
    render_monitoring,
)

# AWS caps load-balancer and target-group names at 32 characters, and they derive from the
# platform's name plus the longest suffix we add ("-lb-tg-metrics", 14 characters).
NAME_PATTERN = re.compile(r"^[a-z]([a-z0-9-]{0,16}[a-z0-9])?$")


class InvalidPlatformError(ValueError):
    """The TapPlatform cannot be rendered; every error names its field and what is allowed."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(map(str, errors)))


def platform_of(xr: dict[str, Any], observed: dict[str, dict[str, Any]] | None = None) -> Platform:
    """The checked, defaulted Platform of a TapPlatform object, or InvalidPlatformError."""
    for field in ("metadata", "spec"):
        if not isinstance(xr.get(field), dict | None):
            raise InvalidPlatformError([FieldError(field, "must be an object")])
    name = (xr.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidPlatformError([FieldError(
            "metadata.name", f"{name!r} must be 1-18 lowercase letters, digits or '-', "
            "starting with a letter (AWS load-balancer names derive from it)")])
    raw = (xr.get("spec") or {}).get("parameters")
    if not isinstance(raw, dict | None):
        raise InvalidPlatformError([FieldError("spec.parameters", "must be an object")])
    params = defaulted_parameters(coerce_integers(parameters_schema(), raw or {}))
    errors = parameter_errors(params) or network_errors(params)
    if errors:
        raise InvalidPlatformError(errors)
    at_provider = {key: (obj.get("status") or {}).get("atProvider") or {} for key, obj in (observed or {}).items()}
    return Platform(name=name, params=params, observed=at_provider)


def network_errors(params: dict[str, Any]) -> list[FieldError]:
    """What the schema's patterns cannot say: each CIDR is a network address, octets in range."""
    cidrs = [("spec.parameters.network.vpcCidr", params["network"]["vpcCidr"])]
    cidrs += [(f"spec.parameters.database.secondaryRegions[{i}].vpcCidr", r["vpcCidr"])
              for i, r in enumerate(params["database"]["secondaryRegions"])]
    errors = []
    for path, cidr in cidrs:
        try:
            ipaddress.IPv4Network(cidr)
        except ValueError as error:
            errors.append(FieldError(path, f"{cidr!r} is not an IPv4 network address: {error}"))
    return errors


def render_platform(xr: dict[str, Any], observed: dict[str, dict[str, Any]] | None = None) -> Resources:
    """Every managed resource of the platform, keyed by its stable composition resource name.

    `observed` holds the composed resources as Crossplane last saw them, by the same names.
    """
    platform = platform_of(xr, observed)
    resources: Resources = {}
    for render in RENDERERS:
        part = render(platform)
        clash = resources.keys() & part.keys()
        if clash:
            raise RuntimeError(f"{render.__name__} reuses composition resource names {sorted(clash)}")
        resources.update(part)
    unknown = sorted(set(platform.params.get("externalNames", {})) - resources.keys())
    if unknown:
        raise InvalidPlatformError([FieldError(
            f"spec.parameters.externalNames.{key}", "names no rendered resource; allowed: composition "
            "resource names such as table-<table>, database-cluster, compute-asg, vpc") for key in unknown])
    return observed_only(resources) if observe_only(platform.params) else resources


# XR status field -> (composition resource name, field of its status.atProvider).
STATUS_FIELDS = {
    "writerEndpoint": ("database-cluster", "endpoint"),
    "readerEndpoint": ("database-cluster", "readerEndpoint"),
    "cacheConfigurationEndpoint": ("cache-replication-group", "configurationEndpointAddress"),
    "loadBalancerDnsName": ("lb-alb", "dnsName"),
}


def composite_status(observed: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The endpoints users connect to, copied from the observed composed resources once known."""
    status = {}
    for field, (key, at_provider_field) in STATUS_FIELDS.items():
        value = ((observed.get(key) or {}).get("status") or {}).get("atProvider", {}).get(at_provider_field)
        if value:
            status[field] = value
    return status
