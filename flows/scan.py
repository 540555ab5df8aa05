"""Scan the raw folder: which files are there, and which are not ready or not files at all.

The scan never follows a symbolic link and never leaves the raw folder: a link is reported,
not read, so nothing outside raw/ is ever touched. Folders are opened without following a
link and checked to be the folder the listing showed; a file is read through `open_scanned`,
which makes the same check, so a link or a pipe swapped in after the scan is never read.
"""

from __future__ import annotations

import errno
import fnmatch
import math
import os
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from docclean.sourcepath import source_path_of

if TYPE_CHECKING:
    from flows.storage import ObjectPath

# Names that downloaders, editors and copy tools give to files that are not finished yet.
PARTIAL_NAME_PATTERNS = ("*.part", "*.crdownload", "*.tmp", "*.download", "*.partial", "~$*", ".*")
# A file modified this recently may still be being copied in; it waits for a later run.
# Two seconds covers a copy in progress on a local disk; `--settle` raises it for slow shares.
DEFAULT_SETTLE_SECONDS = 2.0


# Descriptors of raw files and folders are private to this process: a worker forked later must
# not inherit them.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class RawEntry:
    rel_path: str  # the source_path: see source_path_of
    # A local path as bytes (file names need not be UTF-8), or an object in object storage.
    abs_path: bytes | ObjectPath
    size: int
    mtime_ns: int
    # The file the scan saw (st_dev, st_ino); None for an object in object storage.
    device: int | None = None
    inode: int | None = None


@dataclass(frozen=True, slots=True)
class ScanProblem:
    rel_path: str
    reason: str
    detail: str
    size: int | None = None
    mtime_ns: int | None = None


@dataclass
class ScanResult:
    files: list[RawEntry] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    # Files left for a later run: still changing, or named as partial downloads.
    pending: list[str] = field(default_factory=list)
    # Files curated although their modification time is in the future (see scan_raw).
    future_mtime: list[str] = field(default_factory=list)


class ChangedDuringRead(OSError):
    """The path no longer names the regular file the scan saw: swapped, replaced or still written."""


def is_partial_name(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in PARTIAL_NAME_PATTERNS)


def scan_raw(
    raw: bytes,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    now_ns: int | None = None,
    skip: tuple[bytes, ...] = (),
) -> ScanResult:
    """Every file under the folder `raw` (a path as bytes), sorted by source_path.

    A file modified in the last `settle_seconds` is pending, unless its modification time is
    more than `settle_seconds` ahead of the clock: no copy in progress stamps a file from the
    future (an archive's timestamp or a skewed clock does), and waiting would wait for ever, so it
    is curated and named in `future_mtime`. Folders in `skip` (the curated folder, when it lies
    inside raw) are passed over, whatever path reaches them.

    Raises ValueError when `settle_seconds` is not a finite number of seconds, zero or more.
    """
    if not math.isfinite(settle_seconds) or settle_seconds < 0:
        raise ValueError(f"The settle time must be a number of seconds, zero or more; got {settle_seconds}.")
    now_ns = time.time_ns() if now_ns is None else now_ns
    settle_ns = int(settle_seconds * 1e9)
    skipped = {_identity(path) for path in skip} - {None}
    result = ScanResult()
    # (relative folder, the identity its parent's listing showed; None for raw itself)
    stack: list[tuple[bytes, tuple[int, int] | None]] = [(b"", None)]
    while stack:
        rel_dir, expected = stack.pop()
        folder = os.path.join(raw, rel_dir) if rel_dir else raw
        try:
            entries = _list_folder(folder, expected)
        except ChangedDuringRead:
            result.problems.append(
                ScanProblem(
                    source_path_of(rel_dir),
                    "changed_during_read",
                    "The folder was replaced while scanning (by a link or another folder); it is scanned "
                    "again on the next run.",
                )
            )
            continue
        except OSError as error:
            result.problems.append(
                ScanProblem(
                    source_path_of(rel_dir) or ".",
                    "unreadable",
                    f"The folder cannot be listed: {error.strerror}.",
                )
            )
            continue
        for name, info in entries:
            rel = os.path.join(rel_dir, name) if rel_dir else name
            shown = source_path_of(rel)
            if info is None:
                result.problems.append(ScanProblem(shown, "vanished", "The file disappeared while scanning."))
                continue
            if stat.S_ISDIR(info.st_mode) and (info.st_dev, info.st_ino) in skipped:
                continue
            if is_partial_name(source_path_of(name)):
                result.pending.append(shown)
                continue
            if stat.S_ISLNK(info.st_mode):
                result.problems.append(
                    ScanProblem(shown, "symlink", _symlink_detail(raw, os.path.join(folder, name)))
                )
            elif stat.S_ISDIR(info.st_mode):
                stack.append((rel, (info.st_dev, info.st_ino)))
            elif not stat.S_ISREG(info.st_mode):
                result.problems.append(
                    ScanProblem(shown, "not_a_file", "It is not a regular file (a device, pipe or socket).")
                )
            elif abs(now_ns - info.st_mtime_ns) < settle_ns:
                result.pending.append(shown)
            else:
                if info.st_mtime_ns > now_ns:
                    result.future_mtime.append(shown)
                result.files.append(
                    RawEntry(
                        shown,
                        os.path.join(folder, name),
                        info.st_size,
                        info.st_mtime_ns,
                        info.st_dev,
                        info.st_ino,
                    )
                )
    result.files.sort(key=lambda e: e.rel_path)
    return result


