"""The code stays ruff-clean, ruff-formatted and mypy-clean (strict), and the wheel carries its data."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opik_store.resources import data_dir

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: install the test extras (pip install '.[test]')")
    return path


def test_ruff_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "opik_store", "tests", "migrations", "bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", "opik_store", "tests", "migrations", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    result = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shipped_data_is_found() -> None:
    """Installed wheels read ddl/ and migrations/ from opik_store/_data; checkouts from the top level."""
    assert (data_dir("ddl") / "traces.sql").is_file()
    assert (data_dir("migrations") / "script.py.mako").is_file()
    assert (data_dir("migrations") / "versions" / "0001_create_trace_storage.py").is_file()
    assert (data_dir("ddl") / "spans.sql").read_text() == (ROOT / "ddl" / "spans.sql").read_text()
