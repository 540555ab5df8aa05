"""Stage 0, extract: a document format's bytes to plain text, before decoding.

`extract(data)` recognises a format by its content (magic bytes, never the file name) and
hands it to one module per format, each a pure function from bytes to an `Extracted`:

- `docx`: a ZIP archive holding `word/document.xml`, or an Office Open XML package with Word
  parts (.docx, .docm, .dotx, .dotm; Strict Open XML too); another Office Open XML package is a
  damaged .docx (`malformed`) or an Excel or PowerPoint file (`unsupported_format`);
- `pdf`: `%PDF-` at the start, and a PDF's header line or structure (`looks_like_pdf`): a
  text that starts `%PDF-1.4 文件格式说明：...` is text;
- `opendocument`: a ZIP whose first entry says it is OpenDocument (.odt, .ods): rejected
  `unsupported_format`, saying how to convert it;
- `ole`: an OLE2 compound file: a Word 97-2003 `.doc`, or an encrypted Office document
  (an `EncryptedPackage` stream);
- `rtf`: `{\\rtf` at the start (Rich Text Format, as WordPad and "Save as RTF" write it);
- `html`: a page (`<!DOCTYPE html`, `<html`) or a saved MHTML archive (MIME `multipart/related`),
  whatever the file is named.

Anything else returns None and goes to `decode.decode_bytes` as text (which still rejects the
binary formats no module reads: images, other archives, a ZIP that is not a .docx).

An `Extracted` carries the text the later stages clean, lines separated by `\\n`, and the lines
extraction left out (`dropped`, each with its rule), which the pipeline records in `removed` so
that nothing a reader saw in the document is lost without a trace.

Errors: `RejectedInput` with reason `malformed` (the format's structure is damaged),
`encrypted`, `too_large` (a document bomb: see each module's limits), `no_text_layer` (a
scanned PDF, or one scanned but for a few pages), `unreadable_text_layer` (a PDF whose text
layer is glyph numbers) or `unsupported_format` (a `.doc`, an OpenDocument file, another office format, or
a format library that cannot be imported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docclean.errors import RejectedInput
from docclean.record import Decoded, Removal

# Every Office Open XML package (.docx, .xlsx, .pptx) opens with this part, its first entry.
_OFFICE_PACKAGE = b"[Content_Types].xml"
_OFFICE_SNIFF_BYTES = 256
# An OpenDocument package (LibreOffice, WPS "save as .odt") opens with an uncompressed entry
# `mimetype` holding its type (OpenDocument 1.3, part 2, 3.3).
_OPENDOCUMENT = b"mimetypeapplication/vnd.oasis.opendocument."
_OPENDOCUMENT_KINDS = {
    b"text": "an OpenDocument text document (.odt)",
    b"spreadsheet": "an OpenDocument spreadsheet (.ods)",
    b"presentation": "an OpenDocument presentation (.odp)",
}


# The header line alone (`%PDF-1.7`, then an end of line), and an indirect object's start.
_PDF_HEADER_LINE = re.compile(rb"%PDF-\d\.\d[ \t]*[\r\n]")
_PDF_OBJECT = re.compile(rb"\d+[ \t\r\n]+\d+[ \t\r\n]+obj\b")
# Where a PDF's objects and end marker are looked for: its first and last 64 KiB.
PDF_SNIFF_BYTES = 65536


@dataclass(frozen=True, slots=True)
class Dropped:
    """A line of the document that extraction left out of the text, and the rule that did."""

    rule: str
    category: str
    text: str


@dataclass(frozen=True, slots=True)
class Extracted:
    """What a format module made of a document's bytes."""

    # text, docx, pdf, rtf, html, mhtml: the format the content was recognised as.
    source_format: str
    # The text to clean: lines separated by "\n".
    text: str
    dropped: tuple[Dropped, ...] = ()
    # What the module found, as (part, count) pairs, e.g. ("paragraphs", 120), ("header_lines", 2).
    found: tuple[tuple[str, int], ...] = ()
    page_count: int | None = None
    # How the bytes of a format that needs a codec (HTML) were decoded; None for formats that
    # carry their own text encoding (docx, PDF).
    decoded: Decoded | None = None
    # What a user should know about the extraction, added to the record's flags: e.g.
    # `partial_text_layer`, a PDF some of whose pages are scans.
    flags: tuple[str, ...] = ()


def looks_like_pdf(data: bytes) -> bool:
    """Whether `data` is a PDF (whole or damaged), not a text that starts with its magic.

    A PDF starts `%PDF-1.x` on a line of its own (ISO 32000-2, 7.5.2), and has objects
    (`1 0 obj`) and an `%%EOF`; a file cut short keeps its header line and first objects.
    """
    if not data.startswith(b"%PDF-"):
        return False
    return (
        _PDF_HEADER_LINE.match(data) is not None
        or _PDF_OBJECT.search(data, 0, PDF_SNIFF_BYTES) is not None
        or b"%%EOF" in data[-PDF_SNIFF_BYTES:]
    )


