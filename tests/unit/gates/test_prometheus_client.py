"""The Prometheus client's edge cases against a scripted local HTTP server (the real client, no
mocks): what is sent, what is retried, and that every failure is an Inconclusive saying what
happened, never an exception. The real Prometheus is in tests/integration."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tap_optimizer.gates import prometheus, run
from tap_optimizer.gates.prometheus import Access, PrometheusGates
from tap_optimizer.plan.spec import GateMetric, Gates
from tap_optimizer_local.processes import free_port

ERROR_RATE = GateMetric("error-rate", "errors", max=0.005, min=None, max_increase_over_baseline=None,
                        volume_query="volume", min_volume=10)
P99 = GateMetric("p99", "p99", max=None, min=None, max_increase_over_baseline=0.2, volume_query=None, min_volume=None)


def vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector",
                                          "result": [{"metric": m, "value": [0, v]} for m, v in series]}}


HEALTHY = {"errors": vector(({}, "0.001")), "volume": vector(({}, "100")), "p99": vector(({}, "0.05"))}


@dataclasses.dataclass
class Stub:
    """A Prometheus stand-in: `answer(request)` makes each response; every request is recorded."""

    url: str = ""
    answer: Callable[[web.Request], Any] = lambda request: web.json_response(HEALTHY[request.query["query"]])
    requests: list[web.Request] = dataclasses.field(default_factory=list)

    def gates(self, *metrics: GateMetric, **changes: Any) -> Gates:
        made = Gates(prometheus_url=self.url, timeout=1, bearer_token_secret=None, ca_secret=None,
                     insecure_skip_verify=False,
                     interval=1, observation_window=10, baseline_window=60, compare_with_last_week=False,
                     inconclusive_limit=3, on_inconclusive="RollBack", metrics=metrics or (ERROR_RATE, P99))
        return dataclasses.replace(made, **changes)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(prometheus, "BACKOFF_SECONDS", 0)


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[Stub]:
    made = Stub()

    async def handle(request: web.Request) -> web.StreamResponse:
        made.requests.append(request)
        response = made.answer(request)
        return await response if asyncio.iscoroutine(response) else response

    app = web.Application()
    app.router.add_get("/api/v1/query", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        made.url = str(server.make_url("")).rstrip("/")
        yield made


@pytest_asyncio.fixture
async def client() -> AsyncIterator[PrometheusGates]:
    async with PrometheusGates() as gates:
        yield gates


async def test_a_check_sends_one_request_per_query_at_one_time(stub, client):
    verdict = await client.check(stub.gates(), {"p99": {"{}": 0.05}})
    assert verdict.verdict == "Pass", verdict
    assert sorted(r.query["query"] for r in stub.requests) == ["errors", "p99", "volume"]
    assert len({r.query["time"] for r in stub.requests}) == 1
    assert all("Authorization" not in r.headers for r in stub.requests)


async def test_the_bearer_token_is_sent(stub, client):
    await client.check(stub.gates(P99), {}, access=Access(token="s3cret"))
    assert [r.headers["Authorization"] for r in stub.requests] == ["Bearer s3cret"]


def flaky(failures: int, status: int = 503) -> Callable[[web.Request], web.Response]:
    """Answers `status` to the first `failures` requests, then healthy."""
    seen = []

    def answer(request: web.Request) -> web.Response:
        seen.append(request)
        if len(seen) <= failures:
            return web.json_response({"status": "error", "errorType": "unavailable", "error": "busy"}, status=status)
        return web.json_response(HEALTHY[request.query["query"]])

    return answer


async def test_5xx_is_retried_twice(stub, client):
    stub.answer = flaky(2)
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}})
    assert (verdict.verdict, len(stub.requests)) == ("Pass", 3)


async def test_5xx_three_times_is_inconclusive_saying_so(stub, client):
    stub.answer = flaky(3)
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}})
    assert (verdict.verdict, len(stub.requests)) == ("Inconclusive", 3)
    assert verdict.metrics[0].message == "p99: Prometheus answered HTTP 503: unavailable: busy"


async def test_a_promql_error_is_not_retried(stub, client):
    stub.answer = flaky(1, status=400)
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}})
    assert (verdict.verdict, len(stub.requests)) == ("Inconclusive", 1)
    assert "HTTP 400" in verdict.metrics[0].message


@pytest.mark.parametrize(("body", "content_type", "message"), [
    pytest.param("<html>sign in</html>", "text/html", "Prometheus answered HTTP 200, not with its API's JSON",
                 id="a proxy's login page"),
    pytest.param("{not json", "application/json", "not with its API's JSON", id="broken JSON"),
    pytest.param(json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}),
                 "application/json", "expected an instant vector or scalar, got matrix", id="a range vector"),
    pytest.param(json.dumps({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}),
                 "application/json", "Prometheus answered a malformed vector", id="a sample without a value"),
    pytest.param(json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [0, "oops"]}}),
                 "application/json", "Prometheus answered a malformed scalar", id="a value that is not a number"),
])
async def test_an_unexpected_answer_is_inconclusive(stub, client, body, content_type, message):
    stub.answer = lambda _: web.Response(text=body, content_type=content_type)
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}})
    assert verdict.verdict == "Inconclusive" and message in verdict.metrics[0].message, verdict


async def test_a_scalar_is_one_series_without_labels(stub, client):
    stub.answer = lambda _: web.json_response({"status": "success", "data": {"resultType": "scalar",
                                                                              "result": [0, "0.055"]}})
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}})
    assert (verdict.verdict, verdict.metrics[0].message) == ("Pass", "p99{} = 0.055 <= baseline 0.05 +20% (0.06)")


async def test_a_slow_server_is_inconclusive_after_the_timeout_without_retrying(stub, client):
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response(HEALTHY["p99"])

    stub.answer = slow
    verdict = await client.check(stub.gates(P99, timeout=0.1), {"p99": {"{}": 0.05}})
    assert verdict.verdict == "Inconclusive" and len(stub.requests) == 1
    assert verdict.metrics[0].message == f"p99: Prometheus at {stub.url} did not answer within 0.1 s"


async def test_nothing_listening_is_inconclusive(client):
    url = f"http://127.0.0.1:{free_port()}"
    verdict = await client.check(Stub(url=url).gates(), {})
    assert verdict.verdict == "Inconclusive"
    assert all(m.message.startswith(f"{m.name}: Prometheus at {url} is unreachable") for m in verdict.metrics)


async def test_a_failing_volume_query_is_named(stub, client):
    stub.answer = lambda r: web.json_response(HEALTHY["errors"]) if r.query["query"] == "errors" else web.Response(
        status=502, text="bad gateway")
    verdict = await client.check(stub.gates(ERROR_RATE), {})
    assert verdict.metrics[0].message.startswith("error-rate: volume query: Prometheus answered HTTP 502")


async def test_a_baseline_is_the_subquery_average_of_each_series(stub, client):
    stub.answer = lambda _: web.json_response(vector(({"tenant": "t1"}, "0.1"), ({"tenant": "t2"}, "NaN")))
    baseline = await client.baseline(stub.gates(P99, baseline_window=3600))
    assert [r.query["query"] for r in stub.requests] == ["avg_over_time(((p99) >= -Inf)[3600s:120s])"]
    assert baseline == {"p99": {'{tenant="t1"}': 0.1}}
    assert json.loads(json.dumps(baseline)) == baseline


async def test_the_baseline_with_last_week_keeps_the_worse_per_series(stub, client):
    def answer(request: web.Request) -> web.Response:
        last_week = "offset 1w" in request.query["query"]
        return web.json_response(vector(({"t": "1"}, "0.2" if last_week else "0.1"), ({"t": "2"}, "0.3")))

    stub.answer = answer
    baseline = await client.baseline(stub.gates(P99, baseline_window=10, compare_with_last_week=True))
    assert {r.query["query"] for r in stub.requests} == {
        "avg_over_time(((p99) >= -Inf)[10s:1s])", "avg_over_time(((p99) >= -Inf)[10s:1s] offset 1w)"}
    assert baseline == {"p99": {'{t="1"}': 0.2, '{t="2"}': 0.3}}


async def test_no_data_or_no_answer_gives_no_baseline_entry(stub, client):
    stub.answer = lambda r: web.json_response(vector()) if "(p99)" in r.query["query"] else (
        web.Response(status=500))
    assert await client.baseline(stub.gates()) == {}


async def test_a_closed_client_opens_a_new_session_when_used_again(stub):
    gates = PrometheusGates()
    await gates.check(stub.gates(P99), {})
    await gates.close()
    assert (await gates.check(stub.gates(P99), {"p99": {"{}": 0.05}})).verdict == "Pass"
    await gates.close()


def self_signed() -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prometheus.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


async def test_tls_is_verified_with_the_plans_ca_bundle(tmp_path, client):
    cert, key = self_signed()
    (tmp_path / "cert.pem").write_text(cert)
    (tmp_path / "key.pem").write_text(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    app = web.Application()
    app.router.add_get("/api/v1/query", lambda request: web.json_response(HEALTHY[request.query["query"]]))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    try:
        gates = Stub(url=f"https://127.0.0.1:{port}").gates(ERROR_RATE)
        trusted = await client.check(gates, {}, access=Access(ca=cert))
        unknown = await client.check(gates, {})
        skipped = await client.check(dataclasses.replace(gates, insecure_skip_verify=True), {})
    finally:
        await runner.cleanup()
    assert trusted.verdict == "Pass" and skipped.verdict == "Pass"
    assert unknown.verdict == "Inconclusive" and "certificate" in unknown.metrics[0].message.lower()


async def test_an_answer_with_warnings_is_a_partial_answer_and_inconclusive(stub, client):
    """One store down: the failing tenant's series is simply missing, and the rest would pass."""
    def partial(request: web.Request) -> web.Response:
        return web.json_response({**HEALTHY[request.query["query"]],
                                  "warnings": ["store 10.0.0.7:10901 is unavailable: partial response"]})

    stub.answer = partial
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}})
    assert verdict.verdict == "Inconclusive" and verdict.metrics[0].cause == "PartialResponse"
    assert "store 10.0.0.7:10901 is unavailable" in verdict.metrics[0].message
    assert {r.query["partial_response"] for r in stub.requests} == {"false"}, "complete answers are asked for"


