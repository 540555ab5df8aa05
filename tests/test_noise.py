from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import opencc
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from docclean.noise import apply_removals, strip_noise
from docclean.normalize import ScriptConverters, normalize_text
from docclean.record import Removal, Stripped
from docclean.rules import RuleSet, compile_rules, load_rules, parse_rules
from tests.conftest import seed_files

CASES: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "noise_cases.json").read_text("utf-8"))
BUILTIN = load_rules()
_T2S = opencc.OpenCC("t2s").convert
CONVERTERS = ScriptConverters(
    to_simplified=_T2S, to_traditional=opencc.OpenCC("s2t").convert, target=_T2S, target_name="t2s"
)


def rule_set(toml_text: str) -> RuleSet:
    return compile_rules(parse_rules(toml_text, "test.toml"))


def rule(
    rule_id: str, pattern: str, scope: str, category: str = "noise", regex: bool = True, **extra: int
) -> str:
    keys = "".join(f"{key} = {value}\n" for key, value in extra.items())
    return (
        f"[[rule]]\nid = '{rule_id}'\ncategory = '{category}'\npattern = '''{pattern}'''\n"
        f"scope = '{scope}'\nregex = {'true' if regex else 'false'}\n{keys}"
    )


def one_by_one(rules: RuleSet) -> RuleSet:
    """The same rules with the combined alternations switched off: every rule searched alone."""
    return dataclasses.replace(
        rules,
        line=dataclasses.replace(
            rules.line, combined=None, members=(), standalone=rules.line.members + rules.line.standalone
        ),
        inline=dataclasses.replace(
            rules.inline, combined=None, members=(), standalone=rules.inline.members + rules.inline.standalone
        ),
    )


def normalize(text: str) -> str:
    """What the normalize stage guarantees, enough for these tests."""
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def assert_well_formed(source: str, stripped: Stripped) -> None:
    assert apply_removals(source, stripped.removed) == stripped.text
    offsets = [removal.offset for removal in stripped.removed]
    assert offsets == sorted(offsets)
    for before, after in zip(stripped.removed, stripped.removed[1:], strict=False):
        assert before.offset + len(before.text) <= after.offset
    for removal in stripped.removed:
        assert removal.text and source[removal.offset : removal.offset + len(removal.text)] == removal.text
    assert normalize(stripped.text) == stripped.text


# Golden cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES["positive"], ids=lambda case: case["name"])
def test_positive_case(case: dict[str, Any]) -> None:
    stripped = strip_noise(case["input"], BUILTIN)
    assert stripped.text == case["output"]
    assert [removal.rule for removal in stripped.removed] == case["rules"]
    assert_well_formed(case["input"], stripped)
    # What is left is content: a second pass finds no noise in it (a removed clause or unit
    # leaves no fragment that a rule then takes).
    assert strip_noise(stripped.text, BUILTIN).removed == ()


@pytest.mark.parametrize("case", CASES["negative"], ids=lambda case: case["name"])
def test_negative_case_is_kept_verbatim(case: dict[str, Any]) -> None:
    stripped = strip_noise(case["input"], BUILTIN)
    assert stripped == Stripped(case["input"], ())


@pytest.mark.parametrize("case", CASES["known_failures"], ids=lambda case: case["name"])
def test_known_failure(case: dict[str, Any]) -> None:
    stripped = strip_noise(case["input"], BUILTIN)
    assert_well_formed(case["input"], stripped)
    if stripped.text != case["output"] or [r.rule for r in stripped.removed] != case["rules"]:
        pytest.xfail(case["reason"])
    pytest.fail(f"known failure {case['name']!r} now passes: move it to the positive or negative cases")


@pytest.mark.parametrize(
    "case", CASES["positive"] + CASES["negative"] + CASES["known_failures"], ids=lambda case: case["name"]
)
def test_combined_and_one_by_one_matching_agree(case: dict[str, Any]) -> None:
    assert strip_noise(case["input"], one_by_one(BUILTIN)) == strip_noise(case["input"], BUILTIN)


# Scopes ---------------------------------------------------------------------------------

