"""Replace redaction placeholders (XX县, ×部长, **同志, X次, 某某, 20XX年 …) by one token.

Each placeholder becomes `token` and is annotated with its offsets in the final text, the
original string and a kind read from its context. `restore_placeholders` puts the originals
back and `apply_placeholders` replays the replacement from the annotations, so the stage can
be audited in both directions.

What is a placeholder (one compiled regex finds the candidates, tried only where a character
class scan says one can start; then cheap checks of the characters around each candidate
decide):

* A run of Latin X (`X`, `x`, `Ｘ`, `ｘ`; `XXXX` is one placeholder) in Chinese context. Not
  when it touches a Latin letter or digit (`XML`, `Xbox`, `XXL`, `3x4`, `XII`), forms a
  hyphenated Latin word (`X-ray`), is a version wildcard (`3.X`), or is a single X before a
  word of the `[latin]` table (`X光`, `X射线`). Not a single X that is part of a product's name
  (after a Latin word and a space: `iPhone X手机`, `Mac OS X`) or a variable (beside an operator:
  `当X=1时`; a lowercase x after `设`, `令`, `求`: `设x为未知数`), unless a `[suffix]` word follows
  it (`GDP X亿元`, `设x个小组`). Runs joined by dots are one decimal number (`XX.X%`).
* A year with redacted digits: `20XX`, `19XX`, `201X`, `二〇XX`, `二〇一X`, and the same with
  `×` (`19××`), or with two stars before 年 (`20**年度`, unless they close a Markdown emphasis);
  the digits are part of the placeholder, whose kind is date.
* A number with some digits masked (`138****1234`, `110101********123X`, `187××××5678`): three
  or more of one mask character between two digits, the number seven characters at least from
  its first digit to its last (its groups perhaps set apart by single spaces or hyphens:
  `138 **** 1234`, `0371-****5678`), no Latin letter touching it; or its last digits masked, when it
  has a mobile number's length or an ID card's (`139XXXXXXXX`, `110101************`). The whole
  number is the placeholder, whose kind is number (`_masked_number`). `2**10` and `3***4` are
  powers.
* A run of `×` (`✕`, `╳`) in Chinese context; between numbers (`3×4`, `3 × 4`) it is the
  multiplication sign, and a single one between two words of the `[times]` table too
  (`长×宽×高`, `单价×数量`; see `_is_multiplication` for `部长×高度重视`).
* A run of `*` or `＊` beside a Han character (`**同志`, `王**`); a single `*` needs Han on
  its left and Han on its right (`张*军`; not in a table's legend, `带*的为新开工项目`), or a
  surname of the `[star]` table on its left and Chinese punctuation or the line's end on its
  right (`张*、李*`; `统计局*。` is a footnote mark), or a context word after it where a line or a
  clause opens (`*月*日`, `刚才，*同志`). Markdown emphasis
  (`**重点**`, `*强调*`, up to three stars paired on one line) is left alone, unless the text
  after the opening stars is a context word (`**同志…**局长`: both are placeholders).
  Separator lines (`***`) have no Han beside them and are left alone.
* A single `×` or `○` alone in quotes or brackets is a mark to draw (`画“○”`, `打“×”`), not a
  placeholder.
* A run of `○`, `◯` or `〇` in Chinese context, except beside a Chinese numeral (`二〇二〇`,
  `二○○八`: the circle is a zero) and a single circle opening a line or, before a space, a clause
  (a bullet: `○ 加强学习；○ 强化监督`) unless a date or a count follows it (`○月○日`).
* Two or more white or black squares (`□□`, `■■`) in Chinese context: some offices redact
  with them. A single one is a check box (`□同意`) or a bullet (`■ 重点工作`).
* `某某`, `某某某`. A single `某` (`某种`, `某些`, `某人`, `张某`) is ordinary language.

"Chinese context": looking outward on each side over at most `_CONTEXT_WINDOW` characters of
spaces, punctuation and Latin X, the first other letter or digit is a Han character on at
least one side, or there is none on either side (`XX` alone on a line, `XX、XX、XX`).
`Mr. X said` has Latin letters on both sides and is left alone.

Kinds, in order of precedence:

1. shape: a redacted year is `date`; a masked number and dot-joined X runs (`X.X%`) are `number`;
2. the word after the placeholder, longest match in the `[suffix]` tables of
   rules/placeholders.toml: measure words -> number, 年/月/日 -> date, titles -> person,
   administrative divisions -> place, body suffixes -> organization. Longest match is what
   makes XX局长 person but XX局 organization, XX县县直机关 place (县), and XX项目 neither
   (项目 is a `neutral` word, which overrides 项 and falls through to the prefix);
3. the word before it, longest match in `[prefix]`: 第X -> number, X月X号 -> date;
4. the word after one space, as in 2 (`XX 县` -> place: PDF copies space their words);
5. otherwise `unknown`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from docclean import DEFAULT_PLACEHOLDER_TOKEN
from docclean.han import HAN_CLASS, HAN_RANGES
from docclean.record import Placeholder, Replaced

# `[MASK]` is ASCII, so it survives any encoding and tokenizer; it is the mask token BERT-style
# models and NLP tooling already know; Chinese text never contains it; and it holds no X, *,
# ×, ○ or 某, so a second pass finds nothing in it. What it puts beside a neighbouring run
# (a bracket, Latin letters) never makes that run look more like a placeholder than the
# original did, so a second pass finds nothing new at all: cleaning is idempotent (the
# property tests check this; a custom token containing X or 某 gives that up).
DEFAULT_TOKEN = DEFAULT_PLACEHOLDER_TOKEN

# A heavily redacted speech has a few hundred placeholders, a 50 MB compilation of a thousand
# speeches some hundred thousand. Each annotation costs about 150 bytes in Python: past this
# many, a file is not redacted text but a run of placeholder characters, and the rest is left
# as it is (flag `placeholders_capped`) rather than held as ten million annotations.
MAX_PLACEHOLDERS = 1_000_000
_GAPS_PER_BLOCK = 4096

KINDS = ("number", "place", "person", "organization", "date", "unknown")

_X_LETTERS = "XxＸｘ"
_TIMES_SIGNS = "×✕╳"
_STARS = "*＊"
_CIRCLES = "○◯〇"
_SQUARES = "□■"
# Latin-1 and Latin Extended letters, skipping × (U+00D7) and ÷ (U+00F7) in their midst.
_LATIN_LETTER_CLASS = "A-Za-zＡ-Ｚａ-ｚ\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_LATIN_ALNUM_CLASS = f"0-9０-９{_LATIN_LETTER_CLASS}"
_DIGIT_CLASS = "0-9０-９"
_CHINESE_NUMERALS = "〇○零一二三四五六七八九十"
_CHINESE_NUMERAL_CHARS = frozenset(_CHINESE_NUMERALS)
# What stands for a year's redacted digits: Latin X or × (`19XX`, `19××`), one of them per year.
# Stars only as the last two digits before 年 (`20**年度`): elsewhere after digits they may open
# Markdown emphasis (`20**重点**`), and a pair that closes an emphasis opened before on its line
# is left to it (`**重点20**年`).
_YEAR_MASK_FAMILIES = (_X_LETTERS, _TIMES_SIGNS)
_STAR_YEAR_DIGITS = f"[{_STARS}]{{2}}(?=年)"


def _masked_digits(digits: str) -> str:
    """The last two digits of a redacted year, as a regex: both masked, or the last one (`XX`, `1X`),
    touching no Latin letter or digit nor another of its masks after them. Another family's run
    may follow (`20XX×`, `19××X`): both are placeholders, as they are once the year is a token."""
    return "|".join(
        f"(?:[{mask}]{{2}}|[{digits}][{mask}])(?!(?![{_X_LETTERS}])[{_LATIN_ALNUM_CLASS}]|[{mask}])"
        for mask in _YEAR_MASK_FAMILIES
    )


_CENTURY = "(?:[1１][9９]|[2２][0０])"

# Every candidate; the named group says which family it belongs to. The families open with
# different characters, so their order changes no match: the commonest go first and the year,
# whose lookbehinds are tried before its first character, goes last. A year is not read right
# after a run that must be left alone because it touches the year's first digit (`×20XX`,
# `○二〇XX`): a second pass would see the token there instead of the digit and decide
# differently about the run.
_PLACEHOLDER = re.compile(
    rf"""
    (?P<latin>[{_X_LETTERS}]+(?:\.[{_X_LETTERS}]+)*)
    | (?P<times>[{_TIMES_SIGNS}]+)
    | (?P<star>[{_STARS}]+)
    | (?P<circle>[{_CIRCLES}]+)
    | (?P<square>[{_SQUARES}]{{2,}})
    | (?P<mou>某{{2,}})
    | (?P<year>
        (?<![{_LATIN_ALNUM_CLASS}{_TIMES_SIGNS}{_STARS}{_CIRCLES}{_SQUARES}])
        {_CENTURY}(?:{_masked_digits(_DIGIT_CLASS)}|{_STAR_YEAR_DIGITS})
      | (?<![{_CHINESE_NUMERALS}{_CIRCLES}{_SQUARES}])
        [一二][〇○零九](?:{_masked_digits(_CHINESE_NUMERALS)}|{_STAR_YEAR_DIGITS})
    )
    """,
    re.VERBOSE,
)

# Where a match of `_PLACEHOLDER` can start. It opens with one character class, which the regex
# engine skips to at C speed, whereas the alternation above is tried at every position of the
# text (over ten times slower); the lookbehind then drops the digits and numerals that do not
# open a year, so ordinary numbers never reach Python.
_CANDIDATE_START = re.compile(
    rf"""
    [{_X_LETTERS}{_TIMES_SIGNS}{_STARS}{_CIRCLES}{_SQUARES}某1１2２一二]
    (?<=[{_X_LETTERS}{_TIMES_SIGNS}{_STARS}{_CIRCLES}{_SQUARES}某]|[1１2２](?=[9９0０])|[一二](?=[〇○零九]))
    """,
    re.VERBOSE,
)


def _class_chars(char_class: str) -> frozenset[str]:
    """The characters of a regex class body made of single characters and `a-z` ranges."""
    chars: set[str] = set()
    index = 0
    while index < len(char_class):
        if char_class[index + 1 : index + 2] == "-" and index + 2 < len(char_class):
            chars.update(map(chr, range(ord(char_class[index]), ord(char_class[index + 2]) + 1)))
            index += 3
        else:
            chars.add(char_class[index])
            index += 1
    return frozenset(chars)


# Sets rather than regexes for the one-character checks every candidate goes through: a set
# lookup costs a fraction of a regex call.
_LATIN_ALNUM_NOT_X = _class_chars(_LATIN_ALNUM_CLASS) - frozenset(_X_LETTERS)
_LATIN_LETTER_NOT_X = _class_chars(_LATIN_LETTER_CLASS) - frozenset(_X_LETTERS)
_DIGITS = _class_chars(_DIGIT_CLASS)
# Han or the ideographic zero: 〇 is Han for context, a digit beside other numerals.
_HAN_CLASS = f"{HAN_CLASS}〇"
_HAN = re.compile(f"[{_HAN_CLASS}]")
# A Han character that is a letter or digit (`str.isalnum`, which `[^\W_]` is): what makes a
# context side Han. Ideographs Python's Unicode database does not know yet are not.
_HAN_LETTER = re.compile(f"(?=[^\\W_])[{_HAN_CLASS}]")
# The Han range of 一, the CJK Unified Ideographs block. Every code point of it is assigned
# (since Unicode 14, which Python 3.11 has), so each is a Han letter: the test suite checks it.
_UNIFIED_FIRST, _UNIFIED_LAST = (chr(end) for end in next(r for r in HAN_RANGES if r[0] <= ord("一") <= r[1]))
# Punctuation that ends or splits a phrase: Markdown emphasis does not open on it (张*、李*).
_PHRASE_END_PUNCTUATION = frozenset("、，。；：！？）》」』】”’")
_CHINESE_PUNCTUATION = re.compile(
    "[\u3001-\u3003\u3008-\u3011\u3014-\u301f\uff01-\uff0f\uff1a-\uff20“”‘’…—·]"
)

# How far to look past spaces, punctuation and other X for the letter that says which
# language a candidate sits in: enough for `“XX”` or `XX、XX、XX`, short enough to stay local.
_CONTEXT_WINDOW = 6
_HAN_SIDE, _OTHER_SIDE, _EMPTY_SIDE = "han", "other", "empty"
# The brackets of a Chinese official document's number (国发〔2023〕5号): a side that reaches
# one is Chinese, though the year inside is digits (××〔2023〕×号).
_DOCUMENT_NUMBER_BRACKETS = "〔〕"

# Markdown emphasis is one to three stars; a longer run is never markup.
_MARKDOWN_CLOSERS = {length: re.compile(rf"(?<=\S)(?<![*＊])\*{{{length}}}(?![*＊])") for length in (1, 2, 3)}


# A table's words that end with one character, longest first, each with its kind.
_WordsByLast = Mapping[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class ContextTables:
    """Word -> kind; a neutral word maps to "" so it overrides a shorter word without a kind.

    `suffix_pattern` matches the longest suffix word at a position in one regex call (every
    candidate needs it); `prefixes_by_last` indexes the prefix words by the character next to
    the placeholder, so the longest match is a couple of `endswith` checks.
    """

    suffixes: Mapping[str, str]
    prefixes: Mapping[str, str]
    suffix_pattern: re.Pattern[str]
    prefixes_by_last: _WordsByLast
    latin_compounds: tuple[str, ...]
    # `[latin]`: the words after and before which a run of up to three X is a sex chromosome's letters.
    chromosome_after: tuple[str, ...]
    chromosome_before: tuple[str, ...]
    # `[latin]`: words after which a lone lowercase x is a variable, and the operators beside
    # which any single X is one; `[times]`: the quantities a single × multiplies; `[star]`: the
    # surnames a lone star before punctuation completes.
    variable_before: tuple[str, ...]
    operators: frozenset[str]
    quantities: tuple[str, ...]
    surnames: tuple[str, ...]
    # Surnames that are far more often a preposition there (书记向XX汇报).
    prepositions: frozenset[str]
    legend_before: tuple[str, ...]
    legend_after: tuple[str, ...]

    @classmethod
    def load(cls) -> ContextTables:
        """The context words of docclean/rules/placeholders.toml. Raises ValueError for a word
        listed twice or under a kind that is not one of `KINDS` (or `neutral`)."""
        raw = tomllib.loads(
            resources.files("docclean").joinpath("rules", "placeholders.toml").read_text("utf-8")
        )
        suffixes = _word_kinds(raw["suffix"], "suffix")
        prefixes = _word_kinds(raw["prefix"], "prefix")
        return cls(
            suffixes=suffixes,
            prefixes=prefixes,
            suffix_pattern=re.compile(_trie_pattern(suffixes)),
            prefixes_by_last=_by_last(prefixes),
            latin_compounds=tuple(raw["latin"]["compounds"]),
            chromosome_after=tuple(raw["latin"]["chromosome_after"]),
            chromosome_before=tuple(raw["latin"]["chromosome_before"]),
            variable_before=tuple(raw["latin"]["variable_before"]),
            operators=frozenset(raw["latin"]["operators"]),
            quantities=tuple(raw["times"]["quantities"]),
            surnames=tuple(raw["star"]["surnames"]),
            prepositions=frozenset(raw["star"]["prepositions"]),
            legend_before=tuple(raw["star"]["legend_before"]),
            legend_after=tuple(raw["star"]["legend_after"]),
        )


def _word_kinds(section: Mapping[str, list[str]], table: str) -> dict[str, str]:
    word_kinds: dict[str, str] = {}
    for kind, words in section.items():
        if kind not in KINDS and kind != "neutral":
            raise ValueError(f"placeholders.toml [{table}]: {kind!r} is not a kind ({', '.join(KINDS)}).")
        for word in words:
            if word in word_kinds:
                raise ValueError(f"placeholders.toml [{table}]: {word!r} is listed twice.")
            word_kinds[word] = "" if kind == "neutral" else kind
    return word_kinds


def _trie_pattern(words: Collection[str]) -> str:
    """A regex whose match at a position is the longest of `words` that starts there.

    The words are laid out as a trie: the branches at each level open with different characters,
    so at most one of them can go on, and the greedy `?` after a word that ends early tries the
    longer words first. (A flat alternation would try every word in turn.)
    """
    rests_by_first: dict[str, list[str]] = {}
    for word in words:
        rests_by_first.setdefault(word[0], []).append(word[1:])
    branches = []
    for first, rests in rests_by_first.items():
        longer = [rest for rest in rests if rest]
        optional = "?" if "" in rests else ""
        branches.append(re.escape(first) + (f"(?:{_trie_pattern(longer)}){optional}" if longer else ""))
    return "|".join(branches)


def _by_last(word_kinds: Mapping[str, str]) -> _WordsByLast:
    grouped: dict[str, list[tuple[str, str]]] = {}
    for word in sorted(word_kinds, key=len, reverse=True):
        grouped.setdefault(word[-1], []).append((word, word_kinds[word]))
    return {char: tuple(words) for char, words in grouped.items()}


# The package's tables, read once when the module is imported.
DEFAULT_TABLES = ContextTables.load()


def replace_placeholders(
    text: str, token: str = DEFAULT_TOKEN, tables: ContextTables = DEFAULT_TABLES
) -> Replaced:
    """Replace the redaction placeholders in `text` by `token` and annotate each one.

    Offsets in the result index the returned text: `result.text[p.start:p.end] == token`.
    Only the first `MAX_PLACEHOLDERS` are replaced; past them the text is left as it is and
    `result.capped` is True. Context words: `tables` (docclean/rules/placeholders.toml).
    """
    # The output is `token.join` of the text between placeholders: the gaps so far, and the
    # earlier ones already joined in blocks, so that no Python object per gap is held.
    blocks: list[str] = []
    gaps: list[str] = []
    placeholders: list[Placeholder] = []
    # One string object per distinct original ("XX" ten million times is one string).
    originals: dict[str, str] = {}
    position = 0
    shift = 0  # how much longer the output is than the input so far
    capped = False
    # Starts of star runs that close a Markdown emphasis opened earlier on their line.
    markdown_closers: set[int] = set()
    for match in _candidates(text):
        start, end = match.span()
        if start < position or start in markdown_closers or _closes_markdown(match, markdown_closers):
            continue  # inside a masked number, or a Markdown closer
        # Most runs are one or two characters long (X, XX, **): no masked number's.
        masked = (
            _masked_number(text, start, end, position)
            if end - start >= _MASKED_DIGITS_MIN and match.lastgroup in _MASK_FAMILIES
            else None
        )
        if masked is not None:
            (start, end), kind = masked, "number"
        else:
            kind = _classify(text, match, tables, markdown_closers)
            if kind is None:
                continue
        if len(placeholders) == MAX_PLACEHOLDERS:
            capped = True
            break
        gaps.append(text[position:start])
        if len(gaps) == _GAPS_PER_BLOCK:
            blocks.append(token.join(gaps))
            gaps = []
        found = text[start:end]
        original = originals.setdefault(found, found)
        placeholders.append(Placeholder(start + shift, start + shift + len(token), original, kind))
        shift += len(token) - (end - start)
        position = end
    gaps.append(text[position:])
    blocks.append(token.join(gaps))
    return Replaced(token.join(blocks), tuple(placeholders), capped)


def _candidates(text: str) -> Iterator[re.Match[str]]:
    """The matches `_PLACEHOLDER.finditer(text)` yields, trying the pattern only where one can start."""
    position = 0
    while (start := _CANDIDATE_START.search(text, position)) is not None:
        match = _PLACEHOLDER.match(text, start.start())
        if match is None:
            position = start.start() + 1
        else:
            position = match.end()
            yield match


def restore_placeholders(text: str, placeholders: Sequence[Placeholder]) -> str:
    """Put each placeholder's original back where its token stands: the inverse of replacing."""
    pieces: list[str] = []
    position = 0
    for placeholder in placeholders:
        if placeholder.start < position:
            raise ValueError(
                f"Placeholder at {placeholder.start} overlaps the one before it or is out of order."
            )
        pieces += [text[position : placeholder.start], placeholder.original]
        position = placeholder.end
    pieces.append(text[position:])
    return "".join(pieces)


