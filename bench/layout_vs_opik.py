"""The store's trace/span layout against Opik's successor layout (and its original), side by side in one run.

Three layouts get exactly the same rows, interleaved batch by batch so machine
noise hits them alike:

* ``store``: the store's tables as `opik-store migrate` creates them, with four
  retention classes in use (14, 60, 400 days and unlimited, one per workspace);
* ``opik-v2``: Opik's successor layout as its migrations describe it (weekly
  partitions on ``id_at``, ReplacingMergeTree(last_updated_at, is_deleted),
  spans ordered by (workspace, project, trace, id), the same codecs and skip
  indexes, no retention in the table);
* ``opik-v1``: Opik's original layout (no partitions, no codecs, no skip
  indexes, parent_span_id in the spans sort key).

Text: word sequences from a bigram model of real English (the docstrings of
Python's standard library), so it compresses like prose does; the run prints
how the generated text compresses next to the real text it was learned from.

Printed, each as a ratio to opik-v2:

1. ingest: rows/s for batches of 1,000 spans (one project a batch, as an SDK
   sends them), parts created per INSERT (also for batches mixing all four
   classes), write amplification while ingesting (bytes written by inserts
   and merges / bytes inserted), bytes on disk per span once merged (split into
   compressed column data, skip indexes, and the rest: marks, keys, per-part files);
2. reads: read_rows (from system.query_log) and median latency of five reads,
   with many unmerged parts and again after merges settle;
3. expiry: bytes written to expire the 25% of spans in the 14-day class: the
   store drops partitions; Opik deletes (a lightweight DELETE, then the merge
   that purges the rows).

    python bench/layout_vs_opik.py [--batches 32] [--days 14] [--repeat 5]
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import random
import re
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

from opik_store import Store
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.urls import parse_url

DB = "bench"
LAYOUTS = ("store", "opik-v2", "opik-v1")
SUFFIX = {"store": "", "opik-v2": "_v2", "opik-v1": "_v1"}
CLASSES = {"ws14": 14, "ws60": 60, "ws400": 400, "wsforever": 0}
CONFIG = """<clickhouse>
  <query_log><database>system</database><table>query_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></query_log>
  <part_log><database>system</database><table>part_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></part_log>
</clickhouse>
"""
SPAN_COLUMNS = (
    "id, workspace_id, project_id, trace_id, parent_span_id, name, type, start_time, end_time, input, output, "
    "metadata, model, provider, total_estimated_cost, tags, usage, created_by, last_updated_by, source, environment"
)
TRACE_COLUMNS = (
    "id, workspace_id, project_id, name, start_time, end_time, input, output, metadata, tags, created_by, "
    "last_updated_by, thread_id, source, environment"
)


# -- text that compresses like prose ---------------------------------------------------------------

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
    """``count`` documents of about ``words`` tokens from a bigram model of ``corpus``."""
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
        out.append(re.sub(r" ([.,;:)])", r"\1", text).replace("( ", "("))
    return out


# -- layouts ---------------------------------------------------------------------------------------


def successor(create: str, table: str) -> str:
    """Opik's successor layout from the store's DDL: no retention columns or TTL, weekly id_at partitions."""
    sql = create.replace(f"{DB}.{table}", f"{DB}.{table}_v2", 1)
    sql = re.sub(r"\n\s*`retention_(at|days)` [^\n]*", "", sql)
    sql = re.sub(r"PARTITION BY [^\n]*\n", "PARTITION BY toDate32(id_at) - (toDayOfWeek(toDate32(id_at)) - 1)\n", sql)
    sql = re.sub(r"TTL [^\n]*\n", "", sql)
    sql = sql.replace(", ttl_only_drop_parts = 1", "")
    return "\n".join(line for line in sql.split("\n") if "idx_span_id" not in line)


def original(create: str, table: str) -> str:
    """Opik's original layout: no partitions, default codecs, no skip indexes."""
    sql = successor(create, table).replace(f"{DB}.{table}_v2", f"{DB}.{table}_v1", 1)
    sql = re.sub(r"PARTITION BY [^\n]*\n", "", sql)
    sql = re.sub(r" CODEC\((?:[^()]|\([^()]*\))*\)", "", sql)
    sql = "\n".join(line for line in sql.split("\n") if not line.lstrip().startswith("INDEX "))
    sql = re.sub(r",\n\)", "\n)", sql)
    if table == "spans":
        sql = sql.replace("ORDER BY (workspace_id, project_id, trace_id, id)",
                          "ORDER BY (workspace_id, project_id, trace_id, parent_span_id, id)")  # fmt: skip
    return sql


