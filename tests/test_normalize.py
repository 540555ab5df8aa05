from __future__ import annotations

import html
import json
import re
import textwrap

import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docclean.normalize import (
    ScriptConverters,
    decode_character_references,
    detect_script,
    fold_look_alike_ideographs,
    normalize_text,
    reference_detect_script,
    rejoin_wrapped_lines,
    remove_spaces_between_han,
    widen_punctuation_in_chinese,
)
from docclean.structure import DEFAULT_TABLES as STRUCTURE_TABLES
from docclean.structure import _match_marker
from tests.conftest import DATA_DIR

CASES = json.loads((DATA_DIR / "normalize_cases.json").read_text("utf-8"))
T2S = opencc.OpenCC("t2s").convert
S2T = opencc.OpenCC("s2t").convert
CONVERTERS = ScriptConverters(to_simplified=T2S, to_traditional=S2T, target=T2S, target_name="t2s")
KEEP_SCRIPT = ScriptConverters(to_simplified=T2S, to_traditional=S2T, target=None, target_name=None)


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_golden_cases(case: dict[str, str]) -> None:
    result = normalize_text(case["input"], CONVERTERS)
    assert result.text == case["expected"]
    deleted = "".join(edit.removed for edit in result.edits)
    assert deleted == case.get("deleted", "")


@pytest.mark.parametrize("case", CASES["negative"], ids=lambda c: c["name"])
def test_negative_cases_unchanged(case: dict[str, str]) -> None:
    assert normalize_text(case["input"], CONVERTERS).text == case["input"]


def test_script_detection_against_opencc() -> None:
    simplified = "我们要坚持以人民为中心的发展思想，后来干部们干劲十足。"
    traditional = S2T(simplified)
    assert detect_script(simplified, CONVERTERS) == "Hans"
    assert detect_script(traditional, CONVERTERS) == "Hant"
    assert detect_script(simplified + traditional, CONVERTERS) == "mixed"
    assert detect_script("abc 123", CONVERTERS) == "none"


def test_traditional_is_converted_with_opencc_itself() -> None:
    traditional = "後來幹部們把頭髮洗乾淨了，開會討論發展問題。"
    result = normalize_text(traditional, CONVERTERS)
    # Compared with opencc's own conversion, not hand-written text: round trips are not exact.
    assert result.text == T2S(traditional)
    assert result.source_script == "Hant"
    assert any(edit.rule == "opencc_t2s" for edit in result.edits)


REGIONAL = ScriptConverters(
    to_simplified=T2S,
    to_traditional=S2T,
    target=T2S,
    target_name="t2s",
    regional=(("tw2s", opencc.OpenCC("tw2s").convert), ("hk2s", opencc.OpenCC("hk2s").convert)),
)
# Simplified lines with the characters whose Taiwan and Hong Kong forms t2s does not know.
_REGIONAL_SENTENCES = [
    "我们要看着前方，穿着朴素，住在屋檐下。",
    "注意卫生，叙述清楚，粽子和梳妆台都准备好了。",
    "著名作家的著作很多，他显著地提高了水平。",
    "大家围着火炉，说着家常，等着开会。",
    "同志们，今天我们召开会议，研究部署工作。",
]


# Each way of writing Traditional, and the OpenCC config that reads it back.
_BACK = {"s2tw": "tw2s", "s2twp": "tw2s", "s2hk": "hk2s", "s2t": "t2s"}
_OPENCC = {name: opencc.OpenCC(name).convert for name in {*_BACK, *_BACK.values()}}