def apply_placeholders(text: str, placeholders: Sequence[Placeholder], token: str = DEFAULT_TOKEN) -> str:
    """Replay the replacement: put `token` where each original stands in the input `text`.

    The placeholders' offsets index the output, so each original is located by subtracting
    the length the earlier replacements added.
    """
    pieces: list[str] = []
    position = 0
    shift = 0
    for placeholder in placeholders:
        start = placeholder.start - shift
        end = start + len(placeholder.original)
        if start < position or text[start:end] != placeholder.original:
            raise ValueError(f"Placeholder {placeholder.original!r} is not at offset {start} of the input.")
        pieces += [text[position:start], token]
        position = end
        shift += len(token) - len(placeholder.original)
    pieces.append(text[position:])
    return "".join(pieces)


def _classify(
    text: str, match: re.Match[str], tables: ContextTables, markdown_closers: set[int]
) -> str | None:
    """The kind of the candidate `match`, or None when it is not a placeholder."""
    family = match.lastgroup
    if family == "year":
        return "date"
    start, end = match.span()
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    # Latin X beside another family's run is a second placeholder, not a word (`×X`).
    if family != "mou" and (before in _LATIN_ALNUM_NOT_X or after in _LATIN_ALNUM_NOT_X):
        return None
    # Most placeholders have a Han letter right beside them: that side is Han, and the context
    # need not be walked. Most Han is in the Unified Ideographs block, where a comparison
    # answers without a regex call.
    beside_han = (
        _UNIFIED_FIRST <= before <= _UNIFIED_LAST
        or _UNIFIED_FIRST <= after <= _UNIFIED_LAST
        or bool(_HAN_LETTER.match(before) or _HAN_LETTER.match(after))
    )
    suffix = tables.suffix_pattern.match(text, end)
    suffix_kind = tables.suffixes[suffix.group()] if suffix else ""
    match family:
        case "latin":
            if _is_latin_word(text, start, end, before, after, tables):
                return None
            if _is_name_or_variable(text, start, end, before, after, suffix_kind, tables):
                return None
            if not (beside_han or _in_chinese_context(text, start, end)):
                return None
            if "." in match.group():
                return "number"
        case "times" | "square":
            if family == "times" and (
                _is_multiplication(text, start, end, tables) or _is_quoted_mark(before, after, end - start)
            ):
                return None
            if not (beside_han or _in_chinese_context(text, start, end)):
                return None
        case "circle":
            if (
                _is_numeral_or_bullet(before, after, end - start, suffix_kind)
                or _is_quoted_mark(before, after, end - start)
                or _is_zero_in_words(text, start, end)
            ):
                return None
            if not (beside_han or _in_chinese_context(text, start, end)):
                return None
        case "star":
            # A run followed by a context word is a placeholder even where Markdown could pair it.
            if not suffix_kind and (closer := _markdown_closer(text, match)) is not None:
                markdown_closers.add(closer)
                return None
            if not _is_star_placeholder(text, start, end, before, after, beside_han, suffix_kind, tables):
                return None
    return (
        suffix_kind
        or _longest_prefix_kind(text, start, tables)
        or _spaced_suffix_kind(text, end, tables)
        or _surname_kind(text, start, tables)
        or "unknown"
    )


