"""How much a string looks like ordinary Chinese text: the judge between candidate decodings.

Detectors guess from byte statistics; this model looks at the characters a guess produces.
Text decoded with the right codec is made almost only of common Hanzi, CJK punctuation and
ASCII; the wrong codec (or mojibake) turns the same bytes into rare Hanzi, kana, Cyrillic,
box drawing, private-use characters and Latin-1 letters. The tables come from the codecs'
own charts, so nothing is downloaded and nothing has to be shipped:

- common Hanzi: GB2312 level 1 (bytes B0A1-D7F9, the 3,755 characters of everyday Simplified
  text) and Big5 level 1 (A440-C67E, 5,401 everyday Traditional characters), so Traditional
  text read with the right codec scores as high as Simplified;
- less common Hanzi: GB2312 level 2 (D8A1-F7FE) and Big5 level 2 (C940-F9D5);
- symbols: the GB2312 symbol rows, of which a core of CJK punctuation counts as common;
- never in text: controls, private use (where GBK's and Big5's user-defined areas land), U+FFFD.

ASCII is left out of the mean: it reads the same in every candidate codec.

Tables are immutable frozensets built once at import (some 50 ms); the per-character table and
regex that let `plausibility` count at C speed are derived from them on first use (some 25 ms).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np

from docclean.han import HAN_CLASS, bmp_mask, code_points, han_table, is_han

# Per-character weights: 1.0 for what ordinary Chinese text is made of, 0.0 for what never
# appears in it. The gaps between tiers are what separates a right decoding (mean ~0.98)
# from a wrong one (mean ~0.2-0.8); the exact values matter less than their order.
COMMON = 1.0
GB_SYMBOL = 0.7  # ※ ★ ① Ⅰ № α ā: GB2312 symbol rows, used in manuscripts, less than punctuation
LESS_COMMON = 0.6
LATIN_1 = 0.3  # é, ×, ° are legitimate but rare; runs of them are the cp1252 mojibake signature
RARE_HAN = 0.15  # CJK ideographs outside both charsets' two levels: names, dialect, or garbage
FOREIGN = 0.1  # kana, Hangul, Cyrillic, bopomofo...: the typical debris of a wrong CJK codec
NEVER = 0.0  # U+FFFD, private use, controls, noncharacters


def _decodable(codec: str, leads: range, trails: tuple[range, ...]) -> frozenset[str]:
    chars: set[str] = set()
    for lead in leads:
        for trail_range in trails:
            for trail in trail_range:
                try:
                    chars.add(bytes((lead, trail)).decode(codec))
                except UnicodeDecodeError:
                    continue  # unassigned code points inside the range, e.g. GB2312 D7FA-D7FE
    return frozenset(chars)


_GB_TRAIL = (range(0xA1, 0xFF),)
_BIG5_TRAILS = (range(0x40, 0x7F), range(0xA1, 0xFF))

GB2312_LEVEL1 = _decodable("gb2312", range(0xB0, 0xD8), _GB_TRAIL)
GB2312_LEVEL2 = _decodable("gb2312", range(0xD8, 0xF8), _GB_TRAIL)
# Big5 level 1 ends at C67E and level 2 starts at C940; the rows between hold symbols and
# kana that the "big5" codec decodes only in part, so they are left out.
BIG5_LEVEL1 = _decodable("big5", range(0xA4, 0xC6), _BIG5_TRAILS) | _decodable(
    "big5", range(0xC6, 0xC7), (range(0x40, 0x7F),)
)
BIG5_LEVEL2 = _decodable("big5", range(0xC9, 0xFA), _BIG5_TRAILS)
# GB2312 rows A1-A2 (punctuation, maths, numbering), A6 (Greek: α射线), A8A1-A8C0 (pinyin
# with tone marks) and A9 (box drawing). Kana (A4-A5), Cyrillic (A7) and bopomofo are left
# to FOREIGN: in Chinese documents they are rarer than the mojibake that produces them.
GB2312_SYMBOLS = (
    _decodable("gbk", range(0xA1, 0xA3), _GB_TRAIL)
    | _decodable("gbk", range(0xA6, 0xA7), _GB_TRAIL)
    | _decodable("gbk", range(0xA8, 0xA9), (range(0xA1, 0xC1),))
    | _decodable("gbk", range(0xA9, 0xAA), _GB_TRAIL)
)

COMMON_HANZI = GB2312_LEVEL1 | BIG5_LEVEL1
LESS_COMMON_HANZI = (GB2312_LEVEL2 | BIG5_LEVEL2) - COMMON_HANZI
COMMON_PUNCTUATION = frozenset("，。、；：？！“”‘’（）《》〈〉【】「」『』〔〕—…·・～－　")


# Code points that never appear in text (inclusive ranges).
_NEVER_RANGES = (
    (0x00, 0x1F),  # controls; ASCII whitespace never gets here (see NEUTRAL)
    (0x7F, 0x9F),  # DEL and the C1 controls
    (0xE000, 0xF8FF),  # private use: GBK's and Big5's user-defined areas land here
    (0xFFFD, 0xFFFF),
    (0xF0000, 0x10FFFF),  # supplementary private use
)
# Fullwidth ASCII is ordinary in Chinese typing.
_FULLWIDTH_ASCII = (0xFF01, 0xFF5E)


def _is_never(code: int) -> bool:
    return any(first <= code <= last for first, last in _NEVER_RANGES)


def _is_common_punctuation(char: str) -> bool:
    return char in COMMON_PUNCTUATION or _FULLWIDTH_ASCII[0] <= ord(char) <= _FULLWIDTH_ASCII[1]


@cache
def char_weight(char: str) -> float:
    """Weight of one character; memoised because a text repeats a few thousand characters."""
    if char in COMMON_HANZI or _is_common_punctuation(char):
        return COMMON
    code = ord(char)
    if _is_never(code):
        return NEVER
    if char in LESS_COMMON_HANZI:
        return LESS_COMMON
    if char in GB2312_SYMBOLS:
        return GB_SYMBOL
    if is_han(char):
        return RARE_HAN
    if code <= 0xFF:
        return LATIN_1
    return FOREIGN


# ASCII letters, digits, punctuation and whitespace read the same in every candidate codec,
# so they say nothing about which one is right: they are left out of the mean.
NEUTRAL = frozenset(chr(code) for code in range(0x20, 0x7F)) | frozenset("\t\n\r\f\v")


def plausibility(text: str) -> float:
    """Mean weight of the informative characters of `text`, in 0..1; higher = more like Chinese.

    Text with no informative character (empty, pure ASCII) scores 1.0: no decoding can make
    it better. Counted at C speed: a regex drops the runs of common and neutral characters
    (nearly all of a right decoding), a translation table gives each remaining character its
    tier, and the tiers are counted; only characters beyond the BMP are weighed one by one.
    Short texts are remembered (`_REMEMBERED_CHARS`).
    """
    if len(text) <= _REMEMBERED_CHARS:
        return _remembered_plausibility(text)
    return _counted_plausibility(text)


# The decoder scores the readings of short byte runs (a redaction's ××, a stray GBK pair) by the
# dozen a document, the same ones file after file; up to this many characters they are remembered.
_REMEMBERED_CHARS = 16


def _counted_plausibility(text: str) -> float:
    total, terms = _weight_terms(text)
    return math.fsum(terms) / total if total else 1.0


def _weight_terms(text: str) -> tuple[int, list[float]]:
    """(informative characters, terms whose sum is their weight): a count times a weight per
    tier, and the weight of each character beyond the BMP.

    The regex drops what a right reading is made of at C speed, and leaves little to translate;
    a long text whose opening it leaves mostly in place (a wrong reading) is counted with numpy
    instead (`_array_weight_terms`), which gives the same whole numbers.
    """
    if len(text) >= _ARRAY_FROM:
        opening = _tier_tables()[1].match(text, 0, _PROBE)
        if opening is None or opening.end() < _PROBE // 2:
            return _array_weight_terms(text)
    return _regex_weight_terms(text)


def _regex_weight_terms(text: str) -> tuple[int, list[float]]:
    """`_weight_terms(text)` by a regex and a translation table."""
    table, ordinary = _tier_tables()
    unusual = ordinary.sub("", text)
    # ASCII left in `unusual` is control characters, which are informative.
    neutral = len(text.encode("ascii", "ignore")) - len(unusual.encode("ascii", "ignore"))
    total = len(text) - neutral
    if not total:
        return 0, []
    tiers = unusual.translate(table)
    counts = [tiers.count(symbol) for symbol in _TIER_SYMBOLS]
    counts[0] += total - len(unusual)  # the common characters the regex dropped
    # The table stops at U+FFFF: characters beyond it are left as they are and weighed here.
    beyond = [char_weight(char) for char in _BEYOND_BMP.findall(unusual)]
    return total, [*(count * weight for count, weight in zip(counts, _TIERS, strict=True)), *beyond]


# A text this long that does not open with `_PROBE` // 2 common or neutral characters (a wrong
# reading) is weighed with numpy: there the regex and the translation cost 3-4 times the lookup.
_ARRAY_FROM = 256
_PROBE = 64


def _array_weight_terms(text: str) -> tuple[int, list[float]]:
    """`_weight_terms(text)` by one lookup per code point in a tier table (`_tier_array`)."""
    codes = code_points(text)
    counts = np.bincount(_tier_array().take(codes), minlength=len(_TIERS) + 2).tolist()
    total = len(text) - counts[_NEUTRAL_INDEX]
    if not total:
        return 0, []
    beyond = [char_weight(chr(code)) for code in codes[codes >= 0x10000].tolist()] if counts[-1] else []
    return total, [*(count * weight for count, weight in zip(counts, _TIERS, strict=False)), *beyond]


@cache
def _tier_array() -> np.ndarray:
    """Each code point's index in `_TIERS` (from the tier table), `_NEUTRAL_INDEX` for the
    neutral characters and the one after it beyond the BMP, which are weighed one by one: 1.1 MB."""
    tiers = np.full(0x110000, _NEUTRAL_INDEX + 1, np.uint8)
    tiers[:0x10000] = _bmp_tier_indices()
    tiers[[ord(char) for char in NEUTRAL]] = _NEUTRAL_INDEX
    return tiers


def plausibility_at_most(text: str, head: int) -> float:
    """An upper bound of `plausibility(text)` that weighs only its first `head` characters: each
    informative character after them counts as the most any can weigh (1.0).

    Float rounding can put `plausibility(text)` above the bound by some ulps, never by
    `BOUND_SLACK`: a reading is certainly below `p` when `p > plausibility_at_most(...) + BOUND_SLACK`.
    A wrong reading of a long line shows in its first characters: weighing a few dozen of them
    costs a fraction of the whole.
    """
    total = _informative_count(text)
    if not total:
        return 1.0
    weighed, terms = _weight_terms(text[:head])
    return math.fsum([*terms, total - weighed]) / total


# Far above the rounding of a mean of fewer than 2**40 weights, far below any gap that matters.
BOUND_SLACK = 1e-9


_remembered_plausibility = lru_cache(maxsize=1 << 14)(_counted_plausibility)


def reference_plausibility(text: str) -> float:
    """What `plausibility` returns, by its definition, one character at a time: the mean
    `char_weight` of the characters not in `NEUTRAL`, 1.0 when there are none. The
    specification of `plausibility`, kept beside it."""
    weights = [char_weight(char) for char in text if char not in NEUTRAL]
    return sum(weights) / len(weights) if weights else 1.0


# Every weight `char_weight` gives, and the character that stands for it in the tier table.
_TIERS = (COMMON, GB_SYMBOL, LESS_COMMON, LATIN_1, RARE_HAN, FOREIGN, NEVER)
# Digits are neutral, so none is left in the text the table translates: no tier symbol is ambiguous.
_TIER_SYMBOLS = "0123456"
# `_tier_array`'s indices past those of `_TIERS`: neutral characters, and those beyond the BMP.
_NEUTRAL_INDEX = len(_TIERS)
_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")


@cache
def _tier_tables() -> tuple[str, re.Pattern[str]]:
    """The tier symbol of every BMP character, and a regex of runs of common or neutral characters."""
    symbols = np.frombuffer(_TIER_SYMBOLS.encode("ascii"), np.uint8)
    table = symbols.take(_bmp_tier_indices()).tobytes().decode("ascii")
    return table, re.compile(f"[{_character_class(_ordinary_codes())}]+")


@cache
def _bmp_tier_indices() -> np.ndarray:
    """Each BMP code point's index in `_TIERS` (uint8, 65,536): `char_weight`'s rules over whole
    arrays, the last rule first so that the first rule that holds is the one that stays. The
    per-character `reference_bmp_tier_indices` is its definition (tests)."""
    codes = np.arange(0x10000)
    tiers = np.full(0x10000, _TIERS.index(FOREIGN), np.uint8)
    tiers[codes <= 0xFF] = _TIERS.index(LATIN_1)
    tiers[han_table()[:0x10000]] = _TIERS.index(RARE_HAN)
    tiers[bmp_mask(GB2312_SYMBOLS)] = _TIERS.index(GB_SYMBOL)
    tiers[bmp_mask(LESS_COMMON_HANZI)] = _TIERS.index(LESS_COMMON)
    for first, last in _NEVER_RANGES:
        tiers[first : last + 1] = _TIERS.index(NEVER)
    tiers[bmp_mask(COMMON_HANZI | COMMON_PUNCTUATION)] = _TIERS.index(COMMON)
    tiers[_FULLWIDTH_ASCII[0] : _FULLWIDTH_ASCII[1] + 1] = _TIERS.index(COMMON)
    return tiers


def reference_bmp_tier_indices() -> np.ndarray:
    """What `_bmp_tier_indices` returns, by `char_weight` one character at a time."""
    weigh = char_weight.__wrapped__  # uncached: 65,536 entries would only bloat the cache
    return np.array([_TIERS.index(weigh(chr(code))) for code in range(0x10000)], np.uint8)


def _ordinary_codes() -> list[int]:
    """The code points, in order, of the common (tier 1.0) and neutral characters, by the tier table."""
    common = np.flatnonzero(_bmp_tier_indices() == _TIERS.index(COMMON)).tolist()
    return sorted(set(common) | set(map(ord, NEUTRAL)))


@cache
def unusual_char() -> re.Pattern[str]:
    """A regex of one character that is neither common (tier 1.0) nor neutral ASCII: clean
    Chinese, Simplified or Traditional, has few; mojibake is made of them. Found at C speed."""
    return re.compile(f"[^{_character_class(_ordinary_codes())}]")


@cache
def unusual_chars_in_a_line(count: int) -> re.Pattern[str]:
    """A regex of `count` (at least 1) `unusual_char`s in one line, from the first to the last,
    with only common and neutral characters but the line break between them: a line holds
    `count` such characters if and only if a match of it starts there."""
    ordinary = _character_class([code for code in _ordinary_codes() if code != ord("\n")])
    unusual = unusual_char().pattern
    # Possessive: the ordinary characters never give one back, as no unusual one is among them.
    return re.compile(unusual + f"(?:[{ordinary}]*+{unusual})" * (count - 1))


def _character_class(codes: list[int]) -> str:
    """A regex character class body for sorted code points, consecutive ones as ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high in ranges
    )


