"""Retention's hard invariants, each on the real engine.

* No row is removed before its class's time, for any id and any class the
  validator accepts, on a server in any timezone.
* Ingestion never fails or waits because of the retention machinery.
* All versions of a row collapse, also when a rule changes between them,
  when a node's lookup is stale, and when the client's clock is ahead.
* ``--expire-now`` agrees with the TTL to the partition.

Each of these failed on the previous design (a dictionary keyed by the id's
UUIDv7 time, rules effective at once, a Date TTL in the server's timezone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_retention import establish, uuid7

from opik_store import ConfigError, ServerError, Store
from opik_store.cli import main
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.maintenance.config_file import MAX_DAYS, RetentionConfig, parse_config
from opik_store.maintenance.retention import UNDATED

PROJECT = "0190c1f0-0000-7000-8000-000000000000"


def at(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def v7_at_ms(ms: int, seed: int) -> str:
    """A UUIDv7 whose 48-bit time field is ``ms`` (any value, also past year 2299)."""
    rand = (seed * 0x9E3779B97F4A7C15) & ((1 << 74) - 1)
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def insert(engine: EmbeddedAdapter, database: str, trace_id: str, workspace: str = "ws", version: int = 0) -> None:
    engine.execute(
        f"INSERT INTO `{database}`.traces (id, workspace_id, project_id, name, last_updated_at) "
        "SELECT {id:String}, {w:String}, {p:String}, {n:String}, now64(6) + {v:UInt32}",
        {"id": trace_id, "w": workspace, "p": PROJECT, "n": f"v{version}", "v": version},
    )
    engine.execute(
        f"INSERT INTO `{database}`.spans (id, workspace_id, project_id, trace_id, name, last_updated_at) "
        "SELECT {s:String}, {w:String}, {p:String}, {id:String}, {n:String}, now64(6) + {v:UInt32}",
        {"s": uuid7(datetime.now(UTC), hash(trace_id) & 0xFFFF), "id": trace_id, "w": workspace, "p": PROJECT,
         "n": f"v{version}", "v": version},
    )  # fmt: skip


def surviving(engine: EmbeddedAdapter, database: str, table: str = "traces") -> set[str]:
    key = "id" if table == "traces" else "trace_id"
    return {str(r[0]) for r in engine.query(f"SELECT {key} FROM `{database}`.{table}").rows}


def settle(engine: EmbeddedAdapter, database: str) -> None:
    """Let every TTL and merge run now."""
    for table in ("traces", "spans"):
        engine.execute(f"SYSTEM START TTL MERGES `{database}`.{table}")
        engine.execute(f"OPTIMIZE TABLE `{database}`.{table} FINAL")


@pytest.fixture
def migrated(store: Store) -> Store:
    store.migrate()
    return store


# -- no row removed before its time -----------------------------------------------------------

ODD_IDS = {
    "v7 10 days old": uuid7(datetime.now(UTC) - timedelta(days=10), 1),
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
    "v4": str(uuid.UUID(int=0x1234_5678_9ABC_4DEF_8123_4567_89AB_CDEF)),
    "nil": "00000000-0000-0000-0000-000000000000",
    "malformed": "not-a-uuid-at-all-but-36-characters!",
}
EXPIRED = {"v7 40 days old": uuid7(datetime.now(UTC) - timedelta(days=40), 12)}


def test_no_id_is_dropped_before_its_class_time(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    establish(migrated, RetentionConfig(default_days=14))
    for trace_id in [*ODD_IDS.values(), *EXPIRED.values()]:
        insert(engine, database, trace_id)
    dated = {ODD_IDS[k] for k in ("v7 10 days old", "v7 now", "v7 next year", "v7 2069-12-31")}
    undated = set(ODD_IDS.values()) - dated
    rows = engine.query(f"SELECT id, retention_at, retention_days FROM `{database}`.traces").rows
    for trace_id, retention_at, days in rows:
        if trace_id in undated:
            assert (str(retention_at), days) == (UNDATED.isoformat(), 0), f"{trace_id}: no usable time: kept"
        else:
            assert days == 14 and str(retention_at) != UNDATED.isoformat(), trace_id
    settle(engine, database)
    for table in ("traces", "spans"):
        assert surviving(engine, database, table) == set(ODD_IDS.values()), f"{table}: only the 40-day-old row goes"
    plan = migrated.retention().plan(RetentionConfig(default_days=14))
    assert plan.undated_rows == {"traces": len(undated), "spans": len(undated)}, "plan counts the undated rows"


def test_largest_accepted_class_never_wraps(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    with pytest.raises(ConfigError, match=f"at most {MAX_DAYS}"):
        parse_config({"retention": {"default_days": MAX_DAYS + 1}})
    establish(migrated, parse_config({"retention": {"default_days": MAX_DAYS}}).retention)
    latest = uuid7(at(2069, 12, 31), 1)
    old = uuid7(at(2000, 1, 2), 2)  # the oldest usable time: expires in 2027
    for trace_id in (latest, old):
        insert(engine, database, trace_id)
    ttl = engine.query(
        "SELECT min(delete_ttl_info_min), max(delete_ttl_info_max) FROM system.parts "
        "WHERE database = {d:String} AND table = 'traces' AND active",
        {"d": database},
    ).rows[0]
    assert ttl[0] > datetime.now(UTC) and ttl[1].year == 2097, f"TTL bookkeeping holds the far expiry: {ttl}"
    settle(engine, database)
    assert surviving(engine, database) == {latest, old}


TIMEZONE_SCRIPT = """
import json, sys
from datetime import UTC, datetime, timedelta
from opik_store import Store
from opik_store.maintenance.config_file import RetentionConfig
sys.path.insert(0, sys.argv[2])
from test_retention import establish, uuid7

