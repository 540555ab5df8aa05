"""Object storage (S3 and compatible) as a backend: raw objects listed by key, snapshots committed by a pointer.

Layout under the curated URL (s3://bucket/curated):

    current.json                                      the pointer: which snapshot is current
    .snapshots/000007-3f2a9c1e/{documents,rejects,corpus}/*.parquet
    .batches/<key>.parquet, <key>.done                an unfinished run's batches
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
from typing import BinaryIO

import pyarrow as pa
import pyarrow.fs as pafs

from flows.location import (
    Location,
    RunLockedError,
    StorageError,
    StoreError,
    UnreadableObject,
    storage_error,
)
from flows.scan import FILE, Listed, RawEntry, name_kind

POINTER = "current.json"
SNAPSHOTS = ".snapshots"
# Finished batches of a run not yet committed: the next run reuses them (see flows.store).
BATCHES = ".batches"
# What `stage` names a snapshot: its number, then a random part.
SNAPSHOT_ID = re.compile(r"\d{6}-[0-9a-f]+")
LOCK = ".lock"
# Readers that resolved the previous pointer keep its snapshot for this long before it is deleted.
KEEP_PREVIOUS_SNAPSHOTS = 2
# A run renews its lease every quarter of this; a run killed with SIGKILL blocks others this long.
LEASE_SECONDS = 60.0
# Two runs that both found no lock write theirs within milliseconds of each other: waiting this
# long before checking that the lock is still ours lets the earlier writer see the later one and
# back off, so only one of them goes on (see README: what the lock guarantees on S3).
LOCK_SETTLE_SECONDS = 0.5
# Key components that S3 stores as given but pyarrow (like any path) reads as a folder step:
# "a//b", "a/./b" and "a/../b" are listed, and then cannot be opened.
UNUSABLE_KEY_COMPONENTS = {"", ".", ".."}


class ObjectStorage:
    """An S3-compatible store through pyarrow's S3FileSystem."""

    def __init__(self, filesystem: pafs.FileSystem) -> None:
        self.filesystem = filesystem

    def make_folder(self, folder: Location) -> None:
        """Object storage has no folders: a key's prefix exists with the key."""

    def carry(self, source: Location, target: Location) -> None:
        # CopyObject: the bytes never travel through this process.
        self.filesystem.copy_file(source.path, target.path)

    def write_whole(self, target: Location, data: bytes, after: Location | None = None) -> None:
        # One PUT: the object exists whole or not at all, and only after `after` was stored.
        with self.filesystem.open_output_stream(target.path) as handle:
            handle.write(data)

    def walk(self, raw: Location, skip: tuple[Location, ...]) -> Iterator[Listed]:
        """Every object under the prefix; the first partial component of a key makes it (or its folder) partial.

        An object exists only once its upload is complete, but a tool that uploads a folder object
        by object is still copying it in: the settle time applies as on a disk.
        """
        bucket = raw.path.split("/", 1)[0]
        try:
            # An empty prefix is an empty raw folder (object storage has no empty folders); a missing bucket is not.
            if self.filesystem.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise StorageError(
                    f"Could not list the raw folder {raw.url}: the bucket {bucket} does not exist."
                )
            infos = self.filesystem.get_file_info(
                pafs.FileSelector(raw.path, recursive=True, allow_not_found=True)
            )
        except OSError as error:
            raise storage_error("list the raw folder", raw, error) from error
        skipped = tuple(f"{folder.path}/" for folder in skip)
        for info in infos:
            if info.type != pafs.FileType.File or info.path.startswith(skipped):
                continue  # prefixes ("folders") are implied by the keys under them
            rel = info.path[len(raw.path) + 1 :]
            names = rel.split("/")
            # The first component not curated now names the entry (a hidden folder's key, once per key).
            held = next(
                (
                    (i, kind)
                    for i, name in enumerate(names)
                    if (kind := name_kind(name, folder=i < len(names) - 1))
                ),
                None,
            )
            if any(name in UNUSABLE_KEY_COMPONENTS for name in names):
                yield Listed(
                    rel.encode(),
                    "bad_key",
                    size=info.size,
                    mtime_ns=info.mtime_ns,
                    detail=f"The object key has an empty, '.' or '..' path component ({raw.url}/{rel}): object "
                    "storage keeps such keys, but they name no file; rename the object.",
                )
            elif held is not None:
                yield Listed("/".join(names[: held[0] + 1]).encode(), held[1])
            else:
                # Keys are UTF-8, but may hold a backslash or a control character: escaped as on a disk.
                yield Listed(rel.encode(), FILE, raw.child(rel), info.size, info.mtime_ns)

    def open_raw(self, entry: RawEntry) -> BinaryIO:
        """The object's bytes as a stream.

        Raises FileNotFoundError when the object is gone (deleted since the listing) and
        UnreadableObject when it is listed but storage will not hand it over as a file.
        """
        source = entry.abs_path
        try:
            return self.filesystem.open_input_stream(source.path)
        except FileNotFoundError:
            if self.filesystem.get_file_info(source.path).type == pafs.FileType.Directory:
                # pyarrow lists a folder marker that has content ("dir/" holding bytes) as the
                # file "dir", which it then cannot open: that key never becomes readable.
                raise UnreadableObject(
                    "not_a_file",
                    f"{source.url}/ is a folder marker with content (a key ending in '/'), not a file; "
                    "delete it or give it a name without the trailing '/'.",
                ) from None
            raise
        except pa.ArrowException as error:
            if isinstance(error, OSError):
                raise  # a storage error: transient like any read error
            raise UnreadableObject("bad_key", f"{source.url} cannot be opened: {error}.") from error

    def snapshots(self, root: Location) -> PointedSnapshots:
        return PointedSnapshots(root)


