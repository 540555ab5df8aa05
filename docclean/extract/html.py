"""Saved web pages (HTML, MHTML) to their main text, with trafilatura.

The page is recognised by its content, whatever the file is named (a page saved as `.txt` is a
page), as browsers sniff a resource of unknown type: after whitespace, comments (IE's
`<!-- saved from url=... -->`), an XML declaration and a doctype, the first thing is a tag an
HTML page or a copied fragment starts with (`<html`, `<head`, `<meta`, `<script`, `<div`,
`<p`, ...; `starts_like_page`). A text that only mentions tags (a lesson beginning
`<html>标签是网页的根元素`) is not a page: the file must also hold `MARKUP_TAGS` tags, one
closing an element (`</p>`, `</div>`, `</title>`...), as every real page and fragment does
and prose about tags rarely does. An MHTML archive (MIME `multipart/related`) gives its first `text/html` part.

Encoding: a BOM first, then the page's own declaration (`<meta charset>`, `http-equiv`
Content-Type, the MIME part's charset), decoded strictly with the Chinese supersets
(gb2312/gbk -> gb18030, big5 -> big5hkscs); without a usable declaration the page is decoded
like any text (`decode.decode_bytes`).

The main text is trafilatura's (boilerplate removal: navigation, ads, sidebars, footers),
tables included. Lines of the page's visible text that are not in the main text are dropped
with rule `html_boilerplate` (category `boilerplate`), so what the page showed stays
auditable; script and style content is not text and is not recorded.
"""

from __future__ import annotations

import codecs
import email
import email.policy
import re

from docclean.decode import big5_codec, decode_bytes
from docclean.errors import RejectedInput
from docclean.extract import Dropped, Extracted, missing_library
from docclean.record import Decoded, Segment

# How far into the file the leading whitespace, comments and declarations are skipped: IE's
# "saved from url" comment and a statistics snippet before the doctype fit many times over.
SNIFF_BYTES = 65536
# The HTML standard's prescan reads the first 1024 bytes for a declaration; pages saved by
# Chinese sites often put scripts first, so look a little further.
DECLARATION_BYTES = 4096
BOILERPLATE_RULE = "html_boilerplate"
_DECLARED = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs", "cp950": "big5hkscs"}
# Elements that end a line of visible text (the HTML standard's block-level rendering, in short).
_BLOCK_TAG_NAMES = (
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr td th table section article aside nav header footer "
    "blockquote pre dd dt dl form title option"
)
_BLOCK_TAGS = frozenset(_BLOCK_TAG_NAMES.split(" "))
_SPACES = re.compile(r"\s+")
# WHATWG MIME Sniffing ("rules for identifying an unknown MIME type") takes a resource for HTML
# when, after whitespace, it starts with one of `<!DOCTYPE HTML <HTML <HEAD <SCRIPT <IFRAME <H1
# <DIV <FONT <TABLE <A <STYLE <TITLE <B <BODY <BR <P <!--` and a space or `>`. Saved Chinese
# pages and copied fragments also start with these: a <meta> or <link> before any <head>, a
# <span>, <center>, <form>, list, heading or HTML5 section element.
_PAGE_START_TAGS = (
    "html head body script iframe h1 h2 h3 h4 h5 h6 div font table a style title b br p "
    "meta link base span center form ul ol li section article header nav main noscript"
)
# Whitespace, comments, an XML declaration and a doctype before the first tag, skipped as a
# browser does. Atomic: a long run of spaces that leads nowhere is given up at once.
_PROLOG = r"(?>\s+|<!--(?:(?!-->).)*-->|<\?xml[^>]*>|<!doctype\s+html[^>]*>)*"
_PAGE_START = re.compile(
    rf"\A\ufeff?{_PROLOG}<(?:{'|'.join(_PAGE_START_TAGS.split())})[\s/>]", re.IGNORECASE | re.DOTALL
)
# The tags counted as markup: a page or fragment has a few of them, one closing at least (its
# <title>, <p>, <div>), where prose about tags names one or two and closes none (`<html>标签是
# 网页的根元素。…<p>标签表示段落。`) and a lone `<p>…</p>` is a line of text more than a page.
_ELEMENTS = (
    f"{_PAGE_START_TAGS} td tr th tbody thead tfoot i u em strong small big sup sub dd dt dl "
    "blockquote pre option select label textarea button aside footer figure figcaption img hr"
)
_TAG = re.compile(rf"<(/?)(?:{'|'.join(_ELEMENTS.split())})(?=[\s/>])".encode(), re.IGNORECASE)
MARKUP_TAGS = 3
# How far the tags are looked for: past a long inline script a page's first 64 KiB may hold few.
MARKUP_BYTES = 1 << 20


def sniff_page(data: bytes) -> str | None:
    """`html` or `mhtml` when `data` is a saved page, else None (see the module docstring)."""
    head = data[:SNIFF_BYTES]
    utf16 = False
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            head = head[len(bom) :].decode(codec, errors="ignore").encode("ascii", errors="ignore")
            utf16 = True
    # Latin-1 maps each byte to one character: the ASCII markup reads the same in any
    # ASCII-compatible encoding, and nothing fails to decode.
    head = head.removeprefix(codecs.BOM_UTF8)
    if starts_like_page(head.decode("latin-1")):
        # A UTF-16 page is looked at in its converted head only.
        return "html" if _is_markup(head if utf16 else data[:MARKUP_BYTES]) else None
    lowered = head.lstrip().lower()
    if (
        b"mime-version:" in lowered
        and b"multipart/related" in lowered
        and b"text/html" in data[:65536].lower()
    ):
        return "mhtml"
    return None