with Store.from_url(f"chdb:{sys.argv[1]}", database="tz") as store:
    store.migrate()
    establish(store, RetentionConfig(default_days=14))
    day = datetime.now(UTC).date() - timedelta(days=10)  # expires in 4 days: nothing is dropped meanwhile
    ids = [uuid7(datetime(day.year, day.month, day.day, h, tzinfo=UTC), h) for h in (0, 13, 23)]
    for i in ids:
        sql = "INSERT INTO tz.traces (id, workspace_id, project_id) SELECT {i:String}, 'w', 'p'"
        store.adapter.execute(sql, {"i": i})
    ttl = store.adapter.query(
        "SELECT toUnixTimestamp(if(retention_days = 0, toDateTime('2105-12-31 00:00:00', 'UTC'), "
        "toDateTime(retention_at + retention_days, 'UTC'))) FROM tz.traces ORDER BY id").rows
    plan = store.retention().plan(RetentionConfig(default_days=14), horizon_days=30)
    print(json.dumps({"timezone": plan.timezone, "ttl": [r[0] for r in ttl],
                      "expires_at": [p.expires_at.isoformat() for p in plan.expiring if p.expires_at]}))
"""


def test_expiry_is_the_same_utc_moment_whatever_the_server_timezone(tmp_path: Path) -> None:
    """chdb takes the server timezone from TZ: run the same rows on servers at UTC-10, UTC and UTC+14."""
    script = tmp_path / "tz.py"
    script.write_text(TIMEZONE_SCRIPT)
    results = {}
    for zone in ("Pacific/Honolulu", "UTC", "Pacific/Kiritimati"):
        env = {**os.environ, "TZ": zone}
        out = subprocess.run(
            [sys.executable, str(script), str(tmp_path / zone.replace("/", "_")), str(Path(__file__).parent)],
            env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        results[zone] = json.loads(out.stdout.strip().splitlines()[-1])
    assert results["Pacific/Honolulu"]["timezone"] == "Pacific/Honolulu"
    assert results["Pacific/Kiritimati"]["timezone"] == "Pacific/Kiritimati"
    day = datetime.now(UTC).date() - timedelta(days=10) + timedelta(days=14)
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    for zone, got in results.items():
        assert got["ttl"] == [midnight] * 3, f"{zone}: every row of that UTC day expires at its UTC midnight + 14 d"
        assert got["expires_at"] == results["UTC"]["expires_at"], f"{zone}: plan reports the same moments"


# -- ingestion never depends on the retention machinery ---------------------------------------


def test_inserts_work_with_no_rules_and_without_the_rules_table(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    fresh = uuid7(datetime.now(UTC), 1)
    insert(engine, database, fresh)  # no rule at all: the safe class
    assert engine.query(f"SELECT retention_days FROM `{database}`.traces").scalar() == 0
    establish(migrated, RetentionConfig(default_days=30))
    engine.execute(f"DROP TABLE `{database}`.retention_rules")  # rules unreadable: the lookup holds what it had
    later = uuid7(datetime.now(UTC), 2)
    insert(engine, database, later)
    got = dict(engine.query(f"SELECT id, retention_days FROM `{database}`.traces").rows)
    assert got == {fresh: 0, later: 30}
    with pytest.raises(ServerError) as info:  # the lookup cannot be dropped from under the tables
        engine.execute(f"DROP TABLE `{database}`.retention")
    assert info.value.code == 630, info.value


def test_inserts_never_fail_while_the_lookup_is_refreshed(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    establish(migrated, RetentionConfig(default_days=30))
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            n = 0
            while not done.is_set() and n < 400:
                insert(engine, database, uuid7(datetime.now(UTC), n), workspace=f"w{n % 7}")
                n += 1
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for i in range(40):
            migrated.retention().add_rule(f"w{i % 7}", "", 14 + i, date(2000, 1, 1), "test: churn")
            migrated.retention().refresh_lookup()
    finally:
        done.set()
        thread.join(60)
    assert not errors, errors
    assert int(engine.query(f"SELECT count() FROM `{database}`.traces").scalar()) > 0


# -- every version of a row collapses -----------------------------------------------------------


def versions(engine: EmbeddedAdapter, database: str, trace_id: str) -> list[tuple[str, int, str]]:
    return [
        (str(n), int(d), str(p))
        for n, d, p in engine.query(
            f"SELECT name, retention_days, _partition_id FROM `{database}`.traces WHERE id = {{i:String}}",
            {"i": trace_id},
        ).rows
    ]


@pytest.mark.parametrize("clock_ahead", [timedelta(0), timedelta(hours=20)])
def test_versions_collapse_when_a_rule_changes_between_them(
    migrated: Store, engine: EmbeddedAdapter, database: str, clock_ahead: timedelta
) -> None:
    establish(migrated, RetentionConfig(default_days=400))
    trace_id = uuid7(datetime.now(UTC) + clock_ahead, 1)  # a client whose clock runs ahead mints this id
    insert(engine, database, trace_id, version=0)
    retention = migrated.retention()
    retention.apply(retention.plan(RetentionConfig(default_days=14)))  # the class changes between two versions
    insert(engine, database, trace_id, version=1)
    before = versions(engine, database, trace_id)
    assert len({(d, p) for _, d, p in before}) == 1, f"one class, one partition: {before}"
    settle(engine, database)
    assert [n for n, _, _ in versions(engine, database, trace_id)] == ["v1"], "the versions collapsed"


def test_versions_collapse_when_the_lookup_is_stale(migrated: Store, engine: EmbeddedAdapter, database: str) -> None:
    establish(migrated, RetentionConfig(default_days=400))
    retention = migrated.retention()
    effective = datetime.now(UTC).date() + timedelta(days=2)
    retention.add_rule("", "", 14, effective, "test: written, lookup not yet refreshed")  # a node minutes behind
    trace_id = uuid7(datetime.now(UTC), 7)
    insert(engine, database, trace_id, version=0)
    assert retention.stale_lookup() == [("", "")], "plan shows the stale key"
    retention.refresh_lookup()
    insert(engine, database, trace_id, version=1)
    settle(engine, database)
    assert [n for n, _, _ in versions(engine, database, trace_id)] == ["v1"]


# -- --expire-now agrees with the TTL -------------------------------------------------------------


def test_expire_now_drops_only_what_the_ttl_has_expired(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    establish(migrated, RetentionConfig(default_days=14))
    for table in ("traces", "spans"):
        engine.execute(f"SYSTEM STOP TTL MERGES `{database}`.{table}")
    now = datetime.now(UTC)
    ids = {age: uuid7(now - timedelta(days=age), age) for age in (50, 35, 21, 15, 14, 13, 1)}
    for trace_id in ids.values():
        insert(engine, database, trace_id)
    ttl = (
        "if(retention_days = 0, toDateTime('2105-12-31 00:00:00', 'UTC'), "
        "toDateTime(retention_at + retention_days, 'UTC'))"
    )
    plan = migrated.retention().plan(RetentionConfig(default_days=14))
    dropped = {(p.table, p.partition_id) for p in plan.expired}
    assert dropped, "some weeks are wholly past their class"
    for table, pid in dropped:
        early = engine.query(
            f"SELECT count() FROM `{database}`.{table} WHERE _partition_id = {{p:String}} AND {ttl} > now()",
            {"p": pid},
        ).scalar()
        assert early == 0, f"{table} {pid}: expire-now would drop a row the TTL keeps"
    migrated.retention().expire_now()
    for table in ("traces", "spans"):
        left = {str(r[0]) for r in engine.query(f"SELECT DISTINCT _partition_id FROM `{database}`.{table}").rows}
        assert not any((table, pid) in dropped for pid in left), "every planned partition was dropped"
    assert ids[1] in surviving(engine, database) and ids[13] in surviving(engine, database)
    assert ids[50] not in surviving(engine, database)


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
    store.retention().refresh_lookup()
grants = effective_grants(load_access(None).roles["opik_ingest"].grants) if sys.argv[2] == "shipped" else ("INSERT",)
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


@pytest.mark.parametrize("grants", ["shipped", "insert-only"])
def test_the_shipped_ingest_role_can_insert(tmp_path: Path, grants: str) -> None:
    """chdb enforces users.xml grants: the ingest role's own grants are enough to write (INSERT alone is not)."""
    script = tmp_path / "grants.py"
    script.write_text(GRANTS_SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path), grants], capture_output=True, text=True, timeout=180, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if grants == "shipped":
        assert got["grants"] == ["INSERT", "SELECT ON retention"]
        assert (got["traces"], got["spans"]) == ("ok", "ok"), got
    else:  # the control: this is what every INSERT hits without the lookup grant
        assert "Not enough privileges" in got["traces"] and "retention" in got["traces"], got


