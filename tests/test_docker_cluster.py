"""The whole tool on a modern ClickHouse cluster in Docker: ClickHouse Keeper and 2 replicas x 1 shard.

Run where a Docker daemon answers (one command, from a checkout with the venv of the README):

    .venv/bin/pytest -m docker

Without a daemon every test here skips and says so (the daemon is pinged, not
just the package imported). The image is ``clickhouse/clickhouse-server:25.3``
(the oldest version opik-store supports); OPIK_STORE_DOCKER_IMAGE overrides it.

The cluster: one container runs ClickHouse Keeper (the official
``clickhouse/clickhouse-keeper`` image of the same release;
OPIK_STORE_DOCKER_KEEPER_IMAGE overrides it), two run clickhouse-server with macros ``{shard}=01``,
``{replica}=ch1|ch2``, the cluster ``opik`` in ``<remote_servers>``, the
distributed DDL queue, and SQL access entities kept in Keeper
(``<user_directories><replicated>``). The image's entrypoint creates the admin
user from CLICKHOUSE_USER / CLICKHOUSE_PASSWORD /
CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT. Every command is the installed
``opik-store`` script, run as an operator would, with ``--cluster opik``.

Work done on every host (prune, the retention lookup, reading access
entities) connects to each host ``system.clusters`` lists: here ``ch1:9000``
and ``ch2:9000`` inside the Docker network, which this runner reaches through
``OPIK_STORE_HOST_MAP`` (the published ports), as an operator outside the
cluster's network would.

This suite has never run on the machines it was written on (no Docker there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import write_revision

from opik_store.engine.connect import open_adapter
from opik_store.engine.urls import parse_url

#: OPIK_STORE_HOST_MAP entries for the running cluster: ch1:9000 / ch2:9000 -> their published ports.
HOST_MAP: list[str] = []
IMAGE = os.environ.get("OPIK_STORE_DOCKER_IMAGE", "clickhouse/clickhouse-server:25.3")
#: The official Keeper image of the same release (its config is /etc/clickhouse-keeper/keeper_config.xml).
KEEPER_IMAGE = os.environ.get("OPIK_STORE_DOCKER_KEEPER_IMAGE", IMAGE.replace("clickhouse-server", "clickhouse-keeper"))
USER, PASSWORD = "opik_admin", "docker-Pa55-word"
CLUSTER = "opik"
NODES = ("ch1", "ch2")
OPIK_STORE = str(Path(sys.executable).with_name("opik-store"))
START_TIMEOUT = 180.0
COMMAND_TIMEOUT = 600.0


def _docker_unavailable() -> str | None:
    """Why these tests cannot run here, or None when a Docker daemon answers a ping."""
    try:
        import docker
    except ImportError as exc:
        return f"the docker package is missing ({exc}); install '.[test]'"
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure to reach the daemon means: skip, and say why
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"no Docker daemon answers ({type(exc).__name__}: {first[:200]})"
    return None


UNAVAILABLE = _docker_unavailable()
pytestmark = [pytest.mark.docker, pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")]

KEEPER_CONFIG = """<clickhouse>
  <logger><level>information</level><console>1</console></logger>
  <listen_host>0.0.0.0</listen_host>
  <keeper_server>
    <tcp_port>9181</tcp_port>
    <server_id>1</server_id>
    <log_storage_path>/var/lib/clickhouse/coordination/log</log_storage_path>
    <snapshot_storage_path>/var/lib/clickhouse/coordination/snapshots</snapshot_storage_path>
    <coordination_settings>
      <operation_timeout_ms>10000</operation_timeout_ms>
      <session_timeout_ms>30000</session_timeout_ms>
    </coordination_settings>
    <raft_configuration>
      <server><id>1</id><hostname>keeper</hostname><port>9234</port></server>
    </raft_configuration>
  </keeper_server>
</clickhouse>
"""

NODE_CONFIG = """<clickhouse>
  <interserver_http_host>{name}</interserver_http_host>
  <macros><shard>01</shard><replica>{name}</replica></macros>
  <zookeeper><node><host>keeper</host><port>9181</port></node></zookeeper>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
  <remote_servers>
    <opik>
      <shard>
        <internal_replication>true</internal_replication>
        {replicas}
      </shard>
    </opik>
  </remote_servers>
  <user_directories replace="replace">
    <users_xml><path>users.xml</path></users_xml>
    <replicated><zookeeper_path>/clickhouse/access/</zookeeper_path></replicated>
  </user_directories>
