"""Health: the metrics the scaling guide says to watch, each against a threshold.

``checks`` reads the server's own tables (asynchronous metrics, query_log,
part_log, parts, merges, mutations, disks, replicas) over bounded windows and
returns one :class:`~opik_store.health.checks.Check` per concern with a status
(ok / warn / critical / unknown); ``prometheus`` turns a report into the
Prometheus exposition format and serves it over HTTP.

May import: ``opik_store.errors``, ``opik_store.engine`` and ``opik_store.maintenance``
(the ``[health]`` thresholds and the system-log report).
"""

from opik_store.health.checks import Check, Health, HealthReport

__all__ = ["Check", "Health", "HealthReport"]