def outside_level1_share(text: str) -> float:
    """Share of the informative characters that are neither GB2312 level-1 Hanzi nor common punctuation.

    About 0.01 for ordinary Simplified text; mojibake made by a CJK codec is mostly rare
    Hanzi and symbols (0.5 and more). Traditional text scores high too, so this is a cheap
    signal to look closer, not a verdict. Counted at C speed (`_share`); its definition, one
    character at a time, is `reference_outside_level1_share`.
    """
    return _share(text, _outside_level1_char())


def unreadable_share(text: str) -> float:
    """Share of the informative characters that never occur in text (controls, private use, U+FFFD).

    Text has practically none; binary data read as UTF-16 has 7% and more, whatever else
    its random code units happen to be. Counted at C speed (`_share`); its definition, one
    character at a time, is `reference_unreadable_share`.
    """
    return _share(text, _unreadable_char())


def reference_outside_level1_share(text: str) -> float:
    """What `outside_level1_share` returns, by its definition: the specification, kept beside it."""
    return _informative_share(
        text, lambda char: char not in GB2312_LEVEL1 and not _is_common_punctuation(char)
    )


def reference_unreadable_share(text: str) -> float:
    """What `unreadable_share` returns, by its definition: the specification, kept beside it."""
    return _informative_share(text, lambda char: char_weight(char) == NEVER)


