from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import opencc
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from docclean import decode, repair
from docclean import plausibility as plausibility_module
from docclean.decode import NUL_DETAIL, QUICK_TRIAL_BYTES, decode_bytes, reference_lines
from docclean.errors import RejectedInput
from docclean.han import HAN_CHAR
from docclean.plausibility import BIG5_LEVEL1, GB2312_LEVEL1, plausibility
from docclean.record import Decoded, Segment
from tests.conftest import DATA_DIR

CASES = json.loads((DATA_DIR / "decode_cases.json").read_text("utf-8"))
S2T = opencc.OpenCC("s2t").convert
# Taiwan variants, used only for the few characters Big5 lacks in s2t's output (爲 -> 為).
S2TW = opencc.OpenCC("s2tw").convert


def build_bytes(parts: list[dict[str, str]]) -> bytes:
    return b"".join(
        bytes.fromhex(part["hex"]) if "hex" in part else part["text"].encode(part["encoding"])
        for part in parts
    )


def segments_text(data: bytes, decoded: Decoded) -> str:
    """Re-decode the recorded segments: they must give the text back (before any repair)."""
    errors = "replace" if decoded.method == "replace" else "strict"
    return "".join(data[s.start : s.end].decode(s.encoding, errors) for s in decoded.segments)


def assert_segments_cover(data: bytes, decoded: Decoded) -> None:
    starts = [s.start for s in decoded.segments]
    ends = [s.end for s in decoded.segments]
    assert starts[1:] == ends[:-1], "segments must be contiguous"
    assert ends[-1] == len(data)
    assert starts[0] in (0, 3)  # 3: a UTF-8 BOM lies before the first segment


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_golden_cases(case: dict[str, Any]) -> None:
    data = build_bytes(case["input"])
    expected = case["expected"]
    decoded = decode_bytes(data)
    assert decoded.text == expected.get("text", "".join(part.get("text", "") for part in case["input"]))
    for field in ("encoding", "method", "confidence", "damaged_chars", "repair"):
        if field in expected:
            assert getattr(decoded, field) == expected[field], field
    if "flags" in expected:
        assert set(decoded.flags) == set(expected["flags"])
    if "segments" in expected:
        assert decoded.segments == tuple(Segment(*segment) for segment in expected["segments"])
    assert_segments_cover(data, decoded)
    if decoded.repair is None:
        assert segments_text(data, decoded) == decoded.text


@pytest.mark.parametrize(
    ("case", "encoding"),
    [(case, encoding) for case in CASES["negative"] for encoding in case["encodings"]],
    ids=lambda value: value["name"] if isinstance(value, dict) else value,
)
def test_negative_cases_unchanged(case: dict[str, Any], encoding: str) -> None:
    decoded = decode_bytes(case["text"].encode(encoding))
    assert decoded.text == case["text"]
    assert decoded.repair is None
    assert decoded.damaged_chars == 0
    assert not {"mojibake_repaired", "lossy_conversion_traces", "replacement_chars"} & set(decoded.flags)


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "The file is a PNG image, not text."),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "The file is a JPEG image, not text."),
        (b"GIF89a\x01\x00", "The file is a GIF image, not text."),
        (
            b"PK\x03\x04\x14\x00\x06\x00",
            "The file is a ZIP archive (or a .docx/.xlsx document, which is one), not text.",
        ),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "The file is a PDF document, not text."),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00",
            "The file is an OLE2 compound file (a legacy .doc or .xls document), not text.",
        ),
        (b"\x1f\x8b\x08\x00", "The file is a gzip archive, not text."),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "The file is a 7z archive, not text."),
        (b"Rar!\x1a\x07\x01\x00", "The file is a RAR archive, not text."),
        (b"\x00\x00\x00\x00\x00\x00", NUL_DETAIL),
        (b"ELF\x7f\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00", NUL_DETAIL),
        ("同志们今天开会".encode("gbk") + b"\x00\x00\x01\x02", NUL_DETAIL),
    ],
    ids=["png", "jpeg", "gif", "zip", "pdf", "ole2", "gzip", "7z", "rar", "nul", "elf-like", "gbk-with-nul"],
)
def test_binary_is_rejected(data: bytes, detail: str) -> None:
    with pytest.raises(RejectedInput) as error:
        decode_bytes(data)
    assert error.value.reason == "binary"
    assert error.value.detail == detail


def test_nul_detail_is_the_exact_sentence() -> None:
    assert NUL_DETAIL == (
        "The file contains NUL bytes and does not read as UTF-16 or UTF-32 text: it is binary data, not text."
    )


# A text with NULs UTF-16/32 do not read: a padding after it, or one stray NUL (a bad copy).
_NUL_TEXT = (
    "同志们：今天我们召开民主生活会，认真查摆问题，深刻剖析根源。\n一、存在的问题\n（一）理论学习不够深入。"
)


@settings(max_examples=200, deadline=None)
@given(
    codec=st.sampled_from(["utf-8", "gbk", "big5hkscs"]),
    cuts=st.lists(st.integers(min_value=0, max_value=len(_NUL_TEXT)), max_size=4),
    padding=st.integers(min_value=0, max_value=5000),
)
def test_a_text_with_a_few_stray_nuls_or_a_padding_of_nuls_is_that_text(
    codec: str, cuts: list[int], padding: int
) -> None:
    text = _NUL_TEXT if codec != "big5hkscs" else S2T(_NUL_TEXT)
    assume(cuts or padding)
    pieces = [text[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(text)], strict=True)]
    data = b"\x00".join(piece.encode(codec) for piece in pieces) + b"\x00" * padding
    decoded = decode_bytes(data)
    assert decoded.flags[-1:] == ("nul_bytes",)
    # The NULs are in the text as U+0000, where normalization removes them and records it.
    assert decoded.text == "\x00".join(pieces) + "\x00" * padding
    assert segments_text(data, decoded) == decoded.text


