"""Mojibake reversal and traces of earlier lossy conversions.

Mojibake is text whose bytes were once decoded with the wrong codec and the result saved
again: UTF-8 read as GBK turns 你好 into 浣犲ソ, GBK read as cp1252 turns it into ÄãºÃ.
Because the wrong decoding was lossless, encoding the mojibake back with the wrong codec
gives the original bytes, and decoding those with the right codec gives the text.

A reversal is kept only when it is exact (or loses just a truncated last character) and its
result is ordinary Chinese, more plausible than the input. Exactness is the strong test:
encoding correct Chinese with GBK gives valid UTF-8 for 3% of two-character strings, 0.1% of
four-character ones and practically never for longer ones, and those few decode to Latin
or Cyrillic letters, not to Chinese. Reversals are not even tried unless cheap signals point
to mojibake, and then first on a bounded sample. The first signal is exactness itself, on a
short window: clean text fails it within a few characters, in microseconds.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from docclean.plausibility import outside_level1_share, plausibility, unusual_char, unusual_chars_in_a_line

# Characters examined by the signals and the first trial: enough for a stable mean, small
# enough that a large clean file pays (almost) nothing.
SAMPLE_CHARS = 20_000
# Characters reversed to rule a reversal out before any statistics: clean Chinese passes the
# exactness test for 0.1% of four-character strings, so 64 rule out practically every clean
# text, while costing about a microsecond.
PROBE_CHARS = 64
# Ordinary Simplified text has ~1% of characters outside GB2312 level 1; UTF-8 read as GBK or
# Big5 has more than half. Traditional text is tried too, and fails the exactness test.
CJK_MOJIBAKE_SHARE = 0.2
# GBK or UTF-8 read as cp1252 is made only of Latin-1 characters; Chinese text uses a few
# (× ° ·) among thousands of Hanzi. Above this share of the non-ASCII characters, try.
LATIN_MOJIBAKE_SHARE = 0.5
# A repaired text must read as ordinary Chinese (the right codec scores ~0.98)...
REPAIRED_AT_LEAST = 0.9
# ...and be better than the input: 鍙樺法 (for 变巨) already scores 0.87, as its characters are
# real Traditional ones; exactness, not this gain, is what rules out correct text.
REPAIR_GAIN = 0.1
# One repaired character is no evidence (锟 alone "reverses" to a truncated UTF-8 sequence).
MIN_REPAIRED_CHARS = 2
# Lines are repaired one by one within this many characters (a hundred pages): the scan for
# them costs about 25 ns a character, three times the UTF-8 decode; beyond, only the whole-text
# repair applies. Titles and pasted headers come first.
LINE_REPAIR_CHARS = 200_000
# A line is suspected of mojibake only with this many non-ASCII characters: on fewer, clean
# Chinese passes a reversal's probe by chance (3% of two-character strings are valid UTF-8 in GBK).
MIN_SUSPECT_CHARS = 6
# A truncated last character leaves at most a UTF-8 sequence's or GBK character's head.
MAX_TRUNCATED_BYTES = 3

REPLACEMENT = "\ufffd"

# The bytes 0x80-0x9F as cp1252 shows them; the five it leaves undefined are kept as the C1
# controls latin-1 gives them, so one table reverses both decodings.
_CP1252_TO_BYTE = {
    char: byte
    for byte in range(0x80, 0xA0)
    if (char := bytes((byte,)).decode("cp1252", errors="ignore")) and ord(char) != byte
}
_TO_LATIN1 = str.maketrans({char: chr(byte) for char, byte in _CP1252_TO_BYTE.items()})
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_NON_ASCII = re.compile("[^\x00-\x7f]")
_LATIN_1_RANGE = re.compile("[\x80-\xff]")
# What `_latin_share` counts, as one class: Latin-1's upper half and the characters cp1252 puts
# on 0x80-0x9F (“ ” — … among them, which Chinese text uses all the time).
_LATIN_OR_CP1252 = re.compile(f"[\x80-\xff{''.join(map(re.escape, _CP1252_TO_BYTE))}]")
_NEITHER_LATIN_NOR_CP1252 = re.compile(f"[^\x00-\xff{''.join(map(re.escape, _CP1252_TO_BYTE))}]")


def _encode_cp1252(text: str) -> bytes:
    # Found at C speed, a character both codecs lack spares Chinese text the translation
    # (0.1 µs a character), which would fail on it anyway.
    unencodable = _NEITHER_LATIN_NOR_CP1252.search(text)
    if unencodable:
        start, end = unencodable.span()
        raise UnicodeEncodeError("cp1252", text, start, end, "neither in cp1252 nor in latin-1")
    return text.translate(_TO_LATIN1).encode("latin-1")


@dataclass(frozen=True, slots=True)
class _Reversal:
    """`encode` gives back the bytes the wrong codec saw; `right` is the codec they were written in."""

    encode: Callable[[str], bytes]
    right: str
    name: str


# Python's gbk and gb18030 differ on a few symbols (A1A4, A1AA, 0x80), so the tool that made
# the mojibake may have used either; both are tried.
_CJK_REVERSALS = (
    _Reversal(lambda text: text.encode("gbk"), "utf-8", "utf-8 decoded as gbk"),
    _Reversal(lambda text: text.encode("gb18030"), "utf-8", "utf-8 decoded as gbk"),
    _Reversal(lambda text: text.encode("big5hkscs"), "utf-8", "utf-8 decoded as big5"),
)
_LATIN_REVERSALS = (
    _Reversal(_encode_cp1252, "utf-8", "utf-8 decoded as cp1252"),
    _Reversal(_encode_cp1252, "gb18030", "gbk decoded as cp1252"),
    _Reversal(_encode_cp1252, "big5hkscs", "big5 decoded as cp1252"),
)


@dataclass(frozen=True, slots=True)
class MojibakeRepair:
    """What `repair_segments` made of a text.

    `transform` names what was reversed and where when only some lines were: e.g.
    "utf-8 decoded as gbk" (the whole text) or "utf-8 decoded as gbk: lines 1-2". `suspected`
    lists the 1-based numbers of lines that look like mojibake and could not be reversed.
    """

    text: str
    transform: str | None
    suspected: tuple[int, ...] = ()


def repair_segments(text: str) -> MojibakeRepair:
    """Reverse mojibake in the whole text, else line by line (a title double-decoded above a clean
    body); report the lines that still look like mojibake.

    A run of mojibake lines is the same as each of its lines reversed alone (the line breaks are
    ASCII, the same bytes in every codec here), so lines are the segments. Each line is judged
    as `repair_mojibake` judges a text, its cheap signals first: clean lines cost a probe each.
    """
    repaired, transform = repair_mojibake(text)
    if transform:
        return MojibakeRepair(repaired, transform)
    numbers = _lines_with_unusual_chars(text)
    if not numbers:
        return MojibakeRepair(text, None)
    lines = text.split("\n")
    fixed: dict[str, list[int]] = {}
    suspected: list[int] = []
    for number in numbers:
        line = lines[number - 1]
        if not may_be_mojibake(line):
            continue
        new, name = repair_mojibake(line)
        if name:
            lines[number - 1] = new
            fixed.setdefault(name, []).append(number)
        elif _looks_like_mojibake(line):
            suspected.append(number)
    if not fixed:
        return MojibakeRepair(text, None, tuple(suspected))
    where = "; ".join(f"{name}: {_line_ranges(numbers)}" for name, numbers in fixed.items())
    return MojibakeRepair("\n".join(lines), where, tuple(suspected))


def may_be_mojibake(line: str) -> bool:
    """False for a line that `repair_mojibake` leaves as it is and `_looks_like_mojibake` does not
    suspect, told from its first two characters from the first non-ASCII one; True when they
    cannot tell.

    Both judge a line first by a probe window that starts at that character. A reversal encodes
    character by character, so the window's bytes start with those two's, and a decoder that
    rejects a sequence's first bytes rejects it whatever follows: two characters no reversal can
    start fail every probe. That decides for a line without any trace of earlier damage (which
    the lossy repair and the suspicion split on) and long enough for the probe to count (a short
    window is no evidence, and every reversal is then tried). Most lines of clean text that hold
    a `×` or a rare Hanzi open with characters that decide.
    """
    if any(char in line for char in _TRACE_CHARS):
        return True
    first = _NON_ASCII.search(line)
    if first is None or first.start() + PROBE_CHARS > min(len(line), SAMPLE_CHARS):
        return True
    return _may_open_a_reversal(line[first.start() : first.start() + _OPENING_CHARS])


# Characters of a line's opening that `may_be_mojibake` judges: one rules out about 70 % of the
# lines of clean text it is asked about, two 90 %; the pairs seen are remembered.
_OPENING_CHARS = 2


@lru_cache(maxsize=1 << 16)
def _may_open_a_reversal(opening: str) -> bool:
    # Big5-HKSCS encodes Ê and ê with a combining mark after them as one pair: not their own bytes.
    if any(char in opening for char in "Êê"):
        return True
    for reversal in (*_CJK_REVERSALS, *_LATIN_REVERSALS):
        try:
            raw = reversal.encode(opening)
        except UnicodeEncodeError:
            continue
        if _decodes_so_far(raw, reversal.right):
            return True
    return False


def _lines_with_unusual_chars(text: str) -> list[int]:
    """1-based numbers of the lines, within the first `LINE_REPAIR_CHARS` characters, with at
    least `MIN_REPAIRED_CHARS` characters that are not common Hanzi, punctuation or ASCII: the
    only lines a reversal could improve. Clean text has few such characters, and fewer lines
    with that many, found at C speed (`unusual_chars_in_a_line`), so a clean document costs no
    per-line work. The definition, character by character: `reference_lines_with_unusual_chars`."""
    numbers: list[int] = []
    number, counted = 1, 0
    for match in unusual_chars_in_a_line(MIN_REPAIRED_CHARS).finditer(text, 0, LINE_REPAIR_CHARS):
        number += text.count("\n", counted, match.start())
        counted = match.start()
        if not numbers or numbers[-1] != number:
            numbers.append(number)
    return numbers


def reference_lines_with_unusual_chars(text: str) -> list[int]:
    """What `_lines_with_unusual_chars` returns, by its definition: each unusual character within
    the first `LINE_REPAIR_CHARS` counted to its line. The specification, kept beside it."""
    counts: dict[int, int] = {}
    for match in unusual_char().finditer(text, 0, LINE_REPAIR_CHARS):
        number = text.count("\n", 0, match.start()) + 1
        counts[number] = counts.get(number, 0) + 1
    return [number for number, count in counts.items() if count >= MIN_REPAIRED_CHARS]


def _line_ranges(numbers: list[int]) -> str:
    """ "line 3" or "lines 1-2, 5" for sorted 1-based line numbers."""
    ranges: list[list[int]] = []
    for number in numbers:
        if ranges and ranges[-1][1] == number - 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in ranges]
    return ("line " if len(numbers) == 1 else "lines ") + ", ".join(parts)


def _looks_like_mojibake(line: str) -> bool:
    """A line that passes a reversal's probe and its signal, yet was not repaired: suspect.

    Clean Chinese fails every probe within a few characters; what passes and still fails the
    full reversal is mojibake damaged in a way the bytes cannot undo, or too short to be sure.
    """
    # 锟斤拷 and its kin are damage already counted as such, not mojibake that could be undone.
    pieces = [piece for piece in LOSSY_TRACES.split(line) if not piece.isascii()]
    for piece in pieces:
        if len(piece) - len(piece.encode("ascii", errors="ignore")) < MIN_SUSPECT_CHARS:
            continue
        # Unlike `_probed`, the window is tested however short the piece: here it is the evidence.
        first = _NON_ASCII.search(piece)
        window = piece[first.start() : first.start() + PROBE_CHARS] if first else piece
        if not _may_open_a_reversal(window[:_OPENING_CHARS]):
            continue  # no reversal starts as the window does: none passes below
        for reversal in (*_CJK_REVERSALS, *_LATIN_REVERSALS):
            try:
                raw = reversal.encode(window)
            except UnicodeEncodeError:
                continue
            try:
                reversed_window = codecs.getincrementaldecoder(reversal.right)().decode(raw, final=False)
            except UnicodeDecodeError:
                continue
            signal = (
                outside_level1_share(piece) >= CJK_MOJIBAKE_SHARE
                if reversal in _CJK_REVERSALS
                else _latin_share(piece) > LATIN_MOJIBAKE_SHARE
            )
            # What the window reverses to must read as Chinese: àààààà reverses, to rare Hanzi.
            if (
                signal
                and _non_ascii(reversed_window) >= MIN_REPAIRED_CHARS
                and plausibility(reversed_window) >= REPAIRED_AT_LEAST
            ):
                return True
    return False


def repair_mojibake(text: str) -> tuple[str, str | None]:
    """Return `(text, transform)`: the repaired text and e.g. "utf-8 decoded as gbk", or `(text, None)`.

    Handles UTF-8 read as GBK/GB18030, Big5 or cp1252/latin-1, and GBK or Big5 read as
    cp1252/latin-1, one level deep. A character lost at the very end (the wrong decoding
    dropped or replaced its incomplete last bytes) becomes one U+FFFD. Lossy mojibake (the wrong
    decoding replaced the bytes it could not read with U+FFFD) is recovered as far as the bytes
    allow: each damaged spot becomes one U+FFFD, the rest comes back.
    """
    sample = text[:SAMPLE_CHARS]
    reversals = _reversals_worth_trying(sample)
    if not reversals:
        if REPLACEMENT in _split_marker(sample)[0]:
            return _repair_lossy(text)
        return text, None  # the usual case: scoring the sample (0.3 ms) would be for nothing
    before = plausibility(sample)
    best: tuple[float, str, str] | None = None
    for reversal in reversals:
        # The sample's end may cut a character of the original; only the whole text is final.
        repaired_sample = _reverse(sample, reversal, final=len(sample) == len(text))
        if repaired_sample is None:
            continue
        # Scored without the U+FFFD standing for a truncated last character, which is
        # damage the input already had, not a fault of the reversal.
        evidence = _evidence(repaired_sample)
        after = plausibility(evidence)
        if (
            after < REPAIRED_AT_LEAST
            or after < before + REPAIR_GAIN
            or _non_ascii(evidence) < MIN_REPAIRED_CHARS
            or (best and after <= best[0])
        ):
            continue
        repaired = repaired_sample if len(sample) == len(text) else _reverse(text, reversal, final=True)
        if repaired is not None:
            best = (after, repaired, _name(reversal, text))
    if best:
        return best[1], best[2]
    return _repair_lossy(text) if REPLACEMENT in _split_marker(text)[0] else (text, None)


def _repair_lossy(text: str) -> tuple[str, str | None]:
    """Reverse mojibake whose wrong decoding replaced unreadable bytes with U+FFFD.

    Every run of U+FFFD is a damaged spot: the bytes it stood for are lost, and with them the
    character (or two) of the right codec they belonged to. Between the spots the reversal must
    be exact, but for the partial characters at each spot's edges, which join the spot.
    """
    pieces = text.split(REPLACEMENT)
    index = max(range(len(pieces)), key=lambda i: len(pieces[i]))
    # A piece after a spot starts with the tail bytes of the character the spot cut.
    reversals = _reversals_worth_trying(pieces[index][:SAMPLE_CHARS], after_spot=index > 0)
    if not reversals:
        return text, None
    before = plausibility(text)
    for reversal in reversals:
        decoded = _reverse_pieces(pieces, reversal)
        if decoded is None:
            continue
        evidence = decoded.replace(REPLACEMENT, "")
        after = plausibility(evidence)
        if (
            after >= REPAIRED_AT_LEAST
            and after >= before + REPAIR_GAIN
            and _non_ascii(evidence) >= MIN_REPAIRED_CHARS
        ):
            return decoded, _name(reversal, text) + " (lossy)"
    return text, None


def _reverse_pieces(pieces: list[str], reversal: _Reversal) -> str | None:
    """The pieces between damaged spots reversed and joined by one U+FFFD per spot, or None."""
    out: list[str] = []
    for index, piece in enumerate(pieces):
        try:
            raw = reversal.encode(piece)
        except UnicodeEncodeError:
            return None
        head = _cut_head(raw, reversal.right) if index else 0  # after a spot: the cut character's tail
        decoder = codecs.getincrementaldecoder(reversal.right)()
        try:
            decoded = decoder.decode(raw[head:], final=False)
        except UnicodeDecodeError:
            return None
        pending = len(decoder.getstate()[0])
        last = index == len(pieces) - 1
        if pending > MAX_TRUNCATED_BYTES or (last and pending):
            return None
        out.append(decoded)
    return REPLACEMENT.join(out)


def _cut_head(raw: bytes, codec: str) -> int:
    """How many of `raw`'s first bytes (MAX_TRUNCATED_BYTES at most) can only continue a character."""
    head = 0
    while head < min(len(raw), MAX_TRUNCATED_BYTES) and _is_continuation(raw[head], codec):
        head += 1
    return head