def _informative_share(text: str, selected: Callable[[str], bool]) -> float:
    """Share of the informative (non-ASCII-neutral) characters of `text` that `selected` picks.

    Counting first keeps the Python work proportional to the distinct characters, not the length.
    """
    total, _, picked = _weigh(text, _unweighted, selected)
    return picked / total if total else 0.0


# The ASCII characters that are not neutral (controls): what is left of a text's ASCII once
# these are deleted is its neutral characters.
_NON_NEUTRAL_ASCII = bytes(code for code in range(0x80) if chr(code) not in NEUTRAL)


def _share(text: str, picked: re.Pattern[str]) -> float:
    """`_informative_share` with the picked characters given as a regex of one informative
    character: both counts are whole numbers found at C speed, so the share is the same float."""
    total = _informative_count(text)
    return len(picked.findall(text)) / total if total else 0.0


def _informative_count(text: str) -> int:
    """How many characters of `text` are not `NEUTRAL`: all but its ASCII less the controls."""
    return len(text) - len(text.encode("ascii", "ignore").translate(None, delete=_NON_NEUTRAL_ASCII))


@cache
def _outside_level1_char() -> re.Pattern[str]:
    """One informative character that is neither a GB2312 level-1 Hanzi nor common punctuation."""
    kept = {ord(char) for char in GB2312_LEVEL1 | COMMON_PUNCTUATION | NEUTRAL} | set(range(0xFF01, 0xFF5F))
    return re.compile(f"[^{_character_class(sorted(kept))}]")


