"""The placeholder stage agrees with a plain reference of its rules on varied text.

`replace_placeholders` skips to candidate starts with a character-class scan, checks single
characters against sets, settles context from the neighbouring characters when it can and finds
the longest context word through tables indexed by edge character. The reference below does
the same job the plain way: `finditer` over the candidate pattern (with the year family first,
as it was written before the module moved it last), a regex per character test, a walk over the
context for every candidate and a slice per word length. Both share the data (what each
family's run looks like, the context tables) and the Markdown closer search, so any shortcut
that changes a decision shows up as a difference.
"""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from docclean import placeholders as ph
from docclean.placeholders import DEFAULT_TOKEN, context_tables, replace_placeholders
from docclean.record import Placeholder, Replaced

LATIN_ALNUM_NOT_X = re.compile(f"(?![{ph._X_LETTERS}])[{ph._LATIN_ALNUM_CLASS}]")
LATIN_LETTER_NOT_X = re.compile(f"(?![{ph._X_LETTERS}])[{ph._LATIN_LETTER_CLASS}]")
DIGIT = re.compile(f"[{ph._DIGIT_CLASS}]")
HAN = re.compile(f"[{ph._HAN_CLASS}]")
_OTHER_FAMILIES, _YEAR = ph._PLACEHOLDER.pattern.split("| (?P<year>")
CANDIDATE = re.compile(f"(?P<year>{_YEAR}|{_OTHER_FAMILIES}", re.VERBOSE)


def reference_replace(text: str, token: str = DEFAULT_TOKEN) -> Replaced:
    pieces: list[str] = []
    placeholders: list[Placeholder] = []
    position = shift = 0
    closers: set[int] = set()
    for match in CANDIDATE.finditer(text):
        start, end = match.span()
        if start in closers:
            continue
        kind = reference_kind(text, match, closers)
        if kind is None:
            continue
        pieces += [text[position:start], token]
        placeholders.append(Placeholder(start + shift, start + shift + len(token), match.group(), kind))
        shift += len(token) - (end - start)
        position = end
    pieces.append(text[position:])
    return Replaced("".join(pieces), tuple(placeholders))


def reference_kind(text: str, match: re.Match[str], closers: set[int]) -> str | None:
    tables = context_tables()
    family, (start, end) = match.lastgroup, match.span()
    if family == "year":
        return "date"
    longest_suffix, longest_prefix = max(map(len, tables.suffixes)), max(map(len, tables.prefixes))
    suffix_kind = longest_word_kind(tables.suffixes, text[end : end + longest_suffix])
    before, after = char_at(text, start - 1), char_at(text, end)
    if family != "mou" and (LATIN_ALNUM_NOT_X.match(before) or LATIN_ALNUM_NOT_X.match(after)):
        return None
    if family == "latin":
        if before == "." and DIGIT.match(char_at(text, start - 2)):
            return None
        if (before == "-" and LATIN_LETTER_NOT_X.match(char_at(text, start - 2))) or (
            after == "-" and LATIN_LETTER_NOT_X.match(char_at(text, end + 1))
        ):
            return None
        if end - start == 1 and text.startswith(tables.latin_compounds, end):
            return None
        if not in_chinese_context(text, start, end):
            return None
        if "." in match.group():
            return "number"
    elif family == "times" and not in_chinese_context(text, start, end):
        return None
    elif family == "circle":
        if {before, after} & set(ph._CHINESE_NUMERALS) or (end - start == 1 and before in ("", "\n")):
            return None
        if not in_chinese_context(text, start, end):
            return None
    elif family == "star":
        if not suffix_kind and (closer := ph._markdown_closer(text, match)) is not None:
            closers.add(closer)
            return None
        if end - start == 1:
            if not (
                HAN.match(before)
                and (after in ("", "\n") or HAN.match(after) or ph._CHINESE_PUNCTUATION.match(after))
            ):
                return None
        elif "han" not in context_sides(text, start, end):
            return None
    prefix = text[max(0, start - longest_prefix) : start]
    return suffix_kind or longest_word_kind(tables.prefixes, prefix, at_end=True) or "unknown"


def longest_word_kind(word_kinds: dict[str, str], context: str, at_end: bool = False) -> str:
    for length in range(len(context), 0, -1):
        word = context[-length:] if at_end else context[:length]
        if word in word_kinds:
            return word_kinds[word]
    return ""


def char_at(text: str, index: int) -> str:
    return text[index] if 0 <= index < len(text) else ""


def context_side(text: str, index: int, step: int) -> str:
    window = 6
    while window:
        char = char_at(text, index)
        if char in ("", "\n"):
            return "empty"
        if char.isalnum() and char not in ph._X_LETTERS:
            return "han" if HAN.match(char) else "other"
        if char not in ph._X_LETTERS:
            window -= 1
        index += step
    return "other"


def context_sides(text: str, start: int, end: int) -> tuple[str, str]:
    return context_side(text, start - 1, -1), context_side(text, end, 1)


def in_chinese_context(text: str, start: int, end: int) -> bool:
    sides = context_sides(text, start, end)
    return "han" in sides or sides == ("empty", "empty")


# Pieces that make the shapes the rules tell apart, plus characters at the edges of the classes
# they use: Latin-1 letters and × beside them, fullwidth digits, the last Han of each block and
# unassigned code points inside the Han ranges (not letters, so not Han context).
PIECES = [
    "20", "19", "２０", "１９", "201", "二〇", "二○", "二〇一", "一", "二", "九", "零", "十", "XX", "X", "x",
    "Ｘ", "ｘ", "X.X", "×", "✕", "╳", "*", "**", "***", "****", "＊", "○", "◯", "〇", "某", "某某",
    "同志", "县", "县长", "局", "局面", "光", "射线", "次", "年", "月", "第", "百分之", "项目", "人员",
    "3", "0", "９", ".", "-", "_", " ", "\t", "\n", "，", "、", "。", "“", "”", "：", "…", "·", "%",
    "a", "T", "é", "ß", "ÿ", "ɏ", "Ā", "MASK", "[", "]", "的", "汉", "\u3400", "\u4dbf", "\u9fff",
    "\uf900", "\U00020000", "\U0002a6e0", "\U0003134f", "①", "Ⅻ", "ｚ", "Ｚ", "Xbox", "X光", "X-ray",
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
    assert replace_placeholders(text, token) == reference_replace(text, token)


def test_suffix_pattern_matches_the_longest_word() -> None:
    tables = context_tables()
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
