"""The store's traces/spans tables against Opik's own definitions, side by side in one run.

The store's tables (``Store.migrate()``: ddl/traces.sql, ddl/spans.sql) and Opik's newest tables as its
changesets define them (tests/opik_schema.py) live in one embedded engine (chdb), in databases ``store``
and ``opik``. Every row is generated before any timed region into in-memory staging tables (ENGINE =
Memory; text from a bigram model of real English, so it compresses like prose); a timed region is one
``INSERT INTO <table> SELECT ... FROM <staging batch>``, run for both sides on the same batch, alternating
which side goes first. The store's INSERT carries what its BatchWriter sends (insert_deduplicate = 1 and
a deduplication token); Opik's table has no deduplication window. CPU per INSERT comes from
system.query_log (ProfileEvents UserTimeMicroseconds + SystemTimeMicroseconds), parts per INSERT from
system.part_log (NewPart events of its query_id).

Printed, each with its goal and whether it is met:

1. insert CPU (and wall time, for information) per INSERT, as Opik / store (1.0 = as fast, above 1 = the
   store is faster): (a) Opik's batch path, 1,000 spans of one workspace per INSERT; (b) mixed
   async-insert flush blocks of 40 workspaces, 1,000 and 10,000 rows per INSERT. Median of the
   repetitions [min-max].
2. parts per INSERT for each case, store / Opik.
3. bytes on disk per span (active parts), as inserted and after OPTIMIZE FINAL.
4. hot reads on 40 workspaces x 3 projects over --weeks weeks (after OPTIMIZE FINAL): read_rows and
   latency (each side's median; ratio: median of the back-to-back pairs) of Opik's trace page (newest
   100 of a project, LIMIT 1 BY id, slim-or-truncated input), a span by id, a trace's spans, a thread's
   traces, per-day stats of a project over 7 days of id_at. Answers are checked equal.
5. expiry over a full retention cycle of the same weeks (70% of the workspaces in the 400-day default
   class, 30% in 14/30/90-day classes, rules from 2000-01-01; an empty experiment_items on both sides):
   the store's job (``Retention._expire_here(today=day)``) on every day some (class, week) group becomes
   due (other days are skipped: the job is idempotent and has nothing to do on them; --store-every-day
   runs it daily), against Opik's retention job at a weekly cadence over the same days (per class:
   COUNT_FOR_RETENTION, then the lightweight
   DELETE_FOR_RETENTION of spans, then of traces, window [cutoff - 7 days, cutoff); a DELETE whose count
   is 0 is skipped unless --all-opik-deletes: it would write nothing), each weekly run followed by
   ``APPLY DELETED MASK IN PARTITION`` of every partition it masked rows in (the rewrite a merge would
   do to reclaim them, done at once). Bytes written: part_log ProfileEvents
   WriteBufferFromFileDescriptorWriteBytes of every MutatePart/MergeParts/NewPart event of the four
   tables during the cycle (split into DELETE masks and reclaims by the mutation's command). Also: that
   the same rows are gone at the end, how late each class went (the UTC day a row disappeared minus its
   id time + class days), how many weeks the store dropped whole, and the mean bytes on disk.

The engine runs with query_log and part_log on; background_pool_size = 16 (a server's default; the
embedded engine's 2 runs a mutation's per-part tasks in waves ~0.6 s apart: same bytes, a slower cycle);
and no background merge (min_parts_to_merge_at_once = 1,000,000 for every table; OPTIMIZE and mutations
still run). Every merged state is made by OPTIMIZE FINAL, the same on both sides: what a merge writes
depends on the merges before it (a 90-part merge cuts other granules and compression blocks than 9
small merges and a 19-part one: ~1% bytes apart for identical rows), and background merges race.

    python bench/opik_parity.py            # the full run (about 4-5 minutes on 2 cores)
    python bench/opik_parity.py --quick    # a smoke run (under a minute)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from opik_schema import opik_create

from opik_store import Store
from opik_store.engine.adapter import Adapter
from opik_store.engine.quoting import quote_string
from opik_store.maintenance.retention import Retention

SIDES = ("store", "opik")
CONFIG = """<clickhouse>
  <background_pool_size>16</background_pool_size>
  <merge_tree><min_parts_to_merge_at_once>1000000</min_parts_to_merge_at_once></merge_tree>
  <query_log><database>system</database><table>query_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></query_log>
  <part_log><database>system</database><table>part_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></part_log>
</clickhouse>
"""
DAY_MS = 86_400_000
WORKSPACES = 40
PROJECTS = 3  # per workspace
#: Retention classes by workspace index: the first 28 (70%) keep the 400-day default, then 4 each.
SHORT_CLASSES = (14, 30, 90)
DEFAULT_DAYS = 400
SPAN_COLUMNS = (
    "id", "workspace_id", "project_id", "trace_id", "parent_span_id", "name", "type", "start_time", "end_time",
    "input", "output", "metadata", "tags", "usage", "created_at", "last_updated_at", "created_by", "last_updated_by",
    "model", "provider", "total_estimated_cost", "total_estimated_cost_version", "error_info", "input_slim",
    "output_slim", "ttft", "source", "environment",
)  # fmt: skip
TRACE_COLUMNS = (
    "id", "workspace_id", "project_id", "name", "start_time", "end_time", "input", "output", "metadata", "tags",
    "created_at", "last_updated_at", "created_by", "last_updated_by", "error_info", "thread_id", "visibility_mode",
    "input_slim", "output_slim", "ttft", "source", "environment",
)  # fmt: skip
WEEK = "(toDate32(id_at) - toIntervalDay(toDayOfWeek(id_at, 1)))"


def week_of(uuid_literal: str) -> str:
    """Opik's week expression of a bound id (the Monday, UTC)."""
    at = f"UUIDv7ToDateTime(toUUID({uuid_literal}), 'UTC')"
    return f"(toDate32({at}) - toIntervalDay(toDayOfWeek({at}, 1)))"


# -- text that compresses like prose (from the former bench/layout_vs_opik.py) ---------------------

MODULES = (
    "os", "re", "json", "collections", "itertools", "functools", "pathlib", "subprocess", "argparse", "logging",
    "asyncio", "email", "http.client", "urllib.request", "unittest", "datetime", "decimal", "statistics", "string",
    "textwrap", "inspect", "threading", "socket", "shutil", "tarfile", "zipfile", "csv", "sqlite3", "random",
    "heapq", "enum", "contextlib", "abc", "io", "pickle",
)  # fmt: skip


