"""The machine the embedded engine runs on: this process's CPU, and the cores and memory it may use.

The embedded engine (chdb) has no ``system.asynchronous_metrics``: it is not a
server but ClickHouse inside this process, so the engine's CPU *is* this
process's CPU. Rules:

* CPU now is this process's CPU time (user + system, every thread: the
  engine's query and background pools and the host program's own threads)
  over a short sample, in cores busy. ``time.process_time`` reads it
  (CLOCK_PROCESS_CPUTIME_ID on Linux).
* Cores are the CPUs this process may run on (its affinity), lowered to the
  cgroup CPU quota when one is set (cgroup v2 ``cpu.max`` of this process's
  cgroup and each parent, else v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``),
  the same files ClickHouse's ``CGroupMaxCPU`` reads.
* Memory is ``MemTotal`` of ``/proc/meminfo``, lowered to the cgroup memory
  limit when one is set (v2 ``memory.max``, else v1 ``memory.limit_in_bytes``;
  "max" and v1's "unlimited" huge value leave it alone), as ClickHouse's
  ``CGroupMemoryTotal`` does.
* ``root`` exists so the readers can be pointed at a copy of those files.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Resources:
    """Cores and memory this process may use, and where each figure came from."""

    cores: float
    cores_source: str
    memory_bytes: int
    memory_source: str


def sample_cpu(seconds: float) -> tuple[float, float]:
    """(cores busy, seconds measured): this process's CPU time over a wall-clock sample of ``seconds``."""
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    cpu1, wall1 = time.process_time(), time.monotonic()
    elapsed = max(wall1 - wall0, 1e-6)
    return (cpu1 - cpu0) / elapsed, elapsed


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_v2_dirs(root: Path) -> list[Path]:
    """This process's cgroup v2 directory and its parents up to the mount, deepest first."""
    text = _read(root / "proc/self/cgroup") or ""
    path = next((line[3:] for line in text.splitlines() if line.startswith("0::")), None)
    if path is None:
        return []
    base = root / "sys/fs/cgroup"
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    return [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _cgroup_cpu_limit(root: Path) -> tuple[float, str] | None:
    limits = []
    for directory in _cgroup_v2_dirs(root):
        fields = (_read(directory / "cpu.max") or "").split()
        if len(fields) == 2 and fields[0] != "max" and fields[0].isdigit() and fields[1].isdigit() and int(fields[1]):
            limits.append((int(fields[0]) / int(fields[1]), f"cgroup v2 {directory / 'cpu.max'}"))
    if not limits:
        quota = _read(root / "sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        period = _read(root / "sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if quota and period and quota.lstrip("-").isdigit() and period.isdigit() and int(quota) > 0 and int(period):
            limits.append((int(quota) / int(period), "cgroup v1 cpu.cfs_quota_us"))
    return min(limits) if limits else None


def _cgroup_memory_limit(root: Path) -> tuple[int, str] | None:
    limits = []
    for directory in _cgroup_v2_dirs(root):
        value = _read(directory / "memory.max")
        if value and value.isdigit():
            limits.append((int(value), f"cgroup v2 {directory / 'memory.max'}"))
    if not limits:
        value = _read(root / "sys/fs/cgroup/memory/memory.limit_in_bytes")
        if value and value.isdigit() and int(value) < 1 << 60:  # v1 says "unlimited" with a huge number
            limits.append((int(value), "cgroup v1 memory.limit_in_bytes"))
    return min(limits) if limits else None


def resources(root: Path = Path("/")) -> Resources:
    """The cores and memory available to this process (cgroup limits applied)."""
    try:
        cores: float = float(len(os.sched_getaffinity(0)))
        cores_source = "CPU affinity of this process"
    except (AttributeError, OSError):
        cores, cores_source = float(os.cpu_count() or 1), "os.cpu_count()"
    cpu_limit = _cgroup_cpu_limit(root)
    if cpu_limit and cpu_limit[0] < cores:
        cores, cores_source = cpu_limit
    memory, memory_source = 0, "unknown"
    for line in (_read(root / "proc/meminfo") or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "MemTotal:" and fields[1].isdigit():
            memory, memory_source = int(fields[1]) * 1024, "/proc/meminfo MemTotal"
    memory_limit = _cgroup_memory_limit(root)
    if memory_limit and (not memory or memory_limit[0] < memory):
        memory, memory_source = memory_limit
    return Resources(cores, cores_source, memory, memory_source)