LINE_RULES = rule_set(rule("ad", "^广告", "line", category="advertising"))


def test_line_scope_removes_the_line_with_the_following_line_break() -> None:
    stripped = strip_noise("正文一\n广告语\n正文二", LINE_RULES)
    assert stripped == Stripped("正文一\n正文二", (Removal("ad", "advertising", "广告语\n", 4),))


def test_line_scope_takes_the_preceding_line_break_when_nothing_kept_follows() -> None:
    stripped = strip_noise("正文一\n广告一\n广告二", LINE_RULES)
    assert stripped.text == "正文一"
    assert [(r.text, r.offset) for r in stripped.removed] == [("\n广告一", 3), ("\n广告二", 7)]


def test_line_scope_can_remove_every_line() -> None:
    stripped = strip_noise("广告一\n广告二", LINE_RULES)
    assert stripped.text == ""
    assert [(r.text, r.offset) for r in stripped.removed] == [("广告一", 0), ("\n广告二", 3)]


def test_line_scope_matches_within_a_line_only() -> None:
    rules = rule_set(rule("two_lines", r"甲\s乙", "line"))
    assert strip_noise("甲\n乙", rules).removed == ()
    assert strip_noise("甲 乙丙\n丁", rules).text == "丁"


INLINE_RULES = rule_set(rule("qq", r"QQ\d{5,}", "inline", category="contact"))


@pytest.mark.parametrize(
    ("source", "expected", "removed_text"),
    [
        ("请加QQ12345咨询", "请加咨询", "QQ12345"),
        ("QQ12345 咨询", "咨询", "QQ12345 "),
        ("咨询 QQ12345", "咨询", " QQ12345"),
        ("请加 QQ12345 咨询", "请加 咨询", " QQ12345"),
        ("请加，QQ12345 咨询", "请加，咨询", "QQ12345 "),
    ],
)
def test_inline_scope_removes_the_span_and_the_spaces_it_would_strand(
    source: str, expected: str, removed_text: str
) -> None:
    stripped = strip_noise(source, INLINE_RULES)
    assert stripped.text == expected
    assert [r.text for r in stripped.removed] == [removed_text]


def test_inline_removal_that_leaves_no_word_removes_the_line() -> None:
    stripped = strip_noise("正文\nQQ12345 / QQ67890。\n结尾", INLINE_RULES)
    assert stripped.text == "正文\n结尾"
    assert stripped.removed == (Removal("qq", "contact", "QQ12345 / QQ67890。\n", 3),)


def test_block_scope_extends_the_match_to_whole_lines() -> None:
    rules = rule_set(rule("promo", r"推广开始[\s\S]*?推广结束", "block", category="advertising"))
    source = "标题\n前言推广开始\n中间\n推广结束了\n正文"
    stripped = strip_noise(source, rules)
    assert stripped.text == "标题\n正文"
    assert stripped.removed == (Removal("promo", "advertising", "前言推广开始\n中间\n推广结束了\n", 3),)


def test_block_match_ending_with_a_line_break_does_not_take_the_next_line() -> None:
    rules = rule_set(rule("promo", r"^推广$\n", "block"))
    stripped = strip_noise("正文\n推广\n正文二", rules)
    assert stripped.text == "正文\n正文二"


def test_overlapping_blocks_are_clipped_and_a_final_block_takes_the_preceding_break() -> None:
    rules = rule_set(rule("first", "^甲$\\n^乙$", "block") + rule("second", "^乙$\\n^丙$", "block"))
    stripped = strip_noise("正文\n甲\n乙\n丙", rules)
    assert stripped.text == "正文"
    assert [(r.rule, r.text) for r in stripped.removed] == [("first", "\n甲\n乙"), ("second", "\n丙")]


def test_block_takes_precedence_over_line_and_line_over_inline() -> None:
    rules = rule_set(
        rule("inline_qq", r"QQ\d+", "inline")
        + rule("line_qq", "^QQ", "line")
        + rule("block", "^块$", "block")
    )
    stripped = strip_noise("块\nQQ123\n正文QQ456", rules)
    assert stripped.text == "正文"
    assert [r.rule for r in stripped.removed] == ["block", "line_qq", "inline_qq"]