def english_corpus() -> str:
    """Real English: docstrings of the standard library (the same text on every machine with this Python)."""
    docs: list[str] = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in dir(module):
            doc = getattr(getattr(module, attr, None), "__doc__", None)
            if isinstance(doc, str) and len(doc) > 40:
                docs.append(doc)
    return "\n".join(dict.fromkeys(docs))


def generate_documents(corpus: str, count: int, words: int, seed: int = 7) -> list[str]:
    """``count`` documents of about ``words`` tokens from a bigram model of ``corpus`` (no quote or backslash)."""
    tokens = re.findall(r"[A-Za-z][A-Za-z'-]*|[0-9]+|[.,;:()]", corpus)
    follows: dict[str, list[str]] = defaultdict(list)
    for a, b in itertools.pairwise(tokens):
        follows[a].append(b)
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        word = rng.choice(tokens)
        parts = [word]
        for _ in range(words):
            word = rng.choice(follows.get(word) or tokens)
            parts.append(word)
        text = " ".join(parts)
        out.append(re.sub(r" ([.,;:)])", r"\1", text).replace("( ", "(").replace("'", ""))
    return out


# -- ids and rows ------------------------------------------------------------------------------------


def uuid7(ms: int, rng: random.Random) -> str:
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def lower_bound_id(day: date) -> str:
    """Opik's InstantToUUIDMapper.toLowerBound of 00:00 UTC of ``day``: the smallest UUIDv7 of that millisecond."""
    ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    t = f"{ms:012x}"
    return f"{t[:8]}-{t[8:]}-7000-8000-000000000000"


def uuid7_sql(ms: str, seed: str) -> str:
    """SQL for a lowercase UUIDv7 text whose time is ``ms`` and whose random bits hash ``seed``."""
    t = f"leftPad(lower(hex(toUInt64({ms}))), 12, '0')"
    a = f"leftPad(lower(hex(cityHash64({seed}, 1))), 16, '0')"
    b = f"leftPad(lower(hex(cityHash64({seed}, 2))), 16, '0')"
    return (
        f"concat(substring({t}, 1, 8), '-', substring({t}, 9, 4), '-7', substring({a}, 1, 3), '-', "
        f"substring('89ab', 1 + cityHash64({seed}, 3) % 4, 1), substring({a}, 4, 3), '-', substring({b}, 1, 12))"
    )


@dataclass(frozen=True)
class Shape:
    """Which traces a batch holds: ``count`` traces numbered from ``first`` (globally unique), trace ``n`` of
    the batch at ``t0_ms + n * step_ms`` (+ jitter below step_ms), all of workspace ``workspace`` (index) or,
    when it is None, of a workspace and project hashed from the trace number (a mixed flush block)."""

    first: int
    count: int
    t0_ms: int
    step_ms: int
    workspace: int | None = None
    project: int = 0


def _common(shape: Shape, index: str) -> str:
    """WITH items shared by the span and the trace generators (``index``: the trace's number in the batch)."""
    w = str(shape.workspace) if shape.workspace is not None else f"cityHash64(j, 3) % {WORKSPACES}"
    p = str(shape.project) if shape.workspace is not None else f"cityHash64(j, 4) % {PROJECTS}"
    return (
        f"(SELECT groupArray(doc) FROM staging.pool) AS pool, {{ws:Array(String)}} AS wss, "
        f"{{projects:Array(String)}} AS pss, {shape.first} + {index} AS j, "
        f"{shape.t0_ms} + {index} * {shape.step_ms} + cityHash64(j, 11) % {max(shape.step_ms, 1)} AS tms, "
        f"{w} AS w, {p} AS p"
    )


def _text(seed: str, docs: str) -> str:
    return f"arrayStringConcat(arrayMap(x -> pool[1 + cityHash64({seed}, x) % length(pool)], range({docs})), ' ')"


def _slim(text: str) -> str:
    """Opik's slim copy: leaf strings cut to 1,000 characters plus '...'."""
    return f"if(length({text}) > 1000, concat(substring({text}, 1, 1000), '...'), {text})"


def span_rows_sql(table: str, shape: Shape) -> str:
    """INSERT of the batch's spans (ten a trace, in time order) into ``table``; every value is explicit."""
    n = "intDiv(number, 10)"
    long_input = "if(cityHash64(j, k, 9) % 100 < 8, 12, 1 + cityHash64(j, k, 8) % 3)"
    return (
        f"INSERT INTO {table} ({', '.join(SPAN_COLUMNS)}) "
        f"WITH {_common(shape, n)}, number % 10 AS k, tms + k * 40 AS sms, "
        f"{_text('j, k, 21', long_input)} AS cin, {_text('j, k, 22', '1 + cityHash64(j, k, 7) % 2')} AS cout, "
        "if(k = 0, 'general', if(k % 3 = 1, 'llm', 'tool')) AS kind, "
        "cityHash64(j, k, 10) % 10 = 0 AS legacy "
        f"SELECT {uuid7_sql('sms', 'j, k')}, wss[1 + w], pss[1 + w * {PROJECTS} + p], {uuid7_sql('tms', 'j, 100')}, "
        f"if(k = 0, '', {uuid7_sql('tms', 'j, 0')}), concat('step ', toString(k)), kind, "
        "fromUnixTimestamp64Milli(toInt64(sms), 'UTC'), "
        "fromUnixTimestamp64Milli(toInt64(sms + 200 + cityHash64(j, k, 5) % 2800), 'UTC'), "
        'concat(\'{"messages": [{"role": "user", "content": "\', cin, \'"}]}\'), '
        "concat('{\"completion\": \"', cout, '\", \"tokens\": ', toString(cityHash64(j, k, 6) % 900), '}'), "
        'concat(\'{"request_id": "\', lower(hex(cityHash64(j, k, 12))), \'", "temperature": 0.\', '
        "toString(cityHash64(j, k, 13) % 10), '}'), if(k % 4 = 0, ['prod', 'agent'], ['prod']), "
        "if(kind = 'llm', map('prompt_tokens', toInt64(cityHash64(j, k, 14) % 4000), 'completion_tokens', "
        "toInt64(cityHash64(j, k, 15) % 700)), map()), "
        "fromUnixTimestamp64Milli(toInt64(sms + 3500), 'UTC'), fromUnixTimestamp64Milli(toInt64(sms + 3500), 'UTC'), "
        "'sdk-user', 'sdk-user', if(kind = 'llm', 'gpt-4o', ''), if(kind = 'llm', 'openai', ''), "
        "toDecimal128(if(kind = 'llm', cityHash64(j, k, 16) % 100000 / 10000000, 0), 12), "
        "if(kind = 'llm', 'v1', ''), if(cityHash64(j, k, 17) % 50 = 0, '{\"exception_type\": \"Timeout\"}', ''), "
        'if(legacy, \'\', concat(\'{"messages": [{"role": "user", "content": "\', '
        f"{_slim('cin')}, '\"}}]}}')), "
        f"if(legacy, '', concat('{{\"completion\": \"', {_slim('cout')}, '\"}}')), "
        "if(kind = 'llm', toFloat64(cityHash64(j, k, 18) % 900), nan), 'sdk', 'production' "
        f"FROM numbers({shape.count * 10})"
    )


