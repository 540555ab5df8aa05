"""Word .docx (Office Open XML) to text: the package's parts read with zipfile and lxml.

Read, in this order, each as lines:

1. the header parts (every section's first-page, default and even-page header, each part
   once): kept, so that the noise rules see a vendor's watermark there;
2. the body: paragraphs and tables in document order, a table row by row, a row's cells
   joined by a tab (a merged cell once: in its first column and its first row);
3. footnotes and endnotes;
4. the footer parts, as the headers.

One walker reads every story (body, table cell, header, footer, note, text box), because
Word nests the runs a reader sees in many containers: content controls (`w:sdt`, around
paragraphs, runs, cells and rows), `w:customXml`, `w:smartTag`, `w:hyperlink`, simple fields
(`w:fldSimple`), tracked insertions and moves (`w:ins`, `w:moveTo`), `mc:AlternateContent`
(its first `mc:Choice` only: the `mc:Fallback` is a copy of it for older readers), ruby (the
base text, not the `w:rt` annotation) and equations (`m:oMath`, its `m:t` text). What a reader
of the document never sees stays out: deleted text (`w:del`, `w:moveFrom`), field codes
(`w:instrText`; the field's result is kept) and the annotations above.

A paragraph shows its automatic list number (`一、`, `（一）`; docx_numbering.py) before its
text; a line break, a page break and a column break end a line.

Extraction drops, each line recorded with its rule (Extracted.dropped):

- text boxes and WordArt (DrawingML `w:txbxContent`, VML `v:textpath`), anywhere: watermarks or
  decoration by construction, rule `docx_watermark`;
- hidden text (a run with `w:vanish`): a reader never sees it, and it is where keyword
  stuffing hides; rule `docx_hidden_text`;
- a header or footer line that is only a page number: a PAGE, NUMPAGES or SECTIONPAGES field
  (complex or simple) and its decoration (`- 1 -`, `第1页 共5页`, `Page 1 of 5`); rule
  `docx_page_number`.

The main part is found through the package relationships (`_rels/.rels`, officeDocument), so
a macro-enabled document or a template (.docm, .dotx, .dotm) is read like a .docx, and a
Strict Open XML document (namespaces `http://purl.oclc.org/ooxml/…`) is mapped to the
transitional namespaces first.

Limits, checked in the ZIP directory before any part is decompressed (a ZIP entry's declared
size bounds what Python's zipfile inflates): at most `MAX_ENTRIES` entries,
`MAX_UNCOMPRESSED_BYTES` in all, and no entry over `BOMB_MIN_BYTES` inflating more than
`MAX_COMPRESSION_RATIO` times (reason `too_large`).
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from docclean.errors import RejectedInput
from docclean.extract import Dropped, Extracted, missing_library
from docclean.extract.docx_numbering import Numbering, with_number

# A 500-page report is a few MB of XML and a few tens of MB of images; only the XML parts are
# read, and lxml needs about ten times an XML part's size for its tree.
MAX_UNCOMPRESSED_BYTES = 128 * 1024 * 1024
MAX_ENTRIES = 10_000
# Word's XML deflates 5-20x; a zip bomb's entries inflate 1,000x and more (a 42 kB archive to
# 4.5 PB). 100x leaves text of any repetitiveness room while refusing every bomb.
MAX_COMPRESSION_RATIO = 100
BOMB_MIN_BYTES = 1024 * 1024

WATERMARK_RULE = "docx_watermark"
HIDDEN_TEXT_RULE = "docx_hidden_text"
PAGE_NUMBER_RULE = "docx_page_number"

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
M = "http://schemas.openxmlformats.org/officeDocument/2006/math"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
V = "urn:schemas-microsoft-com:vml"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
# Strict Open XML (ISO/IEC 29500 Strict) names the same elements in other namespaces.
STRICT_NAMESPACES = {
    "http://purl.oclc.org/ooxml/wordprocessingml/main": W,
    "http://purl.oclc.org/ooxml/officeDocument/relationships": R,
    "http://purl.oclc.org/ooxml/officeDocument/math": M,
    "http://purl.oclc.org/ooxml/drawingml/main": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "http://purl.oclc.org/ooxml/drawingml/wordprocessingDrawing": (
        "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
    ),
}


def _w(name: str) -> str:
    return f"{{{W}}}{name}"


P, TBL, TR, TC, RUN = _w("p"), _w("tbl"), _w("tr"), _w("tc"), _w("r")
ALTERNATE, CHOICE, FALLBACK = f"{{{MC}}}AlternateContent", f"{{{MC}}}Choice", f"{{{MC}}}Fallback"
TEXT_BOX, WORDART = _w("txbxContent"), f"{{{V}}}textpath"
MATH_TEXT = f"{{{M}}}t"

# Containers a reader sees through: their paragraphs, tables, rows, cells or runs are the
# document's. Anything else (w:del, w:moveFrom, properties, bookmarks, comments) is not descended.
_CONTAINERS = frozenset(
    _w(name)
    for name in ("sdt", "sdtContent", "customXml", "smartTag", "hyperlink", "ins", "moveTo", "dir", "bdo")
)
_MATH = frozenset({f"{{{M}}}oMath", f"{{{M}}}oMathPara"})
# A run's children and the text they stand for (python-docx's reading, and a page or column
# break ends the line as a line break does).
_RUN_TEXT = {_w("tab"): "\t", _w("ptab"): "\t", _w("br"): "\n", _w("cr"): "\n", _w("noBreakHyphen"): "-"}
# A run's children that hold drawings: their text boxes and WordArt are watermarks.
_DRAWINGS = frozenset({_w("drawing"), _w("pict"), _w("object"), ALTERNATE})
# Fields whose result is the page number or count.
_PAGE_FIELDS = frozenset({"PAGE", "NUMPAGES", "SECTIONPAGES", "SECTION"})
# What a page-number line holds besides its fields' results: `- 1 -`, `第1页 共5页`, `Page 1 of 5`.
_PAGE_DECORATION = re.compile(r"(?:[\W_]|第|页|共|[Pp]age|PAGE|of|OF)*")


def check_archive(data: bytes) -> None:
    """Reject a ZIP whose directory promises more than docclean will inflate.

    Raises RejectedInput `malformed` for an unreadable ZIP, `too_large` for a bomb.
    """
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise RejectedInput(
            "malformed", f"The file looks like a .docx but its ZIP structure is damaged ({_stable(error)})."
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


def _stable(error: BaseException) -> str:
    """An exception as `Type: message`, without the memory addresses some reprs hold, so that a
    reject's detail is the same on every run."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", f"{type(error).__name__}: {error}")


