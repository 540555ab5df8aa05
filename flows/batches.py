"""Clean batches: read each planned file, clean it, write the batch's part file, its documents' corpus facts
and its completion marker.

A batch is what one task cleans: up to BATCH_BYTES or BATCH_FILES of raw files. A batch finished
by an interrupted run is found again by its key (`batch_key`) and reused instead of cleaned again.
The hashing step of the plan reads raw files here too (`hash_files`), with the same `open_raw`.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from docclean import PIPELINE_VERSION
from docclean.corpus_facts import corpus_facts
from docclean.errors import RejectedInput
from docclean.pipeline import BatchItem, CleanConfig, Cleaner
from docclean.record import Reject
from docclean.schema import DOCUMENT_SCHEMA
from flows import progress
from flows.location import Location
from flows.plan import Plan
from flows.processes import worker_pool
from flows.scan import ChangedDuringRead, RawEntry
from flows.store import Store, batch_facts, write_marker, write_part

# A task run costs Prefect tens of milliseconds: batches of this many bytes (or files, whichever
# comes first) make that cost vanish against the cleaning while keeping memory per batch small.
BATCH_BYTES = 8 * 1024 * 1024
BATCH_FILES = 500
# A batch is cleaned this many bytes at a time: the columnar core's working set grows with what it
# is handed (20-50 MB per MB of text, bench/shapes.py --batch), and past a couple of megabytes a
# larger slice is no faster (3.7 MB of the bench corpus: 1.01 s of CPU in 2 MB slices and 51 MB at
# the peak, 1.00 s and 71 MB in one slice).
CLEAN_SLICE_BYTES = 2 * 1024 * 1024


@cache
def _cleaner(config: CleanConfig) -> Cleaner:
    # One per process: compiled rules and opencc converters are built once, then reused.
    return Cleaner(config)


# The run each process's Cleaner last cleaned for, keyed by its configuration.
_cleaner_runs: dict[CleanConfig, datetime] = {}


def _cleaner_for_run(config: CleanConfig, run: datetime) -> Cleaner:
    """The process's Cleaner, with every rule enabled again when `run` is a new run.

    A rule that keeps timing out is disabled for the rest of a run only: a process that serves
    many runs (`docclean serve`, a Dask worker) gives it a new chance in the next one.
    """
    cleaner = _cleaner(config)
    if _cleaner_runs.get(config) != run:
        cleaner.enable_rules()
        _cleaner_runs[config] = run
    return cleaner


def open_raw(entry: RawEntry) -> AbstractContextManager:
    """The raw file or object of `entry`, open for reading; a local file only if the scan saw it.

    Raises ChangedDuringRead when a local path no longer names the file the scan saw (see
    flows.local.open_scanned), or the OSError of the open.
    """
    # Read by the process that runs the batch (a Dask worker too), not the flow's.
    return entry.abs_path.backend.open_raw(entry)


def read_raw(entry: RawEntry, config: CleanConfig) -> bytes | Reject:
    """Read one raw file for cleaning; every failure becomes a Reject naming the cause."""
    try:
        config.check_size(entry.size)
        with open_raw(entry) as handle:
            return handle.read(config.max_file_bytes + 1)
    except RejectedInput as error:
        return rejected(entry.rel_path, error)
    except ChangedDuringRead as error:
        return Reject(
            entry.rel_path,
            None,
            "changed_during_read",
            f"{entry.rel_path}: the file changed between the scan and the read ({error.strerror}); "
            "it is read again on the next run.",
        )
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


def rejected(source_path: str, error: RejectedInput) -> Reject:
    """The Reject of a file that reading or cleaning refused (too large, empty, binary, ...)."""
    return Reject(source_path, None, error.reason, f"{source_path}: {error.detail}")


@dataclass
class BatchOutcome:
    """What a batch reports back: counts and rejects, never the documents, which it wrote itself."""

    cleaned: int = 0
    rejects: list[Reject] = field(default_factory=list)
    noise_by_category: Counter[str] = field(default_factory=Counter)
    placeholders_by_kind: Counter[str] = field(default_factory=Counter)
    encodings: Counter[str] = field(default_factory=Counter)
    # (source_path, doc_id, source_sha256) of each document whose id the batch made itself.
    minted: list[tuple[str, str, str]] = field(default_factory=list)
    # Rules the process's Cleaner disabled in this run -> documents of the batch cleaned without them.
    disabled_rules: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The completion marker's content: what the batch reports, so a later run can reuse it."""
        return json.dumps(
            {
                "cleaned": self.cleaned,
                "rejects": [[r.source_path, r.source_sha256, r.reason, r.detail] for r in self.rejects],
                "noise_by_category": self.noise_by_category,
                "placeholders_by_kind": self.placeholders_by_kind,
                "encodings": self.encodings,
                "minted": self.minted,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> BatchOutcome:
        fields = json.loads(data)
        return cls(
            cleaned=fields["cleaned"],
            rejects=[Reject(*reject) for reject in fields["rejects"]],
            noise_by_category=Counter(fields["noise_by_category"]),
            placeholders_by_kind=Counter(fields["placeholders_by_kind"]),
            encodings=Counter(fields["encodings"]),
            minted=[tuple(item) for item in fields["minted"]],
        )


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
    part: Location,
    ingested_at: datetime,
    doc_ids: dict[str, str],
    marker: Location,
) -> BatchOutcome:
    """Clean a batch, write its documents to `part`, then its completion marker to `marker`.

    The marker is written last and atomically: a batch interrupted before it is cleaned again by
    the next run, one with it is reused (see batch_key).
    """
    outcome = BatchOutcome()
    # The batch's start time is the run's: every batch of a run passes the same.
    cleaner = _cleaner_for_run(config, ingested_at)
    # Rejects by the entry's position, so that they come out in the batch's order.
    rejects: dict[int, Reject] = {}
    position = {entry.rel_path: index for index, entry in enumerate(entries)}
    items: list[BatchItem] = []
    for index, entry in enumerate(entries):
        data = read_raw(entry, config)
        if isinstance(data, Reject):
            rejects[index] = data
        else:
            # An edited file keeps the id its path had: it is the same document, revised.
            items.append(BatchItem(data, entry.rel_path, doc_ids.get(entry.rel_path), entry.mtime_ns))
    table = pa.concat_tables(
        [
            cleaner.clean_batch(
                piece,
                ingested_at,
                on_reject=lambda item, error: rejects.__setitem__(
                    position[item.source_path], rejected(item.source_path, error)
                ),
            )
            for piece in _slices(items)
        ]
        or [DOCUMENT_SCHEMA.empty_table()]
    )
    del items
    outcome.rejects = [rejects[index] for index in sorted(rejects)]
    outcome.minted = [
        (row["source_path"], row["doc_id"], row["source_sha256"])
        for row in table.select(["source_path", "doc_id", "source_sha256"]).to_pylist()
        if row["source_path"] not in doc_ids
    ]
    outcome.encodings.update(table["encoding"].to_pylist())
    outcome.noise_by_category.update(_counts(table["removed"], "category"))
    outcome.placeholders_by_kind.update(_counts(table["placeholders"], "kind"))
    flags = _counts(table["flags"])
    outcome.disabled_rules = {rule: flags.get(f"rule_disabled:{rule}", 0) for rule in cleaner.disabled_rules}
    if table.num_rows:
        write_part(table, part)
        # Here, where the texts are at hand and batches run in parallel, not in the serial corpus pass.
        write_part(corpus_facts(table), batch_facts(part))
    outcome.cleaned = table.num_rows
    write_marker(outcome.to_json(), marker, part if table.num_rows else None)
    return outcome


def _slices(items: list[BatchItem]) -> Iterator[list[BatchItem]]:
    """`items` in order, in runs of about CLEAN_SLICE_BYTES of raw bytes (a larger file alone)."""
    piece: list[BatchItem] = []
    size = 0
    for item in items:
        if piece and size + len(item.data) > CLEAN_SLICE_BYTES:
            yield piece
            piece, size = [], 0
        piece.append(item)
        size += len(item.data)
    if piece:
        yield piece


def _counts(column: pa.ChunkedArray, struct_field: str | None = None) -> dict[str, int]:
    """How often each value occurs in a list column (in one field of its structs), over all rows."""
    values = pc.list_flatten(column)
    if struct_field is not None:
        values = pc.struct_field(values, struct_field)
    return {item["values"]: item["counts"] for item in pc.value_counts(values).to_pylist()}


class Batch:
    """The files one batch task cleans, and the doc_ids they keep from earlier runs.

    A plain class on purpose: Prefect walks a list, dict or dataclass argument item by item
    looking for futures, twice per task and in the flow's process (a tenth of a core with two
    workers), and leaves other objects alone. Its `quote` would say the same, but a quoted
    value does not survive Dask, which unpacks tuples.
    """

    __slots__ = ("doc_ids", "entries", "marker")

    def __init__(self, entries: list[RawEntry], doc_ids: dict[str, str], marker: Location) -> None:
        self.entries = entries
        self.doc_ids = doc_ids
        self.marker = marker


def batch_key(
    entries: list[RawEntry], doc_ids: dict[str, str], config: CleanConfig, rules_version: str
) -> str:
    """What determines a batch's output, hashed: the name of its part file and completion marker.

    Each file's path, size and mtime (a file edited since has another key, so its stale part is
    never reused), the doc_ids the batch keeps, every CleanConfig field, the rules' and the
    pipeline's versions. A 32-hex-digit prefix of SHA-256.
    """
    identity = {
        "files": [[e.rel_path, e.size, e.mtime_ns] for e in entries],
        "doc_ids": sorted(doc_ids.items()),
        "config": repr(config),
        "rules_version": rules_version,
        "pipeline_version": PIPELINE_VERSION,
    }
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]


