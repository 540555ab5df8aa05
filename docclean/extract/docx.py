"""Word .docx (Office Open XML) to text, with python-docx.

Read, in this order, each as lines:

1. the header parts' paragraphs and tables (every section's default, first-page and even-page
   header, each part once): kept, so that the noise rules see a vendor's watermark there;
2. the body: paragraphs and tables in document order, a table row by row, a row's cells
   joined by a tab (a merged cell once);
3. footnotes and endnotes;
4. the footer parts, as the headers.

Text boxes and WordArt (DrawingML `w:txbxContent`, VML `v:textpath`) anywhere in the
document are watermarks or decoration by construction: they are left out of the text and
dropped with rule `docx_watermark`.

Limits, checked in the ZIP directory before any part is decompressed (a ZIP entry's declared
size bounds what Python's zipfile inflates): at most `MAX_ENTRIES` entries,
`MAX_UNCOMPRESSED_BYTES` in all, and no entry over `BOMB_MIN_BYTES` inflating more than
`MAX_COMPRESSION_RATIO` times (reason `too_large`).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator

from lxml import etree

from docclean.errors import RejectedInput
from docclean.extract import Dropped, Extracted, missing_library

# A 500-page report is a few MB of XML and a few tens of MB of images; python-docx holds every
# part in memory and lxml needs about ten times an XML part's size for its tree.
MAX_UNCOMPRESSED_BYTES = 128 * 1024 * 1024
MAX_ENTRIES = 10_000
# Word's XML deflates 5-20x; a zip bomb's entries inflate 1,000x and more (a 42 kB archive to
# 4.5 PB). 100x leaves text of any repetitiveness room while refusing every bomb.
MAX_COMPRESSION_RATIO = 100
BOMB_MIN_BYTES = 1024 * 1024

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NS = {
    "w": W,
    "v": "urn:schemas-microsoft-com:vml",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}
# lxml's XPath with the namespaces above: python-docx's own `xpath` knows only its built-in prefixes.
_TEXT_BOXES = etree.XPath(".//w:txbxContent[not(ancestor::mc:Fallback)]", namespaces=_NS)
_BOX_PARAGRAPHS = etree.XPath("./w:p | ./w:tbl//w:p", namespaces=_NS)
_TEXT = etree.XPath(".//w:t/text()", namespaces=_NS)
_WORDART = etree.XPath(".//v:textpath[not(ancestor::mc:Fallback)]/@string", namespaces=_NS)
_FOOTNOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"
_ENDNOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/endnotes"
WATERMARK_RULE = "docx_watermark"


def check_archive(data: bytes) -> None:
    """Reject a ZIP whose directory promises more than docclean will inflate.

    Raises RejectedInput `malformed` for an unreadable ZIP, `too_large` for a bomb.
    """
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise RejectedInput(
            "malformed", f"The file looks like a .docx but its ZIP structure is damaged ({error})."
        ) from None
    if len(entries) > MAX_ENTRIES:
        raise RejectedInput(
            "too_large", f"The .docx holds {len(entries):,} parts, over the limit of {MAX_ENTRIES:,}."
        )
    total = sum(entry.file_size for entry in entries)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise RejectedInput(
            "too_large",
            f"The .docx expands to {total:,} bytes, over the limit of {MAX_UNCOMPRESSED_BYTES:,} bytes "
            "(a document bomb, or a document to split).",
        )
    for entry in entries:
        if entry.file_size > BOMB_MIN_BYTES and entry.file_size > MAX_COMPRESSION_RATIO * max(
            1, entry.compress_size
        ):
            raise RejectedInput(
                "too_large",
                f"The .docx part {entry.filename} inflates {entry.file_size // max(1, entry.compress_size):,} times "
                f"(over {MAX_COMPRESSION_RATIO}x): a document bomb.",
            )


def extract_docx(data: bytes) -> Extracted:
    """A .docx's text (see the module docstring). Raises RejectedInput."""
    check_archive(data)
    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError
    except ImportError:
        raise missing_library(".docx", "python-docx") from None
    try:
        document = docx.Document(io.BytesIO(data))
        return _read(document)
    except (
        PackageNotFoundError,
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        AttributeError,
        TypeError,
    ) as error:
        raise RejectedInput(
            "malformed",
            f"The file looks like a .docx but python-docx cannot read it ({type(error).__name__}: {error}).",
        ) from None
    except Exception as error:
        # lxml's XMLSyntaxError and the like: a damaged part, whatever the library raises for it.
        raise RejectedInput(
            "malformed",
            f"The file looks like a .docx but one of its parts is damaged ({type(error).__name__}: {error}).",
        ) from None


