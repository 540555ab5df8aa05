"""The corpus pass of a curate run: duplicate clusters and boilerplate learned from the drop.

It runs after the cleaning batches have written their parts into the staged snapshot and
before the commit. Its state (the duplicate index and the per-document line counts) lives in the
snapshot beside the documents, `corpus/dedup.parquet` and `corpus/lines.parquet`, so it is
committed (and survives a kill) exactly as the dataset is, and each file loads by itself.

The pass: rows this run wrote (their `text_sha256` is still null) and rows the state does not
know are counted; rows that left the dataset are removed from the state. When a line becomes
boilerplate or stops being one, every document holding it is cleaned again here, so the dataset
never depends on the order files arrived in. Then signatures are computed for the rows whose text
is new (sign_documents: on the Dask workers when the run is on Dask, each a staged part's share),
the index is updated here alone, and only the part files holding a row whose columns changed are
rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from docclean.boilerplate import LineCounts, apply_boilerplate, base_text
from docclean.corpus_state import CORPUS_FOLDER, DEDUP_FILE, LINES_FILE, read_state
from docclean.dedup import DedupIndex, DedupParams, signature, text_sha256
from docclean.record import NormalizeEdit, OutlineEntry, Placeholder, Record, Removal, Segment
from docclean.schema import DOCUMENT_SCHEMA
from flows.location import Location
from flows.store import read_part, rewrite_part, write_part

# Columns a re-cleaning by the corpus pass may change.
_CLEAN_COLUMNS = ("text", "placeholders", "removed", "title", "doc_type", "outline", "flags", "char_count")


@dataclass
class CorpusOutcome:
    """What the corpus pass changed, for the run summary."""

    recleaned: int = 0
    rewritten: int = 0
    boilerplate_lines: int = 0
    clusters: int = 0
    duplicates: int = 0
    # Wall-clock seconds of the whole pass, and of its two computations within it (counting and
    # removing boilerplate lines; signatures and clustering); the rest is reading and rewriting parts.
    seconds: float = 0.0
    boilerplate_seconds: float = 0.0
    dedup_seconds: float = 0.0


def load_state(snapshot: Location | None) -> tuple[DedupIndex, LineCounts]:
    """The corpus state of a committed snapshot; empty for none or a snapshot without one."""
    state = None if snapshot is None else read_state(snapshot.path, snapshot.filesystem)
    return state or (DedupIndex(), LineCounts())


def write_state(staged: Location, index: DedupIndex, counts: LineCounts) -> None:
    folder = staged.child(CORPUS_FOLDER)
    staged.backend.make_folder(folder)
    write_part(index.to_table(), folder.child(DEDUP_FILE))
    write_part(counts.to_table(), folder.child(LINES_FILE))


def record_of(row: Mapping[str, Any]) -> Record:
    """A Record rebuilt from a documents row (its normalized text is rebuilt on demand)."""
    return Record(
        doc_id=row["doc_id"],
        source_path=row["source_path"],
        source_sha256=row["source_sha256"],
        source_bytes=row["source_bytes"],
        encoding=row["encoding"],
        encoding_confidence=row["encoding_confidence"],
        encoding_method=row["encoding_method"],
        encoding_segments=tuple(Segment(**s) for s in row["encoding_segments"]),
        repair=row["repair"],
        source_script=row["source_script"],
        title=row["title"],
        doc_type=row["doc_type"],
        text=row["text"],
        placeholders=tuple(Placeholder(**p) for p in row["placeholders"]),
        removed=tuple(Removal(**r) for r in row["removed"]),
        normalizations=tuple(NormalizeEdit(**n) for n in row["normalizations"]),
        outline=tuple(OutlineEntry(**o) for o in row["outline"]),
        flags=tuple(row["flags"]),
        char_count=row["char_count"],
        pipeline_version=row["pipeline_version"],
        rules_version=row["rules_version"],
        source_format=row["source_format"],
        page_count=row["page_count"],
    )


def _as_row(record: Record) -> dict[str, Any]:
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
class SignJob:
    """Documents of one staged part to clean of `boilerplate` lines, hash and sign (see sign_documents).

    `always` are those to sign whatever their hash (new to the index); the others are signed only
    when their text changed.
    """

    part: Location
    doc_ids: tuple[str, ...]
    always: frozenset[str]
    boilerplate: frozenset[str]
    params: DedupParams


@dataclass(frozen=True, slots=True)
class Signed:
    """One document as the corpus pass leaves it: the columns its boilerplate changed, its hash, its signature."""

    doc_id: str
    changed: bool  # its boilerplate lines were removed, in the part file
    text_sha256: str
    signature: bytes | None  # None when its text and hash are unchanged and the index knows it


@dataclass(frozen=True, slots=True)
class SignedPart:
    documents: tuple[Signed, ...]
    boilerplate_seconds: float
    dedup_seconds: float


def sign_documents(job: SignJob) -> SignedPart:
    """The per-document work of the corpus pass, run wherever the staged part can be read (a Dask worker).

    Each document is cleaned of the corpus boilerplate lines (the part file is replaced by one
    with those rows changed), then its clean text is hashed and, when the index needs it, signed
    (MinHash, docclean.dedup). Raises what pyarrow raises on an unreadable part.
    """
    wanted = pa.array(sorted(job.doc_ids), pa.string())
    table = read_part(job.part).filter(pc.field("doc_id").isin(wanted))
    boilerplate_seconds = dedup_seconds = 0.0
    out = []
    changes: dict[str, dict[str, Any]] = {}
    for row in table.to_pylist():
        record = record_of(row)
        clock = perf_counter()
        cleaned = apply_boilerplate(record, job.boilerplate.__contains__)
        if cleaned is not record:
            changes[row["doc_id"]] = _as_row(cleaned)
        boilerplate_seconds += perf_counter() - clock
        clock = perf_counter()
        sha = text_sha256(cleaned.text)
        needed = row["doc_id"] in job.always or sha != row["text_sha256"]
        signed = signature(cleaned.text, cleaned.placeholders, job.params) if needed else None
        dedup_seconds += perf_counter() - clock
        out.append(Signed(row["doc_id"], cleaned is not record, sha, signed))
    del table
    # Written here, where the part is read: the changed rows would take gigabytes in the flow's process.
    _rewrite([job.part], changes)
    return SignedPart(tuple(out), boilerplate_seconds, dedup_seconds)


def sign_here(jobs: list[SignJob]) -> list[SignedPart]:
    """Sign in this process, one part after another: the default runner's threads share one GIL."""
    return [sign_documents(job) for job in jobs]


