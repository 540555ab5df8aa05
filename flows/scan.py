"""Scan the raw folder: which files are there, and which are not ready or not files at all.

The scan never follows a symbolic link and never leaves the raw folder: a link is reported,
not read, so nothing outside raw/ is ever touched.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.storage import ObjectPath

# Names that downloaders, editors and copy tools give to files that are not finished yet.
PARTIAL_NAME_PATTERNS = ("*.part", "*.crdownload", "*.tmp", "*.download", "*.partial", "~$*", ".*")
# A file modified this recently may still be being copied in; it waits for a later run.
# Two seconds covers a copy in progress on a local disk; `--settle` raises it for slow shares.
DEFAULT_SETTLE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class RawEntry:
    rel_path: str
    # A local path as bytes (file names need not be UTF-8), or an object in object storage.
    abs_path: bytes | ObjectPath
    size: int
    mtime_ns: int


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


def display_path(rel: bytes) -> str:
    """A '/'-separated str for a raw-relative path; bytes that are not UTF-8 become \\xNN."""
    return rel.replace(os.sep.encode(), b"/").decode("utf-8", errors="backslashreplace")


def is_partial_name(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in PARTIAL_NAME_PATTERNS)


def scan_raw(
    raw: bytes, settle_seconds: float = DEFAULT_SETTLE_SECONDS, now_ns: int | None = None
) -> ScanResult:
    now_ns = time.time_ns() if now_ns is None else now_ns
    settle_ns = int(settle_seconds * 1e9)
    result = ScanResult()
    stack = [b""]
    while stack:
        rel_dir = stack.pop()
        folder = os.path.join(raw, rel_dir) if rel_dir else raw
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            result.problems.append(
                ScanProblem(
                    display_path(rel_dir) or ".",
                    "unreadable",
                    f"The folder cannot be listed: {error.strerror}.",
                )
            )
            continue
        for entry in entries:
            rel = os.path.join(rel_dir, entry.name) if rel_dir else entry.name
            shown = display_path(rel)
            if is_partial_name(display_path(entry.name)):
                result.pending.append(shown)
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as error:
                result.problems.append(
                    ScanProblem(shown, "vanished", f"The file disappeared while scanning: {error.strerror}.")
                )
                continue
            if stat.S_ISLNK(info.st_mode):
                result.problems.append(ScanProblem(shown, "symlink", _symlink_detail(raw, entry.path)))
            elif stat.S_ISDIR(info.st_mode):
                stack.append(rel)
            elif not stat.S_ISREG(info.st_mode):
                result.problems.append(
                    ScanProblem(shown, "not_a_file", "It is not a regular file (a device, pipe or socket).")
                )
            elif now_ns - info.st_mtime_ns < settle_ns:
                result.pending.append(shown)
            else:
                result.files.append(RawEntry(shown, entry.path, info.st_size, info.st_mtime_ns))
    result.files.sort(key=lambda e: e.rel_path)
    return result


def _symlink_detail(raw: bytes, link: bytes) -> str:
    target = os.path.realpath(link)
    inside = os.path.commonpath([os.path.realpath(raw), target]) == os.path.realpath(raw)
    where = "inside" if inside else "outside"
    return (
        f"It is a symbolic link to {os.fsdecode(target)!r}, {where} the raw folder; links are never followed."
    )
