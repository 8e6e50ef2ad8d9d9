"""Retention classes enforced by TTL, on the embedded engine."""

from __future__ import annotations

import importlib.util
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from opik_store import ConfigError, Store
from opik_store.cli import main
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.maintenance.config_file import RetentionConfig, load_config, parse_config
from opik_store.resources import data_dir
from opik_store.schema.ddl import ddl

PROJECT = "0190c1f0-0000-7000-8000-000000000000"
CONFIG = """
[retention]
default_days = 400
[[retention.workspaces]]
workspace = "short-ws"
class = "short"
[[retention.workspaces]]
workspace = "forever-ws"
class = "unlimited"
"""


def uuid7(when: datetime, seed: int) -> str:
    """A UUIDv7 string whose timestamp is ``when``."""
    ms = int(when.timestamp() * 1000)
    rand = random.Random(seed).getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def insert_trace(engine: EmbeddedAdapter, database: str, trace_id: str, workspace: str, version: int = 0) -> None:
    engine.execute(
        f"INSERT INTO `{database}`.traces (id, workspace_id, project_id, name, input, last_updated_at) "
        "SELECT {id:String}, {w:String}, {p:String}, {n:String}, 'in', now64(6) + {v:UInt32}",
        {"id": trace_id, "w": workspace, "p": PROJECT, "n": f"v{version}", "v": version},
    )
    engine.execute(
        f"INSERT INTO `{database}`.spans (id, workspace_id, project_id, trace_id, name, input) "
        "SELECT {id:String}, {w:String}, {p:String}, {t:String}, 'span', 'in'",
        {"id": uuid7(datetime.now(UTC), hash(trace_id) & 0xFFFF), "w": workspace, "p": PROJECT, "t": trace_id},
    )


def establish(store: Store, wanted: RetentionConfig, since: date = date(2000, 1, 1)) -> None:
    """Rules as if applied long ago: every id dated from ``since`` takes them (apply only schedules ahead)."""
    retention = store.retention()
    for (workspace, project), days in wanted.desired().items():
        retention.add_rule(workspace, project, days, since, "test: established long ago")
    retention.refresh_lookup()


def classes(engine: EmbeddedAdapter, database: str, table: str = "traces") -> dict[str, int]:
    key = "id" if table == "traces" else "trace_id"
    rows = engine.query(f"SELECT {key}, retention_days FROM `{database}`.{table} FINAL").rows
    return {r[0]: int(r[1]) for r in rows}


@pytest.fixture
def migrated(engine_url: str, database: str, tmp_path: Path) -> tuple[Store, Path]:
    config = tmp_path / "opik-store.toml"
    config.write_text(CONFIG)
    store = Store.from_url(engine_url, database=database)
    store.migrate()
    return store, config


def test_plan_apply_then_new_rows_get_their_class(
    migrated: tuple[Store, Path], engine: EmbeddedAdapter, database: str
) -> None:
    store, config = migrated
    wanted = load_config(config).retention
    with store:
        plan = store.retention().plan(wanted)
        starts = datetime.now(UTC).date() + timedelta(days=2)
        assert [(c.workspace, c.current, c.days, c.effective_from) for c in plan.changes] == [
            ("", None, 400, starts), ("forever-ws", None, 0, starts), ("short-ws", None, 14, starts)
        ]  # fmt: skip
        assert plan.ttl_statements == [] and plan.stale_lookup == []  # migrate created the designed TTL
        store.retention().apply(plan)
        assert store.retention().plan(wanted).changes == [], "apply converges: a second plan is empty"
        assert store.retention().plan(wanted).stale_lookup == [], "the lookup holds the new rules"
    workspaces = ["short-ws", "forever-ws", "other-ws"]
    today = {w: uuid7(datetime.now(UTC), i) for i, w in enumerate(workspaces)}
    ahead = {w: uuid7(datetime.now(UTC) + timedelta(days=3), 10 + i) for i, w in enumerate(workspaces)}
    for workspace in workspaces:
        insert_trace(engine, database, today[workspace], workspace)
        insert_trace(engine, database, ahead[workspace], workspace)
    got, spans = classes(engine, database), classes(engine, database, "spans")
    # ids created before the rules take effect keep the safe class (0: kept); ids from then on take theirs
    assert [got[today[w]] for w in workspaces] == [0, 0, 0]
    assert [got[ahead[w]] for w in workspaces] == [14, 0, 400]
    assert [spans[ahead[w]] for w in workspaces] == [14, 0, 400]


