"""Finishing a CREATE of a Replicated table whose replica Keeper already holds.

A replicated CREATE registers the replica in Keeper
(``<table path>/replicas/<replica>``) before the node commits the table's
local metadata. A node killed in between, or a node that lost its disk (a pod
rescheduled onto an empty volume), leaves that registration behind with no
table on the node. ``CREATE TABLE IF NOT EXISTS`` then finds no local table,
tries to register again and fails with REPLICA_ALREADY_EXISTS (253), on every
later run: the migration could never be finished.

Rule (the runner applies it, in cluster mode only, to the CREATE TABLE
statements of revisions it is applying or reverting, which the ledger does
not record as done, and to the ledger's own CREATE):

* the failing node has no table at that path (otherwise IF NOT EXISTS would
  have skipped), so the registration is a leftover of this node's own
  replica: it is dropped with ClickHouse's documented recovery, ``SYSTEM
  DROP REPLICA '<replica>' FROM ZKPATH '<table path>'`` (or ``FROM TABLE``
  when the node we talk to holds another replica of that table, where older
  ClickHouse versions refuse the ZKPATH form), and the CREATE runs again, once;
* ClickHouse itself refuses to drop a replica that is active (its
  ``is_active`` node exists: a live server holds that name, for example two
  servers configured with the same ``{replica}`` macro, or a server killed
  less than a Keeper session timeout ago). That refusal (code 305) fails the
  run with the server's message and nothing is dropped;
* the replica's data, if it had any, was on the node that lost it; the other
  replicas keep theirs, and the re-created replica fetches it from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_identifier, quote_string
from opik_store.errors import ServerError

REPLICA_ALREADY_EXISTS = 253

#: ClickHouse's message, also when it comes back through the distributed DDL queue
#: ("There was an error on [host:port]: Code: 253. DB::Exception: Replica <path>/replicas/<name> already exists").
_MESSAGE = re.compile(r"Replica (/\S*?)/replicas/([^/\s]+) already exists")


@dataclass(frozen=True)
class StaleReplica:
    """A replica registration Keeper holds for a table the failing node does not have."""

    table_path: str
    replica: str

    def describe(self) -> str:
        return f"replica {self.replica!r} at {self.table_path}"


def stale_replica(error: ServerError) -> StaleReplica | None:
    """The leftover replica a REPLICA_ALREADY_EXISTS error names; None for any other error."""
    if error.code != REPLICA_ALREADY_EXISTS:
        return None
    match = _MESSAGE.search(error.server_message)
    return StaleReplica(match.group(1), match.group(2)) if match else None


def drop_stale_replica(adapter: Adapter, stale: StaleReplica) -> str:
    """Drop ``stale`` from Keeper with SYSTEM DROP REPLICA; return the statement run.

    Raises ServerError (305) when ClickHouse refuses because the replica is
    active, or because the node we talk to holds that very replica.
    """
    local = adapter.query(
        "SELECT database, table FROM system.replicas WHERE zookeeper_path = {p:String} LIMIT 1",
        {"p": stale.table_path},
    ).rows
    replica = quote_string(stale.replica)
    if local:
        database, table = str(local[0][0]), str(local[0][1])
        target = f"TABLE {quote_identifier(database)}.{quote_identifier(table)}"
    else:
        target = f"ZKPATH {quote_string(stale.table_path)}"
    sql = f"SYSTEM DROP REPLICA {replica} FROM {target}"
    adapter.execute(sql)
    return sql


def run_create(adapter: Adapter, run: Callable[[], None], cluster: bool, say: Callable[[str], None]) -> None:
    """Run a CREATE TABLE (``run``); in cluster mode, on REPLICA_ALREADY_EXISTS drop the leftover replica the
    error names (the rule above) and run it once more. Every other error, and a refused drop, is raised."""
    try:
        run()
    except ServerError as exc:
        stale = stale_replica(exc) if cluster else None
        if stale is None:
            raise
        say(f"  {stale.describe()} is left from an interrupted create: dropping it and creating again")
        say(f"  {drop_stale_replica(adapter, stale)}")
        run()
