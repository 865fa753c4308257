"""The operator's configuration, read once at start: a YAML file (the chart renders it from its
values into a ConfigMap mounted in the pod) and two environment variables.

- TAP_OPTIMIZER_CONFIG: the file's path. It lists the gate endpoints plans may use and what a
  plan may say about its own (see gates/endpoints.py), and the webhooks told of plans'
  transitions (notifications/config.py), the kinds plans may target and whether an instance-type
  change waits for its instance refresh (targets/allowed.py);
  `namespace` is the operator's own.
- TAP_OPTIMIZER_PROMETHEUS_URL: the earlier way to give the default Prometheus; it becomes the
  endpoint named `default`.
- TAP_OPTIMIZER_NAMESPACE (or POD_NAMESPACE): the operator's namespace when the file names none.

A file rather than a cluster-scoped resource: it is versioned with the release, needs no CRD, no
watch and no cluster-wide read, and a change rolls the pods (the chart puts its checksum on them).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Any

import yaml

from tap_optimizer.gates.endpoints import ConfigError, GateConfig, parse_config
from tap_optimizer.notifications import config as notifications_config
from tap_optimizer.notifications.config import Webhook
from tap_optimizer.targets import allowed

CONFIG_ENV = "TAP_OPTIMIZER_CONFIG"
PROMETHEUS_URL_ENV = "TAP_OPTIMIZER_PROMETHEUS_URL"
NAMESPACE_ENVS = ("TAP_OPTIMIZER_NAMESPACE", "POD_NAMESPACE")


def _document(environ: Mapping[str, str]) -> Any:
    """The configuration file's document, None without one; ConfigError when it cannot be read."""
    path = environ.get(CONFIG_ENV)
    if not path:
        return None
    try:
        return yaml.safe_load(pathlib.Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{CONFIG_ENV}={path}: cannot read it: {error}") from error


def _namespace(environ: Mapping[str, str]) -> str:
    """The operator's own namespace from the environment, when the file names none."""
    return next((environ[n] for n in NAMESPACE_ENVS if environ.get(n)), "")


def load_webhooks(environ: Mapping[str, str] = os.environ) -> tuple[Webhook, ...]:
    """The webhooks told of plans' transitions (`notifications.webhooks`); ConfigError names the key."""
    try:
        return notifications_config.parse(_document(environ), _namespace(environ))
    except ConfigError as error:
        raise ConfigError(f"{environ.get(CONFIG_ENV) or 'configuration'}: {error}") from None


def load_target_kinds(environ: Mapping[str, str] = os.environ) -> frozenset[tuple[str, str]]:
    """The (apiVersion, kind) pairs a plan's target may be (`targets.kinds`; without it the
    TapPlatform only); ConfigError names the file and key."""
    try:
        return allowed.parse(_document(environ))
    except ConfigError as error:
        raise ConfigError(f"{environ.get(CONFIG_ENV) or 'configuration'}: {error}") from None


def load_instance_refresh(environ: Mapping[str, str] = os.environ) -> str:
    """Whether an instance-type change waits for the group's instance refresh (`targets.instanceRefresh`:
    Await, the default, or Skip); ConfigError names the file and key."""
    try:
        return allowed.instance_refresh(_document(environ))
    except ConfigError as error:
        raise ConfigError(f"{environ.get(CONFIG_ENV) or 'configuration'}: {error}") from None


def load_gate_config(environ: Mapping[str, str] = os.environ) -> GateConfig:
    """The gate endpoints; ConfigError names the file and key that are wrong."""
    path = environ.get(CONFIG_ENV)
    document = _document(environ)
    namespace = _namespace(environ)
    try:
        return parse_config(document, default_url=environ.get(PROMETHEUS_URL_ENV), namespace=namespace)
    except ConfigError as error:
        raise ConfigError(f"{path or 'configuration'}: {error}") from None
