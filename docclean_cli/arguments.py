"""The command line's arguments, checked before anything starts (before a Prefect server boots).

One function per kind of mistake. Each returns nothing or raises `ArgumentError` with one sentence
that names the option, the value as given and, for a path, as resolved, and says what to do.
Light on purpose: the CLI calls these before it loads Prefect, pyarrow or the cleaning core.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import socket
import stat
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from docclean.errors import DoccleanError
from docclean.layout import LOCK_FILE, STATE_FOLDER, is_url, state_folder
from docclean.terminal import escape, shown

# Units of --max-bytes, binary as the default's "50 MiB": K/KiB = 1024 bytes, M = 1024², G = 1024³.
_BYTE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_BYTE_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)
# A Dask scheduler that does not accept a connection in this long is named as unreachable; a
# scheduler on the same network answers in milliseconds.
SCHEDULER_CONNECT_SECONDS = 5.0


class ArgumentError(DoccleanError):
    """An argument that cannot work; raised before anything starts."""


def written_as_meant(option: str, given: str) -> None:
    """A location that reads as a mistake of typing: a URL with one slash (`s3:/bucket`), or a `~`
    the shell did not expand because it was quoted; either would name a local folder of that name."""
    if _ONE_SLASH_URL.match(given):
        scheme = given.split(":", 1)[0]
        raise ArgumentError(
            f"{option} {escape(given)} reads as a URL with one slash; write {escape(scheme)}://BUCKET/PREFIX, "
            "or ./ before a local folder whose name has a colon."
        )
    if given == "~" or given.startswith("~/"):
        raise ArgumentError(
            f"{option} {escape(given)} starts with ~, which the shell expands only outside quotes; write "
            f"{escape(str(Path(given).expanduser()))}, or leave the quotes off."
        )


_ONE_SLASH_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{1,}:/[^/]")


def readable_folder(option: str, given: str, advice: str | None = None) -> None:
    """`given` must be an existing folder (a URL is checked when it is opened); `advice`, what to do
    instead, defaults to the documents folder's."""
    if is_url(given):
        return
    status = _status(option, given)
    if status is not None and stat.S_ISDIR(status.st_mode):
        return
    if status is not None:
        raise ArgumentError(
            f"{option} {shown(given)} is a file, not a folder; {advice or 'name the folder that holds the documents'}."
        )
    raise ArgumentError(
        f"{option} {shown(given)} does not exist; "
        f"{advice or f'create it and put the documents there, or name another folder with {option}'}."
    )


def readable_file(option: str, given: str | None) -> None:
    """`given`, when given, must be an existing regular file."""
    if given is None:
        return
    status = _status(option, given)
    if status is None:
        raise ArgumentError(f"{option} {shown(given)} does not exist; check the name, or name another file.")
    if stat.S_ISDIR(status.st_mode):
        raise ArgumentError(f"{option} {shown(given)} is a folder, not a file; name one file.")
    if not stat.S_ISREG(status.st_mode):
        raise ArgumentError(
            f"{option} {shown(given)} is not a regular file (a device, a pipe or a socket); name one file."
        )
    try:
        with open(given, "rb"):
            pass
    except OSError as error:
        raise ArgumentError(
            f"{option} {shown(given)} cannot be read ({error.strerror or error}); fix its permissions, or name "
            "another file."
        ) from None


def _status(option: str, given: str) -> os.stat_result | None:
    """The status of the path `given` (links followed), None when nothing is there; raises
    ArgumentError when it cannot be looked at (a folder on its path that this user cannot enter)."""
    try:
        return os.stat(given)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise ArgumentError(
            f"{option} {shown(given)} cannot be looked at ({error.strerror or error}); fix the permissions of "
            "the folders on its path, or name another one."
        ) from None


