"""One location type for raw and curated, a local folder or a prefix in object storage.

A `Location` is a path on a `pyarrow.fs` filesystem (LocalFileSystem or S3FileSystem) plus the
name messages show, in the spirit of datatrove's `DataFolder`: listing, reading and writing
Parquet go through the filesystem, written once for both. What pyarrow.fs cannot give the same
on both is the `Backend` of the location, chosen once when a location is parsed
(flows.storage.parse_location):

- the few primitives object storage and a disk do differently: folders that must exist before a
  file is written, a part carried into a snapshot as a hard link or a server-side copy, a small
  file written whole (rename after fsync, or one PUT), and the raw folder walked and read
  without following links (POSIX calls pyarrow does not expose) or listed by key;
- `Snapshots`, the two strategies of a curated dataset: how its run is locked (flock, lease) and
  how a snapshot is committed (a link swapped, a pointer object rewritten).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import pyarrow.fs as pafs

from docclean.errors import DoccleanError, RejectedInput

if TYPE_CHECKING:
    from flows.scan import Listed, RawEntry

# What an AWS error code means to someone running docclean, and what to do about it.
CAUSES = {
    "NO_SUCH_BUCKET": "the bucket {bucket} does not exist",
    "ACCESS_DENIED": "access was denied; check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or AWS_PROFILE) and their permissions on the bucket {bucket}",
    "INVALID_ACCESS_KEY_ID": "the storage does not know the access key; check AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "SIGNATURE_DOES_NOT_MATCH": "the secret key does not match the access key; check AWS_SECRET_ACCESS_KEY",
    "NETWORK_CONNECTION": "the storage endpoint cannot be reached",
}


class StorageError(DoccleanError):
    """A raw or curated location (a folder or an s3:// URL) that cannot be used as given."""


class StoreError(DoccleanError):
    """The curated dataset cannot be read or written."""


class RunLockedError(DoccleanError):
    """Another run holds the curated dataset."""


class UnreadableObject(RejectedInput, OSError):
    """A raw object docclean will never read as it is: its key or kind is the cause, not the storage.

    A reject with a lasting reason (so it is not retried every run), and an OSError, so that
    every caller that survives a read error survives this one too.
    """


@dataclass(frozen=True, slots=True)
class Location:
    """A folder or file on a local disk or in object storage.

    `path` is the filesystem's path (absolute on a disk, `bucket/key` in object storage), `url`
    what messages name (the same absolute path, or the s3:// URL without credentials).
    It pickles as the filesystem's options without credentials taken from the environment, so a
    Dask worker that receives it connects with its own.
    """

    backend: Backend
    path: str
    url: str

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self.backend.filesystem

    def child(self, name: str) -> Location:
        return Location(self.backend, f"{self.path}/{name}", f"{self.url}/{name}")

    def parent(self) -> Location:
        return Location(self.backend, self.path.rsplit("/", 1)[0], self.url.rsplit("/", 1)[0])

    def kind(self) -> pafs.FileType:
        """File, Directory or NotFound; StorageError when the storage cannot be asked."""
        try:
            return self.filesystem.get_file_info(self.path).type
        except OSError as error:
            raise storage_error("read", self, error) from error

    def files(self, suffix: str = "") -> list[Location]:
        """The files directly in this folder whose names end with `suffix`, by name; none for no folder."""
        try:
            infos = self.filesystem.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        except OSError as error:
            raise storage_error("list", self, error) from error
        return [
            self.child(info.base_name)
            for info in sorted(infos, key=lambda i: i.base_name)
            if info.type == pafs.FileType.File and info.base_name.endswith(suffix)
        ]

    def folders(self) -> list[str]:
        """The names of the folders directly in this one, sorted."""
        infos = self.filesystem.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return sorted(info.base_name for info in infos if info.type == pafs.FileType.Directory)

    def read_bytes(self) -> bytes | None:
        """The file's content; None when it does not exist."""
        try:
            with self.filesystem.open_input_stream(self.path) as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise storage_error("read", self, error) from error

    def delete(self) -> None:
        """Remove this file or folder; nothing happens when it is not there."""
        kind = self.filesystem.get_file_info(self.path).type
        if kind == pafs.FileType.Directory:
            self.filesystem.delete_dir(self.path)
        elif kind == pafs.FileType.File:
            self.filesystem.delete_file(self.path)


class Backend(Protocol):
    """What a local disk and object storage do differently (see the module's docstring)."""

    filesystem: pafs.FileSystem

    def make_folder(self, folder: Location) -> None:
        """Make `folder` (and its parents) ready to hold files."""

    def carry(self, source: Location, target: Location) -> None:
        """Put the file `source` at `target` without sending its bytes through this process."""

    def write_whole(self, target: Location, data: bytes, after: Location | None = None) -> None:
        """Write `data` to `target` in one atomic step, after the file `after` is durable."""

    def walk(self, raw: Location, skip: tuple[Location, ...]) -> Iterator[Listed]:
        """Every name under the raw folder, folders in `skip` passed over (see flows.scan)."""

    def open_raw(self, entry: RawEntry) -> BinaryIO:
        """The raw file the scan listed, open for reading (see flows.scan.scan_raw)."""

    def snapshots(self, root: Location) -> Snapshots:
        """The lock and commit strategies of a curated dataset at `root`."""


class Snapshots(Protocol):
    """How one kind of storage locks a curated dataset and makes a staged snapshot current.

    A snapshot is the folder `{documents,rejects,corpus}` under `snapshots`; finished batches of
    an uncommitted run wait in `batches`. Everything else (reading, writing parts, carrying them
    over) is flows.store's, written once.
    """

    root: Location
    snapshots: Location
    batches: Location

    def lock(self, wait_seconds: float) -> AbstractContextManager[None]:
        """Hold the dataset for one run; RunLockedError after `wait_seconds` when another run holds it."""

    def current(self) -> Location | None:
        """The current snapshot; None before the first commit; StoreError when the pointer to it is broken."""

    def reader_table(self, table: str) -> Location | None:
        """Where a reader finds the current `table` ("documents", "rejects"); None before the first commit."""

    def reader_snapshot(self) -> Location | None:
        """The snapshot folder a reader opening the dataset now gets (its corpus state is there)."""

    def stage(self) -> tuple[str, Location, Any]:
        """A fresh staged snapshot: its id, its folder and what `commit` checks is still current."""

    def commit(self, snapshot_id: str, base: Any) -> None:
        """Make the staged snapshot `snapshot_id` current (atomic), then drop what it replaces."""

    def upgrade_layout(self) -> None:
        """Move a dataset of an older layout to this one, under the lock."""

    def unreadable(self, part: Location, error: Exception) -> DoccleanError:
        """The error naming a part file of the current snapshot that cannot be read, and the way back."""


def cause_of(location: Location, error: OSError) -> str:
    """What went wrong, in words, for an OSError raised on `location`'s storage."""
    code = re.search(r"AWS Error (\w+)", str(error))
    cause = CAUSES.get(code.group(1)) if code else None
    if cause:
        return cause.format(bucket=location.path.split("/", 1)[0])
    return (error.strerror or str(error)).rstrip(".")


def storage_error(action: str, target: Location, error: OSError) -> StorageError:
    return StorageError(f"Could not {action} {target.url}: {cause_of(target, error)}.")
