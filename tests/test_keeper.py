"""The modern schema in Keeper: the embedded engine (ClickHouse 26.x) with a real ZooKeeper.

Every table the store creates, as it renders it for a cluster, is created on
an embedded-engine node (a subprocess: tests/keeper_node.py) connected to a
real ZooKeeper (tests/zookeeper.py), and Keeper is read back from this process
with kazoo. What this proves:

* each Replicated table registers at the path the renderer promises, with the
  macros expanded, and this node's replica under ``<path>/replicas/<replica>``
  with the table's metadata and exactly its columns;
* the store's DROP (each revision's downgrade, rendered with SYNC) removes the
  table's whole Keeper path;
* a CREATE over a replica that Keeper holds but the node does not (a create
  killed after registering, a node that lost its disk) fails with
  REPLICA_ALREADY_EXISTS as ClickHouse runs it, and the runner's statement
  path finishes it; while the replica is active it is left alone.

What it does not prove: the embedded engine has no distributed DDL queue
(ON CLUSTER is refused, code 392), so each statement runs in its per-node form
(``render_statement(..., on_cluster=False)``, checked here to differ from the
runner's rendering, the one tests/snapshots/cluster holds, only by that
clause); and its Replicated tables stay read-only (no interserver endpoint),
so no row is written, the ledger and lock cannot work, and
``migrate``/``downgrade`` as a whole cannot run here. Nor can any ALTER
(revision 0002's MODIFY SETTING is refused with 242 on a read-only replica):
the head shape is created from ``ddl/`` instead, and the drops are the
revisions' DROP statements.

These tests are marked ``cluster``. They need Debian's ``zookeeper`` (``.ci/run``
installs it) and fail, never skip, without it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from keeper_node import KeeperNode, NodeError
from zookeeper import ZooKeeper, running_zookeeper

from opik_store.config import Topology
from opik_store.migrations.ledger import LEDGER_DDL
from opik_store.migrations.lock import LOCK_PREFIX, lock_ddl
from opik_store.migrations.operations import parse_relayout
from opik_store.migrations.replicas import StaleReplica, stale_replica
from opik_store.migrations.revisions import RevisionSet
from opik_store.scheduling.jobs import HEALTH_DDL, RUNS_DDL
from opik_store.schema.ddl import TABLES, ddl
from opik_store.schema.render import Rendered, render_statement

pytestmark = pytest.mark.cluster

CLUSTER = Topology(cluster="opik")
SHARD, REPLICA = "01", "r1"
#: Every table the store replicates: the revisions' tables and its own (ledger, lock generation, job runs, health).
REPLICATED = {
    "opik_store_ledger",
    f"{LOCK_PREFIX}1",
    "opik_store_job_runs",
    "opik_store_health",
    "retention_rules",
    "traces",
    "spans",
}
_ENGINE = re.compile(r"ENGINE = Replicated\w*\('((?:[^'\\]|\\.)*)', '((?:[^'\\]|\\.)*)'")


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeper]:
    with running_zookeeper(tmp_path_factory.mktemp("zookeeper")) as zk:
        yield zk


@pytest.fixture
def keeper(zookeeper: ZooKeeper) -> Iterator[KazooClient]:
    client = KazooClient(hosts=zookeeper.hosts, timeout=30)
    client.start(timeout=90)  # a loaded machine (2 cores shared) can take a while
    yield client
    client.stop()
    client.close()


OWN = [LEDGER_DDL, lock_ddl(f"{LOCK_PREFIX}1"), RUNS_DDL, HEALTH_DDL]


def head_sources() -> list[str]:
    """Every table at head: the store's own, then ``ddl/`` (the shape every revision applied yields:
    tests/test_schema.py proves it). Revision 0002 is an ALTER ... MODIFY SETTING, which a read-only
    replica refuses (242), so the head shape is created in one statement per table."""
    return OWN + [ddl(t) for t in TABLES]


def revision_creates() -> list[str]:
    """The CREATEs the runner runs: the store's own tables, then every revision's, in order (a re-layout's
    CREATE is not run as written: the re-layout builds its new table under another name)."""
    upgrades = [s for revision in RevisionSet().ordered for s in revision.upgrade_statements() if not parse_relayout(s)]
    return OWN + [s for s in upgrades if render_statement(s, "x", CLUSTER).kind == "create_table"]


def drop_sources() -> list[str]:
    """The store's drops: every revision's downgrade DROPs, newest first, then its own tables."""
    downgrades = [
        s
        for revision in reversed(RevisionSet().ordered)
        for s in revision.downgrade_statements()
        if not parse_relayout(s)
    ]
    own = [f"DROP TABLE {t}" for t in ("opik_store_ledger", f"{LOCK_PREFIX}1", "opik_store_job_runs")]
    drops = [s for s in downgrades if render_statement(s, "x", CLUSTER).kind == "drop_table"]
    return [*drops, *own, "DROP TABLE opik_store_health"]


def per_node(source: str, database: str) -> Rendered:
    """The cluster rendering without ON CLUSTER; it must differ from the runner's only by that clause."""
    local = render_statement(source, database, CLUSTER, on_cluster=False)
    clustered = render_statement(source, database, CLUSTER)
    assert clustered.sql.replace(CLUSTER.on_cluster, "", 1) == local.sql
    assert clustered.sql.count(" ON CLUSTER ") == 1
    return local