class Lease:
    """The run lock on object storage: an object naming its owner, renewed while the run goes on."""

    def __init__(self, target: Location) -> None:
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
                    "without changing anything. Try again when it has finished, or let a run wait for it "
                    "(--wait SECONDS)."
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


class PointedSnapshots:
    """Snapshots under `.snapshots/` of the curated prefix; `current.json` names the current one."""

    def __init__(self, root: Location) -> None:
        self.root = root
        self.snapshots = root.child(SNAPSHOTS)
        self.batches = root.child(BATCHES)
        self._lease: Lease | None = None

    @contextlib.contextmanager
    def lock(self, wait_seconds: float) -> Iterator[None]:
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
            with self.root.filesystem.open_input_stream(self.root.child(POINTER).path) as handle:
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

    def current(self) -> Location | None:
        pointer = self.pointer()
        if pointer is None:
            return None
        current = self.snapshots.child(str(pointer["snapshot"]))
        try:
            found = self.root.filesystem.get_file_info(current.path).type == pafs.FileType.Directory
        except OSError as error:
            raise storage_error("read the curated dataset at", self.root, error) from error
        if not found:
            # Read as an empty dataset, it would make the next run rebuild everything and prune the rest.
            raise self._corrupt_pointer(f"it names the snapshot {pointer['snapshot']}, which is not there")
        return current

    def reader_table(self, table: str) -> Location | None:
        # The pointer is resolved once: the snapshot stays whole while later runs commit.
        current = self.current()
        return None if current is None else current.child(table)

    def reader_snapshot(self) -> Location | None:
        return self.current()

    def stage(self) -> tuple[str, Location, dict[str, object] | None]:
        pointer = self.pointer()
        self._prune(_kept(pointer))  # snapshots of runs killed before their commit
        number = int(str(pointer["snapshot"]).split("-")[0]) + 1 if pointer else 1
        # The random part keeps two runs that both got past the lock (see Lease) apart.
        snapshot_id = f"{number:06d}-{secrets.token_hex(4)}"
        return snapshot_id, self.snapshots.child(snapshot_id), pointer

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
            self.root.backend.write_whole(self.root.child(POINTER), json.dumps(pointer, indent=2).encode())
        except OSError as error:
            raise StoreError(
                f"Could not commit the new snapshot of {self.root.url}: {error}. The previous dataset is intact; "
                "run again."
            ) from error
        with contextlib.suppress(OSError):  # old snapshots left now are pruned by the next run
            self._prune(_kept(pointer))
        with contextlib.suppress(OSError):  # the snapshot holds copies of the finished batches now
            self.batches.delete()

    def upgrade_layout(self) -> None:
        """Object storage has kept one layout: nothing to move."""

    def unreadable(self, part: Location, error: Exception) -> StorageError | StoreError:
        if isinstance(error, OSError):
            return storage_error("read", part, error)  # the storage failed, not the data
        return StoreError(
            f"{part.url} cannot be read as Parquet ({error}): the current snapshot is damaged; "
            f"point {self.root.url}/{POINTER} at an earlier snapshot, or delete it to rebuild the "
            "dataset from raw/."
        )

    def _corrupt_pointer(self, what: str) -> StoreError:
        try:
            names = self.snapshots.folders()
        except OSError:
            names = []
        restore = (
            f'write {{"snapshot": "{names[-1]}"}} into it to restore the newest snapshot in {self.snapshots.url}, '
            if names
            else ""
        )
        return StoreError(
            f"{self.root.url}/{POINTER}, the pointer to the current snapshot, is corrupt ({what}); "
            f"{restore}or delete it to rebuild the dataset from raw/."
        )

    def _prune(self, keep: set[str]) -> None:
        try:
            for name in self.snapshots.folders():
                if name not in keep:
                    self.root.filesystem.delete_dir(self.snapshots.child(name).path)
        except OSError as error:
            raise storage_error("clean up old snapshots under", self.root, error) from error


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
