"""The curated dataset in object storage: snapshots under one prefix, committed by one pointer object.

Layout under the curated URL (s3://bucket/curated):

    current.json                                      the pointer: which snapshot is current
    .snapshots/000007-3f2a9c1e/documents/part-*.parquet
    .snapshots/000007-3f2a9c1e/rejects/part-*.parquet
    .lock                                             the run lock's lease

S3 has no links and no atomic rename, but one PUT is atomic: an object is either there whole or
not at all. A run writes the complete next snapshot under a fresh prefix (unchanged part files
are copied inside the storage, never through this process) and commits by rewriting the pointer.
A reader that resolves the pointer sees one complete snapshot, old or new; a run killed at any
moment leaves the pointer on the previous one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from docclean.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA
from flows.storage import ObjectPath, storage_error
from flows.store import (
    KEEP_PREVIOUS_SNAPSHOTS,
    SNAPSHOTS,
    RunLockedError,
    Snapshot,
    StoreError,
    check_one_row_per_document,
    options_of,
    with_options,
    write_part,
)

POINTER = "current.json"
# Finished batches of a run not yet committed: the next run reuses them (see flows.store).
BATCHES = ".batches"
# What `begin` names a snapshot: its number, then a random part.
SNAPSHOT_ID = re.compile(r"\d{6}-[0-9a-f]+")
LOCK = ".lock"
# A run renews its lease every quarter of this; a run killed with SIGKILL blocks others this long.
LEASE_SECONDS = 60.0
# Two runs that both found no lock write theirs within milliseconds of each other: waiting this
# long before checking that the lock is still ours lets the earlier writer see the later one and
# back off, so only one of them goes on (see README: what the lock guarantees on S3).
LOCK_SETTLE_SECONDS = 0.5


class Lease:
    """The run lock on object storage: an object naming its owner, renewed while the run goes on."""

    def __init__(self, target: ObjectPath) -> None:
        self.target = target
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="docclean-lease", daemon=True)

    def holder(self) -> str | None:
        """The owner of the live lease; None when there is none or it has expired."""
        fs = self.target.filesystem
        info = fs.get_file_info(self.target.path)
        if info.type == pafs.FileType.NotFound or time.time_ns() - info.mtime_ns > LEASE_SECONDS * 1e9:
            return None
        try:
            with fs.open_input_stream(self.target.path) as handle:
                body = handle.read()
        except FileNotFoundError:
            return None
        try:
            return str(json.loads(body.decode("utf-8"))["owner"])
        except (ValueError, KeyError, TypeError) as error:
            raise StoreError(
                f"{self.target.url}, the run lock, is corrupt ({_what_is_wrong(error)}); if no other docclean run "
                f"is writing, delete it (or wait {LEASE_SECONDS:.0f} s until it expires) and run again."
            ) from None

    def acquire(self, wait_seconds: float) -> None:
        deadline = time.monotonic() + wait_seconds
        while True:
            if self.holder() is None:
                self._write()
                time.sleep(LOCK_SETTLE_SECONDS)
                if self.holder() == self.token:
                    break
            if time.monotonic() >= deadline:
                raise RunLockedError(
                    f"Another docclean run is writing {self.target.url.removesuffix('/' + LOCK)}; this run stops "
                    "without changing anything. Try again when it has finished."
                )
            time.sleep(0.5)
        self._renewer.start()

    def release(self) -> None:
        self._stop.set()
        if self._renewer.is_alive():
            self._renewer.join()
        try:
            ours = self.holder() == self.token
        except StoreError:
            ours = False  # overwritten by something else: left for whoever wrote it, or its expiry
        if ours:
            self.target.filesystem.delete_file(self.target.path)

    def _write(self) -> None:
        body = {"owner": self.token, "since": datetime.now(UTC).isoformat(), "lease_seconds": LEASE_SECONDS}
        with self.target.filesystem.open_output_stream(self.target.path) as handle:
            handle.write(json.dumps(body).encode())

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 4):
            try:
                if self.holder() != self.token:
                    self.lost.set()
                    return
                self._write()
            except OSError:
                continue  # a storage hiccup: the lease lasts four renewals, try again at the next
            except StoreError:  # overwritten with something that is not a lease: no longer ours
                self.lost.set()
                return


class ObjectStore:
    """The curated dataset under an s3:// prefix; the same interface as flows.store.CuratedStore."""

    def __init__(self, root: ObjectPath) -> None:
        self.root = root
        self.fs = root.filesystem
        self._lease: Lease | None = None

    @contextlib.contextmanager
    def lock(self, wait_seconds: float = 0.0) -> Iterator[None]:
        lease = Lease(self.root.child(LOCK))
        try:
            lease.acquire(wait_seconds)
        except OSError as error:
            raise storage_error("lock the curated dataset at", self.root, error) from error
        self._lease = lease
        try:
            yield
        finally:
            self._lease = None
            with contextlib.suppress(OSError):  # an unreleased lease expires by itself
                lease.release()

    def pointer(self) -> dict[str, object] | None:
        """The pointer object's content; None when there is no dataset yet.

        Raises StoreError naming the object when it is not a pointer docclean wrote.
        """
        try:
            with self.fs.open_input_stream(self.root.child(POINTER).path) as handle:
                body = handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise storage_error("read the curated dataset at", self.root, error) from error
        try:
            pointer = json.loads(body.decode("utf-8"))
            snapshot = pointer["snapshot"]
        except (ValueError, KeyError, TypeError) as error:
            raise self._corrupt_pointer(_what_is_wrong(error)) from None
        if not isinstance(snapshot, str) or not SNAPSHOT_ID.fullmatch(snapshot):
            raise self._corrupt_pointer(f"its snapshot {snapshot!r} is not a snapshot name")
        return pointer

    def current(self) -> ObjectPath | None:
        pointer = self.pointer()
        if pointer is None:
            return None
        current = self.root.child(f"{SNAPSHOTS}/{pointer['snapshot']}")
        try:
            found = self.fs.get_file_info(current.path).type == pafs.FileType.Directory
        except OSError as error:
            raise storage_error("read the curated dataset at", self.root, error) from error
        if not found:
            # Read as an empty dataset, it would make the next run rebuild everything and prune the rest.
            raise self._corrupt_pointer(f"it names the snapshot {pointer['snapshot']}, which is not there")
        return current

    def _corrupt_pointer(self, what: str) -> StoreError:
        snapshots = self.root.child(SNAPSHOTS)
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(snapshots.path, allow_not_found=True))
            names = sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)
        except OSError:
            names = []
        restore = (
            f'write {{"snapshot": "{names[-1]}"}} into it to restore the newest snapshot in {snapshots.url}, '
            if names
            else ""
        )
        return StoreError(
            f"{self.root.url}/{POINTER}, the pointer to the current snapshot, is corrupt ({what}); "
            f"{restore}or delete it to rebuild the dataset from raw/."
        )

    def has_snapshot(self) -> bool:
        return self.pointer() is not None

    def read(self, columns: list[str] | None = None) -> Snapshot:
        current = self.current()
        if current is None:
            return Snapshot(DOCUMENT_SCHEMA.empty_table(), REJECT_SCHEMA.empty_table())
        return Snapshot(
            self._read_table(current.child("documents"), DOCUMENT_SCHEMA, columns),
            self._read_table(current.child("rejects"), REJECT_SCHEMA, None),
        )

    def read_documents_of(self, paths: list[str]) -> pa.Table:
        """The current snapshot's rows of these source paths, every column."""
        current = self.current()
        if current is None:
            return DOCUMENT_SCHEMA.empty_table()
        tables = [
            pq.read_table(
                part, filesystem=self.fs, schema=DOCUMENT_SCHEMA, filters=pc.field("source_path").isin(paths)
            )
            for part in self.parts(current.child("documents"))
        ]
        return pa.concat_tables(tables) if tables else DOCUMENT_SCHEMA.empty_table()

    def parts(self, folder: ObjectPath) -> list[str]:
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(folder.path, allow_not_found=True))
        except OSError as error:
            raise storage_error("list", folder, error) from error
        return sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet"))

    def upgrade_layout(self) -> None:
        """Object storage has kept one layout: nothing to move."""

    def batch_part(self, key: str) -> ObjectPath:
        return self.root.child(f"{BATCHES}/{key}.parquet")

    def batch_marker(self, key: str) -> ObjectPath:
        return self.root.child(f"{BATCHES}/{key}.done")

    def finished_batch(self, key: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(self.batch_marker(key).path) as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise storage_error("read", self.batch_marker(key), error) from error

    def kept_batches(self) -> int:
        try:
            infos = self.fs.get_file_info(
                pafs.FileSelector(self.root.child(BATCHES).path, allow_not_found=True)
            )
        except OSError:
            return 0
        return sum(1 for i in infos if i.path.endswith(".done"))

    def reject_options(self) -> dict[str, object] | None:
        current = self.current()
        parts = self.parts(current.child("rejects")) if current else []
        return options_of(pq.read_schema(parts[0], filesystem=self.fs)) if parts else None

    def begin(self) -> ObjectSnapshotWriter:
        pointer = self.pointer()
        self._prune(_kept(pointer))  # snapshots of runs killed before their commit
        number = int(str(pointer["snapshot"]).split("-")[0]) + 1 if pointer else 1
        # The random part keeps two runs that both got past the lock (see Lease) apart.
        return ObjectSnapshotWriter(self, f"{number:06d}-{secrets.token_hex(4)}", pointer)

    def commit(self, snapshot_id: str, base: dict[str, object] | None) -> None:
        if self._lease is None or self._lease.lost.is_set():
            raise RunLockedError(
                f"This run lost its lock on {self.root.url} (its lease was not renewed in time); "
                "the dataset is left as it was. Run again."
            )
        if self.pointer() != base:
            raise StoreError(
                f"Another run committed to {self.root.url} while this one was running; this run's snapshot "
                "is discarded and the dataset is left as the other run made it. Run again."
            )
        previous = [] if base is None else [str(base["snapshot"]), *_previous(base)]
        pointer = {
            "snapshot": snapshot_id,
            "documents": f"{SNAPSHOTS}/{snapshot_id}/documents",
            "rejects": f"{SNAPSHOTS}/{snapshot_id}/rejects",
            "previous": previous[:KEEP_PREVIOUS_SNAPSHOTS],
            "committed_at": datetime.now(UTC).isoformat(),
        }
        try:
            with self.fs.open_output_stream(self.root.child(POINTER).path) as handle:
                handle.write(json.dumps(pointer, indent=2).encode())
        except OSError as error:
            raise StoreError(
                f"Could not commit the new snapshot of {self.root.url}: {error}. The previous dataset is intact; "
                "run again."
            ) from error
        with contextlib.suppress(OSError):  # old snapshots left now are pruned by the next run
            self._prune(_kept(pointer))
        with contextlib.suppress(OSError):  # the snapshot holds copies of the finished batches now
            self.fs.delete_dir(self.root.child(BATCHES).path)

    def _prune(self, keep: set[str]) -> None:
        try:
            infos = self.fs.get_file_info(
                pafs.FileSelector(self.root.child(SNAPSHOTS).path, allow_not_found=True)
            )
            for info in infos:
                if info.type == pafs.FileType.Directory and info.base_name not in keep:
                    self.fs.delete_dir(info.path)
        except OSError as error:
            raise storage_error("clean up old snapshots under", self.root, error) from error

    def _read_table(self, folder: ObjectPath, schema: pa.Schema, columns: list[str] | None) -> pa.Table:
        parts = self.parts(folder)
        if not parts:
            table = schema.empty_table()
            return table.select(columns) if columns else table
        tables = []
        for part in parts:
            try:
                tables.append(pq.read_table(part, columns=columns, schema=schema, filesystem=self.fs))
            except OSError as error:
                raise storage_error("read", folder, error) from error
            except pa.ArrowException as error:
                raise StoreError(
                    f"s3://{part} cannot be read as Parquet ({error}): the current snapshot is damaged; "
                    f"point {self.root.url}/{POINTER} at an earlier snapshot, or delete it to rebuild the "
                    "dataset from raw/."
                ) from error
        return pa.concat_tables(tables)


def _what_is_wrong(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "it is not text"
    if isinstance(error, KeyError):
        return f"it has no {error.args[0]!r} field"
    if isinstance(error, TypeError):
        return "it is not a JSON object"
    return f"it is not JSON: {error}"


def _previous(pointer: dict[str, object]) -> list[str]:
    previous = pointer.get("previous", [])
    return [str(p) for p in previous] if isinstance(previous, list) else []


def _kept(pointer: dict[str, object] | None) -> set[str]:
    return set() if pointer is None else {str(pointer["snapshot"]), *_previous(pointer)}


class ObjectSnapshotWriter:
    """Builds the next snapshot under its own prefix; nothing is visible until `commit`."""

    def __init__(self, store: ObjectStore, snapshot_id: str, base: dict[str, object] | None) -> None:
        self.store = store
        self.snapshot_id = snapshot_id
        self.base = base
        self.staged = store.root.child(f"{SNAPSHOTS}/{snapshot_id}")
        self._parts = 0

    def add_documents(self, table: pa.Table) -> None:
        if table.num_rows:
            write_part(table.cast(DOCUMENT_SCHEMA), self.next_part("documents"))

    def carry_documents(self, drop_paths: set[str], updates: pa.Table | None = None) -> None:
        """Bring the current snapshot's documents over, minus `drop_paths`.

        Part files with nothing to drop are copied inside the storage (CopyObject): their bytes
        never travel through this process.
        """
        current = self.store.current()
        if current is not None:
            fs = self.store.fs
            drop = pa.array(sorted(drop_paths), pa.string())
            for part in self.store.parts(current.child("documents")):
                try:
                    if drop_paths:
                        paths = pq.read_table(part, columns=["source_path"], filesystem=fs).column(
                            "source_path"
                        )
                        mask = pc.is_in(paths, value_set=drop)
                        if pc.any(mask).as_py():
                            kept = pq.read_table(part, schema=DOCUMENT_SCHEMA, filesystem=fs)
                            self.add_documents(kept.filter(pc.invert(mask)))
                            continue
                    fs.copy_file(part, self.next_part("documents").path)
                except OSError as error:
                    raise StoreError(
                        f"Could not carry {part} into the new snapshot: {error}. The previous dataset is intact; "
                        "run again."
                    ) from error
        if updates is not None:
            self.add_documents(updates)

    def adopt_part(self, part: ObjectPath) -> ObjectPath:
        """Take a finished batch's part object into the snapshot (copied inside the storage); its copy."""
        target = self.next_part("documents")
        try:
            self.store.fs.copy_file(part.path, target.path)
        except OSError as error:
            raise storage_error("copy", part, error) from error
        return target

    def set_rejects(self, table: pa.Table, options: dict[str, object] | None = None) -> None:
        write_part(with_options(table.cast(REJECT_SCHEMA), options), self.next_part("rejects"))

    def next_part(self, table_name: str) -> ObjectPath:
        """A new part object in the staged snapshot, for this writer or a batch task (on any worker) to fill."""
        self._parts += 1
        return self.staged.child(f"{table_name}/part-{self._parts:05d}.parquet")

    def commit(self) -> None:
        parts = self.store.parts(self.staged.child("documents"))
        if not parts:
            # No document: one part of no rows still gives every reader the table and its schema.
            write_part(DOCUMENT_SCHEMA.empty_table(), self.next_part("documents"))
        check_one_row_per_document(
            [ObjectPath(self.store.fs, path, path) for path in parts],
            f"the new snapshot of {self.store.root.url}",
        )
        self.store.commit(self.snapshot_id, self.base)

    def abandon(self) -> None:
        with contextlib.suppress(OSError):  # what is left is pruned by the next run
            self.store.fs.delete_dir(self.staged.path)
