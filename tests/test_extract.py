"""Extraction: .docx, PDF and saved pages become the same documents as their text; bad ones are rejected.

Every file is built by the libraries themselves (tests/extract_documents.py): the seeds (when
../shared/seeds is beside the project) and the project's samples, each as a .docx, a PDF and a saved page.
"""

from __future__ import annotations

import io
import logging
import re
import time
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docclean.errors import RejectedInput
from docclean.extract import Dropped, append_dropped, extract, sniff
from docclean.extract import docx as docx_module
from docclean.noise import apply_removals
from docclean.pipeline import Cleaner, replay
from docclean.placeholders import DEFAULT_TOKEN
from docclean.record import Record
from docclean.report import rebuild_normalized_text
from tests.conftest import SAMPLES_DIR, SEEDS_DIR, seed_files
from tests.extract_documents import (
    AD_BLOCK,
    NAVIGATION,
    RUNNING_HEADER,
    SIDEBAR,
    VENDOR_FOOTER,
    VENDOR_HEADER,
    WATERMARK,
    docx_bytes,
    html_page,
    mhtml_bytes,
    ole_bytes,
    pdf_bytes,
    scanned_pdf_bytes,
)


def _texts() -> list[tuple[str, str]]:
    """(name, text) of each seed and each project sample, decoded by the pipeline's own decoder."""
    from docclean.decode import decode_bytes

    paths = sorted(SAMPLES_DIR.glob("*.txt")) + seed_files()
    return [(path.name, decode_bytes(path.read_bytes()).text) for path in paths]


TEXTS = _texts()
SEEDS_PRESENT = bool(seed_files())
_DOCX = docx_bytes(["在会议上的讲话", "同志们："], table_rows=[["一", "二"]])


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner()


def _assert_auditable(record: Record) -> None:
    """Replay is exact, the row alone rebuilds the normalized text, nothing visible is lost."""
    assert replay(record, record.normalized_text) == record.text
    assert rebuild_normalized_text(record.text, record.placeholders, record.removed) == record.normalized_text
    kept = re.sub(r"\s", "", record.normalized_text)
    accounted = (
        re.sub(r"\s", "", "".join(r.text for r in record.removed))
        + re.sub(r"\s", "", record.text.replace(DEFAULT_TOKEN, ""))
        + "".join(p.original for p in record.placeholders)
    )
    assert sorted(kept) == sorted(accounted)


def test_seeds_are_present_or_the_run_says_so() -> None:
    if not SEEDS_PRESENT:
        pytest.skip(f"{SEEDS_DIR} is absent: only the project's samples are extracted")
    assert len(TEXTS) >= 10


