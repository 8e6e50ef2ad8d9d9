"""Retention's hard invariants, each on the real engine.

* No row is removed before its class's time, for any id, day or server
  timezone; none is removed more than 7 days (and the job's cadence) late.
* Ingestion never reads anything of retention: no rules, no rules table, no
  ``retention`` lookup, a running expiry: every INSERT succeeds.
* The class never depends on per-node state: a node that never saw a rule
  (new replica, restart, restore) expires exactly what the rules say, and all
  versions of a row share one class and one partition, and collapse.
* A week is dropped whole only when every row it can ever receive is due.
* ``backfill`` counts the rows a new class makes due at once and refuses
  without ``yes``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from test_retention import establish, uuid7

from opik_store import ServerError, Store
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.errors import DataLossError
from opik_store.maintenance.config_file import MAX_DAYS, RetentionConfig
from opik_store.maintenance.retention import GroupExpiry, Retention

PROJECT = "0190c1f0-0000-7000-8000-000000000000"


def at(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def v7_at_ms(ms: int, seed: int) -> str:
    """A UUIDv7 whose 48-bit time field is ``ms`` (any value, also past year 2299)."""
    rand = (seed * 0x9E3779B97F4A7C15) & ((1 << 74) - 1)
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def insert(engine: EmbeddedAdapter, database: str, trace_id: str, workspace: str = "ws", version: int = 0) -> None:
    """One trace version and one span (the span's own id has the trace's time) of ``workspace``."""
    engine.execute(
        f"INSERT INTO `{database}`.traces (id, workspace_id, project_id, name, last_updated_at) "
        "SELECT {id:String}, {w:String}, {p:String}, {n:String}, now64(6) + {v:UInt32}",
        {"id": trace_id, "w": workspace, "p": PROJECT, "n": f"v{version}", "v": version},
    )
    engine.execute(
        f"INSERT INTO `{database}`.spans (id, workspace_id, project_id, trace_id, name, last_updated_at) "
        "SELECT {s:String}, {w:String}, {p:String}, {id:String}, {n:String}, now64(6) + {v:UInt32}",
        {"s": span_of(trace_id), "id": trace_id, "w": workspace, "p": PROJECT, "n": f"v{version}", "v": version},
    )


def span_of(trace_id: str) -> str:
    """A span id with the same time field as ``trace_id`` (its last hex digit changed)."""
    return trace_id[:-1] + ("0" if trace_id[-1] != "0" else "1")


def surviving(engine: EmbeddedAdapter, database: str, table: str = "traces") -> set[str]:
    key = "id" if table == "traces" else "trace_id"
    return {str(r[0]) for r in engine.query(f"SELECT {key} FROM `{database}`.{table}").rows}


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@pytest.fixture
def migrated(migrated_store: Store) -> Store:
    return migrated_store


# -- no row removed before its time -----------------------------------------------------------

ODD_IDS = {
    "v7 now": uuid7(datetime.now(UTC), 2),
    "v7 next year": uuid7(datetime.now(UTC) + timedelta(days=365), 3),
    "v7 2069-12-31": uuid7(at(2069, 12, 31), 4),
    "v7 2070 (undated)": uuid7(at(2070), 5),
    "v7 2199": uuid7(at(2199, 6, 1), 6),
    "v7 2201": uuid7(at(2201, 3, 1), 7),
    "v7 2299-12-31": uuid7(at(2299, 12, 31), 8),
    "v7 beyond 2299": v7_at_ms(15_000_000_000_000, 9),
    "v7 largest time": v7_at_ms((1 << 48) - 1, 10),
    "v7 1999": uuid7(at(1999, 6, 1), 11),
    "v7 1970": uuid7(at(1970, 1, 5), 12),
    "v4": str(uuid.UUID(int=0x1234_5678_9ABC_4DEF_8123_4567_89AB_CDEF)),
    "nil": "00000000-0000-0000-0000-000000000000",
}


def test_ids_without_a_usable_time_and_far_dates_are_never_removed(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """With a 1-day default in effect since 1970, only the dated, due id goes; every odd id is kept."""
    establish(migrated, RetentionConfig(default_days=1), since=date(1970, 1, 1))
    old = uuid7(datetime.now(UTC) - timedelta(days=30), 1)
    for trace_id in [*ODD_IDS.values(), old]:
        insert(engine, database, trace_id)
    plan = migrated.retention().plan(RetentionConfig(default_days=1), horizon_days=0)
    assert plan.undated_rows["traces"] >= 5, plan.undated_rows  # 1970 / 1999 / non-v7 / 2070 on
    migrated.retention().expire_now()
    assert surviving(engine, database) == set(ODD_IDS.values())
    assert surviving(engine, database, "spans") == set(ODD_IDS.values())


def test_a_malformed_id_is_refused_at_insert_as_opik_refuses_it(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """id_at is Opik's ``UUIDv7ToDateTime(toUUID(id))``: a text that is no UUID fails the INSERT (the batch writer
    refuses it first and hands it back) and nothing of that INSERT is stored."""
    with pytest.raises(ServerError, match="UUID"):
        insert(engine, database, "not-a-uuid-at-all-but-36-characters!")
    assert surviving(engine, database) == set()


@pytest.mark.parametrize("days", [1, 7, 14, 30])
def test_no_id_is_removed_before_its_class_time_nor_over_7_days_late(
    migrated: Store, engine: EmbeddedAdapter, database: str, days: int
) -> None:
    """Ids every 5 hours over the last 60 days: after the expiry each removed id is at least ``days`` x 24 h
    old, and each kept dated id is less than ``days`` + 7 days (+ 1, the job's daily cadence) old."""
    establish(migrated, RetentionConfig(default_days=days))
    now = datetime.now(UTC)
    ids = {uuid7(now - timedelta(hours=5 * k), k): now - timedelta(hours=5 * k) for k in range(0, 60 * 24 // 5)}
    engine.execute(
        f"INSERT INTO `{database}`.traces (id, workspace_id, project_id) "
        "SELECT arrayJoin({ids:Array(String)}), 'ws', {p:String}",
        {"ids": list(ids), "p": PROJECT},
    )
    done = migrated.retention().expire_now()
    assert done, "something was due"
    left = surviving(engine, database)
    removed = set(ids) - left
    assert removed, "something was removed"
    checked = datetime.now(UTC)
    assert all(checked - ids[i] >= timedelta(days=days) for i in removed), "removed before its time"
    late = [checked - ids[i] for i in left if checked - ids[i] >= timedelta(days=days)]
    assert all(age < timedelta(days=days + 8) for age in late), max(late)


def test_the_boundary_week_goes_on_its_day_and_not_the_day_before(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """A (class, week) group is due from 00:00 UTC of Monday + 7 + class: the week that reaches it today goes,
    the next week (due in 7 days) stays, also its Monday 00:00:00 id, the oldest of it."""
    establish(migrated, RetentionConfig(default_days=14))
    today = datetime.now(UTC).date()
    due_week = today - timedelta(days=21)  # Monday + 21 = today when today is a Monday; later Mondays otherwise
    due_week = monday(due_week)
    kept_week = due_week + timedelta(days=7)
    sunday_last = datetime(*(due_week + timedelta(days=6)).timetuple()[:3], 23, 59, 59, 999000, tzinfo=UTC)
    monday_first = datetime(*kept_week.timetuple()[:3], tzinfo=UTC)
    gone, kept = uuid7(sunday_last, 1), uuid7(monday_first, 2)
    insert(engine, database, gone)
    insert(engine, database, kept)
    group = GroupExpiry("traces", due_week.strftime("%Y%m%d"), due_week, 14, 1)
    assert group.due_on is not None and group.due_on <= today < group.due_on + timedelta(days=7)
    migrated.retention().expire_now()
    assert surviving(engine, database) == {kept}
    assert surviving(engine, database, "spans") == {kept}


def test_largest_accepted_class_never_wraps(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    establish(migrated, RetentionConfig(default_days=MAX_DAYS), since=date(1970, 1, 1))
    for k, when in enumerate([at(2001, 1, 1), at(2069, 12, 31), datetime.now(UTC) - timedelta(days=400)]):
        insert(engine, database, uuid7(when, k))
    assert migrated.retention().expire_now() == []
    assert len(surviving(engine, database)) == 3


TIMEZONE_SCRIPT = """
import json, sys
from datetime import UTC, date, datetime, timedelta
sys.path.insert(0, sys.argv[2])
from test_retention import uuid7
from opik_store import ServerError, Store
with Store.from_url(f"chdb:{sys.argv[1]}", database="tz") as store:
    store.migrate()
    store.retention().add_rule("", "", 14, date(2000, 1, 1), "test")
    now = datetime.fromisoformat(sys.argv[3])
    ids = [uuid7(now - timedelta(hours=3 * k), k) for k in range(0, 40 * 8)]
    store.adapter.execute(
        "INSERT INTO tz.traces (id, workspace_id, project_id) SELECT arrayJoin({ids:Array(String)}), 'w', 'p'",
        {"ids": ids},
    )
    _, zone = store.retention().server_clock()
    store.retention().expire_now()
    left = sorted(str(r[0]) for r in store.adapter.query("SELECT id FROM tz.traces").rows)
    print(json.dumps({"timezone": zone, "left": left}))
"""


def test_expiry_is_the_same_whatever_the_server_timezone(tmp_path: Path) -> None:
    """chdb takes the server timezone from TZ: the same rows on servers at UTC-10, UTC and UTC+14."""
    script = tmp_path / "tz.py"
    script.write_text(TIMEZONE_SCRIPT)
    results = {}
    now = datetime.now(UTC).isoformat()  # the same ids on every server
    for zone in ("Pacific/Honolulu", "UTC", "Pacific/Kiritimati"):
        env = {**os.environ, "TZ": zone}
        out = subprocess.run(
            [sys.executable, str(script), str(tmp_path / zone.replace("/", "_")), str(Path(__file__).parent), now],
            env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        results[zone] = json.loads(out.stdout.strip().splitlines()[-1])
    assert results["Pacific/Honolulu"]["timezone"] == "Pacific/Honolulu"
    assert results["Pacific/Kiritimati"]["timezone"] == "Pacific/Kiritimati"
    assert 0 < len(results["UTC"]["left"]) < 320
    for zone, got in results.items():
        assert got["left"] == results["UTC"]["left"], f"{zone}: the same rows are due at the same UTC moment"


# -- ingestion never depends on the retention machinery ---------------------------------------


def test_inserts_need_no_rules_no_rules_table_and_no_lookup(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    insert(engine, database, uuid7(datetime.now(UTC), 1))  # no rule at all
    engine.execute(f"DETACH TABLE `{database}`.retention")  # the old per-node lookup: nothing reads it
    insert(engine, database, uuid7(datetime.now(UTC), 2))
    engine.execute(f"DROP TABLE `{database}`.retention_rules")  # even the rules: the INSERT never reads them
    insert(engine, database, uuid7(datetime.now(UTC), 3))
    assert len(surviving(engine, database)) == 3
    with pytest.raises(Exception, match="retention_rules"):
        migrated.retention().expire_now()  # the job says what is missing; it removes nothing
    assert len(surviving(engine, database)) == 3


def test_inserts_never_fail_while_the_expiry_runs(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    establish(migrated, RetentionConfig(default_days=3))
    for k in range(40):
        insert(engine, database, uuid7(datetime.now(UTC) - timedelta(days=10 + k % 20), 100 + k))
    errors: list[BaseException] = []
    written: list[str] = []

    def writer() -> None:
        for k in range(60):
            trace_id = uuid7(datetime.now(UTC), 1000 + k)
            try:
                insert(engine, database, trace_id)
                written.append(trace_id)
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    for _ in range(3):
        migrated.retention().expire_now()
    thread.join()
    assert errors == [] and len(written) == 60
    assert set(written) <= surviving(engine, database), "no new row was touched by the expiry"


GRANTS_SCRIPT = """
import json, sys
from datetime import date
from pathlib import Path
import chdb
from opik_store import Store
from opik_store.access.model import effective_grants, grant_target, load_access

root = Path(sys.argv[1])
with Store.from_url(f"chdb:{root / 'data'}", database="g") as store:  # the migration user: full rights
    store.migrate()
    store.retention().add_rule("", "", 14, date(2000, 1, 1), "test")
grants = effective_grants(load_access(None).roles["opik_ingest"].grants)
queries = "".join(f"<query>GRANT {p} ON {t}</query>" for p, t in (grant_target(g, "g") for g in grants))
(root / "users.xml").write_text(
    "<clickhouse><users><default><password></password><networks><ip>::/0</ip></networks>"
    f"<profile>default</profile><quota>default</quota><grants>{queries}</grants></default></users>"
    "<profiles><default/></profiles><quotas><default/></quotas></clickhouse>"
)
(root / "config.xml").write_text(f"<clickhouse><users_config>{root / 'users.xml'}</users_config></clickhouse>")
conn = chdb.connect(f"file:{root / 'data'}?config-file={root / 'config.xml'}")  # the ingest user
out = {"grants": list(grants)}
for table, sql in (
    ("traces", "INSERT INTO g.traces (id, workspace_id, project_id) VALUES "
               "('019ace00-0000-7000-8000-000000000000', 'w', 'p')"),
    ("spans", "INSERT INTO g.spans (id, workspace_id, project_id, trace_id) VALUES "
              "('019ace00-0000-7000-8000-000000000001', 'w', 'p', '019ace00-0000-7000-8000-000000000000')"),
):
    try:
        conn.query(sql)
        out[table] = "ok"
    except Exception as exc:
        out[table] = str(exc).splitlines()[0][:200]
print(json.dumps(out))
"""


def test_the_shipped_ingest_role_inserts_with_insert_alone(tmp_path: Path) -> None:
    """chdb enforces users.xml grants: the ingest role's grants are INSERT only, and both tables take rows."""
    script = tmp_path / "grants.py"
    script.write_text(GRANTS_SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=180,
                         cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["grants"] == ["INSERT"]
    assert (got["traces"], got["spans"]) == ("ok", "ok"), got


# -- the class never depends on per-node state ----------------------------------------------------


SETUP_SCRIPT = """
import json, sys
from datetime import UTC, date, datetime, timedelta
sys.path.insert(0, sys.argv[2])
from test_retention import uuid7
from opik_store import ServerError, Store
with Store.from_url(f"chdb:{sys.argv[1]}", database="n") as store:
    store.migrate()
    ids = {
        "old": [uuid7(datetime.now(UTC) - timedelta(days=40), k) for k in range(5)],
        "young": [uuid7(datetime.now(UTC) - timedelta(days=1), 10 + k) for k in range(5)],
        "other": [uuid7(datetime.now(UTC) - timedelta(days=40), 20 + k) for k in range(5)],
    }
    for kind, workspace in (("old", "short"), ("young", "short"), ("other", "long")):
        store.adapter.execute(
            "INSERT INTO n.traces (id, workspace_id, project_id) SELECT arrayJoin({i:Array(String)}), {w:String}, 'p'",
            {"i": ids[kind], "w": workspace},
        )
    for workspace, days in (("", 400), ("short", 14)):  # the rules come after every row was written
        store.retention().add_rule(workspace, "", days, date(2000, 1, 1), "test")
    print(json.dumps(ids))
"""
NODE_SCRIPT = """
import json, sys
from opik_store import ServerError, Store
with Store.from_url(f"chdb:{sys.argv[1]}", database="n") as store:
    done = store.retention().expire_now()
    left = sorted(str(r[0]) for r in store.adapter.query("SELECT id FROM n.traces").rows)
    print(json.dumps({"done": done, "left": left}))
"""


def test_a_node_that_never_saw_a_rule_expires_exactly_what_the_rules_say(tmp_path: Path) -> None:
    """Rows written before any rule existed, then rules added, then the expiry run by a new process (a new or
    restarted node, a restored copy): it removes exactly the due rows. No row was classed at insert."""
    path = str(tmp_path / "node")
    here = str(Path(__file__).parent)
    out = subprocess.run([sys.executable, "-c", SETUP_SCRIPT, path, here], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    ids = json.loads(out.stdout.strip().splitlines()[-1])
    out = subprocess.run([sys.executable, "-c", NODE_SCRIPT, path], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert any(line.startswith("delete traces") for line in got["done"]), got["done"]
    assert got["left"] == sorted(ids["young"] + ids["other"])


def test_versions_share_one_class_and_collapse_when_a_rule_changes_between_them(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    trace_id = uuid7(datetime.now(UTC), 1)
    insert(engine, database, trace_id, "ws", version=0)
    retention = migrated.retention()
    retention.apply(retention.plan(RetentionConfig(default_days=30, rules={("ws", ""): 14})))
    insert(engine, database, trace_id, "ws", version=5)
    parts = engine.query(f"SELECT DISTINCT _partition_id FROM `{database}`.traces").rows
    assert len(parts) == 1, "every version of an id lands in its id's week"
    engine.execute(f"OPTIMIZE TABLE `{database}`.traces FINAL")
    assert engine.query(f"SELECT name FROM `{database}`.traces").rows == [("v5",)]


# -- whole-week drops ----------------------------------------------------------------------------


def _events(engine: EmbeddedAdapter, database: str) -> list[str]:
    engine.execute("SYSTEM FLUSH LOGS")
    rows = engine.query(
        "SELECT event_type FROM system.part_log WHERE database = {d:String} AND table = 'traces' "
        "AND event_type IN ('MutatePart', 'RemovePart') ORDER BY event_time_microseconds",
        {"d": database},
    ).rows
    return [str(r[0]) for r in rows]


def test_a_week_past_every_class_is_dropped_whole_and_nothing_is_rewritten(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    establish(migrated, RetentionConfig(default_days=30, rules={("short", ""): 7}))
    week = monday(datetime.now(UTC).date() - timedelta(days=60))
    for k in range(6):
        insert(engine, database, uuid7(at(week.year, week.month, week.day) + timedelta(days=k % 7), k),
               "short" if k % 2 else "other")  # fmt: skip
    done = migrated.retention().expire_now()
    assert [d.split(" (")[0] for d in done] == [f"drop traces week {week}", f"drop spans week {week}"], done
    assert surviving(engine, database) == set()
    assert "MutatePart" not in _events(engine, database)


def test_an_unlimited_class_keeps_its_rows_and_blocks_the_whole_week_drop(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """A week holding rows of a 7-day class beside an unlimited one: the 7-day rows go by DELETE, the
    unlimited ones stay, the week is never dropped; the deleted rows are reclaimed once."""
    establish(migrated, RetentionConfig(default_days=0, rules={("short", ""): 7}))
    base = datetime.now(UTC) - timedelta(days=60)
    short = [uuid7(base + timedelta(hours=k), k) for k in range(5)]
    forever = [uuid7(base + timedelta(hours=k), 50 + k) for k in range(5)]
    for trace_id in short:
        insert(engine, database, trace_id, "short")
    for trace_id in forever:
        insert(engine, database, trace_id, "forever")
    done = migrated.retention().expire_now()
    assert not any(d.startswith("drop") for d in done), done
    assert any(d.startswith("delete traces") for d in done) and any(d.startswith("reclaim traces") for d in done)
    assert surviving(engine, database) == set(forever)
    masked = engine.query(
        "SELECT sum(has_lightweight_delete) FROM system.parts WHERE database = {d:String} AND active",
        {"d": database},
    ).scalar()
    assert int(masked) == 0, "the reclaim applied the deleted-rows mask"
    assert migrated.retention().expire_now() == [], "a second run finds nothing due"


def test_traces_linked_to_experiments_are_kept_as_opik_keeps_them(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """Opik's retention DELETEs exclude trace ids in experiment_items; so does the store's expiry, and a week
    holding such a trace is expired group by group instead of dropped whole."""
    establish(migrated, RetentionConfig(default_days=7))
    base = datetime.now(UTC) - timedelta(days=60)
    linked, plain = uuid7(base, 1), uuid7(base + timedelta(hours=1), 2)
    insert(engine, database, linked)
    insert(engine, database, plain)
    engine.execute(
        f"CREATE TABLE `{database}`.experiment_items (id FixedString(36), workspace_id String, "
        "experiment_id FixedString(36), trace_id FixedString(36)) ENGINE = MergeTree ORDER BY id"
    )
    engine.execute(
        f"INSERT INTO `{database}`.experiment_items (id, workspace_id, experiment_id, trace_id) "
        "SELECT {i:String}, 'ws', {i:String}, {t:String}",
        {"i": uuid7(datetime.now(UTC), 3), "t": linked},
    )
    done = migrated.retention().expire_now()
    assert not any(d.startswith("drop") for d in done), done
    assert surviving(engine, database) == {linked} and surviving(engine, database, "spans") == {linked}
    assert migrated.retention().expire_now() == [], "kept rows are never due: no DELETE or reclaim again"
    assert migrated.retention().plan(RetentionConfig(default_days=7), horizon_days=0).expired == []


# -- backfill ------------------------------------------------------------------------------------


def test_backfill_counts_rows_due_at_once_and_refuses_without_yes(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    establish(migrated, RetentionConfig(default_days=400))
    retention = migrated.retention()
    old = [uuid7(datetime.now(UTC) - timedelta(days=40), k) for k in range(4)]
    for trace_id in old:
        insert(engine, database, trace_id, "acme")
    other = uuid7(datetime.now(UTC) - timedelta(days=40), 99)
    insert(engine, database, other, "other")
    retention.apply(retention.plan(RetentionConfig(default_days=400, rules={("acme", ""): 14})))
    rules_before = engine.query(f"SELECT count() FROM `{database}`.retention_rules").scalar()
    dry = retention.backfill("acme", dry_run=True)
    assert dry.due_now == {f"traces acme/{PROJECT}": 4, f"spans acme/{PROJECT}": 4}
    with pytest.raises(DataLossError, match="8 row"):
        retention.backfill("acme")
    assert engine.query(f"SELECT count() FROM `{database}`.retention_rules").scalar() == rules_before
    assert retention.expire_now() == [] and len(surviving(engine, database)) == 5, "nothing changed"
    report = retention.backfill("acme", yes=True)
    assert report.rules_added >= 1
    retention.expire_now()
    assert surviving(engine, database) == {other}, "acme's past rows went; the other workspace's stayed"


def test_an_old_plan_never_brings_a_rule_inside_the_margin(migrated: Store) -> None:
    """A plan printed yesterday (or edited) and applied today still takes effect two UTC days ahead."""
    retention: Retention = migrated.retention()
    plan = retention.plan(RetentionConfig(default_days=14))
    plan.changes[0] = type(plan.changes[0])("", "", None, 14, date(2001, 1, 1))
    retention.apply(plan)
    starts = migrated.adapter.query(f"SELECT effective_from FROM `{migrated.config.database}`.retention_rules").rows
    assert [str(r[0]) for r in starts] == [str(datetime.now(UTC).date() + timedelta(days=2))]
