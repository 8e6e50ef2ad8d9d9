"""``opik-store adopt``: move a database Opik created onto the store's tables, online.

A thin layer over :meth:`opik_store.Store.adoption` (see ``opik_store.adopt``
and ``opik_store.migrations.relayout`` for the rules).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from opik_store.adopt import STORE, AdoptPlan
from opik_store.cli.common import EXIT_DIFFERENCES, Options, emit_json, handle_errors, progress
from opik_store.migrations.relayout import Check, Limits

_LIMIT_OPTIONS = (
    click.option("--window-rows", type=click.IntRange(min=1), default=1_000_000, show_default=True,
                 help="Rows per copy window (bounds the memory of each statement)."),
    click.option("--max-memory", type=click.IntRange(min=0), default=4 << 30, show_default=True,
                 help="max_memory_usage of each copy, catch-up and verification statement, in bytes (0: server's)."),
    click.option("--max-rows-per-second", type=click.FloatRange(min=0), default=0, show_default=True,
                 help="Pace the copy (0: as fast as the server goes)."),
)  # fmt: skip


def _limits(window_rows: int, max_memory: int, max_rows_per_second: float) -> Limits:
    return Limits(window_rows=window_rows, max_memory_usage=max_memory, max_rows_per_second=max_rows_per_second)


def _with_limits(func: Any) -> Any:
    for option in reversed(_LIMIT_OPTIONS):
        func = option(func)
    return func


@click.group()
def adopt() -> None:
    """Adopt a database Opik created: re-lay traces and spans out onto the store's tables, online.

    \b
    Recognises Opik's original layout and its successor layout; refuses
    anything else, changing nothing. Touches only traces and spans (plus
    the tables it creates). The originals stay as <table>_opik_store_backup
    until `finish --yes` (which also records the ledger at head) or `rollback`.
    Examples:
      opik-store adopt plan
      opik-store adopt run --dry-run
      opik-store adopt verify
      opik-store adopt finish --dry-run
      opik-store adopt rollback --dry-run
    """


def _print_plan(plan: AdoptPlan, as_json: bool) -> None:
    if as_json:
        emit_json(plan.as_json())
        return
    click.echo(f"database {plan.database!r}: {plan.layout} layout; {plan.state}")
    if plan.layout == STORE:
        return
    for t in plan.tables:
        click.echo(f"  {t.table}: {t.rows:,} rows, {t.bytes_on_disk / 1e6:,.1f} MB on disk, {len(t.windows)} windows "
                   f"of the {t.window_column} time -> {t.new_table} ({t.state})")  # fmt: skip
    if plan.creates:
        click.echo(f"creates: {', '.join(plan.creates)}")
    for i, step in enumerate(plan.steps, start=1):
        click.echo(f"  {i}. {step}")
    click.echo(f"cost: {plan.rows:,} rows; about {plan.bytes_on_disk / 1e6:,.1f} MB more disk until finish; "
               f"~{plan.estimated_seconds:,.0f} s at an assumed 40 s per uncompressed GB (bench/adopt_cost.py "
               "measures the real rate)")  # fmt: skip


@adopt.command("plan")
@_with_limits
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def adopt_plan(opts: Options, window_rows: int, max_memory: int, max_rows_per_second: float, as_json: bool) -> None:
    """Show what adoption found (which Opik layout), what it will create, copy and swap, and its cost.

    Changes nothing (the target columns are read from a scratch database, as
    `check` does).

    \b
    Example:
      opik-store adopt plan --window-rows 500000 --json
    """
    with opts.store(must_exist="database") as store:
        _print_plan(store.adoption(_limits(window_rows, max_memory, max_rows_per_second)).plan(), as_json)


@adopt.command("run")
@_with_limits
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@click.pass_obj
@handle_errors
def adopt_run(opts: Options, window_rows: int, max_memory: int, max_rows_per_second: float, dry_run: bool,
              as_json: bool, quiet: bool) -> None:  # fmt: skip
    """Copy traces and spans into the store's layout while Opik keeps writing, then swap them.

    Holds the migration lock. Resumable: after a kill, run it again and it
    goes on from the first window not verified. Progress (rows, bytes, rate,
    ETA) goes to stderr.

    \b
    Example:
      opik-store adopt run --window-rows 500000 --max-memory 2000000000
    """
    with opts.store(must_exist="database") as store:
        adoption = store.adoption(_limits(window_rows, max_memory, max_rows_per_second), progress(quiet or as_json))
        _print_plan(adoption.plan() if dry_run else adoption.run(), as_json)


def _print_checks(checks: dict[str, list[Check]], as_json: bool) -> bool:
    """Print the checks; True when a copied window differs (a window not copied yet is not a difference)."""
    bad = any(not c.ok and not c.pending for cs in checks.values() for c in cs)
    pending = sum(c.pending for cs in checks.values() for c in cs)
    unstarted = [t for t, cs in checks.items() if not cs]
    if as_json:
        emit_json({"ok": not bad, "in_progress": bool(pending or unstarted), "windows_not_copied": pending,
                   "not_started": unstarted,
                   "tables": {t: [c.__dict__ for c in cs] for t, cs in checks.items()}})  # fmt: skip
        return bad
    if not checks:
        click.echo("nothing to verify: the database is on the store's layout")
    for table in unstarted:
        click.echo(f"{table}: its copy has not started yet")
    for table, cs in checks.items():
        for c in cs:
            mark = "not copied yet" if c.pending else "ok" if c.ok else "DIFFERS"
            extra = f", {c.gone:,} deleted since the swap" if c.gone else ""
            extra += f", {c.stale:,} stale" if c.stale else ""
            click.echo(f"{table} window {c.window}: original {c.source_rows:,} rows, new {c.target_rows:,} rows"
                       f"{extra}: {mark}")  # fmt: skip
    if pending or unstarted:
        click.echo(f"the copy is in progress: {pending} window(s) not copied yet (not differences); "
                   "`opik-store adopt run` continues it")  # fmt: skip
    return bad


@adopt.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def adopt_verify(opts: Options, as_json: bool) -> None:
    """Compare every window of the original and the new tables (newest versions: count and checksum).

    After the swap, checks that the new table holds every row of the backup,
    at the same or a newer version. Exit code 3 if a copied window differs;
    during the copy, windows not copied yet are listed as such (exit 0).

    \b
    Example:
      opik-store adopt verify --json
    """
    with opts.store(must_exist="database") as store:
        if _print_checks(store.adoption().verify(), as_json):
            sys.exit(EXIT_DIFFERENCES)


@adopt.command("finish")
@click.option("--yes", is_flag=True, help="Confirm dropping the backups (the original tables).")
@click.option("--dry-run", is_flag=True, help="Print what finish would do; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def adopt_finish(opts: Options, yes: bool, dry_run: bool, as_json: bool) -> None:
    """Verify, record the ledger at head, then drop the backups (only with --yes).

    Without --yes it refuses (exit 2) and changes nothing. Afterwards
    `opik-store check` is clean and `migrate` manages the tables.

    \b
    Example:
      opik-store adopt finish --yes
    """
    with opts.store(must_exist="database") as store:
        done = store.adoption().finish(yes=yes, dry_run=dry_run)
        if as_json:
            emit_json({"dry_run": dry_run, "actions": done})
        elif not done:
            click.echo("nothing to finish: the database is on the store's layout")
        else:
            click.echo(("would: " if dry_run else "done: ") + "; ".join(done))


@adopt.command("rollback")
@click.option("--dry-run", is_flag=True, help="Print what rollback would do; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@click.pass_obj
@handle_errors
def adopt_rollback(opts: Options, dry_run: bool, as_json: bool, quiet: bool) -> None:
    """Put the original tables back, with every write made since the swap.

    Columns only the store's layout has (environment, input_slim, ...) are
    not in Opik's original layout and are lost with it. The new tables stay
    (as <table>_opik_store_new) for a later `run`.

    \b
    Example:
      opik-store adopt rollback
    """
    with opts.store(must_exist="database") as store:
        done = store.adoption(progress=progress(quiet or as_json)).rollback(dry_run=dry_run)
        if as_json:
            emit_json({"dry_run": dry_run, "actions": done})
        elif not done:
            click.echo("nothing to roll back: the database is on the store's layout")
        else:
            click.echo(("would: " if dry_run else "done: ") + "; ".join(done))
