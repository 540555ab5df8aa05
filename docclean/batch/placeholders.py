"""Redaction placeholders of a batch of texts at once, straight into Arrow columns.

The same texts, placeholders, kinds and offsets as `docclean.placeholders.replace_placeholders`
on each text (see there for what a placeholder is). The batch's texts, joined by line breaks,
become one array of code points; one table lookup gives each character's placeholder family,
so the candidates are the runs of one family; the checks on the characters beside each run
are lookups in tables built from the reference module's own sets and patterns. A line break
between two texts looks to every check like the edge of a text, so joining changes nothing.

The context words (`[suffix]`, `[prefix]`) are found for every run at once, by comparing each
length's windows of code points with the table's sorted words. What the arrays do not model
goes to the reference, run by run or text by text:

* a Latin X run touching `.` or `-`, or after a digit, a Chinese numeral or a circle (a
  redacted year `20XX`, `二〇XX`, dot-joined runs `X.X`, a version `3.X`, a hyphenated word):
  the reference pattern and classification decide that run;
* a line holding two runs of the same one to three ASCII stars (Markdown emphasis may pair
  them): the reference's opener and closer search decides them, in text order;
* a run with no Han letter right beside it: the reference walks its context;
* a run whose fate turns on the words around it (`_by_words`: a single X after a space, beside
  an operator or in lowercase; a single × between Han or spaces; a lone star before no Han):
  the reference's classification decides that run;
* a text with more placeholder characters than `MAX_PLACEHOLDERS` (the reference caps them),
  with a run of masks after a digit, or after a digit and a separator (it may be a masked
  number, `138****1234`, `139XXXXXXXX`, `138 **** 1234`, whose placeholder spans the digits too),
  or with two stars between a digit and 年 (`20**年`, a year unless they close a Markdown
  emphasis): the reference function cleans the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa

from docclean import placeholders as reference
from docclean.han import code_points
from docclean.placeholders import DEFAULT_TABLES, KINDS, MAX_PLACEHOLDERS
from docclean.record import Replaced
from docclean.schema import PLACEHOLDER_TYPE, struct_lists

# Families of placeholder characters, as the reference pattern's groups (`某` and square runs
# of two or more).
_LATIN, _TIMES, _STAR, _CIRCLE, _MOU, _SQUARE = 1, 2, 3, 4, 5, 6
_FAMILIES = {
    _LATIN: reference._X_LETTERS,
    _TIMES: reference._TIMES_SIGNS,
    _STAR: reference._STARS,
    _CIRCLE: reference._CIRCLES,
    _MOU: "某",
    _SQUARE: reference._SQUARES,
}
# Families whose single character is no placeholder (某人, a check box).
_PAIRED = (_MOU, _SQUARE)

# Bits of a character's properties, one lookup per neighbour of every run.
_LATIN_ALNUM = 1  # a Latin letter or digit other than X: the run is part of a word
_HAN_LETTER = 2  # what makes a run "beside Han"
_HAN_CHAR = 4  # what a single star needs on its left
_CHINESE_PUNCTUATION = 8
_NUMERAL = 16  # a circle beside it is a zero
_PATTERN_BEFORE = 32  # before an X run: a year, a version or a hyphenated word may be there
_PATTERN_AFTER = 64  # after an X run: a decimal or a hyphenated word may be there
_DIGIT = 128  # a mask run between two digits may be inside a masked number

_LINE_BREAK = ord("\n")
_NUMBER_SEPARATORS = code_points("".join(reference._NUMBER_SEPARATORS))
_YEAR = ord("年")
_ASCII_STAR = ord("*")
_MARKDOWN_MAX_STARS = max(reference._MARKDOWN_CLOSERS)
_CODE_POINTS = 0x110000


@dataclass(frozen=True, slots=True)
class _Tables:
    family: np.ndarray  # uint8 per code point: its family, 0 for none
    properties: np.ndarray  # uint8 per code point: the bits above
    suffixes: _Words
    prefixes: _Words
    compound_first: np.ndarray  # bool per code point: a `[latin]` compound may start here
    # bool per code point: a word after a sex chromosome's letters may start here, or one before them end here
    chromosome_after_first: np.ndarray
    chromosome_before_last: np.ndarray


@cache
def _lookup_tables() -> _Tables:
    """The per-code-point tables, from the reference module's sets and patterns (about 0.1 s, once)."""
    every = np.arange(_CODE_POINTS, dtype=np.uint32)
    every_text = every[(every < 0xD800) | (every > 0xDFFF)].tobytes().decode("utf-32-le")

    def matching(pattern: re.Pattern[str]) -> np.ndarray:
        return code_points("".join(pattern.findall(every_text)))

    family = np.zeros(_CODE_POINTS, np.uint8)
    for code, chars in _FAMILIES.items():
        family[code_points(chars)] = code
    properties = np.zeros(_CODE_POINTS, np.uint8)
    tables = DEFAULT_TABLES
    for bit, points in (
        (_LATIN_ALNUM, code_points("".join(reference._LATIN_ALNUM_NOT_X))),
        (_HAN_LETTER, matching(reference._HAN_LETTER)),
        (_HAN_LETTER, np.arange(ord(reference._UNIFIED_FIRST), ord(reference._UNIFIED_LAST) + 1)),
        (_HAN_CHAR, matching(reference._HAN)),
        (_CHINESE_PUNCTUATION, matching(reference._CHINESE_PUNCTUATION)),
        (_NUMERAL, code_points("".join(reference._CHINESE_NUMERAL_CHARS))),
        (
            _PATTERN_BEFORE,
            code_points(".-" + "".join(reference._DIGITS) + reference._CHINESE_NUMERALS + reference._CIRCLES),
        ),
        (_PATTERN_AFTER, code_points(".-")),
        (_DIGIT, code_points("".join(reference._DIGITS))),
    ):
        properties[points] |= bit
    if properties[_LINE_BREAK] or any("\n" in word for word in (*tables.suffixes, *tables.prefixes)):
        # Texts are joined by line breaks on the premise that every check sees one as a text's edge.
        raise ValueError("A placeholder table holds a line break; the batch stage cannot join texts by it.")
    compound_first = np.zeros(_CODE_POINTS, bool)
    compound_first[code_points("".join(word[0] for word in tables.latin_compounds))] = True
    chromosome_after_first = np.zeros(_CODE_POINTS, bool)
    chromosome_after_first[code_points("".join(word[0] for word in tables.chromosome_after))] = True
    chromosome_before_last = np.zeros(_CODE_POINTS, bool)
    chromosome_before_last[code_points("".join(word[-1] for word in tables.chromosome_before))] = True
    return _Tables(
        family,
        properties,
        _Words.of(tables.suffixes),
        _Words.of(tables.prefixes),
        compound_first,
        chromosome_after_first,
        chromosome_before_last,
    )


