"""Crash recovery and transient-error retries."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from support import table_names, write_revision

from opik_store import ServerError, Store
from opik_store.engine.adapter import Adapter, Rows
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.retry import TRANSIENT_CODES, RetryPolicy, call_with_retries, is_transient
from opik_store.migrations.revisions import RevisionSet
from opik_store.migrations.runner import MigrationError, RefusedError
from opik_store.schema.shapes import read_shapes


class SimulatedKill(Exception):
    """Raised by the fault hook: the run stops dead, writing nothing more."""


def _more_revisions(folder: Path) -> None:
    write_revision(
        folder,
        "0005",
        "0004",
        [
            "ALTER TABLE traces ADD COLUMN reviewer LowCardinality(String) DEFAULT ''",
            "ALTER TABLE spans ADD COLUMN reviewer LowCardinality(String) DEFAULT '', "
            "ADD INDEX idx_spans_model model TYPE set(0) GRANULARITY 1",
            "CREATE TABLE feedback (id FixedString(36), score Float64, at DateTime64(6, 'UTC')) "
            "ENGINE = ReplacingMergeTree(at) ORDER BY id",
        ],
        ["DROP TABLE feedback", "ALTER TABLE spans DROP INDEX idx_spans_model, DROP COLUMN reviewer",
         "ALTER TABLE traces DROP COLUMN reviewer"],
    )  # fmt: skip


def _effective(store: Store) -> dict[str, tuple[str, str, str]]:
    """Each revision's final ledger state: (state, direction, source checksum)."""
    latest: dict[str, tuple[str, str, str]] = {}
    for e in store.history():
        latest[e.revision] = (e.state, e.direction, e.source_checksum)
    return latest


@pytest.fixture
def revised(migrations_copy: Path) -> Path:
    _more_revisions(migrations_copy)
    return migrations_copy


def _points(folder: Path) -> Iterator[tuple[str, int]]:
    for revision in RevisionSet(folder).ordered:
        for index in range(1, len(revision.upgrade_statements()) + 1):
            yield revision.id, index


def test_interrupting_after_every_statement_recovers_to_the_same_end_state(
    revised: Path, engine_url: str, engine: EmbeddedAdapter
) -> None:
    reference = f"t_ref_{uuid.uuid4().hex[:6]}"
    databases = [reference]
    try:
        with Store.from_url(engine_url, database=reference, migrations_dir=str(revised)) as store:
            store.migrate()
            want_shape = read_shapes(store.adapter, reference)
            want_ledger = _effective(store)
        points = list(_points(revised))
        assert len(points) == 13  # 4 statements in 0001, 2 in 0002, 2 in 0003, 2 re-layouts in 0004, 3 in 0005
        for revision, index in points:
            database = f"t_kill_{revision}_{index}_{uuid.uuid4().hex[:6]}"
            databases.append(database)

            def kill(rev: str, i: int, at: tuple[str, int] = (revision, index)) -> None:
                if (rev, i) == at:
                    raise SimulatedKill(f"killed after {rev} statement {i}")

            with Store.from_url(engine_url, database=database, migrations_dir=str(revised)) as store:
                with pytest.raises(SimulatedKill):
                    store.migrate(after_statement=kill)
                assert [e.revision for e in store.status().interrupted] == [revision]
                messages: list[str] = []
                store.migrate(progress=messages.append)
                assert any(f"revision {revision} was interrupted" in m for m in messages)
                assert read_shapes(store.adapter, database) == want_shape, (revision, index)
                assert _effective(store) == want_ledger, (revision, index)
                assert store.status().up_to_date
    finally:
        for name in databases:
            engine.execute(f"DROP DATABASE IF EXISTS `{name}` SYNC")


def test_an_interrupted_non_idempotent_statement_stops_with_instructions(
    migrations_copy: Path, engine_url: str, database: str
) -> None:
    write_revision(
        migrations_copy,
        "0005",
        "0004",
        [
            "CREATE TABLE traces_v2 AS traces",
            "EXCHANGE TABLES traces AND traces_v2",
        ],
        ["EXCHANGE TABLES traces AND traces_v2", "DROP TABLE traces_v2"],
    )
    with Store.from_url(engine_url, database=database, migrations_dir=str(migrations_copy)) as store:

        def kill(rev: str, i: int) -> None:
            if (rev, i) == ("0005", 2):
                raise SimulatedKill

        with pytest.raises(SimulatedKill):
            store.migrate(allow_destructive=True, after_statement=kill)
        with pytest.raises(RefusedError) as info:
            store.migrate(allow_destructive=True)
        text = str(info.value)
        assert "must not run twice" in text and "EXCHANGE TABLES" in text and "opik-store stamp 0005" in text
        assert [e.revision for e in store.status().interrupted] == ["0005"]  # nothing changed


# -- transient errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        (210, True),  # NETWORK_ERROR: connection lost
        (209, True),  # SOCKET_TIMEOUT
        (999, True),  # KEEPER_EXCEPTION: session lost / timeout
        (242, True),  # TABLE_IS_READ_ONLY: replica waiting for Keeper
        (517, True),  # CANNOT_ASSIGN_ALTER
        (159, True),  # TIMEOUT_EXCEEDED: distributed DDL still running
        (62, False),  # SYNTAX_ERROR
        (60, False),  # UNKNOWN_TABLE
        (497, False),  # ACCESS_DENIED
        (225, False),  # NO_ZOOKEEPER: no Keeper configured
        (0, False),
    ],
)
def test_transient_classification(code: int, transient: bool) -> None:
    assert is_transient(ServerError(code, "x")) is transient


