"""Opik's two layouts and a writer that remembers what it wrote.

ORIGINAL: Opik's tables before its cutover, replayed from its changesets up to
000084 (tests/opik_history.py; the source enum without 'evaluator', no id_at).

SUCCESSOR (its changesets 000114-000119): Opik's own definition as typed in
tests/opik_schema.py (the store's tables are the same since revision 0004).

``Writer`` writes rows as Opik's backend does (a new version per update, a
newer ``last_updated_at``; deletes as lightweight DELETE on the original
layout and as ``is_deleted`` versions on the successor) and keeps ``expected``:
the newest content of every id it wrote, or None once deleted.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from opik_schema import opik_create

from opik_store.engine.adapter import Adapter


def successor_ddl(table: str, db: str) -> str:
    """Opik's successor layout (after its cutover): Opik's own definition, typed from its changesets
    (tests/opik_schema.py), under ``db``."""
    return opik_create(table, f"{db}.{table}")


def create_layout(engine: Adapter, db: str, layout: str) -> None:
    engine.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
    if layout == "original":  # Opik's tables before its cutover, replayed from its changesets up to 000084
        from opik_history import replay  # (source without 'evaluator', environment, no id_at yet)

        replay(engine, db, "000084")
    else:
        engine.execute(successor_ddl("traces", f"`{db}`"))
        engine.execute(successor_ddl("spans", f"`{db}`"))
    # one of Opik's other tables: adoption must never touch it
    engine.execute(
        f"CREATE TABLE `{db}`.feedback_scores (entity_id String, value Float64) ENGINE = MergeTree ORDER BY entity_id"
    )
    engine.execute(f"INSERT INTO `{db}`.feedback_scores VALUES ('x', 1.5)")


def uuid7(ms: int, rng: random.Random) -> str:
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62 | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


DAY_MS = 86_400_000
BASE_MS = 1_767_225_600_000  # 2026-01-01


@dataclass
class Writer:
    """Writes traces and spans like Opik's backend and remembers the newest content of each id."""

    adapter: Adapter
    db: str
    layout: str
    seed: int = 1
    expected: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: int = 0
    writes: int = 0
    log: list[tuple[str, str, str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.clock = int(time.time() * 1_000_000)

    def _now(self) -> str:
        self.clock = max(self.clock + 1, int(time.time() * 1_000_000))
        sec, micro = divmod(self.clock, 1_000_000)
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec)) + f".{micro:06d}"

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        cols = list(rows[0])
        structure = ", ".join(f"{c} {_TYPES[c]}" for c in cols)
        self.adapter.execute(
            f"INSERT INTO `{self.db}`.`{table}` ({', '.join(cols)}) SELECT {', '.join(cols)} "
            "FROM format(JSONEachRow, {s:String}, {p:String})",
            {"s": structure, "p": "\n".join(json.dumps(r) for r in rows)},
        )

    def _trace(self, tid: str, text: str) -> dict[str, Any]:
        return {"id": tid, "workspace_id": "ws" + str(int(tid[-1], 16) % 3), "project_id": "p" * 36,
                "name": f"trace {text}", "input": json.dumps({"q": text}), "output": json.dumps({"a": text}),
                "metadata": "{}", "tags": [text[:3]], "last_updated_at": self._now(),
                "start_time": "2026-01-01 00:00:00"}  # fmt: skip

    def _span(self, sid: str, tid: str, text: str) -> dict[str, Any]:
        row = self._trace(sid, text)
        row.update(trace_id=tid, name=f"span {text}", type="llm", usage={"tokens": len(text)}, model="gpt")
        row["workspace_id"] = "ws" + str(int(tid[-1], 16) % 3)
        return row

    def seed_rows(self, traces: int, spans_per_trace: int = 2, days: int = 20) -> None:
        """Initial data: v7 ids over ``days`` days, plus v4, nil and far-future (2199) ids; every trace updated
        once (two versions), a few deleted."""
        t_rows, s_rows = [], []
        for n in range(traces):
            if n % 17 == 0:
                tid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            elif n % 29 == 0:
                tid = uuid7(7_258_118_400_000 + n, self.rng)  # 2200
            elif n == 1:
                tid = "00000000-0000-0000-0000-000000000000"
            else:
                tid = uuid7(BASE_MS + self.rng.randrange(days * DAY_MS), self.rng)
            t_rows.append(self._trace(tid, f"v1 {n}"))
            for k in range(spans_per_trace):
                sid = uuid7(BASE_MS + self.rng.randrange(days * DAY_MS), self.rng)
                s_rows.append(self._span(sid, tid, f"v1 {n}.{k}"))
        self._insert("traces", t_rows)
        self._insert("spans", s_rows)
        t2 = [self._trace(r["id"], f"v2 {i}") for i, r in enumerate(t_rows)]
        self._insert("traces", t2)
        for r in t2:
            self.expected[("traces", r["id"])] = r
        for r in s_rows:
            self.expected[("spans", r["id"])] = r
        for r in t2[3::11]:
            self.delete("traces", r["id"])

    def delete(self, table: str, row_id: str) -> None:
        row = self.expected.get((table, row_id))
        if row is None:
            return
        if self.layout == "original":  # Opik's original backend deletes rows, before and after the swap
            self.adapter.execute(
                f"DELETE FROM `{self.db}`.`{table}` WHERE id = {{i:String}}", {"i": row_id},
                settings={"lightweight_deletes_sync": "2"},
            )  # fmt: skip
        else:
            self._insert(table, [{**row, "last_updated_at": self._now(), "is_deleted": 1}])
        self.expected[(table, row_id)] = None
        self.log.append(("delete", table, row_id, time.time()))

    def new_layout_live(self, table: str) -> bool:
        """Whether ``table`` currently has is_deleted (the successor or the store's layout)."""
        return has_deleted(self.adapter, self.db, table)

    def step(self) -> None:
        """One random write: a new trace (new or old time), an update of an existing one, or a delete."""
        with self.lock:
            choice = self.rng.random()
            live = [k for k, v in self.expected.items() if v is not None and k[0] == "traces"]
            if choice < 0.4 or not live:
                ms = int(time.time() * 1000) if self.rng.random() < 0.5 else BASE_MS + self.rng.randrange(20 * DAY_MS)
                tid = uuid7(ms, self.rng)
                row = self._trace(tid, f"new {self.writes}")
                span = self._span(uuid7(ms, self.rng), tid, f"new {self.writes}")
                self._insert("traces", [row])
                self._insert("spans", [span])
                self.expected[("traces", tid)] = row
                self.expected[("spans", span["id"])] = span
            elif choice < 0.85:
                tid = self.rng.choice(live)[1]
                row = self._trace(tid, f"upd {self.writes}")
                self._insert("traces", [row])
                self.log.append(("update " + row["last_updated_at"], "traces", tid, time.time()))
                self.expected[("traces", tid)] = row
            else:
                self.delete("traces", self.rng.choice(live)[1])
            self.writes += 1

    def run_until(self, stop: threading.Event, pause: float = 0.01) -> None:
        while not stop.is_set():
            self.step()
            time.sleep(pause)


