"""Credentials never leave: a URL's user information and a bearer token are masked in any text
or document before it reaches the dashboard, a log line or a metric label.

The first defence is at the door (a URL with a user or password is refused, a Secret's content is
never put in a message); this is the second, for text that came from elsewhere (a plan's spec as
its author wrote it, a library's error message)."""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@?#]*@")
BEARER = re.compile(r"(?P<scheme>\b[Bb]earer\s+)[A-Za-z0-9._~+/=-]+")


def text(value: str) -> str:
    """`value` with user information in URLs and bearer tokens masked."""
    return BEARER.sub(rf"\g<scheme>{MASK}", USERINFO.sub(rf"\g<scheme>{MASK}@", value))


def document(value: Any) -> Any:
    """A copy of a JSON-like document with every string passed through `text`."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {key: document(item) for key, item in value.items()}
    if isinstance(value, list):
        return [document(item) for item in value]
    return value


class LogFilter(logging.Filter):
    """Masks credentials in every record a handler writes (kopf's and ours alike)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of `logger` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, LogFilter) for f in handler.filters):
            handler.addFilter(LogFilter())
