"""Who may see what on /dashboard, decided by the Kubernetes API as kube-rbac-proxy does: a
TokenReview says who a bearer token belongs to, and SubjectAccessReviews whether that user may
`list` OptimizationPlans in each namespace (its plans are shown) or cluster-wide (every plan and
the Cost Explorer figures of the analysis are shown).

Blocking calls, made from the HTTP endpoints' own worker threads. Answers are kept for CACHE_TTL
per token (by its SHA-256, never the token itself), so a viewer reloading the page costs no calls.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import kubernetes

CACHE_TTL = 60.0
GROUP, PLURAL = "optimization.tap.io", "optimizationplans"


@dataclass(frozen=True)
class Audience:
    """The namespaces whose plans a viewer sees; `costs`: every namespace and the cost figures."""

    namespaces: frozenset[str]
    costs: bool

    @staticmethod
    def everything() -> Audience:
        return Audience(frozenset(), costs=True)

    def sees(self, namespace: str) -> bool:
        return self.costs or namespace in self.namespaces


@dataclass(frozen=True)
class Viewer:
    user: str
    groups: tuple[str, ...]
    uid: str = ""


class KubernetesAuth:
    """TokenReview and SubjectAccessReview through the API server, with a small cache."""

    def __init__(self, api: kubernetes.client.ApiClient | None = None) -> None:
        self.authn = kubernetes.client.AuthenticationV1Api(api)
        self.authz = kubernetes.client.AuthorizationV1Api(api)
        self._cache: dict[tuple[str, str], tuple[float, object]] = {}
        self._lock = threading.Lock()

    def audience(self, token: str, namespaces: Iterable[str]) -> Audience | None:
        """What the token's user may see of plans in `namespaces`; None when the token is not accepted."""
        key = hashlib.sha256(token.encode()).hexdigest()
        viewer = self._cached((key, ""), lambda: self._review(token))
        if not isinstance(viewer, Viewer):
            return None
        if self._cached((key, "*"), lambda: self._may_list(viewer, "")):
            return Audience(frozenset(), costs=True)
        allowed = {ns for ns in namespaces if self._cached((key, ns), lambda ns=ns: self._may_list(viewer, ns))}
        return Audience(frozenset(allowed), costs=False)

    def _cached(self, key: tuple[str, str], compute: object) -> object:
        now = time.monotonic()
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < CACHE_TTL}
            if key in self._cache:
                return self._cache[key][1]
        value = compute()  # type: ignore[operator]
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def _review(self, token: str) -> Viewer | None:
        review = self.authn.create_token_review({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                                 "spec": {"token": token}})
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            return None
        return Viewer(status.user.username or "", tuple(status.user.groups or ()), status.user.uid or "")

    def _may_list(self, viewer: Viewer, namespace: str) -> bool:
        review = self.authz.create_subject_access_review({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": viewer.user, "groups": list(viewer.groups), "uid": viewer.uid,
                     "resourceAttributes": {"verb": "list", "group": GROUP, "resource": PLURAL,
                                            "namespace": namespace}}})
        return bool(review.status and review.status.allowed)
