"""The curated dataset's Arrow schemas: the product's contract, defined here and nowhere else.

Every field carries its description in the field metadata (key `description`), so a user who
loads the dataset with pyarrow sees what each column means without the README.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from docclean.record import NormalizeEdit, OutlineEntry, Placeholder, Record, Reject, Removal, Segment

SCHEMA_VERSION = "2"


def _field(name: str, type_: pa.DataType, description: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


SEGMENT_TYPE = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("encoding", pa.string())])
PLACEHOLDER_TYPE = pa.struct(
    [("start", pa.int32()), ("end", pa.int32()), ("original", pa.string()), ("kind", pa.string())]
)
REMOVAL_TYPE = pa.struct(
    [("rule", pa.string()), ("category", pa.string()), ("text", pa.string()), ("offset", pa.int32())]
)
NORMALIZATION_TYPE = pa.struct([("rule", pa.string()), ("count", pa.int32()), ("removed", pa.string())])
OUTLINE_TYPE = pa.struct(
    [("level", pa.int8()), ("marker", pa.string()), ("heading", pa.string()), ("offset", pa.int32())]
)

# Columns filled from a `Record`, in the record's field order.
_RECORD_FIELDS = [
    _field("doc_id", pa.string(), "Stable identifier of the document; kept when its raw file is renamed."),
    _field(
        "source_path",
        pa.string(),
        "Path of the raw file relative to the raw folder, '/'-separated; bytes that are not UTF-8 "
        "in a file name are written as \\xNN.",
    ),
    _field("source_sha256", pa.string(), "SHA-256 of the raw file's bytes, hex."),
    _field("source_bytes", pa.int64(), "Size of the raw file in bytes."),
    _field(
        "encoding",
        pa.string(),
        "Python codec the text was decoded with, lower case (utf-8, gb18030, ...); null for a format that "
        "carries its own text encoding (docx, pdf).",
        True,
    ),
    _field("encoding_confidence", pa.float32(), "Confidence in the encoding, 0 to 1."),
    _field(
        "encoding_method",
        pa.string(),
        "How the encoding was decided: bom, utf-8, detector, trial, mixed, replace; declared (an HTML page's "
        "own declaration), container (docx, pdf: no codec chosen).",
    ),
    _field(
        "encoding_segments",
        pa.list_(SEGMENT_TYPE),
        "Byte ranges of the raw file and the codec each was decoded with; several when the file mixes encodings.",
    ),
    _field(
        "repair",
        pa.string(),
        "Mojibake transform that was reversed, e.g. 'utf-8 decoded as gbk'; null if none.",
        True,
    ),
    _field("source_script", pa.string(), "Script of the source text: Hans, Hant, mixed or none."),
    _field(
        "title",
        pa.string(),
        "Title: the heading lines before the body, joined; null when there is none.",
        True,
    ),
    _field(
        "doc_type",
        pa.string(),
        "Document type named by the title (讲话, 发言, 报告, ...); null if unknown.",
        True,
    ),
    _field(
        "text",
        pa.string(),
        "The clean document: paragraphs separated by '\\n', noise removed, placeholders replaced by the token.",
    ),
    _field(
        "placeholders",
        pa.list_(PLACEHOLDER_TYPE),
        "Redaction placeholders: start/end offsets of the token in text, the original string, and its kind "
        "(number, place, person, organization, date, unknown).",
    ),
    _field(
        "removed",
        pa.list_(REMOVAL_TYPE),
        "Every span the noise stage or extraction removed: rule id, category, the removed text, and its offset "
        "in the normalized text (text before removals and placeholder replacement; the lines extraction "
        "dropped follow the document's text in it).",
    ),
    _field(
        "normalizations",
        pa.list_(NORMALIZATION_TYPE),
        "What each normalization rule changed: rule, number of changes, and every non-whitespace character it deleted.",
    ),
    _field(
        "outline",
        pa.list_(OUTLINE_TYPE),
        "Section headings: level (1 is the top), marker (一、, （一）, 一是, ...), heading text and offset in text.",
    ),
    _field("flags", pa.list_(pa.string()), "What a user should know about the document (see README)."),
    _field("char_count", pa.int64(), "Number of characters in text."),
    _field("pipeline_version", pa.string(), "Version of the cleaning pipeline that made the row."),
    _field("rules_version", pa.string(), "Hash of the effective noise rules that made the row."),
    _field(
        "source_format",
        pa.string(),
        "What the raw file's content was read as, by its magic bytes: text, docx, pdf, rtf, html, mhtml.",
    ),
    _field("page_count", pa.int32(), "Number of pages of a PDF; null for every other format.", True),
    _field(
        "language",
        pa.string(),
        "ISO 639-1 code of the document's language (zh, ja, ko, en, ...), detected on its first 2,000 "
        "characters; null when they hold no letters to judge, and in rows written before the column existed.",
        True,
    ),
    _field(
        "language_confidence",
        pa.float32(),
        "The language detector's confidence in `language`, 0 to 1; null in rows written before the column existed.",
        True,
    ),
]

# Columns the curate flow adds about the raw file's life, not about its cleaning.
_FILE_FIELDS = [
    _field(
        "source_mtime_ns",
        pa.int64(),
        "Modification time of the raw file when it was read, in ns since the epoch.",
    ),
    _field("ingested_at", pa.timestamp("us", tz="UTC"), "When the row was written."),
    _field(
        "source_present",
        pa.bool_(),
        "False once the raw file has disappeared from the raw folder; the row is kept so nothing is lost.",
    ),
]

# Columns of the corpus view (docclean.dedup): a batch writes each row as a document alone
# (docclean.corpus_facts.alone), the run's corpus pass rewrites the rows a cluster takes in; null
# only in a row a batch of an older docclean wrote.
_CORPUS_FIELDS = [
    _field("text_sha256", pa.string(), "SHA-256 of the clean text's UTF-8 bytes, hex.", True),
    _field(
        "dup_cluster",
        pa.string(),
        "doc_id of the representative of the document's duplicate cluster (its earliest ingested member); "
        "the document's own doc_id when it is a representative or alone. doc_id = dup_cluster selects the "
        "deduplicated corpus.",
        True,
    ),
    _field(
        "dup_similarity",
        pa.float32(),
        "Estimated Jaccard similarity (MinHash of character 5-grams) to the representative; 1.0 for the "
        "representative and exact copies.",
        True,
    ),
]

DOCUMENT_SCHEMA = pa.schema(
    _RECORD_FIELDS + _FILE_FIELDS + _CORPUS_FIELDS,
    metadata={"docclean.table": "documents", "docclean.schema_version": SCHEMA_VERSION},
)

REJECT_SCHEMA = pa.schema(
    [
        _field(
            "source_path", pa.string(), "Path of the raw file relative to the raw folder, as in documents."
        ),
        _field(
            "source_sha256",
            pa.string(),
            "SHA-256 of the raw file's bytes; null when they could not be read.",
            True,
        ),
        _field(
            "reason", pa.string(), "Stable reason code: binary, empty, too_large, unreadable, vanished, ..."
        ),
        _field("detail", pa.string(), "A sentence naming the file and the cause."),
        _field("source_mtime_ns", pa.int64(), "Modification time of the raw file when it was seen.", True),
        _field("source_bytes", pa.int64(), "Size of the raw file when it was seen.", True),
        _field("rejected_at", pa.timestamp("us", tz="UTC"), "When the reject was recorded."),
    ],
    metadata={"docclean.table": "rejects", "docclean.schema_version": SCHEMA_VERSION},
)

RECORD_COLUMNS = [f.name for f in _RECORD_FIELDS]


def _struct_list_array(rows: Sequence[tuple[object, ...]], list_type: pa.ListType) -> pa.Array:
    """A list<struct> column built one struct field at a time from the annotations' attributes.

    The struct fields are named like the annotation dataclasses' attributes. Going through
    `astuple` (which deep-copies every field) and a dict per item took 1.3 ms a document, 8% of
    the cleaning itself on the benchmark corpus; this builds the same array in a sixth of that.
    """
    items = [item for row in rows for item in row]
    names = [f.name for f in list_type.value_type]
    # attrgetter and zip transpose the items into columns in C: a getattr per value in a Python
    # loop cost 15 ms per MB of documents rich in placeholders. Every struct has several fields,
    # so attrgetter returns tuples.
    columns = list(zip(*map(operator.attrgetter(*names), items), strict=True)) if items else [()] * len(names)
    return struct_lists(columns, [len(row) for row in rows], list_type)


def struct_lists(
    columns: Sequence[Sequence[object] | pa.Array],
    lengths: Sequence[int] | np.ndarray,
    list_type: pa.ListType,
) -> pa.ListArray:
    """A list<struct> column of `list_type` from its struct fields' values, one column per field
    in order (Arrow arrays or sequences), cut into lists of `lengths` items: how the batch core
    writes an annotation column without an object per annotation."""
    struct_type = list_type.value_type
    children = [
        column if isinstance(column, pa.Array) else pa.array(column, type=f.type)
        for f, column in zip(struct_type, columns, strict=True)
    ]
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = pa.StructArray.from_arrays(children, fields=list(struct_type))
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=list_type)


def records_to_table(
    records: Sequence[Record], mtimes_ns: Iterable[int], ingested_at: object, present: bool = True
) -> pa.Table:
    columns = {name: [getattr(record, name) for record in records] for name in RECORD_COLUMNS}
    return columns_to_table(columns, len(records), mtimes_ns, ingested_at, present)


def columns_to_table(
    columns: Mapping[str, Sequence[object] | pa.Array],
    count: int,
    mtimes_ns: Iterable[int],
    ingested_at: object,
    present: bool = True,
) -> pa.Table:
    """The documents table from its record columns (`RECORD_COLUMNS`), `count` rows.

    A column is an Arrow array of the field's type, or the rows' values: annotation tuples
    (dataclasses named like the struct's fields) for a list<struct> field, else Python values.
    """
    arrays = []
    for field in DOCUMENT_SCHEMA:
        if field.name in RECORD_COLUMNS:
            values = columns[field.name]
            if isinstance(values, pa.Array):
                arrays.append(values)
            elif pa.types.is_list(field.type) and pa.types.is_struct(field.type.value_type):
                arrays.append(_struct_list_array(values, field.type))
            else:
                arrays.append(pa.array(values, type=field.type))
        elif field.name == "source_mtime_ns":
            arrays.append(pa.array(list(mtimes_ns), type=field.type))
        elif field.name == "ingested_at":
            arrays.append(pa.array([ingested_at] * count, type=field.type))
        elif field.name == "source_present":
            arrays.append(pa.array([present] * count, type=field.type))
        else:
            arrays.append(pa.nulls(count, type=field.type))
    return pa.Table.from_arrays(arrays, schema=DOCUMENT_SCHEMA)


def rejects_to_table(
    rejects: Sequence[Reject],
    mtimes_ns: Sequence[int | None],
    sizes: Sequence[int | None],
    rejected_at: object,
) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "source_path": [r.source_path for r in rejects],
            "source_sha256": [r.source_sha256 for r in rejects],
            "reason": [r.reason for r in rejects],
            "detail": [r.detail for r in rejects],
            "source_mtime_ns": list(mtimes_ns),
            "source_bytes": list(sizes),
            "rejected_at": [rejected_at] * len(rejects),
        },
        schema=REJECT_SCHEMA,
    )


def record_from_row(row: Mapping[str, Any]) -> Record:
    """A Record rebuilt from a documents row (its normalized text is rebuilt on demand)."""
    return Record(
        doc_id=row["doc_id"],
        source_path=row["source_path"],
        source_sha256=row["source_sha256"],
        source_bytes=row["source_bytes"],
        encoding=row["encoding"],
        encoding_confidence=row["encoding_confidence"],
        encoding_method=row["encoding_method"],
        encoding_segments=tuple(Segment(**s) for s in row["encoding_segments"]),
        repair=row["repair"],
        source_script=row["source_script"],
        title=row["title"],
        doc_type=row["doc_type"],
        text=row["text"],
        placeholders=tuple(Placeholder(**p) for p in row["placeholders"]),
        removed=tuple(Removal(**r) for r in row["removed"]),
        normalizations=tuple(NormalizeEdit(**n) for n in row["normalizations"]),
        outline=tuple(OutlineEntry(**o) for o in row["outline"]),
        flags=tuple(row["flags"]),
        char_count=row["char_count"],
        pipeline_version=row["pipeline_version"],
        rules_version=row["rules_version"],
        source_format=row["source_format"],
        page_count=row["page_count"],
    )
