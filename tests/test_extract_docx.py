""".docx extraction: the text a reader sees, wherever Word nests it, and nothing else.

Each document is built with python-docx and hand-written WordprocessingML (no binary fixtures):
content controls, custom XML, smart tags, fields, tracked changes, alternate content, ruby,
equations, merged cells, automatic numbering, notes, page-number footers, hidden text, and
the package variants (.docm, .dotx, Strict Open XML, a main part of another name).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable

import pytest

from docclean.errors import RejectedInput
from docclean.extract import Extracted, extract
from docclean.extract.docx_numbering import format_number
from docclean.pipeline import Cleaner, replay

NAMESPACES = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:v="urn:schemas-microsoft-com:vml" '
    'xmlns:m="http://schemas.openxmlformats.org/officeDocument/2006/math"'
)
FOOTNOTES_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"


def p(text: str, properties: str = "") -> str:
    return f'<w:p>{properties}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


def r(text: str, properties: str = "") -> str:
    return f'<w:r>{properties}<w:t xml:space="preserve">{text}</w:t></w:r>'


def _elements(xml: str) -> list[object]:
    from docx.oxml import parse_xml

    return list(parse_xml(f"<w:root {NAMESPACES}>{xml}</w:root>"))


def build(
    body: str,
    footer: str | None = None,
    footnotes: str | None = None,
    numbering: str | None = None,
) -> bytes:
    """A .docx by python-docx whose body, footer, footnotes and numbering definitions are the
    given WordprocessingML fragments."""
    import docx
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part

    document = docx.Document()
    body_element = document.element.body
    for element in _elements(body):
        body_element.insert(len(body_element) - 1, element)  # before the final w:sectPr
    if footer is not None:
        footer_element = document.sections[0].footer._element
        for child in list(footer_element):
            footer_element.remove(child)
        footer_element.extend(_elements(footer))
    if numbering is not None:
        numbering_element = document.part.numbering_part.element
        for child in list(numbering_element):
            numbering_element.remove(child)
        numbering_element.extend(_elements(numbering))
    if footnotes is not None:
        blob = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:footnotes {NAMESPACES}>'
            '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
            f'<w:footnote w:id="1">{footnotes}</w:footnote></w:footnotes>'
        ).encode()
        part = Part(
            PackURI("/word/footnotes.xml"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml",
            blob,
            document.part.package,
        )
        document.part.relate_to(part, FOOTNOTES_TYPE)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def rezip(data: bytes, edit: Callable[[str, bytes], tuple[str, bytes]]) -> bytes:
    """`data` with each part passed through `edit(name, content) -> (name, content)`."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            name, content = edit(info.filename, source.read(info))
            target.writestr(name, content)
    return out.getvalue()


def lines(data: bytes) -> list[str]:
    extracted = extract(data)
    assert extracted is not None and extracted.source_format == "docx"
    return extracted.text.split("\n") if extracted.text else []


def body_lines(data: bytes) -> list[str]:
    """The extracted lines without python-docx's default header and footer (which are empty)."""
    return lines(data)


def dropped(extracted: Extracted, rule: str) -> list[str]:
    return [item.text for item in extracted.dropped if item.rule == rule]


def extracted(data: bytes) -> Extracted:
    result = extract(data)
    assert result is not None
    return result


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner()


# --- F1: text in every container a reader sees through ------------------------------------------


