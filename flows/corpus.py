"""The corpus pass of a curate run: duplicate clusters and boilerplate learned from the drop.

It runs after the cleaning batches have written their parts into the staged snapshot and
before the commit. Its state (the duplicate index, the per-document line counts and the text of
the lines that recur) lives in the snapshot beside the documents, in `corpus/`, so it is
committed (and survives a kill) exactly as the dataset is, and each file loads by itself.

The pass, in steps that each work on one staged part at a time (the jobs of flows.corpus_parts, run
here, in the run's cleaning processes or on Dask workers) or on the state alone (here):
1. facts: each new row's text hash, MinHash signature and line key hashes
   (docclean.corpus_facts). Rows this run's batches wrote and rows the state does not know; a
   batch that computed its rows' facts hands them over instead (`given_facts`). Rows that left
   the dataset leave the state.
2. counts: the line counts take the new rows; the lines that now recur in enough documents
   are read from one holder each.
3. boilerplate: when a line becomes boilerplate or stops being one, every document holding it is
   cleaned again, and a new row holding a boilerplate line is cleaned of it, so the dataset
   never depends on the order files arrived in.
4. clusters: the index takes the new and changed signatures (here alone: the new ones in a thread
   while steps 2 and 3 run, those cleaned again in step 3 after), and only the part files holding
   a row whose corpus columns differ from the index's are rewritten (a batch writes its rows as
   documents alone, which most stay).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from time import perf_counter
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from docclean.boilerplate import LineCounts
from docclean.corpus_facts import (
    FACTS_SCHEMA,
    PARAMS_KEY,
    facts_params,
)
from docclean.corpus_state import CORPUS_FOLDER, DEDUP_FILE, LINE_TEXTS_FILE, LINES_FILE, read_state
from docclean.dedup import DedupIndex, DedupParams
from docclean.placeholders import DEFAULT_TOKEN
from flows.corpus_parts import (
    CleanJob,
    FactsJob,
    LinesJob,
    RewriteJob,
    clean_of,
    facts_of,
    lines_of,
    rewrite_of,
)
from flows.location import Location
from flows.processes import released
from flows.store import read_part, write_part

# The documents columns the pass keeps equal to its state (docclean.dedup.Assignment).
_CORPUS_COLUMNS = ("text_sha256", "dup_cluster", "dup_similarity")

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
    """Each job in one of the run's cleaning processes (flows.batches.CleaningProcesses)."""

    def run(function: Callable[[Job], Result], jobs: Sequence[Job]) -> list[Result]:
        return list(pool.map(function, jobs))

    return run


@task(name="corpus-job", cache_policy=NO_CACHE, persist_result=False)
def corpus_task(function: Callable[[Job], Result], job: Job) -> Result:
    return released(function, job)


def run_on_workers(function: Callable[[Job], Result], jobs: Sequence[Job]) -> list[Result]:
    """Each job a task on the flow's task runner (a Dask cluster's workers), gathered here in order."""
    futures = [corpus_task.submit(function, job) for job in jobs]
    return [future.result() for future in futures]


# --- the pass ---------------------------------------------------------------------------------


