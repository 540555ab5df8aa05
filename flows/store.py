"""The curated dataset: snapshots of two Parquet tables, written beside the current one and committed whole.

One implementation for a local folder and object storage: every file goes through the
location's pyarrow filesystem, and the two things the storage kinds do differently, the run
lock and the commit, are its `Snapshots` strategy (flows.local: flock and a link swap; flows.s3:
a lease and a pointer object; each module describes its layout).

A run writes a complete new snapshot beside the current one: unchanged part files are carried
over without their bytes passing through this process (a hard link, a server-side copy), new
ones are written by the batches themselves, wherever they run. Nothing is visible until the
commit, which is atomic, so a reader sees the old or the new dataset, never a mix, and a run
killed at any moment leaves the previous snapshot in place. Finished batches of an uncommitted
run stay in the batches folder, so the next run reuses them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from docclean.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA
from flows.location import Location, StorageError, StoreError, cause_of

# Schema metadata key of the rejects table: the options its option-dependent rejects were judged under.
OPTIONS_KEY = b"docclean.options"
# zstd at its default level: the compression the brief asks for, fast to write and read.
PARQUET_OPTIONS = {"compression": "zstd"}
# Columns of long values that rarely repeat: no dictionary (Parquet would build one and drop it
# once it outgrows its page, and a dictionary-encoded text column reads at half the speed) and
# no min/max statistics (a text's are a truncated prefix no reader filters on).
FREE_TEXT_COLUMNS = frozenset({"text", "signature"})
# The identity of a document: a snapshot holds each value of these columns at most once.
UNIQUE_COLUMNS = ("source_path", "doc_id")


@dataclass(frozen=True, slots=True)
class Snapshot:
    documents: pa.Table
    rejects: pa.Table


class Store:
    """The curated dataset at `root`, a local folder or an object-storage prefix."""

    def __init__(self, root: Location) -> None:
        self.root = root
        self.strategy = root.backend.snapshots(root)
        self.batches = self.strategy.batches

    @contextlib.contextmanager
    def lock(self, wait_seconds: float = 0.0) -> Iterator[None]:
        """Hold the dataset for one run; a second run waits up to `wait_seconds`, then stops (RunLockedError)."""
        with self.strategy.lock(wait_seconds):
            yield

    def upgrade_layout(self) -> None:
        """Move a dataset of an older layout to the current one; called under the run lock."""
        self.strategy.upgrade_layout()

    def current(self) -> Location | None:
        """The current snapshot; None when there is no dataset yet (StoreError when its pointer is broken)."""
        return self.strategy.current()

    def has_snapshot(self) -> bool:
        return self.current() is not None

    def read(self, columns: list[str] | None = None) -> Snapshot:
        """The current snapshot's tables (documents restricted to `columns`); empty tables before the first run."""
        current = self.current()
        if current is None:
            return Snapshot(DOCUMENT_SCHEMA.empty_table(), REJECT_SCHEMA.empty_table())
        return Snapshot(
            self.read_table(current.child("documents"), DOCUMENT_SCHEMA, columns),
            self.read_table(current.child("rejects"), REJECT_SCHEMA, None),
        )

    def read_documents_of(self, paths: list[str]) -> pa.Table:
        """The current snapshot's rows of these source paths, every column."""
        current = self.current()
        if current is None:
            return DOCUMENT_SCHEMA.empty_table()
        return self.read_table(
            current.child("documents"), DOCUMENT_SCHEMA, None, pc.field("source_path").isin(paths)
        )

    def read_table(
        self, folder: Location, schema: pa.Schema, columns: list[str] | None, filters: Any = None
    ) -> pa.Table:
        """The part files of `folder` as one table; StoreError naming a part that cannot be read, and how to recover."""
        tables = [self.read_current_part(part, schema, columns, filters) for part in folder.files(".parquet")]
        if not tables:
            table = schema.empty_table()
            return table.select(columns) if columns else table
        return pa.concat_tables(tables)

    def read_current_part(
        self,
        part: Location,
        schema: pa.Schema = DOCUMENT_SCHEMA,
        columns: list[str] | None = None,
        filters: Any = None,
    ) -> pa.Table:
        """One part file of a committed snapshot; StoreError naming it when it cannot be read, and how to recover."""
        try:
            return pq.read_table(
                part.path, columns=columns, schema=schema, filters=filters, filesystem=part.filesystem
            )
        except (OSError, pa.ArrowException) as error:
            raise self.strategy.unreadable(part, error) from error

    def batch_part(self, key: str) -> Location:
        """Where the batch of `key` writes its documents; kept across runs until a commit holds them."""
        self.root.backend.make_folder(self.batches)
        return self.batches.child(f"{key}.parquet")

    def batch_marker(self, key: str) -> Location:
        """The completion marker of the batch of `key`, written (atomically) after its part file."""
        return self.batches.child(f"{key}.done")

    def finished_batch(self, key: str) -> bytes | None:
        """The marker's content when the batch of `key` finished in an earlier, uncommitted run."""
        return self.batch_marker(key).read_bytes()

    def kept_batches(self) -> int:
        """How many finished batches of unfinished runs wait to be reused."""
        try:
            return len(self.batches.files(".done"))
        except StorageError:
            return 0

    def reject_options(self) -> dict[str, object] | None:
        """The options the current snapshot's rejects were judged under (None before they were recorded)."""
        current = self.current()
        parts = current.child("rejects").files(".parquet") if current else []
        return options_of(pq.read_schema(parts[0].path, filesystem=parts[0].filesystem)) if parts else None

    def begin(self) -> SnapshotWriter:
        """A writer of the next snapshot, staged beside the current one (a staged snapshot a killed run left is removed)."""
        snapshot_id, staged, base = self.strategy.stage()
        return SnapshotWriter(self, snapshot_id, staged, base, self.current())