</clickhouse>
"""

REPLICA = "<replica><host>{host}</host><port>9000</port><user>{user}</user><password>{password}</password></replica>"


@dataclass
class Node:
    name: str
    container: Any  # testcontainers DockerContainer

    @property
    def address(self) -> tuple[str, int]:
        return self.container.get_container_host_ip(), int(self.container.get_exposed_port(9000))

    @property
    def url(self) -> str:
        host, port = self.address
        return f"clickhouse://{USER}:{PASSWORD}@{host}:{port}/"

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (parameters bound by the server), through opik-store's own native adapter."""
        adapter = open_adapter(parse_url(self.url))
        try:
            return [tuple(row) for row in adapter.query(sql, params).rows]
        finally:
            adapter.close()

    def execute(self, sql: str) -> None:
        adapter = open_adapter(parse_url(self.url))
        try:
            adapter.execute(sql)
        finally:
            adapter.close()

    def wait_ready(self) -> None:
        """Until the node answers and reaches Keeper (system.zookeeper)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.query("SELECT count() FROM system.zookeeper WHERE path = '/'")
                return
            except Exception as exc:  # not up yet: retry until the deadline
                if time.monotonic() > deadline:
                    logs = self.container.get_logs()
                    raise RuntimeError(
                        f"{self.name} not ready: {exc}\n{logs[0][-3000:]!r}\n{logs[1][-3000:]!r}"
                    ) from exc
                time.sleep(1)


@dataclass
class Cluster:
    ch1: Node
    ch2: Node

    @property
    def nodes(self) -> tuple[Node, Node]:
        return self.ch1, self.ch2


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    from docker.types import Ulimit
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    network = Network().create()
    started: list[Any] = []
    try:
        keeper = (
            DockerContainer(KEEPER_IMAGE)
            .with_network(network)
            .with_network_aliases("keeper")
            .with_kwargs(hostname="keeper")
            .with_copy_into_container(KEEPER_CONFIG.encode(), "/etc/clickhouse-keeper/keeper_config.xml")
        )
        keeper.start()
        started.append(keeper)
        replicas = "".join(REPLICA.format(host=n, user=USER, password=PASSWORD) for n in NODES)
        nodes = []
        for name in NODES:
            container = (
                DockerContainer(IMAGE)
                .with_network(network)
                .with_network_aliases(name)
                .with_kwargs(hostname=name, ulimits=[Ulimit(name="nofile", soft=262144, hard=262144)])
                .with_env("CLICKHOUSE_USER", USER)
                .with_env("CLICKHOUSE_PASSWORD", PASSWORD)
                .with_env("CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT", "1")
                .with_exposed_ports(9000)
                .with_copy_into_container(
                    NODE_CONFIG.format(name=name, replicas=replicas).encode(),
                    "/etc/clickhouse-server/config.d/opik-cluster.xml",
                )
            )
            container.start()
            started.append(container)
            nodes.append(Node(name, container))
        for node in nodes:
            node.wait_ready()
        # system.clusters names ch1:9000 and ch2:9000 (inside the network); per-host work reaches them here.
        HOST_MAP[:] = [f"{node.name}:9000={node.address[0]}:{node.address[1]}" for node in nodes]
        yield Cluster(*nodes)
    finally:
        for container in reversed(started):
            try:
                container.stop()
            except Exception as exc:  # keep stopping the others; say what failed
                print(f"could not stop a container: {exc}", file=sys.stderr)
        network.remove()


def opik_store(
    node: Node, *args: str, database: str = "opik", ok: bool = True, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``opik-store`` against ``node`` in cluster mode; by default it must exit 0."""
    command = [OPIK_STORE, "--url", node.url, "--database", database, "--cluster", CLUSTER, *extra, *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    env["OPIK_STORE_HOST_MAP"] = ",".join(HOST_MAP)
    result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, env=env)
    if ok:
        assert result.returncode == 0, f"{' '.join(args)}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def ledger_rows(node: Node, database: str) -> list[tuple[Any, ...]]:
    return node.query(
        f"SELECT revision, state, direction, run_id FROM `{database}`.opik_store_ledger "
        "ORDER BY seq"  # the server-assigned order (recorded_at is whole seconds); no quorum, so no sequential read
    )


def test_migrate_creates_the_replicated_schema_on_both_replicas(cluster: Cluster) -> None:
    result = opik_store(cluster.ch1, "migrate", "--json")
    assert json.loads(result.stdout)["revisions"], result.stdout
    expected = {"opik_store_ledger", "retention_rules", "traces", "spans"}
    for node in cluster.nodes:
        rows = node.query(
            "SELECT table, zookeeper_path, replica_name, is_readonly FROM system.replicas WHERE database = 'opik'"
        )
        found = {r[0]: r for r in rows}
        assert expected <= set(found), (node.name, rows)
        for table in expected:
            _, path, replica, readonly = found[table]
            assert path == f"/clickhouse/tables/01/opik/{table}" and replica == node.name and not readonly
        assert node.query("SELECT engine FROM system.tables WHERE database = 'opik' AND name = 'retention'") == [
            ("Join",)
        ]
    for table in expected:
        keeper = cluster.ch1.query(
            "SELECT name FROM system.zookeeper WHERE path = {p:String} ORDER BY name",
            {"p": f"/clickhouse/tables/01/opik/{table}/replicas"},
        )
        assert keeper == [("ch1",), ("ch2",)], (table, keeper)
    status = json.loads(opik_store(cluster.ch2, "status", "--json").stdout)
    assert status["up_to_date"] and not status["pending"], status
    assert opik_store(cluster.ch2, "check").returncode == 0
    assert ledger_rows(cluster.ch1, "opik") == ledger_rows(cluster.ch2, "opik")
    again = json.loads(opik_store(cluster.ch2, "migrate", "--json").stdout)
    assert again["revisions"] == []


