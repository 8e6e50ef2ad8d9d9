"""Every documented example runs: each ``opik-store`` line of every command's --help and of the README.

Where the examples come from:

* ``--help`` of every command: each help line, indented under the text, that
  starts with ``opik-store`` (optionally after ``NAME=value`` words);
* README.md: each line of a ```sh block that runs ``opik-store`` (only the
  part after the last ``&&``; ``.venv/bin/opik-store`` counts as
  ``opik-store``); its ```toml blocks are the files the examples read: the
  one with ``[retention]`` becomes ``opik-store.toml``, ``prod.toml`` and
  ``etc/opik-store.toml``, the one with ``[users.`` becomes ``access.toml``.

How they run (tests/example_runner.py, one process, one fresh working folder
whose default embedded database ``./.opik-store`` they share), with these
documented substitutions and nothing else:

* the working folder's engine stands in for a production server: it starts
  with a config (``engine.xml``) that turns on the system logs a server has
  (query_log, trace_log, part_log) and loads a ``users.xml`` granting access
  management, with ``users.d/opik-store.xml`` rendered from the README's
  access file (an XML-managed server, README "Query limits").
  OPIK_STORE_URL names it: ``chdb:.opik-store?config-file=engine.xml``, the
  same ``./.opik-store`` folder as the default;
* the host ``ch`` in the examples does not exist here: a URL naming it
  (``clickhouse://...@ch:9000/``) is replaced by that same engine URL; a
  ``migrate`` of a cluster on ``ch`` gets ``--sql`` (a replicated cluster
  cannot run on the embedded engine: it renders the same statements);
* absolute paths under ``/etc/`` become the same paths under ``./etc/``;
* ``--migrations-dir migrations`` finds a copy of the shipped migrations
  folder (the README's revision example is run from a project checkout);
* the user passwords the access example reads from the environment are set.

Every example must exit 0.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from opik_store.access.model import load_access
from opik_store.access.users_xml import render_users_xml
from opik_store.cli import main
from opik_store.resources import data_dir

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RUNNER = Path(__file__).resolve().parent / "example_runner.py"
ACCESS_ENV = {"OPIK_BACKEND_PASSWORD": "example-only", "OPIK_INGEST_PASSWORD": "example-only-too"}
_COMMAND = re.compile(r"^(?:[A-Z_]+=\S+\s+)*opik-store(?:\s|$)")


def help_examples() -> list[str]:
    """Example lines of every command's --help, in command order."""
    lines: list[str] = []

    def walk(command: click.Command) -> None:
        for raw in inspect.cleandoc(command.help or "").splitlines():
            if raw.startswith("  ") and _COMMAND.match(raw.strip()):
                lines.append(raw.strip())
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                walk(sub)

    walk(main)
    return lines


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def readme_examples() -> list[str]:
    """``opik-store`` invocations in the README's shell blocks."""
    out = []
    for block in _blocks(README.read_text(encoding="utf-8"), "sh"):
        for line in block.splitlines():
            last = line.split("&&")[-1].strip().replace(".venv/bin/opik-store", "opik-store")
            if _COMMAND.match(last):
                out.append(last)
    return out


def readme_files() -> dict[str, str]:
    """The README's TOML blocks, as the files the examples name."""
    files: dict[str, str] = {}
    for block in _blocks(README.read_text(encoding="utf-8"), "toml"):
        if "[retention]" in block:
            for name in ("opik-store.toml", "prod.toml", "etc/opik-store.toml"):
                files[name] = block
        elif "[users." in block:
            files["access.toml"] = block
    return files


ENGINE_URL = "chdb:.opik-store?config-file=engine.xml"

ENGINE_XML = """<clickhouse>
  <users_config>{users}</users_config>
  <query_log><database>system</database><table>query_log</table></query_log>
  <trace_log><database>system</database><table>trace_log</table></trace_log>
  <part_log><database>system</database><table>part_log</table></part_log>
</clickhouse>
"""

USERS_XML = """<clickhouse>
  <profiles><default></default></profiles>
  <quotas><default></default></quotas>
  <users>
    <default><password></password><networks><ip>::/0</ip></networks><profile>default</profile>
      <quota>default</quota><access_management>1</access_management></default>
  </users>
</clickhouse>
"""


def substitute(line: str) -> str:
    if "@ch:9000" in line and "--cluster" in line and re.search(r"\smigrate(\s|$)", line) and "--sql" not in line:
        line += " --sql"
    line = re.sub(r"clickhouse://\S*@ch:9000/\S*", ENGINE_URL, line)
    return re.sub(r"(?<=[\s=])/etc/", "etc/", line)


def test_examples_are_found() -> None:
    helps, readme = help_examples(), readme_examples()
    assert len(helps) >= 40, helps
    assert "opik-store migrate --sql --cluster opik > schema.sql    # no server needed" in helps
    assert "opik-store --config prod.toml jobs list" in helps
    assert "opik-store migrate" in readme and any("revision -m" in line for line in readme)
    assert set(readme_files()) == {"opik-store.toml", "prod.toml", "etc/opik-store.toml", "access.toml"}


def test_every_documented_example_runs(tmp_path: Path) -> None:
    work = tmp_path / "work"
    for folder in ("etc/clickhouse-server/config.d", "etc/clickhouse-server/users.d", "users.d"):
        (work / folder).mkdir(parents=True)
    for name, text in readme_files().items():
        (work / name).write_text(text, encoding="utf-8")
    (work / "engine.xml").write_text(ENGINE_XML.format(users=work / "users.xml"))
    (work / "users.xml").write_text(USERS_XML)
    (work / "users.d" / "opik-store.xml").write_text(
        render_users_xml(load_access(work / "access.toml", environ=ACCESS_ENV), "opik")
    )
    shutil.copytree(data_dir("migrations"), work / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    lines = [substitute(line) for line in help_examples() + readme_examples()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPIK_STORE_")}
    env.update(ACCESS_ENV, OPIK_STORE_URL=ENGINE_URL)
    results_file = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(work), str(results_file)],
        input=json.dumps(lines),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(results_file.read_text())
    assert [r["line"] for r in results] == lines
    failed = [r for r in results if r["exit_code"] != 0 or r["problem"]]
    report = "\n\n".join(f"{r['line']}\n  exit {r['exit_code']} {r['problem']}\n{r['output']}" for r in failed)
    assert not failed, report


@pytest.mark.parametrize("line", ["opik-store --url clickhouse://admin:pw@ch:9000/ status", "X=1 opik-store a /etc/x"])
def test_substitutions_are_the_documented_ones(line: str) -> None:
    out = substitute(line)
    assert "@ch:9000" not in out and " /etc/" not in out
