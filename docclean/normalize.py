"""Normalize decoded text: one `str -> str` fix per concern, applied in a fixed order.

The output contract, which the noise, placeholder and structure stages rely on: lines separated
by a single `\\n`, no empty lines, no leading or trailing whitespace on a line, no trailing
newline; Chinese punctuation full-width, ASCII letters and digits half-width.

Plain NFKC is deliberately not used: it turns `，` into `,` and `　` into a space, destroying the
punctuation a Chinese text needs. Each fix below changes only what it names.
"""

from __future__ import annotations

import bisect
import html
import operator
import re
import sys
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import compress

import numpy as np
import regex

from docclean.han import BMP_HAN_RANGES, HAN_CLASS, bmp_mask, character_class, code_points, han_table, is_han
from docclean.lines import line_chunks
from docclean.record import Normalized, NormalizeEdit
from docclean.structure import DATE_LINE
from docclean.structure import DEFAULT_TABLES as STRUCTURE_TABLES

Converter = Callable[[str], str]

# A form feed is a page break: `remove_page_furniture` handles it with the furniture around it.
_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029\x85\x0b]")
# Substring tests run at memchr speed, 10x faster than a regex pass: most files need no fix.
_LINE_BREAK_CHARS = ("\r", "\u2028", "\u2029", "\x85", "\x0b")

# C0/C1 controls other than tab, newline and form feed (tab is whitespace to the line fixes,
# the form feed a page break); the invisible characters proper come from Unicode's data.
_CONTROLS = "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"

_FULLWIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_DECIMAL_POINT = re.compile("(?<=[0-9])．(?=[0-9])")

_HAN = HAN_CLASS
_HALFWIDTH_PUNCT = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）", ".": "。"}
# Chinese context for a half-width mark: Han, or full-width punctuation, quotes and brackets.
# A mark is widened only with such a neighbour on each side (or a line end after it), where it
# cannot be part of a number (3,000), a time (10:30), a file name (报告.docx), an address or
# an English sentence: a line of ASCII never changes.
_CJK_PUNCT = "、。，；：？！…—“”‘’「」『』《》〈〉【】〔〕（）"
_CJK_BEFORE = f"{_HAN}{_CJK_PUNCT}"
_CJK_AFTER = f"{_HAN}{_CJK_PUNCT}"
# The punctuation comes first and the context before it is a lookbehind: a pattern that opens
# with a character class lets `re` skip ahead at C speed (3x faster than opening with the
# lookbehind). A `.` counts only alone (`等等...` is an ellipsis, not three full stops) and
# only after Han or closing punctuation: after an opening quote it is not a full stop.
_SEPARATOR_IN_CHINESE = re.compile(f"[,.;:?!](?<=[{_CJK_BEFORE}].)(?=[{_CJK_AFTER}]|$)", re.MULTILINE)
_BEFORE_FULL_STOP = re.compile(f"[{_HAN}”’」』》）】〕〉]")
# A Chinese numeral opening a line, then `.`: an outline marker (`一.充分认识…`), whose dot is
# the full-width `．` of `一．`, not the full stop `。` a sentence ends with.
_NUMERAL_MARKER_DOT = re.compile(r"^[ \t\u3000]*[一二三四五六七八九十百]+\.(?=[^\d.])", re.MULTILINE)
# A clause mark between a Latin word or a number and Han, either way round (`08:30,会议开始`,
# `使用Python,我们`, `增长6.5%,居全国`, `会上,2024年`) separates clauses of the Chinese
# sentence. Not `.` (`1.加强学习` is an outline marker) nor `:` (`第1:` labels, `C:盘`).
_SEPARATOR_BESIDE_CHINESE = re.compile(
    f"[,;?!](?:(?<=[A-Za-z0-9%].)(?=[{_HAN}])|(?<=[{_HAN}].)(?=[A-Za-z0-9]))"
)
# Parentheses are converted as a pair, when they follow Chinese context (or open a line) and
# enclose Han: `条例(试行)`, `(一)加强学习`.
_PAREN_IN_CHINESE = re.compile(
    f"\\((?:(?<=^\\()|(?<=[{_CJK_BEFORE}]\\())([^()\\n]*[{_HAN}][^()\\n]*)\\)", re.MULTILINE
)
# Where a half-width mark has the Chinese neighbour that `_SEPARATOR_IN_CHINESE` or
# `_SEPARATOR_BESIDE_CHINESE` asks for: a text without one has nothing to widen (every match of
# theirs is one of these).
_MARK_NEAR_CHINESE_BODY = f"(?:(?<=[{_CJK_BEFORE}].)|(?<=[,;?!])(?=[{_HAN}]))"
_MARK_NEAR_CHINESE = re.compile(f"[,.;:?!]{_MARK_NEAR_CHINESE_BODY}")
# Addresses keep their ASCII punctuation: a URL may hold Han (`http://x.cn/新闻,通知`).
_ADDRESS = re.compile(
    r"(?:https?|ftp)://[^\s，。！？；、“”‘’（）《》【】<>\"']+|www\.[^\s，。！？；、“”‘’（）《》【】<>\"']+"
)

# Script detection weighs the Han ideographs of the BMP: OpenCC is asked about each of them
# when converters are built (13 ms); the 70,000 astral ones would cost 90 ms more, for some
# 900 rare characters it converts.
_SCRIPT_HAN_RANGES = BMP_HAN_RANGES
_SCRIPT_HAN_RUN = re.compile(f"[{character_class(_SCRIPT_HAN_RANGES)}]")
# The same ranges as a table over the BMP's code points, True for a Han ideograph; a code point
# beyond the BMP is looked up at U+FFFF, which is not one.
_SCRIPT_HAN_TABLE = han_table()[:0x10000]

# Indentation and trailing space: ASCII space, tab, NBSP, ideographic space and the other Zs.
_EDGE_SPACE = (
    " \t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
)

# Sentence-final punctuation: a line ending in one of these ends its paragraph (`_ends_sentence`).
_PARAGRAPH_END = tuple("。！？；…：!?;:")
# Closing quotes and brackets end a sentence only after its final mark (`……。”`, `（略）。`): a
# line ending in `“最多跑一次”` or `（试行）` is inside its sentence.
_CLOSING_MARKS = "”’」』）》】〕"


def _ends_sentence(line: str) -> bool:
    """Whether `line` (without trailing space) ends a sentence, closing quotes and brackets aside."""
    return line.rstrip(_CLOSING_MARKS).endswith(_PARAGRAPH_END)


# A line opening an outline item (`一、`, `（二）`, `3.`) starts a paragraph: the structure
# stage's markers (docclean/rules/structure.toml), so both stages agree on what a heading is.
_OUTLINE_START = STRUCTURE_TABLES.any_marker

# Script detection: the share of Han characters that t2s (resp. s2t) would change. Below
# 0.5 % a text is taken as written in that script with a few stray characters (names,
# quotations, characters that both scripts share but opencc maps anyway).
_STRAY_SHARE = 0.005
# Text is mixed only when the minor script has at least a fifth of the major one's evidence.
_MINOR_SCRIPT_SHARE = 0.2
# Detection reads a bounded prefix: the script of a document shows in its first pages.
_SCRIPT_SAMPLE_CHARS = 20_000


@cache
def _script_tables() -> dict[str, list[str]]:
    return tomllib.loads(resources.files("docclean").joinpath("rules", "script.toml").read_text("utf-8"))


@cache
def also_simplified() -> str:
    """Characters t2s converts that are no evidence of Traditional script, being standard
    Simplified characters too (docclean/rules/script.toml, from the 通用规范汉字表)."""
    return "".join(_script_tables()["also_simplified"])


@cache
def _zhu() -> re.Pattern[str]:
    """Where 著 is zhù: the words of docclean/rules/script.toml's `zhu_words`, or before a title."""
    words = sorted(_script_tables()["zhu_words"], key=len, reverse=True)
    return re.compile("|".join(map(re.escape, words)) + "|著(?=的?《)")


def keep_zhu(text: str, converted: str) -> str:
    """`converted` (a regional conversion of `text`, of the same length) with 著 back wherever
    `text` writes it in a word where it is zhù (`_zhu`): tw2s made 專著 专着 and 原著 原着."""
    if "著" not in text or len(converted) != len(text):
        return converted
    at = [
        match.start() + offset
        for match in _zhu().finditer(text)
        for offset, char in enumerate(match.group())
        if char == "著" and converted[match.start() + offset] == "着"
    ]
    if not at:
        return converted
    pieces, position = [], 0
    for index in at:
        pieces += (converted[position:index], "著")
        position = index + 1
    pieces.append(converted[position:])
    return "".join(pieces)


