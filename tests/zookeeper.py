"""A real ZooKeeper on loopback for the cluster tests (Debian's ``zookeeper`` package).

``.ci/run`` installs the package; where it is missing, ``zookeeper_jar()``
returns None and the caller decides (the ``cluster`` tests fail in CI rather
than skip: see ``tests/cluster``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from processes import stop_process

ZOO_CFG = """tickTime=500
initLimit=10
syncLimit=5
dataDir={data}
clientPort={port}
clientPortAddress=127.0.0.1
maxClientCnxns=200
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,mntr
"""


@dataclass(frozen=True)
class ZooKeeper:
    host: str
    port: int

    @property
    def hosts(self) -> str:
        """``host:port``, as kazoo and ClickHouse's ``<zookeeper><node>`` take it."""
        return f"{self.host}:{self.port}"

    def config_xml(self) -> str:
        """The ``<zookeeper>`` section for a ClickHouse config (server or chdb)."""
        return (
            f"<zookeeper><node><host>{self.host}</host><port>{self.port}</port></node>"
            "<session_timeout_ms>6000</session_timeout_ms></zookeeper>"
        )


def zookeeper_classpath() -> str | None:
    """The java classpath of Debian's ZooKeeper, or None when it is not installed."""
    jar = "/usr/share/java/zookeeper.jar"
    if not os.path.exists(jar) or not shutil.which("java"):
        return None
    return f"/etc/zookeeper/conf:{jar}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ruok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"ruok")
            return sock.recv(4) == b"imok"
    except OSError:
        return False


@contextmanager
def running_zookeeper(root: Path) -> Iterator[ZooKeeper]:
    """Start a standalone ZooKeeper under ``root`` on a free loopback port; stop it after."""
    classpath = zookeeper_classpath()
    if classpath is None:
        raise RuntimeError("ZooKeeper is not installed (apt-get install -y zookeeper)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    port = free_port()
    cfg = root / "zoo.cfg"
    cfg.write_text(ZOO_CFG.format(data=root / "data", port=port))
    log = open(root / "zookeeper.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["java", "-Xmx256m", "-cp", classpath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)],
        stdout=log,
        stderr=log,
        cwd=root,
    )
    try:
        deadline = time.monotonic() + 60
        while not _ruok(port):
            if proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited: {(root / 'zookeeper.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("ZooKeeper did not answer ruok within 60 s")
            time.sleep(0.2)
        yield ZooKeeper("127.0.0.1", port)
    finally:
        stop_process(proc)
        log.close()
