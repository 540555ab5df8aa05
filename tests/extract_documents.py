"""Real documents built with the libraries themselves, for the extraction tests and the benchmark.

No binary fixtures: every .docx, PDF, saved page and OLE2 container is generated here from text,
so anyone can regenerate and read them. python-docx, reportlab (with its built-in CID font
STSong-Light, which needs no font file) and pypdf come with the `test` extra.
"""

from __future__ import annotations

import html
import io
import struct
import unicodedata
from collections.abc import Sequence
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

VENDOR_HEADER = "酷乐文行整理，咨询QQ206157060"
VENDOR_FOOTER = "更多范文请关注微信公众号：酷乐文行"
WATERMARK = "酷乐文行 版权所有"
RUNNING_HEADER = "机关党建工作文稿汇编"
CJK_FONT = "STSong-Light"


def docx_bytes(
    body: Sequence[str],
    table_rows: Sequence[Sequence[str]] = (),
    header: Sequence[str] = (VENDOR_HEADER,),
    footer: Sequence[str] = (VENDOR_FOOTER,),
    watermark: str | None = WATERMARK,
    text_box: str | None = None,
    table_at: int | None = None,
) -> bytes:
    """A .docx: `body` paragraphs, a table (`table_rows`, inserted before body paragraph
    `table_at`, at the end by default), header and footer paragraphs, a VML WordArt watermark
    in the header (as Word's Design > Watermark makes it) and optionally a text box in the body."""
    import docx
    from docx.oxml import parse_xml

    document = docx.Document()
    position = len(body) if table_at is None else table_at
    for index, line in enumerate(body):
        if index == position and table_rows:
            _add_table(document, table_rows)
        document.add_paragraph(line)
    if position >= len(body) and table_rows:
        _add_table(document, table_rows)
    section = document.sections[0]
    section.header.paragraphs[0].text = header[0] if header else ""
    for line in header[1:]:
        section.header.add_paragraph(line)
    section.footer.paragraphs[0].text = footer[0] if footer else ""
    for line in footer[1:]:
        section.footer.add_paragraph(line)
    vml = (
        'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:v="urn:schemas-microsoft-com:vml"'
    )
    if watermark:
        section.header.paragraphs[0]._p.append(
            parse_xml(
                f'<w:r {vml}><w:pict><v:shape id="PowerPlusWaterMarkObject" type="#_x0000_t136" '
                f'style="position:absolute;rotation:315"><v:textpath style="font-family:&quot;SimSun&quot;" '
                f'string="{html.escape(watermark)}"/></v:shape></w:pict></w:r>'
            )
        )
    if text_box:
        document.paragraphs[0]._p.append(
            parse_xml(
                f"<w:r {vml}><w:pict><v:shape><v:textbox><w:txbxContent><w:p><w:r><w:t>"
                f"{html.escape(text_box)}</w:t></w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></w:r>"
            )
        )
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _add_table(document: object, rows: Sequence[Sequence[str]]) -> None:
    table = document.add_table(rows=len(rows), cols=max(len(row) for row in rows))
    for row, cells in zip(table.rows, rows, strict=True):
        for cell, text in zip(row.cells, cells, strict=False):
            cell.text = text


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def hard_wrap(paragraph: str, width: int) -> list[str]:
    """`paragraph` cut into lines of at most `width` display columns, the first indented by two
    ideographic spaces, as a typeset Chinese page shows it."""
    lines: list[str] = []
    line = "\u3000\u3000"
    for char in paragraph:
        if display_width(line + char) > width:
            lines.append(line)
            line = ""
        line += char
    lines.append(line)
    return lines


def pdf_bytes(
    text: str,
    width: int = 60,
    lines_per_page: int = 36,
    running_header: str | None = RUNNING_HEADER,
    footer: str | None = VENDOR_HEADER,
    page_numbers: bool = True,
    pages_at_least: int = 1,
) -> bytes:
    """A PDF typeset with reportlab's built-in CID font: each non-empty line of `text` a
    paragraph, hard-wrapped at `width` display columns, with a running header, a vendor line
    and a page number (`- n -`) on every page; at least `pages_at_least` pages when there are
    lines enough."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    lines = [
        wrapped
        for paragraph in text.splitlines()
        if paragraph.strip()
        for wrapped in hard_wrap(paragraph.strip(), width)
    ]
    lines_per_page = max(1, min(lines_per_page, len(lines) // pages_at_least))
    pages = [lines[start : start + lines_per_page] for start in range(0, len(lines), lines_per_page)] or [[]]
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for number, page in enumerate(pages, 1):
        if running_header:
            pdf.setFont(CJK_FONT, 9)
            pdf.drawCentredString(297, 810, running_header)
        pdf.setFont(CJK_FONT, 12)
        y = 780
        for line in page:
            pdf.drawString(60, y, line)
            y -= 20
        pdf.setFont(CJK_FONT, 9)
        if footer:
            pdf.drawString(60, 50, footer)
        if page_numbers:
            pdf.drawCentredString(297, 30, f"- {number} -")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def scanned_pdf_bytes(pages: int = 2) -> bytes:
    """A PDF of pages with drawings and no text: what a scan looks like to a text extractor."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for page in range(pages):
        for row in range(40):
            pdf.rect(60, 780 - row * 18, 400 - (row * 7 + page) % 90, 10, fill=1)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


