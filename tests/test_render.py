"""Rendering statements for both topologies, checked by ClickHouse itself."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from support import create_from_ddl

from opik_store import RenderError, ServerError, StoreConfig, Topology
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.migrations.ledger import DOWNGRADE, UPGRADE, setup_statements
from opik_store.migrations.revisions import RevisionSet
from opik_store.migrations.runner import render_revision
from opik_store.schema.render import render_statement

SNAPSHOTS = Path(__file__).parent / "snapshots"
TOPOLOGIES = {
    "single": Topology(),
    "cluster": Topology(cluster="opik"),
    "sharded": Topology(cluster="opik", sharded=True),
}


def _config(topology: Topology) -> StoreConfig:
    return StoreConfig.from_env(
        url="chdb://:memory:", database="opik", cluster=topology.cluster, sharded=topology.sharded, environ={}
    )


def rendered_files() -> dict[str, str]:
    """Every statement opik-store can run, per topology: setup and each revision both ways."""
    out: dict[str, str] = {}
    for label, topology in TOPOLOGIES.items():
        config = _config(topology)
        out[f"{label}/setup.sql"] = ";\n\n".join(setup_statements("opik", topology)) + ";\n"
        for revision in RevisionSet().ordered:
            for direction in (UPGRADE, DOWNGRADE):
                step = render_revision(revision, direction, config)
                text = ";\n\n".join(s.sql for s in step.statements)
                out[f"{label}/{revision.id}_{direction}.sql"] = text + (";\n" if text else "")
    return out


def parseable(statement: str) -> list[str]:
    """The SQL a rendered statement holds: itself, or for a re-layout (comments only: it runs through
    ``migrate`` alone) the CREATE statements of the new layout written in its comment lines."""
    if not statement.startswith("-- opik-store: relayout"):
        return [statement]
    lines = [line.removeprefix("--   ") for line in statement.rstrip(";\n").splitlines()[1:]]
    return [s.strip() for s in "\n".join(lines).split("\n;\n") if s.strip()]


def all_statements(label: str) -> list[str]:
    return [
        sql
        for name, text in rendered_files().items()
        if name.startswith(label)
        for s in text.split(";\n\n")
        if s
        for sql in parseable(s)
    ]


@pytest.mark.parametrize("name", sorted(rendered_files()))
def test_rendered_sql_matches_snapshot(name: str) -> None:
    """Every rendered statement is reviewed as a file; OPIK_STORE_UPDATE_SNAPSHOTS=1 rewrites them."""
    current = rendered_files()[name]
    path = SNAPSHOTS / name
    if os.environ.get("OPIK_STORE_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(current)
    assert path.exists(), f"no snapshot {path}: run the tests with OPIK_STORE_UPDATE_SNAPSHOTS=1 and review it"
    assert current == path.read_text(), f"{name} changed: review, then OPIK_STORE_UPDATE_SNAPSHOTS=1"


def test_no_stale_snapshots() -> None:
    on_disk = {str(p.relative_to(SNAPSHOTS)) for p in SNAPSHOTS.rglob("*.sql")}
    assert on_disk == set(rendered_files())


@pytest.mark.parametrize("label", sorted(TOPOLOGIES))
def test_clickhouse_parser_accepts_every_statement(label: str, engine: EmbeddedAdapter) -> None:
    statements = [s.rstrip(";\n") for s in all_statements(label)]
    assert statements
    for sql in statements:
        formatted = engine.query("SELECT formatQuery({q:String})", {"q": sql}).scalar()
        assert formatted
        if label != "single":
            assert " ON CLUSTER opik" in formatted


def test_parser_check_can_fail(engine: EmbeddedAdapter) -> None:
    with pytest.raises(ServerError) as info:
        engine.query("SELECT formatQuery({q:String})", {"q": "CREATE TABLE x ON CLUSTER (a UInt8) ENGINE = M"})
    assert info.value.code == 62  # SYNTAX_ERROR


def _formatted(engine: EmbeddedAdapter, sql: str) -> list[str]:
    return str(engine.query("SELECT formatQuery({q:String})", {"q": sql}).scalar()).splitlines()


def test_cluster_differs_from_single_only_in_cluster_parts(engine: EmbeddedAdapter) -> None:
    """ClickHouse's normalized text of both renderings differs only in ON CLUSTER, the engine and SYNC."""
    single, cluster = rendered_files(), rendered_files()
    for name in single:
        if not name.startswith("single/"):
            continue
        a_list = [p for s in single[name].split(";\n\n") if s for p in parseable(s)]
        b_list = [p for s in cluster[name.replace("single/", "cluster/")].split(";\n\n") if s for p in parseable(s)]
        assert len(a_list) == len(b_list)
        for a, b in zip(a_list, b_list, strict=True):
            fa, fb = _formatted(engine, a.rstrip(";\n")), _formatted(engine, b.rstrip(";\n"))
            assert len(fa) == len(fb), (a, b)
            for la, lb in zip(fa, fb, strict=True):
                if la == lb:
                    continue
                engine_line = re.fullmatch(r"ENGINE = (\w+)(?:\((.*)\))?", la)
                if engine_line:
                    name, args = engine_line.groups()
                    path = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
                    assert lb == f"ENGINE = Replicated{name}({path}{', ' + args if args else ''})"
                else:
                    assert lb.replace(" ON CLUSTER opik", "").removesuffix(" SYNC") == la, (la, lb)