def writable_folder(option: str, given: str, purpose: str = "for the dataset") -> None:
    """`given` must be a folder docclean can write in, or create (tried now, and removed again),
    with its state entries writable; `purpose` says what the folder is for."""
    if is_url(given):
        return
    path = Path(given)
    if path.exists() and not path.is_dir():
        raise ArgumentError(f"{option} {shown(given)} is a file, not a folder; name a folder {purpose}.")
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ArgumentError(
            f"{option} {shown(given)} cannot be written: {escape(str(existing))} is not writable by this user; "
            "fix its permissions or name another folder."
        )
    if not path.exists():
        # Permissions do not tell every folder that cannot be made (/proc, a read-only mount):
        # making one does. A probe folder of its own in the nearest folder that exists, removed
        # again: another run making the same folder at the same moment is neither refused by it
        # nor loses the folder it made.
        try:
            probe = tempfile.mkdtemp(prefix=".docclean-probe-", dir=existing)
        except OSError as error:
            raise ArgumentError(
                f"{option} {shown(given)} cannot be created ({error.strerror or error}); name a folder "
                "on a disk docclean can write to."
            ) from None
        with contextlib.suppress(OSError):
            os.rmdir(probe)
    state = state_folder(path.absolute())
    # The folders a run writes in: its state folder and those in it (the snapshots, the batches).
    folders = (
        [state, *(entry for entry in state.iterdir() if entry.is_dir() and not entry.is_symlink())]
        if state.is_dir()
        else []
    )
    for entry in (path / LOCK_FILE, *folders):
        if entry.exists() and not os.access(entry, os.W_OK | (os.X_OK if entry.is_dir() else 0)):
            raise ArgumentError(
                f"{option} {shown(given)} cannot be written: {escape(str(entry.absolute()))} is not writable "
                "by this user; fix its permissions (or run as its owner)."
            )


