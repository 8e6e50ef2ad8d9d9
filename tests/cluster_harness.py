"""Real multi-node ClickHouse clusters on loopback for the ``cluster`` tests.

One ZooKeeper (``tests/zookeeper.py``) and Debian's ``clickhouse-server``
18.16 processes, each with its own config: distinct ports on 127.0.0.1 (from
free ports the kernel hands out, so never 19000-19003 unless the kernel picks
them -- it only hands out free ones), ``<remote_servers>`` with
``internal_replication``, ``<distributed_ddl>``, per-node ``<macros>`` (shard,
replica) and the same ``<zookeeper>``. Two session fixtures, each started only
when a test asks for it:

* ``cluster_2x1``: cluster ``opik``, 2 replicas of 1 shard;
* ``cluster_2x2``: cluster ``opik_sharded``, 2 shards of 2 replicas.

Rules the harness keeps:

* Missing binaries FAIL the test (CI installs them, and a skipped cluster test
  would prove nothing), unless ``OPIK_STORE_SKIP_CLUSTER_TESTS=1`` opts out
  explicitly: then they skip and say so.
* ``Node.kill()`` is a real SIGKILL of the server process; ``Node.start()``
  brings the same node back on the same ports and data.
* Every node is stopped (SIGTERM, then SIGKILL) when the session ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from native_server import free_port, server_binary
from processes import stop_process
from zookeeper import ZooKeeper, running_zookeeper, zookeeper_classpath

from opik_store.engine.adapter import Adapter, Rows
from opik_store.engine.native import NativeAdapter
from opik_store.engine.urls import parse_url
from opik_store.errors import ServerError

SKIP_ENV = "OPIK_STORE_SKIP_CLUSTER_TESTS"

NODE_CONFIG = """<yandex>
  <logger><level>information</level><log>{root}/server.log</log><errorlog>{root}/error.log</errorlog></logger>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <interserver_http_port>{interserver}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <users_config>{root}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <remote_servers>{remote_servers}</remote_servers>
  {zookeeper}
  <distributed_ddl><path>/clickhouse/task_queue/{cluster}</path></distributed_ddl>
  <macros><shard>{shard}</shard><replica>{replica}</replica></macros>
  <query_log><database>system</database><table>query_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds></query_log>
</yandex>
"""

USERS = """<yandex>
  <profiles><default><log_queries>1</log_queries></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
  </users>
  <quotas><default></default></quotas>
</yandex>
"""


def cluster_binaries_missing() -> str | None:
    """Why the cluster tests cannot run here, or None when they can."""
    missing = []
    if server_binary() is None:
        missing.append("clickhouse-server (apt-get install -y clickhouse-server)")
    if zookeeper_classpath() is None:
        missing.append("ZooKeeper (apt-get install -y zookeeper)")
    return ", ".join(missing) or None


def require_cluster_binaries() -> None:
    """Fail (or skip, only when SKIP_ENV=1 opts out) when the binaries are missing."""
    missing = cluster_binaries_missing()
    if missing is None:
        return
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1 and not installed: {missing}")
    pytest.fail(f"cluster tests need {missing}; set {SKIP_ENV}=1 to skip them explicitly", pytrace=False)


@dataclass
class Node:
    """One clickhouse-server process of a cluster."""

    name: str
    shard: str
    replica: str
    root: Path
    tcp: int
    http: int
    interserver: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp}/"

    def adapter(self) -> Adapter:
        """A new native connection to this node (the caller closes it)."""
        return NativeAdapter(parse_url(self.url), connect_timeout=5)

    def query(self, sql: str) -> Rows:
        """Run one query on a new connection to this node."""
        conn = self.adapter()
        try:
            return conn.query(sql)
        finally:
            conn.close()

    def start(self) -> None:
        """Start (or restart) the server process and wait until it answers."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is already running"
        binary = server_binary()
        assert binary
        log = open(self.root / "stdout.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [binary, f"--config-file={self.root / 'config.xml'}"], stdout=log, stderr=log, cwd=self.root
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {(self.root / 'error.log').read_text()[-3000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.tcp)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not listen within 60 s")
            time.sleep(0.1)
        # Listening is not enough: 18.16 crashes on ON CLUSTER DDL if its first ZooKeeper session failed.
        while True:
            try:
                self.query("SELECT count() FROM system.zookeeper WHERE path = '/'")
                return
            except ServerError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} cannot reach ZooKeeper: {exc}") from None
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the server process (a real crash: no shutdown, no flush) and reap it."""
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if not self.running:
            return
        assert self.proc is not None
        stop_process(self.proc, timeout=20)


@dataclass
class Cluster:
    """A named cluster of nodes sharing one ZooKeeper."""

    name: str
    nodes: list[Node]
    zookeeper: ZooKeeper

    def ensure_running(self) -> None:
        """Restart any node a test left stopped, so the next test starts from a whole cluster."""
        for node in self.nodes:
            if not node.running:
                node.start()

    def url(self, index: int = 0) -> str:
        return self.nodes[index].url


def _remote_servers(cluster: str, shards: list[list[Node]]) -> str:
    body = "".join(
        "<shard><internal_replication>true</internal_replication>"
        + "".join(f"<replica><host>127.0.0.1</host><port>{n.tcp}</port></replica>" for n in replicas)
        + "</shard>"
        for replicas in shards
    )
    return f"<{cluster}>{body}</{cluster}>"


def wait_until_serving(zookeeper: ZooKeeper, timeout: float = 60.0) -> None:
    """Wait until ZooKeeper serves requests (``ruok`` answers before that; ``stat`` then names its mode)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((zookeeper.host, zookeeper.port), timeout=2) as sock:
                sock.sendall(b"stat")
                reply = b""
                while chunk := sock.recv(4096):
                    reply += chunk
            if b"Mode:" in reply:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"ZooKeeper at {zookeeper.hosts} is not serving after {timeout:.0f} s")
        time.sleep(0.2)