def update_corpus(
    staged: Location,
    snapshot: Location | None,
    run: JobRunner = run_here,
    given_facts: Sequence[pa.Table] = (),
    written: Collection[Location] = (),
    token: str = DEFAULT_TOKEN,
) -> CorpusOutcome:
    """Run the corpus pass over the staged snapshot and write its state into it.

    `snapshot` is the committed snapshot the run started from (None for the first run). `run`
    runs the per-part jobs (here, or on workers); the line counts and the index are updated here
    alone. `given_facts` (FACTS_SCHEMA tables) are the facts the batches computed of the rows they
    wrote, used where they match a row's source_path and doc_id and were computed with the
    pass's parameters; the pass computes the others. `written` are the staged part files this
    run's batches wrote: each of their rows is new to the pass (an edited file keeps its doc_id), as is
    a row whose `text_sha256` is not the state's for its doc_id (a file that became a copy of another).
    `token` is the placeholder token the rows were cleaned with (`--mask-token`).
    Rewrites the staged part files that hold a row whose corpus columns differ from the state's
    (a batch writes its rows as documents alone: docclean.corpus_facts.alone); raises what
    pyarrow raises on unreadable parts (the run then abandons its snapshot).
    """
    started = perf_counter()
    index, counts = load_state(snapshot)
    edge_lines = counts.rules.edge_lines
    before = counts.applied
    parts = staged.child("documents").files(".parquet")
    keyed = {part: read_part(part, ["doc_id", "source_path", *_CORPUS_COLUMNS]) for part in parts}
    new_parts = {part.path for part in written}
    part_of: dict[str, Location] = {}
    path_of: dict[str, str] = {}
    stored: dict[str, tuple[str | None, str | None, float | None]] = {}
    fresh: set[str] = set()
    known = set(counts.doc_ids())
    indexed = {doc_id: assignment.text_sha256 for doc_id, assignment in index.assignments().items()}
    for part, table in keyed.items():
        new = part.path in new_parts
        for doc_id, path, *columns in zip(
            *(table.column(c).to_pylist() for c in table.column_names), strict=True
        ):
            part_of[doc_id], path_of[doc_id] = part, path
            stored[doc_id] = tuple(columns)
            # A carried row whose text is not the one the state holds for its doc_id (a file that
            # became a copy of another keeps its id and takes the other row's text) is new as well.
            if new or columns[0] is None or doc_id not in known or indexed.get(doc_id) != columns[0]:
                fresh.add(doc_id)
    gone = (known | set(index.assignments())) - part_of.keys()

    # 1. facts
    facts, dedup_seconds = _facts(fresh, part_of, path_of, given_facts, run, index.params, edge_lines, token)
    signed = {
        doc_id: (sha, signature)
        for doc_id, sha, signature in zip(
            *(facts.column(c).to_pylist() for c in ("doc_id", "text_sha256", "signature")), strict=True
        )
    }
    # 4. clusters, begun: the new rows are clustered while the line counts are taken and the lines
    # read; rows cleaned again for boilerplate are clustered anew after (an index updated twice
    # equals one updated once: docclean.dedup.DedupIndex.update).
    with ThreadPoolExecutor(1, thread_name_prefix="corpus-clusters") as clustering:
        clustered = clustering.submit(_cluster, index, _in_ingest_order(fresh, signed, path_of), gone)
        # 2. counts
        clock = perf_counter()
        counts.remove_documents(gone)
        hashes, positions = (
            facts.column(name).combine_chunks() for name in ("line_hashes", "line_positions")
        )
        counts.set_documents(
            facts.column("doc_id").to_pylist(),
            hashes.flatten().to_numpy(),
            positions.flatten().to_numpy(),
            pc.list_value_length(hashes).to_numpy(),
        )
        wanted = counts.wanted_lines()
        by_part: dict[Location, dict[str, frozenset[int]]] = {}
        for doc_id, values in wanted.items():
            by_part.setdefault(part_of[doc_id], {})[doc_id] = frozenset(values)
        for found in run(
            lines_of, [LinesJob(part, docs, edge_lines, token) for part, docs in by_part.items()]
        ):
            for doc_id, lines in found.items():
                counts.set_lines(doc_id, lines)
        after = counts.applied = counts.boilerplate()
        # 3. boilerplate
        crossed = before ^ after
        corpus_removed = {
            d
            for d, flag in zip(
                *(facts.column(c).to_pylist() for c in ("doc_id", "corpus_removed")), strict=True
            )
            if flag
        }
        to_clean = (fresh & (counts.holders(after) | corpus_removed)) | (
            counts.holders(crossed) - fresh if crossed else set()
        )
        boilerplate_seconds = perf_counter() - clock
        clean_jobs = [
            CleanJob(part, ids, after, index.params, token)
            for part in parts
            if (ids := tuple(sorted(d for d in to_clean if part_of[d] == part)))
        ]
        changed: set[str] = set()
        for result in run(clean_of, clean_jobs):
            signed.update(result.value)
            changed |= result.value.keys()
            boilerplate_seconds += result.seconds
        # 4. clusters, finished
        dedup_seconds += clustered.result()
    dedup_seconds += _cluster(index, _in_ingest_order(changed, signed, path_of), ())
    assignments = index.assignments()
    updates = {}
    for doc_id, assignment in assignments.items():
        columns = (assignment.text_sha256, assignment.dup_cluster, _float32(assignment.dup_similarity))
        if doc_id in changed or stored[doc_id] != columns:
            updates[doc_id] = dict(zip(_CORPUS_COLUMNS, columns, strict=True))
    # Listed again: a part whose rows lost boilerplate lines was replaced by a new file.
    rewrites = []
    for part in staged.child("documents").files(".parquet"):
        held = {
            d: updates[d] for d in read_part(part, ["doc_id"]).column("doc_id").to_pylist() if d in updates
        }
        if held:
            rewrites.append(RewriteJob(part, held))
    # The state is final: it is written while the parts are rewritten (elsewhere, with a pool or
    # Dask; here the two share the interpreter and gain nothing, and lose nothing either).
    with ThreadPoolExecutor(1, thread_name_prefix="corpus-state") as writer:
        state = writer.submit(write_state, staged, index, counts)
        run(rewrite_of, rewrites)
        state.result()
    representatives = {a.dup_cluster for a in assignments.values()}
    return CorpusOutcome(
        recleaned=len(changed - fresh),
        rewritten=len(updates),  # the re-cleaned rows among them
        boilerplate_lines=len(after),
        clusters=len(representatives),
        duplicates=len(assignments) - len(representatives),
        seconds=perf_counter() - started,
        boilerplate_seconds=boilerplate_seconds,
        dedup_seconds=dedup_seconds,
    )


