"""The streaming writer's rule on the real engine: an accepted item is stored or handed back, never dropped.

The server "fails" for real where the engine can show it (the target table renamed away: every INSERT is
refused with UNKNOWN_TABLE, not transient, so no retry hides it); a network-level fault the embedded engine
cannot produce (SOCKET_TIMEOUT, transient, longer than every retry) is injected at the adapter, the rows still
go to the real engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow
import pytest
from test_ingest import NOW, Recording, count, span
from test_retention import uuid7

from opik_store import Store
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.retry import RetryPolicy
from opik_store.errors import BufferFullError, ServerError, UnstoredItemsError
from opik_store.ingest import BatchWriter, StreamingWriter


@pytest.fixture
def migrated(migrated_store: Store) -> Store:
    return migrated_store


FAST_RETRY = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.02, max_total=0.1)


def _rename(engine: EmbeddedAdapter, database: str, a: str, b: str) -> None:
    engine.execute(f"RENAME TABLE `{database}`.{a} TO `{database}`.{b}")


def _ids(engine: EmbeddedAdapter, database: str) -> set[str]:
    return {str(r[0]) for r in engine.query(f"SELECT toString(id) FROM `{database}`.spans").rows}


class Outage(Recording):
    """The real adapter; every INSERT fails with a transient SOCKET_TIMEOUT while ``down`` is set."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.down = threading.Event()

    def insert_arrow(
        self, target: str, columns: Sequence[str], data: pyarrow.Table, settings: Mapping[str, str]
    ) -> None:
        if self.down.is_set():
            self.inserts.append((data.num_rows, dict(settings)))
            raise ServerError(209, "simulated: timeout while reading from the server")
        super().insert_arrow(target, columns, data, settings)


@pytest.mark.parametrize("fault", ["table renamed away", "socket timeouts"])
def test_every_accepted_item_is_stored_through_an_outage_longer_than_all_retries(
    migrated: Store,
    engine: EmbeddedAdapter,
    database: str,
    fault: str,
) -> None:
    """Four producers add 1,200 items while every INSERT fails for 2 s (each batch fails its retries several
    times over); all 1,200 are stored once the server takes writes again, and the counters say so exactly."""
    outage = Outage(migrated.adapter)
    writer = BatchWriter(outage, database, "spans", batch_size=50, retry=FAST_RETRY)
    stream = StreamingWriter(writer, flush_interval=0.05, max_buffered=2_000, retry_interval=0.05)
    if fault == "table renamed away":
        _rename(engine, database, "spans", "spans_away")
    else:
        outage.down.set()

    def produce(t: int) -> None:
        for i in range(300):
            stream.add(span(t * 1000 + i))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(2)
    failures = stream.counters.snapshot()["failures"]
    assert failures >= 3, f"the outage did not outlast the retries ({failures} failed tries): the test proves nothing"
    assert stream.pending == 1200 and stream.counters.snapshot()["rows"] == 0
    if fault == "table renamed away":
        _rename(engine, database, "spans_away", "spans")
        assert "UNKNOWN_TABLE" in str(stream.last_error) or "60" in str(stream.last_error)
    else:
        outage.down.clear()
    stream.close()
    want = {span(t * 1000 + i)["id"] for t in range(4) for i in range(300)}
    assert _ids(engine, database) == want and count(engine, database) == 1200, "each item stored once"
    snap = stream.counters.snapshot()
    assert (snap["rows"], stream.pending) == (1200, 0)
    assert snap["batches"] == 24, snap