@cache
def _also_simplified_table() -> np.ndarray:
    return bmp_mask(also_simplified())


@dataclass(frozen=True, slots=True)
class ScriptConverters:
    """The opencc conversions normalize needs; built once per process by the caller."""

    to_simplified: Converter
    to_traditional: Converter
    # The conversion applied to Traditional or mixed text; None keeps the source script.
    target: Converter | None
    target_name: str | None
    # Regional conversions (name, converter), e.g. OpenCC's tw2s and hk2s: Taiwan and Hong Kong
    # standard forms that the target leaves as they are (穿著, 屋簷, 衞生). One replaces the
    # target for a document whose converted text still holds such forms (`convert_regional`).
    regional: tuple[tuple[str, Converter], ...] = ()
    # Every character `to_traditional` may change, in any context (`opencc_changes`); None when
    # that is not known, and then script detection always converts.
    to_traditional_changes: str | None = None
    # Han characters that `to_simplified` changes on their own, asked of the converter itself.
    traditional_chars: re.Pattern[str] = field(init=False, repr=False, compare=False)
    # Han characters that a regional conversion changes beyond `to_simplified`, alone.
    regional_chars: re.Pattern[str] = field(init=False, repr=False, compare=False)
    # `to_traditional_changes` as a table over the BMP's code points; a code point beyond it is
    # looked up at U+FFFF, marked as if it changed, so that counting stays an upper bound.
    to_traditional_table: np.ndarray | None = field(init=False, repr=False, compare=False)
    # For a regional conversion, by name: every character whose presence in a clause may make its
    # conversion of the clause differ from the target's (`opencc_changes_beyond`). Such a
    # conversion runs only on the clauses holding one (`regional_conversion`); a conversion not
    # named here runs on the whole text.
    regional_changes: Mapping[str, str] = field(default_factory=dict)
    # Characters that cut a text into clauses that the target and each regional conversion named
    # in `regional_changes` convert alone as within the text (`opencc_clause_separators`); none,
    # and every regional conversion runs on the whole text.
    clause_separators: str = ""
    # For each conversion of `regional_changes`, with separators: what each BMP code point is to
    # its clauses (`_IN_CLAUSE`, ...), a code point beyond the BMP looked up at U+FFFF, a change.
    clause_tables: Mapping[str, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chars = _all_han()
        simplified = _one_by_one(self.to_simplified, chars)
        # Evidence of Traditional script: what t2s changes alone, less the standard Simplified
        # characters among them (`also_simplified`).
        object.__setattr__(self, "traditional_chars", _changed_by(chars, simplified, also_simplified()))
        object.__setattr__(self, "regional_chars", _changed_beyond(chars, simplified, self.regional))
        table = None
        if self.to_traditional_changes is not None:
            table = bmp_mask(self.to_traditional_changes)
            table[0xFFFF] = True
        object.__setattr__(self, "to_traditional_table", table)
        clause_tables = {
            name: _clause_table(self.clause_separators, changes)
            for name, changes in self.regional_changes.items()
            if self.clause_separators
        }
        object.__setattr__(self, "clause_tables", clause_tables)


@cache
def _opencc_tables() -> dict[str, object]:
    return tomllib.loads(
        resources.files("docclean").joinpath("rules", "opencc_tables.toml").read_text("utf-8")
    )


def opencc_changes(config: str, version: str) -> str | None:
    """Every character the OpenCC configuration `config` (e.g. "s2t") may change, in any
    context, for OpenCC `version` (the installed `opencc.__version__`); None when the table
    does not hold for that version or configuration.

    Table: docclean/rules/opencc_tables.toml, generated by tools/gen_opencc_tables.py from the
    dictionaries of the OpenCC wheel it names.
    """
    tables = _opencc_tables()
    changes = tables.get(config)
    if tables.get("opencc_version") != version or not isinstance(changes, dict):
        return None
    return "".join(changes["changes"])


def opencc_changes_beyond(config: str, base: str, version: str) -> str | None:
    """Every character whose presence in a clause (text between two `opencc_clause_separators`)
    may make the OpenCC configuration `config`'s (e.g. "tw2s") conversion of the clause differ
    from `base`'s ("t2s"), for OpenCC `version`; None when the table does not hold for that
    version or pair of configurations.

    Table: docclean/rules/opencc_tables.toml, generated by tools/gen_opencc_tables.py from the
    dictionaries of the OpenCC wheel it names: what `config`'s normalization and the stage it runs
    before `base`'s may change (the tool checks that `config` is `base` with such a stage first).
    """
    tables = _opencc_tables()
    beyond = tables.get(f"beyond_{base}")
    if tables.get("opencc_version") != version or not isinstance(beyond, dict):
        return None
    changes = beyond.get(config)
    return "".join(changes["changes"]) if isinstance(changes, dict) else None


def opencc_clause_separators(version: str) -> str:
    """Characters in no key of any dictionary of the OpenCC configurations that
    `opencc_changes_beyond` knows, nor of their bases, for OpenCC `version` (line breaks and
    full-width clause marks); "" when the table does not hold for that version.

    Table: docclean/rules/opencc_tables.toml (see `opencc_changes_beyond`).
    """
    tables = _opencc_tables()
    separators = tables.get("clause_separators")
    if tables.get("opencc_version") != version or not isinstance(separators, str):
        return ""
    return separators


# What a character is to the clauses of `regional_conversion` (`ScriptConverters.clause_tables`):
# inside a clause, a separator, a character the regional conversion may change, or one that makes
# OpenCC's units reach across separators: a NUL, at which a segmented configuration cuts its
# segment, and an ideographic description operator, whose operands may be any characters.
_IN_CLAUSE, _SEPARATOR, _REGIONAL, _UNSPLITTABLE = range(4)
_UNSPLITTABLE_CHARS = "\x00" + "".join(map(chr, range(0x2FF0, 0x3000))) + "\u31ef"


def _clause_table(separators: str, changes: str) -> np.ndarray:
    """`ScriptConverters.clause_tables` for one regional conversion (uint8, 65,536)."""
    table = np.full(0x10000, _IN_CLAUSE, np.uint8)
    table[bmp_mask(separators)] = _SEPARATOR
    table[bmp_mask(changes)] = _REGIONAL
    table[0xFFFF] = _REGIONAL
    table[bmp_mask(_UNSPLITTABLE_CHARS)] = _UNSPLITTABLE
    return table


def _changed_by(chars: list[str], converted: list[str] | None, leave_out: str = "") -> re.Pattern[str]:
    """A character class of the Han `chars` a conversion maps to something else when alone
    (`converted`: `_one_by_one` of them), but those in `leave_out`."""
    if converted is None:
        # A converter that merges or splits lines gives no per-character answer: then every Han
        # character is a candidate, and detect_script always asks the converter.
        return _SCRIPT_HAN_RUN
    changed = "".join(
        re.escape(char)
        for char, new in zip(chars, converted, strict=True)
        if char != new and char not in leave_out
    )
    return re.compile(f"[{changed}]") if changed else re.compile("(?!)")


def _changed_beyond(
    chars: list[str], simplified: list[str] | None, regional: tuple[tuple[str, Converter], ...]
) -> re.Pattern[str]:
    """A character class of the characters of the target's output (`simplified`: `_one_by_one`
    of the Han `chars`) that a regional conversion still changes when alone (著, 簷, 衞): a text
    without any needs no regional conversion."""
    if not regional:
        return re.compile("(?!)")
    outputs = [_one_by_one(convert, chars) for _, convert in regional]
    if simplified is None or any(output is None for output in outputs):
        return _SCRIPT_HAN_RUN
    changed = {
        new
        for output in outputs
        if output is not None
        for new, other in zip(simplified, output, strict=True)
        if new != other
    }
    return re.compile(f"[{''.join(map(re.escape, sorted(changed)))}]") if changed else re.compile("(?!)")


def _all_han() -> list[str]:
    return [chr(code) for first, last in _SCRIPT_HAN_RANGES for code in range(first, last + 1)]


def _one_by_one(convert: Converter, chars: list[str]) -> list[str] | None:
    """`convert` of each character alone (one call, a character a line, so that no two form a
    phrase: a few milliseconds, once per process), or None when the converter merges or splits lines."""
    converted = convert("\n".join(chars)).split("\n")
    return converted if len(converted) == len(chars) else None


def convert_regional(text: str, converted: str, converters: ScriptConverters) -> tuple[str, str | None]:
    """(text, name): the regional conversion of `text` that changes most of `converted` (the
    target's output), with its name, or (`converted`, None) when none changes anything.

    Taiwan writes 穿著, 屋簷 and Hong Kong 衞生 where OpenCC's own standard (t2s) expects 穿着,
    簷, 衛: t2s leaves those forms, tw2s or hk2s converts them. A document is one region's; the
    one whose conversion finds the most such forms is taken, as a whole. 著 that is zhù stays
    (`keep_zhu`), where tw2s knows the word too little.
    """
    if not converters.regional or converters.regional_chars.search(converted) is None:
        return converted, None
    best: tuple[int, str, str] | None = None
    for name, convert in converters.regional:
        candidate = keep_zhu(text, regional_conversion(text, converted, name, convert, converters))
        changed = _changed_chars(converted, candidate)
        if changed and (best is None or changed > best[0]):
            best = (changed, candidate, name)
    return (best[1], best[2]) if best else (converted, None)


def regional_conversion(
    text: str, converted: str, name: str, convert: Converter, converters: ScriptConverters
) -> str:
    """`convert(text)`, the regional conversion `name` of `text`, given `converted`, the
    target's conversion of `text`.

    With a clause table for `name` (`ScriptConverters.clause_tables`), `convert` runs only on the
    clauses that hold one of its `regional_changes`, in one call, joined by a separator; every
    other clause is taken from `converted`, where it sits at the same place (OpenCC's dictionaries
    keep the length). Exact by OpenCC's source, for the configurations that
    tools/gen_opencc_tables.py checks: a conversion only replaces dictionary keys, matched
    longest first left to right, and no key holds a separator, so a text converts as its clauses
    do one by one; and where the regional stage changes nothing, each of its segments comes out
    of the target's stage as that stretch of the whole clause does. Not taken for a text with a
    NUL or an ideographic description operator (`_UNSPLITTABLE_CHARS`).
    """
    table = converters.clause_tables.get(name)
    if table is None or len(converted) != len(text):
        return convert(text)
    kinds = table.take(np.minimum(code_points(text), 0xFFFF))
    if (kinds == _UNSPLITTABLE).any():
        return convert(text)
    separators = np.flatnonzero(kinds == _SEPARATOR)
    clauses = np.unique(np.searchsorted(separators, np.flatnonzero(kinds == _REGIONAL)))
    if not clauses.size:
        return converted
    starts = np.concatenate(([0], separators + 1))[clauses].tolist()
    ends = np.append(separators, len(text))[clauses].tolist()
    joint = converters.clause_separators[0]
    regional = convert(joint.join(text[start:end] for start, end in zip(starts, ends, strict=True)))
    parts: list[str] = []
    position = 0
    for start, end, clause in zip(starts, ends, regional.split(joint), strict=True):
        parts += (converted[position:start], clause)
        position = end
    parts.append(converted[position:])
    return "".join(parts)


# Page numbers a layout writes at a page's foot or head: `— 3 —`, `- 12 -`, `·5·`, `第3页`,
# `第 3 页 共 10 页`, `Page 3 of 10`. Anywhere in a document they are furniture; a bare number
# or `3/10` only next to a form feed, where it cannot be a paragraph of its own.
_PAGE_NUMBER = re.compile(
    r"(?:[-—–－─━~～]+\s*\d{1,4}\s*[-—–－─━~～]+"
    r"|[·•・∙]\s*\d{1,4}\s*[·•・∙]"
    r"|第\s*\d{1,4}\s*页(?:\s*[/，,、|]?\s*共\s*\d{1,4}\s*页)?"
    r"|共\s*\d{1,4}\s*页\s*[/，,、|]?\s*第\s*\d{1,4}\s*页"
    r"|[Pp](?:age|AGE)\s*\d{1,4}(?:\s*(?:of|OF|/)\s*\d{1,4})?)"
)
_PAGE_NUMBER_NEAR_BREAK = re.compile(r"\d{1,4}(?:\s*/\s*\d{1,4})?")
_PAGE_NUMBER_MAX_CHARS = 30
# How a page-number line opens (after its indentation): the prefilter of the furniture pass.
_PAGE_NUMBER_HINT = re.compile(
    "\n[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]*"
    r"(?:[-—–－─━~～]+\s*\d|[·•・∙]\s*\d|第\s*\d{1,4}\s*页|共\s*\d{1,4}\s*页|[Pp](?:age|AGE)\s*\d)"
)
# A running header or footer: a short line repeated at page edges at least this many times.
_RUNNING_LINE_MIN_COUNT = 3
_RUNNING_LINE_MAX_CHARS = 40


def remove_page_furniture(
    text: str, stands_alone: Callable[[str], bool] | None = None
) -> tuple[str, list[str]]:
    """Remove form feeds, page numbers and running headers/footers; rejoin split sentences.

    Runs before the hard wraps are rejoined, so that a sentence cut by a page break
    (`切实把责任\\n\\f— 3 —\\n扛在肩上`) is one line again and the page number is not glued
    into it. A page edge is a form feed or a page-number line; a bare number or `3/10` counts
    only right after or before a form feed. A line repeated at least 3 times, 40 characters
    at most, that always sits next to a page edge (blank lines aside; the document's first and
    last lines count when it has page edges) is a running header or footer. Across the removed
    furniture, the line before and the line after are joined when the one before does not end
    a sentence and the one after is neither indented nor an outline item, and the one before is
    not whole by its shape (`_complete_by_shape`) nor by `stands_alone` (the caller's word: the
    pipeline's is a line its noise rules remove whole, an ad at a page's foot, which joined to
    the paragraph after it would take that paragraph with it). Returns the text and the removed
    lines (a form feed counts as "\\f"). Text without a form feed or a page number comes back
    unchanged at the cost of a few substring tests.
    """
    if "\f" not in text and not _may_hold_a_page_number(text):
        return text, []
    lines: list[str] = []
    page_break_before: set[int] = set()
    for page_index, page in enumerate(text.split("\f")):
        if page_index:
            page_break_before.add(len(lines))
        lines.extend(page.split("\n"))
    stripped = [line.strip(_EDGE_SPACE) for line in lines]
    furniture = [
        bool(line) and len(line) <= _PAGE_NUMBER_MAX_CHARS and _PAGE_NUMBER.fullmatch(line) is not None
        for line in stripped
    ]
    # The nonblank lines on either side of each form feed, then of each page-number line.
    at_break = _edge_neighbours(stripped, furniture, sorted(page_break_before))
    for index in at_break:
        if _PAGE_NUMBER_NEAR_BREAK.fullmatch(stripped[index]):
            furniture[index] = True
    edges = sorted(
        page_break_before
        | {i for i, gone in enumerate(furniture) if gone}
        | {i + 1 for i, gone in enumerate(furniture) if gone}
    )
    if not edges:
        return text, []
    neighbours = _edge_neighbours(stripped, furniture, edges)
    nonblank = [index for index, line in enumerate(stripped) if line and not furniture[index]]
    if nonblank:
        neighbours |= {nonblank[0], nonblank[-1]}
    at_edges = Counter(stripped[i] for i in neighbours if len(stripped[i]) <= _RUNNING_LINE_MAX_CHARS)
    running = {line for line, count in at_edges.items() if count >= _RUNNING_LINE_MIN_COUNT}
    if running:
        everywhere = Counter(line for line in stripped if line in running)
        running = {line for line in running if everywhere[line] == at_edges[line]}
        for index in neighbours:
            if stripped[index] in running:
                furniture[index] = True
    removed = ["\f"] * len(page_break_before) + [
        line for line, gone in zip(stripped, furniture, strict=True) if gone
    ]
    if not removed:
        return text, []
    kept: list[str] = []
    # Whether furniture (or a page break) lies between the last kept line and the next one.
    after_furniture = False
    for index, line in enumerate(lines):
        if index in page_break_before:
            after_furniture = True
        if furniture[index]:
            after_furniture = True
            continue
        if not stripped[index]:
            if not after_furniture:
                kept.append(line)
            continue
        if after_furniture and kept and _continues_across_page(kept, line, stands_alone):
            while not kept[-1].strip(_EDGE_SPACE):
                kept.pop()
            kept[-1] = joined(kept[-1].rstrip(_EDGE_SPACE), line.strip(_EDGE_SPACE))
        else:
            kept.append(line)
        after_furniture = False
    return "\n".join(kept), removed


def _may_hold_a_page_number(text: str) -> bool:
    """Whether some line of `text` opens like a page number; one search from each line break."""
    return _PAGE_NUMBER_HINT.search(text) is not None or _PAGE_NUMBER_HINT.match("\n" + text[:40]) is not None


def _edge_neighbours(stripped: list[str], furniture: list[bool], edges: list[int]) -> set[int]:
    """The nearest nonblank, non-furniture line on each side of each edge (an edge before line i)."""
    found: set[int] = set()
    for edge in edges:
        before = edge - 1
        while before >= 0 and (not stripped[before] or furniture[before]):
            before -= 1
        if before >= 0:
            found.add(before)
        after = edge
        while after < len(stripped) and (not stripped[after] or furniture[after]):
            after += 1
        if after < len(stripped):
            found.add(after)
    return found


def _continues_across_page(kept: list[str], line: str, stands_alone: Callable[[str], bool] | None) -> bool:
    """Whether `line`, after a page edge, continues the last line kept before it: that line ends
    no sentence and is no line complete by its shape (`_complete_by_shape`: a date, a signature,
    a verse, a salutation) nor one that `stands_alone`, and `line` opens no attachment (附件：)."""
    nonblank = [earlier.strip(_EDGE_SPACE) for earlier in kept[-4:] if earlier.strip(_EDGE_SPACE)]
    previous = nonblank[-1] if nonblank else ""
    if not previous or _ends_sentence(previous) or _OUTLINE_START.match(previous):
        return False
    if _complete_by_shape(previous, nonblank[-2] if len(nonblank) > 1 else "") or line.startswith("附件"):
        return False
    if stands_alone is not None and stands_alone(previous):
        return False
    if line[:1] in _EDGE_SPACE:
        return False
    return not _OUTLINE_START.match(line)


def _complete_by_shape(line: str, before: str) -> bool:
    """Whether `line`, the last before a page edge, is whole without a full stop: a date (2023年7月
    10日, 二〇二三年七月十日), a salutation (各位领导、同志们: forms of address of
    docclean/rules/structure.toml), a name signed under a closing sentence (张三), or a verse as
    long as the one before it (处处闻啼鸟 under 春眠不觉晓)."""
    if DATE_LINE.fullmatch(line) or STRUCTURE_TABLES.salutation.match(line):
        return True
    if len(line) <= _SIGNATURE_MAX_CHARS and _ends_sentence(before):
        return True
    return len(line) <= _VERSE_MAX_CHARS and len(line) == len(before) and not _ends_sentence(before)


_SIGNATURE_MAX_CHARS = 4
_VERSE_MAX_CHARS = 9


def unify_line_endings(text: str) -> tuple[str, int]:
    if not any(char in text for char in _LINE_BREAK_CHARS):
        return text, 0
    return _LINE_BREAKS.subn("\n", text)


@dataclass(frozen=True, slots=True)
class UnicodeTables:
    """docclean/rules/ucd_tables.toml, and the patterns normalize compiles from it.

    The table is generated by tools/gen_ucd_tables.py from the Unicode Character Database
    (EquivalentUnifiedIdeograph.txt, UnicodeData.txt, StandardizedVariants.txt,
    DerivedCoreProperties.txt).
    """

    # Look-alike ideograph (radical, compatibility ideograph) -> unified ideograph, code points.
    folds: Mapping[int, int]
    # Variation sequences (base + selector) whose selector stays.
    standardized_variants: frozenset[str]
    # The fold sources as a class of ranges: a class of 1,330 single characters is 30x slower.
    look_alike: re.Pattern[str]
    # Unicode's Default_Ignorable_Code_Point set and the C0/C1 controls: the BMP part, and all.
    # With astral ranges in a class `re` searches 3x slower, so the BMP class is searched first
    # and the whole one only in text with astral characters.
    invisible_bmp: re.Pattern[str]
    invisible: re.Pattern[str]
    # Any BMP character that `remove_invisible`, `fold_fullwidth_alnum` or
    # `fold_look_alike_ideographs` changes, as one class: one scan instead of three.
    rare_chars: re.Pattern[str]

    @classmethod
    def load(cls) -> UnicodeTables:
        raw = tomllib.loads(
            resources.files("docclean").joinpath("rules", "ucd_tables.toml").read_text("utf-8")
        )
        folds = {int(source, 16): int(target, 16) for source, target in raw["fold"].items()}
        variants = frozenset(
            "".join(chr(int(code, 16)) for code in sequence.split())
            for sequence in raw["standardized_variants"]
        )
        ranges: list[list[int]] = []
        for code in sorted(folds):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
        look_alike = re.compile(
            "[" + "".join(f"{re.escape(chr(first))}-{re.escape(chr(last))}" for first, last in ranges) + "]"
        )
        bmp: list[str] = []
        astral: list[str] = []
        for code_range in raw["default_ignorable"]:
            first, _, last = code_range.partition("..")
            item = re.escape(chr(int(first, 16))) + (f"-{re.escape(chr(int(last, 16)))}" if last else "")
            (bmp if int(first, 16) < 0x10000 else astral).append(item)
        invisible_bmp = f"{_CONTROLS}{''.join(bmp)}"
        return cls(
            folds=folds,
            standardized_variants=variants,
            look_alike=look_alike,
            invisible_bmp=re.compile(f"[{invisible_bmp}]"),
            invisible=re.compile(f"[{invisible_bmp}{''.join(astral)}]"),
            rare_chars=re.compile(
                f"[{invisible_bmp}\u2e80-\u2fdf\uf900-\ufaff\uff0e\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"
            ),
        )


# Read once, when the module is imported.
_UNICODE = UnicodeTables.load()

# The BMP blocks the folds come from (CJK radicals, compatibility ideographs): a three-range
# class finds nothing in most text faster than the exact one.
_LOOK_ALIKE_BLOCKS = re.compile("[\u2e80-\u2fdf\uf900-\ufaff]")


def fold_look_alike_ideographs(text: str) -> tuple[str, int, str]:
    """Fold CJK radicals and compatibility ideographs to the unified ideograph they stand for.

    PDF text layers write `⼈` (Kangxi radical U+2F08) for 人 and `⺠` (U+2EA0) for 民; search,
    titles and outline markers (`⼆、`) need the unified ideograph. Returns the text, the number
    of characters folded and the distinct source characters (in order of appearance). Table:
    docclean/rules/ucd_tables.toml, from Unicode's EquivalentUnifiedIdeograph.txt and the
    canonical decompositions of the CJK Compatibility Ideographs.
    """
    if _LOOK_ALIKE_BLOCKS.search(text) is None and not _may_hold_astral(text):
        return text, 0, ""
    found = _UNICODE.look_alike.findall(text)
    if not found:
        return text, 0, ""
    return text.translate(_UNICODE.folds), len(found), "".join(dict.fromkeys(found))


def _may_hold_astral(text: str) -> bool:
    """False only when `text` has no character beyond the BMP; O(1).

    CPython stores a str with 4 bytes a character only when it holds an astral character,
    and `sys.getsizeof` reports the storage: a regex scan for astral characters costs 30 ms/MB.
    A BMP string with a cached UTF-8 copy can look as big: that only costs the exact scan.
    """
    return sys.getsizeof(text) >= 4 * (len(text) + 1)


_ZWJ = "\u200d"
_EMOJI_MODIFIERS = "\ufe0f\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff"
_EXTENDED_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")
_IDEOGRAPHIC_VARIATION_SELECTORS = ("\U000e0100", "\U000e01ef")
_TAGS = ("\U000e0020", "\U000e007f")
_BLACK_FLAG = "\U0001f3f4"


def _is_meaningful(text: str, position: int) -> bool:
    """Whether the ignorable character at `position` belongs to a sequence that needs it.

    Kept: a ZWJ joining two emoji (👨‍👩‍👧), a variation selector after an emoji or a keycap
    base (❤️, 1️⃣), a standardized variation sequence (Unicode's StandardizedVariants.txt),
    an ideographic variation selector (U+E0100-E01EF) after a Han character, and the tag
    characters of an emoji flag (🏴 + tags). Everything else default-ignorable is removed,
    so that it cannot split a word a noise rule looks for (`加\u115f微\u115f信`).
    """
    char = text[position]
    before = text[position - 1] if position else ""
    if char == _ZWJ:
        # The emoji before the joiner may carry a presentation selector or a skin tone.
        base = before
        if base and base in _EMOJI_MODIFIERS and position > 1:
            base = text[position - 2]
        after = text[position + 1 : position + 2]
        return bool(
            base and after and _EXTENDED_PICTOGRAPHIC.match(base) and _EXTENDED_PICTOGRAPHIC.match(after)
        )
    if "\ufe00" <= char <= "\ufe0f":
        if (
            char in "\ufe0e\ufe0f"
            and before
            and (_EXTENDED_PICTOGRAPHIC.match(before) or text[position + 1 : position + 2] == "\u20e3")
        ):
            return True
        return before + char in _UNICODE.standardized_variants
    if _IDEOGRAPHIC_VARIATION_SELECTORS[0] <= char <= _IDEOGRAPHIC_VARIATION_SELECTORS[1]:
        return is_han(before)
    if _TAGS[0] <= char <= _TAGS[1]:
        start = position
        while start and _TAGS[0] <= text[start - 1] <= _TAGS[1]:
            start -= 1
        return start > 0 and text[start - 1] == _BLACK_FLAG
    return False


def remove_invisible(text: str) -> tuple[str, str]:
    """Delete default-ignorable and control characters; return them so they stay on record.

    Sequences that need their ignorable character (emoji ZWJ sequences, variation sequences,
    emoji flag tags; see `_is_meaningful`) keep it.
    """
    bmp, invisible = _UNICODE.invisible_bmp, _UNICODE.invisible
    if bmp.search(text) is None and (not _may_hold_astral(text) or invisible.search(text) is None):
        return text, ""
    parts: list[str] = []
    removed: list[str] = []
    position = 0
    for match in invisible.finditer(text):
        if _is_meaningful(text, match.start()):
            continue
        parts.append(text[position : match.start()])
        removed.append(match.group())
        position = match.end()
    if not removed:
        return text, ""
    parts.append(text[position:])
    return "".join(parts), "".join(removed)


# A character reference with its semicolon: `&mdash;` `&#8212;` `&#x3001;`. Without the
# semicolon (`&copy` in `?a=1&copy=2`) it is left alone, although html.unescape would decode it.
_CHARACTER_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_HTML_BODY = re.compile(r"<(?:body|head|/html)[\s>]", re.IGNORECASE)


def decode_character_references(text: str) -> tuple[str, int]:
    """Decode the HTML character references a page saved as text keeps (`&rsquo;` -> ’).

    Only complete references (with their semicolon) that HTML5 defines are decoded; an unknown
    name stays as written.
    """
    if "&" not in text:
        return text, 0
    count = 0

    def decode(match: re.Match[str]) -> str:
        nonlocal count
        decoded = html.unescape(match.group())
        if decoded == match.group():
            return decoded
        count += 1
        return decoded

    return _CHARACTER_REFERENCE.sub(decode, text), count


def is_html_page(text: str) -> bool:
    """Whether the text is a whole HTML page: it starts as the extraction stage's sniffer says a
    page does (`extract.html.starts_like_page`: comments and a doctype, then a page's tag), and
    has a head or body. Pages the sniffer takes are extracted before they get here; this marks
    the ones it left as text (markup that closes no element)."""
    # Imported here: the extraction package imports the decode stage, which normalizing a text
    # does not otherwise need.
    from docclean.extract.html import starts_like_page

    return starts_like_page(text) and _HTML_BODY.search(text) is not None


def fold_fullwidth_alnum(text: str) -> tuple[str, int]:
    """Full-width ASCII letters and digits to half-width (`２０２３` -> `2023`), and the full-width
    full stop between two digits, a decimal point (`５．２` -> `5.2`); count the characters folded.

    Chinese punctuation stays full-width, `％` after a number too: it is how Chinese writes a
    percentage. A `．` between digits is no Chinese punctuation (that is `。`): left, `5．2` is a
    number no search for `5.2` finds.
    """
    text, letters = _FULLWIDTH_ALNUM.subn(lambda m: chr(ord(m.group()) - 0xFEE0), text)
    if "．" not in text:
        return text, letters
    text, points = _DECIMAL_POINT.subn(".", text)
    return text, letters + points


def widen_punctuation_in_chinese(text: str) -> tuple[str, int]:
    """Widen `, . ; : ? ! ( )` written half-width inside Chinese text; count the marks widened.

    `召开了“务虚会”,研究了《方案》.` -> `召开了“务虚会”，研究了《方案》。`; the dot of an outline marker
    opening a line with a Chinese numeral to `．` (`一.充分认识` -> `一．充分认识`). A mark is widened only
    between Chinese neighbours (Han, full-width punctuation, quotes, brackets) or after one at
    the end of a line, and `, ; ? !` between Han and a Latin word or a number; never inside a
    URL. See `_SEPARATOR_IN_CHINESE` and `_SEPARATOR_BESIDE_CHINESE` for what stays.
    """
    if not any(char in text for char in ",.;:?!("):
        return text, 0
    addresses = _address_spans(text)
    pairs = separators = 0

    def widen_pair(match: re.Match[str]) -> str:
        nonlocal pairs
        if _inside(addresses, match.start()):
            return match.group()
        pairs += 1
        return f"（{match.group(1)}）"

    def widen(match: re.Match[str]) -> str:
        nonlocal separators
        if _inside(addresses, match.start()):
            return match.group()
        if match.group() == "." and not _BEFORE_FULL_STOP.match(text, match.start() - 1):
            return match.group()
        separators += 1
        if match.group() == "." and match.end() in marker_dots:
            return "．"
        return _HALFWIDTH_PUNCT[match.group()]

    if "(" in text:
        text = _PAREN_IN_CHINESE.sub(widen_pair, text)
        if pairs:
            addresses = _address_spans(text)
    if _MARK_NEAR_CHINESE.search(text) is None:
        return text, pairs * 2
    marker_dots = {match.end() for match in _NUMERAL_MARKER_DOT.finditer(text)} if "." in text else set()
    text = _SEPARATOR_IN_CHINESE.sub(widen, text)
    text = _SEPARATOR_BESIDE_CHINESE.sub(widen, text)
    return text, pairs * 2 + separators


def _address_spans(text: str) -> list[tuple[int, int]]:
    if "://" not in text and "www." not in text:
        return []
    return [match.span() for match in _ADDRESS.finditer(text)]


def _inside(spans: list[tuple[int, int]], position: int) -> bool:
    index = bisect.bisect_right(spans, (position, sys.maxsize)) - 1
    return index >= 0 and spans[index][0] <= position < spans[index][1]


# Spaces (ASCII, no-break, thin; not the ideographic space a writer types on purpose) between
# two Han characters: a PDF text layer spaces the letters out (`推 进 乡村振 兴 工作`).
_INNER_SPACE = " \u00a0\u2002-\u200a\u202f"
_OPENING_FULLWIDTH = "，。、；：？！（「『【《“‘"
_CLOSING_FULLWIDTH = "，。、；：？！）」』】》”’"
_SPACE_BETWEEN_HAN = re.compile(f"[{_INNER_SPACE}](?<=[{_HAN}].)[{_INNER_SPACE}]*(?=[{_HAN}])")
_SPACE_BEFORE_CLOSING = re.compile(
    f"[{_INNER_SPACE}](?<=[{_HAN}].)[{_INNER_SPACE}]*(?=[{_CLOSING_FULLWIDTH}])"
    f"|[{_INNER_SPACE}](?<=[{_OPENING_FULLWIDTH}].)[{_INNER_SPACE}]*(?=[{_HAN}])"
)
# Where either pattern above matches, as one branch that opens with the space: `re` then skips
# ahead at C speed, where an alternation of two patterns costs a slow scan per branch.
_SPACE_NEAR_HAN_BODY = (
    f"(?:(?<=[{_HAN}].)[{_INNER_SPACE}]*(?=[{_HAN}{_CLOSING_FULLWIDTH}])"
    f"|(?<=[{_OPENING_FULLWIDTH}].)[{_INNER_SPACE}]*(?=[{_HAN}]))"
)
_SPACE_NEAR_HAN = re.compile(f"[{_INNER_SPACE}]{_SPACE_NEAR_HAN_BODY}")
# What either fix looks for first, in one scan: a space near Han (`_SPACE_NEAR_HAN`), a
# half-width mark near Chinese (`_MARK_NEAR_CHINESE`) or a parenthesis. Most text holds none,
# and then `remove_spaces_between_han` and `widen_punctuation_in_chinese` change nothing. One
# class opens it, and a lookbehind tells which character it took, for the speed said above.
_SPACING_CANDIDATE = re.compile(
    f"[,.;:?!({_INNER_SPACE}](?:(?<=\\()|(?<=[,.;:?!]){_MARK_NEAR_CHINESE_BODY}"
    f"|(?<=[{_INNER_SPACE}]){_SPACE_NEAR_HAN_BODY})"
)
# A line spaced out this often is letter-spaced throughout, not two phrases set apart.
_LETTER_SPACED_GAPS = 3


def remove_spaces_between_han(text: str) -> tuple[str, int]:
    """Delete the spaces a PDF copy puts between Han characters; count the gaps closed.

    A gap between two Han characters closes when a single Han character stands on one side of
    it (`推 进`, `振 兴`) or when its line has at least three such gaps, most of them beside a
    single character (letter-spaced throughout: `推 进 乡村 振 兴`). A gap between two words
    (`仅供学习 禁止外传`, a list of names, `张三 李四 王五` too, a table's header, verses on one line)
    is a phrase separator and stays; so does the ideographic space, and any space next to a Latin
    letter or a digit (`1 000`, `GDP 增长`). A space between Han and closing punctuation (`工作 。`), or between
    full-width punctuation and the Han after it (`振兴， 加快`, `“ 两会”`), goes too.

    Only the lines where `_SPACE_NEAR_HAN` finds a space are rebuilt: neither pattern reaches
    across a line break, so every other line is one that `reference_remove_spaces_between_han`
    leaves as it is. The pieces are held a chunk of lines at a time (`line_chunks`).
    """
    closed = 0
    pieces: list[str] = []
    for chunk in line_chunks(text):
        chunk, gaps = _close_gaps_near_han(chunk)
        pieces.append(chunk)
        closed += gaps
    return ("\n".join(pieces), closed) if closed else (text, 0)


def _close_gaps_near_han(chunk: str) -> tuple[str, int]:
    """`chunk` with the gaps of its lines holding a `_SPACE_NEAR_HAN` closed, and how many."""
    pieces: list[str] = []
    closed = 0
    position = 0  # where the text not yet copied to `pieces` starts
    for match in _SPACE_NEAR_HAN.finditer(chunk):
        if match.start() < position:
            continue  # a later space of a line already rebuilt
        start = chunk.rfind("\n", 0, match.start()) + 1
        end = chunk.find("\n", match.end())
        end = len(chunk) if end < 0 else end
        line, gaps = _close_gaps(chunk[start:end])
        if gaps:
            pieces += (chunk[position:start], line)
            closed += gaps
        else:
            pieces.append(chunk[position:end])
        position = end
    if not closed:
        return chunk, 0
    pieces.append(chunk[position:])
    return "".join(pieces), closed


def reference_remove_spaces_between_han(text: str) -> tuple[str, int]:
    """What `remove_spaces_between_han` returns, line by line over every line of `text`."""
    closed = 0
    # The lines are held a chunk at a time (`line_chunks`), never a list of them all.
    pieces: list[str] = []
    for chunk in line_chunks(text):
        lines = chunk.split("\n")
        for index, line in enumerate(lines):
            lines[index], gaps = _close_gaps(line)
            closed += gaps
        pieces.append("\n".join(lines))
    return ("\n".join(pieces), closed) if closed else (text, 0)


def _close_gaps(line: str) -> tuple[str, int]:
    """One line with its gaps closed (see `remove_spaces_between_han`), and how many closed."""
    gaps = list(_SPACE_BETWEEN_HAN.finditer(line))
    if not gaps and not _SPACE_BEFORE_CLOSING.search(line):
        return line, 0
    # A Han character stands alone beside a gap when no letter or digit touches its other side
    # (`推 进`; not the 票 of `45票 反对`).
    singles = [
        (start < 2 or not line[start - 2].isalnum(), end + 1 >= len(line) or not line[end + 1].isalnum())
        for start, end in (gap.span() for gap in gaps)
    ]
    # Letter-spaced throughout: many gaps, most of them beside a character standing alone. Words
    # spaced apart, however short, are a list of names (`张三 李四 王五`), a table's header (`序号 姓名
    # 性别 职务`) or verses on one line, whose spaces say where each word ends.
    spaced_out = len(gaps) >= _LETTER_SPACED_GAPS and sum(map(any, singles)) * 2 > len(gaps)
    parts: list[str] = []
    closed = 0
    position = 0
    for gap, (single_before, single_after) in zip(gaps, singles, strict=True):
        start, end = gap.span()
        if spaced_out or single_before or single_after:
            parts.append(line[position:start])
            position = end
            closed += 1
    parts.append(line[position:])
    line, before_closing = _SPACE_BEFORE_CLOSING.subn("", "".join(parts))
    return line, closed + before_closing


_CLOSING_PUNCT = "。，、；：？！）」』】》”’"
_LINE_OPENING_WITH_CLOSING = re.compile(f"\n(?=[{_CLOSING_PUNCT}])")


def rejoin_orphan_punctuation(text: str) -> tuple[str, int]:
    """Join a line that opens with closing punctuation (`。`, `）`, `”`) to the line before it.

    PDF extraction pushes the full stop that ended a line onto a line of its own; no line of
    Chinese text starts with closing punctuation.
    """
    return _LINE_OPENING_WITH_CLOSING.subn("", text)


def simplified_twin(text: str, converters: ScriptConverters) -> str | None:
    """`text` in Simplified script character for character (`to_simplified`, OpenCC t2s), so that
    what is written in Simplified (the noise rules) can be matched in a text whose Traditional
    script is kept, at the same offsets; None when t2s does not map it one character for one (a
    phrase converted to another length, a change to anything but a Han character) or changes nothing."""
    twin = converters.to_simplified(text)
    if twin == text or len(twin) != len(text):
        return None
    original, converted = code_points(text), code_points(twin)
    changed = original != converted
    han = han_table()
    if not (han[original[changed]].all() and han[converted[changed]].all()):
        return None
    return twin


def detect_script(text: str, converters: ScriptConverters) -> str:
    """Hans, Hant, mixed, or none, judged against opencc itself rather than a character list."""
    return _detect_script(text, converters)[0]


def _detect_script(text: str, converters: ScriptConverters) -> tuple[str, str | None]:
    """The script, and the sample converted by `to_simplified` when detection needed it."""
    sample = text[:_SCRIPT_SAMPLE_CHARS]
    if not _SCRIPT_HAN_RUN.search(sample):
        return "none", None
    if not converters.traditional_chars.search(sample):
        # No character that t2s converts on its own: most Simplified documents end here, without
        # converting anything. A phrase can only keep such characters (乾隆), not convert others.
        return "Hans", None
    as_simplified = converters.to_simplified(sample)
    chars = code_points(sample)
    in_bmp = np.minimum(chars, 0xFFFF)
    han = int(np.count_nonzero(_SCRIPT_HAN_TABLE.take(in_bmp)))
    # A character is Simplified evidence only if t2s leaves it alone: a Taiwan-standard form
    # such as 為 is changed by s2t too (to opencc's 爲), yet it is Traditional.
    changed_by_t2s = chars != code_points(as_simplified) if len(as_simplified) == len(sample) else None
    # Standard Simplified characters that t2s converts anyway (乾) are no evidence of either script.
    also = _also_simplified_table().take(in_bmp)
    traditional = (
        int(np.count_nonzero(changed_by_t2s & ~also))
        if changed_by_t2s is not None
        else max(0, _changed_chars(sample, as_simplified) - int(np.count_nonzero(also)))
    )
    # s2t can change no character outside its table, so the table's characters bound the
    # Simplified evidence from above: when the bound itself leaves the text Traditional, the
    # evidence does too, and s2t need not run.
    table = converters.to_traditional_table
    if (
        table is not None
        and _script_from_evidence(han, traditional, int(np.count_nonzero(table.take(in_bmp)))) == "Hant"
    ):
        return "Hant", as_simplified
    as_traditional = converters.to_traditional(sample)
    if changed_by_t2s is None or len(as_traditional) != len(sample):
        simplified = _changed_chars(sample, as_traditional)
    else:
        simplified = int(np.count_nonzero((chars != code_points(as_traditional)) & ~changed_by_t2s))
    return _script_from_evidence(han, traditional, simplified), as_simplified


def _script_from_evidence(han: int, traditional: int, simplified: int) -> str:
    """Hant, Hans or mixed, from the counts of Han characters and of each script's evidence."""
    # Each script's evidence must also be a fair share of the other's: opencc maps some shared
    # characters one-to-many (群 -> 羣, 核 -> 覈), which sprinkles a little false evidence.
    has_traditional = traditional > max(han * _STRAY_SHARE, simplified * _MINOR_SCRIPT_SHARE)
    has_simplified = simplified > max(han * _STRAY_SHARE, traditional * _MINOR_SCRIPT_SHARE)
    if has_traditional and has_simplified:
        return "mixed"
    return "Hant" if has_traditional else "Hans"


def reference_detect_script(text: str, converters: ScriptConverters) -> str:
    """What `detect_script` returns, as a plain loop over opencc's conversions of the same sample.

    The specification of `detect_script`, kept beside it: every character of the sample is
    compared in Python, where the fast code skips Simplified text without converting it and
    counts with Arrow. A character is Traditional evidence when `to_simplified` changes it and
    it is no standard Simplified character too (`also_simplified`), Simplified evidence when `to_traditional` changes it and `to_simplified` does not; a script
    is present when its evidence exceeds `_STRAY_SHARE` of the Han characters and
    `_MINOR_SCRIPT_SHARE` of the other script's evidence.
    """
    sample = text[:_SCRIPT_SAMPLE_CHARS]
    han = sum(any(first <= ord(char) <= last for first, last in _SCRIPT_HAN_RANGES) for char in sample)
    if not han:
        return "none"
    simple, trad = converters.to_simplified(sample), converters.to_traditional(sample)
    also = also_simplified()
    if len(simple) != len(sample) or len(trad) != len(sample):
        traditional = sum(a != b for a, b in zip(sample, simple, strict=False)) + abs(
            len(sample) - len(simple)
        )
        traditional = max(0, traditional - sum(char in also for char in sample))
        simplified = sum(a != b for a, b in zip(sample, trad, strict=False)) + abs(len(sample) - len(trad))
    else:
        traditional = sum(c != s and c not in also for c, s in zip(sample, simple, strict=True))
        simplified = sum(c == s and c != t for c, s, t in zip(sample, simple, trad, strict=True))
    has_traditional = traditional > max(han * _STRAY_SHARE, simplified * _MINOR_SCRIPT_SHARE)
    has_simplified = simplified > max(han * _STRAY_SHARE, traditional * _MINOR_SCRIPT_SHARE)
    if has_traditional and has_simplified:
        return "mixed"
    return "Hant" if has_traditional else "Hans"


def _changed_chars(before: str, after: str) -> int:
    if len(before) == len(after):
        return int(np.count_nonzero(code_points(before) != code_points(after)))
    return sum(map(operator.ne, before, after)) + abs(len(before) - len(after))


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


def rejoin_wrapped_lines(text: str, stands_alone: Callable[[str], bool] | None = None) -> tuple[str, int]:
    """Join lines that a PDF copy hard-wrapped at a fixed width back into paragraphs.

    A document counts as hard-wrapped when many of its lines share one display width (the
    wrap width). Within a run of non-empty lines, a line that reaches the wrap width and does
    not end a sentence continues on the next line, unless the next line is indented or opens
    an outline item, or is short and ends no sentence or follows a heading's first line, and
    `stands_alone` (the caller's word: the pipeline's is a line its noise rules remove whole, an
    ad under a paragraph or a heading, which joined to it would take it along, or be left in
    it). Documents without a common width (paragraph-per-line text) are untouched.
    """
    if text.count("\n") + 1 < _WRAP_MIN_LINES:
        return text, 0
    # The non-blank lines by display width, and those of them that end a sentence: two passes
    # over the text a chunk at a time, so no list of every line is ever held.
    width = _wrap_width(_nonblank_widths(text), lambda: _sentence_ends_by_width(text))
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
            if (
                previous is not None
                and _continues(*previous, line, width)
                and not (
                    stands_alone is not None
                    # Asked of the lines an ad is: a short one under a paragraph, or one under a
                    # heading (the paragraph's own lines are many, and asking costs a noise pass).
                    and (
                        (head_width < width - _WRAP_TOLERANCE and not _ends_sentence(head))
                        or (len(paragraph) == 1 and _OUTLINE_START.match(paragraph[0].strip()) is not None)
                    )
                    and stands_alone(head.strip())
                )
            ):
                paragraph[-1] = paragraph[-1].rstrip()
                tail = line.strip()
                paragraph.append(line_joint(previous[0], tail) + tail)
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
_NO_LINES = (0,) * (_WRAP_TOLERANCE + 1)  # a window's defaults, one per width
# Narrower "wraps" are lists and headings, not a page width.
_WRAP_MIN_WIDTH = 20


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# East Asian Widths that take two columns of a Chinese page: W and F, and A (ambiguous), which
# Chinese type sets full-width: “ ” ‘ ’ … — · ① ℃. Counted as one column, a line holding “” fell
# short of the wrap width and its paragraph stayed cut.
_TWO_COLUMNS = "WFA"


@cache
def _bmp_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each BMP code point: 1 when it takes two columns (East Asian Width W, F or A:
    `_TWO_COLUMNS`; uint8), and whether `str.rstrip` strips it (bool), both from the running
    Python's Unicode data.

    Looked up with `ndarray.take`, like every table here: indexing with an array of uint16 or
    uint32 code points costs about three times as much."""
    chars = [chr(code) for code in range(0x10000)]
    wide = np.fromiter(
        (unicodedata.east_asian_width(char) in _TWO_COLUMNS for char in chars), np.uint8, len(chars)
    )
    space = np.fromiter(map(str.isspace, chars), bool, len(chars))
    return wide, space


@cache
def _wide_bmp_run() -> re.Pattern[str]:
    """Runs of BMP characters that take two columns (`_TWO_COLUMNS`), built from unicodedata itself.

    Only the BMP: with astral ranges in the class `re` tests its 700 ranges one by one; the
    rare wide astral characters are counted apart.
    """
    wide = np.concatenate(([0], _bmp_tables()[0], [0]))
    edges = np.flatnonzero(np.diff(wide)).tolist()
    ranges = (
        f"{re.escape(chr(first))}-{re.escape(chr(end - 1))}"
        for first, end in zip(edges[::2], edges[1::2], strict=True)
    )
    return re.compile(f"[{''.join(ranges)}]+")


def _nonblank_widths(text: str) -> Counter[int]:
    """What `reference_nonblank_widths` counts, with numpy over each chunk's UTF-16 code units.

    Taken only where it is exact, else the reference runs: no character beyond the BMP (then a
    code unit is a character) and no line ending in whitespace (then a line is its own head).
    """
    if _may_hold_astral(text):
        return reference_nonblank_widths(text)
    wide, space = _bmp_tables()
    widths: Counter[int] = Counter()
    for chunk in line_chunks(text):
        # A lone surrogate passes as the code unit it is: narrow, as the reference counts it.
        units = np.frombuffer(chunk.encode("utf-16-le", "surrogatepass"), dtype=np.uint16)
        breaks = np.flatnonzero(units == 0x0A)
        starts = np.concatenate(([0], breaks + 1))
        ends = np.append(breaks, units.size)
        nonempty = ends > starts
        starts, ends = starts[nonempty], ends[nonempty]
        if space.take(units.take(ends - 1)).any():
            return reference_nonblank_widths(text)
        if starts.size:
            # One more column for each wide character: summed from a line's start to the next
            # line's, which adds only the narrow breaks and blank lines between them.
            widths.update((ends - starts + np.add.reduceat(wide.take(units), starts, dtype=np.intp)).tolist())
    return widths


def reference_nonblank_widths(text: str) -> Counter[int]:
    """The display widths of the non-blank lines without their trailing space (`_display_widths`),
    counted in the order first seen."""
    widths: Counter[int] = Counter()
    for heads, head_widths in _heads_and_widths(text):
        # Counted at C speed.
        widths.update(compress(head_widths, heads))
    return widths


def _display_widths(lines: list[str]) -> list[int]:
    """Columns each line takes: 2 for each W, F or A character (East Asian Width: `_TWO_COLUMNS`),
    1 for any other.

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
            widths[index] += sum(
                unicodedata.east_asian_width(char) in _TWO_COLUMNS for char in _ASTRAL.findall(line)
            )
    return widths


def _sentence_ends_by_width(text: str) -> Counter[int]:
    """The lines that end a sentence, counted by display width."""
    ending: Counter[int] = Counter()
    for heads, head_widths in _heads_and_widths(text):
        # An empty line never ends a sentence, so `ending` needs no filter.
        ending.update(compress(head_widths, map(_ends_sentence, heads)))
    return ending


def _wrap_width(widths: Counter[int], sentence_ends: Callable[[], Counter[int]]) -> int | None:
    """The wrap width, from the non-blank lines counted by display width (in the order first
    seen) and those of them that end a sentence (`sentence_ends`, counted only for a document
    whose widths may make a wrap: most do not); None when the document is not hard-wrapped.
    """
    # Whitespace-only lines strip to "" (width 0), below any wrap width: leaving them out
    # leaves `near` below unchanged.
    nonblank = widths.total()
    if nonblank < _WRAP_MIN_LINES:
        return None
    counts = {w: count for w, count in widths.items() if w >= _WRAP_MIN_WIDTH}
    if not counts:
        return None
    # The share is of the lines that could be wrapped text: half the width at least (a list of
    # names, a signature and a date under a wrapped paragraph are neither for nor against).
    longest = max(counts)
    needed = max(_WRAP_MIN_LINES, sum(c for w, c in widths.items() if w * 2 >= longest) * _WRAP_MIN_SHARE)
    if max(counts.values()) * (_WRAP_TOLERANCE + 1) < needed:
        # No window of widths can hold enough lines: most paragraph-per-line documents end here.
        return None

    def window(counted: Mapping[int, int], top: int) -> int:
        return sum(map(counted.get, range(top - _WRAP_TOLERANCE, top + 1), _NO_LINES))

    # The first of the widest windows, in the order the widths were first seen, as `max` takes
    # it; only the widths present are tried (a paragraph-per-line text's longest line is some
    # hundreds of columns, its distinct widths a few dozen), and `counts` holds none below the
    # minimum, so a window never reaches under it.
    width = _widest_window(counts)
    near = window(widths, width)
    wide_enough = sum(count for w, count in widths.items() if w * 2 >= width)
    if near < _WRAP_MIN_LINES or near < wide_enough * _WRAP_MIN_SHARE:
        return None
    # A page width cuts sentences: most lines at it end mid-sentence. Equal lines that end their
    # sentences (a list of short items, a repeated line) are not a wrap.
    if window(sentence_ends(), width) * 2 > near:
        return None
    return width


def _widest_window(counts: Mapping[int, int]) -> int:
    """The width `w` of `counts` (lines by display width, widths from 0) whose
    window, the lines at `w - _WRAP_TOLERANCE` to `w`, holds the most; the first so in the order of
    `counts` (as `max(counts, key=window)` takes it). Each window a difference of running sums."""
    present = np.fromiter(counts, np.intp, len(counts))
    dense = np.zeros(int(present.max()) + 1, np.int64)
    dense[present] = np.fromiter(counts.values(), np.int64, len(counts))
    running = np.concatenate((np.zeros(_WRAP_TOLERANCE + 1, np.int64), np.cumsum(dense)))
    # running[i + _WRAP_TOLERANCE + 1] sums dense[:i + 1]: a window is two lookups apart.
    windows = running[present + _WRAP_TOLERANCE + 1] - running[present]
    return int(present[int(np.argmax(windows))])


def joined(head: str, tail: str) -> str:
    """Two pieces of one paragraph that a line break cut apart, as one (see `line_joint`)."""
    return head + line_joint(head, tail) + tail


# Hangul is wide (East Asian Width W), yet Korean puts spaces between its words.
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff]")
# A word broken at a hyphen stays whole (`well-` + `known`).
_HYPHENS = "-\u00ad\u2010"


