"""Property-based: a secret never reaches stdout, stderr, ``--json``, a log record or an exception text.

Hypothesis generates user names, passwords and hosts of every shape (``@``, ``/``, ``:``, spaces, newlines,
``%``, non-ASCII, control characters), puts them into URLs valid and invalid (the password raw, or
percent-encoded as a well-formed URL needs it), into ``OPIK_STORE_PASSWORD``, and into an access file's
``password_env``; each command must not print the password in any form it could take (as given, encoded,
decoded). A valid URL points at a closed local port (connection refused at once; retries off).

Every password carries a marker (``Zq`` ... ``Qz``) so that "not in the output" cannot pass by accident of a
short secret, and the tokens checked are the password as given and its pieces of 4+ characters between
separators a URL parser might cut at.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opik_store.cli import main
from opik_store.errors import OpikStoreError
from opik_store.store import Store

# every character class that broke masking before: separators, whitespace, control characters, non-ASCII
_ALPHABET = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs", "Cc"), exclude_characters="\x00")
_PASSWORDS = st.builds(lambda s: f"Zq{s}Qz", st.text(_ALPHABET, min_size=4, max_size=24))
_USERS = st.one_of(st.just("default"), st.text(_ALPHABET, min_size=0, max_size=12))
_HOSTS = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "", "bad host", "h@st", "127.0.0.1:99999", "x/y"])
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _forms(password: str) -> set[str]:
    """Every spelling of ``password`` that would count as printing it: as given, percent-encoded and decoded,
    and its runs of 4+ characters between the characters a URL parser cuts at."""
    forms = {password, quote(password, safe=""), unquote(password)}
    forms |= {p for p in re.split(r"[@/:?#\s%\[\]]", password) if len(p) >= 4 and ("Zq" in p or "Qz" in p)}
    return {f for f in forms if len(f) >= 4}


@contextmanager
def _captured_logs() -> Iterator[io.StringIO]:
    """Every log record of every logger, formatted with its arguments, while the block runs."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _assert_hidden(password: str, *texts: str) -> None:
    for text in texts:
        for form in _forms(password):
            assert form not in text, (form, text[:400])


def _url(user: str, password: str, host: str, form: str) -> str:
    """The password in the user information (raw or percent-encoded), or in the query string (ClickHouse's
    HTTP form ``?user=...&password=...``, encoded: a raw ``&`` there would end the value)."""
    if form == "encoded":
        return f"clickhouse://{quote(user, safe='')}:{quote(password, safe='')}@{host or '127.0.0.1'}:1/opik"
    if form == "query":
        return f"clickhouse://{host or '127.0.0.1'}:1/?user={quote(user, safe='')}&password={quote(password, safe='')}"
    return f"clickhouse://{user}:{password}@{host}:1/opik"


_FORMS = st.sampled_from(["raw", "encoded", "query"])


@pytest.fixture(autouse=True)
def _fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPIK_STORE_RETRIES", "1")  # a refused connection fails at once


@_SETTINGS
@given(user=_USERS, password=_PASSWORDS, host=_HOSTS, form=_FORMS, as_json=st.booleans())
def test_no_command_prints_a_url_password(user: str, password: str, host: str, form: str, as_json: bool) -> None:
    url = _url(user, password, host, form)
    with _captured_logs() as logs:
        result = CliRunner().invoke(main, ["--url", url, "status", *(["--json"] if as_json else [])])
    assert result.exit_code != 0, "nothing listens on port 1: the command cannot have succeeded"
    assert "Traceback" not in result.output
    _assert_hidden(password, result.stdout, result.stderr, logs.getvalue(), repr(result.exception or ""))


@_SETTINGS
@given(user=_USERS, password=_PASSWORDS, host=_HOSTS, form=_FORMS)
def test_no_exception_text_holds_a_url_password(user: str, password: str, host: str, form: str) -> None:
    url = _url(user, password, host, form)
    with _captured_logs() as logs:
        try:
            with Store.from_url(url) as store:
                store.status()
        except OpikStoreError as exc:
            _assert_hidden(password, str(exc), repr(exc), repr(exc.args), logs.getvalue())
        else:
            pytest.fail("nothing listens on port 1: the store cannot have opened")


@_SETTINGS
@given(password=_PASSWORDS, as_json=st.booleans())
def test_no_command_prints_the_password_from_the_environment(password: str, as_json: bool) -> None:
    env = {"OPIK_STORE_PASSWORD": password, "OPIK_STORE_URL": "clickhouse://default@127.0.0.1:1/opik"}
    with _captured_logs() as logs:
        result = CliRunner().invoke(main, ["status", *(["--json"] if as_json else [])], env=env)
    assert result.exit_code != 0
    _assert_hidden(password, result.stdout, result.stderr, logs.getvalue(), repr(result.exception or ""))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_PASSWORDS, as_json=st.booleans(), key=st.sampled_from(["password_env", "password_file"]))
def test_a_password_put_in_password_env_is_never_printed(
    tmp_path: Path, engine_url: str, value: str, as_json: bool, key: str
) -> None:
    """An access file whose password_env (or password_file) holds a password, not a variable name (a path):
    ``profiles check`` refuses it (no such variable, no such file) without repeating the value."""
    import json

    access = tmp_path / "access.toml"
    access.write_text(f"[users.svc]\n{key} = {json.dumps(value)}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    with _captured_logs() as logs:
        result = CliRunner().invoke(
            main,
            ["--url", engine_url, "profiles", "check", "--profiles", str(access), *(["--json"] if as_json else [])],
            env=env,
        )
    assert result.exit_code != 0, result.output
    _assert_hidden(value, result.stdout, result.stderr, logs.getvalue(), repr(result.exception or ""))
