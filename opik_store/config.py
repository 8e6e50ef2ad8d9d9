"""Store configuration: where to connect, which database, which topology.

Every field has an environment variable so that operators can configure a
deployment without flags; explicit arguments always win over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from opik_store.engine.quoting import check_name, check_setting_name, quote_string
from opik_store.engine.urls import ConnectionSpec, parse_url
from opik_store.errors import ConfigError

DEFAULT_DATABASE = "opik"
DEFAULT_REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
DEFAULT_REPLICA_NAME = "{replica}"

ENV_URL = "OPIK_STORE_URL"
ENV_DATABASE = "OPIK_STORE_DATABASE"
ENV_CLUSTER = "OPIK_STORE_CLUSTER"
ENV_REPLICA_PATH = "OPIK_STORE_REPLICA_PATH"
ENV_REPLICA_NAME = "OPIK_STORE_REPLICA_NAME"
ENV_SHARDED = "OPIK_STORE_SHARDED"
ENV_DDL_SETTINGS = "OPIK_STORE_DDL_SETTINGS"
ENV_LOCK_TIMEOUT = "OPIK_STORE_LOCK_TIMEOUT"
ENV_LOCK_LEASE = "OPIK_STORE_LOCK_LEASE"
ENV_RETRIES = "OPIK_STORE_RETRIES"

#: Databases that belong to ClickHouse itself; opik-store refuses to use them (compared lower-case).
RESERVED_DATABASES = frozenset({"system", "default", "information_schema", "_temporary_and_external_tables"})

DEFAULT_LOCK_TIMEOUT = 300.0
DEFAULT_LOCK_LEASE = 60.0
DEFAULT_RETRIES = 6

#: Settings every DDL statement runs with, per topology. Users override any of
#: them (``--setting name=value`` or OPIK_STORE_DDL_SETTINGS="a=1,b=2").
SINGLE_NODE_DDL_SETTINGS: dict[str, str] = {"alter_sync": "1", "mutations_sync": "1"}
CLUSTER_DDL_SETTINGS: dict[str, str] = {
    "alter_sync": "2",
    "mutations_sync": "2",
    "distributed_ddl_task_timeout": "300",
}


#: How the store's own control rows (ledger, lock heartbeats, job runs, retention rules) are written, on
#: every topology. See :func:`control_write_settings`.
CONTROL_WRITE_SETTINGS: dict[str, str] = {"insert_quorum": "0"}


def control_write_settings() -> dict[str, str]:
    """The quorum policy for control rows: acknowledged by the node written to, replicated asynchronously.

    Why not a quorum: the reference cluster has 2 replicas, where any quorum
    above 1 (``'auto'``, a majority) means both, so one replica down would stop
    every migration and cost a live lock its lease; and a quorum insert started
    just before a replica dies waits for it until ``insert_quorum_timeout``.
    What keeps the mechanisms correct instead:

    * mutual exclusion comes from DDL ordered by Keeper (the lock's
      generation CREATE), never from rows;
    * a writer reads its own rows back from the node it wrote to (one
      connection), so its own view is never stale;
    * a reader on another replica may lag by the replication delay: a lease
      can then look older than it is (a take-over that fencing stops before the
      old holder's next statement), and a revision's newest ledger row can be a
      moment behind (its statements are idempotent and run again);
    * a row acknowledged on a replica that dies before it replicates is lost
      with that replica's disk only; the restarted replica replicates it.

    ``insert_quorum`` is set to 0 explicitly so a server profile's quorum does
    not apply to these rows. The policy is the same on one node (where it
    changes nothing), so there is one code path.
    """
    return dict(CONTROL_WRITE_SETTINGS)


#: The one value ``{shard}`` takes in the Keeper path of a cluster-wide table (sharded topology).
CLUSTER_WIDE_SHARD = "all"


@dataclass(frozen=True)
class Topology:
    """How statements are rendered: one node, a replicated cluster, or a sharded one.

    ``cluster`` None means single node (MergeTree family, no ON CLUSTER).
    ``sharded`` (a cluster only) splits the trace data across shards: each
    sharded table becomes a shard-local Replicated table under a Distributed
    table of the author's name (see ``schema/sharding.py``), and every other
    table is ONE cluster-wide table whose replicas are every node of every
    shard (:attr:`cluster_wide_path`, :attr:`cluster_wide_replica`).
    """

    cluster: str | None = None
    replica_path: str = DEFAULT_REPLICA_PATH
    replica_name: str = DEFAULT_REPLICA_NAME
    sharded: bool = False

    @property
    def is_cluster(self) -> bool:
        return self.cluster is not None

    @property
    def is_sharded(self) -> bool:
        return self.cluster is not None and self.sharded

    @property
    def cluster_wide_path(self) -> str:
        """The Keeper path of a table shared by every shard: the replica path with ``{shard}`` fixed to ``all``.

        Every node of every shard registers as a replica of the same table, so
        the ledger, the lock, job runs and retention rules are one set for the
        whole cluster. Without a sharded topology it is the replica path itself.
        """
        if not self.is_sharded:
            return self.replica_path
        return self.replica_path.replace("{shard}", CLUSTER_WIDE_SHARD)

    @property
    def cluster_wide_replica(self) -> str:
        """The replica name of a cluster-wide table: unique per node across shards (``{shard}-{replica}``)."""
        if not self.is_sharded or "{shard}" in self.replica_name:
            return self.replica_name
        return "{shard}-" + self.replica_name

    @property
    def on_cluster(self) -> str:
        """`` ON CLUSTER '<name>'`` in cluster mode, else empty: the one place the clause is built."""
        return f" ON CLUSTER {quote_string(self.cluster)}" if self.cluster else ""

    @property
    def label(self) -> str:
        if self.is_sharded:
            return f"cluster {self.cluster!r}, sharded"
        return f"cluster {self.cluster!r}" if self.cluster else "single node"


#: distributed_ddl_output_mode values under which an ON CLUSTER statement that fails on a host raises.
RAISING_DDL_OUTPUT_MODES = frozenset({"throw", "none"})


def _reads_as_zero(value: str) -> bool:
    """Whether a setting value is a number equal to 0 in any spelling the server reads as 0 (``00``, ``0.00``,
    ``-0``, ``+0``, ``0e5``, quoted or not)."""
    text = value.strip().strip("'\"").strip()
    try:
        return float(text) == 0
    except ValueError:
        return False


def _fraction(value: str) -> bool:
    """Whether a setting value is a number with a fractional part (``0.4``, ``2.5``)."""
    text = value.strip().strip("'\"").strip()
    try:
        number = float(text)
    except ValueError:
        return False
    return number == number and number not in (float("inf"), float("-inf")) and not number.is_integer()


def _check_ddl_semantics(settings: Mapping[str, str]) -> None:
    """Refuse DDL settings that would let the store record DDL as done before (or although) it failed.

    ``distributed_ddl_task_timeout = 0`` makes ON CLUSTER statements return at once (the ledger would
    say "applied" before any node ran them; the lock's CREATE race would go unseen); output modes that do
    not raise hide a host's failure the same way.
    """
    timeout = settings.get("distributed_ddl_task_timeout")
    if timeout is not None and _fraction(timeout):
        raise ConfigError(
            f"distributed_ddl_task_timeout={timeout} is not a whole number of seconds (a server refuses it, the "
            "embedded engine truncates it, to 0 below 1): use a positive whole number, or -1 to wait without limit"
        )
    if timeout is not None and _reads_as_zero(timeout):
        raise ConfigError(
            "distributed_ddl_task_timeout=0 makes ON CLUSTER DDL asynchronous: the store would record revisions "
            "as applied before the nodes ran them. Use a positive number of seconds (or -1 to wait without limit)."
        )
    mode = settings.get("distributed_ddl_output_mode")
    if mode is not None and mode.strip().strip("'\"") not in RAISING_DDL_OUTPUT_MODES:
        raise ConfigError(
            f"distributed_ddl_output_mode={mode} hides a host's failure of ON CLUSTER DDL: use 'throw' (the default)"
        )


@dataclass(frozen=True)
class StoreConfig:
    """Everything needed to open a store. Build it with :meth:`from_env`."""

    connection: ConnectionSpec
    database: str = DEFAULT_DATABASE
    topology: Topology = field(default_factory=Topology)
    ddl_settings: Mapping[str, str] = field(default_factory=dict)
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    lock_lease: float = DEFAULT_LOCK_LEASE
    retries: int = DEFAULT_RETRIES

    @classmethod
    def from_env(
        cls,
        url: str | None = None,
        database: str | None = None,
        cluster: str | None = None,
        replica_path: str | None = None,
        replica_name: str | None = None,
        settings: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        lock_timeout: float | None = None,
        lock_lease: float | None = None,
        retries: int | None = None,
        sharded: bool | None = None,
    ) -> StoreConfig:
        """Combine explicit arguments with OPIK_STORE_* variables and defaults.

        Precedence per field: argument, environment variable, URL path (for the
        database), default. An empty database or cluster name given as an
        argument is refused (it must not silently mean the default), and so are
        ClickHouse's own databases (RESERVED_DATABASES). User DDL settings are layered over the topology's
        defaults; names are checked for shape here and against the server's
        ``system.settings`` before any DDL runs.
        """
        env = os.environ if environ is None else environ
        spec = parse_url(url or env.get(ENV_URL) or None)
        if database == "" or cluster == "":
            raise ConfigError(f"{'database' if database == '' else 'cluster'} name must not be empty")
        db = database or env.get(ENV_DATABASE) or spec.database or DEFAULT_DATABASE
        check_name(db, "database name")
        if db.lower() in RESERVED_DATABASES:
            raise ConfigError(
                f"database name {db!r} is reserved by ClickHouse: opik-store keeps its tables in a database "
                f"of their own (default: {DEFAULT_DATABASE!r})"
            )
        if "." in db:
            raise ConfigError(
                f"database name {db!r} contains '.': ClickHouse cannot name a dictionary in such a database "
                "(dictGet('db.name')), and the retention dictionary lives there"
            )
        cluster_name = cluster or env.get(ENV_CLUSTER) or None
        if cluster_name is not None:
            check_name(cluster_name, "cluster name")
        shards = sharded if sharded is not None else _flag(env.get(ENV_SHARDED, ""), ENV_SHARDED)
        if shards and cluster_name is None:
            raise ConfigError("the sharded topology needs a cluster: name it with --cluster (OPIK_STORE_CLUSTER)")
        topology = Topology(
            cluster=cluster_name,
            replica_path=replica_path or env.get(ENV_REPLICA_PATH) or DEFAULT_REPLICA_PATH,
            replica_name=replica_name or env.get(ENV_REPLICA_NAME) or DEFAULT_REPLICA_NAME,
            sharded=shards,
        )
        if shards and "{shard}" not in topology.replica_path:
            raise ConfigError(
                f"replica path {topology.replica_path!r} must contain {{shard}} on the sharded topology: the "
                "shard-local tables of different shards must not share one replication path"
            )
        if "{table}" not in topology.replica_path and "{uuid}" not in topology.replica_path:
            raise ConfigError(
                f"replica path {topology.replica_path!r} must contain {{table}} (or {{uuid}}): "
                "otherwise every table would share one replication path"
            )
        merged = dict(CLUSTER_DDL_SETTINGS if topology.is_cluster else SINGLE_NODE_DDL_SETTINGS)
        merged.update(parse_settings(env.get(ENV_DDL_SETTINGS, "")))
        merged.update(settings or {})
        for name in merged:
            check_setting_name(name)
        _check_ddl_semantics(merged)
        timeout = _number(lock_timeout, env.get(ENV_LOCK_TIMEOUT), DEFAULT_LOCK_TIMEOUT, "lock timeout", 0)
        lease = _number(lock_lease, env.get(ENV_LOCK_LEASE), DEFAULT_LOCK_LEASE, "lock lease", 0.2)
        attempts = int(_number(retries, env.get(ENV_RETRIES), DEFAULT_RETRIES, "retries", 1))
        return cls(
            connection=spec,
            database=db,
            topology=topology,
            ddl_settings=merged,
            lock_timeout=timeout,
            lock_lease=lease,
            retries=attempts,
        )


def _flag(raw: str, what: str) -> bool:
    """A boolean environment value: 1/true/yes/on or 0/false/no/off/empty (any case); anything else is refused."""
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"", "0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{what} must be 1/true/yes/on or 0/false/no/off, got {raw!r}")


def _number(explicit: float | None, from_env: str | None, default: float, what: str, minimum: float) -> float:
    """Pick explicit, then environment, then default; refuse non-numbers and values below ``minimum``."""
    raw: float | str = explicit if explicit is not None else (from_env if from_env else default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{what} must be a number, got {raw!r}") from None
    if value < minimum or value != value:
        raise ConfigError(f"{what} must be at least {minimum:g}, got {raw!r}")
    return value


def parse_settings(text: str | list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse ``name=value`` pairs (a comma-separated string or a list of pairs)."""
    items = [p for p in text.split(",")] if isinstance(text, str) else list(text)
    out: dict[str, str] = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"invalid setting {item!r}: expected name=value")
        out[check_setting_name(name.strip())] = value.strip()
    return out
