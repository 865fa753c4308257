"""Before `analyze` writes a plan: ask the user's Prometheus each gate query once.

A plan whose queries return nothing would wait in BaselineUnavailable (or hold as NoData) forever,
so `analyze --prometheus-url URL` refuses to write it, naming the queries. An unreachable
Prometheus proves nothing either way: the caller warns and writes the plan.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 10


class UnreachableError(Exception):
    """Prometheus did not answer (connection refused, timeout, not its API)."""


def queries(gates: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, PromQL) of every gate and volume query, named as in the plan's spec."""
    out = []
    for metric in gates.get("metrics", []):
        for key in ("query", "volumeQuery"):
            if metric.get(key):
                out.append((f"spec.gates.metrics[{metric['name']}].{key}", metric[key]))
    return out


def answers(url: str, promql: str) -> bool:
    """Whether an instant query returns at least one series (Prometheus' HTTP API)."""
    address = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(address, timeout=TIMEOUT_SECONDS) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        if error.code in (400, 422):  # a query Prometheus rejects answers nothing
            return False
        raise UnreachableError(f"{url}: HTTP {error.code}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise UnreachableError(f"{url}: {error}") from error
    return bool(body.get("data", {}).get("result"))


def silent(url: str, gates: dict[str, Any]) -> list[str]:
    """The fields of the queries that return nothing; UnreachableError when Prometheus does not answer."""
    return [field for field, promql in queries(gates) if not answers(url, promql)]