def test_content_controls_custom_xml_smart_tags_and_simple_fields_keep_their_text() -> None:
    data = build(
        "<w:sdt><w:sdtPr/><w:sdtContent>"
        + p("块级内容控件中的第一段。")
        + p("块级内容控件中的第二段。")
        + "</w:sdtContent></w:sdt>"
        + '<w:customXml w:element="x">'
        + p("自定义XML中的段落。")
        + "</w:customXml>"
        + "<w:p>"
        + r("单位：")
        + "<w:sdt><w:sdtPr/><w:sdtContent>"
        + r("县委办公室")
        + "</w:sdtContent></w:sdt></w:p>"
        + "<w:p>"
        + r("会议于")
        + '<w:smartTag w:uri="urn:schemas-microsoft-com:office:smarttags" w:element="chsdate">'
        + r("2024年3月1日")
        + "</w:smartTag>"
        + r("召开，")
        + '<w:fldSimple w:instr=" DATE \\@ &quot;yyyy年M月d日&quot; ">'
        + r("2024年3月2日")
        + "</w:fldSimple>"
        + r("发文，详见")
        + '<w:hyperlink w:anchor="x">'
        + r("附件")
        + "</w:hyperlink>"
        + r("。")
        + "</w:p>"
    )
    assert body_lines(data) == [
        "块级内容控件中的第一段。",
        "块级内容控件中的第二段。",
        "自定义XML中的段落。",
        "单位：县委办公室",
        "会议于2024年3月1日召开，2024年3月2日发文，详见附件。",
    ]


def test_content_controls_around_cells_and_rows_keep_their_text() -> None:
    cell = "<w:tc><w:p>{}</w:p></w:tc>"
    data = build(
        "<w:tbl><w:tblGrid><w:gridCol/><w:gridCol/></w:tblGrid>"
        "<w:tr><w:sdt><w:sdtContent>" + cell.format(r("甲单元格")) + "</w:sdtContent></w:sdt>"
        + cell.format(r("乙单元格")) + "</w:tr>"
        "<w:sdt><w:sdtContent><w:tr>" + cell.format(r("行内容控件")) + cell.format(r("二")) + "</w:tr>"
        "</w:sdtContent></w:sdt>"
        "<w:tr>" + cell.format(r("普通行")) + cell.format(r("三")) + "</w:tr></w:tbl>"
    )  # fmt: skip
    assert body_lines(data) == ["甲单元格\t乙单元格", "行内容控件\t二", "普通行\t三"]


def test_tracked_changes_read_as_accepted() -> None:
    change = 'w:id="{}" w:author="a" w:date="2024-01-01T00:00:00Z"'
    data = build(
        "<w:p>"
        + r("今年我们要")
        + f"<w:del {change.format(1)}><w:r><w:delText>坚决反对</w:delText></w:r></w:del>"
        + f"<w:ins {change.format(2)}>{r('全力推进')}</w:ins>"
        + r("乡村振兴。")
        + "</w:p>"
        + f"<w:p><w:pPr><w:rPr><w:del {change.format(3)}/></w:rPr></w:pPr><w:del {change.format(4)}>"
        + "<w:r><w:delText>这一段已被删除。</w:delText></w:r></w:del></w:p>"
        + f"<w:p><w:moveFrom {change.format(5)}>{r('被移走的句子。')}</w:moveFrom></w:p>"
        + f"<w:p>{r('正文。')}<w:moveTo {change.format(6)}>{r('被移走的句子。')}</w:moveTo></w:p>"
    )
    text = extracted(data).text
    assert text.split("\n") == ["今年我们要全力推进乡村振兴。", "正文。被移走的句子。"]
    assert "坚决反对" not in text and "已被删除" not in text


def test_field_codes_stay_out_and_field_results_stay() -> None:
    data = build(
        "<w:p>"
        + r("详见")
        + '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        + '<w:r><w:instrText xml:space="preserve"> HYPERLINK "http://www.example.com" \\o "提示" </w:instrText></w:r>'
        + '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        + r("附件一")
        + '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        + r("。")
        + "</w:p>"
        # A field without a result: nothing of it shows, and the next paragraph is whole.
        + '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> TC "目录项" </w:instrText></w:r>'
        + '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        + r("正文。")
        + "</w:p>"
        + p("结束。")
    )
    text = extracted(data).text
    assert text.split("\n") == ["详见附件一。", "正文。", "结束。"]
    assert "HYPERLINK" not in text and "example" not in text and "目录项" not in text