def _is_continuation(byte: int, codec: str) -> bool:
    """A byte that can only continue a character: UTF-8's 80-BF; none for the CJK codecs, whose
    trail bytes can also lead, so that a cut there shows as a failed exact reversal instead."""
    return codec == "utf-8" and 0x80 <= byte <= 0xBF


def _reversals_worth_trying(sample: str, after_spot: bool = False) -> tuple[_Reversal, ...]:
    # The probe only drops reversals that would fail anyway, so the signals decide as they
    # would alone; it goes first because it is the cheap one.
    reversals: tuple[_Reversal, ...] = ()
    cjk = _probed(sample, _CJK_REVERSALS, after_spot)
    if cjk and outside_level1_share(sample) >= CJK_MOJIBAKE_SHARE:
        reversals += cjk
    latin = _probed(sample, _LATIN_REVERSALS, after_spot)
    if latin and _latin_share(sample) > LATIN_MOJIBAKE_SHARE and not _latin_words_only(sample):
        reversals += latin
    return reversals


# A Latin word: letters, at least one of them ASCII (café, Ángel, naïve).
_LATIN_WORD = re.compile(
    "[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]*[A-Za-z][A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]*"
)


def _latin_words_only(sample: str) -> bool:
    """Whether every non-ASCII character of `sample` is a Latin-1 letter inside a word with ASCII
    letters: Latin text, which no cp1252 reversal should turn into Hanzi (Ángel is Big5 聲gel).

    GBK, Big5 and UTF-8 read as cp1252 give runs of high characters with symbols among them
    (学习 is Ñ§Ï°, 我 is æˆ‘), and rarely an ASCII letter beside them.
    """
    return _NON_ASCII.search(_LATIN_WORD.sub("", sample)) is None


