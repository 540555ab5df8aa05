"""How part files are written: what a reader gets back, and how each column is encoded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from docclean.boilerplate import LINE_TEXTS_SCHEMA, LINES_SCHEMA
from docclean.corpus_facts import FACTS_SCHEMA
from docclean.dedup import INDEX_SCHEMA
from docclean.pipeline import CleanConfig, Cleaner
from docclean.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, records_to_table
from flows.storage import parse_location
from flows.store import FREE_TEXT_COLUMNS, leaf_paths, write_part

SCHEMAS = [DOCUMENT_SCHEMA, REJECT_SCHEMA, FACTS_SCHEMA, INDEX_SCHEMA, LINES_SCHEMA, LINE_TEXTS_SCHEMA]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: ",".join(schema.names[:2]))
def test_leaf_paths_are_the_column_paths_parquet_writes(schema: pa.Schema, tmp_path: Path) -> None:
    # Writer options name columns by these paths; a path Parquet does not write matches nothing.
    pq.write_table(schema.empty_table(), tmp_path / "part.parquet")
    metadata = pq.ParquetFile(tmp_path / "part.parquet").metadata
    written = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
    assert [path for field in schema for path in leaf_paths(field)] == written


def test_annotation_fields_are_dictionary_encoded_and_free_text_is_not(tmp_path: Path) -> None:
    text = "市XX局×××同志在会上讲话。\n关注公众号获取更多范文\n一、提高认识\n" * 40
    record = Cleaner(CleanConfig()).clean(text.encode("utf-8"), "speech.txt")
    assert record.placeholders and record.removed and record.outline
    table = records_to_table([record], [0], datetime(2026, 12, 6, tzinfo=UTC))
    target = parse_location(str(tmp_path / "part.parquet"))
    write_part(table, target)
    row_group = pq.ParquetFile(tmp_path / "part.parquet").metadata.row_group(0)
    encodings = {
        row_group.column(i).path_in_schema: row_group.column(i).encodings
        for i in range(row_group.num_columns)
    }
    for path in (
        "placeholders.list.element.kind",
        "removed.list.element.rule",
        "outline.list.element.marker",
    ):
        assert any("DICTIONARY" in encoding for encoding in encodings[path]), (path, encodings[path])
    for path in FREE_TEXT_COLUMNS & set(encodings):
        assert not any("DICTIONARY" in encoding for encoding in encodings[path]), (path, encodings[path])
    assert pq.read_table(tmp_path / "part.parquet").equals(table)
