"""Durations as plans write them (`15m`, `1h30m`, `48h`, `2d`, `500ms`), in seconds."""

from __future__ import annotations

import re

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
PART = re.compile(r"([0-9]+)(ms|s|m|h|d)")


def seconds(text: str) -> float:
    """The duration in seconds; ValueError names what is allowed."""
    if not isinstance(text, str) or not text or PART.sub("", text):
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 1h30m or 2d")
    return float(sum(int(n) * UNITS[unit] for n, unit in PART.findall(text)))
