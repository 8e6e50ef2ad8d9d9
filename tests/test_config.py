"""URLs, environment defaults, setting names and version rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from opik_store import ConfigError, Store, StoreConfig, UnsupportedServerError
from opik_store.engine.embedded import EmbeddedAdapter
from opik_store.engine.server import check_version
from opik_store.engine.urls import mask_url, parse_url


def test_native_url_parsing_and_masking() -> None:
    spec = parse_url("clickhouse://opik:p%40ss:w0rd@ch.example:9440/analytics?secure=true")
    assert (spec.kind, spec.host, spec.port, spec.user, spec.secure) == ("native", "ch.example", 9440, "opik", True)
    assert spec.password == "p@ss:w0rd" and spec.database == "analytics"
    assert "p@ss" not in spec.display and "p@ss" not in repr(spec) and "***" in spec.display
    assert spec.scrub("login p@ss:w0rd failed") == "login *** failed"
    assert parse_url("clickhouse://h").port == 9000
    assert parse_url("clickhouses://h").port == 9440


def test_embedded_url_forms(tmp_path: Path) -> None:
    assert parse_url(None, cwd=tmp_path).path == str(tmp_path / ".opik-store")
    assert parse_url("chdb:data/x", cwd=tmp_path).path == str(tmp_path / "data/x")
    assert parse_url("chdb://./data/x", cwd=tmp_path).path == str(tmp_path / "data/x")
    assert parse_url("chdb:///abs/dir").path == "/abs/dir"
    assert parse_url("chdb://:memory:").path == ":memory:"
    assert parse_url("chdb:///abs?config-file=/c.xml").options == (("config-file", "/c.xml"),)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://u:hunter2@h/", "unsupported URL scheme"),
        ("clickhouse://u:hunter2@h:9000/?compress=1", "unknown URL parameter"),
        ("clickhouse://u:hunter2@h:notaport/", "invalid URL"),
        ("clickhouse://u:hunter2@:9000/", "no host"),
        ("nonsense", "invalid URL"),
    ],
)
def test_bad_urls_are_refused_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_url(url)
    assert "hunter2" not in str(info.value)


def test_mask_url() -> None:
    assert mask_url("clickhouse://u:secret@h:9000/") == "clickhouse://u:***@h:9000/"
    assert mask_url("chdb:///x") == "chdb:///x"


def test_environment_defaults_and_precedence(tmp_path: Path) -> None:
    env = {
        "OPIK_STORE_URL": "clickhouse://u@h:9000/fromurl",
        "OPIK_STORE_CLUSTER": "prod",
        "OPIK_STORE_DDL_SETTINGS": "distributed_ddl_task_timeout=600, alter_sync=1",
    }
    config = StoreConfig.from_env(environ=env)
    assert config.database == "fromurl" and config.topology.cluster == "prod"
    assert config.ddl_settings == {"alter_sync": "1", "mutations_sync": "2", "distributed_ddl_task_timeout": "600"}
    config = StoreConfig.from_env(database="explicit", settings={"alter_sync": "2"}, environ=env)
    assert config.database == "explicit" and config.ddl_settings["alter_sync"] == "2"
    single = StoreConfig.from_env(url="chdb:///x", environ={})
    assert single.database == "opik" and not single.topology.is_cluster
    assert single.ddl_settings == {"alter_sync": "1", "mutations_sync": "1"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"settings": {"bad name": "1"}}, "invalid setting name"),
        ({"database": "a\nb"}, "control characters"),
        ({"replica_path": "/clickhouse/tables/{shard}/x"}, "must contain"),
        ({"cluster": "c", "settings": {"distributed_ddl_task_timeout": "0"}}, "asynchronous"),
        ({"settings": {"distributed_ddl_output_mode": "never_throw"}}, "hides a host's failure"),
        ({"settings": {"distributed_ddl_output_mode": "'null_status_on_timeout'"}}, "hides a host's failure"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StoreConfig.from_env(url="chdb:///x", environ={}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("zero", ["0", "00", "0.00", "-0", "+0", " 0 ", "'0'", "0e3", "-0.0"])
def test_every_spelling_of_a_zero_ddl_timeout_is_refused(zero: str, engine: EmbeddedAdapter) -> None:
    """The server reads each of these as 0 (checked here on the engine); only "0" itself used to be refused."""
    value = engine.query(
        f"SELECT getSetting('distributed_ddl_task_timeout') SETTINGS distributed_ddl_task_timeout = {zero}"
    ).scalar()
    assert int(value) == 0, f"the engine reads {zero!r} as {value}"
    with pytest.raises(ConfigError, match="asynchronous"):
        StoreConfig.from_env(url="chdb:///x", environ={}, settings={"distributed_ddl_task_timeout": zero})
    assert StoreConfig.from_env(url="chdb:///x", environ={}, settings={"distributed_ddl_task_timeout": "-1"})


@pytest.mark.parametrize("fraction", ["0.4", "2.5", "'0.9'"])
def test_a_fractional_ddl_timeout_is_refused(fraction: str) -> None:
    """0.4 passed: the embedded engine reads it as 0 (asynchronous DDL), a server refuses it."""
    with pytest.raises(ConfigError, match="whole number of seconds"):
        StoreConfig.from_env(url="chdb:///x", environ={}, settings={"distributed_ddl_task_timeout": fraction})


def test_unknown_setting_is_refused_by_the_server_before_any_change(engine_url: str, database: str) -> None:
    from opik_store.engine.embedded import EmbeddedAdapter

    store = Store.from_url(engine_url, database=database, settings={"alter_synk": "2"})
    with store, pytest.raises(ConfigError, match="alter_synk"):
        store.migrate()
    probe = EmbeddedAdapter(parse_url(engine_url))
    try:
        assert (
            probe.query("SELECT count() FROM system.databases WHERE name = {d:String}", {"d": database}).scalar() == 0
        )
    finally:
        probe.close()


@pytest.mark.parametrize(
    ("version", "ok"), [("25.3.1.1", True), ("26.9.2.1", True), ("25.2.9", False), ("18.16.1", False)]
)
def test_minimum_version(version: str, ok: bool) -> None:
    if ok:
        check_version(version)
    else:
        with pytest.raises(UnsupportedServerError, match=r"needs 25\.3"):
            check_version(version)


@pytest.mark.parametrize(
    "url",
    [
        "clickhouse://127.0.0.1:9000/?user=opik&password=Hunter2secret",
        "clickhouse://127.0.0.1:9000/?user=opik&password=Hunter2secret&nope=1",
        "chdb:/tmp/opik-store-never?password=Hunter2secret",
        "clickhouse://u:Hunter2secret@h:9000/?access_token=Hunter2secret",
    ],
)
def test_a_password_in_the_query_string_is_masked(url: str) -> None:
    """ClickHouse's HTTP form (?user=...&password=...) was printed whole in the "unknown URL parameter" error."""
    from click.testing import CliRunner

    from opik_store.cli import main

    assert "Hunter2secret" not in mask_url(url)
    result = CliRunner().invoke(main, ["--url", url, "status", "--json"], env={"OPIK_STORE_RETRIES": "1"})
    assert "Hunter2secret" not in result.output, result.output
    if url.startswith("chdb:"):
        assert "Hunter2secret" not in parse_url(url).display
