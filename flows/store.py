"""The curated folder: snapshots of the Parquet dataset, swapped in atomically.

Layout (for `--curated curated`):

    curated/README.md                                 what the folder holds and how to load it
    curated/documents -> ../.docclean/datasets/curated/current/documents   (fixed links, made once)
    curated/rejects   -> ../.docclean/datasets/curated/current/rejects
    .docclean/datasets/curated/current -> snapshots/000007                 (the one link a commit swaps)
    .docclean/datasets/curated/snapshots/000007/{documents,rejects}/part-*.parquet
    .docclean/datasets/curated/batches/<key>.parquet, <key>.done           (an unfinished run's batches)

The snapshots live in a hidden state folder beside curated/, not inside it: a recursive glob
from curated/ (DuckDB's `curated/**/*.parquet` descends into hidden folders) must never reach
older snapshots, and the README makes readers that take the whole folder (pandas, pyarrow) fail
naming it instead of mixing the two tables. Hugging Face `datasets` reads the README's `configs`.

A run writes a complete new snapshot beside the current one (unchanged part files are hard
links, so this costs almost nothing) and commits by replacing the `current` link with
`os.replace`, which is atomic. A reader therefore sees either the old or the new dataset,
never a mix, and a run killed at any moment leaves the previous snapshot in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from docclean.errors import DoccleanError
from docclean.layout import LOCK_FILE, state_folder
from docclean.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA
from flows.storage import ObjectPath, cause_of

SNAPSHOTS = ".snapshots"
BATCHES = "batches"
TABLE_NAMES = ("documents", "rejects")
# Schema metadata key of the rejects table: the options its option-dependent rejects were judged under.
OPTIONS_KEY = b"docclean.options"
# Hugging Face `datasets` reads the dataset card's `configs`; people read the rest.
DATASET_README = """---
configs:
- config_name: documents
  data_files: documents/*.parquet
  default: true
- config_name: rejects
  data_files: rejects/*.parquet
---
# A docclean dataset

Two Parquet tables: `documents/` (one row per raw document) and `rejects/` (one row per file that
could not become a document). Load one table, never this whole folder:

    pyarrow.dataset.dataset("{name}/documents")
    pandas.read_parquet("{name}/documents")
    polars.scan_parquet("{name}/documents/*.parquet")
    duckdb.sql("SELECT count(*) FROM '{name}/documents/*.parquet'")
    datasets.load_dataset("{name}", split="train")     # or ("{name}", "rejects", split="train")

`documents` and `rejects` are links into the current snapshot, which docclean keeps with the
older ones in `{state}`. Written by docclean: edits here are overwritten.
"""
# Readers that opened the previous snapshot keep it for this long before it is deleted.
KEEP_PREVIOUS_SNAPSHOTS = 2
# zstd at its default level: the compression the brief asks for, fast to write and read.
PARQUET_OPTIONS = {"compression": "zstd"}


class StoreError(DoccleanError):
    """The curated folder cannot be read or written."""


class RunLockedError(DoccleanError):
    """Another run holds the curated folder."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    documents: pa.Table
    rejects: pa.Table


class CuratedStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = state_folder(root)
        self.snapshots = self.state / "snapshots"
        self.batches = self.state / BATCHES

    @contextlib.contextmanager
    def lock(self, wait_seconds: float = 0.0) -> Iterator[None]:
        """Hold the curated folder for one run; a second run waits up to `wait_seconds`, then stops."""
        self.root.mkdir(parents=True, exist_ok=True)
        # Close-on-exec: a program this run starts must not hold the lock after the run ends
        # (flock belongs to the open file, shared by every copy of the descriptor).
        descriptor = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        with os.fdopen(descriptor, "r+") as handle:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RunLockedError(
                            f"Another docclean run is writing {self.root}; this run stops without changing anything. "
                            "Try again when it has finished."
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def current_dir(self) -> Path | None:
        """The current snapshot's folder; None when there is no dataset yet.

        Raises StoreError when a `current` link exists but leads to no snapshot: read as no dataset,
        it would make the next run rebuild everything and prune the snapshots it could be restored from.
        """
        for link in (self.state / "current", self.root / "current"):  # the second: the layout before 0.2
            if not link.is_symlink():
                if link.exists():
                    raise StoreError(
                        f"{link} is not docclean's link to the current snapshot; move it away and run again."
                    )
                continue
            target = link.resolve()
            if not target.is_dir():
                raise StoreError(
                    f"{link} points to {os.readlink(link)}, which is not a snapshot folder; point it at the "
                    f"newest snapshot in {link.parent / os.path.dirname(os.readlink(link))} "
                    f"(ln -sfn {os.path.dirname(os.readlink(link))}/NNNNNN {link}) or delete it to rebuild the "
                    "dataset from raw/."
                )
            return target
        return None

    def has_snapshot(self) -> bool:
        return self.current_dir() is not None

    def upgrade_layout(self) -> None:
        """Move a curated folder of the old layout (snapshots in curated/.snapshots) to the state folder.

        Called under the run lock. The current snapshot is hard-linked into the state folder and
        the fixed links are swapped one `os.replace` each, so a reader sees the same rows
        throughout; the older snapshots, kept only for readers of the old layout, are dropped.
        """
        old_current = self.root / "current"
        if not old_current.is_symlink():
            return
        current = old_current.resolve()
        if current.is_dir() and not (self.state / "current").is_symlink():
            target = self.snapshots / current.name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(current, target, copy_function=_link_or_copy)
            _fsync_tree(target)
            self._swap_current(target)
        self._ensure_fixed_links()
        old_current.unlink()
        shutil.rmtree(self.root / SNAPSHOTS, ignore_errors=True)

    def read_documents_of(self, paths: list[str]) -> pa.Table:
        """The current snapshot's rows of these source paths, every column."""
        current = self.current_dir()
        if current is None:
            return DOCUMENT_SCHEMA.empty_table()
        tables = [
            _read_part(part, schema=DOCUMENT_SCHEMA, filters=pc.field("source_path").isin(paths))
            for part in sorted((current / "documents").glob("*.parquet"))
        ]
        return pa.concat_tables(tables) if tables else DOCUMENT_SCHEMA.empty_table()

    def read(self, columns: list[str] | None = None) -> Snapshot:
        current = self.current_dir()
        if current is None:
            return Snapshot(DOCUMENT_SCHEMA.empty_table(), REJECT_SCHEMA.empty_table())
        return Snapshot(
            _read_table(current / "documents", DOCUMENT_SCHEMA, columns),
            _read_table(current / "rejects", REJECT_SCHEMA, None),
        )

    def batch_part(self, key: str) -> Path:
        """Where the batch of `key` writes its documents; kept across runs until a commit holds them."""
        self.batches.mkdir(parents=True, exist_ok=True)
        return self.batches / f"{key}.parquet"

    def batch_marker(self, key: str) -> Path:
        """The completion marker of the batch of `key`, written (atomically) after its part file."""
        return self.batches / f"{key}.done"

    def finished_batch(self, key: str) -> bytes | None:
        """The marker's content when the batch of `key` finished in an earlier, uncommitted run."""
        try:
            return self.batch_marker(key).read_bytes()
        except FileNotFoundError:
            return None

    def kept_batches(self) -> int:
        """How many finished batches of unfinished runs wait to be reused."""
        return len(list(self.batches.glob("*.done"))) if self.batches.is_dir() else 0

    def reject_options(self) -> dict[str, object] | None:
        """The options the current snapshot's rejects were judged under (None before they were recorded)."""
        current = self.current_dir()
        parts = sorted((current / "rejects").glob("*.parquet")) if current else []
        return options_of(pq.read_schema(parts[0])) if parts else None

    def begin(self) -> SnapshotWriter:
        self.snapshots.mkdir(parents=True, exist_ok=True)
        self._remove_unfinished()
        existing = [int(p.name) for p in self.snapshots.iterdir() if p.name.isdigit()]
        number = max(existing, default=0) + 1
        return SnapshotWriter(self, self.snapshots / f"{number:06d}.tmp", self.current_dir())

    def _remove_unfinished(self) -> None:
        # Only the staged snapshot: the batches it was built from stay until a commit holds them.
        for leftover in self.snapshots.glob("*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)

    def commit(self, staged: Path) -> Path:
        final = staged.with_suffix("")
        _fsync_tree(staged)
        os.replace(staged, final)
        self._swap_current(final)
        self._ensure_fixed_links()
        self._prune_old(keep=final)
        # The snapshot holds every finished batch now (hard links): their own copies can go.
        shutil.rmtree(self.batches, ignore_errors=True)
        return final

    def _swap_current(self, snapshot: Path) -> None:
        tmp_link = self.state / "current.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()
        tmp_link.symlink_to(Path(snapshot.parent.name) / snapshot.name)
        os.replace(tmp_link, self.state / "current")
        _fsync_dir(self.state)

    def _ensure_fixed_links(self) -> None:
        for name in TABLE_NAMES:
            link = self.root / name
            target = Path(os.path.relpath(self.state / "current" / name, self.root))
            if link.is_symlink():
                if Path(os.readlink(link)) != target:
                    _replace_link(link, target)
                continue
            if link.exists():
                if link.is_dir() and not any(link.iterdir()):
                    link.rmdir()
                else:
                    raise StoreError(
                        f"{link} exists and is not docclean's link to the current snapshot; move it away and run again."
                    )
            link.symlink_to(target)
        readme = self.root / "README.md"
        text = DATASET_README.format(name=self.root.name, state=os.path.relpath(self.state, self.root.parent))
        if not readme.is_file() or readme.read_text(encoding="utf-8") != text:
            staged = readme.with_name(".README.md.tmp")
            staged.write_text(text, encoding="utf-8")
            os.replace(staged, readme)
        _fsync_dir(self.root)

    def _prune_old(self, keep: Path) -> None:
        numbered = sorted(
            (p for p in self.snapshots.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
        for old in numbered[: -(KEEP_PREVIOUS_SNAPSHOTS + 1)]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)


class SnapshotWriter:
    """Builds the next snapshot beside the current one; nothing is visible until `commit`."""

    def __init__(self, store: CuratedStore, staged: Path, base: Path | None) -> None:
        self.store = store
        self.staged = staged
        self.base = base
        self._parts = 0
        (staged / "documents").mkdir(parents=True)
        (staged / "rejects").mkdir(parents=True)

    def add_documents(self, table: pa.Table) -> None:
        if table.num_rows:
            self._write("documents", table.cast(DOCUMENT_SCHEMA))

    def carry_documents(self, drop_paths: set[str], updates: pa.Table | None = None) -> None:
        """Bring the current snapshot's documents over, minus `drop_paths`.

        Part files with nothing to drop are hard-linked, not copied: unchanged data costs no I/O.
        """
        if self.base is None:
            return
        for part in sorted((self.base / "documents").glob("*.parquet")):
            if drop_paths:
                paths = pq.read_table(part, columns=["source_path"]).column("source_path")
                mask = pc.is_in(paths, value_set=pa.array(sorted(drop_paths), pa.string()))
                if pc.any(mask).as_py():
                    kept = pq.read_table(part, schema=DOCUMENT_SCHEMA).filter(pc.invert(mask))
                    self.add_documents(kept)
                    continue
            self._link(part, "documents")
        if updates is not None:
            self.add_documents(updates)

    def adopt_part(self, part: Path) -> Path:
        """Take a finished batch's part file into the snapshot (a hard link: no copy); its path there."""
        return self._link(part, "documents")

    def set_rejects(self, table: pa.Table, options: dict[str, object] | None = None) -> None:
        self._write("rejects", with_options(table.cast(REJECT_SCHEMA), options))

    def commit(self) -> Path:
        """Make the staged snapshot current; raises StoreError, committing nothing, if a document is there twice."""
        parts = sorted((self.staged / "documents").glob("*.parquet"))
        if not parts:
            # No document: one part of no rows still gives every reader the table and its schema.
            self._write("documents", DOCUMENT_SCHEMA.empty_table())
        check_one_row_per_document(parts, f"the new snapshot of {self.store.root}")
        return self.store.commit(self.staged)

    def abandon(self) -> None:
        shutil.rmtree(self.staged, ignore_errors=True)

    def next_part(self, table_name: str) -> Path:
        """A new part file's path in the staged snapshot, for this writer or a batch task to fill."""
        self._parts += 1
        return self.staged / table_name / f"part-{self._parts:05d}.parquet"

    def _write(self, table_name: str, table: pa.Table) -> None:
        write_part(table, self.next_part(table_name))

    def _link(self, part: Path, table_name: str) -> Path:
        target = self.next_part(table_name)
        try:
            os.link(part, target)
        except OSError:
            shutil.copyfile(part, target)
        return target


def write_part(table: pa.Table, target: Path | ObjectPath) -> None:
    """Write one part file: on the local disk, or as one object in object storage (from any worker)."""
    if isinstance(target, ObjectPath):
        try:
            _write_parquet(table, target.path, target.filesystem)
        except OSError as error:
            raise StoreError(
                f"Could not write {target.url}: {cause_of(target, error)}. The previous dataset is intact; "
                "fix the cause and run again."
            ) from error
        return
    try:
        _write_parquet(table, target)
    except OSError as error:
        raise StoreError(
            f"Could not write {target}: {error.strerror or error}. The previous dataset is intact; "
            "free disk space or fix permissions on the curated folder and run again."
        ) from error


def read_part(part: Path | ObjectPath, columns: list[str] | None = None) -> pa.Table:
    """One part file of the documents table, from the local disk or object storage."""
    if isinstance(part, ObjectPath):
        return pq.read_table(part.path, columns=columns, filesystem=part.filesystem, schema=DOCUMENT_SCHEMA)
    return pq.read_table(part, columns=columns, schema=DOCUMENT_SCHEMA)


# The identity of a document: a snapshot holds each value of these columns at most once.
UNIQUE_COLUMNS = ("source_path", "doc_id")


def check_one_row_per_document(parts: list[Path] | list[ObjectPath], snapshot: str) -> None:
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


def write_marker(data: bytes, target: Path | ObjectPath, part: Path | ObjectPath | None = None) -> None:
    """Write a batch's completion marker in one atomic step: it exists whole or not at all.

    `part`, the batch's part file, reaches the disk first: a marker never outlives its part.
    """
    if isinstance(target, ObjectPath):
        with target.filesystem.open_output_stream(target.path) as handle:  # one PUT
            handle.write(data)
        return
    if isinstance(part, Path):
        with open(part, "rb") as handle:
            os.fsync(handle.fileno())
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(staged, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged, target)


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


def _write_parquet(table: pa.Table, where: str | Path, filesystem: pafs.FileSystem | None = None) -> None:
    # A table of no rows is written with no row group at all: readers that batch by row group
    # (Hugging Face `datasets`: "BatchSize must be greater than 0") fail on an empty one.
    with pq.ParquetWriter(where, table.schema, filesystem=filesystem, **PARQUET_OPTIONS) as writer:
        if table.num_rows:
            writer.write_table(table)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _replace_link(link: Path, target: Path) -> None:
    staged = link.with_name(f".{link.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    staged.symlink_to(target)
    os.replace(staged, link)


def _read_table(folder: Path, schema: pa.Schema, columns: list[str] | None) -> pa.Table:
    parts = sorted(folder.glob("*.parquet"))
    if not parts:
        table = schema.empty_table()
        return table.select(columns) if columns else table
    tables = [_read_part(p, columns=columns, schema=schema) for p in parts]
    return pa.concat_tables(tables)


def _read_part(part: Path, **options: object) -> pa.Table:
    """One part file of the current snapshot (pq.read_table's options); StoreError naming it if it cannot be read."""
    try:
        return pq.read_table(part, **options)
    except (OSError, pa.ArrowException) as error:
        snapshots = part.parent.parent.parent  # <snapshots>/<snapshot>/<table>/<part>
        current = snapshots.parent / "current"
        raise StoreError(
            f"{part} cannot be read ({error}); if it is damaged, point {current} at the previous snapshot "
            f"(ln -sfn {snapshots.name}/NNNNNN {current}) or delete {current} to rebuild the dataset from raw/."
        ) from error


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        _fsync_dir(path)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
