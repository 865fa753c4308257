"""The benchmarks that need the real Prometheus share the integration tests' fixtures."""

from tests.integration.conftest import prometheus, service  # noqa: F401
