"""Retrying transient server errors with backoff.

Rules:

* Only errors that say "try again" are retried: lost or timed-out connections,
  Keeper/ZooKeeper session trouble, a replica that is read-only for a moment,
  "cannot assign ALTER", distributed-DDL timeouts, too many queries or parts.
  Everything else (syntax, unknown objects, access, bad arguments) fails at
  once with the server's code and message. NO_ZOOKEEPER (225) is not retried:
  it nearly always means no Keeper is configured, which waiting never fixes.
* Retrying is safe because every statement opik-store runs is idempotent; the
  rare one that is not (EXCHANGE TABLES) is never retried.
* Delays grow exponentially with full jitter, capped per attempt and in total.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from opik_store.errors import ServerError

T = TypeVar("T")

#: ClickHouse error codes worth retrying, by name (see system.errors / errorCodeToName).
TRANSIENT_CODES: dict[int, str] = {
    3: "UNEXPECTED_END_OF_FILE",
    32: "ATTEMPT_TO_READ_AFTER_EOF",
    159: "TIMEOUT_EXCEEDED",  # includes distributed DDL still running after distributed_ddl_task_timeout
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    209: "SOCKET_TIMEOUT",
    210: "NETWORK_ERROR",
    242: "TABLE_IS_READ_ONLY",  # replica waiting for its Keeper session
    252: "TOO_MANY_PARTS",
    279: "ALL_CONNECTION_TRIES_FAILED",
    319: "UNKNOWN_STATUS_OF_INSERT",
    341: "UNFINISHED",  # distributed DDL not yet finished on every host
    425: "SYSTEM_ERROR",
    473: "DEADLOCK_AVOIDED",
    517: "CANNOT_ASSIGN_ALTER",
    999: "KEEPER_EXCEPTION",
    1000: "POCO_EXCEPTION",
}


def is_transient(error: ServerError) -> bool:
    """Whether ``error`` may succeed if the same statement is sent again.

    TOO_MANY_PARTS (252) is transient when the table has too many parts (merges catch up), not when one INSERT
    block spans more partitions than ``max_partitions_per_insert_block``: that block fails the same way every time.
    """
    if error.code == 252 and "partitions for single insert block" in error.server_message.lower():
        return False
    return error.code in TRANSIENT_CODES


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``attempts=1`` disables retrying."""

    attempts: int = 6
    initial_delay: float = 0.5
    max_delay: float = 15.0
    max_total: float = 120.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential delay before retry number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.initial_delay * (2 ** (attempt - 1)))
        return rng.uniform(0, cap)


def call_with_retries(
    func: Callable[[], T],
    policy: RetryPolicy,
    describe: str = "statement",
    on_retry: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``func``; on a transient ServerError wait and run it again.

    Raises the last error when attempts or the total time budget run out, and
    any non-transient error immediately.
    """
    rng = rng or random.Random()
    spent = 0.0
    attempt = 1
    while True:
        try:
            return func()
        except ServerError as exc:
            if not is_transient(exc) or attempt >= policy.attempts:
                raise
            wait = policy.delay(attempt, rng)
            if spent + wait > policy.max_total:
                raise
            if on_retry:
                on_retry(
                    f"transient error on {describe} (code {exc.code} {TRANSIENT_CODES[exc.code]}); "
                    f"retry {attempt}/{policy.attempts - 1} in {wait:.1f} s"
                )
            sleep(wait)
            spent += wait
            attempt += 1
