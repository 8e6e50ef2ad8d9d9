"""The sharded topology (``--cluster NAME --sharded``).

What runs for real here, on the embedded engine (see conftest.py for the
clusters ``shards1``, ``shards3`` and ``shards_mixed``, whose local replicas
are this engine):

* the rendered Distributed CREATEs, and ClickHouse's Distributed engine
  splitting Opik-shaped inserts by the rendered sharding keys: every span
  lands on its trace's shard (read back from the blocks the engine queued
  per shard);
* every rendered Replicated engine's arguments, through the engine factory
  (macros expanded; code 225 for the missing ZooKeeper);
* pre-flight refusing a 3-shard cluster without ``--sharded``, and a database
  laid out for the other topology;
* ``retention backfill`` copying and deleting in the shard-local tables of the
  connected shard, never ON CLUSTER (the engine refuses ON CLUSTER, so a run
  that finishes sent none).

Not run here (no multi-node modern server): ON CLUSTER across real shards,
replication of the cluster-wide tables between shards through Keeper.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from support import create_from_ddl, create_sharded_layout, in_process
from test_retention import uuid7

from opik_store import ConfigError, RenderError, ServerError, Store, StoreConfig, Topology
from opik_store.cli.app import main
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.maintenance.retention import Retention
from opik_store.migrations.ledger import LEDGER_DDL, setup_statements
from opik_store.migrations.lock import JOB_LOCK_PREFIX, lock_ddl
from opik_store.migrations.preflight import PreflightError, check_layout, check_shards
from opik_store.migrations.revisions import RevisionSet
from opik_store.migrations.runner import render_revision
from opik_store.scheduling.jobs import HEALTH_DDL, RUNS_DDL
from opik_store.schema.ddl import TABLES, ddl
from opik_store.schema.render import Rendered, render_statement, render_statements
from opik_store.schema.sharding import SHARDED_TABLES

SHARDED = Topology(cluster="opik", sharded=True)
SHARD_PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
WIDE_PATH = "'/clickhouse/tables/all/{database}/{table}', '{shard}-{replica}'"


def _config(url: str = "chdb://:memory:", database: str = "opik", cluster: str = "opik") -> StoreConfig:
    return StoreConfig.from_env(url=url, database=database, cluster=cluster, sharded=True, environ={})


def every_sharded_create() -> list[Rendered]:
    """Every CREATE TABLE opik-store runs on the sharded topology: setup, revisions, lock, job tables."""
    internal = [lock_ddl("opik_store_lock_1"), lock_ddl(f"{JOB_LOCK_PREFIX}health_1")]
    out = [render_statement(s, "opik", SHARDED) for s in [*internal, LEDGER_DDL, RUNS_DDL, HEALTH_DDL]]
    assert setup_statements("opik", SHARDED)[1] == out[len(internal)].sql  # the ledger as setup creates it
    for revision in RevisionSet().ordered:
        out += [r for r in render_revision(revision, "upgrade", _config()).statements if r.kind == "create_table"]
    return out


# -- rendering ------------------------------------------------------------------


def test_trace_data_is_shard_local_and_everything_else_one_cluster_wide_table() -> None:
    creates = {r.table: r.sql for r in every_sharded_create()}
    assert {"traces", "spans", "traces_local", "spans_local", "retention", "retention_rules"} <= set(creates)
    assert {"opik_store_ledger", "opik_store_lock_1", "opik_store_job_runs", "opik_store_health"} <= set(creates)
    for table, key in SHARDED_TABLES.items():
        assert creates[table] == (
            f"CREATE TABLE IF NOT EXISTS `opik`.`{table}` ON CLUSTER 'opik' AS `opik`.`{table}_local` "
            f"ENGINE = Distributed('opik', 'opik', '{table}_local', {key})"
        )
        assert (
            f"ENGINE = ReplicatedReplacingMergeTree({SHARD_PATH}, last_updated_at, is_deleted)"
            in creates[f"{table}_local"]
        )
    for table, sql in creates.items():
        if table in SHARDED_TABLES or table.endswith("_local"):
            continue
        engine = re.search(r"ENGINE = (\w+)", sql)
        assert engine
        if engine.group(1) == "Join":  # the retention lookup: in-process state of every node (see ddl/README.md)
            continue
        assert engine.group(1).startswith("Replicated") and f"({WIDE_PATH}" in sql, f"{table} is not cluster-wide"


def test_sharded_engine_arguments_pass_the_engine_factory(engine: EmbeddedAdapter, database: str) -> None:
    """Both Keeper paths expand with this engine's macros ({shard}-{replica} included), then fail on ZooKeeper."""
    engine.execute(f"CREATE DATABASE `{database}`")
    engine.execute(render_statement(ddl("retention"), database, Topology()).sql)  # the lookup traces/spans read
    replicated = [r for r in every_sharded_create() if "ENGINE = Replicated" in r.sql]
    assert len(replicated) >= 8
    for rendered in replicated:
        sql = rendered.sql.replace(" ON CLUSTER 'opik'", "").replace("`opik`.", f"`{database}`.")
        sql = sql.replace(f"`{database}`.`{rendered.table}`", f"`{database}`.`{rendered.table}_check`", 1)
        sql = sql.replace("'opik.retention'", f"'{database}.retention'")
        with pytest.raises(ServerError) as info:
            engine.execute(sql)
        assert info.value.code == 225, f"{rendered.table}: engine factory rejected: {info.value}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("TRUNCATE TABLE spans", ["TRUNCATE TABLE IF EXISTS `db`.`spans_local` ON CLUSTER 'opik'"]),
        (
            "ALTER TABLE traces MODIFY TTL toDateTime(retention_at + 1, 'UTC')",
            ["ALTER TABLE `db`.`traces_local` ON CLUSTER 'opik' MODIFY TTL toDateTime(retention_at + 1, 'UTC')"],
        ),
        (
            "ALTER TABLE traces ADD COLUMN c String",
            [
                "ALTER TABLE `db`.`traces_local` ON CLUSTER 'opik' ADD COLUMN IF NOT EXISTS c String",
                "ALTER TABLE `db`.`traces` ON CLUSTER 'opik' ADD COLUMN IF NOT EXISTS c String",
            ],
        ),
        (
            "ALTER TABLE spans DROP COLUMN c",
            [
                "ALTER TABLE `db`.`spans` ON CLUSTER 'opik' DROP COLUMN IF EXISTS c",
                "ALTER TABLE `db`.`spans_local` ON CLUSTER 'opik' DROP COLUMN IF EXISTS c",
            ],
        ),
        (
            "DROP TABLE traces",
            [
                "DROP TABLE IF EXISTS `db`.`traces` ON CLUSTER 'opik' SYNC",
                "DROP TABLE IF EXISTS `db`.`traces_local` ON CLUSTER 'opik' SYNC",
            ],
        ),
        (
            "ALTER TABLE spans DROP PARTITION ID '14-20261123'",
            ["ALTER TABLE `db`.`spans_local` ON CLUSTER 'opik' DROP PARTITION ID '14-20261123'"],
        ),
        (
            "ALTER TABLE retention_rules ADD COLUMN c String",
            ["ALTER TABLE `db`.`retention_rules` ON CLUSTER 'opik' ADD COLUMN IF NOT EXISTS c String"],
        ),
    ],
)
def test_statements_on_sharded_tables_reach_the_right_tables(source: str, expected: list[str]) -> None:
    """Columns reach both tables (the shard-local one first, and last when a column goes); data only the local one."""
    assert [r.sql for r in render_statements(source, "db", SHARDED)] == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("ALTER TABLE traces ADD COLUMN c String, MODIFY SETTING a = 1", "Write them as two statements"),
        ("RENAME TABLE traces TO traces_old", "RENAME TABLE of the sharded table traces is not supported"),
        ("EXCHANGE TABLES spans AND spans_new", "EXCHANGE TABLES of the sharded table spans"),
        ("CREATE TABLE copy AS traces ENGINE = MergeTree ORDER BY id", "CREATE TABLE of the sharded table traces"),
    ],
)
def test_statements_the_sharded_topology_cannot_carry_are_refused(source: str, message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_statements(source, "db", SHARDED)


def test_one_statement_rendering_refuses_what_becomes_two() -> None:
    with pytest.raises(RenderError, match="becomes 2 statements"):
        render_statement(ddl("traces"), "db", SHARDED)
    unsharded = render_statements(ddl("traces"), "db", Topology(cluster="opik"))
    assert len(unsharded) == 1 and unsharded[0].table == "traces"


# -- configuration and the CLI ------------------------------------------------------


def test_sharded_configuration_rules() -> None:
    with pytest.raises(ConfigError, match="needs a cluster"):
        StoreConfig.from_env(url="chdb://:memory:", sharded=True, environ={})
    with pytest.raises(ConfigError, match=r"must contain \{shard\} on the sharded topology"):
        StoreConfig.from_env(
            url="chdb://:memory:", cluster="c", sharded=True, replica_path="/t/{database}/{table}", environ={}
        )
    env = {"OPIK_STORE_CLUSTER": "c", "OPIK_STORE_SHARDED": "TRUE"}
    topology = StoreConfig.from_env(url="chdb://:memory:", environ=env).topology
    assert topology.is_sharded and topology.label == "cluster 'c', sharded"
    assert topology.cluster_wide_path == "/clickhouse/tables/all/{database}/{table}"
    assert topology.cluster_wide_replica == "{shard}-{replica}"
    off = StoreConfig.from_env(url="chdb://:memory:", environ={**env, "OPIK_STORE_SHARDED": "0"}).topology
    assert not off.is_sharded and off.cluster_wide_path == off.replica_path
    with pytest.raises(ConfigError, match="OPIK_STORE_SHARDED must be"):
        StoreConfig.from_env(url="chdb://:memory:", environ={**env, "OPIK_STORE_SHARDED": "maybe"})
    # an explicit argument wins over the environment, as for every other field
    assert not StoreConfig.from_env(url="chdb://:memory:", sharded=False, environ=env).topology.is_sharded


@pytest.mark.parametrize(
    "args",
    [
        ["--cluster", "opik", "--sharded", "migrate", "--sql"],
        ["migrate", "--sql", "--cluster", "opik", "--sharded"],
        ["--sharded", "migrate", "--sql", "--cluster", "opik"],
    ],
)
def test_migrate_sql_renders_the_sharded_topology_offline(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["--url", "clickhouse://u:pw@127.0.0.1:1/", *args])
    assert result.exit_code == 0, result.output
    assert "cluster 'opik', sharded" in result.output
    assert "ENGINE = Distributed('opik', 'opik', 'spans_local', cityHash64(trace_id))" in result.output
    assert "ALTER TABLE `opik`.`traces_local` ON CLUSTER 'opik' MODIFY SETTING" in result.output


def test_sharded_from_the_environment_and_hostile_names_stay_quoted(engine: EmbeddedAdapter) -> None:
    env = {"OPIK_STORE_SHARDED": "1", "OPIK_STORE_CLUSTER": "opik"}
    result = CliRunner().invoke(main, ["--url", "clickhouse://u:pw@127.0.0.1:1/", "migrate", "--sql"], env=env)
    assert result.exit_code == 0 and "'traces_local', cityHash64(id))" in result.output, result.output
    hostile = Topology(cluster="c'); DROP TABLE x; --", sharded=True)
    sql = render_statements(ddl("traces"), "d'b", hostile)[1].sql
    formatted = str(engine.query("SELECT formatQuery({q:String})", {"q": sql}).scalar())
    assert "ENGINE = Distributed('c\\'); DROP TABLE x; --', 'd\\'b', 'traces_local', cityHash64(id))" in formatted


# -- ClickHouse's Distributed engine, for real ----------------------------------------------


def _trace_and_spans(now: datetime, n_traces: int) -> tuple[list[str], list[tuple[str, str]]]:
    traces = [uuid7(now - timedelta(minutes=i), 1000 + i) for i in range(n_traces)]
    spans = [
        (uuid7(now - timedelta(minutes=i), 5000 + 10 * i + k), t) for i, t in enumerate(traces) for k in range(i % 4)
    ]
    return traces, spans


def test_a_trace_and_its_spans_land_on_one_shard(engine: EmbeddedAdapter, database: str) -> None:
    """Opik-shaped inserts through the Distributed names, split by ClickHouse over 3 shards.

    The engine queues each shard's block in its own folder (sends are stopped
    and localhost is not preferred, so nothing is delivered); the blocks are
    read back with the Distributed format: which rows each shard receives is
    the engine's decision, not this test's arithmetic.
    """
    create_sharded_layout(engine, database, "shards3")
    for table in ("traces", "spans"):
        engine.execute(f"SYSTEM STOP DISTRIBUTED SENDS `{database}`.`{table}`")
    traces, spans = _trace_and_spans(datetime.now(UTC), 60)
    # in the statement, not the adapter's settings: those stay in force for the engine's session (embedded.py)
    settings = " SETTINGS prefer_localhost_replica = 0, distributed_foreground_insert = 0"
    engine.execute(
        f"INSERT INTO `{database}`.traces (id, workspace_id, project_id, name, input) "
        "SELECT id, 'ws', '0190c1f0-0000-7000-8000-000000000000', 'agent', '{}' "
        "FROM (SELECT arrayJoin({ids:Array(String)}) AS id)" + settings,
        {"ids": traces},
    )
    engine.execute(
        f"INSERT INTO `{database}`.spans (id, workspace_id, project_id, trace_id, name, input) "
        "SELECT p.1, 'ws', '0190c1f0-0000-7000-8000-000000000000', p.2, 'llm', '{}' "
        "FROM (SELECT arrayJoin({pairs:Array(Tuple(String, String))}) AS p)" + settings,
        {"pairs": spans},
    )
    shard_of: dict[str, dict[str, int]] = {"traces": {}, "spans": {}}
    queued_columns: set[str] = set()
    for table, path in engine.query(
        "SELECT table, data_path FROM system.distribution_queue WHERE database = {d:String}", {"d": database}
    ).rows:
        shard = int(re.search(r"shard(\d+)_replica", path).group(1))  # type: ignore[union-attr]
        for row in engine.query(f"SELECT * FROM file('{path}*.bin', 'Distributed')").dicts():
            queued_columns |= set(row)
            key = str(row["id"])
            assert key not in shard_of[table], f"{table} row {key} queued for two shards"
            shard_of[table][key] = shard
    assert set(shard_of["traces"]) == set(traces) and set(shard_of["spans"]) == {s for s, _ in spans}
    for span, trace in spans:
        assert shard_of["spans"][span] == shard_of["traces"][trace], "a span left its trace's shard"
    counts = [list(shard_of["traces"].values()).count(s) for s in (1, 2, 3)]
    assert all(c > 0 for c in counts), counts
    # the engine's choice is the documented rule: shard = cityHash64(id) % 3 + 1
    expected = dict(
        engine.query(
            "SELECT id, cityHash64(toFixedString(id, 36)) % 3 + 1 FROM (SELECT arrayJoin({ids:Array(String)}) AS id)",
            {"ids": traces},
        ).rows
    )
    assert shard_of["traces"] == {k: int(v) for k, v in expected.items()}
    # blocks travel without their MATERIALIZED columns: each shard computes the class with its own lookup
    assert "retention_days" not in queued_columns and "retention_at" not in queued_columns
    for table in ("traces", "spans"):
        engine.execute(f"DROP TABLE `{database}`.`{table}` SYNC")


def test_distributed_tables_are_created_as_rendered(engine: EmbeddedAdapter, database: str) -> None:
    create_sharded_layout(engine, database, "shards3")
    rows = dict(
        engine.query(
            "SELECT name, engine_full FROM system.tables WHERE database = {d:String} AND engine = 'Distributed'",
            {"d": database},
        ).rows
    )
    assert rows == {
        "traces": f"Distributed('shards3', '{database}', 'traces_local', cityHash64(id))",
        "spans": f"Distributed('shards3', '{database}', 'spans_local', cityHash64(trace_id))",
    }


def test_check_judges_the_shard_local_tables_and_the_distributed_ones(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    create_sharded_layout(engine, database, "shards1")
    with Store(_config(engine_url, database, "shards1")) as store:
        diffs = store.migrator().differences([ddl(t) for t in TABLES])
        # the in-process layout has plain engines where a cluster has Replicated ones; nothing else differs
        assert {d.aspect for d in diffs} == {"replication"}, [d.describe() for d in diffs]
        assert {d.table for d in diffs} == {"retention_rules", "traces", "spans"}  # the Join lookup is per node
        engine.execute(f"DROP TABLE `{database}`.spans SYNC")
        engine.execute(
            f"CREATE TABLE `{database}`.spans AS `{database}`.spans_local "
            f"ENGINE = Distributed('shards1', '{database}', 'spans_local', rand())"
        )
        wrong = [d for d in store.migrator().differences([ddl(t) for t in TABLES]) if d.aspect != "replication"]
        assert [(d.table, d.aspect, d.actual) for d in wrong] == [
            ("spans", "engine", f"Distributed('shards1', '{database}', 'spans_local', rand())")
        ]


# -- pre-flight ----------------------------------------------------------------------------


def test_preflight_refuses_several_shards_without_the_sharded_topology(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    store = Store.from_url(engine_url, database=database, cluster="shards3")
    with store, pytest.raises(PreflightError) as info:
        store.migrate()
    text = str(info.value)
    assert "cluster 'shards3' has 3 shards" in text
    assert "one ledger, lock and retention rules table per shard" in text
    assert "--sharded or OPIK_STORE_SHARDED=1" in text and "Nothing was changed." in text
    exists = engine.query("SELECT count() FROM system.databases WHERE name = {d:String}", {"d": database})
    assert exists.scalar() == 0
    result = CliRunner().invoke(main, ["--url", engine_url, "--database", database, "--cluster", "shards3", "migrate"])
    assert result.exit_code == 2 and "has 3 shards" in result.output
    check_shards(3, "shards3", sharded=True)  # the shape is accepted once the topology is sharded
    check_shards(1, "shards1", sharded=False)  # one shard: the replicated topology, as before


def test_preflight_refuses_a_database_laid_out_for_the_other_topology(engine: EmbeddedAdapter, database: str) -> None:
    create_sharded_layout(engine, database, "shards1")
    check_layout(engine, database, sharded=True)
    with pytest.raises(PreflightError, match=r"holds spans \(Distributed\), traces \(Distributed\).*pass --sharded"):
        check_layout(engine, database, sharded=False)
    plain = f"{database}_plain"
    engine.execute(f"CREATE DATABASE `{plain}`")
    try:
        create_from_ddl(engine, plain)
        check_layout(engine, plain, sharded=False)
        with pytest.raises(PreflightError, match="needs them to be Distributed tables over traces_local"):
            check_layout(engine, plain, sharded=True)
    finally:
        engine.execute(f"DROP DATABASE `{plain}` SYNC")


def test_migrate_with_nothing_pending_still_refuses_the_other_topology(engine_url: str, database: str) -> None:
    """An up-to-date unsharded database and `migrate --sharded` (or --dry-run): refused, not "up to date"."""
    base = ["--url", engine_url, "--database", database]
    assert CliRunner().invoke(main, [*base, "migrate"]).exit_code == 0
    for extra in ([], ["--dry-run"]):
        result = CliRunner().invoke(main, [*base, "--cluster", "shards1", "--sharded", "migrate", *extra])
        assert result.exit_code == 2 and "needs them to be Distributed" in result.output, result.output
        assert "up to date" not in result.output


# -- retention backfill per shard ------------------------------------------------------------


def test_expiry_removes_due_rows_in_the_shard_local_tables(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    """Parts, partitions and mutations belong to traces_local/spans_local: the expiry reads their weeks and
    deletes there (on the embedded engine, the one node of the cluster); what is not due stays."""
    create_sharded_layout(engine, database, "shards1")
    old, young = uuid7(datetime.now(UTC) - timedelta(days=40), 5), uuid7(datetime.now(UTC) - timedelta(days=2), 6)
    for trace_id in (old, young):
        engine.execute(
            f"INSERT INTO `{database}`.traces (id, workspace_id, project_id, name, input) "
            "SELECT {i:String}, 'ws', '0190c1f0-0000-7000-8000-000000000000', 'n', 'in'",
            {"i": trace_id},
            settings={"distributed_foreground_insert": "1"},
        )
    config = _config(engine_url, database, "shards1")
    with Store(config) as store:
        retention = Retention(store.adapter, config)
        retention.add_rule("", "", 14, date(2000, 1, 1), "test")
        assert [w[2] for w in retention.weeks("traces")] == [1, 1], "the local table's weeks"
        done = retention.expire_now()
        assert done and all("traces" in d for d in done), done
    left = {str(r[0]) for r in engine.query(f"SELECT id FROM `{database}`.traces_local").rows}
    assert left == {young}


def test_in_process_form_changes_only_cluster_parts() -> None:
    """The helper the tests use to run sharded DDL here strips ON CLUSTER and the replication arguments only."""
    sql = render_statements(ddl("spans"), "db", Topology(cluster="c", sharded=True))[0].sql
    local = in_process(sql, "c")
    assert "ON CLUSTER" not in local and "Replicated" not in local
    assert local.replace("ReplacingMergeTree(last_updated_at", "") == sql.replace(" ON CLUSTER 'c'", "").replace(
        f"ReplicatedReplacingMergeTree({SHARD_PATH}, last_updated_at", ""
    )


def test_skew_bench_runs_and_both_keys_agree() -> None:
    """bench/shard_skew.py at a small size: ClickHouse hashes a trace's id and its spans' trace_id alike."""
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "bench" / "shard_skew.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--traces", "3000", "--workspaces", "20"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cityHash64(trace_id): 0 differ" in done.stdout
    assert re.search(r"^\s+4\s+traces\s+(\d+\.\d+% ){3}\d+\.\d+%", done.stdout, re.M), done.stdout


def test_a_sharded_relayout_refuses_a_table_with_rows_changing_nothing(
    engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    """On the sharded topology a re-layout (revision 0004) rebuilds a table only while no shard holds a row: with
    one row it refuses, naming the count, before any DDL (the rows are counted through the Distributed table)."""
    from opik_store.migrations.relayout import RelayoutError

    create_sharded_layout(engine, database, "shards1")
    engine.execute(
        f"INSERT INTO `{database}`.traces (id, workspace_id, project_id) "
        "SELECT {i:String}, 'ws', '0190c1f0-0000-7000-8000-000000000000'",
        {"i": uuid7(datetime.now(UTC), 9)},
        settings={"distributed_foreground_insert": "1"},
    )
    config = _config(engine_url, database, "shards1")
    with Store(config) as store, pytest.raises(RelayoutError, match=r"holds 1 row\(s\) across its shards"):
        store.migrator()._rebuild_empty_sharded("traces", ddl("traces"))
    assert engine.query(f"SELECT count() FROM `{database}`.traces_local").scalar() == 1


@pytest.mark.parametrize("suffix", ["o'x", "b\\s", "q'\\z"])
def test_a_database_name_with_a_quote_or_backslash_shows_no_false_drift(
    engine_url: str, engine: EmbeddedAdapter, database: str, suffix: str
) -> None:
    """The server writes a database name inside a string literal escaped ('o\\'x.j'); shapes compared the raw name,
    so an expression naming a Join table or dictionary of the database showed as drift."""
    from opik_store.engine.quoting import quote_identifier, quote_string
    from opik_store.schema.shapes import read_shapes

    db = database + suffix
    q = quote_identifier(db)
    try:
        create_sharded_layout(engine, db, "shards1")
        with Store(_config(engine_url, db, "shards1")) as store:
            diffs = store.migrator().differences([ddl(t) for t in TABLES])
            assert {d.aspect for d in diffs} == {"replication"}, [d.describe() for d in diffs]
        engine.execute(f"CREATE TABLE {q}.j (k UInt8, v UInt8) ENGINE = Join(ANY, LEFT, k)")
        lookup = quote_string(f"{db}.j")
        engine.execute(f"CREATE TABLE {q}.t (k UInt8, v UInt8 DEFAULT joinGet({lookup}, 'v', k)) ENGINE = Memory")
        shape = read_shapes(engine, db, ["t"])["t"]
        assert shape.columns[1][3] == "joinGet('{database}.j', 'v', k)", shape.columns
    finally:
        engine.execute(f"DROP DATABASE IF EXISTS {q} SYNC")