@cache
def _unreadable_char() -> re.Pattern[str]:
    """One informative character of weight NEVER: from the tier table up to U+FFFF, and the
    supplementary private-use planes beyond it, the only characters there `_is_never` names."""
    never = [
        code
        for code in np.flatnonzero(_bmp_tier_indices() == _TIERS.index(NEVER)).tolist()
        if chr(code) not in NEUTRAL
    ]
    return re.compile(f"[{_character_class(never)}\U000f0000-\U0010ffff]")


def _unweighted(char: str) -> float:
    return 0.0


# --- Japanese and Korean: the other CJK encodings a Chinese drop receives -----------------------
#
# The same tiers, from the repertoires of the Japanese and Korean national charsets, read out of
# Python's own euc_jp and euc_kr codecs (row and cell ranges from JIS X 0208:1997 and KS X
# 1001:2004):
# - JIS X 0208 rows 4-5 (A4A1-A5F6): the 169 hiragana and katakana; level 1 kanji (B0A1-CFD3,
#   2,965 everyday kanji, in on-reading order) and level 2 (D0A1-F4A6, 3,390 less common ones);
# - KS X 1001 rows 16-40 (B0A1-C8FE): the 2,350 precomposed Hangul syllables of everyday Korean;
#   rows 42-93 (CAA1-FDFE): 4,888 hanja, which modern Korean prints rarely.
# Neither charset orders its characters by frequency, so no finer tier is claimed.

