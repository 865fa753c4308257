"""Delivering notifications: one POST per webhook and notice, in the background, each bounded by
its webhook's timeout. A step never waits for a webhook, and a webhook that fails (an error, a
timeout, an answer other than 2xx) is logged by name (never its URL: a Slack URL is a credential)
and counted (tap_optimizer_notifications_total{outcome="failed"}); it is not retried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

import aiohttp

from tap_optimizer.gates.endpoints import credential_missing
from tap_optimizer.metrics import METRICS
from tap_optimizer.notifications.config import Webhook, url_problem
from tap_optimizer.notifications.messages import body
from tap_optimizer.notifications.transitions import Notice

logger = logging.getLogger(__name__)
# Reads a Secret (namespace, name): its labels and decoded data, None when it cannot be read.
SecretReader = Callable[[str, str], Awaitable[tuple[Mapping[str, str], Mapping[str, str | None]] | None]]


class UndeliverableError(Exception):
    """A notification that could not be delivered; the message names the webhook's Secret, never a URL."""


class Notifier:
    """The configured webhooks and the deliveries under way."""

    def __init__(self, webhooks: Sequence[Webhook], read_secret: SecretReader | None = None) -> None:
        self.webhooks, self.read_secret = tuple(webhooks), read_secret
        self._session: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, notices: Sequence[Notice]) -> None:
        """Start delivering each notice to every webhook that wants it; return at once."""
        for notice in notices:
            for hook in self.webhooks:
                if hook.wants(notice.event, notice.namespace):
                    task = asyncio.get_running_loop().create_task(self._post(hook, notice))
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)

    async def _post(self, hook: Webhook, notice: Notice) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        what = f"webhook {hook.name}: {notice.event} of {notice.namespace}/{notice.name}"
        try:
            url = await self._url(hook)
            async with self._session.post(url, json=body(notice, hook.form), allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=hook.timeout)) as answer:
                if not 200 <= answer.status < 300:
                    raise UndeliverableError(f"answered HTTP {answer.status}")
        except (aiohttp.ClientError, TimeoutError, UndeliverableError) as error:
            METRICS.notified("failed")
            reason = str(error) if isinstance(error, UndeliverableError) else type(error).__name__
            logger.warning("%s not delivered: %s", what, reason)  # never the URL: it may be a credential
            return
        METRICS.notified("sent")
        logger.info("%s delivered", what)

    async def _url(self, hook: Webhook) -> str:
        """The webhook's URL: given, or read from its Secret at each delivery (a rotated URL is used at once)."""
        if hook.secret is None:
            return hook.url
        try:
            found = await self.read_secret(hook.secret.namespace, hook.secret.name) if self.read_secret else None
        except Exception as error:  # the API server's answer (a 500, no connection): this delivery fails, counted
            raise UndeliverableError(f"Secret {hook.secret.namespace}/{hook.secret.name} cannot be read: "
                                     f"{type(error).__name__}") from error
        data = found[1] if found is not None else None
        missing = credential_missing(hook.secret, data)
        if missing or data is None:
            raise UndeliverableError(missing or "no Secret reader")
        url = str(data[hook.secret.key]).strip()
        if url_problem(url):
            raise UndeliverableError(f"Secret {hook.secret.namespace}/{hook.secret.name} key {hook.secret.key!r} "
                                     "does not hold an http(s) URL")
        return url

    async def close(self) -> None:
        """Let the deliveries under way end (each is bounded by its timeout), then close the session."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
