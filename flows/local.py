"""The local disk as a backend: raw files read without following links, snapshots committed by a link swap.

Layout of a curated folder (for `--curated curated`):

    curated/README.md                                 what the folder holds and how to load it
    curated/documents -> ../.docclean/datasets/curated/current/documents   (fixed links, made once)
    curated/rejects   -> ../.docclean/datasets/curated/current/rejects
    curated/.lock                                      the run lock (flock)
    .docclean/datasets/curated/current -> snapshots/000007                 (the one link a commit swaps)
    .docclean/datasets/curated/snapshots/000007/{documents,rejects,corpus}/*.parquet
    .docclean/datasets/curated/batches/<key>.parquet, <key>.done           (an unfinished run's batches)

The snapshots live in a hidden state folder beside curated/, not inside it: a recursive glob
from curated/ (DuckDB's `curated/**/*.parquet` descends into hidden folders) must never reach
older snapshots, and the README makes readers that take the whole folder (pandas, pyarrow) fail
naming it instead of mixing the two tables. Hugging Face `datasets` reads the README's `configs`.

A run writes a complete new snapshot beside the current one (unchanged part files are hard
links, so this costs almost nothing) and commits by replacing the `current` link with
`os.replace`, which is atomic, after every file and folder of the snapshot is fsynced. A reader
therefore sees either the old or the new dataset, never a mix, and a run killed at any moment
leaves the previous snapshot in place.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow.fs as pafs

from docclean.layout import LOCK_FILE, state_folder
from docclean.sourcepath import source_path_of
from flows.location import Location, RunLockedError, StoreError
from flows.scan import FILE, ChangedDuringRead, Listed, RawEntry, RawUnlistable, name_kind

# Hugging Face `datasets` reads the dataset card's `configs`; people read the rest. It caches a
# folder's tables by a hash of these configs, file patterns included but not the files they match:
# each config's description names the snapshot, so that a new snapshot is a new cache entry, never
# the rows of the first load (datasets 5.2, LocalDatasetModuleFactory).
DATASET_README = """---
configs:
- config_name: documents
  data_files: documents/*.parquet
  description: the documents table of snapshot {snapshot}
  default: true
- config_name: rejects
  data_files: rejects/*.parquet
  description: the rejects table of snapshot {snapshot}
---
# A docclean dataset

Two Parquet tables: `documents/` (one row per raw document) and `rejects/` (one row per file that
could not become a document). Load one table, never this whole folder:

    pyarrow.dataset.dataset("{name}/documents")
    pandas.read_parquet("{name}/documents")
    polars.scan_parquet("{name}/documents/*.parquet")
    duckdb.sql("SELECT count(*) FROM '{name}/documents/*.parquet'")
    datasets.load_dataset("{name}", split="train")     # or ("{name}", "rejects", split="train")

A table of no rows (no file rejected yet) reads everywhere but in `load_dataset`, which makes no
split of zero rows: `datasets.Dataset(pyarrow.dataset.dataset("{name}/rejects").to_table())`
reads it, or `load_dataset(..., streaming=True)`.

`documents` and `rejects` are links into the current snapshot, which docclean keeps with the
older ones in `{state}`. Written by docclean: edits here are overwritten.
"""
TABLE_NAMES = ("documents", "rejects")
# The layout before 0.2 kept its snapshots inside the curated folder.
OLD_SNAPSHOTS = ".snapshots"
# Readers that opened the previous snapshot keep it for this long before it is deleted.
KEEP_PREVIOUS_SNAPSHOTS = 2
# Descriptors of raw files and folders are private to this process: a worker forked later must
# not inherit them.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class LocalDisk:
    """A local filesystem: pyarrow's LocalFileSystem, and the POSIX calls it does not expose."""

    filesystem = pafs.LocalFileSystem()

    def make_folder(self, folder: Location) -> None:
        os.makedirs(folder.path, exist_ok=True)

    def carry(self, source: Location, target: Location) -> None:
        # A hard link: the snapshot and its source share the bytes, and neither is ever written through.
        _link_or_copy(source.path, target.path)

    def write_whole(self, target: Location, data: bytes, after: Location | None = None) -> None:
        if after is not None:
            with open(after.path, "rb") as handle:
                os.fsync(handle.fileno())
        folder, name = os.path.split(target.path)
        staged = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
        with open(staged, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, target.path)

    def walk(self, raw: Location, skip: tuple[Location, ...]) -> Iterator[Listed]:
        """Raises FileNotFoundError when `raw` is not a folder, and RawUnlistable when it cannot be
        listed: read as an empty drop, either would mark every document missing (or prune it). A
        subfolder that cannot be listed is one `unreadable` entry, whose rows the plan keeps."""
        root = os.fsencode(raw.path)
        if not os.path.isdir(root):
            raise FileNotFoundError(f"The raw folder {raw.url} does not exist.")
        skipped = {_identity(os.fsencode(folder.path)) for folder in skip} - {None}
        # (relative folder, the identity its parent's listing showed; None for raw itself)
        stack: list[tuple[bytes, tuple[int, int] | None]] = [(b"", None)]
        while stack:
            rel_dir, expected = stack.pop()
            folder = os.path.join(root, rel_dir) if rel_dir else root
            try:
                entries = _list_folder(folder, expected)
            except ChangedDuringRead:
                yield Listed(
                    rel_dir,
                    "changed_during_read",
                    detail="The folder was replaced while scanning (by a link or another folder); it is scanned "
                    "again on the next run.",
                )
                continue
            except OSError as error:
                if not rel_dir:
                    raise RawUnlistable(
                        f"The raw folder {raw.url} cannot be listed ({error.strerror}); nothing was changed: "
                        "make it readable (or wait for its share to come back) and run again."
                    ) from error
                yield Listed(rel_dir, "unreadable", detail=f"The folder cannot be listed: {error.strerror}.")
                continue
            for name, info in entries:
                rel = os.path.join(rel_dir, name) if rel_dir else name
                if info is None:
                    yield Listed(rel, "vanished", detail="The file disappeared while scanning.")
                elif stat.S_ISDIR(info.st_mode) and (info.st_dev, info.st_ino) in skipped:
                    continue
                elif (kind := name_kind(source_path_of(name), stat.S_ISDIR(info.st_mode))) is not None:
                    yield Listed(rel, kind)
                elif stat.S_ISLNK(info.st_mode):
                    yield Listed(rel, "symlink", detail=_symlink_detail(root, os.path.join(folder, name)))
                elif stat.S_ISDIR(info.st_mode):
                    stack.append((rel, (info.st_dev, info.st_ino)))
                elif not stat.S_ISREG(info.st_mode):
                    yield Listed(
                        rel, "not_a_file", detail="It is not a regular file (a device, pipe or socket)."
                    )
                else:
                    yield Listed(
                        rel,
                        FILE,
                        raw.child(os.fsdecode(rel)),
                        info.st_size,
                        info.st_mtime_ns,
                        info.st_dev,
                        info.st_ino,
                    )

    def open_raw(self, entry: RawEntry) -> BinaryIO:
        return open_scanned(entry)

    def snapshots(self, root: Location) -> LinkedSnapshots:
        return LinkedSnapshots(root)


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
    try:
        descriptor = os.open(os.fsencode(entry.abs_path.path), _READ_FLAGS)
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


class LinkedSnapshots:
    """Snapshots in the state folder beside the curated folder; `current` is a link, swapped to commit."""

    def __init__(self, root: Location) -> None:
        self.root = root
        self.folder = Path(root.path)
        self.state = state_folder(self.folder)
        state = Location(root.backend, str(self.state), str(self.state))
        self.snapshots = state.child("snapshots")
        self.batches = state.child("batches")

    @contextlib.contextmanager
    def lock(self, wait_seconds: float) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Close-on-exec: a program this run starts must not hold the lock after the run ends
        # (flock belongs to the open file, shared by every copy of the descriptor).
        descriptor = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        with os.fdopen(descriptor, "r+") as handle:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RunLockedError(
                            f"Another docclean run is writing {self.root.url}; this run stops without changing "
                            "anything. Try again when it has finished, or let a run wait for it (--wait SECONDS)."
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def current(self) -> Location | None:
        """Raises StoreError when a `current` link exists but leads to no snapshot: read as no dataset,
        it would make the next run rebuild everything and prune the snapshots it could be restored from.
        """
        for link in (self.state / "current", self.folder / "current"):  # the second: the layout before 0.2
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
            return Location(self.root.backend, str(target), str(target))
        return None

    def reader_table(self, table: str) -> Location | None:
        # The fixed link: whatever snapshot is current when the reader opens it.
        link = self.root.child(table)
        return link if os.path.isdir(link.path) else None

    def reader_snapshot(self) -> Location | None:
        documents = self.reader_table("documents")
        if documents is None:
            return None
        snapshot = os.path.dirname(os.path.realpath(documents.path))
        return Location(self.root.backend, snapshot, snapshot)

    def stage(self) -> tuple[str, Location, Location | None]:
        snapshots = Path(self.snapshots.path)
        snapshots.mkdir(parents=True, exist_ok=True)
        # Only the staged snapshot of a killed run: the batches it was built from stay until a commit holds them.
        for leftover in snapshots.glob("*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)
        number = max((int(p.name) for p in snapshots.iterdir() if p.name.isdigit()), default=0) + 1
        snapshot_id = f"{number:06d}"
        staged = self.snapshots.child(f"{snapshot_id}.tmp")
        for table in TABLE_NAMES:
            os.makedirs(staged.child(table).path)
        return snapshot_id, staged, self.current()

    def commit(self, snapshot_id: str, base: Location | None) -> None:
        staged = Path(self.snapshots.path) / f"{snapshot_id}.tmp"
        final = staged.with_suffix("")
        _fsync_tree(staged)
        os.replace(staged, final)
        self._swap_current(final)
        self._ensure_fixed_links()
        self._prune_old(keep=final)
        # The snapshot holds every finished batch now (hard links): their own copies can go.
        shutil.rmtree(self.batches.path, ignore_errors=True)

    def upgrade_layout(self) -> None:
        """Move a curated folder of the old layout (snapshots in curated/.snapshots) to the state folder.

        The current snapshot is hard-linked into the state folder and the fixed links are swapped
        one `os.replace` each, so a reader sees the same rows throughout; the older snapshots, kept
        only for readers of the old layout, are dropped. A curated folder deleted by hand while the
        state folder kept its snapshots gets its fixed links back: the dataset is still there, and a
        run that changes nothing must leave it readable where it says it is.
        """
        old_current = self.folder / "current"
        if not old_current.is_symlink():
            links = [self.folder / name for name in TABLE_NAMES]
            if (self.state / "current").is_symlink() and not all(os.path.lexists(link) for link in links):
                self._ensure_fixed_links()
            return
        current = old_current.resolve()
        if current.is_dir() and not (self.state / "current").is_symlink():
            target = Path(self.snapshots.path) / current.name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(current, target, copy_function=_link_or_copy)
            _fsync_tree(target)
            self._swap_current(target)
        self._ensure_fixed_links()
        old_current.unlink()
        shutil.rmtree(self.folder / OLD_SNAPSHOTS, ignore_errors=True)

    def unreadable(self, part: Location, error: Exception) -> StoreError:
        path = Path(part.path)
        snapshots = path.parent.parent.parent  # <snapshots>/<snapshot>/<table>/<part>
        current = snapshots.parent / "current"
        return StoreError(
            f"{path} cannot be read ({error}); if it is damaged, point {current} at the previous snapshot "
            f"(ln -sfn {snapshots.name}/NNNNNN {current}) or delete {current} to rebuild the dataset from raw/."
        )

    def _swap_current(self, snapshot: Path) -> None:
        tmp_link = self.state / "current.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()
        tmp_link.symlink_to(Path(snapshot.parent.name) / snapshot.name)
        os.replace(tmp_link, self.state / "current")
        _fsync_dir(self.state)

    def _ensure_fixed_links(self) -> None:
        for name in TABLE_NAMES:
            link = self.folder / name
            target = Path(os.path.relpath(self.state / "current" / name, self.folder))
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
        readme = self.folder / "README.md"
        text = DATASET_README.format(
            name=self.folder.name,
            state=os.path.relpath(self.state, self.folder.parent),
            snapshot=Path(os.readlink(current)).name
            if (current := self.state / "current").is_symlink()
            else "-",
        )
        if not readme.is_file() or readme.read_text(encoding="utf-8") != text:
            staged = readme.with_name(".README.md.tmp")
            staged.write_text(text, encoding="utf-8")
            os.replace(staged, readme)
        _fsync_dir(self.folder)

    def _prune_old(self, keep: Path) -> None:
        snapshots = Path(self.snapshots.path)
        numbered = sorted((p for p in snapshots.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        for old in numbered[: -(KEEP_PREVIOUS_SNAPSHOTS + 1)]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)


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
