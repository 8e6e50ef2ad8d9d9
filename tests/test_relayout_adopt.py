"""Adoption on the real engine: both of Opik's layouts, with data, writes during the copy, kills, rollback.

Named to run after test_health.py: its slow-query assertion reads the shared engine's query_log over the
last 15 minutes, and these tests leave slow statements there (synchronous lightweight deletes, waits on an
EXCHANGE)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adopt_fixtures import _TYPES, Writer, assert_matches, create_layout, has_deleted, read_back, uuid7
from opik_history import create_at

from opik_store.adopt import PREREQUISITES, AdoptionRefused
from opik_store.config import Topology
from opik_store.engine.connect import open_adapter
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.errors import DataLossError
from opik_store.migrations.relayout import Limits, Totals, Window
from opik_store.schema.ddl import ddl
from opik_store.schema.render import render_statement
from opik_store.store import Store


class Killed(Exception):
    """Injected after a window: the run stops there, as a killed process would."""


@pytest.fixture
def opik(engine_url: str, database: str) -> Iterator[Store]:
    with Store.from_url(engine_url, database=database) as s:
        yield s


def _other_table(engine: EmbeddedAdapter, db: str) -> list[tuple[object, ...]]:
    return engine.query(f"SELECT * FROM `{db}`.feedback_scores").rows


@pytest.mark.parametrize("layout", ["original"])
def test_adopt_a_quiet_database_then_finish(engine: EmbeddedAdapter, opik: Store, database: str, layout: str) -> None:
    create_layout(engine, database, layout)
    writer = Writer(engine, database, layout)
    writer.seed_rows(300)
    before = {t: read_back(engine, database, t) for t in ("traces", "spans")}
    adoption = opik.adoption(Limits(window_rows=120))
    plan = adoption.plan()
    assert plan.layout == layout and plan.state == "not started"
    assert plan.rows >= 300 + 600 and len(plan.tables[0].windows) >= 4  # merges may collapse versions
    assert "feedback_scores" not in plan.creates
    adoption.run()
    assert adoption.plan().state == "traces: swapped; spans: swapped"
    assert all(c.ok for checks in adoption.verify().values() for c in checks)
    assert_matches(engine, database, writer)
    with pytest.raises(DataLossError):
        adoption.finish(yes=False)
    assert engine.query(f"EXISTS TABLE `{database}`.traces_opik_store_backup").scalar() == 1
    adoption.finish(yes=True)
    assert opik.check() == []
    status = opik.status()
    assert not status.pending and status.applied
    assert {t: read_back(engine, database, t) for t in ("traces", "spans")} == before
    assert engine.query(f"EXISTS TABLE `{database}`.traces_opik_store_backup").scalar() == 0
    assert _other_table(engine, database) == [("x", 1.5)]
    assert adoption.plan().layout == "store"


def test_opiks_tables_after_its_cutover_are_adopted_in_place(
    engine: EmbeddedAdapter, opik: Store, engine_url: str, database: str
) -> None:
    """Opik's own newest tables (after its cutover) are the store's since revision 0004: adoption copies no row.
    It creates the store's tables it lacks, sets the store's deduplication window, and records the ledger."""
    from click.testing import CliRunner

    from opik_store.adopt import IN_PLACE
    from opik_store.cli import main

    create_layout(engine, database, "successor")
    writer = Writer(engine, database, "successor")
    writer.seed_rows(80)
    before = {t: read_back(engine, database, t) for t in ("traces", "spans")}
    uuids = {t: engine.query(f"SELECT uuid FROM system.tables WHERE database = '{database}' AND name = '{t}'").scalar()
             for t in ("traces", "spans")}  # fmt: skip
    base = ["--url", engine_url, "--database", database]
    plan = CliRunner().invoke(main, [*base, "adopt", "plan", "--json"])
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert doc["layout"] == IN_PLACE and doc["rows"] == 0, doc
    adoption = opik.adoption()
    assert adoption.run().layout == "store"
    assert opik.check() == [] and not opik.status().pending
    assert {t: read_back(engine, database, t) for t in ("traces", "spans")} == before
    after = {t: engine.query(f"SELECT uuid FROM system.tables WHERE database = '{database}' AND name = '{t}'").scalar()
             for t in ("traces", "spans")}  # fmt: skip
    assert after == uuids, "the same tables: nothing was copied or swapped"
    assert_matches(engine, database, writer)
    assert _other_table(engine, database) == [("x", 1.5)]
    again = CliRunner().invoke(main, [*base, "adopt", "plan"])
    assert again.exit_code == 0 and "nothing to do" in again.stdout, again.output


def _writer_thread(writer: Writer) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=writer.run_until, args=(stop, 0.03), daemon=True)
    thread.start()
    return thread, stop


@pytest.mark.parametrize(("layout", "end"), [("original", "rollback"), ("original", "finish")])
def test_adopt_under_writes_and_kills(
    engine_url: str, engine: EmbeddedAdapter, opik: Store, database: str, layout: str, end: str
) -> None:
    """A writer inserts, updates and deletes the whole time; the copy is killed after random windows and resumed;
    after the swap the writer goes on (into the new layout); finish or rollback; every row is as last written.
    The tables are those of an Opik install today that has not run its cutover (tests/opik_history.py)."""
    create_at(engine, database, "000105")
    seed = Writer(engine, database, layout, seed=zlib.crc32(f"{layout}-{end}".encode()) % 1000)
    seed.seed_rows(400)
    writes = open_adapter(opik.config.connection)
    writer = Writer(writes, database, layout, seed=seed.seed + 1, expected=seed.expected, clock=seed.clock)
    rng = random.Random(seed.seed)
    kills = {"left": 3}

    def maybe_kill(window: Window, totals: Totals) -> None:
        if kills["left"] and rng.random() < 0.35:
            kills["left"] -= 1
            raise Killed(f"killed after {window.describe()}")

    step_kills = {("traces", "exchanged"), ("spans", "renamed")}

    def kill_at_step(table: str, step: str) -> None:
        if (table, step) in step_kills:
            step_kills.discard((table, step))
            raise Killed(f"killed after {table} {step}")

    thread, stop = _writer_thread(writer)
    try:
        limits = Limits(window_rows=150, sync_passes=3)
        adoption = opik.adoption(limits, after_window=maybe_kill, after_step=kill_at_step)
        for _attempt in range(10):
            try:
                adoption.run()
                break
            except Killed:
                continue
        assert adoption.plan().state == "traces: swapped; spans: swapped"
        assert not step_kills, "a planned kill did not happen"
        writes_at_swap = writer.writes
        deadline = time.monotonic() + 30
        while writer.writes < writes_at_swap + 40 and time.monotonic() < deadline:
            time.sleep(0.05)  # the writer goes on, now into the new layout
    finally:
        stop.set()
        thread.join()
    assert writer.writes > writes_at_swap, "the writer made no write after the swap: the test proves nothing"
    checks = adoption.verify()
    assert all(c.ok for cs in checks.values() for c in cs), checks
    assert_matches(engine, database, writer)
    if end == "finish":
        adoption.finish(yes=True)
        assert opik.check() == []
    else:
        step_kills.add(("spans", "exchanged"))  # the rollback is killed once too, right after its EXCHANGE back
        with pytest.raises(Killed):
            adoption.rollback()
        adoption.rollback()
        for table in ("traces", "spans"):
            assert has_deleted(engine, database, table) == (layout == "successor")  # the original is back
    assert_matches(engine, database, writer)
    assert _other_table(engine, database) == [("x", 1.5)]
    writes.close()


def _tables(engine: EmbeddedAdapter, db: str) -> set[str]:
    rows = engine.query("SELECT name FROM system.tables WHERE database = {d:String}", {"d": db}).rows
    return {str(r[0]) for r in rows}


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("ALTER TABLE `{db}`.traces DROP COLUMN name", "lacks column(s) name"),
        ("ALTER TABLE `{db}`.spans ADD COLUMN secret String", "no column(s) secret"),
        ("CREATE TABLE `{db}`.retention (x UInt8) ENGINE = Memory", "already exist: retention"),
        ("DROP TABLE `{db}`.spans", "spans does not exist"),
        ("ALTER TABLE `{db}`.traces ADD COLUMN is_deleted UInt8", "traces and spans are in different layouts"),
    ],
)
def test_refuses_what_it_does_not_recognise(
    engine: EmbeddedAdapter, opik: Store, database: str, damage: str, reason: str
) -> None:
    create_layout(engine, database, "original")
    Writer(engine, database, "original").seed_rows(20)
    engine.execute(damage.format(db=database))
    before = _tables(engine, database)
    counts = {t: engine.query(f"SELECT count() FROM `{database}`.`{t}`").scalar() for t in before}
    adoption = opik.adoption(Limits(window_rows=10))
    for action in (adoption.plan, adoption.run):
        with pytest.raises(AdoptionRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
            action()
    assert _tables(engine, database) == before
    assert {t: engine.query(f"SELECT count() FROM `{database}`.`{t}`").scalar() for t in before} == counts


def test_cli_plan_run_finish_and_refusal(engine_url: str, engine: EmbeddedAdapter, database: str) -> None:
    """The CLI over the same API: plan as JSON, run, finish refused without --yes (exit 2, nothing dropped)."""
    from click.testing import CliRunner

    from opik_store.cli import main

    create_layout(engine, database, "original")
    writer = Writer(engine, database, "original")
    writer.seed_rows(60)
    base = ["--url", engine_url, "--database", database]
    plan = CliRunner().invoke(main, [*base, "adopt", "plan", "--window-rows", "50", "--json"])
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.stdout)
    assert doc["layout"] == "original" and doc["rows"] > 0 and doc["tables"][0]["new_table"] == "traces_opik_store_new"
    dry = CliRunner().invoke(main, [*base, "adopt", "run", "--dry-run", "--window-rows", "50"])
    assert dry.exit_code == 0 and "traces_opik_store_new" not in _tables(engine, database), dry.output
    run = CliRunner().invoke(main, [*base, "adopt", "run", "--window-rows", "50"])
    assert run.exit_code == 0, run.output
    assert "rows/s, ETA" in run.stderr
    verify = CliRunner().invoke(main, [*base, "adopt", "verify"])
    assert verify.exit_code == 0 and "DIFFERS" not in verify.stdout, verify.output
    refused = CliRunner().invoke(main, [*base, "adopt", "finish"])
    assert refused.exit_code == 2 and "--yes" in refused.stderr, refused.output
    assert "traces_opik_store_backup" in _tables(engine, database)
    done = CliRunner().invoke(main, [*base, "adopt", "finish", "--yes"])
    assert done.exit_code == 0, done.output
    check = CliRunner().invoke(main, [*base, "check"])
    assert check.exit_code == 0, check.output
    assert "traces_opik_store_backup" not in _tables(engine, database)
    assert_matches(engine, database, writer)
    again = CliRunner().invoke(main, [*base, "adopt", "plan"])
    assert again.exit_code == 0 and "nothing to do" in again.stdout, again.output


def test_verify_catches_a_changed_row_and_finish_refuses(engine: EmbeddedAdapter, opik: Store, database: str) -> None:
    """Not vacuous: one row of the new table altered in place (same version, other content) fails verification,
    and finish refuses, dropping nothing."""
    create_layout(engine, database, "original")
    Writer(engine, database, "original").seed_rows(40)
    adoption = opik.adoption(Limits(window_rows=30))
    adoption.run()
    assert all(c.ok for cs in adoption.verify().values() for c in cs)
    victim = engine.query(f"SELECT id FROM `{database}`.traces WHERE substring(id, 15, 1) = '7' LIMIT 1").scalar()
    engine.execute(
        f"ALTER TABLE `{database}`.traces UPDATE name = 'tampered' WHERE id = {{i:String}}",
        {"i": victim},
        settings={"mutations_sync": "2"},
    )
    bad = [c for c in adoption.verify()["traces"] if not c.ok]
    assert len(bad) == 1 and bad[0].stale == 1, bad
    with pytest.raises(AdoptionRefused, match="verification failed"):
        adoption.finish(yes=True)
    assert engine.query(f"EXISTS TABLE `{database}`.traces_opik_store_backup").scalar() == 1
    assert not opik.status().applied


def test_a_run_killed_with_sigkill_resumes(tmp_path: Path) -> None:
    """A real kill: the adopting process gets SIGKILL after a random number of windows; a new process resumes
    (taking over the dead holder's lock) and the result holds every row as written."""
    script = Path(__file__).with_name("adopt_process.py")
    env = {**os.environ, "PYTHONPATH": str(script.parent)}
    subprocess.run([sys.executable, str(script), str(tmp_path), "seed"], env=env, check=True, timeout=300)
    windows_before_kill = random.Random(11).randint(2, 8)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), "run"], env=env, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        seen += line.startswith("window ")
        if seen >= windows_before_kill:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before the kill: the test proves nothing"
    assert not (tmp_path / "actual.json").exists()
    subprocess.run([sys.executable, str(script), str(tmp_path), "run"], env=env, check=True, timeout=600,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    expected = json.loads((tmp_path / "expected.json").read_text())
    actual = json.loads((tmp_path / "actual.json").read_text())
    assert actual["bad"] == 0
    assert actual["rows"] == expected


@pytest.mark.parametrize("end", ["finish", "rollback"])
def test_writes_in_flight_at_the_exchange(engine_url: str, engine: EmbeddedAdapter, opik: Store, database: str,
                                          end: str) -> None:  # fmt: skip
    """An INSERT and a DELETE that reached the outgoing table just before an EXCHANGE and finish after it (the
    EXCHANGE does not wait for them): the INSERT's row is in the live table and the DELETE's row stays deleted,
    forward and on the way back."""
    create_layout(engine, database, "original")
    writer = Writer(engine, database, "original", seed=3)
    writer.seed_rows(120)
    slow = [open_adapter(opik.config.connection) for _ in range(2)]  # a connection runs one query at a time
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []

    def run(fn: Any) -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    def in_flight(table: str, step: str) -> None:
        if (table, step) != ("traces", "exchanging"):
            return
        live = [k[1] for k, v in writer.expected.items() if v is not None and k[0] == "traces"]
        victim, row = live[len(threads)], writer._trace(uuid7(int(time.time() * 1000), writer.rng), "in flight")
        cols = list(row)
        structure = ", ".join(f"{c} {_TYPES[c]}" for c in cols)
        insert = (f"INSERT INTO `{database}`.traces ({', '.join(cols)}) SELECT {', '.join(cols)} "
                  "FROM format(JSONEachRow, {s:String}, {p:String}) WHERE sleep(1.5) = 0")  # fmt: skip
        delete = f"DELETE FROM `{database}`.traces WHERE sleep(0.2) = 0 AND id = {{i:String}}"
        for job in (
            lambda: slow[0].execute(insert, {"s": structure, "p": json.dumps(row)}),
            lambda: slow[1].execute(delete, {"i": victim}, settings={"lightweight_deletes_sync": "2"}),
        ):
            threads.append(threading.Thread(target=run, args=(job,)))
            threads[-1].start()
        seen: set[str] = set()
        deadline = time.monotonic() + 10
        while not seen >= {"Insert", "Delete"}:  # both have resolved the table's name before the EXCHANGE
            assert time.monotonic() < deadline, ("the slow writes never started", errors)
            kinds = opik.adapter.query(
                "SELECT query_kind FROM system.processes WHERE position(query, {d:String}) > 0", {"d": database}
            ).rows
            seen |= {str(k[0]) for k in kinds}
            time.sleep(0.005)
        writer.expected[("traces", row["id"])] = row
        writer.expected[("traces", victim)] = None

    adoption = opik.adoption(Limits(window_rows=100), after_step=in_flight)
    adoption.run()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(threads) == 2, "the writes were not sent at the EXCHANGE: the test proves nothing"
    assert_matches(engine, database, writer)
    if end == "rollback":
        adoption.rollback()  # the same two writes are sent again at the EXCHANGE back
        for t in threads:
            t.join()
        assert not errors and len(threads) == 4, errors
    else:
        adoption.finish(yes=True)
    assert_matches(engine, database, writer)
    for conn in slow:
        conn.close()


def test_a_delete_racing_the_copy_of_a_gap_write_stays_a_delete(
    engine_url: str, engine: EmbeddedAdapter, opik: Store, database: str
) -> None:
    """An update that reached the outgoing table just before the EXCHANGE is copied after it (a gap write). A
    DELETE of that id sent to the live table after the catch-up waited for deletes, but before the copy and
    running only after it, covers only the parts it saw: the copied older version outlived the delete (seen in
    CI: a deleted trace live again). The run deletes such copied versions again."""
    create_layout(engine, database, "original")
    writer = Writer(engine, database, "original", seed=5)
    writer.seed_rows(120)
    victim = next(k[1] for k, v in writer.expected.items() if v is not None and k[0] == "traces")
    deleter = open_adapter(opik.config.connection)
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []

    def delete() -> None:
        try:
            deleter.execute(f"DELETE FROM `{database}`.traces WHERE id = {{i:String}}", {"i": victim},
                            settings={"lightweight_deletes_sync": "2"})  # fmt: skip
        except BaseException as exc:
            errors.append(exc)

    def hook(table: str, step: str) -> None:
        if table != "traces":
            return
        if step == "exchanging":  # an update of the victim that only the outgoing table gets
            writer._insert("traces", [writer._trace(victim, "updated at the exchange")])
        if step == "copying_gap_writes":  # the DELETE is created now, and runs only once the copy is done
            engine.execute(f"SYSTEM STOP MERGES `{database}`.traces")
            threads.append(threading.Thread(target=delete))
            threads[-1].start()
            deadline = time.monotonic() + 10
            while not engine.query(
                "SELECT count() FROM system.mutations WHERE database = {d:String} AND table = 'traces' AND NOT is_done",
                {"d": database},
            ).scalar():  # fmt: skip
                assert time.monotonic() < deadline, ("the DELETE never registered", errors)
                time.sleep(0.01)
            threading.Timer(1.0, lambda: engine.execute(f"SYSTEM START MERGES `{database}`.traces")).start()

    adoption = opik.adoption(Limits(window_rows=100), after_step=hook)
    adoption.run()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(threads) == 1, "the DELETE was not sent while the gap write was copied: the test proves nothing"
    writer.expected[("traces", victim)] = None
    assert_matches(engine, database, writer)
    deleter.close()


@pytest.mark.parametrize("layout", ["original", "successor"])
def test_quick_window_check_only_passes_identical_versions(
    engine: EmbeddedAdapter, opik: Store, database: str, layout: str
) -> None:
    """The copy's cheap check (every version's count and hash sum, no grouping) passes a faithful copy and
    gives way to the full check when one version of the new table differs; the full check then fails."""
    create_layout(engine, database, layout)
    Writer(engine, database, layout).seed_rows(60)
    for name in PREREQUISITES:  # the lookup the new table's CREATE reads, as ``run`` creates it
        engine.execute(render_statement(ddl(name), database, Topology()).sql)
    relayout = opik.adoption(Limits(window_rows=1000)).relayout("traces")
    st = relayout.prepare()
    window = st.windows[0]
    relayout._copy_window(window)
    quick = relayout._same_versions(window)
    assert quick is not None and quick.ok and quick.source_rows == quick.target_rows > 0
    where, params = window.predicate("id")
    victim = engine.query(f"SELECT id FROM `{database}`.traces_opik_store_new WHERE {where} LIMIT 1", params).scalar()
    engine.execute(
        f"ALTER TABLE `{database}`.traces_opik_store_new UPDATE name = 'tampered' WHERE id = {{i:String}}",
        {"i": victim},
        settings={"mutations_sync": "2"},
    )
    assert relayout._same_versions(window) is None
    assert not relayout.verify_window(window).ok


def test_rollback_refuses_values_the_original_cannot_hold(engine: EmbeddedAdapter, opik: Store, database: str) -> None:
    """A span written after the swap with a usage count beyond Int32 (Opik's original type): rollback would
    wrap it, so it is refused and nothing changes; once the value is gone, rollback runs."""
    create_layout(engine, database, "original")
    writer = Writer(engine, database, "original", seed=2)
    writer.seed_rows(30)
    adoption = opik.adoption(Limits(window_rows=1000))
    adoption.run()
    big = writer._span(uuid7(int(time.time() * 1000), writer.rng), uuid7(int(time.time() * 1000), writer.rng), "big")
    big["usage"] = {"tokens": 3_000_000_000}
    _TYPES_BIG = {**_TYPES, "usage": "Map(String, Int64)"}
    cols = list(big)
    engine.execute(
        f"INSERT INTO `{database}`.spans ({', '.join(cols)}) SELECT {', '.join(cols)} "
        "FROM format(JSONEachRow, {s:String}, {p:String})",
        {"s": ", ".join(f"{c} {_TYPES_BIG[c]}" for c in cols), "p": json.dumps(big)},
    )
    with pytest.raises(AdoptionRefused, match=r"spans\.usage in 1 rows"):
        adoption.rollback()
    assert adoption.plan().state == "traces: swapped; spans: swapped"
    assert has_deleted(engine, database, "traces") and has_deleted(engine, database, "spans")
    engine.execute(f"DELETE FROM `{database}`.spans WHERE id = {{i:String}}", {"i": big["id"]})
    adoption.rollback()
    assert not has_deleted(engine, database, "spans")


def test_relayout_finish_leaves_an_adoption_alone(engine: EmbeddedAdapter, opik: Store, database: str) -> None:
    """`relayout list|finish` are for revisions' re-layouts: an adoption's originals used to be listed there and
    dropped one table at a time, skipping adopt's verification; `adopt rollback` then said it was finished."""
    from opik_store.migrations.relayout import RelayoutError

    create_layout(engine, database, "original")
    Writer(engine, database, "original", seed=8).seed_rows(40)
    adoption = opik.adoption(Limits(window_rows=50))
    adoption.run()
    assert opik.relayout_backups() == []
    with pytest.raises(RelayoutError, match="being adopted"):
        opik.finish_relayout("traces", yes=True)
    assert engine.query(f"EXISTS TABLE `{database}`.traces_opik_store_backup").scalar()
    assert adoption.rollback(dry_run=True)  # not refused as finished


def test_rollback_refuses_an_enum_element_the_original_lacks(
    engine: EmbeddedAdapter, opik: Store, database: str
) -> None:
    """A trace written after the swap with source 'evaluator' (not in Opik's original Enum): the Enum-to-Enum
    cast keeps its number, so the round-trip check passed and rollback put a value into the original that every
    read of ``source`` then failed on (UNKNOWN_ELEMENT_OF_ENUM). It is refused, changing nothing."""
    create_layout(engine, database, "original")
    Writer(engine, database, "original", seed=3).seed_rows(20)
    adoption = opik.adoption(Limits(window_rows=1000))
    adoption.run()
    row_id = "0190a000-0000-7000-8000-000000000009"
    engine.execute(
        f"INSERT INTO `{database}`.traces (id, workspace_id, project_id, name, source) "
        "VALUES ({i:String}, 'w', {i:String}, 'evaluated', 'evaluator')",
        {"i": row_id},
    )
    with pytest.raises(AdoptionRefused, match=r"traces\.source in 1 rows"):
        adoption.rollback()
    assert adoption.plan().state == "traces: swapped; spans: swapped"
    engine.execute(f"DELETE FROM `{database}`.traces WHERE id = {{i:String}}", {"i": row_id})
    adoption.rollback()
    assert engine.query(f"SELECT count() FROM `{database}`.traces WHERE toString(source) != ''").scalar()


def test_a_delete_sent_to_the_new_table_during_the_cutover_does_not_stall_it(
    engine: EmbeddedAdapter, opik: Store, database: str
) -> None:
    """Right after the EXCHANGE (merges of the new live table stopped), a DELETE sent to it waits for them. The
    cutover's wait for in-flight writes must tell it from one on the outgoing table and go on: the run ends
    well inside the 120 s wait limit, and the row stays deleted."""
    create_layout(engine, database, "original")
    writer = Writer(engine, database, "original", seed=6)
    writer.seed_rows(60)
    conn = open_adapter(opik.config.connection)
    threads: list[threading.Thread] = []

    def blocked_delete(table: str, step: str) -> None:
        if (table, step) != ("traces", "exchanged") or threads:
            return
        victim = next(k[1] for k, v in writer.expected.items() if v is not None and k[0] == "traces")
        sql = f"DELETE FROM `{database}`.traces WHERE id = {{i:String}}"
        threads.append(threading.Thread(target=conn.execute, args=(sql, {"i": victim}),
                                        kwargs={"settings": {"lightweight_deletes_sync": "2"}}))  # fmt: skip
        threads[0].start()
        deadline = time.monotonic() + 10
        while not opik.adapter.query(
            "SELECT count() FROM system.mutations WHERE database = {d:String} AND table = 'traces' AND NOT is_done",
            {"d": database},
        ).scalar():  # registered on the new table, and blocked there
            assert time.monotonic() < deadline, "the DELETE never reached the new table"
            time.sleep(0.01)
        writer.expected[("traces", victim)] = None

    began = time.monotonic()
    opik.adoption(Limits(window_rows=1000), after_step=blocked_delete).run()
    threads[0].join(timeout=60)
    assert not threads[0].is_alive() and time.monotonic() - began < 60
    assert_matches(engine, database, writer)
    conn.close()


def test_verify_during_the_copy_lists_windows_not_copied_yet(engine_url: str, engine: EmbeddedAdapter,
                                                               opik: Store, database: str) -> None:  # fmt: skip
    """`adopt verify` during a copy reported the windows not copied yet as DIFFERS and exited 3."""
    from click.testing import CliRunner

    from opik_store.cli import main

    create_layout(engine, database, "original")
    Writer(engine, database, "original", seed=9).seed_rows(200)

    def stop_after_first(window: Window, totals: Totals) -> None:
        raise Killed("stopped after the first window")

    with pytest.raises(Killed):
        opik.adoption(Limits(window_rows=60), after_window=stop_after_first).run()
    base = ["--url", engine_url, "--database", database]
    text = CliRunner().invoke(main, [*base, "adopt", "verify"])
    assert text.exit_code == 0, text.output
    assert "not copied yet" in text.output and "DIFFERS" not in text.output and "adopt run" in text.output
    doc = json.loads(CliRunner().invoke(main, [*base, "adopt", "verify", "--json"]).stdout)
    assert doc["ok"] is True and doc["in_progress"] is True and doc["windows_not_copied"] >= 2, doc


_NEXT = {
    "original": "`opik-store adopt plan`",
    "successor": "`opik-store adopt run` records them in place",
    "copying": "`opik-store adopt run` continues it",
    "swapped": "`opik-store adopt finish --yes`",
}


@pytest.mark.parametrize("state", list(_NEXT))
def test_every_schema_command_sees_the_same_database_and_names_the_same_next_step(
    engine_url: str, engine: EmbeddedAdapter, opik: Store, database: str, state: str
) -> None:
    """One detection: migrate (and its dry run) and stamp refuse an Opik database or one under adoption with one
    line naming the adopt command, changing nothing (--force does not lift it, but for Opik's newest tables, which
    are the store's layout); status and check name the same step.
    `stamp head` printed an 89-line diff with a leaked {database} placeholder; status said "3 pending"."""
    from click.testing import CliRunner

    from opik_store.cli import main

    create_layout(engine, database, "successor" if state == "successor" else "original")
    if state in ("copying", "swapped"):
        Writer(engine, database, "original", seed=4).seed_rows(150)

        def stop_after_first(window: Window, totals: Totals) -> None:
            raise Killed("stopped after the first window")

        if state == "copying":
            with pytest.raises(Killed):
                opik.adoption(Limits(window_rows=60), after_window=stop_after_first).run()
        else:
            opik.adoption(Limits(window_rows=60)).run()
    step = _NEXT[state]
    assert step in opik.identify().next_step
    before = _tables(engine, database)
    base = ["--url", engine_url, "--database", database]
    forced = [] if state == "successor" else [["stamp", "head", "--force"]]  # the store's layout: --force may
    for args in (["migrate"], ["migrate", "--dry-run"], ["stamp", "head"], *forced):
        result = CliRunner().invoke(main, [*base, *args])
        assert result.exit_code == 2, (args, result.output)
        error = [line for line in result.output.splitlines() if not line.startswith("target:")]
        assert len(error) == 1 and step in error[0] and "nothing was changed" in error[0], (args, result.output)
        assert "{database}" not in result.output and "would apply" not in result.output
    assert _tables(engine, database) == before, "nothing was created, not even the ledger"

    status = CliRunner().invoke(main, [*base, "status"])
    next_line = [line for line in status.output.splitlines() if line.startswith("next:")]
    assert status.exit_code == 0 and len(next_line) == 1 and step in next_line[0], status.output
    assert "pending:" not in status.output, "adoption, not the revisions, comes next"
    doc = json.loads(CliRunner().invoke(main, [*base, "status", "--json"]).stdout)
    kind = {"original": "opik-original", "successor": "opik-newest"}.get(state, "adopting")
    assert doc["identity"]["kind"] == kind and step in doc["identity"]["next_step"], doc["identity"]
    check = CliRunner().invoke(main, [*base, "check"])
    assert check.exit_code in (0, 3) and (check.exit_code == 0 or step in check.output), check.output


def test_identify_names_a_store_database_an_empty_one_and_a_foreign_one(
    engine: EmbeddedAdapter, opik: Store, database: str
) -> None:
    """The other kinds: missing, empty (a database with no traces or spans), the store's own, and unknown."""
    assert opik.identify().kind == "missing"
    engine.execute(f"CREATE DATABASE {database}")
    assert opik.identify().kind == "empty" and "migrate" in opik.identify().next_step
    engine.execute(f"CREATE TABLE {database}.traces (id String) ENGINE = MergeTree ORDER BY id")
    foreign = opik.identify()
    assert foreign.kind == "unknown" and foreign.reasons and not foreign.is_opik, foreign
    engine.execute(f"DROP TABLE {database}.traces SYNC")
    opik.migrate()
    assert opik.identify().kind == "store" and opik.identify().next_step == "nothing: up to date"


def test_a_catch_up_pass_deletes_in_every_window_with_one_statement(
    engine: EmbeddedAdapter, opik: Store, database: str
) -> None:
    """A lightweight DELETE is a mutation the server schedules and waits for (~0.7 s each on the embedded
    engine): a catch-up pass sent one per window that had deletions; now one per pass, deleting the same, and
    it starts merges on its (non-live) target first, so merges a killed cutover left stopped cannot hang it."""
    create_layout(engine, database, "original")
    Writer(engine, database, "original", seed=11).seed_rows(240)
    adoption = opik.adoption(Limits(window_rows=60))
    for name in PREREQUISITES:
        engine.execute(render_statement(ddl(name), database, Topology()).sql)
    job = adoption.relayout("traces")
    windows = job.copy().windows
    victims = []
    for window in windows[:4]:  # one id from each of four windows, deleted from the original meanwhile
        where, params = window.predicate("id")
        row = engine.query(f"SELECT id FROM `{database}`.traces WHERE {where} ORDER BY id LIMIT 1", params).rows
        victims += [str(r[0]) for r in row]
    assert len(victims) == 4
    engine.execute(f"DELETE FROM `{database}`.traces WHERE id IN {{ids:Array(String)}}", {"ids": victims})
    engine.execute("SYSTEM FLUSH LOGS")
    since = engine.query("SELECT now64(6)").scalar()
    versions = engine.query(
        f"SELECT count() FROM `{database}`.traces_opik_store_new WHERE id IN {{ids:Array(String)}}", {"ids": victims}
    ).scalar()
    # a run killed in its cutover leaves merges stopped on the table it was about to swap in: the DELETE's
    # mutation would then never run and the catch-up would wait for ever
    engine.execute(f"SYSTEM STOP MERGES `{database}`.traces_opik_store_new")
    result: list[tuple[int, int]] = []
    worker = threading.Thread(target=lambda: result.append(job.sync_windows(windows)), daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():
        engine.execute(f"SYSTEM START MERGES `{database}`.traces_opik_store_new")
        worker.join(60)
        pytest.fail("the catch-up DELETE waited on a table whose merges were stopped")
    assert versions >= 4 and result == [(0, versions)]
    engine.execute("SYSTEM FLUSH LOGS")
    deletes = engine.query(
        "SELECT count() FROM system.query_log WHERE type = 'QueryFinish' AND query_kind = 'Delete' "
        "AND has(databases, {d:String}) AND event_time_microseconds >= {t:DateTime64(6)}",
        {"d": database, "t": since},
    ).scalar()
    assert deletes == 1
    left = engine.query(
        f"SELECT count() FROM `{database}`.traces_opik_store_new WHERE id IN {{ids:Array(String)}}", {"ids": victims}
    ).scalar()
    assert left == 0