_NO_KIND = -1


@dataclass(frozen=True, slots=True)
class _Words:
    """A context table by word length: each length's words as sorted byte keys (UTF-32), and their kinds."""

    # Length -> (sorted keys, kind index of each, _NO_KIND for a neutral word), longest first.
    by_length: dict[int, tuple[np.ndarray, np.ndarray]]
    # Code point -> the lengths of the words it opens, a bit each in the order of `by_length`: a
    # window whose first code point opens no word of its length matches no key, and is not
    # looked up.
    openings: np.ndarray

    @classmethod
    def of(cls, word_kinds: Mapping[str, str]) -> _Words:
        by_length: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        lengths = sorted({len(word) for word in word_kinds}, reverse=True)
        openings = np.zeros(_CODE_POINTS, np.min_scalar_type(1 << max(len(lengths) - 1, 0)))
        for bit, length in enumerate(lengths):
            words = sorted(word for word in word_kinds if len(word) == length)
            keys = np.array([word.encode("utf-32-le") for word in words], f"S{4 * length}")
            order = np.argsort(keys)
            kinds = np.array(
                [KINDS.index(word_kinds[word]) if word_kinds[word] else _NO_KIND for word in words]
            )
            by_length[length] = (keys[order], kinds[order].astype(np.int8))
            openings[code_points("".join(word[0] for word in words))] |= 1 << bit
        return cls(by_length, openings)

    def longest(self, code_points: np.ndarray, at: np.ndarray, after: bool) -> np.ndarray:
        """The kind of the longest word starting at each of `at` (after), or ending there (before).

        The reference's longest match (`suffix_pattern`, `_longest_prefix_kind`), for all
        positions at once: each length's windows of code points compared as byte keys.
        """
        kinds = np.full(len(at), _NO_KIND, np.int8)
        for part in _slices(len(at)):
            found = np.zeros(part.stop - part.start, bool)
            for bit, (length, (keys, word_kinds)) in enumerate(self.by_length.items()):
                # Only the windows that no longer word took, inside the text, opening some word
                # of this length, can match one of its keys.
                first = at[part] if after else at[part] - length
                looked = ~found & (first >= 0) & (first + length <= len(code_points))
                looked[looked] = ((self.openings[code_points[first[looked]]] >> bit) & 1).astype(bool)
                where = np.flatnonzero(looked)
                windows = code_points[first[where, None] + np.arange(length)]
                windows = windows.astype(np.uint32).view(f"S{4 * length}").ravel()
                slots = np.minimum(np.searchsorted(keys, windows), len(keys) - 1)
                hit = keys[slots] == windows
                kinds[part][where[hit]] = word_kinds[slots[hit]]
                found[where[hit]] = True
        return kinds


