"""Open the curated dataset wherever it lives, a local folder or an s3:// prefix, and report on it.

    from flows.dataset import open_dataset
    table = open_dataset("s3://bucket/curated").to_table()

On object storage the current snapshot moves with every run, so a reader resolves the pointer
once and then reads that snapshot, which stays complete and in place while later runs commit
(for as long as the retention keeps it: the current snapshot and two before it). In a local
folder a reader opens the fixed links `documents` and `rejects`.

The HTML report and the run report's whole-dataset part read through the same locations:
`docclean report --curated s3://…` writes the page into the dataset's prefix by default.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.fs as pafs

from docclean.corpus_state import read_state
from docclean.report import (
    REPORT_FILE_NAME,
    DatasetSummary,
    ReportError,
    render_html,
    rule_hits_markdown,
    summarize,
)
from docclean.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA
from flows.location import Location, StorageError
from flows.storage import parse_location
from flows.store import Store

TABLES = {"documents": DOCUMENT_SCHEMA, "rejects": REJECT_SCHEMA}


def open_store(curated: str) -> Store:
    """The curated dataset at a folder or s3:// URL, for a run to lock, read and write."""
    return Store(parse_location(curated))


def current_location(curated: str, table: str = "documents") -> Location:
    """The folder or prefix a reader opens for the current snapshot's `table` ("documents" or "rejects").

    Raises StorageError when there is no dataset yet, StoreError when the pointer to it is broken.
    """
    location = parse_location(curated)
    found = location.backend.snapshots(location).reader_table(table)
    if found is None:
        raise StorageError(
            f"{location.url} holds no curated dataset yet; run `docclean run --curated {location.url}` first."
        )
    return found


def current_url(curated: str, table: str = "documents") -> str:
    return current_location(curated, table).url


def _dataset(location: Location, table: str) -> ds.Dataset:
    # Listed, not opened as a folder: object storage has no empty folders, and a table of no rows writes no part.
    parts = [part.path for part in location.files(".parquet")]
    return ds.dataset(parts, filesystem=location.filesystem, schema=TABLES[table], format="parquet")


def open_dataset(curated: str, table: str = "documents") -> ds.Dataset:
    """The current snapshot's `table` as a pyarrow dataset (`.to_table()`, `.to_batches()`, filters)."""
    return _dataset(current_location(curated, table), table)


def _existing(curated: str | Path) -> Location:
    location = parse_location(str(curated))
    kind = location.kind()
    if kind == pafs.FileType.File:
        raise ReportError(
            f"The curated folder {location.url} is a file, not a folder; name the folder `docclean run` wrote."
        )
    if kind != pafs.FileType.Directory:
        raise ReportError(
            f"The curated folder {location.url} does not exist; run `docclean run` first or pass --curated."
        )
    return location


def summarize_dataset(curated: str | Path) -> DatasetSummary:
    """Read the dataset's current snapshot and count what the report shows (docclean.report.summarize).

    Raises ReportError when the folder or prefix does not exist; a dataset before its first run is empty.
    """
    location = _existing(curated)
    snapshots = location.backend.snapshots(location)
    documents, rejects = (snapshots.reader_table(name) for name in TABLES)
    snapshot = snapshots.reader_snapshot()
    return summarize(
        str(curated),
        None if documents is None else _dataset(documents, "documents"),
        None if rejects is None else _dataset(rejects, "rejects"),
        None if snapshot is None else read_state(snapshot.path, snapshot.filesystem),
    )


def write_report(curated: str | Path, out: str | Path | None = None) -> tuple[str, DatasetSummary]:
    """Write the HTML report of `curated` to `out` (default: report.html in the dataset) in one atomic step.

    Returns where it was written, as the user names it, and the summary. Raises ReportError when
    the dataset does not exist or the page cannot be written.
    """
    summary = summarize_dataset(curated)
    target = parse_location(str(out)) if out is not None else _existing(curated).child(REPORT_FILE_NAME)
    page = render_html(summary, datetime.now(UTC)).encode("utf-8")
    try:
        target.backend.make_folder(target.parent())
        target.backend.write_whole(target, page)  # a browser never opens half a page
    except OSError as error:
        raise ReportError(f"Could not write the report {target.url}: {error.strerror or error}.") from error
    return target.url, summary


def dataset_report_markdown(curated: str | Path) -> str:
    """The run report's whole-dataset part: hits per rule, and where the HTML report is (docclean.report)."""
    location = _existing(curated)
    documents = location.backend.snapshots(location).reader_table("documents")
    page = location.child(REPORT_FILE_NAME)
    info = page.filesystem.get_file_info(page.path)
    html_report = None
    if info.type == pafs.FileType.File:
        html_report = (page.url, datetime.fromtimestamp(info.mtime_ns / 1e9, UTC))
    return rule_hits_markdown(
        _dataset(documents, "documents") if documents else ds.dataset(DOCUMENT_SCHEMA.empty_table()),
        str(curated),
        html_report,
    )