_EUC_TRAIL = (range(0xA1, 0xFF),)
KANA = _decodable("euc_jp", range(0xA4, 0xA6), _EUC_TRAIL) | frozenset("ー")
JIS_LEVEL1_KANJI = _decodable("euc_jp", range(0xB0, 0xD0), _EUC_TRAIL)
JIS_LEVEL2_KANJI = _decodable("euc_jp", range(0xD0, 0xF5), _EUC_TRAIL)
KS_HANGUL = _decodable("euc_kr", range(0xB0, 0xC9), _EUC_TRAIL)
KS_HANJA = _decodable("euc_kr", range(0xCA, 0xFE), _EUC_TRAIL)
# JIS X 0208 row 1 holds the punctuation Japanese adds to the Chinese set: 々 〆 〜 ヽ ゝ.
JAPANESE_PUNCTUATION = COMMON_PUNCTUATION | frozenset("、。「」『』・ー々〆〜ヽヾゝゞ〃")
_HANGUL_SYLLABLE_FIRST, _HANGUL_SYLLABLE_LAST = 0xAC00, 0xD7A3
# Japanese prose is 40-70% kana; a reading with less than this share of kana is a run of kanji
# that a Chinese codec explains at least as well (or Chinese read with a Japanese codec).
KANA_SHARE_AT_LEAST = 0.2
# Modern Korean is almost all Hangul; GB2312 text read as EUC-KR is about 60% Hangul and 40%
# hanja, since its level-1 lead bytes straddle both KS X 1001 blocks.
HANGUL_SHARE_AT_LEAST = 0.8


@cache
def _japanese_weight(char: str) -> float:
    if (
        char in KANA
        or char in JIS_LEVEL1_KANJI
        or char in JAPANESE_PUNCTUATION
        or "\uff01" <= char <= "\uff5e"
    ):
        return COMMON
    if char in JIS_LEVEL2_KANJI:
        return LESS_COMMON
    return char_weight(char) if char_weight(char) < LESS_COMMON else RARE_HAN


@cache
def _korean_weight(char: str) -> float:
    if char in KS_HANGUL or char in COMMON_PUNCTUATION or "\uff01" <= char <= "\uff5e":
        return COMMON
    if _HANGUL_SYLLABLE_FIRST <= ord(char) <= _HANGUL_SYLLABLE_LAST:
        return LESS_COMMON  # cp949's 8,822 extra syllables: real, rarely used
    if char in KS_HANJA:
        return LESS_COMMON  # legal and formal Korean still prints them: 國會, 法律
    return char_weight(char) if char_weight(char) < LESS_COMMON else RARE_HAN


def japanese_plausibility(text: str) -> float:
    """How much `text` looks like Japanese, in 0..1: the mean Japanese weight of its informative
    characters, scaled down when kana are under `KANA_SHARE_AT_LEAST` of them.

    Text without informative characters scores 1.0, as in `plausibility`. Counted per distinct
    character: meant for bounded samples (a few KiB), not whole documents.
    """
    total, weighted, kana = _weigh(text, _japanese_weight, lambda char: char in KANA)
    if not total:
        return 1.0
    return weighted / total * min(1.0, kana / total / KANA_SHARE_AT_LEAST)


