from __future__ import annotations

import json

import opencc
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from docclean import repair
from docclean.decode import decode_bytes
from docclean.plausibility import (
    BIG5_LEVEL1,
    GB2312_LEVEL1,
    GB2312_LEVEL2,
    outside_level1_share,
    plausibility,
    unreadable_share,
)
from docclean.repair import (
    _CJK_REVERSALS,
    _LATIN_REVERSALS,
    REPLACEMENT,
    _looks_like_mojibake,
    _probed,
    _reversals_worth_trying,
    _reverse,
    count_lossy_traces,
    may_be_mojibake,
    reference_lines_with_unusual_chars,
    repair_mojibake,
    repair_segments,
)
from tests.conftest import DATA_DIR

CASES = json.loads((DATA_DIR / "decode_repair_cases.json").read_text("utf-8"))
S2T = opencc.OpenCC("s2t").convert

# Short clean strings, each in the encodings that can carry it.
CLEAN_SHORT = {
    "同志们：今天召开会议，研究部署下一步工作。": ("utf-8", "gbk", "gb18030", "utf-16", "utf-8-sig"),
    "X光检查和CT检查都是常规项目。": ("utf-8", "gbk", "gb18030", "utf-16"),
    "长方形面积是3×4=12平方米。": ("utf-8", "gbk", "gb18030", "utf-16"),
    "请把XML和JSON文件发给办公室，版本v2.1。": ("utf-8", "gbk", "gb18030", "utf-16"),
    "2019年全县GDP增长6.5%，完成目标任务。": ("utf-8", "gbk", "gb18030", "utf-16"),
    "我們召開會議，討論下一步工作。": ("utf-8", "big5hkscs", "utf-16"),
}


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_golden_repairs(case: dict[str, str]) -> None:
    assert repair_mojibake(case["input"]) == (case["expected"], case["transform"])


@pytest.mark.parametrize("case", CASES["negative"], ids=lambda c: c["name"])
def test_clean_text_is_not_repaired(case: dict[str, str]) -> None:
    assert repair_mojibake(case["text"]) == (case["text"], None)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(text, encoding) for text, encodings in CLEAN_SHORT.items() for encoding in encodings],
)
def test_short_clean_documents_in_every_encoding_need_no_repair(text: str, encoding: str) -> None:
    decoded = decode_bytes(text.encode(encoding))
    assert decoded.text == text
    assert decoded.repair is None


def test_seeds_in_every_encoding_need_no_repair(seeds: dict[str, bytes]) -> None:
    for name, data in seeds.items():
        text = data.decode("utf-8")
        assert repair_mojibake(text) == (text, None), name
        big5_text = S2T(text).replace("爲", "為")  # 爲 is the one s2t output Big5-HKSCS lacks
        assert repair_mojibake(big5_text) == (big5_text, None), name
        for source, encoding in (
            (text, "gbk"),
            (text, "gb18030"),
            (text, "utf-16"),
            (big5_text, "big5hkscs"),
        ):
            decoded = decode_bytes(source.encode(encoding))
            assert decoded.text == source, (name, encoding)
            assert decoded.repair is None, (name, encoding)


def test_seed_line_by_line_needs_no_repair(seeds: dict[str, bytes]) -> None:
    # Short pieces are where an accidental exact reversal could hide.
    for name, data in seeds.items():
        for line in data.decode("utf-8").split("\n"):
            assert repair_mojibake(line) == (line, None), (name, line)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("同志们锟斤拷锟斤拷好", 6),
        ("内存烫烫烫烫", 4),
        ("屯屯屯屯屯", 5),
        ("会议\ufffd召开\ufffd\ufffd", 3),
        ("他被烫伤了，很烫烫的。屯田。锟。", 0),
        ("", 0),
    ],
)
def test_lossy_traces_are_counted(text: str, count: int) -> None:
    assert count_lossy_traces(text) == count


def test_plausibility_tables_are_the_charset_levels() -> None:
    assert len(GB2312_LEVEL1) == 3755
    assert len(GB2312_LEVEL2) == 3008
    assert len(BIG5_LEVEL1) == 5401
    assert "的" in GB2312_LEVEL1 and "們" in BIG5_LEVEL1