def missing_library(format_name: str, library: str) -> RejectedInput:
    """The reject for a format whose library cannot be imported: a damaged or partial install."""
    return RejectedInput(
        "unsupported_format",
        f"The file is a {format_name} document, which needs the library {library}, a dependency of "
        f"docclean that cannot be imported here: reinstall docclean (`pip install docclean`) and run again.",
    )


def sniff(data: bytes) -> str | None:
    """The format module for `data`, by its first bytes: docx, pdf, rtf, ole, html, mhtml, or None."""
    if looks_like_pdf(data):
        return "pdf"
    if data.startswith(b"{\\rtf"):
        return "rtf"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if data.startswith(b"PK\x03\x04") and _OPENDOCUMENT in data[:_OFFICE_SNIFF_BYTES]:
        return "opendocument"
    if data.startswith(b"PK\x03\x04"):
        # A ZIP whose directory names the usual main Word part, or an Office Open XML package with
        # Word parts (its main part may have another name: the module finds it through the
        # package's relationships), is a .docx; the module checks. Another Office Open XML
        # package is a damaged .docx, or an Excel or PowerPoint file.
        package = _OFFICE_PACKAGE in data[:_OFFICE_SNIFF_BYTES]
        if b"word/document.xml" in data or (package and b"word/" in data):
            return "docx"
        return "office" if package or b"word/" in data else None
    from docclean.extract.html import sniff_page

    return sniff_page(data)


def extract(data: bytes) -> Extracted | None:
    """Extract the text of a document format, or None when `data` is not one (plain text).

    Raises RejectedInput (see the module docstring for the reasons).
    """
    kind = sniff(data)
    if kind is None:
        return None
    if kind == "docx":
        from docclean.extract.docx import extract_docx

        return extract_docx(data)
    if kind == "pdf":
        from docclean.extract.pdf import extract_pdf

        return extract_pdf(data)
    if kind == "rtf":
        from docclean.extract.rtf import extract_rtf

        return extract_rtf(data)
    if kind == "ole":
        from docclean.extract.ole import extract_ole

        return extract_ole(data)
    if kind == "opendocument":
        start = data.index(_OPENDOCUMENT) + len(_OPENDOCUMENT)
        subtype = re.match(rb"[a-z-]*", data[start : start + 32])
        name = _OPENDOCUMENT_KINDS.get(subtype.group() if subtype else b"", "an OpenDocument document")
        raise RejectedInput(
            "unsupported_format",
            f"The file is {name}, which docclean cannot read: save it as .docx in LibreOffice or "
            "WPS (or `soffice --headless --convert-to docx FILE`) and drop the .docx instead.",
        )
    if kind == "office":
        if b"word/" not in data and (b"xl/" in data or b"ppt/" in data):
            raise RejectedInput(
                "unsupported_format",
                "The file is an Office document that is not Word (an Excel or PowerPoint file); save its "
                "text as .docx or .txt to clean it.",
            )
        raise RejectedInput(
            "malformed",
            "The file is a damaged Office document: its ZIP archive holds no word/document.xml (cut short "
            "in a download?); open it in Word or WPS and save it again.",
        )
    from docclean.extract.html import extract_html

    return extract_html(data, mhtml=kind == "mhtml")


def append_dropped(normalized: str, dropped: tuple[Dropped, ...]) -> tuple[str, tuple[Removal, ...]]:
    """The normalized text with extraction's dropped lines after it, and their removals.

    The dropped lines follow the document's text, each on a line of its own, and each is
    removed with one adjacent line break (the one before it, or after it when the text is
    empty), so `apply_removals(text, removals) == normalized`: the noise stage's offsets into
    `normalized` stay valid and replay stays exact. Whitespace runs in a line (line breaks
    included) become one space, as the normalize stage's output requires.
    """
    lines = [" ".join(d.text.split()) for d in dropped]
    pieces = [normalized]
    removals: list[Removal] = []
    position = len(normalized)
    for item, line in zip(dropped, lines, strict=True):
        if not line:
            continue
        span = line if position == 0 else "\n" + line
        removals.append(Removal(item.rule, item.category, span, position))
        pieces.append(span)
        position += len(span)
    if removals and not normalized:
        # The first line has no line break before it: it takes the one after it instead.
        first = removals[0]
        if len(removals) > 1:
            second = removals[1]
            removals[0] = Removal(first.rule, first.category, first.text + "\n", 0)
            removals[1] = Removal(second.rule, second.category, second.text[1:], second.offset + 1)
    return "".join(pieces), tuple(removals)
