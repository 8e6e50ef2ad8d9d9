"""The batch writer against the raw engine, against one row per INSERT, and its memory while streaming.

One run on the embedded engine, the same generated Opik-shaped spans (REST
mappings: ISO times, JSON input/output, usage) for every side:

1. writer vs raw: ``BatchWriter.write`` (validation + Arrow + one INSERT per
   1,000) against the engine inserting the very same rows as prebuilt Arrow
   tables through the same ``INSERT ... SELECT * FROM Python(...)``, batch by
   batch interleaved into two databases. Goal >= 0.9x. The items were made
   before the run, so the writer reads them from memory the INSERT before it
   has pushed out of the CPU caches; a second writer line times the same
   batch just parsed from its JSON text (outside the timing), as a backend
   holds a request it has just read.
2. writer vs one row per INSERT: the same writer with ``batch_size=1``, on a
   few hundred spans (it is that slow). Goal >= 100x.
3. peak memory of ``StreamingWriter`` fed a generator of spans: the Python
   heap peak (tracemalloc) and the process's peak RSS growth, for a short and
   a long stream. Goal: bounded by the buffer, not by the stream's length.
4. where part 1's gap goes, per batch of 1,000, interleaved: the raw INSERT;
   the Python time 0.9x allows (a ninth of it); the writer's Python side
   (``prepare_tables``: validation, Arrow, token; no INSERT); and the floor:
   the library calls alone that turn the same items into the same Arrow
   table with no check at all (one C-level transpose, one ``orjson.dumps``
   per JSON column, ``pa.array``/``cast`` per column, BLAKE3 of the buffers).
   The floor cannot split a JSON column into values, so it is below what any
   writer of these libraries can reach. The writer and the floor alternate
   which goes first after the INSERT: the second finds the batch's items in
   the CPU caches (~0.6 ms of the floor's ~3.5 ms here).

    python bench/ingest.py [--batches 30] [--single 300] [--stream 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any

from opik_store import Store
from opik_store.ingest import StreamingWriter

WORDS = [
    "the",
    "model",
    "answered",
    "with",
    "a",
    "short",
    "summary",
    "of",
    "the",
    "retrieved",
    "documents",
    "and",
    "cited",
    "three",
    "sources",
    "user",
    "asked",
    "about",
    "pricing",
    "tiers",
    "latency",
    "budgets",
    "and",
    "how",
    "tokens",
    "are",
    "counted",
    "across",
    "tool",
    "calls",
    "agent",
    "planned",
    "a",
    "search",
    "then",
    "called",
    "the",
    "calculator",
    "and",
    "verified",
    "the",
    "final",
    "answer",
    "twice",
]
PROJECT = "0193a8c5-0000-7000-8000-000000000001"


def uuid7(ms: int, rng: random.Random) -> str:
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def spans(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Opik REST-shaped spans, ~1.5 KB each, ten to a trace, from one hour ago on."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(hours=1)
    trace = ""
    for i in range(count):
        at = start + timedelta(milliseconds=i)
        ms = int(at.timestamp() * 1000)
        if i % 10 == 0:
            trace = uuid7(ms, rng)
        yield {
            "id": uuid7(ms, rng),
            "trace_id": trace,
            "project_id": PROJECT,
            "workspace_id": "bench",
            "name": "llm call",
            "type": "llm",
            "start_time": at.isoformat(),
            "end_time": (at + timedelta(milliseconds=rng.randint(50, 5000))).isoformat(),
            "input": {"messages": [{"role": "user", "content": text(rng, 120)}]},
            "output": {"answer": text(rng, 80)},
            "metadata": {"temperature": 0.2, "run": i},
            "model": "gpt-5",
            "provider": "openai",
            "total_estimated_cost": "0.000125",
            "tags": ["bench"],
            "usage": {"prompt_tokens": rng.randint(10, 4000), "completion_tokens": rng.randint(10, 800)},
        }


def raw_arrow(items: list[dict[str, Any]], names: tuple[str, ...], types: list[Any]) -> Any:
    """What a client without the writer does: JSON-encode the payload fields and build Arrow; no validation."""
    import pyarrow as pa

    columns: dict[str, list[Any]] = {n: [] for n in names}
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    for item in items:
        for name in names:
            value = item.get(name)
            if name in ("input", "output", "metadata"):
                value = json.dumps(value, separators=(",", ":"))
            elif name in ("start_time", "end_time"):
                value = datetime.fromisoformat(value) if value else epoch
            elif name in ("created_at", "last_updated_at"):
                value = now
            elif name == "usage":
                value = list((value or {}).items())
            elif name == "total_estimated_cost":
                value = Decimal(value or 0)
            elif name == "ttft":
                value = float("nan")
            elif name == "truncation_threshold":
                value = 10001
            elif name == "is_deleted":
                value = 0
            elif value is None:
                value = [] if name == "tags" else ("unknown" if name in ("type", "source") else "")
            columns[name].append(value)
    return pa.Table.from_arrays([pa.array(columns[n], type=t) for n, t in zip(names, types, strict=True)], names=names)


def compare_with_raw(store: Store, raw_store: Store, fresh_store: Store, batches: int) -> dict[str, list[float]]:
    """Rows/s of each batch: the engine inserting prebuilt Arrow ("raw"); the writer ("writer"); the writer on
    the batch just parsed from JSON ("fresh"); the raw insert including building its Arrow ("client").

    Batch by batch interleaved, into three databases of one engine (so each table takes the same inserts).
    """
    writer = store.writer("spans")
    fresh = fresh_store.writer("spans")
    raw = raw_store.writer("spans")  # only its target, column names and Arrow types are used
    items = list(spans(batches * 1000, 1))
    rates: dict[str, list[float]] = {"raw": [], "writer": [], "fresh": [], "client": []}
    names, types = raw.rules.names, raw._types
    for b in range(batches):
        batch = items[b * 1000 : (b + 1) * 1000]
        started = time.perf_counter()
        table = raw_arrow(batch, names, types)
        built = time.perf_counter()
        raw.adapter.insert_arrow(raw.target, names, table, {})
        done = time.perf_counter()
        rates["raw"].append(1000 / (done - built))
        rates["client"].append(1000 / (done - started))
        started = time.perf_counter()
        writer.write(batch)
        rates["writer"].append(1000 / (time.perf_counter() - started))
        parsed = json.loads(json.dumps(batch))
        started = time.perf_counter()
        fresh.write(parsed)
        rates["fresh"].append(1000 / (time.perf_counter() - started))
    writer.close()
    fresh.close()
    raw.close()
    return rates


def floor_table(items: list[dict[str, Any]], names: tuple[str, ...], types: list[Any]) -> Any:
    """The same batch as Arrow through library calls alone: no check, no per-value Python beyond the transpose."""
    from array import array as array_of

    import blake3
    import orjson
    import pyarrow as pa
    import pyarrow.compute as pc

    present = [n for n in names if n in items[0]]
    columns = dict(zip(present, zip(*map(itemgetter(*present), items), strict=True), strict=True))
    hasher = blake3.blake3()
    arrays = []
    for name, kind in zip(names, types, strict=True):
        col = columns.get(name)
        if col is None:
            array = pa.nulls(len(items), kind)
        elif name in ("input", "output", "metadata"):
            # one call, not split into values; its bytes become the array's data as the writer's do (no decode)
            data = orjson.dumps(list(col))
            array = pa.StringArray.from_buffers(1, pa.py_buffer(array_of("i", [0, len(data)])), pa.py_buffer(data))
        elif pa.types.is_timestamp(kind) or pa.types.is_decimal(kind):
            array = pc.cast(pa.array(col, pa.string()), kind)
        else:
            array = pa.array(col, kind)
        for buffer in array.buffers():
            if buffer is not None:
                hasher.update(buffer)
        arrays.append(array)
    hasher.hexdigest()
    return arrays


def column_groups(writer: Any, batch: list[dict[str, Any]]) -> dict[str, float]:
    """ms of the writer's own column checks and conversions on ``batch``, by group (its vectorised path)."""
    groups = {"input": "json", "output": "json", "metadata": "json", "start_time": "idtime", "end_time": "idtime"}
    groups |= {name: "idtime" for name in ("id", "trace_id", "project_id", "workspace_id")}
    took = {"json": 0.0, "idtime": 0.0, "other": 0.0}
    moment = datetime.now(UTC)
    validator = writer._columnar
    for (name, _convert, _absent), vector in zip(validator.rules.plan, validator.vectors, strict=True):
        if vector is None or name not in batch[0]:
            continue
        col = [item[name] for item in batch]
        started = time.perf_counter()
        vector(col, moment)
        took[groups.get(name, "other")] += (time.perf_counter() - started) * 1000
    return took