def test_alternate_content_is_read_once_from_its_choice() -> None:
    text_box = (
        "<w:r><mc:AlternateContent><mc:Choice Requires=\"wps\"><w:drawing><wp:anchor><a:graphic><a:graphicData>"
        "<wps:wsp><wps:txbx><w:txbxContent>" + p("文本框里的字") + "</w:txbxContent></wps:txbx></wps:wsp>"
        "</a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice><mc:Fallback><w:pict><v:shape><v:textbox>"
        "<w:txbxContent>" + p("文本框里的字") + "</w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r>"
    )  # fmt: skip
    data = build(
        '<w:p><mc:AlternateContent><mc:Choice Requires="w14">'
        + r("选择分支文字")
        + "</mc:Choice><mc:Fallback>"
        + r("选择分支文字")
        + "</mc:Fallback></mc:AlternateContent></w:p>"
        + "<w:p><mc:AlternateContent><mc:Fallback>"
        + r("只有后备分支")
        + "</mc:Fallback></mc:AlternateContent></w:p>"
        + "<w:p>"
        + r("正文")
        + text_box
        + r("继续。")
        + "</w:p>"
    )
    result = extracted(data)
    assert result.text.split("\n") == ["选择分支文字", "只有后备分支", "正文继续。"]
    assert dropped(result, "docx_watermark") == ["文本框里的字"]


def test_ruby_keeps_its_base_and_equations_their_text() -> None:
    data = build(
        "<w:p>"
        + r("我们要")
        + "<w:r><w:ruby><w:rubyPr/><w:rt>"
        + r("zhù")
        + "</w:rt><w:rubyBase>"
        + r("铸")
        + "</w:rubyBase></w:ruby></w:r>"
        + r("牢中华民族共同体意识。")
        + "</w:p><w:p>"
        + r("增长率为")
        + "<m:oMath><m:r><m:t>5.2%</m:t></m:r></m:oMath>"
        + r("。")
        + "</w:p>"
    )
    assert body_lines(data) == ["我们要铸牢中华民族共同体意识。", "增长率为5.2%。"]


# --- F3: merged cells once ------------------------------------------------------------------------


def test_a_cell_merged_down_rows_is_written_once() -> None:
    def cell(text: str, properties: str = "") -> str:
        return f"<w:tc><w:tcPr>{properties}</w:tcPr>{p(text) if text else '<w:p/>'}</w:tc>"

    restart, merged, continued = '<w:vMerge w:val="restart"/>', "<w:vMerge/>", '<w:vMerge w:val="continue"/>'
    span = '<w:gridSpan w:val="2"/>'
    data = build(
        "<w:tbl><w:tblGrid><w:gridCol/><w:gridCol/><w:gridCol/></w:tblGrid>"
        f"<w:tr>{cell('第一季度', restart)}{cell('一月')}{cell('100')}</w:tr>"
        f"<w:tr>{cell('', merged)}{cell('二月')}{cell('120')}</w:tr>"
        f"<w:tr>{cell('', continued)}{cell('三月')}{cell('90')}</w:tr>"
        f"<w:tr>{cell('合计', span)}{cell('310')}</w:tr></w:tbl>"
    )
    assert body_lines(data) == ["第一季度\t一月\t100", "二月\t120", "三月\t90", "合计\t310"]


def test_python_docx_merged_cells_are_written_once() -> None:
    import docx

    document = docx.Document()
    table = document.add_table(rows=3, cols=2)
    table.cell(0, 0).merge(table.cell(2, 0)).text = "第一季度"
    table.cell(0, 1).text = "一月"
    table.cell(1, 1).text = "二月"
    table.cell(2, 1).text = "三月"
    buffer = io.BytesIO()
    document.save(buffer)
    assert body_lines(buffer.getvalue()) == ["第一季度\t一月", "二月", "三月"]