def trace_rows_sql(table: str, shape: Shape) -> str:
    """INSERT of the batch's traces (the span batch's trace ids) into ``table``."""
    return (
        f"INSERT INTO {table} ({', '.join(TRACE_COLUMNS)}) "
        f"WITH {_common(shape, 'number')}, {_text('j, 31', '1 + cityHash64(j, 32) % 3')} AS cin, "
        f"{_text('j, 33', '1 + cityHash64(j, 34) % 2')} AS cout, cityHash64(j, 10) % 10 = 0 AS legacy "
        f"SELECT {uuid7_sql('tms', 'j, 100')}, wss[1 + w], pss[1 + w * {PROJECTS} + p], 'agent run', "
        "fromUnixTimestamp64Milli(toInt64(tms), 'UTC'), "
        "fromUnixTimestamp64Milli(toInt64(tms + 4000 + cityHash64(j, 35) % 6000), 'UTC'), "
        "concat('{\"question\": \"', cin, '\"}'), concat('{\"answer\": \"', cout, '\"}'), "
        "concat('{\"session\": \"', lower(hex(cityHash64(j, 36))), '\"}'), ['prod'], "
        "fromUnixTimestamp64Milli(toInt64(tms + 9500), 'UTC'), fromUnixTimestamp64Milli(toInt64(tms + 9500), 'UTC'), "
        "'sdk-user', 'sdk-user', '', "
        "concat('thread-', toString(w), '-', toString(p), '-', toString(cityHash64(j, 5) % 20)), 'default', "
        f"if(legacy, '', concat('{{\"question\": \"', {_slim('cin')}, '\"}}')), "
        f"if(legacy, '', concat('{{\"answer\": \"', {_slim('cout')}, '\"}}')), "
        "toFloat64(cityHash64(j, 37) % 1500), 'sdk', 'production' "
        f"FROM numbers({shape.count})"
    )


# -- the bench ---------------------------------------------------------------------------------------