def promised(statement: Rendered, database: str) -> tuple[str, str]:
    """The Keeper table path and replica name the rendered engine names, with this node's macros expanded."""
    match = _ENGINE.search(statement.sql)
    assert match, statement.sql
    macros = {"shard": SHARD, "replica": REPLICA, "database": database, "table": statement.table}
    path, name = (re.sub(r"\{(\w+)\}", lambda m: macros[m.group(1)], raw) for raw in match.groups())
    return path, name


def replicated_creates(database: str, sources: list[str]) -> list[tuple[Rendered, str, str]]:
    out = []
    for source in sources:
        statement = per_node(source, database)
        if statement.kind == "create_table" and "ENGINE = Replicated" in statement.sql:
            out.append((statement, *promised(statement, database)))
    return out


def create_all(node: KeeperNode, database: str, sources: list[str]) -> None:
    node.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    for source in sources:
        node.sql(per_node(source, database).sql)


def table_uuid(node: KeeperNode, database: str, table: str) -> str:
    rows = node.sql(f"SELECT toString(uuid) FROM system.tables WHERE database = '{database}' AND name = '{table}'")
    assert len(rows) == 1, (table, rows)
    return rows[0][0]


def keeper_columns(keeper: KazooClient, path: str) -> list[str]:
    """Column names from a ``columns`` node (``columns format version: 1``, ``N columns:``, one per line)."""
    text = keeper.get(path)[0].decode()
    lines = text.splitlines()
    count = int(lines[1].split()[0])
    return [re.match(r"`((?:[^`\\]|\\.)*)`", line).group(1) for line in lines[2 : 2 + count]]  # type: ignore[union-attr]


