"""`docclean report`: the summary of a curated dataset, its HTML page, and the page in a real browser."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flows.curate
import flows.summary
from docclean.boilerplate import LineCounts
from docclean.corpus_state import CORPUS_FOLDER, DEDUP_FILE, LINE_TEXTS_FILE, LINES_FILE
from docclean.dedup import DedupIndex, signature, text_sha256
from docclean.errors import DoccleanError
from docclean.pipeline import Cleaner
from docclean.record import Record, Reject, Removal
from docclean.report import (
    MAX_BARS,
    PLOT_IDS,
    SAMPLES_PER_RULE,
    ReportError,
    bar_chart,
    documents_per_day,
    length_histogram,
    rebuild_normalized_text,
    render_html,
)
from docclean.schema import records_to_table, rejects_to_table
from docclean_cli import main
from flows.dataset import dataset_report_markdown, summarize_dataset, write_report
from tests.conftest import ROOT, SAMPLES_DIR

FIRST_DAY = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
LATER_DAY = datetime(2024, 5, 3, 17, 0, tzinfo=UTC)
# Noise and a file name that would run script in the page if anything were left unescaped.
HOSTILE_NAME = "<img src=x onerror=alert(1)>.txt"
HOSTILE_TEXT = (
    "在全县工作会议上的讲话\n同志们：\n今天召开会议，部署全年工作任务，大家要把思想统一到会议精神上来。\n"
    '更多精品资料请访问 <script>alert("x")</script> & "more"\n'
)


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner()


@pytest.fixture(scope="module")
def sample_records(cleaner: Cleaner) -> list[Record]:
    return [cleaner.clean(path.read_bytes(), path.name) for path in sorted(SAMPLES_DIR.glob("*.txt"))]


def write_dataset(curated: Path, records: Sequence[Record], rejects: Sequence[Reject] = ()) -> None:
    """The layout a run leaves (documents/ and rejects/ of part files), as two runs two days apart."""
    documents = curated / "documents"
    documents.mkdir(parents=True)
    half = (len(records) + 1) // 2
    for number, (batch, day) in enumerate(((records[:half], FIRST_DAY), (records[half:], LATER_DAY))):
        if batch:
            table = records_to_table(batch, [0] * len(batch), day)
            pq.write_table(table, documents / f"part-{number:05d}.parquet")
    (curated / "rejects").mkdir()
    table = rejects_to_table(rejects, [None] * len(rejects), [None] * len(rejects), LATER_DAY)
    pq.write_table(table, curated / "rejects" / "part-00000.parquet")


class PageStructure(HTMLParser):
    """The elements, attributes and text of a page, as a browser's parser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.ids: set[str] = set()
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            self.attributes.append((tag, name, value))
            if name == "id" and value:
                self.ids.add(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> PageStructure:
    structure = PageStructure()
    structure.feed(page)
    structure.close()
    return structure


def test_rebuilt_normalized_text_is_the_pipelines(sample_records: list[Record]) -> None:
    for record in sample_records:
        rebuilt = rebuild_normalized_text(record.text, record.placeholders, record.removed)
        assert rebuilt == record.normalized_text, record.source_path


def test_rebuilding_refuses_removals_that_do_not_fit() -> None:
    overlapping = (Removal("a", "x", "abc", 0), Removal("b", "x", "def", 1))
    with pytest.raises(ValueError, match="does not fit"):
        rebuild_normalized_text("kept", (), overlapping)
    beyond = (Removal("a", "x", "abc", 10),)
    with pytest.raises(ValueError, match="does not fit"):
        rebuild_normalized_text("kept", (), beyond)


def test_summary_of_the_sample_dataset(tmp_path: Path, sample_records: list[Record]) -> None:
    write_dataset(tmp_path / "curated", sample_records)
    summary = summarize_dataset(tmp_path / "curated")

    assert summary.documents == 5 and summary.has_snapshot and summary.reject_count == 0
    assert summary.per_day == [("2024-05-01", 3), ("2024-05-02", 0), ("2024-05-03", 2)]
    assert dict(summary.encodings) == Counter(r.encoding for r in sample_records)
    assert dict(summary.scripts) == Counter(r.source_script for r in sample_records)
    assert dict(summary.placeholders) == Counter(p.kind for r in sample_records for p in r.placeholders)
    assert summary.characters == sum(r.char_count for r in sample_records)
    assert sum(count for _, count in summary.lengths) == 5
    removals = [removal for record in sample_records for removal in record.removed]
    assert {t.rule: t.hits for t in summary.rules} == Counter(r.rule for r in removals)
    assert {t.rule: t.chars for t in summary.rules} == {
        rule: sum(len(r.text) for r in removals if r.rule == rule) for rule in {r.rule for r in removals}
    }
    # copyright_notice removes 仅供学习 禁止外传 three times in one file: one document, five hits.
    copyright_notice = next(t for t in summary.rules if t.rule == "copyright_notice")
    assert (copyright_notice.hits, copyright_notice.documents) == (5, 3)


def test_samples_are_distinct_spans_inside_their_normalized_text(
    tmp_path: Path, sample_records: list[Record]
) -> None:
    write_dataset(tmp_path / "curated", sample_records)
    summary = summarize_dataset(tmp_path / "curated")
    normalized = {record.source_path: record.normalized_text for record in sample_records}

    assert set(summary.samples) == {t.rule for t in summary.rules}
    for rule, samples in summary.samples.items():
        assert 1 <= len(samples) <= SAMPLES_PER_RULE
        assert len({sample.removed.strip() for sample in samples}) == len(samples), rule
        for sample in samples:
            assert sample.has_context
            assert sample.before + sample.removed + sample.after in normalized[sample.source_path]
    [repeated_notice] = [
        s for s in summary.samples["copyright_notice"] if s.removed.startswith("仅供学习 禁止外传")
    ]
    assert repeated_notice.before.endswith("在2023年度民主生活会上的发言提纲\n")


def test_page_has_every_plot_and_escapes_what_documents_contain(
    tmp_path: Path, sample_records: list[Record], cleaner: Cleaner
) -> None:
    hostile = cleaner.clean(HOSTILE_TEXT.encode("utf-8"), HOSTILE_NAME)
    assert any("<script>" in removal.text for removal in hostile.removed)
    reject = Reject("<b>empty</b>.txt", None, "empty", "<b>empty</b>.txt: The file holds no text.")
    write_dataset(tmp_path / "curated", [*sample_records, hostile], [reject])

    page = render_html(summarize_dataset(tmp_path / "curated"), FIRST_DAY)
    structure = parse(page)

    assert set(PLOT_IDS) <= structure.ids
    assert structure.tags["svg"] == len(PLOT_IDS)
    # Nothing runs and nothing is fetched: no script, no external resource of any kind.
    assert not {"script", "img", "link", "iframe", "object", "embed"} & set(structure.tags)
    for tag, name, value in structure.attributes:
        assert not name.startswith("on"), (tag, name)
        if name in ("src", "href"):
            assert value and value.startswith("#"), (tag, name, value)
    text = "".join(structure.text)
    assert '<script>alert("x")</script> & "more"' in text
    assert HOSTILE_NAME in text and "<b>empty</b>.txt" in text
    assert "rule-advertising_line" in structure.ids


def test_empty_dataset_gives_a_page_with_empty_plots(tmp_path: Path) -> None:
    write_dataset(tmp_path / "curated", [])
    summary = summarize_dataset(tmp_path / "curated")
    assert summary.documents == 0 and summary.rules == [] and summary.per_day == []
    structure = parse(render_html(summary, FIRST_DAY))
    assert set(PLOT_IDS) <= structure.ids
    assert "No rule removed anything in this dataset." in "".join(structure.text)


def test_curated_folder_before_the_first_run_says_so(tmp_path: Path) -> None:
    (tmp_path / "curated").mkdir()
    summary = summarize_dataset(tmp_path / "curated")
    assert not summary.has_snapshot and summary.documents == 0
    assert "This folder holds no dataset yet" in render_html(summary, FIRST_DAY)


def test_missing_curated_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ReportError) as raised:
        write_report(missing)
    assert isinstance(raised.value, DoccleanError)
    assert str(raised.value) == (
        f"The curated folder {missing} does not exist; run `docclean run` first or pass --curated."
    )
    assert main(["report", "--curated", str(missing)]) == 1
    assert capsys.readouterr().err == (
        f"docclean: --curated {missing} does not exist; name the folder `docclean run --curated` wrote.\n"
    )


