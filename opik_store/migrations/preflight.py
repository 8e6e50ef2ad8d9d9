"""Cluster pre-flight: refuse to change anything unless the whole cluster can take it.

Checked before the lock is taken and before any DDL, in cluster mode only:

1. the cluster is defined on the server we talk to (``system.clusters``);
2. every replica answers: ``clusterAllReplicas`` (which uses the cluster's own
   credentials) must return one row per replica listed in ``system.clusters``;
3. no replicated table on any replica is read-only or has lost its Keeper
   session (``system.replicas``);
4. the cluster's shape is one the configured topology supports: a cluster
   with more than one shard needs the sharded topology (``--sharded``).
   Without it every shard would hold its own unrelated copy of every table:
   trace data split by whichever node a writer reached, and one ledger, lock
   and rules table per shard, so runs through different shards would not
   exclude each other. And a database already laid out for the other
   topology (``traces`` a Distributed table, or not) is refused rather than
   half converted.

A server without ``clusterAllReplicas`` (before 20.x: the 18.16 of the
cluster tests) is asked the same two questions host by host, connecting to
each host of ``system.clusters`` with the store's own credentials
(``engine.hosts``).

ON CLUSTER DDL against a cluster with a dead or read-only replica queues work
that cannot finish, and a half-applied migration is exactly what this tool
exists to prevent. So a failed check refuses with the list of what is wrong.
"""

from __future__ import annotations

from opik_store.engine.adapter import Adapter
from opik_store.engine.hosts import ClusterHost, cluster_hosts, on_every_host
from opik_store.engine.quoting import quote_string
from opik_store.errors import OpikStoreError, ServerError


class PreflightError(OpikStoreError):
    """The cluster is not fit for DDL right now; nothing was changed."""


def check_cluster(adapter: Adapter, cluster: str, sharded: bool = False) -> None:
    """Raise PreflightError listing every problem found; ``sharded``: the sharded topology is configured."""
    replicas = cluster_hosts(adapter, cluster)
    if not replicas:
        raise PreflightError(
            f"cluster {cluster!r} is not defined on this server (system.clusters); check <remote_servers> "
            "or the --cluster name. Nothing was changed."
        )
    check_shards(len({h.shard for h in replicas}), cluster, sharded)
    listing = ", ".join(h.label for h in replicas)
    literal = quote_string(cluster)
    if not _has_cluster_all_replicas(adapter):
        _check_host_by_host(adapter, cluster, replicas)
        return
    try:
        answered = adapter.query(
            f"SELECT count() FROM clusterAllReplicas({literal}, system.one)",
            settings={"skip_unavailable_shards": "1"},
        ).scalar()
    except ServerError as exc:
        raise PreflightError(
            f"cluster {cluster!r}: no replica answered (code {exc.code}); replicas: {listing}. Nothing was changed."
        ) from None
    if int(answered) < len(replicas):
        suspects = adapter.query(
            "SELECT host_name, port FROM system.clusters WHERE cluster = {c:String} "
            "AND (errors_count > 0 OR estimated_recovery_time > 0)",
            {"c": cluster},
        ).rows
        named = ", ".join(f"{h}:{p}" for h, p in suspects) or f"one of {listing}"
        raise PreflightError(
            f"cluster {cluster!r}: {len(replicas) - int(answered)} of {len(replicas)} replicas did not answer "
            f"({named}). Nothing was changed."
        )
    readonly = adapter.query(
        f"SELECT hostName(), database, table, is_readonly, is_session_expired FROM clusterAllReplicas({literal}, "
        "system.replicas) WHERE is_readonly OR is_session_expired ORDER BY 1, 2, 3"
    ).rows
    if readonly:
        tables = ", ".join(f"{h}: {d}.{t}" for h, d, t, _, _ in readonly)
        raise PreflightError(f"read-only replicated tables (Keeper trouble?): {tables}. Nothing was changed.")


def _has_cluster_all_replicas(adapter: Adapter) -> bool:
    return bool(adapter.query("SELECT count() FROM system.table_functions WHERE name = 'clusterAllReplicas'").scalar())


_READONLY = "SELECT database, table FROM system.replicas WHERE is_readonly OR is_session_expired ORDER BY 1, 2"


def _check_host_by_host(adapter: Adapter, cluster: str, hosts: list[ClusterHost]) -> None:
    """Checks 2 and 3 with one connection per host (servers without clusterAllReplicas)."""
    outcomes = on_every_host(adapter.spec, hosts, lambda a: a.query(_READONLY).rows)
    down = [o for o in outcomes if o.error]
    if down:
        named = "; ".join(f"{o.host.label}: {o.error}" for o in down)
        raise PreflightError(
            f"cluster {cluster!r}: {len(down)} of {len(outcomes)} replicas did not answer ({named}). "
            "Nothing was changed."
        )
    readonly = [f"{o.host.label}: {d}.{t}" for o in outcomes for d, t in (o.result or [])]
    if readonly:
        listing = ", ".join(readonly)
        raise PreflightError(f"read-only replicated tables (Keeper trouble?): {listing}. Nothing was changed.")


def check_shards(shards: int, cluster: str, sharded: bool) -> None:
    """Refuse a cluster of more than one shard unless the sharded topology is configured (rule 4)."""
    if shards > 1 and not sharded:
        raise PreflightError(
            f"cluster {cluster!r} has {shards} shards, and the replicated topology does not support more than one: "
            "every shard would keep its own copy of every table, with trace data split by whichever node a writer "
            "reached and one ledger, lock and retention rules table per shard (runs through different shards would "
            "not exclude each other). Use the sharded topology (--sharded or OPIK_STORE_SHARDED=1): shard-local "
            "tables under Distributed traces and spans, one cluster-wide ledger, lock and rules. Nothing was changed."
        )


def check_layout(adapter: Adapter, database: str, sharded: bool) -> None:
    """Refuse a database laid out for the other topology: ``traces``/``spans`` Distributed, or not.

    Switching an existing database between the sharded and the unsharded
    layout means moving its data; opik-store does not do that, so it refuses
    before changing anything instead of creating half of the other layout.
    """
    rows = adapter.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String} "
        "AND name IN ('traces', 'spans', 'traces_local', 'spans_local') ORDER BY name",
        {"db": database},
    ).rows
    engines = {str(n): str(e) for n, e in rows}
    wrong = [
        (name, engine)
        for name, engine in engines.items()
        if name in {"traces", "spans"}
        and (engine != "Distributed" if sharded else engine == "Distributed" and f"{name}_local" in engines)
    ]
    if wrong:
        found = ", ".join(f"{n} ({e})" for n, e in wrong)
        if sharded:
            why = "the sharded topology needs them to be Distributed tables over traces_local and spans_local"
        else:
            why = "it is laid out for the sharded topology: pass --sharded (OPIK_STORE_SHARDED=1)"
        raise PreflightError(
            f"database {database!r} holds {found}, and {why}. Converting a database between layouts is not "
            "supported. Nothing was changed."
        )
