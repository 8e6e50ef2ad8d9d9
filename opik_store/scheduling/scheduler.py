"""The maintenance scheduler: runs the named jobs on their cron schedules until stopped.

Rules:

* One instance of a job at a time in this process (``max_instances=1``): a
  slow run makes the next firing skip, not overlap. Across processes and
  hosts the job's lease does the same (jobs.py).
* Missed firings within ``misfire_grace_seconds`` still run, once
  (``coalesce``); each firing is delayed by up to ``jitter_seconds`` so that
  several schedulers do not hit the server at the same instant.
* SIGTERM and SIGINT stop it gracefully: no new runs start, and a run in
  progress finishes and is recorded before the process exits.
* A failing run is recorded and logged; the scheduler keeps going.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from opik_store.maintenance.config_file import JobConfig
from opik_store.maintenance.cron import cron_trigger
from opik_store.scheduling.jobs import JobRunner

log = logging.getLogger("opik_store.scheduling.scheduler")


class Scheduler:
    """Wraps an APScheduler BlockingScheduler around a JobRunner."""

    def __init__(
        self, runner: JobRunner, jobs: Mapping[str, JobConfig], say: Callable[[str], None] | None = None
    ) -> None:
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.runner = runner
        self.say = say or (lambda _m: None)
        self._scheduler = BlockingScheduler(timezone="UTC")
        self.stopped = threading.Event()
        for name, job in jobs.items():
            if not job.enabled:
                continue
            if name not in runner.jobs:
                raise KeyError(name)
            self._scheduler.add_job(
                self._run,
                cron_trigger(job.schedule, job.jitter_seconds),
                args=[name],
                id=name,
                name=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=job.misfire_grace_seconds,
            )

    def _run(self, name: str) -> None:
        try:
            record = self.runner.run(name)
            self.say(f"{name}: {record.state}: {record.summary or record.error}")
        except Exception as exc:  # recorded by the runner; the scheduler carries on
            log.debug("job %s failed", name, exc_info=True)  # said in one line below; details for debug logging
            self.say(f"{name}: failed: {exc}")

    def stop(self, *_args: Any) -> None:
        """Stop firing and wait for running jobs to finish."""
        if not self.stopped.is_set():
            self.stopped.set()
            self.say("stopping: waiting for running jobs to finish")
            self._scheduler.shutdown(wait=True)

    def run(self, install_signal_handlers: bool = True) -> None:
        """Block, running jobs, until stop() or SIGTERM/SIGINT."""
        if install_signal_handlers:

            def handler(signum: int, _frame: FrameType | None) -> None:
                self.say(f"received {signal.Signals(signum).name}")
                self.stop()

            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)
        self.say(
            "scheduler started: "
            + ", ".join(f"{name} next at {when:%Y-%m-%d %H:%M:%S} UTC" for name, when in self._next_runs())
        )
        self._scheduler.start()

    def _next_runs(self) -> list[tuple[str, Any]]:
        now = datetime.now(UTC)
        return [(job.id, job.trigger.get_next_fire_time(None, now)) for job in self._scheduler.get_jobs()]
