"""Normalize decoded text: one `str -> str` fix per concern, applied in a fixed order.

The output contract, which the noise, placeholder and structure stages rely on: lines separated
by a single `\\n`, no empty lines, no leading or trailing whitespace on a line, no trailing
newline; Chinese punctuation full-width, ASCII letters and digits half-width.

Plain NFKC is deliberately not used: it turns `，` into `,` and `　` into a space, destroying the
punctuation a Chinese text needs. Each fix below changes only what it names.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from docclean.lines import line_chunks
from docclean.record import Normalized, NormalizeEdit

Converter = Callable[[str], str]

_LINE_BREAK_RUN = re.compile("\n{2,}")
_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029\x85\x0b\x0c]")
# Substring tests run at memchr speed, 10x faster than a regex pass: most files need no fix.
_LINE_BREAK_CHARS = ("\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c")

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
# The punctuation comes first and the Han before it is a lookbehind: a pattern that opens with
# a character class lets `re` skip ahead at C speed (3x faster than opening with the lookbehind).
_SEPARATOR_BETWEEN_HAN = re.compile(f"[,;:?!](?<=[{_HAN}].)(?=[{_HAN}])|[:?!](?<=[{_HAN}].)$", re.MULTILINE)
# Parentheses are converted as a pair, when they follow Han and enclose Han: `条例(试行)`.
_PAREN_AFTER_HAN = re.compile(f"\\((?<=[{_HAN}]\\()([^()\\n]*[{_HAN}][^()\\n]*)\\)")

# Runs, not characters: counting a few runs' lengths is 4x faster than a list of every Han character.
_HAN_RUN = re.compile(f"[{_HAN}]+")
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# The same bounds as Arrow scalars of the code points' type: compared with a Python int, Arrow
# first casts the whole array to int64, 15x slower than the comparison itself.
_HAN_CODE_POINT_RANGES = tuple(
    (pa.scalar(first, pa.uint32()), pa.scalar(last, pa.uint32())) for first, last in _HAN_RANGES
)

# Indentation and trailing space: ASCII space, tab, NBSP, ideographic space and the other Zs.
_EDGE_SPACE = (
    " \t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
)

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
    # Han characters that `to_simplified` changes on their own, asked of the converter itself.
    traditional_chars: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "traditional_chars", _changed_by(self.to_simplified))


def _changed_by(convert: Converter) -> re.Pattern[str]:
    """A character class of the Han characters `convert` maps to something else when alone.

    One call over every Han character, one per line so that no two form a phrase: a few
    milliseconds, once per process.
    """
    chars = [chr(code) for first, last in _HAN_RANGES for code in range(first, last + 1)]
    converted = convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):
        # A converter that merges or splits lines gives no per-character answer: then every Han
        # character is a candidate, and detect_script always asks the converter.
        return re.compile(f"[{_HAN}]")
    changed = "".join(re.escape(char) for char, new in zip(chars, converted, strict=True) if char != new)
    return re.compile(f"[{changed}]") if changed else re.compile("(?!)")


def unify_line_endings(text: str) -> tuple[str, int]:
    if not any(char in text for char in _LINE_BREAK_CHARS):
        return text, 0
    return _LINE_BREAKS.subn("\n", text)


def remove_invisible(text: str) -> tuple[str, str]:
    """Delete zero-width, format and control characters; return them so they stay on record."""
    removed = "".join(_INVISIBLE.findall(text))
    return (_INVISIBLE.sub("", text), removed) if removed else (text, "")


def fold_fullwidth_alnum(text: str) -> tuple[str, int]:
    return _FULLWIDTH_ALNUM.subn(lambda m: chr(ord(m.group()) - 0xFEE0), text)


def widen_punctuation_between_han(text: str) -> tuple[str, int]:
    pairs = separators = 0
    if "(" in text:
        text, pairs = _PAREN_AFTER_HAN.subn(r"（\1）", text)
    if any(char in text for char in ",;:?!"):
        text, separators = _SEPARATOR_BETWEEN_HAN.subn(lambda m: _HALFWIDTH_PUNCT[m.group()], text)
    return text, pairs * 2 + separators


def detect_script(text: str, converters: ScriptConverters) -> str:
    """Hans, Hant, mixed, or none, judged against opencc itself rather than a character list."""
    return _detect_script(text, converters)[0]


def _detect_script(text: str, converters: ScriptConverters) -> tuple[str, str | None]:
    """The script, and the sample converted by `to_simplified` when detection needed it."""
    sample = text[:_SCRIPT_SAMPLE_CHARS]
    if not _HAN_RUN.search(sample):
        return "none", None
    if not converters.traditional_chars.search(sample):
        # No character that t2s converts on its own: most Simplified documents end here, without
        # converting anything. A phrase can only keep such characters (乾隆), not convert others.
        return "Hans", None
    as_simplified = converters.to_simplified(sample)
    as_traditional = converters.to_traditional(sample)
    chars = _code_points(sample)
    han = sum(
        _count(pc.and_(pc.greater_equal(chars, first), pc.less_equal(chars, last)))
        for first, last in _HAN_CODE_POINT_RANGES
    )
    if len(as_simplified) != len(sample) or len(as_traditional) != len(sample):
        traditional = _changed_chars(sample, as_simplified)
        simplified = _changed_chars(sample, as_traditional)
    else:
        # A character is Simplified evidence only if t2s leaves it alone: a Taiwan-standard form
        # such as 為 is changed by s2t too (to opencc's 爲), yet it is Traditional.
        changed_by_t2s = pc.not_equal(chars, _code_points(as_simplified))
        traditional = _count(changed_by_t2s)
        simplified = _count(pc.and_not(pc.not_equal(chars, _code_points(as_traditional)), changed_by_t2s))
    # Each script's evidence must also be a fair share of the other's: opencc maps some shared
    # characters one-to-many (群 -> 羣, 核 -> 覈), which sprinkles a little false evidence.
    has_traditional = traditional > max(han * _STRAY_SHARE, simplified * _MINOR_SCRIPT_SHARE)
    has_simplified = simplified > max(han * _STRAY_SHARE, traditional * _MINOR_SCRIPT_SHARE)
    if has_traditional and has_simplified:
        return "mixed", as_simplified
    return ("Hant" if has_traditional else "Hans"), as_simplified


def _changed_chars(before: str, after: str) -> int:
    if len(before) == len(after):
        return _count(pc.not_equal(_code_points(before), _code_points(after)))
    return sum(map(operator.ne, before, after)) + abs(len(before) - len(after))


def _code_points(text: str) -> pa.Array:
    """The text's code points as an Arrow array, without a Python object per character.

    Comparing a document with its opencc conversion character by character is 20x faster as
    Arrow compute over code points than as a Python loop, or `map` over the two strings.
    """
    return pa.Array.from_buffers(pa.uint32(), len(text), [None, pa.py_buffer(text.encode("utf-32-le"))])


def _count(mask: pa.Array) -> int:
    return pc.sum(mask).as_py() or 0


def strip_line_edges(text: str) -> tuple[str, int]:
    """Strip each line's indentation and trailing space; count the line edges stripped.

    `str.strip` line by line is twice as fast as two MULTILINE regex passes: a pattern that
    opens with `^` is tried at every position of the text. The lines are held a chunk at a time.
    """
    pieces: list[str] = []
    edges = 0
    for chunk in line_chunks(text):
        lines = chunk.split("\n")
        stripped = [line.strip(_EDGE_SPACE) for line in lines]
        for line, kept in zip(lines, stripped, strict=True):
            if len(line) != len(kept):
                # A line of nothing but space has one edge, not two.
                edges += 1 if not kept else (line[0] in _EDGE_SPACE) + (line[-1] in _EDGE_SPACE)
        pieces.append("\n".join(stripped))
    return ("\n".join(pieces), edges) if edges else (text, 0)


def rejoin_wrapped_lines(text: str) -> tuple[str, int]:
    """Join lines that a PDF copy hard-wrapped at a fixed width back into paragraphs.

    A document counts as hard-wrapped when many of its lines share one display width (the
    wrap width). Within a run of non-empty lines, a line that reaches the wrap width and does
    not end a sentence continues on the next line, unless the next line is indented or opens
    an outline item. Documents without a common width (paragraph-per-line text) are untouched.
    """
    if text.count("\n") + 1 < _WRAP_MIN_LINES:
        return text, 0
    # The non-blank lines by display width, and those of them that end a sentence: two passes
    # over the text a chunk at a time, so no list of every line is ever held.
    widths: Counter[int] = Counter()
    ending: Counter[int] = Counter()
    for heads, head_widths in _heads_and_widths(text):
        for head, head_width in zip(heads, head_widths, strict=True):
            if head:
                widths[head_width] += 1
                if head.endswith(_PARAGRAPH_END):
                    ending[head_width] += 1
    width = _wrap_width(widths, ending)
    if width is None:
        return text, 0
    pieces: list[str] = []  # each chunk's finished paragraphs, joined
    paragraph: list[
        str
    ] = []  # the parts of the paragraph being joined, as one string they cost a copy per join
    previous: tuple[str, int] | None = None
    joins = 0
    for (heads, head_widths), chunk in zip(_heads_and_widths(text), line_chunks(text), strict=True):
        finished: list[str] = []
        for line, head, head_width in zip(chunk.split("\n"), heads, head_widths, strict=True):
            # The previous physical line, not the paragraph, says "wrapped": its width is what counts.
            if previous is not None and _continues(*previous, line, width):
                paragraph[-1] = paragraph[-1].rstrip()
                paragraph.append(line.strip())
                joins += 1
            else:
                if paragraph:
                    finished.append("".join(paragraph))
                paragraph = [line]
            previous = (head, head_width)
        if finished:
            pieces.append("\n".join(finished))
    pieces.append("".join(paragraph))
    return "\n".join(pieces), joins


def _heads_and_widths(text: str) -> Iterator[tuple[list[str], list[int]]]:
    """Chunk by chunk (`line_chunks`), each line without its trailing space, and its display width."""
    for chunk in line_chunks(text):
        # Indentation counts: an indented first line fills the same page width as the others.
        heads = [line.rstrip() for line in chunk.split("\n")]
        yield heads, _display_widths(heads)


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

    Only the BMP: with astral ranges in the class `re` tests its 700 ranges one by one; the
    rare wide astral characters are counted apart.
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


def _display_widths(lines: list[str]) -> list[int]:
    """Columns each line takes: 2 for each W or F character (East Asian Width), 1 for any other.

    Deleting the wide runs of the whole document at once leaves each line's narrow characters:
    one regex pass, where a regex call per line cost 3x more. A line's width is then twice its
    length less its narrow characters.
    """
    if not lines:
        return []
    narrow_text = _wide_bmp_run().sub("", "\n".join(lines))
    narrow = narrow_text.split("\n")
    widths = [2 * len(line) - len(rest) for line, rest in zip(lines, narrow, strict=True)]
    # Astral characters are among the narrow ones, a small part of a Chinese text to search.
    if _ASTRAL.search(narrow_text):
        for index, line in enumerate(lines):
            widths[index] += sum(unicodedata.east_asian_width(char) in "WF" for char in _ASTRAL.findall(line))
    return widths


def _wrap_width(widths: Counter[int], ending: Counter[int]) -> int | None:
    """The wrap width, from the non-blank lines counted by display width (in the order first
    seen) and those of them that end a sentence; None when the document is not hard-wrapped.
    """
    # Whitespace-only lines strip to "" (width 0), below any wrap width: leaving them out
    # leaves `near` below unchanged.
    nonblank = widths.total()
    if nonblank < _WRAP_MIN_LINES:
        return None
    counts = {w: count for w, count in widths.items() if w >= _WRAP_MIN_WIDTH}
    if not counts:
        return None
    needed = max(_WRAP_MIN_LINES, nonblank * _WRAP_MIN_SHARE)
    if max(counts.values()) * (_WRAP_TOLERANCE + 1) < needed:
        # No window of widths can hold enough lines: most paragraph-per-line documents end here.
        return None

    def window(counted: Mapping[int, int], top: int) -> int:
        return sum(counted.get(w, 0) for w in range(top - _WRAP_TOLERANCE, top + 1))

    width = max(counts, key=lambda w: window(counts, w))
    near = window(widths, width)
    if near < _WRAP_MIN_LINES or near < nonblank * _WRAP_MIN_SHARE:
        return None
    # A page width cuts sentences: most lines at it end mid-sentence. Equal lines that end their
    # sentences (a list of short items, a repeated line) are not a wrap.
    if window(ending, width) * 2 > near:
        return None
    return width


def _continues(head: str, head_width: int, line: str, width: int) -> bool:
    """Whether `line` continues `head`, the previous line without its trailing space."""
    if not head.strip() or not line.strip():
        return False
    if head_width < width - _WRAP_TOLERANCE or head.endswith(_PARAGRAPH_END):
        return False
    if line[:1] in " \t\u3000\u00a0":
        return False
    return not _OUTLINE_START.match(line.strip())


def drop_empty_lines(text: str) -> tuple[str, int]:
    # Runs of line breaks collapse to one: the same as dropping the empty lines from a list of
    # them, without the list (a Python object per line).
    kept = _LINE_BREAK_RUN.sub("\n", text).strip("\n")
    return kept, text.count("\n") + 1 - (kept.count("\n") + 1 if kept else 0)


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
    script, sample_simplified = _detect_script(text, converters)
    if script in ("Hant", "mixed") and converters.target is not None:
        converted = (
            # Detection converted the whole text already when it fit in the sample.
            sample_simplified
            if sample_simplified is not None
            and len(text) <= _SCRIPT_SAMPLE_CHARS
            and converters.target is converters.to_simplified
            else converters.target(text)
        )
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
