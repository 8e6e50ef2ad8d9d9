"""The store's cluster mechanisms on real multi-node clusters (``pytest -m cluster``).

The nodes are Debian's clickhouse-server 18.16 processes with a real ZooKeeper
(``cluster_harness.py``). 18.16 cannot hold the trace/span schema (no
DateTime64, CODEC, TTL, LowCardinality, Map), so these tests drive what it
can hold: the internal tables (ledger, lock generations, job runs), whose one
shape is chosen for that, and migrations made of plain tables. Stores pass the
version gate only through ``Store(old_server_for_tests=...)``. DDL settings
are given explicitly (18.16 has no ``alter_sync``/``mutations_sync``).

Not provable on 18.16, and why:

* ``system-tables prune`` itself: 18.16's ``system.tables`` has no
  ``partition_key``/``engine_full`` and it has no ``DELETE IN PARTITION`` or
  ``MODIFY TTL``. Proven here: the fan-out it uses (every host of
  ``system.clusters``, one connection each, an unreachable host named);
  the pruning itself is tested on the embedded engine (test_system_tables.py).
* The retention rules table (revision 0001: ``Date32``, ``DateTime64``) and
  the ``apply-retention``/``health`` jobs: their tables and queries need a
  modern server.
* SQL access control (users, roles, profiles, quotas; replicated access
  storage): 18.16 has none. Its rendering is tested in test_profiles.py.
* ``DROP ... SYNC`` (20.x+): the DROP rendered for cluster migrations carries
  it, so revisions that drop tables are not run here; lock generations are
  dropped without it (names never reused) and are.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cluster_harness import Cluster, Node
from support import write_revision

from opik_store import ServerError, Store, Topology
from opik_store.config import StoreConfig
from opik_store.engine.hosts import cluster_hosts, on_every_host
from opik_store.engine.native import NativeAdapter
from opik_store.engine.urls import parse_url
from opik_store.errors import ConfigError
from opik_store.maintenance.config_file import FileConfig
from opik_store.maintenance.retention import RetentionLookupError
from opik_store.migrations.ledger import Ledger
from opik_store.migrations.lock import MigrationLock
from opik_store.migrations.preflight import PreflightError
from opik_store.migrations.revisions import RevisionSet
from opik_store.scheduling.jobs import JobRunner

pytestmark = pytest.mark.cluster

OLD_SERVER = "18.16.1"
DDL_TIMEOUT = "60"


def _store(
    node: Node, database: str, cluster: str, migrations: Path | None = None, lease: float = 4.0, sharded: bool = False
) -> Store:
    """A cluster-mode store on ``node`` that may connect to the old test server (and only to it)."""
    config = StoreConfig.from_env(
        url=node.url,
        database=database,
        cluster=cluster,
        lock_lease=lease,
        lock_timeout=60,
        environ={},
        sharded=sharded,
    )
    config = replace(config, ddl_settings={"distributed_ddl_task_timeout": DDL_TIMEOUT})
    return Store(config, RevisionSet(migrations) if migrations else None, old_server_for_tests=OLD_SERVER)


def _migrations(tmp_path: Path, count: int) -> Path:
    """A migrations folder with ``count`` revisions, each creating one plain table 18.16 can hold."""
    from opik_store.resources import data_dir

    folder = tmp_path / "migrations"
    shutil.copytree(data_dir("migrations"), folder, ignore=shutil.ignore_patterns("__pycache__", "0*.py"))
    for i in range(1, count + 1):
        up = [
            f"CREATE TABLE events_{i} (id UInt64, name String, at DateTime DEFAULT now()) "
            "ENGINE = MergeTree ORDER BY id"
        ]
        write_revision(folder, f"{i:04d}", f"{i - 1:04d}" if i > 1 else None, up, [])
    return folder


def _q(node: Node, sql: str) -> list[tuple[Any, ...]]:
    return node.query(sql).rows


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def _ddl_queue(node: Node, cluster: str) -> set[str]:
    """The entries of the cluster's distributed DDL queue in ZooKeeper."""
    return {
        str(r[0])
        for r in _q(node, f"SELECT name FROM system.zookeeper WHERE path = '/clickhouse/task_queue/{cluster}'")
    }


