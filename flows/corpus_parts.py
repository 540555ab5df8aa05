"""The corpus pass's work on one staged part: jobs that run wherever the part can be read (the flow's
process, the run's cleaning processes, a Dask worker). No Prefect here: a cleaning process loads
only what the work needs. flows.corpus runs the pass and decides what each job does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from docclean.boilerplate import apply_boilerplate, lines_with
from docclean.corpus_facts import FACT_COLUMNS, base_texts, corpus_facts, dedup_facts, has_corpus_removals
from docclean.dedup import DedupParams
from docclean.schema import DOCUMENT_SCHEMA, record_from_row
from flows.location import Location
from flows.store import read_part, rewrite_part

# Columns a re-cleaning by the corpus pass may change.
_CLEAN_COLUMNS = ("text", "placeholders", "removed", "title", "doc_type", "outline", "flags", "char_count")


def _rows(part: Location, doc_ids: Sequence[str], columns: list[str] | None = None) -> pa.Table:
    """The rows of `part` whose doc_id is one of `doc_ids` (every column, or `columns`)."""
    wanted = pa.array(sorted(doc_ids), pa.string())
    table = read_part(part, columns)
    return table.filter(pc.is_in(table.column("doc_id"), value_set=wanted))


def _fact_rows(part: Location, doc_ids: Sequence[str], columns: Sequence[str] = FACT_COLUMNS) -> pa.Table:
    """The rows' `columns` (with `removed`), or every column when a row has corpus removals (base_texts)."""
    table = _rows(part, doc_ids, list(columns))
    return _rows(part, doc_ids) if has_corpus_removals(table) else table


@dataclass(frozen=True, slots=True)
class FactsJob:
    """The rows of one staged part whose facts the pass computes (docclean.corpus_facts)."""

    part: Location
    doc_ids: tuple[str, ...]
    params: DedupParams
    edge_lines: int
    token: str  # the run's placeholder token (--mask-token), which line keys fold


@dataclass(frozen=True, slots=True)
class Timed:
    value: Any
    seconds: float


def facts_of(job: FactsJob) -> Timed:
    clock = perf_counter()
    facts = corpus_facts(_fact_rows(job.part, job.doc_ids), job.params, job.edge_lines, job.token)
    return Timed(facts, perf_counter() - clock)


@dataclass(frozen=True, slots=True)
class LinesJob:
    """The lines `LineCounts.wanted_lines` asks of documents of one staged part: doc_id -> key hashes."""

    part: Location
    wanted: Mapping[str, frozenset[int]]
    edge_lines: int
    token: str


def lines_of(job: LinesJob) -> dict[str, dict[int, str]]:
    rows = _fact_rows(job.part, list(job.wanted), ("doc_id", "text", "removed"))
    texts, _ = base_texts(rows, rows.column("text").to_pylist(), job.token)
    return {
        doc_id: lines_with(text, job.wanted[doc_id], job.edge_lines, job.token)
        for doc_id, text in zip(rows.column("doc_id").to_pylist(), texts, strict=True)
    }


@dataclass(frozen=True, slots=True)
class CleanJob:
    """Documents of one staged part to clean of the corpus `boilerplate` lines (folded keys)."""

    part: Location
    doc_ids: tuple[str, ...]
    boilerplate: frozenset[str]
    params: DedupParams
    token: str


def clean_of(job: CleanJob) -> Timed:
    """Clean each document of the boilerplate lines; the changed ones' (text_sha256, signature) by doc_id.

    The part file is replaced by one with the changed rows, here, where it is read: the changed
    rows would take gigabytes in the flow's process.
    """
    clock = perf_counter()
    changes: dict[str, dict[str, Any]] = {}
    for row in _rows(job.part, job.doc_ids).to_pylist():
        record = record_from_row(row)
        cleaned = apply_boilerplate(record, job.boilerplate.__contains__, job.token)
        if cleaned is not record:
            changes[row["doc_id"]] = _as_row(cleaned)
    _rewrite(job.part, changes)
    signed = {}
    if changes:
        placeholders = pa.array(
            [values["placeholders"] for values in changes.values()],
            DOCUMENT_SCHEMA.field("placeholders").type,
        )
        texts = [values["text"] for values in changes.values()]
        shas, signatures = dedup_facts(texts, placeholders, job.params)
        signed = dict(zip(changes, zip(shas, signatures, strict=True), strict=True))
    return Timed(signed, perf_counter() - clock)


def _as_row(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _CLEAN_COLUMNS:
        value = getattr(record, name)
        if name in ("placeholders", "removed", "outline"):
            value = [{f: getattr(item, f) for f in item.__slots__} for item in value]
        elif name == "flags":
            value = list(value)
        out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class RewriteJob:
    """A staged part to replace by one with `updates` (doc_id -> column -> value) applied to its rows."""

    part: Location
    updates: Mapping[str, Mapping[str, Any]]


def rewrite_of(job: RewriteJob) -> None:
    _rewrite(job.part, job.updates)


def _rewrite(part: Location, updates: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace `part` by a new part file with the rows of `updates` updated (nothing when it holds none)."""
    if not updates:
        return
    table = read_part(part)
    doc_ids = table.column("doc_id").to_pylist()
    if updates.keys().isdisjoint(doc_ids):
        return
    # Column by column, and only the columns an update names: a whole part as Python rows
    # costs seconds and hundreds of megabytes.
    for name in sorted({name for doc_id in doc_ids for name in updates.get(doc_id, ())}):
        values = [
            updates[doc_id][name] if name in updates.get(doc_id, ()) else value
            for doc_id, value in zip(doc_ids, table.column(name).to_pylist(), strict=True)
        ]
        index = table.schema.get_field_index(name)
        field = DOCUMENT_SCHEMA.field(name)
        table = table.set_column(index, field, pa.array(values, field.type))
    rewrite_part(part, table, "corpus")
