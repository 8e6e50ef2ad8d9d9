"""Run documented ``opik-store`` example lines in one process, in one working folder.

Used by test_examples.py as ``python example_runner.py WORKDIR RESULTS`` with a
JSON list of example lines on stdin; writes a JSON list of results to RESULTS. One process
runs them all because the embedded engine binds one directory per process and
costs ~2 s to import: the examples share ``WORKDIR/.opik-store``, the default
target, exactly as an operator following the documents would.

How a line is run (the substitutions test_examples.py documents):

* ``# comment`` is dropped; leading ``NAME=value`` words become environment
  variables of that command only.
* ``| jq ...`` is not run: the command's stdout must instead parse as JSON.
  ``> FILE`` writes stdout to FILE in the working folder.
* Before every example the working folder's database is migrated (and its
  retention rules applied) if the previous example reverted it, so that each
  example runs on a database in the state the documents assume.
* One connection to the engine stays open for the whole run, as a server
  stays up between commands.
* ``scheduler`` and ``exporter`` run for real and are stopped with SIGTERM
  after 2 s, which both commands document as a clean stop.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
from typing import Any

from click.testing import CliRunner

from opik_store.store import Store

_HOLD: Store


def _parse(line: str) -> tuple[dict[str, str], list[str], str | None, bool]:
    """(environment, arguments after ``opik-store``, stdout file, stdout must be JSON)."""
    words = shlex.split(line, comments=True)
    env: dict[str, str] = {}
    while words and "=" in words[0] and not words[0].startswith("-"):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if not words or words[0] != "opik-store":
        raise ValueError(f"not an opik-store command: {line!r}")
    args = words[1:]
    output = None
    as_json = False
    if "|" in args:
        pipe = args.index("|")
        as_json = args[pipe + 1 : pipe + 2] == ["jq"]
        args = args[:pipe]
    if ">" in args:
        redirect = args.index(">")
        output = args[redirect + 1]
        args = args[:redirect]
    return env, args, output, as_json


def _run_one(line: str) -> dict[str, Any]:
    from opik_store.cli import main

    env, args, output, as_json = _parse(line)
    timer = None
    if "scheduler" in args or "exporter" in args:
        timer = threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGTERM))
        timer.start()
    try:
        result = CliRunner().invoke(main, args, env=env)
    finally:
        if timer is not None:
            timer.cancel()
    problem = ""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problem = f"{type(result.exception).__name__}: {result.exception}"
    if as_json and result.exit_code == 0:
        try:
            json.loads(result.stdout)
        except ValueError as exc:
            problem = f"stdout is not JSON: {exc}"
    if output is not None:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(result.stdout)
    return {"line": line, "exit_code": result.exit_code, "problem": problem, "output": result.output[-2000:]}


def _setup() -> None:
    from opik_store.cli import main

    for args in (["migrate", "-q"], ["retention", "apply"]):
        result = CliRunner().invoke(main, args)
        if result.exit_code != 0:
            raise RuntimeError(f"setup {args} failed: {result.output}")
    _HOLD.adapter.execute("SYSTEM FLUSH LOGS")  # creates the configured log tables


def main() -> None:
    global _HOLD
    from opik_store.cli.common import Options

    lines: list[str] = json.load(sys.stdin)
    os.chdir(sys.argv[1])
    # One connection stays open for the whole run, as a server stays up: the embedded engine restarts
    # whenever its last connection closes, and a restarted engine lists log tables only after a flush.
    _HOLD = Options().build()
    results = []
    _setup()
    for line in lines:
        results.append(_run_one(line))
        if " downgrade " in f" {line} " and "--dry-run" not in line:
            _setup()
    _HOLD.close()
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