def extract_docx(data: bytes) -> Extracted:
    """A .docx's text (see the module docstring). Raises RejectedInput."""
    check_archive(data)
    try:
        from lxml import etree
    except ImportError:
        raise missing_library(".docx", "lxml") from None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _read(_Package(archive, etree))
    except RejectedInput:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, NotImplementedError) as error:
        raise RejectedInput(
            "malformed", f"The file looks like a .docx but its ZIP archive cannot be read ({_stable(error)})."
        ) from None
    except Exception as error:
        # lxml's XMLSyntaxError, zlib's error and the like: a damaged part, whatever raises for it.
        raise RejectedInput(
            "malformed", f"The file looks like a .docx but one of its parts is damaged ({_stable(error)})."
        ) from None


# --- The package: parts found through their relationships -------------------------------------------


@dataclass(frozen=True, slots=True)
class _Relationship:
    kind: str  # the relationship type's last segment: officeDocument, header, footnotes, …
    part: str  # the target part's name in the ZIP


class _Package:
    """An Office Open XML package's XML parts, by name, and the relationships between them."""

    def __init__(self, archive: zipfile.ZipFile, etree: object) -> None:
        self._archive = archive
        self._etree = etree
        # Part names are case-insensitive (OPC); a ZIP's entry names are not.
        self._names = {info.filename.lower(): info.filename for info in archive.infolist()}
        # Entities are never resolved and nothing is fetched (no XXE); comments are not text.
        self._parser = etree.XMLParser(
            resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True
        )

    def has(self, name: str) -> bool:
        return name.lower() in self._names

    def xml(self, name: str) -> object | None:
        """The root element of part `name`, in the transitional namespaces; None when absent."""
        actual = self._names.get(name.lower())
        if actual is None:
            return None
        root = self._etree.fromstring(self._archive.read(actual), self._parser)
        return _transitional(root)

    def relationships(self, source: str) -> dict[str, _Relationship]:
        """The internal relationships of part `source` ("" for the package itself), by id."""
        folder, _, base = source.rpartition("/")
        rels = self.xml(f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels")
        found: dict[str, _Relationship] = {}
        if rels is None:
            return found
        for rel in rels.iterfind(f"{{{PACKAGE_RELS}}}Relationship"):
            target = rel.get("Target")
            if rel.get("TargetMode") == "External" or not target:
                continue
            target = unquote(target)
            name = (
                target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            )
            # Transitional and Strict relationship types end alike (…/relationships/header).
            kind = (rel.get("Type") or "").rsplit("/", 1)[-1]
            found[rel.get("Id", "")] = _Relationship(kind, name)
        return found

    def related(self, source: str, kind: str) -> list[str]:
        return [rel.part for rel in self.relationships(source).values() if rel.kind == kind]


def _transitional(root: object) -> object:
    """`root` with Strict Open XML's namespaces renamed to the transitional ones (in place)."""
    if not any(uri in STRICT_NAMESPACES for uri in root.nsmap.values()):
        return root
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        element.tag = _renamed(element.tag)
        for key in [key for key in element.attrib if key.startswith("{http://purl.oclc.org/")]:
            element.attrib[_renamed(key)] = element.attrib.pop(key)
    return root


def _renamed(name: str) -> str:
    if name.startswith("{"):
        uri, _, local = name[1:].partition("}")
        if uri in STRICT_NAMESPACES:
            return f"{{{STRICT_NAMESPACES[uri]}}}{local}"
    return name


# --- Reading the document ---------------------------------------------------------------------------


def _read(package: _Package) -> Extracted:
    main = next(iter(package.related("", "officeDocument")), None)
    if main is None or not package.has(main):
        raise RejectedInput(
            "malformed",
            "The file looks like a .docx but its package names no main document part it holds (cut short "
            "in a download?); open it in Word or WPS and save it again.",
        )
    document = package.xml(main)
    body = document.find(_w("body")) if document is not None and document.tag == _w("document") else None
    if body is None:
        raise RejectedInput(
            "malformed", f"The file looks like a .docx but its main part {main} is not a Word document body."
        )
    rels = package.relationships(main)
    numbering = _numbering(package, rels)
    walker = _Walker(numbering)
    headers, footers = _margin_parts(body, rels)
    header_lines = [line for part in headers for line in walker.margin_lines(package.xml(part))]
    blocks = list(_children(body, {P, TBL}))
    body_lines = [line for block in blocks for line in walker.block_lines(block)]
    note_lines = [
        line
        for kind in ("footnotes", "endnotes")
        for part in _parts(rels, kind)
        for line in walker.note_lines(package.xml(part))
    ]
    footer_lines = [line for part in footers for line in walker.margin_lines(package.xml(part))]
    lines = header_lines + body_lines + note_lines + footer_lines
    rules = [item.rule for item in walker.dropped]
    found = (
        ("paragraphs", sum(1 for block in blocks if block.tag == P)),
        ("tables", sum(1 for block in blocks if block.tag == TBL)),
        ("header_lines", len(header_lines)),
        ("footer_lines", len(footer_lines)),
        ("note_lines", len(note_lines)),
        ("text_boxes", rules.count(WATERMARK_RULE)),
        ("hidden_text", rules.count(HIDDEN_TEXT_RULE)),
        ("numbered_paragraphs", walker.numbered),
    )
    return Extracted("docx", "\n".join(lines), dropped=tuple(walker.dropped), found=found)


def _parts(rels: dict[str, _Relationship], kind: str) -> list[str]:
    return [rel.part for rel in rels.values() if rel.kind == kind]


def _numbering(package: _Package, rels: dict[str, _Relationship]) -> Numbering | None:
    numbering = next((package.xml(part) for part in _parts(rels, "numbering")), None)
    if numbering is None:
        return None
    styles = next((package.xml(part) for part in _parts(rels, "styles")), None)
    return Numbering(numbering, styles) or None


def _margin_parts(body: object, rels: dict[str, _Relationship]) -> tuple[list[str], list[str]]:
    """Every distinct header and footer part, in section order (first-page, default, even-page)."""
    headers: list[str] = []
    footers: list[str] = []
    for section in body.iter(_w("sectPr")):
        for reference, kind, target in (
            ("headerReference", "header", headers),
            ("footerReference", "footer", footers),
        ):
            by_type = {
                ref.get(_w("type"), "default"): ref.get(f"{{{R}}}id")
                for ref in section.iterfind(_w(reference))
            }
            for page in ("first", "default", "even"):
                rel = rels.get(by_type.get(page) or "")
                if rel is not None and rel.kind == kind and rel.part not in target:
                    target.append(rel.part)
    return headers, footers


def _children(element: object, wanted: set[str]) -> Iterator[object]:
    """The elements of a kind in `wanted` (w:p and w:tbl; w:tr; w:tc) under `element`, in order,
    seen through the containers a reader sees through (content controls, custom XML, the first
    mc:Choice of an mc:AlternateContent)."""
    for child in element:
        tag = child.tag
        if tag in wanted:
            yield child
        elif tag in _CONTAINERS:
            yield from _children(child, wanted)
        elif tag == ALTERNATE:
            yield from _children(_chosen(child), wanted)


def _chosen(alternate: object) -> object:
    """An mc:AlternateContent's first mc:Choice (else its mc:Fallback): never both, which hold the
    same content twice."""
    choice = alternate.find(CHOICE)
    if choice is None:
        choice = alternate.find(FALLBACK)
    return choice if choice is not None else alternate.makeelement("empty")


def _field_instruction(code: str) -> str:
    """A field code's name: ` PAGE  \\* MERGEFORMAT ` → PAGE."""
    words = code.split()
    return words[0].upper() if words else ""


@dataclass
class _Field:
    """A field being read: its code so far, and whether its result has begun."""

    code: str = ""
    in_result: bool = False


@dataclass
class _Line:
    """A paragraph being read: its visible text, its hidden text, and its page-number fields' results."""

    text: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    page_numbers: list[str] = field(default_factory=list)
    hidden_last: bool = False

    def add(self, text: str, hidden: bool) -> None:
        if not text:
            return
        if hidden:
            if self.hidden_last:
                self.hidden[-1] += text
            else:
                self.hidden.append(text)
        else:
            self.text.append(text)
        self.hidden_last = hidden


class _Walker:
    """Reads the stories of one document; collects the dropped lines and counts numbered paragraphs."""

    def __init__(self, numbering: Numbering | None) -> None:
        self.numbering = numbering
        self.dropped: list[Dropped] = []
        self.numbered = 0
        # Complex fields (w:fldChar begin … separate … end) may span runs and paragraphs.
        self._fields: list[_Field] = []

    # Stories.

    def margin_lines(self, root: object | None) -> Iterator[str]:
        """A header's or footer's lines; a line that is only a page number is dropped."""
        if root is None:
            return
        for block in _children(root, {P, TBL}):
            yield from self.block_lines(block, margin=True)

    def note_lines(self, root: object | None) -> Iterator[str]:
        """The footnotes' or endnotes' lines; the separator notes hold no text."""
        if root is None:
            return
        for note in root:
            if note.get(_w("type")) is None:
                for block in _children(note, {P, TBL}):
                    yield from self.block_lines(block)

    def block_lines(self, block: object, margin: bool = False) -> Iterator[str]:
        """A paragraph's lines, or a table's: a row per line, its cells joined by a tab."""
        if block.tag == P:
            yield from self._paragraph_lines(block, margin)
            return
        for row in _children(block, {TR}):
            cells = [
                " ".join(
                    line for inner in _children(cell, {P, TBL}) for line in self.block_lines(inner, margin)
                )
                for cell in _children(row, {TC})
                if not _continues_merge(cell)
            ]
            line = "\t".join(cell for cell in cells if cell)
            if line.strip():
                yield line

    # Paragraphs.

    def _paragraph_lines(self, paragraph: object, margin: bool) -> Iterator[str]:
        line = _Line()
        self._inline(paragraph, line)
        # A field's code ends in its paragraph: an unclosed one (a damaged file) hides no more text.
        self._fields = [item for item in self._fields if item.in_result]
        for text in line.hidden:
            if text.strip():
                self.dropped.append(Dropped(HIDDEN_TEXT_RULE, "hidden_text", text))
        text = "".join(line.text)
        number, suffix = self.numbering.label(paragraph) if self.numbering is not None else ("", "")
        lines = [part for part in text.split("\n") if part.strip()]
        if not lines:
            return
        if number:
            self.numbered += 1
            lines[0] = with_number(number, suffix, lines[0])
        if margin and line.page_numbers and _only_page_number(text, line.page_numbers):
            self.dropped.extend(Dropped(PAGE_NUMBER_RULE, "page_marker", part) for part in lines)
            return
        yield from lines

    def _inline(self, element: object, line: _Line) -> None:
        """The runs under `element`, through the inline containers, into `line`."""
        for child in element:
            tag = child.tag
            if tag == RUN:
                self._run(child, line)
            elif tag in _CONTAINERS:
                self._inline(child, line)
            elif tag == _w("fldSimple"):
                # A simple field holds its result's runs; its code is an attribute.
                self._fields.append(_Field(child.get(_w("instr"), ""), in_result=True))
                self._inline(child, line)
                self._fields.pop()
            elif tag == ALTERNATE:
                self._inline(_chosen(child), line)
            elif tag in _MATH:
                self._emit(line, "".join(node.text or "" for node in child.iter(MATH_TEXT)), hidden=False)

    def _run(self, run: object, line: _Line) -> None:
        hidden = _is_hidden(run)
        for child in run:
            tag = child.tag
            if tag == _w("t"):
                self._emit(line, child.text or "", hidden)
            elif tag in _RUN_TEXT:
                self._emit(line, _RUN_TEXT[tag], hidden)
            elif tag == _w("fldChar"):
                self._field_char(child.get(_w("fldCharType")))
            elif tag == _w("instrText"):
                if self._fields:
                    self._fields[-1].code += child.text or ""
            elif tag == _w("ruby"):
                base = child.find(_w("rubyBase"))
                if base is not None:
                    self._inline(base, line)
            elif tag in _DRAWINGS:
                self._drop_boxes(child)

    def _field_char(self, kind: str | None) -> None:
        if kind == "begin":
            self._fields.append(_Field())
        elif kind == "separate" and self._fields:
            self._fields[-1].in_result = True
        elif kind == "end" and self._fields:
            self._fields.pop()

    def _emit(self, line: _Line, text: str, hidden: bool) -> None:
        # Between a field's begin and separate is its code, never shown.
        if not all(item.in_result for item in self._fields):
            return
        line.add(text, hidden)
        if not hidden and any(_field_instruction(item.code) in _PAGE_FIELDS for item in self._fields):
            line.page_numbers.append(text)

    # Text boxes and WordArt.

    def _drop_boxes(self, element: object) -> None:
        for found in _boxes(element):
            if found.tag == WORDART:
                lines = [found.get("string", "")]
            else:
                lines = [line for block in _children(found, {P, TBL}) for line in self.block_lines(block)]
            self.dropped.extend(
                Dropped(WATERMARK_RULE, "watermark", line.strip()) for line in lines if line.strip()
            )


def _boxes(element: object) -> Iterator[object]:
    """The text boxes (w:txbxContent) and WordArt (v:textpath) in a drawing, the outermost ones,
    in the first mc:Choice of an mc:AlternateContent only."""
    if element.tag in (TEXT_BOX, WORDART):
        yield element
        return
    children = [_chosen(element)] if element.tag == ALTERNATE else list(element)
    for child in children:
        yield from _boxes(child)


def _is_hidden(run: object) -> bool:
    vanish = run.find(f"{_w('rPr')}/{_w('vanish')}")
    return vanish is not None and vanish.get(_w("val"), "true") not in ("0", "false", "off")


def _continues_merge(cell: object) -> bool:
    """A cell that continues a vertical (or legacy horizontal) merge: its text is in the first cell."""
    properties = cell.find(_w("tcPr"))
    if properties is None:
        return False
    for merge in (properties.find(_w("vMerge")), properties.find(_w("hMerge"))):
        if merge is not None and merge.get(_w("val"), "continue") != "restart":
            return True
    return False


def _only_page_number(text: str, numbers: list[str]) -> bool:
    """Whether a header or footer paragraph is a page number: its page fields' results and
    nothing else but page decoration (`- 1 -`, `第1页 共5页`, `Page 1 of 5`)."""
    rest = text
    for number in numbers:
        rest = rest.replace(number, "", 1)
    return _PAGE_DECORATION.fullmatch(rest) is not None
