"""PDF with a text layer to text, with pypdf.

Each page's text layer in reading order, pages one after another. Page furniture is dropped
with rule `pdf_page_furniture` (category `page_marker`): among the first and last
`EDGE_LINES` lines of each page, a line that repeats (digits aside) at the same edge on at
least half the pages and on two or more, which is a running header or footer, and a page
number (`3`, `- 3 -`, `第3页`, `3/12`, `Page 3 of 12`). Hard-wrapped lines stay as they are:
the normalize stage rejoins them, across page breaks too since the furniture between them is
gone.

A page without text that draws something (an image, or a content stream of `DRAWN_BYTES` or
more) is a scanned page; one that draws nothing is a blank page and counts for nothing. When
some pages are scans the extraction says so (`scanned_pages` in `found`, and the flag
`partial_text_layer`): the document is only the text pages' text.

Rejects: `encrypted` (a password is needed to read the text), `no_text_layer` (no page has
text, or under `TEXT_PAGES_AT_LEAST` of the pages that are not blank do: a scan, perhaps
behind a typed cover, which docclean does not OCR), `unreadable_text_layer` (the text layer
is glyph numbers, not characters: see `readable`), `too_large` (over `MAX_PAGES` pages,
checked before any page is read, or over `MAX_TEXT_CHARS` of text), `malformed` (pypdf
cannot parse it, including nesting deep enough to exhaust the recursion limit).
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from docclean.errors import RejectedInput
from docclean.extract import Dropped, Extracted, missing_library

# A long book is a thousand pages; a PDF claiming a hundred thousand is a bomb or a scan archive.
MAX_PAGES = 5_000
# Ten times the largest speech collections seen: the text of about 20,000 pages.
MAX_TEXT_CHARS = 20_000_000
EDGE_LINES = 2
# A scan with a typed cover or a stamped last page: when fewer than a quarter of the pages that
# show anything have text, the text layer is not the document (a cover of a 5-page scan is two
# lines of 50), and the PDF is rejected as a scan; from a quarter on it is kept, flagged.
TEXT_PAGES_AT_LEAST = 0.25
# A page's content stream this long draws something: a blank page's is empty or a few
# operators (a white background, a clip), a scanned page's vector drawing or text is kilobytes.
DRAWN_BYTES = 256
# A font without a ToUnicode map gives glyph numbers as characters: rare Hanzi, Latin Extended,
# controls. docclean's plausibility model (docclean/plausibility.py) scores such text 0.2-0.45
# and real text of any language docclean knows (Chinese, Japanese, Korean, alphabets) 0.85 and
# more; below this the text layer is unreadable.
READABLE_AT_LEAST = 0.6
# Under this many informative (non-ASCII) characters a text is too short to judge.
JUDGED_CHARS_AT_LEAST = 20
# The sample judged: the start, the middle and the end of the text.
JUDGED_CHUNK = 10_000
FURNITURE_RULE = "pdf_page_furniture"
FLAG_PARTIAL = "partial_text_layer"
_PAGE_NUMBER = re.compile(
    r"^(?:[-–—_·\s]*\d{1,5}[-–—_·\s]*|第\s*\d{1,5}\s*页(?:\s*[,，/]?\s*共\s*\d{1,5}\s*页)?|\d{1,5}\s*/\s*\d{1,5}"
    r"|(?i:page)\s*\d{1,5}(?:\s*(?i:of)\s*\d{1,5})?)$"
)
_DIGITS = re.compile(r"\d+")


def extract_pdf(data: bytes) -> Extracted:
    """A PDF's text layer without its page furniture (see the module docstring). Raises RejectedInput."""
    try:
        import pypdf
        from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError
    except ImportError:
        raise missing_library("PDF", "pypdf") from None
    with _pypdf_warnings() as warnings:
        try:
            reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and _needs_password(reader, DependencyError):
                raise RejectedInput(
                    "encrypted",
                    "The PDF is encrypted with a password: save an unprotected copy and drop that instead.",
                )
            page_count = len(reader.pages)
            if page_count > MAX_PAGES:
                raise RejectedInput(
                    "too_large", f"The PDF has {page_count:,} pages, over the limit of {MAX_PAGES:,} pages."
                )
            pages: list[list[str]] = []
            scanned = 0
            chars = 0
            for page in reader.pages:
                text = page.extract_text() or ""
                if not text.strip() and _draws_something(page):
                    scanned += 1
                chars += len(text)
                if chars > MAX_TEXT_CHARS:
                    raise RejectedInput(
                        "too_large", f"The PDF's text is over the limit of {MAX_TEXT_CHARS:,} characters."
                    )
                # Indentation stays: the normalize stage reads it as a paragraph's start.
                pages.append([line.rstrip() for line in text.split("\n") if line.strip()])
        except RejectedInput:
            raise
        except FileNotDecryptedError:
            raise RejectedInput(
                "encrypted",
                "The PDF is encrypted with a password: save an unprotected copy and drop that instead.",
            ) from None
        except RecursionError:
            raise RejectedInput(
                "malformed",
                "The PDF's objects are nested too deeply to read: the file is damaged or hostile.",
            ) from None
        except (PdfReadError, Exception) as error:
            # pypdf raises many kinds on damaged input (ValueError, KeyError, struct.error, ...).
            raise RejectedInput(
                "malformed", f"The PDF cannot be read ({type(error).__name__}: {error})."
            ) from None
    with_text = sum(1 for page in pages if page)
    if not with_text:
        raise RejectedInput(
            "no_text_layer",
            f"The PDF's {page_count} page(s) have no text layer (a scan): docclean does not OCR; "
            "run OCR first (e.g. ocrmypdf) and drop the result.",
        )
    if with_text < TEXT_PAGES_AT_LEAST * (with_text + scanned):
        raise RejectedInput(
            "no_text_layer",
            f"The PDF has a text layer on only {with_text} of its {with_text + scanned} non-blank pages, the "
            "others are scans: docclean does not OCR; run OCR first (e.g. ocrmypdf) and drop the result.",
        )
    kept, dropped = split_furniture(pages)
    if not readable("\n".join(kept)):
        raise RejectedInput(
            "unreadable_text_layer",
            "The PDF's text layer is glyph numbers, not characters (its fonts carry no mapping to "
            "Unicode): docclean cannot read it; run OCR on it (e.g. ocrmypdf --force-ocr) and drop the result.",
        )
    found = (
        ("pages", page_count),
        ("pages_with_text", with_text),
        *((("scanned_pages", scanned),) if scanned else ()),
        ("furniture_lines", len(dropped)),
        # What pypdf worked around to read a damaged file (no EOF marker, a broken xref table).
        *((("pypdf_warnings", len(warnings)),) if warnings else ()),
    )
    return Extracted(
        "pdf",
        "\n".join(kept),
        dropped=dropped,
        found=found,
        page_count=page_count,
        flags=(FLAG_PARTIAL,) if scanned else (),
    )