def own_folder(option: str, given: str, advice: str = "name a new or empty folder for the dataset") -> None:
    """A curated folder must be a dataset's own: not inside another dataset (its `documents/` table),
    not in docclean's state folder, and not a folder of other files, whose README.md the dataset's
    card would replace."""
    if is_url(given):
        return
    path = Path(given).absolute()
    for ancestor in path.parents:
        if _is_dataset(ancestor):
            raise ArgumentError(
                f"{option} {shown(given)} is inside the dataset {escape(str(ancestor))}; name a folder "
                "outside it: each dataset has a folder of its own."
            )
    resolved = path.resolve()
    for ancestor in (resolved, *resolved.parents):
        if ancestor.name == STATE_FOLDER:
            raise ArgumentError(
                f"{option} {shown(given)} is in docclean's state folder {escape(str(ancestor))}, which holds "
                "the datasets' snapshots; name the dataset's own folder (the one holding documents and "
                "README.md)."
            )
    if not resolved.is_dir() or _is_dataset(resolved):
        return
    foreign = sorted(entry.name for entry in resolved.iterdir() if not _is_ours(entry))
    if foreign:
        listed = ", ".join(escape(name) for name in foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise ArgumentError(
            f"{option} {shown(given)} holds files that are not a docclean dataset's ({listed}); {advice}."
        )


def report_destination(option: str, given: str | None, curated: str) -> None:
    """Where `docclean report --out` writes must not be the dataset itself: not inside its tables or
    docclean's state folder (a page among the snapshot's Parquet files breaks every reader of it),
    and not one of the curated folder's own entries (its card, README.md)."""
    if given is None or is_url(given):
        return
    out = Path(given).absolute()
    resolved = out.parent.resolve() / out.name
    if any(ancestor.name == STATE_FOLDER for ancestor in resolved.parents):
        raise ArgumentError(
            f"{option} {shown(given)} is inside the dataset's tables or docclean's state folder, where readers "
            "take every file for part of the dataset; name a file outside them (the default is CURATED/report.html)."
        )
    if (
        not is_url(curated)
        and resolved.parent == Path(curated).absolute().resolve()
        and (resolved.name in (*_TABLES, "corpus", "README.md") or resolved.name.startswith("."))
    ):
        raise ArgumentError(
            f"{option} {shown(given)} would replace the dataset's own {escape(resolved.name)}; name another "
            "file (the default is CURATED/report.html)."
        )


def _is_dataset(folder: Path) -> bool:
    """Whether `folder` is a docclean dataset's folder: a table linked into the state folder, or its
    card. (Not its run lock alone, nor any link named documents: other tools make those too.)"""
    return any(_links_to_state(folder / table) for table in _TABLES) or _is_dataset_card(folder / "README.md")


def _links_to_state(entry: Path) -> bool:
    try:
        return STATE_FOLDER in Path(os.readlink(entry)).parts
    except OSError:  # not a link, or not there
        return False


def _is_ours(entry: Path) -> bool:
    """Whether an entry of a curated folder is docclean's, or hidden (a lock, .DS_Store): the dataset
    card, a table (a link, or a folder of Parquet files: a copied dataset, the layout before 0.2),
    the HTML report, or the snapshots of the layout before 0.2."""
    if entry.name.startswith(".") or entry.name in _OLD_LAYOUT or entry.name == _REPORT:
        return True
    if entry.name == "README.md":
        return _is_dataset_card(entry)
    if entry.name in _TABLES:
        return _links_to_state(entry) or (
            entry.is_dir()
            and all(part.suffix == ".parquet" or part.name.startswith(".") for part in entry.iterdir())
        )
    return False


_OLD_LAYOUT = ("current", "snapshots")
_REPORT = "report.html"


def _is_dataset_card(readme: Path) -> bool:
    try:
        with readme.open("rb") as handle:
            return handle.read(len(_CARD_START)) == _CARD_START
    except OSError:
        return False


_TABLES = ("documents", "rejects")
# How docclean's README.md, the dataset card, opens (flows.local.DATASET_README).
_CARD_START = b"---\nconfigs:\n- config_name: documents"


def workers(option: str, value: int | None, local: bool = True) -> None:
    """At least one, and on this machine (`local`: not a Dask scheduler elsewhere) not more than
    `MAX_WORKERS_PER_CORE` per core: each is a process of its own."""
    at_least_one(option, value)
    cores = os.cpu_count() or 1
    if local and value is not None and value > MAX_WORKERS_PER_CORE * cores:
        raise ArgumentError(
            f"{option} {value} is more than this machine can run: its {cores} cores take at most "
            f"{MAX_WORKERS_PER_CORE * cores} workers; give {MAX_WORKERS_PER_CORE * cores} or fewer (one per core, "
            f"{cores}, is the usual choice)."
        )


# Each worker is a process holding a batch (hundreds of megabytes at most); past a few per core
# they only contend, and thousands exhaust the machine's memory.
MAX_WORKERS_PER_CORE = 4


def separate_folders(raw: str, curated: str) -> None:
    """The dataset must not be written into the documents it is made of, nor the reverse."""
    if is_url(raw) or is_url(curated):
        return
    raw_path, curated_path = Path(raw).resolve(), Path(curated).resolve()
    if raw_path == curated_path:
        problem = "are the same folder"
    elif raw_path in curated_path.parents:
        problem = "overlap: the dataset would be inside the documents it is made of"
    elif curated_path in raw_path.parents:
        problem = "overlap: the documents would be inside the dataset"
    else:
        return
    raise ArgumentError(
        f"--raw {shown(raw)} and --curated {shown(curated)} {problem}; use two separate folders."
    )


def not_inside(option: str, given: str, other_option: str, other: str) -> None:
    """What docclean writes at `given` (a server's database and log) must not land among the
    documents at `other`, where the next run would read it as input."""
    if is_url(given) or is_url(other):
        return
    path, documents = Path(given).resolve(), Path(other).resolve()
    if path == documents or documents in path.parents:
        raise ArgumentError(
            f"{option} {shown(given)} is inside {other_option} {shown(other)}: the next run would read "
            f"docclean's own files as documents; name a folder outside {other_option}."
        )


def at_least_one(option: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ArgumentError(f"{option} {value} is not allowed; give 1 or more.")


class GivenSeconds(float):
    """A number of seconds from the command line, the text it was given as kept for messages
    (`--settle 1e400` is named so, not as the `inf` it reads as)."""

    given: str

    def __new__(cls, text: str) -> GivenSeconds:
        try:
            value = super().__new__(cls, float(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        value.given = text.strip()
        return value


def seconds(option: str, value: float | None) -> None:
    shown_value = getattr(value, "given", value)
    if value is not None and (math.isnan(value) or value < 0):
        raise ArgumentError(f"{option} {shown_value} is not allowed; give a number of seconds, 0 or more.")
    if value is not None and value > MAX_SECONDS:
        raise ArgumentError(
            f"{option} {shown_value} is too long; give at most {MAX_SECONDS} seconds (a year)."
        )


# A year: no wait or settle time is longer, and nanoseconds of it still fit every clock call.
MAX_SECONDS = 365 * 24 * 3600


def placeholder_token(option: str, value: str) -> None:
    """A placeholder token must be visible text on one line: the record's offsets point at it."""
    if not value or not value.isprintable() or value.isspace():
        raise ArgumentError(
            f"{option} {value!r} is not allowed; give visible text on one line, e.g. [MASK] or ＿＿."
        )


def free_port(option: str, port: int | None) -> None:
    """A loopback port docclean's local Prefect server can listen on."""
    if port is None:
        return
    if not 1 <= port <= 65535:
        raise ArgumentError(f"{option} {port} is not a port; give a number from 1 to 65535.")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise ArgumentError(
                f"{option} {port} cannot be used ({error.strerror or error}); another program listens "
                "there: stop it or give another port."
            ) from None


def dask_address_needs_dask(address: str | None, runner: str) -> None:
    if address and runner != "dask":
        raise ArgumentError(
            f"--address {escape(address)} names a Dask scheduler, but the runner is {runner}; "
            "add --runner dask, or leave --address out."
        )


def reachable_scheduler(address: str | None) -> None:
    """A Dask scheduler given as tcp://HOST:PORT (or tls://) must accept a connection."""
    if not address:
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        raise ArgumentError(
            f"--address {escape(address)} is not a Dask scheduler address; write tcp://HOST:PORT "
            "(the scheduler's default port is 8786)."
        )
    try:
        with socket.create_connection((parts.hostname, port), timeout=SCHEDULER_CONNECT_SECONDS):
            return
    except OSError as error:
        cause = error.strerror or str(error) or type(error).__name__
        raise ArgumentError(
            f"The Dask scheduler {escape(address)} cannot be reached ({cause}); start it "
            f"(`dask scheduler --port {port}`) or fix --address."
        ) from None


def cron_expression(option: str, value: str | None) -> None:
    """A cron schedule Prefect accepts: its own validator's rules (croniter, no random or hashed fields)."""
    if value is None:
        return
    from prefect._vendor.croniter import croniter

    fields = value.split()
    if not croniter.is_valid(value) or any(f.casefold() in ("r", "h") for f in fields):
        raise ArgumentError(
            f"{option} {value!r} is not a cron schedule; write five fields, minute hour day month weekday, "
            "e.g. '*/10 * * * *' (every 10 minutes) or '0 * * * *' (hourly)."
        )


def byte_size(option: str, text: str) -> int:
    """Bytes from `52428800`, `512K`, `10M`, `1G` or `1.5GiB` (binary units, as the default's 50 MiB)."""
    found = _BYTE_SIZE.fullmatch(text)
    if not found:
        raise ArgumentError(
            f"{option} {escape(text)} is not a size; give bytes, or a number with K, M or G (e.g. 10M, 512K)."
        )
    size = int(float(found.group(1)) * _BYTE_UNITS[found.group(2).upper()])
    if size < 1:
        raise ArgumentError(
            f"{option} {escape(text)} is less than one byte; give 1 or more (e.g. 10M, 512K)."
        )
    return size