_TYPES = {
    "id": "String", "workspace_id": "String", "project_id": "String", "trace_id": "String", "name": "String",
    "input": "String", "output": "String", "metadata": "String", "tags": "Array(String)",
    "last_updated_at": "DateTime64(6, 'UTC')", "start_time": "DateTime64(6, 'UTC')", "type": "String",
    "usage": "Map(String, Int32)", "model": "String", "is_deleted": "UInt8",
}  # fmt: skip


def has_deleted(adapter: Adapter, db: str, table: str) -> bool:
    """Whether ``db.table`` has is_deleted (the successor's or the store's layout)."""
    found = adapter.query(
        "SELECT count() FROM system.columns WHERE database = {d:String} AND table = {t:String} AND name = 'is_deleted'",
        {"d": db, "t": table},
    ).scalar()
    return bool(found)


def read_back(adapter: Adapter, db: str, table: str) -> dict[str, dict[str, Any]]:
    """The newest live version of every id in ``db.table`` (is_deleted honoured when the table has it)."""
    deleted = "is_deleted" if has_deleted(adapter, db, table) else "0"
    rows = adapter.query(
        f"SELECT id, workspace_id, name, input, output, toString(last_updated_at) AS v, {deleted} AS d "
        f"FROM `{db}`.`{table}` ORDER BY last_updated_at DESC LIMIT 1 BY id"
    ).dicts()
    return {str(r["id"]): r for r in rows if not r["d"]}


def assert_matches(adapter: Adapter, db: str, writer: Writer) -> None:
    """Row by row: every id the writer left live is there with its newest content; no deleted id is live."""
    for table in ("traces", "spans"):
        have = read_back(adapter, db, table)
        want = {k[1]: v for k, v in writer.expected.items() if k[0] == table and v is not None}
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        assert not missing, f"{table}: {len(missing)} rows lost, e.g. {missing[:3]}"
        assert not extra, f"{table}: {len(extra)} rows live that were deleted or never written, e.g. {extra[:3]}"
        wrong = [i for i, row in want.items() if (have[i]["name"], have[i]["input"]) != (row["name"], row["input"])
                 or have[i]["v"] != row["last_updated_at"]]  # fmt: skip
        sample = [(have[w], want[w]) for w in wrong[:2]]
        assert not wrong, f"{table}: {len(wrong)} rows with stale content, e.g. {sample}"