@pytest.mark.parametrize(("name", "text"), TEXTS, ids=[name for name, _ in TEXTS])
def test_docx_gives_the_texts_clean_text(cleaner: Cleaner, name: str, text: str) -> None:
    """Vendor lines in the header and footer, a WordArt watermark, three lines in a table.

    No difference is forced: a paragraph per line, the table's one-cell rows are lines, the
    header and footer lines are removed by the noise rules as in a text file.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    reference = cleaner.clean(text.encode("utf-8"), name)
    at = min(3, len(lines))
    table = [[line] for line in lines[at : at + 3]]
    data = docx_bytes(lines[:at] + lines[at + 3 :], table_rows=table, table_at=at)
    record = cleaner.clean(data, name + ".docx")
    assert record.source_format == "docx" and record.page_count is None and record.encoding is None
    assert record.text == reference.text
    assert record.title == reference.title
    rules = {r.rule for r in record.removed}
    assert "docx_watermark" in rules
    assert [r.text.strip() for r in record.removed if r.rule == "docx_watermark"] == [WATERMARK]
    removed_text = "".join(r.text for r in record.removed)
    assert VENDOR_HEADER in removed_text and VENDOR_FOOTER in removed_text
    assert dict(record.extraction)["tables"] == 1
    _assert_auditable(record)


@pytest.mark.parametrize(("name", "text"), TEXTS, ids=[name for name, _ in TEXTS])
def test_pdf_gives_the_texts_clean_text(cleaner: Cleaner, name: str, text: str) -> None:
    """Typeset in STSong-Light, hard-wrapped at 60 columns with indented paragraphs, a running
    header, a vendor line and page numbers on every page.

    Built from the text file's normalized text, one paragraph per line (a hard-wrapped text
    file, like the GB18030 sample, is rejoined in both). Forced difference: where a paragraph
    breaks on a page is a guess of the normalize stage's rejoining (a wrapped line that happens
    to end in `）` or a paragraph that happens to fill the width look like each other), so the
    texts are compared without their line breaks, and most paragraphs must come back whole.
    """
    reference = cleaner.clean(text.encode("utf-8"), name)
    # Two pages at least: on a single page a running header cannot be told from a title.
    data = pdf_bytes(reference.normalized_text, pages_at_least=2)
    record = cleaner.clean(data, name + ".pdf")
    assert record.source_format == "pdf" and record.encoding is None
    assert record.page_count is not None and record.page_count >= 2
    assert "".join(record.text.split()) == "".join(reference.text.split())
    paragraphs = reference.text.split("\n")
    whole = set(record.text.split("\n"))
    rejoined = any(edit.rule == "rejoin_wrapped_lines" for edit in record.normalizations)
    # Known failure: a short text of headings and one-line paragraphs has too few lines at one
    # width for the normalize stage to call it hard-wrapped (it needs 35 % of the lines), so it
    # stays wrapped; its characters still all come back in order (checked above).
    assert sum(paragraph in whole for paragraph in paragraphs) >= 0.6 * len(paragraphs) or not rejoined
    assert record.title == reference.title or not rejoined
    furniture = [r.text.strip() for r in record.removed if r.rule == "pdf_page_furniture"]
    assert record.page_count >= 2
    assert furniture.count(RUNNING_HEADER) == record.page_count
    assert furniture.count(VENDOR_HEADER) == record.page_count
    assert [line for line in furniture if line.startswith("-")] == [
        f"- {n} -" for n in range(1, record.page_count + 1)
    ]
    _assert_auditable(record)


@pytest.mark.parametrize(("name", "text"), TEXTS, ids=[name for name, _ in TEXTS])
def test_saved_page_gives_the_texts_clean_text(cleaner: Cleaner, name: str, text: str) -> None:
    """A GBK page with navigation, an ad block, a sidebar and a footer, saved as .txt.

    Forced difference: HTML collapses runs of whitespace inside a paragraph into one space.
    """
    collapsed = "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    reference = cleaner.clean(collapsed.encode("utf-8"), name)
    try:
        page = html_page(collapsed, "gbk")
        codec = "gb18030"
    except UnicodeEncodeError:
        page = html_page(collapsed, "utf-8")
        codec = "utf-8"
    record = cleaner.clean(page, name)
    assert record.source_format == "html"
    assert (record.encoding, record.encoding_method) == (codec, "declared")
    assert record.text == reference.text
    boilerplate = {r.text.strip() for r in record.removed if r.rule == "html_boilerplate"}
    assert {*NAVIGATION, AD_BLOCK, *SIDEBAR} <= boilerplate
    for noise in (*NAVIGATION, AD_BLOCK, *SIDEBAR, "广告位", "_hmt"):
        assert noise not in record.text
    _assert_auditable(record)


def test_mhtml_page_is_its_html_part(cleaner: Cleaner) -> None:
    text = (SAMPLES_DIR / "民主生活会发言提纲_gbk.txt").read_bytes().decode("gbk")
    record = cleaner.clean(mhtml_bytes(text), "page.mhtml")
    assert record.source_format == "mhtml"
    assert record.encoding == "gb18030"
    assert record.text == cleaner.clean(text.encode(), "page.txt").text
    _assert_auditable(record)


def test_mhtml_with_a_damaged_charset_is_decoded_like_text(cleaner: Cleaner) -> None:
    # A NUL in the declared charset (found by the mutation property) is no codec name: the page is
    # decoded as text is, never a ValueError out of codecs.lookup.
    text = (SAMPLES_DIR / "民主生活会发言提纲_gbk.txt").read_bytes().decode("gbk")
    archive = mhtml_bytes(text).replace(b'charset="gb2312"', b'charset="\x00gb2312"')
    assert b"\x00gb2312" in archive
    record = cleaner.clean(archive, "page.mhtml")
    assert record.source_format == "mhtml"
    assert record.text == cleaner.clean(text.encode(), "page.txt").text


def test_page_without_declaration_is_decoded_like_text(cleaner: Cleaner) -> None:
    page = html_page("在会议上的讲话\n同志们：\n今天的会议很重要，大家要认真学习领会。", "gbk").replace(
        b'<meta charset="gbk">', b""
    )
    record = cleaner.clean(page, "page.htm")
    assert record.encoding == "gb18030" and record.encoding_method != "declared"
    assert "今天的会议很重要" in record.text


def test_docx_reads_tables_row_by_row_and_footnotes_and_drops_text_boxes() -> None:
    data = docx_bytes(
        ["在会议上的讲话", "同志们："],
        table_rows=[["项目", "完成情况"], ["党建", "良好"]],
        text_box="扫码关注公众号",
    )
    extracted = extract(data)
    assert extracted is not None
    assert extracted.text.split("\n") == [
        VENDOR_HEADER,
        "在会议上的讲话",
        "同志们：",
        "项目\t完成情况",
        "党建\t良好",
        VENDOR_FOOTER,
    ]
    assert sorted(d.text for d in extracted.dropped) == sorted([WATERMARK, "扫码关注公众号"])
    assert {d.rule for d in extracted.dropped} == {"docx_watermark"}


def test_pdf_furniture_is_only_what_repeats_at_the_edges() -> None:
    from docclean.extract.pdf import split_furniture

    pages = [
        ["机关党建文稿", "第一段正文开始", "正文继续", "第1页"],
        ["机关党建文稿", "机关党建文稿是本文讨论的对象", "正文", "第2页"],
        ["机关党建文稿", "结尾", "3/3"],
    ]
    kept, dropped = split_furniture(pages)
    assert kept == ["第一段正文开始", "正文继续", "机关党建文稿是本文讨论的对象", "正文", "结尾"]
    assert [d.text for d in dropped] == [
        "机关党建文稿",
        "第1页",
        "机关党建文稿",
        "第2页",
        "机关党建文稿",
        "3/3",
    ]
    # A one-page document has no running header to find; its page number still goes.
    kept, dropped = split_furniture([["标题", "正文", "1"]])
    assert kept == ["标题", "正文"] and [d.text for d in dropped] == ["1"]


@pytest.mark.parametrize("normalized", ["", "正文", "标题\n正文"], ids=["empty", "one line", "two lines"])
def test_append_dropped_replays_to_the_normalized_text(normalized: str) -> None:
    dropped = (Dropped("r1", "c", "页眉 一"), Dropped("r2", "c", " 页脚\n二 "), Dropped("r3", "c", "  "))
    text, removals = append_dropped(normalized, dropped)
    assert apply_removals(text, removals) == normalized
    assert [r.text.strip() for r in removals] == ["页眉 一", "页脚 二"]
    assert "\n\n" not in text and not text.startswith("\n") and not text.endswith("\n")


def test_plain_text_is_not_extracted(cleaner: Cleaner) -> None:
    for data in (b"", "在会议上的讲话".encode("gbk"), b"<p>not a page</p>", b"PK\x03\x04 not a docx"):
        assert sniff(data) is None
    record = cleaner.clean("在会议上的讲话\n同志们：".encode("gbk"), "a.txt")
    assert record.source_format == "text" and record.page_count is None and record.encoding == "gb18030"


# --- Bad documents: each gets one clear reason -------------------------------------------------


def _rejected(cleaner: Cleaner, data: bytes, name: str = "bad") -> RejectedInput:
    with pytest.raises(RejectedInput) as rejected:
        cleaner.clean(data, name)
    assert rejected.value.detail.endswith((".", ")")), rejected.value.detail
    return rejected.value


def test_malformed_documents_are_rejected_malformed(cleaner: Cleaner) -> None:
    docx = docx_bytes(["在会议上的讲话"])
    assert _rejected(cleaner, docx[: len(docx) // 2]).reason == "malformed"
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            target.writestr(item, content[:100] if item.filename == "word/document.xml" else content)
    assert _rejected(cleaner, damaged.getvalue()).reason == "malformed"
    assert _rejected(cleaner, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n").reason == "malformed"
    assert _rejected(cleaner, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)).reason == "malformed"


def test_what_pypdf_logs_is_counted_not_printed(cleaner: Cleaner, caplog: pytest.LogCaptureFixture) -> None:
    # A damaged PDF pypdf reads anyway (a wrong startxref offset), and one it cannot read: its
    # warnings reach neither the console nor a log; the reject's reason or the count says it.
    data = pdf_bytes("关于召开安全生产工作会议的通知\n各单位：现将有关事项通知如下。")
    pointer = re.search(rb"startxref\s+(\d+)", data)
    assert pointer is not None
    damaged = data[: pointer.start(1)] + str(int(pointer.group(1)) + 7).encode() + data[pointer.end(1) :]
    with caplog.at_level(logging.DEBUG):
        record = cleaner.clean(damaged, "damaged.pdf")
        assert _rejected(cleaner, b"%PDF-1.4\n1 0 obj<<>>endobj\n").reason == "malformed"
    assert "关于召开安全生产工作会议的通知" in record.text
    assert dict(record.extraction)["pypdf_warnings"] >= 1
    assert (
        dict(cleaner.clean(pdf_bytes("在会议上的讲话"), "clean.pdf").extraction).get("pypdf_warnings") is None
    )
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert logging.getLogger("pypdf").propagate and not logging.getLogger("pypdf").handlers


def test_encrypted_documents_are_rejected_encrypted(cleaner: Cleaner) -> None:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdf_bytes("在会议上的讲话\n同志们：")))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    locked = io.BytesIO()
    writer.write(locked)
    rejected = _rejected(cleaner, locked.getvalue())
    assert rejected.reason == "encrypted" and "password" in rejected.detail
    # A password-protected .docx is an OLE2 container with an EncryptedPackage stream.
    package = ole_bytes({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\x01" * 5000})
    assert _rejected(cleaner, package, "secret.docx").reason == "encrypted"


def test_pdf_locked_only_for_its_owner_is_read(cleaner: Cleaner) -> None:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdf_bytes("在会议上的讲话\n同志们：今天开会。")))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    locked = io.BytesIO()
    writer.write(locked)
    assert "同志们：今天开会。" in cleaner.clean(locked.getvalue(), "owner.pdf").text


def test_scanned_pdf_is_rejected_no_text_layer(cleaner: Cleaner) -> None:
    rejected = _rejected(cleaner, scanned_pdf_bytes(), "scan.pdf")
    assert rejected.reason == "no_text_layer"
    assert rejected.detail == (
        "The PDF's 2 page(s) have no text layer (a scan): docclean does not OCR; run OCR first "
        "(e.g. ocrmypdf) and drop the result."
    )


def test_legacy_doc_is_rejected_with_how_to_convert(cleaner: Cleaner) -> None:
    rejected = _rejected(cleaner, ole_bytes({"WordDocument": b"\xec\xa5" + bytes(600), "1Table": bytes(100)}))
    assert rejected.reason == "unsupported_format"
    assert "soffice --headless --convert-to docx" in rejected.detail


def test_other_ole_and_zip_files_stay_binary(cleaner: Cleaner) -> None:
    assert _rejected(cleaner, ole_bytes({"Workbook": bytes(100)})).reason == "binary"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as target:
        target.writestr("xl/workbook.xml", "<workbook/>")
    assert _rejected(cleaner, archive.getvalue()).reason == "binary"


def _bounded(cleaner: Cleaner, data: bytes, seconds: float = 10.0) -> RejectedInput:
    started = time.perf_counter()
    rejected = _rejected(cleaner, data)
    assert time.perf_counter() - started < seconds
    return rejected


def test_docx_bomb_is_rejected_before_it_is_inflated(
    cleaner: Cleaner, monkeypatch: pytest.MonkeyPatch
) -> None:
    docx = docx_bytes(["在会议上的讲话"])
    bomb = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(docx)) as source,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "word/document.xml":
                # 64 MB of empty paragraphs: deflate packs them about 1,000 times.
                content = content.replace(b"<w:body>", b"<w:body>" + b"<w:p/>" * 11_000_000)
            target.writestr(item.filename, content, zipfile.ZIP_DEFLATED)
    data = bomb.getvalue()
    assert len(data) < 1_000_000
    rejected = _bounded(cleaner, data)
    assert rejected.reason == "too_large" and "document bomb" in rejected.detail
    # Within the ratio, the total the directory promises is bounded too.
    monkeypatch.setattr(docx_module, "MAX_UNCOMPRESSED_BYTES", len(docx))
    assert _bounded(cleaner, docx).reason == "too_large"


def _pdf_of_objects(objects: list[bytes]) -> bytes:
    """A well-formed PDF of `objects` (numbered from 1, the first the catalog), with its xref table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _pdf_with_page_tree(count: int) -> bytes:
    """A PDF of `count` pages in a few hundred kilobytes: one page object, referenced `count` times."""
    kids = " ".join(["3 0 R"] * count)
    return _pdf_of_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Count {count} /Kids [{kids}] >>".encode(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>",
        ]
    )