# No result is persisted: the batch writes its part file itself, and a pickle of its rejects would
# keep paths and details in Prefect's storage, outside raw/ and curated/.
@task(name="clean-batch", cache_policy=NO_CACHE, persist_result=False)
def clean_batch(
    batch: Batch,
    config: CleanConfig,
    part: Location,
    ingested_at: datetime,
    executor: Executor | None,
) -> BatchOutcome:
    """Clean one batch in this task's thread, or in `executor`, the run's pool of cleaning processes.

    The pool is the run's own (flows.processes.worker_pool: spawned workers that die with the run
    and inherit no descriptor, so no worker outlives a killed run holding its lock), which
    Prefect's process pool task runner does not promise; the task stays the unit Prefect records.
    """
    arguments = (batch.entries, config, part, ingested_at, batch.doc_ids, batch.marker)
    if executor is None:
        return clean_and_write(*arguments)
    return executor.submit(clean_and_write, *arguments).result()


def make_batches(entries: list[RawEntry]) -> Iterator[list[RawEntry]]:
    """`entries` in order, cut into batches of at most BATCH_BYTES (one larger file alone) or BATCH_FILES."""
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


def file_sha256(entry: RawEntry) -> str:
    """The SHA-256 of the raw file of `entry` (hex), read in blocks of 1 MiB; raises what open_raw raises."""
    digest = hashlib.sha256()
    with open_raw(entry) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_files(entries: list[RawEntry]) -> dict[str, str | None]:
    """The hashing step before the plan: each file's SHA-256 by its source_path, None when it cannot be read.

    A file that cannot be read is not an error here: read_raw turns the failure into a
    reject if the file is cleaned, and a row whose file cannot be verified is kept.
    """
    hashes: dict[str, str | None] = {}
    for entry in entries:
        try:
            hashes[entry.rel_path] = file_sha256(entry)
        except OSError:
            hashes[entry.rel_path] = None
    return hashes


