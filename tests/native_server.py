"""A real ClickHouse server for the native-adapter tests, when one can be had.

Order: OPIK_STORE_TEST_URL (any reachable server), else a local
``clickhouse-server`` binary started in a temporary folder on a free loopback
port (Debian's package is 18.16: old, so only protocol-level behaviour is
tested against it), else the tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processes import stop_process

TEST_USER, TEST_PASSWORD = "tester", "s3cr3t-pa55-Xy"

CONFIG = """<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <tcp_port>{port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <users_config>{root}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>536870912</mark_cache_size>
</yandex>
"""

USERS = """<yandex>
  <profiles><default></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <{user}><password>{password}</password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></{user}>
  </users>
  <quotas><default></default></quotas>
</yandex>
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_binary() -> str | None:
    return shutil.which("clickhouse-server") or next(
        (p for p in ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server") if os.path.exists(p)), None
    )


@contextmanager
def local_server(root: Path) -> Iterator[str]:
    """Start clickhouse-server under ``root``; yield its URL; stop it."""
    binary = server_binary()
    assert binary
    port = free_port()
    (root / "config.xml").write_text(CONFIG.format(port=port, root=root))
    (root / "users.xml").write_text(USERS.format(user=TEST_USER, password=TEST_PASSWORD))
    log = open(root / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([binary, f"--config-file={root / 'config.xml'}"], stdout=log, stderr=log, cwd=root)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"clickhouse-server exited: {(root / 'server.log').read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("clickhouse-server did not start listening within 30 s")
        yield f"clickhouse://{TEST_USER}:{TEST_PASSWORD}@127.0.0.1:{port}/"
    finally:
        stop_process(proc)
        log.close()