def test_a_full_buffer_pushes_back_then_hands_back_what_it_could_not_take(
    migrated: Store,
    engine: EmbeddedAdapter,
    database: str,
) -> None:
    """With the server down for good: ``add`` waits for room, then raises BufferFullError with the item it did
    not take; ``flush`` raises with every buffered item (kept); ``close`` hands them all back. Re-sending the
    handed-back items stores every one."""
    _rename(engine, database, "spans", "spans_away")
    writer = BatchWriter(migrated.adapter, database, "spans", batch_size=10, retry=FAST_RETRY)
    stream = StreamingWriter(writer, flush_interval=0.05, max_buffered=20, add_timeout=0.3, retry_interval=0.05)
    items = [span(i) for i in range(21)]
    for item in items[:20]:
        stream.add(item)
    began = time.monotonic()
    with pytest.raises(BufferFullError, match="stayed full") as full:
        stream.add(items[20])
    assert time.monotonic() - began >= 0.3, "add gave up before its timeout"
    assert full.value.items == [items[20]] and full.value.ids == [items[20]["id"]]
    assert "UNKNOWN_TABLE" in str(full.value) or "60" in str(full.value), "the cause is named"
    with pytest.raises(UnstoredItemsError) as flushed:
        stream.flush()
    assert flushed.value.items == items[:20] and stream.pending == 20, "flush keeps what it could not store"
    with pytest.raises(UnstoredItemsError, match="20 accepted item") as closed:
        stream.close()
    assert closed.value.items == items[:20] and closed.value.ids == [i["id"] for i in items[:20]]
    assert stream.pending == 0 and stream.counters.snapshot()["rows"] == 0
    _rename(engine, database, "spans_away", "spans")
    assert count(engine, database) == 0, "nothing was stored while the table was away"
    with StreamingWriter(BatchWriter(migrated.adapter, database, "spans", batch_size=10)) as again:
        again.add_many(closed.value.items + full.value.items)
    assert _ids(engine, database) == {i["id"] for i in items}


class FailOnce(Recording):
    """The real adapter; its ``n``-th INSERT (1-based) fails once with UNKNOWN_TABLE, before it runs."""

    def __init__(self, inner: Any, n: int) -> None:
        super().__init__(inner)
        self.n = n

    def insert_arrow(
        self, target: str, columns: Sequence[str], data: pyarrow.Table, settings: Mapping[str, str]
    ) -> None:
        if len(self.inserts) + 1 == self.n:
            self.inserts.append((data.num_rows, dict(settings)))
            raise ServerError(60, "simulated: the table is away for a moment")
        super().insert_arrow(target, columns, data, settings)


def test_a_batch_stored_in_part_is_retried_for_the_rest_and_counted_once(
    migrated: Store, engine: EmbeddedAdapter, database: str
) -> None:
    """150 spans in 150 weeks go as two INSERTs (100 + 50 weeks); the second fails. The 100 stored are not
    handed back nor counted twice when the batch is tried again (they were: 150 handed back, rows = 250)."""
    items = [span(i, id=uuid7(NOW - timedelta(weeks=i), 900 + i)) for i in range(150)]
    flaky = FailOnce(migrated.adapter, 2)
    stream = StreamingWriter(BatchWriter(flaky, database, "spans", batch_size=200), flush_interval=60)
    stream.add_many(items)
    with pytest.raises(UnstoredItemsError) as info:
        stream.flush()
    assert len(info.value.items) == 50 and stream.pending == 50, (len(info.value.items), stream.pending)
    assert stream.counters.snapshot()["rows"] == 100 and count(engine, database) == 100
    stream.close()
    assert count(engine, database) == 150 and stream.counters.snapshot()["rows"] == 150 and stream.pending == 0
    sent = [n for n, _ in flaky.inserts]
    assert sent == [100, 50, 50], sent  # the stored group is not sent again


def test_a_flush_that_returned_is_durable_through_kill_9(tmp_path: Path) -> None:
    """A producer process streams items and prints how many a returned ``flush`` covers; it is killed with
    SIGKILL mid-stream. Every item a flush covered is in the database when it is opened again."""
    folder = tmp_path / "db"
    url = f"chdb://{folder}"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_ingest import span
        from opik_store import Store
        from opik_store.ingest import BatchWriter, StreamingWriter
        with Store.from_url({url!r}, database="opik") as store:
            store.migrate()
            stream = StreamingWriter(BatchWriter(store.adapter, "opik", "spans", batch_size=25), flush_interval=0.05)
            n = 0
            while True:
                for _ in range(40):
                    stream.add(span(n))
                    n += 1
                stream.flush()
                print(n, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    durable = 0
    began = time.monotonic()
    while durable < 400 and time.monotonic() - began < 120:
        line = proc.stdout.readline()
        if not line:
            break
        durable = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert durable >= 400, f"the producer did not get far enough before the kill ({durable} items)"
    check = textwrap.dedent(f"""
        import json
        from opik_store import Store
        with Store.from_url({url!r}, database="opik") as store:
            rows = store.adapter.query("SELECT toString(id) FROM opik.spans").rows
        print(json.dumps([r[0] for r in rows]))
    """)
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    stored = set(json.loads(out.stdout))
    covered = {span(i)["id"] for i in range(durable)}
    assert covered <= stored, f"{len(covered - stored)} items a returned flush covered are missing"
