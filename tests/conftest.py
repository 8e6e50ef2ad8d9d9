"""Shared fixtures: one embedded ClickHouse engine for the whole session.

chdb runs one engine per process bound to one directory, so the suite opens a
single engine (with macros for replicated-engine checks and the system logs
the tests read) and gives each test its own database in it.

Clusters of the test engine: ``unreachable`` names replicas on ports 1 and 2
(nothing answers); ``self`` and ``self_twice`` name this engine itself, once
and twice. chdb listens on no port, but with ``tcp_port`` set a replica at
127.0.0.1 on that port counts as local, and ``clusterAllReplicas`` runs its
part in-process: the cluster form of a query really runs, every "replica"
being this engine. Stores built by
tests open and close their own connections to the same directory.

Sharding: the same ``tcp_port`` makes ``localhost:SHARD_PORT`` a local
replica too, so ClickHouse's own Distributed engine runs in-process over the
clusters ``shards1`` (one shard) and ``shards3`` (three shards, all this
engine: a read through them sees the one local table once per shard), and
``shards_mixed`` (shard 1 here, shard 2 a TEST-NET address nobody answers). ``user_files_path`` is the data directory,
so the Distributed engine's queued blocks can be read back with
``file(..., 'Distributed')``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_harness import cluster_2x1 as cluster_2x1
from cluster_harness import cluster_2x1_session as cluster_2x1_session
from cluster_harness import cluster_2x2 as cluster_2x2
from cluster_harness import cluster_2x2_session as cluster_2x2_session
from cluster_harness import cluster_zookeeper as cluster_zookeeper

from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.urls import parse_url
from opik_store.store import Store

#: The engine's tcp_port (ENGINE_CONFIG): a replica at localhost on this port is this engine.
SHARD_PORT = 59000
_LOCAL = f"<replica><host>localhost</host><port>{SHARD_PORT}</port></replica>"

ENGINE_CONFIG = """<clickhouse>
  <user_files_path>USER_FILES</user_files_path>
  <macros><shard>01</shard><replica>replica-1</replica><cluster>opik</cluster></macros>
  <query_log>
    <database>system</database><table>query_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds>
  </query_log>
  <tcp_port>59000</tcp_port>
  <remote_servers>
    <self>
      <shard><replica><host>127.0.0.1</host><port>59000</port></replica></shard>
    </self>
    <self_twice>
      <shard>
        <replica><host>127.0.0.1</host><port>59000</port></replica>
        <replica><host>localhost</host><port>59000</port></replica>
      </shard>
    </self_twice>
    <unreachable>
      <shard>
        <replica><host>127.0.0.1</host><port>1</port></replica>
        <replica><host>127.0.0.1</host><port>2</port></replica>
      </shard>
    </unreachable>
    <shards1><shard>LOCAL</shard></shards1>
    <shards3><shard>LOCAL</shard><shard>LOCAL</shard><shard>LOCAL</shard></shards3>
    <shards_mixed>
      <shard>LOCAL</shard>
      <shard><replica><host>192.0.2.1</host><port>SHARD_PORT</port></replica></shard>
    </shards_mixed>
  </remote_servers>
  <opentelemetry_span_log>
    <engine>engine MergeTree partition by toYYYYMM(finish_date) order by (finish_date, finish_time_us)</engine>
    <database>system</database><table>opentelemetry_span_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds>
  </opentelemetry_span_log>
  <part_log>
    <database>system</database><table>part_log</table>
    <flush_interval_milliseconds>500</flush_interval_milliseconds>
  </part_log>
</clickhouse>
"""


@pytest.fixture(scope="session")
def engine_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("engine")
    config = root / "config.xml"
    config.write_text(
        ENGINE_CONFIG.replace("LOCAL", _LOCAL)
        .replace("SHARD_PORT", str(SHARD_PORT))
        .replace("USER_FILES", f"{root / 'data'}/")
    )
    return f"chdb://{root / 'data'}?config-file={config}"


@pytest.fixture(scope="session")
def engine(engine_url: str) -> Iterator[EmbeddedAdapter]:
    """A session-long connection to the shared engine, for direct queries."""
    adapter = EmbeddedAdapter(parse_url(engine_url))
    yield adapter
    adapter.close()


@pytest.fixture
def database(request: pytest.FixtureRequest, engine: EmbeddedAdapter) -> Iterator[str]:
    """A fresh database name for one test (dropped afterwards)."""
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    name = f"t_{slug}_{uuid.uuid4().hex[:6]}"
    yield name
    engine.execute(f"DROP DATABASE IF EXISTS `{name}` SYNC")


@pytest.fixture
def store(engine_url: str, database: str) -> Iterator[Store]:
    with Store.from_url(engine_url, database=database) as s:
        yield s


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped migrations folder (add revisions with support.write_revision)."""
    import shutil

    from opik_store.resources import data_dir

    target = tmp_path / "migrations"
    shutil.copytree(data_dir("migrations"), target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="session")
def migrated_template(engine_url: str, engine: EmbeddedAdapter) -> Iterator[str]:
    """A database `migrate` brought to head once per session: what ``migrated_store`` clones."""
    name = f"template_{uuid.uuid4().hex[:8]}"
    with Store.from_url(engine_url, database=name) as s:
        s.migrate()
    yield name
    engine.execute(f"DROP DATABASE IF EXISTS `{name}` SYNC")


#: Tables whose rows a clone copies: the ledger (so the clone is at head). The lock's history and the
#: re-layout progress are left empty: their rows name the template's tables (UUIDs, run ids).
CLONED_ROWS = ("opik_store_ledger",)


def clone_database(engine: EmbeddedAdapter, source: str, target: str) -> None:
    """Make ``target`` what migrating ``source`` made, in a tenth of the time: each table from the CREATE the
    server keeps for it, and the ledger's rows. tests/test_migrate.py proves a clone equals a migrated database
    (``check`` and ``status``); tests of migrating itself never use it."""
    engine.execute(f"CREATE DATABASE `{target}`")
    tables = engine.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = {d:String} ORDER BY name", {"d": source}
    ).rows
    prefix = f"CREATE TABLE {source}."
    for name, create in tables:
        assert str(create).startswith(prefix), create
        engine.execute(f"CREATE TABLE `{target}`.`{name}`" + str(create)[len(prefix) + len(str(name)) :])
        if name in CLONED_ROWS:
            engine.execute(f"INSERT INTO `{target}`.`{name}` SELECT * FROM `{source}`.`{name}`")


@pytest.fixture
def migrated_store(store: Store, engine: EmbeddedAdapter, migrated_template: str, database: str) -> Store:
    """``store`` with its database at head, cloned from ``migrated_template`` (a migrate per test cost ~2 s)."""
    clone_database(engine, migrated_template, database)
    return store