@pytest.mark.parametrize(("status", "cause"), [(400, "QueryRejected"), (422, "QueryRejected"), (401, "Unreachable"),
                                               (503, "Unreachable")])
async def test_the_cause_tells_a_rejected_query_from_an_unavailable_server(stub, client, status, cause):
    stub.answer = lambda r: web.json_response({"status": "error", "errorType": "bad_data", "error": "parse error"},
                                              status=status)
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}})
    assert (verdict.verdict, verdict.metrics[0].cause) == ("Inconclusive", cause)


async def test_a_range_vector_answer_is_the_querys_fault(stub, client):
    stub.answer = lambda r: web.json_response({"status": "success", "data": {"resultType": "matrix", "result": []}})
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}})
    assert verdict.metrics[0].cause == "QueryRejected" and "got matrix" in verdict.metrics[0].message


async def test_an_invalid_ca_bundle_is_an_inconclusive_check_not_an_exception(stub, client):
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}}, access=Access(ca="not a certificate"))
    assert verdict.verdict == "Inconclusive" and verdict.metrics[0].cause == "AccessError"
    assert "CA bundle" in verdict.metrics[0].message and stub.requests == []


async def test_preflight_fails_on_a_rejected_query_and_waits_on_an_unanswered_one(stub, client):
    def answer(request: web.Request) -> web.Response:
        if request.query["query"] == "errors":
            return web.json_response({"status": "error", "errorType": "bad_data",
                                      "error": '1:5: parse error: unexpected end of input'}, status=400)
        if request.query["query"] == "volume":
            return web.Response(status=503)
        return web.json_response(vector())  # an empty answer is an answer

    stub.answer = answer
    found = await run.preflight(client.provider(stub.gates()), stub.gates(), 0)
    assert found.rejected == ('spec.gates.metrics[error-rate].query: Prometheus answered HTTP 400: bad_data: '
                              '1:5: parse error: unexpected end of input',)
    assert found.unanswered == ("spec.gates.metrics[error-rate].volumeQuery: Prometheus answered HTTP 503, not with "
                                "its API's JSON",)
    stub.answer = lambda r: web.json_response(HEALTHY[r.query["query"]])
    assert (await run.preflight(client.provider(stub.gates()), stub.gates(), 0)).ok