def _ttl_drop_merges(engine: EmbeddedAdapter, database: str) -> list[tuple[str, str]]:
    engine.execute("SYSTEM FLUSH LOGS")
    return engine.query(
        "SELECT merge_reason, part_name FROM system.part_log WHERE database = {d:String} "
        "AND event_type = 'MergeParts' AND merge_reason IN ('TTLDropMerge', 'TTLDeleteMerge') ORDER BY event_time",
        {"d": database},
    ).rows


def test_expired_rows_disappear_by_whole_part_drops(
    migrated: tuple[Store, Path], engine: EmbeddedAdapter, database: str
) -> None:
    store, config = migrated
    with store:
        establish(store, load_config(config).retention)
    for table in ("traces", "spans"):
        engine.execute(f"SYSTEM STOP TTL MERGES `{database}`.{table}")
    rows = {
        "short-old": (uuid7(ago(30), 1), "short-ws"),
        "short-young": (uuid7(ago(2), 2), "short-ws"),
        "forever-ancient": (uuid7(ago(900), 3), "forever-ws"),
        "default-old": (uuid7(ago(30), 4), "other-ws"),
        "default-ancient": (uuid7(ago(500), 5), "other-ws"),
    }
    for trace_id, workspace in rows.values():
        insert_trace(engine, database, trace_id, workspace)
    with store:
        plan = store.retention().plan(load_config(config).retention)
        expired = {(p.table, p.partition_id) for p in plan.expired}
        assert {t for t, _ in expired} == {"traces", "spans"}
        assert {pid.split("-")[0] for _, pid in expired} == {"14", "400"}
        for part in plan.expired:  # reported per table, class and week, with rows and bytes
            assert part.rows == 1 and part.bytes_on_disk > 0 and part.expires_at is not None
            assert part.week.weekday() == 0
            assert part.expires_at.date() == part.week + timedelta(days=6 + part.retention_days)
            assert part.ttl_max is not None and part.ttl_max <= part.expires_at, "the server's TTL agrees"
        # the TTL path: merges drop whole parts (traces); --expire-now drops partitions at once (spans)
        engine.execute(f"SYSTEM START TTL MERGES `{database}`.traces")
        engine.execute(f"OPTIMIZE TABLE `{database}`.traces FINAL")
        spans_only = type(plan)(
            plan.changes, [], [], [p for p in plan.expiring if p.table == "spans"], plan.now, plan.timezone
        )
        done = store.retention().apply(spans_only, expire_now=True)
        assert sum("DROP PARTITION ID" in d for d in done) == 2
    survivors = {"short-young", "forever-ancient", "default-old"}
    assert set(classes(engine, database)) == {rows[k][0] for k in survivors}
    assert set(classes(engine, database, "spans")) == {rows[k][0] for k in survivors}
    merges = _ttl_drop_merges(engine, database)
    assert merges and all(reason == "TTLDropMerge" for reason, _ in merges), merges  # no row rewrites


def test_backfill_moves_past_rows_to_the_new_class_and_keeps_versions_together(
    migrated: tuple[Store, Path], engine: EmbeddedAdapter, database: str, tmp_path: Path
) -> None:
    store, config = migrated
    with store:
        establish(store, RetentionConfig(default_days=400))
    old, young = uuid7(ago(40), 11), uuid7(ago(3), 12)
    for trace_id in (old, young):
        insert_trace(engine, database, trace_id, "move-ws")
    assert classes(engine, database) == {old: 400, young: 400}
    with store:
        store.retention().apply(store.retention().plan(load_config(config).retention))
        parse = parse_config({"retention": {"workspaces": [{"workspace": "move-ws", "days": 30}]}})
        store.retention().apply(store.retention().plan(parse.retention))
        assert classes(engine, database) == {old: 400, young: 400}, "a class change leaves past rows alone"
        dry = store.retention().backfill("move-ws", dry_run=True)
        assert sorted((p.table, p.rows) for p in dry.partitions) == [
            ("spans", 1),
            ("spans", 1),
            ("traces", 1),
            ("traces", 1),
        ]
        assert classes(engine, database) == {old: 400, young: 400}, "a dry run changes nothing"
        for table in ("traces", "spans"):
            engine.execute(f"SYSTEM STOP TTL MERGES `{database}`.{table}")
        first = store.retention().backfill("move-ws", max_partitions=1)
        assert len(first.partitions) == 1 and first.remaining == len(dry.partitions) - 1
        while store.retention().backfill("move-ws").partitions:
            pass
    assert classes(engine, database) == {old: 30, young: 30}
    assert classes(engine, database, "spans") == {old: 30, young: 30}
    for table in ("traces", "spans"):  # the 40-day-old row is past its new 30-day class
        engine.execute(f"SYSTEM START TTL MERGES `{database}`.{table}")
        engine.execute(f"OPTIMIZE TABLE `{database}`.{table} FINAL")
    assert classes(engine, database) == {young: 30}
    insert_trace(engine, database, young, "move-ws", version=5)  # an update after the move
    versions = engine.query(
        f"SELECT name, retention_days, _partition_id FROM `{database}`.traces FINAL WHERE id = {{i:String}}",
        {"i": young},
    ).rows
    assert len(versions) == 1 and versions[0][0] == "v5" and versions[0][1] == 30, versions


