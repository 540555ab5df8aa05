"""Stage 1, decode: a file's bytes to text, with the codec, how sure we are and how we decided.

Decisions, first match wins:

1. Known binary signatures (PNG, JPEG, GIF, ZIP/docx/xlsx, PDF, OLE2 .doc/.xls, gzip, 7z,
   RAR) raise `RejectedInput("binary", ...)`.
2. A byte order mark: UTF-32, UTF-16 or UTF-8 (method `bom`). A UTF-8 BOM is dropped and the
   rest goes on to step 3 if it is not all UTF-8 (a mixed file can start with a BOM).
3. NUL bytes: only UTF-16/UTF-32 without a BOM can hold them. Those codecs are tried and
   judged by plausibility (method `trial`); if none reads as text, the file is binary.
4. Strict UTF-8, the fast path (method `utf-8`, confidence 1.0). Empty input lands here and
   decodes to "": whether an empty document is acceptable is the pipeline's decision.
5. Anything else is a legacy codec, possibly mixed with UTF-8 line by line. GB18030 and
   Big5-HKSCS each read the first `QUICK_TRIAL_BYTES` of a bounded sample; when one is
   clearly the more plausible, it stands (method `trial`, the usual case for a page or more).
   Otherwise (a short sample, another language, an odd text) chardet looks at the sample;
   when it is sure of a Chinese codec and the result is plausible, its answer stands (method
   `detector`); otherwise GB18030, Big5-HKSCS and chardet's answer are each decoded and the
   most plausible wins (method `trial`). Lines that are (nearly) valid UTF-8 and more
   plausible as UTF-8 are decoded as UTF-8 (method `mixed`, flag `mixed_encoding`, when both
   codecs remain). Bytes that the chosen codec cannot decode become U+FFFD (method `replace`,
   flag `replacement_chars`), preferred over a strict but implausible codec: a UTF-8 file cut
   inside its last character stays UTF-8.

Then mojibake is reversed (`repair.repair_mojibake`, flag `mojibake_repaired`) and traces of
earlier lossy conversions are counted (flag `lossy_conversion_traces`). A confidence below
`LOW_CONFIDENCE` adds the flag `low_confidence_encoding`.

Codec names are Python's, lower case, with the Chinese families widened to their supersets:
`utf-8` (with or without BOM), `utf-16` / `utf-32` (with BOM: the codec reads it), `utf-16-le`,
`utf-16-be`, `utf-32-le`, `utf-32-be` (without BOM), `gb18030` (for GB2312, GBK, GB18030),
`big5hkscs` (for Big5, cp950, HKSCS), or another codec chardet named, as `codecs.lookup`
spells it (e.g. `cp1252`).

`segments` always describes the whole file: one Segment for a single-codec file, several for
a mixed one. Decoding each segment's bytes with its codec (with errors="replace" when the
method is `replace`) and joining the results gives the text before mojibake repair; a UTF-8
BOM lies outside the segments, a UTF-16/32 BOM inside (those codecs consume it). A mixed
file's `encoding` is the codec of most of its bytes.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import chardet

from docclean.errors import RejectedInput
from docclean.plausibility import plausibility, unreadable_share
from docclean.record import Decoded, Segment
from docclean.repair import count_lossy_traces, repair_mojibake

FLAG_LOW_CONFIDENCE = "low_confidence_encoding"
FLAG_REPLACEMENT = "replacement_chars"
FLAG_MIXED = "mixed_encoding"
FLAG_MOJIBAKE = "mojibake_repaired"
FLAG_LOSSY = "lossy_conversion_traces"

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
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs", "cp950": "big5hkscs"}
CHINESE_CODECS = ("gb18030", "big5hkscs")
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
        if data.startswith(signature):
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
        return _decode_wide(body, start)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_legacy(body, start)
    return Decoded(text, "utf-8", 1.0, "utf-8", (Segment(start, len(data), "utf-8"),))


def _decode_wide(body: bytes, start: int) -> Decoded:
    # Mostly-ASCII UTF-16 has a NUL in every other byte, Chinese UTF-16 only a few (newlines,
    # digits, 一 U+4E00): rather than count NUL positions, let plausibility judge the readings.
    candidates = _WIDE_CODECS if len(body) % 4 == 0 else _WIDE_CODECS[:2]
    sample = body[:SAMPLE_BYTES]
    # Readings full of controls and private-use characters are binary, however plausible the
    # rest of their random characters look; plausibility chooses among the others.
    readable = tuple(
        codec
        for codec in candidates
        if unreadable_share(_decode_replacing(sample, codec)[0]) <= WIDE_UNREADABLE_AT_MOST
    )
    if not readable:
        raise RejectedInput("binary", NUL_DETAIL)
    choice = _trial(sample, readable)
    text, replaced = _decode_replacing(body, choice.codec)
    segment = Segment(start, start + len(body), choice.codec)
    return _single(text, choice.codec, choice.confidence, choice.method, segment, replaced)


def _decode_legacy(body: bytes, start: int) -> Decoded:
    # The lines are classified again on each pass rather than held: a list of ten million
    # lines' spans and kinds cost gigabytes.
    kinds = {kind for _, _, kind in _classify_lines(body)}
    # The legacy codec is chosen on the lines UTF-8 cannot explain; a UTF-8 file that is only
    # broken (cut inside its last character) has none, and its broken lines stand in.
    sample_kind = "legacy" if "legacy" in kinds else "broken-utf-8"
    sample_lines = (body[a:b] for a, b, kind in _classify_lines(body) if kind == sample_kind)
    choice = _choose_legacy_codec(_bounded_sample(sample_lines))
    if "utf-8" in kinds or "broken-utf-8" in kinds:
        runs = _mixed_runs(body, choice.codec)
    else:  # legacy and ASCII lines only, the usual case: they all take the legacy codec
        runs = [(0, len(body), choice.codec)]
    texts: list[str] = []
    replaced = 0
    for a, b, codec in runs:
        text, damaged = _decode_replacing(body[a:b], codec)
        texts.append(text)
        replaced += damaged
    segments = tuple(Segment(start + a, start + b, codec) for a, b, codec in runs)
    if len(segments) > 1:
        return _mixed("".join(texts), segments, choice, replaced)
    if segments[0].encoding == "utf-8":  # a broken UTF-8 file: replaced > 0, method replace
        return _single(texts[0], "utf-8", 1.0, "utf-8", segments[0], replaced)
    return _single(texts[0], choice.codec, choice.confidence, choice.method, segments[0], replaced)


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
    text, transform = repair_mojibake(decoded.text)
    flags = list(decoded.flags)
    if transform:
        flags.append(FLAG_MOJIBAKE)
    # The traces include the U+FFFD this decode inserted; only more than those is earlier damage.
    damaged = count_lossy_traces(text)
    if damaged > decoded.damaged_chars:
        flags.append(FLAG_LOSSY)
    if decoded.confidence < LOW_CONFIDENCE:
        flags.append(FLAG_LOW_CONFIDENCE)
    return replace(decoded, text=text, flags=tuple(flags), repair=transform, damaged_chars=damaged)


def _classify_lines(body: bytes) -> Iterator[tuple[int, int, str]]:
    """(start, end) of each line, the b"\\n" included, and its kind: ascii, utf-8 (strictly
    valid), broken-utf-8 (a few invalid bytes) or legacy.

    b"\\n" is the only byte no codec here uses inside a character, and a UTF-8 decoder never
    takes it into an invalid sequence: one decode of a chunk of whole lines, split at "\\n",
    gives each line's UTF-8 reading, far cheaper than a decode (and an exception) per line.
    A chunk at a time (`_LINE_CHUNK_BYTES`), so that no list of every line is held.
    """
    # An encoded U+FFFD in the file reads as one too; only more than those are invalid bytes.
    # Rare: one search spares counting them line by line.
    encoded_fffd = b"\xef\xbf\xbd" in body
    position = 0
    while position < len(body):
        cut = body.find(b"\n", position + _LINE_CHUNK_BYTES)
        chunk = body[position:] if cut < 0 else body[position : cut + 1]
        pieces = chunk.split(b"\n")
        readings = chunk.decode("utf-8", errors="replace").split("\n")
        last = len(pieces) - 1
        for index, (line, reading) in enumerate(zip(pieces, readings, strict=True)):
            if index == last and not line:
                break  # the chunk ends with b"\\n": there is no line after it
            newline = index < last
            end = position + len(line) + newline
            line_start, position = position, end
            if line.isascii():
                yield line_start, end, "ascii"
                continue
            replaced = reading.count("\ufffd")
            if replaced == (line.count(b"\xef\xbf\xbd") if encoded_fffd else 0):
                yield line_start, end, "utf-8"
            elif replaced <= (len(reading) + newline) * BROKEN_UTF8_SHARE:
                yield line_start, end, "broken-utf-8"
            else:
                yield line_start, end, "legacy"


def _bounded_sample(lines: Iterable[bytes]) -> bytes:
    """The first lines up to SAMPLE_BYTES (a single longer line is cut)."""
    parts: list[bytes] = []
    size = 0
    for line in lines:
        parts.append(line)
        size += len(line)
        if size >= SAMPLE_BYTES:
            break
    return b"".join(parts)[:SAMPLE_BYTES]


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
    return "utf-8" if plausibility(as_utf8) >= plausibility(as_legacy) else legacy


def _mixed_runs(body: bytes, legacy: str) -> list[tuple[int, int, str]]:
    """(start, end, codec) of each run of lines that take one codec, merged as they come.

    ASCII lines take the codec of the line before (or after, at the top) so runs stay long.
    Raises RejectedInput("mixed_encoding") past `MAX_SEGMENTS` runs: a file that switches
    codecs that often is not one text, and a segment per line costs a hundred bytes each.
    """
    runs: list[tuple[int, int, str]] = []
    for start, end, kind in _classify_lines(body):
        codec = _line_codec(body[start:end], kind, legacy)
        if codec is None or (runs and runs[-1][2] == codec):
            if runs:
                runs[-1] = (runs[-1][0], end, runs[-1][2])
            continue
        if len(runs) == MAX_SEGMENTS:
            raise RejectedInput(
                "mixed_encoding",
                f"The file switches between UTF-8 and {legacy} more than {MAX_SEGMENTS:,} times, "
                "line by line: it is not one text. Split it into files of one encoding each.",
            )
        # The ASCII lines at the top (if any) open the first run.
        runs.append((runs[-1][1] if runs else 0, end, codec))
    return runs


def _choose_legacy_codec(sample: bytes) -> _Choice:
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
    extra = () if codec is None or codec in _NOT_LEGACY else (codec,)
    return _trial(sample, tuple(dict.fromkeys((*CHINESE_CODECS, *extra))))


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
    scored = sorted(
        (
            (plausibility(_decode_replacing(sample, codec)[0]), -rank, codec)
            for rank, codec in enumerate(candidates)
        ),
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