async def test_a_baseline_needs_the_minimum_traffic_over_its_window(stub, client):
    """A quiet-hour baseline must not make a 10x regression look normal: it is not taken."""
    stub.answer = lambda r: web.json_response(vector(({}, "5") if "volume" in r.query["query"] else ({}, "0.001")))
    measured = await run.baseline(client.provider(stub.gates(ERROR_RATE)), stub.gates(ERROR_RATE), 0)
    assert measured.values == {} and "minimum traffic of 10" in measured.missing["error-rate"]


async def test_a_ca_bundle_with_non_ascii_text_around_the_pem_is_inconclusive_not_an_exception(stub, client):
    """Review input: curl's cacert.pem has comment lines such as 'CN=NetLock Arany (Class Gold) Főtanúsítvány'."""
    cert, _ = self_signed()
    bundle = "# Issuer: CN=NetLock Arany (Class Gold) Főtanúsítvány\n" + cert
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}}, access=Access(ca=bundle))
    assert verdict.verdict == "Inconclusive" and verdict.metrics[0].cause == "AccessError"


async def test_a_token_read_from_a_file_is_sent_without_its_trailing_newline(stub, client):
    await client.check(stub.gates(P99), {}, access=Access(token="s3cret\n"))
    assert [r.headers["Authorization"] for r in stub.requests] == ["Bearer s3cret"]