# --- F2: automatic numbering --------------------------------------------------------------------


def numbered(text: str, level: int = 0, num: int = 1) -> str:
    return p(text, f'<w:pPr><w:numPr><w:ilvl w:val="{level}"/><w:numId w:val="{num}"/></w:numPr></w:pPr>')


def lvl(level: int, fmt: str, text: str, start: int = 1, extra: str = "") -> str:
    return (
        f'<w:lvl w:ilvl="{level}"><w:start w:val="{start}"/><w:numFmt w:val="{fmt}"/>'
        f'<w:lvlText w:val="{text}"/>{extra}</w:lvl>'
    )


OUTLINE = (
    '<w:abstractNum w:abstractNumId="0">'
    + lvl(0, "chineseCounting", "%1、")
    + lvl(1, "chineseCounting", "（%2）")
    + lvl(2, "decimal", "%3.")
    + lvl(3, "decimal", "（%4）")
    + "</w:abstractNum>"
    + '<w:abstractNum w:abstractNumId="1">'
    + lvl(0, "bullet", "\uf0b7")
    + "</w:abstractNum>"
    + '<w:abstractNum w:abstractNumId="2">'
    + lvl(0, "decimal", "%1.", extra='<w:suff w:val="space"/>')
    + lvl(1, "decimal", "%1.%2", extra='<w:suff w:val="space"/>')
    + "</w:abstractNum>"
    + '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>'
    + '<w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>'
    + '<w:num w:numId="3"><w:abstractNumId w:val="2"/></w:num>'
    # The same list restarted at 1 (Word's "restart numbering"), and one starting at 5.
    + '<w:num w:numId="4"><w:abstractNumId w:val="2"/>'
    + '<w:lvlOverride w:ilvl="0"><w:startOverride w:val="1"/></w:lvlOverride></w:num>'
    + '<w:num w:numId="5"><w:abstractNumId w:val="0"/>'
    + '<w:lvlOverride w:ilvl="1"><w:startOverride w:val="5"/></w:lvlOverride></w:num>'
)


def test_automatic_numbering_is_written_as_word_shows_it() -> None:
    data = build(
        numbered("提高政治站位")
        + numbered("统一思想认识", 1)
        + numbered("明确目标任务", 1)
        + numbered("细化措施", 2)
        + numbered("压实责任", 3)
        + numbered("强化考核", 3)
        + p("正文段落。")
        + numbered("狠抓工作落实")
        + numbered("加强组织领导", 1)  # restarts after level 0: （一）
        + numbered("要点", num=2)
        + numbered("背景", num=3)
        + numbered("由来", 1, num=3)
        + numbered("Scope", num=3)
        + numbered("重新开始", num=4)
        + numbered("从五开始", 1, num=5),
        numbering=OUTLINE,
    )
    assert body_lines(data) == [
        "一、提高政治站位",
        "（一）统一思想认识",
        "（二）明确目标任务",
        "1.细化措施",
        "（1）压实责任",
        "（2）强化考核",
        "正文段落。",
        "二、狠抓工作落实",
        "（一）加强组织领导",
        "要点",
        "1.背景",
        "1.1 由来",
        "2. Scope",
        "1.重新开始",
        "（五）从五开始",
    ]
    assert dict(extracted(data).found)["numbered_paragraphs"] == 13


def test_numbered_headings_make_the_outline(cleaner: Cleaner) -> None:
    data = build(
        p("在全县经济工作会议上的讲话")
        + p("同志们：")
        + numbered("提高政治站位")
        + numbered("统一思想认识", 1)
        + p("今年的工作要抓好落实。")
        + numbered("狠抓工作落实"),
        numbering=OUTLINE,
    )
    record = cleaner.clean(data, "speech.docx")
    assert [(heading.level, heading.heading) for heading in record.outline] == [
        (1, "提高政治站位"),
        (2, "统一思想认识"),
        (1, "狠抓工作落实"),
    ]
    assert record.text.startswith(
        "在全县经济工作会议上的讲话\n同志们：\n一、提高政治站位\n（一）统一思想认识"
    )