def uuid7_sql(ms: str, seed: str) -> str:
    """SQL for a UUIDv7 text whose time is ``ms`` and whose random part is a hash of ``seed``."""
    hexed = (
        f"lower(concat(leftPad(hex(toUInt64({ms})), 12, '0'), '7', "
        f"leftPad(hex(cityHash64({seed}, 1)), 16, '0'), leftPad(hex(cityHash64({seed}, 2)), 16, '0')))"
    )
    parts = [(1, 8), (9, 4), (13, 4), (17, 4), (21, 12)]
    return "concat(" + ", '-', ".join(f"substring({hexed}, {a}, {n})" for a, n in parts) + ")"


def span_insert(table: str, n: int, base_ms: int, seed: int, workspace: str, mixed: bool) -> str:
    """One batch of ``n`` spans (10 per trace); every value is a function of (seed, number): same rows everywhere."""
    ws = "arrayElement(['ws14', 'ws60', 'ws400', 'wsforever'], 1 + number % 4)" if mixed else f"'{workspace}'"
    trace_ms = f"({base_ms} + intDiv(number, 10) * 997)"
    text = "arrayStringConcat(arrayMap(k -> pool[1 + cityHash64(number, {s}, k) % length(pool)], range(2)), ' ')"
    return (
        f"INSERT INTO {DB}.{table} ({SPAN_COLUMNS}) "
        f"WITH (SELECT groupArray(doc) FROM {DB}.pool) AS pool "
        f"SELECT {uuid7_sql(f'{trace_ms} + number % 10', f'number, {seed}, 3')}, {ws}, "
        f"{uuid7_sql('0', f'{ws}, {seed} % 3')}, {uuid7_sql(trace_ms, f'intDiv(number, 10), {seed}')}, "
        f"if(number % 10 = 0, '', {uuid7_sql(trace_ms, f'intDiv(number, 10), {seed}, 9')}), "
        f"concat('step ', toString(number % 10)), 'llm', fromUnixTimestamp64Milli(toInt64({trace_ms}), 'UTC'), "
        f"fromUnixTimestamp64Milli(toInt64({trace_ms} + 1500), 'UTC'), "
        f'concat(\'{{"messages": [{{"role": "user", "content": "\', {text.format(s=seed)}, \'"}}]}}\'), '
        f'concat(\'{{"completion": "\', {text.format(s=seed + 1)}, \'", "tokens": \', '
        f"toString(cityHash64(number) % 900), '}}'), "
        "concat('{\"request_id\": \"', hex(cityHash64(number, 5)), '\"}'), 'gpt-5', 'openai', "
        "toDecimal128(cityHash64(number) % 1000 / 1e5, 12), ['prod'], "
        "map('prompt_tokens', toInt64(cityHash64(number) % 4000), 'completion_tokens', toInt64(number % 700)), "
        "'sdk-user', 'sdk-user', 'sdk', 'production' "
        f"FROM numbers({n})"
    )