@pytest_asyncio.fixture
async def elsewhere() -> AsyncIterator[Stub]:
    """Another host (another port here): a server that always answers healthy, vector(0)."""
    made = Stub()

    async def handle(request: web.Request) -> web.Response:
        made.requests.append(request)
        return web.json_response(vector(({}, "0")))

    app = web.Application()
    app.router.add_get("/api/v1/query", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        made.url = str(server.make_url("")).rstrip("/")
        yield made


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_to_another_host_is_not_followed_and_is_inconclusive_naming_it(stub, client, elsewhere,
                                                                                         status):
    stub.answer = lambda request: web.Response(status=status, headers={
        "Location": f"{elsewhere.url.replace('//', '//user:pw@')}/api/v1/query?{request.query_string}"})
    verdict = await client.check(stub.gates(ERROR_RATE), {})
    assert verdict.verdict == "Inconclusive" and elsewhere.requests == []
    host = elsewhere.url.removeprefix("http://")
    assert verdict.metrics[0].message == (f"error-rate: Prometheus at {stub.url} answered HTTP {status}, redirected "
                                          f"to {host} — not followed: a gate endpoint must be the Prometheus HTTP "
                                          "API itself")
    assert verdict.metrics[0].cause == "Unreachable"
    assert len(stub.requests) == 2, "not retried: one request per query"


async def test_a_redirect_on_the_same_host_is_not_followed_either(stub, client):
    stub.answer = lambda request: (web.Response(status=302, headers={"Location": "/prometheus/api/v1/query"})
                                   if request.path == "/api/v1/query" else web.json_response(vector(({}, "0"))))
    verdict = await client.check(stub.gates(P99), {"p99": {"{}": 0.05}})
    assert verdict.verdict == "Inconclusive" and len(stub.requests) == 1
    assert "answered HTTP 302, redirected to a path of its own — not followed" in verdict.metrics[0].message


async def test_a_plan_with_many_slow_queries_does_not_make_another_plans_check_wait(stub, client):
    """Three plans of 20 metrics with volume queries against a server that never answers them hold at
    most CONCURRENCY connections each, so another plan's quick check finds a free one in the shared
    pool of POOL (without the bound they would hold all 100 and the check time out)."""
    slow = tuple(GateMetric(f"slow-{i}", f"slow-{i}", max=1, min=None, max_increase_over_baseline=None,
                            volume_query=f"slow-volume-{i}", min_volume=1) for i in range(20))
    assert 3 * 2 * len(slow) > prometheus.POOL and 3 * prometheus.CONCURRENCY < prometheus.POOL
    hung = asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        if request.query["query"].startswith("slow"):
            await hung.wait()  # until the test ends
        return web.json_response(HEALTHY[request.query["query"]])

    stub.answer = answer
    hogs = [asyncio.create_task(client.check(stub.gates(*slow, timeout=2), {})) for _ in range(3)]
    try:
        async with asyncio.timeout(5):  # every hog holds its share of the pool (a loaded machine is slow to start)
            while sum(r.query["query"].startswith("slow") for r in stub.requests) < 3 * prometheus.CONCURRENCY:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert sum(r.query["query"].startswith("slow") for r in stub.requests) == 3 * prometheus.CONCURRENCY
        started = asyncio.get_running_loop().time()
        verdict = await client.check(stub.gates(P99, timeout=1.5), {"p99": {"{}": 0.05}})
        assert verdict.verdict == "Pass", verdict
        assert asyncio.get_running_loop().time() - started < 1.5, "it did not wait for the hogs (they hold 2 s)"
    finally:
        hung.set()
        for hog in hogs:
            hog.cancel()
        await asyncio.gather(*hogs, return_exceptions=True)