def korean_plausibility(text: str) -> float:
    """How much `text` looks like Korean, in 0..1: the mean Korean weight of its informative
    characters, scaled down when Hangul syllables are under `HANGUL_SHARE_AT_LEAST` of them.

    Text written in Korean words (`_in_korean_words`) may be formal Korean with hanja (`大韓民國
    國會는 法律을 制定한다`): its hanja weigh as much as Hangul, and half of its characters in
    Hangul is enough (`WORDS_HANGUL_SHARE_AT_LEAST`). Text without informative characters
    scores 1.0. Meant for bounded samples.
    """

    def is_hangul(char: str) -> bool:
        return _HANGUL_SYLLABLE_FIRST <= ord(char) <= _HANGUL_SYLLABLE_LAST

    if _in_korean_words(text):
        total, weighted, hangul = _weigh(text, _worded_korean_weight, is_hangul)
        share_at_least = WORDS_HANGUL_SHARE_AT_LEAST
    else:
        total, weighted, hangul = _weigh(text, _korean_weight, is_hangul)
        share_at_least = HANGUL_SHARE_AT_LEAST
    if not total:
        return 1.0
    return weighted / total * min(1.0, hangul / total / share_at_least)


# Korean sets its words apart with spaces, and most words end with a particle or a verb ending
# (조사, 어미: 는 를 의 에 다 요…), hanja words too (國會는). GB2312 text read as EUC-KR has spaces only
# where the Chinese had them, and its syllables end a word with one of these by chance: in spaced
# GBK read so, a word in fifty, against three in four and more in Korean.
KOREAN_WORD_ENDINGS = frozenset("는은를을이가의에도와과로서며고다요까니면게지만들께랑한된할해했인")
KOREAN_SPACES_AT_LEAST = 0.12  # spaces per non-space character
KOREAN_ENDINGS_AT_LEAST = 0.5  # of the words that end in Hangul
# In text written so, half the characters in Hangul (the rest hanja and punctuation) is Korean.
WORDS_HANGUL_SHARE_AT_LEAST = 0.5


def _in_korean_words(text: str) -> bool:
    words = text.split()
    characters = sum(map(len, words))
    if len(words) < 3 or text.count(" ") < KOREAN_SPACES_AT_LEAST * characters:
        return False
    last = [word.rstrip(_WORD_TRAIL)[-1:] for word in words]
    hangul = [char for char in last if char and _HANGUL_SYLLABLE_FIRST <= ord(char) <= _HANGUL_SYLLABLE_LAST]
    return len(hangul) >= 2 and sum(
        char in KOREAN_WORD_ENDINGS for char in hangul
    ) >= KOREAN_ENDINGS_AT_LEAST * len(hangul)


_WORD_TRAIL = ".,!?;:\"'()[]。，、！？；：“”‘’（）"


@cache
def _worded_korean_weight(char: str) -> float:
    return COMMON if char in KS_HANJA else _korean_weight(char)


# Hanzi separated by single spaces, as Korean words are: EUC-KR read as GBK gives common Hanzi
# (the Hangul block lies on GB2312 level 1) with a space every three or four of them.
# The space comes first: a pattern that opens with a literal lets `re` skip ahead at C speed.
_SPACED_HAN = re.compile(f" (?<=[{HAN_CLASS}] )(?=[{HAN_CLASS}])")


def spaced_han_share(text: str) -> float:
    """Spaces standing alone between two Hanzi, per Hanzi: ~0 in Chinese, 0.2-0.4 in Korean read as Chinese.

    Chinese extracted from PDFs can be spaced too (推 进 乡村振 兴): this is a tie-breaker
    between a Korean and a Chinese reading, never evidence on its own.
    """
    if " " not in text:
        return 0.0  # most Chinese text: found at memchr speed
    spaced = len(_SPACED_HAN.findall(text))
    return spaced / han_count(text) if spaced else 0.0


def han_count(text: str) -> int:
    """How many Han ideographs `text` holds: `len(HAN_CHAR.findall(text))`, by one table lookup
    per code point in numpy (a regex class of the Han ranges tests each character ten times slower)."""
    return int(np.count_nonzero(han_table()[code_points(text)]))


def _weigh(
    text: str, weight: Callable[[str], float], marked: Callable[[str], bool]
) -> tuple[int, float, int]:
    """(informative characters, their summed weight, how many of them `marked` picks)."""
    total = 0
    weighted = 0.0
    picked = 0
    for char, count in Counter(text).items():
        if char in NEUTRAL:
            continue
        total += count
        weighted += weight(char) * count
        if marked(char):
            picked += count
    return total, weighted, picked


# --- Scripts of the characters UTF-8 writes in two bytes -----------------------------------------
#
# Legacy CJK bytes that happen to be valid UTF-8 decode to characters of U+0080-U+07FF (GBK
# 学习 d1a7 cfb0 is ѧϰ): one character per pair of bytes, from whichever script the lead byte
# points at. Real text in those scripts writes words of one script; the accident strews letters
# of unrelated scripts side by side. Ranges from the Unicode block chart (Blocks.txt).
_TWO_BYTE_SCRIPTS = (
    # Latin-1's signs (° ± · ×) go with its letters: cp1252 mojibake (ÄãºÃ) is one script,
    # left to the mojibake repair.
    (0x0080, 0x024F, "Latin"),
    (0x0250, 0x02AF, "Latin"),  # IPA
    (0x02B0, 0x036F, ""),  # modifier letters and combining marks: they join any script
    (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0530, 0x058F, "Armenian"),
    (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0700, 0x074F, "Syriac"),
    (0x0750, 0x077F, "Arabic"),
    (0x0780, 0x07BF, "Thaana"),
    (0x07C0, 0x07FF, "NKo"),
)


