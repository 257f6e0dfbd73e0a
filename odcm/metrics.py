"""Prometheus metrics: request metrics, build information, and app collectors read at scrape
time.

Apps add their own figures by registering a function that yields metric families::

    from odcm.metrics import register_collector
    register_collector(my_function)   # in AppConfig.ready()

Under gunicorn (``gunicorn.conf.py``) ``PROMETHEUS_MULTIPROC_DIR`` is set: every worker
process writes its counters and histograms to files there and a scrape adds up all of them,
so one scrape covers the whole server whichever worker answers it. Without it (tests, the
demo) the figures are the answering process's own, with the usual process_* metrics.
App collectors read the database and run once per scrape, in the answering process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator

from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from odcm.build import version

REQUESTS = Counter("odcm_http_requests_total", "HTTP requests served", ["method", "view", "status"])
LATENCY = Histogram(
    "odcm_http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["method", "view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
)

CollectorFunction = Callable[[], Iterable[Metric]]
_collectors: list[CollectorFunction] = []


class _AppCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("odcm_build_info", "The running ODCM version", labels=["version"])
        info.add_metric([version()], 1.0)
        yield info
        for function in list(_collectors):
            yield from function()


APP_COLLECTOR = _AppCollector()
REGISTRY.register(APP_COLLECTOR)


def scrape_registry() -> CollectorRegistry:
    """What /metrics serves: every worker's figures added up in multiprocess mode, else this
    process's registry."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(APP_COLLECTOR)
    return registry


def register_collector(function: CollectorFunction) -> None:
    if function not in _collectors:
        _collectors.append(function)


class MetricsMiddleware:
    """Counts requests and times them, labelled by view name (bounded cardinality)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None and match.view_name else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        LATENCY.labels(method, view).observe(time.perf_counter() - started)
        REQUESTS.labels(method, view, str(response.status_code)).inc()
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