def median_range(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


@dataclass
class Line:
    """One printed result: a ratio (median, min, max), the values of each side, a goal."""

    key: str
    what: str
    store: str
    opik: str
    ratio: tuple[float, float, float] | None
    goal: str
    met: bool | None
    note: str = ""


@dataclass
class Bench:
    adapter: Adapter
    args: argparse.Namespace
    workspaces: list[str]
    projects: list[str]
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    staging_seq: int = 0

    # -- small helpers --------------------------------------------------------------------------
    def x(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.adapter.execute(sql, params)

    def q(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.adapter.query(sql, params).rows

    def one(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        return self.adapter.query(sql, params).scalar()

    def flush(self) -> None:
        self.x("SYSTEM FLUSH LOGS")

    def params(self) -> dict[str, Any]:
        return {"ws": self.workspaces, "projects": self.projects}

    def staging(self, kind: str, shape: Shape) -> str:
        """A Memory table holding the rows of ``shape`` ('spans' or 'traces'); returns its name."""
        self.staging_seq += 1
        name = f"staging.{kind}_{self.staging_seq}"
        columns = SPAN_COLUMNS if kind == "spans" else TRACE_COLUMNS
        self.x(f"CREATE TABLE {name} ENGINE = Memory AS SELECT {', '.join(columns)} FROM store.{kind} LIMIT 0")
        make = span_rows_sql if kind == "spans" else trace_rows_sql
        self.x(make(name, shape), self.params())
        return name

    def copy(self, kind: str, staging: str, side: str, tag: str = "") -> float:
        """``INSERT INTO <side>.<kind> SELECT ... FROM staging``; returns its wall time in seconds.

        The store's INSERT carries what its BatchWriter sends: ``insert_deduplicate = 1`` and a per-batch
        ``insert_deduplication_token`` (the engine then checks and records the block in the table's
        deduplication log; without a token an INSERT SELECT is not deduplicated at all). Opik's plain
        single-node table has no deduplication window, so its INSERT does no such work."""
        columns = ", ".join(SPAN_COLUMNS if kind == "spans" else TRACE_COLUMNS)
        sql = f"INSERT INTO {side}.{kind} ({columns}) SELECT {columns} FROM {staging}"
        settings = [f"log_comment = {quote_string(tag)}"] if tag else []
        if side == "store":
            token = hashlib.sha256(f"{kind}:{staging}".encode()).hexdigest()
            settings += ["insert_deduplicate = 1", f"insert_deduplication_token = '{token}'"]
        if settings:
            sql += " SETTINGS " + ", ".join(settings)
        started = time.perf_counter()
        self.x(sql)
        return time.perf_counter() - started

    def parts(self, side: str, kind: str) -> tuple[int, int, int]:
        """(active parts, rows, bytes on disk) of one table."""
        row = self.q(
            "SELECT count(), sum(rows), sum(bytes_on_disk) FROM system.parts "
            "WHERE database = {d:String} AND table = {t:String} AND active",
            {"d": side, "t": kind},
        )[0]
        return int(row[0]), int(row[1] or 0), int(row[2] or 0)

    def add(self, line: Line) -> None:
        self.lines.append(line)

    # -- 1-3: inserts, parts, bytes ---------------------------------------------------------------
    def inserts(self) -> None:
        args = self.args
        week = date.fromisoformat(args.start) + timedelta(weeks=10)  # a week of its own, one partition
        base_ms = int(datetime(week.year, week.month, week.day, 1, tzinfo=UTC).timestamp() * 1000)
        cases = [
            ("1a", "1,000 spans of 1 workspace", 100, args.batches_1k, True),
            ("1b", "1,000 rows of 40 workspaces", 100, args.batches_1k, False),
            ("1b", "10,000 rows of 40 workspaces", 1000, args.batches_10k, False),
        ]
        first = 10_000_000
        for rep in range(args.reps):
            for case_no, (_, _, traces, batches, one_ws) in enumerate(cases):
                names = []
                for batch in range(batches):  # every row made before any INSERT of the repetition is timed
                    w = (rep * 7 + batch) % WORKSPACES
                    t0 = base_ms + (first - 10_000_000) * 10  # 10 ms a trace, in order over the run
                    shape = Shape(first, traces, t0, 10, w if one_ws else None, batch % PROJECTS)
                    first += traces
                    names.append(self.staging("spans", shape))
                for batch, name in enumerate(names):
                    order = SIDES if (rep + batch) % 2 == 0 else SIDES[::-1]
                    for side in order:
                        self.copy("spans", name, side, f"parity-insert|{case_no}|{rep}|{batch}|{side}")
                for name in names:
                    self.x(f"DROP TABLE {name}")
        before = {side: self.parts(side, "spans") for side in SIDES}
        for side in SIDES:
            self.x(f"OPTIMIZE TABLE {side}.spans FINAL")
        after = {side: self.parts(side, "spans") for side in SIDES}
        self.flush()
        cpu: dict[tuple[int, int, str], list[int]] = defaultdict(list)
        wall: dict[tuple[int, int, str], list[int]] = defaultdict(list)
        query_ids: dict[str, tuple[int, int, str]] = {}
        for comment, query_id, used, micros in self.q(
            "SELECT log_comment, query_id, ProfileEvents['UserTimeMicroseconds'] + "
            "ProfileEvents['SystemTimeMicroseconds'], dateDiff('microsecond', query_start_time_microseconds, "
            "event_time_microseconds) FROM system.query_log "
            "WHERE type = 'QueryFinish' AND log_comment LIKE 'parity-insert|%'"
        ):
            _, case_text, rep_text, _, side = str(comment).split("|")
            which = (int(case_text), int(rep_text), side)
            cpu[which].append(int(used))
            wall[which].append(int(micros))
            query_ids[str(query_id)] = which
        new_parts: dict[tuple[int, int, str], int] = defaultdict(int)
        for query_id, count in self.q(
            "SELECT query_id, count() FROM system.part_log WHERE event_type = 'NewPart' "
            "AND database IN ('store', 'opik') AND table = 'spans' AND query_id != '' GROUP BY query_id"
        ):
            if str(query_id) in query_ids:
                new_parts[query_ids[str(query_id)]] += int(count)
        for case_no, (key, what, _, _, _) in enumerate(cases):
            reps = range(args.reps)
            mean = {s: [statistics.mean(cpu[(case_no, r, s)]) / 1000 for r in reps] for s in SIDES}
            walls = {s: [statistics.mean(wall[(case_no, r, s)]) / 1000 for r in reps] for s in SIDES}
            per_insert = {s: [new_parts[(case_no, r, s)] / len(cpu[(case_no, r, s)]) for r in reps] for s in SIDES}
            ratios = median_range([o / s for o, s in zip(mean["opik"], mean["store"], strict=True)])
            goal = 0.90 if key == "1a" else 0.85
            self.add(Line(key, f"insert CPU/INSERT, {what}", f"{statistics.median(mean['store']):.1f} ms",
                          f"{statistics.median(mean['opik']):.1f} ms", ratios, f">= {goal:.2f}x (Opik/store)",
                          ratios[0] >= goal))  # fmt: skip
            wratios = median_range([o / s for o, s in zip(walls["opik"], walls["store"], strict=True)])
            self.add(
                Line(
                    key,
                    f"insert wall/INSERT, {what}",
                    f"{statistics.median(walls['store']):.1f} ms",
                    f"{statistics.median(walls['opik']):.1f} ms",
                    wratios,
                    "info (Opik/store)",
                    None,
                )
            )
            pratios = median_range([s / o for s, o in zip(per_insert["store"], per_insert["opik"], strict=True)])
            ok = pratios[0] <= 1.10
            self.add(Line("2", f"parts/INSERT, {what}", f"{statistics.median(per_insert['store']):.2f}",
                          f"{statistics.median(per_insert['opik']):.2f}", pratios, "<= 1.10x", ok))  # fmt: skip
        for label, state in (("as inserted", before), ("after OPTIMIZE FINAL", after)):
            per = {s: state[s][2] / state[s][1] for s in SIDES}
            ratio = per["store"] / per["opik"]
            self.add(Line("3", f"bytes on disk/span, {label} ({state['store'][0]}/{state['opik'][0]} parts)",
                          f"{per['store']:.1f} B", f"{per['opik']:.1f} B", (ratio, ratio, ratio), "<= 1.00x",
                          ratio <= 1.0))  # fmt: skip
        self.notes.append(
            f"1-3: {args.reps} repetitions; per repetition {args.batches_1k} INSERTs of 1,000 spans per 1,000-row "
            f"case and {args.batches_10k} of 10,000; no background merge; "
            f"{before['store'][1]:,} spans per side."
        )
        for side in SIDES:
            self.x(f"TRUNCATE TABLE {side}.spans")

    # -- 4: the data set of --weeks weeks and the reads ------------------------------------------
    def load(self) -> int:
        """Load --weeks weeks of spans and traces (40 workspaces x 3 projects) into both sides; returns the spans."""
        args = self.args
        start = date.fromisoformat(args.start)
        t0 = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() * 1000)
        traces = int(args.spans) // 10
        step = (int(args.weeks) * 7 * DAY_MS - 60_000) // traces
        chunk = 2_000
        for first in range(0, traces, chunk):
            n = min(chunk, traces - first)
            shape = Shape(first, n, t0 + first * step, step)
            names = {kind: self.staging(kind, shape) for kind in ("spans", "traces")}
            for kind, name in names.items():
                for side in SIDES:
                    self.copy(kind, name, side)
                self.x(f"DROP TABLE {name}")
        for side in SIDES:
            for kind in ("spans", "traces"):
                self.x(f"OPTIMIZE TABLE {side}.{kind} FINAL")
        return traces * 10

    def reads(self) -> None:
        args = self.args
        ws, project = self.workspaces[5], self.projects[5 * PROJECTS + 1]
        target = {"ws": ws, "p": project}
        span_id, trace_id = (
            str(v)
            for v in self.q(
                "SELECT id, trace_id FROM store.spans WHERE workspace_id = {ws:String} AND project_id = {p:String} "
                "AND name = 'step 3' ORDER BY cityHash64(id) LIMIT 1",
                target,
            )[0]
        )
        thread = str(self.one(
            "SELECT thread_id FROM store.traces WHERE workspace_id = {ws:String} AND project_id = {p:String} "
            "GROUP BY thread_id ORDER BY count() DESC, thread_id LIMIT 1", target))  # fmt: skip
        newest = str(self.one("SELECT max(id_at) FROM store.traces"))[:10]
        end = date.fromisoformat(newest) + timedelta(days=1)
        span_week = int(self.one("SELECT toYYYYMMDD(" + week_of(quote_string(span_id)) + ")"))
        dedup = "ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC LIMIT 1 BY id"
        find_page = (
            "WITH traces_deduped AS (SELECT t.* EXCEPT (input_slim, output_slim, input, output, metadata), "
            "input_length, output_length, duration FROM {T} t WHERE workspace_id = {ws:String} "
            f"AND project_id = {{p:String}} {dedup}), "
            "page_ids AS (SELECT td.id FROM traces_deduped td "
            "ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC LIMIT 100 OFFSET 0), "
            "page_wide AS (SELECT t.*, truncated_input, truncated_output, input_length, output_length, duration "
            "FROM {T} t WHERE workspace_id = {ws:String} AND project_id = {p:String} "
            f"AND id IN (SELECT arrayJoin((SELECT groupArray(id) FROM page_ids))) {dedup}) "
            "SELECT id, name, start_time, end_time, duration, thread_id, "
            "if(notEmpty(input_slim), input_slim, truncated_input) AS input, "
            "if(notEmpty(output_slim), output_slim, truncated_output) AS output, metadata, "
            "input_length >= truncation_threshold AS input_truncated FROM page_wide "
            "ORDER BY (workspace_id, project_id, id) DESC, last_updated_at DESC"
        )
        reads = {
            "trace page (newest 100 of a project)": ("traces", find_page, target),
            "a span by id": (
                "spans",
                "SELECT *, duration FROM {T} WHERE id = {id:String} AND project_id = {p:String} "
                f"AND workspace_id = {{ws:String}} AND toYYYYMMDD({WEEK}) IN ({span_week}) "
                "ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC LIMIT 1",
                {**target, "id": span_id},
            ),
            "a trace's spans": (
                "spans",
                "SELECT *, duration FROM {T} WHERE workspace_id = {ws:String} AND project_id = {p:String} "
                "AND trace_id = {t:String} "
                "ORDER BY (workspace_id, project_id, trace_id, id) DESC, last_updated_at DESC LIMIT 1 BY id",
                {**target, "t": trace_id},
            ),
            "a thread's traces": (
                "traces",
                "SELECT id, name, start_time, end_time, duration, input_slim FROM {T} "
                "WHERE workspace_id = {ws:String} AND project_id = {p:String} AND thread_id = {th:String} " + dedup,
                {**target, "th": thread},
            ),
            "7-day stats per day of a project": (
                "traces",
                "SELECT toDate(id_at) AS day, count() AS traces, avg(duration) AS avg_ms FROM (SELECT id, id_at, "
                "duration FROM {T} WHERE workspace_id = {ws:String} AND project_id = {p:String} "
                "AND id_at >= toDateTime64({f:String}, 0, 'UTC') AND id_at < toDateTime64({u:String}, 0, 'UTC') "
                f"{dedup}) GROUP BY day ORDER BY day",
                {**target, "f": (end - timedelta(days=7)).isoformat(), "u": end.isoformat()},
            ),
        }
        for n, (name, (kind, sql, params)) in enumerate(reads.items()):
            answers: dict[str, str] = {}
            times: dict[str, list[float]] = {s: [] for s in SIDES}
            for run in range(args.read_runs + 1):  # run 0 warms the caches, untimed
                order = SIDES if run % 2 == 0 else SIDES[::-1]
                for side in order:
                    text = sql.replace("{T}", f"{side}.{kind}")
                    tag = f"parity-read|{n}|{run}|{side}"
                    started = time.perf_counter()
                    rows = self.adapter.query(f"{text} SETTINGS log_comment = {quote_string(tag)}", params).rows
                    elapsed = time.perf_counter() - started
                    if run:
                        times[side].append(elapsed)
                    answers[side] = repr(rows)
            if answers["store"] != answers["opik"]:
                raise AssertionError(f"{name}: the two sides answer differently")
            self.flush()
            logged = {
                side: self.q(
                    "SELECT read_rows, ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds'] "
                    "FROM system.query_log WHERE type = 'QueryFinish' AND log_comment LIKE {c:String} "
                    "AND log_comment NOT LIKE {w:String}",
                    {"c": f"parity-read|{n}|%|{side}", "w": f"parity-read|{n}|0|%"},
                )
                for side in SIDES
            }
            read_rows = {side: statistics.median(int(r[0]) for r in logged[side]) for side in SIDES}
            cpu = {side: statistics.median(int(r[1]) for r in logged[side]) / 1000 for side in SIDES}
            rows_ratio = read_rows["store"] / max(read_rows["opik"], 1)
            self.add(Line("4", f"read_rows: {name}", f"{read_rows['store']:,.0f}", f"{read_rows['opik']:,.0f}",
                          (rows_ratio, rows_ratio, rows_ratio), "<= 1.00x", rows_ratio <= 1.0))  # fmt: skip
            # the ratio of each back-to-back pair (it cancels drifts of the machine's load), then their median
            pairs = [s / o for s, o in zip(times["store"], times["opik"], strict=True)]
            med = statistics.median(pairs)
            of_medians = statistics.median(times["store"]) / statistics.median(times["opik"])
            self.add(Line("4", f"latency: {name}", f"{statistics.median(times['store']) * 1000:.2f} ms",
                          f"{statistics.median(times['opik']) * 1000:.2f} ms", (med, min(pairs), max(pairs)),
                          "<= 1.10x", med <= 1.10,
                          f"ratio of the medians {of_medians:.2f}; CPU per run (query_log, median) "
                          f"{cpu['store']:.2f} / {cpu['opik']:.2f} ms, "
                          f"ratio {cpu['store'] / max(cpu['opik'], 1e-9):.2f}"))  # fmt: skip
        self.notes.append(
            f"4: {args.read_runs} timed runs per read and side (after one warm-up), alternating which side goes "
            "first; latency ratio = median of the per-run store/Opik pairs [min-max]; the latencies shown are "
            f"each side's median; workspace {ws}, project {project}, thread {thread}; answers compared equal."
        )

    # -- 5: the retention cycle --------------------------------------------------------------------
    def classes(self) -> dict[str, int]:
        """Each workspace's class: 70% the 400-day default, 10% each 14, 30 and 90 days."""
        out = {}
        for i, ws in enumerate(self.workspaces):
            out[ws] = DEFAULT_DAYS if i < 28 else SHORT_CLASSES[(i - 28) // 4]
        return out

    def expiry(self, store: Store) -> None:
        classes = self.classes()
        retention = store.retention()
        retention.add_rule("", "", DEFAULT_DAYS, date(2000, 1, 1), "bench: default class")
        for ws, days in classes.items():
            if days != DEFAULT_DAYS:
                retention.add_rule(ws, "", days, date(2000, 1, 1), "bench: short class")
        self.x(
            "CREATE TABLE track.ids (tbl LowCardinality(String), id FixedString(36), ms Int64, cls UInt16) "
            "ENGINE = MergeTree ORDER BY (tbl, id)"
        )
        self.x(
            "CREATE TABLE track.gone (side LowCardinality(String), tbl LowCardinality(String), id FixedString(36), "
            "day Date32) ENGINE = MergeTree ORDER BY (side, tbl, id)"
        )
        keys, values = list(classes), list(classes.values())
        for kind in ("spans", "traces"):
            self.x(
                f"INSERT INTO track.ids SELECT '{kind}', id, toUnixTimestamp64Milli(UUIDv7ToDateTime(toUUID(id))), "
                f"transform(workspace_id, {{k:Array(String)}}, {{v:Array(UInt16)}}, toUInt16({DEFAULT_DAYS})) "
                f"FROM opik.{kind}",
                {"k": keys, "v": values},
            )
        weeks = sorted(
            {date.fromisoformat(f"{p[:4]}-{p[4:6]}-{p[6:]}") for (p,) in self.q(
                "SELECT DISTINCT partition_id FROM system.parts WHERE database = 'store' AND active "
                "AND table IN ('spans', 'traces')")}
        )  # fmt: skip
        all_classes = sorted({*classes.values()})
        store_days = sorted({w + timedelta(days=7 + c) for w in weeks for c in all_classes})
        first, last_due = store_days[0], store_days[-1]
        if self.args.store_every_day:
            store_days = [first + timedelta(days=n) for n in range((last_due - first).days + 1)]
        opik_days = [first + timedelta(weeks=k) for k in range((last_due - first).days // 7 + 2)]
        opik_days = [d for d in opik_days if d - timedelta(days=7) < last_due]
        by_class: dict[int, list[str]] = defaultdict(list)
        for ws, days in classes.items():
            by_class[days].append(ws)
        for side in SIDES:  # empty, as in a deployment without experiments: both jobs exclude its trace_ids
            self.x(f"CREATE TABLE {side}.experiment_items (workspace_id String, trace_id FixedString(36)) "
                   "ENGINE = MergeTree ORDER BY (workspace_id, trace_id)")  # fmt: skip
        start_bytes = {side: sum(self.parts(side, k)[2] for k in ("spans", "traces")) for side in SIDES}
        disk: dict[str, list[tuple[date, int]]] = {s: [(first, start_bytes[s])] for s in SIDES}
        mutations: dict[tuple[str, str, str], str] = {}
        since = str(self.one("SELECT toString(now64(6))"))
        done_lines: list[str] = []
        counts = {"opik deletes": 0, "opik deletes skipped": 0, "opik reclaims": 0}
        started = time.perf_counter()
        for day in sorted({*store_days, *opik_days}):
            if day in store_days:
                done_lines += store_run(retention, day)
                self.track("store", day)
                disk["store"].append((day, sum(self.parts("store", k)[2] for k in ("spans", "traces"))))
            if day in opik_days and self.opik_run(day, by_class, counts):  # else it found nothing to delete
                self.track("opik", day)
                disk["opik"].append((day, sum(self.parts("opik", k)[2] for k in ("spans", "traces"))))
            self.collect_mutations(mutations)
        cycle_seconds = time.perf_counter() - started
        end = max(opik_days[-1], store_days[-1])
        self.flush()
        written: dict[tuple[str, str], int] = defaultdict(int)
        events: dict[tuple[str, str], int] = defaultdict(int)
        by_table: dict[tuple[str, str, str], int] = defaultdict(int)
        for db, table, event, mids, wrote in self.q(
            "SELECT database, table, toString(event_type), mutation_ids, "
            "ProfileEvents['WriteBufferFromFileDescriptorWriteBytes'] FROM system.part_log "
            "WHERE database IN ('store', 'opik') AND table IN ('spans', 'traces') "
            "AND event_type IN ('NewPart', 'MergeParts', 'MutatePart') "
            "AND event_time_microseconds >= {s:DateTime64(6)}",
            {"s": since},
        ):
            kind = event
            if event == "MutatePart":
                commands = {mutations.get((str(db), str(table), str(m)), "?") for m in mids}
                kind = "reclaim" if "reclaim" in commands else "mask" if "mask" in commands else "mutation ?"
            written[(str(db), kind)] += int(wrote)
            events[(str(db), kind)] += 1
            by_table[(str(db), str(table), kind)] += int(wrote)
        total = {side: sum(v for (db, _), v in written.items() if db == side) for side in SIDES}
        ratio = total["store"] / max(total["opik"], 1)

        def breakdown(side: str) -> str:
            kinds = ", ".join(f"{k} {v / 1e6:.1f} MB in {events[(db, k)]} part events"
                              for (db, k), v in sorted(written.items()) if db == side)  # fmt: skip
            tables = ", ".join(f"{t} {k} {v / 1e6:.1f} MB" for (db, t, k), v in sorted(by_table.items()) if db == side)
            return f"{kinds} ({tables})"

        self.add(Line("5", "expiry: bytes written over the cycle", f"{total['store'] / 1e6:.1f} MB",
                      f"{total['opik'] / 1e6:.1f} MB", (ratio, ratio, ratio), "<= 0.50x", ratio <= 0.5))  # fmt: skip
        masks = {side: written[(side, "mask")] for side in SIDES}
        m = masks["store"] / max(masks["opik"], 1)
        self.add(Line("5", "  of which DELETE masks (the rest: reclaim, drops)", f"{masks['store'] / 1e6:.1f} MB",
                      f"{masks['opik'] / 1e6:.1f} MB", (m, m, m), "info", None))  # fmt: skip
        left = {s: sum(self.parts(s, k)[1] for k in ("spans", "traces")) for s in SIDES}
        live = {s: int(self.one(f"SELECT (SELECT count() FROM {s}.spans) + (SELECT count() FROM {s}.traces)"))
                for s in SIDES}  # fmt: skip
        differ = int(self.one(
            "SELECT (SELECT count() FROM (SELECT tbl, id FROM track.gone WHERE side = 'store' EXCEPT "
            "SELECT tbl, id FROM track.gone WHERE side = 'opik')) + (SELECT count() FROM (SELECT tbl, id FROM "
            "track.gone WHERE side = 'opik' EXCEPT SELECT tbl, id FROM track.gone WHERE side = 'store'))"))  # fmt: skip
        gone = int(self.one("SELECT count() FROM track.gone WHERE side = 'store'"))
        tracked = int(self.one("SELECT count() FROM track.ids"))
        gone_opik = int(self.one("SELECT count() FROM track.gone WHERE side = 'opik'"))
        same = differ == 0 and gone == tracked and live["store"] == live["opik"] == 0
        self.add(Line("5", "expiry: rows gone at the end (spans+traces)", f"{gone:,}", f"{gone_opik:,}", None,
                      "same rows, all of them", same,
                      f"{differ} rows differ; live rows left {live['store']}/{live['opik']}; "
                      f"rows still in parts {left['store']}/{left['opik']}"))  # fmt: skip
        late = self.q(
            "SELECT side, cls, count(), min(late), quantileExact(0.5)(late), max(late), countIf(late < 0), "
            "countIf(late > 7) FROM (SELECT g.side AS side, i.cls AS cls, (toUnixTimestamp(toDateTime(g.day, 'UTC')) "
            "* 1000 - i.ms - toInt64(i.cls) * 86400000) / 86400000 AS late FROM track.gone AS g INNER JOIN "
            "track.ids AS i ON g.tbl = i.tbl AND g.id = i.id) GROUP BY side, cls ORDER BY cls, side"
        )
        stats = {(str(r[0]), int(r[1])): r[2:] for r in late}
        for cls in all_classes:
            s, o = stats[("store", cls)], stats[("opik", cls)]
            ok = int(s[4]) == 0 and int(s[5]) == 0
            self.add(Line("5", f"expiry: days late, {cls}-day class (median / max)",
                          f"{float(s[2]):.2f} / {float(s[3]):.3f}", f"{float(o[2]):.2f} / {float(o[3]):.3f}", None,
                          "store: none early, none > 7", ok,
                          f"min {float(s[1]):.3f} / {float(o[1]):.3f}; early {s[4]}/{o[4]}, >7 days {s[5]}/{o[5]} "
                          f"of {int(s[0]):,} rows"))  # fmt: skip
        drops = [line for line in done_lines if line.startswith("drop ")]
        dropped = {kind: sum(1 for line in drops if line.startswith(f"drop {kind} ")) for kind in ("spans", "traces")}
        self.add(Line("5", "expiry: weeks dropped whole (spans/traces)", f"{dropped['spans']}/{dropped['traces']}",
                      "0/0", None, f"info ({len(weeks)} weeks)", None))  # fmt: skip
        held = {s: time_weighted(disk[s], first, end) for s in SIDES}
        h = held["store"] / held["opik"]
        self.add(Line("5", "expiry: mean bytes on disk over the cycle", f"{held['store'] / 1e6:.1f} MB",
                      f"{held['opik'] / 1e6:.1f} MB", (h, h, h), "info", None))  # fmt: skip
        kinds: dict[str, int] = defaultdict(int)
        for line in done_lines:
            kinds[line.split(" ", 1)[0]] += 1
        self.notes.append(
            f"5: cycle {first} .. {end} ({(end - first).days} days) in {cycle_seconds:.0f} s: the store ran on "
            f"{len(store_days)} {'days (every day)' if self.args.store_every_day else 'due days'} "
            f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); Opik ran "
            f"weekly on {len(opik_days)} days ({counts['opik deletes']} DELETEs run, "
            f"{counts['opik deletes skipped']} skipped because COUNT_FOR_RETENTION found no row, "
            f"{counts['opik reclaims']} APPLY DELETED MASK IN PARTITION). Written: store {breakdown('store')}; "
            f"Opik {breakdown('opik')}. Start size: store {start_bytes['store'] / 1e6:.1f} MB, "
            f"Opik {start_bytes['opik'] / 1e6:.1f} MB."
        )

    def track(self, side: str, day: date) -> None:
        """Record the rows of ``side`` that disappeared (as readers see it) on ``day``."""
        for kind in ("spans", "traces"):
            self.x(
                f"INSERT INTO track.gone SELECT '{side}', tbl, id, {{d:Date32}} FROM track.ids WHERE tbl = '{kind}' "
                f"AND id NOT IN (SELECT id FROM {side}.{kind}) AND id NOT IN "
                f"(SELECT id FROM track.gone WHERE side = '{side}' AND tbl = '{kind}')",
                {"d": day.isoformat()},
            )

    def collect_mutations(self, seen: dict[tuple[str, str, str], str]) -> None:
        """Remember what every mutation of the four tables was (kept before the engine forgets finished ones)."""
        for db, table, mid, command in self.q(
            "SELECT database, table, mutation_id, command FROM system.mutations "
            "WHERE database IN ('store', 'opik') AND table IN ('spans', 'traces')"
        ):
            text = str(command).upper()
            seen[(str(db), str(table), str(mid))] = "reclaim" if "APPLY DELETED MASK" in text else "mask"

    def opik_run(self, day: date, by_class: dict[int, list[str]], counts: dict[str, int]) -> bool:
        """Opik's retention job as of 00:00 UTC of ``day``: per class, count then delete spans, then traces;
        then the reclaim of the partitions it masked rows in. Whether it deleted anything."""
        deleted = False
        for days, workspaces in sorted(by_class.items()):
            cutoff_day = day - timedelta(days=days)
            cutoff = quote_string(lower_bound_id(cutoff_day))
            lower = quote_string(lower_bound_id(cutoff_day - timedelta(days=self.args.opik_window)))
            ws = "(" + ", ".join(quote_string(w) for w in workspaces) + ")"
            week_bounds = f"AND {WEEK} >= {week_of(lower)} AND {WEEK} < addWeeks({week_of(cutoff)}, 1)"
            n_traces = int(self.one(f"SELECT count() FROM opik.traces WHERE workspace_id IN {ws} AND id >= {lower} "
                                    f"AND id < {cutoff} {week_bounds}"))  # fmt: skip
            n_spans = int(self.one(f"SELECT count() FROM opik.spans WHERE workspace_id IN {ws} "
                                   f"AND trace_id >= {lower} AND trace_id < {cutoff}"))  # fmt: skip
            experiments = (
                f"(SELECT trace_id FROM opik.experiment_items WHERE workspace_id IN {ws} "
                f"AND trace_id >= {lower} AND trace_id < {cutoff})"
            )
            settings = "SETTINGS lightweight_deletes_sync = 1, allow_nondeterministic_mutations = 1"
            for found, sql in (
                (n_spans, f"DELETE FROM opik.spans WHERE workspace_id IN {ws} AND trace_id >= {lower} "
                          f"AND trace_id < {cutoff} AND trace_id NOT IN {experiments} {settings}"),
                (n_traces, f"DELETE FROM opik.traces WHERE workspace_id IN {ws} AND id >= {lower} AND id < {cutoff} "
                           f"{week_bounds} AND id NOT IN {experiments} {settings}"),
            ):  # fmt: skip
                deleted = deleted or bool(found)
                if found or self.args.all_opik_deletes:
                    self.x(sql)
                    counts["opik deletes"] += 1
                else:
                    counts["opik deletes skipped"] += 1
        for kind in ("spans", "traces"):
            for (pid,) in self.q(
                "SELECT DISTINCT partition_id FROM system.parts WHERE database = 'opik' AND table = {t:String} "
                "AND active AND has_lightweight_delete",
                {"t": kind},
            ):
                self.x(f"ALTER TABLE opik.{kind} APPLY DELETED MASK IN PARTITION ID {quote_string(str(pid))} "
                       "SETTINGS mutations_sync = 2")  # fmt: skip
                counts["opik reclaims"] += 1
        return deleted

    # -- report -------------------------------------------------------------------------------------
    def report(self, header: list[str]) -> str:
        out = list(header)
        out.append("")
        out.append(f"{'#':3} {'measurement':58} {'store':>15} {'Opik':>15} {'ratio [min-max]':>20}  "
                   f"{'goal':28} met")  # fmt: skip
        for line in self.lines:
            if line.ratio is None:
                ratio = "-"
            elif line.ratio[1] == line.ratio[2]:
                ratio = f"{line.ratio[0]:.3f}"
            else:
                ratio = f"{line.ratio[0]:.2f} [{line.ratio[1]:.2f}-{line.ratio[2]:.2f}]"
            met = "-" if line.met is None else "yes" if line.met else "NO"
            out.append(f"{line.key:3} {line.what:58} {line.store:>15} {line.opik:>15} {ratio:>20}  "
                       f"{line.goal:28} {met}")  # fmt: skip
            if line.note:
                out.append(f"{'':8}{line.note}")
        out.append("")
        out += [f"note {n}" for n in self.notes]
        return "\n".join(out)


def store_run(retention: Retention, day: date) -> list[str]:
    return retention._expire_here(False, today=day)


def time_weighted(samples: list[tuple[date, int]], first: date, end: date) -> float:
    """Mean of a step function (each sample's value from its day to the next sample's) over [first, end);
    ``samples`` in the order they were taken."""
    total = 0.0
    for (day, value), (nxt, _) in itertools.pairwise([*samples, (end, 0)]):
        total += value * max((min(nxt, end) - max(day, first)).days, 0)
    return total / max((end - first).days, 1)


def make_names() -> tuple[list[str], list[str]]:
    """40 workspace ids and 3 UUIDv7 project ids per workspace (fixed seeds: the same on every run)."""
    rng = random.Random(2024)
    workspaces = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(WORKSPACES)]
    base = int(datetime(2024, 9, 2, tzinfo=UTC).timestamp() * 1000)
    projects = [uuid7(base + i * 60_000, rng) for i in range(WORKSPACES * PROJECTS)]
    return workspaces, projects


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repetitions and rows (< 60 s)")
    parser.add_argument("--reps", type=int, help="insert repetitions per case (default 5; quick 3)")
    parser.add_argument("--batches-1k", type=int, help="1,000-row INSERTs per repetition and case (default 8)")
    parser.add_argument("--batches-10k", type=int, help="10,000-row INSERTs per repetition (default 2)")
    parser.add_argument("--spans", type=int, help="spans of the read/expiry data set (default 160,000; quick 9,000)")
    parser.add_argument("--weeks", type=int, help="weeks the read/expiry data set spans (default 8; quick 3)")
    parser.add_argument("--read-runs", type=int, help="timed runs per read and side, even (default 20; quick 6)")
    parser.add_argument("--start", default="2025-06-02", help="the Monday the read/expiry data starts on")
    parser.add_argument(
        "--opik-window",
        type=int,
        default=7,
        help="days each Opik run covers below its cutoff (slidingWindowDays; = the weekly cadence)",
    )
    parser.add_argument("--store-every-day", action="store_true",
                        help="run the store's job every day of the cycle, not only on due days")  # fmt: skip
    parser.add_argument("--all-opik-deletes", action="store_true",
                        help="also run Opik's DELETEs whose COUNT_FOR_RETENTION is 0 (they write nothing)")  # fmt: skip
    args = parser.parse_args(argv)
    quick = args.quick
    args.reps = args.reps or (3 if quick else 5)
    args.batches_1k = args.batches_1k or (2 if quick else 8)
    args.batches_10k = args.batches_10k or (1 if quick else 2)
    args.spans = args.spans or (9_000 if quick else 160_000)
    args.weeks = args.weeks or (3 if quick else 8)
    args.read_runs = args.read_runs or (6 if quick else 20)
    if args.read_runs % 2:
        parser.error("--read-runs must be even (each side goes first equally often)")
    if date.fromisoformat(args.start).isoweekday() != 1:
        parser.error("--start must be a Monday")
    root = Path(tempfile.mkdtemp(prefix="opik-parity-"))
    began = time.perf_counter()
    try:
        (root / "config.xml").write_text(CONFIG)
        with Store.from_url(f"chdb://{root / 'db'}?config-file={root / 'config.xml'}", database="store") as store:
            store.migrate(progress=lambda _m: None)
            adapter = store.adapter
            for db in ("opik", "staging", "track"):
                adapter.execute(f"CREATE DATABASE {db}")
            for kind in ("traces", "spans"):
                adapter.execute(opik_create(kind, f"opik.{kind}"))
            workspaces, projects = make_names()
            bench = Bench(adapter, args, workspaces, projects)
            docs = generate_documents(english_corpus(), 3000 if quick else 8000, 60)
            adapter.execute("CREATE TABLE staging.pool (doc String) ENGINE = Memory")
            adapter.execute("INSERT INTO staging.pool SELECT arrayJoin({d:Array(String)})", {"d": docs})
            version = str(bench.one("SELECT version()"))
            bench.inserts()
            spans = bench.load()
            sizes = {s: bench.parts(s, "spans") for s in SIDES}
            bench.reads()
            bench.expiry(store)
            header = [
                f"opik-store vs Opik's own tables (tests/opik_schema.py), embedded engine ClickHouse {version}, "
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC{' (quick)' if quick else ''}",
                "Ratios: insert CPU and wall time are Opik / store (1.0 = as fast, above 1.0 = the store is faster);",
                "every other ratio is store / Opik. Each timed ratio is the median of the repetitions [min-max];",
                "byte and row counts are deterministic (one measurement).",
                f"Read/expiry data: {spans:,} spans + {spans // 10:,} traces, {args.weeks} weeks from {args.start}, "
                f"{WORKSPACES} workspaces x {PROJECTS} projects; spans after OPTIMIZE FINAL: "
                f"{sizes['store'][2] / 1e6:.1f} MB (store), {sizes['opik'][2] / 1e6:.1f} MB (Opik).",
            ]
            text = bench.report(header)
            out(text)
            out(f"\ntotal run time {time.perf_counter() - began:.0f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