def breakdown(store: Store, raw_store: Store, batches: int) -> dict[str, list[float]]:
    """Per batch (ms): raw INSERT of prebuilt Arrow, the writer's Python side, and the library-call floor."""
    writer = store.writer("spans")
    raw = raw_store.writer("spans")
    items = list(spans(batches * 1000, 7))
    names, types = raw.rules.names, raw._types
    out: dict[str, list[float]] = {"raw": [], "writer": [], "floor": []}
    for b in range(batches):
        batch = items[b * 1000 : (b + 1) * 1000]
        table = raw_arrow(batch, names, types)
        started = time.perf_counter()
        raw.adapter.insert_arrow(raw.target, names, table, {})
        out["raw"].append((time.perf_counter() - started) * 1000)
        # alternating which goes first: the second finds the items the first read still in the CPU caches
        sides: list[tuple[str, Callable[[list[dict[str, Any]]], object]]] = [
            ("writer", writer.prepare_tables),
            ("floor", lambda each: floor_table(each, names, types)),
        ]
        for side, build in sides if b % 2 == 0 else sides[::-1]:
            started = time.perf_counter()
            build(batch)
            out[side].append((time.perf_counter() - started) * 1000)
        for group, took in column_groups(writer, batch).items():
            out.setdefault(group, []).append(took)
    writer.close()
    raw.close()
    return out


