"""Commit: the new snapshot from the cleaned batches, the rows carried over and the rejects, made current at once.

Nothing is visible until the writer's commit: a run that fails here abandons its staged snapshot
and leaves the dataset as it was (the batches it cleaned stay, for the next run to reuse).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import get_run_logger

from docclean.pipeline import make_doc_id
from docclean.record import Reject
from docclean.schema import DOCUMENT_SCHEMA, rejects_to_table
from flows.batches import CleanedBatch
from flows.cleaning import BatchOutcome
from flows.corpus import CorpusOutcome, run_here, run_in, run_on_workers, update_corpus
from flows.location import Location
from flows.plan import TRANSIENT_REASONS, Plan
from flows.runners import on_dask
from flows.scan import ScanResult
from flows.store import Snapshot, SnapshotWriter, Store, batch_facts, read_part, rewrite_part


@dataclass
class Committed:
    """What the commit wrote besides the documents: this run's rejects and those carried over."""

    rejects: list[Reject]
    kept_rejects: pa.Table
    corpus: CorpusOutcome


def commit(
    store: Store,
    snapshot: Snapshot,
    plan: Plan,
    batches: list[CleanedBatch],
    scan: ScanResult,
    options: dict[str, object],
    now: datetime,
    pool: Executor | None = None,
) -> Committed:
    """Write the next snapshot and make it current.

    `snapshot` is the current one as the plan read it; `options` the cleaning options it was made
    under (recorded with its rejects, see flows.plan.judged_options); `pool` the run's cleaning
    processes, where the corpus pass runs its jobs (flows.batches.CleaningProcesses). Raises
    StoreError when the new snapshot would hold a document twice, or what the store raises; nothing
    is committed then.
    """
    rejects = scan_rejects(scan) + [reject for batch in batches for reject in batch.outcome.rejects]
    plan, rejects = keep_rows_of_unread_files(plan, rejects, snapshot)
    reject_paths = {r.source_path for r in rejects}
    ids = DocIds(set(snapshot.documents.column("doc_id").to_pylist()))
    writer = store.begin()
    try:
        parts = [(b.outcome, writer.adopt_part(b.part)) for b in batches if b.outcome.cleaned]
        written = reassign_clashing_ids(parts, ids)
        writer.carry_documents(plan.drop | reject_paths, reused_rows(store, plan, now, ids))
        kept = snapshot.rejects.filter(
            pc.is_in(
                snapshot.rejects.column("source_path"),
                value_set=pa.array(sorted(set(plan.carried_rejects) - reject_paths), pa.string()),
            )
        )
        writer.set_rejects(pa.concat_tables([kept, rejects_table(rejects, scan, now)]), options)
        corpus = corpus_pass(writer, batches, written, pool, str(options["placeholder_token"]))
        writer.commit()
    except BaseException:
        writer.abandon()
        raise
    return Committed(rejects, kept, corpus)


def keep_rows_of_unread_files(
    plan: Plan, rejects: list[Reject], snapshot: Snapshot
) -> tuple[Plan, list[Reject]]:
    """The plan and the rejects, with the previous row of each file a batch could not read for now
    (a transient reason: plan.TRANSIENT_REASONS) kept instead of its reject.

    A file edited, then deleted or written to again while the run read it, is no reject: its row
    stands, with its doc_id, until a run can read it (the next, since its size or mtime differ
    from the row's), with `source_present` false if the file is gone and true if it is there. A
    file without a row keeps its transient reject, as does one whose row an earlier version left
    twice or sharing its doc_id (it is written once, with an id of its own, by the run that reads it). Returns a new plan; `plan` is left as it is.
    """
    documents = snapshot.documents
    paths = documents.column("source_path").to_pylist()
    twins = {path for path, n in Counter(paths).items() if n > 1}
    rows = {
        path: (present, mtime_ns)
        for path, present, mtime_ns in zip(
            paths,
            documents.column("source_present").to_pylist(),
            documents.column("source_mtime_ns").to_pylist(),
            strict=True,
        )
        if path not in twins
    }
    unread = {
        r.source_path: r
        for r in rejects
        if r.reason in TRANSIENT_REASONS and r.source_path in rows and r.source_path not in plan.fresh_ids
    }
    if not unread:
        return plan, rejects
    for reject in unread.values():
        get_run_logger().warning(
            "Not read now: %s; its previous row is kept until a run can read it.", reject.detail
        )
    # Rows that say otherwise than the file's presence: marked missing, or carried over as present.
    gone = sorted(p for p, r in unread.items() if r.reason == "vanished" and rows[p][0])
    back = sorted(p for p, r in unread.items() if r.reason != "vanished" and not rows[p][0])
    kept = replace(
        plan,
        drop=(plan.drop - unread.keys()) | {*gone, *back},
        mark_missing=[*plan.mark_missing, *gone],
        reuse=[*plan.reuse, *((path, path, rows[path][1], True) for path in back)],
    )
    return kept, [r for r in rejects if r.source_path not in unread]


def scan_rejects(scan: ScanResult) -> list[Reject]:
    """The rejects of what the scan found but could not hand over (links, special files, unreadable folders)."""
    return [Reject(p.rel_path, None, p.reason, f"{p.rel_path}: {p.detail}") for p in scan.problems]