def trace_insert(table: str, n: int, base_ms: int, seed: int, workspace: str) -> str:
    """The traces of a span batch (one per 10 spans): same ids, threads of a project."""
    trace_ms = f"({base_ms} + number * 997)"
    text = "arrayStringConcat(arrayMap(k -> pool[1 + cityHash64(number, {s}, k) % length(pool)], range(2)), ' ')"
    return (
        f"INSERT INTO {DB}.{table} ({TRACE_COLUMNS}) "
        f"WITH (SELECT groupArray(doc) FROM {DB}.pool) AS pool "
        f"SELECT {uuid7_sql(trace_ms, f'number, {seed}')}, '{workspace}', "
        f"{uuid7_sql('0', f'{workspace!r}, {seed} % 3')}, 'agent run', "
        f"fromUnixTimestamp64Milli(toInt64({trace_ms}), 'UTC'), "
        f"fromUnixTimestamp64Milli(toInt64({trace_ms} + 9000), 'UTC'), "
        f"{text.format(s=seed + 2)}, {text.format(s=seed + 3)}, '{{}}', ['prod'], 'sdk-user', 'sdk-user', "
        f"concat('thread-', toString(cityHash64(number, {seed}) % 40)), 'sdk', 'production' "
        f"FROM numbers({n // 10})"
    )


# -- measuring ---------------------------------------------------------------------------------------


class Bench:
    def __init__(self, engine: EmbeddedAdapter) -> None:
        self.engine = engine

    def q(self, sql: str) -> list[tuple[object, ...]]:
        return self.engine.query(sql).rows

    def x(self, sql: str) -> None:
        self.engine.execute(sql)

    def flush(self) -> None:
        self.x("SYSTEM FLUSH LOGS")

    def quiesce(self, limit: float = 60.0) -> None:
        """Wait until no merge or mutation runs (background merges finish what ingest started)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            busy = self.q(
                f"SELECT (SELECT count() FROM system.merges WHERE database = '{DB}') + "
                f"(SELECT count() FROM system.mutations WHERE database = '{DB}' AND NOT is_done)"
            )[0][0]
            if not busy:
                return
            time.sleep(0.5)

    def part_log(self, table: str, since: str) -> dict[str, tuple[int, int]]:
        """event_type -> (events, bytes) for one table since a moment."""
        self.flush()
        rows = self.q(
            f"SELECT toString(event_type), count(), sum(size_in_bytes) FROM system.part_log "
            f"WHERE database = '{DB}' AND table = '{table}' AND event_time_microseconds >= '{since}' GROUP BY 1"
        )
        return {str(e): (int(str(c)), int(str(b))) for e, c, b in rows}


def open_store(with_logs: bool = False) -> EmbeddedAdapter:
    """A fresh embedded database with the store's tables and one retention class per workspace, since 2000."""
    root = Path(tempfile.mkdtemp(prefix="opik-store-bench-"))
    url = f"chdb://{root / 'db'}"
    if with_logs:
        (root / "config.xml").write_text(CONFIG)
        url += f"?config-file={root / 'config.xml'}"
    with Store.from_url(url, database=DB) as store:
        store.migrate(progress=lambda _m: None)
        for workspace, days in CLASSES.items():
            store.retention().add_rule(workspace, "", days, date(2000, 1, 1), "bench")
        store.retention().refresh_lookup()
    return EmbeddedAdapter(parse_url(url))


def load_pool(engine: EmbeddedAdapter) -> list[str]:
    """The table of generated documents the inserts draw text from; returns the corpus it was learned from."""
    corpus = english_corpus()
    docs = generate_documents(corpus, 20000, 60)
    engine.execute(f"CREATE TABLE {DB}.pool (doc String) ENGINE = Memory")
    for start in range(0, len(docs), 2000):
        engine.execute(
            f"INSERT INTO {DB}.pool SELECT arrayJoin({{d:Array(String)}})", {"d": docs[start : start + 2000]}
        )
    return [corpus]