def test_cli_plan_apply_dry_run_and_json(migrated: tuple[Store, Path], engine_url: str, database: str) -> None:
    store, config = migrated
    store.close()
    base = ["--url", engine_url, "--database", database, "retention"]
    dry = CliRunner().invoke(main, [*base, "apply", "--config", str(config), "--dry-run"])
    assert dry.exit_code == 0 and "rules to add" in dry.output and "short-ws" in dry.output
    plan = json.loads(CliRunner().invoke(main, [*base, "plan", "--config", str(config), "--json"]).stdout)
    assert len(plan["changes"]) == 3, "a dry run changes nothing"
    done = CliRunner().invoke(main, [*base, "apply", "--config", str(config)])
    assert done.exit_code == 0 and "lookup: refreshed 3 key(s)" in done.output, done.output
    again = CliRunner().invoke(main, [*base, "apply", "--config", str(config)])
    assert "nothing to do" in again.output
    backfill = CliRunner().invoke(main, [*base, "backfill", "--workspace", "nobody"])
    assert backfill.exit_code == 2 and "no retention rule for the workspace 'nobody'" in backfill.output


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"retention": {"default_days": -1}}, "default_days must not be negative"),
        ({"retention": {"default_days": "400"}}, "default_days must be a whole number"),
        ({"retention": {"defualt_days": 400}}, "unknown key"),
        ({"retention": {"workspaces": [{"workspace": "a", "class": "nope"}]}}, "unknown class 'nope'"),
        ({"retention": {"workspaces": [{"workspace": "a", "class": "short", "days": 3}]}}, "exactly one of"),
        ({"retention": {"workspaces": [{"workspace": "a", "days": 3}, {"workspace": "a", "days": 4}]}}, "duplicate"),
        ({"retention": {"projects": [{"workspace": "a", "days": 10001, "project": "p"}]}}, "at most 10000"),
        ({"system_tables": {"keep_days": 0}}, "at least 1"),
        ({"jobs": {"apply-retention": {"schedule": "every day"}}}, "not a 5-field cron"),
        ({"jobs": {"apply-retention": {"schedule": "61 * * * *"}}}, "not a valid cron"),
        ({"jobs": {"vacuum": {}}}, "unknown job"),
    ],
)
def test_bad_configuration_is_refused_naming_entry_and_key(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(doc, "prod.toml")
    assert str(info.value).startswith("prod.toml: ")


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[retention\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(path)


def test_apply_restores_a_drifted_ttl_without_rewriting_parts(
    migrated: tuple[Store, Path], engine: EmbeddedAdapter, database: str
) -> None:
    store, _ = migrated
    engine.execute(f"ALTER TABLE `{database}`.spans MODIFY TTL toDate(start_time) + INTERVAL 3 DAY")
    engine.execute(f"ALTER TABLE `{database}`.traces MODIFY SETTING ttl_only_drop_parts = 0")

    def mutations() -> int:
        return int(
            engine.query("SELECT count() FROM system.mutations WHERE database = {d:String}", {"d": database}).scalar()
        )

    before = mutations()  # the drift above was made with the default (materializing) setting
    with store:
        plan = store.retention().plan(RetentionConfig())
        assert any("spans` MODIFY TTL if(retention_days = 0" in s for s in plan.ttl_statements), plan.ttl_statements
        assert any("MODIFY SETTING ttl_only_drop_parts = 1" in s for s in plan.ttl_statements)
        store.retention().apply(plan)
        assert store.retention().plan(RetentionConfig()).ttl_statements == []
        assert store.check() == [], "the live schema is back to head"
    assert mutations() == before, "materialize_ttl_after_modify = 0: the TTL fix queued no rewrite"


def test_project_uuids_in_rules_are_lowercased_like_opik_ids() -> None:
    doc = {
        "retention": {"projects": [{"workspace": "a", "project": "0190C1F0-0000-7000-8000-00000000ABCD", "days": 14}]}
    }
    assert parse_config(doc).retention.rules == {("a", "0190c1f0-0000-7000-8000-00000000abcd"): 14}


def _class_expressions(database: str) -> tuple[str, str]:
    """(revision 0001's class expression, ddl/'s), their lookup qualified with ``database``."""
    source = data_dir("migrations") / "versions" / "0003_cheaper_retention_class.py"
    spec = importlib.util.spec_from_file_location("revision_0003", source)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = ddl("traces").split("retention_days              UInt16 MATERIALIZED ", 1)[1].split(",\n    INDEX", 1)[0]
    assert current == module.CLASS, "ddl/traces.sql holds revision 0003's class expression"
    lookup = f"'{database}.retention'"
    return module.PREVIOUS_CLASS.replace("'retention'", lookup), current.replace("'retention'", lookup)


def test_the_class_expression_gives_revision_0001s_classes_for_every_case(
    store: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """0003's single arrayLast over the three keys' histories gives the nested fallback's class: no rule, project,
    workspace and default rules, histories of several days (one re-issued), rules from before 1970 (the lookup
    stores them from 1970-01-02), undated rows (1970-01-01 -> 0), every rule's day and the days around it."""
    store.migrate()
    retention = store.retention()
    p1, p2, p3, p4 = (f"0190c1f0-0000-7000-8000-00000000000{i}" for i in range(1, 5))
    rules = [
        ("", "", 45, date(1965, 3, 1)), ("", "", 30, date(1969, 6, 1)), ("", "", 400, date(2010, 1, 1)),
        ("", "", 0, date(2030, 6, 15)),
        ("ws-a", "", 14, date(2005, 1, 1)), ("ws-a", "", 60, date(2020, 1, 1)), ("ws-a", "", 0, date(2025, 5, 5)),
        ("ws-a", p1, 7, date(2015, 1, 1)), ("ws-a", p1, 90, date(2022, 2, 2)),
        ("ws-b", p2, 3, date(2012, 12, 12)),
        ("ws-c", "", 1000, date(1950, 1, 1)), ("ws-c", "", 10, date(1970, 1, 1)),
        ("", p3, 5, date(2001, 1, 1)),
        ("ws-a", "", 61, date(2020, 1, 1)),  # re-issued: the newer wins
    ]  # fmt: skip
    for workspace, project, class_days, since in rules:
        retention.add_rule(workspace, project, class_days, since, "test: equivalence")
    retention.refresh_lookup()
    assert retention.stale_lookup() == []
    old, new = _class_expressions(database)
    engine.execute(
        f"CREATE TABLE `{database}`.classes (workspace_id String, project_id FixedString(36), retention_at Date32, "
        f"old UInt16 MATERIALIZED {old}, new UInt16 MATERIALIZED {new}) ENGINE = MergeTree ORDER BY workspace_id"
    )
    on_days = {date(1970, 1, 1), date(2000, 1, 1), date(2000, 1, 2), date(2069, 12, 31)}
    on_days |= {d + timedelta(days=k) for *_, d in rules for k in (-1, 0, 1) if d.year >= 2000}
    engine.execute(
        f"INSERT INTO `{database}`.classes (workspace_id, project_id, retention_at) "
        "SELECT arrayJoin({w:Array(String)}), arrayJoin({p:Array(String)}), toDate32(arrayJoin({d:Array(String)}))",
        {"w": ["", "ws-a", "ws-b", "ws-c", "ws-z"], "p": ["", p1, p2, p3, p4], "d": [str(d) for d in sorted(on_days)]},
    )
    rows = engine.query(f"SELECT workspace_id, project_id, retention_at, old, new FROM `{database}`.classes").rows
    assert len(rows) == 5 * 5 * len(on_days)
    assert [r for r in rows if r[3] != r[4]] == []
    got = {(str(w), str(p).rstrip("\x00"), str(d)): int(n) for w, p, d, _, n in rows}
    assert {v for (_, _, d), v in got.items() if d == "1970-01-01"} == {0}, "undated rows are kept"
    assert got[("ws-a", p1, "2015-01-01")] == 7 and got[("ws-a", p1, "2014-12-31")] == 14  # project, then workspace
    assert got[("ws-a", p2, "2020-01-02")] == 61 and got[("ws-a", "", "2025-05-05")] == 0
    assert got[("ws-b", p2, "2012-12-11")] == 400 and got[("ws-b", "", "2012-12-12")] == 400  # the default
    assert got[("ws-b", p2, "2012-12-12")] == 3 and got[("ws-z", p4, "2030-06-15")] == 0
    assert got[("ws-c", "", "2000-01-01")] == 10 and got[("", p3, "2000-01-01")] == 30