def test_replicated_engine_arguments_pass_the_engine_factory(engine: EmbeddedAdapter) -> None:
    """Without ZooKeeper the factory still expands macros and checks arguments before failing with 225."""
    engine.execute("CREATE DATABASE IF NOT EXISTS `opik`")
    create_from_ddl(engine, "opik")  # the single-node lookup table the replicated tables' expressions read
    creates = [
        s.rstrip(";\n")
        for s in all_statements("cluster")
        if s.lstrip().startswith("CREATE TABLE") and "ENGINE = Replicated" in s
    ]
    assert len(creates) >= 4  # ledger, retention_rules, traces, spans (the Join lookup is per node, not replicated)
    try:
        for sql in creates:
            name = re.search(r"`opik`\.`(\w+)`", sql)
            assert name
            # a fresh name, so IF NOT EXISTS cannot skip the engine factory
            local = sql.replace(" ON CLUSTER 'opik'", "").replace(name.group(0), f"`opik`.`{name.group(1)}_check`", 1)
            with pytest.raises(ServerError) as info:
                engine.execute(local)
            assert info.value.code == 225, f"engine factory rejected: {info.value}"
    finally:
        engine.execute("DROP DATABASE IF EXISTS `opik` SYNC")


def test_engine_factory_check_catches_a_missing_macro(engine: EmbeddedAdapter) -> None:
    engine.execute("CREATE DATABASE IF NOT EXISTS `opik_macro`")
    try:
        source = "CREATE TABLE t (x UInt8, v DateTime64(6)) ENGINE = ReplacingMergeTree(v) ORDER BY x"
        bad = Topology(cluster="opik", replica_path="/clickhouse/tables/{shard_typo}/{database}/{table}")
        sql = render_statement(source, "opik_macro", bad).sql.replace(" ON CLUSTER 'opik'", "")
        with pytest.raises(ServerError) as info:
            engine.execute(sql)
        assert info.value.code == 139  # NO_ELEMENTS_IN_CONFIG: macro not defined
    finally:
        engine.execute("DROP DATABASE IF EXISTS `opik_macro` SYNC")


# -- the renderer's own rules ------------------------------------------------

CLUSTER = Topology(cluster="opik")


def test_create_keeps_engine_arguments_and_settings() -> None:
    src = "CREATE TABLE t (x UInt8, v DateTime64(6)) ENGINE = ReplacingMergeTree(v) ORDER BY x SETTINGS a = 1"
    sql = render_statement(src, "db", CLUSTER).sql
    assert sql == (
        "CREATE TABLE IF NOT EXISTS `db`.`t` ON CLUSTER 'opik' (x UInt8, v DateTime64(6)) ENGINE = "
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', v) "
        "ORDER BY x SETTINGS a = 1"
    )
    plain = render_statement("CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x", "db", CLUSTER).sql
    assert "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER" in plain
    memory = render_statement("CREATE TABLE t (x UInt8) ENGINE = Memory", "db", CLUSTER).sql
    assert memory.endswith("ENGINE = Memory")