def test_numbering_through_a_paragraph_style() -> None:
    import docx

    document = docx.Document()
    # The default template's List Number style is numbered (decimal, `%1.`) through its numPr.
    for text in ("第一项", "第二项"):
        document.add_paragraph(text, style="List Number")
    document.add_paragraph("正文")
    buffer = io.BytesIO()
    document.save(buffer)
    assert body_lines(buffer.getvalue()) == ["1.第一项", "2.第二项", "正文"]


@pytest.mark.parametrize(
    ("fmt", "numbers", "expected"),
    [
        (
            "chineseCounting",
            [1, 9, 10, 11, 20, 21, 99, 100, 105],
            "一 九 十 十一 二十 二十一 九十九 一〇〇 一〇五",
        ),
        (
            "chineseCountingThousand",
            [1, 10, 11, 19, 20, 101, 110, 1001, 1010, 10001, 12345],
            "一 十 十一 十九 二十 一百零一 一百一十 一千零一 一千零一十 一万零一 一万二千三百四十五",
        ),
        ("chineseLegalSimplified", [1, 10, 12, 105], "壹 壹拾 壹拾贰 壹佰零伍"),
        ("ideographTraditional", [1, 2, 10, 11], "甲 乙 癸 11"),
        ("ideographZodiac", [1, 12], "子 亥"),
        ("decimalEnclosedCircle", [1, 10, 20, 21], "① ⑩ ⑳ 21"),
        ("decimalEnclosedCircleChinese", [3], "③"),
        ("ideographEnclosedCircle", [1, 10], "㊀ ㊉"),
        ("decimalEnclosedParen", [1], "⑴"),
        ("decimalEnclosedFullstop", [2], "⒉"),
        ("decimalFullWidth", [7, 12], "７ １２"),
        ("ideographDigital", [10, 2024], "一〇 二〇二四"),
        ("decimal", [1, 42], "1 42"),
        ("decimalZero", [3, 12], "03 12"),
        ("upperLetter", [1, 26, 27, 53], "A Z AA AAA"),
        ("lowerLetter", [2, 28], "b bb"),
        ("upperRoman", [1, 4, 9, 14, 40, 1994], "I IV IX XIV XL MCMXCIV"),
        ("lowerRoman", [3, 6], "iii vi"),
        ("numberInDash", [3], "- 3 -"),
        ("ordinalText", [3], "3"),  # not rendered: decimal
    ],
)
def test_number_formats(fmt: str, numbers: list[int], expected: str) -> None:
    assert " ".join(format_number(number, fmt) for number in numbers) == expected


# --- F4: notes read like the body ------------------------------------------------------------------


def test_footnotes_read_through_the_same_walker() -> None:
    text_box = (
        '<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:txbx><w:txbxContent>'
        + p("脚注文本框")
        + "</w:txbxContent></wps:txbx></w:drawing></mc:Choice><mc:Fallback><w:pict><v:textbox><w:txbxContent>"
        + p("脚注文本框")
        + "</w:txbxContent></v:textbox></w:pict></mc:Fallback></mc:AlternateContent></w:r>"
    )
    data = build(
        p("正文。"),
        footnotes=(
            "<w:p>"
            + r("参见")
            + '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> HYPERLINK "http://x" </w:instrText>'
            + '</w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>'
            + r("文件")
            + '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
            + '<w:del w:id="3" w:author="a"><w:r><w:delText>删掉的字</w:delText></w:r></w:del>'
            + f'<w:ins w:id="4" w:author="a">{r("新增的字")}</w:ins></w:p>'
            + "<w:p>"
            + text_box
            + r("脚注第二段。")
            + "</w:p>"
            + "<w:p><w:r><w:t>作者简介：张三</w:t><w:br/><w:t>单位：某大学</w:t><w:tab/><w:t>教授</w:t></w:r></w:p>"
        ),
    )
    result = extracted(data)
    assert result.text.split("\n") == [
        "正文。",
        "参见文件新增的字",
        "脚注第二段。",
        "作者简介：张三",
        "单位：某大学\t教授",
    ]
    assert dropped(result, "docx_watermark") == ["脚注文本框"]
    assert dict(result.found)["note_lines"] == 4


