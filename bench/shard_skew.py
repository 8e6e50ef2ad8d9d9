"""How evenly the sharded topology's keys spread generated Opik data over 2, 3 and 4 shards.

The keys are the ones ``schema/sharding.py`` renders into the Distributed
tables: ``cityHash64(id)`` for traces and ``cityHash64(trace_id)`` for spans,
both over ``FixedString(36)``. ClickHouse itself (the embedded engine)
computes every hash; with equal weights a row goes to shard
``key % shards + 1`` (tests/test_sharding.py shows the Distributed engine
choosing exactly that). Every span goes where its trace goes, so the spread
of spans and of span bytes follows the spread of traces weighted by their
span counts, which is what this measures.

Generated data, seeded: ``--traces`` traces over 30 days in ``--workspaces``
workspaces of Zipf-like sizes; span counts per trace heavy-tailed (most
traces have a handful, a few have thousands: agent loops); span payloads
log-normal in size; 2 % of trace ids are UUIDv4 and ``--nil`` traces carry
the nil id (clients mint ids: both occur in production), which all hash to
one shard. For contrast the same data keyed by workspace
(``cityHash64(workspace_id)``), the key that would keep a tenant together.

    python bench/shard_skew.py [--traces 200000] [--workspaces 200] [--nil 20] [--seed 7]

Skew = the largest shard's share / the even share (1/shards) - 1.
"""

from __future__ import annotations

import argparse
import math
import random
import time
import uuid

from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.urls import parse_url
from opik_store.schema.sharding import SHARDED_TABLES

NIL = "00000000-0000-0000-0000-000000000000"


def uuid7(ms: int, rng: random.Random) -> str:
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def generate(traces: int, workspaces: int, nil: int, seed: int) -> list[tuple[str, str, int, int]]:
    """(trace id, workspace, span count, span bytes) per trace."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    weights = [1 / (rank + 1) for rank in range(workspaces)]  # Zipf: the first workspace is the largest
    names = [f"ws-{i:04d}" for i in range(workspaces)]
    out = []
    for i in range(traces):
        if i < nil:
            trace_id = NIL
        elif rng.random() < 0.02:
            trace_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        else:
            trace_id = uuid7(now_ms - rng.randrange(30 * 86_400_000), rng)
        spans = min(5000, max(1, int(rng.paretovariate(1.3))))  # median 1-2, mean ~4, a long tail to 5000
        size = sum(int(rng.lognormvariate(7.0, 1.2)) for _ in range(min(spans, 50)))
        size = size * spans // min(spans, 50)  # scale the sampled payloads to the whole trace
        out.append((trace_id, rng.choices(names, weights)[0], spans, size))
    return out


def measure(engine: EmbeddedAdapter, key: str) -> dict[int, list[tuple[int, int, int, int]]]:
    """Per shard count: (shard, traces, spans, bytes) with ``key`` computed by ClickHouse."""
    out: dict[int, list[tuple[int, int, int, int]]] = {}
    for shards in (2, 3, 4):
        rows = engine.query(
            f"SELECT {key} % {shards} + 1 AS shard, count(), sum(spans), sum(bytes) FROM skew.traces "
            "GROUP BY shard ORDER BY shard"
        ).rows
        out[shards] = [(int(s), int(t), int(n), int(b)) for s, t, n, b in rows]
    return out


def report(title: str, result: dict[int, list[tuple[int, int, int, int]]], traces: int) -> None:
    print(title)
    print(f"  {'shards':>6}  {'metric':12} {'per-shard share':40} {'skew':>7}")
    for shards, rows in result.items():
        totals = [sum(r[i] for r in rows) for i in (1, 2, 3)]
        for i, metric in ((1, "traces"), (2, "spans"), (3, "span bytes")):
            shares = [r[i] / totals[i - 1] for r in rows] + [0.0] * (shards - len(rows))
            skew = max(shares) * shards - 1
            text = " ".join(f"{s:6.2%}" for s in shares)
            print(f"  {shards:>6}  {metric:12} {text:40} {skew:7.2%}")
        noise = math.sqrt((1 / shards) * (1 - 1 / shards) / traces) * shards
        print(f"  {'':>6}  (chance alone: one standard deviation of a shard's traces share is {noise:.2%} of even)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=200_000)
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--nil", type=int, default=20, help="traces whose id is the nil UUID")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    data = generate(args.traces, args.workspaces, args.nil, args.seed)
    engine = EmbeddedAdapter(parse_url("chdb://:memory:"))
    try:
        engine.execute("CREATE DATABASE skew")
        engine.execute(
            "CREATE TABLE skew.traces (id FixedString(36), trace_id FixedString(36), workspace_id String, "
            "spans UInt64, bytes UInt64) ENGINE = Memory"
        )
        for start in range(0, len(data), 20_000):
            chunk = data[start : start + 20_000]
            engine.execute(
                "INSERT INTO skew.traces SELECT r.1, r.1, r.2, r.3, r.4 "
                "FROM (SELECT arrayJoin({rows:Array(Tuple(String, String, UInt64, UInt64))}) AS r)",
                {"rows": chunk},
            )
        total_spans = sum(d[2] for d in data)
        top = max(d[2] for d in data)
        print(
            f"{len(data):,} traces, {total_spans:,} spans (largest trace {top:,} spans), "
            f"{args.workspaces} workspaces, {args.nil} nil ids, seed {args.seed}"
        )
        same = engine.query(
            f"SELECT countIf(({SHARDED_TABLES['traces']}) != ({SHARDED_TABLES['spans']})) FROM skew.traces"
        ).scalar()
        print(f"traces key {SHARDED_TABLES['traces']} vs spans key {SHARDED_TABLES['spans']}: {same} differ")
        report("\nsharding key of the sharded topology: cityHash64(id) / cityHash64(trace_id)",
               measure(engine, SHARDED_TABLES["traces"]), len(data))  # fmt: skip
        report("\nfor contrast, keyed by tenant: cityHash64(workspace_id)",
               measure(engine, "cityHash64(workspace_id)"), len(data))  # fmt: skip
    finally:
        engine.close()


if __name__ == "__main__":
    main()
