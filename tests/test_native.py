"""The native-protocol adapter against a real server (see native_server.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from native_server import TEST_PASSWORD, free_port, local_server, server_binary

from opik_store import ConfigError, ServerError, Store, UnsupportedServerError
from opik_store.cli import main
from opik_store.engine.native import NativeAdapter
from opik_store.engine.server import parse_version
from opik_store.engine.urls import parse_url


@pytest.fixture(scope="module")
def native_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import os

    if os.environ.get("OPIK_STORE_TEST_URL"):
        yield os.environ["OPIK_STORE_TEST_URL"]
        return
    if not server_binary():
        pytest.skip("no ClickHouse server: set OPIK_STORE_TEST_URL or install clickhouse-server (.ci/run does)")
    with local_server(tmp_path_factory.mktemp("clickhouse-server")) as url:
        yield url


@pytest.fixture
def native(native_url: str) -> Iterator[NativeAdapter]:
    adapter = NativeAdapter(parse_url(native_url))
    yield adapter
    adapter.close()


pytestmark = pytest.mark.server


def test_query_returns_named_rows(native: NativeAdapter) -> None:
    rows = native.query("SELECT number AS n, toString(number) AS s FROM system.numbers LIMIT 3")
    assert rows.columns == ("n", "s")
    assert rows.rows == [(0, "0"), (1, "1"), (2, "2")]
    when = native.query("SELECT toDateTime('2026-01-02 03:04:05', 'UTC')").scalar()
    assert when.tzinfo is not None and when.isoformat().startswith("2026-01-02T03:04:05")


def test_settings_travel_with_each_query(native: NativeAdapter) -> None:
    sql = "SELECT value FROM system.settings WHERE name = 'max_threads'"
    assert native.query(sql, settings={"max_threads": "3"}).scalar() == "3"
    assert native.query(sql).scalar() != "3", "a per-query setting must not stick to the connection"


def test_server_errors_carry_clickhouse_codes(native: NativeAdapter) -> None:
    with pytest.raises(ServerError) as info:
        native.query("SELECT * FROM no_such_database_x.t")
    assert info.value.code == 81  # UNKNOWN_DATABASE
    assert "Stack trace" not in str(info.value)
    with pytest.raises(ServerError) as info:
        native.query("SELEC 1")
    assert info.value.code == 62  # SYNTAX_ERROR


HOSTILE = [
    "it's; `x` \\ {y}",
    "{v:String}",
    "') , ('injected",
    "%(v)s %s %% \\' --",
    "line\nbreak\ttab\0nul /* c */",
    "\u00e9\u4e2d\U0001f600",
]


def test_bound_parameters_stay_data(native: NativeAdapter) -> None:
    """Hostile values come back byte for byte, whichever side binds them (an 18.16 server binds client-side)."""
    version = parse_version(native.query("SELECT version()").scalar())
    assert native.binds_client_side == (version[:2] < (22, 8)), "the adapter misjudged who binds parameters"
    for value in HOSTILE:
        assert native.query("SELECT {v:String}", {"v": value}).scalar() == value, value
        assert native.query("SELECT '{v:String}', {v:String}", {"v": value}).rows == [("{v:String}", value)]
    typed = native.query(
        "SELECT {n:UInt32} + 1, {u:UUID}, {a:Array(String)}, {z:Nullable(UInt64)}, {t:DateTime('UTC')}",
        {"n": 41, "u": "6b1e4c1a-0000-4000-8000-000000000001", "a": ["a'b", "{c:String}"], "z": None,
         "t": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
    ).rows[0]  # fmt: skip
    assert typed[0] == 42 and str(typed[1]) == "6b1e4c1a-0000-4000-8000-000000000001"
    assert typed[2] == ["a'b", "{c:String}"] and typed[3] is None
    assert typed[4] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(ConfigError if native.binds_client_side else ServerError):
        native.query("SELECT {missing:String}", {"other": "x"})


def test_wrong_password_is_reported_without_it(native_url: str) -> None:
    wrong = native_url.replace(TEST_PASSWORD, "not-the-Pa55word")
    with pytest.raises(ServerError) as info:
        NativeAdapter(parse_url(wrong))
    assert "not-the-Pa55word" not in str(info.value)
    assert info.value.code in {192, 193, 516}  # UNKNOWN_USER / WRONG_PASSWORD / AUTHENTICATION_FAILED


def test_store_refuses_an_old_server(native_url: str) -> None:
    version = NativeAdapter(parse_url(native_url)).query("SELECT version()").scalar()
    if parse_version(version)[:2] >= (25, 3):
        pytest.skip(f"server {version} is new enough; the refusal is checked against an old server only")
    with Store.from_url(native_url, database="opik") as store, pytest.raises(UnsupportedServerError, match=r"25\.3"):
        store.status()


def test_cli_against_old_server_exits_2_and_hides_password(native_url: str) -> None:
    version = NativeAdapter(parse_url(native_url)).query("SELECT version()").scalar()
    if parse_version(version)[:2] >= (25, 3):
        pytest.skip(f"server {version} is new enough for this refusal test")
    result = CliRunner().invoke(main, ["--url", native_url, "migrate"])
    assert result.exit_code == 2
    assert "too old" in result.output and TEST_PASSWORD not in result.output


def test_unreachable_server_error_is_masked(tmp_path: Path) -> None:
    """Needs no server: nothing listens on the port."""
    url = f"clickhouse://alice:{TEST_PASSWORD}@127.0.0.1:{free_port()}/"
    with pytest.raises(ServerError) as info:
        NativeAdapter(parse_url(url), connect_timeout=2)
    assert TEST_PASSWORD not in str(info.value)
    assert "alice:***@127.0.0.1" in str(info.value)
    result = CliRunner().invoke(main, ["--url", url, "status"])
    assert result.exit_code == 1 and TEST_PASSWORD not in result.output and "***" in result.output


def test_profiles_apply_then_plan_is_empty_on_a_real_server(native_url: str, tmp_path: Path) -> None:
    """SQL access management round trip: apply the file, then plan shows nothing left to do; clean up."""
    version = NativeAdapter(parse_url(native_url)).query("SELECT version()").scalar()
    if parse_version(version)[:2] < (25, 3):
        pytest.skip(f"server {version} predates SQL access management as opik-store uses it (needs 25.3+); "
                    "set OPIK_STORE_TEST_URL to a current server to run this")  # fmt: skip
    access = tmp_path / "access.toml"
    access.write_text('[users.opik_test_user]\npassword_sha256 = "' + "ab" * 32 + '"\nroles = ["opik_backend"]\n')
    base = ["--url", native_url, "--database", "opik_store_test", "profiles"]
    try:
        applied = CliRunner().invoke(main, [*base, "apply", "--profiles", str(access)])
        assert applied.exit_code == 0, applied.output
        plan = CliRunner().invoke(main, [*base, "plan", "--profiles", str(access), "--json"])
        assert plan.exit_code == 0 and json.loads(plan.stdout) == [], plan.output
    finally:
        adapter = NativeAdapter(parse_url(native_url))
        for sql in ("DROP USER IF EXISTS opik_test_user", "DROP QUOTA IF EXISTS opik_analyst",
                    "DROP ROLE IF EXISTS opik_ingest, opik_backend, opik_analyst",
                    "DROP SETTINGS PROFILE IF EXISTS opik_ingest, opik_read, opik_analyst"):  # fmt: skip
            adapter.execute(sql)


def test_columnar_insert_and_streamed_read(native: NativeAdapter) -> None:
    """insert_arrow: one native columnar INSERT; stream: the result in blocks (protocol level, any version)."""
    import pyarrow as pa

    native.execute("CREATE DATABASE IF NOT EXISTS opik_store_native_test")
    native.execute("DROP TABLE IF EXISTS opik_store_native_test.cols")
    native.execute(
        "CREATE TABLE opik_store_native_test.cols (id String, n UInt64, tags Array(String), ttft Float64, "
        "kind Enum8('unknown' = 0, 'llm' = 3)) ENGINE = MergeTree ORDER BY id"
    )
    try:
        data = pa.table(
            {
                "id": pa.array([f"id-{i:05d}" for i in range(20_000)], pa.string()),
                "n": pa.array(range(20_000), pa.uint64()),
                "tags": pa.array([["a", "b'c"] if i % 2 else [] for i in range(20_000)], pa.list_(pa.string())),
                "ttft": pa.array([float("nan") if i % 3 else 1.5 for i in range(20_000)], pa.float64()),
                "kind": pa.array(["llm" if i % 2 else "unknown" for i in range(20_000)], pa.string()),
            }
        )
        native.insert_arrow("`opik_store_native_test`.`cols`", data.column_names, data, {"insert_deduplicate": "1"})
        rows = native.query("SELECT id, n, tags, kind FROM opik_store_native_test.cols WHERE n IN (0, 1) ORDER BY n")
        assert rows.rows == [("id-00000", 0, [], "unknown"), ("id-00001", 1, ["a", "b'c"], "llm")]
        blocks = list(native.stream("SELECT n FROM opik_store_native_test.cols ORDER BY n"))
        assert sum(len(b.rows) for b in blocks) == 20_000 and len(blocks) >= 2
        assert all(len(b.rows) <= 10_000 for b in blocks) and blocks[0].columns == ("n",)
    finally:
        native.execute("DROP DATABASE IF EXISTS opik_store_native_test")


WITHOUT_CHDB = """
import importlib.abc, json, sys

