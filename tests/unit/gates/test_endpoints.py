"""Which endpoint a plan's gates query: the administrator's list, a plan's own URL only where allowed,
and never a user or password in a URL nor an unlabelled Secret. Table-driven: each case says why."""

from __future__ import annotations

import pytest

from tap_optimizer.gates.endpoints import (
    CREDENTIAL_LABEL,
    ConfigError,
    Endpoint,
    SecretRef,
    credential_missing,
    credential_refusal,
    effective_spec,
    parse_config,
    resolve,
    url_problem,
)
from tap_optimizer.plan.spec import parse, spec_errors
from tap_optimizer_local import alb_metrics
from tests.support.plans import three_phase_spec

MAIN = {"name": "main", "prometheus": {"url": "https://prometheus.monitoring:9090/", "timeout": "5s",
                                       "bearerTokenSecretRef": {"name": "prom-token", "key": "token"},
                                       "caSecretRef": {"name": "prom-ca", "key": "ca.crt"}}}
OTHER = {"name": "other", "prometheus": {"url": "http://thanos.monitoring:10902"}}
STRICT = parse_config({"namespace": "tap-optimizer", "gates": {"endpoints": [MAIN, OTHER], "defaultEndpoint": "main"}})
OPEN = parse_config({"namespace": "tap-optimizer", "gates": {
    "endpoints": [MAIN], "plans": {"allowURL": True, "allowedHosts": ["prometheus.team-a:9090", "*.monitoring:9090",
                                                                       "127.0.0.1:9090"],
                                   "allowSecretRefs": True}}})
EXFILTRATION = {"url": "http://any-host:8080/collect?x=",
                "bearerTokenSecretRef": {"name": "orders-db", "key": "password"}}


def gates(**prometheus):
    spec = three_phase_spec()
    spec["gates"]["prometheus"] = prometheus
    return spec


def named(name, **prometheus):
    spec = gates(**prometheus)
    spec["gates"]["endpoint"] = name
    return spec


REFUSED = [
    ("the issue's exfiltration plan: a free URL and another team's Secret, with plans' own endpoints off",
     gates(**EXFILTRATION), STRICT,
     ["spec.gates.prometheus.url", "spec.gates.prometheus.bearerTokenSecretRef"]),
    ("the same plan where plans may name their own: the host is not allowed, nor a query",
     gates(**EXFILTRATION), OPEN, ["spec.gates.prometheus.url"]),
    ("a password in the URL, even for an allowed host", gates(url="http://alice:s3cr3t@prometheus.team-a:9090"), OPEN,
     ["spec.gates.prometheus.url"]),
    ("a CA Secret alone is still a Secret reference", gates(caSecretRef={"name": "x", "key": "ca"}), STRICT,
     ["spec.gates.prometheus.caSecretRef"]),
    ("skipping TLS verification is the plan choosing its own connection", gates(insecureSkipVerify=True), STRICT,
     ["spec.gates.prometheus.insecureSkipVerify"]),
    ("an endpoint the administrator did not list", named("elsewhere"), STRICT, ["spec.gates.endpoint"]),
    ("an endpoint and an own URL at once", named("main", url="http://prometheus.team-a:9090"), OPEN,
     ["spec.gates.prometheus.url"]),
    ("no endpoint, no default", gates(), parse_config({"gates": {"endpoints": [OTHER]}}), ["spec.gates.endpoint"]),
    ("a port other than the allowed one", gates(url="http://127.0.0.1:9091"), OPEN, ["spec.gates.prometheus.url"]),
]


