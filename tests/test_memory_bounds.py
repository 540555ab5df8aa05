"""Memory stays proportionate to the file, whatever its shape (issue 14 item 4).

The stages hold a document's lines a chunk at a time; these tests check that the chunked code
gives what the whole text at once gives (any chunk size, through hypothesis), and that a fresh
process cleaning each pathological shape of bench/shapes.py peaks at a bounded RSS per input MB.
No timing is asserted: a shared machine makes wall time meaningless, memory is not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docclean import decode, lines
from docclean.decode import reference_lines
from docclean.errors import RejectedInput
from docclean.noise import strip_noise
from docclean.normalize import (
    drop_empty_lines,
    rejoin_wrapped_lines,
    remove_spaces_between_han,
    strip_line_edges,
)
from docclean.placeholders import MAX_PLACEHOLDERS, replace_placeholders
from docclean.rules import load_rules
from docclean.structure import MAX_OUTLINE_ENTRIES, find_structure

ROOT = Path(__file__).resolve().parents[1]
SHAPES_SCRIPT = ROOT / "bench" / "shapes.py"

# Measured at 2 MB (the child's own peak, VmHWM): 2 to 25 MB per MB for the line shapes; the code
# before this bound grew 37 to 95 MB per MB on the first three. Placeholders, one per 4 bytes,
# grow 40 MB per MB until their cap (MAX_PLACEHOLDERS, about 150 bytes each), which 2 MB of them
# is below: the most any file costs per MB. At 40 MB every shape peaks under 550 MiB (README,
# Performance).
PEAK_MB_PER_INPUT_MB = 30
PLACEHOLDERS_PEAK_MB_PER_INPUT_MB = 45
SHAPE_BYTES = 2_000_000


def _growth(shape: str) -> tuple[float, dict]:
    """MB the child's peak RSS grew by while cleaning `shape`, and its row."""
    command = [sys.executable, str(SHAPES_SCRIPT), "--child", shape, "--bytes", str(SHAPE_BYTES)]
    result = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, timeout=600)
    row = json.loads(result.stdout)
    return (row["peak_rss"] - row["baseline_rss"]) / 1e6, row


@pytest.mark.parametrize(
    "shape",
    ["short_lines", "blank_lines", "placeholders", "outline", "removals", "spaced_han", "page_numbers"],
)
def test_peak_memory_per_input_mb_is_bounded(shape: str) -> None:
    grown, row = _growth(shape)
    bound = PLACEHOLDERS_PEAK_MB_PER_INPUT_MB if shape == "placeholders" else PEAK_MB_PER_INPUT_MB
    assert grown <= bound * row["bytes"] / 1e6, row


def test_the_peak_is_the_childs_own_whatever_its_parent_holds() -> None:
    """A child spawned by a large process starts with that process's peak in `ru_maxrss`: a
    bound on the growth of that figure held for any shape once the test runner had grown. The
    child's own high-water mark shows the growth whatever the parent holds."""
    held = bytearray(300_000_000)
    held[::4096] = b"\x01" * len(range(0, len(held), 4096))  # resident, not only reserved
    grown, row = _growth("placeholders")  # 80 MB its own, below the parent's 300
    del held
    assert grown > 40, row


_LINE = st.one_of(
    st.text(alphabet=" \t\u3000abc中文。，：、一二（）XX×*", max_size=30),
    st.sampled_from(["", " ", "一、标题", "（一）小节", "第X页", "http://example.com/x", "请关注公众号"]),
)
_TEXTS = st.lists(_LINE, max_size=40).map("\n".join)
# Chunks of a few characters: every cut lands somewhere interesting.
_CHUNK_SIZES = st.integers(min_value=0, max_value=12)


