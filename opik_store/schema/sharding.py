"""Which tables are split across shards, by what key, and under which names.

Rules (the sharded topology, ``--cluster NAME --sharded``):

* Only trace data is sharded. ``traces`` is sharded by ``cityHash64(id)`` and
  ``spans`` by ``cityHash64(trace_id)``. Both columns are ``FixedString(36)``
  holding the same UUID text, so a trace and every span of it hash the same
  36 bytes to the same value: Distributed sends them to the same shard (with
  equal shard weights, a row goes to shard ``key % shards + 1``). A trace's
  spans are therefore read, collapsed (ReplacingMergeTree) and expired on one
  shard, never joined across shards. ``tests/test_sharding.py`` proves the
  routing with ClickHouse's own Distributed engine; ``bench/shard_skew.py``
  measures the spread.
* A sharded table ``t`` is stored as ``t_local`` on every shard (the
  author's CREATE, with its ``Replicated*`` engine on the replica path, which
  holds ``{shard}``), and ``t`` itself is a ``Distributed`` table over those,
  created ``AS t_local``. Opik's statement shapes and the store's own readers
  and writers keep using ``t``.
* Every other table (retention rules, the ledger, the lock and job lease
  tables, job runs, health history) is NOT sharded: it is one cluster-wide
  table whose Keeper path has no ``{shard}``, with every node of every shard
  as a replica (``Topology.cluster_wide_path`` / ``cluster_wide_replica``).
  The retention lookup is a Join table: per node, never replicated. A
  revision that adds a table of trace data must add it to ``SHARDED_TABLES``;
  otherwise every node would hold all of its rows.
* Data-only statements (MODIFY SETTING/TTL, indexes, partitions, mutations,
  TRUNCATE) reach the shard-local table only; column changes (ADD, DROP,
  MODIFY, RENAME, COMMENT COLUMN) reach both, the local table first (and the
  Distributed one first on DROP), so the Distributed table never names a
  column its shards lack. RENAME and EXCHANGE of a sharded table are refused.
"""

from __future__ import annotations

from opik_store.config import Topology

#: Sharded tables and their sharding key (a ClickHouse expression over the table's own columns).
SHARDED_TABLES: dict[str, str] = {"traces": "cityHash64(id)", "spans": "cityHash64(trace_id)"}
#: The shard-local table of sharded table ``t`` is ``t`` + this suffix.
LOCAL_SUFFIX = "_local"


def is_sharded_table(table: str, topology: Topology) -> bool:
    """Whether ``table`` is split across shards on ``topology``."""
    return topology.is_sharded and table in SHARDED_TABLES


def local_name(table: str) -> str:
    """The shard-local name of a sharded table (``traces`` -> ``traces_local``)."""
    return table + LOCAL_SUFFIX


def storage_table(table: str, topology: Topology) -> str:
    """The table that holds ``table``'s rows on the node you are connected to.

    On the sharded topology that is the shard-local table of a sharded table
    (its parts, partitions, TTL and mutations live there); everywhere else it
    is the table itself.
    """
    return local_name(table) if is_sharded_table(table, topology) else table