def line_joint(head: str, tail: str) -> str:
    """What stands for the line break between `head` and `tail`, two pieces of one paragraph that a
    hard wrap or a page break cut apart, each without its spaces at the break: "" or " ".

    Chinese puts no space between words, so a break inside Chinese text stands for nothing. In
    text that spaces its words (English, Korean) a break between two words stands for a space:
    " " when the characters either side of the break are both of such text (neither wide, East
    Asian Width W or F, nor space; or Hangul) and `head`, its indentation aside, is such text:
    words with a space between them, at most a quarter of its characters Chinese (Han, kana,
    full-width punctuation). A Chinese line cut at a fixed width inside `2024` or `GDP`, with
    spaces around its Latin words or not, stays glued; so do a line of one long word cut inside
    it (a URL), two digits and a word broken at a hyphen. After CSS Text 3's segment break
    transformation (https://www.w3.org/TR/css-text-3/#line-break-transform), which removes a
    break between wide characters and makes any other a space.
    """
    content = head.lstrip()
    if not content or not tail or content[-1] in _HYPHENS:
        return ""
    last, first = content[-1], tail[0]
    if not (_spaces_words(last) and _spaces_words(first)) or (last.isdigit() and first.isdigit()):
        return ""
    if not any(char.isspace() for char in content):
        return ""
    chinese = sum(not _spaces_words(char) and not char.isspace() for char in content)
    return " " if chinese * 4 < len(content) else ""