class _NoChdb(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "chdb" or name.startswith("chdb."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: a lean install)")
        return None

sys.meta_path.insert(0, _NoChdb())
from click.testing import CliRunner
from opik_store.cli import main
from opik_store.engine.connect import open_adapter
from opik_store.engine.urls import parse_url

url = sys.argv[1]
native = open_adapter(parse_url(url))
version = native.query("SELECT version()").scalar()
native.close()
embedded = CliRunner().invoke(main, ["--url", "chdb:" + sys.argv[2], "migrate"])
server = CliRunner().invoke(main, ["--url", url, "status"])
offline = CliRunner().invoke(main, ["--url", url, "--cluster", "opik", "migrate", "--sql"])
print(json.dumps({"version": version, "chdb_loaded": "chdb" in sys.modules,
                  "embedded": [embedded.exit_code, embedded.output], "server": [server.exit_code, server.output],
                  "offline": [offline.exit_code, "ReplicatedReplacingMergeTree" in offline.output]}))
"""


def test_a_lean_install_works_against_a_server_without_the_embedded_engine(native_url: str, tmp_path: Path) -> None:
    """chdb is an extra: with it impossible to import, the package talks to a server and says what is missing."""
    out = subprocess.run([sys.executable, "-c", WITHOUT_CHDB, native_url, str(tmp_path / "db")],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["chdb_loaded"] is False and got["version"]
    assert got["embedded"][0] == 2 and "install 'opik-store[embedded]'" in got["embedded"][1]
    assert got["offline"] == [0, True], "rendering needs no engine"
    if parse_version(got["version"])[:2] >= (25, 3):
        assert got["server"][0] == 0, got["server"]
    else:  # Debian's 18.16: reached over the native protocol, and refused for its age, as with chdb installed
        assert got["server"][0] == 2 and "too old" in got["server"][1], got["server"]
