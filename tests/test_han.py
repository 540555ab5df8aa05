"""One Han predicate (docclean.han) for every stage, and where the stages' old definitions differed."""

from __future__ import annotations

import unicodedata
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from docclean import placeholders as ph
from docclean.han import BMP_HAN_RANGES, HAN_CHAR, HAN_RANGES, is_han
from docclean.normalize import (
    remove_invisible,
    remove_spaces_between_han,
    widen_punctuation_in_chinese,
)
from docclean.plausibility import FOREIGN, RARE_HAN, char_weight, spaced_han_share

# Planes 0 to 3 hold every CJK ideograph; later planes hold none.
_IDEOGRAPH_PLANES = range(0x40000)
_IDEOGRAPH_NAMES = ("CJK UNIFIED IDEOGRAPH-", "CJK COMPATIBILITY IDEOGRAPH-")


def test_han_is_exactly_the_cjk_ideographs_python_knows() -> None:
    # The table comes from a UCD that may be newer than Python's: what Python has not assigned
    # yet is left out of the comparison, every character it knows must agree.
    for code in _IDEOGRAPH_PLANES:
        name = unicodedata.name(chr(code), "")
        if name:
            assert is_han(chr(code)) == name.startswith(_IDEOGRAPH_NAMES), hex(code)


def test_ranges_are_sorted_disjoint_and_the_bmp_part_is_a_prefix() -> None:
    assert all(first <= last < following for (first, last), (following, _) in pairwise(HAN_RANGES))
    assert HAN_RANGES[: len(BMP_HAN_RANGES)] == BMP_HAN_RANGES
    assert all(last < 0x10000 for _, last in BMP_HAN_RANGES)


@given(st.characters())
def test_is_han_agrees_with_the_character_class(char: str) -> None:
    assert is_han(char) == (HAN_CHAR.fullmatch(char) is not None)


def test_han_script_characters_that_are_not_ideographs_are_not_han() -> None:
    # Radical, iteration mark, ideographic zero, Hangzhou numeral, and an empty string.
    assert not any(map(is_han, ["⼈", "々", "〇", "〡", ""]))
    # The placeholder stage counts the ideographic zero as Han context, by name.
    assert ph._HAN.match("〇") and ph._HAN.match("𠮷")


# Where the three old definitions disagreed, the one predicate decides:


def test_yijing_hexagrams_are_not_rare_han() -> None:
    # plausibility counted U+3400-U+9FFF as ideographs, which takes in the Yijing Hexagram
    # Symbols (U+4DC0-4DFF, Script=Common) between Extension A and the unified block.
    assert char_weight("\u4dc0") == FOREIGN
    assert char_weight("\u4dbf") == RARE_HAN
    assert spaced_han_share("\u4dc0 \u4dc0") == 0.0


def test_unassigned_code_points_in_the_ideograph_planes_are_not_han() -> None:
    # plausibility took all of U+20000-3FFFF and placeholders U+20000-3134F, unassigned
    # gaps included: a lone star after one is no longer in a Han word.
    assert char_weight("\U0002a6e0") == FOREIGN
    assert ph.replace_placeholders("\U0002a6e0*同志").placeholders == ()
    assert ph.replace_placeholders("\U0002a6df*同志").placeholders != ()


def test_normalize_sees_astral_han() -> None:
    # normalize knew only the BMP ideographs: beside an Extension B character a half-width
    # mark stayed half-width, a PDF's letter spacing stayed and an ideographic variation
    # selector was removed. Script detection still weighs the BMP ones (see normalize).
    assert widen_punctuation_in_chinese("𠮷,好")[0] == "𠮷，好"
    assert remove_spaces_between_han("𠮷 好")[0] == "𠮷好"
    assert remove_invisible("𠮷\U000e0100好") == ("𠮷\U000e0100好", "")