def _spaces_words(char: str) -> bool:
    """Whether `char` is of text that spaces its words: not wide (East Asian Width W or F) unless Hangul; not a space."""
    if char.isspace():
        return False
    return unicodedata.east_asian_width(char) not in "WF" or _HANGUL.match(char) is not None


def _continues(head: str, head_width: int, line: str, width: int) -> bool:
    """Whether `line` continues `head`, the previous line without its trailing space."""
    if not head.strip() or not line.strip():
        return False
    if head_width < width - _WRAP_TOLERANCE or _ends_sentence(head):
        return False
    if line[:1] in " \t\u3000\u00a0" or _is_field_label(line):
        return False
    return not _OUTLINE_START.match(line.strip())


# A line that opens with a field's label (`出租方（甲方）：张三`, `合同编号：`) starts a line of a form,
# not the rest of a wrapped sentence.
_FIELD_START = re.compile(r"[^，。；：:\s]{0,11}[\u4e00-\u9fff）)]：")


def _is_field_label(line: str) -> bool:
    """Whether `line` opens with a form's field label (`_FIELD_START`) rather than a sentence's
    lead-in to its colon (`具体如下：`, `主要表现在以下几个方面：`: STRUCTURE_TABLES.colon_lead_ins)."""
    found = _FIELD_START.match(line)
    return found is not None and not found.group()[:-1].endswith(STRUCTURE_TABLES.colon_lead_ins)


