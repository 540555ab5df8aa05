"""The curated folder: snapshots of the Parquet dataset, swapped in atomically.

Layout:

    curated/documents -> current/documents     (fixed relative links, made once)
    curated/rejects   -> current/rejects
    curated/current   -> .snapshots/000007     (the one link a commit swaps)
    curated/.snapshots/000007/{documents,rejects}/part-*.parquet

A run writes a complete new snapshot beside the current one (unchanged part files are hard
links, so this costs almost nothing) and commits by replacing the `current` link with
`os.replace`, which is atomic. A reader therefore sees either the old or the new dataset,
never a mix, and a run killed at any moment leaves the previous snapshot in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from docclean.errors import DoccleanError
from docclean.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA
from flows.storage import ObjectPath, cause_of

SNAPSHOTS = ".snapshots"
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
        self.snapshots = root / SNAPSHOTS

    @contextlib.contextmanager
    def lock(self, wait_seconds: float = 0.0) -> Iterator[None]:
        """Hold the curated folder for one run; a second run waits up to `wait_seconds`, then stops."""
        self.root.mkdir(parents=True, exist_ok=True)
        # Close-on-exec: a program this run starts must not hold the lock after the run ends
        # (flock belongs to the open file, shared by every copy of the descriptor).
        descriptor = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
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

        Raises StoreError when `current` exists but leads to no snapshot: read as no dataset, it
        would make the next run rebuild everything and prune the snapshots it could be restored from.
        """
        link = self.root / "current"
        if not link.is_symlink():
            if link.exists():
                raise StoreError(
                    f"{link} is not docclean's link to the current snapshot; move it away and run again."
                )
            return None
        target = link.resolve()
        if not target.is_dir():
            raise StoreError(
                f"{link} points to {os.readlink(link)}, which is not a snapshot folder; point it at the newest "
                f"snapshot in {self.snapshots} (ln -sfn {SNAPSHOTS}/NNNNNN {link}) or delete it to rebuild the "
                "dataset from raw/."
            )
        return target

    def has_snapshot(self) -> bool:
        return self.current_dir() is not None

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

    def begin(self) -> SnapshotWriter:
        self.snapshots.mkdir(parents=True, exist_ok=True)
        self._remove_unfinished()
        existing = [int(p.name) for p in self.snapshots.iterdir() if p.name.isdigit()]
        number = max(existing, default=0) + 1
        return SnapshotWriter(self, self.snapshots / f"{number:06d}.tmp", self.current_dir())

    def _remove_unfinished(self) -> None:
        for leftover in self.snapshots.glob("*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)

    def commit(self, staged: Path) -> Path:
        final = staged.with_suffix("")
        _fsync_tree(staged)
        os.replace(staged, final)
        self._ensure_fixed_links()
        tmp_link = self.root / "current.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()
        tmp_link.symlink_to(Path(SNAPSHOTS) / final.name)
        os.replace(tmp_link, self.root / "current")
        _fsync_dir(self.root)
        self._prune_old(keep=final)
        return final

    def _ensure_fixed_links(self) -> None:
        for name in ("documents", "rejects"):
            link = self.root / name
            if link.is_symlink():
                continue
            if link.exists():
                if link.is_dir() and not any(link.iterdir()):
                    link.rmdir()
                else:
                    raise StoreError(
                        f"{link} exists and is not docclean's link to the current snapshot; move it away and run again."
                    )
            link.symlink_to(Path("current") / name)

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

    def set_rejects(self, table: pa.Table) -> None:
        self._write("rejects", table.cast(REJECT_SCHEMA))

    def commit(self) -> Path:
        return self.store.commit(self.staged)

    def abandon(self) -> None:
        shutil.rmtree(self.staged, ignore_errors=True)

    def next_part(self, table_name: str) -> Path:
        """A new part file's path in the staged snapshot, for this writer or a batch task to fill."""
        self._parts += 1
        return self.staged / table_name / f"part-{self._parts:05d}.parquet"

    def _write(self, table_name: str, table: pa.Table) -> None:
        write_part(table, self.next_part(table_name))

    def _link(self, part: Path, table_name: str) -> None:
        target = self.next_part(table_name)
        try:
            os.link(part, target)
        except OSError:
            shutil.copyfile(part, target)


def write_part(table: pa.Table, target: Path | ObjectPath) -> None:
    """Write one part file: on the local disk, or as one object in object storage (from any worker)."""
    if isinstance(target, ObjectPath):
        try:
            pq.write_table(table, target.path, filesystem=target.filesystem, **PARQUET_OPTIONS)
        except OSError as error:
            raise StoreError(
                f"Could not write {target.url}: {cause_of(target, error)}. The previous dataset is intact; "
                "fix the cause and run again."
            ) from error
        return
    try:
        pq.write_table(table, target, **PARQUET_OPTIONS)
    except OSError as error:
        raise StoreError(
            f"Could not write {target}: {error.strerror or error}. The previous dataset is intact; "
            "free disk space or fix permissions on the curated folder and run again."
        ) from error


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
        current = part.parent.parent.parent.parent / "current"
        raise StoreError(
            f"{part} cannot be read ({error}); if it is damaged, point {current} at the previous snapshot "
            f"(ln -sfn {SNAPSHOTS}/NNNNNN {current}) or delete {current} to rebuild the dataset from raw/."
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
