"""The ``opik-store`` command: global options, and the command groups it is made of.

The command is a thin layer over :class:`opik_store.Store`: each group lives
in its own module (``migrate``, ``retention``, ``system_tables``, ``jobs``,
``profiles``) and shares :mod:`opik_store.cli.common`. See ``common`` for the
exit codes.
"""

from __future__ import annotations

from typing import Any

import click

from opik_store import __version__
from opik_store.cli import jobs, migrate, profiles, retention, system_tables
from opik_store.cli.common import Options


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opik-store")
@click.option(
    "--url",
    envvar="OPIK_STORE_URL",
    show_envvar=True,
    help="clickhouse://user:password@host:9000/?secure=true (native) or chdb:///abs/path (embedded). "
    "Default: an embedded database in ./.opik-store. Passwords are never printed; "
    "OPIK_STORE_PASSWORD supplies one the URL omits.",
)
@click.option("--database", envvar="OPIK_STORE_DATABASE", show_envvar=True, help="Target database [default: opik].")
@click.option(
    "--cluster",
    envvar="OPIK_STORE_CLUSTER",
    show_envvar=True,
    help="Cluster name: renders Replicated* engines and ON CLUSTER. Omit for a single node.",
)
@click.option(
    "--replica-path",
    envvar="OPIK_STORE_REPLICA_PATH",
    show_envvar=True,
    help="Replication path template [default: /clickhouse/tables/{shard}/{database}/{table}].",
)
@click.option(
    "--replica-name", envvar="OPIK_STORE_REPLICA_NAME", show_envvar=True, help="Replica name [default: {replica}]."
)
@click.option(
    "--setting",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="ClickHouse setting for DDL statements (repeatable), over the defaults alter_sync/mutations_sync "
    "(and distributed_ddl_task_timeout on a cluster). Also OPIK_STORE_DDL_SETTINGS='a=1,b=2'.",
)
@click.option(
    "--migrations-dir",
    envvar="OPIK_STORE_MIGRATIONS_DIR",
    show_envvar=True,
    type=click.Path(file_okay=False),
    help="Folder with script.py.mako and versions/ [default: the shipped migrations].",
)
@click.option(
    "--lock-timeout",
    envvar="OPIK_STORE_LOCK_TIMEOUT",
    show_envvar=True,
    type=float,
    help="Seconds to wait for another run's migration lock [default: 300].",
)
@click.option(
    "--lock-lease",
    envvar="OPIK_STORE_LOCK_LEASE",
    show_envvar=True,
    type=float,
    help="Seconds without a heartbeat after which a lock holder counts as dead [default: 60].",
)
@click.option(
    "--retries",
    envvar="OPIK_STORE_RETRIES",
    show_envvar=True,
    type=int,
    help="Attempts per statement on transient errors (connection loss, Keeper, DDL timeouts) [default: 6].",
)
@click.pass_context
def main(ctx: click.Context, /, **kwargs: Any) -> None:
    """Manage the ClickHouse storage of an Opik deployment.

    \b
    Quick start (embedded engine, no server needed):
      opik-store migrate            # create or upgrade ./.opik-store, database opik
      opik-store status             # what is applied, what is pending
    Against a server or a replicated cluster:
      opik-store --url clickhouse://opik:secret@ch:9000/ --cluster opik migrate
    """
    kwargs["settings"] = tuple(kwargs["settings"])
    ctx.obj = Options(**kwargs)


for _command in (
    migrate.migrate,
    migrate.downgrade,
    migrate.status,
    migrate.history,
    migrate.revision,
    migrate.check,
    migrate.stamp,
    migrate.unlock,
    retention.retention,
    system_tables.system_tables,
    jobs.jobs,
    jobs.scheduler,
    profiles.profiles,
):
    main.add_command(_command)