class SnapshotWriter:
    """Builds the next snapshot beside the current one; nothing is visible until `commit`."""

    def __init__(
        self, store: Store, snapshot_id: str, staged: Location, base: Any, current: Location | None
    ) -> None:
        self.store = store
        self.snapshot_id = snapshot_id
        self.staged = staged
        self.base = base
        # The snapshot the run started from: what is carried over, and the corpus state it updates.
        self.current = current
        self._parts = 0

    def add_documents(self, table: pa.Table) -> None:
        if table.num_rows:
            write_part(table.cast(DOCUMENT_SCHEMA), self.next_part("documents"))

    def carry_documents(self, drop_paths: set[str], updates: Iterable[pa.Table] = ()) -> None:
        """Bring the current snapshot's documents over, minus `drop_paths`, then add `updates` (a part each).

        Part files with nothing to drop are carried whole (a hard link, a server-side copy): unchanged
        data costs no transfer.
        """
        if self.current is not None:
            drop = pa.array(sorted(drop_paths), pa.string())
            documents = self.current.child("documents")
            for part in documents.files(".parquet"):
                if drop_paths:
                    paths = self.store.read_current_part(part, columns=["source_path"]).column("source_path")
                    mask = pc.is_in(paths, value_set=drop)
                    if pc.any(mask).as_py():
                        self.add_documents(self.store.read_current_part(part).filter(pc.invert(mask)))
                        continue
                self.adopt_part(part)
        for table in updates:
            self.add_documents(table)

    def adopt_part(self, part: Location) -> Location:
        """Take a finished batch's part file into the snapshot without copying it through this process; its place there."""
        target = self.next_part("documents")
        try:
            part.backend.carry(part, target)
        except OSError as error:
            raise StoreError(
                f"Could not carry {part.url} into the new snapshot: {cause_of(part, error)}. The previous dataset "
                "is intact; run again."
            ) from error
        return target

    def set_rejects(self, table: pa.Table, options: dict[str, object] | None = None) -> None:
        write_part(with_options(table.cast(REJECT_SCHEMA), options), self.next_part("rejects"))

    def next_part(self, table_name: str) -> Location:
        """A new part file in the staged snapshot, for this writer or a batch task (on any worker) to fill."""
        self._parts += 1
        return self.staged.child(f"{table_name}/part-{self._parts:05d}.parquet")

    def commit(self) -> None:
        """Make the staged snapshot current; raises StoreError, committing nothing, if a document is there twice."""
        parts = self.staged.child("documents").files(".parquet")
        if not parts:
            # No document: one part of no rows still gives every reader the table and its schema.
            write_part(DOCUMENT_SCHEMA.empty_table(), self.next_part("documents"))
        check_one_row_per_document(parts, f"the new snapshot of {self.store.root.url}")
        self.store.strategy.commit(self.snapshot_id, self.base)

    def abandon(self) -> None:
        with contextlib.suppress(OSError):  # what is left is removed by the next run
            self.staged.delete()


def write_part(table: pa.Table, target: Location) -> None:
    """Write one part file, from the flow's process or any worker; StoreError when it cannot be written.

    A table of no rows is written with no row group at all: readers that batch by row group
    (Hugging Face `datasets`: "BatchSize must be greater than 0") fail on an empty one.
    """
    try:
        coded = [name for name in table.schema.names if name not in FREE_TEXT_COLUMNS]
        with pq.ParquetWriter(
            target.path,
            table.schema,
            filesystem=target.filesystem,
            use_dictionary=[path for name in coded for path in leaf_paths(table.schema.field(name))],
            write_statistics=coded,
            **PARQUET_OPTIONS,
        ) as writer:
            if table.num_rows:
                writer.write_table(table)
    except OSError as error:
        raise StoreError(
            f"Could not write {target.url}: {cause_of(target, error)}. The previous dataset is intact; "
            "free space or fix the permissions or credentials for the curated dataset and run again."
        ) from error


