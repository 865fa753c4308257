"""Notifications: the transitions found from the status before and after each step (once per
transition, never per interval, the same after a restart), their bodies, the configuration, and
delivery to a real local HTTP server that never holds the caller (timeouts, errors counted)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes.client.rest import ApiException

from tap_optimizer.gates.endpoints import ConfigError
from tap_optimizer.metrics import METRICS
from tap_optimizer.notifications import config, messages, transitions
from tap_optimizer.notifications.webhook import Notifier
from tests.support.plans import FAIL, NO_DATA, PASS, Run, World, three_phase_spec


class Told(Run):
    """A plan driven like the operator, with the notices each written step would send."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.told: list[transitions.Notice] = []

    def step(self, crash_after_action: bool = False) -> bool:
        old = self.status
        again = super().step(crash_after_action)
        if self.status != old:
            self.told += transitions.notices("tap", self.name, old, self.status, "t")
        return again


def events(run: Told) -> list[str]:
    return [n.event for n in run.told]


def test_a_whole_plan_with_approval_a_hold_and_a_rollback_tells_each_transition_once():
    spec = three_phase_spec()
    spec["phases"][1]["requiresApproval"] = True
    world = World()
    run = Told(spec, world)
    run.until("Observing")
    world.gates = NO_DATA
    run.tick(20)  # two inconclusive checks in a row: one hold
    world.gates = PASS
    run.until("AwaitingApproval", seconds=10)
    run.tick(120)  # waiting, looked at again and again
    run.annotations["optimization.tap.io/approve"] = "compute"
    run.until("Observing")
    world.gates = FAIL
    run.until("RolledBack")
    assert events(run) == ["InconclusiveHold", "AwaitingApproval", "RollingBack", "RolledBack"]
    approval = run.told[1]
    assert (approval.phase, approval.state, approval.attempt) == ("compute", "AwaitingApproval", 1)
    assert "kubectl optplan approve plan-a compute -n tap" in approval.message


def test_a_blocked_plan_is_told_once_however_often_it_looks_again():
    world = World(lock="tap/other")
    run = Told(three_phase_spec(), world)
    run.settle()
    run.tick(300)
    assert events(run) == ["Blocked"]


def test_a_retried_plan_tells_its_new_attempts_transitions_again():
    world = World(gates=FAIL)
    run = Told(three_phase_spec(), world)
    run.until("RolledBack")
    run.annotations["optimization.tap.io/retry"] = '{"by": "alice"}'
    world.gates = PASS
    run.until("Succeeded")
    assert events(run) == ["RollingBack", "RolledBack", "Succeeded"]
    assert run.told[-1].attempt == 2


def test_the_same_statuses_after_a_restart_tell_the_same_and_only_once():
    old = {"state": "Observing", "currentPhase": 0, "phases": [{"name": "a", "state": "Observing"}]}
    new = {**old, "state": "RollingBack", "reason": "GateFailed", "message": "m"}
    assert [n.event for n in transitions.notices("tap", "p", old, new, "t")] == ["RollingBack"]
    assert transitions.notices("tap", "p", new, new, "t") == []


NOTICE = transitions.Notice("RolledBack", "tap", "p", "RolledBack", "GateFailed", "restored phases a", "a", 2, "t")


def test_the_generic_body_is_the_notice_as_json():
    assert messages.body(NOTICE, "generic") == {
        "kind": "OptimizationPlanNotification", "version": 1, "event": "RolledBack", "namespace": "tap", "name": "p",
        "state": "RolledBack", "reason": "GateFailed", "message": "restored phases a", "phase": "a", "attempt": 2,
        "at": "t"}


def test_the_slack_body_has_text_and_blocks():
    slack = messages.body(NOTICE, "slack")
    assert slack["text"] == "OptimizationPlan tap/p was rolled back: restored phases a"
    assert slack["blocks"][0]["text"]["text"].startswith("*OptimizationPlan tap/p was rolled back*")
    assert slack["blocks"][1]["elements"][0]["text"] == "phase a, attempt 2, RolledBack (GateFailed) at t"


def test_the_slack_body_escapes_what_slack_would_read_as_links_mentions_or_entities():
    """A gate message quotes PromQL (`>`), a phase or a reason may hold `<!channel>` or `&`: Slack
    must show them, not ping a channel or drop a `<...>` as a link."""
    notice = dataclasses.replace(NOTICE, phase="a<b>&c", message="p99 > 0.5 & rising <!channel>",
                                 reason="<@U123>")
    slack = messages.body(notice, "slack")
    assert slack["text"] == "OptimizationPlan tap/p was rolled back: p99 &gt; 0.5 &amp; rising &lt;!channel&gt;"
    assert slack["blocks"][0]["text"]["text"] == ("*OptimizationPlan tap/p was rolled back*\n"
                                                  "p99 &gt; 0.5 &amp; rising &lt;!channel&gt;")
    assert slack["blocks"][1]["elements"][0]["text"] == ("phase a&lt;b&gt;&amp;c, attempt 2, RolledBack "
                                                         "(&lt;@U123&gt;) at t")
    assert messages.body(notice, "generic")["message"] == "p99 > 0.5 & rising <!channel>", "JSON needs no escape"


def test_the_configuration_reads_webhooks_with_their_defaults():
    hooks = config.parse({"notifications": {"webhooks": [
        {"name": "ops", "url": "https://hooks.example/x"},
        {"name": "team", "url": "http://127.0.0.1:9/y", "format": "slack", "events": ["Failed"],
         "namespaces": ["tap"], "timeout": "2s"}]}})
    assert hooks[0] == config.Webhook("ops", "https://hooks.example/x")
    assert hooks[1].wants("Failed", "tap") and not hooks[1].wants("Failed", "other")
    assert not hooks[1].wants("Succeeded", "tap") and hooks[1].timeout == 2
    assert config.parse({"gates": {}}) == ()