def _longest_prefix_kind(text: str, start: int, tables: ContextTables) -> str:
    """The kind of the longest `[prefix]` word that ends `text[:start]`, "" if none."""
    for word, kind in tables.prefixes_by_last.get(text[start - 1 : start], ()):
        if text.endswith(word, 0, start):
            return kind
    return ""


def _char_at(text: str, index: int) -> str:
    return text[index] if 0 <= index < len(text) else ""


def _context_side(text: str, index: int, step: int) -> str:
    """Which script the first letter or digit from `index` in direction `step` is in.

    Latin X is looked past without counting against the window, so a list of placeholders
    (`XX、XX、XX同志`) takes its context from the word at its end.
    """
    window = _CONTEXT_WINDOW
    while window:
        char = _char_at(text, index)
        if char in ("", "\n"):
            return _EMPTY_SIDE
        if char in _DOCUMENT_NUMBER_BRACKETS:
            return _HAN_SIDE
        if char.isalnum() and char not in _X_LETTERS:
            return _HAN_SIDE if _HAN.match(char) else _OTHER_SIDE
        if char not in _X_LETTERS:
            window -= 1
        index += step
    # The window ran out before the line did: something is there, so the side is not empty
    # (and a later token standing where that something was cannot make it empty).
    return _OTHER_SIDE