# --- F5: page numbers in headers and footers ----------------------------------------------------------


def simple_field(code: str, result: str) -> str:
    return f'<w:fldSimple w:instr=" {code} ">{r(result)}</w:fldSimple>'


def complex_field(code: str, result: str) -> str:
    return (
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        f'<w:r><w:instrText xml:space="preserve"> {code} \\* MERGEFORMAT </w:instrText></w:r>'
        f'<w:r><w:fldChar w:fldCharType="separate"/></w:r>{r(result)}<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )


@pytest.mark.parametrize("field", [simple_field, complex_field], ids=["fldSimple", "fldChar"])
def test_a_footer_page_number_is_dropped_in_both_field_forms(cleaner: Cleaner, field: Callable) -> None:
    footer = (
        f"<w:p>{r('第')}{field('PAGE', '1')}{r('页 共')}{field('NUMPAGES', '5')}{r('页')}</w:p>"
        f"<w:p>{r('- ')}{field('PAGE', '1')}{r(' -')}</w:p>"
        f"<w:p>{field('PAGE', '1')}</w:p>"
        f"<w:p>{r('县委办公室印发 第')}{field('PAGE', '1')}{r('页')}</w:p>"
    )
    data = build(p("在会议上的讲话") + p("今年的工作要抓好落实。"), footer=footer)
    result = extracted(data)
    # A line of something else than the page number keeps its text, the number too.
    assert result.text.split("\n") == ["在会议上的讲话", "今年的工作要抓好落实。", "县委办公室印发 第1页"]
    assert dropped(result, "docx_page_number") == ["第1页 共5页", "- 1 -", "1"]
    record = cleaner.clean(data, "speech.docx")
    assert "第页" not in record.text and "共页" not in record.text
    assert replay(record, record.normalized_text) == record.text


def test_a_page_field_in_the_body_is_text() -> None:
    data = build(f"<w:p>{r('本文共')}{simple_field('NUMPAGES', '5')}{r('页。')}</w:p>")
    result = extracted(data)
    assert result.text == "本文共5页。" and not result.dropped


# --- F20: hidden text and page breaks ---------------------------------------------------------------


def test_hidden_text_is_dropped_and_recorded(cleaner: Cleaner) -> None:
    hidden, shown = "<w:rPr><w:vanish/></w:rPr>", '<w:rPr><w:vanish w:val="0"/></w:rPr>'
    data = build(
        p("在会议上的讲话")
        + f"<w:p>{r('正文')}{r('隐藏的关键词', hidden)}{r('堆砌SEO', hidden)}{r('继续。')}</w:p>"
        + f"<w:p>{r('不隐藏', shown)}{r('的字。')}</w:p>"
        + p("整段隐藏", "<w:pPr/>").replace("<w:r>", f"<w:r>{hidden}")
    )
    result = extracted(data)
    assert result.text.split("\n") == ["在会议上的讲话", "正文继续。", "不隐藏的字。"]
    assert dropped(result, "docx_hidden_text") == ["隐藏的关键词堆砌SEO", "整段隐藏"]
    assert dict(result.found)["hidden_text"] == 2
    record = cleaner.clean(data, "hidden.docx")
    assert "隐藏的关键词" not in record.text
    assert [r.text.strip() for r in record.removed if r.rule == "docx_hidden_text"] == [
        "隐藏的关键词堆砌SEO",
        "整段隐藏",
    ]
    assert replay(record, record.normalized_text) == record.text


def test_a_page_break_in_a_paragraph_ends_the_line() -> None:
    data = build(
        '<w:p><w:r><w:t>上一页末尾</w:t><w:br w:type="page"/><w:t>下一页开头</w:t>'
        '<w:br w:type="column"/><w:t>下一栏</w:t><w:br/><w:t>下一行</w:t></w:r></w:p>'
    )
    assert body_lines(data) == ["上一页末尾", "下一页开头", "下一栏", "下一行"]


# --- F15, F16, F17: package variants -----------------------------------------------------------------

MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


def retyped(data: bytes, content_type: str) -> bytes:
    return rezip(
        data,
        lambda name, content: (
            name,
            content.replace(MAIN.encode(), content_type.encode())
            if name == "[Content_Types].xml"
            else content,
        ),
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.ms-word.document.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
        "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
    ],
    ids=["docm", "dotx", "dotm"],
)
def test_macro_enabled_documents_and_templates_are_read(content_type: str) -> None:
    assert body_lines(retyped(build(p("启用宏的文档正文。")), content_type)) == ["启用宏的文档正文。"]


