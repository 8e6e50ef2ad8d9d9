"""Migrating a real embedded engine: create, re-run, downgrade, status, history."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import table_info, table_names, write_revision

from opik_store import DataLossError, RevisionError, Store
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.migrations.ledger import LEDGER_TABLE
from opik_store.migrations.runner import MigrationError


def test_empty_to_head_creates_designed_tables(store: Store, engine: EmbeddedAdapter, database: str) -> None:
    report = store.migrate()
    assert report.revisions == ["0001", "0002", "0003", "0004"]
    assert table_names(engine, database) == {
        "retention_rules",
        "retention",
        "traces",
        "spans",
        LEDGER_TABLE,
        "opik_store_relayout",  # 0004's re-layout progress (its empty originals were dropped at once)
    }

    opik_week = "toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))"
    traces = table_info(engine, database, "traces")
    assert traces["engine"] == "ReplacingMergeTree"
    assert traces["engine_full"].startswith("ReplacingMergeTree(last_updated_at, is_deleted)")
    assert traces["partition_key"] == opik_week, "Opik's weekly key: its deletes name IN PARTITION <yyyymmdd>"
    assert traces["sorting_key"] == "workspace_id, project_id, id"
    create = traces["create_table_query"]
    assert "INDEX idx_traces_thread_id_bf thread_id TYPE bloom_filter(0.01) GRANULARITY 1" in create
    assert "INDEX idx_traces_id_bf id TYPE bloom_filter(0.01) GRANULARITY 1" in traces["create_table_query"]
    assert "TTL" not in traces["engine_full"], "no TTL: the expiry job removes rows"

    spans = table_info(engine, database, "spans")
    assert spans["engine"] == "ReplacingMergeTree"
    assert spans["partition_key"] == opik_week, "each span by its own id's week, as Opik"
    assert "INDEX idx_spans_last_updated_at last_updated_at TYPE minmax GRANULARITY 1" in spans["create_table_query"]
    assert spans["sorting_key"] == "workspace_id, project_id, trace_id, id", "mutable parent_span_id is not in the key"

    columns = engine.query(
        "SELECT table, name, type, compression_codec FROM system.columns WHERE database = {db:String}",
        {"db": database},
    ).rows
    by_name = {(t, n): (ty, codec) for t, n, ty, codec in columns}
    for table in ("traces", "spans"):
        for big in ("input", "output", "metadata", "input_slim", "output_slim"):
            assert by_name[(table, big)] == ("String", "CODEC(ZSTD(3))")
        for moment in ("last_updated_at", "start_time", "end_time", "created_at"):
            assert by_name[(table, moment)][0] == "DateTime64(6, 'UTC')"
        assert by_name[(table, "id")][0] == "FixedString(36)"
        assert by_name[(table, "truncated_input")][0] == "String", "the text cut to the threshold, as Opik reads it"
        assert by_name[(table, "id_at")][0] == "DateTime64(0, 'UTC')", "no saturation in 2106"
        assert (table, "retention_days") not in by_name, "the class is computed by the expiry job, not stored"
        assert by_name[(table, "source")][0].endswith("'optimization' = 4, 'evaluator' = 5)")
    assert by_name[("spans", "usage")][0] == "Map(String, Int64)"
    assert by_name[("traces", "output_keys")][0] == "Array(Tuple(key String, type String))"
    assert by_name[("spans", "total_estimated_cost")][0] == "Decimal(38, 12)"
    assert by_name[("spans", "type")][0].startswith("Enum8('unknown' = 0, 'general' = 1, 'tool' = 2, 'llm' = 3")


def test_rerun_is_a_no_op(store: Store, engine: EmbeddedAdapter, database: str) -> None:
    store.migrate()
    before = table_info(engine, database, "spans")["create_table_query"]
    rows_before = len(store.history())
    report = store.migrate()
    assert report.steps == []
    assert len(store.history()) == rows_before
    assert table_info(engine, database, "spans")["create_table_query"] == before
    assert store.status().up_to_date


def test_downgrade_then_upgrade_round_trips(store: Store, engine: EmbeddedAdapter, database: str) -> None:
    store.migrate()
    created = {t: table_info(engine, database, t)["create_table_query"] for t in ("traces", "spans")}
    with pytest.raises(DataLossError, match="--yes"):
        store.downgrade("base")
    assert {"traces", "spans"} <= table_names(engine, database), "a refused downgrade must change nothing"

    report = store.downgrade("base", allow_data_loss=True)
    assert report.revisions == ["0004", "0003", "0002", "0001"]
    assert table_names(engine, database) == {LEDGER_TABLE, "opik_store_relayout"}, "base removes all 0001 made"
    assert [s.revision.id for s in store.status().pending] == ["0001", "0002", "0003", "0004"]

    store.migrate()
    assert {t: table_info(engine, database, t)["create_table_query"] for t in ("traces", "spans")} == created
    states = [(e.revision, e.direction, e.state) for e in store.history()]
    up = [(r, "upgrade", s) for r in ("0001", "0002", "0003", "0004") for s in ("started", "applied")]
    down = [(r, "downgrade", s) for r in ("0004", "0003", "0002", "0001") for s in ("started", "reverted")]
    assert states == up + down + up


def test_status_and_history(store: Store) -> None:
    status = store.status()
    assert status.current == [] and [s.revision.id for s in status.pending] == ["0001", "0002", "0003", "0004"]
    assert not status.up_to_date
    assert store.history() == []
    store.migrate()
    status = store.status()
    assert status.current == ["0004"] and status.pending == [] and status.up_to_date
    applied = store.history()[-1]
    assert applied.state == "applied" and applied.duration_ms is not None and applied.finished_at is not None
    assert len(applied.checksum) == 64 and applied.error == ""
    assert applied.host and applied.pid > 0


def test_dry_run_changes_nothing(store: Store, engine: EmbeddedAdapter, database: str) -> None:
    report = store.migrate(dry_run=True)
    assert report.revisions == ["0001", "0002", "0003", "0004"] and report.dry_run
    assert table_names(engine, database) == set()


def test_migrate_to_a_revision_and_failed_statement_is_recorded_then_resumed(
    migrations_copy: Path, engine_url: str, engine: EmbeddedAdapter, database: str
) -> None:
    write_revision(
        migrations_copy,
        "0005",
        "0004",
        ["ALTER TABLE traces ADD COLUMN remark String", "ALTER TABLE spans ADD COLUMN remark String AFTER nope"],
        ["ALTER TABLE spans DROP COLUMN remark", "ALTER TABLE traces DROP COLUMN remark"],
    )
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as store:
        assert store.migrate(to="0004").revisions == ["0001", "0002", "0003", "0004"]
        assert [s.revision.id for s in store.status().pending] == ["0005"]
        with pytest.raises(MigrationError, match=r"revision 0005 failed at statement 2/2.*nope"):
            store.migrate()
        failed = store.status().failed
        assert [e.revision for e in failed] == ["0005"] and "nope" in failed[0].error
        # the first statement ran; the fix makes the same command finish the job
        write_revision(
            migrations_copy,
            "0005",
            "0004",
            ["ALTER TABLE traces ADD COLUMN remark String", "ALTER TABLE spans ADD COLUMN remark String"],
            ["ALTER TABLE spans DROP COLUMN remark", "ALTER TABLE traces DROP COLUMN remark"],
        )
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as store:
        assert store.migrate().revisions == ["0005"]
        assert store.status().up_to_date
    cols = engine.query(
        "SELECT table FROM system.columns WHERE database = {db:String} AND name = 'remark' ORDER BY table",
        {"db": database},
    ).rows
    assert cols == [("spans",), ("traces",)]


def test_interrupted_revision_is_applied_again(store: Store, engine: EmbeddedAdapter, database: str) -> None:
    """A 'started' row without an end (a killed run) is finished by the next migrate."""
    for sql in store.setup_sql():
        engine.execute(sql)
    step = store.sql()[0]
    ledger = store.migrator().ledger
    ledger.record("0001", "started", "upgrade", step.checksums, ledger.now())
    engine.execute(step.statements[0].sql)  # the run died after its first statement
    status = store.status()
    assert [e.revision for e in status.interrupted] == ["0001"]
    messages: list[str] = []
    assert store.migrate(progress=messages.append).revisions == ["0001", "0002", "0003", "0004"]
    assert any("interrupted" in m for m in messages)
    assert {"traces", "spans"} <= table_names(engine, database)
    assert store.status().up_to_date


def test_database_migrated_by_newer_code_is_refused(store: Store) -> None:
    store.migrate()
    ledger = store.migrator().ledger
    ledger.record("9999", "applied", "upgrade", ("x", "x"), ledger.now())
    assert store.status().unknown == ["9999"]
    with pytest.raises(RevisionError, match="9999"):
        store.migrate()


def test_unknown_target_revision(store: Store) -> None:
    with pytest.raises(RevisionError, match="unknown revision"):
        store.migrate(to="nope")


def test_two_databases_never_share_state(engine_url: str, engine: EmbeddedAdapter, database: str) -> None:
    other = database + "_b"
    try:
        with Store.from_url(engine_url, database=database) as a:
            a.migrate()
        with Store.from_url(engine_url, database=other) as b:
            assert [s.revision.id for s in b.status().pending] == ["0001", "0002", "0003", "0004"]
            assert b.history() == []
    finally:
        engine.execute(f"DROP DATABASE IF EXISTS `{other}` SYNC")


def test_hostile_database_name_is_quoted(engine_url: str, engine: EmbeddedAdapter) -> None:
    name = "we`ird; DROP DATABASE system; --\\ db"
    try:
        with Store.from_url(engine_url, database=name) as store:
            store.migrate()
            assert store.status().up_to_date
        assert {"traces", "spans"} <= table_names(engine, name)
    finally:
        engine.execute("DROP DATABASE IF EXISTS `we\\`ird; DROP DATABASE system; --\\\\ db` SYNC")


def test_ledger_error_text_round_trips_backslashes_and_quotes(store: Store) -> None:
    store.migrate()
    ledger = store.migrator().ledger
    nasty = "it's a \\N \t tab\nnewline `x` {p:String} \\\\"
    ledger.record("0001", "failed", "downgrade", ("c", "c"), ledger.now(), error=nasty)
    assert store.history()[-1].error == nasty


def test_a_ledger_from_before_seq_is_read_in_time_order_and_gets_seq_from_the_next_run(
    store: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """A ledger created by earlier code (DateTime64 times, no ``seq``): read as it is, in time order (two rows
    of one revision a microsecond apart keep their order), and the next migrate adds ``seq`` and appends
    after the old rows."""
    from opik_store.migrations.ledger import LEDGER_DDL

    store.migrate("0002")
    rows = store.history()
    old_ddl = LEDGER_DDL.replace("DateTime('UTC')", "DateTime64(6, 'UTC')").replace(",\n    seq          UInt64", "")
    old_ddl = old_ddl.replace("ORDER BY (revision, seq)", "ORDER BY (revision, recorded_at)")
    assert "seq" not in old_ddl
    engine.execute(f"DROP TABLE `{database}`.{LEDGER_TABLE}")
    engine.execute(old_ddl.replace(f"CREATE TABLE {LEDGER_TABLE}", f"CREATE TABLE `{database}`.{LEDGER_TABLE}"))
    moment = "2026-01-01 00:00:00.0000"
    for i, e in enumerate(rows):  # every row within one second, told apart by microseconds only
        engine.execute(
            f"INSERT INTO `{database}`.{LEDGER_TABLE} (revision, state, direction, checksum, source_checksum, run_id, "
            "host, pid, started_at, error, note, recorded_at) VALUES ({r:String}, {s:String}, {d:String}, {c:String}, "
            "{sc:String}, {u:UUID}, 'h', 1, {t:String}, '', '', {t:String})",
            {"r": e.revision, "s": e.state, "d": e.direction, "c": e.checksum, "sc": e.source_checksum,
             "u": e.run_id, "t": f"{moment}{i:02d}"},
        )  # fmt: skip
    assert [(e.revision, e.state) for e in store.history()] == [(e.revision, e.state) for e in rows]
    assert store.status().applied == ["0001", "0002"]

    assert store.migrate().revisions == ["0003", "0004"]
    columns = engine.query(
        "SELECT name FROM system.columns WHERE database = {d:String} AND table = {t:String}",
        {"d": database, "t": LEDGER_TABLE},
    ).rows
    assert ("seq",) in [tuple(c) for c in columns]
    history = [(e.revision, e.state) for e in store.history()]
    assert history == [(e.revision, e.state) for e in rows] + [
        ("0003", "started"),
        ("0003", "applied"),
        ("0004", "started"),
        ("0004", "applied"),
    ]
    assert store.status().applied == ["0001", "0002", "0003", "0004"] and store.migrate().revisions == []


def test_reports_and_steps_print_as_a_reader_expects(store: Store) -> None:
    """``print(store.migrate())`` printed pages of repr (every statement, module objects); ``Store.sql()`` gave
    objects where a user expects SQL."""
    dry = store.migrate(dry_run=True)
    assert repr(dry) == "<Report upgrade: would be applied 0001, 0002, 0003, 0004>" and str(dry) == repr(dry)
    report = store.migrate()
    assert repr(report) == "<Report upgrade: applied 0001, 0002, 0003, 0004>"
    assert repr(store.migrate()) == "<Report upgrade: nothing to do>"
    steps = store.sql()
    assert repr(steps[0]).startswith("<Step upgrade 0001 ") and len(repr(steps[0])) < 200
    script = str(steps[0])
    assert script.startswith("-- upgrade 0001: ") and "CREATE TABLE" in script and script.endswith(";")
    assert steps[0].sql == [r.sql for r in steps[0].statements]


def test_history_durations_are_milliseconds(store: Store) -> None:
    """The ledger's duration_ms was the server clock's difference in whole seconds (0, 1000, ...)."""
    store.migrate()
    done = [e.duration_ms for e in store.history() if e.state == "applied"]
    assert len(done) == 4 and all(d is not None for d in done)
    assert any(d % 1000 for d in done if d is not None), done  # four whole seconds by chance: ~1 in 10^12


def test_a_cloned_database_is_what_migrate_makes(
    migrated_store: Store, engine: EmbeddedAdapter, engine_url: str, database: str, migrated_template: str
) -> None:
    """The suite's fast fixture (conftest.clone_database) stands in for `migrate` only because it makes the same
    thing: every table's definition, a clean check, the ledger at head."""

    def definitions(db: str) -> dict[str, str]:
        rows = engine.query(
            "SELECT name, create_table_query FROM system.tables WHERE database = {d:String}", {"d": db}
        ).rows
        uuid_text = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
        return {str(n): uuid_text.sub("U", str(q).replace(f" {db}.", " DB.", 1)) for n, q in rows}  # the lock's
        # generation token is a per-database default

    reference = database + "_ref"
    try:
        with Store.from_url(engine_url, database=reference) as real:
            real.migrate()
        assert definitions(database) == definitions(reference) == definitions(migrated_template)
    finally:
        engine.execute(f"DROP DATABASE IF EXISTS `{reference}` SYNC")
    assert migrated_store.check() == [] and migrated_store.status().up_to_date
    assert migrated_store.identify().kind == "store" and migrated_store.migrate().steps == []