def test_an_old_plan_never_brings_a_rule_inside_the_margin(migrated: Store, engine: EmbeddedAdapter) -> None:
    """A plan printed yesterday (or edited) and applied today still takes effect two UTC days ahead."""
    retention = migrated.retention()
    plan = retention.plan(RetentionConfig(default_days=30))
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    plan.changes = [replace(c, effective_from=yesterday) for c in plan.changes]
    retention.apply(plan)
    written = engine.query(f"SELECT min(effective_from) FROM `{migrated.config.database}`.retention_rules").scalar()
    assert str(written) == (datetime.now(UTC).date() + timedelta(days=2)).isoformat()


def test_backfill_of_the_default_moves_only_rule_less_dated_rows_and_ends(
    migrated: Store, engine: EmbeddedAdapter, database: str, engine_url: str
) -> None:
    retention = migrated.retention()
    retention.add_rule("ws-own", "", 14, date(2000, 1, 1), "test: a workspace with its own rule")
    retention.refresh_lookup()
    rows = {
        "plain old": uuid7(datetime.now(UTC) - timedelta(days=40), 1),
        "plain young": uuid7(datetime.now(UTC) - timedelta(days=3), 2),
        "plain undated": str(uuid.UUID(int=0x1234_5678_9ABC_4DEF_8123_4567_89AB_CDEF)),
        "own": uuid7(datetime.now(UTC) - timedelta(days=3), 3),
    }
    for name, trace_id in rows.items():
        insert(engine, database, trace_id, workspace="ws-own" if name == "own" else "ws-plain")
    retention.apply(retention.plan(RetentionConfig(default_days=400)))  # the default exists from now on...
    runs = 0
    while retention.backfill("", "", max_partitions=1).partitions:  # ...and is applied to the past
        runs += 1
        assert runs < 20, "a backfill that never ends (rows it can never fix, like undated ones)"
    got = dict(engine.query(f"SELECT id, retention_days FROM `{database}`.traces FINAL").rows)
    assert got == {rows["plain old"]: 400, rows["plain young"]: 400, rows["plain undated"]: 0, rows["own"]: 14}
    cli = CliRunner().invoke(main, ["--url", engine_url, "--database", database,
                                    "retention", "backfill", "--default", "--workspace", "x"])  # fmt: skip
    assert cli.exit_code == 2 and "name exactly one key" in cli.output


