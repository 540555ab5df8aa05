"""Open the curated dataset wherever it lives: a local folder or an s3:// prefix.

    from flows.dataset import open_dataset
    table = open_dataset("s3://bucket/curated").to_table()

On object storage the current snapshot moves with every run, so a reader resolves the pointer
once and then reads that snapshot, which stays complete and in place while later runs commit
(for as long as the retention keeps it: the current snapshot and two before it).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds

from docclean.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA
from flows.objectstore import ObjectStore
from flows.storage import ObjectPath, StorageError, parse_location
from flows.store import CuratedStore

TABLES = {"documents": DOCUMENT_SCHEMA, "rejects": REJECT_SCHEMA}


def open_store(curated: str) -> CuratedStore | ObjectStore:
    location = parse_location(curated)
    # Absolute: the part files may be written by a Dask worker with a working directory of its own.
    return CuratedStore(location.absolute()) if isinstance(location, Path) else ObjectStore(location)


def current_location(curated: str, table: str = "documents") -> Path | ObjectPath:
    """The folder or prefix of the current snapshot's `table` ("documents" or "rejects")."""
    location = parse_location(curated)
    if isinstance(location, Path):
        return location / table  # a fixed link into the current snapshot
    current = ObjectStore(location).current()
    if current is None:
        raise StorageError(
            f"{location.url} holds no curated dataset yet; run `docclean run --curated {location.url}` first."
        )
    return current.child(table)


def current_url(curated: str, table: str = "documents") -> str:
    location = current_location(curated, table)
    return str(location) if isinstance(location, Path) else location.url


def open_dataset(curated: str, table: str = "documents") -> ds.Dataset:
    """The current snapshot's `table` as a pyarrow dataset (`.to_table()`, `.to_batches()`, filters)."""
    location = current_location(curated, table)
    if isinstance(location, Path):
        return ds.dataset(location, schema=TABLES[table], format="parquet")
    return ds.dataset(location.path, filesystem=location.filesystem, schema=TABLES[table], format="parquet")
