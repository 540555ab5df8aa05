from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docclean import plausibility as plausibility_module
from docclean.han import HAN_CHAR
from docclean.plausibility import (
    BOUND_SLACK,
    han_count,
    outside_level1_share,
    plausibility,
    plausibility_at_most,
    reference_bmp_tier_indices,
    reference_outside_level1_share,
    reference_plausibility,
    reference_unreadable_share,
    unreadable_share,
)

# Every tier, the characters at their edges, ASCII controls, and characters beyond the BMP.
_ALPHABET = st.one_of(
    st.sampled_from(
        "的是了我們會議，。“”（）！？ⅠⅡ①※★№αāǎ×°é¼ÿ鍙樺法浣犲ソ涓栫晫魑魅魍魉饕餮耄耋𠮷𨋢"
        "こんにちはカタカナ한국어Кириллица\ue000\uf8ff\ufffd\ufffe\x00\x01\x1f\x7f\x80\x9f\t\n\r\x0b\x0c"
        " aZ09~\uff01\uff5e\uff5f\u3000\u3400\u4dbf\u9fff\uf900\ufaff\U00020000\U0003ffff\U000f0000"
    ),
    st.characters(),
)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=300))
def test_plausibility_agrees_with_the_definition(text: str) -> None:
    expected = reference_plausibility(text)
    assert plausibility(text) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=400),
    st.sampled_from(["gb18030", "big5hkscs", "utf-8", "utf-16-le", "utf-32-le", "cp1252", "shift_jis"]),
)
def test_plausibility_agrees_on_readings_of_any_bytes(data: bytes, codec: str) -> None:
    # What the decoder scores: the readings of bytes with right and wrong codecs.
    text = data.decode(codec, errors="replace")
    assert plausibility(text) == pytest.approx(reference_plausibility(text), rel=1e-12, abs=1e-12)
    _assert_shares_are_the_definitions(text)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(alphabet=_ALPHABET, max_size=300), st.text(max_size=300)))
def test_shares_are_the_definitions(text: str) -> None:
    _assert_shares_are_the_definitions(text)


def _assert_shares_are_the_definitions(text: str) -> None:
    # Counted at C speed, the shares are the same floats as counted character by character.
    assert outside_level1_share(text) == reference_outside_level1_share(text)
    assert unreadable_share(text) == reference_unreadable_share(text)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=_ALPHABET, max_size=300), st.text(st.characters(exclude_categories=()), max_size=100)
    )
)
def test_han_count_is_the_han_regex(text: str) -> None:
    # Lone surrogates included: a table lookup per code point counts what the regex matches.
    assert han_count(text) == len(HAN_CHAR.findall(text))


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=_ALPHABET, max_size=300),
        st.binary(max_size=400).map(lambda data: data.decode("gb18030", errors="replace")),
    ),
    st.integers(min_value=0, max_value=320),
)
def test_plausibility_at_most_bounds_plausibility(text: str, head: int) -> None:
    bound = plausibility_at_most(text, head)
    assert plausibility(text) <= bound + BOUND_SLACK
    if head >= len(text):  # every character weighed: the bound is the mean itself
        assert bound == pytest.approx(plausibility(text), rel=1e-12, abs=1e-12)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=_ALPHABET, max_size=600),
        st.text(st.characters(exclude_categories=()), max_size=300),
        st.binary(max_size=1200).map(lambda data: data.decode("big5hkscs", errors="replace")),
    )
)
def test_weights_counted_with_numpy_are_the_regex_counts(text: str) -> None:
    # Either way of counting gives the same whole numbers, so the same float.
    assert plausibility_module._array_weight_terms(text) == plausibility_module._regex_weight_terms(text)


def test_plausibility_is_order_independent() -> None:
    # Counted, not summed character by character: the same characters in any order give the
    # same float, so ties between two readings are ties.
    text = "会议ā×鍙樺法\ufffd𠮷α" * 7
    assert plausibility(text) == plausibility(text[::-1]) == plausibility("".join(sorted(text)))


def test_the_tier_table_is_char_weight_of_every_bmp_character() -> None:
    # Built over whole arrays for a process's first use; it must weigh each character as
    # `char_weight` does, edges of every range included.
    built = plausibility_module._bmp_tier_indices()
    reference = reference_bmp_tier_indices()
    differing = np.flatnonzero(built != reference)
    assert not len(differing), [hex(code) for code in differing[:10].tolist()]


@pytest.mark.parametrize(
    ("text", "alphabet"),
    [
        ("Все люди рождаются свободными и равными в своем достоинстве.", True),
        ("ประเทศไทยมีประชากรประมาณหกสิบเก้าล้านคน", True),
        ("مرحبا بالعالم، هذا نص عربي للاختبار.", True),
        ("Η Ελλάδα είναι μια χώρα στην Ευρώπη.", True),
        # GBK read as windows-1251: letters and signs strewn by byte pairs, words mixing nothing
        # but broken by the signs; Hanzi, U+FFFD or a short sample are never an alphabet's.
        ("各位同志今天召开全县安全生产工作会议".encode("gbk").decode("cp1251"), False),
        ("Все люди рождаются 同志 свободными и равными.", False),
        ("Все люди \ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd рождаются.", False),
        ("Все люди", False),
    ],
)
def test_alphabet_plausibility_tells_words_of_an_alphabet(text: str, alphabet: bool) -> None:
    from docclean.plausibility import alphabet_plausibility

    assert (alphabet_plausibility(text) >= 0.9) is alphabet
