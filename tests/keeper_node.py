"""One embedded-engine "node" with a real ZooKeeper, in a subprocess of its own.

The embedded engine is process-wide (the suite's session engine holds it), so
each node of tests/test_keeper.py is this file run with the venv's python:

    python keeper_node.py DIR ZK_HOSTS DATABASE SHARD REPLICA

It writes ``DIR/config.xml`` (``<zookeeper>`` and ``<macros>``), opens
``chdb://DIR/data?config-file=DIR/config.xml`` through opik-store's own
adapter, then answers one JSON request per stdin line with one JSON line on
stdout (prefixed with MARK, so engine output on stdout cannot be mistaken for
an answer):

* ``{"op": "sql", "sql": ...}``: run it; ``rows`` (as strings) or the error's ``code`` and ``message``;
* ``{"op": "statement", "sql": ..., "kind": ..., "table": ...}``: run it through
  ``Migrator.run_statement`` (cluster topology ``opik``), as a revision's statement;
  ``said`` carries the runner's progress lines;
* ``{"op": "statements", "items": [{"sql", "kind", "table"}, ...]}``: the same for each, in order,
  answered once at the end (a test kills the node part way);
* ``{"op": "exit"}``: leave at once with ``os._exit(0)``. Closing the engine
  while a Replicated table is attached can hang (notes/cluster-harness.md),
  so a node never closes it.

The test side is :class:`KeeperNode`; every wait has a timeout.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

MARK = "@@keeper-node@@ "
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 120.0


def _config_xml(zk_hosts: str, shard: str, replica: str) -> str:
    host, port = zk_hosts.rsplit(":", 1)
    return (
        "<clickhouse>"
        f"<zookeeper><node><host>{host}</host><port>{port}</port></node>"
        "<session_timeout_ms>6000</session_timeout_ms></zookeeper>"
        f"<macros><shard>{shard}</shard><replica>{replica}</replica></macros>"
        "</clickhouse>"
    )


def _serve(directory: Path, zk_hosts: str, database: str, shard: str, replica: str) -> None:
    from opik_store.config import StoreConfig
    from opik_store.engine.embedded import EmbeddedAdapter
    from opik_store.errors import ServerError
    from opik_store.migrations.revisions import RevisionSet
    from opik_store.migrations.runner import Migrator
    from opik_store.schema.render import Rendered

    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.xml"
    config.write_text(_config_xml(zk_hosts, shard, replica))
    url = f"chdb://{directory / 'data'}?config-file={config}"
    store_config = StoreConfig.from_env(url=url, database=database, cluster="opik", environ={})
    adapter = EmbeddedAdapter(store_config.connection)
    said: list[str] = []
    migrator = Migrator(adapter, store_config, RevisionSet(), progress=said.append)

    def answer(payload: dict[str, Any]) -> None:
        sys.stdout.write(MARK + json.dumps(payload) + "\n")
        sys.stdout.flush()

    answer({"ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        request = json.loads(line)
        said.clear()
        try:
            if request["op"] == "exit":
                answer({"ok": True})
                os._exit(0)
            elif request["op"] == "sql":
                rows = adapter.query(request["sql"]).rows
                answer({"ok": True, "rows": [[str(v) for v in row] for row in rows]})
            elif request["op"] == "statement":
                migrator.run_statement(Rendered(sql=request["sql"], kind=request["kind"], table=request["table"]))
                answer({"ok": True, "said": list(said)})
            elif request["op"] == "statements":
                for item in request["items"]:
                    migrator.run_statement(Rendered(sql=item["sql"], kind=item["kind"], table=item["table"]))
                answer({"ok": True, "said": list(said)})
            else:
                answer({"ok": False, "code": -1, "message": f"unknown op {request['op']!r}"})
        except ServerError as exc:
            answer({"ok": False, "code": exc.code, "message": exc.server_message, "said": list(said)})
    os._exit(0)


class NodeError(RuntimeError):
    """A node answered a request with an error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"code {code}: {message}")
        self.code = code
        self.message = message


class KeeperNode:
    """The test side: start the subprocess, send requests, kill it."""

    def __init__(self, directory: Path, zk_hosts: str, database: str, shard: str = "01", replica: str = "r1") -> None:
        self.directory = directory
        self.shard = shard
        self.replica = replica
        directory.mkdir(parents=True, exist_ok=True)
        self._log = open(directory / "node.log", "wb")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(directory), zk_hosts, database, shard, replica],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self._buffer = b""
        self._read(START_TIMEOUT)

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith(MARK):
                    answer: dict[str, Any] = json.loads(text[len(MARK) :])
                    return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise TimeoutError(f"node {self.directory} did not answer within {timeout:.0f} s: {self.log_tail()}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"node {self.directory} exited ({self.proc.poll()}): {self.log_tail()}")
                self._buffer += chunk

    def send(self, payload: dict[str, Any]) -> None:
        """Send a request without waiting for its answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(payload) + "\n").encode())
        self.proc.stdin.flush()

    def request(self, payload: dict[str, Any], timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        self.send(payload)
        return self._read(timeout)

    def sql(self, sql: str) -> list[list[str]]:
        """Run ``sql``; its rows as strings. Raises NodeError with the engine's code."""
        answer = self.request({"op": "sql", "sql": sql})
        if not answer["ok"]:
            raise NodeError(answer["code"], answer["message"])
        rows: list[list[str]] = answer["rows"]
        return rows

    def try_sql(self, sql: str) -> int:
        """Run ``sql``; 0, or the engine's error code."""
        try:
            self.sql(sql)
        except NodeError as exc:
            return exc.code
        return 0

    def statement(self, sql: str, kind: str, table: str) -> list[str]:
        """Run ``sql`` through the runner's ``run_statement``; its progress lines. Raises NodeError."""
        answer = self.request({"op": "statement", "sql": sql, "kind": kind, "table": table})
        if not answer["ok"]:
            raise NodeError(answer["code"], answer["message"])
        said: list[str] = answer["said"]
        return said

    def log_tail(self) -> str:
        try:
            return (self.directory / "node.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the node (a crash: nothing is closed or dropped) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        finally:
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self._log.close()

    def __enter__(self) -> KeeperNode:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
