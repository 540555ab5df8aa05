"""Scan the raw folder: which files are there, and which are not ready or not files at all.

One scanner for a local folder and an object-storage prefix: the location's backend walks the
names under it (flows.local, flows.s3), and every decision about a name is made here, once:
partial downloads and files still being copied wait for a later run, links, devices, odd object
keys and folders that changed while listed become problems (rejects with a reason), the rest
are the files to curate.

On a disk the walk never follows a symbolic link and never leaves the raw folder: a link is
reported, not read. Folders are opened without following a link and checked to be the folder
the listing showed; a file is read through its backend's `open_raw`, which makes the same check,
so a link or a pipe swapped in after the scan is never read.
"""

from __future__ import annotations

import fnmatch
import math
import re
import time
from dataclasses import dataclass, field

from docclean.errors import DoccleanError
from docclean.sourcepath import source_path_of
from flows.location import Location

# Names that downloaders, editors and copy tools give to files that are not finished yet.
PARTIAL_NAME_PATTERNS = ("*.part", "*.crdownload", "*.tmp", "*.download", "*.partial")
# Names that are never documents: hidden files and folders (.DS_Store, .git), Office's lock
# files (~$报告.docx) and the files Windows keeps in a folder. Passed over, neither pending (they
# would wait for ever) nor rejected; a run logs them.
IGNORED_NAME_PATTERNS = (".*", "~$*", "Thumbs.db", "desktop.ini", "Desktop.ini")
# A file modified this recently may still be being copied in; it waits for a later run.
# Two seconds covers a copy in progress on a local disk; `--settle` raises it for slow shares.
DEFAULT_SETTLE_SECONDS = 2.0
# What a walk reports for a name that is a file to curate, or one to leave for a later run;
# any other kind is a problem's reason (symlink, not_a_file, vanished, bad_key, ...).
FILE = "file"
PARTIAL = "partial"
IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class RawEntry:
    rel_path: str  # the source_path: see source_path_of
    abs_path: Location
    size: int
    mtime_ns: int
    # The file the scan saw (st_dev, st_ino); None for an object in object storage.
    device: int | None = None
    inode: int | None = None


@dataclass(frozen=True, slots=True)
class Listed:
    """One name a backend's walk met: `rel` is its path under raw as bytes (names need not be UTF-8)."""

    rel: bytes
    kind: str  # FILE, PARTIAL, or a problem's reason
    location: Location | None = None
    size: int | None = None
    mtime_ns: int | None = None
    device: int | None = None
    inode: int | None = None
    detail: str = ""


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
    # Names that are never documents (IGNORED_NAME_PATTERNS): a hidden folder is one entry.
    ignored: list[str] = field(default_factory=list)
    # Files curated although their modification time is in the future (see scan_raw).
    future_mtime: list[str] = field(default_factory=list)


class RawUnlistable(DoccleanError):
    """The raw folder itself cannot be listed: the run stops before it changes anything."""


class ChangedDuringRead(OSError):
    """The path no longer names the regular file the scan saw: swapped, replaced or still written."""


# The patterns as one regex, matched once a name: `fnmatch` per pattern cost more than the rest of
# a file's scan.
_PARTIAL_NAME = re.compile("|".join(fnmatch.translate(pattern) for pattern in PARTIAL_NAME_PATTERNS))
_IGNORED_NAME = re.compile("|".join(fnmatch.translate(pattern) for pattern in IGNORED_NAME_PATTERNS))


def is_partial_name(name: str) -> bool:
    """Whether `name` matches one of PARTIAL_NAME_PATTERNS (`fnmatch.fnmatchcase`: case-sensitive)."""
    return _PARTIAL_NAME.match(name) is not None


def is_ignored_name(name: str) -> bool:
    """Whether `name` matches one of IGNORED_NAME_PATTERNS (`fnmatch.fnmatchcase`: case-sensitive)."""
    return _IGNORED_NAME.match(name) is not None


def name_kind(name: str, folder: bool = False) -> str | None:
    """IGNORED or PARTIAL for a file or folder name that is not curated now, else None. A name
    both (`.x.part`) is ignored: a hidden download never becomes a document. Only a file is a
    partial download: a folder named `2024.download` or `资料.tmp` is scanned like any other."""
    if is_ignored_name(name):
        return IGNORED
    return PARTIAL if not folder and is_partial_name(name) else None


def scan_raw(
    raw: Location,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    now_ns: int | None = None,
    skip: tuple[Location, ...] = (),
) -> ScanResult:
    """Every file under the folder or prefix `raw`, sorted by source_path.

    A file modified in the last `settle_seconds` is pending, unless its modification time is
    more than `settle_seconds` ahead of the clock: no copy in progress stamps a file from the
    future (an archive's timestamp or a skewed clock does), and waiting would wait for ever, so it
    is curated and named in `future_mtime`. Folders in `skip` (the curated dataset, when it lies
    inside raw) are passed over, whatever path reaches them.

    Raises ValueError when `settle_seconds` is not a finite number of seconds, zero or more, and
    StorageError when object storage cannot be listed.
    """
    if not math.isfinite(settle_seconds) or settle_seconds < 0:
        raise ValueError(f"The settle time must be a number of seconds, zero or more; got {settle_seconds}.")
    now_ns = time.time_ns() if now_ns is None else now_ns
    settle_ns = int(settle_seconds * 1e9)
    result = ScanResult()
    pending: set[str] = set()
    ignored: set[str] = set()  # a hidden folder in object storage is listed once per key under it
    for item in raw.backend.walk(raw, skip):
        shown = source_path_of(item.rel)
        if item.kind == PARTIAL:
            pending.add(shown)
        elif item.kind == IGNORED:
            ignored.add(shown)
        elif item.kind != FILE or item.location is None or item.size is None or item.mtime_ns is None:
            result.problems.append(
                ScanProblem(shown or ".", item.kind, item.detail, item.size, item.mtime_ns)
            )
        elif abs(now_ns - item.mtime_ns) < settle_ns:
            pending.add(shown)
        else:
            if item.mtime_ns > now_ns:
                result.future_mtime.append(shown)
            result.files.append(
                RawEntry(shown, item.location, item.size, item.mtime_ns, item.device, item.inode)
            )
    result.pending = sorted(pending)
    result.ignored = sorted(ignored)
    result.files.sort(key=lambda e: e.rel_path)
    return result
