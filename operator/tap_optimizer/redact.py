"""Credentials never leave: a URL's user information, an Authorization header's credentials (any
scheme) and a bearer token are masked in any text or document before it reaches the dashboard, a
log line (its message, and the traceback and stack attached to it) or a metric label.

Masking errs on the side of too much: a URL's user information runs to the last `@` of the
URL-like word (a password may hold `@`, `#`, `?` or `/`), after `scheme://` or a bare `//`.

The first defence is at the door (a URL with a user or password is refused, a Secret's content is
never put in a message); this is the second, for text that came from elsewhere (a plan's spec as
its author wrote it, a library's error message)."""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
# `scheme://` or a scheme-relative `//`, then everything up to the last `@` before a space or quote.
USERINFO = re.compile(r"(?P<scheme>(?:\b[a-zA-Z][a-zA-Z0-9+.-]*:)?//)[^\s\"'<>`]*@")
# `Authorization: <scheme> <credentials>` (or `=`, quoted as in a dict or JSON), any case, any scheme.
AUTHORIZATION = re.compile(r"(?P<header>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
                           r"(?:[A-Za-z][A-Za-z0-9._~+-]*\s+)?)[^\s\"']+", re.IGNORECASE)
BEARER = re.compile(r"(?P<header>\bbearer\s+)[^\s\"']+", re.IGNORECASE)


def text(value: str) -> str:
    """`value` with user information in URLs, Authorization credentials and bearer tokens masked."""
    value = USERINFO.sub(rf"\g<scheme>{MASK}@", value)
    value = AUTHORIZATION.sub(rf"\g<header>{MASK}", value)
    return BEARER.sub(rf"\g<header>{MASK}", value)


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
    """Masks credentials in every record a handler writes (kopf's and ours alike): the message, an
    attached exception (formatted here, masked, and handed on as the record's `exc_text`, which
    every formatter prints when `exc_info` is gone) and an attached stack."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info:
            record.exc_text = self._formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = text(record.exc_text)
        if record.stack_info:
            record.stack_info = text(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of `logger` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, LogFilter) for f in handler.filters):
            handler.addFilter(LogFilter())