def test_repeated_scope_needs_min_count_occurrences() -> None:
    rules = rule_set(rule("mark", ".{2,10}", "repeated", category="watermark", min_count=3))
    three = "水印\n正文一。\n水印\n正文二。\n水印"
    assert strip_noise(three, rules).text == "正文一。\n正文二。"
    assert strip_noise("水印\n正文一。\n水印", rules).removed == ()


def test_leftmost_match_wins_then_the_first_rule() -> None:
    rules = rule_set(
        rule("later_start", "QQ\\d+", "inline")
        + rule("long", "加QQ\\d+", "inline")
        + rule("same", "加QQ", "inline")
    )
    stripped = strip_noise("请加QQ123号", rules)
    assert [(r.rule, r.text) for r in stripped.removed] == [("long", "加QQ123")]


def test_a_rule_that_can_only_match_empty_hides_nothing() -> None:
    # The lookahead matches the empty string before QQ: the combined alternation stops there,
    # and the rules must then be searched one by one to find the real match.
    rules = rule_set(rule("lookahead", "(?=QQ)", "inline") + rule("qq", r"QQ\d+", "inline"))
    stripped = strip_noise("文QQ12345文", rules)
    assert stripped.text == "文文"
    assert [r.rule for r in stripped.removed] == ["qq"]


def test_empty_text() -> None:
    assert strip_noise("", BUILTIN) == Stripped("", ())


def test_apply_removals_rejects_a_removal_that_is_not_at_its_offset() -> None:
    with pytest.raises(ValueError, match="is not at offset 1"):
        apply_removals("abc", (Removal("r", "c", "x", 1),))


# Timeouts -------------------------------------------------------------------------------


def test_nested_quantifier_on_a_long_run_does_not_hang() -> None:
    rules = rule_set(rule("nested", "(a+)+$", "inline"))
    started = time.monotonic()
    stripped = strip_noise("a" * 40 + "!", rules, timeout=0.5)
    assert time.monotonic() - started < 5
    assert_well_formed("a" * 40 + "!", stripped)


@pytest.mark.parametrize("scope", ["line", "inline", "block", "repeated"])
def test_catastrophic_rule_is_skipped_and_reported(scope: str) -> None:
    # The regex module defuses `(a+)+$`, but not an alternation of overlapping branches.
    rules = rule_set(rule("page", r"^- \d+ -$", "line") + rule("slow", "(?:a|aa)+$", scope))
    source = "- 2 -\n" + "a" * 40 + "!\n" + "a" * 40 + "!\n" + "a" * 40 + "!\n正文"
    timed_out: list[str] = []
    started = time.monotonic()
    stripped = strip_noise(source, rules, on_timeout=timed_out.append, timeout=0.1)
    assert time.monotonic() - started < 5
    assert timed_out == ["slow"]
    assert stripped.text == "\n".join(["a" * 40 + "!"] * 3 + ["正文"])
    assert [r.rule for r in stripped.removed] == ["page"]


def test_catastrophic_rule_with_standalone_syntax_is_skipped_and_reported() -> None:
    rules = rule_set(rule("slow", r"(a)(?:\1|aa)+$", "inline") + rule("qq", r"QQ\d+", "inline"))
    assert rules.inline.standalone == (0,)
    timed_out: list[str] = []
    stripped = strip_noise("a" * 40 + "!QQ12345", rules, on_timeout=timed_out.append, timeout=0.1)
    assert timed_out == ["slow"]
    assert stripped.text == "a" * 40 + "!"


# Properties -----------------------------------------------------------------------------