def test_author_text_is_kept_verbatim() -> None:
    """sqlglot would rewrite if() to CASE and INTERVAL 30 DAY to INTERVAL '30' DAY; the renderer must not."""
    src = (
        "ALTER TABLE traces MODIFY TTL toDate(start_time) + INTERVAL 30 DAY, "
        "MODIFY COLUMN d Nullable(Float64) MATERIALIZED if(x > 1, 2., NULL)"
    )
    sql = render_statement(src, "db", Topology()).sql
    assert "INTERVAL 30 DAY" in sql and "if(x > 1, 2., NULL)" in sql


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("ALTER TABLE t ADD COLUMN c String", "ALTER TABLE `db`.`t` ADD COLUMN IF NOT EXISTS c String"),
        ("ALTER TABLE t DROP COLUMN c", "ALTER TABLE `db`.`t` DROP COLUMN IF EXISTS c"),
        ("ALTER TABLE t MODIFY COLUMN c UInt8", "ALTER TABLE `db`.`t` MODIFY COLUMN IF EXISTS c UInt8"),
        ("ALTER TABLE t RENAME COLUMN a TO b", "ALTER TABLE `db`.`t` RENAME COLUMN IF EXISTS a TO b"),
        ("ALTER TABLE t ADD INDEX i c TYPE minmax", "ALTER TABLE `db`.`t` ADD INDEX IF NOT EXISTS i c TYPE minmax"),
        ("ALTER TABLE t ADD COLUMN IF NOT EXISTS c String", "ALTER TABLE `db`.`t` ADD COLUMN IF NOT EXISTS c String"),
        ("DROP TABLE t", "DROP TABLE IF EXISTS `db`.`t`"),
        ("DROP TABLE IF EXISTS t;", "DROP TABLE IF EXISTS `db`.`t`"),
        ("TRUNCATE TABLE t", "TRUNCATE TABLE IF EXISTS `db`.`t`"),
        ("CREATE TABLE t (x UInt8) ENGINE = Log", "CREATE TABLE IF NOT EXISTS `db`.`t` (x UInt8) ENGINE = Log"),
    ],
)
def test_statements_are_made_idempotent(src: str, expected: str) -> None:
    assert render_statement(src, "db", Topology()).sql == expected


def test_drop_on_cluster_is_sync() -> None:
    assert render_statement("DROP TABLE t", "db", CLUSTER).sql == "DROP TABLE IF EXISTS `db`.`t` ON CLUSTER 'opik' SYNC"


@pytest.mark.parametrize(
    ("src", "destructive"),
    [
        ("DROP TABLE t", True),
        ("TRUNCATE TABLE t", True),
        ("ALTER TABLE t DROP COLUMN c", True),
        ("ALTER TABLE t DROP PARTITION 202401", True),
        ("ALTER TABLE t ADD COLUMN c String", False),
        ("CREATE TABLE t (x UInt8) ENGINE = Log", False),
    ],
)
def test_destructive_statements_are_marked(src: str, destructive: bool) -> None:
    assert render_statement(src, "db", Topology()).destructive is destructive


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("SELECT 1", "unsupported statement"),
        ("CREATE TABLE other.t (x UInt8) ENGINE = Log", "must not be qualified"),
        ("CREATE TABLE t ON CLUSTER c (x UInt8) ENGINE = Log", "without ON CLUSTER"),
        ("CREATE TABLE t (x UInt8) ENGINE = ReplicatedMergeTree ORDER BY x", "single-node engine"),
        ("CREATE TABLE t (x UInt8", "cannot parse"),
        ("DROP TABLE a; DROP TABLE b", "one statement"),
        ("", "empty statement"),
    ],
)
def test_bad_statements_are_refused(src: str, message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_statement(src, "db", CLUSTER)


def test_hostile_cluster_and_path_are_quoted(engine: EmbeddedAdapter) -> None:
    topo = Topology(cluster="c'); DROP TABLE x; --", replica_path="/p/{shard}/it's/{table}")
    sql = render_statement("CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x", "d`b", topo).sql
    formatted = str(engine.query("SELECT formatQuery({q:String})", {"q": sql}).scalar())
    # ClickHouse reads one database name, one cluster name and one path: nothing escapes its quotes
    assert formatted.startswith("CREATE TABLE IF NOT EXISTS `d\\`b`.t ON CLUSTER `c'); DROP TABLE x; --`\n")
    assert "ReplicatedMergeTree('/p/{shard}/it\\'s/{table}', '{replica}')" in formatted
