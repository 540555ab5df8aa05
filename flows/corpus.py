"""The corpus pass of a curate run: duplicate clusters and boilerplate learned from the drop.

It runs after the cleaning batches have written their parts into the staged snapshot and
before the commit. Its state (the duplicate index, the per-document line counts and the text of
the lines that recur) lives in the snapshot beside the documents, in `corpus/`, so it is
committed (and survives a kill) exactly as the dataset is, and each file loads by itself.

The pass, in steps that each work on one staged part at a time (jobs that run here, in the run's
cleaning processes or on Dask workers) or on the state alone (here):
1. facts: each new row's text hash, MinHash signature and line key hashes
   (docclean.corpus_facts). Rows this run wrote (their `text_sha256` is still null) and rows the
   state does not know; a batch that computed its rows' facts hands them over instead
   (`given_facts`). Rows that left the dataset leave the state.
2. counts: the line counts take the new rows; the lines that now recur in enough documents
   are read from one holder each.
3. boilerplate: when a line becomes boilerplate or stops being one, every document holding it is
   cleaned again, and a new row holding a boilerplate line is cleaned of it, so the dataset
   never depends on the order files arrived in.
4. clusters: the index takes the new and changed signatures (here alone), and only the part
   files holding a row whose columns changed are rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from time import perf_counter
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from docclean.boilerplate import LineCounts, apply_boilerplate, lines_with
from docclean.corpus_facts import (
    FACT_COLUMNS,
    FACTS_SCHEMA,
    PARAMS_KEY,
    base_texts,
    corpus_facts,
    dedup_facts,
    facts_params,
    has_corpus_removals,
)
from docclean.corpus_state import CORPUS_FOLDER, DEDUP_FILE, LINE_TEXTS_FILE, LINES_FILE, read_state
from docclean.dedup import DedupIndex, DedupParams
from docclean.schema import DOCUMENT_SCHEMA, record_from_row
from flows.location import Location
from flows.store import read_part, rewrite_part, write_part

# Columns a re-cleaning by the corpus pass may change.
_CLEAN_COLUMNS = ("text", "placeholders", "removed", "title", "doc_type", "outline", "flags", "char_count")

Job = TypeVar("Job")
Result = TypeVar("Result")
# Runs one function over jobs, each wherever a staged part can be read; results in the jobs' order.
JobRunner = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]


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
    """The corpus state of a committed snapshot; empty for none, or a snapshot without one or with
    one of an older format (every row is then new to the pass)."""
    state = None if snapshot is None else read_state(snapshot.path, snapshot.filesystem)
    return state or (DedupIndex(), LineCounts())


def write_state(staged: Location, index: DedupIndex, counts: LineCounts) -> None:
    folder = staged.child(CORPUS_FOLDER)
    staged.backend.make_folder(folder)
    write_part(index.to_table(), folder.child(DEDUP_FILE))
    lines, texts = counts.to_tables()
    write_part(lines, folder.child(LINES_FILE))
    write_part(texts, folder.child(LINE_TEXTS_FILE))


def run_here(function: Callable[[Job], Result], jobs: Sequence[Job]) -> list[Result]:
    """Each job in this process, one after another."""
    return [function(job) for job in jobs]


def run_in(pool: Executor) -> JobRunner:
    """Each job in one of the run's cleaning processes (flows.batches.cleaning_processes)."""

    def run(function: Callable[[Job], Result], jobs: Sequence[Job]) -> list[Result]:
        return list(pool.map(function, jobs))

    return run


@task(name="corpus-job", cache_policy=NO_CACHE, persist_result=False)
def corpus_task(function: Callable[[Job], Result], job: Job) -> Result:
    return function(job)


def run_on_workers(function: Callable[[Job], Result], jobs: Sequence[Job]) -> list[Result]:
    """Each job a task on the flow's task runner (a Dask cluster's workers), gathered here in order."""
    futures = [corpus_task.submit(function, job) for job in jobs]
    return [future.result() for future in futures]


# --- the jobs: each reads one staged part ----------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Timed:
    value: Any
    seconds: float


def facts_of(job: FactsJob) -> Timed:
    clock = perf_counter()
    facts = corpus_facts(_fact_rows(job.part, job.doc_ids), job.params, job.edge_lines)
    return Timed(facts, perf_counter() - clock)


