"""Where the store's insert cost goes: the spans table with one piece of per-row work removed at a time.

Variants of the store's `spans`, all fed the same batches of 1,000 spans (one
project a batch), interleaved batch by batch:

* ``store``: as migrated;
* ``coalesce lookup``: the class through ``coalesce`` of the three lookups (the
  previous form) instead of nested, lazily evaluated ``ifNull``;
* ``no class lookup``: ``retention_days`` is a constant (no joinGet);
* ``no id bloom``: without the bloom filter on ``id``;
* ``neither``: both removed;
* ``opik-v2``: Opik's successor layout (no retention columns, TTL or bloom on id).

Prints median rows/s and the ratio to ``store``.

    python bench/insert_cost.py [--batches 40]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from datetime import UTC, datetime

from layout_vs_opik import CLASSES, DB, load_pool, open_store, span_insert, successor

CLASS_COLUMN = r"`retention_days` UInt16 MATERIALIZED [^\n]*"
CONSTANT_CLASS = (CLASS_COLUMN, "`retention_days` UInt16 MATERIALIZED 14,")


def _lookup(workspace: str, project: str) -> str:
    rule = f"'{DB}.retention'"
    return (
        f"arrayLastOrNull((d, f) -> (f <= retention_at), joinGet({rule}, 'days', {workspace}, {project}), "
        f"joinGet({rule}, 'froms', {workspace}, {project}))"
    )


#: The class expression before nested ifNull: coalesce evaluates all three lookups for every row.
COALESCE_CLASS = (
    CLASS_COLUMN,
    "`retention_days` UInt16 MATERIALIZED if(retention_at = toDate32('1970-01-01'), 0, coalesce("
    + ", ".join([_lookup("workspace_id", "toString(project_id)"), _lookup("workspace_id", "''"), _lookup("''", "''")])
    + ", 0)),",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    engine = open_store()
    create = str(engine.query(f"SHOW CREATE TABLE {DB}.spans").scalar())
    no_bloom = "\n".join(line for line in create.split("\n") if "idx_span_id" not in line)
    variants = {
        "coalesce lookup": re.sub(*COALESCE_CLASS, create),
        "no class lookup": re.sub(*CONSTANT_CLASS, create),
        "no id bloom": no_bloom,
        "neither": re.sub(*CONSTANT_CLASS, no_bloom),
    }
    tables = {"store": "spans", "opik-v2": "spans_v2"}
    engine.execute(successor(create, "spans"))
    for number, (name, sql) in enumerate(variants.items()):
        tables[name] = f"spans_{number}"
        engine.execute(sql.replace(f"{DB}.spans", f"{DB}.spans_{number}", 1))
    load_pool(engine)
    names = list(tables)
    rates: dict[str, list[float]] = {name: [] for name in names}
    now_ms = int(datetime.now(UTC).timestamp() * 1000) - 3_600_000
    workspaces = list(CLASSES)
    for batch in range(args.batches):
        for name in names[batch % len(names) :] + names[: batch % len(names)]:
            sql = span_insert(tables[name], 1000, now_ms + batch * 100_000, batch, workspaces[batch % 4], mixed=False)
            started = time.perf_counter()
            engine.execute(sql)
            rates[name].append(1000 / (time.perf_counter() - started))
    engine.close()
    base = statistics.median(rates["store"])
    print(f"{args.batches} batches of 1,000 spans per variant, interleaved (median rows/s):")
    for name in names:
        rate = statistics.median(rates[name])
        print(f"  {name:18} {rate:>10,.0f} {rate / base:>6.2f}")


if __name__ == "__main__":
    main()
