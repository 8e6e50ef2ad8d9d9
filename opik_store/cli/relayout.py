"""``opik-store relayout``: the originals a revision's re-layout keeps, and dropping them.

A thin layer over :meth:`opik_store.Store.relayout_backups` and
:meth:`opik_store.Store.finish_relayout` (rules in ``opik_store.migrations.relayout``).
"""

from __future__ import annotations

import click

from opik_store.cli.common import Options, emit_json, handle_errors


@click.group()
def relayout() -> None:
    """The originals kept by revisions that re-lay out a table.

    \b
    A revision that changes what ALTER cannot (a sort or partition key)
    copies the table into its new layout online and swaps it in; the old
    table stays as <table>_opik_store_backup until you drop it here. While
    it is kept, another re-layout of that table is refused.
    Examples:
      opik-store relayout list
      opik-store relayout finish traces --dry-run
    """


@relayout.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def relayout_list(opts: Options, as_json: bool) -> None:
    """List the tables whose original a re-layout still keeps.

    \b
    Example:
      opik-store relayout list --json
    """
    with opts.store(must_exist="database") as store:
        tables = store.relayout_backups()
        if as_json:
            emit_json({"kept": [{"table": t, "backup": f"{t}_opik_store_backup"} for t in tables]})
        elif not tables:
            click.echo("no re-layout keeps an original")
        else:
            for t in tables:
                click.echo(f"{t}: original kept as {t}_opik_store_backup")


@relayout.command("finish")
@click.argument("table")
@click.option("--yes", is_flag=True, help="Confirm dropping the kept original.")
@click.option("--dry-run", is_flag=True, help="Print what would be dropped; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def relayout_finish(opts: Options, table: str, yes: bool, dry_run: bool, as_json: bool) -> None:
    """Drop the original TABLE's re-layout kept (only with --yes).

    Without --yes it refuses (exit 2) and drops nothing. Afterwards the
    revision cannot be undone from the backup; a downgrade re-lays the table
    out again.

    \b
    Example:
      opik-store relayout finish traces --yes
    """
    with opts.store(must_exist="database") as store:
        action = store.finish_relayout(table, yes=yes, dry_run=dry_run)
        if as_json:
            emit_json({"dry_run": dry_run, "action": action or None})
        elif not action:
            click.echo(f"nothing to finish: {table} keeps no original")
        else:
            click.echo(("would: " if dry_run else "done: ") + action)
