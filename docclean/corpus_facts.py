"""What the corpus pass needs of each document, computed where the document's text is at hand.

Per documents row: the SHA-256 of its clean text, its MinHash signature (docclean.dedup) and its
lines' key hashes and positions (docclean.boilerplate.line_facts), counted on its base text
(the text before corpus removals, so that a line's count does not fall once it is removed). A
whole table at once: its rows' shingles folded and hashed from their texts joined into arrays of
code points (docclean.joined), a rensa call for many rows. The curate flow computes them in the
batch that cleans a document, and in its corpus pass for rows no batch of the run wrote.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from docclean.boilerplate import DEFAULT_RULES, RULE_ID, base_text, line_facts
from docclean.dedup import DedupParams, Spans, span_signatures, text_sha256
from docclean.placeholders import DEFAULT_TOKEN
from docclean.schema import record_from_row

FACTS_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source_path", pa.string(), nullable=False),
        pa.field("text_sha256", pa.string(), nullable=False, metadata={"description": "Of the row's text."}),
        pa.field("signature", pa.binary(), nullable=False, metadata={"description": "Of the row's text."}),
        pa.field(
            "line_hashes",
            pa.list_(pa.uint64()),
            nullable=False,
            metadata={"description": "Of the base text."},
        ),
        pa.field("line_positions", pa.list_(pa.int8()), nullable=False),
        pa.field(
            "corpus_removed",
            pa.bool_(),
            nullable=False,
            metadata={"description": "The row's text has corpus_boilerplate removals."},
        ),
    ],
    metadata={"docclean.table": "corpus_facts"},
)

# Schema metadata key of a facts table: what its facts were computed with (facts_params).
PARAMS_KEY = b"docclean.facts.params"


def facts_params(params: DedupParams, edge_lines: int) -> bytes:
    """The parameters facts depend on, as stored with them: facts made with others are not used."""
    return json.dumps({"ngram": params.ngram, "num_perm": params.num_perm, "edge_lines": edge_lines}).encode()


# The documents columns corpus_facts reads (a row with corpus removals is read whole).
FACT_COLUMNS = ["doc_id", "source_path", "text", "placeholders", "removed"]


def corpus_facts(
    documents: pa.Table,
    params: DedupParams | None = None,
    edge_lines: int = DEFAULT_RULES.edge_lines,
    token: str = DEFAULT_TOKEN,
) -> pa.Table:
    """The facts (FACTS_SCHEMA) of every row of `documents` (DOCUMENT_SCHEMA, at least FACT_COLUMNS), in order.

    A row with `corpus_boilerplate` removals needs every column: its base text is rebuilt from
    the whole row (boilerplate.base_text). Raises ValueError for such a row whose annotations do
    not fit its text.
    """
    params = params or DedupParams()
    schema = FACTS_SCHEMA.with_metadata(
        {**FACTS_SCHEMA.metadata, PARAMS_KEY: facts_params(params, edge_lines)}
    )
    if not documents.num_rows:
        return schema.empty_table()
    texts = documents.column("text").to_pylist()
    signed = span_signatures(texts, _spans(documents.column("placeholders")), params)
    base, corpus_removed = base_texts(documents, list(texts), token)
    hashes, positions = line_facts_of(base, edge_lines, token)
    return pa.table(
        {
            "doc_id": documents.column("doc_id"),
            "source_path": documents.column("source_path"),
            "text_sha256": pa.array(_text_sha256s(documents.column("text")), pa.string()),
            "signature": pa.array(signed, pa.binary()),
            "line_hashes": hashes,
            "line_positions": positions,
            "corpus_removed": pa.array(corpus_removed, pa.bool_()),
        },
        schema=schema,
    )


def alone(documents: pa.Table, shas: pa.ChunkedArray | pa.Array) -> pa.Table:
    """`documents` (DOCUMENT_SCHEMA) with the corpus columns of documents alone in the corpus: `shas`
    as `text_sha256` (row for row), `dup_cluster` the row's own doc_id, `dup_similarity` 1.0.

    What a batch writes: most documents stay alone, and the corpus pass then rewrites only the
    parts holding a row a cluster takes in.
    """
    values = {
        "text_sha256": shas,
        "dup_cluster": documents.column("doc_id"),
        "dup_similarity": pa.array(np.ones(documents.num_rows, np.float32)),
    }
    for name, column in values.items():
        index = documents.schema.get_field_index(name)
        documents = documents.set_column(index, documents.schema.field(index), column)
    return documents


def dedup_facts(
    texts: Sequence[str], placeholders: pa.ChunkedArray | pa.Array, params: DedupParams | None = None
) -> tuple[list[str], list[bytes]]:
    """Each text's `text_sha256` and MinHash signature, its placeholder tokens (the documents column
    `placeholders`, row for row) left out of its shingles."""
    return [text_sha256(text) for text in texts], span_signatures(texts, _spans(placeholders), params)


def line_facts_of(
    texts: Sequence[str], edge_lines: int = DEFAULT_RULES.edge_lines, token: str = DEFAULT_TOKEN
) -> tuple[pa.ListArray, pa.ListArray]:
    """Each base text's `line_facts` as Arrow lists: the key hashes (uint64), and the positions (int8)."""
    facts = [line_facts(text, edge_lines, token) for text in texts]
    offsets = np.zeros(len(facts) + 1, np.int32)
    np.cumsum([len(hashes) for hashes, _ in facts], out=offsets[1:])
    hashes = np.concatenate([h for h, _ in facts]) if facts else np.empty(0, np.uint64)
    positions = np.concatenate([p for _, p in facts]) if facts else np.empty(0, np.int8)
    return (
        pa.ListArray.from_arrays(offsets, pa.array(hashes, pa.uint64())),
        pa.ListArray.from_arrays(offsets, pa.array(positions, pa.int8())),
    )


