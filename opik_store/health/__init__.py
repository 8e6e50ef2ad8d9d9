"""Health: the metrics the scaling guide says to watch, each against a threshold.

``checks`` reads the server's own tables (asynchronous metrics, query_log,
part_log, parts, merges, mutations, disks, replicas) over bounded windows, on
every replica of a cluster, and
returns one :class:`~opik_store.health.checks.Check` per concern with a status
(ok / warn / critical / unknown); ``prometheus`` turns a report into the
Prometheus exposition format and serves it over HTTP; ``host`` measures the
process the embedded engine runs in (its CPU, cores and memory).

May import: ``opik_store.errors``, ``opik_store.engine``, ``opik_store.schema`` (reading a
log table's TTL) and ``opik_store.maintenance`` (the ``[health]`` thresholds).
"""

from opik_store.health.checks import Check, Health, HealthReport

__all__ = ["Check", "Health", "HealthReport"]