def _context_sides(text: str, start: int, end: int) -> tuple[str, str]:
    return _context_side(text, start - 1, -1), _context_side(text, end, 1)


def _in_chinese_context(text: str, start: int, end: int) -> bool:
    sides = _context_sides(text, start, end)
    return _HAN_SIDE in sides or sides == (_EMPTY_SIDE, _EMPTY_SIDE)


def _is_latin_word(text: str, start: int, end: int, before: str, after: str, tables: ContextTables) -> bool:
    """Whether the X run is (part of) a Latin word or a version number rather than a placeholder."""
    if before == "." and text[start - 2 : start - 1] in _DIGITS:
        return True  # a version wildcard: 3.X, v2.x
    if (before == "-" and text[start - 2 : start - 1] in _LATIN_LETTER_NOT_X) or (
        after == "-" and text[end + 1 : end + 2] in _LATIN_LETTER_NOT_X
    ):
        # A hyphenated word: X-ray, T-X. Letters only: after a hyphen a digit may open a
        # year placeholder (X-20XX), which the token would then hide on a second pass.
        return True
    # The letter itself: X光, X射线; XX染色体, 性染色体为XX.
    return (end - start == 1 and text.startswith(tables.latin_compounds, end)) or _is_chromosome(
        text, start, end, tables
    )


