"""Insert cost of the opik-store spans layout versus Opik's, measured side by side in one run.

What differs on the write path: our spans compute `retention_days` per row with a
dictionary lookup (MATERIALIZED) and are partitioned by (class, day), with ZSTD(3) on
the big text columns; Opik's layout has no partition key and default compression.
Both tables get the same batches (Opik's batch size: 1,000 spans, ~1.7 KB each, one
INSERT per batch, created "now" so each batch lands in one day), interleaved round by
round so machine noise hits both alike. Prints rows/s for each and the ratio.

    python bench/insert_layout.py [--batches 40] [--batch-size 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from opik_store import Store
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.urls import parse_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="opik-store-bench-"))
    url = f"chdb://{root / 'db'}"
    with Store.from_url(url, database="bench") as store:
        store.migrate(progress=lambda _m: None)
    engine = EmbeddedAdapter(parse_url(url))
    create = str(engine.query("SHOW CREATE TABLE bench.spans").scalar())
    opik = create.replace("bench.spans", "bench.spans_opik", 1)
    opik = re.sub(r"PARTITION BY [^\n]*\n", "", opik)
    opik = re.sub(r"TTL [^\n]*\n", "", opik)
    opik = re.sub(r"\n\s*`retention_days` [^\n]*", "", opik)
    opik = re.sub(r" CODEC\(ZSTD\(\d\)\)", "", opik)
    opik = re.sub(r",\s*INDEX [^\n]*\n", "\n", opik)
    opik = opik.replace(", ttl_only_drop_parts = 1", "")
    engine.execute(opik)
    # ours, but with default compression: separates codec cost from the retention/partitioning machinery
    plain = re.sub(r" CODEC\(ZSTD\(\d\)\)", "", create.replace("bench.spans", "bench.spans_lz4", 1))
    engine.execute(plain)

    n = args.batch_size
    # ~700 bytes of word-level text per field: LLM inputs/outputs are prose and JSON, not random bytes
    words = "['the','model','answer','token','user','assistant','context','retrieval','prompt','tool','call','result']"
    text = f"arrayStringConcat(arrayMap(x -> {words}[1 + (cityHash64(x, number) % 12)], range(110)), ' ')"
    select = (
        "SELECT toString(generateUUIDv7(number)), concat('ws', toString(number % 7)), "
        "'0190c1f0-0000-7000-8000-000000000000', toString(generateUUIDv7(intDiv(number, 10) + {seed:UInt64})), '', "
        "'span', 'llm', now64(9), concat('{\"prompt\": \"', {text}, '\"}'), "
        "concat('{\"completion\": \"', {text}, '\"}'), '{\"k\": 1}', 'gpt-4o', 'openai', "
        "map('prompt_tokens', 12, 'completion_tokens', 34) "
        f"FROM numbers({n})"
    ).replace("{text}", text)
    columns = "(id, workspace_id, project_id, trace_id, parent_span_id, name, type, start_time, input, output, " \
              "metadata, model, provider, usage)"  # fmt: skip
    variants = [("spans", "opik-store"), ("spans_lz4", "opik-store, default codecs"), ("spans_opik", "opik")]
    rates: dict[str, list[float]] = {label: [] for _, label in variants}
    for round_no in range(args.rounds):
        order = variants[round_no % 3 :] + variants[: round_no % 3]  # rotate who goes first
        for table, label in order:
            started = time.perf_counter()
            for batch in range(args.batches):
                engine.execute(f"INSERT INTO bench.{table} {columns} {select}", {"seed": batch * n})
            rates[label].append(args.batches * n / (time.perf_counter() - started))
    sizes = dict(
        engine.query(
            "SELECT table, sum(bytes_on_disk) FROM system.parts WHERE database = 'bench' AND active GROUP BY table"
        ).rows
    )
    engine.close()
    base = statistics.median(rates["opik"])
    print(f"batches of {n} spans x {args.batches}, {args.rounds} interleaved rounds (median rows/s):")
    print(f"  {'layout':28} {'rows/s':>10} {'vs Opik':>8} {'on disk':>14} {'vs Opik':>8}")
    for table, label in variants:
        rate = statistics.median(rates[label])
        size = int(sizes[table])
        print(f"  {label:28} {rate:>10,.0f} {rate / base:>8.2f} {size:>14,} {size / int(sizes['spans_opik']):>8.2f}")


if __name__ == "__main__":
    main()
