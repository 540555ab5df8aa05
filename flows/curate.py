"""The curate flow: scan raw/, clean what is new or changed in batches, commit a snapshot, report.

Idempotency lives in docclean's own state (the current snapshot's paths, sizes, mtimes and
content hashes), not in Prefect's task cache, which keys on arguments and would return stale
results for a file edited in place.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Executor
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
from docclean.arguments import escape
from docclean.errors import RejectedInput
from docclean.pipeline import (
    DEFAULT_SCRIPT_CONVERSION,
    DISABLE_AFTER_TIMEOUTS,
    CleanConfig,
    Cleaner,
    make_doc_id,
)
from docclean.placeholders import DEFAULT_TOKEN
from docclean.record import Record, Reject
from docclean.rules import load_rules
from docclean.schema import DOCUMENT_SCHEMA, records_to_table, rejects_to_table
from docclean.sourcepath import legacy_source_path
from flows import progress
from flows.corpus import CorpusOutcome, sign_here, sign_on_workers, update_corpus
from flows.dataset import dataset_report_markdown, open_store, write_report
from flows.location import Location
from flows.processes import worker_pool
from flows.scan import DEFAULT_SETTLE_SECONDS, ChangedDuringRead, RawEntry, scan_raw
from flows.storage import parse_location
from flows.store import Store, read_part, rewrite_part, write_marker, write_part

# A task run costs Prefect tens of milliseconds: batches of this many bytes (or files, whichever
# comes first) make that cost vanish against the cleaning while keeping memory per batch small.
BATCH_BYTES = 8 * 1024 * 1024
BATCH_FILES = 500
# Reasons worth retrying on the next run: the file may be readable or present by then.
TRANSIENT_REASONS = {"unreadable", "vanished", "changed_during_read"}
# Reasons that depend on an option, and the CleanConfig fields they depend on: a reject of one of
# these is looked at again when a run's value of the field differs from the one it was judged under
# (recorded in the rejects table's metadata).
OPTION_DEPENDENT_REASONS: dict[str, tuple[str, ...]] = {"too_large": ("max_file_bytes",)}
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
    pruned: int = 0
    pending: int = 0
    cleaned: int = 0
    # Documents taken from the finished batches of an interrupted run instead of cleaned again.
    resumed: int = 0
    resumed_batches: int = 0
    rejected: int = 0
    wrote: bool = False
    reject_reasons: Counter[str] = field(default_factory=Counter)
    noise_by_category: Counter[str] = field(default_factory=Counter)
    placeholders_by_kind: Counter[str] = field(default_factory=Counter)
    encodings: Counter[str] = field(default_factory=Counter)
    rejects: list[Reject] = field(default_factory=list)
    # Files curated although their modification time is ahead of the clock (flows.scan.scan_raw).
    future_mtime: list[str] = field(default_factory=list)
    # Rules disabled for timing out too often -> documents cleaned without them (see Cleaner).
    disabled_rules: dict[str, int] = field(default_factory=dict)
    # Wall time of the run's own work (scan, plan, clean, commit): the run less Prefect's start-up.
    seconds: float = 0.0
    # Duplicate clusters and learned boilerplate (flows/corpus.py); None when the run wrote nothing.
    corpus: CorpusOutcome | None = None

    def as_dict(self) -> dict[str, object]:
        """The summary as JSON values: what `docclean run --json` prints (README: The run summary)."""
        counts = {
            name: getattr(self, name)
            for name in (
                "seen", "new", "changed", "unchanged", "renamed", "reused", "missing", "pruned",
                "pending", "cleaned", "resumed", "rejected", "wrote",
            )
        }  # fmt: skip
        return {
            **counts,
            "seconds": round(self.seconds, 3),
            "reject_reasons": dict(self.reject_reasons.most_common()),
            "rejected_files": [
                {"source_path": r.source_path, "reason": r.reason, "detail": r.detail} for r in self.rejects
            ],
            "noise_by_category": dict(self.noise_by_category.most_common()),
            "placeholders_by_kind": dict(self.placeholders_by_kind.most_common()),
            "encodings": dict(self.encodings.most_common()),
        }

    def add_batch(self, outcome: BatchOutcome, resumed: bool = False) -> None:
        if resumed:
            self.resumed += outcome.cleaned
            self.resumed_batches += 1
        else:
            self.cleaned += outcome.cleaned
        self.encodings.update(outcome.encodings)
        self.noise_by_category.update(outcome.noise_by_category)
        self.placeholders_by_kind.update(outcome.placeholders_by_kind)
        for rule, documents in outcome.disabled_rules.items():
            self.disabled_rules[rule] = self.disabled_rules.get(rule, 0) + documents


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


def read_and_clean(entry: RawEntry, config: CleanConfig) -> Record | Reject:
    """Read one raw file and clean it; every failure becomes a Reject naming the cause."""
    try:
        config.check_size(entry.size)
        with open_raw(entry) as handle:
            data = handle.read(config.max_file_bytes + 1)
        return _cleaner(config).clean(data, entry.rel_path)
    except RejectedInput as error:
        return Reject(entry.rel_path, None, error.reason, f"{entry.rel_path}: {error.detail}")
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
    records: list[Record] = []
    mtimes: list[int] = []
    for entry in entries:
        result = read_and_clean(entry, config)
        if isinstance(result, Reject):
            outcome.rejects.append(result)
            continue
        # An edited file keeps the id its path had: it is the same document, revised.
        kept_id = doc_ids.get(result.source_path)
        if kept_id is None:
            outcome.minted.append((result.source_path, result.doc_id, result.source_sha256))
        records.append(replace(result, doc_id=kept_id or result.doc_id))
        mtimes.append(entry.mtime_ns)
        outcome.encodings[result.encoding] += 1
        outcome.noise_by_category.update(r.category for r in result.removed)
        outcome.placeholders_by_kind.update(p.kind for p in result.placeholders)
    outcome.disabled_rules = {
        rule: sum(f"rule_disabled:{rule}" in record.flags for record in records)
        for rule in cleaner.disabled_rules
    }
    if records:
        write_part(records_to_table(records, mtimes, ingested_at), part)
    outcome.cleaned = len(records)
    write_marker(outcome.to_json(), marker, part if records else None)
    return outcome


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
    arguments = (batch.entries, config, part, ingested_at, batch.doc_ids, batch.marker)
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


def file_sha256(entry: RawEntry) -> str:
    digest = hashlib.sha256()
    with open_raw(entry) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha_or_none(entry: RawEntry) -> str | None:
    try:
        return file_sha256(entry)
    except OSError:
        return None  # read_and_clean turns the failure into a reject, if the file is cleaned


@dataclass
class Plan:
    """What a run does with each path; every path of the current snapshot ends in exactly one row or none.

    A path in `reuse` (as new path), `mark_missing` or `to_clean` is also in `drop`: its old row
    goes, and the row the run writes for it replaces it.
    """

    to_clean: list[RawEntry] = field(default_factory=list)
    # (existing row's path, new path, new mtime, keep the existing row's doc_id): rows carried over without cleaning.
    reuse: list[tuple[str, str, int, bool]] = field(default_factory=list)
    drop: set[str] = field(default_factory=set)
    mark_missing: list[str] = field(default_factory=list)
    carried_rejects: list[str] = field(default_factory=list)
    new_rejects: list[Reject] = field(default_factory=list)
    # The doc_id a path keeps from its earlier row, whatever row its new content comes from.
    doc_ids: dict[str, str] = field(default_factory=dict)
    # Paths whose row shares its doc_id with another path's (written by an earlier version): a new id.
    fresh_ids: set[str] = field(default_factory=set)


def plan_run(
    entries: list[RawEntry],
    documents: pa.Table,
    rejects: pa.Table,
    rules_version: str,
    prune: bool,
    summary: RunSummary,
    other_paths: frozenset[str] = frozenset(),
    verify: bool = False,
    stale_reasons: frozenset[str] = frozenset(),
) -> Plan:
    """Decide, for every scanned file and every row of the current snapshot, what this run does.

    `entries` are the files to curate; `other_paths` the paths the scan saw but does not hand
    over (pending, or a problem that becomes a reject): their rows are neither missing nor reused
    here. `documents` needs PLAN_COLUMNS. With `verify`, a file whose size and mtime match its
    row is hashed as well, and cleaned again when its content differs. `stale_reasons` are reject reasons judged
    under options that differ from this run's: such rejects are cleaned again.
    """
    plan = Plan()
    table_rows = documents.to_pylist()
    rows: dict[str, dict[str, object]] = {}
    for row in table_rows:
        rows.setdefault(str(row["source_path"]), row)
    # An earlier version could leave one path twice, or one doc_id on two paths: such rows are
    # rewritten, once each, with a doc_id of their own.
    duplicated = {path for path, n in Counter(r["source_path"] for r in table_rows).items() if n > 1}
    id_owner: dict[object, str] = {}
    for path in sorted(rows):
        if rows[path]["doc_id"] in id_owner:
            plan.fresh_ids.add(path)
        else:
            id_owner[rows[path]["doc_id"]] = path
    rewrite = duplicated | plan.fresh_ids
    current = {
        path
        for path, row in rows.items()
        if row["rules_version"] == rules_version and row["pipeline_version"] == PIPELINE_VERSION
    }
    by_sha: dict[object, list[str]] = {}
    for path in sorted(current):
        by_sha.setdefault(rows[path]["source_sha256"], []).append(path)
    # Content seen before has its row's size. A file of any other size is new content: hashing
    # it here would read it twice, since its batch reads (and hashes) it again to clean it.
    current_sizes = {rows[path]["source_bytes"] for path in current}
    old_rejects = {row["source_path"]: row for row in rejects.to_pylist()}
    seen = {e.rel_path for e in entries} | other_paths
    vanished = {path for path in rows if path not in seen}
    # Rows written under the old spelling of a path (see docclean.sourcepath.legacy_source_path) go to
    # their file first, before any content match could take them for a rename.
    legacy_origins: dict[str, str] = {}
    for entry in entries:
        legacy = legacy_source_path(entry.rel_path)
        if entry.rel_path not in rows and legacy != entry.rel_path and legacy in vanished:
            legacy_origins.setdefault(entry.rel_path, legacy)
    renamed_from: set[str] = set(legacy_origins.values())
    plan.drop.update(renamed_from)
    for entry in entries:
        path = entry.rel_path
        origin = path if path in rows else legacy_origins.get(path)
        row = rows[origin] if origin is not None else None
        kept_id = str(row["doc_id"]) if row is not None and origin not in plan.fresh_ids else None
        same_stat = (
            row is not None
            and row["source_bytes"] == entry.size
            and row["source_mtime_ns"] == entry.mtime_ns
            and origin in current
        )
        if same_stat and origin == path and row["source_present"] and path not in rewrite:
            if not verify:
                summary.unchanged += 1
                continue
            sha = _sha_or_none(entry)
            # A file that cannot be read now keeps its row: verifying never loses a document.
            if sha is None or sha == row["source_sha256"]:
                summary.unchanged += 1
                continue
            summary.changed += 1
            plan.to_clean.append(entry)
            plan.doc_ids[path] = str(kept_id)
            continue
        if same_stat and not verify:
            # The file of the row by the quick test: the row moves to the new spelling of its
            # path, is present again, or is written once instead of twice.
            plan.reuse.append((str(origin), path, entry.mtime_ns, kept_id is not None))
            plan.drop.add(path)
            if origin != path:
                summary.renamed += 1
            else:
                summary.changed += 1
            continue
        old_reject = old_rejects.get(path)
        if (
            row is None
            and old_reject
            and old_reject["source_bytes"] == entry.size
            and old_reject["source_mtime_ns"] == entry.mtime_ns
            and old_reject["reason"] not in TRANSIENT_REASONS
            # A reject keeps no hash when its bytes were never fully read: size and mtime decide then.
            and (
                not verify
                or old_reject["source_sha256"] is None
                or _sha_or_none(entry) in (None, old_reject["source_sha256"])
            )
            and old_reject["reason"] not in stale_reasons
        ):
            plan.carried_rejects.append(path)
            summary.unchanged += 1
            continue
        if row is None:
            summary.new += 1
        elif origin != path:
            summary.renamed += 1
        else:
            summary.changed += 1
        sha = _sha_or_none(entry) if verify or entry.size in current_sizes else None
        source: str | None = None
        keep = False
        if sha is not None and row is not None and origin in current and row["source_sha256"] == sha:
            source, keep = origin, kept_id is not None
        elif sha is not None:
            source = _reusable_source(by_sha.get(sha, []), vanished, renamed_from)
            if source is not None and source in vanished and source not in renamed_from and source != path:
                renamed_from.add(source)
                plan.drop.add(source)
                summary.renamed += 1
                keep = source not in plan.fresh_ids
            elif source is not None:
                summary.reused += 1
                if kept_id is not None:
                    plan.doc_ids[path] = kept_id  # an edited file that now copies another keeps its id
        if source is None:
            plan.to_clean.append(entry)
            if kept_id is not None:
                plan.doc_ids[path] = kept_id
            continue
        plan.reuse.append((source, path, entry.mtime_ns, keep))
        plan.drop.add(path)
    for path in sorted(vanished - renamed_from):
        if prune:
            plan.drop.add(path)
            summary.pruned += 1
        elif rows[path]["source_present"] or path in rewrite:
            plan.mark_missing.append(path)
            plan.drop.add(path)
            summary.missing += bool(rows[path]["source_present"])
    for entry in plan.to_clean:
        plan.drop.add(entry.rel_path)
    return plan


def judged_options(config: CleanConfig) -> dict[str, object]:
    """The values of the options that some reject reason depends on, as JSON values."""
    names = sorted({name for fields in OPTION_DEPENDENT_REASONS.values() for name in fields})
    return json.loads(json.dumps({name: getattr(config, name) for name in names}))


def stale_reasons(recorded: dict[str, object] | None, current: dict[str, object]) -> frozenset[str]:
    """Reject reasons whose options differ between the run that judged them and this run.

    A rejects table that records no options (written before they were recorded) makes every
    option-dependent reason stale once.
    """
    return frozenset(
        reason
        for reason, names in OPTION_DEPENDENT_REASONS.items()
        if recorded is None or any(recorded.get(name) != current.get(name) for name in names)
    )


def _reusable_source(paths: list[str], vanished: set[str], renamed_from: set[str]) -> str | None:
    """The row to reuse for content seen before: a vanished path first (a rename), else any copy."""
    for path in paths:
        if path in vanished and path not in renamed_from:
            return path
    return paths[0] if paths else None


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


def reassign_clashing_ids(outcomes: list[tuple[BatchOutcome, Location]], ids: DocIds) -> None:
    """Give a new id to each document a batch made whose id another row holds, in its part file."""
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
            rewrite_part(part, fixed, "ids")


def reused_rows(store: Store, plan: Plan, now: datetime, ids: DocIds) -> pa.Table | None:
    """Rows carried over without cleaning: copies, renames, touched files and missing files."""
    wanted = {src for src, *_ in plan.reuse} | set(plan.mark_missing)
    if not wanted or not store.has_snapshot():
        return None
    by_path: dict[str, dict[str, object]] = {}
    for row in store.read_documents_of(sorted(wanted)).to_pylist():
        by_path.setdefault(str(row["source_path"]), row)  # the first of twins, as plan_run took it
    out: list[dict[str, object]] = []
    for source, new_path, mtime_ns, keep_id in plan.reuse:
        row = dict(by_path[source])
        row.update(source_path=new_path, source_mtime_ns=mtime_ns, ingested_at=now, source_present=True)
        if new_path in plan.doc_ids:
            row["doc_id"] = plan.doc_ids[new_path]
        elif not keep_id:
            row["doc_id"] = ids.mint(new_path, str(row["source_sha256"]))
        out.append(row)
    for path in plan.mark_missing:
        row = dict(by_path[path])
        row["source_present"] = False
        if path in plan.fresh_ids:
            row["doc_id"] = ids.mint(path, str(row["source_sha256"]))
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
    future = "".join(f"- `{path}`\n" for path in summary.future_mtime[:50])
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
            f"**Modification time in the future** (curated anyway; check the clock that wrote them)\n\n{future}"
            if future
            else "",
            table("Noise removed by category", summary.noise_by_category),
            table("Placeholders by kind", summary.placeholders_by_kind),
            table("Encodings seen", summary.encodings),
            table("Rejected by reason", summary.reject_reasons),
            *(
                [
                    table(
                        "Rules disabled after timeouts (documents cleaned without them)",
                        Counter(summary.disabled_rules),
                    )
                ]
                if summary.disabled_rules
                else []
            ),
            rejects,
        ]
    )


@flow(name="curate", log_prints=False, persist_result=False)
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
    verify: bool = False,
    placeholder_token: str = DEFAULT_TOKEN,
    script_conversion: str | None = DEFAULT_SCRIPT_CONVERSION,
    html_report: bool = False,
    languages: list[str] | None = None,
) -> RunSummary:
    """Curate `raw` into `curated` (folders or s3:// URLs); see the README for what a run does.

    `workers` is the number of processes that clean in parallel: a process pool in the flow's
    process (default 1), or with `runner="dask"` the LocalCluster's worker processes (default
    one per core). `runner="dask"` (and `address`) is for runs started by a deployment, whose
    flow has a fixed task runner: the run goes on as a subflow on Dask. `docclean run --runner
    dask` sets the task runner itself. `verify` hashes every file, not only those whose size or
    mtime changed, and cleans again what differs from its row. `placeholder_token` and `script_conversion` are
    CleanConfig's (None keeps Traditional script). `languages` (ISO 639-1 codes) keeps only documents in
    those languages; the others are rejected with reason `language`. `html_report` rewrites a local dataset's HTML
    report after a run that changed it, before the run report that links to it (`docclean serve`).

    Raises ValueError when `settle_seconds` or `wait_seconds` is not a finite number, zero or more.
    """
    for name, seconds in (("settle_seconds", settle_seconds), ("wait_seconds", wait_seconds)):
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"{name} must be a number of seconds, zero or more; got {seconds}.")
    if runner == "dask" and not _on_dask():
        from flows.runners import dask_task_runner

        on_dask = curate.with_options(task_runner=dask_task_runner(address, workers))
        return on_dask(
            raw,
            curated,
            rules_file,
            1,
            prune,
            settle_seconds,
            wait_seconds,
            max_file_bytes,
            runner,
            address,
            verify,
            placeholder_token,
            script_conversion,
            html_report,
            languages,
        )
    started = time.perf_counter()
    logger = get_run_logger()
    config = CleanConfig(
        rules_file=Path(rules_file).resolve() if rules_file else None,
        max_file_bytes=max_file_bytes,
        placeholder_token=placeholder_token,
        script_conversion=script_conversion,
        languages=tuple(languages) if languages else None,
    )
    rules = load_rules(config.rules_file)  # invalid rules stop the run before any file is touched
    raw_path = parse_location(raw)
    store = open_store(curated)
    summary = RunSummary()
    with store.lock(wait_seconds):
        store.upgrade_layout()
        # The curated dataset inside raw/ holds docclean's own output and state, never input.
        scan = scan_raw(raw_path, settle_seconds, skip=(store.root,))
        summary.seen = len(scan.files) + len(scan.problems)
        summary.pending = len(scan.pending)
        summary.future_mtime = list(scan.future_mtime)
        for path in scan.future_mtime:
            logger.warning(
                "%s has a modification time in the future; it is curated now, since no copy in progress "
                "stamps a file ahead of the clock. Check the clock of the machine that wrote it.",
                path,
            )
        snapshot = store.read(columns=PLAN_COLUMNS)
        options = judged_options(config)
        plan = plan_run(
            scan.files,
            snapshot.documents,
            snapshot.rejects,
            rules.version,
            prune,
            summary,
            other_paths=frozenset(scan.pending) | {p.rel_path for p in scan.problems},
            verify=verify,
            stale_reasons=stale_reasons(store.reject_options() if store.has_snapshot() else options, options),
        )
        problem_rejects = [
            Reject(p.rel_path, None, p.reason, f"{p.rel_path}: {p.detail}") for p in scan.problems
        ]
        stats = {e.rel_path: (e.mtime_ns, e.size) for e in scan.files}
        stats.update({p.rel_path: (p.mtime_ns, p.size) for p in scan.problems})
        logger.info(
            "Scanned %s: %d files, %d to clean, %d pending.",
            escape(raw),
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
            summary.reject_reasons.update(snapshot.rejects.column("reason").to_pylist())
            summary.seconds = time.perf_counter() - started
            return summary
        now = datetime.now(UTC)
        ids = DocIds(set(snapshot.documents.column("doc_id").to_pylist()))
        writer = store.begin()
        try:
            rejects = list(problem_rejects)
            executor = worker_pool(workers) if workers and workers > 1 and plan.to_clean else None
            try:
                limit = _batches_in_flight(executor)
                in_flight: deque[tuple[PrefectFuture[BatchOutcome], list[RawEntry], Location]] = deque()
                outcomes: list[tuple[BatchOutcome, Location]] = []
                done = 0

                def take(outcome: BatchOutcome, batch: list[RawEntry], part: Location, resumed: bool) -> None:
                    nonlocal done
                    if outcome.cleaned:
                        outcomes.append((outcome, writer.adopt_part(part)))
                    rejects.extend(outcome.rejects)
                    summary.add_batch(outcome, resumed)
                    done += len(batch)
                    report_progress = progress.hook.get()
                    if report_progress:
                        report_progress(done, len(plan.to_clean))

                def collect_oldest() -> None:
                    future, batch, part = in_flight.popleft()
                    take(future.result(), batch, part, resumed=False)

                report_progress = progress.hook.get()
                if report_progress and plan.to_clean:
                    report_progress(0, len(plan.to_clean))
                for batch in make_batches(plan.to_clean):
                    doc_ids = {
                        e.rel_path: plan.doc_ids[e.rel_path] for e in batch if e.rel_path in plan.doc_ids
                    }
                    key = batch_key(batch, doc_ids, config, rules.version)
                    part = store.batch_part(key)
                    finished = store.finished_batch(key)
                    if finished is not None:  # cleaned by an interrupted run: its part is reused
                        take(BatchOutcome.from_json(finished), batch, part, resumed=True)
                        continue
                    while limit is not None and len(in_flight) >= limit:
                        collect_oldest()
                    future = clean_batch.submit(
                        Batch(batch, doc_ids, store.batch_marker(key)), config, part, now, executor
                    )
                    in_flight.append((future, batch, part))
                while in_flight:
                    collect_oldest()
            finally:
                if executor:
                    executor.shutdown()
            reject_paths = {r.source_path for r in rejects}
            reassign_clashing_ids(outcomes, ids)
            writer.carry_documents(plan.drop | reject_paths, reused_rows(store, plan, now, ids))
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
            writer.set_rejects(pa.concat_tables([kept_rejects, fresh]), options)
            # Corpus pass (#19): across documents, after the batches, before the commit.
            summary.corpus = update_corpus(
                writer.staged, writer.current, sign_on_workers if _on_dask() else sign_here
            )
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
    for rule, documents in sorted(summary.disabled_rules.items()):
        logger.warning(
            "Rule %r timed out on %d documents and was disabled for the rest of the run: %d more documents "
            "were cleaned without it and carry the flag rule_disabled:%s. Fix or remove the rule; the next "
            "run re-cleans every document with the new rules.",
            rule,
            DISABLE_AFTER_TIMEOUTS,
            documents,
            rule,
        )
    # The run's own counts, then the per-rule totals of the whole dataset the HTML report details.
    if html_report:
        write_report(curated)
    whole = dataset_report_markdown(curated)
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
