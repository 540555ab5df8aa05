"""The document's language: an ISO 639-1 code and how sure the detector is.

The detector is Lingua (lingua-language-detector), whose n-gram models ship inside its wheel:
nothing is downloaded at run time. It runs in low-accuracy mode (trigram models only) over
`CANDIDATES`, a set restricted to the languages a Chinese drop plausibly holds: with these
sixteen it loads in ~0.4 s and ~30 MB, against ~7 s and ~200 MB for the same set in high-accuracy
mode and ~3 s, ~80 MB for all 75 languages (measured on this project's machine). Low accuracy
loses precision on texts under ~120 characters; documents are longer, and the sample is
`SAMPLE_CHARS` long. Han, kana and Hangul are told apart by Lingua's script rules, so Chinese,
Japanese and Korean need no n-gram model to be recognized; a document written in a language
outside the set is reported as the closest candidate, with a lower confidence. A sample those
rules call Chinese from its characters alone (Han ideographs, ASCII, punctuation; fewer words of
ASCII letters than Han words) gets their answer without Lingua reading it (`rules_decide_chinese`).

Two corrections are applied to a text Lingua calls Chinese. From the decode stage's evidence:
decoded from a Japanese codec (cp932, euc_jp), it is Japanese written in kanji only (a title, a
list of names), which no character statistics can tell from Chinese. From its own script:
Chinese is written without Hangul or kana, so a sample whose CJK letters are at least
`OTHER_SCRIPT_SHARE` Hangul is Korean (Korean set with Hanja, 大韓民國 國會는, is what Lingua
calls Chinese) and one with that share of kana is Japanese; a long sample Lingua calls Japanese
or Korean with next to no kana or Hangul is Chinese quoting a word (`_written_in`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from docclean.han import HAN_CHAR, character_class

if TYPE_CHECKING:
    from lingua import LanguageDetector

# Characters of the document the detector reads: a page and a half of Chinese, a page of
# English. The language of a document shows in its first pages; the cost stays bounded.
SAMPLE_CHARS = 2_000

# ISO 639-1 codes of the candidate languages, with their English names. Plain data, so that the
# CLI checks `--languages` without loading Lingua.
CANDIDATES = {
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "en": "English",
    "ru": "Russian",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "pt": "Portuguese",
    "it": "Italian",
    "vi": "Vietnamese",
    "th": "Thai",
    "ar": "Arabic",
    "id": "Indonesian",
    "ms": "Malay",
    "el": "Greek",
}
CANDIDATE_CODES = frozenset(CANDIDATES)

_JAPANESE_CODECS = frozenset({"cp932", "euc_jp", "shift_jis", "iso2022_jp"})
# Share of a sample's CJK letters (Han, kana, Hangul) in Hangul or kana from which it is not
# Chinese: Korean newspapers' Hanja or a Chinese text quoting a Japanese name stay far below,
# Korean and Japanese prose far above (particles and endings are written in Hangul or kana).
OTHER_SCRIPT_SHARE = 0.2
# Below this share of kana (or Hangul) in at least this many CJK letters, a text Lingua calls
# Japanese (or Korean) is Chinese with a quoted word: Japanese prose runs at a third or more of
# kana, and a headline short enough to hold less (岸田首相、衆院解散を表明) is too short to judge.
STRAY_SCRIPT_SHARE = 0.05
SCRIPT_EVIDENCE_LETTERS = 20
# Lingua's rule engine (lingua-rs 1.7.2, which lingua-language-detector 2.1.1 wraps:
# `split_text_into_words`, `detect_language_with_rules`) splits the lowercased text into words:
# each Han character alone, and each run of letters that starts elsewhere (it goes on through
# Han characters). A word holding a Han character counts for Chinese, one of ASCII letters for
# no language, and with fewer no-language words than Chinese ones the rules return Chinese at
# confidence 1.0 without reading any n-gram. So a sample made only of ASCII, the CJK Unified
# Ideographs of the BMP and `NEUTRAL_RANGES` (characters that form no word: `tests/test_language.py`
# checks each against Lingua) is decided by counting, at no cost to the result.
_WORD_HAN = "\u4e00-\u9fff"
# Blocks of punctuation, symbols, spaces and digits that Chinese text uses; only their
# characters of these categories count, the letters among them (fullwidth Latin, halfwidth kana)
# and `¿¡` (Spanish's own characters to Lingua) do not.
_NEUTRAL_BLOCKS = (
    (0x00A0, 0x00FF),
    (0x2000, 0x206F),
    (0x2190, 0x22FF),
    (0x2460, 0x27BF),
    (0x3000, 0x303F),
    (0xFE30, 0xFE6F),
    (0xFF00, 0xFFEF),
)
_NEUTRAL_CATEGORIES = frozenset(
    {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Nd", "No"}
)


def _neutral_ranges() -> tuple[tuple[int, int], ...]:
    codes = [
        code
        for first, last in _NEUTRAL_BLOCKS
        for code in range(first, last + 1)
        if unicodedata.category(chr(code)) in _NEUTRAL_CATEGORIES and chr(code) not in "¿¡"
    ]
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return tuple(ranges)


# Characters besides ASCII and the Han ideographs that form no word for Lingua.
NEUTRAL_RANGES: tuple[tuple[int, int], ...] = _neutral_ranges()
_OUTSIDE_RULES = re.compile(f"[^\x00-\x7f{_WORD_HAN}{character_class(NEUTRAL_RANGES)}]")
_LATIN_WORD = re.compile(f"[A-Za-z][A-Za-z{_WORD_HAN}]*")
# Every byte but the lead bytes of U+4000-U+9FFF in UTF-8, to delete.
_NOT_HAN_LEADS = bytes(byte for byte in range(256) if not 0xE4 <= byte <= 0xE9)
_HANGUL_CLASS = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_KANA_CLASS = "\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fd-\u30ff\u31f0-\u31ff\uff66-\uff9d"
_HANGUL = re.compile(f"[{_HANGUL_CLASS}]")
_KANA = re.compile(f"[{_KANA_CLASS}]")
_HANGUL_OR_KANA = re.compile(f"[{_HANGUL_CLASS}{_KANA_CLASS}]")


def parse_languages(value: str) -> tuple[str, ...]:
    """`"zh,en"` -> `("zh", "en")`; raises ValueError naming the codes that are not candidates."""
    codes = tuple(dict.fromkeys(code.strip().lower() for code in value.split(",") if code.strip()))
    unknown = [code for code in codes if code not in CANDIDATE_CODES]
    among = f"ISO 639-1 codes among {', '.join(sorted(CANDIDATE_CODES))}, separated by commas"
    if not codes:
        raise ValueError(f"no language code is given; name one or more, {among}.")
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is not a language code the detector knows; use {among}.")
    return codes


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """`language` is an ISO 639-1 code (zh, ja, ko, en, ...) or None when the sample has no
    letters to judge (only digits, punctuation or nothing); `confidence` is in 0..1, 0.0 then."""

    language: str | None
    confidence: float


@cache
def _detector() -> LanguageDetector:
    """Built once per process, on first use (~0.4 s): importing this module costs nothing."""
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in CANDIDATES]
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


def detect_language(text: str, encoding: str | None = None) -> LanguageGuess:
    """The language of `text` from its first `SAMPLE_CHARS` characters.

    `encoding` is the codec the text was decoded from, when known (see the module docstring for
    the one use made of it). Never raises on any string.
    """
    sample = text[:SAMPLE_CHARS]
    if rules_decide_chinese(sample):
        code, confidence = "zh", 1.0
    else:
        values = _detector().compute_language_confidence_values(sample)
        if not values or values[0].value <= 0.0:
            return LanguageGuess(None, 0.0)
        best = values[0]
        code, confidence = best.language.iso_code_639_1.name.lower(), round(float(best.value), 3)
    if code == "zh" and encoding in _JAPANESE_CODECS:
        code = "ja"
    elif code in ("zh", "ja", "ko"):
        code = _written_in(sample, code)
    return LanguageGuess(code, confidence)


def rules_decide_chinese(sample: str) -> bool:
    """Whether Lingua's rule engine calls `sample` Chinese at confidence 1.0, told from its
    characters alone; False also when they do not decide (Lingua then reads the sample)."""
    if _OUTSIDE_RULES.search(sample):
        return False
    # Counted in UTF-8 at C speed: of the characters left, only the ideographs take a lead byte
    # E4-E9, and each takes three bytes where it is one character.
    chinese = len(sample.encode("utf-8").translate(None, _NOT_HAN_LEADS))
    words = _LATIN_WORD.findall(sample)
    glued = [word for word in words if not word.isascii()]
    # A letter run through Han characters is one Chinese word, not one per character.
    glued_text = "".join(glued)
    chinese -= (len(glued_text.encode("utf-8")) - len(glued_text)) // 2 - len(glued)
    return len(words) - len(glued) < chinese


def _written_in(sample: str, guess: str) -> str:
    """Chinese, Japanese or Korean ("zh", "ja", "ko") by the sample's scripts, Lingua's `guess`
    standing where they do not decide.

    Hangul or kana making `OTHER_SCRIPT_SHARE` of the CJK letters decide for Korean or Japanese;
    a sample of `SCRIPT_EVIDENCE_LETTERS` CJK letters or more with under `STRAY_SCRIPT_SHARE` of
    the guessed script is Chinese quoting a word (Lingua calls a text with one の Japanese).
    """
    if guess == "zh" and _HANGUL_OR_KANA.search(sample) is None:
        return guess  # the usual case, decided in one scan without counting
    hangul, kana = len(_HANGUL.findall(sample)), len(_KANA.findall(sample))
    letters = hangul + kana + len(HAN_CHAR.findall(sample))
    if hangul and hangul >= OTHER_SCRIPT_SHARE * letters and hangul >= kana:
        return "ko"
    if kana and kana >= OTHER_SCRIPT_SHARE * letters:
        return "ja"
    own = {"ko": hangul, "ja": kana}.get(guess)
    if own is not None and letters >= SCRIPT_EVIDENCE_LETTERS and own < STRAY_SCRIPT_SHARE * letters:
        return "zh"
    return guess


def language_name(code: str) -> str:
    """The English name of a candidate's ISO 639-1 code, e.g. "Japanese" for "ja"; the code itself otherwise."""
    return CANDIDATES.get(code, code)
