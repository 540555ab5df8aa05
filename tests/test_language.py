"""The `language` column, `--languages`, and OpenCC kept off text that is not Chinese (issue 15 items 2, 3, 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docclean import language
from docclean.decode import decode_bytes
from docclean.errors import RejectedInput
from docclean.language import (
    CANDIDATE_CODES,
    NEUTRAL_RANGES,
    SAMPLE_CHARS,
    _detector,
    detect_language,
    parse_languages,
    rules_decide_chinese,
)
from docclean.pipeline import CleanConfig, Cleaner
from docclean.schema import DOCUMENT_SCHEMA
from tests.conftest import DATA_DIR

CASES = json.loads((DATA_DIR / "decode_language_cases.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner()


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_golden_languages(case: dict[str, Any]) -> None:
    guess = detect_language(case["text"], case.get("encoding"))
    assert guess.language == case["language"]
    if case["language"] is None:
        assert guess.confidence == 0.0
    else:
        assert guess.confidence >= case.get("confidence_at_least", 0.5)


@pytest.mark.parametrize("case", CASES["known_failures"], ids=lambda c: c["name"])
def test_known_language_failures_still_fail(case: dict[str, Any]) -> None:
    assert detect_language(case["text"], case.get("encoding")).language != case["language"]


_NEUTRAL = [chr(code) for first, last in NEUTRAL_RANGES for code in range(first, last + 1)]


def _lingua_says_chinese(text: str) -> bool:
    best = _detector().compute_language_confidence_values(text)[0]
    return best.language.iso_code_639_1.name == "ZH" and best.value == 1.0


def test_neutral_characters_form_no_word_for_lingua() -> None:
    """Alone, three of one form no word Lingua can name; after a Han character, it still calls the
    text Chinese at 1.0 (a word of its own would tie the count and undecide it)."""
    for char in _NEUTRAL + [char for char in map(chr, range(128)) if not char.isalpha()]:
        assert _detector().compute_language_confidence_values(char * 3)[0].value == 0.0, hex(ord(char))
        assert _lingua_says_chinese("中" + char), hex(ord(char))


def test_each_han_ideograph_is_a_word_of_its_own_and_goes_on_a_latin_run() -> None:
    """`ab中` is one (Chinese) word; `中中 a` two Chinese words against one of no language."""
    for code in range(0x4E00, 0xA000):
        han = chr(code)
        assert _lingua_says_chinese("a" + han), hex(code)
        assert _lingua_says_chinese(han + han + " a"), hex(code)


# Han, ASCII letters and neutral characters, and a few letters that take a text out of the rules' reach.
_RULE_TEXT = st.text(
    st.sampled_from(["中", "國", "人", "a", "Z", "x", " ", "\n", "。", "，", "×", "1", "ｘ", "ー", "é"])
    | st.sampled_from(_NEUTRAL),
    max_size=16,
)


@settings(max_examples=300, deadline=None)
@given(_RULE_TEXT)
def test_a_decision_by_characters_is_lingua_s(text: str) -> None:
    if rules_decide_chinese(text):
        assert _lingua_says_chinese(text)


def test_goldens_samples_and_seeds_get_lingua_s_guess(
    monkeypatch: pytest.MonkeyPatch, seeds: dict[str, bytes]
) -> None:
    """The guess with the decision by characters is the one Lingua alone gives, on every golden text."""
    from tests.test_batch import golden_documents

    inputs = [(case["text"], case.get("encoding")) for case in CASES["cases"] + CASES["known_failures"]]
    for data in golden_documents() + list(seeds.values()):
        try:
            decoded = decode_bytes(data)
        except RejectedInput:
            continue
        inputs.append((decoded.text, decoded.encoding))
    guesses = [detect_language(text, encoding) for text, encoding in inputs]
    decided = sum(rules_decide_chinese(text[:SAMPLE_CHARS]) for text, _ in inputs)
    monkeypatch.setattr(language, "rules_decide_chinese", lambda sample: False)
    assert guesses == [detect_language(text, encoding) for text, encoding in inputs]
    assert decided > len(inputs) // 3


def test_only_the_bounded_sample_is_read() -> None:
    english = "The committee met on Monday to discuss the budget for next year. " * 40
    assert len(english) > SAMPLE_CHARS
    assert detect_language(english + "同志们：今天召开会议。" * 1000).language == "en"


@pytest.mark.parametrize(
    ("text", "encoding", "language", "codec"),
    [
        (
            "日本国民は、正当に選挙された國會における代表者を通じて行動する。議會の決議に従う。\n",
            "cp932",
            "ja",
            "cp932",
        ),
        (
            "日本国民は、正当に選挙された國會における代表者を通じて行動する。議會の決議に従う。\n",
            "euc-jp",
            "ja",
            "euc_jp",
        ),
        (
            "대한민국은 민주공화국이다. 國會는 法律을 議決한다. 오늘 회의에서는 사업 계획을 논의하였습니다.\n",
            "euc-kr",
            "ko",
            "cp949",
        ),
    ],
    ids=["shift-jis", "euc-jp", "euc-kr with hanja"],
)
def test_japanese_and_korean_are_decoded_and_never_converted_by_opencc(
    cleaner: Cleaner, text: str, encoding: str, language: str, codec: str
) -> None:
    record = cleaner.clean(text.encode(encoding), "doc.txt")
    assert (record.encoding, record.language) == (codec, language)
    # 國會 and 議 are what t2s would rewrite (国会, 议) if it ran on them.
    assert record.text == text.strip()
    assert not any(edit.rule.startswith("opencc") for edit in record.normalizations)


def test_traditional_chinese_is_still_converted(cleaner: Cleaner) -> None:
    record = cleaner.clean(
        "我們今天召開全縣機關黨建工作推進會，主要任務是總結經驗。".encode("big5"), "doc.txt"
    )
    assert record.language == "zh"
    assert record.text == "我们今天召开全县机关党建工作推进会，主要任务是总结经验。"


def test_suspected_mojibake_is_never_converted_by_opencc(cleaner: Cleaner) -> None:
    line = "同志们：今天我们召开全县机关党建工作推进会，主要任务是总结经验，分析形势。"
    mojibake = line.encode().decode("gbk", "replace")
    edited = mojibake[:10] + "的" + mojibake[11:]  # no exact reversal any more
    record = cleaner.clean((edited + "\n我們召開會議。\n").encode(), "doc.txt")
    assert "mojibake_suspected" in record.flags
    assert record.text.split("\n")[0] == edited  # its characters kept for a later repair
    assert "我們召開會議。" in record.text
    assert not any(edit.rule.startswith("opencc") for edit in record.normalizations)


def test_mixed_chinese_and_english_documents_are_chinese(cleaner: Cleaner) -> None:
    text = (
        "关于部署CI/CD流水线的说明\n我们使用Python和Docker部署了新的流水线，构建时间从30分钟缩短到5分钟。\n"
        "The pipeline runs on every commit; see the README for details.\n请各部门按照Checklist逐项检查。\n"
    )
    record = cleaner.clean(text.encode(), "doc.txt")
    assert record.language == "zh"


def test_by_default_other_languages_are_kept_and_annotated(cleaner: Cleaner) -> None:
    text = "The committee met on Monday to discuss the budget. The minutes follow below.\n"
    record = cleaner.clean(text.encode(), "doc.txt")
    assert record.language == "en"
    assert 0.5 <= record.language_confidence <= 1.0


def test_languages_option_rejects_other_languages() -> None:
    cleaner = Cleaner(CleanConfig(languages=("zh",)))
    english = "The committee met on Monday to discuss the budget. The minutes follow below.\n"
    with pytest.raises(RejectedInput) as rejected:
        cleaner.clean(english.encode(), "doc.txt")
    confidence = detect_language(english).confidence
    assert rejected.value.reason == "language"
    assert rejected.value.detail == (
        f"The document is in English (en, confidence {confidence:.2f}), not in the languages asked for (zh); "
        "add en to --languages to keep it."
    )
    assert cleaner.clean("同志们：今天召开会议。".encode(), "doc.txt").language == "zh"
    # A document with no letters has no language to reject it for.
    assert cleaner.clean(b"2024-01-15 10:30\n", "doc.txt").language is None


def test_languages_are_parsed_and_checked() -> None:
    assert parse_languages(" ZH, en ,zh") == ("zh", "en")
    assert CleanConfig(languages=("ZH", "en")).languages == ("zh", "en")
    with pytest.raises(ValueError, match=r"^xx is not a language code the detector knows"):
        CleanConfig(languages=("zh", "xx"))
    assert {"zh", "ja", "ko", "en"} <= CANDIDATE_CODES


def test_schema_documents_the_language_columns() -> None:
    for name, type_ in (("language", "string"), ("language_confidence", "float")):
        field = DOCUMENT_SCHEMA.field(name)
        assert str(field.type) == type_
        assert b"description" in field.metadata


ENV = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def _docclean(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docclean_cli", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_rejects_an_unknown_language_code(tmp_path: Path) -> None:
    result = _docclean("run", "--languages", "zh,xx", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "docclean run: argument --languages: xx is not a language code the detector knows; use ISO "
        "639-1 codes among ar, de, el, en, es, fr, id, it, ja, ko, ms, pt, ru, th, vi, zh, separated by commas; "
        "`docclean run --help` lists the options.\n"
    )


def test_cli_run_with_languages_rejects_and_annotates(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "zh.txt").write_bytes("同志们：今天召开全县工作会议，研究部署下一步工作。\n".encode("gbk"))
    (raw / "en.txt").write_text("The committee met on Monday to discuss the budget for next year.\n")
    (raw / "ja.txt").write_bytes(
        "日本国民は、正当に選挙された国会における代表者を通じて行動する。\n".encode("cp932")
    )
    result = _docclean(
        "run", "--raw", "raw", "--curated", "curated", "--languages", "zh,ja", "--settle", "0", cwd=tmp_path
    )
    assert result.returncode == 3, result.stderr
    documents = ds.dataset(tmp_path / "curated" / "documents").to_table().to_pylist()
    assert {row["source_path"]: row["language"] for row in documents} == {"zh.txt": "zh", "ja.txt": "ja"}
    rejects = ds.dataset(tmp_path / "curated" / "rejects").to_table().to_pylist()
    assert [(row["source_path"], row["reason"]) for row in rejects] == [("en.txt", "language")]
    assert rejects[0]["detail"].startswith("en.txt: The document is in English (en, confidence ")
