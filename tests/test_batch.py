"""`Cleaner.clean_batch` is `clean` on each document: the same table, column by column.

The batch core (docclean/batch/) reimplements stages column-wise; `clean` and the stage modules
stay the reference. Every golden case of every stage, the samples, the seeds and built
documents of each extracted format go through both in one batch, and hypothesis draws more.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docclean.batch.placeholders import replace_placeholders_batch
from docclean.batch.superset import superset_pattern
from docclean.errors import RejectedInput
from docclean.noise import strip_noise
from docclean.normalize import normalize_text
from docclean.pipeline import PER_DOCUMENT_BELOW_BYTES, BatchItem, CleanConfig, Cleaner
from docclean.placeholders import DEFAULT_TOKEN, replace_placeholders
from docclean.record import Record
from docclean.schema import DOCUMENT_SCHEMA, records_to_table
from tests import extract_documents
from tests.conftest import DATA_DIR, ROOT, SAMPLES_DIR
from tests.test_decode import build_bytes

INGESTED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _case_inputs(value: Any) -> Iterator[bytes]:
    """Every document-like input of a golden-case file: `input` strings or byte parts, `text` strings."""
    if isinstance(value, dict):
        if isinstance(value.get("input"), str):
            yield value["input"].encode("utf-8")
        elif isinstance(value.get("input"), list):
            yield build_bytes(value["input"])
        if isinstance(value.get("text"), str):
            yield value["text"].encode("utf-8")
        for child in value.values():
            yield from _case_inputs(child)
    elif isinstance(value, list):
        for child in value:
            yield from _case_inputs(child)


def golden_documents() -> list[bytes]:
    documents = [
        data
        for path in sorted(DATA_DIR.glob("*_cases.json"))
        for data in _case_inputs(json.loads(path.read_text("utf-8")))
    ]
    return documents + [path.read_bytes() for path in sorted(SAMPLES_DIR.iterdir())]


def extracted_documents() -> list[bytes]:
    body = ["在全县党建工作会议上的讲话", "同志们：今天XX县召开会议，**同志作了发言。", "一、提高认识"]
    return [
        extract_documents.docx_bytes(body),
        extract_documents.pdf_bytes("\n".join(body)),
        extract_documents.html_page("\n".join(body)),
    ]


def assert_batch_is_clean_per_document(items: list[BatchItem], config: CleanConfig | None = None) -> None:
    """clean_batch's table and rejects equal records_to_table of clean's records and its rejects."""
    # Two cleaners: each keeps its own rule timeouts, as two runs would.
    reference, batch = Cleaner(config), Cleaner(config)
    records: list[Record] = []
    mtimes: list[int] = []
    expected_rejects: list[tuple[str, str, str]] = []
    for item in items:
        try:
            records.append(reference.clean(item.data, item.source_path, item.doc_id))
            mtimes.append(item.mtime_ns)
        except RejectedInput as rejected:
            expected_rejects.append((item.source_path, rejected.reason, rejected.detail))
    rejects: list[tuple[str, str, str]] = []
    table = batch.clean_batch(
        items,
        INGESTED_AT,
        on_reject=lambda item, rejected: rejects.append((item.source_path, rejected.reason, rejected.detail)),
        per_document_below=0,  # the column-wise path, however small the batch
    )
    expected = records_to_table(records, mtimes, INGESTED_AT)
    assert table.schema.equals(DOCUMENT_SCHEMA, check_metadata=True)
    assert rejects == expected_rejects
    assert table.num_rows == len(records)
    for name in DOCUMENT_SCHEMA.names:
        assert table.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert table.equals(expected)


def _items(documents: list[bytes]) -> list[BatchItem]:
    return [BatchItem(data, f"doc{index}.txt", None, index) for index, data in enumerate(documents)]


def test_golden_documents_samples_and_extracted_formats_in_one_batch() -> None:
    assert_batch_is_clean_per_document(_items(golden_documents() + extracted_documents()))


def test_seeds_in_one_batch_with_kept_ids_and_a_custom_token(seeds: dict[str, bytes]) -> None:
    items = [
        BatchItem(data, name, f"kept{index}" if index % 2 else None, 1_000 + index)
        for index, (name, data) in enumerate(sorted(seeds.items()))
    ]
    assert_batch_is_clean_per_document(items)
    assert_batch_is_clean_per_document(items, CleanConfig(placeholder_token="某X", script_conversion=None))


# Traditional lines, with noise and without, for a kept script (the rules matched in the twin).
TRADITIONAL_PIECES = [
    "關於加強基層治理工作的講話", "同志們：", "今天召開這次會議。", "更多範文請關注微信公眾號：wenmi2023",
    "本文來源於網絡，如有侵權請聯繫刪除。", "聯繫電話：13812345678", "謝謝大家！", "XX局長", "乾隆", "著作",
    "僅供學習參考", "第3頁", "酷樂文行整理", "同志们，今天开会。",
]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(st.sampled_from(TRADITIONAL_PIECES), max_size=10).map("\n".join), min_size=1, max_size=5
    )
)
def test_a_batch_of_kept_traditional_text_cleans_as_each_document_alone(texts: list[str]) -> None:
    items = _items([text.encode("utf-8") for text in texts])
    assert_batch_is_clean_per_document(items, CleanConfig(script_conversion=None))


def test_rejects_go_to_on_reject_or_raise() -> None:
    items = _items([b"", "一、XX县".encode(), b"\x89PNG\r\n\x1a\n" + bytes(range(256))])
    assert_batch_is_clean_per_document(items)
    with pytest.raises(RejectedInput) as rejected:
        Cleaner().clean_batch(items, INGESTED_AT)
    assert rejected.value.reason == "empty"


def test_a_small_batch_is_cleaned_per_document_until_the_batch_path_is_built() -> None:
    small = _items(golden_documents()[:20])
    assert sum(len(item.data) for item in small) < PER_DOCUMENT_BELOW_BYTES
    cleaner = Cleaner()
    per_document = cleaner.clean_batch(small, INGESTED_AT)
    assert "line_filter" not in cleaner.__dict__
    assert per_document.equals(Cleaner().clean_batch(small, INGESTED_AT, per_document_below=0))
    large = [BatchItem("同志们：今天XX县召开会议，**同志作了发言。\n".encode() * 40_000, "large.txt")]
    assert sum(len(item.data) for item in large) >= PER_DOCUMENT_BELOW_BYTES
    cleaner.clean_batch(large, INGESTED_AT)
    assert "line_filter" in cleaner.__dict__
    assert cleaner.clean_batch(small, INGESTED_AT).equals(per_document)


def test_a_small_batch_does_not_import_polars() -> None:
    # What a run over a few new files spares: polars' import and the batch path's tables.
    script = (
        "import sys\n"
        "from docclean.pipeline import BatchItem, Cleaner\n"
        "Cleaner().clean_batch([BatchItem('同志们：今天XX县召开会议。'.encode(), 'a.txt')])\n"
        "print('polars' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout == "False\n"


def test_an_empty_batch_is_an_empty_table() -> None:
    table = Cleaner().clean_batch([], INGESTED_AT)
    assert table.num_rows == 0
    assert table.schema.equals(DOCUMENT_SCHEMA, check_metadata=True)


# Characters the placeholder, noise and normalize stages react to, and the words around them.
PIECES = [
    *"在会议讲话县局年月第某XxＸｘ×✕╳*＊○◯〇二一九零1239０.-%，。、：；（）“”《》 \u3000\n\r\t\u200b",
    "同志", "局长", "项目", "X光", "X-ray", "v2.x", "20XX", "二〇XX", "201X", "XX.X%", "**", "***",
    "某某", "QQ", "微信", "www.example.com", "仅供学习", "第3页", "— 2 —", "abc", "\U00020000",
    "這個會議", "&amp;", "ＡＢＣ１２", "138", "5678", "XXXX", "××××", "****", "□", "□□", "■■", "20**年",
    "长", "宽", "高度", "单价", "数量", "设", "求", "为", "=", "²", "王", "欧阳", "统计局", "iPhone",
    "染色体", "性染色体为", "核型为", "市长", "书记", "向", "联系人：",
    "到", "至", "是", "后", "后勤", "青年", "○○后",
]  # fmt: skip
documents = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


NOISE_CLEANER = Cleaner()
# Lines of the noise cases, and words the rules' literals and supersets react to.
NOISE_PIECES = [
    *(case["input"] for case in json.loads((DATA_DIR / "noise_cases.json").read_text("utf-8"))["positive"]),
    *"\n，。：（）【】 0123456789",
    "QQ", "微信", "电话", "13812345678", "010-12345678", "www.", ".com", "@", "仅供", "本文系",
    "酷乐文行", "第", "页", "— 3 —", "请勿", "转载", "Copyright", "abc", "某某",
]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, max_size=6))
def test_any_batch_cleans_as_each_document_alone(texts: list[str]) -> None:
    """About 2 s: 60 batches through every stage twice (reference and batch)."""
    assert_batch_is_clean_per_document(_items([text.encode("utf-8") for text in texts]))


@settings(max_examples=300, deadline=None)
@given(st.lists(documents, max_size=12), st.sampled_from([DEFAULT_TOKEN, "", "X", "某某"]))
def test_batch_placeholders_are_the_reference_on_each_text(texts: list[str], token: str) -> None:
    """The batch stage alone, on many more texts than the whole pipeline can afford."""
    columns = replace_placeholders_batch(texts, token)
    assert columns.placeholders.type == pa.list_(DOCUMENT_SCHEMA.field("placeholders").type.value_type)
    for text, out_text, placeholders, capped in zip(
        texts, columns.texts, columns.placeholders.to_pylist(), columns.capped, strict=True
    ):
        expected = replace_placeholders(text, token)
        assert out_text == expected.text
        assert capped == expected.capped
        assert placeholders == [
            {"start": p.start, "end": p.end, "original": p.original, "kind": p.kind}
            for p in expected.placeholders
        ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(NOISE_PIECES), max_size=40).map("".join), max_size=8))
def test_batch_line_candidates_give_the_reference_noise_removal(texts: list[str]) -> None:
    """strip_noise with the batch's line candidates is strip_noise with the rules' own prefilters.

    About 3 s: 300 batches, each through polars and through every rule twice; the noise cases'
    lines make the rules fire, where the whole-pipeline property draws few such lines.
    """
    normalized = [normalize_text(text, NOISE_CLEANER.converters).text for text in texts]
    candidates = NOISE_CLEANER.line_filter.candidates(normalized)
    for text, lines in zip(normalized, candidates, strict=True):
        assert strip_noise(text, NOISE_CLEANER.rules, candidates=lines) == strip_noise(
            text, NOISE_CLEANER.rules
        )


# Lines that recur in a document: a vendor's watermark, and the short lines of content (a refrain,
# a table's cell) beside which a recurring line is kept.
REPEATED_LINES = [
    "酷乐文行整理", "本资料由酷乐文行整理", "优秀", "我爱你，中国", "（盖章）", "一、总体要求", "",
    "同志们，今天我们召开全县安全生产工作会议，这是一段足够长的正文。", "谢谢大家！", "第3页",
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(REPEATED_LINES), max_size=14).map("\n".join), max_size=6))
def test_each_text_knows_its_most_repeated_line_count(texts: list[str]) -> None:
    """A text's most frequent line count is the one Counter finds, and the watermarks the noise
    removal finds with it (searched only in texts whose lines recur often enough) are the reference's."""
    rules = NOISE_CLEANER.rules
    candidates = NOISE_CLEANER.line_filter.candidates(texts)
    for text, lines in zip(texts, candidates, strict=True):
        assert lines.most_repeated() == max(Counter(text.split("\n")).values())
        assert strip_noise(text, rules, candidates=lines) == strip_noise(text, rules)