def prepare() -> None:
    """Build the lookup tables now (with the rest of what a Cleaner needs for batches), not amid a batch."""
    _lookup_tables()


@dataclass(frozen=True, slots=True)
class PlaceholderColumns:
    """The placeholder stage's output for a batch, in the batch's order."""

    texts: list[str]
    # list<PLACEHOLDER_TYPE>, one list per text, offsets into the replaced text as the reference's.
    placeholders: pa.ListArray
    # Texts with more placeholders than the stage annotates (the reference's `capped`).
    capped: list[bool]


@dataclass(frozen=True, slots=True)
class _Runs:
    """Candidate runs of the batch: arrays of one value per run, in text order."""

    starts: np.ndarray
    ends: np.ndarray
    families: np.ndarray
    docs: np.ndarray
    before: np.ndarray  # code point before the run (a line break at the batch's start)
    after: np.ndarray  # code point after it (a line break at the batch's end)

    def select(self, keep: np.ndarray) -> _Runs:
        return _Runs(*(values[keep] for values in (self.starts, self.ends, self.families, self.docs,
                                                    self.before, self.after)))  # fmt: skip


def replace_placeholders_batch(texts: Sequence[str], token: str) -> PlaceholderColumns:
    """`replace_placeholders(text, token)` for every text, as columns.

    Shapes: `texts` n strings; the result has n texts, a list array of n lists and n flags.
    """
    tables = _lookup_tables()
    joined = "\n".join(texts)
    points = code_points(joined)
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    doc_starts = np.zeros(len(texts), np.int64)
    np.cumsum(lengths[:-1] + 1, out=doc_starts[1:])
    runs, to_reference = _candidate_runs(points, tables, doc_starts, lengths)
    runs, decided = _by_pattern(joined, runs, tables)
    _decide_markdown(joined, points, runs, tables, decided)
    kinds = _kinds(joined, points, runs, tables, decided)
    runs = runs.select(kinds >= 0)
    kinds = kinds[kinds >= 0]

    replaced, token_starts, text_starts, text_ends = _replace(joined, runs, token, doc_starts, lengths)
    out_texts = [
        replaced[start:end] for start, end in zip(text_starts.tolist(), text_ends.tolist(), strict=True)
    ]
    capped = [False] * len(texts)
    docs = [runs.docs]
    starts = [token_starts - text_starts[runs.docs]]
    originals = [_originals(joined, points, runs)]
    kind_codes = [kinds]
    for doc in np.flatnonzero(to_reference).tolist():
        result: Replaced = reference.replace_placeholders(texts[doc], token)
        out_texts[doc] = result.text
        capped[doc] = result.capped
        docs.append(np.full(len(result.placeholders), doc, np.int64))
        starts.append(np.fromiter((p.start for p in result.placeholders), np.int64, len(result.placeholders)))
        originals.append(pa.array([p.original for p in result.placeholders], pa.string()))
        kind_codes.append(
            np.fromiter((KINDS.index(p.kind) for p in result.placeholders), np.int8, len(result.placeholders))
        )
    all_docs = np.concatenate(docs)
    order = np.argsort(all_docs, kind="stable")
    all_starts = np.concatenate(starts)[order]
    columns = [
        pa.array(all_starts, pa.int32()),
        pa.array(all_starts + len(token), pa.int32()),
        pa.concat_arrays(originals).take(pa.array(order)),
        pa.array(KINDS, pa.string()).take(pa.array(np.concatenate(kind_codes)[order])),
    ]
    lengths = np.bincount(all_docs, minlength=len(texts))
    return PlaceholderColumns(out_texts, struct_lists(columns, lengths, pa.list_(PLACEHOLDER_TYPE)), capped)


