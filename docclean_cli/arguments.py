"""The command line's arguments, checked before anything starts (before a Prefect server boots).

One function per kind of mistake. Each returns nothing or raises `ArgumentError` with one sentence
that names the option, the value as given and, for a path, as resolved, and says what to do.
Light on purpose: the CLI calls these before it loads Prefect, pyarrow or the cleaning core.
"""

from __future__ import annotations

import math
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

from docclean.errors import DoccleanError
from docclean.layout import LOCK_FILE, is_url, state_folder
from docclean.terminal import escape, shown

# Units of --max-bytes, binary as the default's "50 MiB": K/KiB = 1024 bytes, M = 1024², G = 1024³.
_BYTE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_BYTE_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)
# A Dask scheduler that does not accept a connection in this long is named as unreachable; a
# scheduler on the same network answers in milliseconds.
SCHEDULER_CONNECT_SECONDS = 5.0


class ArgumentError(DoccleanError):
    """An argument that cannot work; raised before anything starts."""


def readable_folder(option: str, given: str) -> None:
    """`given` must be an existing folder (a URL is checked when it is opened)."""
    if is_url(given):
        return
    path = Path(given)
    if path.is_dir():
        return
    if path.exists():
        raise ArgumentError(
            f"{option} {shown(given)} is a file, not a folder; name the folder that holds the documents."
        )
    raise ArgumentError(
        f"{option} {shown(given)} does not exist; create it and put the documents there, "
        f"or name another folder with {option}."
    )


def readable_file(option: str, given: str | None) -> None:
    """`given`, when given, must be an existing regular file."""
    if given is None:
        return
    path = Path(given)
    if path.is_file():
        return
    if path.is_dir():
        raise ArgumentError(f"{option} {shown(given)} is a folder, not a file; name one file.")
    raise ArgumentError(f"{option} {shown(given)} does not exist; check the name, or name another file.")


def writable_folder(option: str, given: str) -> None:
    """`given` must be a folder docclean can write in (or create), with its state entries writable."""
    if is_url(given):
        return
    path = Path(given)
    if path.exists() and not path.is_dir():
        raise ArgumentError(
            f"{option} {shown(given)} is a file, not a folder; name a folder for the dataset."
        )
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ArgumentError(
            f"{option} {shown(given)} cannot be written: {escape(str(existing))} is not writable by this user; "
            "fix its permissions or name another folder."
        )
    for entry in (path / LOCK_FILE, state_folder(path.absolute())):
        if entry.exists() and not os.access(entry, os.W_OK):
            raise ArgumentError(
                f"{option} {shown(given)} cannot be written: {escape(str(entry.absolute()))} is not writable "
                "by this user; fix its permissions (or run as its owner)."
            )


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


def at_least_one(option: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ArgumentError(f"{option} {value} is not allowed; give 1 or more.")


def seconds(option: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise ArgumentError(f"{option} {value} is not allowed; give a number of seconds, 0 or more.")


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
    size = int(float(found.group(1)) * _BYTE_UNITS[found.group(2).upper()]) if found else 0
    if size < 1:
        raise ArgumentError(
            f"{option} {escape(text)} is not a size; give bytes, or a number with K, M or G (e.g. 10M, 512K)."
        )
    return size