def _identity(path: bytes) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _list_folder(
    folder: bytes, expected: tuple[int, int] | None
) -> list[tuple[bytes, os.stat_result | None]]:
    """The names in `folder` and their lstat (None when a name vanished), sorted by name.

    The folder is opened without following a link and must be the one its parent listed
    (`expected`); raw itself, `expected` None, is taken as the user named it.
    """
    flags = _FOLDER_FLAGS if expected is not None else _FOLDER_FLAGS & ~os.O_NOFOLLOW
    try:
        descriptor = os.open(folder, flags)
    except OSError as error:
        if expected is not None and error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ChangedDuringRead(error.errno, "replaced while scanning") from error
        raise
    try:
        info = os.fstat(descriptor)
        if expected is not None and (info.st_dev, info.st_ino) != expected:
            raise ChangedDuringRead(errno.ESTALE, "replaced while scanning")
        listed: list[tuple[bytes, os.stat_result | None]] = []
        with os.scandir(descriptor) as entries:
            for entry in entries:
                try:
                    listed.append((os.fsencode(entry.name), entry.stat(follow_symlinks=False)))
                except FileNotFoundError:
                    listed.append((os.fsencode(entry.name), None))
    finally:
        os.close(descriptor)
    return sorted(listed, key=lambda item: item[0])


def open_scanned(entry: RawEntry) -> BinaryIO:
    """Open the local file `entry` names for reading, if it is still the regular file the scan saw.

    Opened with O_NOFOLLOW (a link swapped in is not followed) and O_NONBLOCK (a pipe swapped in
    cannot block the run), then checked with fstat: a regular file with the scan's device, inode,
    size and modification time. A folder on the way that was swapped for a link leads to another
    inode, so it fails the same check. Raises ChangedDuringRead when the check fails, and the
    OSError of the open otherwise (FileNotFoundError, PermissionError, ...).
    """
    assert isinstance(entry.abs_path, bytes)
    try:
        descriptor = os.open(entry.abs_path, _READ_FLAGS)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ChangedDuringRead(error.errno, "a symbolic link now stands there") from error
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ChangedDuringRead(errno.ESTALE, "it is no longer a regular file")
        if entry.inode is not None and (info.st_dev, info.st_ino) != (entry.device, entry.inode):
            raise ChangedDuringRead(errno.ESTALE, "another file now stands at its path")
        if (info.st_size, info.st_mtime_ns) != (entry.size, entry.mtime_ns):
            raise ChangedDuringRead(errno.ESTALE, "it was modified after the scan")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _symlink_detail(raw: bytes, link: bytes) -> str:
    target = os.path.realpath(link)
    inside = os.path.commonpath([os.path.realpath(raw), target]) == os.path.realpath(raw)
    where = "inside" if inside else "outside"
    return (
        f"It is a symbolic link to {os.fsdecode(target)!r}, {where} the raw folder; links are never followed."
    )
