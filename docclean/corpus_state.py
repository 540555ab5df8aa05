"""The corpus state a snapshot keeps, read by itself: duplicate index and boilerplate line counts.

The curate flow's corpus pass (flows/corpus.py) writes `corpus/dedup.parquet`,
`corpus/lines.parquet` and `corpus/line_texts.parquet` into every snapshot it commits; the report
and `docclean inspect` read them here. A snapshot written before the corpus pass existed has none
of them: `read_state` returns None for it, and readers say the state is absent rather than
showing empty clusters.
`fit_into_corpus` answers `docclean inspect FILE --curated DIR`: the cluster a file would join and
which of its lines the corpus counts make boilerplate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from docclean.boilerplate import LineCounts, StaleLineCounts, apply_boilerplate, document_lines, line_facts
from docclean.dedup import Assignment, DedupIndex, StaleIndex, signature, text_sha256
from docclean.errors import DoccleanError
from docclean.record import Record

CORPUS_FOLDER = "corpus"
DEDUP_FILE = "dedup.parquet"
LINES_FILE = "lines.parquet"
LINE_TEXTS_FILE = "line_texts.parquet"


def read_state(snapshot: str | None, filesystem: pafs.FileSystem) -> tuple[DedupIndex, LineCounts] | None:
    """The index and line counts of the snapshot folder `snapshot` on `filesystem` (a local
    folder's absolute path, or `bucket/prefix` in object storage); None when it has no corpus
    state, or one in a format of an older docclean (the corpus pass then builds it again).

    Raises ValueError (from `DedupIndex.from_table`) when the index was built with other
    parameters, and what pyarrow raises when the files cannot be read.
    """
    if snapshot is None:
        return None
    paths = [f"{snapshot}/{CORPUS_FOLDER}/{name}" for name in (DEDUP_FILE, LINES_FILE, LINE_TEXTS_FILE)]
    if any(info.type != pafs.FileType.File for info in filesystem.get_file_info(paths)):
        return None
    dedup, lines, texts = (pq.read_table(path, filesystem=filesystem) for path in paths)
    try:
        return DedupIndex.from_table(dedup), LineCounts.from_tables(lines, texts)
    except (StaleIndex, StaleLineCounts):
        return None


class CorpusStateError(DoccleanError):
    """A curated folder whose corpus state cannot be read for `docclean inspect --curated`."""


@dataclass(frozen=True, slots=True)
class CorpusFit:
    """Where a document not yet in the dataset would land in it.

    `assignment.dup_cluster` is the representative's doc_id ("" when the document would be its
    own cluster); `representative` is that row's (source_path, title). `boilerplate` and
    `candidates` are (line, documents) pairs, documents counted with this one included.
    """

    documents: int
    assignment: Assignment
    representative: tuple[str, str] | None
    boilerplate: tuple[tuple[str, int], ...]
    candidates: tuple[tuple[str, int], ...]


def current_snapshot(curated: Path) -> Path:
    """The snapshot folder `curated/documents` resolves into. Raises CorpusStateError when absent."""
    documents = curated / "documents"
    if not documents.is_dir():
        raise CorpusStateError(
            f"The curated folder {curated} holds no dataset; name the folder `docclean run --curated` wrote, "
            "or run `docclean run` first."
        )
    return documents.resolve().parent


def fit_into_corpus(record: Record, curated: Path) -> CorpusFit:
    """Query the current snapshot's duplicate index and line counts with one cleaned record.

    The record is cleaned of the lines that would be boilerplate with it counted (as the corpus
    pass would clean it) before its signature is taken. Raises CorpusStateError when the
    snapshot has no corpus state (written before the corpus pass).
    """
    snapshot = current_snapshot(curated)
    state = read_state(str(snapshot), pafs.LocalFileSystem())
    if state is None:
        raise CorpusStateError(
            f"The dataset in {curated} has no corpus state (it was written before the corpus pass); "
            "run `docclean run` once to build it."
        )
    index, counts = state
    lines = document_lines(record.text, counts.rules.edge_lines)
    # A document already counted, or a copy of one (the same folded lines), adds no document.
    new_content = record.doc_id not in set(counts.doc_ids()) and not counts.holds_content(
        line_facts(record.text, counts.rules.edge_lines)[0]
    )
    seen = {key: counts.documents_of(key) + new_content for key in lines}
    removed = {key for key, n in seen.items() if counts.rules.is_boilerplate(key, n)}
    cleaned = apply_boilerplate(record, removed.__contains__)
    assignment = index.query(
        text_sha256(cleaned.text), signature(cleaned.text, cleaned.placeholders, index.params)
    )
    representative = None
    if assignment.dup_cluster:
        rows = pq.read_table(
            snapshot / "documents",
            columns=["source_path", "title"],
            filters=pc.field("doc_id") == assignment.dup_cluster,
        ).to_pylist()
        representative = (rows[0]["source_path"], rows[0]["title"] or "") if rows else None
    candidates = {
        key
        for key, n in seen.items()
        if n >= counts.rules.min_documents and key not in removed and not counts.rules.is_convention(key)
    }
    return CorpusFit(
        documents=len(index),
        assignment=assignment,
        representative=representative,
        boilerplate=tuple((lines[key][0], seen[key]) for key in lines if key in removed),
        candidates=tuple((lines[key][0], seen[key]) for key in lines if key in candidates),
    )