def test_plausibility_ranks_the_right_decoding_first() -> None:
    text = "同志们：今天召开会议，研究部署下一步工作。"
    raw = text.encode("gbk")
    right = plausibility(raw.decode("gb18030"))
    assert right > 0.95
    assert right > plausibility(raw.decode("big5hkscs", errors="replace")) + 0.1
    assert right > plausibility(text.encode("utf-8").decode("gb18030", errors="replace")) + 0.3
    assert right > plausibility(raw.decode("latin-1")) + 0.5
    traditional = S2T(text)
    assert plausibility(traditional) > 0.95
    assert (
        plausibility(traditional)
        > plausibility(traditional.encode("big5hkscs").decode("gb18030", "replace")) + 0.3
    )


def test_plausibility_of_text_without_informative_characters() -> None:
    assert plausibility("") == 1.0
    assert plausibility("plain ASCII, 123\n") == 1.0
    assert plausibility("\ufffd\ufffd") == 0.0


def test_signals_are_cheap_and_separate_clean_from_garbled() -> None:
    assert outside_level1_share("同志们：今天召开会议。") == 0.0
    assert outside_level1_share("浣犲ソ涓栫晫") > 0.5
    assert unreadable_share("同志们\ue000") == 0.25
    assert unreadable_share("同志们") == 0.0


# Text of the kinds mojibake is made from: ASCII, common Hanzi, CJK punctuation, Latin-1, pinyin.
_SOURCE_TEXT = st.text(
    alphabet=st.sampled_from("同志们今天召开会议研究部署工作我們開會議，。“”：\n 2024ab×·éāǎ€™"), max_size=120
)
_WRONG_CODECS = st.sampled_from(["gbk", "gb18030", "big5hkscs", "cp1252", "latin-1"])
# That text encoded, maybe cut inside its last character, and decoded with a wrong codec.
_MOJIBAKE = st.builds(
    lambda text, right, wrong, cut: (text.encode(right, "replace")[: -cut or None]).decode(wrong, "replace"),
    _SOURCE_TEXT,
    st.sampled_from(["utf-8", "gb18030", "big5hkscs"]),
    _WRONG_CODECS,
    st.integers(0, 3),
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        _MOJIBAKE,
        st.text(max_size=150),
    ),
    st.booleans(),
)
def test_probe_never_rules_out_an_exact_reversal(text: str, final: bool) -> None:
    if text.isascii():  # the probe keeps nothing, and nothing is worth trying anyway
        assert not _reversals_worth_trying(text)
        return
    reversals = _CJK_REVERSALS + _LATIN_REVERSALS
    kept = _probed(text, reversals)
    for reversal in reversals:
        if _reverse(text, reversal, final=final) is not None:
            assert reversal in kept, reversal.name


