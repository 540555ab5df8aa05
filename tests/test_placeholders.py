from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from docclean.placeholders import (
    DEFAULT_TABLES,
    DEFAULT_TOKEN,
    KINDS,
    apply_placeholders,
    replace_placeholders,
    restore_placeholders,
)
from docclean.record import Placeholder, Replaced

CASES: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).resolve().parent / "data" / "placeholder_cases.json").read_text("utf-8")
)
# Characters a placeholder is made of; after cleaning a seed none may be left outside a token.
PLACEHOLDER_CHARS = re.compile("[XxＸｘ×✕╳*＊○◯]")


def case_params(section: str) -> list[Any]:
    return [
        pytest.param(
            case,
            id=case["input"],
            marks=[pytest.mark.xfail(strict=True, reason=case["note"])]
            if section == "known_failures"
            else [],
        )
        for case in CASES[section]
    ]


ALL_INPUTS = [
    case["input"] for section in ("positive", "negative", "known_failures") for case in CASES[section]
]


def assert_well_formed(text: str, result: Replaced, token: str) -> None:
    """Spans point at the token, are sorted and disjoint, and both replays reproduce the texts."""
    previous_end = 0
    for placeholder in result.placeholders:
        assert result.text[placeholder.start : placeholder.end] == token
        assert placeholder.start >= previous_end
        assert placeholder.kind in KINDS
        previous_end = placeholder.end
    assert restore_placeholders(result.text, result.placeholders) == text
    assert apply_placeholders(text, result.placeholders, token) == result.text


@pytest.mark.parametrize("case", case_params("positive") + case_params("known_failures"))
def test_golden_case(case: dict[str, Any]) -> None:
    result = replace_placeholders(case["input"])
    assert result.text == case["output"]
    assert [[p.original, p.kind] for p in result.placeholders] == case["placeholders"]


@pytest.mark.parametrize("case", case_params("negative"))
def test_not_a_placeholder(case: dict[str, Any]) -> None:
    assert replace_placeholders(case["input"]) == Replaced(case["input"], ())


@pytest.mark.parametrize("text", ALL_INPUTS)
def test_every_case_is_well_formed_and_idempotent(text: str) -> None:
    result = replace_placeholders(text)
    assert_well_formed(text, result, DEFAULT_TOKEN)
    assert replace_placeholders(result.text) == Replaced(result.text, ())


def test_offsets_index_the_final_text() -> None:
    result = replace_placeholders("刚才X书记和XX局长")
    assert result == Replaced(
        "刚才[MASK]书记和[MASK]局长",
        (Placeholder(2, 8, "X", "person"), Placeholder(11, 17, "XX", "person")),
    )


@pytest.mark.parametrize("token", ["<占位>", "__", "", "{PH}"])
def test_custom_token(token: str) -> None:
    text = "20XX年，XX县X书记对**局提出X项要求"
    result = replace_placeholders(text, token)
    assert result.text == f"{token}年，{token}县{token}书记对{token}局提出{token}项要求"
    assert [p.kind for p in result.placeholders] == ["date", "place", "person", "organization", "number"]
    assert_well_formed(text, result, token)


def test_restore_rejects_overlapping_placeholders() -> None:
    overlapping = (Placeholder(0, 6, "XX", "unknown"), Placeholder(3, 9, "X", "unknown"))
    with pytest.raises(ValueError, match="overlaps"):
        restore_placeholders("[MASK][MASK]", overlapping)


def test_apply_rejects_placeholders_that_do_not_match_the_input() -> None:
    with pytest.raises(ValueError, match="not at offset"):
        apply_placeholders("某某县", (Placeholder(0, 6, "XX", "place"),))


def test_context_tables_name_only_known_kinds() -> None:
    tables = DEFAULT_TABLES
    assert set(tables.suffixes.values()) | set(tables.prefixes.values()) <= {*KINDS, ""}
    # Longest match is what makes a title beat the division or body it starts with.
    assert (tables.suffixes["县"], tables.suffixes["县长"]) == ("place", "person")
    assert (tables.suffixes["局"], tables.suffixes["局长"]) == ("organization", "person")


