"""Stage 1, decode: a file's bytes to text, with the codec, how sure we are and how we decided.

Decisions, first match wins:

1. Known binary signatures (PNG, JPEG, GIF, ZIP/docx/xlsx, PDF, OLE2 .doc/.xls, gzip, 7z,
   RAR) raise `RejectedInput("binary", ...)`.
2. A byte order mark: UTF-32, UTF-16 or UTF-8 (method `bom`). A UTF-8 BOM is dropped and the
   rest goes on to step 3 if it is not all UTF-8 (a mixed file can start with a BOM).
3. NUL bytes: only UTF-16/UTF-32 without a BOM can hold them. Those codecs are tried and
   judged by plausibility (method `trial`); if none reads as text, the file is binary, unless
   its NULs are a text's (a padding after it, a few stray ones: `STRAY_NULS`) and the rest
   reads as text more plausibly: then it is that text, NULs included, flag `nul_bytes`.
4. Strict UTF-8, the fast path (method `utf-8`, confidence 1.0). Empty input lands here and
   decodes to "": whether an empty document is acceptable is the pipeline's decision. A body of
   ASCII bytes may be CJK text in a 7-bit encoding (`hz`, `iso2022_jp_2`, `iso2022_kr`,
   `utf-7`): one whose marks it holds (`~{`, an escape sequence, `+`) and that reads it strictly
   as plausible Chinese, Japanese or Korean is taken (method `trial`). Legacy
   bytes can be valid UTF-8 by accident (GBK 学习 d1a7 cfb0 is ѧϰ, 元 is Ԫ): a body with two
   two-byte characters in a row, or one that no alphabet writes there (`reads_as_words`), goes
   on to step 5's line and run analysis, which gives valid UTF-8 back unchanged unless a run
   mixes scripts, touches a UTF-8 Hanzi or is not words of an alphabet, and another codec reads
   it better; a legacy reading of valid UTF-8 is as confident as `VALID_UTF8_EVIDENCE_CHARS` allow.
5. Anything else is a legacy codec, possibly mixed with UTF-8 line by line. GB18030 and
   Big5-HKSCS each read the first `QUICK_TRIAL_BYTES` of a bounded sample; when one is
   clearly the more plausible, it stands (method `trial`, the usual case for a page or more).
   Otherwise (a short sample, another language, an odd text) chardet looks at the sample;
   when it is sure of a Chinese codec and the result is plausible, its answer stands (method
   `detector`); otherwise GB18030, Big5-HKSCS and chardet's answer are each decoded and the
   most plausible wins (method `trial`). Lines that are (nearly) valid UTF-8 and more
   plausible as UTF-8 are decoded as UTF-8 (method `mixed`, flag `mixed_encoding`, when both
   codecs remain). Inside a line, the byte runs UTF-8 does not explain (and valid runs that
   look like legacy bytes) each take the codec that reads them best: UTF-8, the legacy codec,
   GB18030, Big5-HKSCS or cp1252 (for its quotes and dashes), so a GBK name or a cp1252 “…”
   pasted into a UTF-8 sentence is one segment of its own. A Japanese or Korean codec (cp932,
   euc_jp, cp949) replaces the Chinese choice when its own language's model reads the sample
   better, and the single-byte codec chardet names for a language written in an alphabet
   (Russian in windows-1251 or KOI8-R, Thai in cp874, Arabic, Greek, Hebrew) replaces it when
   it reads the sample as words of that alphabet (`alphabet_plausibility`, method `detector`):
   GB18030 reads such a file as Hanzi and U+FFFD. Bytes that the chosen codec cannot decode
   become U+FFFD (method `replace`,
   flag `replacement_chars`), preferred over a strict but implausible codec: a UTF-8 file cut
   inside its last character stays UTF-8.

Then mojibake is reversed, in the whole text or line by line, lossy mojibake included
(`repair.repair_segments`, flag `mojibake_repaired`; lines that look like mojibake but do not
reverse: flag `mojibake_suspected`), and traces of earlier lossy conversions are counted (flag
`lossy_conversion_traces`). A confidence below
`LOW_CONFIDENCE` adds the flag `low_confidence_encoding`.

Codec names are Python's, lower case, with the Chinese families widened to their supersets:
`utf-8` (with or without BOM), `utf-16` / `utf-32` (with BOM: the codec reads it), `utf-16-le`,
`utf-16-be`, `utf-32-le`, `utf-32-be` (without BOM), `gb18030` (for GB2312, GBK, GB18030),
`big5hkscs` (for Big5, cp950, HKSCS), `cp932` (for Shift-JIS), `euc_jp`, `cp949` (for EUC-KR),
or another codec chardet named, as `codecs.lookup` spells it (e.g. `cp1252`).

`segments` always describes the whole file: one Segment for a single-codec file, several for
a mixed one. Decoding each segment's bytes with its codec (with errors="replace" when the
method is `replace`) and joining the results gives the text before mojibake repair; a UTF-8
BOM lies outside the segments, a UTF-16/32 BOM inside (those codecs consume it). A mixed
file's `encoding` is the codec of most of its bytes.
"""

from __future__ import annotations

import codecs
import heapq
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from itertools import accumulate, islice, repeat
from operator import add

import chardet

from docclean.errors import RejectedInput
from docclean.extract import looks_like_pdf
from docclean.plausibility import (
    BOUND_SLACK,
    alphabet_plausibility,
    japanese_plausibility,
    korean_plausibility,
    mixes_scripts,
    plausibility,
    plausibility_at_most,
    reads_as_words,
    spaced_han_share,
    unreadable_share,
    unusual_char,
    unusual_chars_in_a_line,
)
from docclean.record import Decoded, Segment
from docclean.repair import count_lossy_traces, repair_mojibake, repair_segments

FLAG_LOW_CONFIDENCE = "low_confidence_encoding"
FLAG_REPLACEMENT = "replacement_chars"
FLAG_MIXED = "mixed_encoding"
FLAG_NUL = "nul_bytes"
FLAG_MOJIBAKE = "mojibake_repaired"
FLAG_LOSSY = "lossy_conversion_traces"
# Lines that look like mojibake and could not be reversed: OpenCC must leave them alone.
FLAG_MOJIBAKE_SUSPECTED = "mojibake_suspected"
# Private-use characters in an extracted text: glyphs of a font without a Unicode mapping. In a
# text file they are what its bytes say (GBK's user-defined area, GB18030's vendor characters).
FLAG_PRIVATE_USE = "private_use_chars"
_PRIVATE_USE = re.compile("[\ue000-\uf8ff\U000f0000-\U0010fffd]")

# chardet reads ~50 MB/s; 64 KiB is tens of pages of Chinese, plenty to tell codecs apart.
# A multiple of 4, so a UTF-16/32 sample never cuts a code unit.
SAMPLE_BYTES = 64 * 1024
# chardet says 1.0 for a page of GBK or Big5 and 0.1-0.4 for a sentence: trust only the former.
DETECTOR_SURE = 0.9
# About 500 Chinese characters: enough for the mean weight of a reading to be stable to a few
# hundredths, when the right codec and the wrong one are 0.3-0.6 apart. A sample shorter than
# this goes to chardet as before, so short documents are decided as they always were.
QUICK_TRIAL_BYTES = 1024
# A quick trial this sure (the winner reads >= 0.9, the other at least 0.18 lower, below
# PLAUSIBLE) is one chardet could only confirm, at a hundred times the cost; anything less
# sure is left to chardet and the full trial.
QUICK_TRIAL_SURE = 0.9
# The right codec gives ~0.98 on real documents; GBK read as Big5 gives ~0.73, the reverse ~0.4.
PLAUSIBLE = 0.9
# A trial won by this much plausibility (a full tier) is a confident choice; less scales down.
DECISIVE_MARGIN = 0.2
# Japanese and Korean are told from Chinese on this much of the legacy sample: a few hundred
# characters, plenty for shares of kana, Hangul and spaced Hanzi.
OTHER_CJK_SAMPLE_BYTES = 4096
# A legacy sample this short (a line or two) is read by the Japanese and Korean codecs too, however
# plausible its Chinese reading: a greeting in EUC-KR or EUC-JP reads as common Hanzi.
SHORT_LEGACY_BYTES = 160
# Below this the choice was close or the text odd: flag it for a person to look at.
LOW_CONFIDENCE = 0.5
# A non-UTF-8 line whose UTF-8 reading has at most this share of U+FFFD (a truncated last
# character, a few stray bytes) competes as UTF-8 on plausibility. GBK lines read as UTF-8
# are 0.2-1.0 U+FFFD, mostly above 0.5: the bound only spares them the contest.
BROKEN_UTF8_SHARE = 0.34
# Real mixed files join a few files of one codec each: more segments than this is a file
# that switches codec line by line, rejected rather than held as a segment per line.
MAX_SEGMENTS = 100_000
# Lines are classified a chunk of whole lines of about this many bytes at a time (a normal
# document is one chunk).
_LINE_CHUNK_BYTES = 256 * 1024
# Binary data read as UTF-16 has 7% and more controls, private-use characters and U+FFFD
# (measured on executables, libraries, images, archives); text has next to none.
WIDE_UNREADABLE_AT_MOST = 0.02

# A valid UTF-8 reading keeps its bytes unless another reads them better by this much: the gap
# between GB2312's Greek and pinyin letters (0.7: α粒子) and a common Hanzi (1.0), so that
# letters Chinese text really uses stay, while debris (ѧϰ: 0.1) does not.
UTF8_KEPT_MARGIN = 0.3
# Bytes inside a UTF-8 line take another codec only when it reads them as text: at least the
# mean of GB2312 level 2 Hanzi. Below that (stray bytes, rare Hanzi by accident), U+FFFD.
RUN_READING_AT_LEAST = 0.6
# How far past a run's readings the bytes after them are read as UTF-8 to score them: two Hanzi.
CONTEXT_BYTES = 6
# A valid UTF-8 line's legacy reading is bounded (`plausibility_at_most`) by this many of its
# first characters: UTF-8 Chinese read as GBK or Big5 is rare Hanzi and U+FFFD from the start.
_BOUNDING_CHARS = 48
# Valid UTF-8 read with a legacy codec is certain only when this many characters decided it;
# fewer (学习 alone is two) scale the confidence down, to `low_confidence_encoding` below 4.
VALID_UTF8_EVIDENCE_CHARS = 8