def test_every_table_registers_where_the_renderer_promises(
    zookeeper: ZooKeeper, keeper: KazooClient, tmp_path: Path
) -> None:
    database = "keeper_paths"
    creates = replicated_creates(database, head_sources())
    assert {s.table for s, _, _ in creates} == REPLICATED
    with KeeperNode(tmp_path / "node", zookeeper.hosts, database, SHARD, REPLICA) as node:
        create_all(node, database, head_sources())
        replicas = {
            row[0]: (row[1], row[2], row[3])
            for row in node.sql(
                f"SELECT table, zookeeper_path, replica_name, replica_path FROM system.replicas "
                f"WHERE database = '{database}'"
            )
        }
        assert set(replicas) == REPLICATED
        engines = {n: e for n, e in node.sql(f"SELECT name, engine FROM system.tables WHERE database = '{database}'")}
        assert engines["retention"] == "Join"  # the per-node lookup: not replicated, nothing in Keeper
        assert keeper.exists(f"/clickhouse/tables/{SHARD}/{database}/retention") is None
        for statement, path, name in creates:
            table = statement.table
            assert path == f"/clickhouse/tables/{SHARD}/{database}/{table}"  # the default path, macros expanded
            assert replicas[table] == (path, name, f"{path}/replicas/{name}")
            assert keeper.get_children(f"{path}/replicas") == [REPLICA]
            for child in ("metadata", "columns", "log", "blocks", "block_numbers", "leader_election"):
                assert keeper.exists(f"{path}/{child}"), f"{path}/{child}"
            replica = f"{path}/replicas/{name}"
            for child in ("metadata", "columns", "is_lost", "log_pointer", "queue", "parts", "host"):
                assert keeper.exists(f"{replica}/{child}"), f"{replica}/{child}"
            columns = [
                row[0]
                for row in node.sql(
                    f"SELECT name FROM system.columns WHERE database = '{database}' AND table = '{table}' "
                    "ORDER BY position"
                )
            ]
            assert keeper_columns(keeper, f"{path}/columns") == columns
            assert keeper_columns(keeper, f"{replica}/columns") == columns
            assert keeper.get(f"{path}/metadata")[0] == keeper.get(f"{replica}/metadata")[0]
            assert keeper.get(f"{replica}/creator_info")[0].decode().startswith(table_uuid(node, database, table))
        for statement in (per_node(s, database) for s in drop_sources()):
            node.sql(statement.sql)
        node.request({"op": "exit"})


def test_the_store_drops_remove_every_keeper_path(zookeeper: ZooKeeper, keeper: KazooClient, tmp_path: Path) -> None:
    database = "keeper_drops"
    creates = replicated_creates(database, revision_creates())
    with KeeperNode(tmp_path / "node", zookeeper.hosts, database, SHARD, REPLICA) as node:
        create_all(node, database, revision_creates())
        for _, path, _ in creates:
            assert keeper.exists(path)
        drops = [per_node(s, database) for s in drop_sources()]
        assert all(d.sql.endswith(" SYNC") for d in drops)
        for statement in drops:
            node.sql(statement.sql)
        assert node.sql(f"SELECT name FROM system.tables WHERE database = '{database}'") == []
        for _, path, _ in creates:
            assert keeper.exists(path) is None, f"{path} left in Keeper: {keeper.get_children(path)}"
        assert keeper.get_children(f"/clickhouse/tables/{SHARD}/{database}") == []
        node.request({"op": "exit"})