NAVIGATION = ("网站首页", "范文下载", "会员中心", "投稿须知", "联系我们")
AD_BLOCK = "点击领取会员优惠，立即下载全部范文"
SIDEBAR = ("热门下载排行", "本周推荐范文合集")


def html_page(text: str, charset: str = "gbk") -> bytes:
    """A saved article page: navigation, an ad block, the article (one <p> per line of `text`),
    a sidebar and a footer, encoded in `charset` and declaring it."""
    paragraphs = "\n".join(
        f"<p>{html.escape(line.strip())}</p>" for line in text.splitlines() if line.strip()
    )
    nav = "".join(f'<li><a href="/c{index}">{item}</a></li>' for index, item in enumerate(NAVIGATION))
    sidebar = "".join(f'<li><a href="/s{index}">{item}</a></li>' for index, item in enumerate(SIDEBAR))
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="{charset}"><title>范文网 - 讲话稿</title>
<script>var _hmt = _hmt || []; document.write("广告位");</script><style>.ad{{color:red}}</style></head>
<body><header><nav><ul>{nav}</ul></nav></header>
<div class="ad-banner"><a href="https://ad.example.com/vip">{AD_BLOCK}</a></div>
<main><article class="content">
{paragraphs}
</article></main>
<aside class="sidebar"><h3>热门文章</h3><ul>{sidebar}</ul></aside>
<footer><p>版权所有 范文网 京ICP备12345678号</p></footer></body></html>"""
    return page.encode(charset)


def mhtml_bytes(text: str, charset: str = "gb2312") -> bytes:
    """The page of `html_page` saved by a browser as a single-file MHTML archive (quoted-printable)."""
    archive = MIMEMultipart("related", type="text/html")
    archive["Subject"] = "fanwen.example.com"
    part = MIMEText(html_page(text, "gbk").decode("gbk"), "html", charset)
    part["Content-Location"] = "https://fanwen.example.com/a/1.html"
    archive.attach(part)
    return archive.as_bytes()


def ole_bytes(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (MS-CFB, version 3, 512-byte sectors) holding `streams`.

    Each stream is padded to at least 4096 bytes so it lives in regular sectors (no mini
    stream). Enough for olefile and for any reader that follows the specification.
    """
    sector = 512
    end_of_chain, fat_sector, free = 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    datas = [data.ljust(4096, b"\0") for data in streams.values()]
    chains: list[tuple[int, int]] = []
    next_sector = 2  # sector 0: FAT, sector 1: directory
    for data in datas:
        count = -(-len(data) // sector)
        chains.append((next_sector, count))
        next_sector += count
    fat = [fat_sector, end_of_chain]
    for start, count in chains:
        fat += [start + offset + 1 for offset in range(count - 1)] + [end_of_chain]
    fat += [free] * (sector // 4 - len(fat))

    def entry(name: str, kind: int, start: int, size: int, child: int = free, right: int = free) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", free, right, child)
            + bytes(16 + 4 + 16)
            + struct.pack("<IQ", start, size)
        )

    names = list(streams)
    entries = [entry("Root Entry", 5, end_of_chain, 0, child=1 if names else free)]
    for index, (name, (start, _), data) in enumerate(zip(names, chains, datas, strict=True)):
        entries.append(entry(name, 2, start, len(data), right=index + 2 if index + 1 < len(names) else free))
    directory = b"".join(entries).ljust(sector, b"\0")
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end_of_chain, 0, end_of_chain, 0)
        + struct.pack("<I", 0)
        + struct.pack("<108I", *([free] * 108))
    )
    return header + struct.pack(f"<{sector // 4}I", *fat) + directory + b"".join(datas)