def two_byte_script(char: str) -> str:
    """The script of a character of U+0080-U+07FF ("" for marks that join any script)."""
    code = ord(char)
    for first, last, script in _TWO_BYTE_SCRIPTS:
        if first <= code <= last:
            return script
    raise ValueError(f"{char!r} is not written in two bytes of UTF-8")


def mixes_scripts(run: str) -> bool:
    """True when a run of U+0080-U+07FF characters holds characters of two or more scripts.

    ѧϰ (Cyrillic, Greek) mixes; Ελλάδα, Привет, ñé or an accented letter with its combining
    mark do not.
    """
    scripts = {two_byte_script(char) for char in run} - {""}
    return len(scripts) > 1


# The characters of U+0080-U+07FF that text writes in a living alphabet (ranges from the Unicode
# code charts): Latin-1, the Latin letters of European languages, Vietnamese, Romanian,
# Azerbaijani and Pinyin, the tone marks GB2312 sets (ˇ ˉ ˊ ˋ ˙), the combining accents, and
# the basic Greek, Cyrillic (with the letters of the Turkic and Mongolian languages written in
# it), Armenian, Hebrew and Arabic letters with their points and signs. The rest of that range
# (ĳ Ŀ ſ, IPA and modifier letters, Coptic in the Greek block, the Cyrillic letters of minority
# languages, Syriac, Thaana, NKo) is, in a Chinese corpus, GBK or Big5 text that happens to be
# valid UTF-8: 一些 reads as һЩ, 元 as Ԫ, 习习 as ϰϰ, 使思 as ʹ˼.
_ALPHABET_RANGES = (
    # Latin-1 whole, its C1 controls too: they are UTF-8 read as Latin-1 (å\x90\x8c for 同),
    # the mojibake repair's to reverse, as `_TWO_BYTE_SCRIPTS` has it.
    (0x0080, 0x0131),
    (0x0134, 0x0137),
    (0x0139, 0x013E),
    (0x0141, 0x0148),
    (0x014A, 0x017E),
    (0x01A0, 0x01A1),  # Vietnamese ơ
    (0x01AF, 0x01B0),  # Vietnamese ư
    (0x01CD, 0x01DC),  # Pinyin ǎ ǐ ǒ ǔ ǖ ǘ ǚ ǜ
    (0x018F, 0x018F),  # Azerbaijani Ə ə
    (0x0218, 0x021B),  # Romanian ș ț
    (0x0259, 0x0259),
    (0x02C7, 0x02C7),
    (0x02C9, 0x02CB),
    (0x02D9, 0x02D9),
    (0x0300, 0x0333),  # combining accents: text only after a letter (`reads_as_words`)
    (0x0386, 0x0386),
    (0x0388, 0x038A),
    (0x038C, 0x038C),
    (0x038E, 0x03A1),
    (0x03A3, 0x03CE),
    (0x0400, 0x045F),
    (0x0490, 0x0493),  # Ukrainian ґ; Kazakh, Kyrgyz, Mongolian and Tatar letters (not һ: GBK 一)
    (0x049A, 0x049B),
    (0x04A2, 0x04A3),
    (0x04AE, 0x04B1),
    (0x04D8, 0x04D9),
    (0x04E8, 0x04E9),
    (0x0531, 0x0556),
    (0x0559, 0x055F),
    (0x0561, 0x0587),
    (0x0589, 0x058A),
    (0x05B0, 0x05BD),  # Hebrew points
    (0x05BE, 0x05BF),
    (0x05C1, 0x05C2),
    (0x05C7, 0x05C7),
    (0x05D0, 0x05EA),
    (0x05F0, 0x05F4),  # ligatures; geresh and gershayim, after a letter
    (0x060C, 0x060C),
    (0x061B, 0x061B),
    (0x061F, 0x061F),
    (0x0621, 0x063A),
    (0x0640, 0x0652),  # Arabic letters and harakat
    (0x0660, 0x066D),
    (0x0670, 0x0671),
    (0x067E, 0x067E),  # Persian and Urdu letters
    (0x0686, 0x0686),
    (0x0698, 0x0698),
    (0x06A9, 0x06A9),
    (0x06AF, 0x06AF),
    (0x06BE, 0x06BE),
    (0x06C1, 0x06C1),
    (0x06CC, 0x06CC),
    (0x06D2, 0x06D2),
    (0x06F0, 0x06F9),
)