def test_transient_code_names_match_clickhouse(engine: EmbeddedAdapter) -> None:
    for code, name in TRANSIENT_CODES.items():
        assert engine.query("SELECT errorCodeToName({c:UInt32})", {"c": code}).scalar() == name


def test_retry_loop_backs_off_then_succeeds_or_gives_up() -> None:
    waits: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ServerError(210, "Connection reset by peer")
        return "ok"

    policy = RetryPolicy(attempts=5, initial_delay=1.0, max_delay=4.0, max_total=100)
    assert call_with_retries(flaky, policy, sleep=waits.append, rng=random.Random(1)) == "ok"
    assert calls["n"] == 3 and len(waits) == 2 and 0 <= waits[0] <= 1.0 and 0 <= waits[1] <= 2.0

    calls["n"] = -100  # always failing
    waits.clear()
    with pytest.raises(ServerError) as info:
        call_with_retries(flaky, policy, sleep=waits.append, rng=random.Random(1))
    assert info.value.code == 210 and len(waits) == 4  # 5 attempts

    def broken() -> str:
        raise ServerError(62, "Syntax error")

    waits.clear()
    with pytest.raises(ServerError):
        call_with_retries(broken, policy, sleep=waits.append)
    assert waits == [], "a non-transient error is not retried"

    budget = RetryPolicy(attempts=50, initial_delay=10, max_delay=10, max_total=1)
    with pytest.raises(ServerError):
        call_with_retries(flaky, budget, sleep=waits.append, rng=random.Random(3))


class FlakyAdapter:
    """The real engine, but the first DDL statements matching ``needle`` lose their connection."""

    def __init__(self, inner: Adapter, needle: str, failures: int) -> None:
        self.inner, self.spec, self.needle, self.failures = inner, inner.spec, needle, failures

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Rows:
        return self.inner.query(sql, params, settings)

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        if self.needle in sql and self.failures:
            self.failures -= 1
            raise ServerError(210, "Connection reset by peer (simulated)")
        self.inner.execute(sql, params, settings)

    def stream(
        self, sql: str, params: Mapping[str, Any] | None = None, settings: Mapping[str, str] | None = None
    ) -> Iterator[Rows]:
        return self.inner.stream(sql, params, settings)

    def insert_arrow(self, target: str, columns: Sequence[str], data: Any, settings: Mapping[str, str]) -> None:
        self.inner.insert_arrow(target, columns, data, settings)

    def close(self) -> None:
        self.inner.close()


def test_migrate_retries_a_transient_failure_and_fails_fast_otherwise(engine_url: str, database: str) -> None:
    with Store.from_url(engine_url, database=database, retries=3) as store:
        store._adapter = FlakyAdapter(store.adapter, "`spans`", failures=2)
        messages: list[str] = []
        assert store.migrate(progress=messages.append).revisions == ["0001", "0002", "0003", "0004"]
        assert sum("transient error" in m and "code 210 NETWORK_ERROR" in m for m in messages) == 2
    with Store.from_url(engine_url, database=database + "_b", retries=2) as store:
        store._adapter = FlakyAdapter(store.adapter, "`spans`", failures=5)
        try:
            with pytest.raises(MigrationError, match="210"):
                store.migrate()
            assert [e.revision for e in store.status().failed] == ["0001"]
        finally:
            store.adapter.execute(f"DROP DATABASE IF EXISTS `{database}_b` SYNC")


def _half_reverted(store: Store, engine: EmbeddedAdapter, database: str) -> None:
    """What `downgrade base`, killed inside 0001 (the later ones reverted), leaves: a `started` row and spans gone."""
    store.migrate()
    store.downgrade("0001")
    ledger = store.migrator().ledger
    ledger.record("0001", "started", "downgrade", ("c", "c"), ledger.now())
    engine.execute(f"DROP TABLE `{database}`.spans SYNC")


def test_an_interrupted_downgrade_shows_and_migrate_restores_it(
    store: Store, engine: EmbeddedAdapter, database: str
) -> None:
    _half_reverted(store, engine, database)
    status = store.status()
    assert [(e.revision, e.direction) for e in status.interrupted] == [("0001", "downgrade")]
    assert not status.up_to_date, "not up to date"
    assert [s.revision.id for s in status.pending] == ["0001", "0002", "0003", "0004"]
    messages: list[str] = []
    store.migrate(progress=messages.append)
    assert any("revision 0001's downgrade was interrupted" in m for m in messages), messages
    assert {"traces", "spans"} <= table_names(engine, database)
    assert store.status().up_to_date and store.check() == []


def test_an_interrupted_downgrade_is_finished_by_downgrading_again(
    store: Store, engine: EmbeddedAdapter, database: str
) -> None:
    _half_reverted(store, engine, database)
    store.downgrade("base", allow_data_loss=True)
    assert "traces" not in table_names(engine, database)
    status = store.status()
    assert status.interrupted == [] and status.current == []
    assert [s.revision.id for s in status.pending] == ["0001", "0002", "0003", "0004"]