def one_row_per_insert(store: Store, count: int) -> tuple[float, float]:
    """Rows/s writing ``count`` spans one per INSERT, and the same spans in one batch."""
    items = list(spans(count * 2, 2))
    single = store.writer("spans", batch_size=1)
    started = time.perf_counter()
    single.write(items[:count])
    single_rate = count / (time.perf_counter() - started)
    single.close()
    batched = store.writer("spans")
    started = time.perf_counter()
    batched.write(items[count:])
    batch_rate = count / (time.perf_counter() - started)
    batched.close()
    return batch_rate, single_rate


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def stream_rss(store: Store, count: int, seed: int) -> tuple[float, float]:
    """(peak RSS growth MiB, rows/s) while streaming ``count`` generated spans (RSS sampled every 1,000)."""
    rss_before = peak_rss = rss_kib()
    started = time.perf_counter()
    with StreamingWriter(store.writer("spans"), flush_interval=1.0) as stream:
        for i, item in enumerate(spans(count, seed)):
            stream.add(item)
            if i % 1000 == 0:
                peak_rss = max(peak_rss, rss_kib())
    elapsed = time.perf_counter() - started
    return (max(peak_rss, rss_kib()) - rss_before) / 1024, count / elapsed


def stream_heap(store: Store, count: int, seed: int) -> float:
    """Peak Python heap (tracemalloc, MiB) while streaming ``count`` spans (slow: tracemalloc traces everything)."""
    tracemalloc.start()
    with StreamingWriter(store.writer("spans"), flush_interval=1.0) as stream:
        for item in spans(count, seed):
            stream.add(item)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=30, help="batches of 1,000 spans per side in part 1")
    parser.add_argument("--single", type=int, default=300, help="spans written one per INSERT in part 2")
    parser.add_argument("--stream", type=int, default=1_000_000, help="spans in the long stream of part 3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        url = f"chdb://{root}/data"
        with (
            Store.from_url(url, database="bench") as store,
            Store.from_url(url, database="bench_raw") as raw,
            Store.from_url(url, database="bench_fresh") as fresh,
        ):
            for each in (store, raw, fresh):
                each.migrate()
            rates = compare_with_raw(store, raw, fresh, args.batches)
            parts = breakdown(store, raw, args.batches)
            batch_rate, single_rate = one_row_per_insert(store, args.single)
            short = max(args.stream // 10, 10_000)
            rss_short, rate_short = stream_rss(store, short, 3)
            rss_long, rate_long = stream_rss(store, args.stream, 4)
            heap_small, heap_large = stream_heap(store, 5_000, 5), stream_heap(store, 25_000, 6)
    median = {k: statistics.median(v) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    print(f"1. writer vs raw engine, {args.batches} batches of 1,000 spans each, interleaved (rows/s)")
    print(f"   {'':46} {'median':>8} {'ratio':>6}   {'fastest':>8} {'ratio':>6}")
    lines = [
        ("raw", "raw: prebuilt Arrow, same INSERT", "raw"),
        ("writer", "writer (validate + Arrow + token + INSERT)", "raw"),
        ("fresh", "writer, the batch just parsed from JSON", "raw"),
        ("client", "raw incl. JSON + Arrow from the same items", "raw"),
    ]
    for key, label, base in lines:
        print(
            f"   {label:46} {median[key]:>8,.0f} {median[key] / median[base]:>6.2f}   "
            f"{best[key]:>8,.0f} {best[key] / best[base]:>6.2f}"
        )
    print(f"2. writer batches vs one row per INSERT, {args.single} spans each (rows/s)")
    print(
        f"   batches {batch_rate:>9,.0f}   one per INSERT {single_rate:>8,.0f}   ratio {batch_rate / single_rate:,.0f}"
    )
    print("3. StreamingWriter (buffer 1,000, flush every 1 s): peak RSS growth by stream length")
    print(f"   {'spans':>10} {'RSS MiB':>8} {'rows/s':>8}")
    print(f"   {short:>10,} {rss_short:>8.0f} {rate_short:>8,.0f}")
    print(f"   {args.stream:>10,} {rss_long:>8.0f} {rate_long:>8,.0f}")
    print(
        f"   peak Python heap (tracemalloc): {heap_small:.1f} MiB for 5,000 spans, {heap_large:.1f} MiB for 25,000 "
        f"(ratio {heap_large / heap_small:.2f} for 5x the spans)"
    )

    part = {k: statistics.median(v) for k, v in parts.items()}
    budget = part["raw"] / 9
    print(f"4. where the gap goes, {args.batches} batches of 1,000 spans, interleaved (median ms per batch)")
    print(f"   raw INSERT of prebuilt Arrow                    {part['raw']:>7.2f}")
    print(f"   Python time 0.9x allows (a ninth of it)         {budget:>7.2f}")
    labels = {"writer": "writer's Python side (validate, Arrow, token)", "floor": "floor: library calls alone"}
    for key, label in labels.items():
        print(f"   {label:47} {part[key]:>7.2f}  {part[key] / budget:.2f}x it")
        if key == "writer":
            for group, what in (("json", "JSON fields"), ("idtime", "ids and times"), ("other", "other fields")):
                print(f"     {what + ', timed apart':43} {part[group]:>7.2f}")


if __name__ == "__main__":
    main()