def test_two_runs_on_different_replicas_apply_each_revision_once(cluster: Cluster) -> None:
    database = "opik_race"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    env["OPIK_STORE_HOST_MAP"] = ",".join(HOST_MAP)
    runs = [
        subprocess.Popen(
            [OPIK_STORE, "--url", n.url, "--database", database, "--cluster", CLUSTER, "migrate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in cluster.nodes
    ]
    outputs = [run.communicate(timeout=COMMAND_TIMEOUT) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    rows = ledger_rows(cluster.ch1, database)
    assert rows == ledger_rows(cluster.ch2, database)
    applied = [r[0] for r in rows if r[1] == "applied"]
    started = [r[0] for r in rows if r[1] == "started"]
    assert applied and sorted(applied) == sorted(set(applied)), rows  # each revision applied exactly once
    assert sorted(started) == sorted(applied), rows
    assert len({r[3] for r in rows}) == 1, rows  # by one run


def test_profiles_apply_through_sql_with_replicated_access_storage_from_both_nodes(cluster: Cluster) -> None:
    """The issue's defect: entities created ON CLUSTER without IF NOT EXISTS / OR REPLACE fail once the
    first host's CREATE has reached the shared (replicated) storage."""
    opik_store(cluster.ch1, "profiles", "apply")
    for node in cluster.nodes:
        storages = dict(node.query("SELECT name, storage FROM system.roles WHERE name LIKE 'opik\\_%'"))
        assert {"opik_ingest", "opik_backend", "opik_analyst"} <= set(storages), (node.name, storages)
        assert set(storages.values()) == {"replicated"}, storages
        profiles = {r[0] for r in node.query("SELECT name FROM system.settings_profiles")}
        assert {"opik_ingest", "opik_read", "opik_analyst"} <= profiles
    plan = json.loads(opik_store(cluster.ch2, "profiles", "plan", "--json").stdout)
    assert all(change["xml_managed"] for change in plan), plan  # from the other node: nothing left to do
    ran = json.loads(opik_store(cluster.ch2, "profiles", "apply", "--json").stdout)["ran"]
    assert ran == [], ran


def test_retention_apply_writes_replicated_rules(cluster: Cluster, tmp_path: Path) -> None:
    opik_store(cluster.ch1, "migrate")
    config = tmp_path / "opik-store.toml"
    config.write_text(
        '[retention]\ndefault_days = 400\n[[retention.workspaces]]\nworkspace = "acme"\nclass = "short"\n'
    )
    opik_store(cluster.ch1, "retention", "apply", extra=("--config", str(config)))
    cluster.ch2.execute("SYSTEM SYNC REPLICA opik.retention_rules")
    rules = "SELECT workspace_id, project_id, days, effective_from FROM opik.retention_rules ORDER BY ALL"
    on_ch1 = cluster.ch1.query(rules)
    assert on_ch1 == cluster.ch2.query(rules)
    assert any(r[0] == "acme" and r[2] == 14 for r in on_ch1), on_ch1
    assert opik_store(cluster.ch2, "retention", "plan", "--json", extra=("--config", str(config))).returncode == 0


def test_retention_apply_refreshes_the_lookup_on_every_node(cluster: Cluster, tmp_path: Path) -> None:
    opik_store(cluster.ch1, "migrate")
    config = tmp_path / "opik-store.toml"
    config.write_text('[retention]\ndefault_days = 400\n[[retention.workspaces]]\nworkspace = "beta"\nclass = "long"\n')
    opik_store(cluster.ch1, "retention", "apply", extra=("--config", str(config)))
    # A Join table cannot be SELECTed (its keys are hashed): read it as inserts do.
    lookup = "SELECT joinGet('opik.retention', 'days', 'beta', ''), joinGet('opik.retention', 'froms', 'beta', '')"
    on_ch1 = cluster.ch1.query(lookup)
    assert on_ch1[0][0], on_ch1  # the rule is in ch1's lookup
    assert cluster.ch2.query(lookup) == on_ch1


PROBE = "opik-store docker prune probe"


def _plant_old_query_log_row(node: Node) -> None:
    node.execute("SYSTEM FLUSH LOGS")  # the log table exists once something was flushed
    node.execute(
        "INSERT INTO system.query_log (event_date, event_time, query) "
        f"VALUES (today() - 400, now() - INTERVAL 400 DAY, '{PROBE}')"
    )


def _probe_rows(node: Node) -> int:
    return int(node.query(f"SELECT count() FROM system.query_log WHERE query = '{PROBE}'")[0][0])


def test_system_tables_prune_on_the_connected_node(cluster: Cluster) -> None:
    _plant_old_query_log_row(cluster.ch1)
    assert _probe_rows(cluster.ch1) == 1
    opik_store(cluster.ch1, "system-tables", "prune", "--keep-days", "30", "--tables", "query_log")
    assert _probe_rows(cluster.ch1) == 0


def test_system_tables_prune_reaches_every_node(cluster: Cluster) -> None:
    _plant_old_query_log_row(cluster.ch2)
    assert _probe_rows(cluster.ch2) == 1
    opik_store(cluster.ch1, "system-tables", "prune", "--keep-days", "30", "--tables", "query_log")
    assert _probe_rows(cluster.ch2) == 0


def test_health_reads_replication_from_every_replica(cluster: Cluster) -> None:
    opik_store(cluster.ch1, "migrate")
    report = json.loads(opik_store(cluster.ch1, "health", "--json", "--exit-zero").stdout)
    checks = {c["check"]: c for c in report["checks"]}
    replication = checks["replication"]
    assert replication["status"] == "ok", replication
    assert "read-only: 0" in replication["value"], replication
    # ledger, retention_rules, traces, spans (+ lock generations) on each of the two replicas
    assert int(replication["value"].split()[0]) >= 8, replication
    prometheus = opik_store(cluster.ch1, "health", "--prometheus", "--exit-zero").stdout
    assert 'opik_store_health_status{check="replication"} 0.0' in prometheus, prometheus


def test_downgrade_base_leaves_no_keeper_path_behind(cluster: Cluster) -> None:
    """The store's own drop path on a real cluster: ON CLUSTER ... SYNC removes each table's Keeper path."""
    database = "opik_down"
    opik_store(cluster.ch1, "migrate", database=database)
    tables = "SELECT name FROM system.zookeeper WHERE path = {p:String} ORDER BY name"
    parent = {"p": f"/clickhouse/tables/01/{database}"}
    assert {"retention_rules", "traces", "spans"} <= {r[0] for r in cluster.ch1.query(tables, parent)}
    opik_store(cluster.ch2, "downgrade", "base", "--yes", database=database)
    for node in cluster.nodes:
        left = node.query(
            "SELECT name FROM system.tables WHERE database = {d:String} AND name IN ('traces', 'spans', "
            "'retention', 'retention_rules')",
            {"d": database},
        )
        assert left == [], (node.name, left)
    remaining = {r[0] for r in cluster.ch1.query(tables, parent)}
    assert not remaining & {"retention_rules", "traces", "spans"}, remaining  # the ledger and lock stay


def test_a_create_over_another_nodes_leftover_replica_is_finished(cluster: Cluster, tmp_path: Path) -> None:
    """ch2's replica of a table is registered in Keeper but ch2 has no table (a create killed after
    registering): ON CLUSTER brings ch2's REPLICA_ALREADY_EXISTS to ch1, and migrate drops the leftover
    and creates it again."""
    database = "opik_leftover"
    path = f"/clickhouse/tables/01/{database}/t"
    cluster.ch1.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` ON CLUSTER '{CLUSTER}'")
    cluster.ch1.execute(  # registers replica 'ch2' from ch1, then leaves only its Keeper nodes behind
        f"CREATE TABLE `{database}`.`ghost` (x UInt8) ENGINE = ReplicatedMergeTree('{path}', 'ch2') ORDER BY x"
    )
    cluster.ch1.execute(f"DETACH TABLE `{database}`.`ghost` PERMANENTLY")
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    write_revision(migrations, "0001", None, ["CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x"],
                   ["DROP TABLE t"])  # fmt: skip
    result = opik_store(cluster.ch1, "migrate", database=database, extra=("--migrations-dir", str(migrations)))
    # FROM TABLE when ch1's own replica of t was in place when ch2's error arrived, else FROM ZKPATH
    assert "SYSTEM DROP REPLICA 'ch2' FROM " in result.stderr, result.stderr
    for node in cluster.nodes:
        rows = node.query(
            "SELECT zookeeper_path, replica_name, is_readonly FROM system.replicas "
            "WHERE database = {d:String} AND table = 't'",
            {"d": database},
        )
        assert rows == [(path, node.name, 0)], (node.name, rows)
    states = [r[1] for r in ledger_rows(cluster.ch1, database)]
    assert states == ["started", "applied"], states
