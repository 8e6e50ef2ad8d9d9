"""The README's backend-API example runs as written against a fresh test database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opik_store.engine.embedded import EmbeddedAdapter

README = Path(__file__).resolve().parent.parent / "README.md"


def example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Backend API: writing and reading traces and spans", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section shows exactly one example"
    return str(blocks[0])


def test_the_readme_api_example_runs(
    engine_url: str, engine: EmbeddedAdapter, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPIK_STORE_URL", engine_url)
    monkeypatch.setenv("OPIK_STORE_DATABASE", database)
    exec(compile(example(), "README.md", "exec"), {})
    spans = engine.query(f"SELECT type, usage FROM `{database}`.spans ORDER BY toString(type)").rows
    assert spans == [("llm", {"prompt_tokens": 12, "completion_tokens": 40}), ("tool", {})]