def _quorum_insert(node: Node, database: str) -> tuple[int | None, float]:
    """An INSERT with insert_quorum=2 (what 'auto' means on 2 replicas) from a client that waits 10 s at most.

    Returns (error code or None when it succeeded, seconds taken).
    """
    from clickhouse_driver import Client, errors

    client = Client(host="127.0.0.1", port=node.tcp, send_receive_timeout=10, sync_request_timeout=10)
    started = time.monotonic()
    try:
        client.execute(
            f"INSERT INTO `{database}`.events_1 (id, name) SELECT 1, 'quorum 2 of 2'", settings={"insert_quorum": 2}
        )
        return None, time.monotonic() - started
    except (errors.Error, OSError, EOFError) as exc:
        return int(getattr(exc, "code", 0) or 0), time.monotonic() - started
    finally:
        client.disconnect()


def _zk_children(node: Node, path: str) -> set[str]:
    try:
        return {str(r[0]) for r in _q(node, f"SELECT name FROM system.zookeeper WHERE path = '{path}'")}
    except ServerError as exc:
        if exc.code == 999:  # KEEPER_EXCEPTION: no node
            return set()
        raise


@pytest.fixture
def db(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database name for one test; dropped ON CLUSTER afterwards (when the cluster fixture is still up)."""
    name = f"c_{request.node.name[5:30].lower().replace('[', '_').replace(']', '')}_{int(time.time() * 1000) % 100000}"
    yield name
    for fixture, cluster in (("cluster_2x1", "opik"), ("cluster_2x2", "opik_sharded")):
        if fixture in request.fixturenames:
            found: Cluster = request.getfixturevalue(fixture)
            found.ensure_running()
            conn = found.nodes[0].adapter()
            try:
                conn.execute(
                    f"DROP DATABASE IF EXISTS `{name}` ON CLUSTER '{cluster}'",
                    settings={"distributed_ddl_task_timeout": "60"},
                )
            finally:
                conn.close()


def _ledger_rows(node: Node, database: str) -> list[tuple[Any, ...]]:
    return _q(
        node,
        "SELECT seq, revision, toString(state), toString(run_id), started_at, finished_at "
        f"FROM `{database}`.opik_store_ledger ORDER BY seq",
    )


def test_migrate_renders_distributed_ddl_that_replicates_the_internal_tables(
    cluster_2x1: Cluster, db: str, tmp_path: Path
) -> None:
    """ON CLUSTER DDL as rendered: the database, ledger, lock generation and revision tables exist on both
    replicas as Replicated tables, registered in ZooKeeper under the expanded macros."""
    a, b = cluster_2x1.nodes
    with _store(a, db, "opik", _migrations(tmp_path, 2)) as store:
        report = store.migrate()
    assert report.revisions == ["0001", "0002"]
    for node in (a, b):
        tables = dict(_q(node, f"SELECT name, engine FROM system.tables WHERE database = '{db}'"))
        assert tables["opik_store_ledger"] == "ReplicatedMergeTree", (node.name, tables)
        assert tables["events_1"] == tables["events_2"] == "ReplicatedMergeTree"
        assert any(n.startswith("opik_store_lock_") for n in tables), tables
        replicas = _q(
            node,
            "SELECT total_replicas, active_replicas FROM system.replicas "
            f"WHERE database = '{db}' AND table = 'opik_store_ledger'",
        )
        assert replicas == [(2, 2)], (node.name, replicas)
    registered = _zk_children(a, f"/clickhouse/tables/01/{db}/opik_store_ledger/replicas")
    assert registered == {"replica-1-1", "replica-1-2"}
    _wait_for(
        "the ledger to replicate", lambda: _ledger_rows(a, db) == _ledger_rows(b, db) and len(_ledger_rows(b, db)) == 4
    )


def test_lock_excludes_runners_on_different_nodes(cluster_2x1: Cluster, db: str) -> None:
    """Two runners racing through different nodes: exactly one wins; the other sees it (rows replicated from the
    winner's node) and takes the lock only after the release."""
    a, b = cluster_2x1.nodes
    with _store(a, db, "opik") as sa, _store(b, db, "opik") as sb:
        sa.adapter.execute(f"CREATE DATABASE IF NOT EXISTS `{db}` ON CLUSTER 'opik'")
        locks = [MigrationLock(s.adapter, s.config, 30, lambda _m: None) for s in (sa, sb)]
        results: list[Any] = [None, None]
        barrier = threading.Barrier(2)

        def race(i: int) -> None:
            barrier.wait()
            results[i] = locks[i].try_acquire()

        threads = [threading.Thread(target=race, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for i in (0, 1) if results[i] is None]
        assert len(winners) == 1, results
        winner, loser = locks[winners[0]], locks[1 - winners[0]]
        seen = results[1 - winners[0]]
        # the loser sees the winner's generation at once (DDL); its rows may still be replicating
        assert seen is not None and seen.generation == winner.generation and seen.run_id in {"", winner.run_id}
        _wait_for(
            "the winner's heartbeat rows on the loser's node",
            lambda: (h := loser.holder()) is not None and h.run_id == winner.run_id,
        )
        again = loser.try_acquire()
        assert again is not None and again.run_id == winner.run_id, "a live holder seen through another node"
        winner.release()
        _wait_for("the release to replicate", lambda: loser.try_acquire() is None)
        assert loser.generation == winner.generation + 1
        loser.release()


def _events_job(store: Store, config: FileConfig, dry_run: bool) -> str:
    return "did nothing" if dry_run else "ran"


def test_ledger_and_job_history_are_identical_from_every_node(cluster_2x1: Cluster, db: str, tmp_path: Path) -> None:
    a, b = cluster_2x1.nodes
    with _store(a, db, "opik", _migrations(tmp_path, 2)) as store:
        store.migrate()
    runner = JobRunner(lambda: _store(b, db, "opik"), FileConfig(), {"noop": (_events_job, "test")}, lease=5)
    assert runner.run("noop").state == "succeeded"
    assert runner.run("noop").state == "succeeded"

    def histories() -> tuple[Any, Any]:
        out = []
        for node in (a, b):
            with _store(node, db, "opik") as s:
                ledger = [(e.revision, e.state, e.run_id, e.started_at, e.finished_at) for e in s.history()]
                runs = [(r.run_id, r.state, r.started_at, r.finished_at) for r in runner.history(s)]
                out.append((ledger, runs))
        return out[0], out[1]

    _wait_for("identical histories", lambda: histories()[0] == histories()[1])
    ledger, runs = histories()[0]
    assert [(r, s) for r, s, *_ in ledger] == [
        ("0001", "started"),
        ("0001", "applied"),
        ("0002", "started"),
        ("0002", "applied"),
    ]
    assert [s for _, s, *_ in runs] == ["started", "succeeded", "started", "succeeded"]
    seqs = [r[0] for r in _ledger_rows(b, db)]
    assert seqs == [1, 2, 3, 4], "seq is assigned by the server, one more than the largest"


def test_quorum_policy_keeps_a_run_going_with_a_replica_killed_and_the_replica_catches_up(
    cluster_2x1: Cluster, db: str, tmp_path: Path
) -> None:
    """SIGKILL one replica mid-migration: ledger rows and heartbeats (insert_quorum=0) keep being written on the
    live one, the next ON CLUSTER statement waits in the DDL queue until the replica is back, and the restarted
    replica replicates everything. The quorum the old policy used ('auto' = 2 of 2) fails instead."""
    a, b = cluster_2x1.nodes
    folder = _migrations(tmp_path, 3)
    with _store(a, db, "opik", folder) as probe:
        probe.migrate(to="0001")
    observed: dict[str, Any] = {}

    def after(revision: str, index: int) -> None:
        if revision != "0002":
            return
        b.kill()
        conn = NativeAdapter(parse_url(a.url))
        try:
            _wait_for("replica 2 to be seen as gone", lambda: conn.query(
                f"SELECT active_replicas FROM system.replicas WHERE database = '{db}' AND table = 'opik_store_ledger'"
            ).scalar() == 1)  # fmt: skip
            observed["quorum_error"], observed["quorum_s"] = _quorum_insert(a, db)
            started = time.monotonic()
            ledger = Ledger(conn, db, Topology("opik"))
            ledger.record("probe", "started", "upgrade", ("x", "y"), ledger.now())
            observed["ledger_write_s"] = time.monotonic() - started
        finally:
            conn.close()
        threading.Timer(3.0, b.start).start()

    with _store(a, db, "opik", folder, lease=4.0) as store:
        started = time.monotonic()
        report = store.migrate(after_statement=after)
        observed["run_s"] = time.monotonic() - started
    assert report.revisions == ["0002", "0003"]
    # the old policy ('auto' = 2 of 2) cannot write while the replica is down: TOO_FEW_LIVE_REPLICAS
    assert observed["quorum_error"] == 285, observed
    assert observed["ledger_write_s"] < 2, observed
    assert observed["run_s"] < 90, observed
    _wait_for("node 2 to be back", lambda: b.running)
    _wait_for("the restarted replica to catch up", lambda: _ledger_rows(b, db) == _ledger_rows(a, db), timeout=60)
    states = [(r[1], r[2]) for r in _ledger_rows(b, db)]
    assert states[-2:] == [("0003", "started"), ("0003", "applied")] and ("0002", "applied") in states
    assert {"events_1", "events_2", "events_3"} <= {
        r[0] for r in _q(b, f"SELECT name FROM system.tables WHERE database = '{db}'")
    }


def test_no_op_runs_issue_no_distributed_ddl(cluster_2x1: Cluster, db: str, tmp_path: Path) -> None:
    """Counted in ZooKeeper's distributed DDL queue: a migrate with nothing to do and a job run whose probe finds
    nothing add no entry; a run with work does (so the count can move)."""
    a, b = cluster_2x1.nodes
    folder = _migrations(tmp_path, 1)
    with _store(a, db, "opik", folder) as store:
        store.migrate()
    _wait_for("the ledger to replicate", lambda: len(_ledger_rows(b, db)) == 2)
    idle = JobRunner(lambda: _store(b, db, "opik"), FileConfig(), {"idle": (_events_job, "t")}, lease=5,
                     probes={"idle": lambda _s, _c: False})  # fmt: skip
    busy = JobRunner(lambda: _store(b, db, "opik"), FileConfig(), {"busy": (_events_job, "t")}, lease=5)
    assert busy.run("busy").state == "succeeded"  # creates the runs table
    before = _ddl_queue(a, "opik")
    with _store(a, db, "opik", folder) as store:
        assert store.migrate().revisions == []
    with _store(b, db, "opik", folder) as store:
        assert store.migrate().revisions == []
    record = idle.run("idle")
    assert record.state == "succeeded" and record.summary == "nothing to do"
    assert _ddl_queue(a, "opik") == before, "a run that changes nothing must not queue distributed DDL"
    assert busy.run("busy").state == "succeeded"
    added = _ddl_queue(a, "opik") - before
    assert added, "a job run that takes its lease creates a lock generation ON CLUSTER"


def test_a_job_with_work_runs_while_a_replica_is_down(cluster_2x1: Cluster, db: str) -> None:
    """The job's lease CREATE ON CLUSTER cannot finish on the killed replica: after LOCK_DDL_TIMEOUT the run reads
    the creator on its own node and goes on; the restarted replica runs the queued CREATEs and DROPs and catches
    up on the run rows."""
    a, b = cluster_2x1.nodes
    busy = JobRunner(lambda: _store(a, db, "opik"), FileConfig(), {"busy": (_events_job, "t")}, lease=4)
    for _ in range(3):  # the runs table, and lock generations 1-3 (generation 1 dropped by the third)
        assert busy.run("busy").state == "succeeded"
    b.kill()
    started = time.monotonic()
    records = [busy.run("busy"), busy.run("busy")]
    took = time.monotonic() - started
    assert [r.state for r in records] == ["succeeded", "succeeded"]
    assert took < 60, f"two runs with a replica down took {took:.0f} s"
    b.start()
    lock = "opik_store_joblock_busy_"

    def generations(node: Node) -> list[str]:
        rows = _q(node, f"SELECT name FROM system.tables WHERE database = '{db}' AND name LIKE '{lock}%' ORDER BY name")
        return [str(r[0]) for r in rows]

    _wait_for("the restarted replica to replay the queued lock DDL", lambda: generations(b) == generations(a), 60)
    assert generations(a) == [f"{lock}4", f"{lock}5"]
    with _store(a, db, "opik") as sa, _store(b, db, "opik") as sb:
        _wait_for("the run rows to replicate", lambda: busy.history(sa) == busy.history(sb), 60)
        assert len(busy.history(sb)) == 10


def test_keeper_paths_are_clean_after_drops(cluster_2x1: Cluster, db: str) -> None:
    """Old lock generations are dropped ON CLUSTER by the next holder, and their ZooKeeper paths go with them."""
    a, _ = cluster_2x1.nodes
    with _store(a, db, "opik") as store:
        store.adapter.execute(f"CREATE DATABASE IF NOT EXISTS `{db}` ON CLUSTER 'opik'")
        for _ in range(4):
            lock = MigrationLock(store.adapter, store.config, 30, lambda _m: None)
            assert lock.try_acquire() is None
            lock.release()
        assert lock.generations() == [3, 4]
    paths = _zk_children(a, f"/clickhouse/tables/01/{db}")
    assert paths == {"opik_store_lock_3", "opik_store_lock_4"}, paths
    a.query(f"DROP DATABASE `{db}` ON CLUSTER 'opik'")
    assert _zk_children(a, f"/clickhouse/tables/01/{db}") == set()


def test_preflight_and_per_host_work_name_a_dead_replica(cluster_2x1: Cluster, db: str, tmp_path: Path) -> None:
    """With one replica killed: pre-flight refuses a migration (nothing created) naming the dead host, and work fanned
    out to every host (as prune does) runs on the live one and names the dead one."""
    a, b = cluster_2x1.nodes
    b.kill()
    with _store(a, db, "opik", _migrations(tmp_path, 1)) as store:
        with pytest.raises(PreflightError, match=f"127.0.0.1:{b.tcp}"):
            store.migrate()
        assert not store.database_exists()
        hosts = cluster_hosts(store.adapter, "opik")
        outcomes = on_every_host(
            store.adapter.spec,
            hosts,
            lambda conn: conn.query("SELECT substitution FROM system.macros WHERE macro = 'replica'").scalar(),
        )
    assert [(o.host.port, o.result, bool(o.error)) for o in outcomes] == [
        (a.tcp, "replica-1-1", False),
        (b.tcp, None, True),
    ]
    assert f"127.0.0.1:{b.tcp}" in outcomes[1].host.label


def test_two_shards_refused_unsharded_and_cluster_wide_tables_span_every_node(
    cluster_2x2: Cluster, db: str, tmp_path: Path
) -> None:
    """The 2 shards x 2 replicas harness: pre-flight refuses the replicated topology on it (nothing created); with
    the sharded topology, ON CLUSTER reaches all four nodes and a table that is not sharded (the ledger, a
    revision's plain table) is ONE replica group of every node of every shard, under the ``all`` path."""
    first = cluster_2x2.nodes[0]
    folder = _migrations(tmp_path, 1)
    with _store(first, db, "opik_sharded", folder) as store:
        with pytest.raises(PreflightError, match="2 shards"):
            store.migrate()
        assert not store.database_exists()
    with _store(first, db, "opik_sharded", folder, sharded=True) as store:
        assert store.migrate().revisions == ["0001"]
        assert [(h.shard, h.replica) for h in cluster_hosts(store.adapter, "opik_sharded")] == [
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
        ]
    for node in cluster_2x2.nodes:
        engines = dict(_q(node, f"SELECT name, engine FROM system.tables WHERE database = '{db}'"))
        assert engines["events_1"] == engines["opik_store_ledger"] == "ReplicatedMergeTree", (node.name, engines)
    everyone = {f"{s:02d}-replica-{s}-{r}" for s in (1, 2) for r in (1, 2)}
    for table in ("events_1", "opik_store_ledger"):
        assert _zk_children(first, f"/clickhouse/tables/all/{db}/{table}/replicas") == everyone
    _wait_for("the ledger on every node", lambda: all(len(_ledger_rows(n, db)) == 2 for n in cluster_2x2.nodes))


def test_only_the_named_old_server_passes_the_version_gate(cluster_2x1: Cluster) -> None:
    from opik_store import UnsupportedServerError

    node = cluster_2x1.nodes[0]
    with Store.from_url(node.url, database="gate") as store, pytest.raises(UnsupportedServerError):
        _ = store.adapter
    config = StoreConfig.from_env(url=node.url, database="gate", environ={})
    with (
        Store(replace(config, ddl_settings={}), old_server_for_tests="18.16.2") as store,
        pytest.raises(UnsupportedServerError),
    ):
        _ = store.adapter


def test_missing_binaries_fail_unless_explicitly_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI installs the binaries; without them a cluster test fails (a skip would prove nothing) unless
    OPIK_STORE_SKIP_CLUSTER_TESTS=1 opts out."""
    import cluster_harness

    monkeypatch.setattr(cluster_harness, "server_binary", lambda: None)
    monkeypatch.delenv(cluster_harness.SKIP_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception, match="clickhouse-server"):
        cluster_harness.require_cluster_binaries()
    monkeypatch.setenv(cluster_harness.SKIP_ENV, "1")
    with pytest.raises(pytest.skip.Exception, match="clickhouse-server"):
        cluster_harness.require_cluster_binaries()


def test_sharded_expiry_goes_to_every_host_and_names_each_failure(cluster_2x1: Cluster, db: str) -> None:
    """On the sharded topology the expiry runs host by host (each on its own shard-local tables).

    18.16 cannot hold the rules table (Date32, DateTime64) nor run a lightweight DELETE, so what is proven
    here is the fan-out and its failure rule: each host is asked on its own connection, and a reached-but-
    failing host and an unreachable one are both named in one RetentionLookupError raised after the rest.
    The expiry itself is tested on the engine (test_retention_invariants.py, test_sharding.py)."""
    a, b = cluster_2x1.nodes
    b.kill()
    with _store(a, db, "opik", sharded=True) as store:
        store.adapter.execute(f"CREATE DATABASE IF NOT EXISTS {db}")  # on a only: b is down
        with pytest.raises(RetentionLookupError) as info:
            store.retention().expire_now()
    text = str(info.value)
    assert f"127.0.0.1:{a.tcp} (shard 1, replica 1)" in text and f"127.0.0.1:{b.tcp} (shard 1, replica 2)" in text
    assert "retention_rules" in text, text  # a answered: it has no rules table (18.16 cannot hold it)


def test_host_map_sends_per_host_work_where_the_operator_says(
    cluster_2x1: Cluster, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OPIK_STORE_HOST_MAP reroutes a listed host (here: b's entry to a's address, so a answers twice);
    a malformed map is refused before any host is contacted."""
    a, b = cluster_2x1.nodes
    with _store(a, db, "opik") as store:
        hosts = cluster_hosts(store.adapter, "opik")

        def replica(conn: Any) -> Any:
            return conn.query("SELECT substitution FROM system.macros WHERE macro = 'replica'").scalar()

        monkeypatch.setenv("OPIK_STORE_HOST_MAP", f" 127.0.0.1:{b.tcp} = localhost:{a.tcp} ")
        outcomes = on_every_host(store.adapter.spec, hosts, replica)
        assert [(o.host.port, o.result) for o in outcomes] == [(a.tcp, "replica-1-1"), (b.tcp, "replica-1-1")]
        monkeypatch.setenv("OPIK_STORE_HOST_MAP", f"127.0.0.1:{b.tcp}=localhost:1")
        outcomes = on_every_host(store.adapter.spec, hosts, replica)
        assert outcomes[0].result == "replica-1-1"
        assert "localhost:1" in outcomes[1].error, outcomes[1].error
        touched: list[str] = []
        for bad, says in (
            ("ch1:9000", "is not name:port=host:port"),
            ("ch1=localhost:9000", "'ch1' in 'ch1=localhost:9000' is not host:port"),
            ("ch1:9000=localhost:99999", "is not host:port"),
            ("ch1:9000=a:1,ch1:9000=b:2", "mapped twice"),
            ("ch1:9000=b:2=c:3", "is not host:port"),
            ("ch1:9000=b c:1", "is not host:port"),
            (
                f"127.0.0.1:{a.tcp}=localhost:{a.tcp},ch9:9000=localhost:1",
                "maps ch9:9000, which the cluster does not list",
            ),
        ):
            monkeypatch.setenv("OPIK_STORE_HOST_MAP", bad)
            with pytest.raises(ConfigError, match=says):
                on_every_host(store.adapter.spec, hosts, lambda conn: touched.append("ran"))
        assert touched == []