@settings(max_examples=100, deadline=None)
@given(
    codec=st.sampled_from(["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]),
    padding=st.integers(min_value=1, max_value=300),
)
def test_utf16_and_utf32_without_a_bom_padded_with_nuls_are_their_text(codec: str, padding: int) -> None:
    data = _NUL_TEXT.encode(codec) + b"\x00" * padding
    decoded = decode_bytes(data)
    assert decoded.encoding == codec and "nul_bytes" in decoded.flags
    # A padding that does not end on a code unit ends in one U+FFFD (flagged `replacement_chars`).
    assert decoded.text.rstrip("\x00\ufffd") == _NUL_TEXT.rstrip("\n").rstrip("。") + "。"
    assert ("replacement_chars" in decoded.flags) == ("\ufffd" in decoded.text)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_cut_inside_its_last_code_unit_is_its_text(codec: str) -> None:
    decoded = decode_bytes(_NUL_TEXT.encode(codec)[:-1])
    assert (decoded.encoding, decoded.text, decoded.flags) == (
        codec,
        _NUL_TEXT[:-1] + "\ufffd",
        ("replacement_chars",),
    )


def test_a_character_cut_before_a_padding_of_nuls_is_a_cut_file_not_another_codec() -> None:
    # Read with the padding, the cut character's bytes were another codec's (故事 as 故浜).
    data = _NUL_TEXT.encode()[:-2] + b"\x00" * 512
    decoded = decode_bytes(data)
    assert decoded.encoding == "utf-8"
    assert decoded.text == _NUL_TEXT[:-1] + "\ufffd" + "\x00" * 512
    assert decoded.flags == ("replacement_chars", "nul_bytes")
    assert segments_text(data, decoded) == decoded.text


@pytest.mark.parametrize(
    "data",
    [
        # As many NULs as binary data has: one byte in 256.
        bytes(range(256)) * 40,
        # No NUL but a padding, and bytes that read as no text.
        bytes(range(1, 256)) * 40 + b"\x00" * 100,
        # Text with a NUL in every few characters is no text with a stray NUL.
        "同志们，今天开会，研究工作，部署任务，".encode() * 20,
    ],
    ids=["binary-nuls", "binary-with-padding", "nul-in-every-clause"],
)
def test_nuls_beyond_stray_ones_stay_binary(data: bytes) -> None:
    data = data.replace("，".encode(), "，".encode() + b"\x00")
    with pytest.raises(RejectedInput) as error:
        decode_bytes(data)
    assert (error.value.reason, error.value.detail) == ("binary", NUL_DETAIL)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_rejected(data: bytes) -> None:
    decoded = _decode_or_binary(data)
    if decoded is not None:
        assert 0.0 <= decoded.confidence <= 1.0


_CODECS = st.sampled_from(["utf-8", "gb18030", "big5hkscs", "utf-16-le", "cp1252", "latin-1"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=30), _CODECS), max_size=5))
def test_any_text_in_any_codec_decodes_or_is_rejected(parts: list[tuple[str, str]]) -> None:
    data = b"".join(text.encode(codec, errors="replace") for text, codec in parts)
    decoded = _decode_or_binary(data)
    if decoded is not None:
        assert_segments_cover(data, decoded)


def _decode_or_binary(data: bytes) -> Decoded | None:
    """Decode any bytes: a str comes out, or the only exception is a binary reject (then None)."""
    try:
        decoded = decode_bytes(data)
    except RejectedInput as error:
        assert error.reason == "binary"
        return None
    assert isinstance(decoded.text, str)
    return decoded


# --- the seeds, in every supported encoding ------------------------------------------------


def traditional(text: str) -> str:
    """s2t, with the rare character Big5-HKSCS lacks taken from the Taiwan variant instead."""
    converted, taiwan = S2T(text), S2TW(text)
    if len(converted) != len(taiwan):
        pytest.skip("s2t and s2tw give texts of different lengths: no character-wise fallback")
    chars = [c if _big5_encodable(c) else t for c, t in zip(converted, taiwan, strict=True)]
    missing = {c for c in chars if not _big5_encodable(c)}
    if missing:
        pytest.skip(f"Big5-HKSCS cannot encode {''.join(sorted(missing))!r} in any variant")
    return "".join(chars)


def _big5_encodable(char: str) -> bool:
    try:
        char.encode("big5hkscs")
    except UnicodeEncodeError:
        return False
    return True


def seed_texts(seeds: dict[str, bytes]) -> dict[str, str]:
    return {name: data.decode("utf-8") for name, data in seeds.items()}