# Lines of clean text with a `×` or Latin-1 letters, some with traces of earlier damage.
_LINE_TEXT = st.text(
    alphabet=st.sampled_from("同志们今天召开会议，。“”：\u3000 ×·éÊêab1"), max_size=120
) | st.text(alphabet=st.sampled_from("同志们，\u3000×Ê锟斤拷烫屯\ufffda"), max_size=90)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        _MOJIBAKE,
        _LINE_TEXT,
        st.text(max_size=150),
    ).map(lambda text: text.replace("\n", "")),
    st.text(alphabet=st.sampled_from("同们，\u3000a×"), min_size=64, max_size=100),
)
def test_a_line_ruled_out_is_neither_repaired_nor_suspected(line: str, prefix: str) -> None:
    """`may_be_mojibake` only skips lines the full judgement leaves alone."""
    for text in (line, prefix + line):
        if not may_be_mojibake(text):
            assert repair_mojibake(text) == (text, None)
            assert not _looks_like_mojibake(text)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(_MOJIBAKE, _LINE_TEXT, st.text(max_size=40), st.just("\n")), max_size=8).map("".join),
    st.sampled_from([repair.LINE_REPAIR_CHARS, 1, 7, 40]),
)
def test_lines_with_unusual_chars_are_the_definition(text: str, window: int) -> None:
    # Lines found by one regex of two unusual characters in a line are the lines counted
    # character by character, up to the window's edge (cut inside a line, too).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(repair, "LINE_REPAIR_CHARS", window)
        assert repair._lines_with_unusual_chars(text) == reference_lines_with_unusual_chars(text)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(_MOJIBAKE, _LINE_TEXT, st.text(max_size=40), st.just("\n")), max_size=6).map("".join)
)
def test_openings_rule_out_only_what_every_reversal_would(text: str) -> None:
    # The remembered openings (lines, probes, suspected pieces) against every reversal tried.
    repaired = repair_segments(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(repair, "_may_open_a_reversal", lambda opening: True)
        assert repair_segments(text) == repaired


# --- mojibake that is partial or lossy (issue 15 item 5) ------------------------------------

# Sentences of everyday Hanzi with some punctuation: what a title or a paragraph is made of.
_SENTENCE = st.text(
    alphabet=st.sampled_from(sorted(GB2312_LEVEL1) + list("，。、：")), min_size=12, max_size=80
).filter(lambda text: sum(char in GB2312_LEVEL1 for char in text) >= 0.8 * len(text))


def test_seeds_need_no_segment_repair_and_raise_no_suspicion(seeds: dict[str, bytes]) -> None:
    for name, data in seeds.items():
        text = data.decode("utf-8")
        for source in (text, S2T(text)):
            repaired = repair_segments(source)
            assert (repaired.text, repaired.transform, repaired.suspected) == (source, None, ()), name


@settings(max_examples=150, deadline=None)
@given(_SENTENCE, _SENTENCE, st.integers(min_value=1, max_value=4))
def test_a_mojibake_line_above_a_clean_body_is_repaired_alone(title: str, body: str, lines: int) -> None:
    mojibake = title.encode("utf-8").decode("gbk", errors="replace")
    text = mojibake + "\n" + "\n".join([body] * lines)
    repaired = repair_segments(text)
    head, _, rest = repaired.text.partition("\n")
    assert rest == "\n".join([body] * lines)  # the clean body is never touched
    assert repaired.transform is not None and repaired.transform.endswith(": line 1")
    _assert_recovered(title, mojibake, head)


@settings(max_examples=150, deadline=None)
@given(st.lists(_SENTENCE, min_size=1, max_size=5).map("\n".join))
# The longest stretch between damaged spots starts with the tail of a cut character: the probe
# must pass over it as the reversal does, or the line stays mojibake.
@example(
    "酿次牌遁、，肋探疼：处假奢饯绞趁乡虫箕饵传疵蚌定顷：驻酚蛛肺泵沧醛贞偶融线，聂摸迂售某啪、富炳碎臀软匝浇佩："
    "邦卒短，嗓尹骸专棵历。囱蜜迸肃娃六拍铭，兄磋沦彪筏"
)
def test_lossy_mojibake_is_recovered_as_far_as_the_bytes_allow(original: str) -> None:
    # A whole file decoded as GBK with replacement, then saved as UTF-8.
    mojibake = original.encode("utf-8").decode("gbk", errors="replace")
    repaired = repair_segments(mojibake)
    assert repaired.transform is not None
    _assert_recovered(original, mojibake, repaired.text)


def _assert_recovered(original: str, mojibake: str, recovered: str) -> None:
    """One U+FFFD per damaged spot, every other character the original's, in order."""
    assert recovered.count(REPLACEMENT) == mojibake.count(REPLACEMENT)
    kept = iter(original)
    assert all(char in kept for char in recovered.replace(REPLACEMENT, ""))  # a subsequence
    # A spot costs the character it cut and at most the one before or after it.
    assert len(recovered.replace(REPLACEMENT, "")) >= len(original) - 2 * mojibake.count(REPLACEMENT)


@pytest.mark.parametrize(
    ("text", "suspected"),
    [
        ("鍚屽織浠�锛氫粖澶╂的浠�鍙�寮�鍏ㄥ幙鏈哄叧鍏氬缓宸ヤ綔\n同志们好。", (1,)),
        ("同志们好。\n会议精神要传达到每一位同志。\n锟斤拷锟斤拷锟斤拷", ()),
        ("Café crème, naïve résumé à São Paulo\nàààààà ÄÖÜ", ()),
        ("我們今天召開全縣機關黨建工作推進會，主要任務是總結經驗。", ()),
    ],
    ids=["edited mojibake", "traces are not mojibake", "latin", "traditional"],
)
def test_suspected_mojibake_lines(text: str, suspected: tuple[int, ...]) -> None:
    assert repair_segments(text).suspected == suspected