def _read(document: object) -> Extracted:
    from docx.oxml.ns import qn

    headers, footers = _header_footer_parts(document)
    header_lines = [line for part in headers for line in _block_lines(part.iter_inner_content())]
    footer_lines = [line for part in footers for line in _block_lines(part.iter_inner_content())]
    body = list(document.iter_inner_content())
    body_lines = list(_block_lines(body))
    notes = [line for reltype in (_FOOTNOTES, _ENDNOTES) for line in _note_lines(document, reltype, qn)]
    watermark_elements = [document.element] + [part._element for part in (*headers, *footers)]
    dropped = tuple(
        Dropped(WATERMARK_RULE, "watermark", line)
        for element in watermark_elements
        for line in _watermark_lines(element)
    )
    lines = header_lines + body_lines + notes + footer_lines
    found = (
        ("paragraphs", sum(1 for block in body if not hasattr(block, "rows"))),
        ("tables", sum(1 for block in body if hasattr(block, "rows"))),
        ("header_lines", len(header_lines)),
        ("footer_lines", len(footer_lines)),
        ("note_lines", len(notes)),
        ("text_boxes", len(dropped)),
    )
    return Extracted("docx", "\n".join(lines), dropped=dropped, found=found)


def _header_footer_parts(document: object) -> tuple[list[object], list[object]]:
    """Every distinct header and footer with a part of its own, in section order."""
    headers: list[object] = []
    footers: list[object] = []
    seen: set[int] = set()
    for section in document.sections:
        for kind, target in (
            ("first_page_header", headers),
            ("header", headers),
            ("even_page_header", headers),
            ("first_page_footer", footers),
            ("footer", footers),
            ("even_page_footer", footers),
        ):
            item = getattr(section, kind)
            if item.is_linked_to_previous:
                continue
            part = item.part
            if id(part) not in seen:
                seen.add(id(part))
                target.append(item)
    return headers, footers


def _block_lines(blocks: Iterable[object]) -> Iterator[str]:
    """Lines of paragraphs and tables: a paragraph's line breaks split it; a table row is a line."""
    for block in blocks:
        if hasattr(block, "rows"):
            for row in block.rows:
                cells: list[str] = []
                previous = None
                for cell in row.cells:
                    # python-docx repeats a merged cell for each grid column it spans.
                    if cell._tc is previous:
                        continue
                    previous = cell._tc
                    cells.append(" ".join(line for line in _block_lines(cell.iter_inner_content())))
                line = "\t".join(cell for cell in cells if cell)
                if line.strip():
                    yield line
        else:
            yield from (line for line in block.text.split("\n") if line.strip())


def _note_lines(document: object, reltype: str, qn: object) -> Iterator[str]:
    from docx.oxml import parse_xml

    for rel in document.part.rels.values():
        if rel.reltype != reltype or rel.is_external:
            continue
        root = parse_xml(rel.target_part.blob)
        for note in root:
            # Separator notes (w:type separator, continuationSeparator) hold no text.
            if note.get(qn("w:type")) is not None:
                continue
            for paragraph in note.iter(qn("w:p")):
                text = "".join(node.text or "" for node in paragraph.iter(qn("w:t")))
                if text.strip():
                    yield text


def _watermark_lines(element: object) -> Iterator[str]:
    """Text of text boxes and WordArt under `element`, once each (not the VML fallback copy)."""
    for box in _TEXT_BOXES(element):
        for paragraph in _BOX_PARAGRAPHS(box):
            text = "".join(_TEXT(paragraph)).strip()
            if text:
                yield text
    for path in _WORDART(element):
        if path.strip():
            yield path.strip()