def _candidate_runs(
    code_points: np.ndarray, tables: _Tables, doc_starts: np.ndarray, lengths: np.ndarray
) -> tuple[_Runs, np.ndarray]:
    """Every maximal run of one family (a single `某` or square is none), as the reference's
    pattern finds them, and which texts go to the reference whole (their runs are not listed): those with more
    placeholder characters than `MAX_PLACEHOLDERS`, which would be capped (a file of placeholder
    characters would cost tens of bytes a character here), and those with a masked number."""
    families_at = tables.family[code_points]
    counts = (
        np.add.reduceat(
            np.append(families_at != 0, False), np.minimum(doc_starts, len(code_points)), dtype=np.int64
        )
        if len(doc_starts)
        else np.zeros(0, np.int64)
    )
    to_reference = counts > MAX_PLACEHOLDERS
    for doc in np.flatnonzero(to_reference).tolist():
        families_at[doc_starts[doc] : doc_starts[doc] + lengths[doc]] = 0
    positions = np.flatnonzero(families_at)
    families = families_at[positions]
    opens = np.ones(len(positions), bool)
    opens[1:] = (np.diff(positions) != 1) | (families[1:] != families[:-1])
    firsts = np.flatnonzero(opens)
    lasts = np.append(firsts[1:] - 1, len(positions) - 1) if len(firsts) else firsts
    starts, ends, families = positions[firsts], positions[lasts] + 1, families[firsts]
    keep = ~np.isin(families, _PAIRED) | (ends - starts >= 2)
    starts, ends, families = starts[keep], ends[keep], families[keep]
    last = len(code_points) - 1
    before = code_points[np.maximum(starts - 1, 0)] if len(code_points) else starts.astype(np.uint32)
    after = code_points[np.minimum(ends, last)] if len(code_points) else ends.astype(np.uint32)
    # The batch's edges look like a line break, as the edges of the texts between them do.
    before[starts == 0] = _LINE_BREAK
    after[ends > last] = _LINE_BREAK
    runs = _Runs(
        starts=starts,
        ends=ends,
        families=families,
        docs=np.searchsorted(doc_starts, starts, side="right") - 1,
        before=before,
        after=after,
    )
    # A mask run after a digit may end a masked number (139XXXXXXXX) or sit inside one, and so
    # may one after a digit and a separator (138 **** 1234).
    digit = tables.properties[before] & _DIGIT != 0
    if len(code_points):
        two_before = code_points[np.maximum(starts - 2, 0)]
        digit |= (
            np.isin(before, _NUMBER_SEPARATORS)
            & (tables.properties[two_before] & _DIGIT != 0)
            & (starts >= 2)
        )
    mask_family = np.isin(families, (_LATIN, _TIMES, _STAR))
    masked = digit & mask_family & (ends - starts >= reference._MASKED_DIGITS_MIN)
    # Two stars after a digit and before 年 may end a redacted year (20**年), which a Markdown
    # emphasis opened before them on the line can claim: the reference decides in text order.
    star_year = (
        (families == _STAR)
        & (ends - starts == 2)
        & (after == _YEAR)
        & (tables.properties[before] & (_DIGIT | _NUMERAL) != 0)
    )
    to_reference[runs.docs[masked | star_year]] = True
    return runs.select(~to_reference[runs.docs]), to_reference


