"""The ``opik-store`` command: global options, and the command groups it is made of.

The command is a thin layer over :class:`opik_store.Store`: each group lives
in its own module (``migrate``, ``adopt``, ``retention``, ``system_tables``, ``jobs``,
``profiles``, ``health``) and shares :mod:`opik_store.cli.common`. See ``common`` for the
exit codes.
"""

from __future__ import annotations

import click

from opik_store import __version__
from opik_store.cli import adopt, health, jobs, migrate, profiles, relayout, retention, system_tables
from opik_store.cli.common import JsonAwareGroup, Options, attach_global_options, quiet_driver_log


@click.group(cls=JsonAwareGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opik-store")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Manage the ClickHouse storage of an Opik deployment.

    \b
    Quick start (embedded engine, no server needed):
      opik-store migrate            # create or upgrade ./.opik-store, database opik
      opik-store status             # what is applied, what is pending
    Against a server or a replicated cluster:
      opik-store --url clickhouse://opik:secret@ch:9000/ --cluster opik migrate

    Global options may come before or after the command name; a value given
    after it wins. Every command that acts on a database prints its target
    (server, database, topology) on stderr as a `target:` line.

    \b
    Exit codes: 0 ok; 1 server or database error; 2 bad input or a refused
    operation (nothing changed); 3 `check` found differences; 4 the migration
    lock stayed busy for --lock-timeout; 5 a read-only command found no
    database to read (nothing was created); 6 / 7 `health` found a warn /
    critical check. With --json, errors are printed
    on stdout as {"error": "...", "exit_code": N}; -v adds details (logs) on stderr.
    """
    if not ctx.ensure_object(Options).verbose:
        quiet_driver_log()


for _command in (
    migrate.migrate,
    migrate.downgrade,
    migrate.status,
    migrate.history,
    migrate.revision,
    migrate.check,
    migrate.stamp,
    migrate.unlock,
    adopt.adopt,
    relayout.relayout,
    retention.retention,
    system_tables.system_tables,
    jobs.jobs,
    jobs.scheduler,
    profiles.profiles,
    health.health,
    health.exporter,
):
    main.add_command(_command)

attach_global_options(main)