# Byte patterns of UTF-8 (RFC 3629, section 4): two-byte sequences, longer ones, and runs of
# two-byte sequences and bytes no sequence explains, with single longer sequences inside them.
_TWO = rb"[\xc2-\xdf][\x80-\xbf]"
_LONG = (
    rb"(?:\xe0[\xa0-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]|\xed[\x80-\x9f])[\x80-\xbf]"
    rb"|(?:\xf0[\x90-\xbf]|[\xf1-\xf3][\x80-\xbf]|\xf4[\x80-\x8f])[\x80-\xbf]{2}"
)
_SHORT = rb"(?:" + _TWO + rb"|(?!" + _LONG + rb")[\x80-\xff])"
# Scanned token by token from the line's start, so that a run never starts inside a sequence.
_SHORT_RUN = re.compile(
    rb"(?:" + _LONG + rb"|[\x00-\x7f])+|(?P<run>" + _SHORT + rb"+(?:(?:" + _LONG + rb")" + _SHORT + rb"+)*"
    rb"(?:(?:" + _LONG + rb")(?!" + _LONG + rb"))?)"
)
_LONG_SEQUENCE = re.compile(_LONG)
_TWO_BYTE_LEAD = re.compile(rb"[\xc2-\xdf]")
# Two Hanzi or more of U+4E00-U+9FFF in UTF-8: a pasted phrase inside a legacy line.
_UTF8_HAN_RUN = re.compile(rb"(?:[\xe4-\xe9][\x80-\xbf]{2}){2,}")
# The same two Hanzi, one pattern per first byte (a literal: see below).
_UTF8_HAN_PAIR_BY_LEAD = tuple(
    re.compile(re.escape(bytes((lead,))) + rb"[\x80-\xbf]{2}[\xe4-\xe9][\x80-\xbf]{2}")
    for lead in range(0xE4, 0xEA)
)


def _two_byte_class(lead: int, codes: Iterable[int]) -> bytes:
    """A byte class of the second bytes of the two-byte UTF-8 characters among `codes` whose first
    byte is `lead` (b"" when there are none)."""
    seconds = [0x80 | (code & 0x3F) for code in codes if 0xC0 | (code >> 6) == lead]
    return b"[" + b"".join(re.escape(bytes((byte,))) for byte in seconds) + b"]" if seconds else b""


@cache
def _two_byte_in_question() -> tuple[list[int], list[int]]:
    """The two-byte characters in question alone (`reads_as_words` of the character is False: ĳ Ԫ,
    a combining mark), and those only beside an ASCII letter (Cyrillic, Hebrew, accented Greek)."""
    codes = range(0x80, 0x800)
    alone = [code for code in codes if not reads_as_words(chr(code))]
    beside = [code for code in codes if reads_as_words(chr(code)) and not reads_as_words(chr(code), "a")]
    return alone, beside


def _in_question_by_lead(lead: int) -> bytes:
    """What makes a valid UTF-8 line's two-byte characters with first byte `lead` worth deciding
    (`_next_contested_run`): two of them in a row, one that text does not write or a combining
    mark, or a letter that may not touch an ASCII letter touching one (`reads_as_words`)."""
    first = re.escape(bytes((lead,)))
    odd, not_latin = (_two_byte_class(lead, codes) for codes in _two_byte_in_question())
    # Every branch opens with the lead byte (the letter before is looked behind for), so that `re`
    # skips to lead bytes at once instead of trying each branch at every byte.
    after = [rb"[\x80-\xbf]" + _TWO]
    if odd:
        after.append(odd)
    if not_latin:
        after += [not_latin + rb"(?=[A-Za-z])", not_latin + rb"(?<=[A-Za-z][\x80-\xff]{2})"]
    return first + b"(?:" + b"|".join(after) + b")"


# Built on first use, as most processes decode no UTF-8 body with a two-byte character (10 ms).
@cache
def _in_question_patterns() -> tuple[tuple[bytes, re.Pattern[bytes]], ...]:
    """One pattern per lead byte, searched only when `lead in body` (memchr) finds the byte: a
    pattern opening with a class tests every byte (5x slower than the UTF-8 decode itself)."""
    return tuple((bytes((lead,)), re.compile(_in_question_by_lead(lead))) for lead in range(0xC2, 0xE0))


@cache
def _in_question() -> re.Pattern[bytes]:
    """`_in_question_patterns` in one pattern, for a line at a time."""
    return re.compile(b"|".join(pattern.pattern for _, pattern in _in_question_patterns()))


_NOT_TWO_BYTE = re.compile("[^\u0080-\u07ff]")
_CJK_OR_LATER = re.compile("[\u2e80-\U0010ffff]")

# Checked before the BOM: none of them starts like a BOM, and a binary file must never be
# decoded. Longest signatures first is not needed: none is a prefix of another.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "The file is a PNG image, not text."),
    (b"\xff\xd8\xff", "The file is a JPEG image, not text."),
    (b"GIF87a", "The file is a GIF image, not text."),
    (b"GIF89a", "The file is a GIF image, not text."),
    (b"PK\x03\x04", "The file is a ZIP archive (or a .docx/.xlsx document, which is one), not text."),
    (b"PK\x05\x06", "The file is a ZIP archive (or a .docx/.xlsx document, which is one), not text."),
    (b"%PDF-", "The file is a PDF document, not text."),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "The file is an OLE2 compound file (a legacy .doc or .xls document), not text.",
    ),
    (b"\x1f\x8b", "The file is a gzip archive, not text."),
    (b"7z\xbc\xaf\x27\x1c", "The file is a 7z archive, not text."),
    (b"Rar!\x1a\x07", "The file is a RAR archive, not text."),
)
NUL_DETAIL = (
    "The file contains NUL bytes and does not read as UTF-16 or UTF-32 text: it is binary data, not text."
)

# UTF-32 first: its little-endian BOM begins with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Decoding with the superset is never worse: it decodes everything the subset does, the same way.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "cp950": "big5hkscs",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
}
CHINESE_CODECS = ("gb18030", "big5hkscs")
# Japanese and Korean files reach Chinese drops too; each codec is judged by the plausibility
# model of its own language.
OTHER_CJK_CODECS = {"cp932": "ja", "euc_jp": "ja", "cp949": "ko"}
_CJK_CODECS = frozenset({*CHINESE_CODECS, *OTHER_CJK_CODECS})
# Codecs a legacy (not all UTF-8, NUL-free) file cannot be in, whatever a detector says.
_WIDE_CODECS = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_NOT_LEGACY = frozenset({"ascii", "utf-8", "utf-16", "utf-32", *_WIDE_CODECS})


@dataclass(frozen=True, slots=True)
class _Choice:
    codec: str
    confidence: float
    method: str


def decode_bytes(data: bytes) -> Decoded:
    """Decode a file's bytes; raises `RejectedInput("binary", ...)` for binary data.

    See the module docstring for the order of decisions, the codec names, methods and flags.
    `damaged_chars` counts the characters this decode replaced plus earlier damage found in
    the text (锟斤拷, 烫烫烫, 屯屯屯, U+FFFD).
    """
    _reject_signatures(data)
    return _finish(_decode_with_bom(data) or _decode_unmarked(data, 0))


def _reject_signatures(data: bytes) -> None:
    for signature, detail in _SIGNATURES:
        # A text that starts `%PDF-1.4 文件格式说明` is no PDF: only one that is takes the reject.
        if data.startswith(signature) and (signature != b"%PDF-" or looks_like_pdf(data)):
            raise RejectedInput("binary", detail)


def _decode_with_bom(data: bytes) -> Decoded | None:
    found = next(((bom, codec) for bom, codec in _BOMS if data.startswith(bom)), None)
    if found is None:
        return None
    bom, codec = found
    if codec == "utf-8":
        try:
            text = data[len(bom) :].decode("utf-8")
        except UnicodeDecodeError:
            return _decode_unmarked(data, len(bom))
        return Decoded(text, "utf-8", 1.0, "bom", (Segment(len(bom), len(data), "utf-8"),))
    text, replaced = _decode_replacing(data, codec)
    return _single(text, codec, 1.0, "bom", Segment(0, len(data), codec), replaced)


def _decode_unmarked(data: bytes, start: int) -> Decoded:
    """Decode `data[start:]`, which has no BOM; segments index `data`."""
    body = data[start:]
    if b"\x00" in body:
        text_read = _stray_nuls_read(body, start)
        try:
            wide = _decode_wide(body, start)
        except RejectedInput:
            if text_read is None:
                raise
            return text_read[0]
        # An ASCII text with a stray NUL per line reads as UTF-16 too, as scattered Hanzi.
        if text_read is not None and text_read[1] > plausibility(wide.text[:SAMPLE_BYTES]):
            return text_read[0]
        return wide
    return _decode_nul_free(body, start)


