"""boto3 clients as the analysis and the CloudWatch gates use them: one per service and region,
retried, counted, made safely from several threads.

Configuration is plain boto3: the credentials chain, AWS_PROFILE, AWS_REGION and
AWS_ENDPOINT_URL (which is how the tests and the demo point at moto). Retries use botocore's
adaptive mode, which adds client-side rate limiting on throttling to the standard mode's
exponential backoff, so a long analysis slows down under throttling instead of failing.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import boto3
import botocore.config

USER_AGENT = "tap-optimizer"


class Aws:
    """A client factory that counts the API calls made through it, by service and operation."""

    def __init__(self, session: boto3.session.Session | None = None, *, retry_mode: str = "adaptive",
                 max_attempts: int = 10, timeout: float | None = None):
        self.session = session or boto3.session.Session()
        self.calls: collections.Counter[str] = collections.Counter()
        timeouts = {"connect_timeout": timeout, "read_timeout": timeout} if timeout else {}
        self._config = botocore.config.Config(retries={"mode": retry_mode, "max_attempts": max_attempts},
                                              user_agent_extra=USER_AGENT, **timeouts)
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()  # a boto3 session must not make two clients at once

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                client = self.session.client(service, region_name=region, config=self._config)
                client.meta.events.register("before-call", self._count)
                self._clients[key] = client
            return self._clients[key]

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def pages(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    """Every item under `key` across all pages of a paginated operation."""
    return [item for page in client.get_paginator(operation).paginate(**params) for item in page.get(key, [])]