def build_cluster(root: Path, name: str, shards: int, replicas: int, zookeeper: ZooKeeper) -> Cluster:
    """Write every node's config under ``root`` and start the nodes."""
    wait_until_serving(zookeeper)
    layout: list[list[Node]] = []
    for s in range(1, shards + 1):
        row = []
        for r in range(1, replicas + 1):
            node_root = root / f"s{s}r{r}"
            for sub in ("data", "tmp", "format_schemas"):
                (node_root / sub).mkdir(parents=True, exist_ok=True)
            row.append(
                Node(
                    f"{name}-s{s}r{r}", f"{s:02d}", f"replica-{s}-{r}", node_root, free_port(), free_port(), free_port()
                )
            )
        layout.append(row)
    remote = _remote_servers(name, layout)
    nodes = [n for row in layout for n in row]
    for node in nodes:
        (node.root / "users.xml").write_text(USERS)
        (node.root / "config.xml").write_text(
            NODE_CONFIG.format(
                root=node.root,
                tcp=node.tcp,
                http=node.http,
                interserver=node.interserver,
                remote_servers=remote,
                zookeeper=zookeeper.config_xml(),
                cluster=name,
                shard=node.shard,
                replica=node.replica,
            )
        )
    cluster = Cluster(name, nodes, zookeeper)
    try:
        for node in nodes:
            node.start()
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def cluster_zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeper]:
    """One ZooKeeper for every cluster of the session (each cluster has its own DDL queue path)."""
    require_cluster_binaries()
    with running_zookeeper(tmp_path_factory.mktemp("zookeeper")) as zk:
        yield zk


def _session_cluster(
    tmp_path_factory: pytest.TempPathFactory, zk: ZooKeeper, name: str, shards: int, replicas: int
) -> Iterator[Cluster]:
    cluster = build_cluster(tmp_path_factory.mktemp(name), name, shards, replicas, zk)
    try:
        yield cluster
    finally:
        for node in cluster.nodes:
            node.stop()


@pytest.fixture(scope="session")
def cluster_2x1_session(tmp_path_factory: pytest.TempPathFactory, cluster_zookeeper: ZooKeeper) -> Iterator[Cluster]:
    yield from _session_cluster(tmp_path_factory, cluster_zookeeper, "opik", 1, 2)


@pytest.fixture(scope="session")
def cluster_2x2_session(tmp_path_factory: pytest.TempPathFactory, cluster_zookeeper: ZooKeeper) -> Iterator[Cluster]:
    yield from _session_cluster(tmp_path_factory, cluster_zookeeper, "opik_sharded", 2, 2)


@pytest.fixture
def cluster_2x1(cluster_2x1_session: Cluster) -> Cluster:
    """Cluster ``opik``: 1 shard of 2 replicas, every node running when the test starts."""
    cluster_2x1_session.ensure_running()
    return cluster_2x1_session


@pytest.fixture
def cluster_2x2(cluster_2x2_session: Cluster) -> Cluster:
    """Cluster ``opik_sharded``: 2 shards of 2 replicas, every node running when the test starts."""
    cluster_2x2_session.ensure_running()
    return cluster_2x2_session