def _decode_nul_free(body: bytes, start: int) -> Decoded:
    """Decode `body`, which has no BOM and no NUL read as part of UTF-16/32 (step 4 on); segments
    index the file, of which `body` is the part from `start` on."""
    end = start + len(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _wide_without_nuls(body, start) or _decode_legacy(body, start)
    if body.isascii():
        return _decode_seven_bit(body, start) or Decoded(
            text, "utf-8", 1.0, "utf-8", (Segment(start, end, "utf-8"),)
        )
    if _may_hide_legacy(body) and not _stays_utf8(text):
        # Legacy CJK bytes can be valid UTF-8 (GBK 学习 is ѧϰ): only then is there a doubt.
        return _decode_legacy(body, start, valid_utf8=True)
    return Decoded(text, "utf-8", 1.0, "utf-8", (Segment(start, end, "utf-8"),))


def _wide_without_nuls(body: bytes, start: int) -> Decoded | None:
    """A line or two of Han (`SHORT_LEGACY_BYTES`) in UTF-16 without a BOM, which holds no NUL
    byte when it holds no ASCII (no line break: a title saved alone, `讲话稿`): read so when a byte
    order reads it strictly as plausible text and a legacy codec reads it no better (its reading
    of such bytes is debris, `𪾸辑？z`); None otherwise. Confidence as `_most_plausible` gives
    it between the readings, scaled down for a text of fewer than `VALID_UTF8_EVIDENCE_CHARS`
    characters."""
    if len(body) > SHORT_LEGACY_BYTES or len(body) % 2:
        return None
    wide = {
        codec: text
        for codec in _WIDE_CODECS[:2]
        if (text := _strict(body, codec)) is not None and unreadable_share(text) <= WIDE_UNREADABLE_AT_MOST
    }
    if not wide:
        return None
    legacy = {codec: _decode_replacing(body, codec)[0] for codec in CHINESE_CODECS}
    choice = _most_plausible({**wide, **legacy})
    if choice.codec not in wide or plausibility(wide[choice.codec]) < PLAUSIBLE:
        return None
    evidence = min(1.0, len(wide[choice.codec]) / VALID_UTF8_EVIDENCE_CHARS)
    segment = Segment(start, start + len(body), choice.codec)
    return _single(
        wide[choice.codec], choice.codec, round(choice.confidence * evidence, 3), "trial", segment, 0
    )


# A text with NUL bytes that UTF-16/32 do not read may still be text: its NULs a padding after
# it (a download preallocated and cut short, a fixed-size buffer saved whole) and, before that, a
# few stray ones (a bad copy): `STRAY_NULS` at most, or one in `STRAY_NUL_BYTES`. Executables and
# other structured binary data hold far more; random bytes (one in 256) read as no text.
STRAY_NULS = 4
STRAY_NUL_BYTES = 100


def _stray_nuls_read(body: bytes, start: int) -> tuple[Decoded, float] | None:
    """`body` decoded with its NULs as the U+0000 they are (normalization removes them, recorded
    as `invisible_chars`), flag `nul_bytes`, and the plausibility of the rest, when it reads as
    text as plausibly as a text file must (`PLAUSIBLE`, `WIDE_UNREADABLE_AT_MOST`); None when
    it does not: more NULs than a text's (`STRAY_NULS`, `STRAY_NUL_BYTES`), binary data, or UTF-16/32.

    The text before a padding is decoded alone, as the file it was before the padding: a UTF-8
    character cut there is a cut file (U+FFFD), not bytes for another codec to read (`故浜`)."""
    head = body.rstrip(b"\x00")
    if not head or head.count(b"\x00") > max(STRAY_NULS, len(head) // STRAY_NUL_BYTES):
        return None
    decoded = _decode_nul_free(head, start)
    if len(head) < len(body):
        # The padding reads as NULs in every codec the text can be in: its last segment takes it.
        last = decoded.segments[-1]
        decoded = replace(
            decoded,
            text=decoded.text + "\x00" * (len(body) - len(head)),
            segments=(*decoded.segments[:-1], Segment(last.start, start + len(body), last.encoding)),
        )
    # Judged without the character a cut file lost (U+FFFD at the end of the text).
    sample = decoded.text.rstrip("\x00").removesuffix("\ufffd").replace("\x00", "")[:SAMPLE_BYTES]
    fit = plausibility(sample)
    if unreadable_share(sample) > WIDE_UNREADABLE_AT_MOST or fit < PLAUSIBLE:
        return None
    return replace(decoded, flags=(*decoded.flags, FLAG_NUL)), fit


# Encodings of CJK text in 7-bit bytes, each with what its text must hold: HZ (RFC 1843) shifts
# to GB2312 with ~{ and back with ~}; ISO-2022-JP-2 (RFC 1554: JIS X 0208, GB2312, KS X 1001) and
# ISO-2022-KR (RFC 1557) switch with escape sequences; UTF-7 (RFC 2152) writes non-ASCII text as
# base64 between + and -. ISO-2022-CN has no Python codec.
_SEVEN_BIT_CODECS = (
    ("hz", b"~{"),
    ("iso2022_jp_2", b"\x1b$"),
    ("iso2022_kr", b"\x1b$)C"),
    ("utf-7", b"+"),
)
# A 7-bit reading stands only with this many non-ASCII characters: ASCII alone is plausible
# in every model, and `C++` or `+86-10` read as UTF-7 give a character or two of debris.
_SEVEN_BIT_MIN_CHARS = 4


def _decode_seven_bit(body: bytes, start: int) -> Decoded | None:
    """An ASCII body read as a 7-bit CJK encoding (`_SEVEN_BIT_CODECS`) when one's marks are in it
    and it reads the body strictly as plausible Chinese, Japanese or Korean (method `trial`);
    None otherwise, and the body stays ASCII (UTF-8)."""
    best: tuple[float, str, str] | None = None
    for codec, mark in _SEVEN_BIT_CODECS:
        if mark not in body or (text := _strict(body, codec)) is None:
            continue
        if sum(not char.isascii() for char in text) < _SEVEN_BIT_MIN_CHARS:
            continue
        sample = text[:OTHER_CJK_SAMPLE_BYTES]
        fit = max(plausibility(sample), japanese_plausibility(sample), korean_plausibility(sample))
        if fit >= PLAUSIBLE and (best is None or fit > best[0]):
            best = (fit, codec, text)
    if best is None:
        return None
    fit, codec, text = best
    return Decoded(text, codec, round(fit, 3), "trial", (Segment(start, start + len(body), codec),))


def _decode_wide(body: bytes, start: int) -> Decoded:
    # Mostly-ASCII UTF-16 has a NUL in every other byte, Chinese UTF-16 only a few (newlines,
    # digits, 一 U+4E00): rather than count NUL positions, let plausibility judge the readings.
    # Each is judged without a padding of NULs after the text (a download cut short) and without a
    # code unit cut at its end: neither is evidence against it (the decoding keeps both, the
    # padding as U+0000 that normalization removes, flag `nul_bytes`, the cut unit as U+FFFD).
    text_end = len(body.rstrip(b"\x00"))
    if not text_end:
        raise RejectedInput("binary", NUL_DETAIL)
    sample = body[: min(len(body), text_end + (-text_end) % 4)][:SAMPLE_BYTES]
    candidates = _WIDE_CODECS if len(sample) % 4 == 0 else _WIDE_CODECS[:2]
    readings = {
        codec: _decode_replacing(sample, codec)[0].rstrip("\x00").removesuffix("\ufffd")
        for codec in candidates
    }
    # Readings full of controls and private-use characters are binary, however plausible the
    # rest of their random characters look; plausibility chooses among the others.
    readable = {
        codec: reading
        for codec, reading in readings.items()
        if unreadable_share(reading) <= WIDE_UNREADABLE_AT_MOST
    }
    if not readable:
        raise RejectedInput("binary", NUL_DETAIL)
    choice = _most_plausible(readable)
    text, replaced = _decode_replacing(body, choice.codec)
    segment = Segment(start, start + len(body), choice.codec)
    decoded = _single(text, choice.codec, choice.confidence, choice.method, segment, replaced)
    unit = 4 if choice.codec.startswith("utf-32") else 2
    padded = text_end + (-text_end) % unit < len(body)
    return replace(decoded, flags=(*decoded.flags, FLAG_NUL)) if padded else decoded


def _decode_legacy(body: bytes, start: int, valid_utf8: bool = False) -> Decoded:
    """Decode a body UTF-8 does not explain alone; `valid_utf8` when it is valid UTF-8 all the same."""
    # The lines are classified again on each pass rather than held when they are many: a list of
    # ten million lines' spans and kinds cost gigabytes. One pass finds the kinds of lines,
    # whether any line holds runs in question (to be cut at them), and the bounded samples the
    # legacy codec may be chosen on.
    survey, held = _survey(body)
    kinds, contested, samples = survey.kinds, survey.contested, survey.samples
    if valid_utf8 and not contested:
        return Decoded(
            body.decode("utf-8"), "utf-8", 1.0, "utf-8", (Segment(start, start + len(body), "utf-8"),)
        )
    # The legacy codec is chosen on the lines UTF-8 cannot explain; a UTF-8 file that is only
    # broken (cut inside its last character) has none, and its broken lines stand in; a valid
    # UTF-8 file has neither, and its contested runs stand in.
    sample_kind = next((kind for kind in ("legacy", "broken-utf-8") if kind in kinds), "utf-8")
    has_legacy = "legacy" in kinds
    choice = _choose_legacy_codec(samples[sample_kind])
    if contested or "utf-8" in kinds or "broken-utf-8" in kinds:
        if held is not None:
            runs = _held_runs(body, choice.codec, held)
        else:
            runs = _mixed_runs(body, choice.codec, _lines_in_question(body, has_legacy))
    else:  # legacy and ASCII lines only, the usual case: they all take the legacy codec
        runs = [(0, len(body), choice.codec)]
    texts: list[str] = []
    replaced = 0
    for a, b, codec in runs:
        text, damaged = _decode_replacing(body[a:b], codec)
        texts.append(text)
        replaced += damaged
    if len(runs) == 1 and not valid_utf8 and runs[0][2] in CHINESE_CODECS:
        foreign = _foreign_lines(body, texts[0], runs[0][2])
        if foreign is not None:
            runs, texts, replaced = foreign
    windows = [(a, b, big5_codec(body[a:b]) if codec == "big5hkscs" else codec) for a, b, codec in runs]
    if windows != runs:
        runs, texts, replaced = windows, [], 0
        for a, b, codec in runs:
            text, damaged = _decode_replacing(body[a:b], codec)
            texts.append(text)
            replaced += damaged
        if choice.codec == "big5hkscs":
            choice = replace(choice, codec="cp950")
    if valid_utf8:
        if all(codec == "utf-8" for _, _, codec in runs):
            return Decoded(
                "".join(texts), "utf-8", 1.0, "utf-8", (Segment(start, start + len(body), "utf-8"),)
            )
        # Valid UTF-8 read otherwise: as sure as the characters that decided it are many.
        evidence = sum(
            len(text) - len(text.encode("ascii", errors="ignore"))
            for text, (_, _, codec) in zip(texts, runs, strict=True)
            if codec != "utf-8"
        )
        choice = replace(
            choice, confidence=round(min(choice.confidence, evidence / VALID_UTF8_EVIDENCE_CHARS), 3)
        )
    segments = tuple(Segment(start + a, start + b, codec) for a, b, codec in runs)
    if len(segments) > 1:
        return _mixed("".join(texts), segments, choice, replaced)
    if segments[0].encoding == "utf-8":  # a broken UTF-8 file: replaced > 0, method replace
        return _single(texts[0], "utf-8", 1.0, "utf-8", segments[0], replaced)
    return _single(texts[0], segments[0].encoding, choice.confidence, choice.method, segments[0], replaced)


def big5_codec(data: bytes) -> str:
    """The codec for Big5 bytes: `cp950` when they hold a symbol Windows and browsers (WHATWG's
    Big5) read otherwise than Python's big5hkscs, or cp950's euro sign, and cp950 reads them
    whole and differs from big5hkscs on nothing else; else `big5hkscs`.

    The symbols (`_HONG_KONG_SYMBOLS`): Taiwan's `9:00～17:00` and `李奧納多‧狄卡皮歐` came out with a
    tilde operator and a bullet (∼ •), and ￥ ￠ ￡ ⊕ ⊙ ¯ ﹑ ∕ ﹨ as ¥ ¢ £ ♁ ☉ ‾ ､ ／ ＼. The euro sign
    (A3E1) big5hkscs lacks: read with it, `價格€100` lost the sign and the character after it, its
    trail byte taken for a lead. Elsewhere the codecs differ only on rows C6A1-C8FE (kana,
    Cyrillic, circled numbers, laid out otherwise), where bytes that hold one stay big5hkscs.
    """
    if _CP950_SYMBOLS.search(data) is None:
        return "big5hkscs"
    windows = _strict(data, "cp950")
    if windows is None:
        return "big5hkscs"
    # Compared with each euro sign as an ideographic space, which both codecs read alike (A140).
    comparable = windows.replace("€", "\u3000")
    try:
        hong_kong = _strict(comparable.encode("cp950") if "€" in windows else data, "big5hkscs")
    except UnicodeEncodeError:
        return "big5hkscs"
    if hong_kong is None or len(comparable) != len(hong_kong):
        return "big5hkscs"
    differing = {theirs for ours, theirs in zip(comparable, hong_kong, strict=True) if ours != theirs}
    return "cp950" if ("€" in windows or differing) and differing <= _HONG_KONG_SYMBOLS else "big5hkscs"


# Where big5hkscs reads a Big5 symbol otherwise than cp950 (A145 A14E A1C2 A1E3 A1F2 A1F3 A241
# A242 A244 A246 A247): its readings, and the bytes that may hold one or cp950's euro sign
# (A3E1), found before either codec decodes anything.
_HONG_KONG_SYMBOLS = frozenset("•､‾∼♁☉／＼¥¢£")
_CP950_SYMBOLS = re.compile(rb"\xa1[\x45\x4e\xc2\xe3\xf2\xf3]|\xa2[\x41\x42\x44\x46\x47]|\xa3\xe1")


def _foreign_lines(
    body: bytes, text: str, codec: str
) -> tuple[list[tuple[int, int, str]], list[str], int] | None:
    """The runs (start, end, codec), their texts and the characters replaced in them, of a
    legacy body read whole with a Chinese `codec` as `text`, when some of its lines are in the
    other Chinese codec; None when none is.

    GBK and Big5 read each other's bytes strictly (Big5's trail bytes 40-7E are GBK's too), so
    a Big5 file with a GB vendor line, or the reverse, decodes whole without an error, the
    foreign line as rare characters (`編輯：張偉` in a GBK file as `絪胯眎岸`). A line holding
    `_FOREIGN_UNUSUAL` letters or private-use characters that are not common (`unusual_chars_in_a_line`, found at C
    speed: clean Chinese of either script has few), a third of its characters at least, takes
    the other codec when that reads it strictly, plausibly (`PLAUSIBLE`) and better by
    `_FOREIGN_MARGIN`. At most `_FOREIGN_LINES_LOOKED_AT` lines are looked at: a file with more
    is not one codec's.
    """
    other = next(name for name in CHINESE_CODECS if name != codec)
    candidates: list[int] = []
    number, counted, looked_at = 0, 0, -1
    unusual = unusual_char()
    for match in unusual_chars_in_a_line(_FOREIGN_UNUSUAL).finditer(text):
        number += text.count("\n", counted, match.start())
        counted = match.start()
        if number == looked_at:
            continue
        looked_at = number
        line_end = text.find("\n", match.start())
        line = text[text.rfind("\n", 0, match.start()) + 1 : len(text) if line_end < 0 else line_end]
        # Rare characters here and there are a text's own; a foreign line is made of them, and
        # they are letters (rare Han, kana, bopomofo) or private-use characters: the other
        # codec's Chinese read as this one's. Symbols and numbers are both codecs' own (①, Ⅰ,
        # │, ★), and a line of them reads better, by accident, as the other's letters.
        rare = sum(unicodedata.category(char)[0] in "LC" for char in unusual.findall(line))
        if rare >= _FOREIGN_UNUSUAL and rare * _FOREIGN_DENSITY >= len(line):
            candidates.append(number)
            if len(candidates) > _FOREIGN_LINES_LOOKED_AT:
                return None
    if not candidates:
        return None
    lines = text.split("\n")
    starts = [0]
    for line in body.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)
    if len(starts) - 1 != len(lines):
        return None  # a replaced byte swallowed a line break: leave the file to its one codec
    foreign: set[int] = set()
    for index in candidates:
        raw = body[starts[index] : starts[index + 1] - 1]
        reading = _strict(raw, other)
        if reading is None:
            continue
        theirs = plausibility(reading)
        if theirs >= PLAUSIBLE and theirs >= plausibility(lines[index]) + _FOREIGN_MARGIN:
            foreign.add(index)
    if not foreign:
        return None
    runs: list[tuple[int, int, str]] = []
    texts: list[str] = []
    end = len(body)
    for index in range(len(lines)):
        line_codec = other if index in foreign else codec
        a, b = starts[index], min(starts[index + 1], end)
        if a == b:
            continue  # the empty line after a final line break
        if runs and runs[-1][2] == line_codec:
            runs[-1] = (runs[-1][0], b, line_codec)
        else:
            runs.append((a, b, line_codec))
    replaced = 0
    for a, b, line_codec in runs:
        piece, damaged = _decode_replacing(body[a:b], line_codec)
        texts.append(piece)
        replaced += damaged
    return runs, texts, replaced


# `_foreign_lines`: how many uncommon characters make a line worth reading in the other Chinese
# codec (and one character in `_FOREIGN_DENSITY` at least), how much better that reading must
# be, and how many such lines are looked at.
_FOREIGN_UNUSUAL = 3
_FOREIGN_DENSITY = 3
_FOREIGN_MARGIN = 0.2
_FOREIGN_LINES_LOOKED_AT = 200


def _single(
    text: str, codec: str, confidence: float, method: str, segment: Segment, replaced: int
) -> Decoded:
    if not replaced:
        return Decoded(text, codec, confidence, method, (segment,))
    return Decoded(
        text,
        codec,
        _discount(confidence, replaced, text),
        "replace",
        (segment,),
        flags=(FLAG_REPLACEMENT,),
        damaged_chars=replaced,
    )


def _mixed(text: str, segments: tuple[Segment, ...], legacy: _Choice, replaced: int) -> Decoded:
    sizes: dict[str, int] = {}
    for segment in segments:
        sizes[segment.encoding] = sizes.get(segment.encoding, 0) + segment.end - segment.start
    # UTF-8 lines are certain (strictly valid and more plausible); the rest is as sure as the legacy choice.
    total = sum(sizes.values())
    confidence = (sizes.get("utf-8", 0) + sizes.get(legacy.codec, 0) * legacy.confidence) / total
    flags = [FLAG_MIXED]
    if replaced:
        flags.append(FLAG_REPLACEMENT)
        confidence = _discount(confidence, replaced, text)
    return Decoded(
        text,
        max(sizes, key=sizes.__getitem__),
        round(confidence, 3),
        "replace" if replaced else "mixed",
        segments,
        flags=tuple(flags),
        damaged_chars=replaced,
    )


def _discount(confidence: float, replaced: int, text: str) -> float:
    """Scale a confidence by the share of characters that decoded cleanly."""
    return round(confidence * (1 - replaced / max(len(text), 1)), 3)


def _finish(decoded: Decoded) -> Decoded:
    """Repair mojibake, count earlier damage, flag a weak choice. `damaged_chars` so far = replaced."""
    repaired = repair_segments(decoded.text)
    text, transform = repaired.text, repaired.transform
    flags = list(decoded.flags)
    if transform:
        flags.append(FLAG_MOJIBAKE)
    if repaired.suspected:
        flags.append(FLAG_MOJIBAKE_SUSPECTED)
    # The traces include the U+FFFD this decode inserted; only more than those is earlier damage.
    damaged = count_lossy_traces(text)
    if damaged > decoded.damaged_chars:
        flags.append(FLAG_LOSSY)
    if decoded.confidence < LOW_CONFIDENCE:
        flags.append(FLAG_LOW_CONFIDENCE)
    return replace(decoded, text=text, flags=tuple(flags), repair=transform, damaged_chars=damaged)


def check_extracted(decoded: Decoded) -> Decoded:
    """The decode stage's checks on a text an extraction module made (a PDF's text layer, a
    .docx's or an RTF's text, a page's main text), so that the same text is flagged the same
    whatever file it came in: mojibake repaired or suspected, `lossy_conversion_traces` (U+FFFD,
    锟斤拷, 烫烫烫 in the text), and for a container format (no codec: `method` "container")
    `private_use_chars`, a font's glyphs with no Unicode mapping.

    A page decoded with replacement already counts its own U+FFFD (`replacement_chars`): only
    its 锟斤拷 and 烫烫烫 are then earlier damage. The result's `repair` is the page decode's when
    this finds nothing more to repair.
    """
    repaired = repair_segments(decoded.text)
    text = repaired.text
    flags = list(decoded.flags)
    if repaired.transform:
        flags.append(FLAG_MOJIBAKE)
    if repaired.suspected:
        flags.append(FLAG_MOJIBAKE_SUSPECTED)
    damaged = count_lossy_traces(text)
    earlier = damaged - text.count("\ufffd") if FLAG_REPLACEMENT in flags else damaged
    if earlier > 0:
        flags.append(FLAG_LOSSY)
    if decoded.method == "container" and _PRIVATE_USE.search(text) is not None:
        flags.append(FLAG_PRIVATE_USE)
    return replace(
        decoded,
        text=text,
        flags=tuple(dict.fromkeys(flags)),
        repair=repaired.transform or decoded.repair,
        damaged_chars=max(damaged, decoded.damaged_chars),
    )


def _classify_lines(body: bytes) -> Iterator[tuple[int, int, str]]:
    """(start, end) of each line, the b"\\n" included, and its kind: ascii, utf-8 (strictly
    valid), broken-utf-8 (a few invalid bytes) or legacy.

    b"\\n" is the only byte no codec here uses inside a character, and a UTF-8 decoder never
    takes it into an invalid sequence: one decode of a chunk of whole lines, split at "\\n",
    gives each line's UTF-8 reading, far cheaper than a decode (and an exception) per line.
    A chunk at a time (`_LINE_CHUNK_BYTES`), so that no list of every line is held.
    """
    for starts, ends, kinds in _line_chunks(body):
        yield from zip(starts, ends, kinds, strict=True)


def _line_chunks(body: bytes) -> Iterator[tuple[list[int], list[int], list[str]]]:
    """`_classify_lines` a chunk of whole lines at a time: (starts, ends, kinds) of its lines,
    in lists made at C speed but for one test per non-ASCII line (`_line_kind`)."""
    # An encoded U+FFFD in the file reads as one too; only more than those are invalid bytes.
    # Rare: one search spares counting them line by line.
    encoded_fffd = b"\xef\xbf\xbd" in body
    position = 0
    while position < len(body):
        cut = body.find(b"\n", position + _LINE_CHUNK_BYTES)
        chunk = body[position:] if cut < 0 else body[position : cut + 1]
        pieces = chunk.split(b"\n")
        readings = chunk.decode("utf-8", errors="replace").split("\n")
        # Every line but the last ends with b"\n"; the last is empty when the chunk ends with one.
        newlines = [1] * (len(pieces) - 1) + [0]
        if not pieces[-1]:
            del pieces[-1], readings[-1], newlines[-1]
        bounds = list(accumulate(map(add, map(len, pieces), newlines), initial=position))
        kinds = [
            "ascii" if line.isascii() else _line_kind(line, reading, newline, encoded_fffd)
            for line, reading, newline in zip(pieces, readings, newlines, strict=True)
        ]
        yield bounds[:-1], bounds[1:], kinds
        position = bounds[-1]


def _line_kind(line: bytes, reading: str, newline: int, encoded_fffd: bool) -> str:
    """The kind of a non-ASCII line from its UTF-8 reading (without its b"\\n", which `newline` counts)."""
    replaced = reading.count("\ufffd")
    if replaced == (line.count(b"\xef\xbf\xbd") if encoded_fffd else 0):
        return "utf-8"
    if replaced <= (len(reading) + newline) * BROKEN_UTF8_SHARE:
        return "broken-utf-8"
    return "legacy"


def reference_lines(body: bytes) -> tuple[list[tuple[int, int]], list[str]]:
    """What `_classify_lines` yields, as defined: each line (its b"\\n" included) decoded on its own.

    The specification of `_classify_lines`, kept beside it: a decode (and an exception) per
    line where the fast code decodes a chunk of lines at once. Returns the (start, end) byte
    offsets of each line and, in the same order, its kind.
    """
    spans, kinds = [], []
    position = 0
    while position < len(body):
        newline = body.find(b"\n", position)
        end = len(body) if newline < 0 else newline + 1
        line = body[position:end]
        spans.append((position, end))
        position = end
        if line.isascii():
            kinds.append("ascii")
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("utf-8", errors="replace")
            broken = text.count("\ufffd") <= len(text) * BROKEN_UTF8_SHARE
            kinds.append("broken-utf-8" if broken else "legacy")
        else:
            kinds.append("utf-8")
    return spans, kinds


@dataclass(frozen=True, slots=True)
class _Survey:
    """What a first pass over a body's lines finds: the kinds of its lines, whether any holds
    runs in question, and each kind's bounded sample (legacy, broken-utf-8, utf-8) that the
    legacy codec may be chosen on."""

    kinds: frozenset[str]
    contested: bool
    samples: dict[str, bytes]


def reference_survey(body: bytes) -> _Survey:
    """What `_survey` finds, line by line as `_lines_in_question` gives them: its specification.

    A legacy line holding a pasted UTF-8 phrase, and a broken UTF-8 line, give their sample
    their bytes less the UTF-8 Hanzi: UTF-8 bytes read as EUC-JP or Shift-JIS are kana, and
    would vote for a Japanese codec. A valid UTF-8 line gives its contested runs.
    """
    kinds: set[str] = set()
    contested = False
    samples = {"legacy": _BoundedSample(), "broken-utf-8": _BoundedSample(), "utf-8": _BoundedSample()}
    for a, b, kind, in_question in _lines_in_question(body, has_legacy=True):
        kinds.add(kind)
        contested = contested or in_question
        sample = samples.get(kind)
        if sample is None or sample.full:
            continue
        if kind == "utf-8":
            for x, y in _contested_runs(body[a:b], kind) if in_question else ():
                sample.add(body[a + x : a + y])
        else:
            sample.add(
                _UTF8_HAN_RUN.sub(b"\n", body[a:b]) if kind == "broken-utf-8" or in_question else body[a:b]
            )
    return _Survey(frozenset(kinds), contested, {kind: sample.bytes() for kind, sample in samples.items()})


# A chunk's lines as the first pass holds them for the second: starts, ends, kinds, and the
# indices of the lines in question.
_HeldChunk = tuple[list[int], list[int], list[str], set[int]]


def _survey(body: bytes) -> tuple[_Survey, list[_HeldChunk] | None]:
    """`reference_survey(body)` a chunk of lines at a time (`_line_chunks`), and the chunks when
    they hold at most `_HELD_LINES` lines (else None), for the second pass.

    Python looks one by one only at the lines that may be in question (`_questioned`) and at the
    broken ones; the legacy lines' sample is joined in one comprehension.
    """
    kinds: set[str] = set()
    contested = False
    samples = {"legacy": _BoundedSample(), "broken-utf-8": _BoundedSample(), "utf-8": _BoundedSample()}
    held: list[_HeldChunk] | None = []
    held_lines = 0
    for starts, ends, chunk_kinds in _line_chunks(body):
        questioned = _questioned(body, starts, ends, chunk_kinds)
        if held is not None:
            held.append((starts, ends, chunk_kinds, questioned))
            held_lines += len(chunk_kinds)
            if held_lines > _HELD_LINES:
                held = None
        kinds.update(chunk_kinds)
        contested = contested or bool(questioned)
        lines = zip(starts, ends, chunk_kinds, strict=True)
        if not samples["legacy"].full and "legacy" in chunk_kinds:
            samples["legacy"].add(
                b"".join(
                    [
                        _UTF8_HAN_RUN.sub(b"\n", body[a:b]) if index in questioned else body[a:b]
                        for index, (a, b, kind) in enumerate(lines)
                        if kind == "legacy"
                    ]
                )
            )
        for index in (i for i, kind in enumerate(chunk_kinds) if kind == "broken-utf-8"):
            if samples["broken-utf-8"].full:
                break
            samples["broken-utf-8"].add(_UTF8_HAN_RUN.sub(b"\n", body[starts[index] : ends[index]]))
        for index in sorted(questioned):
            if chunk_kinds[index] == "utf-8" and not samples["utf-8"].full:
                a = starts[index]
                for x, y in _contested_runs(body[a : ends[index]], "utf-8"):
                    samples["utf-8"].add(body[a + x : a + y])
    survey = _Survey(frozenset(kinds), contested, {kind: sample.bytes() for kind, sample in samples.items()})
    return survey, held


def _questioned(body: bytes, starts: list[int], ends: list[int], kinds: list[str]) -> set[int]:
    """Indices of a chunk's lines in question, as `_lines_in_question` decides: a broken line, a
    valid one with two-byte characters in question (`_in_question`), a legacy one holding two
    UTF-8 Hanzi in a row, each when it holds a contested run. The Hanzi pairs are searched in the
    whole chunk: the pattern holds no b"\\n", so a line holds one if and only if a match starts in it."""
    candidates = [
        index
        for index, kind in enumerate(kinds)
        if kind == "broken-utf-8"
        or (kind == "utf-8" and _in_question().search(body, starts[index], ends[index]) is not None)
    ]
    if "legacy" in kinds:
        pasted = (
            match.start()
            for pattern in _UTF8_HAN_PAIR_BY_LEAD
            for match in pattern.finditer(body, starts[0], ends[-1])
        )
        candidates += (index for index in map(bisect_right, repeat(ends), pasted) if kinds[index] == "legacy")
    return {
        index
        for index in set(candidates)
        if _next_contested_run(body[starts[index] : ends[index]], kinds[index], 0) is not None
    }


def _bounded_sample(lines: Iterable[bytes]) -> bytes:
    """The first lines up to SAMPLE_BYTES (a single longer line is cut)."""
    sample = _BoundedSample()
    for line in lines:
        sample.add(line)
        if sample.full:
            break
    return sample.bytes()


class _BoundedSample:
    """A sample filled a line at a time: the first lines up to SAMPLE_BYTES (a single longer line is cut)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    @property
    def full(self) -> bool:
        return self._size >= SAMPLE_BYTES

    def add(self, line: bytes) -> None:
        if not self.full:
            self._parts.append(line)
            self._size += len(line)

    def bytes(self) -> bytes:
        return b"".join(self._parts)[:SAMPLE_BYTES]


def _may_hide_legacy(body: bytes) -> bool:
    """Whether valid UTF-8 `body` has two-byte characters where legacy bytes may hide: two in a
    row, or one that is not text as `reads_as_words` has it (`_in_question`).

    Chinese UTF-8 is three-byte characters and ASCII: most files have no two-byte lead at all
    (30 memchr scans, a fifth of the decode's time), the rest a few (× ·) to look behind.
    """
    return any(lead in body and pattern.search(body) for lead, pattern in _in_question_patterns())


def _stays_utf8(text: str) -> bool:
    """Whether the line and run analysis of a valid UTF-8 body (`_decode_legacy` with
    `valid_utf8`) would give every byte to UTF-8, the body being read as `text`: then its
    result is the fast path's. False: it might not, and the analysis must run.

    The analysis's decisions, taken only on the lines where one can go against UTF-8: a line
    whose characters are all common or ASCII (no `unusual_char`) reads at plausibility 1.0,
    which no other reading beats, and has no two-byte character in question (`_in_question`: the
    only common two-byte character is ·, looked for in pairs), so it is not in question. The
    other lines take the same legacy codec and the same decisions as in the analysis
    (`_line_codec`, and `_decide_run` on each contested run), and any that is not UTF-8 leaves
    it to the analysis.
    Only such lines are decoded again: a redaction's ×× in a page of Chinese costs a few.
    """
    # Held for the second pass when they are few, as they are in a document of Chinese.
    held = list(islice(_lines_worth_a_look(text), _HELD_LINES + 1))

    def lines() -> Iterator[tuple[bytes, bool, list[tuple[int, int]]]]:
        return iter(held) if len(held) <= _HELD_LINES else _lines_worth_a_look(text)

    sample = _bounded_sample(line[x:y] for line, _, runs in lines() for x, y in runs)
    if not sample:
        return True  # nothing in question: the analysis gives the body back unchanged
    legacy = (
        _remembered_choice(sample) if len(sample) < QUICK_TRIAL_BYTES else _choose_legacy_codec(sample).codec
    )
    for line, last, runs in lines():
        # `_decided_pieces` of the line, run by run: while each run is decided UTF-8, whole, the
        # next run it looks for is the next of `runs` (the bytes between runs are UTF-8 or
        # ASCII), and the first run decided otherwise is the answer.
        if runs:
            for x, y in runs:
                pieces = _decide_run(line, x, y, legacy, at_end=last and y == len(line))
                if any(codec not in (None, "utf-8") for _, _, codec in pieces):
                    return False
        elif _line_codec(line, "ascii" if line.isascii() else "utf-8", legacy) not in (None, "utf-8"):
            return False
    return True


# `_stays_utf8` and `_decode_legacy` hold at most this many lines between their two passes;
# more are looked for again.
_HELD_LINES = 1000


def _lines_worth_a_look(text: str) -> Iterator[tuple[bytes, bool, list[tuple[int, int]]]]:
    """(bytes, last, runs) of each line of a valid UTF-8 body, read as `text`, that holds a
    character not common nor ASCII text (`unusual_char`) or two common two-byte characters in
    a row: the lines a legacy reading can compete for. Its bytes include its b"\\n"; `last`: it
    ends the body; `runs`: its contested runs (`_contested_runs`), none unless it is in question
    as `_lines_in_question` has it. In order, found at C speed, nothing held."""
    unusual = unusual_char()
    pair = _common_two_byte_pair()
    position = 0
    next_pair = pair.search(text)
    while (match := unusual.search(text, position)) is not None or next_pair is not None:
        found = min(m.start() for m in (match, next_pair) if m is not None)
        start = text.rfind("\n", 0, found) + 1
        end = text.find("\n", found) + 1 or len(text)
        line = text[start:end].encode("utf-8")
        in_question = not line.isascii() and _in_question().search(line) is not None
        yield line, end == len(text), _contested_runs(line, "utf-8") if in_question else []
        position = end
        if next_pair is not None and next_pair.start() < end:
            next_pair = pair.search(text, end)


@lru_cache(maxsize=1024)
def _remembered_choice(sample: bytes) -> str:
    """`_choose_legacy_codec`'s codec for a short sample of contested runs: in valid UTF-8 these
    are mostly a redaction's ×× a few times, the same sample file after file, and the choice
    costs a chardet call."""
    return _choose_legacy_codec(sample).codec


@cache
def _common_two_byte_pair() -> re.Pattern[str]:
    """Two two-byte UTF-8 characters in a row that `unusual_char` passes (··): made from its table."""
    unusual = unusual_char()
    common = "".join(chr(code) for code in range(0x80, 0x800) if not unusual.match(chr(code)))
    # The class twice, not repeated: with one character in it (·, today) `re` finds the pattern
    # as a literal, at memchr speed, where a repeated class is tested at every character.
    one = f"[{re.escape(common)}]"
    return re.compile(one * 2 if common else "(?!)")


def _lines_in_question(body: bytes, has_legacy: bool) -> Iterator[tuple[int, int, str, bool]]:
    """Each line (start, end, kind) as `_classify_lines` gives it, in order, and whether it holds
    byte runs whose codec is in question (`_contested_runs`), to be cut at them.

    A broken UTF-8 line may hold them; a valid one when it has two two-byte characters in a row
    or one in question (`_in_question`: where legacy CJK bytes that happen to be valid UTF-8
    show); a legacy line when it holds two UTF-8 Hanzi in a row (a pasted phrase; GBK text
    makes the pattern by accident in about one line of a hundred, and `_split_line` then keeps
    the line whole). The legacy lines are
    searched in one lazy pass over the body per pattern, not one call per line, and nothing
    per line is held. `has_legacy`: whether the body has legacy lines at all.
    """
    patterns = _UTF8_HAN_PAIR_BY_LEAD if has_legacy else ()
    pasted = heapq.merge(*(pattern.finditer(body) for pattern in patterns), key=lambda match: match.start())
    next_pasted = next(pasted, None)
    for a, b, kind in _classify_lines(body):
        if kind == "legacy":
            # The pattern holds no b"\n": a match lies inside one line.
            while next_pasted is not None and next_pasted.start() < a:
                next_pasted = next(pasted, None)
            may = next_pasted is not None and next_pasted.start() < b
        else:
            may = kind == "broken-utf-8" or (
                kind == "utf-8" and _in_question().search(body, a, b) is not None
            )
        yield a, b, kind, may and _next_contested_run(body[a:b], kind, 0) is not None


def _contested_runs(line: bytes, kind: str) -> list[tuple[int, int]]:
    """(start, end) in `line` of each byte run whose codec is in question, scanned from its start."""
    runs = []
    position = 0
    while (run := _next_contested_run(line, kind, position)) is not None:
        runs.append(run)
        position = run[1]
    return runs


def _next_contested_run(line: bytes, kind: str, position: int) -> tuple[int, int] | None:
    """The first byte run at or after `position` whose codec is in question, or None.

    A run is made of two-byte UTF-8 sequences and bytes no UTF-8 sequence explains, with at
    most single longer sequences between them (an accident of legacy bytes). It is in question
    when it holds invalid bytes; or, valid, when it mixes scripts (ѧϰ), touches a Hanzi
    written in UTF-8 with two characters or more, or does not read as words of an alphabet
    (`reads_as_words`: 100Ԫ, һЩ). Runs of one script standing apart (Ελλάδα, café) are text.
    In a legacy line every run is in question: the line's own codec competes.
    """
    for a, b in _runs_from(line, kind, position):
        if kind != "legacy":
            try:
                text = line[a:b].decode("utf-8")
            except UnicodeDecodeError:
                return a, b  # invalid bytes: in question
            glued = (a > 0 and line[a - 1] >= 0x80) or (b < len(line) and line[b] >= 0x80)
            # A CJK character between two-byte ones is an accident of legacy bytes; the
            # punctuation cp1252 adds (“ ” … €) is not, it comes with Latin-1 mojibake.
            accident = (
                _CJK_OR_LATER.search(text) is not None
                or mixes_scripts(_NOT_TWO_BYTE.sub("", text))
                or not _reads_as_words(line, a, b, text)
            )
            if not accident and not (glued and len(text) >= 2):
                continue
        return a, b
    return None


def _reads_as_words(line: bytes, x: int, y: int, text: str) -> bool:
    """`reads_as_words` of the two-byte characters of the valid run `line[x:y]`, read as `text`,
    beside the ASCII characters around it."""
    before = chr(line[x - 1]) if x > 0 and line[x - 1] < 0x80 else ""
    after = chr(line[y]) if y < len(line) and line[y] < 0x80 else ""
    return reads_as_words(_NOT_TWO_BYTE.sub("", text), before, after)


def _runs_from(line: bytes, kind: str, position: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of `_SHORT_RUN` in `line`, scanned token by token from `position`.

    In a valid UTF-8 line (kind utf-8) scanned from a character's first byte, the tokens are the
    characters, and the only ones neither ASCII nor longer are two-byte characters: each run
    starts at one, found at C speed (`_TWO_BYTE_LEAD`) instead of a token at a time through the
    Hanzi between (`scanned_runs`, which gives the same runs, and which any other scan is).
    """
    if kind != "utf-8" or (position < len(line) and 0x80 <= line[position] <= 0xBF):
        yield from scanned_runs(line, position)
        return
    while (lead := _TWO_BYTE_LEAD.search(line, position)) is not None:
        run = _SHORT_RUN.match(line, lead.start())
        assert run is not None  # a two-byte character is a run of one at least
        yield run.span()
        position = run.end()


def scanned_runs(line: bytes, position: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of `_SHORT_RUN` in `line`, scanned token by token from `position`:
    the definition of the runs, and `_runs_from`'s reference."""
    for match in _SHORT_RUN.finditer(line, position):
        if match.start("run") >= 0:
            yield match.span()


def _split_line(
    body: bytes, a: int, b: int, kind: str, legacy: str
) -> tuple[tuple[int, int, str | None], ...]:
    """Pieces (start, end, codec) of the line `body[a:b]`: each contested run with the codec
    that reads it best, the bytes between them in UTF-8 (None: ASCII, any codec).
    Short lines are remembered (`_REMEMBERED_LINE_BYTES`), by their bytes: page footers,
    salutations and vendor lines come back file after file.

    The runs are found again after each decision: a legacy reading that completes its last
    character with the next bytes moves the place where UTF-8 starts again (GBK 议 followed by
    a pasted UTF-8 phrase: its trail byte and the GBK ， after it looked like one UTF-8 Hanzi).
    A valid UTF-8 line that is Chinese read as cp1252 (`ç ”ç©¶` for 研究) stays UTF-8, whole: its
    two-byte characters read as GBK are common Hanzi by accident (莽听), and the repair stage
    reverses it (`_latin_mojibake`). A line that is not valid UTF-8 and that the legacy codec
    reads whole, strictly and more plausibly, stays whole: a legacy line's runs were an accident of its bytes, and a
    cp1252 line (São Paulo) reads better whole than its runs of one accented letter each.
    """
    line = body[a:b]
    pieces = _remembered_line_pieces if len(line) <= _REMEMBERED_LINE_BYTES else _line_pieces
    return pieces(line, kind, legacy, b == len(body))


def _line_pieces(line: bytes, kind: str, legacy: str, last: bool) -> tuple[tuple[int, int, str | None], ...]:
    """`_split_line` of `line`, of that kind; `last`: whether it ends the body."""
    if kind == "utf-8" and _latin_mojibake(line.decode("utf-8")):
        return ((0, len(line), "utf-8"),)
    pieces = _decided_pieces(line, kind, legacy, last=last)
    if kind != "utf-8":
        whole = _strict(line, legacy)
        if whole is not None and (
            # No UTF-8 in the line: nothing speaks for another codec but a score, and a line of
            # symbols and ASCII (①SAS, │ 1 │) scores better as the other Chinese codec's letters.
            (all(codec != "utf-8" for _, _, codec in pieces) and plausibility(whole) >= RUN_READING_AT_LEAST)
            or plausibility(whole) > plausibility(_scored(line, pieces))
        ):
            return ((0, len(line), legacy),)
    return tuple(pieces)


_remembered_line_pieces = lru_cache(maxsize=4096)(_line_pieces)
# Lines up to this long are remembered by `_split_line`: a footer or a salutation, not a paragraph.
_REMEMBERED_LINE_BYTES = 256


def _scored(line: bytes, pieces: list[tuple[int, int, str | None]]) -> str:
    """The pieces' reading as `_decide_run` scored it: a pasted Latin-1 letter (São) counts as the
    ASCII letters around it, neutral, not as a rare character the whole line's misreading lacks."""
    return "".join(
        "a"
        if codec == "cp1252" and b - a == 1 and _pasted_latin_1(line, a, b, line[a:b].decode("cp1252"))
        else line[a:b].decode(codec or "ascii", errors="replace")
        for a, b, codec in pieces
    )


def _decided_pieces(line: bytes, kind: str, legacy: str, last: bool) -> list[tuple[int, int, str | None]]:
    """`_split_line`'s pieces of `line` run by run, before its checks of the whole line; `last`:
    whether the line ends the body (a UTF-8 sequence cut there is a cut file, not evidence)."""
    pieces: list[tuple[int, int, str | None]] = []
    position = 0
    while (run := _next_contested_run(line, kind, position)) is not None:
        x, y = run
        if x > position:
            pieces.append((position, x, _gap_codec(line[position:x])))
        decided = _decide_run(line, x, y, legacy, at_end=last and y == len(line))
        pieces += decided
        position = decided[-1][1]
    if position < len(line):
        pieces.append((position, len(line), _gap_codec(line[position:])))
    return pieces


def _latin_mojibake(text: str) -> bool:
    """Whether `text` is Chinese (UTF-8, GBK or Big5) that was read as cp1252 or Latin-1, as
    `repair_mojibake` finds it: then its bytes are UTF-8 for the repair to reverse, not a
    legacy codec's. Latin-1 too: Windows and browsers pass cp1252's five undefined bytes
    (81 8D 8F 90 9D) through as C1 controls, and one Hanzi in seven holds one in UTF-8; or lossy,
    where the wrong decoding replaced them with U+FFFD (`errors="replace"`, as many tools do)."""
    transform = repair_mojibake(text)[1]
    return transform is not None and transform.removesuffix(" (lossy)").endswith(
        ("decoded as cp1252", "decoded as latin-1")
    )


def _gap_codec(gap: bytes) -> str | None:
    return None if gap.isascii() else "utf-8"


def _decide_run(
    line: bytes, x: int, y: int, legacy: str, at_end: bool, limit: int | None = None
) -> list[tuple[int, int, str | None]]:
    """`_scored_run`'s pieces of `line[x:y]`, remembered by the bytes its decision reads: from the
    byte before the run to `_RUN_READ_AHEAD` past it. A redaction's ×× in UTF-8 text, a pasted
    GBK name, come back with the same few characters around them, run after run."""
    start = max(0, x - 1)
    window = line[start : y + _RUN_READ_AHEAD]
    pieces = _decided_in_window(
        window, x - start, y - start, legacy, at_end, None if limit is None else limit - start
    )
    return [(a + start, b + start, codec) for a, b, codec in pieces]


# The most bytes past a run that its decision reads: three more that a legacy reading may take
# to complete its last character (`_legacy_reading`), and `CONTEXT_BYTES` of context after them.
_RUN_READ_AHEAD = 3 + CONTEXT_BYTES


@lru_cache(maxsize=4096)
def _decided_in_window(
    window: bytes, x: int, y: int, legacy: str, at_end: bool, limit: int | None
) -> tuple[tuple[int, int, str | None], ...]:
    return tuple(_scored_run(window, x, y, legacy, at_end, limit))


def _scored_run(
    line: bytes, x: int, y: int, legacy: str, at_end: bool, limit: int | None = None
) -> list[tuple[int, int, str | None]]:
    """The pieces of `line[x:y]` under the reading that scores best: UTF-8 (given a margin when
    valid), the file's legacy codec, GB18030 or Big5-HKSCS (each taking up to three more bytes
    when they complete its last character, and only when it reads the run as text; these two
    only when the legacy codec is a CJK one), cp1252 (only
    when it gives punctuation, the “ ” a Windows editor pasted, or one byte that is a symbol or a
    letter of a Latin word: `_pasted_latin_1`), or, for a run with longer UTF-8 characters inside,
    those characters in UTF-8 and each part between decided alone. Ties go to UTF-8, then to the
    legacy codecs in that order.

    Each reading is scored with the UTF-8 reading of the bytes after it, up to the same place
    for all (the valid UTF-8 after the nearest end, up to `CONTEXT_BYTES` past the furthest): a
    legacy character that takes the first byte of the next UTF-8 character breaks it, and pays
    for it there. Replacement characters
    score zero. At the end of the body an incomplete UTF-8 sequence is a cut file, not evidence
    against UTF-8: it is left out of UTF-8's score. No piece ends past `limit` (default: the
    line's end).
    """
    run = line[x:y]
    readings: list[tuple[str, int, list[tuple[int, int, str | None]], float]] = []
    as_utf8 = _strict(run, "utf-8")
    if as_utf8 is not None:
        # Valid UTF-8 that is no alphabet's words (100Ԫ) has no claim to be kept beyond its score.
        margin = UTF8_KEPT_MARGIN if _reads_as_words(line, x, y, as_utf8) else 0.0
        readings.append((as_utf8, 0, [(x, y, "utf-8")], margin))
    else:
        scored = _without_cut_tail(run) if at_end else run
        readings.append((scored.decode("utf-8", errors="replace"), 0, [(x, y, "utf-8")], 0.0))
    # In a file whose legacy codec is an alphabet's (cp1252: Le café est très bon), a run is that
    # codec's letter: a CJK codec taking the next ASCII letter as its trail byte (très as tr鑣)
    # reads a common Hanzi by accident, and the file was judged not CJK as a whole.
    competing = (legacy, *CHINESE_CODECS) if legacy in _CJK_CODECS else (legacy,)
    for rank, codec in enumerate(dict.fromkeys(competing), 1):
        end, reading = _legacy_reading(line, x, y, codec, len(line) if limit is None else limit)
        if plausibility(reading) >= RUN_READING_AT_LEAST:
            readings.append((reading, rank, [(x, end, codec)], 0.0))
    longer = list(_LONG_SEQUENCE.finditer(run))
    if longer:
        parts: list[tuple[int, int, str | None]] = []
        position = 0
        for match in longer:
            if match.start() > position:
                parts += _decide_run(
                    line, x + position, x + match.start(), legacy, at_end=False, limit=x + match.start()
                )
            parts.append((x + match.start(), x + match.end(), "utf-8"))
            position = match.end()
        if position < len(run):
            parts += _decide_run(line, x + position, y, legacy, at_end)
        readings.append((_read(line, parts), 2, parts, 0.0))
    as_cp1252 = _strict(run, "cp1252")
    if as_cp1252 is not None:
        if plausibility(as_cp1252) >= PLAUSIBLE:
            readings.append((as_cp1252, 9, [(x, y, "cp1252")], 0.0))
        elif _pasted_latin_1(line, x, y, as_cp1252):
            # Scored as the ASCII letter or sign it stands beside: neutral, as the word around it.
            readings.append(("", 9, [(x, y, "cp1252")], 0.0))
    if len(readings) == 1:
        return readings[0][2]  # UTF-8's alone: nothing to score it against
    ends = [pieces[-1][1] for _, _, pieces, _ in readings]
    nearest, furthest = min(ends), max(ends)
    stop = max(furthest, nearest + _valid_utf8_prefix(line[nearest : furthest + CONTEXT_BYTES]))
    scores = [
        (
            plausibility(reading + line[pieces[-1][1] : stop].decode("utf-8", errors="replace")) + margin,
            -rank,
            i,
        )
        for i, (reading, rank, pieces, margin) in enumerate(readings)
    ]
    return readings[max(scores)[2]][2]


def _valid_utf8_prefix(data: bytes) -> int:
    """The length of the longest prefix of `data` that is whole, valid UTF-8 characters.

    The context of a run's readings stops there: past it lies the next run in question, decided
    when its turn comes; a U+FFFD there would weigh on every reading, most on the shortest.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return len(data)


def _pasted_latin_1(line: bytes, x: int, y: int, reading: str) -> bool:
    """Whether the one byte `line[x:y]`, read as cp1252, is a Latin-1 letter beside an ASCII
    letter (café, naïve) or a sign (€ ™ ° ±): a Windows editor's text pasted into a UTF-8 line.

    One byte alone is never a GBK, Big5 or Shift-JIS character (they are two bytes or more), so
    this reading competes only with a legacy one that takes the next byte as its trail.
    """
    if y - x != 1:
        return False
    if not reading.isalpha():
        return unicodedata.category(reading)[0] in "SP"
    return any(0 <= i < len(line) and chr(line[i]).isascii() and chr(line[i]).isalpha() for i in (x - 1, y))


def _legacy_reading(line: bytes, x: int, y: int, codec: str, limit: int) -> tuple[int, str]:
    """(end, text): `line[x:y]` in `codec`, strictly if possible, taking up to three more bytes
    of the line, not past `limit`, when they complete its last character (GBK, Big5 and
    Shift-JIS trail bytes include ASCII letters and UTF-8 continuation bytes; GB18030
    characters run to four bytes).
    """
    for end in range(y, min(y + 4, limit + 1)):
        text = _strict(line[x:end], codec)
        if text is not None:
            return end, text
        if line[end - 1 : end] == b"\n":
            break
    return y, line[x:y].decode(codec, errors="replace")


def _without_cut_tail(run: bytes) -> bytes:
    """`run` without an incomplete UTF-8 sequence at its end (a file cut inside its last character)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    decoder.decode(run, final=False)
    pending = len(decoder.getstate()[0])
    return run[: len(run) - pending]


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _read(line: bytes, pieces: list[tuple[int, int, str | None]]) -> str:
    return "".join(line[a:b].decode(codec or "ascii", errors="replace") for a, b, codec in pieces)


def _line_codec(line: bytes, kind: str, legacy: str) -> str | None:
    """The codec for one line; None for ASCII, which reads the same in all of them."""
    if kind == "ascii":
        return None
    if kind == "legacy":
        return legacy
    # Valid UTF-8 that is not ASCII is strong evidence, but a short legacy line can be valid
    # UTF-8 by accident (GBK C4A3 is "ģ"): keep UTF-8 unless the legacy reading is more
    # plausible. Replacement characters score zero in both readings.
    as_utf8 = line.decode("utf-8", errors="replace")
    as_legacy = line.decode(legacy, errors="replace")
    utf8 = plausibility(as_utf8)
    # UTF-8 text read with a legacy codec is debris from its first characters on: bounded by
    # those, the legacy reading mostly loses without being weighed whole.
    if utf8 > plausibility_at_most(as_legacy, _BOUNDING_CHARS) + BOUND_SLACK:
        return "utf-8"
    if utf8 >= plausibility(as_legacy):
        return "utf-8"
    # Chinese read as cp1252 (a title double-decoded above its body) reads worse than its bytes
    # read as Big5 or GBK; it stays UTF-8 for the repair to reverse, as a line in question does.
    return "utf-8" if kind == "utf-8" and _latin_mojibake(as_utf8) else legacy


def _mixed_runs(
    body: bytes, legacy: str, lines: Iterable[tuple[int, int, str, bool]]
) -> list[tuple[int, int, str]]:
    """(start, end, codec) of each run of bytes that take one codec, merged as they come from
    `lines` (`_lines_in_question`): a line in question is cut into pieces (`_split_line`),
    every other line takes one codec (`_line_codec`).

    ASCII pieces take the codec of the piece before (or after, at the top) so runs stay long.
    Raises RejectedInput("mixed_encoding") past `MAX_SEGMENTS` runs: a file that switches
    codecs that often is not one text, and a segment per switch costs a hundred bytes each.
    """
    runs: list[tuple[int, int, str]] = []
    for a, b, kind, in_question in lines:
        pieces = (
            [(a + x, a + y, codec) for x, y, codec in _split_line(body, a, b, kind, legacy)]
            if in_question
            else [(a, b, _line_codec(body[a:b], kind, legacy))]
        )
        for _, end, codec in pieces:
            _add_piece(runs, end, codec, legacy)
    return runs


def _add_piece(runs: list[tuple[int, int, str]], end: int, codec: str | None, legacy: str) -> None:
    """Add the piece of bytes up to `end` read with `codec` (None: ASCII) to `runs`: it extends
    the last run when it takes its codec or is ASCII, else it opens a run."""
    if codec is None or (runs and runs[-1][2] == codec):
        if runs:
            runs[-1] = (runs[-1][0], end, runs[-1][2])
        return
    if len(runs) == MAX_SEGMENTS:
        raise RejectedInput(
            "mixed_encoding",
            f"The file switches between UTF-8 and {legacy} (or another legacy codec) more than "
            f"{MAX_SEGMENTS:,} times, line by line or inside lines: it is not one text. Split it "
            "into files of one encoding each.",
        )
    # The ASCII pieces at the top (if any) open the first run.
    runs.append((runs[-1][1] if runs else 0, end, codec))


def _held_runs(body: bytes, legacy: str, held: list[_HeldChunk]) -> list[tuple[int, int, str]]:
    """`_mixed_runs(body, legacy, lines)` for the same lines held by `_survey`: Python looks only
    at the lines that are valid or broken UTF-8 or in question. Between two of those, ASCII lines
    take no codec of their own and legacy lines the legacy one (`_line_codec`), so the stretch
    extends the run before it up to its first legacy line, then makes or extends a legacy run."""
    runs: list[tuple[int, int, str]] = []
    for starts, ends, kinds, questioned in held:
        decided = sorted(
            questioned.union(i for i, kind in enumerate(kinds) if kind in ("utf-8", "broken-utf-8"))
        )
        after = 0
        for index in [*decided, len(kinds)]:
            if index > after:  # lines after..index-1: ASCII, and legacy lines not in question
                try:
                    first = kinds.index("legacy", after, index)
                except ValueError:
                    _add_piece(runs, ends[index - 1], None, legacy)
                else:
                    if first > after:
                        _add_piece(runs, ends[first - 1], None, legacy)
                    _add_piece(runs, ends[first], legacy, legacy)
                    _add_piece(runs, ends[index - 1], None, legacy)
            if index == len(kinds):
                break
            a, b, kind = starts[index], ends[index], kinds[index]
            if index in questioned:
                for _, y, codec in _split_line(body, a, b, kind, legacy):
                    _add_piece(runs, a + y, codec, legacy)
            else:
                _add_piece(runs, b, _line_codec(body[a:b], kind, legacy), legacy)
            after = index + 1
    return runs


def _choose_legacy_codec(sample: bytes) -> _Choice:
    """The legacy codec of a sample: the Chinese choice, unless a Japanese or Korean codec, or
    an alphabet's single-byte codec, reads it better.

    The Chinese reading is discounted by its Hanzi that stand between single spaces (Korean
    EUC-KR read as GBK is common Hanzi spaced like Korean words); ordinary Chinese (plausible,
    unspaced) is not even compared, so its cost is one scoring of a `OTHER_CJK_SAMPLE_BYTES` sample.
    A sample of a line or two (`SHORT_LEGACY_BYTES`) is compared whatever it reads as: GB2312's
    first level lies where EUC-KR puts its Hangul and Big5 its Hanzi where EUC-JP puts its kana,
    so a greeting in either reads as common Hanzi. Where the other reading is as plausible, the
    Chinese one stands with the confidence its margin gives (`low_confidence_encoding`).
    """
    chinese = _choose_chinese_codec(sample)
    sample = sample[:OTHER_CJK_SAMPLE_BYTES]
    reading = _decode_replacing(sample, chinese.codec)[0]
    chinese_fit = plausibility(reading) * (1 - spaced_han_share(reading))
    short = len(sample) <= SHORT_LEGACY_BYTES
    if chinese_fit >= PLAUSIBLE and not short:
        return chinese
    scores = _other_cjk_scores(sample)
    other = _other_cjk(scores, chinese, chinese_fit)
    if other is not chinese:
        return other
    if short and (rival := max(scores)[0]) >= PLAUSIBLE:
        margin = min(1.0, max(0.0, chinese_fit - rival) / DECISIVE_MARGIN)
        chinese = replace(chinese, confidence=round(min(chinese.confidence, chinese_fit * margin), 3))
    return _other_alphabet(sample, chinese, chinese_fit) if chinese_fit < PLAUSIBLE else chinese


# The single-byte codecs of alphabets that text files are written in (Windows, ISO 8859, KOI8,
# Thai, DOS and Mac Cyrillic), as `codecs.lookup` names them. A detector's rarer guesses (cp855
# for a few GBK bytes) are not taken.
_ALPHABET_CODEC = re.compile(r"cp125[0-8]|iso8859-\d{1,2}|koi8-[ru]|cp874|tis-620|cp866|mac-cyrillic")
# chardet's confidence in such a codec, at least: it names one for short Chinese samples too, at
# a few hundredths; Russian, Thai or Arabic in a sentence or two gets 0.2 and more.
ALPHABET_DETECTOR_AT_LEAST = 0.2


def _other_alphabet(sample: bytes, chinese: _Choice, chinese_fit: float) -> _Choice:
    """The single-byte codec chardet names for a language written in an alphabet (windows-1251
    for Russian, cp874 for Thai, windows-1256 for Arabic...) when it reads the sample strictly as
    words of that alphabet (`alphabet_plausibility`) better than the Chinese codec reads it."""
    detected = chardet.detect(sample, compat_names=False)
    codec = _canonical(detected["encoding"])
    if (
        codec is None
        or _ALPHABET_CODEC.fullmatch(codec) is None
        or (detected["confidence"] or 0.0) < ALPHABET_DETECTOR_AT_LEAST
        or detected.get("language") in (None, "", "zh", "ja", "ko")
        or (text := _strict(sample, codec)) is None
    ):
        return chinese
    fit = alphabet_plausibility(text)
    if fit < PLAUSIBLE or fit <= chinese_fit:
        return chinese
    return _Choice(codec, round(fit * min(1.0, (fit - chinese_fit) / DECISIVE_MARGIN), 3), "detector")


def _other_cjk(scores: list[tuple[float, int, str]], chinese: _Choice, chinese_fit: float) -> _Choice:
    """A Japanese or Korean codec when its reading of the sample (`scores`: `_other_cjk_scores`)
    beats the Chinese one (read at `chinese_fit`) by its own language's model."""
    best, _, codec = max(scores)
    if best < PLAUSIBLE or best <= chinese_fit:
        return chinese
    return _Choice(codec, round(best * min(1.0, (best - chinese_fit) / DECISIVE_MARGIN), 3), "trial")


def _other_cjk_scores(sample: bytes) -> list[tuple[float, int, str]]:
    """(fit, -rank, codec) of each Japanese and Korean codec's reading of the sample."""
    scored = []
    for rank, (codec, language) in enumerate(OTHER_CJK_CODECS.items()):
        text = _decode_replacing(sample, codec)[0]
        fit = japanese_plausibility(text) if language == "ja" else korean_plausibility(text)
        scored.append((fit, -rank, codec))
    return scored


def _choose_chinese_codec(sample: bytes) -> _Choice:
    if len(sample) >= QUICK_TRIAL_BYTES:
        quick = _trial(sample[:QUICK_TRIAL_BYTES], CHINESE_CODECS)
        if quick.confidence >= QUICK_TRIAL_SURE:
            return quick
    detected = chardet.detect(sample, compat_names=False)
    codec = _canonical(detected["encoding"])
    confidence = detected["confidence"] or 0.0
    if (
        codec in CHINESE_CODECS
        and confidence >= DETECTOR_SURE
        and plausibility(_decode_replacing(sample, codec)[0]) >= PLAUSIBLE
    ):
        return _Choice(codec, round(confidence, 3), "detector")
    extra = () if codec is None or codec in _NOT_LEGACY or not _ascii_compatible(codec) else (codec,)
    return _trial(sample, tuple(dict.fromkeys((*CHINESE_CODECS, *extra))))


def _ascii_compatible(codec: str) -> bool:
    """Whether `codec` reads printable ASCII as ASCII: a file whose other lines are ASCII or UTF-8
    is never EBCDIC (cp875, cp500) or UTF-7, whatever a detector says of a few of its bytes."""
    return _strict(_PRINTABLE_ASCII, codec) == _PRINTABLE_ASCII.decode("ascii")


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _canonical(name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return _SUPERSETS.get(codec, codec)


def _trial(sample: bytes, candidates: tuple[str, ...]) -> _Choice:
    """Decode the sample with each candidate; the most plausible wins, earlier ones on ties.

    Replacement characters score zero, so a codec that needs a few of them (a file cut in
    the middle of a character) still beats one that decodes strictly into nonsense.
    """
    return _most_plausible({codec: _decode_replacing(sample, codec)[0] for codec in candidates})


def _most_plausible(readings: dict[str, str]) -> _Choice:
    """The codec whose reading is the most plausible, the earliest on ties (method `trial`), with a
    confidence that falls as the runner-up comes close (`DECISIVE_MARGIN`)."""
    scored = sorted(
        ((plausibility(reading), -rank, codec) for rank, (codec, reading) in enumerate(readings.items())),
        reverse=True,
    )
    best, _, codec = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    confidence = best * min(1.0, (best - runner_up) / DECISIVE_MARGIN)
    return _Choice(codec, round(confidence, 3), "trial")


def _decode_replacing(data: bytes, codec: str) -> tuple[str, int]:
    """Decode strictly if possible, else with U+FFFD; also return how many were inserted."""
    try:
        return data.decode(codec), 0
    except UnicodeDecodeError:
        text = data.decode(codec, errors="replace")
    # Both handlers resume at the same byte, so the texts differ only by the inserted U+FFFD.
    return text, len(text) - len(data.decode(codec, errors="ignore"))
