"""The one record type that travels between stages, and the annotations it carries.

Every stage takes plain values in and returns one of these frozen dataclasses, so a stage's
output can be inspected, compared in tests and replayed. The Arrow schema in `schema.py`
mirrors `Record` field for field.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Segment:
    """A byte range of the source that was decoded with one codec."""

    start: int
    end: int
    encoding: str


@dataclass(frozen=True, slots=True)
class Decoded:
    """What the decode stage made of a file's bytes."""

    text: str
    encoding: str
    confidence: float
    # How the codec was chosen: bom, utf-8, detector, trial, mixed, replace.
    method: str
    segments: tuple[Segment, ...] = ()
    flags: tuple[str, ...] = ()
    # The reversed transform when mojibake was repaired, e.g. "utf-8 read as gbk".
    repair: str | None = None
    # Characters that could not be decoded and became U+FFFD, or were already damaged.
    damaged_chars: int = 0


@dataclass(frozen=True, slots=True)
class NormalizeEdit:
    """One normalization rule's effect on a document.

    Conversions (width folding, punctuation, script) are counted; deletions of characters
    that are not whitespace keep every deleted character in `removed` (page furniture: the
    lines, joined by `\\n`), so nothing visible disappears without a trace. Look-alike folds
    keep the distinct characters they replaced.
    """

    rule: str
    count: int
    removed: str = ""


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    edits: tuple[NormalizeEdit, ...]
    # Hans, Hant, mixed, or none when the text has no Han characters.
    source_script: str
    # Document flags the normalize stage raises (`html`).
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Removal:
    """A span the noise stage removed; `offset` indexes the normalized text."""

    rule: str
    category: str
    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class Stripped:
    text: str
    removed: tuple[Removal, ...]


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A redaction placeholder; `start`/`end` index the final text, where the token stands."""

    start: int
    end: int
    original: str
    kind: str


@dataclass(frozen=True, slots=True)
class Replaced:
    text: str
    placeholders: tuple[Placeholder, ...]
    # More placeholders than the stage annotates: the rest are left in the text as they were.
    capped: bool = False


@dataclass(frozen=True, slots=True)
class OutlineEntry:
    level: int
    marker: str
    heading: str
    offset: int


@dataclass(frozen=True, slots=True)
class Structure:
    title: str | None
    doc_type: str | None
    outline: tuple[OutlineEntry, ...]
    # More headings than the outline keeps: only the first ones are in it.
    capped: bool = False


@dataclass(frozen=True, slots=True)
class Record:
    """One cleaned document: the row the curated dataset stores."""

    doc_id: str
    source_path: str
    source_sha256: str
    source_bytes: int
    # None for a format that carries its own text encoding (docx, PDF).
    encoding: str | None
    encoding_confidence: float
    encoding_method: str
    encoding_segments: tuple[Segment, ...]
    repair: str | None
    source_script: str
    title: str | None
    doc_type: str | None
    text: str
    placeholders: tuple[Placeholder, ...]
    removed: tuple[Removal, ...]
    normalizations: tuple[NormalizeEdit, ...]
    outline: tuple[OutlineEntry, ...]
    flags: tuple[str, ...]
    char_count: int
    pipeline_version: str
    rules_version: str
    # text, docx, pdf, rtf, html, mhtml: what the file's content was read as (see docclean.extract).
    source_format: str = "text"
    # Pages of a PDF; None for every other format.
    page_count: int | None = None
    # What extraction found in the document, as (part, count) pairs; shown by `docclean inspect`.
    extraction: tuple[tuple[str, int], ...] = field(default=(), repr=False, compare=False)
    # ISO 639-1 code of the document's language (None: no letters to judge) and the detector's confidence.
    language: str | None = None
    language_confidence: float = 0.0
    # The normalized text the removals index into; kept on the record for replay and
    # `docclean inspect`, not written to the dataset (text + removed reconstruct it).
    normalized_text: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Reject:
    """A file that could not become a document, with a reason a person understands."""

    source_path: str
    source_sha256: str | None
    reason: str
    detail: str
