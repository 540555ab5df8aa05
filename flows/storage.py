"""Where raw and curated live: a local folder (a Path) or a prefix in S3-compatible object storage.

Object storage goes through `pyarrow.fs`, which ships in the pyarrow wheel: no extra dependency,
and Parquet reads and writes stream through the same filesystem object. Endpoint and credentials
come the standard way: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (or `AWS_PROFILE`), and
`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL` or `?endpoint_override=` in the URL for a server other
than AWS. pyarrow ignores the two endpoint variables (apache/arrow#49643), so they are applied
here; without an endpoint pyarrow asks AWS for the bucket's region, which is right on AWS only.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.fs as pafs

from docclean.errors import DoccleanError, RejectedInput
from docclean.layout import is_url
from docclean.sourcepath import source_path_of
from flows.scan import RawEntry, ScanProblem, ScanResult, is_partial_name

# Endpoint variables in the AWS SDKs' order of precedence: the S3-specific one first.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
# Key components that S3 stores as given but pyarrow (like any path) reads as a folder step:
# "a//b", "a/./b" and "a/../b" are listed, and then cannot be opened.
UNUSABLE_KEY_COMPONENTS = {"", ".", ".."}
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


@dataclass(frozen=True, slots=True)
class ObjectPath:
    """One object (or prefix) in object storage.

    It pickles as the filesystem's options (endpoint, region) without credentials taken from the
    environment, so a Dask worker that receives it connects with its own.
    """

    filesystem: pafs.FileSystem
    path: str  # bucket/key
    url: str  # what messages name

    def child(self, name: str) -> ObjectPath:
        return ObjectPath(self.filesystem, f"{self.path}/{name}", f"{self.url}/{name}")

    def open(self) -> pa.NativeFile:
        """The object's bytes as a stream.

        Raises FileNotFoundError when the object is gone (deleted since the listing) and
        UnreadableObject when it is listed but storage will not hand it over as a file.
        """
        try:
            return self.filesystem.open_input_stream(self.path)
        except FileNotFoundError:
            if self.filesystem.get_file_info(self.path).type == pafs.FileType.Directory:
                # pyarrow lists a folder marker that has content ("dir/" holding bytes) as the
                # file "dir", which it then cannot open: that key never becomes readable.
                raise UnreadableObject(
                    "not_a_file",
                    f"{self.url}/ is a folder marker with content (a key ending in '/'), not a file; "
                    "delete it or give it a name without the trailing '/'.",
                ) from None
            raise
        except pa.ArrowException as error:
            if isinstance(error, OSError):
                raise  # a storage error: transient like any read error
            raise UnreadableObject("bad_key", f"{self.url} cannot be opened: {error}.") from error


class UnreadableObject(RejectedInput, OSError):
    """An object docclean will never read as it is: its key or kind is the cause, not the storage.

    A reject with a lasting reason (so it is not retried every run), and an OSError, so that
    every caller that survives a read error survives this one too.
    """


class StorageError(DoccleanError):
    """A raw or curated location (a folder or an s3:// URL) that cannot be used as given."""


def parse_location(text: str) -> Path | ObjectPath:
    """A local folder stays a Path, exactly as before; an `s3://bucket/prefix` URL becomes an ObjectPath."""
    if not is_url(text):
        return Path(text)
    parts = urlsplit(text)
    shown = display_url(text)
    if parts.scheme != "s3":
        raise StorageError(
            f"{shown} cannot be used: docclean reads and writes local folders and s3:// URLs only."
        )
    if not parts.hostname:
        raise StorageError(f"{shown} cannot be used: the URL names no bucket; write s3://BUCKET/PREFIX.")
    query = dict(parse_qsl(parts.query))
    endpoint = next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)
    if endpoint and "endpoint_override" not in query:
        query["endpoint_override"] = endpoint
    uri = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), urlencode(query), ""))
    try:
        filesystem, path = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, OSError) as error:
        raise StorageError(f"{shown} cannot be used: {error}.") from error
    return ObjectPath(filesystem, path.rstrip("/"), shown.split("?")[0].rstrip("/"))


def display_url(url: str) -> str:
    """The URL without credentials written into it (s3://KEY:SECRET@bucket/...)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def cause_of(target: ObjectPath, error: OSError) -> str:
    """What went wrong, in words, for an OSError pyarrow raised on object storage."""
    code = re.search(r"AWS Error (\w+)", str(error))
    cause = CAUSES.get(code.group(1)) if code else None
    return cause.format(bucket=target.path.split("/", 1)[0]) if cause else str(error).rstrip(".")


def storage_error(action: str, target: ObjectPath, error: OSError) -> StorageError:
    return StorageError(f"Could not {action} {target.url}: {cause_of(target, error)}.")


def scan_objects(raw: ObjectPath, settle_seconds: float, now_ns: int | None = None) -> ScanResult:
    """The object-storage twin of scan_raw: same partial names, same settle time, no links to report.

    An object exists only once its upload is complete, but a tool that uploads a folder object by
    object is still copying it in: the settle time applies as on a disk.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    settle_ns = int(settle_seconds * 1e9)
    bucket = raw.path.split("/", 1)[0]
    try:
        # An empty prefix is an empty raw folder (object storage has no empty folders); a missing bucket is not.
        if raw.filesystem.get_file_info(bucket).type == pafs.FileType.NotFound:
            raise StorageError(
                f"Could not list the raw folder {raw.url}: the bucket {bucket} does not exist."
            )
        infos = raw.filesystem.get_file_info(
            pafs.FileSelector(raw.path, recursive=True, allow_not_found=True)
        )
    except OSError as error:
        raise storage_error("list the raw folder", raw, error) from error
    result = ScanResult()
    pending: set[str] = set()
    for info in infos:
        if info.type != pafs.FileType.File:
            continue  # prefixes ("folders") are implied by the keys under them
        rel = info.path[len(raw.path) + 1 :]
        names = rel.split("/")
        if any(name in UNUSABLE_KEY_COMPONENTS for name in names):
            result.problems.append(
                ScanProblem(
                    rel,
                    "bad_key",
                    f"The object key has an empty, '.' or '..' path component ({raw.url}/{rel}): object "
                    "storage keeps such keys, but they name no file; rename the object.",
                    info.size,
                    info.mtime_ns,
                )
            )
            continue
        partial = next((i for i, name in enumerate(names) if is_partial_name(name)), None)
        if partial is not None:
            pending.add(source_path_of("/".join(names[: partial + 1]).encode()))
        elif now_ns - info.mtime_ns < settle_ns:
            pending.add(source_path_of(rel.encode()))
        else:
            # Keys are UTF-8, but may hold a backslash or a control character: escaped as on a disk.
            result.files.append(
                RawEntry(source_path_of(rel.encode()), raw.child(rel), info.size, info.mtime_ns)
            )
    result.pending = sorted(pending)
    result.files.sort(key=lambda e: e.rel_path)
    return result