@contextmanager
def _pypdf_warnings() -> Iterator[list[logging.LogRecord]]:
    """The records pypdf logs meanwhile, held instead of printed: a damaged file it reads anyway
    (`EOF marker not found`) is counted in the extraction's findings, and one it cannot read is a
    `malformed` reject, so none of them is news for the console."""
    logger = logging.getLogger("pypdf")
    held: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = held.append  # type: ignore[method-assign]
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield held
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _needs_password(reader: object, dependency_error: type[Exception]) -> bool:
    """Whether the PDF stays locked with the empty user password (an owner-only lock opens with it)."""
    try:
        return not reader.decrypt("")
    except dependency_error:
        # AES needs the cryptography package, which docclean does not require.
        return True
    except Exception:
        return True


def _draws_something(page: object) -> bool:
    """Whether a page without text shows anything: an image, or a long enough content stream."""
    try:
        resources = _resolved(page.get("/Resources")) or {}
        for reference in (_resolved(resources.get("/XObject")) or {}).values():
            if _resolved(reference).get("/Subtype") == "/Image":
                return True
        contents = page.get_contents()
        return contents is not None and len(contents.get_data()) >= DRAWN_BYTES
    except Exception:
        # A damaged resource dictionary: count the page as a blank one, never fail the file.
        return False


def _resolved(value: object) -> object:
    """A PDF object itself, where `value` may be a reference to it."""
    return value.get_object() if hasattr(value, "get_object") else value


def readable(text: str) -> bool:
    """Whether `text` reads as text of some language docclean knows, not glyph numbers.

    Judged on at most three `JUDGED_CHUNK`s (start, middle, end) by the best of the
    plausibility models (Chinese, Japanese, Korean, an alphabet) against `READABLE_AT_LEAST`;
    a text of fewer than `JUDGED_CHARS_AT_LEAST` non-ASCII characters is readable.
    """
    from docclean.plausibility import (
        NEUTRAL,
        alphabet_plausibility,
        japanese_plausibility,
        korean_plausibility,
        plausibility,
    )

    if len(text) > 3 * JUDGED_CHUNK:
        middle = len(text) // 2
        text = text[:JUDGED_CHUNK] + text[middle : middle + JUDGED_CHUNK] + text[-JUDGED_CHUNK:]
    if sum(1 for char in text if char not in NEUTRAL) < JUDGED_CHARS_AT_LEAST:
        return True
    return any(
        model(text) >= READABLE_AT_LEAST
        for model in (plausibility, japanese_plausibility, korean_plausibility, alphabet_plausibility)
    )


def split_furniture(pages: list[list[str]]) -> tuple[list[str], tuple[Dropped, ...]]:
    """Body lines of all pages in order, and the page furniture left out of them.

    `pages` holds each page's non-empty lines, which may be indented. See the module docstring
    for what counts as furniture; a dropped line is stripped of its edge space.
    """
    edges = [_edge_positions(len(page)) for page in pages]
    tops: Counter[str] = Counter()
    bottoms: Counter[str] = Counter()
    for page, (top, bottom) in zip(pages, edges, strict=True):
        tops.update({_DIGITS.sub("#", page[i].strip()) for i in top})
        bottoms.update({_DIGITS.sub("#", page[i].strip()) for i in bottom})
    needed = max(2, (len(pages) + 1) // 2)
    kept: list[str] = []
    dropped: list[Dropped] = []
    for page, (top, bottom) in zip(pages, edges, strict=True):
        for index, raw in enumerate(page):
            line = raw.strip()
            shape = _DIGITS.sub("#", line)
            furniture = (index in top or index in bottom) and (
                _PAGE_NUMBER.match(line)
                or (index in top and tops[shape] >= needed)
                or (index in bottom and bottoms[shape] >= needed)
            )
            if furniture:
                dropped.append(Dropped(FURNITURE_RULE, "page_marker", line))
            else:
                kept.append(raw)
    return kept, tuple(dropped)


def _edge_positions(count: int) -> tuple[set[int], set[int]]:
    top = set(range(min(EDGE_LINES, count)))
    bottom = set(range(max(0, count - EDGE_LINES), count))
    return top, bottom