@dataclass(frozen=True, slots=True)
class LinesJob:
    """The lines `LineCounts.wanted_lines` asks of documents of one staged part: doc_id -> key hashes."""

    part: Location
    wanted: Mapping[str, frozenset[int]]
    edge_lines: int


def lines_of(job: LinesJob) -> dict[str, dict[int, str]]:
    rows = _fact_rows(job.part, list(job.wanted), ("doc_id", "text", "removed"))
    texts, _ = base_texts(rows)
    return {
        doc_id: lines_with(text, job.wanted[doc_id], job.edge_lines)
        for doc_id, text in zip(rows.column("doc_id").to_pylist(), texts, strict=True)
    }


@dataclass(frozen=True, slots=True)
class CleanJob:
    """Documents of one staged part to clean of the corpus `boilerplate` lines (folded keys)."""

    part: Location
    doc_ids: tuple[str, ...]
    boilerplate: frozenset[str]
    params: DedupParams


def clean_of(job: CleanJob) -> Timed:
    """Clean each document of the boilerplate lines; the changed ones' (text_sha256, signature) by doc_id.

    The part file is replaced by one with the changed rows, here, where it is read: the changed
    rows would take gigabytes in the flow's process.
    """
    clock = perf_counter()
    changes: dict[str, dict[str, Any]] = {}
    for row in _rows(job.part, job.doc_ids).to_pylist():
        record = record_from_row(row)
        cleaned = apply_boilerplate(record, job.boilerplate.__contains__)
        if cleaned is not record:
            changes[row["doc_id"]] = _as_row(cleaned)
    _rewrite(job.part, changes)
    signed = {}
    if changes:
        changed = pa.Table.from_pylist(
            [{"doc_id": doc_id, **values} for doc_id, values in changes.items()],
            schema=pa.schema([DOCUMENT_SCHEMA.field(name) for name in ("doc_id", *_CLEAN_COLUMNS)]),
        )
        shas, signatures = dedup_facts(changed, job.params)
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


# --- the pass ---------------------------------------------------------------------------------