def _is_chromosome(text: str, start: int, end: int, tables: ContextTables) -> bool:
    """Whether the X run (Latin) is a sex chromosome's letters: up to three X before 染色体 or after a
    word naming them (`chromosome_after`, `chromosome_before`)."""
    return end - start <= _CHROMOSOME_MAX_LETTERS and (
        text.startswith(tables.chromosome_after, end) or text.endswith(tables.chromosome_before, 0, start)
    )


_CHROMOSOME_MAX_LETTERS = 3


def _is_name_or_variable(
    text: str, start: int, end: int, before: str, after: str, suffix_kind: str, tables: ContextTables
) -> bool:
    """Whether a single X is part of a product's name (iPhone X手机, Mac OS X: after a Latin word
    and a space) or a variable (设x为未知数: a lowercase x after a `variable_before` word; 当X=1时:
    beside an `operator`), and no `[suffix]` word after it makes it a count (GDP X亿元, 设x个)."""
    if end - start != 1 or suffix_kind:
        return False
    if before == " " and _char_at(text, start - 2) in _LATIN_LETTER_NOT_X:
        return True
    if before in tables.operators or after in tables.operators:
        return True
    if not text.endswith(tables.variable_before, 0, start):
        return False
    # Lowercase, a variable; uppercase too when what follows says so (设X为未知数).
    return text[start] in _LOWERCASE_X or text.startswith(_VARIABLE_AFTER, end)


# What follows a variable an equation introduces: 设X为…, 令X等于…, 求X的值.
_VARIABLE_AFTER = ("为", "等于", "是", "的值", "的取值")


_LOWERCASE_X = "xｘ"


def _is_multiplication(text: str, start: int, end: int, tables: ContextTables) -> bool:
    """Whether a single × is the multiplication sign between two `quantities` (长×宽×高, 单价 × 数量).

    A space may stand on either side. Two words of one character must also have one of them
    end its clause, no Han character beyond it (长×宽, 长×宽，): else 部长×高度重视 would be a
    title, a formula and a word, where it is a title, a redacted name and a word. Two longer
    words need not (按单价×数量计算).
    """
    if end - start != 1:
        return False
    left = start - (_char_at(text, start - 1) == " ")
    right = end + (_char_at(text, end) == " ")
    befores = [word for word in tables.quantities if text.endswith(word, 0, left)]
    afters = [word for word in tables.quantities if text.startswith(word, right)]
    if not befores or not afters:
        return False
    if max(map(len, befores)) > 1 and max(map(len, afters)) > 1:
        return True
    return any(not _HAN.match(_char_at(text, left - len(word) - 1)) for word in befores) or any(
        not _HAN.match(_char_at(text, right + len(word))) for word in afters
    )


def _is_quoted_mark(before: str, after: str, length: int) -> bool:
    """Whether a single × or ○ stands alone in quotes or brackets, or right after a verb of
    marking: a mark to draw or tick (`同意的画“○”，不同意的画“×”`, `点击“×”关闭`, `错误的打×`), not a
    redacted character."""
    if length != 1:
        return False
    return before in _MARK_VERBS or (before in _OPENING_MARKS and after == _OPENING_MARKS[before])


# Verbs of drawing a mark: 打× (tick a cross), 画○, 划×.
_MARK_VERBS = frozenset("打画划")


# Each opening quote or bracket, and the mark that closes it.
_OPENING_MARKS = {
    "“": "”",
    "‘": "’",
    "「": "」",
    "『": "』",
    "（": "）",
    "(": ")",
    "【": "】",
    '"': '"',
    "'": "'",
}


def _surname_kind(text: str, start: int, tables: ContextTables) -> str:
    """`person` for a placeholder right after a one-character surname, a redacted given name: after
    a person's field (`联系人：向XX`: the `[prefix]` word before the surname is a person's); or,
    unless the surname is far more often a preposition (`书记向XX汇报`, `，向XX学习`:
    `prepositions`), where it opens a word (`、李××`) or follows a title (`市长张XX`: the longest
    `[suffix]` word before it is a person's). "" otherwise (`在于XX`: 于 ends a word)."""
    surname = _char_at(text, start - 1)
    if len(surname) != 1 or surname not in tables.surnames:
        return ""
    if _longest_prefix_kind(text, start - 1, tables) == "person":
        return "person"
    if surname in tables.prepositions:
        return ""
    if not _HAN_LETTER.match(_char_at(text, start - 2)):
        return "person"
    return "person" if _title_before(text, start - 1, tables) == "person" else ""


def _title_before(text: str, end: int, tables: ContextTables) -> str:
    """The kind of the longest `[suffix]` word that ends `text[:end]`, "" if none or neutral."""
    longest = max(map(len, tables.suffixes))
    return _reference_longest_word_kind(tables.suffixes, text[max(0, end - longest) : end], at_end=True)


def _spaced_suffix_kind(text: str, end: int, tables: ContextTables) -> str:
    """The kind of the `[suffix]` word one space after a placeholder (`XX 县`: a PDF copy's spacing),
    "" if none. It comes after the word right before the placeholder (`第X 号`)."""
    if _char_at(text, end) not in _SPACES:
        return ""
    found = tables.suffix_pattern.match(text, end + 1)
    return tables.suffixes[found.group()] if found else ""


_SPACES = (" ", "\u3000")