def test_a_strict_open_xml_document_is_read() -> None:
    strict = {
        b"http://schemas.openxmlformats.org/wordprocessingml/2006/main": b"http://purl.oclc.org/ooxml/wordprocessingml/main",
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships": (
            b"http://purl.oclc.org/ooxml/officeDocument/relationships"
        ),
        b"http://schemas.openxmlformats.org/officeDocument/2006/math": b"http://purl.oclc.org/ooxml/officeDocument/math",
    }

    def to_strict(name: str, content: bytes) -> tuple[str, bytes]:
        for transitional, replacement in strict.items():
            content = content.replace(transitional, replacement)
        return name, content

    data = rezip(build(p("严格模式保存的正文。") + numbered("第一项"), numbering=OUTLINE), to_strict)
    assert b"purl.oclc.org/ooxml/officeDocument/relationships/officeDocument" in zipfile.ZipFile(
        io.BytesIO(data)
    ).read("_rels/.rels")
    assert body_lines(data) == ["严格模式保存的正文。", "一、第一项"]


def test_the_main_part_is_found_through_the_package_relationships() -> None:
    def rename(name: str, content: bytes) -> tuple[str, bytes]:
        if name in ("[Content_Types].xml", "_rels/.rels"):
            content = content.replace(b"word/document.xml", b"word/document2.xml")
        if name == "word/document.xml":
            name = "word/document2.xml"
        if name == "word/_rels/document.xml.rels":
            name = "word/_rels/document2.xml.rels"
        return name, content

    data = rezip(build(p("主文档部件改名后的正文。")), rename)
    assert b"word/document.xml" not in data
    assert body_lines(data) == ["主文档部件改名后的正文。"]


def test_a_package_without_its_main_part_is_malformed_with_a_stable_message() -> None:
    data = rezip(
        build(p("正文。")), lambda name, content: (name.replace("document.xml", "gone.xml"), content)
    )
    messages = set()
    for _ in range(2):
        with pytest.raises(RejectedInput) as raised:
            extract(data)
        assert raised.value.reason == "malformed"
        messages.add(raised.value.detail)
    assert len(messages) == 1 and not re.search(r"0x[0-9a-f]{6,}", messages.pop())


def test_a_damaged_part_is_malformed_with_a_stable_message() -> None:
    data = rezip(
        build(p("正文。")),
        lambda name, content: (name, content[:200] if name == "word/document.xml" else content),
    )
    with pytest.raises(RejectedInput) as raised:
        extract(data)
    assert raised.value.reason == "malformed"
    assert "one of its parts is damaged (XMLSyntaxError" in raised.value.detail
    assert " at 0x" not in raised.value.detail
