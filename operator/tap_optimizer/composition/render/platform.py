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


# What AWS accepts as the name or id of a kind of composed resource, by composition resource name:
# an external name outside it cannot be the resource's (the provider would find nothing to adopt).
_RDS = r"(?!.*--)[a-z][a-z0-9-]{0,62}(?<!-)"  # DB cluster, instance and global cluster identifiers
_ID = r"-[0-9a-f]{8,17}"  # EC2 ids
_ARN = r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:"
_SECONDARY = r"secondary-[a-z0-9-]+-"
EXTERNAL_NAME_RULES = tuple((re.compile(f"^{key}$"), re.compile(f"^{value}$", re.IGNORECASE), what)
                            for key, value, what in (
    (r"table-.+", r"[a-z0-9_.-]{3,255}", "a DynamoDB table name: 3-255 letters, digits, '_', '.' or '-'"),
    (r"cache-replication-group", r"(?!.*--)[a-z][a-z0-9-]{0,39}(?<!-)",
     "an ElastiCache replication group id: 1-40 letters, digits or '-', starting with a letter"),
    (rf"database-(cluster|global|writer|reader-[0-9]+)|{_SECONDARY}(cluster|instance-[0-9]+)", _RDS,
     "an RDS identifier: 1-63 letters, digits or '-', starting with a letter, no '--' and no trailing '-'"),
    (r"compute-asg", r"[^:]{1,255}", "an Auto Scaling group name: 1-255 characters, no ':'"),
    (rf"({_SECONDARY})?vpc", f"vpc{_ID}", "a VPC id (vpc-...)"),
    (rf"subnet-[a-z]+-[a-f]|{_SECONDARY}subnet-[a-f]", f"subnet{_ID}", "a subnet id (subnet-...)"),
    (rf"sg-(alb|app|cache|database)|{_SECONDARY}sg", f"sg{_ID}", "a security group id (sg-...)"),
    (r"nat-gateway-[0-9]+", f"nat{_ID}", "a NAT gateway id (nat-...)"),
    (r"nat-eip-[0-9]+", f"eipalloc{_ID}", "an Elastic IP allocation id (eipalloc-...)"),
    (r"internet-gateway", f"igw{_ID}", "an internet gateway id (igw-...)"),
    (r"route-table-.+", f"rtb{_ID}", "a route table id (rtb-...)"),
    (rf"({_SECONDARY})?kms-key", r"(mrk-[0-9a-f]{32}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})", "a KMS key id"),
    (r"kms-alias", r"alias/(?!aws/)[a-z0-9/_-]{1,250}", "a KMS alias name: alias/ and 1-250 letters, digits, '/', "
     "'_' or '-' (not alias/aws/)"),
    (r"lb-alb", f"{_ARN}loadbalancer/app/[a-z0-9-]{{1,32}}/[0-9a-f]+", "an Application Load Balancer's ARN"),
    (r"lb-tg-[a-z]+", f"{_ARN}targetgroup/[a-z0-9-]{{1,32}}/[0-9a-f]+", "a target group's ARN"),
))


def external_name_errors(names: dict[str, str]) -> list[FieldError]:
    """Each external name that cannot name its kind of AWS resource."""
    return [FieldError(f"spec.parameters.externalNames.{key}", f"{value!r} is not {what}")
            for key, value in sorted(names.items()) for key_rule, rule, what in EXTERNAL_NAME_RULES
            if key_rule.match(key) and not rule.match(value)]


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
    errors = parameter_errors(params) or network_errors(params) or \
        external_name_errors(params.get("externalNames", {}))
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