def _in_ingest_order(
    doc_ids: Collection[str], signed: Mapping[str, tuple[str, bytes]], path_of: Mapping[str, str]
) -> list[tuple[str, str, bytes]]:
    """(doc_id, text_sha256, signature) of `doc_ids` in ingest order (source_path, then doc_id):
    the order the index takes them in, whose earliest member represents its cluster."""
    return [(d, *signed[d]) for d in sorted(doc_ids, key=lambda d: (path_of[d], d))]


def _cluster(index: DedupIndex, added: list[tuple[str, str, bytes]], gone: Collection[str]) -> float:
    """Update the index with `added` and without `gone`; the seconds it took (none for nothing to do)."""
    if not added and not gone:
        return 0.0
    clock = perf_counter()
    index.update(added, removed=gone)
    return perf_counter() - clock


def _float32(value: float) -> float:
    """`value` as the float32 column `dup_similarity` holds it, read back."""
    return float(np.float32(value))


def _facts(
    fresh: set[str],
    part_of: Mapping[str, Location],
    path_of: Mapping[str, str],
    given: Sequence[pa.Table],
    run: JobRunner,
    params: DedupParams,
    edge_lines: int,
    token: str,
) -> tuple[pa.Table, float]:
    """The facts of the `fresh` rows: those `given` that fit, the rest computed by jobs (their line
    keys folding `token`)."""
    expected = facts_params(params, edge_lines)
    tables = []
    missing = set(fresh)
    for table in given:
        if (table.schema.metadata or {}).get(
            PARAMS_KEY
        ) != expected or table.schema.names != FACTS_SCHEMA.names:
            continue
        doc_ids, paths = table.column("doc_id").to_pylist(), table.column("source_path").to_pylist()
        fits = [d in missing and path_of.get(d) == path for d, path in zip(doc_ids, paths, strict=True)]
        tables.append(table.filter(pa.array(fits, pa.bool_())).cast(FACTS_SCHEMA))
        missing -= {d for d, fit in zip(doc_ids, fits, strict=True) if fit}
    jobs = [
        FactsJob(part, ids, params, edge_lines, token)
        for part in dict.fromkeys(part_of.values())
        if (ids := tuple(sorted(d for d in missing if part_of[d] == part)))
    ]
    results = run(facts_of, jobs)
    tables += [result.value.cast(FACTS_SCHEMA) for result in results]
    return pa.concat_tables(tables) if tables else FACTS_SCHEMA.empty_table(), sum(r.seconds for r in results)