@task(name="sign-documents", cache_policy=NO_CACHE, persist_result=False)
def sign_task(job: SignJob) -> SignedPart:
    return sign_documents(job)


def sign_on_workers(jobs: list[SignJob]) -> list[SignedPart]:
    """Each job a task on the flow's task runner (a Dask cluster's workers), gathered here in order."""
    futures = [sign_task.submit(job) for job in jobs]
    return [future.result() for future in futures]


def update_corpus(
    staged: Location,
    snapshot: Location | None,
    sign: Callable[[list[SignJob]], list[SignedPart]] = sign_here,
) -> CorpusOutcome:
    """Run the corpus pass over the staged snapshot and write its state into it.

    `snapshot` is the committed snapshot the run started from (None for the first run). `sign`
    runs the per-document work (sign_documents) on every job, here or on workers; the line
    counts and the index are updated here alone. Rewrites the staged part files that hold a
    changed row; raises what pyarrow raises on unreadable parts (the run then abandons its snapshot).
    """
    started = perf_counter()
    index, counts = load_state(snapshot)
    parts = staged.child("documents").files(".parquet")
    keyed = {part: read_part(part, ["doc_id", "source_path", "text_sha256"]).to_pylist() for part in parts}
    rows_of = {row["doc_id"]: row for rows in keyed.values() for row in rows}
    fresh = {doc_id for doc_id, row in rows_of.items() if row["text_sha256"] is None}
    fresh |= rows_of.keys() - set(counts.doc_ids())
    gone = set(counts.doc_ids()) - rows_of.keys()
    before = counts.boilerplate()
    for doc_id in gone:
        counts.remove_document(doc_id)
    clock = perf_counter()
    # Part by part: the rows of a whole dataset, as Python objects, take gigabytes.
    for part in parts:
        for row in _rows_of(part, fresh):
            counts.set_document(row["doc_id"], base_text(record_of(row)))
    after = frozenset(counts.boilerplate())
    crossed = before ^ after
    to_clean = fresh | (counts.holders(crossed) if crossed else set())
    boilerplate_seconds = perf_counter() - clock
    always = frozenset(fresh | {doc_id for doc_id in to_clean if doc_id not in index})
    jobs = [
        SignJob(part, ids, always & set(ids), after, index.params)
        for part, rows in keyed.items()
        if (ids := tuple(row["doc_id"] for row in rows if row["doc_id"] in to_clean))
    ]
    signed = {}
    dedup_seconds = 0.0
    for result in sign(jobs):
        signed.update((document.doc_id, document) for document in result.documents)
        boilerplate_seconds += result.boilerplate_seconds
        dedup_seconds += result.dedup_seconds
    changed = {doc_id for doc_id in to_clean if signed[doc_id].changed}
    recleaned = len(changed - fresh)
    updates: dict[str, dict[str, Any]] = {}
    # Added in ingest order (source_path, then doc_id): the earliest member represents its cluster.
    added = [
        (doc_id, signed[doc_id].text_sha256, signed[doc_id].signature)
        for doc_id in sorted(to_clean, key=lambda d: (rows_of[d]["source_path"], d))
        if signed[doc_id].signature is not None
    ]
    clock = perf_counter()
    assigned = index.update(added, removed=gone)
    dedup_seconds += perf_counter() - clock
    for doc_id, assignment in assigned.items():
        updates[doc_id] = {
            "text_sha256": assignment.text_sha256,
            "dup_cluster": assignment.dup_cluster,
            "dup_similarity": assignment.dup_similarity,
        }
    # Listed again: a part whose rows lost boilerplate lines was replaced by a new file.
    _rewrite(staged.child("documents").files(".parquet"), updates)
    write_state(staged, index, counts)
    assignments = index.assignments()
    representatives = {a.dup_cluster for a in assignments.values()}
    return CorpusOutcome(
        recleaned=recleaned,
        rewritten=len(changed | updates.keys()),
        boilerplate_lines=len(after),
        clusters=len(representatives),
        duplicates=len(assignments) - len(representatives),
        seconds=perf_counter() - started,
        boilerplate_seconds=boilerplate_seconds,
        dedup_seconds=dedup_seconds,
    )


def _rows_of(part: Location, doc_ids: set[str]) -> list[dict[str, Any]]:
    """The rows of `part` whose doc_id is one of `doc_ids`, as Python values."""
    ids = read_part(part, ["doc_id"]).column("doc_id")
    mask = pc.is_in(ids, value_set=pa.array(sorted(doc_ids), pa.string()))
    if not pc.any(mask).as_py():
        return []
    return read_part(part).filter(mask).to_pylist()


def _rewrite(parts: list[Location], updates: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace each part holding an updated row by a new part file with the rows updated."""
    if not updates:
        return
    wanted = pa.array(sorted(updates), pa.string())
    for part in parts:
        ids = read_part(part, ["doc_id"]).column("doc_id")
        if not pc.any(pc.is_in(ids, value_set=wanted)).as_py():
            continue
        table = read_part(part)
        doc_ids = ids.to_pylist()
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