def update_corpus(
    staged: Location,
    snapshot: Location | None,
    run: JobRunner = run_here,
    given_facts: Sequence[pa.Table] = (),
) -> CorpusOutcome:
    """Run the corpus pass over the staged snapshot and write its state into it.

    `snapshot` is the committed snapshot the run started from (None for the first run). `run`
    runs the per-part jobs (here, or on workers); the line counts and the index are updated here
    alone. `given_facts` (FACTS_SCHEMA tables) are the facts the batches computed of the rows they
    wrote, used where they match a row's source_path and doc_id and were computed with the
    pass's parameters; the pass computes the others. Rewrites the staged
    part files that hold a changed row; raises what pyarrow raises on unreadable parts (the run
    then abandons its snapshot).
    """
    started = perf_counter()
    index, counts = load_state(snapshot)
    edge_lines = counts.rules.edge_lines
    before = counts.applied
    parts = staged.child("documents").files(".parquet")
    keyed = {part: read_part(part, ["doc_id", "source_path", "text_sha256"]) for part in parts}
    part_of: dict[str, Location] = {}
    path_of: dict[str, str] = {}
    fresh: set[str] = set()
    known = set(counts.doc_ids())
    for part, table in keyed.items():
        for doc_id, path, sha in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True):
            part_of[doc_id], path_of[doc_id] = part, path
            if sha is None or doc_id not in known or doc_id not in index:
                fresh.add(doc_id)
    gone = (known | set(index.assignments())) - part_of.keys()

    # 1. facts
    facts, dedup_seconds = _facts(fresh, part_of, path_of, given_facts, run, index.params, edge_lines)
    signed = {
        doc_id: (sha, signature)
        for doc_id, sha, signature in zip(
            *(facts.column(c).to_pylist() for c in ("doc_id", "text_sha256", "signature")), strict=True
        )
    }
    # 2. counts
    clock = perf_counter()
    counts.remove_documents(gone)
    counts.set_documents(
        facts.column("doc_id").to_pylist(),
        facts.column("line_hashes").to_pylist(),
        facts.column("line_positions").to_pylist(),
    )
    wanted = counts.wanted_lines()
    by_part: dict[Location, dict[str, frozenset[int]]] = {}
    for doc_id, values in wanted.items():
        by_part.setdefault(part_of[doc_id], {})[doc_id] = frozenset(values)
    for found in run(lines_of, [LinesJob(part, docs, edge_lines) for part, docs in by_part.items()]):
        for doc_id, lines in found.items():
            counts.set_lines(doc_id, lines)
    after = counts.applied = counts.boilerplate()
    # 3. boilerplate
    crossed = before ^ after
    corpus_removed = {
        d
        for d, flag in zip(*(facts.column(c).to_pylist() for c in ("doc_id", "corpus_removed")), strict=True)
        if flag
    }
    to_clean = (fresh & (counts.holders(after) | corpus_removed)) | (
        counts.holders(crossed) - fresh if crossed else set()
    )
    boilerplate_seconds = perf_counter() - clock
    clean_jobs = [
        CleanJob(part, ids, after, index.params)
        for part in parts
        if (ids := tuple(sorted(d for d in to_clean if part_of[d] == part)))
    ]
    changed: set[str] = set()
    for result in run(clean_of, clean_jobs):
        signed.update(result.value)
        changed |= result.value.keys()
        boilerplate_seconds += result.seconds
    # 4. clusters
    clock = perf_counter()
    # Added in ingest order (source_path, then doc_id): the earliest member represents its cluster.
    added = [(d, *signed[d]) for d in sorted(fresh | changed, key=lambda d: (path_of[d], d))]
    assigned = index.update(added, removed=gone)
    dedup_seconds += perf_counter() - clock
    updates = {
        doc_id: {
            "text_sha256": assignment.text_sha256,
            "dup_cluster": assignment.dup_cluster,
            "dup_similarity": assignment.dup_similarity,
        }
        for doc_id, assignment in assigned.items()
    }
    # Listed again: a part whose rows lost boilerplate lines was replaced by a new file.
    rewrites = []
    for part in staged.child("documents").files(".parquet"):
        held = {
            d: updates[d] for d in read_part(part, ["doc_id"]).column("doc_id").to_pylist() if d in updates
        }
        if held:
            rewrites.append(RewriteJob(part, held))
    run(rewrite_of, rewrites)
    write_state(staged, index, counts)
    assignments = index.assignments()
    representatives = {a.dup_cluster for a in assignments.values()}
    return CorpusOutcome(
        recleaned=len(changed - fresh),
        rewritten=len(changed | updates.keys()),
        boilerplate_lines=len(after),
        clusters=len(representatives),
        duplicates=len(assignments) - len(representatives),
        seconds=perf_counter() - started,
        boilerplate_seconds=boilerplate_seconds,
        dedup_seconds=dedup_seconds,
    )


def _facts(
    fresh: set[str],
    part_of: Mapping[str, Location],
    path_of: Mapping[str, str],
    given: Sequence[pa.Table],
    run: JobRunner,
    params: DedupParams,
    edge_lines: int,
) -> tuple[pa.Table, float]:
    """The facts of the `fresh` rows: those `given` that fit, the rest computed by jobs."""
    expected = facts_params(params, edge_lines)
    tables = []
    missing = set(fresh)
    for table in given:
        if (table.schema.metadata or {}).get(
            PARAMS_KEY
        ) != expected or table.schema.remove_metadata() != FACTS_SCHEMA.remove_metadata():
            continue
        doc_ids, paths = table.column("doc_id").to_pylist(), table.column("source_path").to_pylist()
        fits = [d in missing and path_of.get(d) == path for d, path in zip(doc_ids, paths, strict=True)]
        tables.append(table.filter(pa.array(fits, pa.bool_())).cast(FACTS_SCHEMA))
        missing -= {d for d, fit in zip(doc_ids, fits, strict=True) if fit}
    jobs = [
        FactsJob(part, ids, params, edge_lines)
        for part in dict.fromkeys(part_of.values())
        if (ids := tuple(sorted(d for d in missing if part_of[d] == part)))
    ]
    results = run(facts_of, jobs)
    tables += [result.value.cast(FACTS_SCHEMA) for result in results]
    return pa.concat_tables(tables) if tables else FACTS_SCHEMA.empty_table(), sum(r.seconds for r in results)


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