def test_zhu_stays_where_tw2s_takes_it_for_the_particle() -> None:
    # tw2s made 專著 专着, 原著 原着, 卓著 卓着 and 魯迅著的《吶喊》 鲁迅着的, in a Taiwan text and in the
    # Simplified sentences of a mixed one; the particle (看著, 穿著) still becomes 着.
    taiwan = (
        "我讀了魯迅著的《吶喊》，又讀了錢穆的專著。原著的文字很有力量，作者的成就卓著。他看著窗外，穿著外套。"
    )
    assert normalize_text(taiwan, REGIONAL).text == (
        "我读了鲁迅著的《呐喊》，又读了钱穆的专著。原著的文字很有力量，作者的成就卓著。他看着窗外，穿着外套。"
    )
    mixed = "我们学习了鲁迅著的《呐喊》和钱穆的专著。\n龍應台寫道：“只不過意味著，你和他的緣分就是目送他的背影漸行漸遠。”"
    assert normalize_text(mixed, REGIONAL).text.startswith(
        "我们学习了鲁迅著的《呐喊》和钱穆的专著。\n龙应台写道：“只不过意味着"
    )


@pytest.mark.parametrize("region", sorted(_BACK))
@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(_REGIONAL_SENTENCES), min_size=1, max_size=5).map("".join))
def test_taiwan_and_hong_kong_forms_are_converted_as_opencc_regional_configs_do(
    region: str, simplified: str
) -> None:
    # Compared with OpenCC's own regional configs: Taiwan text as tw2s converts it, Hong Kong text
    # as hk2s does, OpenCC-standard Traditional as t2s does (round trips are not exact).
    traditional = _OPENCC[region](simplified)
    expected = _BACK[region]
    result = normalize_text(traditional, REGIONAL)
    reference = _OPENCC[expected](traditional)
    assert result.text == reference
    rules = {edit.rule for edit in result.edits}
    if reference != T2S(traditional):
        assert f"opencc_{expected}" in rules


def test_script_conversion_can_be_switched_off() -> None:
    traditional = "後來幹部們開會討論發展問題。"
    result = normalize_text(traditional, KEEP_SCRIPT)
    assert result.text == traditional
    assert result.source_script == "Hant"


def test_simplified_text_is_not_converted() -> None:
    text = "皇后在乾隆年间来到这里。我们要发展经济。"
    assert normalize_text(text, CONVERTERS).text == text


PDF_WRAPPED = (
    "　　党的二十大是在全党全国各族人民迈上全面建设社会主义现代化国\n"
    "家新征程、向第二个百年奋斗目标进军的关键时刻召开的一次十分重要\n"
    "的大会。通过认真学习大会报告，我深刻认识到必须坚持不懈地学习。\n"
    "　　一是要在学懂弄通上下功夫。坚持原原本本学、逐章逐节学，做到\n"
    "学而信、学而思、学而行，真正把握精神实质和核心要义，不断提高理\n"
    "论水平。\n"
)


def test_hard_wrapped_lines_are_rejoined_into_paragraphs() -> None:
    result = normalize_text(PDF_WRAPPED, CONVERTERS)
    paragraphs = result.text.split("\n")
    assert len(paragraphs) == 2
    assert paragraphs[0].startswith("党的二十大") and paragraphs[0].endswith("学习。")
    assert "现代化国家新征程" in paragraphs[0]
    assert paragraphs[1].endswith("论水平。")


def test_paragraph_per_line_text_is_not_joined() -> None:
    text = "在县委工作会议上的讲话\n同志们：\n今天我们召开会议，主要任务是总结工作、部署任务。\n一、提高站位\n要把思想统一到决策部署上来，切实增强责任感。"
    joined, count = rejoin_wrapped_lines(text)
    assert count == 0 and joined == text


def test_outline_line_never_joined_to_wrapped_previous_line() -> None:
    text = "\n".join(["甲" * 30] * 5 + ["一、新的部分"])
    assert normalize_text(text, CONVERTERS).text.split("\n")[-1] == "一、新的部分"