def now_mark(bench: Bench) -> str:
    return str(bench.q("SELECT toString(now64(6))")[0][0])


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=32, help="ingest batches of 1,000 spans per layout")
    parser.add_argument("--days", type=int, default=14, help="days of data for the read and expiry phases")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each read (median latency)")
    args = parser.parse_args()
    engine = open_store(with_logs=True)
    bench = Bench(engine)
    for table in ("spans", "traces"):
        create = str(engine.query(f"SHOW CREATE TABLE {DB}.{table}").scalar())
        bench.x(successor(create, table))
        bench.x(original(create, table))
    corpus = english_corpus()
    docs = generate_documents(corpus, 20000, 60)
    bench.x(f"CREATE TABLE {DB}.pool (doc String) ENGINE = Memory")
    for start in range(0, len(docs), 2000):
        engine.execute(
            f"INSERT INTO {DB}.pool SELECT arrayJoin({{d:Array(String)}})", {"d": docs[start : start + 2000]}
        )
    bench.x(f"CREATE TABLE {DB}.real_text (t String CODEC(ZSTD(3))) ENGINE = MergeTree ORDER BY tuple()")
    chunks = [corpus[i : i + 700] for i in range(0, len(corpus), 700)]
    engine.execute(f"INSERT INTO {DB}.real_text SELECT arrayJoin({{c:Array(String)}})", {"c": chunks})

    # -- 1. ingest -------------------------------------------------------------------------------
    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 3_600_000
    rates: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
    since = now_mark(bench)
    workspaces = list(CLASSES)
    for batch in range(args.batches):
        order = LAYOUTS[batch % 3 :] + LAYOUTS[: batch % 3]
        sql_for = {
            layout: span_insert(
                f"spans{SUFFIX[layout]}", 1000, now_ms + batch * 100_000, batch, workspaces[batch % 4], mixed=False
            )
            for layout in LAYOUTS
        }
        for layout in order:
            started = time.perf_counter()
            bench.x(sql_for[layout])
            rates[layout].append(1000 / (time.perf_counter() - started))
    mixed_since = now_mark(bench)
    mixed_batches = 8
    for batch in range(mixed_batches):
        for layout in LAYOUTS:
            bench.x(span_insert(f"spans{SUFFIX[layout]}", 1000, now_ms + (args.batches + batch) * 100_000,
                                10_000 + batch, "", mixed=True))  # fmt: skip
    bench.quiesce()
    ingest: dict[str, dict[str, float]] = {}
    for layout in LAYOUTS:
        table = f"spans{SUFFIX[layout]}"
        log = bench.part_log(table, since)
        mixed = bench.part_log(table, mixed_since)
        per_project = log.get("NewPart", (0, 0))[0] - mixed.get("NewPart", (0, 0))[0]
        inserted = log.get("NewPart", (0, 1))[1]
        merged = log.get("MergeParts", (0, 0))[1]
        ingest[layout] = {
            "rows/s": statistics.median(rates[layout]),
            "parts/insert": per_project / args.batches,
            "parts/insert mixed": mixed.get("NewPart", (0, 0))[0] / mixed_batches,
            "write amplification": (inserted + merged) / inserted,
        }
    for layout in LAYOUTS:
        bench.x(f"OPTIMIZE TABLE {DB}.spans{SUFFIX[layout]} FINAL")
    for layout in LAYOUTS:
        count, size, data, indexes = bench.q(
            f"SELECT sum(rows), sum(bytes_on_disk), sum(data_compressed_bytes), "
            f"sum(secondary_indices_compressed_bytes) FROM system.parts WHERE database = '{DB}' "
            f"AND table = 'spans{SUFFIX[layout]}' AND active")[0]  # fmt: skip
        ingest[layout]["bytes/span"] = int(str(size)) / int(str(count))
        ingest[layout]["  column data"] = int(str(data)) / int(str(count))
        ingest[layout]["  skip indexes"] = int(str(indexes)) / int(str(count))
        ingest[layout]["  other (marks, keys, files)"] = (
            ingest[layout]["bytes/span"] - ingest[layout]["  column data"] - ingest[layout]["  skip indexes"]
        )
    bench.x(f"CREATE TABLE {DB}.gen_text (t String CODEC(ZSTD(3))) ENGINE = MergeTree ORDER BY tuple()")
    bench.x(f"INSERT INTO {DB}.gen_text SELECT input FROM {DB}.spans_v2")
    for table in ("gen_text", "real_text"):
        bench.x(f"OPTIMIZE TABLE {DB}.{table} FINAL")
    compression: dict[str, float] = {
        str(name): float(str(value))
        for name, value in bench.q(
            f"SELECT table, sum(data_uncompressed_bytes) / sum(data_compressed_bytes) FROM system.parts "
            f"WHERE database = '{DB}' AND active AND table IN ('gen_text', 'real_text') GROUP BY table"
        )
    }
    text_ratio, real_ratio = compression["gen_text"], compression["real_text"]

    # -- 2. reads, with many small parts and after merges settle ------------------------------------
    for layout in LAYOUTS:
        for kind in ("spans", "traces"):
            bench.x(f"TRUNCATE TABLE {DB}.{kind}{SUFFIX[layout]}")
            bench.x(f"SYSTEM STOP MERGES {DB}.{kind}{SUFFIX[layout]}")
    day_ms = 86_400_000
    start_ms = int(datetime.now(UTC).timestamp() * 1000) - args.days * day_ms
    for day in range(args.days):
        for project_no in range(8):
            seed = day * 100 + project_no
            workspace = workspaces[project_no % 4]
            base = start_ms + day * day_ms + project_no * 3_600_000
            for layout in LAYOUTS:
                bench.x(span_insert(f"spans{SUFFIX[layout]}", 1000, base, seed, workspace, mixed=False))
                bench.x(trace_insert(f"traces{SUFFIX[layout]}", 1000, base, seed, workspace))
    probe = bench.q(
        f"SELECT workspace_id, project_id, trace_id, id FROM {DB}.spans_v2 WHERE name = 'step 3' "
        f"AND workspace_id = 'ws60' ORDER BY id DESC LIMIT 1"
    )[0]
    ws, project, trace_id, span_id = (str(v) for v in probe)
    thread = "thread-7"
    reads = {
        "a trace's spans": ("spans", f"workspace_id = '{ws}' AND project_id = '{project}' AND trace_id = '{trace_id}'",
                            "*", "ORDER BY id"),
        "a span by id": ("spans", f"workspace_id = '{ws}' AND id = '{span_id}'", "*", ""),
        "a thread's traces": ("traces", f"workspace_id = '{ws}' AND project_id = '{project}' "
                              f"AND thread_id = '{thread}'", "id, name, start_time", "ORDER BY id"),
        "newest 100 in 24 h": ("traces", f"workspace_id = '{ws}' AND project_id = '{project}' "
                               "AND id_at >= now() - INTERVAL 24 HOUR", "id, name, start_time",
                               "ORDER BY id DESC LIMIT 100"),
        "7-day stats per day": ("traces", f"workspace_id = '{ws}' AND project_id = '{project}' "
                                "AND id_at >= toStartOfDay(now()) - INTERVAL 7 DAY",
                                "toDate(start_time) AS d, count(), avg(duration)", "GROUP BY d ORDER BY d"),
    }  # fmt: skip
    results: dict[str, dict[str, dict[str, tuple[int, float]]]] = {}
    part_counts: dict[str, dict[str, int]] = {}
    for phase in ("unmerged", "merged"):
        if phase == "merged":
            for layout in LAYOUTS:
                for kind in ("spans", "traces"):
                    bench.x(f"SYSTEM START MERGES {DB}.{kind}{SUFFIX[layout]}")
                    bench.x(f"OPTIMIZE TABLE {DB}.{kind}{SUFFIX[layout]} FINAL")
        results[phase] = {}
        for name, (kind, where, select, tail) in reads.items():
            results[phase][name] = {}
            answers = set()
            for layout in LAYOUTS:
                tag = f"bench:{phase}:{name}:{layout}"
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    answer = engine.query(
                        f"SELECT {select} FROM {DB}.{kind}{SUFFIX[layout]} FINAL WHERE {where} {tail} "
                        "SETTINGS log_comment = {c:String}",
                        {"c": tag},
                    ).rows
                    times.append(time.perf_counter() - started)
                answers.add(repr([row[:2] if kind == "traces" else row[:1] for row in answer]))  # not now64() defaults
                bench.flush()
                read = engine.query(
                    "SELECT max(read_rows) FROM system.query_log "
                    "WHERE type = 'QueryFinish' AND log_comment = {c:String}",
                    {"c": tag},
                ).scalar()
                results[phase][name][layout] = (int(str(read)), statistics.median(times))
            assert len(answers) == 1, f"{name}: the layouts disagree on the answer"
        part_rows = {
            layout: bench.q(f"SELECT count() FROM system.parts WHERE database = '{DB}' AND active "
                            f"AND table = 'spans{SUFFIX[layout]}'")[0][0]
            for layout in LAYOUTS
        }  # fmt: skip
        part_counts[phase] = {layout: int(str(part_rows[layout])) for layout in LAYOUTS}

    # -- 3. expiry: the 14-day class is 25% of the spans -------------------------------------------
    expiry: dict[str, int] = {}
    for layout in ("store", "opik-v2"):
        table = f"spans{SUFFIX[layout]}"
        bench.quiesce()
        before = int(
            str(
                bench.q("SELECT value FROM system.events WHERE event = 'WriteBufferFromFileDescriptorWriteBytes'")[0][0]
            )
        )
        if layout == "store":
            pids = [
                str(r[0]) for r in bench.q(f"SELECT DISTINCT _partition_id FROM {DB}.{table} WHERE retention_days = 14")
            ]
            for pid in pids:
                bench.x(f"ALTER TABLE {DB}.{table} DROP PARTITION ID '{pid}'")
        else:
            bench.x(f"DELETE FROM {DB}.{table} WHERE workspace_id = 'ws14' SETTINGS lightweight_deletes_sync = 2")
            bench.x(f"OPTIMIZE TABLE {DB}.{table} FINAL")  # the merge that finally purges the deleted rows
        bench.quiesce()
        after = int(
            str(
                bench.q("SELECT value FROM system.events WHERE event = 'WriteBufferFromFileDescriptorWriteBytes'")[0][0]
            )
        )
        expiry[layout] = after - before
        left = bench.q(f"SELECT count() FROM {DB}.{table} WHERE workspace_id = 'ws14'")[0][0]
        assert left == 0, f"{layout}: the 14-day rows are gone"
    engine.close()

    # -- report --------------------------------------------------------------------------------------
    base = ingest["opik-v2"]
    print(f"generated text compresses {float(str(text_ratio)):.2f}:1 with ZSTD(3); "
          f"the real English it was learned from, {float(str(real_ratio)):.2f}:1")  # fmt: skip
    print(f"\n1. ingest: {args.batches} batches of 1,000 spans per layout, interleaved; four classes in use")
    print(f"  {'metric':28} " + " ".join(f"{layout:>12}" for layout in LAYOUTS) + f" {'store/v2':>9}")
    metrics = ("rows/s", "parts/insert", "parts/insert mixed", "write amplification", "bytes/span",
               "  column data", "  skip indexes", "  other (marks, keys, files)")  # fmt: skip
    for metric in metrics:
        values = [ingest[layout][metric] for layout in LAYOUTS]
        cells = " ".join(f"{v:>12,.2f}" if v < 100 else f"{v:>12,.0f}" for v in values)
        print(f"  {metric:28} {cells} {ratio(values[0], base[metric]):>9}")
    for phase in ("unmerged", "merged"):
        counts = part_counts[phase]
        print(f"\n2. reads, {phase} ({', '.join(f'{k}: {v} span parts' for k, v in counts.items())}); "
              "read_rows | median ms")  # fmt: skip
        print(f"  {'read':22} " + " ".join(f"{layout:>18}" for layout in LAYOUTS) + f" {'store/v2 rows':>14} {'ms':>6}")
        for name, per in results[phase].items():
            cells = " ".join(f"{per[layout][0]:>9,} {per[layout][1] * 1000:>7.1f}ms" for layout in LAYOUTS)
            print(f"  {name:22} {cells} {ratio(per['store'][0], per['opik-v2'][0]):>14} "
                  f"{ratio(per['store'][1], per['opik-v2'][1]):>6}")  # fmt: skip
    print("\n3. expiry of the 14-day class (25% of spans): bytes written")
    print(f"  store (DROP PARTITION): {expiry['store']:,}   opik-v2 (DELETE + purge merge): {expiry['opik-v2']:,}   "
          f"ratio {expiry['store'] / max(expiry['opik-v2'], 1):.6f}")  # fmt: skip


if __name__ == "__main__":
    main()