def test_a_create_over_a_dead_replica_is_finished_by_the_next_run(
    zookeeper: ZooKeeper, keeper: KazooClient, tmp_path: Path
) -> None:
    """Node A registers every table and is killed; node B (same replica, empty disk) creates them again."""
    database = "keeper_recovery"
    creates = replicated_creates(database, revision_creates())
    with KeeperNode(tmp_path / "a", zookeeper.hosts, database, SHARD, REPLICA) as first:
        create_all(first, database, revision_creates())
        old = {s.table: table_uuid(first, database, s.table) for s, _, _ in creates}
        first.kill()
    for statement, path, name in creates:
        assert keeper.get(f"{path}/replicas/{name}/creator_info")[0].decode().startswith(old[statement.table])

    with KeeperNode(tmp_path / "b", zookeeper.hosts, database, SHARD, REPLICA) as second:
        second.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        said: dict[str, list[str]] = {}
        for source in revision_creates():
            statement = per_node(source, database)
            replicated = statement.table in REPLICATED
            if replicated:  # as ClickHouse runs it, the CREATE cannot finish: every run would fail the same way
                with pytest.raises(NodeError) as info:
                    second.sql(statement.sql)
                assert info.value.code == 253, info.value
                path, name = promised(statement, database)
                assert f"Replica {path}/replicas/{name} already exists" in info.value.message
            if statement.table == "traces":  # a live replica under that name: the runner must leave it alone
                active = f"{path}/replicas/{name}/is_active"
                keeper.create(active, b"another server", ephemeral=True)
                with pytest.raises(NodeError) as refused:
                    second.statement(statement.sql, statement.kind, statement.table)
                assert refused.value.code == 305 and "active" in refused.value.message
                assert keeper.get(f"{path}/replicas/{name}/creator_info")[0].decode().startswith(old["traces"])
                keeper.delete(active)
            said[statement.table] = second.statement(statement.sql, statement.kind, statement.table)
        for statement, path, name in creates:
            table = statement.table
            new = table_uuid(second, database, table)
            assert new != old[table]
            assert keeper.get_children(f"{path}/replicas") == [name]
            assert keeper.get(f"{path}/replicas/{name}/creator_info")[0].decode().startswith(new)
            assert f"  SYSTEM DROP REPLICA '{name}' FROM ZKPATH '{path}'" in said[table], said[table]
        assert said["retention"] == []  # not replicated: nothing to recover
        # A second run finds every table and changes nothing.
        for source in revision_creates():
            statement = per_node(source, database)
            assert second.statement(statement.sql, statement.kind, statement.table) == []
        for statement in (per_node(s, database) for s in drop_sources()):
            second.sql(statement.sql)
        for _, path, _ in creates:
            assert keeper.exists(path) is None
        second.request({"op": "exit"})


def test_a_node_killed_after_its_creates_finishes_on_restart_without_recovery(
    zookeeper: ZooKeeper, keeper: KazooClient, tmp_path: Path
) -> None:
    """Killed after every CREATE committed (before any ledger row could record it): the restarted node loads
    its tables, re-attaches the same replicas, and the runner's re-run skips them (IF NOT EXISTS)."""
    database = "keeper_restart"
    creates = replicated_creates(database, revision_creates())
    with KeeperNode(tmp_path / "node", zookeeper.hosts, database, SHARD, REPLICA) as first:
        create_all(first, database, revision_creates())
        old = {s.table: table_uuid(first, database, s.table) for s, _, _ in creates}
        first.kill()
    with KeeperNode(tmp_path / "node", zookeeper.hosts, database, SHARD, REPLICA) as again:
        for source in revision_creates():
            statement = per_node(source, database)
            assert again.statement(statement.sql, statement.kind, statement.table) == []
        for statement, path, name in creates:
            assert table_uuid(again, database, statement.table) == old[statement.table]
            assert keeper.get_children(f"{path}/replicas") == [name]
            assert keeper.get(f"{path}/replicas/{name}/creator_info")[0].decode().startswith(old[statement.table])
        for statement in (per_node(s, database) for s in drop_sources()):
            again.sql(statement.sql)
        for _, path, _ in creates:
            assert keeper.exists(path) is None
        again.request({"op": "exit"})


