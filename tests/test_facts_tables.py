"""A whole table's facts at once (docclean/joined.py, dedup.span_signatures, corpus_facts) equal the
per-document reference: shingle_hashes and rensa's digest of one text, line_facts, text_sha256."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rensa import RMinHash

from docclean import dedup
from docclean.boilerplate import apply_boilerplate, base_text, line_facts, line_key
from docclean.corpus_facts import FACTS_SCHEMA, PARAMS_KEY, corpus_facts, facts_params
from docclean.dedup import SEED, DedupParams, shingle_hashes, shingle_text, signatures, text_sha256
from docclean.joined import join_texts
from docclean.pipeline import Cleaner
from docclean.record import Placeholder
from docclean.schema import record_from_row, records_to_table

# The characters the folds treat apart: line breaks, every kind of whitespace (U+3000 the last),
# the token's characters, a lone surrogate and an astral character.
_CHARS = [
    *"\n\r\t \u3000\x85\u2028\x0b\x1c\x00□MASK[]同志们3９0１a",
    "[MASK]",
    "\r\n",
    "\ud800",
    "\U00020000",
]
_TEXTS = st.lists(st.sampled_from(_CHARS), max_size=30).map("".join)


def _reference_signature(text: str, spans: list[tuple[int, int]], params: DedupParams) -> bytes:
    """A text's signature the per-document way: rensa's digest of its shingle_hashes, alone."""
    marks = [Placeholder(start, end, "", "") for start, end in spans]
    hashes = shingle_hashes(shingle_text(text, marks), params.ngram)
    matrix = RMinHash.digest_matrix_from_flat_token_hashes(
        hashes, np.array([0, len(hashes)], np.uint64), params.num_perm, SEED
    )
    return np.array(matrix.to_rows(), dtype="<u4")[0].tobytes()


def _spans(text: str) -> st.SearchStrategy[list[tuple[int, int]]]:
    bound = len(text) + 3
    return st.lists(st.tuples(st.integers(-2, bound), st.integers(-2, bound)), max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.lists(_TEXTS | st.text(max_size=12), max_size=6), st.integers(1, 7))
def test_signatures_of_a_table_are_each_texts_own(data: st.DataObject, texts: list[str], ngram: int) -> None:
    """Disjoint spans go the table-wide way; overlapping, unordered or negative ones text by text."""
    disjoint = st.lists(st.integers(0, 40), max_size=6, unique=True).map(sorted)
    spans = [
        data.draw(_spans(text) | disjoint.map(lambda cuts: list(zip(cuts[::2], cuts[1::2], strict=False))))
        for text in texts
    ]
    params = DedupParams(ngram=ngram, num_perm=16)
    assert signatures(texts, spans, params) == [
        _reference_signature(text, marks, params) for text, marks in zip(texts, spans, strict=True)
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=8), st.integers(1, 40), st.data())
def test_signatures_are_the_same_in_groups_of_any_size(
    texts: list[str], group: int, data: st.DataObject
) -> None:
    """span_signatures joins texts in groups (dedup._GROUP code points): the spans follow their rows."""
    spans = [data.draw(_spans(text)) for text in texts]
    params = DedupParams(num_perm=16)
    with mock.patch.object(dedup, "_GROUP", group):
        assert signatures(texts, spans, params) == [
            _reference_signature(text, marks, params) for text, marks in zip(texts, spans, strict=True)
        ]


@pytest.mark.parametrize(
    "texts",
    [
        [],
        [""],
        ["", "", ""],
        ["同志们", "", "同志们好，今天", " \n\u3000 "],
        ["a" * 5, "a" * 4, "b" * 6, "ab"],
        ["\ud800同\udfff志\U00020000们好啊", "[MASK][MASK]"],
    ],
)
@pytest.mark.parametrize("ngram", [1, 2, 5])
def test_signatures_of_empty_short_and_odd_texts(texts: list[str], ngram: int) -> None:
    params = DedupParams(ngram=ngram)
    assert signatures(texts, None, params) == [_reference_signature(text, [], params) for text in texts]


def test_signatures_refuse_spans_for_other_texts() -> None:
    with pytest.raises(ValueError, match="spans"):
        signatures(["一", "二"], [[]])


# --- corpus_facts over documents tables --------------------------------------------------------

_SPEECH = [
    "在全县第{i}次工作会议上的讲话",
    "同志们：",
    "市XX局×××同志在会上讲话，张某某、李某参加。",
    "一、提高思想认识，增强责任感和紧迫感 {i}",
    "  （此页无正文 第 1 页）  ",
    "",
    "谢谢大家！",
]


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner()


def _reference_facts(documents: pa.Table) -> pa.Table:
    """corpus_facts computed row by row from the per-document functions."""
    params = DedupParams()
    rows = documents.to_pylist()
    records = [record_from_row(row) for row in rows]
    facts = [line_facts(base_text(record), 3) for record in records]
    offsets = np.cumsum([0] + [len(hashes) for hashes, _ in facts]).astype(np.int32)
    schema = FACTS_SCHEMA.with_metadata({**FACTS_SCHEMA.metadata, PARAMS_KEY: facts_params(params, 3)})
    return pa.table(
        {
            "doc_id": [r.doc_id for r in records],
            "source_path": [r.source_path for r in records],
            "text_sha256": [text_sha256(r.text) for r in records],
            "signature": [
                _reference_signature(r.text, [(p.start, p.end) for p in r.placeholders], params)
                for r in records
            ],
            "line_hashes": pa.ListArray.from_arrays(
                offsets, pa.array(np.concatenate([h for h, _ in facts]), pa.uint64())
            ),
            "line_positions": pa.ListArray.from_arrays(
                offsets, pa.array(np.concatenate([p for _, p in facts]), pa.int8())
            ),
            "corpus_removed": [
                any(r.rule == "corpus_boilerplate" for r in record.removed) for record in records
            ],
        },
        schema=schema,
    )


def test_corpus_facts_of_placeholders_corpus_removals_empty_and_short_texts(cleaner: Cleaner) -> None:
    records = [cleaner.clean("\n".join(_SPEECH).format(i=i).encode(), f"speech-{i}.txt") for i in range(6)]
    assert all(record.placeholders for record in records)
    vendor = line_key("（此页无正文 第 1 页）")
    removed = [apply_boilerplate(record, {vendor}.__contains__) for record in records[:3]]
    assert all(r is not o for r, o in zip(removed, records[:3], strict=True))
    odd = [
        replace(records[3], doc_id="empty", text="", placeholders=(), removed=()),
        replace(records[4], doc_id="short", text="同志", placeholders=(), removed=()),
        replace(records[5], doc_id="spaces", text=" \n\u3000\n", placeholders=(), removed=()),
    ]
    documents = records_to_table([*removed, *records[3:], *odd], [0] * 9, datetime(2026, 12, 7, tzinfo=UTC))
    facts = corpus_facts(documents)
    assert facts.column("corpus_removed").to_pylist() == [True] * 3 + [False] * 6
    assert facts.equals(_reference_facts(documents), check_metadata=True)
    for start, length in ((0, 1), (2, 4), (8, 1)):
        part = documents.slice(start, length)
        assert corpus_facts(part).equals(_reference_facts(part), check_metadata=True)


def test_no_whitespace_lies_past_the_table_join_texts_reads() -> None:
    """join_texts looks whitespace up only below U+3001: str.isspace must agree everywhere."""
    assert not any(chr(code).isspace() for code in range(0x3001, 0x110000))
    texts = ["".join(map(chr, range(0x3001))), "同\u3000志"]
    joined = join_texts(texts)
    assert joined.spaces.tolist() == [
        i for i, code in enumerate(joined.codes.tolist()) if chr(code).isspace()
    ]
