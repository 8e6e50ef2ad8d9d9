"""Adoption of the databases Opik really leaves: its tables at points of its history (tests/opik_history.py),
with Opik-shaped rows and quirks, under concurrent writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from adopt_fixtures import Writer, assert_matches
from opik_history import POINTS, create_at

from opik_store import ServerError
from opik_store.adopt import AdoptionRefused
from opik_store.engine.connect import open_adapter
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.migrations.relayout import Limits
from opik_store.store import Store


@pytest.fixture
def opik(engine_url: str, database: str) -> Iterator[Store]:
    with Store.from_url(engine_url, database=database) as s:
        yield s


@pytest.mark.parametrize(
    ("point", "end", "writes"),
    [(p, "finish", False) for p in POINTS if p != "wrap"] + [("000105", "rollback", False)],
)
def test_every_point_of_opiks_history_adopts_under_writes(
    engine: EmbeddedAdapter, engine_url: str, opik: Store, database: str, point: str, end: str, writes: bool
) -> None:
    """Plan, run, verify, then finish (or roll back): nothing lost, duplicated or resurrected. Every install
    since 000054 was refused ("some successor columns but not all"). Today's install (000105) is also adopted
    under concurrent Opik-shaped writes and kills: tests/test_relayout_adopt.py::test_adopt_under_writes_and_kills
    (``writes`` runs a writer here too; off by default, each of its deletes is a ~0.7 s mutation)."""
    create_at(engine, database, point)
    layout = "successor" if point == "cutover" else "original"
    seed = Writer(engine, database, layout, seed=5)
    seed.seed_rows(60 if writes else 40)  # each of its deletes is a mutation to wait for (~0.7 s here)
    plan = opik.adoption(Limits(window_rows=50)).plan()
    assert plan.layout == ("store layout, adopted in place" if point == "cutover" else "original"), plan.layout
    connection = open_adapter(opik.config.connection)
    writer = Writer(connection, database, layout, seed=6, expected=seed.expected, clock=seed.clock)
    stop = threading.Event()
    thread = threading.Thread(target=writer.run_until, args=(stop, 0.05), daemon=True)
    if writes:
        thread.start()
    try:
        opik.adoption(Limits(window_rows=50)).run()
        time.sleep(0.3 if writes else 0)  # the writer goes on, now into the store's layout
    finally:
        stop.set()
        if writes:
            thread.join()
    assert writer.writes > 0 or not writes
    assert all(c.ok for cs in opik.adoption().verify().values() for c in cs)
    assert_matches(engine, database, writer)
    if end == "finish":
        opik.adoption().finish(yes=True)
        assert opik.check() == [] and opik.identify().kind == "store"
    else:
        opik.adoption().rollback()  # the store's copy stays beside Opik's tables: `adopt run` takes it up again
        assert opik.identify().kind == "adopting"
    assert_matches(engine, database, writer)
    assert engine.query(f"SELECT * FROM `{database}`.feedback_scores").rows == [("x", 1.5)]
    connection.close()


def _span_sql(db: str) -> str:
    return (
        f"INSERT INTO `{db}`.spans (id, workspace_id, project_id, trace_id, parent_span_id, name, type, start_time, "
        "end_time, usage, last_updated_at, ttft) VALUES "
    )


@pytest.mark.parametrize("point", ["000057", "000105"])
def test_opiks_quirks_are_carried_by_stated_rules(
    engine: EmbeddedAdapter, opik: Store, database: str, point: str
) -> None:
    """The '*' parent Opik's partial span update writes (40 bytes) becomes '' (Opik's own cutover rule; a CAST
    failed the copy with error 131); a re-parented span (two live rows in the old table, whose sort key holds
    parent_span_id) becomes its newest version; NULL end_time/ttft take the store's sentinels; DateTime64(9)
    times are truncated to microseconds; usage counts keep their value."""
    create_at(engine, database, point)
    p, t = "p" * 36, "0190c1f0-0000-7000-8000-00000000000t"[:36]
    s1, s2, s3 = (f"0190c1f0-0000-7000-8000-00000000000{k}" for k in (1, 2, 3))
    engine.execute(
        _span_sql(database)
        + f"('{s1}', 'ws', '{p}', '{t}', '{'*' * 40}', 'partial', 'llm', '2026-01-01 00:00:00.123456789', NULL, "
        "{'tokens': 2147483647}, '2026-01-02 00:00:00', NULL), "
        f"('{s2}', 'ws', '{p}', '{t}', '{s1}', 'first parent', 'llm', '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:01.5', map(), '2026-01-02 00:00:00', 0.25), "
        f"('{s2}', 'ws', '{p}', '{t}', '{s3}', 're-parented', 'llm', '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:01.5', map(), '2026-01-02 00:00:01', 0.25)"
    )
    live = engine.query(f"SELECT count() FROM `{database}`.spans FINAL WHERE id = '{s2}'").scalar()
    assert live == 2, "Opik's old sort key keeps both parents live"
    said = opik.adoption(Limits(window_rows=50)).plan().steps
    assert any("spans: 1 row(s) hold a parent_span_id that is not a 36-character id" in step for step in said), said
    opik.adoption(Limits(window_rows=50)).run()
    assert all(c.ok for cs in opik.adoption().verify().values() for c in cs)
    opik.adoption().finish(yes=True)
    rows = engine.query(
        f"SELECT id, toStringCutToZero(parent_span_id) AS parent, name, toString(start_time) AS start, "
        "toString(end_time) AS end, isNaN(ttft) AS no_ttft, usage['tokens'] AS tokens "
        f"FROM `{database}`.spans FINAL WHERE id IN ('{s1}', '{s2}') ORDER BY id"
    ).dicts()
    assert [(r["id"], r["parent"], r["name"]) for r in rows] == [(s1, "", "partial"), (s2, s3, "re-parented")]
    assert rows[0]["start"] == "2026-01-01 00:00:00.123456" and rows[0]["end"] == "1970-01-01 00:00:00.000000"
    assert rows[0]["no_ttft"] == 1 and rows[1]["no_ttft"] == 0 and rows[0]["tokens"] == 2147483647


def test_opiks_distributed_wrap_is_refused_with_the_steps(engine: EmbeddedAdapter, opik: Store, database: str) -> None:
    """Opik's runbook wraps traces as a Distributed table over traces_local (its successor layout, which is the
    store's). Refused, changing nothing, with the exact steps: the store keeps traces as the table itself."""
    create_at(engine, database, "wrap")
    before = engine.query("SELECT name, engine FROM system.tables WHERE database = {d:String} ORDER BY name",
                          {"d": database}).rows  # fmt: skip
    with pytest.raises(AdoptionRefused) as refused:
        opik.adoption().plan()
    text = str(refused.value)
    assert "Distributed" in text and "traces_local" in text and "RENAME TABLE" in text, text
    assert engine.query("SELECT name, engine FROM system.tables WHERE database = {d:String} ORDER BY name",
                        {"d": database}).rows == before  # fmt: skip
    # the steps, as the message gives them, make it adoptable (in place: Opik's successor is the store's layout)
    engine.execute("RENAME TABLE " + text.split("RENAME TABLE ", 1)[1].split("; then", 1)[0])
    opik.adoption().run()
    assert opik.identify().kind == "store" and opik.check() == []


