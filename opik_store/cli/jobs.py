"""``opik-store jobs`` and ``opik-store scheduler``: scheduled maintenance."""

from __future__ import annotations

import sys
from typing import Any

import click

from opik_store.cli.common import (
    Options,
    emit_json,
    error,
    handle_errors,
)
from opik_store.errors import OpikStoreError
from opik_store.maintenance.config_file import load_config


def _runner(opts: Options) -> Any:
    from opik_store.scheduling.jobs import JobRunner

    return JobRunner(lambda: opts.store(must_exist="database"), load_config(opts.config_path))


@click.group()
def jobs() -> None:
    """Named maintenance jobs: list them, run one now, read their history.

    Every run is recorded in <database>.opik_store_job_runs. A job already
    running elsewhere (another scheduler, a cron line) is skipped, not doubled.

    \b
    Examples:
      opik-store jobs list
      opik-store jobs run apply-retention --dry-run
      opik-store jobs history --job prune-system-tables --limit 20
    """


@jobs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def jobs_list(opts: Options, as_json: bool) -> None:
    """List the jobs with their schedules (from the configuration file).

    \b
    Example:
      opik-store --config prod.toml jobs list
    """
    from opik_store.scheduling.jobs import BUILTIN_JOBS

    config = load_config(opts.config_path)
    rows = [
        {"job": name, "schedule": config.jobs[name].schedule, "enabled": config.jobs[name].enabled, "does": does}
        for name, (_, does) in BUILTIN_JOBS.items()
    ]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        state = "" if row["enabled"] else "  (disabled)"
        click.echo(f"{row['job']:22} {row['schedule']:16} {row['does']}{state}")


@jobs.command("run")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Report what the job would do; change and record nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def jobs_run(opts: Options, name: str, dry_run: bool, as_json: bool) -> None:
    """Run one job now (what cron, a Kubernetes CronJob or a systemd timer calls).

    Exit code 1 when the job failed; 0 when it succeeded or was skipped
    because it was already running elsewhere; 5 when the target database does
    not exist (a job never creates one: the URL is probably missing).

    \b
    Example:
      opik-store jobs run prune-system-tables
    """
    try:
        record = _runner(opts).run(name, dry_run=dry_run)
    except OpikStoreError:
        raise
    except Exception as exc:  # the job's own failure, already recorded in the runs table
        error(f"{name} failed: {type(exc).__name__}: {exc}")
        sys.exit(1)
    if as_json:
        emit_json(record.as_json())
    else:
        click.echo(f"{name}: {record.state}: {record.summary or record.error}")


@jobs.command("history")
@click.option("--job", default=None, help="Only this job.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the newest N rows.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handle_errors
def jobs_history(opts: Options, job: str | None, limit: int | None, as_json: bool) -> None:
    """Show recorded job runs, oldest first.

    \b
    Example:
      opik-store jobs history --limit 10
    """
    runner = _runner(opts)
    with opts.store(must_exist="database") as store:
        rows = runner.history(store, job)
    if limit:
        rows = rows[-limit:]
    if as_json:
        emit_json([r.as_json() for r in rows])
        return
    if not rows:
        click.echo("no job runs recorded yet")
    for r in rows:
        ms = "" if r.duration_ms is None else f"{r.duration_ms} ms"
        click.echo(f"{r.started_at:%Y-%m-%d %H:%M:%S} {r.job:22} {r.state:10} {ms:>9}  {r.summary or r.error}")


@click.command()
@click.pass_obj
@handle_errors
def scheduler(opts: Options) -> None:
    """Run the maintenance jobs on their schedules until SIGTERM/SIGINT.

    Schedules come from [jobs.<name>] in the configuration file (5-field cron,
    UTC; a 6th leading field gives seconds). A job never overlaps itself, and
    another scheduler on the same database skips a job this one is running.
    On SIGTERM, running jobs finish before the process exits.

    \b
    Example:
      OPIK_STORE_URL=clickhouse://ops:secret@ch:9000/ opik-store --config /etc/opik-store.toml scheduler
    """
    from opik_store.scheduling.scheduler import Scheduler

    config = load_config(opts.config_path)
    opts.store(must_exist="database").close()  # the target must exist before anything is scheduled
    runner = _runner(opts)
    Scheduler(runner, config.jobs, say=lambda m: click.echo(m, err=True)).run()
    click.echo("scheduler stopped", err=True)