@pytest.mark.parametrize(
    ("encoding", "expected_codec"),
    [
        ("utf-8", "utf-8"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
        ("utf-16", "utf-16"),
        ("utf-16-le", "utf-16-le"),
    ],
)
def test_seeds_in_each_encoding(seeds: dict[str, bytes], encoding: str, expected_codec: str) -> None:
    for name, text in seed_texts(seeds).items():
        decoded = decode_bytes(text.encode(encoding))
        assert decoded.text == text, name
        assert decoded.encoding == expected_codec, name
        assert decoded.repair is None
        assert not decoded.flags, (name, decoded.flags)


def test_seeds_as_big5_after_s2t(seeds: dict[str, bytes]) -> None:
    for name, text in seed_texts(seeds).items():
        big5_text = traditional(text)
        decoded = decode_bytes(big5_text.encode("big5hkscs"))
        assert decoded.text == big5_text, name
        assert decoded.encoding == "big5hkscs", name
        assert not decoded.flags, (name, decoded.flags)


def test_seeds_as_utf8_sig_with_crlf_keep_crlf(seeds: dict[str, bytes]) -> None:
    for name, text in seed_texts(seeds).items():
        crlf = text.replace("\n", "\r\n")
        decoded = decode_bytes(crlf.encode("utf-8-sig"))
        assert decoded.text == crlf, name
        assert (decoded.encoding, decoded.method) == ("utf-8", "bom")


FOOTER = "本文由某某文库整理，更多精彩资料请关注公众号。\n"


def test_seed_utf8_body_with_gbk_footer(seeds: dict[str, bytes]) -> None:
    for name, text in seed_texts(seeds).items():
        body = text if text.endswith("\n") else text + "\n"
        data = body.encode() + FOOTER.encode("gbk")
        decoded = decode_bytes(data)
        assert decoded.text == body + FOOTER, name
        assert decoded.method == "mixed"
        assert "mixed_encoding" in decoded.flags
        assert decoded.encoding == "utf-8"
        split = len(body.encode())
        assert decoded.segments == (Segment(0, split, "utf-8"), Segment(split, len(data), "gb18030"))


def test_seed_gbk_body_with_utf8_paragraph(seeds: dict[str, bytes]) -> None:
    for name, text in seed_texts(seeds).items():
        lines = text.split("\n")
        # A paragraph between two non-blank lines, so the segment boundaries are exact.
        index = next(
            i
            for i in range(len(lines) // 2, len(lines) - 1)
            if all(lines[j].strip() for j in (i - 1, i, i + 1))
        )
        head = "".join(line + "\n" for line in lines[:index]).encode("gbk")
        pasted = (lines[index] + "\n").encode("utf-8")
        tail = "\n".join(lines[index + 1 :]).encode("gbk")
        decoded = decode_bytes(head + pasted + tail)
        assert decoded.text == text, name
        assert decoded.method == "mixed"
        assert decoded.encoding == "gb18030"
        a, b = len(head), len(head) + len(pasted)
        assert decoded.segments == (
            Segment(0, a, "gb18030"),
            Segment(a, b, "utf-8"),
            Segment(b, b + len(tail), "gb18030"),
        )


def exact_gbk_mojibake_lines(texts: dict[str, str]) -> str:
    """Seed lines whose UTF-8 bytes GBK decodes without error: the mojibake round trip is exact."""
    kept = []
    for text in texts.values():
        for line in text.split("\n"):
            try:
                line.encode("utf-8").decode("gbk")
            except UnicodeDecodeError:
                continue
            if len(line) >= 4:
                kept.append(line)
    if not kept:
        pytest.skip("no seed line survives a UTF-8 -> GBK misreading exactly")
    return "\n".join(kept)


def test_seed_utf8_read_as_gbk_is_repaired(seeds: dict[str, bytes]) -> None:
    original = exact_gbk_mojibake_lines(seed_texts(seeds))
    mojibake = original.encode("utf-8").decode("gbk")
    decoded = decode_bytes(mojibake.encode("utf-8"))
    assert decoded.text == original
    assert decoded.repair == "utf-8 decoded as gbk"
    assert "mojibake_repaired" in decoded.flags


def test_seed_utf8_read_as_gbk_with_truncated_end(seeds: dict[str, bytes]) -> None:
    original = exact_gbk_mojibake_lines(seed_texts(seeds))
    # The file was cut one byte into a last "。"; GBK shows that byte as U+FFFD.
    raw = original.encode("utf-8") + "。".encode()[:1]
    mojibake = raw.decode("gbk", errors="replace")
    assert mojibake.endswith("\ufffd")
    decoded = decode_bytes(mojibake.encode("utf-8"))
    assert decoded.text == original + "\ufffd"
    assert decoded.repair == "utf-8 decoded as gbk"
    assert decoded.damaged_chars == 1
    assert {"mojibake_repaired", "lossy_conversion_traces"} <= set(decoded.flags)


def test_seed_gbk_read_as_cp1252_is_repaired(seeds: dict[str, bytes]) -> None:
    for name, text in seed_texts(seeds).items():
        try:
            mojibake = text.encode("gbk").decode("cp1252")
        except UnicodeDecodeError:
            pytest.skip(f"{name}: its GBK bytes hit one of the five bytes cp1252 leaves undefined")
        decoded = decode_bytes(mojibake.encode("utf-8"))
        assert decoded.text == text, name
        assert decoded.repair == "gbk decoded as cp1252"


def test_seed_with_lossy_traces_is_kept_and_flagged(seeds: dict[str, bytes]) -> None:
    for name, text in seed_texts(seeds).items():
        middle = len(text) // 2
        damaged = text[:middle] + "锟斤拷锟斤拷" + text[middle:]
        for encoding in ("utf-8", "gbk"):
            decoded = decode_bytes(damaged.encode(encoding))
            assert decoded.text == damaged, (name, encoding)
            assert decoded.damaged_chars == 6
            assert "lossy_conversion_traces" in decoded.flags
            assert decoded.repair is None


# --- the quick trial before chardet ------------------------------------------------------

# A sentence per language and the legacy codecs that carry it; repeated to a page, which is
# what the quick trial decides on.
LEGACY_PAGES = {
    "simplified": (
        "同志们：今天我们召开全县机关党建工作推进会，主要任务是总结经验，分析形势。\n",
        ("gbk", "gb18030"),
    ),
    "traditional": (
        "我們今天召開全縣機關黨建工作推進會，主要任務是總結經驗，分析形勢。\n",
        ("big5", "big5hkscs"),
    ),
    "korean": (
        "대한민국은 민주공화국이다. 오늘 회의에서는 내년도 사업 계획을 논의하였습니다.\n",
        ("euc-kr", "cp949"),
    ),
    "japanese": (
        "日本国民は、正当に選挙された国会における代表者を通じて行動する。\n",
        ("shift_jis", "euc-jp"),
    ),
    "kanji only": ("東京都議会本会議開催予定日程変更通知書類提出期限延長\n", ("shift_jis", "euc-jp")),
    "russian": (
        "Все люди рождаются свободными и равными в своем достоинстве и правах.\n",
        ("cp1251", "koi8-r"),
    ),
    "french": ("Tous les êtres humains naissent libres et égaux en dignité et en droits.\n", ("cp1252",)),
}


def legacy_page(sentence: str, codec: str) -> bytes:
    line = sentence.encode(codec)
    return line * (2 * QUICK_TRIAL_BYTES // len(line) + 1)


@pytest.mark.parametrize(
    ("sentence", "codec"),
    [(sentence, codec) for sentence, codecs in LEGACY_PAGES.values() for codec in codecs],
)
def test_quick_trial_decides_as_chardet_and_the_full_trial_would(
    sentence: str, codec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = legacy_page(sentence, codec)
    quick = decode_bytes(data)
    monkeypatch.setattr(decode, "QUICK_TRIAL_SURE", 1.1)  # never sure: the path before it
    full = decode_bytes(data)
    assert (quick.text, quick.encoding, quick.segments) == (full.text, full.encoding, full.segments)


@pytest.mark.parametrize("name", ["simplified", "traditional"])
def test_a_page_of_gb_or_big5_needs_no_chardet(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode.chardet, "detect", _no_chardet)
    sentence, codecs = LEGACY_PAGES[name]
    for codec in codecs:
        decoded = decode_bytes(legacy_page(sentence, codec))
        assert decoded.text.startswith(sentence)
        assert decoded.method == "trial"
        assert decoded.confidence >= decode.QUICK_TRIAL_SURE
        assert not decoded.flags


def test_a_short_sample_still_goes_to_chardet(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    detect = decode.chardet.detect
    monkeypatch.setattr(decode.chardet, "detect", lambda data, **kw: calls.append(data) or detect(data, **kw))
    sentence = LEGACY_PAGES["simplified"][0]
    assert len(sentence.encode("gbk")) < QUICK_TRIAL_BYTES
    assert decode_bytes(sentence.encode("gbk")).encoding == "gb18030"
    assert calls == [sentence.encode("gbk")]


def _no_chardet(data: bytes, **kwargs: object) -> dict[str, object]:
    raise AssertionError("chardet was consulted")


# --- line classification -----------------------------------------------------------------


_LINE_PARTS = st.one_of(
    st.binary(max_size=12),
    st.sampled_from([b"\n", b"\r\n", b"\xef\xbf\xbd", b"\xef\xbf", b"\xe5", b"\x80", b"\xff"]),
    st.builds(lambda text, codec: text.encode(codec, errors="replace"), st.text(max_size=12), _CODECS),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_LINE_PARTS, max_size=12).map(b"".join))
def test_lines_are_classified_as_one_by_one(body: bytes) -> None:
    spans, kinds = reference_lines(body)
    assert list(decode._classify_lines(body)) == [
        (a, b, kind) for (a, b), kind in zip(spans, kinds, strict=True)
    ]


# --- decoding fidelity: plausibility, not mere validity (issue 15) -------------------------

FIDELITY = json.loads((DATA_DIR / "decode_fidelity_cases.json").read_text("utf-8"))


@pytest.mark.parametrize("case", FIDELITY["cases"], ids=lambda c: c["name"])
def test_fidelity_golden_cases(case: dict[str, Any]) -> None:
    test_golden_cases(case)


@pytest.mark.parametrize(
    ("case", "encoding"),
    [(case, encoding) for case in FIDELITY["negative"] for encoding in case["encodings"]],
    ids=lambda value: value["name"] if isinstance(value, dict) else value,
)
def test_fidelity_negatives_stay_as_they_are(case: dict[str, Any], encoding: str) -> None:
    decoded = decode_bytes(case["text"].encode(encoding))
    assert decoded.text == case["text"]
    assert not decoded.flags
    if encoding == "utf-8":
        assert (decoded.encoding, decoded.method, decoded.confidence) == ("utf-8", "utf-8", 1.0)


@pytest.mark.parametrize("case", FIDELITY["known_failures"], ids=lambda c: c["name"])
def test_fidelity_known_failures_still_fail(case: dict[str, Any]) -> None:
    # When one passes, the fix is real: move the case to `cases`.
    decoded = decode_bytes(build_bytes(case["input"]))
    assert any(getattr(decoded, field) != value for field, value in case["expected"].items())


_LEVEL1 = sorted(GB2312_LEVEL1)
# Four Han characters at least: a shorter UTF-8 run beside a GBK run can still lose to the legacy
# codec (a known failure in decode_fidelity_cases.json, found by this property).
_CHINESE = st.text(
    alphabet=st.sampled_from(_LEVEL1 + list("，。、；：？！")), min_size=4, max_size=40
).filter(lambda text: sum(char in GB2312_LEVEL1 for char in text) >= 4)


@settings(max_examples=300, deadline=None)
@given(_CHINESE, _CHINESE, st.booleans())
def test_utf8_and_gbk_chinese_in_one_line_both_come_back(utf8: str, gbk: str, utf8_first: bool) -> None:
    # Property of issue 15 item 4: two codecs with no newline between them, in either order.
    # A few GBK characters that Big5 reads as plausibly are another question (GB or Big5?),
    # which no decoder answers from so few bytes ("X光" in decode_cases.json).
    assume(plausibility(gbk.encode("gbk").decode("big5hkscs", errors="replace")) < plausibility(gbk))
    parts = [utf8.encode("utf-8"), gbk.encode("gbk")]
    data = b"".join(parts if utf8_first else parts[::-1])
    decoded = decode_bytes(data)
    assert "\ufffd" not in decoded.text
    assert decoded.text == (utf8 + gbk if utf8_first else gbk + utf8)
    assert_segments_cover(data, decoded)
    assert segments_text(data, decoded) == decoded.text


@settings(max_examples=200, deadline=None)
@given(_CHINESE, _CHINESE, _CHINESE, st.sampled_from(["cp1252", "latin-1"]))
def test_a_line_of_utf8_read_as_cp1252_between_clean_lines_is_repaired(
    before: str, garbled: str, after: str, wrong: str
) -> None:
    # Issue 15 item 5: one line double-decoded (its UTF-8 bytes read as cp1252 or Latin-1, then
    # saved as UTF-8) is reversed, never read as GBK (its two-byte characters are Hanzi there).
    try:
        mojibake = garbled.encode("utf-8").decode(wrong)
    except UnicodeDecodeError:
        assume(False)
    decoded = decode_bytes(f"{before}\n{mojibake}\n{after}\n".encode())
    assert decoded.text == f"{before}\n{garbled}\n{after}\n"
    assert "mojibake_repaired" in decoded.flags


def _as_windows_cp1252(data: bytes) -> str:
    """`data` as Windows and browsers (WHATWG windows-1252) read it: cp1252, its five undefined
    bytes (81 8D 8F 90 9D) passed through as C1 controls, where Python's cp1252 raises."""
    return "".join(
        chr(byte) if byte in b"\x81\x8d\x8f\x90\x9d" else bytes((byte,)).decode("cp1252") for byte in data
    )


@settings(max_examples=200, deadline=None)
@given(_CHINESE, st.booleans())
def test_utf8_read_by_windows_as_cp1252_is_repaired_whole(text: str, in_a_document: bool) -> None:
    # One Hanzi in seven holds an undefined cp1252 byte in UTF-8: such mojibake mixes Latin-1
    # letters with C1 controls, and the decoder must leave it whole to the repair, not cut it
    # into runs for a legacy codec.
    mojibake = _as_windows_cp1252(text.encode("utf-8"))
    body = f"{mojibake}\n{text}\n" if in_a_document else mojibake
    decoded = decode_bytes(body.encode())
    assert decoded.text == (f"{text}\n{text}\n" if in_a_document else text)
    assert "mojibake_repaired" in decoded.flags


# What a Windows editor pastes into a UTF-8 line: cp1252 quotes, signs, and Latin words with
# lowercase accented letters (a capital one before an ASCII letter is a known failure).
_CP1252_PASTES = st.sampled_from(
    [
        "café",
        "naïve",
        "résumé",
        "déjà vu",
        "São Paulo",
        "Zürich",
        "“Hello”",
        "‘OK’",
        "€100",
        "Windows™",
        "—",
        "…",
    ]
)


@settings(max_examples=300, deadline=None)
@given(_CHINESE, _CP1252_PASTES, _CHINESE)
def test_cp1252_pasted_into_a_utf8_line_comes_back(before: str, pasted: str, after: str) -> None:
    # Property of issue 15 item 4: a one-byte cp1252 character never takes the byte after it
    # (an ASCII letter, or the first byte of the next UTF-8 Hanzi) as a GBK or Big5 trail.
    data = before.encode("utf-8") + pasted.encode("cp1252") + after.encode("utf-8")
    decoded = decode_bytes(data)
    assert decoded.text == before + pasted + after
    assert_segments_cover(data, decoded)
    assert segments_text(data, decoded) == decoded.text


# Random letters of one script: each of these alphabets is two-byte UTF-8 throughout.
_LETTER_WORDS = st.sampled_from(
    [
        "αβγδεζηθικλμνξοπρστυφχψω",
        "абвгдежзийклмнопрстуфхцчшщыэюя",
        "אבגדהוזחטיכלמנסעפצקרשת",
        "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    ]
).flatmap(lambda letters: st.text(alphabet=letters, min_size=1, max_size=9))
# Latin words are real ones: random accented letters (àäáà, aaáhâa) are what GBK or Big5 read as
# cp1252 look like, which the mojibake repair rightly reverses.
_LATIN_WORDS = st.sampled_from(
    [
        "Málaga",
        "São",
        "Tomé",
        "Ángel",
        "Zürich",
        "Gödel",
        "Müller",
        "café",
        "naïve",
        "Bogotá",
        "Perú",
        "más",
        "años",
        "Köln",
        "Düsseldorf",
        "Éire",
        "Ísland",
        "ça",
        "à",
        "là",
        "Señor",
        "Hà",
        "Nội",
        "déjà",
        "élève",
        "crème",
        "brûlée",
        "Ærø",
        "Øresund",
        "Straße",
        "Ångström",
        "façade",
        "Curaçao",
        "Göteborg",
        "Reykjavík",
        "piñata",
        "über",
        "fiancée",
        "rôle",
        "Noël",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(_LETTER_WORDS, _LATIN_WORDS), min_size=1, max_size=12),
    st.sampled_from([" ", ", ", ". ", "\n"]),
)
def test_words_of_one_script_stay_utf8_at_full_confidence(words: list[str], separator: str) -> None:
    # The negative side of item 1: real UTF-8 text in Greek, Russian, Latin, Hebrew or Arabic.
    text = separator.join(words)
    decoded = decode_bytes(text.encode("utf-8"))
    assert decoded.text == text
    assert (decoded.encoding, decoded.confidence, decoded.flags) == ("utf-8", 1.0, ())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(_LEVEL1), min_size=1, max_size=3))
def test_gbk_read_as_valid_utf8_is_never_certain(text: str) -> None:
    # Too few bytes to tell: whichever reading wins, a legacy one over valid UTF-8 is flagged.
    data = text.encode("gbk") + b"\n2024-01-15\n"
    decoded = decode_bytes(data)
    if decoded.encoding != "utf-8" and _valid_utf8(data):
        assert decoded.confidence < 1.0
        assert "low_confidence_encoding" in decoded.flags


# GB2312 level 1 characters whose GBK bytes are a two-byte UTF-8 character: text made of them
# alone is valid UTF-8 by accident.
_VALID_UTF8_IN_GBK = [
    char
    for char in _LEVEL1
    if 0xC2 <= char.encode("gbk")[0] <= 0xDF and 0x80 <= char.encode("gbk")[1] <= 0xBF
]


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(_VALID_UTF8_IN_GBK), min_size=1, max_size=6),
    st.sampled_from(["", "X", "100", "Total: ", "\n"]),
    st.sampled_from(["", "XX", "2024", "\n"]),
)
def test_gbk_valid_as_utf8_that_no_alphabet_writes_is_read_as_gbk(text: str, before: str, after: str) -> None:
    # The class of 一些 (һЩ), 元 (Ԫ), 通知 (a Hebrew mark with no letter): a UTF-8 reading that is
    # no alphabet's words loses to the legacy one; words of one (вода) stay UTF-8, a known limit.
    data = (before + text + after).encode("gbk")
    reading = data.decode("utf-8")
    assume(not all(_reads_as_words_in(reading, match) for match in re.finditer("[\u0080-\u07ff]+", reading)))
    decoded = decode_bytes(data)
    assert decoded.text == before + text + after, reading
    assert decoded.confidence < 1.0


def _reads_as_words_in(text: str, run: re.Match[str]) -> bool:
    """`reads_as_words` of a run of two-byte characters with the ASCII characters either side."""
    before, after = text[run.start() - 1 : run.start()], text[run.end() : run.end() + 1]
    return plausibility_module.reads_as_words(
        run.group(), before if before.isascii() else "", after if after.isascii() else ""
    )


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(_LEVEL1 + list("，。、：一二三")), min_size=1, max_size=30),
    st.sampled_from(["gbk", "big5hkscs"]),
    st.sampled_from(["", "\n", " 2024-01-15\n", "XX同志"]),
)
def test_chinese_is_never_read_in_an_alphabet_codec(text: str, codec: str, tail: str) -> None:
    # The alphabet step (Russian, Thai, Arabic... in single-byte codecs) must not take Chinese,
    # however short: chardet names windows-1251 or cp855 for a few GBK bytes.
    try:
        data = (text + tail).encode(codec)
    except UnicodeEncodeError:
        assume(False)
    decoded = decode_bytes(data)
    assert all(decode._ALPHABET_CODEC.fullmatch(segment.encoding) is None for segment in decoded.segments)


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize(
    ("data", "text"),
    [
        # A Big5 lead byte completed by the first byte of a UTF-8 character inside the same run.
        (b"\xa4\xe0\xa0\x800", None),
        # UTF-8 bytes read as EUC-JP are kana: a pasted phrase must not vote for a Japanese codec.
        ("丁七".encode("gbk") + "伤丢".encode(), "丁七伤丢"),
    ],
    ids=["no overlap", "pasted utf-8 does not pick the codec"],
)
def test_runs_found_by_hypothesis(data: bytes, text: str | None) -> None:
    decoded = decode_bytes(data)
    assert_segments_cover(data, decoded)
    if text is not None:
        assert decoded.text == text