@pytest.mark.parametrize(("spec", "config", "fields"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_plans_name_every_field_and_resolve_to_nothing(spec, config, fields):
    endpoint, errors = resolve(spec, config, "team-a")
    assert endpoint is None
    assert [e.path for e in errors] == fields
    assert not any(word in str(errors) for word in ("alice", "s3cr3t", "orders-db")), errors


def test_a_plan_naming_no_endpoint_gets_the_default_with_its_secrets_in_the_operators_namespace():
    endpoint, errors = resolve(gates(), STRICT, "team-a")
    assert errors == []
    assert endpoint == Endpoint("main", "prometheus", "https://prometheus.monitoring:9090", "5s", False,
                                SecretRef("tap-optimizer", "prom-token", "token",
                                          "gates.endpoints[0].prometheus.bearerTokenSecretRef"),
                                SecretRef("tap-optimizer", "prom-ca", "ca.crt",
                                          "gates.endpoints[0].prometheus.caSecretRef"))


def test_a_plan_names_an_endpoint_and_may_set_its_own_timeout():
    endpoint, errors = resolve(named("other", timeout="2s"), STRICT, "team-a")
    assert errors == [] and (endpoint.url, endpoint.timeout, endpoint.secrets) == (
        "http://thanos.monitoring:10902", "2s", ())
    body = effective_spec(named("other", timeout="2s"), endpoint)
    assert spec_errors(body) == []
    assert parse(body).gates.prometheus_url == "http://thanos.monitoring:10902"
    assert parse(body).gates.timeout == 2


def test_where_allowed_a_plans_own_url_and_labelled_secret_resolve_in_the_plans_namespace():
    spec = gates(url="http://prometheus.team-a:9090", bearerTokenSecretRef={"name": "gate-token", "key": "token"})
    endpoint, errors = resolve(spec, OPEN, "team-a")
    assert errors == []
    assert endpoint.token == SecretRef("team-a", "gate-token", "token", "spec.gates.prometheus.bearerTokenSecretRef",
                                       plan_owned=True)
    for url in ("http://thanos.monitoring:9090", "http://127.0.0.1:9090"):
        assert resolve(gates(url=url), OPEN, "team-a")[1] == [], url


CREDENTIALS = [
    ("a plan's Secret without the owner's label is refused", True, {}, {"token": "t"}, "is not labelled"),
    ("a plan's Secret labelled for gates", True, {CREDENTIAL_LABEL: "true"}, {"token": "t"}, None),
    ("the operator's own Secret needs no label", False, {}, {"token": "t"}, None),
    ("a missing key cannot be read", False, {}, {"other": "t"}, "has no key 'token'"),
    ("a missing or forbidden Secret cannot be read", False, None, None, "does not exist"),
]


@pytest.mark.parametrize(("plan_owned", "labels", "data", "wanted"), [c[1:] for c in CREDENTIALS],
                         ids=[c[0] for c in CREDENTIALS])
def test_a_secret_is_used_only_when_its_owner_allows_it_and_it_can_be_read(plan_owned, labels, data, wanted):
    ref = SecretRef("team-a", "s", "token", "f", plan_owned)
    problem = (credential_refusal(ref, labels) if data is not None else None) or credential_missing(ref, data)
    assert (problem is None) if wanted is None else wanted in problem
    assert "t" not in (problem or "").split(), "never the Secret's content"


BAD_CONFIGS = [
    ("two endpoints of one name", {"gates": {"endpoints": [OTHER, OTHER]}}, "gates.endpoints[1].name"),
    ("an endpoint with no provider block", {"gates": {"endpoints": [{"name": "x"}]}}, "gates.endpoints[0]"),
    ("an unknown provider", {"gates": {"endpoints": [{"name": "x", "datadog": {}}]}}, "gates.endpoints[0]"),
    ("a user in the administrator's URL", {"gates": {"endpoints": [
        {"name": "x", "prometheus": {"url": "http://u:p@h:1"}}]}}, "gates.endpoints[0].prometheus.url"),
    ("a default that is not listed", {"gates": {"defaultEndpoint": "x"}}, "gates.defaultEndpoint"),
    ("own URLs allowed with no host", {"gates": {"plans": {"allowURL": True}}}, "gates.plans.allowedHosts"),
    ("a Secret without the operator's namespace", {"gates": {"endpoints": [MAIN]}}, "namespace"),
    ("an unknown key", {"gates": {"endpoint": []}}, "gates.endpoint"),
    ("a misspelt section (it was an empty configuration)", {"gate": {"endpoints": []}}, "configuration.gate"),
    ("the chart's ConfigMap, not the file it holds", {"apiVersion": "v1", "kind": "ConfigMap", "data": {}},
     "configuration"),
    ("a CloudWatch endpoint without a region", {"gates": {"endpoints": [{"name": "x", "cloudwatch": {}}]}},
     "gates.endpoints[0].cloudwatch.region"),
    ("a CloudWatch endpoint with a URL", {"gates": {"endpoints": [
        {"name": "x", "cloudwatch": {"region": "us-east-1", "url": "http://h:1"}}]}},
     "gates.endpoints[0].cloudwatch.url"),
]


@pytest.mark.parametrize(("document", "key"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_a_bad_configuration_is_refused_naming_the_key(document, key):
    with pytest.raises(ConfigError) as refused:
        parse_config(document)
    assert str(refused.value).startswith(key + ":")
    assert "u:p" not in str(refused.value)


def test_the_environments_prometheus_url_is_the_default_endpoint_named_default():
    config = parse_config(None, default_url="http://prometheus.monitoring:9090/")
    assert (config.default, config.endpoints["default"].url) == ("default", "http://prometheus.monitoring:9090")
    kept = parse_config({"gates": {"endpoints": [OTHER], "defaultEndpoint": "other"}}, default_url="http://p:9090")
    assert kept.default == "other" and set(kept.endpoints) == {"other", "default"}


@pytest.mark.parametrize(("url", "hosts", "ok"), [
    ("http://prometheus.monitoring:9090", ("*.monitoring:9090",), True),
    ("http://evil.monitoring.example.com", ("*.monitoring",), False),
    ("http://PROMETHEUS.team-a", ("prometheus.team-a",), True),
    ("https://p:9090/prefix", ("p:9090",), True),
    ("ftp://p", ("p",), False),
    ("http://p#frag", ("p",), False),
    # the reviewer's inputs: IPv6 with a port, and a port that is the scheme's default
    ("http://[::1]:9090", ("[::1]:9090",), True),
    ("http://[0:0::1]:9090", ("[::1]:9090",), True),
    ("http://[::1]:9091", ("[::1]:9090",), False),
    ("http://[::2]:9090", ("[::1]:9090",), False),
    ("http://[::1]", ("::1",), True),
    ("http://prom.x", ("prom.x:80",), True),
    ("https://prom.x", ("prom.x:443",), True),
    ("https://prom.x", ("prom.x:80",), False),
    ("http://prom.x:80", ("prom.x",), True),
    # an entry without a port is the scheme's default port only; host:* is any port
    ("http://prom.x:9090", ("prom.x",), False),
    ("https://prom.x", ("prom.x",), True),
    ("https://prom.x:80", ("prom.x",), False),
    ("http://prom.x:9090", ("prom.x:*",), True),
    ("http://a.monitoring:1234", ("*.monitoring:*",), True),
    ("http://[::1]:1234", ("[::1]:*",), True),
])
def test_hosts_match_exactly_by_name_port_or_subdomain(url, hosts, ok):
    assert (url_problem(url, hosts) is None) == ok


def test_a_secret_key_that_is_not_text_is_named_not_raised():
    """Review input: a DER (binary) certificate where a PEM bundle is wanted."""
    ref = SecretRef(field="caSecretRef", namespace="tap", name="prom-ca", key="ca.crt")
    assert credential_missing(ref, {"ca.crt": None}) == \
        "Secret tap/prom-ca key 'ca.crt' is not text (a CA bundle must be PEM, not DER)"


CLOUDWATCH = parse_config({"gates": {"endpoints": [OTHER, alb_metrics.endpoint_config("eu-west-1", "aws-eu")],
                                     "defaultEndpoint": "other"}})


def cloudwatch_plan(**gates):
    spec = three_phase_spec(gates=alb_metrics.gates("aws-eu", period="60s", baselineWindow="1h"))
    spec["gates"].update(gates)
    return spec


def test_a_cloudwatch_endpoint_gives_its_region_to_a_plan_of_cloudwatch_queries():
    endpoint, refused = resolve(cloudwatch_plan(), CLOUDWATCH, "tap")
    assert refused == [] and endpoint == Endpoint("aws-eu", "cloudwatch", "", region="eu-west-1")
    effective = effective_spec(cloudwatch_plan(), endpoint)
    assert effective["gates"]["cloudwatch"] == {"period": "60s", "region": "eu-west-1"}
    assert spec_errors(effective) == [] and parse(effective).gates.cloudwatch.region == "eu-west-1"


PROVIDER_MISMATCHES = [
    ("CloudWatch queries and no endpoint named: the default is Prometheus", cloudwatch_plan(endpoint=None),
     "spec.gates.endpoint: this plan's metrics are CloudWatch queries but endpoint 'other' is prometheus; "
     "cloudwatch endpoints: aws-eu"),
    ("PromQL naming a CloudWatch endpoint", named("aws-eu"),
     "spec.gates.endpoint: this plan's metrics are PromQL but endpoint 'aws-eu' is cloudwatch; prometheus "
     "endpoints: other"),
    ("a region of the plan's own", cloudwatch_plan(cloudwatch={"region": "us-east-1"}),
     "spec.gates.cloudwatch.region: the region is the endpoint's"),
]


@pytest.mark.parametrize(("spec", "wanted"), [c[1:] for c in PROVIDER_MISMATCHES],
                         ids=[c[0] for c in PROVIDER_MISMATCHES])
def test_a_plan_and_its_endpoint_are_of_one_provider(spec, wanted):
    spec["gates"] = {k: v for k, v in spec["gates"].items() if v is not None}
    endpoint, refused = resolve(spec, CLOUDWATCH, "tap")
    assert endpoint is None and any(str(r).startswith(wanted) for r in refused), refused


@pytest.mark.parametrize("entry", ["[::1", "[::1]x", "h:0", "h:99999", "h:port", "u@h", "h/path", ":80"])
def test_an_allowed_host_entry_that_is_none_is_refused_naming_the_key(entry):
    with pytest.raises(ConfigError, match=r"^gates\.plans\.allowedHosts:"):
        parse_config({"gates": {"plans": {"allowURL": True, "allowedHosts": [entry]}}})


TEAMS = parse_config({"namespace": "tap-optimizer", "gates": {"endpoints": [
    {**OTHER, "name": "team-a", "namespaces": ["team-a"]}, {**OTHER, "namespaces": ["team-a", "team-b"]},
    {**OTHER, "name": "shared"}], "defaultEndpoint": "team-a"}})


def test_an_endpoint_limited_to_namespaces_refuses_plans_elsewhere_naming_spec_gates_endpoint():
    assert resolve(named("team-a"), TEAMS, "team-a")[0].name == "team-a"
    assert resolve(named("other"), TEAMS, "team-b")[0].name == "other"
    endpoint, errors = resolve(named("team-a"), TEAMS, "team-b")
    assert endpoint is None
    assert [str(e) for e in errors] == ["spec.gates.endpoint: endpoint 'team-a' is not offered to plans in namespace "
                                        "team-b; offered there: other, shared"]
    # the default endpoint is no way around it
    endpoint, errors = resolve(gates(), TEAMS, "team-c")
    assert endpoint is None and [e.path for e in errors] == ["spec.gates.endpoint"]
    assert "'team-a' is not offered to plans in namespace team-c; offered there: shared" in errors[0].message
    assert resolve(gates(), TEAMS, "team-a")[0].name == "team-a"


def test_an_empty_namespace_list_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"^gates\.endpoints\[0\]\.namespaces:"):
        parse_config({"gates": {"endpoints": [{**OTHER, "namespaces": []}]}})


TIMEOUTS = [
    ("the reviewer's hour on an endpoint of 10s", named("other", timeout="1h"), STRICT, "at most 10s"),
    ("above the endpoint's own", named("main", timeout="6s"), STRICT, "at most 5s"),
    ("the default endpoint's", gates(timeout="11s"), STRICT, "at most 5s"),
    ("a plan's own URL above gates.plans.maxTimeout", gates(url="http://127.0.0.1:9090", timeout="31s"), OPEN,
     "at most 30s"),
    ("equal to the endpoint's", named("main", timeout="5s"), STRICT, None),
    ("a plan's own URL at gates.plans.maxTimeout", gates(url="http://127.0.0.1:9090", timeout="30s"), OPEN, None),
]


@pytest.mark.parametrize(("spec", "config", "refused"), [c[1:] for c in TIMEOUTS], ids=[c[0] for c in TIMEOUTS])
def test_a_plan_may_shorten_its_endpoints_timeout_never_lengthen_it(spec, config, refused):
    endpoint, errors = resolve(spec, config, "team-a")
    if refused is None:
        assert errors == [] and endpoint.timeout == spec["gates"]["prometheus"]["timeout"]
    else:
        assert endpoint is None and [e.path for e in errors] == ["spec.gates.prometheus.timeout"]
        assert refused in errors[0].message


def test_the_longest_timeout_of_a_plans_own_url_is_configurable():
    config = parse_config({"gates": {"plans": {"allowURL": True, "allowedHosts": ["p:*"], "maxTimeout": "5s"}}})
    assert resolve(gates(url="http://p:1", timeout="6s"), config, "t")[1][0].path == "spec.gates.prometheus.timeout"
    with pytest.raises(ConfigError, match=r"^gates\.plans\.maxTimeout:"):
        parse_config({"gates": {"plans": {"maxTimeout": "soon"}}})