# Random text over the characters that matter: placeholder characters of every family, Han
# words that give kinds, digits, Latin letters (including the token's), punctuation, newlines.
RANDOM_CHARS = st.text(
    alphabet=st.sampled_from(
        list("县市同志书记次个年月日某种局长二〇一九光射线第汉的宽高度设令为王张")
        + list("XxＸｘ×✕*＊○◯")
        + list("0129abMASKIL")
        + list("[]，。、“”.-%: \n=²")
    ),
    max_size=40,
)
# Fragments that build the shapes the rules care about: years, Markdown, versions, X光.
FRAGMENTS = [
    "20", "19", "二〇", "二○", "一", "XX", "X", "x", "Ｘ", "×", "*", "**", "＊", "○", "〇", "某",
    "某某", "同志", "县", "光", "次", "年", "月", "3", "0", ".", "-", " ", "\n", "，", "、", "“",
    "a", "b", "MASK", "[", "]", "的", "%", "第", "项目", "X光", "**重点**", "Xbox", "3.", "。",
    "长", "宽", "单价", "数量", "高度", "设", "求", "为", "=", "王", "欧阳", "统计局", "iPhone", "\u3000",
]  # fmt: skip
RANDOM_FRAGMENTS = st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(RANDOM_CHARS, RANDOM_FRAGMENTS))
@example("20**重点**二〇**重点**")  # stars read as a year's digits broke the emphasis after them
@example("20××重点××二〇××重点××")
@example("**重点20**年，20**年度**重点**，**20**年")
@example("20XX×年度某某，年□□19*****20，某某20***20，同志1234XXX20某某")
@example("*＊〇 一")  # the star was the bullet's punctuation, then a token that is none
def test_random_text_is_well_formed_and_idempotent(text: str) -> None:
    result = replace_placeholders(text)
    assert_well_formed(text, result, DEFAULT_TOKEN)
    assert replace_placeholders(result.text).placeholders == ()


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_well_formed_and_idempotent(text: str) -> None:
    result = replace_placeholders(text)
    assert_well_formed(text, result, DEFAULT_TOKEN)
    assert replace_placeholders(result.text).placeholders == ()


# (text before, original, text after, kind) for the placeholders the seed documents hold.
SEED_PLACEHOLDERS = [
    ("《", "XX", "县县直机关", "place"),
    ("听取了", "XX", "名党总支", "number"),
    ("刚才", "X", "书记", "person"),
    ("“五个", "XX", "”建设", "unknown"),
    ("，", "**", "同志", "person"),
    ("党建强", "X", "”", "unknown"),
    ("组织", "X", "次集体学习", "number"),
    ("局机关", "X", "个在职党支部", "number"),
    ("主", "X", "廉政谈话", "unknown"),
    ("开展", "X", "前、", "unknown"),
    ("、", "X", "中、", "unknown"),
    ("、", "X", "后", "unknown"),
    ("，", "XXX", "书记", "person"),
    ("我们", "XXX", "办机关", "organization"),
    ("肃清", "XXXX", "流毒", "unknown"),
    ("对", "×", "县", "place"),
    ("，", "×", "部长", "person"),
    ("和", "×", "部长", "person"),
]


def test_seed_placeholders(seeds: dict[str, bytes]) -> None:
    results = [replace_placeholders(data.decode("utf-8")) for data in seeds.values()]
    found = {
        (result.text[max(0, p.start - 8) : p.start], p.original, result.text[p.end : p.end + 8], p.kind)
        for result in results
        for p in result.placeholders
    }
    for before, original, after, kind in SEED_PLACEHOLDERS:
        assert any(
            f_before.endswith(before)
            and f_original == original
            and f_after.startswith(after)
            and f_kind == kind
            for f_before, f_original, f_after, f_kind in found
        ), f"{before}{original}{after} -> {kind}"
    assert any("在某种程度上" in result.text for result in results)
    for result in results:
        assert not PLACEHOLDER_CHARS.search(result.text.replace(DEFAULT_TOKEN, ""))