def drop_empty_lines(text: str) -> tuple[str, int]:
    # The non-empty lines joined by one break, a chunk of lines at a time (`line_chunks`): split
    # and join run at memchr speed, three times faster than collapsing the runs of breaks with a
    # regex, and no list of every line is held.
    kept = "\n".join(
        piece for chunk in line_chunks(text) if (piece := "\n".join(filter(None, chunk.split("\n"))))
    )
    return kept, text.count("\n") + 1 - (kept.count("\n") + 1 if kept else 0)


def normalize_text(
    text: str,
    converters: ScriptConverters,
    convert_script: bool = True,
    stands_alone: Callable[[str], bool] | None = None,
) -> Normalized:
    """Run every normalization fix in order and record what each one did.

    Flags: `html` when the text is a whole HTML page (its markup stays; see `is_html_page`).
    `convert_script=False` keeps the script whatever it is: the caller's word that the text is
    not Chinese (Japanese kanji are not Traditional Chinese) or holds suspected mojibake, whose
    characters OpenCC would rewrite beyond recovery. `stands_alone` says of a line that it is
    whole: not joined to the line after a page edge (`remove_page_furniture`), nor, short, to a
    hard-wrapped paragraph above it (`rejoin_wrapped_lines`).
    """
    edits: list[NormalizeEdit] = []
    flags: list[str] = []

    def count(rule: str, changes: int) -> None:
        if changes:
            edits.append(NormalizeEdit(rule, changes))

    if "<" in text and is_html_page(text):
        flags.append("html")
    text, n = decode_character_references(text)
    count("html_character_references", n)
    text, n = unify_line_endings(text)
    count("line_endings", n)
    text, furniture = remove_page_furniture(text, stands_alone)
    if furniture:
        edits.append(NormalizeEdit("page_furniture", len(furniture), "\n".join(furniture)))
    # One scan for the characters the next three fixes look for: most text holds none of them.
    if _UNICODE.rare_chars.search(text) is not None or _may_hold_astral(text):
        text, removed = remove_invisible(text)
        if removed:
            edits.append(NormalizeEdit("invisible_chars", len(removed), removed))
        text, n = fold_fullwidth_alnum(text)
        count("fullwidth_alnum", n)
        text, n, folded = fold_look_alike_ideographs(text)
        if n:
            edits.append(NormalizeEdit("look_alike_ideographs", n, folded))
    if _SPACING_CANDIDATE.search(text) is not None:
        text, n = remove_spaces_between_han(text)
        count("spaces_between_han", n)
        text, n = widen_punctuation_in_chinese(text)
        count("punctuation_in_chinese", n)
    script, sample_simplified = _detect_script(text, converters)
    if script in ("Hant", "mixed") and converters.target is not None and convert_script:
        converted = (
            # Detection converted the whole text already when it fit in the sample.
            sample_simplified
            if sample_simplified is not None
            and len(text) <= _SCRIPT_SAMPLE_CHARS
            and converters.target is converters.to_simplified
            else converters.target(text)
        )
        converted, regional = convert_regional(text, converted, converters)
        count(f"opencc_{regional or converters.target_name}", _changed_chars(text, converted))
        text = converted
    # Wrapping is judged on the raw lines, whose indentation marks paragraph starts.
    text, n = rejoin_wrapped_lines(text, stands_alone)
    count("rejoin_wrapped_lines", n)
    text, n = strip_line_edges(text)
    count("strip_line_edges", n)
    text, n = drop_empty_lines(text)
    count("drop_empty_lines", n)
    text, n = rejoin_orphan_punctuation(text)
    count("orphan_punctuation", n)
    return Normalized(text=text, edits=tuple(edits), source_script=script, flags=tuple(flags))
