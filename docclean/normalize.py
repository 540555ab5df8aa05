"""Normalize decoded text: one `str -> str` fix per concern, applied in a fixed order.

The output contract, which the noise, placeholder and structure stages rely on: lines separated
by a single `\\n`, no empty lines, no leading or trailing whitespace on a line, no trailing
newline; Chinese punctuation full-width, ASCII letters and digits half-width.

Plain NFKC is deliberately not used: it turns `，` into `,` and `　` into a space, destroying the
punctuation a Chinese text needs. Each fix below changes only what it names.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from docclean.record import Normalized, NormalizeEdit

Converter = Callable[[str], str]

_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029\x85\x0b\x0c]")

# Zero-width and format characters that carry nothing a reader sees, stray BOMs, and C0/C1
# controls other than tab and newline (tab is handled as whitespace by the line fixes).
_INVISIBLE = re.compile(
    "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff\u00ad\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]"
)

_FULLWIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HALFWIDTH_PUNCT = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）"}
# A separator is converted only between two Han characters, where it cannot be part of a
# number (3,000), a time (10:30), a URL or an English sentence. `:` `?` `!` also at the end of
# a line after Han, which is how a salutation (`同志们:`) or a question ends.
_SEPARATOR_BETWEEN_HAN = re.compile(f"(?<=[{_HAN}])[,;:?!](?=[{_HAN}])|(?<=[{_HAN}])[:?!]$", re.MULTILINE)
# Parentheses are converted as a pair, when they follow Han and enclose Han: `条例(试行)`.
_PAREN_AFTER_HAN = re.compile(f"(?<=[{_HAN}])\\(([^()\\n]*[{_HAN}][^()\\n]*)\\)")

# Runs, not characters: counting a few runs' lengths is 4x faster than a list of every Han character.
_HAN_RUN = re.compile(f"[{_HAN}]+")

# Indentation and trailing space: ASCII space, tab, NBSP, ideographic space and the other Zs.
_EDGE_SPACE = "[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"
_LEADING_SPACE = re.compile(f"^{_EDGE_SPACE}+", re.MULTILINE)
_TRAILING_SPACE = re.compile(f"{_EDGE_SPACE}+$", re.MULTILINE)

# Sentence-final punctuation: a line ending in one of these ends its paragraph.
_PARAGRAPH_END = tuple("。！？；…：”」』）!?;:")
_OUTLINE_START = re.compile(
    r"^(?:[一二三四五六七八九十]+[、是要]|（[一二三四五六七八九十\d]+）|\(\d+\)|\d+[.．、]|第[一二三四五六七八九十]+[，、章节条部])"
)

# Script detection: the share of Han characters that t2s (resp. s2t) would change. Below
# 0.5 % a text is taken as written in that script with a few stray characters (names,
# quotations, characters that both scripts share but opencc maps anyway).
_STRAY_SHARE = 0.005
# Text is mixed only when the minor script has at least a fifth of the major one's evidence.
_MINOR_SCRIPT_SHARE = 0.2
# Detection reads a bounded prefix: the script of a document shows in its first pages.
_SCRIPT_SAMPLE_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class ScriptConverters:
    """The opencc conversions normalize needs; built once per process by the caller."""

    to_simplified: Converter
    to_traditional: Converter
    # The conversion applied to Traditional or mixed text; None keeps the source script.
    target: Converter | None
    target_name: str | None


def unify_line_endings(text: str) -> tuple[str, int]:
    return _LINE_BREAKS.subn("\n", text)


def remove_invisible(text: str) -> tuple[str, str]:
    """Delete zero-width, format and control characters; return them so they stay on record."""
    removed = "".join(_INVISIBLE.findall(text))
    return (_INVISIBLE.sub("", text), removed) if removed else (text, "")


def fold_fullwidth_alnum(text: str) -> tuple[str, int]:
    return _FULLWIDTH_ALNUM.subn(lambda m: chr(ord(m.group()) - 0xFEE0), text)


def widen_punctuation_between_han(text: str) -> tuple[str, int]:
    text, pairs = _PAREN_AFTER_HAN.subn(r"（\1）", text)
    text, separators = _SEPARATOR_BETWEEN_HAN.subn(lambda m: _HALFWIDTH_PUNCT[m.group()], text)
    return text, pairs * 2 + separators


def detect_script(text: str, converters: ScriptConverters) -> str:
    """Hans, Hant, mixed, or none, judged against opencc itself rather than a character list."""
    sample = text[:_SCRIPT_SAMPLE_CHARS]
    han = sum(map(len, _HAN_RUN.findall(sample)))
    if not han:
        return "none"
    as_simplified = converters.to_simplified(sample)
    as_traditional = converters.to_traditional(sample)
    if len(as_simplified) != len(sample) or len(as_traditional) != len(sample):
        traditional = _changed_chars(sample, as_simplified)
        simplified = _changed_chars(sample, as_traditional)
    else:
        # A character is Simplified evidence only if t2s leaves it alone: a Taiwan-standard form
        # such as 為 is changed by s2t too (to opencc's 爲), yet it is Traditional.
        traditional = simplified = 0
        for char, simple, trad in zip(sample, as_simplified, as_traditional, strict=True):
            if char != simple:
                traditional += 1
            elif char != trad:
                simplified += 1
    # Each script's evidence must also be a fair share of the other's: opencc maps some shared
    # characters one-to-many (群 -> 羣, 核 -> 覈), which sprinkles a little false evidence.
    has_traditional = traditional > max(han * _STRAY_SHARE, simplified * _MINOR_SCRIPT_SHARE)
    has_simplified = simplified > max(han * _STRAY_SHARE, traditional * _MINOR_SCRIPT_SHARE)
    if has_traditional and has_simplified:
        return "mixed"
    return "Hant" if has_traditional else "Hans"


def _changed_chars(before: str, after: str) -> int:
    return sum(a != b for a, b in zip(before, after, strict=False)) + abs(len(before) - len(after))


def strip_line_edges(text: str) -> tuple[str, int]:
    text, leading = _LEADING_SPACE.subn("", text)
    text, trailing = _TRAILING_SPACE.subn("", text)
    return text, leading + trailing


def rejoin_wrapped_lines(text: str) -> tuple[str, int]:
    """Join lines that a PDF copy hard-wrapped at a fixed width back into paragraphs.

    A document counts as hard-wrapped when many of its lines share one display width (the
    wrap width). Within a run of non-empty lines, a line that reaches the wrap width and does
    not end a sentence continues on the next line, unless the next line is indented or opens
    an outline item. Documents without a common width (paragraph-per-line text) are untouched.
    """
    lines = text.split("\n")
    width = _wrap_width(lines)
    if width is None:
        return text, 0
    joined: list[str] = []
    joins = 0
    previous = ""  # the previous physical line: its width, not the paragraph's, says "wrapped"
    for line in lines:
        if joined and _continues(previous, line, width):
            joined[-1] = joined[-1].rstrip() + line.strip()
            joins += 1
        else:
            joined.append(line)
        previous = line
    return "\n".join(joined), joins


# At least this many lines, and this share of the non-empty lines, must sit within
# _WRAP_TOLERANCE display columns below the most common width to call a document hard-wrapped:
# a handful of equal lines happens by chance, a third of the document does not.
_WRAP_MIN_LINES = 4
_WRAP_MIN_SHARE = 0.35
_WRAP_TOLERANCE = 3
# Narrower "wraps" are lists and headings, not a page width.
_WRAP_MIN_WIDTH = 20


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@cache
def _wide_bmp_run() -> re.Pattern[str]:
    """Runs of BMP characters whose East Asian Width is W or F, built from unicodedata itself.

    A regex counts them at C speed, 6x faster than asking unicodedata character by character.
    Only the BMP: with astral ranges in the class `re` tests its 700 ranges one by one and
    gains nothing; the rare astral characters are counted one by one instead.
    """
    ranges: list[str] = []
    start: int | None = None
    for code in range(0x10001):
        wide = code < 0x10000 and unicodedata.east_asian_width(chr(code)) in "WF"
        if wide and start is None:
            start = code
        elif not wide and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    return re.compile(f"[{''.join(ranges)}]+")


def _display_width(line: str) -> int:
    """Columns `line` takes: 2 for each W or F character (East Asian Width), 1 for any other."""
    if line.isascii():
        return len(line)
    width = len(line) + sum(map(len, _wide_bmp_run().findall(line)))
    for char in _ASTRAL.findall(line):
        width += unicodedata.east_asian_width(char) in "WF"
    return width


def _wrap_width(lines: list[str]) -> int | None:
    # Indentation counts: an indented first line fills the same page width as the others.
    # Whitespace-only lines strip to "" (width 0), below any wrap width: leaving them out here
    # leaves `near` below unchanged, and each width is computed once.
    stripped = [line.rstrip() for line in lines if line.strip()]
    widths = [_display_width(line) for line in stripped]
    if len(widths) < _WRAP_MIN_LINES:
        return None
    counts = Counter(w for w in widths if w >= _WRAP_MIN_WIDTH)
    if not counts:
        return None
    width = max(counts, key=lambda w: sum(counts[v] for v in range(w - _WRAP_TOLERANCE, w + 1)))
    near = [line for line, w in zip(stripped, widths, strict=True) if width - _WRAP_TOLERANCE <= w <= width]
    if len(near) < _WRAP_MIN_LINES or len(near) < len(widths) * _WRAP_MIN_SHARE:
        return None
    # A page width cuts sentences: most lines at it end mid-sentence. Equal lines that end their
    # sentences (a list of short items, a repeated line) are not a wrap.
    if sum(line.endswith(_PARAGRAPH_END) for line in near) * 2 > len(near):
        return None
    return width


def _continues(previous: str, line: str, width: int) -> bool:
    head = previous.rstrip()
    if not head.strip() or not line.strip():
        return False
    if _display_width(head) < width - _WRAP_TOLERANCE or head.endswith(_PARAGRAPH_END):
        return False
    if line[:1] in " \t\u3000\u00a0":
        return False
    return not _OUTLINE_START.match(line.strip())


def drop_empty_lines(text: str) -> tuple[str, int]:
    lines = text.split("\n")
    kept = [line for line in lines if line]
    return "\n".join(kept), len(lines) - len(kept)


def normalize_text(text: str, converters: ScriptConverters) -> Normalized:
    """Run every normalization fix in order and record what each one did."""
    edits: list[NormalizeEdit] = []

    def count(rule: str, changes: int) -> None:
        if changes:
            edits.append(NormalizeEdit(rule, changes))

    text, n = unify_line_endings(text)
    count("line_endings", n)
    text, removed = remove_invisible(text)
    if removed:
        edits.append(NormalizeEdit("invisible_chars", len(removed), removed))
    text, n = fold_fullwidth_alnum(text)
    count("fullwidth_alnum", n)
    text, n = widen_punctuation_between_han(text)
    count("punctuation_between_han", n)
    script = detect_script(text, converters)
    if script in ("Hant", "mixed") and converters.target is not None:
        converted = converters.target(text)
        count(f"opencc_{converters.target_name}", _changed_chars(text, converted))
        text = converted
    # Wrapping is judged on the raw lines, whose indentation marks paragraph starts.
    text, n = rejoin_wrapped_lines(text)
    count("rejoin_wrapped_lines", n)
    text, n = strip_line_edges(text)
    count("strip_line_edges", n)
    text, n = drop_empty_lines(text)
    count("drop_empty_lines", n)
    return Normalized(text=text, edits=tuple(edits), source_script=script)
