"""The health report in the Prometheus exposition format, printed or served over HTTP.

Rules:

* The format comes from ``prometheus_client`` (its own registry, never the
  process-global one): every metric is a gauge named ``opik_store_<name>``.
* ``opik_store_health_status{check="..."}`` is 0 ok, 1 warn, 2 critical and
  -1 unknown; ``opik_store_health_up`` is 1 when the checks ran (0 when the
  server could not be reached: the scrape still answers, with that 0).
* The exporter runs the checks on every scrape, one scrape at a time (a lock
  guards the connection), and listens where it is told (``127.0.0.1`` keeps it
  on loopback).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from opik_store.errors import OpikStoreError
from opik_store.health.checks import RANK, HealthReport

PREFIX = "opik_store_"


def families(report: HealthReport | None) -> list[GaugeMetricFamily]:
    """The gauges of one report (``None``: the checks could not run)."""
    up = GaugeMetricFamily(PREFIX + "health_up", "1 when the health checks ran against the server")
    up.add_metric([], 0.0 if report is None else 1.0)
    if report is None:
        return [up]
    status = GaugeMetricFamily(
        PREFIX + "health_status", "status per check: 0 ok, 1 warn, 2 critical, -1 unknown", labels=["check"]
    )
    for check in report.checks:
        status.add_metric([check.name], float(RANK[check.status]))
    out: dict[str, GaugeMetricFamily] = {}
    for check in report.checks:
        for metric in check.metrics:
            names = [k for k, _ in metric.labels]
            family = out.get(metric.name)
            if family is None:
                family = out[metric.name] = GaugeMetricFamily(PREFIX + metric.name, metric.help, labels=names)
            family.add_metric([v for _, v in metric.labels], metric.value)
    return [up, status, *out.values()]


class _ReportCollector(Collector):
    def __init__(self, produce: Callable[[], HealthReport | None]) -> None:
        self.produce = produce
        self.lock = threading.Lock()

    def collect(self) -> Iterator[Any]:
        with self.lock:
            report = self.produce()
        yield from families(report)


def exposition(report: HealthReport) -> str:
    """The exposition text of one report."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReportCollector(lambda: report))
    return generate_latest(registry).decode("utf-8")


def serve(run_checks: Callable[[], HealthReport], host: str, port: int) -> tuple[Any, threading.Thread]:
    """Serve ``/metrics`` on host:port, running the checks on each scrape; returns (server, thread).

    A scrape during which the server cannot be reached answers ``opik_store_health_up 0``.
    Stop with ``server.shutdown(); server.server_close()``.
    """

    def produce() -> HealthReport | None:
        try:
            return run_checks()
        except OpikStoreError:
            return None

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReportCollector(produce))
    server, thread = start_http_server(port, addr=host, registry=registry)
    return server, thread