# `decided` of a run whose kind the arrays work out.
_UNDECIDED = -2


# Runs up to this long have their originals read in one numpy pass; longer ones one by one.
_SHORT_RUN = 8


def _originals(joined: str, code_points: np.ndarray, runs: _Runs) -> pa.Array:
    """Each run's text, as a string array: the distinct short ones decoded once per slice of runs."""
    lengths = runs.ends - runs.starts
    values = np.empty(len(runs.starts), object)
    offsets = np.arange(_SHORT_RUN)
    for part in _slices(len(runs.starts)):
        short = np.flatnonzero(lengths[part] <= _SHORT_RUN) + part.start
        at = np.minimum(runs.starts[short, None] + offsets, max(len(code_points) - 1, 0))
        padded = np.where(offsets < lengths[short, None], code_points[at], 0).astype(np.uint32)
        keys = padded.view(np.dtype((np.void, 4 * _SHORT_RUN))).ravel()
        distinct, inverse = np.unique(keys, return_inverse=True)
        texts = [key.tobytes().decode("utf-32-le", "surrogatepass").rstrip("\0") for key in distinct]
        values[short] = np.array(texts, object)[inverse.ravel()] if texts else []
    for index in np.flatnonzero(lengths > _SHORT_RUN).tolist():
        values[index] = joined[runs.starts[index] : runs.ends[index]]
    return pa.array(values, pa.string())


# Runs handled at once where each costs a row of temporaries (a few hundred bytes): memory stays
# bounded by the slice, not by a file's placeholder count.
_SLICE = 1 << 16


def _slices(count: int) -> list[slice]:
    return [slice(start, min(start + _SLICE, count)) for start in range(0, count, _SLICE)]


def _by_pattern(joined: str, runs: _Runs, tables: _Tables) -> tuple[_Runs, np.ndarray]:
    """The X runs beside a digit, numeral, circle, dot or hyphen, decided by the reference pattern.

    There a run may be the end of a redacted year (`20XX`: the year is the placeholder), the
    first of dot-joined runs (`X.X`: one placeholder, the later runs are part of it), a
    version or a hyphenated word. A year is found where the reference would look first: two
    characters before a run of two X, three before a single X (`201X`), the only places a
    year can end where the run ends. The characters a year spans before the run are digits,
    numerals and circles; a circle run among them is beside a numeral, never a placeholder.
    Returns the runs (extended or merged where the pattern says so) and, per run, its kind
    index, -1 for none, or `_UNDECIDED` for the arrays to work out.
    """
    properties = tables.properties
    latin = runs.families == _LATIN
    after_pattern = properties[runs.before] & _PATTERN_BEFORE != 0
    # A run of × may end a redacted year too (`19××`); X runs are also decimals and words.
    by_pattern = (latin & (after_pattern | (properties[runs.after] & _PATTERN_AFTER != 0))) | (
        after_pattern & (runs.families == _TIMES)
    )
    decided = np.full(len(runs.starts), _UNDECIDED, np.int8)
    indexes = np.flatnonzero(by_pattern).tolist()
    if not indexes:
        return runs, decided
    starts, ends = runs.starts.copy(), runs.ends.copy()
    keep = np.ones(len(starts), bool)
    context = DEFAULT_TABLES
    code = {kind: index for index, kind in enumerate(KINDS)}
    consumed_until = 0
    for index in indexes:
        start, end = int(starts[index]), int(ends[index])
        if start < consumed_until:
            keep[index] = False  # a later run of dot-joined ones
            continue
        year_start = start - (2 if end - start == 2 else 3)
        year = (
            reference._PLACEHOLDER.match(joined, year_start) if end - start <= 2 and year_start >= 0 else None
        )
        if year is not None and year.lastgroup == "year" and year.end() == end:
            starts[index], decided[index] = year_start, code["date"]
            continue
        if not latin[index]:
            continue  # no year: decided with the others of its family
        match = reference._PLACEHOLDER.match(joined, start)
        assert match is not None and match.lastgroup == "latin"
        ends[index] = consumed_until = match.end()
        kind = reference._classify(joined, match, context, set())
        decided[index] = -1 if kind is None else code[kind]
    # The characters beside a decided run are not looked at again.
    merged = _Runs(starts, ends, runs.families, runs.docs, runs.before, runs.after)
    return merged.select(keep), decided[keep]