def _is_numeral_or_bullet(before: str, after: str, length: int, suffix_kind: str) -> bool:
    if before in _CHINESE_NUMERAL_CHARS or after in _CHINESE_NUMERAL_CHARS:
        return True  # a zero: 二〇二〇, 二○○八
    if length != 1:
        return False
    # ○ 坚持…: a bullet opening a line, or an item after punctuation (…；○ 强化监督), unless a
    # date or a count follows it (○月○日). A full-width star is no punctuation there: a placeholder
    # of its own (＊〇), the token that replaces it would leave the circle no bullet on a second pass.
    if before in ("", "\n"):
        return suffix_kind not in _COUNTED_KINDS
    return after in _SPACES and before != _FULL_WIDTH_STAR and bool(_CHINESE_PUNCTUATION.match(before))


_FULL_WIDTH_STAR = "＊"


def _is_zero_in_words(text: str, start: int, end: int) -> bool:
    """Whether the circles at `start:end` are a zero the words around say is one: a generation
    (`○○后`, as 00后 is written beside 九○后), a bound of a range of numerals (`从〇到一`, `一至〇`),
    or a value ending its clause (`发生数为〇。`)."""
    before, after = text[start - 1 : start], text[end : end + 1]
    if end - start == 2:
        if after != _GENERATION:
            return False
        rest = text[end + 1 : end + 4]
        return not rest or rest.startswith(_GENERATION_WORDS) or not _HAN_LETTER.match(rest)
    if end - start != 1:
        return False
    following, preceding = text[end + 1 : end + 2], text[max(0, start - 2) : max(0, start - 1)]
    if after in _RANGE_WORDS and (following in _CHINESE_NUMERAL_CHARS or following.isdigit()):
        return True
    if before in _RANGE_WORDS and (preceding in _CHINESE_NUMERAL_CHARS or preceding.isdigit()):
        return True
    return before in _VALUE_WORDS and (after == "" or after in _CLAUSE_ENDS)


# The words around a zero (`_is_zero_in_words`): 后 after two circles, then a word for people
# or no Han (`○○后青年`, `○○后。`; not `○○后勤处`, a placeholder's body).
_GENERATION = "后"
_GENERATION_WORDS = (
    "青年", "学生", "大学生", "干部", "一代", "的", "群体", "员工", "职工", "党员", "教师", "新人", "们", "和", "与",
)  # fmt: skip
_RANGE_WORDS = frozenset("到至")
_VALUE_WORDS = frozenset("为是")
_CLAUSE_ENDS = frozenset("。，；！？、\n")


# Kinds whose word after a lone circle or star makes it a placeholder where a bullet or a footnote
# mark could stand (○月○日, *月*日).
_COUNTED_KINDS = ("date", "number")


def _is_star_placeholder(
    text: str,
    start: int,
    end: int,
    before: str,
    after: str,
    beside_han: bool,
    suffix_kind: str,
    tables: ContextTables,
) -> bool:
    if end - start == 1:
        # A lone star is a footnote mark or an operator unless it sits in a Han word (张*同志) but
        # a table's legend (带*的为新开工项目), or ends a name after its surname (张*、李*):
        # 统计局*。 is a footnote. Where a line or a clause opens, a word after it decides (*月*日，
        # 刚才，*同志作了讲话).
        if not _HAN.match(before):
            return bool(suffix_kind) and (
                before in ("", "\n") or before in _SPACES or bool(_CHINESE_PUNCTUATION.match(before))
            )
        if _HAN.match(after):
            return not (
                text.endswith(tables.legend_before, 0, start) and text.startswith(tables.legend_after, end)
            )
        return (after in ("", "\n") or bool(_CHINESE_PUNCTUATION.match(after))) and text.endswith(
            tables.surnames, 0, start
        )
    # Star rows with nothing beside them are separators, not redactions.
    return beside_han or _HAN_SIDE in _context_sides(text, start, end)


def _markdown_closer(text: str, match: re.Match[str]) -> int | None:
    """Where the Markdown emphasis that `match` opens closes on its line, if it is an opener."""
    run, end = match.group(), match.end()
    closer_pattern = _MARKDOWN_CLOSERS.get(len(run))
    after = _char_at(text, end)
    if closer_pattern is None or set(run) != {"*"} or not after or after.isspace():
        return None
    if after in _PHRASE_END_PUNCTUATION:
        return None
    line_end = text.find("\n", end)
    closer = closer_pattern.search(text, end, len(text) if line_end < 0 else line_end)
    return closer.start() if closer else None


# A number with some of its digits masked: a phone number (138****1234), an ID card number
# (110101********1234, its check digit perhaps X), a QQ or an account number. A run of one mask
# character (X, × or a star), `_MASKED_DIGITS_MIN` or more, between two digits; the number runs
# over digits and that character from its first digit to its last, `_MASKED_NUMBER_MIN_CHARS`
# long at least, with no Latin letter or placeholder character touching it. The whole number is one placeholder of kind
# `number`, the digits left in sight kept in its `original`. Three masks at least: `2**10` and
# `3**4` are powers.
_MASKED_DIGITS_MIN = 3
_MASKED_NUMBER_MIN_CHARS = 7
_MASK_FAMILIES = frozenset({"latin", "times", "star"})
# An ID card number is 18 characters, the last a check digit that may be X (GB 11643).
_ID_CARD_CHARS = 18
# (某某 is a placeholder whatever touches it, and a single 某 never is: neither needs keeping out.)
_NOT_BESIDE_A_NUMBER = _LATIN_ALNUM_NOT_X | frozenset(
    _X_LETTERS + _TIMES_SIGNS + _STARS + _CIRCLES + _SQUARES
)
# One of these may stand between a masked number's groups, as people write them for reading:
# 138 **** 1234, 138-****-1234, 0371-****5678.
_NUMBER_SEPARATORS = (" ", "-")


def _closes_markdown(match: re.Match[str], closers: set[int]) -> bool:
    """Whether `match` is a year whose two stars close a Markdown emphasis opened before them."""
    return match.lastgroup == "year" and match.end() - 2 in closers and match.group()[-1] in _STARS


def _masked_number(text: str, start: int, end: int, floor: int = 0) -> tuple[int, int] | None:
    """The span of the masked number whose mask run is `text[start:end]` (a run of the latin,
    times or star family), or None when the run is not inside one, or when the number would
    start before `floor` (the end of the placeholder before it: `138-XXXX-23-XXXX-23` is two
    numbers that share no digit)."""
    found = _masked_number_span(text, start, end)
    return found if found is None or found[0] >= floor else None