def test_pdf_of_100000_pages_is_rejected_too_large(cleaner: Cleaner) -> None:
    rejected = _bounded(cleaner, _pdf_with_page_tree(100_000))
    assert rejected.reason == "too_large" and "100,000 pages" in rejected.detail


def test_pdf_nested_deeply_is_rejected(cleaner: Cleaner) -> None:
    depth = 200_000
    nested = b"[" * depth + b"]" * depth
    data = _pdf_of_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Nested " + nested + b" >>",
            b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Contents 4 0 R >>",
            b"<< /Length 20 >>\nstream\nBT /F1 12 Tf ET\nendstream",
        ]
    )
    assert _bounded(cleaner, data).reason in {"malformed", "no_text_layer"}


def test_missing_library_is_unsupported_format_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    # The .docx reader needs lxml (it reads the package's XML parts itself).
    def without_lxml(name: str, *args: object, **kwargs: object) -> object:
        if name == "lxml" or name.startswith("lxml."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_lxml)
    with pytest.raises(RejectedInput) as rejected:
        extract(_DOCX)
    assert rejected.value.reason == "unsupported_format"
    assert rejected.value.detail == (
        "The file is a .docx document, which needs the library lxml, a dependency of docclean that "
        "cannot be imported here: reinstall docclean (`pip install docclean`) and run again."
    )