def _decide_markdown(
    joined: str, code_points: np.ndarray, runs: _Runs, tables: _Tables, decided: np.ndarray
) -> None:
    """Decide the star runs that Markdown emphasis may pair, as the reference does, in `decided`.

    An opener and its closer are runs of the same one to three ASCII stars on one line, so
    only lines holding two such runs are looked at, in text order: a closer an earlier opener
    found is no placeholder, nor is an opener without a context word after it. A run beside a
    Latin letter or digit is no placeholder before it can open anything.
    """
    lengths = runs.ends - runs.starts
    short = np.flatnonzero(
        (runs.families == _STAR) & (lengths <= _MARKDOWN_MAX_STARS) & (decided == _UNDECIDED)
    )
    if not len(short):
        return
    ascii_stars = np.zeros(len(short), np.int64)
    for offset in range(_MARKDOWN_MAX_STARS):
        at = np.minimum(runs.starts[short] + offset, len(code_points) - 1)
        ascii_stars += (offset < lengths[short]) & (code_points[at] == _ASCII_STAR)
    markdown = short[ascii_stars == lengths[short]]
    line_breaks = np.flatnonzero(code_points == _LINE_BREAK)
    keys = np.searchsorted(line_breaks, runs.starts[markdown]) * (_MARKDOWN_MAX_STARS + 1) + lengths[markdown]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    context = DEFAULT_TABLES
    closers: set[int] = set()
    for index in markdown[counts[inverse] > 1].tolist():
        start = int(runs.starts[index])
        if start in closers:
            decided[index] = -1
            continue
        if (tables.properties[runs.before[index]] | tables.properties[runs.after[index]]) & _LATIN_ALNUM:
            continue
        suffix = context.suffix_pattern.match(joined, int(runs.ends[index]))
        if suffix and context.suffixes[suffix.group()]:
            continue
        match = reference._PLACEHOLDER.match(joined, start)
        assert match is not None and match.lastgroup == "star"
        if (closer := reference._markdown_closer(joined, match)) is not None:
            closers.add(closer)
            decided[index] = -1