# Lines that make or break the built-in block rules (a page number between long lines, a vendor's
# promo block closed by a group's number), and lines around them.
BLOCK_LINES = [
    "12", " 3 ", "4 / 10", "１２", "٣", "— 5 —", "-", "酷乐文行", "【酷乐文行出品】", "酷乐文行资料库",
    "加入QQ群：123456", "微信群 88888888", "会员群号：12345", "一、总体要求", "（二）工作措施",
    "同志们，今天我们召开全县安全生产工作会议。", "短句", "要求：", "这是一段足够长的正文内容用来充当页码前后的段落。", "",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(BLOCK_LINES), max_size=12).map("\n".join), max_size=6))
def test_block_rules_are_searched_in_every_text_they_match_in(texts: list[str]) -> None:
    """A block rule's superset (anchors kept) and literals pass every text the rule matches in,
    and the noise removal with the batch's candidates is the reference's."""
    rules = NOISE_CLEANER.rules
    candidates = NOISE_CLEANER.line_filter.candidates(texts)
    for text, lines in zip(texts, candidates, strict=True):
        for rule in rules.block:
            if rules.patterns[rule].search(text) is not None:
                assert lines.may_match_block(rule), (rules.rules[rule].id, text)
        assert strip_noise(text, rules, candidates=lines) == strip_noise(text, rules)


def test_every_built_in_block_rule_has_a_superset() -> None:
    line_filter = NOISE_CLEANER.line_filter
    assert sorted(line_filter.block_supersets) == sorted(NOISE_CLEANER.rules.block)


def test_every_built_in_line_and_inline_rule_has_a_superset() -> None:
    """The translation models the built-in rules' syntax: none loses its batch prefilter."""
    line_filter = NOISE_CLEANER.line_filter
    assert sorted(line_filter.supersets) == line_filter.scoped


@pytest.mark.parametrize("escape", ["d", "s", "w"])
def test_class_escapes_are_written_out_as_the_regex_module_reads_them(escape: str) -> None:
    """Rust's \\d, \\s, \\w follow other Unicode tables; the superset spells out Python's."""
    every = "".join(chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF)
    superset = superset_pattern(f"\\{escape}")
    assert superset is not None
    matched = pl.Series([every]).str.extract_all(superset).explode().str.join("").item()
    assert matched == "".join(regex.findall(f"\\{escape}", every, regex.VERSION0))
