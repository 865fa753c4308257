"""A small HTTP service exposing the request metrics an SLO gate reads, whose error rate and
latency the test sets while it runs. It generates its own steady traffic per tenant."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from tap_optimizer_local.processes import free_port

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5)


@dataclass
class Behaviour:
    error_rate: float = 0.001
    latency: float = 0.05  # seconds, the typical request; a tail of 0.5 % takes twice as long


@dataclass
class SyntheticService:
    tenants: tuple[str, ...] = ("t1", "t2", "t3")
    requests_per_second: int = 200
    behaviour: dict[str, Behaviour] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("tap_requests", "Requests served.", ["code", "tenant"], registry=self.registry)
        self.latency = Histogram("tap_request_duration_seconds", "Request latency.", ["tenant"],
                                 buckets=BUCKETS, registry=self.registry)
        self.behaviour = {t: Behaviour() for t in self.tenants}
        self.port = free_port()
        self.stopping = threading.Event()
        self._errors = {t: 0.0 for t in self.tenants}
        self._random = random.Random(7)

    def set(self, tenant: str | None = None, **changes: float) -> None:
        """Change error_rate and/or latency for one tenant or all."""
        for name in [tenant] if tenant else self.tenants:
            for key, value in changes.items():
                setattr(self.behaviour[name], key, value)

    def __enter__(self) -> SyntheticService:
        self.server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self.thread = threading.Thread(target=self._traffic, daemon=True, name="synthetic-traffic")
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.server.shutdown()
        self.server.server_close()

    def _traffic(self) -> None:
        """Every 10 ms, each tenant serves its share of requests; errors come at the exact rate."""
        per_tick = max(1, self.requests_per_second // 100)
        while not self.stopping.wait(0.01):
            for tenant in self.tenants:
                self._serve(tenant, per_tick)

    def _serve(self, tenant: str, count: int) -> None:
        behaviour = self.behaviour[tenant]
        self._errors[tenant] += behaviour.error_rate * count
        errors = int(self._errors[tenant])
        self._errors[tenant] -= errors
        self.requests.labels(code="500", tenant=tenant).inc(errors)
        self.requests.labels(code="200", tenant=tenant).inc(count - errors)
        for _ in range(count):
            tail = 2.0 if self._random.random() < 0.005 else 1.0
            self.latency.labels(tenant=tenant).observe(behaviour.latency * tail * self._random.uniform(0.8, 1.0))