def _kinds(
    joined: str, code_points: np.ndarray, runs: _Runs, tables: _Tables, decided: np.ndarray
) -> np.ndarray:
    """Each run's kind as an index into KINDS, -1 where the run is not a placeholder."""
    before = tables.properties[runs.before]
    after = tables.properties[runs.after]
    lengths = runs.ends - runs.starts
    families = runs.families
    beside_han = (before | after) & _HAN_LETTER != 0
    accepted = decided == _UNDECIDED
    accepted &= ~((families != _MOU) & ((before | after) & _LATIN_ALNUM != 0))
    # Runs the words around decide go to the reference's classification (below), past the
    # checks of single characters here.
    by_words = accepted & _by_words(code_points, runs, tables)
    accepted &= ~by_words
    accepted &= ~(
        (families == _CIRCLE)
        & (((before | after) & _NUMERAL != 0) | ((lengths == 1) & (runs.before == _LINE_BREAK)))
    )
    single_star = (families == _STAR) & (lengths == 1)
    accepted &= ~single_star | (
        (before & _HAN_CHAR != 0)
        & ((runs.after == _LINE_BREAK) | (after & (_HAN_CHAR | _CHINESE_PUNCTUATION) != 0))
    )
    context = DEFAULT_TABLES
    compound = accepted & (families == _LATIN) & (lengths == 1) & tables.compound_first[runs.after]
    for index in np.flatnonzero(compound).tolist():
        accepted[index] = not joined.startswith(context.latin_compounds, int(runs.ends[index]))
    chromosome = (
        accepted
        & (families == _LATIN)
        & (lengths <= 3)
        & (tables.chromosome_after_first[runs.after] | tables.chromosome_before_last[runs.before])
    )
    for index in np.flatnonzero(chromosome).tolist():
        accepted[index] = not reference._is_chromosome(
            joined, int(runs.starts[index]), int(runs.ends[index]), context
        )
    for index in np.flatnonzero(by_words).tolist():
        match = reference._PLACEHOLDER.match(joined, int(runs.starts[index]))
        assert match is not None and match.end() == runs.ends[index]
        kind = reference._classify(joined, match, context, set())
        accepted[index] = False
        decided[index] = -1 if kind is None else KINDS.index(kind)
    walk = accepted & ~beside_han & (families != _MOU) & ~single_star
    for index in np.flatnonzero(walk).tolist():
        start, end = int(runs.starts[index]), int(runs.ends[index])
        if families[index] == _STAR:
            accepted[index] = reference._HAN_SIDE in reference._context_sides(joined, start, end)
        else:
            accepted[index] = reference._in_chinese_context(joined, start, end)
    # The word after the run, else the word before it, else unknown (the reference's precedence).
    kinds = np.full(len(accepted), _NO_KIND, np.int8)
    kinds[accepted] = tables.suffixes.longest(code_points, runs.ends[accepted], after=True)
    without = accepted & (kinds == _NO_KIND)
    kinds[without] = tables.prefixes.longest(code_points, runs.starts[without], after=False)
    spaced = accepted & (kinds == _NO_KIND) & np.isin(runs.after, _SPACES)
    kinds[spaced] = tables.suffixes.longest(code_points, runs.ends[spaced] + 1, after=True)
    # After a one-character surname, a redacted given name: after a person's field, or, the
    # surname being no preposition, where it opens a word or follows a title.
    after_surname = accepted & (kinds == _NO_KIND) & np.isin(runs.before, _SURNAMES)
    fielded = after_surname.copy()
    fielded[fielded] = tables.prefixes.longest(code_points, runs.starts[fielded] - 1, after=False) == _PERSON
    word_opens = runs.starts < 2
    word_opens[~word_opens] = tables.properties[code_points[runs.starts[~word_opens] - 2]] & _HAN_LETTER == 0
    surnamed = after_surname & ~fielded & ~np.isin(runs.before, _PREPOSITIONS)
    titled = surnamed & ~word_opens
    titled[titled] = tables.suffixes.longest(code_points, runs.starts[titled] - 1, after=False) == _PERSON
    named = fielded | (surnamed & (word_opens | titled))
    kinds[named] = KINDS.index("person")
    kinds[accepted & (kinds == _NO_KIND)] = KINDS.index("unknown")
    return np.where(accepted, kinds, np.where(decided == _UNDECIDED, -1, decided))


_SPACE = ord(" ")
_SPACES = code_points("".join(reference._SPACES))
_OPERATORS = code_points("".join(sorted(DEFAULT_TABLES.operators)))
_LOWERCASE_X = code_points(reference._LOWERCASE_X)
_OPENING_MARKS = code_points("".join(reference._OPENING_MARKS))
_MARK_VERBS = code_points("".join(sorted(reference._MARK_VERBS)))
_PERSON = KINDS.index("person")
_PREPOSITIONS = code_points("".join(sorted(DEFAULT_TABLES.prepositions)))
_SURNAMES = code_points("".join(surname for surname in DEFAULT_TABLES.surnames if len(surname) == 1))
_VARIABLE_BEFORE_LAST = code_points("".join(word[-1] for word in DEFAULT_TABLES.variable_before))
_GENERATION = ord(reference._GENERATION)
_RANGE_WORDS = code_points("".join(sorted(reference._RANGE_WORDS)))
_ZERO_BEFORE = code_points("".join(sorted(reference._RANGE_WORDS | reference._VALUE_WORDS)))
_LEGEND_AFTER_FIRST = code_points("".join(word[0] for word in DEFAULT_TABLES.legend_after))


