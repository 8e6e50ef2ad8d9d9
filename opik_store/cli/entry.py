"""The ``opik-store`` console script: signal handlers first, then the command.

Importing the command takes ~0.4 s (click, the engine adapters, SQL tooling).
A Ctrl-C or SIGTERM in that window used to print Python's traceback; here it
exits 130 (SIGINT) or 143 (SIGTERM) with one line, as it does once the
command runs (:mod:`opik_store.cli.common` documents the exit codes), and
nothing has been done yet. This module imports only the standard library
until the handlers are in place; only the interpreter's own start (~50 ms,
before any code of the package runs) keeps Python's behaviour.
"""

from __future__ import annotations

import os
import signal
from types import FrameType


def _before_start(signum: int, _frame: FrameType | None) -> None:
    name, code = ("SIGINT (Ctrl-C)", 130) if signum == signal.SIGINT else ("SIGTERM", 143)
    os.write(2, f"interrupted by {name} while starting: nothing was done\n".encode())
    os._exit(code)  # nothing to clean up: no connection, no file, no thread exists yet


def main() -> None:
    """Run ``opik-store`` as the console script does."""
    previous = {s: signal.signal(s, _before_start) for s in (signal.SIGINT, signal.SIGTERM)}
    from opik_store.cli.app import main as command

    for signum, handler in previous.items():  # the command installs its own (see common.raise_on_sigterm)
        signal.signal(signum, handler)
    command()


if __name__ == "__main__":
    main()
