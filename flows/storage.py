"""Where raw and curated live: a local folder or a prefix in S3-compatible object storage, as one Location.

Object storage goes through `pyarrow.fs`, which ships in the pyarrow wheel: no extra dependency,
and Parquet reads and writes stream through the same filesystem object. Endpoint and credentials
come the standard way: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (or `AWS_PROFILE`), and
`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL` or `?endpoint_override=` in the URL for a server other
than AWS. pyarrow ignores the two endpoint variables (apache/arrow#49643), so they are applied
here; without an endpoint pyarrow asks AWS for the bucket's region, which is right on AWS only.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.fs as pafs

from docclean.layout import is_url
from flows.local import LocalDisk
from flows.location import Location, StorageError
from flows.s3 import ObjectStorage

# Endpoint variables in the AWS SDKs' order of precedence: the S3-specific one first.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def parse_location(text: str) -> Location:
    """A local folder (its absolute path) or an `s3://bucket/prefix` URL, as a Location.

    The path is absolute because part files may be written by a Dask worker with a working
    directory of its own. Raises StorageError for another scheme or a URL pyarrow refuses.
    """
    if not is_url(text):
        path = os.path.abspath(text)
        return Location(LocalDisk(), path, path)
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
    return Location(ObjectStorage(filesystem), path.rstrip("/"), shown.split("?")[0].rstrip("/"))


def display_url(url: str) -> str:
    """The URL without credentials written into it (s3://KEY:SECRET@bucket/...)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