def _by_words(code_points: np.ndarray, runs: _Runs, tables: _Tables) -> np.ndarray:
    """The runs whose fate turns on the words around them, which the reference's classification
    decides run by run (few runs have them): a single X after a space, beside an operator or in
    lowercase (a product's name, a variable: `_is_name_or_variable`), a single × between Han or
    spaces (a formula: `_is_multiplication`), a lone star after Han and before no Han (a name
    after its surname or a footnote mark) or before a legend's word (带*的), a lone star or circle
    where a line or a clause opens (a bullet, a footnote mark, or a placeholder before 月),
    a single × or ○ after an opening quote or bracket or a verb of marking (a mark to draw:
    `_is_quoted_mark`), circles the words around may make a zero (`_is_zero_in_words`), an X
    after 设 or 令 (a variable)."""
    before = tables.properties[runs.before]
    after = tables.properties[runs.after]
    single = runs.ends - runs.starts == 1
    latin = (runs.families == _LATIN) & single
    name_or_variable = latin & (
        (runs.before == _SPACE)
        | np.isin(runs.before, _OPERATORS)
        | np.isin(runs.after, _OPERATORS)
        | np.isin(code_points[runs.starts], _LOWERCASE_X)
        | np.isin(runs.before, _VARIABLE_BEFORE_LAST)
    )
    multiplication = (
        (runs.families == _TIMES)
        & single
        & ((before & _HAN_LETTER != 0) | (runs.before == _SPACE))
        & ((after & _HAN_LETTER != 0) | (runs.after == _SPACE))
    )
    star = (runs.families == _STAR) & single
    footnote = star & (before & _HAN_CHAR != 0) & (after & _HAN_CHAR == 0)
    legend = star & (before & _HAN_CHAR != 0) & np.isin(runs.after, _LEGEND_AFTER_FIRST)
    opening = (
        (runs.before == _LINE_BREAK) | np.isin(runs.before, _SPACES) | (before & _CHINESE_PUNCTUATION != 0)
    )
    circle = (runs.families == _CIRCLE) & single
    zero_words = (runs.families == _CIRCLE) & (
        ((runs.ends - runs.starts == 2) & (runs.after == _GENERATION))
        | (single & (np.isin(runs.after, _RANGE_WORDS) | np.isin(runs.before, _ZERO_BEFORE)))
    )
    quoted = (
        np.isin(runs.families, (_TIMES, _CIRCLE))
        & single
        & (np.isin(runs.before, _OPENING_MARKS) | np.isin(runs.before, _MARK_VERBS))
    )
    return (
        name_or_variable
        | multiplication
        | footnote
        | legend
        | ((star | circle) & opening)
        | quoted
        | zero_words
    )


def _replace(
    joined: str, runs: _Runs, token: str, doc_starts: np.ndarray, lengths: np.ndarray
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """The joined text with each run replaced by `token`; where each token starts, each text starts and ends.

    The texts between runs are joined by the token in one call; the offsets follow from how
    much longer than its run each token is.
    """
    gap_starts, gap_ends = np.append(0, runs.ends), np.append(runs.starts, len(joined))
    # Joined a slice of gaps at a time (then the blocks by the token too): no string per gap is
    # held beyond its slice.
    replaced = token.join(
        token.join(
            [
                joined[start:end]
                for start, end in zip(gap_starts[part].tolist(), gap_ends[part].tolist(), strict=True)
            ]
        )
        for part in _slices(len(gap_starts))
    )
    # How much longer the output is than the input before each run, and after it.
    growth = np.cumsum(len(token) - (runs.ends - runs.starts))
    before = np.append(0, growth)
    token_starts = runs.starts + before[:-1]
    text_starts = doc_starts + before[np.searchsorted(runs.starts, doc_starts)]
    text_ends = doc_starts + lengths + before[np.searchsorted(runs.starts, doc_starts + lengths)]
    return replaced, token_starts, text_starts, text_ends
