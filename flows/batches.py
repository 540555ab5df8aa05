"""Clean batches: the plan's files cut into batches, each a Prefect task that cleans it (flows.cleaning)
here, in the run's cleaning processes or on a Dask worker.

A batch is what one task cleans: up to BATCH_BYTES or BATCH_FILES of raw files. A batch finished
by an interrupted run is found again by its key (`batch_key`) and reused instead of cleaned again.
The hashing step of the plan reads raw files here too (`hash_files`), with the same `open_raw`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from docclean import PIPELINE_VERSION
from docclean.pipeline import CleanConfig
from flows import progress
from flows.cleaning import BatchOutcome, clean_and_write, open_raw
from flows.location import Location
from flows.plan import Plan
from flows.processes import released, use_system_allocator, worker_pool
from flows.runners import on_dask
from flows.scan import RawEntry
from flows.store import Store

# A task run costs Prefect tens of milliseconds: batches of this many bytes (or files, whichever
# comes first) make that cost vanish against the cleaning while keeping memory per batch small.
BATCH_BYTES = 8 * 1024 * 1024
BATCH_FILES = 500
# One worker cleans in the flow's process up to this many bytes of raw files (one batch's worth),
# past it in a process of its own: the flow's process, holding Prefect, would otherwise hold the
# cleaning's and the corpus pass's memory on top (bench/: 230 MB before a batch, 700 MB at the
# peak of 10,000 documents), and the new process's start-up (its imports, under a second) is
# small beside the cleaning of more than a batch. A run over a few files starts no process.
IN_PROCESS_BYTES = BATCH_BYTES


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
    entries: list[RawEntry],
    doc_ids: dict[str, str],
    config: CleanConfig,
    rules_version: str,
    hashes: Mapping[str, str] = {},
) -> str:
    """What determines a batch's output, hashed: the name of its part file and completion marker.

    Each file's path, size and mtime (a file edited since has another key, so its stale part is
    never reused), and its content hash where the run took one (`hashes`, by source_path: a file
    rewritten with the same size and mtime, which --verify finds, is not taken from a part an
    interrupted run cleaned of its old bytes), the doc_ids the batch keeps, every CleanConfig
    field, the rules' and the pipeline's versions. A 32-hex-digit prefix of SHA-256.
    """
    identity = {
        "files": [
            [e.rel_path, e.size, e.mtime_ns, *([hashes[e.rel_path]] if e.rel_path in hashes else [])]
            for e in entries
        ],
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
    Whichever process cleans takes Arrow's buffers from the system allocator and gives the memory
    it freed back after the batch (flows.processes): a Dask worker too.
    """
    arguments = (batch.entries, config, part, ingested_at, batch.doc_ids, batch.marker)
    if executor is None:
        use_system_allocator()
        return released(clean_and_write, *arguments)
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


def cleaning_process_count(workers: int | None, plan: Plan) -> int:
    """How many cleaning processes a run of `workers` (None: one) starts for `plan`.

    `workers` of them for more than one; none on Dask (its workers clean) or with nothing to
    clean. One worker cleans in a process of its own once the plan's files pass IN_PROCESS_BYTES.
    """
    if not plan.to_clean or on_dask():
        return 0
    if workers is not None and workers > 1:
        return workers
    return 1 if sum(entry.size for entry in plan.to_clean) > IN_PROCESS_BYTES else 0


class CleaningProcesses:
    """The run's cleaning processes (cleaning_process_count), shut down on leaving.

    Those `--workers` asks for (more than one, not on Dask) start as the run begins, so that their
    interpreters are up by the first batch; each imports the cleaning core and builds its
    Cleaner with that batch (about a second: importing and building it while the run scans and
    plans finished no sooner, two processes and the flow's sharing two cores). One worker's own
    process starts once the plan shows enough to clean. The pool lasts to the end of the commit,
    whose corpus pass runs its jobs on it too.
    """

    def __init__(self, workers: int | None) -> None:
        self.workers = workers
        self.pool: Executor | None = (
            worker_pool(workers) if workers is not None and workers > 1 and not on_dask() else None
        )

    def for_plan(self, plan: Plan) -> Executor | None:
        """The pool that cleans `plan`, started now if it is not yet; None when the flow's process cleans."""
        count = cleaning_process_count(self.workers, plan)
        if not count:
            self.close()
        elif self.pool is None:
            self.pool = worker_pool(count)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None

    def __enter__(self) -> CleaningProcesses:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


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
    finished is reused (`resumed`). With `pool` (CleaningProcesses), batches are cleaned in its processes.
    Raises what a batch raises; its finished batches stay for the next run.
    """
    entries, doc_ids = plan.to_clean, plan.doc_ids
    progress_of = _Progress(len(entries))
    one_at_a_time = _one_at_a_time(pool)
    done: list[CleanedBatch] = []
    in_flight: list[tuple[PrefectFuture[BatchOutcome], Location, int]] = []
    for batch in make_batches(entries):
        kept = {e.rel_path: doc_ids[e.rel_path] for e in batch if e.rel_path in doc_ids}
        key = batch_key(batch, kept, config, rules_version, plan.hashes)
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
