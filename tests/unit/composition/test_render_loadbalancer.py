"""The ALB: target groups, listeners with and without a certificate, routing rules, and which
objects each load-balancer parameter touches."""

from __future__ import annotations

from typing import Any

import pytest

from tap_optimizer.composition.render.common import Resources
from tap_optimizer.composition.render.loadbalancer import render_load_balancer
from tests.support.platforms import diff
from tests.unit.composition.conftest import assert_valid, make_platform
from tests.unit.composition.test_render_tables import dangling

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f"
GROUPS = {"lb-tg-api", "lb-tg-admin", "lb-tg-metrics"}
FORWARD_TO_API = {"type": "forward", "targetGroupArnRef": {"name": "tap-prod-lb-tg-api"}}


def for_provider(rendered: Resources, key: str) -> dict[str, Any]:
    return rendered[key]["spec"]["forProvider"]


def render(certificate: str = "", **load_balancer: Any) -> Resources:
    return render_load_balancer(make_platform(loadBalancer={"certificateArn": certificate, **load_balancer}))


@pytest.mark.parametrize(("certificate", "listeners", "rules_on"), [
    ("", {"lb-listener-http"}, "http"),
    (CERTIFICATE, {"lb-listener-http", "lb-listener-https"}, "https"),
], ids=["without a certificate, HTTP serves and carries the rules",
        "with a certificate, HTTPS serves and carries the rules"])
def test_listeners_and_rules_follow_the_certificate(certificate, listeners, rules_on):
    platform = make_platform(loadBalancer={"certificateArn": certificate})
    rendered = render_load_balancer(platform)
    assert_valid(rendered)
    assert dangling(platform, rendered) == []
    rules = {f"lb-rule-{rules_on}-{name}" for name in ("admin", "metrics", "api-v2")}
    assert set(rendered) == {"lb-alb", *GROUPS, *listeners, *rules}
    assert {for_provider(rendered, k)["listenerArnRef"]["name"] for k in rules} == {
        f"tap-prod-lb-listener-{rules_on}"}


@pytest.mark.parametrize(("certificate", "action"), [
    ("", FORWARD_TO_API),
    (CERTIFICATE, {"type": "redirect",
                   "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}),
], ids=["HTTP forwards to the api without a certificate", "HTTP redirects to HTTPS with one"])
def test_the_http_listener_default_action(certificate, action):
    http = for_provider(render(certificate), "lb-listener-http")
    assert (http["port"], http["protocol"], http["defaultAction"]) == (80, "HTTP", [action])
    assert http["loadBalancerArnRef"] == {"name": "tap-prod-lb-alb"}


def test_the_https_listener_carries_certificate_and_policy():
    policy = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    https = for_provider(render(CERTIFICATE, sslPolicy=policy), "lb-listener-https")
    assert (https["port"], https["protocol"], https["certificateArn"]) == (443, "HTTPS", CERTIFICATE)
    assert https["sslPolicy"] == policy
    assert https["defaultAction"] == [FORWARD_TO_API]


@pytest.mark.parametrize(("rule", "priority", "group", "condition"), [
    ("admin", 10, "admin", {"pathPattern": {"values": ["/admin/*"]}}),
    ("metrics", 20, "metrics", {"pathPattern": {"values": ["/metrics"]}}),
    ("api-v2", 30, "api", {"httpHeader": {"httpHeaderName": "X-API-Version", "values": ["v3"]}}),
], ids=["/admin/* goes to admin", "/metrics goes to metrics", "the version header goes to the api"])
def test_each_rule_routes_its_condition_to_its_group(rule, priority, group, condition):
    body = for_provider(render(apiVersionHeader="v3"), f"lb-rule-http-{rule}")
    assert body["priority"] == priority
    assert body["condition"] == [condition]
    assert body["action"] == [{"type": "forward", "targetGroupArnRef": {"name": f"tap-prod-lb-tg-{group}"}}]


@pytest.mark.parametrize(("group", "port", "path"), [
    ("api", 8080, "/health"), ("admin", 8081, "/admin/health"), ("metrics", 8082, "/metrics"),
], ids=["api", "admin", "metrics"])
def test_each_target_group_has_its_port_and_health_check(group, port, path):
    body = for_provider(render(deregistrationDelaySeconds=120, stickinessSeconds=600), f"lb-tg-{group}")
    assert (body["port"], body["protocol"], body["targetType"]) == (port, "HTTP", "instance")
    assert body["healthCheck"]["path"] == path
    assert body["vpcIdRef"] == {"name": "tap-prod-vpc"}
    assert body["deregistrationDelay"] == "120"
    assert body.get("stickiness") == (
        {"enabled": True, "type": "lb_cookie", "cookieDuration": 600} if group == "api" else None)


def test_the_alb_is_internet_facing_in_the_public_subnets():
    body = for_provider(render(idleTimeoutSeconds=120, http2=False), "lb-alb")
    assert (body["loadBalancerType"], body["internal"]) == ("application", False)
    assert [ref["name"] for ref in body["subnetRefs"]] == [f"tap-prod-subnet-public-{z}" for z in "abc"]
    assert all(ref["policy"] == {"resolve": "Always"} for ref in body["subnetRefs"])
    assert body["securityGroupRefs"] == [{"name": "tap-prod-sg-alb"}]
    assert (body["idleTimeout"], body["enableHttp2"]) == (120, False)


def test_aws_names_fit_32_characters_for_the_longest_platform_name():
    rendered = render_load_balancer(make_platform(name="a" * 18))
    names = [for_provider(rendered, k)["name"] for k in ("lb-alb", *GROUPS)]
    assert max(map(len, names)) == 32


CHANGES = [
    pytest.param({}, {"idleTimeoutSeconds": 60}, {"modified": {"lb-alb"}},
                 id="idle timeout changes only the ALB"),
    pytest.param({}, {"http2": False}, {"modified": {"lb-alb"}}, id="HTTP/2 changes only the ALB"),
    pytest.param({}, {"stickinessSeconds": 60}, {"modified": {"lb-tg-api"}},
                 id="stickiness changes only the api group"),
    pytest.param({}, {"deregistrationDelaySeconds": 30}, {"modified": GROUPS},
                 id="deregistration delay changes the three groups"),
    pytest.param({}, {"apiVersionHeader": "v3"}, {"modified": {"lb-rule-http-api-v2"}},
                 id="the version header changes only its rule"),
    pytest.param({"certificateArn": CERTIFICATE}, {"sslPolicy": "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"},
                 {"modified": {"lb-listener-https"}}, id="the TLS policy changes only the HTTPS listener"),
    pytest.param({}, {"certificateArn": CERTIFICATE},
                 {"added": {"lb-listener-https", "lb-rule-https-admin", "lb-rule-https-metrics",
                            "lb-rule-https-api-v2"},
                  "removed": {"lb-rule-http-admin", "lb-rule-http-metrics", "lb-rule-http-api-v2"},
                  "modified": {"lb-listener-http"}},
                 id="a certificate adds HTTPS, moves the rules by replacing them and makes HTTP redirect"),
]


@pytest.mark.parametrize(("base", "changes", "wanted"), CHANGES)
def test_a_load_balancer_parameter_changes_only_its_objects(base, changes, wanted):
    before, after = render(**base), render(**{**base, **changes})
    assert diff(before, after) == {"added": set(), "removed": set(), "modified": set(), **wanted}