@pytest.mark.parametrize(
    ("line", "is_outline_item"),
    [
        # Markers normalize had and structure.toml has not: a decimal number, 第…部.
        ("3.5亿元的投资", False),
        # Markers structure.toml has and normalize had not: 百, half-width brackets round a numeral,
        # an article (第…条), the circled and bracketed numbers.
        ("第一条 为了规范管理", True),
        ("⑴户籍人口", True),
        ("①城镇人口", True),
        ("(一)加强学习", True),
        ("一百、附则", True),
        ("12.加强学习", True),
    ],
)
def test_outline_items_are_the_structure_stages_markers(line: str, is_outline_item: bool) -> None:
    # One table (rules/structure.toml) says what opens an outline item, for both stages.
    text = "\n".join(["甲" * 30] * 5 + [line])
    assert rejoin_wrapped_lines(text)[0].endswith("\n" + line) == is_outline_item
    assert (_match_marker(line, STRUCTURE_TABLES) is not None) == is_outline_item


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True), min_size=4, max_size=40),
    width=st.integers(min_value=20, max_value=60),
)
def test_rejoined_wrapped_english_keeps_every_word_apart(words: list[str], width: int) -> None:
    # An English paragraph word-wrapped at the page width of the Chinese around it: rejoining the
    # page's lines must neither glue two words together nor split one.
    chinese = ["党" * (width // 2)] * 6
    text = "\n".join([*chinese, *textwrap.wrap(" ".join(words), width), *chinese])
    joined, joins = rejoin_wrapped_lines(text)
    assert joins > 0
    assert re.findall("[A-Za-z]+", joined) == words
    assert "党 " not in joined and " 党" not in joined


@given(
    st.text(
        alphabet=st.sampled_from(list("甲乙丙，。,;:?!()（）　 \t\r\n\u200b\ufeffＡ１a1後來X")), max_size=200
    )
)
def test_output_contract_holds_for_any_text(text: str) -> None:
    result = normalize_text(text, CONVERTERS)
    out = result.text
    assert "\r" not in out and "\n\n" not in out
    assert not out.startswith("\n") and not out.endswith("\n")
    for line in out.split("\n"):
        assert line == line.strip(" \t\u3000\u00a0")
    assert "\u200b" not in out and "\ufeff" not in out


# Characters from both scripts and neither: a Simplified and a Traditional passage, punctuation, Latin.
_SCRIPT_ALPHABET = (
    "我们要坚持发展后来干部头发乾隆皇后著作" + S2T("我们要坚持发展后来干部头发") + "，。、 abcXY12群核為爲"
)


@given(st.text(alphabet=_SCRIPT_ALPHABET, max_size=300))
def test_script_detection_matches_a_plain_reference(text: str) -> None:
    assert detect_script(text, CONVERTERS) == reference_detect_script(text, CONVERTERS)


@given(st.lists(st.text(max_size=30), max_size=8))
def test_display_widths_match_unicodedata(lines: list[str]) -> None:
    import unicodedata

    from docclean.normalize import _display_widths

    lines = [line.replace("\n", " ") for line in lines]
    # Ambiguous characters (“ ” … —) too: Chinese type sets them full-width.
    expected = [sum(2 if unicodedata.east_asian_width(c) in "WFA" else 1 for c in line) for line in lines]
    assert _display_widths(lines) == expected


@pytest.mark.parametrize("case", CASES["known_failures"], ids=lambda c: c["name"])
def test_known_failure(case: dict[str, str]) -> None:
    if normalize_text(case["input"], CONVERTERS).text != case["expected"]:
        pytest.xfail(case["reason"])
    pytest.fail(f"known failure {case['name']!r} now passes: move it to the cases")


# Invariants of the fixes for what PDF, Word and web copies leave behind ------------------

_ASCII_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@given(st.text(alphabet=_ASCII_PRINTABLE, max_size=200))
def test_ascii_text_is_never_widened_spaced_or_decoded_as_chinese(text: str) -> None:
    assert widen_punctuation_in_chinese(text) == (text, 0)
    assert remove_spaces_between_han(text) == (text, 0)


@given(
    st.lists(
        st.one_of(
            st.text(alphabet=_ASCII_PRINTABLE, min_size=1, max_size=30),
            st.text(
                alphabet=st.sampled_from(list("会议学习“”《》（），。,.;:?!() ")), min_size=1, max_size=30
            ),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_ascii_only_lines_never_change(lines: list[str]) -> None:
    widened, _ = widen_punctuation_in_chinese("\n".join(lines))
    for before, after in zip(lines, widened.split("\n"), strict=True):
        if before.isascii():
            assert after == before


@given(st.text(alphabet=st.sampled_from(list("学习贯彻ab12 ,.")), max_size=80))
def test_removing_spaces_between_han_deletes_only_spaces_between_han(text: str) -> None:
    out, _ = remove_spaces_between_han(text)
    assert out.replace(" ", "") == text.replace(" ", "")
    # A space next to anything but Han stays.
    assert out.count(" ") >= len(re.findall("(?<=[ab12,.]) | (?=[ab12,.])", text))


_FOLD_SOURCES = "⼈⺠⼆⼒⾔⻘\uf967\uf9b2\U0002f800"


@given(st.text(alphabet=st.sampled_from(list(_FOLD_SOURCES + "人民群众的力量、")), max_size=60))
def test_look_alike_folding_leaves_no_look_alike_and_is_idempotent(text: str) -> None:
    folded, count, sources = fold_look_alike_ideographs(text)
    assert not any(char in folded for char in _FOLD_SOURCES)
    assert count == sum(char in _FOLD_SOURCES for char in text)
    assert set(sources) == {char for char in text if char in _FOLD_SOURCES}
    assert fold_look_alike_ideographs(folded) == (folded, 0, "")


# Default-ignorable characters that no sequence of Han text needs (variation selectors aside).
_IGNORABLES = list(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u180b\u180e\u200b\u200c\u200d\u2060\u2064\u3164\uffa0"
)
_IGNORABLES += ["\U0001bca0", "\U0001d173", "\U000e0001", "\U000e0041", "\U000e0fff"]


@given(
    st.lists(
        st.tuples(st.sampled_from(list("加微信学习，。")), st.lists(st.sampled_from(_IGNORABLES))),
        max_size=30,
    )
)
def test_no_default_ignorable_survives_in_han_text(pieces: list[tuple[str, list[str]]]) -> None:
    visible = "".join(char for char, _ in pieces)
    hidden = "".join(char + "".join(invisible) for char, invisible in pieces)
    assert normalize_text(hidden, CONVERTERS).text == normalize_text(visible, CONVERTERS).text


@given(st.text(alphabet=st.sampled_from(list("学习&;#x3001amp")), max_size=60))
def test_character_references_decode_like_the_standard_library(text: str) -> None:
    decoded, _ = decode_character_references(text)
    # Every complete reference is what html.unescape makes of it; the rest is left as written.
    reference = re.sub(
        r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});",
        lambda m: html.unescape(m.group()),
        text,
    )
    assert decoded == reference


_SENTENCE = "我们要坚持以人民为中心的发展思想不断实现人民对美好生活的向往"


@given(
    st.integers(min_value=1, max_value=len(_SENTENCE) - 1),
    st.sampled_from(["\n\f— 3 —\n", "\n- 12 -\n", "\f", "\n\f", "\n第 4 页 共 9 页\n", "\nPage 7 of 9\n\f"]),
)
def test_a_sentence_cut_by_a_page_break_is_whole_again(cut: int, furniture: str) -> None:
    text = _SENTENCE[:cut] + furniture + _SENTENCE[cut:]
    assert normalize_text(text, CONVERTERS).text == _SENTENCE


def test_the_simplified_twin_stands_for_the_text_character_for_character() -> None:
    from dataclasses import replace

    from docclean.normalize import simplified_twin
    from docclean.pipeline import Cleaner

    converters = Cleaner().converters
    assert simplified_twin("本文來源於網絡。", converters) == "本文来源于网络。"
    assert simplified_twin("本文来源于网络。", converters) is None  # nothing to stand for
    longer = replace(converters, to_simplified=lambda text: text + "。")
    assert simplified_twin("本文來源於網絡", longer) is None
    punctuation = replace(converters, to_simplified=lambda text: text.replace("。", "."))
    assert simplified_twin("本文來源於網絡。", punctuation) is None