def _probed(sample: str, reversals: tuple[_Reversal, ...], after_spot: bool = False) -> tuple[_Reversal, ...]:
    """The reversals not already ruled out by a window of the sample; all of them when it is short.

    The window starts at the first non-ASCII character: the bytes before it are ASCII in every
    codec here, so the window's bytes are a stretch of the sample's that starts on a character
    boundary of both codecs (the last character may differ only in an ASCII trail byte, the
    HKSCS pairs). A character the window cannot encode, or an invalid sequence before its end,
    is then one in the sample too, and `_reverse` would return None. `after_spot`: the sample
    follows a damaged spot of lossy mojibake, and its first bytes may finish the character the
    spot cut; they are passed over, as `_reverse_pieces` passes them over.
    """
    first = _NON_ASCII.search(sample)
    if first is None:
        return ()  # ASCII reverses to itself, and both signals say 0: no reversal could win
    start = first.start()
    # Not past a U+FFFD that `_reverse` would split off as a truncated last character.
    body = _split_marker(sample)[0]
    short = start + PROBE_CHARS > len(body)
    # The sample's bytes from `start` begin with its opening's: when no reversal can start those
    # (as in `may_be_mojibake`), the opening's remembered answer rules out every reversal at once.
    # A short sample only when it is the whole text: a longer text with damage past its sample
    # goes on to `_repair_lossy` whether its reversals were ruled out here or failed there.
    opening = body[start : start + _OPENING_CHARS]
    if (
        not after_spot
        and len(opening) == _OPENING_CHARS
        and (not short or len(sample) < SAMPLE_CHARS)
        and not _may_open_a_reversal(opening)
    ):
        return ()
    if short:
        return reversals
    window = sample[start : start + PROBE_CHARS]
    # The cp1252 reversals share their encoding: Chinese text fails it once, not three times.
    encoded: dict[Callable[[str], bytes], bytes | None] = {}
    kept: list[_Reversal] = []
    for reversal in reversals:
        if reversal.encode not in encoded:
            try:
                encoded[reversal.encode] = reversal.encode(window)
            except UnicodeEncodeError:
                encoded[reversal.encode] = None
        raw = encoded[reversal.encode]
        if raw is not None and after_spot:
            raw = raw[_cut_head(raw, reversal.right) :]
        if raw is not None and _decodes_so_far(raw, reversal.right):
            kept.append(reversal)
    return tuple(kept)