def _masked_number_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """`_masked_number` without its floor."""
    mask = text[start]
    if end - start < _MASKED_DIGITS_MIN or text.count(mask, start, end) != end - start:
        return None
    before, after = _char_at(text, start - 1), _char_at(text, end)
    if before in _DIGITS and after in _DIGITS:
        return _unseparated_number(text, start, end, mask)
    separated_after = after in _NUMBER_SEPARATORS and _char_at(text, end + 1) in _DIGITS
    if before in _DIGITS and not separated_after:
        return _masked_tail(text, start, end)
    if not (before in _DIGITS or (before in _NUMBER_SEPARATORS and _char_at(text, start - 2) in _DIGITS)):
        return None
    if not (after in _DIGITS or separated_after):
        return None
    return _separated_number(text, start, end, before in _NUMBER_SEPARATORS, separated_after)


def _unseparated_number(text: str, start: int, end: int, mask: str) -> tuple[int, int] | None:
    """`_masked_number` of a mask run between two digits: the number runs over digits and the
    mask character on both sides."""
    first, last = start, end
    while first > 0 and (text[first - 1] in _DIGITS or text[first - 1] == mask):
        first -= 1
    while last < len(text) and (text[last] in _DIGITS or text[last] == mask):
        last += 1
    # From the first digit to the last: stars around it are Markdown (**138****1234**).
    while text[first] == mask:
        first += 1
    while text[last - 1] == mask:
        last -= 1
    return _number_span(text, first, last, mask, separators=0)


def _separated_number(
    text: str, start: int, end: int, separated_before: bool, separated_after: bool
) -> tuple[int, int] | None:
    """`_masked_number` of a mask run set apart from the digits on one side or both by a
    separator (138 **** 1234, 0371-****5678): the number is the digits right beside it on each
    side, past its separators and no further. What lies beyond a separator is left out, as a
    placeholder's token there would leave it out on a second pass."""
    first = start - separated_before
    while first > 0 and text[first - 1] in _DIGITS:
        first -= 1
    last = end + separated_after
    while last < len(text) and text[last] in _DIGITS:
        last += 1
    return _number_span(text, first, last, text[start], separators=separated_before + separated_after)


def _number_span(text: str, first: int, last: int, mask: str, separators: int) -> tuple[int, int] | None:
    """The masked number from its first digit `first` to its last (`last` past it), with an ID
    card number's check digit X after it, when it is long enough and touches no Latin letter
    or placeholder character; `separators` of its characters are separators."""
    if (
        last - first - separators + 1 == _ID_CARD_CHARS
        and mask not in _X_LETTERS
        and _char_at(text, last) in "Xx"
    ):
        last += 1
    if last - first - separators < _MASKED_NUMBER_MIN_CHARS:
        return None
    if _char_at(text, first - 1) in _NOT_BESIDE_A_NUMBER or _char_at(text, last) in _NOT_BESIDE_A_NUMBER:
        # A code or a model number (ABC138XXXX1234); or a run of placeholder characters, left
        # alone for touching the digit, which the token would no longer touch on a second pass.
        return None
    return first, last