def test_a_run_killed_once_its_first_table_is_in_keeper_is_finished_by_the_next_run(
    zookeeper: ZooKeeper, keeper: KazooClient, tmp_path: Path
) -> None:
    """SIGKILL the node the moment Keeper shows the first table's replica (its local commit may or may not
    have happened: either state must be finished); the next run on the same disk creates everything."""
    database = "keeper_killed"
    sources = revision_creates()
    creates = replicated_creates(database, sources)
    _, first_path, first_name = creates[0]
    watched = f"{first_path}/replicas/{first_name}"
    items = [{"sql": s.sql, "kind": s.kind, "table": s.table} for s in (per_node(x, database) for x in sources)]
    with KeeperNode(tmp_path / "node", zookeeper.hosts, database, SHARD, REPLICA) as node:
        node.sql(f"CREATE DATABASE `{database}`")
        node.send({"op": "statements", "items": items})
        deadline = time.monotonic() + 60
        while keeper.exists(watched) is None:
            assert time.monotonic() < deadline, f"{watched} never appeared: {node.log_tail()}"
        node.kill()
    # How far the run got before the kill landed varies from run to run (the first table's local commit may
    # or may not have happened; later tables may or may not be registered): every such state must be finished.
    with KeeperNode(tmp_path / "node", zookeeper.hosts, database, SHARD, REPLICA) as again:
        answer = again.request({"op": "statements", "items": items})
        assert answer["ok"], answer
        for statement, path, name in creates:
            assert keeper.get_children(f"{path}/replicas") == [name]
            uuid = table_uuid(again, database, statement.table)
            assert keeper.get(f"{path}/replicas/{name}/creator_info")[0].decode().startswith(uuid)
        for statement in (per_node(s, database) for s in drop_sources()):
            again.sql(statement.sql)
        for _, path, _ in creates:
            assert keeper.exists(path) is None
        again.request({"op": "exit"})


def test_a_leftover_replica_is_dropped_through_the_local_table_that_shares_its_path(
    zookeeper: ZooKeeper, keeper: KazooClient, tmp_path: Path
) -> None:
    """ON CLUSTER brings another node's 253 to a node that holds the table. Older ClickHouse versions refuse
    the ZKPATH form there (305, "There is a local table ... which has the same table path"; 26.9 allows it),
    so the runner names the local table (``FROM TABLE``), which every version accepts for another replica."""
    database = "keeper_from_table"
    source = "CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x"
    path = f"/clickhouse/tables/{SHARD}/{database}/t"
    with KeeperNode(tmp_path / "a", zookeeper.hosts, database, SHARD, "r1") as dead:
        dead.sql(f"CREATE DATABASE `{database}`")
        dead.sql(per_node(source, database).sql)
        dead.kill()
    with KeeperNode(tmp_path / "b", zookeeper.hosts, database, SHARD, "r2") as node:
        node.sql(f"CREATE DATABASE `{database}`")
        node.sql(per_node(source, database).sql)
        assert sorted(keeper.get_children(f"{path}/replicas")) == ["r1", "r2"]
        # what r1's node runs when it comes back with an empty disk, issued here as a second local table
        again = f"CREATE TABLE `{database}`.`t_r1` (x UInt8) ENGINE = ReplicatedMergeTree('{path}', 'r1') ORDER BY x"
        assert node.try_sql(again) == 253
        said = node.statement(again, "create_table", "t_r1")
        assert f"  SYSTEM DROP REPLICA 'r1' FROM TABLE `{database}`.`t`" in said, said
        assert sorted(keeper.get_children(f"{path}/replicas")) == ["r1", "r2"]
        node.sql(f"DROP TABLE `{database}`.`t_r1` SYNC")
        node.sql(f"DROP TABLE `{database}`.`t` SYNC")
        assert keeper.exists(path) is None
        node.request({"op": "exit"})


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (
            253,
            "Replica /clickhouse/tables/01/opik/traces/replicas/r1 already exists. (REPLICA_ALREADY_EXISTS)",
            StaleReplica("/clickhouse/tables/01/opik/traces", "r1"),
        ),
        (  # the form the initiator of ON CLUSTER DDL reports another host's error in
            253,
            "There was an error on [ch2:9000]: Code: 253. DB::Exception: Replica "
            "/clickhouse/tables/01/opik/spans/replicas/ch-2 already exists. (REPLICA_ALREADY_EXISTS) (version 25.3.1)",
            StaleReplica("/clickhouse/tables/01/opik/spans", "ch-2"),
        ),
        (242, "Replica /a/replicas/r1 already exists", None),
        (253, "something else", None),
    ],
)
def test_the_leftover_replica_is_read_from_the_error(code: int, message: str, expected: StaleReplica | None) -> None:
    from opik_store.errors import ServerError

    assert stale_replica(ServerError(code, message)) == expected