# Letters that end a word: Hebrew final forms (ך ם ן ף ץ) and Greek final sigma. One followed by
# a letter (ץס for GBK 抓住) is no word.
_WORD_FINAL = frozenset("\u05da\u05dd\u05df\u05e3\u05e5\u03c2")
# The unaccented Greek letters: science's units and symbols, set against Latin letters (5μm,
# NF-κB, kΩ), where other scripts' letters touching a Latin one are an accident (ΪXX for 为XX).
_GREEK_SYMBOLS = frozenset(chr(code) for code in (*range(0x0391, 0x03AA), *range(0x03B1, 0x03CA)))
# Signs written after a letter, as combining marks are: Hebrew geresh and gershayim.
_AFTER_A_LETTER = frozenset("\u05f3\u05f4")


@cache
def alphabet_codes() -> frozenset[int]:
    """The code points of U+0080-U+07FF that real text writes (`_ALPHABET_RANGES`)."""
    return frozenset(code for first, last in _ALPHABET_RANGES for code in range(first, last + 1))


def alphabet_plausibility(text: str) -> float:
    """How much `text` looks like words of an alphabet (Cyrillic, Greek, Hebrew, Arabic, Thai,
    accented Latin...), in 0..1: the share of its non-ASCII letters and marks that stand in words
    of one script (Unicode character names give the script: CYRILLIC, THAI, ...) with no capital
    after a small letter, against them, U+FFFD, controls and unassigned or private characters.
    Punctuation and symbols weigh nothing. 0.0 with a Han character or under `ALPHABET_LETTERS_AT_LEAST` letters: a single-byte codec's
    reading of a Russian or Thai file is such words; of a Chinese one, letters and symbols
    strewn by byte pairs. Meant for bounded samples.
    """
    good = bad = 0
    word_script = ""
    word_length = 0
    word_mixed = word_lower = False

    def close_word() -> None:
        nonlocal good, bad
        if word_mixed:
            bad += word_length
        else:
            good += word_length

    for char in text:
        category = unicodedata.category(char)
        if char.isascii() or category[0] in "PSZ":
            if word_length:
                close_word()
            word_script, word_length, word_mixed, word_lower = "", 0, False, False
            continue
        if category[0] not in "LM":
            bad += 1
            continue
        if is_han(char):
            return 0.0
        script = unicodedata.name(char, "").split(" ")[0]
        if category[0] == "L" and word_script and script != word_script:
            word_mixed = True
        # Words are written small, capitalized or in capitals: ЦѕЅсМм is bytes read in pairs.
        word_mixed = word_mixed or (word_lower and category == "Lu")
        word_lower = word_lower or category == "Ll"
        word_script = word_script or (script if category[0] == "L" else "")
        word_length += 1
    if word_length:
        close_word()
    # U+FFFD, a symbol by its category, passed above as punctuation does: it is no text.
    bad += text.count("\ufffd")
    if good < ALPHABET_LETTERS_AT_LEAST:
        return 0.0
    return good / (good + bad)


# An alphabet's reading is judged on this many of its letters at least: a short run of GBK bytes
# read in a single-byte codec is a word of letters by accident.
ALPHABET_LETTERS_AT_LEAST = 16


def reads_as_words(run: str, before: str = "", after: str = "") -> bool:
    """Whether a run of U+0080-U+07FF characters (one script, `mixes_scripts` aside) reads as
    words of an alphabet: each character one that text writes (`alphabet_codes`), each combining
    mark (and Hebrew geresh) after a letter, no word-final letter (ץ ς) before a letter, and,
    unless the run is Latin or unaccented Greek, no ASCII letter touching it. `before` and
    `after` are the characters beside the run ("" at a line's edge or beside a character of three
    bytes or more). False for the readings of GBK or Big5 bytes valid as UTF-8 (һЩ for 一些,
    100Ԫ for 100元, УX for 校X); True for café, Ελλάδα, Привет, שלום, ǎ.
    """
    alphabet = alphabet_codes()
    previous = before
    for char in run:
        if ord(char) not in alphabet:
            return False
        if (unicodedata.combining(char) or char in _AFTER_A_LETTER) and not (
            previous.isalpha() or (previous and unicodedata.combining(previous))
        ):
            return False
        if previous in _WORD_FINAL and char.isalpha():
            return False
        previous = char
    if f"{before}{after}".isascii() and any(side.isalpha() for side in (before, after)):
        return all(two_byte_script(char) in ("Latin", "") or char in _GREEK_SYMBOLS for char in run)
    return True
