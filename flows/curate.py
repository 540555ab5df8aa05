"""The curate flow: scan raw/, clean what is new or changed in batches, commit a snapshot, report.

Idempotency lives in docclean's own state (the current snapshot's paths, sizes, mtimes and
content hashes), not in Prefect's task cache, which keys on arguments and would return stale
results for a file edited in place.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from docclean import DEFAULT_MAX_FILE_BYTES, PIPELINE_VERSION
from docclean.errors import RejectedInput
from docclean.pipeline import CleanConfig, Cleaner, make_doc_id
from docclean.record import Record, Reject
from docclean.report import dataset_report_markdown
from docclean.rules import load_rules
from docclean.schema import DOCUMENT_SCHEMA, records_to_table, rejects_to_table
from flows import progress
from flows.corpus import CorpusOutcome, update_corpus
from flows.dataset import open_store
from flows.objectstore import ObjectStore
from flows.scan import DEFAULT_SETTLE_SECONDS, RawEntry, scan_raw
from flows.storage import ObjectPath, parse_location, scan_objects
from flows.store import CuratedStore, write_part

# A task run costs Prefect tens of milliseconds: batches of this many bytes (or files, whichever
# comes first) make that cost vanish against the cleaning while keeping memory per batch small.
BATCH_BYTES = 8 * 1024 * 1024
BATCH_FILES = 500
# Reasons worth retrying on the next run: the file may be readable or present by then.
TRANSIENT_REASONS = {"unreadable", "vanished"}
PLAN_COLUMNS = [
    "doc_id",
    "source_path",
    "source_sha256",
    "source_bytes",
    "source_mtime_ns",
    "rules_version",
    "pipeline_version",
    "source_present",
]


@dataclass
class RunSummary:
    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    reused: int = 0
    renamed: int = 0
    missing: int = 0
    pending: int = 0
    cleaned: int = 0
    rejected: int = 0
    wrote: bool = False
    reject_reasons: Counter[str] = field(default_factory=Counter)
    noise_by_category: Counter[str] = field(default_factory=Counter)
    placeholders_by_kind: Counter[str] = field(default_factory=Counter)
    encodings: Counter[str] = field(default_factory=Counter)
    rejects: list[Reject] = field(default_factory=list)
    # Wall time of the run's own work (scan, plan, clean, commit): the run less Prefect's start-up.
    seconds: float = 0.0
    # Duplicate clusters and learned boilerplate (flows/corpus.py); None on object storage.
    corpus: CorpusOutcome | None = None

    def add_batch(self, outcome: BatchOutcome) -> None:
        self.cleaned += outcome.cleaned
        self.encodings.update(outcome.encodings)
        self.noise_by_category.update(outcome.noise_by_category)
        self.placeholders_by_kind.update(outcome.placeholders_by_kind)


@cache
def _cleaner(config: CleanConfig) -> Cleaner:
    # One per process: compiled rules and opencc converters are built once, then reused.
    return Cleaner(config)


def open_raw(source: bytes | ObjectPath) -> AbstractContextManager:
    # An object is read by the process that runs the batch (a Dask worker too), not the flow's.
    return source.open() if isinstance(source, ObjectPath) else open(source, "rb")


def read_and_clean(entry: RawEntry, config: CleanConfig) -> Record | Reject:
    """Read one raw file and clean it; every failure becomes a Reject naming the cause."""
    try:
        config.check_size(entry.size)
        with open_raw(entry.abs_path) as handle:
            data = handle.read(config.max_file_bytes + 1)
        return _cleaner(config).clean(data, entry.rel_path)
    except RejectedInput as error:
        return Reject(entry.rel_path, None, error.reason, f"{entry.rel_path}: {error.detail}")
    except FileNotFoundError:
        return Reject(
            entry.rel_path,
            None,
            "vanished",
            f"{entry.rel_path}: the file was deleted before it could be read.",
        )
    except PermissionError:
        return Reject(
            entry.rel_path, None, "unreadable", f"{entry.rel_path}: permission denied when reading the file."
        )
    except OSError as error:
        return Reject(
            entry.rel_path,
            None,
            "unreadable",
            f"{entry.rel_path}: the file cannot be read ({error.strerror or error}).",
        )


@dataclass
class BatchOutcome:
    """What a batch reports back: counts and rejects, never the documents, which it wrote itself."""

    cleaned: int = 0
    rejects: list[Reject] = field(default_factory=list)
    noise_by_category: Counter[str] = field(default_factory=Counter)
    placeholders_by_kind: Counter[str] = field(default_factory=Counter)
    encodings: Counter[str] = field(default_factory=Counter)


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Hold Python's cycle collector for the length of one batch.

    A batch allocates millions of small objects (annotations, then their Arrow columns) that
    form no cycles, yet the allocation bursts re-trigger the collector over the whole heap:
    building a batch's Arrow table took 3x longer with it running. A batch is bounded
    (BATCH_BYTES), so whatever cycles it makes wait one batch for the collector's next pass.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_cyclic_gc_paused()
def clean_and_write(
    entries: list[RawEntry],
    config: CleanConfig,
    part: Path | ObjectPath,
    ingested_at: datetime,
    doc_ids: dict[str, str],
) -> BatchOutcome:
    """Clean a batch and write its documents to one part file of the staged snapshot."""
    outcome = BatchOutcome()
    records: list[Record] = []
    mtimes: list[int] = []
    for entry in entries:
        result = read_and_clean(entry, config)
        if isinstance(result, Reject):
            outcome.rejects.append(result)
            continue
        # An edited file keeps the id its path had: it is the same document, revised.
        records.append(replace(result, doc_id=doc_ids.get(result.source_path, result.doc_id)))
        mtimes.append(entry.mtime_ns)
        outcome.encodings[result.encoding] += 1
        outcome.noise_by_category.update(r.category for r in result.removed)
        outcome.placeholders_by_kind.update(p.kind for p in result.placeholders)
    if records:
        write_part(records_to_table(records, mtimes, ingested_at), part)
    outcome.cleaned = len(records)
    return outcome


class Batch:
    """The files one batch task cleans, and the doc_ids they keep from earlier runs.

    A plain class on purpose: Prefect walks a list, dict or dataclass argument item by item
    looking for futures, twice per task and in the flow's process (a tenth of a core with two
    workers), and leaves other objects alone. Its `quote` would say the same, but a quoted
    value does not survive Dask, which unpacks tuples.
    """

    __slots__ = ("doc_ids", "entries")

    def __init__(self, entries: list[RawEntry], doc_ids: dict[str, str]) -> None:
        self.entries = entries
        self.doc_ids = doc_ids


@task(name="clean-batch", cache_policy=NO_CACHE)
def clean_batch(
    batch: Batch,
    config: CleanConfig,
    part: Path | ObjectPath,
    ingested_at: datetime,
    executor: Executor | None,
) -> BatchOutcome:
    arguments = (batch.entries, config, part, ingested_at, batch.doc_ids)
    if executor is None:
        return clean_and_write(*arguments)
    return executor.submit(clean_and_write, *arguments).result()


def _batches_in_flight(executor: Executor | None) -> int | None:
    """How many batches may run at once in the flow's process; None when something else bounds them.

    Prefect's default task runner gives every submitted task a thread of its own, with no bound.
    Batches cleaning in those threads share one GIL, so running them together gains nothing and
    keeps every batch's documents in memory at once: 1.5 GB at 10,000 documents (bench/). One
    at a time keeps memory flat. A process pool (--workers) or a Dask cluster runs only as many
    as it has workers; waiting threads there hold nothing but their batch's file list.
    """
    if executor is not None:
        return None
    context = FlowRunContext.get()
    return 1 if context is not None and isinstance(context.task_runner, ThreadPoolTaskRunner) else None


def _on_dask() -> bool:
    context = FlowRunContext.get()
    return context is not None and type(context.task_runner).__name__ == "DaskTaskRunner"


def make_batches(entries: list[RawEntry]) -> Iterator[list[RawEntry]]:
    batch: list[RawEntry] = []
    size = 0
    for entry in entries:
        if batch and (size + entry.size > BATCH_BYTES or len(batch) >= BATCH_FILES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry.size
    if batch:
        yield batch


def file_sha256(path: bytes | ObjectPath) -> str:
    digest = hashlib.sha256()
    with open_raw(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Plan:
    to_clean: list[RawEntry] = field(default_factory=list)
    # (existing row's path, new path, new mtime, keep doc_id): rows carried over without cleaning.
    reuse: list[tuple[str, str, int, bool]] = field(default_factory=list)
    drop: set[str] = field(default_factory=set)
    mark_missing: list[str] = field(default_factory=list)
    carried_rejects: list[str] = field(default_factory=list)
    new_rejects: list[Reject] = field(default_factory=list)


def plan_run(
    entries: list[RawEntry],
    documents: pa.Table,
    rejects: pa.Table,
    rules_version: str,
    prune: bool,
    summary: RunSummary,
) -> Plan:
    plan = Plan()
    rows = {row["source_path"]: row for row in documents.to_pylist()}
    current = {
        r: row
        for r, row in rows.items()
        if row["rules_version"] == rules_version and row["pipeline_version"] == PIPELINE_VERSION
    }
    by_sha: dict[str, list[str]] = {}
    for path, row in current.items():
        by_sha.setdefault(row["source_sha256"], []).append(path)
    # Content seen before has its row's size. A file of any other size is new content: hashing
    # it here would read it twice, since its batch reads (and hashes) it again to clean it.
    current_sizes = {row["source_bytes"] for row in current.values()}
    old_rejects = {row["source_path"]: row for row in rejects.to_pylist()}
    seen = {e.rel_path for e in entries}
    vanished_paths = {p for p in rows if p not in seen}
    renamed_from: set[str] = set()
    for entry in entries:
        row = rows.get(entry.rel_path)
        if (
            row
            and row["source_bytes"] == entry.size
            and row["source_mtime_ns"] == entry.mtime_ns
            and entry.rel_path in current
            and row["source_present"]
        ):
            summary.unchanged += 1
            continue
        old_reject = old_rejects.get(entry.rel_path)
        if (
            old_reject
            and old_reject["source_bytes"] == entry.size
            and old_reject["source_mtime_ns"] == entry.mtime_ns
            and old_reject["reason"] not in TRANSIENT_REASONS
            and entry.rel_path not in rows
        ):
            plan.carried_rejects.append(entry.rel_path)
            summary.unchanged += 1
            continue
        if row:
            summary.changed += 1
        else:
            summary.new += 1
        if entry.size not in current_sizes:
            plan.to_clean.append(entry)
            continue
        try:
            sha = file_sha256(entry.abs_path)
        except OSError:
            plan.to_clean.append(entry)  # read_and_clean turns the failure into a reject
            continue
        source = entry.rel_path if row and row["source_sha256"] == sha and entry.rel_path in current else None
        if source is None:
            source = _reusable_source(by_sha.get(sha, []), vanished_paths, renamed_from)
        if source is None:
            plan.to_clean.append(entry)
            continue
        renamed = source in vanished_paths and source not in renamed_from and source != entry.rel_path
        if renamed:
            renamed_from.add(source)
            plan.drop.add(source)
            summary.renamed += 1
        elif source != entry.rel_path:
            summary.reused += 1
        plan.reuse.append((source, entry.rel_path, entry.mtime_ns, renamed or source == entry.rel_path))
        plan.drop.add(entry.rel_path)
    for path in sorted(vanished_paths - renamed_from):
        if prune:
            plan.drop.add(path)
        elif rows[path]["source_present"]:
            plan.mark_missing.append(path)
            summary.missing += 1
    for path in plan.to_clean:
        plan.drop.add(path.rel_path)
    return plan


def _reusable_source(paths: list[str], vanished: set[str], renamed_from: set[str]) -> str | None:
    """The row to reuse for content seen before: a vanished path first (a rename), else any copy."""
    for path in paths:
        if path in vanished and path not in renamed_from:
            return path
    return paths[0] if paths else None


def reused_rows(store: CuratedStore | ObjectStore, plan: Plan, now: datetime) -> pa.Table | None:
    """Rows carried over without cleaning: copies, renames, touched files and missing files."""
    wanted = {src for src, *_ in plan.reuse} | set(plan.mark_missing)
    if not wanted or not store.has_snapshot():
        return None
    by_path = {row["source_path"]: row for row in store.read_documents_of(sorted(wanted)).to_pylist()}
    out: list[dict[str, object]] = []
    for source, new_path, mtime_ns, keep_id in plan.reuse:
        row = dict(by_path[source])
        row.update(source_path=new_path, source_mtime_ns=mtime_ns, ingested_at=now, source_present=True)
        if not keep_id:
            row["doc_id"] = make_doc_id(new_path, row["source_sha256"])
        out.append(row)
    for path in plan.mark_missing:
        row = dict(by_path[path])
        row["source_present"] = False
        out.append(row)
    return pa.Table.from_pylist(out, schema=DOCUMENT_SCHEMA)


def report_markdown(summary: RunSummary) -> str:
    def table(title: str, counts: Counter[str]) -> str:
        if not counts:
            return f"**{title}**: none\n"
        lines = [f"**{title}**\n", "| | count |", "|---|---:|"]
        lines += [f"| {key} | {value} |" for key, value in counts.most_common()]
        return "\n".join(lines) + "\n"

    head = (
        "# docclean run report\n\n"
        f"| files seen | new | changed | unchanged | reused | renamed | missing | pending | cleaned | rejected |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {summary.seen} | {summary.new} | {summary.changed} | {summary.unchanged} | {summary.reused} | "
        f"{summary.renamed} | {summary.missing} | {summary.pending} | {summary.cleaned} | {summary.rejected} |\n"
    )
    rejects = "\n".join(f"- `{r.source_path}`: {r.reason}: {r.detail}" for r in summary.rejects[:50])
    corpus = summary.corpus
    return "\n".join(
        [
            head,
            *(
                [
                    f"**Corpus**: {corpus.clusters} duplicate clusters, {corpus.duplicates} duplicates, "
                    f"{corpus.boilerplate_lines} boilerplate lines; {corpus.recleaned} documents cleaned "
                    "again because a line became or stopped being boilerplate.\n"
                ]
                if corpus is not None
                else []
            ),
            table("Noise removed by category", summary.noise_by_category),
            table("Placeholders by kind", summary.placeholders_by_kind),
            table("Encodings seen", summary.encodings),
            table("Rejected by reason", summary.reject_reasons),
            rejects,
        ]
    )


@flow(name="curate", log_prints=False)
def curate(
    raw: str = "raw",
    curated: str = "curated",
    rules_file: str | None = None,
    workers: int | None = None,
    prune: bool = False,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    wait_seconds: float = 0.0,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    runner: str = "local",
    address: str | None = None,
) -> RunSummary:
    """Curate `raw` into `curated` (folders or s3:// URLs); see the README for what a run does.

    `workers` is the number of processes that clean in parallel: a process pool in the flow's
    process (default 1), or with `runner="dask"` the LocalCluster's worker processes (default
    one per core). `runner="dask"` (and `address`) is for runs started by a deployment, whose
    flow has a fixed task runner: the run goes on as a subflow on Dask. `docclean run --runner
    dask` sets the task runner itself.
    """
    if runner == "dask" and not _on_dask():
        from flows.runners import dask_task_runner

        on_dask = curate.with_options(task_runner=dask_task_runner(address, workers))
        return on_dask(
            raw, curated, rules_file, 1, prune, settle_seconds, wait_seconds, max_file_bytes, runner, address
        )
    started = time.perf_counter()
    logger = get_run_logger()
    config = CleanConfig(
        rules_file=Path(rules_file).resolve() if rules_file else None, max_file_bytes=max_file_bytes
    )
    rules = load_rules(config.rules_file)  # invalid rules stop the run before any file is touched
    raw_path = parse_location(raw)
    if isinstance(raw_path, Path):
        if not raw_path.is_dir():
            raise FileNotFoundError(f"The raw folder {raw_path} does not exist.")
        # The batches may run on a Dask worker with a working directory of its own.
        raw_path = raw_path.absolute()
    store = open_store(curated)
    summary = RunSummary()
    with store.lock(wait_seconds):
        if isinstance(raw_path, ObjectPath):
            scan = scan_objects(raw_path, settle_seconds)
        else:
            scan = scan_raw(os.fsencode(raw_path), settle_seconds)
        summary.seen = len(scan.files) + len(scan.problems)
        summary.pending = len(scan.pending)
        snapshot = store.read(columns=PLAN_COLUMNS)
        plan = plan_run(scan.files, snapshot.documents, snapshot.rejects, rules.version, prune, summary)
        problem_rejects = [
            Reject(p.rel_path, None, p.reason, f"{p.rel_path}: {p.detail}") for p in scan.problems
        ]
        stats = {e.rel_path: (e.mtime_ns, e.size) for e in scan.files}
        stats.update({p.rel_path: (p.mtime_ns, p.size) for p in scan.problems})
        logger.info(
            "Scanned %s: %d files, %d to clean, %d pending.",
            raw,
            summary.seen,
            len(plan.to_clean),
            summary.pending,
        )
        old_reject_paths = set(snapshot.rejects.column("source_path").to_pylist())
        new_reject_paths = {r.source_path for r in problem_rejects}
        nothing_to_do = (
            not plan.to_clean
            and not plan.reuse
            and not plan.mark_missing
            and not plan.drop
            and set(plan.carried_rejects) | new_reject_paths == old_reject_paths
            and all(r.reason not in TRANSIENT_REASONS for r in problem_rejects)
        )
        if nothing_to_do and store.has_snapshot():
            logger.info("Nothing new or changed: the dataset is left as it is.")
            summary.rejected = len(old_reject_paths)
            summary.seconds = time.perf_counter() - started
            return summary
        now = datetime.now(UTC)
        existing_ids = dict(
            zip(
                snapshot.documents.column("source_path").to_pylist(),
                snapshot.documents.column("doc_id").to_pylist(),
                strict=True,
            )
        )
        writer = store.begin()
        try:
            rejects = list(problem_rejects)
            executor = (
                ProcessPoolExecutor(max_workers=workers)
                if workers and workers > 1 and plan.to_clean
                else None
            )
            try:
                limit = _batches_in_flight(executor)
                in_flight: deque[tuple[PrefectFuture[BatchOutcome], list[RawEntry]]] = deque()
                done = 0

                def collect_oldest() -> None:
                    nonlocal done
                    future, batch = in_flight.popleft()
                    outcome = future.result()
                    rejects.extend(outcome.rejects)
                    summary.add_batch(outcome)
                    done += len(batch)
                    report_progress = progress.hook.get()
                    if report_progress:
                        report_progress(done, len(plan.to_clean))

                for batch in make_batches(plan.to_clean):
                    while limit is not None and len(in_flight) >= limit:
                        collect_oldest()
                    doc_ids = {
                        e.rel_path: existing_ids[e.rel_path] for e in batch if e.rel_path in existing_ids
                    }
                    future = clean_batch.submit(
                        Batch(batch, doc_ids), config, writer.next_part("documents"), now, executor
                    )
                    in_flight.append((future, batch))
                while in_flight:
                    collect_oldest()
            finally:
                if executor:
                    executor.shutdown()
            reject_paths = {r.source_path for r in rejects}
            writer.carry_documents(plan.drop | reject_paths, reused_rows(store, plan, now))
            kept_rejects = snapshot.rejects.filter(
                pc.is_in(
                    snapshot.rejects.column("source_path"),
                    value_set=pa.array(sorted(set(plan.carried_rejects) - reject_paths), pa.string()),
                )
            )
            fresh = rejects_to_table(
                rejects,
                [stats.get(r.source_path, (None, None))[0] for r in rejects],
                [stats.get(r.source_path, (None, None))[1] for r in rejects],
                now,
            )
            writer.set_rejects(pa.concat_tables([kept_rejects, fresh]))
            # Corpus pass (#19): across documents, after the batches, before the commit.
            if isinstance(store, CuratedStore):
                summary.corpus = update_corpus(writer.staged, store.current_dir())
                logger.info(
                    "Corpus: %d documents cleaned again for boilerplate learned in this run, %d rows updated.",
                    summary.corpus.recleaned,
                    summary.corpus.rewritten,
                )
            writer.commit()
        except BaseException:
            writer.abandon()
            raise
        summary.wrote = True
        summary.rejects = rejects
        summary.rejected = len(rejects) + kept_rejects.num_rows
        summary.reject_reasons.update(r.reason for r in rejects)
        summary.reject_reasons.update(kept_rejects.column("reason").to_pylist())
    for reject in rejects:
        logger.warning("Rejected %s", reject.detail)
    # The run's own counts, then the per-rule totals of the whole dataset the HTML report details.
    # The whole-dataset part reads a local folder; on object storage the run's own counts stand alone.
    whole = dataset_report_markdown(Path(curated)) if isinstance(store, CuratedStore) else ""
    create_markdown_artifact(
        markdown=report_markdown(summary) + "\n" + whole,
        key="docclean-run-report",
        description="What this docclean run did",
    )
    summary.seconds = time.perf_counter() - started
    logger.info(
        "Cleaned %d documents, rejected %d files in %.1f s.", summary.cleaned, len(rejects), summary.seconds
    )
    return summary
