"""What adoption costs: the re-layout copy against a plain INSERT ... SELECT of the same table.

One run, on its own embedded engine (query_log on), prints side by side:

* throughput: rows/s of the windowed copy (its INSERTs alone, and end to end with the per-window
  verification) against one plain ``INSERT INTO new SELECT ... FROM traces`` into the same layout
  (goal: copy >= 0.8x the plain INSERT);
* memory: peak ``memory_usage`` (query_log) of any copy/verify statement against the plain INSERT's, and the
  window size that bounds it;
* catch-up: after the copy, ``--updates`` rows get a new version in the original, and the bytes the
  catch-up writes are compared with the bytes of the copy itself.

Usage: ``python bench/adopt_cost.py [--rows 200000] [--window-rows 50000] [--updates 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from opik_history import replay

from opik_store.config import StoreConfig, Topology
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.urls import parse_url
from opik_store.migrations.relayout import Limits, Relayout
from opik_store.schema.ddl import ddl
from opik_store.schema.render import render_statement

DB = "adopt_bench"
CONFIG = """<clickhouse>
  <query_log><database>system</database><table>query_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></query_log>
</clickhouse>
"""


def id_sql(ms: str, seed: str) -> str:
    """UUIDv7 text for the millisecond ``ms``, random part from ``seed``."""
    h = f"substring(leftPad(hex(toUInt64({ms})), 16, '0'), 5, 12)"  # hex() drops leading zero bytes
    r = f"leftPad(hex(cityHash64({seed})), 16, '0')"  # (a hash below 2^56 has fewer hex digits)
    return (f"lower(concat(substring({h}, 1, 8), '-', substring({h}, 9, 4), '-7', substring({r}, 1, 3), '-8', "
            f"substring({r}, 4, 3), '-', substring({r}, 7, 10), "
            f"substring(leftPad(hex(cityHash64({seed}, 1)), 16, '0'), 1, 2)))")  # fmt: skip


def load(engine: EmbeddedAdapter, rows: int) -> None:
    engine.execute(f"CREATE DATABASE {DB}")
    replay(engine, DB, "000113")  # Opik's traces and spans as an install has them today, before its cutover
    text = "arrayStringConcat(arrayMap(i -> toString(cityHash64(number, i, {s}) % 5000), range(60)), ' ')"
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        engine.execute(
            f"INSERT INTO {DB}.traces (id, workspace_id, project_id, name, start_time, end_time, input, output, "
            "metadata, tags, last_updated_at, thread_id, source) "
            f"SELECT {id_sql('1767225600000 + number * 20000', 'number')}, concat('ws', toString(number % 5)), "
            "repeat('p', 36), 'agent run', now64(9), if(number % 3 = 0, NULL, now64(9)), "
            f"concat('{{\"q\": \"', {text.format(s=1)}, '\"}}'), concat('{{\"a\": \"', {text.format(s=2)}, '\"}}'), "
            "'{}', ['prod'], now64(6), concat('thread-', toString(number % 97)), 'sdk' "
            f"FROM numbers({start}, {n})"
        )
    engine.execute(render_statement(ddl("retention_rules"), DB, Topology()).sql)
    engine.execute(render_statement(ddl("retention"), DB, Topology()).sql)


def logged(engine: EmbeddedAdapter, since: str, like: str) -> tuple[float, int, int, int]:
    """(seconds, peak memory, written bytes, statements) of finished queries since ``since`` matching ``like``."""
    engine.execute("SYSTEM FLUSH LOGS")
    row = engine.query(
        "SELECT sum(query_duration_ms) / 1000, max(memory_usage), sum(written_bytes), count() FROM system.query_log "
        "WHERE type = 'QueryFinish' AND event_time_microseconds >= {s:DateTime64(6)} AND query LIKE {l:String}",
        {"s": since, "l": like},
    ).rows[0]
    return float(row[0] or 0), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0)


def now(engine: EmbeddedAdapter) -> str:
    return str(engine.query("SELECT toString(now64(6))").scalar())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--window-rows", type=int, default=50_000)
    parser.add_argument("--updates", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="copies of each kind, alternating which runs first")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="adopt-bench-"))
    (root / "config.xml").write_text(CONFIG)
    url = f"chdb://{root / 'data'}?config-file={root / 'config.xml'}"
    engine = EmbeddedAdapter(parse_url(url))
    try:
        load(engine, args.rows)
        config = StoreConfig.from_env(url=url, database=DB)

        def make() -> Relayout:
            return Relayout(engine, config, "traces", ddl("traces"), ("workspace_id", "project_id", "id"), "id",
                            Limits(window_rows=args.window_rows),
                            prerequisites=(ddl("retention_rules"), ddl("retention")))  # fmt: skip

        relayout = make()
        mapping = relayout._mapping_from_target_sql()
        plain_sql = ddl("traces").replace("CREATE TABLE traces", "CREATE TABLE plain_copy", 1)

        def plain_copy() -> tuple[float, tuple[float, int, int, int]]:
            engine.execute(f"DROP TABLE IF EXISTS {DB}.plain_copy SYNC")
            engine.execute(render_statement(plain_sql, DB, Topology()).sql)
            since = now(engine)
            t0 = time.monotonic()
            engine.execute(
                f"INSERT INTO {DB}.plain_copy ({', '.join(f'`{c}`' for c in mapping.columns)}) "
                f"SELECT {', '.join(mapping.expressions)} FROM {DB}.traces"
            )
            wall = time.monotonic() - t0
            return wall, logged(engine, since, f"INSERT INTO {DB}.plain_copy%")

        def relayout_copy() -> tuple[float, tuple[float, int, int, int], tuple[float, int, int, int]]:
            engine.execute(f"DROP TABLE IF EXISTS {DB}.traces_opik_store_new SYNC")
            engine.execute(f"DROP TABLE IF EXISTS {DB}.opik_store_relayout SYNC")
            since = now(engine)
            t0 = time.monotonic()
            make().copy()
            wall = time.monotonic() - t0
            copies = logged(engine, since, "INSERT INTO %adopt_bench%.%traces_opik_store_new%")
            return wall, copies, logged(engine, since, "%")

        runs = []  # (plain wall, plain log, copy wall, copy INSERTs log, everything log), order alternating
        for rep in range(args.repeat):
            if rep % 2:
                c = relayout_copy()
                p = plain_copy()
            else:
                p = plain_copy()
                c = relayout_copy()
            runs.append((p[0], p[1], c[0], c[1], c[2]))
        engine.execute(f"DROP TABLE {DB}.plain_copy SYNC")
        insert_ratio = statistics.median(r[1][0] / r[3][0] for r in runs)
        wall_ratio = statistics.median(r[0] / r[2] for r in runs)
        plain_wall, plain, copy_wall, copies, everything = min(
            runs, key=lambda r: abs(r[1][0] / r[3][0] - insert_ratio)
        )
        top = engine.query(
            "SELECT substring(query, 1, 70) FROM system.query_log WHERE type = 'QueryFinish' "
            "AND query LIKE '%traces_opik_store_new%' ORDER BY memory_usage DESC LIMIT 1",
        ).scalar()

        engine.execute(f"INSERT INTO {DB}.traces SELECT * REPLACE (now64(6) AS last_updated_at, 'updated' AS name) "
                       f"FROM {DB}.traces LIMIT {args.updates}")  # fmt: skip
        since = now(engine)
        t0 = time.monotonic()
        make().swap()
        swap_wall = time.monotonic() - t0
        catchup = logged(engine, since, "INSERT INTO %adopt_bench%.%traces%")
    finally:
        engine.close()
        shutil.rmtree(root, ignore_errors=True)

    rows = args.rows
    print(f"{rows:,} original-layout trace rows, windows of {args.window_rows:,} rows, {args.updates:,} updates "
          "during the copy\n")  # fmt: skip
    print(f"{'':34} {'plain INSERT SELECT':>20} {'re-layout copy':>16} {'ratio':>8}")
    print(f"{'rows/s, INSERT statements only':34} {rows / plain[0]:>20,.0f} {rows / copies[0]:>16,.0f} "
          f"{insert_ratio:>7.2f}x")  # fmt: skip
    print(f"{'rows/s, end to end (with verify)':34} {rows / plain_wall:>20,.0f} {rows / copy_wall:>16,.0f} "
          f"{wall_ratio:>7.2f}x")  # fmt: skip
    print(
        f"  (ratios: median of {args.repeat} runs, plain and copy alternating first; rows/s: the median run; "
        f"end-to-end ratios {', '.join(f'{r[0] / r[2]:.2f}' for r in runs)})"
    )
    print(f"{'peak memory, copy INSERTs, MB':34} {plain[1] / 1e6:>20,.1f} {copies[1] / 1e6:>16,.1f} "
          f"{copies[1] / max(plain[1], 1):>7.2f}x")  # fmt: skip
    print(f"{'peak memory, any statement, MB':34} {plain[1] / 1e6:>20,.1f} {everything[1] / 1e6:>16,.1f} "
          f"{everything[1] / max(plain[1], 1):>7.2f}x")  # fmt: skip
    print(f"  (the copy's most memory-hungry statement: {top})")
    print(f"{'bytes written by the copy, MB':34} {plain[2] / 1e6:>20,.1f} {copies[2] / 1e6:>16,.1f} "
          f"{copies[2] / max(plain[2], 1):>7.2f}x")  # fmt: skip
    print(
        f"\ncatch-up + swap: {swap_wall:,.1f} s, {catchup[3]} INSERTs writing {catchup[2] / 1e6:,.2f} MB "
        f"= {catchup[2] / max(copies[2], 1):.1%} of the copy's bytes for {args.updates / rows:.1%} of rows updated"
    )


if __name__ == "__main__":
    main()
