"""Shared shape of every composed resource: names, labels, tags, provider config and references.

Names are the contract with Crossplane: the composition resource name (the key of the dict a
renderer returns, e.g. `reader-1`) must stay the same for the same thing across renders, or
Crossplane deletes the old object and creates a new one. Object names are derived from it, so
references between resources are by name (`<field>Ref: {name: ...}`), never hard-coded IDs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Resource = dict[str, Any]
Resources = dict[str, Resource]

PLATFORM_TAG = "tap.io/platform"
COMPONENT_TAG = "tap.io/component"
RESOURCE_LABEL = "tap.io/resource"
EXTERNAL_NAME = "crossplane.io/external-name"
GLOBAL_SERVICES = frozenset({"iam"})  # their kinds have no region


@dataclass(frozen=True)
class Platform:
    """What every renderer reads: the TapPlatform's name, its defaulted parameters, and what
    Crossplane observed of the composed resources so far (`status.atProvider` by composition
    resource name), for the few values AWS only knows once a resource exists."""

    name: str
    params: Mapping[str, Any]
    observed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return str(self.params["region"])

    def object_name(self, key: str) -> str:
        """The Kubernetes name of a composed resource (DNS-1123: no underscores)."""
        return f"{self.name}-{key}".replace("_", "-").lower()

    def ref(self, key: str) -> dict[str, str]:
        """A provider reference to the composed resource `key`."""
        return {"name": self.object_name(key)}

    def external_name(self, key: str) -> str | None:
        """The AWS name or id `externalNames` adopts for the composed resource `key`, if any."""
        name = self.params.get("externalNames", {}).get(key)
        return str(name) if name is not None else None

    def aws_name(self, key: str, own: str) -> str:
        """The AWS name of the composed resource `key`: the adopted one, else the composition's `own`."""
        return self.external_name(key) or own

    def tags(self, component: str) -> dict[str, str]:
        """User tags plus the discovery tags the analyzer finds resources by."""
        return {**self.params.get("tags", {}), PLATFORM_TAG: self.name, COMPONENT_TAG: component}


def managed(
    platform: Platform,
    key: str,
    kind: str,
    for_provider: Mapping[str, Any],
    *,
    component: str,
    region: str | None = None,
    tagged: bool = True,
    external_name: str | None = None,
) -> Resource:
    """A provider-upjet-aws managed resource of a namespaced `.m.` group.

    `kind` is `<service>/<Kind>`, e.g. `rds/ClusterInstance`. `tagged=False` for kinds whose
    schema has no `tags` (routes, associations, aliases...). `region` defaults to the platform's;
    IAM is global and takes none.
    """
    service, kind_name = kind.split("/")
    spec_for_provider = dict(for_provider)
    if service not in GLOBAL_SERVICES:
        spec_for_provider["region"] = region or platform.region
    if tagged:
        spec_for_provider["tags"] = platform.tags(component)
    metadata: dict[str, Any] = {
        "name": platform.object_name(key),
        "labels": {PLATFORM_TAG: platform.name, COMPONENT_TAG: component, RESOURCE_LABEL: key.replace("_", "-")},
    }
    adopted = platform.external_name(key) or external_name
    if adopted is not None:
        metadata["annotations"] = {EXTERNAL_NAME: adopted}
    return {
        "apiVersion": f"{service}.aws.m.upbound.io/v1beta1",
        "kind": kind_name,
        "metadata": metadata,
        "spec": {
            "forProvider": spec_for_provider,
            "providerConfigRef": {"kind": "ClusterProviderConfig", "name": platform.params["providerConfigName"]},
        },
    }


def observed_only(resources: Resources) -> Resources:
    """The resources with managementPolicies [Observe]: Crossplane reads them and changes nothing."""
    return {key: {**obj, "spec": {**obj["spec"], "managementPolicies": ["Observe"]}}
            for key, obj in resources.items()}


def policy_document(*statements: dict[str, Any]) -> str:
    """An IAM policy document as the provider takes it: a JSON string."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def service_role(platform: Platform, key: str, service: str, purpose: str, component: str) -> Resource:
    """An IAM role only the given AWS service can assume."""
    return managed(platform, key, "iam/Role", {
        "assumeRolePolicy": assume_role_policy(service),
        "description": f"{purpose} of TAP platform {platform.name}",
    }, component=component)


def assume_role_policy(service: str) -> str:
    """The trust policy letting an AWS service assume a role."""
    return policy_document({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def zones(platform: Platform) -> list[str]:
    """The availability-zone suffixes, in the order the parameters give them."""
    return list(platform.params["network"]["availabilityZones"])