@dataclass
class CleanedBatch:
    """A batch this run cleaned, or one an interrupted run finished (`resumed`), and its part file."""

    outcome: BatchOutcome
    part: Location
    resumed: bool = False


@contextlib.contextmanager
def cleaning_processes(workers: int | None, plan: Plan) -> Iterator[Executor | None]:
    """The run's pool of `workers` cleaning processes, shut down on leaving; None for one worker or nothing to clean.

    It lasts from the first batch to the end of the commit, whose corpus pass runs its jobs on it too.
    """
    pool = worker_pool(workers) if workers and workers > 1 and plan.to_clean else None
    try:
        yield pool
    finally:
        if pool is not None:
            pool.shutdown()


def clean_batches(
    plan: Plan,
    store: Store,
    config: CleanConfig,
    rules_version: str,
    ingested_at: datetime,
    pool: Executor | None,
) -> list[CleanedBatch]:
    """Clean the plan's files in batches, each written to its own part file in `store`; the batches in order.

    The files keep the doc_ids the plan gives them from their earlier rows. A batch that an interrupted run
    finished is reused (`resumed`). With `pool` (cleaning_processes), batches are cleaned in its processes.
    Raises what a batch raises; its finished batches stay for the next run.
    """
    entries, doc_ids = plan.to_clean, plan.doc_ids
    progress_of = _Progress(len(entries))
    one_at_a_time = _one_at_a_time(pool)
    done: list[CleanedBatch] = []
    in_flight: list[tuple[PrefectFuture[BatchOutcome], Location, int]] = []
    for batch in make_batches(entries):
        kept = {e.rel_path: doc_ids[e.rel_path] for e in batch if e.rel_path in doc_ids}
        key = batch_key(batch, kept, config, rules_version)
        part, finished = store.batch_part(key), store.finished_batch(key)
        arguments = (Batch(batch, kept, store.batch_marker(key)), config, part, ingested_at, pool)
        if finished is not None:  # cleaned by an interrupted run: its part is reused
            done.append(CleanedBatch(BatchOutcome.from_json(finished), part, resumed=True))
        elif one_at_a_time:
            # Submitted, not called: the batch runs in a task thread, and a signal reaches the
            # flow's thread, which Prefect ends as one interrupted run.
            done.append(CleanedBatch(clean_batch.submit(*arguments).result(), part))
        else:
            in_flight.append((clean_batch.submit(*arguments), part, len(batch)))
            continue
        progress_of.advance(len(batch))
    for future, part, files in in_flight:
        done.append(CleanedBatch(future.result(), part))
        progress_of.advance(files)
    return done


class _Progress:
    """Tells the CLI's progress hook (flows.progress), if one is set, how many of `total` files are done."""

    def __init__(self, total: int) -> None:
        self.hook = progress.hook.get()
        self.total = total
        self.done = 0
        if self.hook and total:
            self.hook(0, total)

    def advance(self, files: int) -> None:
        self.done += files
        if self.hook:
            self.hook(self.done, self.total)


def _one_at_a_time(executor: Executor | None) -> bool:
    """Whether batches run one after the other in the flow's process, not submitted all at once.

    Prefect's default task runner gives every submitted task a thread of its own, with no bound.
    Batches cleaning in those threads share one GIL, so running them together gains nothing and
    keeps every batch's documents in memory at once: 1.5 GB at 10,000 documents (bench/). One
    at a time keeps memory flat. A process pool (--workers) or a Dask cluster runs only as many
    as it has workers; waiting threads there hold nothing but their batch's file list.
    """
    if executor is not None:
        return False
    context = FlowRunContext.get()
    return context is not None and isinstance(context.task_runner, ThreadPoolTaskRunner)
