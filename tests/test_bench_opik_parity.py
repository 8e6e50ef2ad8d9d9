"""bench/opik_parity.py runs (its --quick smoke size) and its correctness lines hold.

Timings are the bench's business, never asserted here; what the suite checks is that the script runs on a clean
machine and that its expiry cycle removes the same rows as Opik's path, none early and none over 7 days late.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_parity_bench_runs_and_its_expiry_is_exact() -> None:
    bench = Path(__file__).resolve().parent.parent / "bench" / "opik_parity.py"
    done = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    gone = [line for line in out.splitlines() if "expiry: rows gone at the end" in line]
    assert gone and gone[0].rstrip().endswith("yes"), out
    late = [line for line in out.splitlines() if "expiry: days late" in line]
    assert late and all(line.rstrip().endswith("yes") for line in late), out
    assert "0 rows differ" in out, out
