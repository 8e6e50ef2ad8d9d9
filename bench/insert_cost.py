"""Where the store's insert cost goes: the spans table with one piece of retention work removed at a time.

The rows are generated once into a Memory table, so each measured INSERT is
the table's own work (defaults, partitioning, TTL, indexes, compression,
writing the part) and nothing else. Every variant gets the same rows,
interleaved INSERT by INSERT; both wall time and the process's CPU time are
recorded (CPU time is steadier on a shared machine, the engine runs in-process).

Variants of `spans`:

* ``store``: as migrated;
* ``opik-v2``: Opik's successor layout (no retention columns, TTL or bloom on id);
* ``no class lookup``: ``retention_days`` is a constant (no joinGet);
* ``no id bloom``: without the bloom filter on ``id``;
* ``retention-free``: constant class and date, no id bloom -- the bound a
  zero-cost class would reach, with the store's partition key and TTL kept.

Each is measured at 1,000 rows per INSERT (an SDK batch) and at 10,000 (what
an async-insert flush on a busy server collects), and with 10-row INSERTs,
where only the fixed cost of an INSERT remains. Prints medians and ratios to
``opik-v2``.

    python bench/insert_cost.py [--inserts 30]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from datetime import UTC, datetime

from layout_vs_opik import CLASSES, DB, SPAN_COLUMNS, load_pool, open_store, span_insert, successor

from opik_store.engine.embedded import EmbeddedAdapter

CLASS_COLUMN = r"`retention_days` UInt16 MATERIALIZED [^\n]*"
DATE_COLUMN = r"`retention_at` Date32 MATERIALIZED [^\n]*"
SIZES = (10, 1000, 10000)


def variants(create: str) -> dict[str, str]:
    """CREATE statements (for table ``spans``) of every variant but the store itself."""
    constant_class = re.sub(CLASS_COLUMN, "`retention_days` UInt16 MATERIALIZED 14,", create)
    no_bloom = "\n".join(line for line in create.split("\n") if "idx_span_id" not in line)
    free = re.sub(DATE_COLUMN, "`retention_at` Date32 MATERIALIZED toDate32('2026-01-01'),", constant_class)
    free = "\n".join(line for line in free.split("\n") if "idx_span_id" not in line)
    return {
        "opik-v2": successor(create, "spans").replace(f"{DB}.spans_v2", f"{DB}.spans", 1),
        "no class lookup": constant_class,
        "no id bloom": no_bloom,
        "retention-free": free,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inserts", type=int, default=30, help="INSERTs per variant and size")
    args = parser.parse_args()
    engine = open_store()
    create = str(engine.query(f"SHOW CREATE TABLE {DB}.spans").scalar())
    tables = {"store": "spans"}
    for number, (name, sql) in enumerate(variants(create).items()):
        tables[name] = f"spans_{number}"
        engine.execute(sql.replace(f"{DB}.spans", f"{DB}.spans_{number}", 1))
    for table in tables.values():
        engine.execute(f"SYSTEM STOP MERGES {DB}.{table}")
    load_pool(engine)
    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 3_600_000
    workspaces = list(CLASSES)
    sources: dict[int, list[str]] = {size: [] for size in SIZES}
    for number in range(args.inserts):
        # One staged Memory table per INSERT (scanning a shared one would add the same large cost to every variant).
        # A 10,000-row INSERT is ten batches of one project, as an async-insert flush of one SDK's requests.
        for size in SIZES:
            table = f"staged_{size}_{number}"
            engine.execute(
                f"CREATE TABLE {DB}.{table} ENGINE = Memory AS SELECT {SPAN_COLUMNS} FROM {DB}.spans WHERE 0"
            )
            for part in range(max(1, size // 1000)):
                base = now_ms + (number * 10 + part) * 100_000
                engine.execute(
                    span_insert(table, min(size, 1000), base, number * 10 + part, workspaces[number % 4], False)
                )
            sources[size].append(table)
    names = list(tables)
    print(f"{args.inserts} INSERTs per variant and size, interleaved; median per INSERT, ratio = opik-v2 / variant")
    print(f"  {'variant':18} {'rows/INSERT':>11} {'wall ms':>9} {'cpu ms':>8} {'wall ratio':>11} {'cpu ratio':>10}")
    for size in SIZES:
        wall: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for number, source in enumerate(sources[size]):
            for name in names[number % len(names) :] + names[: number % len(names)]:
                sql = f"INSERT INTO {DB}.{tables[name]} ({SPAN_COLUMNS}) SELECT {SPAN_COLUMNS} FROM {DB}.{source}"
                started_wall, started_cpu = time.perf_counter(), time.process_time()
                engine.execute(sql)
                cpu[name].append(time.process_time() - started_cpu)
                wall[name].append(time.perf_counter() - started_wall)
        base_wall, base_cpu = statistics.median(wall["opik-v2"]), statistics.median(cpu["opik-v2"])
        for name in names:
            w, c = statistics.median(wall[name]), statistics.median(cpu[name])
            ratios = f"{base_wall / w:>11.2f} {base_cpu / c:>10.2f}"
            print(f"  {name:18} {size:>11,} {w * 1000:>9.1f} {c * 1000:>8.1f} {ratios}")
    expression_cost(engine, args.inserts)
    engine.close()


def expression_cost(engine: EmbeddedAdapter, inserts: int) -> None:
    """The fixed cost of a MATERIALIZED expression: 10-row INSERTs into a 3-column table, one expression each."""
    rule = f"'{DB}.retention'"
    lookup = f"joinGet({rule}, 'days', workspace_id, ''), joinGet({rule}, 'froms', workspace_id, '')"
    expressions = {
        "a constant": "14",
        "two joinGets": f"length({lookup.replace('), joinGet', ')) + length(joinGet')})",
        "one lambda": f"ifNull(arrayLastOrNull((d, f) -> f <= today(), {lookup}), 0)",
        "the store's class": "",
    }
    create = str(engine.query(f"SHOW CREATE TABLE {DB}.spans").scalar())
    match = re.search(CLASS_COLUMN.replace("[^\\n]*", "(.*),"), create)
    assert match, "the class column was not found in the spans DDL"
    expressions["the store's class"] = match.group(1).replace("retention_at", "today()")
    for number, expression in enumerate(expressions.values()):
        engine.execute(
            f"CREATE TABLE {DB}.expr_{number} (workspace_id String, project_id FixedString(36), "
            f"x UInt16 MATERIALIZED {expression}) ENGINE = MergeTree ORDER BY workspace_id"
        )
    cpu: dict[int, list[float]] = {number: [] for number in range(len(expressions))}
    for _ in range(inserts):
        for number in cpu:
            started = time.process_time()
            engine.execute(
                f"INSERT INTO {DB}.expr_{number} (workspace_id, project_id) SELECT 'ws14', '' FROM numbers(10)"
            )
            cpu[number].append(time.process_time() - started)
    base = statistics.median(cpu[0])
    print("fixed cost of one MATERIALIZED expression, 10-row INSERTs into a 3-column table (CPU ms over a constant):")
    for number, name in enumerate(expressions):
        print(f"  {name:18} {(statistics.median(cpu[number]) - base) * 1000:>8.2f}")


if __name__ == "__main__":
    main()