def rejects_table(rejects: list[Reject], scan: ScanResult, now: datetime) -> pa.Table:
    """This run's rejects as rows, with the mtime and size the scan saw of each file."""
    stats = {e.rel_path: (e.mtime_ns, e.size) for e in scan.files}
    stats.update({p.rel_path: (p.mtime_ns, p.size) for p in scan.problems})
    return rejects_to_table(
        rejects,
        [stats.get(r.source_path, (None, None))[0] for r in rejects],
        [stats.get(r.source_path, (None, None))[1] for r in rejects],
        now,
    )


def corpus_pass(
    writer: SnapshotWriter,
    batches: list[CleanedBatch],
    written: list[Location],
    pool: Executor | None,
    token: str,
) -> CorpusOutcome:
    """The corpus pass (#19): across documents, after the batches, before the commit, with the corpus
    facts the batches computed (`written`: their part files in the staged snapshot); its jobs run on
    the Dask workers or the run's cleaning processes when there are some (flows.corpus). `token`:
    the run's placeholder token, which the rows hold."""
    run = run_on_workers if on_dask() else run_in(pool) if pool is not None else run_here
    outcome = update_corpus(writer.staged, writer.current, run, batch_facts_of(batches), written, token)
    get_run_logger().info(
        "Corpus: %d documents cleaned again for boilerplate learned in this run, %d rows updated.",
        outcome.recleaned,
        outcome.rewritten,
    )
    return outcome


def batch_facts_of(batches: list[CleanedBatch]) -> list[pa.Table]:
    """The corpus facts the batches kept beside their parts; a batch whose facts cannot be read (one an
    older docclean finished, or cut short by a crash) has none, and the pass computes them."""
    tables = []
    for batch in batches:
        if batch.outcome.cleaned:
            facts = batch_facts(batch.part)
            with contextlib.suppress(OSError, pa.ArrowException):
                tables.append(pq.read_table(facts.path, filesystem=facts.filesystem))
    return tables


class DocIds:
    """Hands out doc_ids that no other row of the snapshot being written holds.

    A new document's id is make_doc_id(path, sha256); a rename keeps its id, so a later file
    with the old path and content would get the same one. Then the id is derived again with a
    counter appended to the hash, the first free one: still the same for the same history.
    """

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken

    def claim(self, path: str, doc_id: str, sha256: str) -> str:
        """`doc_id` if no row holds it yet, else a new one for (path, sha256); the result is taken."""
        candidate, n = doc_id, 0
        while candidate in self.taken:
            n += 1
            candidate = make_doc_id(path, f"{sha256}\0{n}")
        self.taken.add(candidate)
        return candidate

    def mint(self, path: str, sha256: str) -> str:
        return self.claim(path, make_doc_id(path, sha256), sha256)


def reassign_clashing_ids(outcomes: list[tuple[BatchOutcome, Location]], ids: DocIds) -> list[Location]:
    """Give a new id to each document a batch made whose id another row holds, in its part file;
    the batches' part files then (a part with a new id is a new file)."""
    written = []
    for outcome, part in outcomes:
        changes: dict[str, str] = {}
        for path, doc_id, sha in outcome.minted:
            claimed = ids.claim(path, doc_id, sha)
            if claimed != doc_id:
                changes[path] = claimed
        if changes:
            table = read_part(part)
            new_ids = [
                changes.get(path, doc_id)
                for path, doc_id in zip(
                    table.column("source_path").to_pylist(), table.column("doc_id").to_pylist(), strict=True
                )
            ]
            index = table.schema.get_field_index("doc_id")
            fixed = table.set_column(index, table.schema.field(index), pa.array(new_ids, pa.string()))
            # The staged part may share its file with the batch's kept part, which a resumed run must find as cleaned.
            part = rewrite_part(part, fixed, "ids")
        written.append(part)
    return written


def reused_rows(store: Store, plan: Plan, now: datetime, ids: DocIds) -> Iterator[pa.Table]:
    """Rows carried over without cleaning (copies, renames, touched files and missing files), one
    table per part file of the current snapshot that holds some: a whole dataset's rows at once
    would take gigabytes when every file is touched."""
    wanted = {src for src, *_ in plan.reuse} | set(plan.mark_missing)
    current = store.current()
    if not wanted or current is None:
        return
    reuses: dict[str, list[tuple[str, int, bool]]] = {}
    for source, new_path, mtime_ns, keep_id in plan.reuse:
        reuses.setdefault(source, []).append((new_path, mtime_ns, keep_id))
    missing = set(plan.mark_missing)
    for part in current.child("documents").files(".parquet"):
        if not wanted:
            return
        table = store.read_current_part(part, filters=pc.field("source_path").isin(sorted(wanted)))
        out: list[dict[str, object]] = []
        for row in table.to_pylist():
            path = str(row["source_path"])
            if path not in wanted:
                continue
            wanted.discard(path)  # the first of twins, as the plan took it
            for new_path, mtime_ns, keep_id in reuses.get(path, ()):
                reused = dict(row)
                reused.update(
                    source_path=new_path, source_mtime_ns=mtime_ns, ingested_at=now, source_present=True
                )
                if new_path in plan.doc_ids:
                    reused["doc_id"] = plan.doc_ids[new_path]
                elif not keep_id:
                    reused["doc_id"] = ids.mint(new_path, str(row["source_sha256"]))
                out.append(reused)
            if path in missing:
                row["source_present"] = False
                if path in plan.fresh_ids:
                    row["doc_id"] = ids.mint(path, str(row["source_sha256"]))
                out.append(row)
        if out:
            yield pa.Table.from_pylist(out, schema=DOCUMENT_SCHEMA)