@settings(max_examples=300, deadline=None)
@given(_TEXTS, _CHUNK_SIZES)
def test_line_chunks_rejoin_to_the_text(text: str, size: int) -> None:
    pieces = list(lines.line_chunks(text, size))
    assert "\n".join(pieces) == text
    assert list(lines.iter_lines(text)) == text.split("\n")


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS, size=_CHUNK_SIZES)
def test_line_stages_do_not_depend_on_the_chunk_size(
    text: str, size: int, monkeypatch_module: pytest.MonkeyPatch
) -> None:
    whole = [
        f(text) for f in (strip_line_edges, rejoin_wrapped_lines, drop_empty_lines, remove_spaces_between_han)
    ]
    whole_noise = strip_noise(text, RULES)
    whole_structure = find_structure(text)
    with monkeypatch_module.context() as patch:
        patch.setattr(lines, "CHUNK_CHARS", size)
        assert [
            f(text)
            for f in (strip_line_edges, rejoin_wrapped_lines, drop_empty_lines, remove_spaces_between_han)
        ] == whole
        assert strip_noise(text, RULES) == whole_noise
        assert find_structure(text) == whole_structure


def test_closing_spaces_between_han_holds_one_chunk_of_lines() -> None:
    # A list of a million lines costs some 60 bytes a line, eight times the text's own two bytes
    # a character: the chunked stage peaks at the text it returns and one chunk's lines.
    text = "推 进\n" * 330_000
    tracemalloc.start()
    try:
        closed_text, closed = remove_spaces_between_han(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (closed_text, closed) == ("推进\n" * 330_000, 330_000)
    assert peak <= 4 * sys.getsizeof(text), peak


def test_drop_empty_lines_is_dropping_the_empty_lines() -> None:
    for text in ["", "\n", "a", "\n\na\n\n\nb\n", "a\nb", "\n\n\n"]:
        kept = [line for line in text.split("\n") if line]
        assert drop_empty_lines(text) == ("\n".join(kept), len(text.split("\n")) - len(kept))


_BODY_PARTS = st.sampled_from(
    [b"\n", b"ab", "中文".encode(), "中文".encode("gbk"), b"\xef\xbf\xbd", b"\xe5", b"\xff"]
)


@settings(max_examples=300, deadline=None)
@given(body=st.lists(_BODY_PARTS, max_size=30).map(b"".join), size=st.integers(min_value=0, max_value=8))
def test_line_classification_does_not_depend_on_the_chunk_size(
    body: bytes, size: int, monkeypatch_module: pytest.MonkeyPatch
) -> None:
    spans, kinds = reference_lines(body)
    with monkeypatch_module.context() as patch:
        patch.setattr(decode, "_LINE_CHUNK_BYTES", size)
        classified = list(decode._classify_lines(body))
    assert classified == [(a, b, kind) for (a, b), kind in zip(spans, kinds, strict=True)]


def test_a_file_switching_codec_on_every_line_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "MAX_SEGMENTS", 10)
    alternating = ("中文。\n".encode("gbk") + "内容。\n".encode()) * 6
    with pytest.raises(RejectedInput) as rejected:
        decode.decode_bytes(alternating)
    assert rejected.value.reason == "mixed_encoding"
    assert "more than 10 times" in rejected.value.detail
    assert decode.decode_bytes(alternating[: len(alternating) // 2]).method == "mixed"


def test_placeholders_past_the_cap_stay_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    from docclean import placeholders as module
    from docclean.placeholders import restore_placeholders

    assert MAX_PLACEHOLDERS >= 100_000
    monkeypatch.setattr(module, "MAX_PLACEHOLDERS", 3)
    text = "XX县、XX市、XX区、XX乡和XX村"
    replaced = replace_placeholders(text)
    assert replaced.capped
    assert [p.original for p in replaced.placeholders] == ["XX", "XX", "XX"]
    assert replaced.text == "[MASK]县、[MASK]市、[MASK]区、XX乡和XX村"
    assert restore_placeholders(replaced.text, replaced.placeholders) == text
    assert not replace_placeholders("XX县、XX市、XX区").capped


def test_outline_past_the_cap_keeps_the_first_headings(monkeypatch: pytest.MonkeyPatch) -> None:
    from docclean import structure as module

    assert MAX_OUTLINE_ENTRIES >= 10_000
    text = "关于工作的讲话\n" + "\n".join(f"{n}、第{n}项工作。内容" for n in "一二三四五")
    full = find_structure(text)
    monkeypatch.setattr(module, "MAX_OUTLINE_ENTRIES", 3)
    capped = find_structure(text)
    assert capped.capped and not full.capped
    assert capped.outline == full.outline[:3]


RULES = load_rules(None)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch
