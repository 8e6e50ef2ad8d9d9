"""Where the store's insert cost goes: the spans table with one piece of retention work removed at a time.

The rows are generated once into a Memory table, so each measured INSERT is
the table's own work (defaults, partitioning, TTL, indexes, compression,
writing the part) and nothing else. Every variant gets the same rows,
interleaved INSERT by INSERT; both wall time and the process's CPU time are
recorded (CPU time is steadier on a shared machine, the engine runs in-process).

Variants of `spans`:

* ``store``: as migrated;
* ``0001 class``: the class expression of revisions 0001-0002 (three nested
  ``arrayLastOrNull`` lambdas), which revision 0003 replaced;
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
import importlib.util
import re
import statistics
import time
from datetime import UTC, datetime

from layout_vs_opik import CLASSES, DB, SPAN_COLUMNS, load_pool, open_store, span_insert, successor

from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.resources import data_dir

CLASS_COLUMN = r"`retention_days` UInt16 MATERIALIZED [^\n]*"
DATE_COLUMN = r"`retention_at` Date32 MATERIALIZED [^\n]*"
SIZES = (10, 1000, 10000)


def previous_class() -> str:
    """Revision 0001's class expression (replaced by 0003), its lookup qualified with the bench database."""
    source = data_dir("migrations") / "versions" / "0003_cheaper_retention_class.py"
    spec = importlib.util.spec_from_file_location("revision_0003", source)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return " ".join(str(module.PREVIOUS_CLASS).split()).replace("'retention'", f"'{DB}.retention'")


def variants(create: str) -> dict[str, str]:
    """CREATE statements (for table ``spans``) of every variant but the store itself."""
    constant_class = re.sub(CLASS_COLUMN, "`retention_days` UInt16 MATERIALIZED 14,", create)
    no_bloom = "\n".join(line for line in create.split("\n") if "idx_span_id" not in line)
    free = re.sub(DATE_COLUMN, "`retention_at` Date32 MATERIALIZED toDate32('2026-01-01'),", constant_class)
    free = "\n".join(line for line in free.split("\n") if "idx_span_id" not in line)
    previous = re.sub(CLASS_COLUMN, lambda _m: f"`retention_days` UInt16 MATERIALIZED {previous_class()},", create)
    return {
        "opik-v2": successor(create, "spans").replace(f"{DB}.spans_v2", f"{DB}.spans", 1),
        "0001 class": previous,
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
    """The fixed cost of a MATERIALIZED expression: 10-row INSERTs into a 3-column table, one expression each.

    Besides the store's class (revision 0003) and 0001's, the candidates measured when 0003 was chosen: the
    nested fallback with a lambda-free search (sort the froms with the day after, indexOf), one ``arrayLast``
    keeping 0001's ``if`` for undated rows or testing it in the lambda, and a reshaped lookup (one UInt64 array
    per key, level, day and class packed, three joinGets), which would need a new Join table.
    """
    rule = f"'{DB}.retention'"
    lookup = f"joinGet({rule}, 'days', workspace_id, ''), joinGet({rule}, 'froms', workspace_id, '')"
    keys = {0: "'', ''", 1: "workspace_id, ''", 2: "workspace_id, toString(project_id)"}

    def get(column: str, level: int, table: str = rule) -> str:
        return f"joinGet({table}, '{column}', {keys[level]})"

    def concat(column: str) -> str:
        return f"arrayConcat({get(column, 0)}, {get(column, 1)}, {get(column, 2)})"

    def sorted_search(level: int) -> str:  # the level's class in effect, + (level + 1) * 65536; 0 when none
        k = (level + 1) * 65536
        marker = "today() + 1"
        found = f"indexOf(arraySort(arrayPushBack({get('froms', level)}, {marker})), {marker})"
        return f"arrayPushFront({get('days', level)}, -{k})[{found}] + {k}"

    packed = f"'{DB}.retention_packed'"
    engine.execute(
        f"CREATE TABLE {DB}.retention_packed (workspace_id String, project_id String, h Array(UInt64)) "
        "ENGINE = Join(ANY, LEFT, workspace_id, project_id) SETTINGS join_any_take_last_row = 1"
    )
    engine.execute(
        f"INSERT INTO {DB}.retention_packed SELECT workspace_id, project_id, arrayMap((f, d) -> "
        "toUInt64(multiIf(project_id != '', 2, workspace_id != '', 1, 0)) * 8589934592 + toUInt64(toInt32(f)) * 65536"
        " + d, froms, days) FROM (SELECT workspace_id, project_id, arrayMap(x -> x.1, h) AS froms, "
        "arrayMap(x -> x.2, h) AS days FROM (SELECT workspace_id, project_id, arraySort(groupArray((effective_from, "
        f"days))) AS h FROM {DB}.retention_rules GROUP BY workspace_id, project_id))"
    )
    one = f"arrayLast((d, f) -> f <= today(), {concat('days')}, {concat('froms')})"
    expressions = {
        "a constant": "14",
        "two joinGets": f"length({lookup.replace('), joinGet', ')) + length(joinGet')})",
        "one lambda": f"ifNull(arrayLastOrNull((d, f) -> f <= today(), {lookup}), 0)",
        "0001's class": previous_class().replace("retention_at", "today()"),
        "nested, lambda-free": f"if(today() = toDate32('1970-01-01'), 0, greatest("
        f"{sorted_search(2)}, {sorted_search(1)}, {sorted_search(0)}) % 65536)",
        "arrayLast + if": f"if(today() = toDate32('1970-01-01'), 0, {one})",
        "arrayLast, exact": one.replace("f <= today()", "f <= today() AND today() != toDate32('1970-01-01')"),
        "packed, new table": f"arrayMax(arrayFilter(e -> bitAnd(e, 8589934591) < (toInt32(today()) + 1) * 65536, "
        f"arrayConcat({get('h', 0, packed)}, {get('h', 1, packed)}, {get('h', 2, packed)}))) % 65536",
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
    numbers = list(range(len(expressions)))
    cpu: dict[int, list[float]] = {number: [] for number in numbers}
    for round_ in range(max(inserts * 4, 100)):  # rotating order, like the INSERTs above
        for number in numbers[round_ % len(numbers) :] + numbers[: round_ % len(numbers)]:
            started = time.process_time()
            engine.execute(
                f"INSERT INTO {DB}.expr_{number} (workspace_id, project_id) SELECT 'ws14', '' FROM numbers(10)"
            )
            cpu[number].append(time.process_time() - started)
    values = {number: engine.query(f"SELECT groupUniqArray(x) FROM {DB}.expr_{number}").scalar() for number in numbers}
    base = statistics.median(cpu[0])
    print("fixed cost of one MATERIALIZED expression, 10-row INSERTs into a 3-column table (CPU ms over a constant):")
    for number, name in enumerate(expressions):
        print(f"  {name:20} {(statistics.median(cpu[number]) - base) * 1000:>8.2f}   class {values[number]}")


if __name__ == "__main__":
    main()