# --- the valid UTF-8 shortcut -------------------------------------------------------------

# Pieces of valid UTF-8 lines: Chinese, the two-byte characters Chinese text uses (× ·, ○ is
# three bytes but not common), other scripts' letters, Latin-1 words, GBK bytes that happen to
# be valid UTF-8 (学习 is ѧϰ), Chinese read as cp1252 (研究 as ç ”ç©¶), and ASCII.
_VALID_UTF8_PIECES = st.one_of(
    _CHINESE,
    st.text(alphabet=st.sampled_from("×·○é°±§¨ΣЖ"), min_size=1, max_size=4),
    _LETTER_WORDS,
    _LATIN_WORDS,
    st.text(alphabet=st.sampled_from(_LEVEL1), min_size=1, max_size=4).map(
        lambda text: text.encode("gbk").decode("utf-8", errors="ignore")
    ),
    _CHINESE.map(lambda text: text.encode("utf-8").decode("cp1252", errors="ignore")),
    st.sampled_from(["\n", " ", "XX", "2024-01-15", "第一条"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_VALID_UTF8_PIECES, min_size=1, max_size=10).map("".join))
def test_valid_utf8_decodes_as_the_line_and_run_analysis_would(text: str) -> None:
    # The shortcut (`_stays_utf8`) keeps valid UTF-8 on the fast path only where the whole
    # analysis would give every byte to UTF-8: its answer is the analysis's, always.
    body = text.encode("utf-8")
    assume(decode._may_hide_legacy(body))
    analysed = decode._decode_legacy(body, 0, valid_utf8=True)
    assert decode._decode_unmarked(body, 0) == analysed
    if decode._stays_utf8(text):
        assert (analysed.text, analysed.segments) == (text, (Segment(0, len(body), "utf-8"),))


@pytest.mark.parametrize("held", [0, 1, decode._HELD_LINES])
@pytest.mark.parametrize("gbk_line", [False, True])
def test_lines_looked_at_again_when_too_many_to_hold(
    held: int, gbk_line: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lines worth a look (a redaction, a Latin word, GBK bytes valid as UTF-8): held or looked
    # for again, the shortcut answers as the analysis does, UTF-8 whole or not.
    text = "××局长要牵头研究\n会议在café举行\n" + ("学习".encode("gbk").decode("utf-8") + "资料\n") * gbk_line
    monkeypatch.setattr(decode, "_HELD_LINES", held)
    analysed = decode._decode_legacy(text.encode(), 0, valid_utf8=True)
    assert decode._decode_unmarked(text.encode(), 0) == analysed
    assert (analysed.method == "utf-8") is not gbk_line
    assert decode._stays_utf8(text) is not gbk_line


# --- fast paths against their references (issue 18) ----------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.lists(_VALID_UTF8_PIECES, min_size=1, max_size=10).map("".join))
def test_runs_of_a_valid_line_are_the_runs_scanned_token_by_token(text: str) -> None:
    # From every position, a character's first byte or not: the jump to the two-byte characters
    # finds the runs the token-by-token scan finds.
    line = text.encode("utf-8")
    for position in range(len(line) + 1):
        assert list(decode._runs_from(line, "utf-8", position)) == list(decode.scanned_runs(line, position))


# Text a drop of Chinese documents holds, and what wrong codecs make of it: Simplified and
# Traditional Hanzi, Hong Kong characters (Big5-HKSCS), kana, Hangul, the two-byte characters
# Chinese text uses, Latin-1 letters, placeholders and line ends.
_DROP_TEXT = st.text(
    alphabet=st.sampled_from(
        _LEVEL1[:300]
        + list("們會議為體與學習資料㗎嘅噉啲冇こんにちはカタカナ한국어입니다×·○é°ñÄã，。：“”XX12 \n\r")
    ),
    max_size=40,
)
_LEGACY_CODECS = st.sampled_from(
    ["utf-8", "gbk", "gb18030", "big5hkscs", "cp932", "euc_jp", "cp949", "cp1252", "latin-1"]
)
# Pieces of a file: text in a codec (characters it lacks replaced), mojibake saved as UTF-8 (UTF-8
# read as GBK, Big5 or cp1252), GBK that is valid UTF-8 by accident (学习 is ѧϰ), and stray bytes.
_FILE_PIECES = st.one_of(
    st.builds(lambda text, codec: text.encode(codec, errors="replace"), _DROP_TEXT, _LEGACY_CODECS),
    st.builds(
        lambda text, wrong: text.encode("utf-8").decode(wrong, errors="replace").encode("utf-8"),
        _DROP_TEXT,
        st.sampled_from(["gbk", "big5hkscs", "cp1252"]),
    ),
    st.text(alphabet=st.sampled_from(_LEVEL1[:200]), min_size=1, max_size=3).map(
        lambda text: text.encode("gbk").decode("utf-8", errors="ignore").encode("utf-8")
    ),
    st.sampled_from([b"\n", b"\r\n", b"\xef\xbf\xbd", b"\xe5", b"\x80", b"\xff", b"\xc3\x97\xc3\x97"]),
)
_FILES = st.one_of(
    st.lists(_FILE_PIECES, max_size=10).map(b"".join),
    # UTF-16 without a BOM: the NUL-byte trial.
    st.builds(
        lambda text, codec: text.encode(codec), _DROP_TEXT, st.sampled_from(["utf-16-le", "utf-16-be"])
    ),
)


def _decoded_or_rejected(data: bytes) -> Decoded | tuple[str, str]:
    try:
        return decode_bytes(data)
    except RejectedInput as rejected:
        return rejected.reason, rejected.detail


@settings(max_examples=300, deadline=None)
@given(_FILES)
def test_decode_is_its_references_on_adversarial_files(data: bytes) -> None:
    # Every fast path of the decode stage swapped for the reference it was checked against: the
    # record is the same, field by field, or the rejection is.
    fast = _decoded_or_rejected(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decode, "_runs_from", lambda line, kind, position: decode.scanned_runs(line, position))
        patch.setattr(decode, "unreadable_share", plausibility_module.reference_unreadable_share)
        patch.setattr(repair, "outside_level1_share", plausibility_module.reference_outside_level1_share)
        patch.setattr(plausibility_module, "han_count", lambda text: len(HAN_CHAR.findall(text)))
        patch.setattr(repair, "_lines_with_unusual_chars", repair.reference_lines_with_unusual_chars)
        # No opening rules a line or a probe out: every reversal is tried on the whole window.
        patch.setattr(repair, "_may_open_a_reversal", lambda opening: True)
        # No legacy reading of a line is judged by a bound from its first characters.
        patch.setattr(decode, "plausibility_at_most", lambda text, head: math.inf)
        patch.setattr(plausibility_module, "_ARRAY_FROM", math.inf)
        patch.setattr(decode, "_REMEMBERED_LINE_BYTES", -1)
        # Every run decided on its whole line, none remembered by the bytes around it.
        patch.setattr(decode, "_decide_run", decode._scored_run)
        # The lines surveyed and cut into runs one by one, as `_lines_in_question` gives them.
        patch.setattr(decode, "_survey", lambda body: (decode.reference_survey(body), None))
        reference = _decoded_or_rejected(data)
    assert fast == reference


# A line of UTF-8 with text of another codec pasted into it: GB18030's four-byte characters (㐀
# U+3400) and a codec's characters cut by the run's end make a legacy reading take more bytes.
_PASTED_ALPHABET = _LEVEL1[:60] + list("㐀㐁㑇㗎嘅們×·éa1，。 ")
_PASTED_LINE = st.builds(
    lambda before, pasted, codec, after: before.encode() + pasted.encode(codec, errors="replace")
    + after.encode(),
    st.text(alphabet=st.sampled_from(_PASTED_ALPHABET), max_size=4),
    st.text(alphabet=st.sampled_from(_PASTED_ALPHABET), min_size=1, max_size=4),
    st.sampled_from(["gb18030", "gbk", "big5hkscs", "cp1252"]),
    st.text(alphabet=st.sampled_from(_PASTED_ALPHABET), max_size=8),
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        _PASTED_LINE,
        st.lists(_FILE_PIECES, min_size=1, max_size=8).map(
            lambda pieces: b"".join(pieces).replace(b"\n", b"")
        ),
    ),
    st.sampled_from(["gb18030", "big5hkscs", "cp932", "cp1252"]),
    st.booleans(),
)
# Big5 takes the run's next byte (m): its score reads two UTF-8 Hanzi past that, to 9 bytes past the run.
@example(
    line=b"\xe4\xb8\x98\xa4@\x88m\xe4\xb8\xbd\xe3\x91\x87\xe4\xb8\x80\xe3\x80\x82\xe4\xb8\x8d",
    legacy="gb18030",
    last=False,
)
def test_a_run_is_decided_as_on_its_whole_line(line: bytes, legacy: str, last: bool) -> None:
    # `_decide_run` reads the bytes around a run only: the decision on them is the decision on
    # the whole line, whichever line they were remembered from.
    kind = "utf-8" if decode._strict(line, "utf-8") is not None else "legacy"
    for x, y in decode._contested_runs(line, kind):
        at_end = last and y == len(line)
        expected = decode._scored_run(line, x, y, legacy, at_end)
        assert decode._decide_run(line, x, y, legacy, at_end) == expected
        if x > 0:
            # Remembered from another line with the same bytes around the run.
            moved = b"a" * 7 + line
            assert decode._decide_run(moved, x + 7, y + 7, legacy, at_end) == [
                (a + 7, b + 7, codec) for a, b, codec in expected
            ]


def _runs_or_rejection(runs: Callable[[], list[tuple[int, int, str]]]) -> object:
    try:
        return runs()
    except RejectedInput as rejected:
        return rejected.reason, rejected.detail


@settings(max_examples=300, deadline=None)
@given(
    _FILES.filter(lambda data: b"\x00" not in data),
    st.sampled_from(["gb18030", "big5hkscs", "cp932", "cp1252"]),
    st.sampled_from([0, 5, 1 << 18]),
    st.sampled_from([2, decode.MAX_SEGMENTS]),
)
def test_survey_and_runs_by_chunk_are_the_line_by_line_references(
    body: bytes, legacy: str, chunk_bytes: int, max_segments: int
) -> None:
    # Whatever the chunks (a line each, a few lines, the whole body), the first pass finds what
    # the line-by-line survey finds, and the held chunks cut into the runs (or the rejection)
    # that the lines one by one give.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decode, "_LINE_CHUNK_BYTES", chunk_bytes)
        patch.setattr(decode, "MAX_SEGMENTS", max_segments)
        survey, held = decode._survey(body)
        assert survey == decode.reference_survey(body)
        assert held is not None
        lines = decode._lines_in_question(body, has_legacy=True)
        expected = _runs_or_rejection(lambda: decode._mixed_runs(body, legacy, lines))
        assert _runs_or_rejection(lambda: decode._held_runs(body, legacy, held)) == expected


_BIG5_COMMON = sorted(BIG5_LEVEL1)[:2000]
# The symbols cp950 (Windows, browsers) reads otherwise than Python's big5hkscs.
_WINDOWS_BIG5_SYMBOLS = list("‧﹑¯～⊕⊙∕﹨￥￠￡")
# Hanzi after each symbol: a line of symbols alone whose trail bytes are ASCII letters (‧ is A1 45,
# "E") is a known limit of the line analysis, which may take them for text in another codec.
_BIG5_TEXT = st.text(alphabet=st.sampled_from(_BIG5_COMMON + list("，。：")), min_size=2, max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    # A sentence at least: in a text of a few characters, ‧ (A1 45, the "E" an ASCII letter) may
    # still be read as cp1252's ¡E, a known limit of the run analysis on short texts.
    st.text(alphabet=st.sampled_from(_BIG5_COMMON), min_size=16, max_size=40),
    st.lists(st.tuples(st.sampled_from(_WINDOWS_BIG5_SYMBOLS), _BIG5_TEXT), min_size=1, max_size=4),
)
def test_big5_written_on_windows_comes_back_with_its_symbols(head: str, rest: list[tuple[str, str]]) -> None:
    # Taiwan's ～ in a time range or ‧ in a transliterated name: big5hkscs reads them as ∼ and •.
    text = head + "".join(symbol + tail for symbol, tail in rest)
    decoded = decode_bytes(text.encode("cp950"))
    assume(decoded.encoding in ("cp950", "big5hkscs"))  # a few characters may read as GBK as well
    assert decoded.text == text
    assert decoded.encoding == "cp950"


_SPEECH_FOR_SPACING = "今天我们召开全县经济工作会议主要任务是深入贯彻落实中央和省市经济工作会议精神总结今年经济工作部署明年经济工作"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=len(_SPEECH_FOR_SPACING), max_size=len(_SPEECH_FOR_SPACING)))
def test_chinese_in_gbk_spaced_into_words_is_never_read_as_korean(lengths: list[int]) -> None:
    """GB2312's first level lies where EUC-KR puts Hangul and hanja: Chinese spaced into words (a
    segmenter's output, a PDF's spacing) must not pass for Korean words with hanja."""
    words, start = [], 0
    for length in lengths:
        if start >= len(_SPEECH_FOR_SPACING):
            break
        words.append(_SPEECH_FOR_SPACING[start : start + length])
        start += length
    decoded = decode_bytes((" ".join(words) + "\n").encode("gbk"))
    assert decoded.encoding == "gb18030"
