"""Writing Opik's traces and spans: validation, batching, deduplicated retries, streaming.

``BatchWriter`` validates Opik-shaped items (mappings with Opik's field names,
or :class:`TraceRecord`/:class:`SpanRecord`) and writes them with one columnar
INSERT per batch; ``StreamingWriter`` puts a bounded, thread-safe buffer in
front of it. ``Store.writer(...)`` builds one on its own connection. The rules
each keeps are in ``records`` and ``writer``.

May import: ``opik_store.errors``, ``engine``, ``config``, ``schema`` and
``access`` (the ingest profile). Nothing above it: ``store`` builds writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from opik_store.ingest.records import Limits, Problem, ValidationError
from opik_store.ingest.writer import BatchWriter, Counters, PartialWriteError, Rejected, StreamingWriter, WriteResult


@dataclass(frozen=True)
class TraceRecord:
    """A trace as a typed record; fields are the ``traces`` columns a client writes (None = absent)."""

    id: str
    workspace_id: str
    project_id: str
    start_time: datetime | str
    name: str | None = None
    end_time: datetime | str | None = None
    input: Any = None
    output: Any = None
    metadata: Any = None
    tags: list[str] | None = None
    created_at: datetime | str | None = None
    last_updated_at: datetime | str | None = None
    created_by: str | None = None
    last_updated_by: str | None = None
    error_info: Any = None
    thread_id: str | None = None
    visibility_mode: str | None = None
    truncation_threshold: int | None = None
    input_slim: Any = None
    output_slim: Any = None
    ttft: float | None = None
    source: str | None = None
    environment: str | None = None
    is_deleted: bool | None = None


@dataclass(frozen=True)
class SpanRecord:
    """A span as a typed record; fields are the ``spans`` columns a client writes (None = absent)."""

    id: str
    workspace_id: str
    project_id: str
    trace_id: str
    start_time: datetime | str
    parent_span_id: str | None = None
    name: str | None = None
    type: str | None = None
    end_time: datetime | str | None = None
    input: Any = None
    output: Any = None
    metadata: Any = None
    model: str | None = None
    provider: str | None = None
    total_estimated_cost: Decimal | float | str | None = None
    total_estimated_cost_version: str | None = None
    tags: list[str] | None = None
    usage: dict[str, int] | None = None
    created_at: datetime | str | None = None
    last_updated_at: datetime | str | None = None
    created_by: str | None = None
    last_updated_by: str | None = None
    error_info: Any = None
    truncation_threshold: int | None = None
    input_slim: Any = None
    output_slim: Any = None
    ttft: float | None = None
    source: str | None = None
    environment: str | None = None
    is_deleted: bool | None = None


__all__ = [
    "BatchWriter",
    "Counters",
    "Limits",
    "PartialWriteError",
    "Problem",
    "Rejected",
    "SpanRecord",
    "StreamingWriter",
    "TraceRecord",
    "ValidationError",
    "WriteResult",
]
