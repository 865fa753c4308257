"""The bodies webhooks get: a generic JSON document, or a Slack-compatible message (incoming
webhooks take `text`, and `blocks` where they render them)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from tap_optimizer.notifications.transitions import Notice

Format = Literal["generic", "slack"]
FORMATS: tuple[Format, ...] = ("generic", "slack")
KIND = "OptimizationPlanNotification"
HEADLINES = {"AwaitingApproval": "waits for approval", "RollingBack": "is rolling back",
             "RolledBack": "was rolled back", "Failed": "failed", "Succeeded": "succeeded",
             "Blocked": "is blocked", "InconclusiveHold": "is held: its gates cannot judge"}


def body(notice: Notice, form: Format) -> dict[str, Any]:
    """What a webhook of `form` receives for the notice."""
    if form == "generic":
        return {"kind": KIND, "version": 1, **dataclasses.asdict(notice)}
    headline = slack_escaped(f"OptimizationPlan {notice.namespace}/{notice.name} "
                             f"{HEADLINES.get(notice.event, notice.event)}")
    message = slack_escaped(notice.message)
    where = f"phase {notice.phase}, " if notice.phase else ""
    detail = slack_escaped(f"{where}attempt {notice.attempt}, {notice.state} ({notice.reason}) at {notice.at}")
    return {"text": f"{headline}: {message}",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n{message}"}},
                       {"type": "context", "elements": [{"type": "mrkdwn", "text": detail}]}]}


def slack_escaped(text: str) -> str:
    """Text as Slack shows it verbatim: it reads `<...>` as a link or mention (`<!channel>` pings a
    whole channel) and `&...;` as an entity, so a gate message quoting `rate(x) > 0.5` or a name
    given by anyone must have its &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
