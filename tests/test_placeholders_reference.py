"""The placeholder stage agrees with its specification on varied text.

`reference_replace_placeholders`, beside the fast code in docclean/placeholders.py, does the
same job the plain way; any shortcut of `replace_placeholders` that changes a decision shows up
as a difference.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from docclean import placeholders as ph
from docclean.placeholders import (
    DEFAULT_TABLES,
    DEFAULT_TOKEN,
    reference_replace_placeholders,
    replace_placeholders,
)

# Pieces that make the shapes the rules tell apart, plus characters at the edges of the classes
# they use: Latin-1 letters and × beside them, fullwidth digits, the last Han of each block and
# unassigned code points in the ideograph planes (not letters, so not Han context).
PIECES = [
    "20", "19", "２０", "１９", "201", "二〇", "二○", "二〇一", "一", "二", "九", "零", "十", "XX", "X", "x",
    "Ｘ", "ｘ", "X.X", "×", "✕", "╳", "*", "**", "***", "****", "＊", "○", "◯", "〇", "某", "某某",
    "同志", "县", "县长", "局", "局面", "光", "射线", "次", "年", "月", "第", "百分之", "项目", "人员",
    "3", "0", "９", ".", "-", "_", " ", "\t", "\n", "，", "、", "。", "“", "”", "：", "…", "·", "%",
    "a", "T", "é", "ß", "ÿ", "ɏ", "Ā", "MASK", "[", "]", "的", "汉", "\u3400", "\u4dbf", "\u9fff",
    "\uf900", "\U00020000", "\U0002a6e0", "\U0003134f", "①", "Ⅻ", "ｚ", "Ｚ", "Xbox", "X光", "X-ray",
    "138", "5678", "XXXX", "××××", "□", "□□", "■", "年度",
    "长", "宽", "高", "单价", "数量", "高度", "设", "令", "求", "为", "=", "＝", "²", "+", "王", "欧阳",
    "统计局", "iPhone", "OS", "亿元", "\u3000",
    "到", "至", "是", "后", "后勤", "青年", "○○后", "从〇到一",
]  # fmt: skip
MIXED = st.lists(st.sampled_from(PIECES), max_size=20).map("".join)
CHARS = st.text(alphabet=st.sampled_from(sorted({char for piece in PIECES for char in piece})), max_size=40)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(MIXED, CHARS, st.text(max_size=30)), st.sampled_from([DEFAULT_TOKEN, "X", "某", ""]))
@example("XX、XX、XX同志", DEFAULT_TOKEN)
@example("**重点**和**同志**局长", DEFAULT_TOKEN)
@example("二〇一X年二○○八年×20XX", DEFAULT_TOKEN)
@example("\U0002a6e0XX\U0002a6e0", DEFAULT_TOKEN)
def test_agrees_with_the_reference(text: str, token: str) -> None:
    assert replace_placeholders(text, token) == reference_replace_placeholders(text, token)


def test_suffix_pattern_matches_the_longest_word() -> None:
    tables = DEFAULT_TABLES
    # Each word alone, cut short, extended, and followed by the start of every other word.
    texts = {
        text
        for word in tables.suffixes
        for text in (word, word[:-1], f"{word}的", *(word + other[:2] for other in tables.suffixes))
    }
    for text in texts:
        found = tables.suffix_pattern.match(text)
        longest = max((word for word in tables.suffixes if text.startswith(word)), key=len, default="")
        assert (found.group() if found else "") == longest, text


def test_unified_ideographs_are_all_han_letters() -> None:
    # The classifier takes any character of this block for a Han letter without asking the regex.
    block = range(ord(ph._UNIFIED_FIRST), ord(ph._UNIFIED_LAST) + 1)
    assert all(ph._HAN_LETTER.fullmatch(chr(code)) for code in block)