def _is_markup(data: bytes) -> bool:
    """At least `MARKUP_TAGS` known tags, one of them closing an element."""
    closing = 0
    for tags, match in enumerate(_TAG.finditer(data), start=1):
        closing += bool(match.group(1))
        if tags >= MARKUP_TAGS and closing:
            return True
    return False


def starts_like_page(text: str) -> bool:
    """Whether `text` (a page's first `SNIFF_BYTES`, or a whole text) starts as an HTML page or
    fragment does: whitespace, comments, an XML declaration and a doctype, then a page's tag."""
    return "<" in text[:SNIFF_BYTES] and _PAGE_START.match(text[:SNIFF_BYTES]) is not None


def extract_html(data: bytes, mhtml: bool = False) -> Extracted:
    """A page's main text (see the module docstring). Raises RejectedInput."""
    try:
        import lxml.html
        import trafilatura
    except ImportError:
        raise missing_library("HTML page", "trafilatura") from None
    page, charset = _mhtml_page(data) if mhtml else (data, None)
    decoded = _decode_page(page, charset)
    try:
        main = trafilatura.extract(
            decoded.text, include_comments=False, include_tables=True, favor_recall=True, deduplicate=False
        )
        visible = _visible_lines(lxml.html, decoded.text)
    except Exception as error:
        raise RejectedInput(
            "malformed", f"The page cannot be parsed as HTML ({type(error).__name__}: {error})."
        ) from None
    lines = [
        _table_row(line)
        for line in (_SPACES.sub(" ", raw).strip() for raw in (main or "").split("\n"))
        if line
    ]
    lines = [line for line in lines if line]
    title = _page_title(trafilatura, decoded.text)
    if (
        title
        and title in visible
        and title not in lines
        and not any(title in line for line in lines[:_TITLE_LINES])
    ):
        # The page's own title (its heading, as trafilatura's metadata finds it) stood outside
        # the article's block: the document opens with it, as the page shows it.
        lines.insert(0, title)
    # A visible line is dropped only when the main text does not hold it, spaces and line breaks
    # aside: the extractor splits and joins lines otherwise than the page's blocks do (a nav bar
    # `首页 | 范文` may come out a word a line), and the audit must not list what is still there.
    kept = _SPACES.sub("", "\n".join(lines))
    dropped = tuple(
        Dropped(BOILERPLATE_RULE, "boilerplate", line)
        for line in visible
        if _SPACES.sub("", line) not in kept
    )
    found = (("main_lines", len(lines)), ("page_lines", len(visible)), ("boilerplate_lines", len(dropped)))
    return Extracted(
        "mhtml" if mhtml else "html", "\n".join(lines), dropped=dropped, found=found, decoded=decoded
    )


def _mhtml_page(data: bytes) -> tuple[bytes, str | None]:
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload, part.get_content_charset()
    raise RejectedInput("malformed", "The file is an MHTML archive without an HTML page in it.")


def _decode_page(page: bytes, charset: str | None) -> Decoded:
    if page.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return decode_bytes(page)
    if charset is None:
        declared = _DECLARED.search(page[:DECLARATION_BYTES])
        charset = declared.group(1).decode("ascii") if declared else None
    codec = _codec(charset)
    if codec == "big5hkscs":
        codec = big5_codec(page)  # Taiwan's pages: ～ and ‧ as the browser shows them
    if codec is not None:
        try:
            text = page.decode(codec)
        except UnicodeDecodeError:
            pass
        else:
            return Decoded(text, codec, 1.0, "declared", (Segment(0, len(page), codec),))
    return decode_bytes(page)


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        name = codecs.lookup(charset).name
    except (LookupError, ValueError):  # an unknown name, or one holding a NUL (a damaged header)
        return None
    name = {"utf-8-sig": "utf-8"}.get(name, name)
    # A page declared UTF-16 but read as bytes here has no BOM: it is not UTF-16.
    if name.startswith(("utf-16", "utf-32")):
        return None
    return _SUPERSETS.get(name, name)


def _table_row(line: str) -> str:
    """A table row as trafilatura writes it (`| 甲 | 乙 |`) as the .docx reader writes one: its
    non-empty cells joined by a tab; any other line as it is."""
    if len(line) < 2 or not (line.startswith("|") and line.endswith("|")):
        return line
    return "\t".join(cell for cell in (part.strip() for part in line[1:-1].split("|")) if cell)


# A title already among the main text's first lines is not added again.
_TITLE_LINES = 3


def _page_title(trafilatura_module: object, text: str) -> str | None:
    """The page's title by trafilatura's metadata (og:title, the heading, <title>), spaces collapsed."""
    try:
        metadata = trafilatura_module.extract_metadata(text)  # type: ignore[attr-defined]
    except Exception:
        return None
    title = getattr(metadata, "title", None) if metadata is not None else None
    return _SPACES.sub(" ", title).strip() if title else None


def _visible_lines(html_module: object, text: str) -> list[str]:
    """The page's visible text, one line per block element, whitespace collapsed."""
    if not text.strip():
        return []
    root = html_module.fromstring(text.encode("utf-8"), parser=html_module.HTMLParser(encoding="utf-8"))
    for element in list(root.iter("script", "style", "noscript", "template", "head")):
        if element.getparent() is not None:
            element.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
    content = root.text_content()
    return [line for line in (_SPACES.sub(" ", raw).strip() for raw in content.split("\n")) if line]