def test_backfill_never_deletes_undated_rows_or_rows_it_did_not_copy(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """Review finding: undated rows (class 0) used to be copied into their own partition and then deleted with it."""
    rows = {
        "v4": str(uuid.UUID(int=0x1234_5678_9ABC_4DEF_8123_4567_89AB_CDEF)),
        "nil": "00000000-0000-0000-0000-000000000000",
        "young": uuid7(datetime.now(UTC) - timedelta(days=1), 1),
    }
    for trace_id in rows.values():
        insert(engine, database, trace_id, workspace="acme")
    retention = migrated.retention()
    retention.apply(retention.plan(parse_config({"retention": {"workspaces": [{"workspace": "acme", "days": 14}]}})
                                   .retention))  # fmt: skip
    dry = retention.backfill("acme", dry_run=True)
    assert all(not p.partition_id.endswith("19700101") for p in dry.partitions), dry.partitions
    for _ in range(5):
        if not retention.backfill("acme").partitions:
            break
    got = dict(engine.query(f"SELECT id, retention_days FROM `{database}`.traces FINAL").rows)
    assert got == {rows["v4"]: 0, rows["nil"]: 0, rows["young"]: 14}
    spans = {str(r[0]) for r in engine.query(f"SELECT trace_id FROM `{database}`.spans FINAL").rows}
    assert spans == set(rows.values())


def test_default_backfill_covers_projects_of_workspaces_with_only_project_rules(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    retention = migrated.retention()
    retention.add_rule("ws", PROJECT, 60, date(2000, 1, 1), "test: only a project rule")
    retention.refresh_lookup()
    other_project = "0190c1f0-0000-7000-8000-0000000000ff"
    ruled, unruled = uuid7(datetime.now(UTC) - timedelta(days=5), 1), uuid7(datetime.now(UTC) - timedelta(days=5), 2)
    insert(engine, database, ruled, workspace="ws")
    engine.execute(
        f"INSERT INTO `{database}`.traces (id, workspace_id, project_id, name) "
        "SELECT {i:String}, 'ws', {p:String}, 'x'",
        {"i": unruled, "p": other_project},
    )
    retention.apply(retention.plan(RetentionConfig(default_days=400, rules={("ws", PROJECT): 60})))
    while retention.backfill("", "").partitions:
        pass
    got = dict(engine.query(f"SELECT id, retention_days FROM `{database}`.traces FINAL").rows)
    assert got == {ruled: 60, unruled: 400}, "the workspace's other projects follow the default"