def leaf_paths(field: pa.Field) -> list[str]:
    """The Parquet column paths of an Arrow field: itself, or the leaves of its lists and structs
    (`placeholders.list.element.kind`), as ParquetWriter names them for its per-column options.

    Named leaf by leaf: a writer option given a nested column's top-level name applies to none of
    its leaves, and a list<struct> annotation column then goes without the dictionary its
    low-cardinality fields (`kind`, `rule`, `category`) compress by (parts 14 % smaller).
    """
    kind = field.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return [f"{field.name}.list.{path}" for path in leaf_paths(kind.value_field.with_name("element"))]
    if pa.types.is_struct(kind):
        return [f"{field.name}.{path}" for child in kind for path in leaf_paths(child)]
    return [field.name]


def rewrite_part(part: Location, table: pa.Table, suffix: str) -> Location:
    """Replace the staged part file `part` by a new one holding `table`; the new part's location.

    Never written through: the staged part may be a hard link to a committed snapshot's, or to a
    batch a resumed run takes again, which must stay as they were.
    """
    stem = part.path.removesuffix(".parquet")
    replacement = Location(
        part.backend, f"{stem}-{suffix}.parquet", f"{part.url.removesuffix('.parquet')}-{suffix}.parquet"
    )
    write_part(table, replacement)
    part.filesystem.delete_file(part.path)
    return replacement


def batch_facts(part: Location) -> Location:
    """Where the batch whose part file is `part` keeps its documents' corpus facts (flows.corpus)."""
    stem, url = part.path.removesuffix(".parquet"), part.url.removesuffix(".parquet")
    return Location(part.backend, f"{stem}.facts.parquet", f"{url}.facts.parquet")


def read_part(part: Location, columns: list[str] | None = None) -> pa.Table:
    """One part file of the documents table, with every column of DOCUMENT_SCHEMA (or `columns`), as
    DOCUMENT_SCHEMA has them: a column the file lacks (an older docclean wrote it) is null.

    Read by pq.ParquetFile rather than pq.read_table, whose dataset layer a cleaning process would
    import (0.2 s) for the corpus pass's jobs alone. Raises what pyarrow raises on an unreadable file.
    """
    names = DOCUMENT_SCHEMA.names if columns is None else columns
    schema = pa.schema([DOCUMENT_SCHEMA.field(name) for name in names], metadata=DOCUMENT_SCHEMA.metadata)
    with part.filesystem.open_input_file(part.path) as source:
        parquet = pq.ParquetFile(source)
        present = set(parquet.schema_arrow.names)
        table = parquet.read(columns=[name for name in names if name in present])
    return pa.Table.from_arrays(
        [
            _as_type(table.column(field.name), field.type)
            if field.name in present
            else pa.nulls(table.num_rows, field.type)
            for field in schema
        ],
        schema=schema,
    )


def _as_type(column: pa.ChunkedArray, type_: pa.DataType) -> pa.ChunkedArray:
    return column if column.type == type_ else column.cast(type_)


def check_one_row_per_document(parts: list[Location], snapshot: str) -> None:
    """Raise StoreError when two rows of the documents `parts` share a source_path or a doc_id.

    Run on every commit: whatever a run planned, a snapshot that would hold a document twice is
    never made current. The check reads two columns of every part.
    """
    if not parts:
        return
    table = pa.concat_tables([read_part(part, list(UNIQUE_COLUMNS)) for part in parts])
    for column in UNIQUE_COLUMNS:
        counts = pc.value_counts(table.column(column))
        twice = counts.filter(pc.greater(counts.field("counts"), 1))
        if len(twice):
            value = twice.field("values")[0].as_py()
            raise StoreError(
                f"The run would have written {len(twice)} {column} value(s) more than once (e.g. {value!r}, "
                f"{twice.field('counts')[0].as_py()} rows) to {snapshot}; nothing was committed and the previous "
                "dataset is intact. This is a fault in docclean: please report it with the run's log."
            )


def write_marker(data: bytes, target: Location, part: Location | None = None) -> None:
    """Write a batch's completion marker in one atomic step: it exists whole or not at all.

    `part`, the batch's part file, is stored durably first: a marker never outlives its part.
    """
    target.backend.write_whole(target, data, after=part)


def with_options(table: pa.Table, options: dict[str, object] | None) -> pa.Table:
    """The rejects table carrying the options its rejects were judged under (schema metadata)."""
    if options is None:
        return table
    metadata = dict(table.schema.metadata or {})
    metadata[OPTIONS_KEY] = json.dumps(options, sort_keys=True).encode()
    return table.replace_schema_metadata(metadata)


def options_of(schema: pa.Schema) -> dict[str, object] | None:
    """The options a rejects part file records, or None when it records none."""
    raw = (schema.metadata or {}).get(OPTIONS_KEY)
    return None if raw is None else json.loads(raw)
