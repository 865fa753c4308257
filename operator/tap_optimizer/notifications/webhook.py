"""Delivering notifications: one POST per webhook and notice, in the background, each bounded by
its webhook's timeout. A step never waits for a webhook, and a webhook that fails (an error, a
timeout, an answer other than 2xx) is logged by name (never its URL: a Slack URL is a credential)
and counted (tap_optimizer_notifications_total{outcome="failed"}); it is not retried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aiohttp

from tap_optimizer.metrics import METRICS
from tap_optimizer.notifications.config import Webhook
from tap_optimizer.notifications.messages import body
from tap_optimizer.notifications.transitions import Notice

logger = logging.getLogger(__name__)


class Notifier:
    """The configured webhooks and the deliveries under way."""

    def __init__(self, webhooks: Sequence[Webhook]) -> None:
        self.webhooks = tuple(webhooks)
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
            async with self._session.post(hook.url, json=body(notice, hook.form), allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=hook.timeout)) as answer:
                if not 200 <= answer.status < 300:
                    raise aiohttp.ClientError(f"answered HTTP {answer.status}")
        except (aiohttp.ClientError, TimeoutError) as error:
            METRICS.notified("failed")
            logger.warning("%s not delivered: %s", what, type(error).__name__ if isinstance(error, TimeoutError)
                           else str(error).replace(hook.url, hook.name))
            return
        METRICS.notified("sent")
        logger.info("%s delivered", what)

    async def close(self) -> None:
        """Let the deliveries under way end (each is bounded by its timeout), then close the session."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