@pytest.mark.parametrize(("hook", "message"), [
    ({"name": "a", "url": "ftp://x"}, "notifications.webhooks[0].url: required, an http(s) URL"),
    ({"name": "a", "url": "http://[::1/x"}, "notifications.webhooks[0].url: required, an http(s) URL"),
    ({"name": "a", "url": "http://hooks.example:port/x"}, "notifications.webhooks[0].url: required, an http(s) URL"),
    ({"name": "a", "url": "http://x", "format": "teams"}, "notifications.webhooks[0].format: 'teams' is not one of"),
    ({"name": "a", "url": "http://x", "events": ["Done"]}, "notifications.webhooks[0].events: a non-empty list of"),
    ({"name": "a", "url": "http://x", "timeout": "1m"}, "notifications.webhooks[0].timeout: a duration such as 5s, "
                                                        "at most 30s; got '1m'"),
    ({"name": "a", "url": "http://x", "secret": "s"}, "notifications.webhooks[0].secret: unknown key"),
    ({"url": "http://x"}, "notifications.webhooks[0].name: required"),
    ({"name": "a"}, "notifications.webhooks[0]: give url or urlSecretRef (a Secret's key holding the URL), "
                    "exactly one"),
    ({"name": "a", "url": "http://x", "urlSecretRef": {"name": "s", "key": "k"}}, "exactly one"),
    ({"name": "a", "urlSecretRef": {"name": "s"}}, "notifications.webhooks[0].urlSecretRef: needs name and key")],
    ids=["not http", "an open bracket", "a port not a number", "unknown format", "unknown event", "timeout too long",
         "unknown key", "no name", "no url", "url and secret", "secret without key"])
def test_a_bad_webhook_is_refused_naming_the_key(hook, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.parse({"notifications": {"webhooks": [hook]}})


def failed() -> float:
    return METRICS.registry.get_sample_value("tap_optimizer_notifications_total", {"outcome": "failed"}) or 0.0


async def test_delivery_never_holds_the_caller_and_counts_what_fails():
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        if request.path == "/slow":
            await asyncio.sleep(5)
        if request.path == "/broken":
            return web.Response(status=500)
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{name}", hook)
    async with TestServer(app, host="127.0.0.1") as server:
        url = f"http://127.0.0.1:{server.port}"
        notifier = Notifier([config.Webhook("ok", f"{url}/ok"), config.Webhook("slow", f"{url}/slow", timeout=1),
                             config.Webhook("broken", f"{url}/broken", form="slack"),
                             config.Webhook("elsewhere", f"{url}/ok", namespaces=frozenset({"other"}))])
        before, started = failed(), time.monotonic()
        notifier.send([NOTICE])
        assert time.monotonic() - started < 0.1
        await notifier.close()
        assert time.monotonic() - started < 3  # the slow one gave up at its timeout
    assert received == [messages.body(NOTICE, "generic")]
    assert failed() == before + 2


async def test_a_url_from_a_secret_is_read_at_each_delivery_and_a_missing_one_fails_naming_it(caplog):
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with TestServer(app, host="127.0.0.1") as server:
        secrets = {"slack-webhook": ({}, {"url": f"http://127.0.0.1:{server.port}/hook\n"})}

        async def read_secret(namespace: str, name: str):
            assert namespace == "ops"
            return secrets.get(name)

        [hooked, missing] = config.parse({"namespace": "ops", "notifications": {"webhooks": [
            {"name": "ops", "urlSecretRef": {"name": "slack-webhook", "key": "url"}, "format": "slack"},
            {"name": "gone", "urlSecretRef": {"name": "nothing", "key": "url"}}]}})
        notifier, before = Notifier([hooked, missing], read_secret), failed()
        notifier.send([NOTICE])
        await notifier.close()
    assert received == [messages.body(NOTICE, "slack")] and failed() == before + 1
    assert "webhook gone: RolledBack of tap/p not delivered: Secret ops/nothing does not exist" in caplog.text
    assert str(server.port) not in caplog.text


async def _unreadable_url(namespace: str, name: str):
    return {}, {"url": "http://[::1/x"}


async def _secret_read_fails(namespace: str, name: str):
    raise ApiException(status=500, reason="Internal Server Error")


@pytest.mark.parametrize(("read_secret", "said"), [
    (_unreadable_url, "Secret ops/slack-webhook key 'url' does not hold an http(s) URL"),
    (_secret_read_fails, "Secret ops/slack-webhook cannot be read: ApiException"),
], ids=["a URL urllib cannot split", "a 500 reading the Secret"])
async def test_a_webhook_secret_that_gives_no_usable_url_fails_that_delivery_counted(read_secret, said, caplog):
    """`http://[::1/x` (a bracket left open) made urllib raise ValueError in the delivery task, and a
    500 while reading the webhook's Secret escaped it: nothing was counted or logged by name."""
    [hook] = config.parse({"namespace": "ops", "notifications": {"webhooks": [
        {"name": "ops", "urlSecretRef": {"name": "slack-webhook", "key": "url"}}]}})
    notifier, before = Notifier([hook], read_secret), failed()
    notifier.send([NOTICE])
    await notifier.close()
    assert failed() == before + 1
    assert f"webhook ops: RolledBack of tap/p not delivered: {said}" in caplog.text
