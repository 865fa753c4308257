"""The internet-facing Application Load Balancer: three target groups (api, admin, metrics),
an HTTP listener, an HTTPS one when a certificate is given, and the routing rules."""

from __future__ import annotations

from typing import Any

from tap_optimizer.composition.render.common import Platform, Resources, managed, zones

# key -> (port, health-check path)
TARGET_GROUPS = {"api": (8080, "/health"), "admin": (8081, "/admin/health"), "metrics": (8082, "/metrics")}
# key -> (priority, target group, condition)
RULES: dict[str, tuple[int, str, dict[str, Any]]] = {
    "admin": (10, "admin", {"pathPattern": {"values": ["/admin/*"]}}),
    "metrics": (20, "metrics", {"pathPattern": {"values": ["/metrics"]}}),
}


def render_load_balancer(platform: Platform) -> Resources:
    lb = platform.params["loadBalancer"]
    out = {"lb-alb": managed(platform, "lb-alb", "elbv2/LB", {
        "loadBalancerType": "application",
        "internal": False,
        "subnetRefs": [platform.ref(f"subnet-public-{z}") for z in zones(platform)],
        "securityGroupRefs": [platform.ref("sg-alb")],
        "idleTimeout": lb["idleTimeoutSeconds"],
        "enableHttp2": lb["http2"],
        "dropInvalidHeaderFields": True,
    }, component="load-balancer")}
    for name, (port, path) in TARGET_GROUPS.items():
        out[f"lb-tg-{name}"] = _target_group(platform, name, port, path)
    out.update(_listeners(platform))
    listener = "lb-listener-https" if lb["certificateArn"] else "lb-listener-http"
    rules = {**RULES, "api-v2": (30, "api", {"httpHeader": {"httpHeaderName": "X-API-Version",
                                                           "values": [lb["apiVersionHeader"]]}})}
    for name, (priority, group, condition) in rules.items():
        out[f"lb-rule-{name}"] = managed(platform, f"lb-rule-{name}", "elbv2/LBListenerRule", {
            "listenerArnRef": platform.ref(listener),
            "priority": priority,
            "action": [_forward(platform, group)],
            "condition": [condition],
        }, component="load-balancer")
    return out


def _forward(platform: Platform, group: str) -> dict[str, Any]:
    return {"type": "forward", "targetGroupArnRef": platform.ref(f"lb-tg-{group}")}


def _target_group(platform: Platform, name: str, port: int, path: str) -> dict[str, Any]:
    lb = platform.params["loadBalancer"]
    spec: dict[str, Any] = {
        "name": f"{platform.name}-tg-{name}",
        "port": port,
        "protocol": "HTTP",
        "targetType": "instance",
        "vpcIdRef": platform.ref("vpc"),
        "deregistrationDelay": str(lb["deregistrationDelaySeconds"]),
        "healthCheck": {"enabled": True, "path": path, "protocol": "HTTP", "port": "traffic-port",
                        "matcher": "200", "interval": 30, "healthyThreshold": 3, "unhealthyThreshold": 3},
    }
    if name == "api":
        spec["stickiness"] = {"enabled": True, "type": "lb_cookie", "cookieDuration": lb["stickinessSeconds"]}
    return managed(platform, f"lb-tg-{name}", "elbv2/LBTargetGroup", spec, component="load-balancer")


def _listeners(platform: Platform) -> Resources:
    """HTTP forwards to the api, or redirects to HTTPS when a certificate makes HTTPS possible."""
    lb = platform.params["loadBalancer"]
    https = bool(lb["certificateArn"])
    redirect = {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    out = {"lb-listener-http": managed(platform, "lb-listener-http", "elbv2/LBListener", {
        "loadBalancerArnRef": platform.ref("lb-alb"), "port": 80, "protocol": "HTTP",
        "defaultAction": [redirect if https else _forward(platform, "api")],
    }, component="load-balancer")}
    if https:
        out["lb-listener-https"] = managed(platform, "lb-listener-https", "elbv2/LBListener", {
            "loadBalancerArnRef": platform.ref("lb-alb"), "port": 443, "protocol": "HTTPS",
            "sslPolicy": lb["sslPolicy"], "certificateArn": lb["certificateArn"],
            "defaultAction": [_forward(platform, "api")],
        }, component="load-balancer")
    return out