TOKENS = [
    *"党建工作会议同志们学习贯彻精神落实，。！：；、（）【】“”0123456789ab@.-/",
    # Pieces of the noise the rules look for, so random text often comes close to matching.
    *("QQ", "微信", "公众号", "www.", ".com", "http://", "第", "页", "共", "本文系", "仅供参考"),
    *("请勿转载", "酷乐文行", "会员群：", "咨询", "电话：", "138", "0755-"),
    " ",
    "\n",
    "\n",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
# Found by this test: a span at the start of a line that takes the separator after it (or its
# brackets) took the space after that too only once it was said.
@example("http://党， 党")
@example("（www.a.com） 党\n党 http://a.com。")
def test_strip_noise_output_is_well_formed_on_any_text(raw: str) -> None:
    source = normalize(raw)
    stripped = strip_noise(source, BUILTIN)
    assert_well_formed(source, stripped)
    assert strip_noise(source, one_by_one(BUILTIN)) == stripped


# Seeds ----------------------------------------------------------------------------------

NOISE_LINES = {
    "本文系邮箱投稿，仅供学习参考，请勿照搬照抄！",
    "本文系作者原创投稿，仅供学习参考，请勿照搬照抄！",
    "仅供学习 禁止外传",
    "酷乐文行",
    "自建平台、实时分享",
    "根据实际需求和形式任务不断迭代",
    "现在订阅立享前3年的所有权益和资料",
    "【打击倒卖活动】",
    "举报倒卖会员资料的人，举报成功免费赠送一年会员材料！",
    "会员群： 免费QQ群：",
    "酷乐文行整理，咨询QQ206157060",
}


def canonical(line: str) -> str:
    return " ".join(line.split())


def test_seeds_lose_their_noise_lines_and_keep_every_other_line(seeds: dict[str, bytes]) -> None:
    for name, data in seeds.items():
        source = normalize(data.decode("utf-8"))
        stripped = strip_noise(source, BUILTIN)
        assert_well_formed(source, stripped)
        expected = [line for line in source.split("\n") if canonical(line) not in NOISE_LINES]
        assert stripped.text.split("\n") == expected, name


def test_seed_bodies_lose_nothing_but_the_first_line_notice(seeds: dict[str, bytes]) -> None:
    for name, data in seeds.items():
        if name.startswith("004"):
            continue
        source = normalize(data.decode("utf-8"))
        stripped = strip_noise(source, BUILTIN)
        first_line = source.split("\n")[0]
        if canonical(first_line) in NOISE_LINES:
            assert stripped.removed == (Removal("copyright_notice", "copyright", first_line + "\n", 0),), name
        else:
            assert stripped.removed == (), name


def test_seed_004_promo_block_header_and_footer_are_removed(seeds: dict[str, bytes]) -> None:
    name = next(name for name in seeds if name.startswith("004"))
    source = normalize(seeds[name].decode("utf-8"))
    stripped = strip_noise(source, BUILTIN)
    assert [r.rule for r in stripped.removed] == [
        "copyright_notice",
        "vendor_promo_block",
        "vendor_line",
        "vendor_line",
    ]
    assert stripped.text.startswith("在县委党建工作领导小组第三季度例会上的讲话\n同志们：\n")
    assert "酷乐文行" not in stripped.text and "QQ" not in stripped.text


# An ad pasted into content ------------------------------------------------------------

ADS = [
    "（更多资料请关注公众号：文稿之家）",
    "【免费下载更多精品范文】",
    "更多精品资料请访问某某资料网。",
    "扫码关注公众号领取全套资料！",
    "想要全套范文请加微信：abc12345。",
    "如需资料请加QQ12345678。",
    "本文系作者原创投稿，仅供学习参考，请勿照搬照抄！",
    "（仅供参考，请勿转载）",
    "开通VIP会员免费下载全文。",
    "本店出售各类精品范文。",
]
_SENTENCE_END = re.compile("[。！？][”’」』]*")


def _content_paragraphs() -> list[str]:
    """Lines of content the built-in rules keep whole: from the golden cases and the seeds."""
    candidates: list[str] = []
    for case in CASES["negative"]:
        candidates += case["input"].split("\n")
    for case in CASES["positive"]:
        candidates += case["output"].split("\n")
    for path in seed_files():
        candidates += normalize(path.read_text("utf-8")).split("\n")
    return sorted(
        {
            line
            for line in candidates
            if _SENTENCE_END.search(line) and strip_noise(line, BUILTIN).text == line and len(line) >= 8
        }
    )


PARAGRAPHS = _content_paragraphs()


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PARAGRAPHS), st.sampled_from(ADS), st.integers(min_value=0))
def test_an_ad_pasted_between_sentences_of_content_leaves_the_content_whole(
    paragraph: str, ad: str, boundary: int
) -> None:
    boundaries = [0] + [match.end() for match in _SENTENCE_END.finditer(paragraph)]
    cut = boundaries[boundary % len(boundaries)]
    text = paragraph[:cut] + ad + paragraph[cut:]
    stripped = strip_noise(text, BUILTIN)
    assert_well_formed(text, stripped)
    assert stripped.text == paragraph


