"""``opik-store retention``: plan, apply and backfill retention classes."""

from __future__ import annotations

from typing import Any

import click

from opik_store.cli.common import (
    Options,
    emit_json,
    handle_errors,
    progress,
)
from opik_store.maintenance.config_file import load_config
from opik_store.maintenance.retention import local


@click.group()
def retention() -> None:
    """Retention classes for traces and spans, enforced by the expiry job.

    \b
    A row's class is the rule for its workspace/project in effect on the UTC
    day of its id; a changed rule applies to ids from the day after tomorrow.
    Past ids keep their class until `retention backfill` gives them the new one.
    `apply --expire-now` (and the apply-retention job) removes what is due.
    Examples:
      opik-store retention plan
      opik-store retention apply --dry-run
      opik-store retention apply --expire-now
      opik-store retention backfill --workspace acme --dry-run
    """


def _print_plan(plan: Any, as_json: bool) -> None:
    if as_json:
        emit_json(plan.as_json())
        return
    if plan.changes:
        click.echo("rules to add:")
        for change in plan.changes:
            click.echo(f"  {change.describe()}")
    else:
        click.echo("rules: the database matches the configuration")
    for w, p, d in plan.unmanaged:
        key = f"workspace {w!r}" + (f" project {p!r}" if p else "")
        click.echo(f"  not in the configuration (left alone; --prune resets it): {key}: {d} days")
    for table, rows in sorted(plan.undated_rows.items()):
        click.echo(f"{table}: {rows} row(s) whose id carries no usable time are kept (class unlimited)")
    expired = plan.expired
    click.echo(f"server clock: {local(plan.now, plan.timezone):%Y-%m-%d %H:%M:%S} {plan.timezone}")
    if plan.expiring:
        click.echo(f"{'table':8} {'class':>9} {'week of':10} {'all due from (UTC)':18} {'rows':>10}")
        for g in plan.expiring:
            mark = "  DUE" if g in expired else ""
            click.echo(f"{g.table:8} {g.days:>9} {g.week} {g.due_on!s:18} {g.rows:>10}{mark}")
    else:
        click.echo("nothing is due within the horizon")
    if expired:
        click.echo(f"{len(expired)} group(s) are due: `retention apply --expire-now` (or the apply-retention job) "
                   "removes them")  # fmt: skip


@retention.command("plan")
@click.option(
    "--horizon-days",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="Report what expires within N days.",
)
@click.option("--prune", is_flag=True, help="Also reset rules that are in the database but not in the file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def retention_plan(opts: Options, horizon_days: int, prune: bool, as_json: bool) -> None:
    """Show the rule changes and the (class, week) groups due soon; change nothing.

    \b
    Example:
      opik-store retention plan --horizon-days 30
    """
    wanted = load_config(opts.config_path).retention
    with opts.store(must_exist="database") as store:
        _print_plan(store.retention().plan(wanted, horizon_days, prune), as_json)


@retention.command("apply")
@click.option("--prune", is_flag=True, help="Also reset rules that are in the database but not in the file.")
@click.option("--expire-now", is_flag=True, help="Also remove every (class, week) group that is due now.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def retention_apply(opts: Options, prune: bool, expire_now: bool, dry_run: bool, as_json: bool) -> None:
    """Append changed rules; with --expire-now, remove what is due.

    A changed rule applies to ids created from the start of the UTC day after
    tomorrow (so every version of a row keeps one class); `retention backfill`
    gives past ids the new class. With --expire-now, each due (class, week)
    group goes: a week past every class in effect on its days is dropped whole,
    other due groups by a lightweight DELETE, and a week left with one class
    has its deleted rows reclaimed once.

    \b
    Example:
      opik-store --config prod.toml retention apply --expire-now
    """
    wanted = load_config(opts.config_path).retention
    with opts.store(must_exist="database") as store:
        ret = store.retention(progress(as_json))
        plan = ret.plan(wanted, 0, prune)
        if dry_run:
            _print_plan(plan, as_json)
            return
        done = ret.apply(plan, expire_now=expire_now)
        if as_json:
            emit_json({"done": done, **plan.as_json()})
        elif not done:
            click.echo("retention is up to date; nothing to do")
        else:
            for line in done:
                click.echo(line)


@retention.command("backfill")
@click.option("--workspace", default=None, help="Workspace whose past ids take its newest class.")
@click.option("--project", default="", help="Only this project (its own rule must exist).")
@click.option(
    "--default", "default_key", is_flag=True,
    help="The deployment default: rows of every workspace and project without a rule of its own.",
)  # fmt: skip
@click.option("--yes", is_flag=True, help="Confirm when rows would be due at once (the next expiry deletes them).")
@click.option("--dry-run", is_flag=True, help="Count, per table and workspace/project, the rows due at once.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def retention_backfill(
    opts: Options,
    workspace: str | None,
    project: str,
    default_key: bool,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Give a workspace's, project's or the default's past ids its newest class.

    Rules are appended for the key's past periods; no row is moved or
    rewritten. Rows that the new class makes due at once are counted first
    (per table and workspace/project) and the command refuses without --yes
    when there are any: the next expiry deletes them.

    \b
    Examples:
      opik-store retention backfill --workspace acme --dry-run
      opik-store retention backfill --default --dry-run
    """
    if default_key == (workspace is not None) or (default_key and project):
        raise click.UsageError("name exactly one key: --workspace W [--project P], or --default")
    workspace = workspace or ""
    if not workspace and not default_key:
        raise click.UsageError("--workspace must not be empty (use --default for the deployment default)")
    with opts.store(must_exist="database") as store:
        report = store.retention(progress(as_json)).backfill(workspace, project, dry_run=dry_run, yes=yes)
        if as_json:
            emit_json(report.as_json())
            return
        verb = "would add" if dry_run else "added"
        click.echo(f"class {report.days} days; {verb} rules for the past ids; "
                   f"{report.due_rows} row(s) due at once under it")  # fmt: skip
        for key, rows in sorted(report.due_now.items()):
            click.echo(f"  {key}: {rows} rows")