def base_texts(
    documents: pa.Table, texts: list[str], token: str = DEFAULT_TOKEN
) -> tuple[list[str], list[bool]]:
    """The rows' base texts (boilerplate.base_text), given their `texts` (the `text` column, as a list
    this function may change), and whether each text has corpus removals.

    A row with corpus removals is rebuilt as a Record, which needs every column of the row.
    """
    with_corpus = set(_rows_holding(documents.column("removed"), "rule", RULE_ID))
    for index in with_corpus:
        texts[index] = base_text(record_from_row(documents.slice(index, 1).to_pylist()[0]), token)
    return texts, [index in with_corpus for index in range(documents.num_rows)]


def has_corpus_removals(documents: pa.Table) -> bool:
    """Whether any row of `documents` has a `corpus_boilerplate` removal (its facts then need every column)."""
    return bool(_rows_holding(documents.column("removed"), "rule", RULE_ID))


def _spans(placeholders: pa.ChunkedArray | pa.Array) -> Spans:
    """The rows' placeholders as Spans (row, start, end), read column-wise (a struct per placeholder costs)."""
    column = placeholders.combine_chunks() if isinstance(placeholders, pa.ChunkedArray) else placeholders
    flat = column.flatten()
    return (
        pc.list_parent_indices(column).to_numpy().astype(np.int64),
        pc.struct_field(flat, "start").to_numpy().astype(np.int64),
        pc.struct_field(flat, "end").to_numpy().astype(np.int64),
    )


def _text_sha256s(texts: pa.ChunkedArray) -> list[str]:
    """`text_sha256` of each string of the column, hashed from its UTF-8 in place (Arrow holds it)."""
    array = texts.combine_chunks()
    wide = pa.types.is_large_string(array.type)
    offsets = np.frombuffer(array.buffers()[1], np.int64 if wide else np.int32)
    offsets = offsets[array.offset : array.offset + len(array) + 1].tolist()
    data = memoryview(array.buffers()[2] or b"")
    sha256 = hashlib.sha256
    return [sha256(data[start:end]).hexdigest() for start, end in itertools.pairwise(offsets)]


def _rows_holding(column: pa.ChunkedArray, field: str, value: str) -> list[int]:
    """The rows of a list<struct> column with an item whose `field` is `value`."""
    lists = column.combine_chunks()
    parents = pc.list_parent_indices(lists).to_numpy()
    hits = pc.equal(pc.struct_field(lists.flatten(), field), value).to_numpy(zero_copy_only=False)
    return np.unique(parents[hits]).tolist()