def _masked_tail(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of the number whose last digits the mask run `text[start:end]` hides (139XXXXXXXX,
    110101************), when the number has the length of a mobile number (11, opening 1[3-9])
    or of an ID card number (18), touching no Latin letter or digit, nor a placeholder character
    before its first digit. A placeholder character after the mask run does not stop it: that
    run is decided alone, and its token, on a second pass, would not stop the number either."""
    first = start
    while first > 0 and text[first - 1] in _DIGITS:
        first -= 1
    digits = text[first:start]
    mobile = end - first == _MOBILE_CHARS and digits[:1] in "1１" and digits[1:2] in _MOBILE_SECOND_DIGITS
    if not (mobile or end - first == _ID_CARD_CHARS):
        return None
    if _char_at(text, first - 1) in _NOT_BESIDE_A_NUMBER or _char_at(text, end) in _LATIN_ALNUM_NOT_X:
        return None
    return first, end


# A mainland mobile number: 11 digits, 1 then 3-9.
_MOBILE_CHARS = 11
_MOBILE_SECOND_DIGITS = "3456789３４５６７８９"


# --- The specification: the same decisions, the plain way ------------------------------------
#
# `replace_placeholders` skips to candidate starts with a character-class scan, checks single
# characters against sets, settles context from the neighbouring characters when it can and
# finds the longest context word through tables indexed by edge character. The reference does
# the same job the plain way: `finditer` over the candidate pattern (with the year family first,
# as it was written before the module moved it last), a regex per character test, a walk over
# the context for every candidate and a slice per word length. Both share the data (what each
# family's run looks like, the context tables), the context walk and the Markdown closer
# search, so the property tests find any shortcut that changes a decision.

_REFERENCE_QUOTE_PAIRS = ("“”", "‘’", "「」", "『』", "（）", "()", "【】", '""', "''")
_REFERENCE_LATIN_ALNUM_NOT_X = re.compile(f"(?![{_X_LETTERS}])[{_LATIN_ALNUM_CLASS}]")
_REFERENCE_LATIN_LETTER_NOT_X = re.compile(f"(?![{_X_LETTERS}])[{_LATIN_LETTER_CLASS}]")
_REFERENCE_DIGIT = re.compile(f"[{_DIGIT_CLASS}]")
_OTHER_FAMILIES, _YEAR_FAMILY = _PLACEHOLDER.pattern.split("| (?P<year>")
_REFERENCE_CANDIDATE = re.compile(f"(?P<year>{_YEAR_FAMILY}|{_OTHER_FAMILIES}", re.VERBOSE)


def reference_replace_placeholders(
    text: str, token: str = DEFAULT_TOKEN, tables: ContextTables = DEFAULT_TABLES
) -> Replaced:
    """What `replace_placeholders` returns, computed as the module docstring defines it.

    The specification of the fast function, kept beside it; far slower (a regex call per
    character test, a context walk per candidate), and without the `MAX_PLACEHOLDERS` cap.
    """
    pieces: list[str] = []
    placeholders: list[Placeholder] = []
    position = shift = 0
    closers: set[int] = set()
    for match in _REFERENCE_CANDIDATE.finditer(text):
        start, end = match.span()
        if start < position or start in closers or _closes_markdown(match, closers):
            continue
        masked = _masked_number(text, start, end, position) if match.lastgroup in _MASK_FAMILIES else None
        if masked is not None:
            (start, end), kind = masked, "number"
        else:
            kind = _reference_kind(text, match, closers, tables)
            if kind is None:
                continue
        pieces += [text[position:start], token]
        placeholders.append(Placeholder(start + shift, start + shift + len(token), text[start:end], kind))
        shift += len(token) - (end - start)
        position = end
    pieces.append(text[position:])
    return Replaced("".join(pieces), tuple(placeholders))


def _reference_zero_in_words(text: str, start: int, end: int) -> bool:
    """`_is_zero_in_words` as its docstring defines it: 后 and a people's word or no Han after two
    circles; a range word with a numeral or a digit beyond it, either side of one; a value word
    before one, and the clause's end after it."""
    if end - start == 2:
        rest = text[end + 1 : end + 4]
        return _char_at(text, end) == "后" and (
            rest == ""
            or any(rest.startswith(word) for word in _GENERATION_WORDS)
            or not _HAN_LETTER.match(rest)
        )
    if end - start != 1:
        return False
    before, after = _char_at(text, start - 1), _char_at(text, end)
    beyond_after, beyond_before = _char_at(text, end + 1), _char_at(text, start - 2) if start >= 2 else ""
    numeral_after = beyond_after != "" and (
        beyond_after in "〇○零一二三四五六七八九十" or beyond_after.isdigit()
    )
    numeral_before = beyond_before != "" and (
        beyond_before in "〇○零一二三四五六七八九十" or beyond_before.isdigit()
    )
    return (
        (after in ("到", "至") and numeral_after)
        or (before in ("到", "至") and numeral_before)
        or (before in ("为", "是") and after in ("", "。", "，", "；", "！", "？", "、", "\n"))
    )


def _reference_kind(text: str, match: re.Match[str], closers: set[int], tables: ContextTables) -> str | None:
    family, (start, end) = match.lastgroup, match.span()
    if family == "year":
        return "date"
    longest_suffix, longest_prefix = max(map(len, tables.suffixes)), max(map(len, tables.prefixes))
    suffix_kind = _reference_longest_word_kind(tables.suffixes, text[end : end + longest_suffix])
    before, after = _char_at(text, start - 1), _char_at(text, end)
    if family != "mou" and (
        _REFERENCE_LATIN_ALNUM_NOT_X.match(before) or _REFERENCE_LATIN_ALNUM_NOT_X.match(after)
    ):
        return None
    if family == "latin":
        if before == "." and _REFERENCE_DIGIT.match(_char_at(text, start - 2)):
            return None
        if (before == "-" and _REFERENCE_LATIN_LETTER_NOT_X.match(_char_at(text, start - 2))) or (
            after == "-" and _REFERENCE_LATIN_LETTER_NOT_X.match(_char_at(text, end + 1))
        ):
            return None
        if end - start == 1 and text.startswith(tables.latin_compounds, end):
            return None
        if end - start <= 3 and (
            any(text[end:].startswith(word) for word in tables.chromosome_after)
            or any(text[:start].endswith(word) for word in tables.chromosome_before)
        ):
            return None
        if _is_name_or_variable(text, start, end, before, after, suffix_kind, tables):
            return None
        if not _in_chinese_context(text, start, end):
            return None
        if "." in match.group():
            return "number"
    elif family in ("times", "square"):
        if family == "times" and (
            _is_multiplication(text, start, end, tables)
            or (end - start == 1 and (f"{before}{after}" in _REFERENCE_QUOTE_PAIRS or before in _MARK_VERBS))
        ):
            return None
        if not _in_chinese_context(text, start, end):
            return None
    elif family == "circle":
        if {before, after} & _CHINESE_NUMERAL_CHARS:
            return None
        if end - start == 1 and before in ("", "\n") and suffix_kind not in ("date", "number"):
            return None
        if (
            end - start == 1
            and after in (" ", "\u3000")
            and before != "＊"
            and _CHINESE_PUNCTUATION.match(before)
        ):
            return None
        if end - start == 1 and (f"{before}{after}" in _REFERENCE_QUOTE_PAIRS or before in _MARK_VERBS):
            return None
        if _reference_zero_in_words(text, start, end):
            return None
        if not _in_chinese_context(text, start, end):
            return None
    elif family == "star":
        if not suffix_kind and (closer := _markdown_closer(text, match)) is not None:
            closers.add(closer)
            return None
        if end - start == 1:
            if not _HAN.match(before):
                if not suffix_kind or not (
                    before in ("", "\n", " ", "\u3000") or _CHINESE_PUNCTUATION.match(before)
                ):
                    return None
            else:
                legend = (
                    _HAN.match(after) is not None
                    and any(text[:start].endswith(word) for word in tables.legend_before)
                    and any(text[end:].startswith(word) for word in tables.legend_after)
                )
                named = (after in ("", "\n") or _CHINESE_PUNCTUATION.match(after) is not None) and any(
                    text[:start].endswith(surname) for surname in tables.surnames
                )
                if legend or (not _HAN.match(after) and not named):
                    return None
        elif _HAN_SIDE not in _context_sides(text, start, end):
            return None
    prefix = text[max(0, start - longest_prefix) : start]
    spaced = text[end + 1 : end + 1 + longest_suffix] if _char_at(text, end) in _SPACES else ""
    title = text[max(0, start - 1 - longest_suffix) : max(0, start - 1)]
    field = text[max(0, start - 1 - longest_prefix) : max(0, start - 1)]
    named = (
        start >= 1
        and text[start - 1] in tables.surnames
        and (
            _reference_longest_word_kind(tables.prefixes, field, at_end=True) == "person"
            or (
                text[start - 1] not in tables.prepositions
                and (
                    not _HAN_LETTER.match(text[max(0, start - 2) : start - 1])
                    or _reference_longest_word_kind(tables.suffixes, title, at_end=True) == "person"
                )
            )
        )
    )
    return (
        suffix_kind
        or _reference_longest_word_kind(tables.prefixes, prefix, at_end=True)
        or _reference_longest_word_kind(tables.suffixes, spaced)
        or ("person" if named else "")
        or "unknown"
    )


def _reference_longest_word_kind(word_kinds: Mapping[str, str], context: str, at_end: bool = False) -> str:
    for length in range(len(context), 0, -1):
        word = context[-length:] if at_end else context[:length]
        if word in word_kinds:
            return word_kinds[word]
    return ""
