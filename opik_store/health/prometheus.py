"""The health report in the Prometheus exposition format, printed or served over HTTP.

Rules:

* The format comes from ``prometheus_client`` (its own registry, never the
  process-global one): every metric is a gauge named ``opik_store_<name>``.
* ``opik_store_health_status{check="..."}`` is 0 ok, 1 warn, 2 critical and
  -1 unknown; ``opik_store_health_up`` is 1 when the checks ran (0 when the
  server could not be reached: the scrape still answers, with that 0).
* The exporter runs the checks at most once at a time and shares the result:
  a scrape that arrives while a run is in flight waits for that run instead
  of starting its own, and a result younger than ``max_age`` seconds is
  served again. So a hundred concurrent scrapes cost one run, and a scrape
  whose client gave up costs nothing extra.
* Connections are bounded: at most ``max_connections`` are served at once
  (one thread each; more get ``503`` and are closed at once), and a
  connection that sends nothing for ``idle_timeout`` seconds is closed, so
  idle sockets cannot pile up threads.
* It listens where it is told (``127.0.0.1`` keeps it on loopback).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, MetricsHandler, generate_latest
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
    """Runs ``produce`` once at a time; concurrent callers share the run in flight, and a result younger than
    ``max_age`` seconds is reused."""

    def __init__(self, produce: Callable[[], HealthReport | None], max_age: float = 0.0) -> None:
        self.produce = produce
        self.max_age = max_age
        self.runs = 0
        self._cond = threading.Condition()
        self._running = False
        self._generation = 0
        self._report: HealthReport | None = None
        self._at = float("-inf")

    def latest(self) -> HealthReport | None:
        with self._cond:
            if self._generation and time.monotonic() - self._at <= self.max_age:
                return self._report
            if self._running:
                seen = self._generation
                self._cond.wait_for(lambda: self._generation != seen)
                return self._report
            self._running = True
        report: HealthReport | None = None
        try:
            report = self.produce()
        finally:
            with self._cond:
                self._running = False
                self._report, self._at = report, time.monotonic()
                self._generation += 1
                self.runs += 1
                self._cond.notify_all()
        return report

    def collect(self) -> Iterator[Any]:
        yield from families(self.latest())


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once; the rest get 503 and are closed."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog (socketserver's default of 5 makes a burst of clients wait)

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def exposition(report: HealthReport) -> str:
    """The exposition text of one report."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReportCollector(lambda: report))
    return generate_latest(registry).decode("utf-8")


def serve(
    run_checks: Callable[[], HealthReport],
    host: str,
    port: int,
    *,
    max_age: float = 5.0,
    max_connections: int = 32,
    idle_timeout: float = 10.0,
) -> tuple[Any, threading.Thread]:
    """Serve ``/metrics`` on host:port (see the module rules); returns (server, thread).

    A scrape during which the server cannot be reached answers ``opik_store_health_up 0``.
    Stop with ``server.shutdown(); server.server_close()``.
    """

    def produce() -> HealthReport | None:
        try:
            return run_checks()
        except OpikStoreError:
            return None

    registry = CollectorRegistry(auto_describe=False)
    collector = _ReportCollector(produce, max_age)
    registry.register(collector)
    handler = type("Handler", (MetricsHandler.factory(registry),), {"timeout": idle_timeout})
    server = _BoundedServer((host, port), handler, max_connections)
    server.collector = collector  # type: ignore[attr-defined]  # for tests and callers that want the run count
    thread = threading.Thread(target=server.serve_forever, name="opik-store-exporter", daemon=True)
    thread.start()
    return server, thread