# Solicitation clauses, as vendors paste them between two clauses of a sentence.
AD_CLAUSES = [
    "想要全套范文请加微信：abc12345",
    "如需资料请加QQ12345678",
    "需要电子版可联系微信：wengao_2024",
    "详情咨询QQ：87654321",
    "获取更多范文请添加微信号：fanwen888",
]
_CLAUSE_END = re.compile("[，；]")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARAGRAPHS), st.sampled_from(AD_CLAUSES), st.integers(min_value=0))
def test_a_solicitation_clause_pasted_between_clauses_leaves_the_content_whole(
    paragraph: str, ad: str, boundary: int
) -> None:
    # Issue 15 item 14: the clause goes with its lead-in and one of the two separators around it.
    boundaries = [match.end() for match in _CLAUSE_END.finditer(paragraph)]
    assume(boundaries)
    cut = boundaries[boundary % len(boundaries)]
    text = paragraph[:cut] + ad + paragraph[cut - 1] + paragraph[cut:]
    stripped = strip_noise(text, BUILTIN)
    assert_well_formed(text, stripped)
    assert stripped.text == paragraph


_CONTACT = "会议材料已经印发。如需资料请加微信abc12345。"
_HIDERS = ["\u115f", "\u3164", "\u200b", "\u034f", "\u180e", "\u2060", "\ufe00", "\U000e0041", "\u00ad"]


@given(st.lists(st.tuples(st.integers(min_value=10, max_value=24), st.sampled_from(_HIDERS)), max_size=6))
def test_no_invisible_character_hides_a_contact_from_the_rules(insertions: list[tuple[int, str]]) -> None:
    text = _CONTACT
    for position, hider in sorted(insertions, reverse=True):
        text = text[:position] + hider + text[position:]
    normalized = normalize_text(text, CONVERTERS).text
    assert strip_noise(normalized, BUILTIN).text == "会议材料已经印发。"


def test_the_letter_or_digit_pattern_is_str_isalnum_on_every_code_point() -> None:
    """`_ALNUM` finds what `str.isalnum` holds for, searched in C: checked over all of Unicode."""
    from docclean.noise import _ALNUM

    text = "".join(map(chr, range(sys.maxunicode + 1)))
    found = {match.start() for match in _ALNUM.finditer(text)}
    assert found == {code for code in range(sys.maxunicode + 1) if chr(code).isalnum()}


def test_rules_matched_in_a_twin_remove_the_texts_own_characters() -> None:
    """`matched_in`: a Simplified twin where the rules match; the removals are the text's, at the same offsets."""
    rules = load_rules()
    text = "今天召開會議。\n本文來源於網絡，如有侵權請聯繫刪除。\n謝謝大家！"
    twin = "今天召开会议。\n本文来源于网络，如有侵权请联系删除。\n谢谢大家！"
    stripped = strip_noise(text, rules, matched_in=twin)
    assert stripped.text == "今天召開會議。\n謝謝大家！"
    assert [(r.rule, r.text, r.offset) for r in stripped.removed] == [
        ("copyright_notice", "本文來源於網絡，如有侵權請聯繫刪除。\n", 8)
    ]
    assert apply_removals(text, stripped.removed) == stripped.text
    with pytest.raises(ValueError, match="character for character"):
        strip_noise(text, rules, matched_in=twin + "。")
