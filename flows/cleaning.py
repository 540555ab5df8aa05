"""Cleaning one batch where it runs (the flow's process, a cleaning process, a Dask worker): read each
file, clean the batch, write its part file, its documents' corpus facts and its completion marker.

No Prefect here: a cleaning process loads only what cleaning needs (flows.batches holds the task).
A batch finished by an interrupted run is found again by its key (flows.batches.batch_key) and
reused instead of cleaned again. The hashing step of the plan reads raw files with the same `open_raw`.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from docclean.corpus_facts import alone, corpus_facts
from docclean.errors import RejectedInput
from docclean.pipeline import BatchItem, CleanConfig, Cleaner
from docclean.record import Reject
from docclean.schema import DOCUMENT_SCHEMA
from flows.location import Location
from flows.scan import ChangedDuringRead, RawEntry
from flows.store import batch_facts, write_marker, write_part

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
        limit = config.max_file_bytes + 1
        with open_raw(entry) as handle:
            # A read of `limit` bytes would allocate them all up front, for every file: the size
            # the scan saw, and one byte more, tells a file that grew since; that one reads on.
            data = handle.read(min(entry.size + 1, limit))
            if entry.size < len(data) < limit:
                data += handle.read(limit - len(data))
            return data
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
            entry.rel_path,
            None,
            "unreadable",
            f"{entry.rel_path}: permission denied when reading the file; let the user docclean runs as read it, "
            "and the next run cleans it.",
        )
    except OSError as error:
        return Reject(
            entry.rel_path,
            None,
            "unreadable",
            f"{entry.rel_path}: the file cannot be read ({error.strerror or error}); the next run tries again.",
        )


def rejected(source_path: str, error: RejectedInput, data: bytes | None = None) -> Reject:
    """The Reject of a file that reading or cleaning refused (too large, empty, binary, ...); `data`,
    the file's bytes when they were read, gives its source_sha256 (None: they were not)."""
    sha = hashlib.sha256(data).hexdigest() if data is not None else None
    return Reject(source_path, sha, error.reason, f"{source_path}: {error.detail}")


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
                    position[item.source_path], rejected(item.source_path, error, item.data)
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
    # A document extracted from a PDF or Word file has no byte encoding: its format stands in.
    outcome.encodings.update(
        encoding or f"({source_format})"
        for encoding, source_format in zip(
            table["encoding"].to_pylist(), table["source_format"].to_pylist(), strict=True
        )
    )
    outcome.noise_by_category.update(_counts(table["removed"], "category"))
    outcome.placeholders_by_kind.update(_counts(table["placeholders"], "kind"))
    flags = _counts(table["flags"])
    outcome.disabled_rules = {rule: flags.get(f"rule_disabled:{rule}", 0) for rule in cleaner.disabled_rules}
    if table.num_rows:
        # Here, where the texts are at hand and batches run in parallel, not in the serial corpus pass.
        facts = corpus_facts(table, token=cleaner.config.placeholder_token)
        write_part(alone(table, facts.column("text_sha256")), part)
        write_part(facts, batch_facts(part))
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