def test_only_adoption_blanks_text_that_does_not_fit_and_a_revision_relayout_fails_instead(
    engine: EmbeddedAdapter, database: str
) -> None:
    """Opik's rule ('' for a parent that is not 36 bytes) is adoption's, named per column; a revision's re-layout
    of the same columns keeps CAST, which fails on text too long for the FixedString (nothing is lost)."""
    from opik_store.migrations.relayout import map_columns, read_columns

    engine.execute(f"CREATE DATABASE `{database}`")
    engine.execute(f"CREATE TABLE `{database}`.a (parent_span_id String) ENGINE = Memory")
    engine.execute(f"CREATE TABLE `{database}`.b (parent_span_id FixedString(36)) ENGINE = Memory")
    engine.execute(f"INSERT INTO `{database}`.a VALUES ('{'*' * 40}')")
    src, dst = read_columns(engine, database, "a"), read_columns(engine, database, "b")
    plain = map_columns(src, dst).expressions[0]
    blanked = map_columns(src, dst, ("parent_span_id",)).expressions[0]
    with pytest.raises(ServerError, match=r"131|too large|too long"):
        engine.execute(f"INSERT INTO `{database}`.b SELECT {plain} FROM `{database}`.a")
    engine.execute(f"INSERT INTO `{database}`.b SELECT {blanked} FROM `{database}`.a")
    assert engine.query(f"SELECT length(toStringCutToZero(parent_span_id)) FROM `{database}`.b").rows == [(0,)]