def test_cli_writes_the_page_into_the_curated_folder_by_default(
    tmp_path: Path, sample_records: list[Record], capsys: pytest.CaptureFixture[str]
) -> None:
    curated = tmp_path / "curated"
    write_dataset(curated, sample_records)
    assert main(["report", "--curated", str(curated)]) == 0
    assert capsys.readouterr().out == f"Wrote {curated / 'report.html'}: 5 documents, 0 rejected files.\n"
    assert (curated / "report.html").read_text("utf-8").startswith("<!DOCTYPE html>")
    out = tmp_path / "elsewhere" / "page.html"
    assert main(["report", "--curated", str(curated), "--out", str(out)]) == 0
    assert out.is_file() and not list(out.parent.glob(".*"))


def test_run_report_markdown_has_rule_hits_and_points_at_the_page(
    tmp_path: Path, sample_records: list[Record]
) -> None:
    curated = tmp_path / "curated"
    write_dataset(curated, sample_records)
    before = dataset_report_markdown(curated)
    assert "| copyright_notice | copyright | 5 | 3 | 74 |" in before
    assert f"run `docclean report --curated {curated}`" in before
    write_report(curated)
    assert f"`{(curated / 'report.html').resolve()}`" in dataset_report_markdown(curated)


def test_length_histogram_uses_round_bins_from_the_shortest_used() -> None:
    assert length_histogram([]) == []
    assert length_histogram([270, 280, 320, 486]) == [
        ("250–299", 2),
        ("300–349", 1),
        ("350–399", 0),
        ("400–449", 0),
        ("450–499", 1),
    ]
    assert length_histogram([0, 1, 3]) == [("0–0", 1), ("1–1", 1), ("2–2", 0), ("3–3", 1)]


