"""Prometheus metrics: requests by route and status, latency, score distribution, model version.

With several uvicorn workers each is a process; ``churn serve`` then sets
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` aggregates every worker's files, so a scrape sees
the service, not whichever worker answered.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "churn_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "churn_http_request_duration_seconds",
    "Time from request to response end, by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SCORES = Histogram(
    "churn_score_probability",
    "Churn probabilities answered, by source (snapshot = precomputed, features = on demand)",
    ["source"],
    buckets=tuple(round(0.05 * step, 2) for step in range(1, 21)),
)
MODEL_VERSION = Gauge(
    "churn_model_version",
    "The registered model version being served (1 on the served version's labels)",
    ["registered_model", "alias", "version"],
    multiprocess_mode="liveall",
)
RELOADS = Counter(
    "churn_model_reloads_total", "Model and snapshot reloads by outcome", ["what", "outcome"]
)
UNSEEN_CATEGORIES = Counter(
    "churn_unseen_category_values_total",
    "Raw-feature request values of a categorical feature the model never saw in training",
    ["feature"],
)
UNMATCHED = "<unmatched>"


_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once per label set: ``labels`` takes a lock and
    validates its arguments on every call, tens of microseconds per request for the same few
    children (a child is the same object for the life of the metric)."""
    key = (id(metric), *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def observe_scores(source: str, probabilities: Iterable[float]) -> None:
    histogram = _child(SCORES, source)
    for probability in probabilities:
        histogram.observe(probability)


def count_unseen_category(feature: str) -> None:
    _child(UNSEEN_CATEGORIES, feature).inc()


_served: list[tuple[str, str, str]] = []


def set_model_version(registered_model: str, alias: str, version: str) -> None:
    """The served version's series is 1, earlier ones 0 (``clear`` does not work across worker
    processes, so replaced versions are zeroed instead)."""
    labels = (registered_model, alias, version)
    for previous in _served:
        if previous != labels:
            MODEL_VERSION.labels(*previous).set(0)
    _served[:] = [labels]
    MODEL_VERSION.labels(*labels).set(1)


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets, across workers when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class RequestMetrics:
    """Pure ASGI middleware counting every HTTP request by its route template (not its raw path,
    so customer ids and probing paths cannot blow up label cardinality)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            template = _template(scope)
            method = _method_label(scope["method"]) if template != UNMATCHED else "-"
            _child(REQUESTS, method, template, str(status)).inc()
            _child(LATENCY, method, template).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "POST"})
"""The methods the service routes; any other is counted as ``other``: a caller sending
PROPFIND, MKCOL, LOCK and so on added a label series (and a histogram) per method."""


def _method_label(method: str) -> str:
    return method if method in _METHODS else "other"


def _template(scope: Scope) -> str:
    """The route template that served (or would have served) this request.

    Requests the guard answers (401/403/413) never reach the router, so their route is looked up
    here: they still count under their route, not as unmatched.
    """
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", UNMATCHED)
    app = scope.get("app")
    for candidate in _routes(getattr(app, "router", None)):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return getattr(candidate, "path", UNMATCHED)
    return UNMATCHED


def _routes(router: Any) -> list[Any]:
    """Every leaf route of ``router``, looking through included routers."""
    leaves = []
    for route in getattr(router, "routes", ()):
        inner = getattr(route, "original_router", None)
        leaves += _routes(inner) if inner is not None else [route]
    return leaves
