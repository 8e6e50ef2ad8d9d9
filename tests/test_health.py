"""Health checks on the real engine, under load the tests make: slow queries, many small parts, inserts."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from opik_store.cli import main
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.urls import parse_url
from opik_store.errors import ConfigError, OpikStoreError
from opik_store.health.checks import LOG_COMMENT, Health
from opik_store.health.host import resources as host_resources
from opik_store.health.prometheus import exposition, serve
from opik_store.maintenance.config_file import HealthConfig, parse_config
from opik_store.scheduling.jobs import HEALTH_TABLE, JobRunner
from opik_store.store import Store

OLD_MARK = "opik-store-health-test-old-row"


def _small_parts(engine: EmbeddedAdapter, database: str, parts: int) -> None:
    engine.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    engine.execute(f"CREATE TABLE `{database}`.small (x UInt64) ENGINE = MergeTree ORDER BY x")
    engine.execute(f"SYSTEM STOP MERGES `{database}`.small")
    for i in range(parts):
        engine.execute(f"INSERT INTO `{database}`.small SELECT number + {i * 10} FROM numbers(10)")


def test_health_config_defaults_and_every_problem_at_once() -> None:
    assert parse_config({}).health == HealthConfig()
    good = parse_config({"health": {"parts_warn": 5, "parts_critical": 9, "query_warn_seconds": 0.5}}).health
    assert (good.parts_warn, good.parts_critical, good.query_warn_seconds) == (5, 9, 0.5)
    assert parse_config({"health": {"stuck_minutes": 0.5}}).health.stuck_minutes == 0.5  # fractions allowed
    with pytest.raises(ConfigError) as err:
        parse_config({"health": {"parts_warn": 2000, "window_minutes": 1.5, "cpu_warn_percent": 120,
                                 "query_warn_seconds": "10", "nope": 1, "history_days": 0}})  # fmt: skip
    lines = str(err.value).splitlines()
    for text in ("unknown key(s) nope", "window_minutes must be a whole number", "cpu_warn_percent is a percentage",
                 "query_warn_seconds must be a number", "history_days must be above 0",
                 "parts_warn (2000) must be below parts_critical (1000)"):  # fmt: skip
        assert any(text in line for line in lines), (text, lines)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_threshold_that_is_not_a_finite_number_is_refused(value: float) -> None:
    """A nan warn line compared false with everything: the check reported ok where 0.5 warns."""
    with pytest.raises(ConfigError, match="query_warn_seconds must be a finite number"):
        parse_config({"health": {"query_warn_seconds": value}})


def test_parts_and_slow_queries_go_warn_then_critical(engine: EmbeddedAdapter, database: str) -> None:
    _small_parts(engine, database, 12)
    for _ in range(2):
        engine.query("SELECT sleep(0.6) AS health_test_slow")
    warn = HealthConfig(parts_warn=10, parts_critical=100, query_warn_seconds=0.3, query_critical_seconds=100)
    report = Health(engine, warn).run()
    parts = report.check("parts")
    assert parts.status == "warn", parts
    assert parts.details["partitions"][0]["active_parts"] >= 12
    slow = report.check("query_duration")
    assert slow.status == "warn", slow
    assert any("sleep(0.6)" in s["sample"] and s["p95_ms"] >= 550 for s in slow.details["slowest_shapes"])
    critical = HealthConfig(parts_warn=5, parts_critical=10, query_warn_seconds=0.3, query_critical_seconds=0.5)
    report = Health(engine, critical).run()
    assert report.check("parts").status == "critical"
    assert report.check("query_duration").status == "critical"
    assert report.status == "critical"
    # the defaults (300 parts, 10 s) find neither
    report = Health(engine).run()
    assert (
        report.check("parts").status == "ok" or report.check("parts").details["partitions"][0]["database"] != database
    )
    assert report.check("replication").value.startswith("not replicated")
    cpu = report.check("cpu")  # the embedded engine has no asynchronous_metrics: measured on this process
    assert cpu.status != "unknown" and cpu.details["source"].startswith("embedded: this process"), cpu


def test_insert_rate_drop_against_the_trailing_average(engine: EmbeddedAdapter, database: str) -> None:
    _small_parts(engine, database, 3)  # real inserts now: 30 rows in the window
    config = HealthConfig(window_minutes=5, trailing_minutes=60)
    engine.execute("SYSTEM FLUSH LOGS")
    now_rows = Health(engine, config).run().check("insert_rate")
    assert now_rows.details.get("rows_per_minute", 0) > 0 or "rows/min" in now_rows.value
    # The trailing window gets a busy history (part_log accepts plain INSERTs): 600k rows 30-50 minutes ago.
    engine.execute(
        "INSERT INTO system.part_log (hostname, event_type, event_date, event_time, database, table, rows) "
        "SELECT 'test', 'NewPart', toDate(now() - toIntervalMinute(30 + number)), "
        "now() - toIntervalMinute(30 + number), {d:String}, 'small', 5000000 FROM numbers(20)",
        {"d": database},
    )
    try:
        check = Health(engine, config).run().check("insert_rate")
        assert check.status == "critical", check
        assert check.details["drop_percent"] > 90
        # critical only at a 100 % drop: the test's own rows of now keep the drop just below it
        mild = HealthConfig(window_minutes=5, trailing_minutes=60, insert_drop_critical_percent=100)
        assert Health(engine, mild).run().check("insert_rate").status == "warn"
    finally:
        engine.execute("ALTER TABLE system.part_log DELETE WHERE hostname = 'test' AND database = {d:String}",
                       {"d": database}, settings={"mutations_sync": "2"})  # fmt: skip


def _health_reads(engine: EmbeddedAdapter, since: datetime) -> dict[str, int]:
    engine.execute("SYSTEM FLUSH LOGS")
    rows = engine.query(
        "SELECT normalized_query_hash, any(query), sum(read_rows) FROM system.query_log WHERE event_date >= "
        "toDate({s:DateTime64(6, 'UTC')}) AND event_time_microseconds >= {s:DateTime64(6, 'UTC')} "
        "AND log_comment = {c:String} AND type = 'QueryFinish' AND query ILIKE '%\\_log %' GROUP BY 1",
        {"s": since, "c": LOG_COMMENT},
    ).rows
    return {" ".join(str(q).split()): int(n) for _, q, n in rows}


def test_health_reads_do_not_grow_with_the_age_of_the_logs(engine: EmbeddedAdapter) -> None:
    health = Health(engine)
    health.run()  # warm-up: the log tables exist and hold this session's rows
    start = datetime.now(UTC)
    health.run()
    before = _health_reads(engine, start)
    assert before and any("query_log" in q for q in before) and any("part_log" in q for q in before)
    old = 300_000
    engine.execute(
        "INSERT INTO system.query_log (event_date, event_time, event_time_microseconds, type, query, "
        "query_duration_ms, user, normalized_query_hash) SELECT toDate(t), t, t, 'QueryFinish', {m:String}, "
        "50000, 'old', 7 FROM (SELECT now() - toIntervalDay(3 + number % 80) - toIntervalSecond(number % 86000) AS t "
        "FROM numbers({n:UInt64}))",
        {"m": OLD_MARK, "n": old},
    )
    engine.execute(
        "INSERT INTO system.part_log (hostname, event_type, event_date, event_time, database, table, rows) "
        "SELECT 'old', 'NewPart', toDate(t), t, 'old_db', 'old_table', 1000 FROM (SELECT now() - "
        "toIntervalDay(3 + number % 80) AS t FROM numbers({n:UInt64}))",
        {"n": old},
    )
    try:
        start = datetime.now(UTC)
        report = health.run()
        after = _health_reads(engine, start)
        assert report.check("query_duration").status == "ok" or all(
            u["user"] != "old" for u in report.check("query_duration").details["users"]
        )
        total = int(engine.query("SELECT count() FROM system.query_log").scalar())
        assert total > old  # the log really is large: a scan of it would read them all
        for query, rows in after.items():
            # bounded: at most a few granules of the current window, never the 300k old rows
            assert rows < before.get(query, 0) + 3 * 8192, (query, before.get(query), rows)
        print("health read_rows per log query, before/after adding", old, "old rows:", before, after)
    finally:
        engine.execute("ALTER TABLE system.query_log DELETE WHERE query = {m:String}", {"m": OLD_MARK},
                       settings={"mutations_sync": "2"})  # fmt: skip
        engine.execute("ALTER TABLE system.part_log DELETE WHERE hostname = 'old'", settings={"mutations_sync": "2"})


def test_prometheus_exposition_and_exporter_over_loopback(engine: EmbeddedAdapter, database: str) -> None:
    _small_parts(engine, database, 4)
    config = HealthConfig(parts_warn=2, parts_critical=3)
    text = exposition(Health(engine, config).run())
    families = {f.name: f for f in text_string_to_metric_families(text)}
    status = {s.labels["check"]: s.value for s in families["opik_store_health_status"].samples}
    assert status["parts"] == 2 and status["cpu"] in (0, 1, 2)  # cpu measured (on this process), not unknown
    assert [s.value >= 0 for s in families["opik_store_cpu_percent"].samples] == [True]
    assert any(s.labels.get("table") == "small" for s in families["opik_store_active_parts"].samples)
    server, thread = serve(lambda: Health(engine, config).run(), "127.0.0.1", 0)
    try:
        port = server.server_port
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
        scraped = {f.name for f in text_string_to_metric_families(body)}
        assert {"opik_store_health_up", "opik_store_health_status", "opik_store_active_parts"} <= scraped
        assert "opik_store_health_up 1.0" in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_exporter_shares_one_run_among_concurrent_scrapes_and_bounds_idle_sockets(
    engine: EmbeddedAdapter,
) -> None:
    """100 concurrent scrapes used to run the checks one after another (up to 57 s); 1,500 idle sockets made 1,528
    threads. Now concurrent scrapes share the run in flight, and connections are bounded and time out."""
    import concurrent.futures

    runs: list[float] = []

    def slow_checks() -> Any:
        runs.append(time.monotonic())
        time.sleep(0.5)
        return Health(engine, HealthConfig()).run()

    server, thread = serve(slow_checks, "127.0.0.1", 0, max_age=0.0, max_connections=120, idle_timeout=1.0)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            bodies = list(pool.map(lambda _i: urllib.request.urlopen(url, timeout=60).read().decode(), range(100)))
        took = time.monotonic() - began
        assert all("opik_store_health_up 1.0" in b for b in bodies)
        assert len(runs) <= 6 and took < 15, (len(runs), took)  # one after another: 100 runs, 50 s and more
        base = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", server.server_port)) for _ in range(300)]
        time.sleep(0.3)
        assert threading.active_count() <= base + 120, "threads are bounded by max_connections"
        deadline = time.monotonic() + 10
        while threading.active_count() > base + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert threading.active_count() <= base + 2, "idle connections are closed after idle_timeout"
        for sock in idle:
            sock.close()
        body = urllib.request.urlopen(url, timeout=30).read().decode()
        assert "opik_store_health_up 1.0" in body, "still serving"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_exporter_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The CLI in its own process (its own engine directory: one engine path per process)."""
    exe = [sys.executable, "-c", "from opik_store.cli import main; main()"]
    url = f"chdb://{tmp_path / 'data'}"
    env = {**os.environ, "OPIK_STORE_URL": url}
    subprocess.run([*exe, "migrate", "-q"], env=env, check=True, timeout=120, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([*exe, "exporter", "--listen", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not body:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
            except OSError:
                time.sleep(0.3)
        assert 'opik_store_health_status{check="parts"}' in body
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "exporter stopped" in err and "target:" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _cli(args: list[str], engine_url: str) -> Any:
    return CliRunner().invoke(main, ["--url", engine_url, *args])


def test_cli_health_exit_codes_json_and_bad_input(
    engine: EmbeddedAdapter, engine_url: str, database: str, tmp_path: Path
) -> None:
    _small_parts(engine, database, 12)
    warn = tmp_path / "warn.toml"
    warn.write_text("[health]\nparts_warn = 10\nparts_critical = 5000\n")
    critical = tmp_path / "critical.toml"
    critical.write_text("[health]\nparts_warn = 5\nparts_critical = 10\n")
    result = _cli(["--config", str(critical), "health", "--json"], engine_url)
    assert result.exit_code == 7, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "critical"
    assert {c["check"]: c["status"] for c in doc["checks"]}["parts"] == "critical"
    result = _cli(["--config", str(warn), "health"], engine_url)
    assert result.exit_code in (6, 7), result.output  # warn from parts (another check may be worse)
    assert "warn     parts" in result.stdout and "do: too many small inserts" in result.stdout
    assert "target:" in result.stderr
    result = _cli(["--config", str(critical), "health", "--exit-zero"], engine_url)
    assert result.exit_code == 0 and "critical parts" in result.stdout
    result = _cli(["--config", str(critical), "health", "--prometheus"], engine_url)
    assert result.exit_code == 0 and 'opik_store_health_status{check="parts"} 2.0' in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[health]\nparts_warn = -1\nwindow_minutes = 'x'\n")
    result = _cli(["--config", str(bad), "health", "--json"], engine_url)
    assert result.exit_code == 2 and "parts_warn must be above 0" in json.loads(result.stdout)["error"]
    assert _cli(["health", "--json", "--prometheus"], engine_url).exit_code == 2
    result = _cli(["exporter", "--listen", "nowhere"], engine_url)
    assert result.exit_code == 2 and "HOST:PORT" in result.stderr


def test_health_job_records_snapshots_with_their_own_ttl(engine_url: str, database: str, tmp_path: Path) -> None:
    factory: Callable[[], Store] = lambda: Store.from_url(engine_url, database=database)  # noqa: E731
    record = JobRunner(factory, parse_config({})).run("health")
    assert record.state == "succeeded" and "recorded 9 checks" in record.summary, record
    with factory() as store:
        table = f"`{database}`.{HEALTH_TABLE}"
        rows = store.adapter.query(f"SELECT check, toString(status) FROM {table} ORDER BY check").rows
        assert [name for name, _ in rows] == sorted(c.name for c in Health(store.adapter).run().checks)
        assert all(status in ("ok", "warn", "critical", "unknown") for _, status in rows)
        ttl = store.adapter.query(
            "SELECT engine_full FROM system.tables WHERE database = {d:String} AND name = {n:String}",
            {"d": database, "n": HEALTH_TABLE},
        ).scalar()
        assert "toIntervalDay(30)" in ttl
    JobRunner(factory, parse_config({"health": {"history_days": 7}})).run("health")
    with factory() as store:
        ttl = store.adapter.query(
            "SELECT engine_full FROM system.tables WHERE database = {d:String} AND name = {n:String}",
            {"d": database, "n": HEALTH_TABLE},
        ).scalar()
        assert "toIntervalDay(7)" in ttl
        assert store.adapter.query(f"SELECT count() FROM {table}").scalar() == 18
    result = CliRunner().invoke(main, ["--url", engine_url, "jobs", "list", "--json"])
    assert {"job": "health", "schedule": "*/5 * * * *"}.items() <= next(
        r for r in json.loads(result.stdout) if r["job"] == "health"
    ).items()


def test_replication_on_a_single_node_and_on_a_cluster_of_unreachable_replicas(
    engine: EmbeddedAdapter, engine_url: str, database: str
) -> None:
    """One node: "not replicated". With a cluster every replica is asked (clusterAllReplicas); the test
    engine's cluster 'unreachable' names replicas on ports 1 and 2, so the check is unknown with the reason."""
    with Store.from_url(engine_url, database=database) as store:
        single = store.health().check("replication")
    assert (single.status, single.value) == ("ok", "not replicated (no Replicated tables on this node)")
    check = Health(engine, cluster="unreachable").run().check("replication")
    assert check.status == "unknown" and "the server said" in check.action, check
    # a check that could not look (its query failed) raises the report to at least warn; a missing source would not
    assert Health(engine, cluster="unreachable").run().status in ("warn", "critical")


def test_failing_mutation_disk_and_unbounded_logs(engine: EmbeddedAdapter, database: str) -> None:
    """A mutation the test makes fail is critical; free disk and untrimmed logs against lowered thresholds."""
    _small_parts(engine, database, 1)
    engine.execute(f"SYSTEM START MERGES `{database}`.small")  # mutations run as merges
    engine.execute(f"ALTER TABLE `{database}`.small DELETE WHERE throwIf(x >= 0, 'health test') = 1",
                   settings={"mutations_sync": "0"})  # fmt: skip
    try:
        check = Health(engine).merges_mutations()
        deadline = time.monotonic() + 30
        while check.status != "critical" and time.monotonic() < deadline:
            time.sleep(0.3)
            check = Health(engine).merges_mutations()
        assert check.status == "critical", check
        assert any(m["database"] == database and "health test" in m["fail_reason"] for m in check.details["mutations"])
    finally:
        engine.execute("KILL MUTATION WHERE database = {d:String} SYNC", {"d": database})
    free = float(engine.query("SELECT min(free_space / total_space) * 100 FROM system.disks").scalar())
    disk = Health(engine, HealthConfig(disk_free_warn_percent=min(100, free + 1), disk_free_critical_percent=0.001))
    assert disk.disk().status == "warn"
    disk = Health(engine, HealthConfig(disk_free_warn_percent=100, disk_free_critical_percent=min(99.9, free + 0.5)))
    assert disk.disk().status == "critical"
    assert Health(engine).disk().status in ("ok", "warn", "critical")
    engine.execute("SYSTEM FLUSH LOGS")
    logs = Health(engine, HealthConfig(system_log_warn_bytes=1)).system_logs()
    assert logs.status == "warn" and "query_log" in logs.action, logs  # the test engine's logs have no TTL
    assert Health(engine).system_logs().status == "ok"  # far below the 1 GiB default


# -- CPU and memory-to-CPU: the embedded engine is this process ---------------------------------------------


def _cpu_load(engine_url: str, marker: str, stop: threading.Event) -> threading.Thread:
    """A CPU-bound query, carrying ``marker``, on its own connection (one connection runs one query at a time)."""

    def run() -> None:
        load = EmbeddedAdapter(parse_url(engine_url))
        try:
            load.query(
                "SELECT count() FROM numbers_mt(4000000000) WHERE cityHash64(number, {m:String}) % 7 = 3",
                {"m": marker},
                settings={"max_threads": "2", "max_execution_time": "60"},
            )
        except OpikStoreError:
            pass  # cancelled by KILL QUERY once the test has what it needs
        finally:
            load.close()
            stop.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_embedded_cpu_is_this_process_and_goes_critical_then_warn_under_load(
    engine: EmbeddedAdapter, engine_url: str
) -> None:
    """The embedded engine runs in this process: a query the test runs on another connection makes the
    CPU check critical (now, sampled while it runs) and then warn (the window average of what the
    engine logged), each against thresholds lowered just below what the load itself produced."""
    marker = f"health-cpu-load-{uuid.uuid4().hex[:8]}"
    done = threading.Event()
    thread = _cpu_load(engine_url, marker, done)
    running = "query_id != queryID() AND position(query, {m:String}) > 0 AND position(query, 'numbers_mt') > 0"
    try:
        deadline = time.monotonic() + 30
        while not engine.query(f"SELECT count() FROM system.processes WHERE {running}", {"m": marker}).scalar():
            assert time.monotonic() < deadline and not done.is_set(), "the load query never started"
            time.sleep(0.05)
        loaded = Health(engine, HealthConfig(cpu_warn_percent=1, cpu_critical_percent=5), cpu_sample_seconds=1.0)
        check = loaded.cpu()
        still_running = not done.is_set()
    finally:
        engine.execute(f"KILL QUERY WHERE {running} SYNC", {"m": marker})
        thread.join(60)
    assert still_running, "the load ended before the sample did: the sample did not see it"
    (host,) = check.details["hosts"]
    print("cpu under load:", check.value)
    assert check.details["source"].startswith("embedded: this process"), check
    assert host["host"] == engine.query("SELECT hostName()").scalar()
    cores = host_resources().cores
    # two engine threads busy on at most `cores` cores: well above the 5 % critical line, at most 100 %
    assert 5 < host["now_percent"] <= 100.0 + 1e-6, check
    assert check.status == "critical", check
    # Afterwards the load is in query_log: its own CPU, as a share of the 1-minute window, is what the
    # average must at least contain; a warn line just below that share is crossed for that reason.
    engine.execute("SYSTEM FLUSH LOGS")
    used_us = engine.query(
        "SELECT sum(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']) "
        "FROM system.query_log WHERE event_date >= yesterday() AND type != 'QueryStart' "
        "AND position(query, {m:String}) > 0 AND position(query, 'numbers_mt') > 0 AND query_kind = 'Select' "
        "AND position(query, 'system.') = 0",
        {"m": marker},
    ).scalar()
    share = 100 * int(used_us) / 1e6 / (60 * cores)
    assert share > 0.1, (used_us, share)
    after = Health(engine, HealthConfig(window_minutes=1, cpu_warn_percent=share * 0.9, cpu_critical_percent=100))
    check = after.cpu()
    (host,) = check.details["hosts"]
    print(f"after the load: load share {share:.2f} %;", check.value)
    assert host["average_percent"] >= share * 0.99, (share, check)
    assert host["now_percent"] < 100 and check.status == "warn", check


def test_memory_to_cpu_of_this_process_and_cgroup_limits(engine: EmbeddedAdapter, tmp_path: Path) -> None:
    """Real values on this machine (checked against what the OS says), and cgroup limits read from a copy
    of the files ClickHouse reads, in both cgroup versions."""
    check = Health(engine).memory_cpu_ratio()
    (host,) = check.details["hosts"]
    print("memory_cpu_ratio here:", check.value)
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < host["memory_bytes"] <= memory * 1.01 and 0 < host["cores"] <= len(os.sched_getaffinity(0))
    assert abs(host["gib_per_core"] - host["memory_bytes"] / (1 << 30) / host["cores"]) < 1e-9
    assert check.status == ("ok" if host["gib_per_core"] >= 4 else "warn"), check
    big = Health(engine, HealthConfig(memory_per_core_gib=host["gib_per_core"] * 2)).memory_cpu_ratio()
    assert big.status == "warn" and "add memory" in big.action, big
    # cgroup v2: this process in /kubepods/pod1/ctr, a quota of 1.5 CPUs on the pod, 3 GiB on the container
    v2 = tmp_path / "v2"
    (v2 / "proc/self").mkdir(parents=True)
    (v2 / "proc/self/cgroup").write_text("0::/kubepods/pod1/ctr\n")
    (v2 / "proc/meminfo").write_text("MemTotal:       65536000 kB\nMemFree: 1 kB\n")
    (v2 / "sys/fs/cgroup/kubepods/pod1/ctr").mkdir(parents=True)
    (v2 / "sys/fs/cgroup/kubepods/pod1/cpu.max").write_text("150000 100000\n")
    (v2 / "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max").write_text("max 100000\n")
    (v2 / "sys/fs/cgroup/kubepods/pod1/ctr/memory.max").write_text(f"{3 << 30}\n")
    (v2 / "sys/fs/cgroup/kubepods/pod1/memory.max").write_text("max\n")
    r = host_resources(v2)
    assert (r.cores, r.memory_bytes) == (min(1.5, len(os.sched_getaffinity(0))), 3 << 30), r
    assert "cpu.max" in r.cores_source and "memory.max" in r.memory_source
    # cgroup v1: quota -1 (none) and the "unlimited" huge memory limit leave the host's figures
    v1 = tmp_path / "v1"
    (v1 / "proc/self").mkdir(parents=True)
    (v1 / "proc/self/cgroup").write_text("4:memory:/x\n1:cpu:/\n")
    (v1 / "proc/meminfo").write_text("MemTotal:       8192000 kB\n")
    (v1 / "sys/fs/cgroup/cpu").mkdir(parents=True)
    (v1 / "sys/fs/cgroup/memory").mkdir(parents=True)
    (v1 / "sys/fs/cgroup/cpu/cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "sys/fs/cgroup/cpu/cpu.cfs_period_us").write_text("100000\n")
    (v1 / "sys/fs/cgroup/memory/memory.limit_in_bytes").write_text("9223372036854771712\n")
    r = host_resources(v1)
    assert (r.cores, r.memory_bytes, r.memory_source) == (
        float(len(os.sched_getaffinity(0))), 8192000 * 1024, "/proc/meminfo MemTotal"), r  # fmt: skip
    (v1 / "sys/fs/cgroup/cpu/cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "sys/fs/cgroup/memory/memory.limit_in_bytes").write_text(f"{1 << 30}\n")
    assert (host_resources(v1).cores, host_resources(v1).memory_bytes) == (0.5, 1 << 30)


# -- CPU and memory-to-CPU: a server's asynchronous metrics --------------------------------------------------

ASYNC_METRICS = (
    "CREATE TABLE system.asynchronous_metrics (metric String, value Float64, description String) ENGINE = Memory"
)
ASYNC_METRIC_LOG = (
    "CREATE TABLE system.asynchronous_metric_log (hostname LowCardinality(String), event_date Date, "
    "event_time DateTime, metric LowCardinality(String), value Float64) "
    "ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY (metric, event_date, event_time)"
)


def test_server_cpu_and_memory_sql_on_stand_ins_of_the_servers_tables(engine: EmbeddedAdapter) -> None:
    """The server path's SQL, run for real: the embedded engine has no asynchronous_metrics, so the test
    creates system.asynchronous_metrics and asynchronous_metric_log with the server's columns and fills
    them with values it chose; the checks must then read the server source and compute from them (also in
    the cluster form). Not proven: that a real server's metric names and values are these (see README)."""
    engine.execute(ASYNC_METRICS)
    engine.execute(ASYNC_METRIC_LOG)
    try:
        metrics = {"OSUserTimeNormalized": 0.30, "OSSystemTimeNormalized": 0.05, "OSMemoryTotal": float(16 << 30)}
        metrics |= {f"OSUserTimeCPU{i}": 0.3 for i in range(8)}
        engine.execute(
            "INSERT INTO system.asynchronous_metrics SELECT kv.1, kv.2, '' "
            "FROM (SELECT arrayJoin(arrayZip({k:Array(String)}, {v:Array(Float64)})) AS kv)",
            {"k": list(metrics), "v": list(metrics.values())},
        )
        # the window: 10 samples 30 s apart, user 0.20 + system 0.05 = 25 %; a day old: 99 %, outside it
        engine.execute(
            "INSERT INTO system.asynchronous_metric_log SELECT 'h', toDate(t), t, m, v FROM (SELECT "
            "now() - toIntervalSecond(30 * (number % 10)) - toIntervalDay(intDiv(number, 20)) AS t, "
            "['OSUserTimeNormalized', 'OSSystemTimeNormalized'][1 + intDiv(number % 20, 10)] AS m, "
            "if(number >= 20, 0.99, if(m = 'OSUserTimeNormalized', 0.20, 0.05)) AS v FROM numbers(40))"
        )
        for cluster in (None, "self"):
            health = Health(engine, cluster=cluster)
            health.run()  # the source is picked from the tables the node has
            cpu = health.cpu()
            (host,) = cpu.details["hosts"]
            print(cluster, "server cpu:", cpu.value)
            assert cpu.details["source"] == "server: asynchronous_metrics, asynchronous_metric_log", cpu
            assert host["from"] == "OSUserTimeNormalized + OSSystemTimeNormalized"
            assert (round(host["now_percent"], 6), round(host["average_percent"], 6)) == (35.0, 25.0), cpu
            assert cpu.status == "warn", cpu  # 25 % average > the guide's 20 %; 35 % now < 50 %
            ratio = health.memory_cpu_ratio()
            (mem,) = ratio.details["hosts"]
            assert (mem["cores"], mem["memory_bytes"], ratio.status) == (8, 16 << 30, "warn"), ratio  # 2 GiB/core
        # a container: the cgroup's own CPU and limits win over the host's
        engine.execute(
            "INSERT INTO system.asynchronous_metrics VALUES ('CGroupUserTimeNormalized', 0.55, ''), "
            "('CGroupSystemTimeNormalized', 0.05, ''), ('CGroupMaxCPU', 2, ''), ('CGroupMemoryTotal', {m:Float64}, '')",
            {"m": float(12 << 30)},
        )
        health = Health(engine)
        health.run()
        cpu = health.cpu()
        assert cpu.details["hosts"][0]["from"] == "CGroupUserTimeNormalized + CGroupSystemTimeNormalized"
        assert round(cpu.details["hosts"][0]["now_percent"], 6) == 60.0 and cpu.status == "critical", cpu
        ratio = health.memory_cpu_ratio()
        assert (ratio.details["hosts"][0]["gib_per_core"], ratio.status) == (6.0, "ok"), ratio  # 12 GiB / 2 cores
    finally:
        engine.execute("DROP TABLE IF EXISTS system.asynchronous_metrics SYNC")
        engine.execute("DROP TABLE IF EXISTS system.asynchronous_metric_log SYNC")
    assert Health(engine).cpu().details["source"].startswith("embedded"), "the stand-ins are gone"


# -- every replica --------------------------------------------------------------------------------------------

CHECKS = ("cpu", "memory_cpu_ratio", "insert_rate", "query_duration", "parts", "merges_mutations", "disk",
          "system_logs", "replication")  # fmt: skip


NODE_TABLES = "SELECT name FROM system.tables WHERE database = 'system'"


class _Recording:
    """The real engine, with the SQL of each query kept (to read what a check sent, not to fake answers)."""

    def __init__(self, engine: EmbeddedAdapter) -> None:
        self.engine = engine
        self.spec = engine.spec
        self.sent: list[str] = []

    def query(self, sql: str, params: Any = None, settings: Any = None) -> Any:
        self.sent.append(sql)
        return self.engine.query(sql, params, settings=settings)

    def execute(self, sql: str, params: Any = None, settings: Any = None) -> None:
        self.engine.execute(sql, params, settings=settings)


def _sent_per_check(engine: EmbeddedAdapter, cluster: str | None) -> dict[str, list[str]]:
    recording = _Recording(engine)
    health = Health(recording, cluster=cluster, cpu_sample_seconds=0.05)  # type: ignore[arg-type]
    health.run()
    sent: dict[str, list[str]] = {}

    def record(names: tuple[str, ...]) -> None:
        for name in names:
            recording.sent = []
            getattr(health, name.removesuffix("_server"))()
            # health asks the connected node which system tables it has: the one query not sent to every replica
            sent[name] = [q for q in recording.sent if " FROM " in q and q != NODE_TABLES]

    record(CHECKS)
    engine.execute(ASYNC_METRICS)  # the server path of cpu and memory_cpu_ratio renders its SQL too
    engine.execute(ASYNC_METRIC_LOG)
    try:
        health._tables = None
        record(("cpu_server", "memory_cpu_ratio_server"))
    finally:
        engine.execute("DROP TABLE IF EXISTS system.asynchronous_metrics SYNC")
        engine.execute("DROP TABLE IF EXISTS system.asynchronous_metric_log SYNC")
    return sent


def test_every_check_reads_every_replica_through_one_source(engine: EmbeddedAdapter, database: str) -> None:
    """With a cluster every query of every check reads clusterAllReplicas(cluster, system.<t>) and selects
    hostName(); each parses (formatQuery); without one, the same queries read system.<t>. Then the cluster
    form really runs: the test engine's cluster ``self`` is this engine (see conftest), ``self_twice`` names
    it as two replicas, and the rows of both come back."""
    clustered = _sent_per_check(engine, "self")
    single = _sent_per_check(engine, None)
    for name in (*CHECKS, "cpu_server", "memory_cpu_ratio_server"):
        if name == "memory_cpu_ratio":  # the embedded engine: this process's cores and memory, no table read
            assert clustered[name] == [] and single[name] == []
            continue
        assert clustered[name], name
        for sql in clustered[name]:
            assert "hostName()" in sql, (name, sql)
            sources = re.findall(r"system\.`?[a-z_]+", sql)
            assert sources and len(sources) == sql.count("clusterAllReplicas('self', system."), (name, sql)
            assert engine.query("SELECT formatQuery({q:String})", {"q": sql}).scalar()
        assert all("clusterAllReplicas" not in sql and "hostName()" in sql for sql in single[name]), name
        assert len(single[name]) == len(clustered[name]), name
    # the cluster form, run: a partition of 12 parts, per host
    _small_parts(engine, database, 12)
    config = HealthConfig(parts_warn=10, parts_critical=20)
    me = str(engine.query("SELECT hostName()").scalar())
    once = Health(engine, config, cluster="self").run()
    assert all(c.status != "unknown" for c in once.checks), [c for c in once.checks if c.status == "unknown"]
    top = once.check("parts").details["partitions"][0]
    assert (top["host"], top["database"], top["active_parts"], once.check("parts").status) == (me, database, 12, "warn")
    assert once.check("parts").value.endswith(f"on {me}")
    assert [h["host"] for h in once.check("cpu").details["hosts"]] == [me]
    assert {u["host"] for u in once.check("query_duration").details["users"]} == {me}
    assert {d["host"] for d in once.check("disk").details["disks"]} == {me}
    assert {t["host"] for t in once.check("system_logs").details["tables"]} == {me}
    # two replicas (both this engine, same hostName): both answer, so the host's rows count twice
    twice = Health(engine, config, cluster="self_twice").parts()
    assert (twice.details["partitions"][0]["active_parts"], twice.status) == (24, "critical"), twice
    # a cluster whose replicas cannot be reached: every check that reads them says so, none is silently ok
    unreachable = Health(engine, cluster="unreachable").run()
    for check in unreachable.checks:
        if check.name == "memory_cpu_ratio":
            continue
        assert check.status == "unknown" and "the server said" in check.action, check
        assert check.failed, check
    assert unreachable.status in ("warn", "critical")  # never "ok" when the replicas could not be read


# -- stuck merges and mutations -------------------------------------------------------------------------------


def test_a_long_merge_is_caught_running_and_goes_warn(engine: EmbeddedAdapter, database: str) -> None:
    """A real background merge the test makes slow (three parts written with LZ4, then the column's codec set
    to ZSTD(22), then merges allowed and forced by age) is caught while it runs by a lowered stuck threshold."""
    engine.execute(f"CREATE DATABASE `{database}`")
    table = f"`{database}`.slow_merge"
    force = "min_age_to_force_merge_seconds = 1, min_age_to_force_merge_on_partition_only = 1"
    engine.execute(
        f"CREATE TABLE {table} (x UInt64, s String CODEC(LZ4)) ENGINE = MergeTree ORDER BY x SETTINGS {force}"
    )
    engine.execute(f"SYSTEM STOP MERGES {table}")
    for i in range(3):
        engine.execute(f"INSERT INTO {table} SELECT number, repeat(toString(cityHash64(number, {i})), 4) "
                       f"FROM numbers({i * 100_000}, 100000)")  # fmt: skip
    engine.execute(f"ALTER TABLE {table} MODIFY COLUMN s String CODEC(ZSTD(22))")
    engine.execute(f"SYSTEM START MERGES {table}")
    stuck = Health(engine, HealthConfig(stuck_minutes=0.02))  # 1.2 s
    try:
        deadline = time.monotonic() + 90
        while True:
            check = stuck.merges_mutations()
            ours = [m for m in check.details["merges"] if m["database"] == database]
            if ours or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        default = Health(engine).merges_mutations()
        running = engine.query("SELECT count() FROM system.merges WHERE database = {d:String}", {"d": database})
    finally:
        engine.execute(f"SYSTEM STOP MERGES {table}")  # cancels the merge; the table is dropped after the test
    print("stuck merge:", check.value)
    assert ours, f"no merge of {database} seen running past 1.2 s: {check}"
    assert ours[0]["elapsed_s"] >= 1 and ours[0]["is_mutation"] is False and ours[0]["host"], ours
    assert check.status == "warn" and "system.merges" in check.action, check
    assert "stuck merge" in check.value and f"{database}.slow_merge" in check.value, check
    assert running.scalar() >= 1  # still running when the checks ran
    assert not [m for m in default.details["merges"] if m["database"] == database]  # 60 min: not stuck


def test_a_mutation_that_cannot_run_is_stuck(engine: EmbeddedAdapter, database: str) -> None:
    """Merges stopped: a DELETE mutation cannot run; past a lowered stuck threshold it warns (no failure)."""
    _small_parts(engine, database, 2)
    engine.execute(f"ALTER TABLE `{database}`.small DELETE WHERE x = 3", settings={"mutations_sync": "0"})
    time.sleep(2.5)  # create_time has whole seconds
    check = Health(engine, HealthConfig(stuck_minutes=1 / 60)).merges_mutations()
    ours = [m for m in check.details["mutations"] if m["database"] == database]
    assert ours and not ours[0]["fail_reason"] and check.status == "warn", check
    assert not [m for m in Health(engine).merges_mutations().details["mutations"] if m["database"] == database]
    engine.execute("KILL MUTATION WHERE database = {d:String} SYNC", {"d": database})


def test_the_embedded_default_is_told_what_applies_to_it(tmp_path: Path) -> None:
    """On the embedded default (no log tables), health advised "enable <part_log> in the server config" and
    ``system-tables report`` printed a bare header."""
    script = Path(sys.executable).parent / "opik-store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    url = f"chdb:{tmp_path / 'db'}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), "--url", url, *args], env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    assert run("migrate", "-q").returncode == 0
    health = run("health", "--json", "--exit-zero")
    assert health.returncode == 0, health.stderr
    actions = {c["check"]: c["action"] for c in json.loads(health.stdout)["checks"]}
    assert "the embedded engine keeps no part_log" in actions["insert_rate"], actions
    assert "server config" not in actions["insert_rate"] + actions["query_duration"]
    report = run("system-tables", "report")
    assert report.returncode == 0 and report.stdout.startswith("no log tables"), report.stdout