def _decodes_so_far(raw: bytes, codec: str) -> bool:
    try:
        codecs.getincrementaldecoder(codec)().decode(raw, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _non_ascii(text: str) -> int:
    return sum(1 for char in text if not char.isascii())


def _latin_share(sample: str) -> float:
    if not _LATIN_1_RANGE.search(sample):
        return 0.0  # the usual case, found at C speed
    # Counted at C speed (a single `×` sends a document here; a Python loop over the sample was
    # 0.3 ms a document): non-ASCII = all minus what the ascii codec keeps.
    non_ascii = len(sample) - len(sample.encode("ascii", errors="ignore"))
    if not non_ascii:
        return 0.0
    return len(_LATIN_OR_CP1252.findall(sample)) / non_ascii


def _name(reversal: _Reversal, text: str) -> str:
    # cp1252 leaves five bytes undefined; a C1 control in the text shows latin-1 did the decoding.
    if reversal.encode is _encode_cp1252 and _C1_CONTROLS.search(text):
        return reversal.name.replace("cp1252", "latin-1")
    return reversal.name


def _reverse(text: str, reversal: _Reversal, *, final: bool) -> str | None:
    """Undo the mojibake, or None when the bytes do not decode exactly with the right codec.

    Only an incomplete sequence at the end is tolerated: a cut sample, or, when `final`, a
    truncated last character, which becomes one U+FFFD together with any U+FFFD the wrong
    decoding left for it.
    """
    body, tail, truncated = _split_marker(text) if final else (text, "", False)
    try:
        raw = reversal.encode(body)
    except UnicodeEncodeError:
        return None
    decoder = codecs.getincrementaldecoder(reversal.right)()
    try:
        decoded = decoder.decode(raw, final=False)
    except UnicodeDecodeError:
        return None
    pending = len(decoder.getstate()[0])
    if pending > MAX_TRUNCATED_BYTES:
        return None
    if final and (pending or truncated):
        decoded += REPLACEMENT
    return decoded + tail


def _split_marker(text: str) -> tuple[str, str, bool]:
    """Split off a U+FFFD left for an incomplete last character: (before, trailing space, found)."""
    stripped = text.rstrip()
    if stripped.endswith(REPLACEMENT):
        return stripped[:-1], text[len(stripped) :], True
    return text, "", False


def _evidence(repaired: str) -> str:
    """The repaired text as evidence: without the U+FFFD that stands for earlier damage."""
    return _split_marker(repaired)[0]


# Fingerprints of earlier damage. 锟斤拷 is U+FFFD U+FFFD in UTF-8 read as GBK; 烫 (CCCC) and
# 屯 (CDCD) are MSVC's fill bytes for uninitialised stack and heap memory read as GBK. One
# 烫 or two (烫烫的) are words, three in a row are not.
LOSSY_TRACES = re.compile("(?:锟斤拷)+|烫{3,}|屯{3,}|\ufffd+")


# Substring tests run at memory speed, the regex does not: clean text (most of it) is
# ruled out by these before the regex scans it. One character is found several times faster
# than three (a vectorised scan instead of a string search), and only then the seeds.
_TRACE_CHARS = ("锟", "烫", "屯", REPLACEMENT)
_TRACE_SEEDS = ("锟斤拷", "烫烫烫", "屯屯屯", REPLACEMENT)


def count_lossy_traces(text: str) -> int:
    """Number of characters in `text` that are traces of a lossy conversion (U+FFFD included)."""
    if not any(char in text for char in _TRACE_CHARS) or not any(seed in text for seed in _TRACE_SEEDS):
        return 0
    return sum(len(match) for match in LOSSY_TRACES.findall(text))
