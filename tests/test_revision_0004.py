"""Revision 0004 moves a store database at 0003 onto Opik's own tables online, and back.

Rows written at 0003 (v7 ids over several weeks, v4, nil and 2200 ids, two versions each, some deleted) are
compared one by one after the re-layout; the copy is stopped after two windows (as a killed ``migrate``
would leave it) and the next ``migrate`` resumes it. The old layout is kept until ``relayout finish``; the
downgrade re-lays the tables out again into 0003's definitions with the same rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from adopt_fixtures import Writer, read_back

from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.migrations.relayout import Limits, Relayout, RelayoutError
from opik_store.schema.ddl import ddl
from opik_store.store import Store

OPIK_PARTITION = "toYYYYMMDD(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))"


def _table(engine: EmbeddedAdapter, db: str, table: str) -> tuple[str, str]:
    row = engine.query(
        "SELECT partition_key, (SELECT type FROM system.columns WHERE database = {d:String} AND table = {t:String} "
        "AND name = 'truncated_input') FROM system.tables WHERE database = {d:String} AND name = {t:String}",
        {"d": db, "t": table},
    ).rows[0]
    return str(row[0]), str(row[1])


def _exists(engine: EmbeddedAdapter, db: str, table: str) -> bool:
    return bool(engine.query(f"EXISTS TABLE `{db}`.`{table}`").scalar())


def test_a_database_at_0003_moves_to_opiks_tables_resumably_and_back(
    store: Store, engine: EmbeddedAdapter, engine_url: str, database: str
) -> None:
    store.migrate(to="0003")
    assert _table(engine, database, "traces")[1] == "Bool"
    Writer(store.adapter, database, "successor", seed=11).seed_rows(160, spans_per_trace=2, days=40)
    before = {t: read_back(engine, database, t) for t in ("traces", "spans")}
    assert len(before["traces"]) > 100 and len(before["spans"]) > 200

    class Killed(Exception):
        pass

    windows: list[int] = []

    def kill(_window: object, _totals: object) -> None:
        windows.append(1)
        if len(windows) == 2:
            raise Killed

    migrator = store.migrator()
    prior = tuple(s for r in migrator.revisions.ordered[:3] for s in r.upgrade_statements())
    head = migrator.revisions.get("0004").upgrade_statements()
    from opik_store.migrations.operations import parse_relayout

    spec = parse_relayout(head[0])
    assert spec is not None and spec.table == "traces"
    first = Relayout(store.adapter, store.config, "traces", spec.create, spec.key, "id", Limits(window_rows=30),
                     after_window=kill, prerequisites=(*prior, "DROP TABLE traces"))  # fmt: skip
    with pytest.raises(Killed):
        first.swap()
    assert _table(engine, database, "traces")[1] == "Bool", "not swapped yet"

    lines: list[str] = []
    assert store.migrate(progress=lines.append).revisions == ["0004"]
    for table in ("traces", "spans"):
        assert _table(engine, database, table) == (OPIK_PARTITION, "String"), table
        assert read_back(engine, database, table) == before[table], f"{table}: every row, newest version"
        assert _exists(engine, database, f"{table}_opik_store_backup"), "the original is kept"
    assert store.check() == [] and not store.status().pending
    pids = {str(r[0]) for r in engine.query(f"SELECT DISTINCT _partition_id FROM `{database}`.traces").rows}
    assert "19691229" in pids and all(len(p) == 8 for p in pids), "Opik's weekly ids; undated ids in 1969-12-29"
    truncated = engine.query(
        f"SELECT count() FROM `{database}`.traces WHERE truncated_input != substring(input, 1, truncation_threshold)"
    ).scalar()
    assert truncated == 0, "truncated_input is the text cut to the threshold, recomputed for the copied rows"

    with pytest.raises(RelayoutError, match="not finished"):
        store.downgrade("0003")  # the originals are kept: a re-layout back is refused, changing nothing
    for table in ("traces", "spans"):
        store.finish_relayout(table, yes=True)
    store.downgrade("0003")
    for table in ("traces", "spans"):
        assert _table(engine, database, table)[1] == "Bool"
        assert read_back(engine, database, table) == before[table], f"{table}: the way back keeps every row"
        store.finish_relayout(table, yes=True)
    assert store.status().applied[-1] == "0003"


def test_a_fresh_database_gets_opiks_tables_and_keeps_no_empty_original(store: Store, engine: EmbeddedAdapter,
                                                                          database: str) -> None:  # fmt: skip
    store.migrate()
    names = {str(r[0]) for r in engine.query(f"SHOW TABLES FROM `{database}`").rows}
    assert not any(n.endswith("_opik_store_backup") for n in names), names
    for table in ("traces", "spans"):
        assert _table(engine, database, table) == (OPIK_PARTITION, "String")
    assert "retention_days" not in ddl("traces") and store.check() == []


def test_downgrade_with_rows_refuses_while_the_originals_are_kept(migrations_copy: Path, store: Store) -> None:
    """0004's way back is another re-layout: refused while 0004's originals are kept (nothing changes)."""
    store.migrate(to="0003")
    Writer(store.adapter, store.config.database, "successor", seed=3).seed_rows(20)
    store.migrate()
    with pytest.raises(RelayoutError):
        store.downgrade("0003")
    assert store.status().applied[-1] == "0004"