def test_documents_per_day_fills_gaps_and_counts_utc_days() -> None:
    late_evening_in_utc = datetime(2024, 5, 2, 23, 30, tzinfo=UTC)
    assert documents_per_day([LATER_DAY, FIRST_DAY, late_evening_in_utc]) == [
        ("2024-05-01", 1),
        ("2024-05-02", 1),
        ("2024-05-03", 1),
    ]


def test_bar_chart_caps_its_rows_and_says_how_many_more() -> None:
    items = [(f"rule_timeout:rule{n}", 100 - n) for n in range(MAX_BARS + 4)]
    structure = parse(bar_chart("plot-flags", "Flags", items))
    assert structure.tags["rect"] == MAX_BARS
    assert "… and 4 more" in "".join(structure.text)


# ----------------------------------------------------------------------------------------------
# The page in a real browser: Debian's chromium, headless.

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "docs" / "report.png"
SCREENSHOT_SIZE = (1280, 2400)


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)",
)
def test_sample_report_renders_in_chromium_without_console_errors(
    tmp_path: Path, sample_records: list[Record], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The folder as a user names it, so the page (and the screenshot) shows `curated`.
    monkeypatch.chdir(tmp_path)
    write_dataset(Path("curated"), sample_records)
    page, _ = write_report(Path("curated"))
    url = Path(page).resolve().as_uri()

    rendered = chromium("--enable-logging=stderr", "--v=0", "--dump-dom", url, profile=tmp_path / "profile")
    dom = parse(rendered.stdout)
    assert set(PLOT_IDS) <= dom.ids
    assert dom.tags["svg"] == len(PLOT_IDS) and dom.tags["rect"] > 0
    assert "docclean dataset report" in "".join(dom.text)
    # Every message the page sends to the console (a script error, a resource the
    # Content-Security-Policy blocked) is logged by chromium as a CONSOLE line.
    problems = [line for line in rendered.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert problems == []

    shot = tmp_path / "report.png"
    width, height = SCREENSHOT_SIZE
    chromium(f"--screenshot={shot}", f"--window-size={width},{height}", url, profile=tmp_path / "profile")
    data = shot.read_bytes()
    assert png_size(data) == SCREENSHOT_SIZE and 20_000 < len(data) < 1_000_000
    # The committed screenshot is refreshed on request only: CI must not rewrite a tracked file.
    if os.environ.get("DOCCLEAN_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


@pytest.mark.usefixtures("prefect_harness")
def test_curate_run_report_carries_the_rule_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    artifacts: list[str] = []
    monkeypatch.setattr(
        flows.summary, "create_markdown_artifact", lambda markdown, **_: artifacts.append(markdown)
    )
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLES_DIR, raw)
    flows.curate.curate(raw=str(raw), curated=str(tmp_path / "curated"), settle_seconds=0)
    [markdown] = artifacts
    assert markdown.startswith("# docclean run report")
    assert "| copyright_notice | copyright | 5 | 3 | 74 |" in markdown
    assert f"`docclean report --curated {tmp_path / 'curated'}`" in markdown


def write_corpus_state(curated: Path, records: Sequence[Record]) -> None:
    """What the corpus pass leaves: cluster columns in the rows and its state beside documents/."""
    index = DedupIndex()
    index.update((r.doc_id, text_sha256(r.text), signature(r.text, r.placeholders)) for r in records)
    counts = LineCounts.of({record.doc_id: record.text for record in records})
    assignments = index.assignments()
    for part in (curated / "documents").glob("*.parquet"):
        table = pq.read_table(part)
        ids = table.column("doc_id").to_pylist()
        for name, values in (
            ("text_sha256", [assignments[i].text_sha256 for i in ids]),
            ("dup_cluster", [assignments[i].dup_cluster for i in ids]),
            ("dup_similarity", [assignments[i].dup_similarity for i in ids]),
        ):
            position = table.schema.get_field_index(name)
            kind = pa.float32() if name == "dup_similarity" else pa.string()
            table = table.set_column(position, table.schema.field(position), pa.array(values, kind))
        pq.write_table(table, part)
    (curated / CORPUS_FOLDER).mkdir()
    pq.write_table(index.to_table(), curated / CORPUS_FOLDER / DEDUP_FILE)
    lines, texts = counts.to_tables()
    pq.write_table(lines, curated / CORPUS_FOLDER / LINES_FILE)
    pq.write_table(texts, curated / CORPUS_FOLDER / LINE_TEXTS_FILE)


SHOP_LINE = '<i>青松书社</i> & "精选"'


@pytest.fixture
def dataset_with_duplicates(tmp_path: Path, sample_records: list[Record], cleaner: Cleaner) -> Path:
    copies = [
        cleaner.clean((HOSTILE_TEXT + SHOP_LINE + "\n" + "补充" * n).encode("utf-8"), f"<b>copy{n}</b>.txt")
        for n in range(6)
    ]
    records = [*sample_records, *copies]
    write_dataset(tmp_path / "curated", records)
    write_corpus_state(tmp_path / "curated", records)
    return tmp_path / "curated"


def test_duplicates_section_lists_clusters_and_candidates_escaped(dataset_with_duplicates: Path) -> None:
    summary = summarize_dataset(dataset_with_duplicates)
    corpus = summary.corpus
    assert corpus.has_state and corpus.deduplicated == summary.documents - 5
    assert corpus.cluster_sizes == (("6 documents", 1),)
    [cluster] = corpus.clusters
    assert cluster.size == 6 and cluster.members[0].source_path == "<b>copy0</b>.txt"
    assert {m.source_path for m in cluster.members} == {f"<b>copy{n}</b>.txt" for n in range(6)}
    # The copies share every line; conventions (同志们：, the title) are never candidates.
    candidates = [(s.line, s.documents) for s in corpus.boilerplate_candidates]
    assert (SHOP_LINE, 6) in candidates and all(n == 6 for _, n in candidates)
    assert "同志们：" not in {line for line, _ in candidates}

    structure = parse(render_html(summary, FIRST_DAY))
    text = "".join(structure.text)
    assert "plot-cluster-sizes" in structure.ids and "duplicates" in structure.ids
    assert not {"i", "script"} & set(structure.tags)  # the page itself uses <b>, never <i>
    assert "<b>copy3</b>.txt" in text and SHOP_LINE in text and "在全县工作会议上的讲话" in text
    assert f"Deduplicated corpus: {corpus.deduplicated:,} documents" in text


def test_dataset_written_before_the_corpus_pass_says_it_has_no_clusters(
    tmp_path: Path, sample_records: list[Record]
) -> None:
    write_dataset(tmp_path / "curated", sample_records)
    summary = summarize_dataset(tmp_path / "curated")
    assert not summary.corpus.has_state
    assert "it was written before the corpus pass" in render_html(summary, FIRST_DAY)
