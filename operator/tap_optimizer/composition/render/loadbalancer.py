"""The internet-facing Application Load Balancer: three target groups (api, admin, metrics), an
HTTP listener, an HTTPS listener when a certificate is given, and the routing rules.

With a certificate, HTTP only redirects to HTTPS and the rules sit on the HTTPS listener. AWS
cannot move a rule to another listener (the provider refuses the change, as it would replace the
rule), so a rule's key names its listener: adding or removing the certificate deletes the rules of
one listener and creates those of the other, instead of asking for an impossible update.
"""

from __future__ import annotations

from typing import Any

from tap_optimizer.composition.render.common import Platform, Resource, Resources, managed, zones

# target group -> (port, health-check path)
TARGET_GROUPS = {"api": (8080, "/health"), "admin": (8081, "/admin/health"), "metrics": (8082, "/metrics")}
HEALTH_CHECK = {"enabled": True, "protocol": "HTTP", "port": "traffic-port", "matcher": "200",
                "interval": 30, "timeout": 5, "healthyThreshold": 3, "unhealthyThreshold": 3}
REDIRECT_TO_HTTPS = {"type": "redirect",
                     "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}


def target_group_keys() -> list[str]:
    return [f"lb-tg-{name}" for name in TARGET_GROUPS]


def load_balancer_name(platform: Platform) -> str:
    """The ALB's AWS name (at most 32 characters, which the platform's name pattern ensures)."""
    return _aws_name(platform, "lb-alb")


def _aws_name(platform: Platform, key: str) -> str:
    """The name of the load balancer or target group `key`: the composition's own, or the name in
    the ARN it is adopted by (`.../<name>/<id>`, the external name of both kinds)."""
    parts = (platform.external_name(key) or "").split("/")
    return parts[-2] if len(parts) >= 3 else platform.object_name(key)


def zone_subnet_refs(platform: Platform, tier: str) -> list[dict[str, Any]]:
    """References to the tier's subnet in every zone, resolved again at every reconcile: a
    resolved reference is otherwise kept, and a zone added or removed later would never reach AWS."""
    always = {"policy": {"resolve": "Always"}}
    return [{**platform.ref(f"subnet-{tier}-{zone}"), **always} for zone in zones(platform)]


def render_load_balancer(platform: Platform) -> Resources:
    return {**_load_balancer(platform), **_target_groups(platform), **_listeners(platform),
            **_rules(platform)}


def _https(platform: Platform) -> bool:
    return bool(platform.params["loadBalancer"]["certificateArn"])


def _forward(platform: Platform, group: str) -> dict[str, Any]:
    return {"type": "forward", "targetGroupArnRef": platform.ref(f"lb-tg-{group}")}


def _load_balancer(platform: Platform) -> Resources:
    lb = platform.params["loadBalancer"]
    return {"lb-alb": managed(platform, "lb-alb", "elbv2/LB", {
        "name": load_balancer_name(platform),
        "loadBalancerType": "application",
        "internal": False,
        "subnetRefs": zone_subnet_refs(platform, "public"),
        "securityGroupRefs": [platform.ref("sg-alb")],
        "idleTimeout": lb["idleTimeoutSeconds"],
        "enableHttp2": lb["http2"],
        "dropInvalidHeaderFields": True,
    }, component="load-balancer")}


def _target_groups(platform: Platform) -> Resources:
    lb = platform.params["loadBalancer"]
    out = {}
    for name, (port, path) in TARGET_GROUPS.items():
        key = f"lb-tg-{name}"
        spec: dict[str, Any] = {
            "name": _aws_name(platform, key),
            "port": port,
            "protocol": "HTTP",
            "targetType": "instance",
            "vpcIdRef": platform.ref("vpc"),
            "deregistrationDelay": str(lb["deregistrationDelaySeconds"]),
            "healthCheck": {**HEALTH_CHECK, "path": path},
        }
        if name == "api":
            spec["stickiness"] = {"enabled": True, "type": "lb_cookie",
                                  "cookieDuration": lb["stickinessSeconds"]}
        out[key] = managed(platform, key, "elbv2/LBTargetGroup", spec, component="load-balancer")
    return out


def _listener(platform: Platform, key: str, port: int, action: dict[str, Any], **tls: str) -> Resource:
    protocol = "HTTPS" if tls else "HTTP"
    return managed(platform, key, "elbv2/LBListener", {
        "loadBalancerArnRef": platform.ref("lb-alb"), "port": port, "protocol": protocol,
        **tls, "defaultAction": [action],
    }, component="load-balancer")


def _listeners(platform: Platform) -> Resources:
    """HTTP serves the api, or redirects to HTTPS once a certificate makes HTTPS possible."""
    lb = platform.params["loadBalancer"]
    if not _https(platform):
        return {"lb-listener-http": _listener(platform, "lb-listener-http", 80, _forward(platform, "api"))}
    return {
        "lb-listener-http": _listener(platform, "lb-listener-http", 80, REDIRECT_TO_HTTPS),
        "lb-listener-https": _listener(platform, "lb-listener-https", 443, _forward(platform, "api"),
                                       sslPolicy=lb["sslPolicy"], certificateArn=lb["certificateArn"]),
    }


def _rules(platform: Platform) -> Resources:
    """Path and header routing, on the listener that serves traffic (see the module docstring)."""
    listener = "https" if _https(platform) else "http"
    version = platform.params["loadBalancer"]["apiVersionHeader"]
    header = {"httpHeaderName": "X-API-Version", "values": [version]}
    # rule -> (priority, target group, condition)
    rules = {
        "admin": (10, "admin", {"pathPattern": {"values": ["/admin/*"]}}),
        "metrics": (20, "metrics", {"pathPattern": {"values": ["/metrics"]}}),
        "api-v2": (30, "api", {"httpHeader": header}),
    }
    out = {}
    for name, (priority, group, condition) in rules.items():
        key = f"lb-rule-{listener}-{name}"
        out[key] = managed(platform, key, "elbv2/LBListenerRule", {
            "listenerArnRef": platform.ref(f"lb-listener-{listener}"),
            "priority": priority,
            "action": [_forward(platform, group)],
            "condition": [condition],
        }, component="load-balancer")
    return out