# --- Fuzzing: mutated real files never raise anything but a reject ------------------------------

_REAL_FILES = [
    _DOCX,
    pdf_bytes("在会议上的讲话\n同志们：今天召开会议。\n" + "一、提高认识，统一思想。" * 8, lines_per_page=4),
    html_page("在会议上的讲话\n同志们：今天召开会议。"),
    mhtml_bytes("在会议上的讲话\n同志们：今天召开会议。"),
    ole_bytes({"WordDocument": bytes(600)}),
]


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_REAL_FILES)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 64))]
        else:
            del data[max(8, position) :]
    return bytes(data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_documents())
def test_mutated_documents_clean_or_reject(cleaner: Cleaner, data: bytes) -> None:
    try:
        record = cleaner.clean(data, "fuzz")
    except RejectedInput as rejected:
        assert rejected.reason and rejected.detail
        return
    _assert_auditable(record)


@pytest.mark.parametrize("kept", [0.01, 0.05, 0.5, 0.99])
def test_a_docx_cut_short_is_malformed_not_binary_text(kept: float) -> None:
    # A download cut short keeps the archive's first parts: [Content_Types].xml, the relations,
    # perhaps no word/ part at all.
    data = docx_bytes(["同志们，今天我们召开会议。" * 50])
    with pytest.raises(RejectedInput) as raised:
        extract(data[: max(100, int(len(data) * kept))])
    assert raised.value.reason == "malformed"


def test_an_excel_or_powerpoint_file_is_an_unsupported_format() -> None:
    for part in ("xl/workbook.xml", "ppt/presentation.xml"):
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as package:
            package.writestr("[Content_Types].xml", "<Types/>")
            package.writestr(part, "<x/>")
        with pytest.raises(RejectedInput) as raised:
            extract(archive.getvalue())
        assert raised.value.reason == "unsupported_format"
        assert "not Word (an Excel or PowerPoint file)" in raised.value.detail
