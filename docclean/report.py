"""`docclean report`: one self-contained HTML page describing the curated dataset, with plots.

The page needs nothing but a browser: the plots are inline SVG drawn here (no plotting library,
no scripts), and a Content-Security-Policy forbids every external resource, so a page that
tried to load one would show an error in the browser console instead of quietly depending on
the network. Every string taken from the dataset is HTML-escaped: documents hold arbitrary text.

For each noise rule the page shows a few of the spans it removed inside the text around them,
so a person can judge the rule's precision at a glance. The context is the normalized text the
removal offsets index, rebuilt from the row alone (see `rebuild_normalized_text`).

The duplicates section comes from the rows' `dup_cluster` column; the boilerplate candidates from
the line counts the corpus pass keeps in the snapshot (`corpus/lines.parquet` and
`corpus/line_texts.parquet`). A dataset written before the corpus pass existed has neither, and
the page says so.

Nothing here opens a file: flows.dataset hands over the current snapshot's tables as pyarrow
datasets (a local folder or object storage alike) and writes the page where it belongs.
"""

from __future__ import annotations

import html
import math
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from docclean.boilerplate import LineCounts, LineStat
from docclean.dedup import DedupIndex
from docclean.errors import DoccleanError
from docclean.placeholders import restore_placeholders
from docclean.record import Placeholder, Removal
from docclean.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA

REPORT_FILE_NAME = "report.html"
# Enough distinct samples to see a pattern in what a rule removes, few enough to read them all.
SAMPLES_PER_RULE = 5
# Characters of normalized text shown on each side of a removed span.
CONTEXT_CHARS = 40
HISTOGRAM_BINS = 20
# A bar chart with more categories than this (flags such as rule_timeout:<rule> can multiply)
# shows the largest and says how many more there are.
MAX_BARS = 25
MAX_REJECTS_LISTED = 20
# The largest clusters listed with their members, and the members shown of each.
MAX_CLUSTERS_LISTED = 5
MAX_MEMBERS_LISTED = 10
MAX_BOILERPLATE_CANDIDATES = 20

# The id of every plot, in page order; the browser test checks each is rendered.
PLOT_IDS = (
    "plot-documents-per-day",
    "plot-encodings",
    "plot-scripts",
    "plot-rule-hits",
    "plot-rule-chars",
    "plot-placeholders",
    "plot-lengths",
    "plot-rejects",
    "plot-flags",
    "plot-cluster-sizes",
)

SUMMARY_COLUMNS = [
    "encoding",
    "source_script",
    "placeholders",
    "removed",
    "flags",
    "char_count",
    "ingested_at",
    "rules_version",
    "pipeline_version",
    "source_present",
]
SAMPLE_COLUMNS = ["source_path", "text", "placeholders", "removed"]
CLUSTER_COLUMNS = ["doc_id", "source_path", "title", "dup_cluster", "dup_similarity"]


class ReportError(DoccleanError):
    """The report cannot be made: the curated folder is missing or the page cannot be written."""


@dataclass(frozen=True, slots=True)
class RuleTotal:
    """What one noise rule removed over the whole dataset."""

    rule: str
    category: str
    hits: int
    chars: int
    documents: int


@dataclass(frozen=True, slots=True)
class RemovalSample:
    """A removed span and the normalized text on either side of it (empty when unavailable).

    `cut_before`/`cut_after` say whether the document goes on beyond the context shown.
    """

    source_path: str
    before: str
    removed: str
    after: str
    has_context: bool
    cut_before: bool = False
    cut_after: bool = False


@dataclass(frozen=True, slots=True)
class RejectRow:
    source_path: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class ClusterMember:
    source_path: str
    title: str
    similarity: float


@dataclass(frozen=True, slots=True)
class DuplicateCluster:
    """A cluster of two or more documents; `members` starts with the representative."""

    size: int
    members: list[ClusterMember]


@dataclass(frozen=True, slots=True)
class CorpusView:
    """Duplicates and boilerplate candidates; `has_state` is False for a dataset without a corpus pass."""

    has_state: bool = False
    deduplicated: int = 0
    cluster_sizes: tuple[tuple[str, int], ...] = ()
    clusters: tuple[DuplicateCluster, ...] = ()
    boilerplate_candidates: tuple[LineStat, ...] = ()


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """Everything the report shows; counts are (label, count) pairs in display order."""

    curated: str
    has_snapshot: bool
    documents: int
    characters: int
    missing_sources: int
    per_day: list[tuple[str, int]]
    encodings: list[tuple[str, int]]
    scripts: list[tuple[str, int]]
    placeholders: list[tuple[str, int]]
    flags: list[tuple[str, int]]
    lengths: list[tuple[str, int]]
    reject_reasons: list[tuple[str, int]]
    rejects: list[RejectRow]
    reject_count: int
    rules: list[RuleTotal]
    samples: dict[str, list[RemovalSample]]
    rules_versions: list[tuple[str, int]]
    pipeline_versions: list[tuple[str, int]]
    corpus: CorpusView = CorpusView()


# ----------------------------------------------------------------------------------------------
# Reading the dataset


def rule_totals(removed: pa.ChunkedArray | pa.Array) -> list[RuleTotal]:
    """Hits, characters and documents per rule from a `removed` column, most hits first."""
    if isinstance(removed, pa.ChunkedArray):
        removed = removed.combine_chunks()
    flat = pc.list_flatten(removed)
    rows = pc.list_parent_indices(removed).to_pylist()
    rules = pc.struct_field(flat, "rule").to_pylist()
    categories = pc.struct_field(flat, "category").to_pylist()
    lengths = pc.utf8_length(pc.struct_field(flat, "text")).to_pylist()
    hits: Counter[str] = Counter(rules)
    chars: Counter[str] = Counter()
    category_of: dict[str, str] = {}
    documents: set[tuple[str, int]] = set()
    for rule, category, length, row in zip(rules, categories, lengths, rows, strict=True):
        chars[rule] += length
        category_of.setdefault(rule, category)
        documents.add((rule, row))
    per_rule_documents = Counter(rule for rule, _ in documents)
    return [
        RuleTotal(rule, category_of[rule], count, chars[rule], per_rule_documents[rule])
        for rule, count in sorted(hits.items(), key=lambda item: (-item[1], item[0]))
    ]


def rebuild_normalized_text(
    text: str, placeholders: Sequence[Placeholder], removed: Sequence[Removal]
) -> str:
    """The normalized text a row's removal offsets index, from the row alone.

    Putting each placeholder's original back gives the text after noise removal; inserting
    every removed span at its offset then gives the text before it. Raises ValueError when the
    annotations do not fit the text.
    """
    stripped = restore_placeholders(text, placeholders)
    pieces: list[str] = []
    normalized_position = 0
    stripped_position = 0
    for removal in sorted(removed, key=lambda r: r.offset):
        kept_length = removal.offset - normalized_position
        if kept_length < 0 or stripped_position + kept_length > len(stripped):
            raise ValueError(f"Removal {removal.text!r} ({removal.rule}) does not fit at {removal.offset}.")
        pieces += [stripped[stripped_position : stripped_position + kept_length], removal.text]
        stripped_position += kept_length
        normalized_position = removal.offset + len(removal.text)
    pieces.append(stripped[stripped_position:])
    return "".join(pieces)


def collect_samples(
    dataset: ds.Dataset, rules: Sequence[str], per_rule: int = SAMPLES_PER_RULE
) -> dict[str, list[RemovalSample]]:
    """Up to `per_rule` distinct removed spans per rule, in context, in dataset order.

    Reads batches only until every rule has its samples, so a large dataset is not read whole.
    """
    samples: dict[str, list[RemovalSample]] = {rule: [] for rule in rules}
    seen: dict[str, set[str]] = {rule: set() for rule in rules}

    def wanted(rule: str, text: str) -> bool:
        return len(samples[rule]) < per_rule and text.strip() not in seen[rule]

    for batch in dataset.to_batches(columns=SAMPLE_COLUMNS):
        for row in batch.to_pylist():
            if not any(wanted(removal["rule"], removal["text"]) for removal in row["removed"]):
                continue
            removals = [Removal(**removal) for removal in row["removed"]]
            try:
                normalized = rebuild_normalized_text(
                    row["text"], [Placeholder(**p) for p in row["placeholders"]], removals
                )
            except ValueError:
                # An edited or damaged row: its span is still worth showing, without context.
                normalized = None
            for removal in removals:
                if not wanted(removal.rule, removal.text):
                    continue
                seen[removal.rule].add(removal.text.strip())
                samples[removal.rule].append(_sample(row["source_path"], removal, normalized))
        if all(len(found) >= per_rule for found in samples.values()):
            break
    return samples


def _sample(source_path: str, removal: Removal, normalized: str | None) -> RemovalSample:
    if normalized is None:
        return RemovalSample(source_path, "", removal.text, "", has_context=False)
    start = max(0, removal.offset - CONTEXT_CHARS)
    end = removal.offset + len(removal.text)
    return RemovalSample(
        source_path,
        before=normalized[start : removal.offset],
        removed=removal.text,
        after=normalized[end : end + CONTEXT_CHARS],
        has_context=True,
        cut_before=start > 0,
        cut_after=end + CONTEXT_CHARS < len(normalized),
    )


def _nice_bin_width(raw: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `raw`."""
    if raw <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= raw)


def length_histogram(lengths: Sequence[int], bins: int = HISTOGRAM_BINS) -> list[tuple[str, int]]:
    """Document lengths in bins of a round width, from the shortest bin used to the longest."""
    if not lengths:
        return []
    width = _nice_bin_width(max(lengths) / bins)
    counts = Counter(length // width for length in lengths)
    return [
        (f"{index * width:,}–{(index + 1) * width - 1:,}", counts[index])
        for index in range(min(counts), max(counts) + 1)
    ]


def documents_per_day(ingested: Sequence[datetime]) -> list[tuple[str, int]]:
    """Rows per UTC ingest day, days without rows included so gaps show."""
    counts = Counter(moment.astimezone(UTC).date() for moment in ingested)
    if not counts:
        return []
    first, last = min(counts), max(counts)
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [(day.isoformat(), counts.get(day, 0)) for day in days]


def _counted(values: Sequence[object]) -> list[tuple[str, int]]:
    return [(str(key), count) for key, count in Counter(values).most_common()]


def cluster_view(table: pa.Table) -> tuple[int, list[tuple[str, int]], list[DuplicateCluster]]:
    """From CLUSTER_COLUMNS rows: the deduplicated count, clusters per size (largest size first),
    and the MAX_CLUSTERS_LISTED largest clusters (ties by representative's source path)."""
    rows = [row for row in table.to_pylist() if row["dup_cluster"] is not None]
    by_cluster: dict[str, list[dict]] = {}
    for row in rows:
        by_cluster.setdefault(row["dup_cluster"], []).append(row)
    path_of = {row["doc_id"]: row["source_path"] for row in rows}
    sizes = Counter(len(members) for members in by_cluster.values() if len(members) > 1)
    largest = sorted(
        (members for members in by_cluster.values() if len(members) > 1),
        key=lambda members: (-len(members), path_of.get(members[0]["dup_cluster"], "")),
    )[:MAX_CLUSTERS_LISTED]
    clusters = []
    for members in largest:
        ordered = sorted(
            members,
            key=lambda r: (r["doc_id"] != r["dup_cluster"], -(r["dup_similarity"] or 0), r["source_path"]),
        )
        clusters.append(
            DuplicateCluster(
                len(members),
                [
                    ClusterMember(r["source_path"], r["title"] or "", float(r["dup_similarity"] or 0))
                    for r in ordered[:MAX_MEMBERS_LISTED]
                ],
            )
        )
    per_size = [(f"{size} documents", count) for size, count in sorted(sizes.items(), reverse=True)]
    return len(by_cluster), per_size, clusters


def corpus_view(documents: ds.Dataset, state: tuple[DedupIndex, LineCounts] | None) -> CorpusView:
    """The duplicates and boilerplate candidates of a snapshot: its documents and its corpus state (None: absent)."""
    table = documents.to_table(columns=CLUSTER_COLUMNS)
    if state is None and table.column("dup_cluster").null_count == table.num_rows:
        return CorpusView()
    deduplicated, sizes, clusters = cluster_view(table)
    candidates = state[1].candidates(MAX_BOILERPLATE_CANDIDATES) if state is not None else []
    return CorpusView(True, deduplicated, tuple(sizes), tuple(clusters), tuple(candidates))


def summarize(
    curated: str,
    documents: ds.Dataset | None,
    rejects: ds.Dataset | None,
    state: tuple[DedupIndex, LineCounts] | None,
) -> DatasetSummary:
    """Count what the report shows of a dataset's current snapshot, its two tables as handed (None: no snapshot yet).

    `curated` is the name the page shows; `state` the snapshot's corpus state (docclean.corpus_state).
    """
    has_snapshot = documents is not None
    documents = documents if documents is not None else ds.dataset(DOCUMENT_SCHEMA.empty_table())
    rejects = rejects if rejects is not None else ds.dataset(REJECT_SCHEMA.empty_table())
    table = documents.to_table(columns=SUMMARY_COLUMNS)
    rejected = rejects.to_table(columns=["source_path", "reason", "detail"])
    totals = rule_totals(table.column("removed"))
    flat_placeholders = pc.list_flatten(table.column("placeholders"))
    return DatasetSummary(
        curated=curated,
        has_snapshot=has_snapshot,
        documents=table.num_rows,
        characters=pc.sum(table.column("char_count")).as_py() or 0,
        missing_sources=table.num_rows - (pc.sum(table.column("source_present")).as_py() or 0),
        per_day=documents_per_day(table.column("ingested_at").to_pylist()),
        encodings=_counted(table.column("encoding").to_pylist()),
        scripts=_counted(table.column("source_script").to_pylist()),
        placeholders=_counted(pc.struct_field(flat_placeholders, "kind").to_pylist()),
        flags=_counted(pc.list_flatten(table.column("flags")).to_pylist()),
        lengths=length_histogram(table.column("char_count").to_pylist()),
        reject_reasons=_counted(rejected.column("reason").to_pylist()),
        rejects=[RejectRow(**row) for row in rejected.slice(0, MAX_REJECTS_LISTED).to_pylist()],
        reject_count=rejected.num_rows,
        rules=totals,
        samples=collect_samples(documents, [total.rule for total in totals]),
        rules_versions=_counted(table.column("rules_version").to_pylist()),
        pipeline_versions=_counted(table.column("pipeline_version").to_pylist()),
        corpus=corpus_view(documents, state),
    )


# ----------------------------------------------------------------------------------------------
# SVG plots

FONT_PX = 12
ROW_PX = 22
PAD_PX = 8
MAX_LABEL_PX = 220


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _display_width(text: str, font_px: float = FONT_PX) -> float:
    """Approximate rendered width: wide (CJK) characters take a full em, others about 0.6 em."""
    return sum(font_px if unicodedata.east_asian_width(ch) in "WF" else font_px * 0.6 for ch in text)


def _fit(text: str, max_px: float) -> str:
    if _display_width(text) <= max_px:
        return text
    kept = ""
    for ch in text:
        if _display_width(kept + ch + "…") > max_px:
            break
        kept += ch
    return kept + "…"


def _svg_open(plot_id: str, width: float, height: float, title: str) -> str:
    return (
        f'<svg id="{_esc(plot_id)}" class="plot" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-label="{_esc(title)}"><title>{_esc(title)}</title>'
    )


def empty_plot(plot_id: str, title: str, message: str, width: int) -> str:
    return (
        _svg_open(plot_id, width, 36, title)
        + f'<text x="{PAD_PX}" y="22" class="empty">{_esc(message)}</text></svg>'
    )


def bar_chart(plot_id: str, title: str, items: Sequence[tuple[str, int]], width: int = 560) -> str:
    """Horizontal bars, one row per label, largest first as given; the value after each bar."""
    if not items:
        return empty_plot(plot_id, title, "nothing to show", width)
    shown = list(items[:MAX_BARS])
    hidden = len(items) - len(shown)
    label_px = min(MAX_LABEL_PX, max(_display_width(label) for label, _ in shown)) + PAD_PX
    value_px = max(_display_width(f"{value:,}") for _, value in shown) + 2 * PAD_PX
    bar_space = width - label_px - value_px - PAD_PX
    largest = max(value for _, value in shown) or 1
    height = (len(shown) + (1 if hidden else 0)) * ROW_PX + 2 * PAD_PX
    parts = [_svg_open(plot_id, width, height, title)]
    for index, (label, value) in enumerate(shown):
        middle = PAD_PX + index * ROW_PX + ROW_PX / 2
        length = bar_space * value / largest
        parts.append(
            f"<g><title>{_esc(label)}: {value:,}</title>"
            f'<text x="{label_px:.1f}" y="{middle:.1f}" class="label" text-anchor="end" '
            f'dominant-baseline="central">{_esc(_fit(label, MAX_LABEL_PX))}</text>'
            f'<rect x="{label_px + PAD_PX:.1f}" y="{middle - ROW_PX / 2 + 3:.1f}" width="{length:.1f}" '
            f'height="{ROW_PX - 6}" class="bar"/>'
            f'<text x="{label_px + 2 * PAD_PX + length:.1f}" y="{middle:.1f}" class="value" '
            f'dominant-baseline="central">{value:,}</text></g>'
        )
    if hidden:
        middle = PAD_PX + len(shown) * ROW_PX + ROW_PX / 2
        parts.append(
            f'<text x="{label_px + PAD_PX:.1f}" y="{middle:.1f}" class="empty" dominant-baseline="central">'
            f"… and {hidden} more</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    plot_id: str, title: str, items: Sequence[tuple[str, int]], width: int = 1160, height: int = 220
) -> str:
    """Vertical bars in the given order (days, histogram bins); labels thinned to stay legible."""
    if not items:
        return empty_plot(plot_id, title, "nothing to show", width)
    left, right, top, bottom = 48, PAD_PX, 20, 36
    plot_width, plot_height = width - left - right, height - top - bottom
    slot = plot_width / len(items)
    bar_width = max(1.0, slot * 0.8)
    label_px = max(_display_width(label) for label, _ in items) + PAD_PX
    label_every = max(1, math.ceil(label_px / slot))
    largest = max(value for _, value in items) or 1
    baseline = top + plot_height
    parts = [
        _svg_open(plot_id, width, height, title),
        f'<line x1="{left}" y1="{baseline}" x2="{width - right}" y2="{baseline}" class="axis"/>',
        f'<text x="{left - 6}" y="{baseline}" class="value" text-anchor="end" dominant-baseline="central">0</text>',
        f'<text x="{left - 6}" y="{top}" class="value" text-anchor="end" dominant-baseline="central">'
        f"{largest:,}</text>",
    ]
    for index, (label, value) in enumerate(items):
        bar_height = plot_height * value / largest
        x = left + index * slot + (slot - bar_width) / 2
        center = left + index * slot + slot / 2
        parts.append(
            f"<g><title>{_esc(label)}: {value:,}</title>"
            f'<rect x="{x:.1f}" y="{baseline - bar_height:.1f}" width="{bar_width:.1f}" '
            f'height="{bar_height:.1f}" class="bar"/>'
        )
        if value and slot >= _display_width(f"{value:,}"):
            parts.append(
                f'<text x="{center:.1f}" y="{baseline - bar_height - 4:.1f}" class="value" '
                f'text-anchor="middle">{value:,}</text>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{center:.1f}" y="{baseline + 16}" class="label" text-anchor="middle">'
                f"{_esc(label)}</text>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


# ----------------------------------------------------------------------------------------------
# The page

STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei",
  "PingFang SC", sans-serif; margin: 24px auto; max-width: 1200px; color: #1f2933; padding: 0 16px; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #d9e2ec; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 8px; }
.meta { color: #52606d; font-size: 13px; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.figure { background: #f0f4f8; border-radius: 6px; padding: 8px 14px; }
.figure b { display: block; font-size: 22px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.card { border: 1px solid #d9e2ec; border-radius: 6px; padding: 12px; overflow: hidden; }
.wide { grid-column: 1 / -1; }
svg.plot { max-width: 100%; height: auto; font-size: 12px; }
svg .bar { fill: #3e7cb1; } svg .axis { stroke: #9aa5b1; }
svg .label { fill: #323f4b; } svg .value { fill: #52606d; } svg .empty { fill: #7b8794; font-style: italic; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 4px 10px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
ol.samples { margin: 4px 0 16px; padding-left: 24px; font-size: 13px; line-height: 1.7; }
.path { color: #7b8794; font-size: 12px; margin-right: 8px; }
.ctx { color: #52606d; }
mark.removed { background: #ffd8d8; color: #8a041a; border-radius: 2px; padding: 0 1px; }
.nl { color: #9aa5b1; }
"""

# Only inline styles may apply; scripts, fonts, images and connections of any kind are refused.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def _visible(text: str) -> str:
    """Escaped text with line breaks shown as a visible mark, so a removed line break is seen."""
    return '<span class="nl">↵</span>'.join(_esc(part) for part in text.split("\n"))


def _card(title: str, plot: str, note: str = "", wide: bool = False) -> str:
    extra = f'<p class="meta">{_esc(note)}</p>' if note else ""
    return f'<div class="card{" wide" if wide else ""}"><h3>{_esc(title)}</h3>{plot}{extra}</div>'


def _figures(summary: DatasetSummary) -> str:
    removed_chars = sum(total.chars for total in summary.rules)
    placeholders = sum(count for _, count in summary.placeholders)
    figures = [
        ("documents", f"{summary.documents:,}"),
        ("rejected files", f"{summary.reject_count:,}"),
        ("characters of text", f"{summary.characters:,}"),
        ("noise spans removed", f"{sum(total.hits for total in summary.rules):,}"),
        ("noise characters removed", f"{removed_chars:,}"),
        ("placeholders", f"{placeholders:,}"),
        ("raw files gone", f"{summary.missing_sources:,}"),
    ]
    cells = "".join(f'<div class="figure"><b>{value}</b>{_esc(name)}</div>' for name, value in figures)
    return f'<div class="figures">{cells}</div>'


def _plots(summary: DatasetSummary) -> str:
    hits = [(total.rule, total.hits) for total in summary.rules]
    chars = sorted(((total.rule, total.chars) for total in summary.rules), key=lambda item: -item[1])
    cards = [
        _card(
            "Documents per ingest day (UTC)",
            column_chart("plot-documents-per-day", "Documents per ingest day", summary.per_day),
            "The day each row was last written: a file cleaned again counts on its new day.",
            wide=True,
        ),
        _card("Encodings", bar_chart("plot-encodings", "Documents per encoding", summary.encodings)),
        _card("Source scripts", bar_chart("plot-scripts", "Documents per source script", summary.scripts)),
        _card("Noise removed per rule: hits", bar_chart("plot-rule-hits", "Spans removed per rule", hits)),
        _card(
            "Noise removed per rule: characters",
            bar_chart("plot-rule-chars", "Characters removed per rule", chars),
        ),
        _card(
            "Placeholders by kind",
            bar_chart("plot-placeholders", "Placeholders per kind", summary.placeholders),
        ),
        _card(
            "Document lengths (characters of clean text)",
            column_chart("plot-lengths", "Documents per length bin", summary.lengths, width=560),
        ),
        _card(
            "Rejected files by reason",
            bar_chart("plot-rejects", "Rejects per reason", summary.reject_reasons),
        ),
        _card("Flags", bar_chart("plot-flags", "Documents per flag", summary.flags)),
    ]
    return f'<div class="grid">{"".join(cards)}</div>'


def _sample_item(sample: RemovalSample) -> str:
    if not sample.has_context:
        context_note = ' <span class="meta">(no context: the row’s annotations do not replay)</span>'
        return (
            f'<li><span class="path">{_esc(sample.source_path)}</span>'
            f'<mark class="removed">{_visible(sample.removed)}</mark>{context_note}</li>'
        )
    return (
        f'<li><span class="path">{_esc(sample.source_path)}</span>'
        f'<span class="ctx">{"…" if sample.cut_before else ""}{_visible(sample.before)}</span>'
        f'<mark class="removed">{_visible(sample.removed)}</mark>'
        f'<span class="ctx">{_visible(sample.after)}{"…" if sample.cut_after else ""}</span></li>'
    )


def _rules_section(summary: DatasetSummary) -> str:
    if not summary.rules:
        return "<h2 id='rules'>Noise rules</h2><p>No rule removed anything in this dataset.</p>"
    rows = "".join(
        f'<tr><td><a href="#rule-{_esc(t.rule)}">{_esc(t.rule)}</a></td><td>{_esc(t.category)}</td>'
        f'<td class="n">{t.hits:,}</td><td class="n">{t.documents:,}</td><td class="n">{t.chars:,}</td></tr>'
        for t in summary.rules
    )
    table = (
        "<table><thead><tr><th>rule</th><th>category</th><th>hits</th><th>documents</th>"
        f"<th>characters</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    blocks = []
    for total in summary.rules:
        items = "".join(_sample_item(sample) for sample in summary.samples.get(total.rule, []))
        blocks.append(
            f'<h3 id="rule-{_esc(total.rule)}">{_esc(total.rule)} '
            f'<span class="meta">[{_esc(total.category)}] {total.hits:,} hits</span></h3>'
            f'<ol class="samples">{items}</ol>'
        )
    return (
        "<h2 id='rules'>Noise rules</h2>"
        f"{table}<h2>What each rule removed, in context</h2>"
        f'<p class="meta">Up to {SAMPLES_PER_RULE} distinct spans per rule, highlighted inside the '
        f"normalized text around them ({CONTEXT_CHARS} characters each side; ↵ is a line break).</p>"
        + "".join(blocks)
    )


def _rejects_section(summary: DatasetSummary) -> str:
    if not summary.rejects:
        return ""
    rows = "".join(
        f"<tr><td>{_esc(r.source_path)}</td><td>{_esc(r.reason)}</td><td>{_esc(r.detail)}</td></tr>"
        for r in summary.rejects
    )
    more = summary.reject_count - len(summary.rejects)
    note = f'<p class="meta">… and {more:,} more in the rejects table.</p>' if more > 0 else ""
    return (
        "<h2 id='rejects'>Rejected files</h2><table><thead><tr><th>file</th><th>reason</th>"
        f"<th>detail</th></tr></thead><tbody>{rows}</tbody></table>{note}"
    )


def _duplicates_section(corpus: CorpusView) -> str:
    heading = "<h2 id='duplicates'>Duplicates and boilerplate</h2>"
    plot = bar_chart("plot-cluster-sizes", "Duplicate clusters per size", list(corpus.cluster_sizes))
    if not corpus.has_state:
        return (
            f"{heading}<p>This dataset has no duplicate clusters yet: it was written before the corpus "
            f"pass. Run <code>docclean run</code> again to compute them.</p>{_card('Clusters by size', plot)}"
        )
    blocks = []
    for cluster in corpus.clusters:
        items = "".join(
            f'<li><span class="path">{_esc(m.source_path)}</span>{_esc(m.title or "(no title)")} '
            f'<span class="meta">{"representative" if i == 0 else f"similarity {m.similarity:.2f}"}</span></li>'
            for i, m in enumerate(cluster.members)
        )
        more = cluster.size - len(cluster.members)
        items += f'<li class="meta">… and {more:,} more</li>' if more > 0 else ""
        blocks.append(f'<h3>{cluster.size:,} documents</h3><ol class="samples">{items}</ol>')
    rows = "".join(
        f'<tr><td class="n">{s.documents:,}</td><td class="n">{s.first:,}</td><td class="n">{s.last:,}</td>'
        f"<td>{_visible(s.line)}</td></tr>"
        for s in corpus.boilerplate_candidates
    )
    candidates = (
        "<table><thead><tr><th>documents</th><th>first lines</th><th>last lines</th><th>line</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
        if rows
        else "<p>No line recurs often enough without a noise signal.</p>"
    )
    return (
        f"{heading}<p>Deduplicated corpus: <b>{corpus.deduplicated:,}</b> documents (one per cluster; "
        "<code>WHERE doc_id = dup_cluster</code>).</p>"
        f"{_card('Clusters by size', plot)}"
        f"<h3>The largest clusters</h3>{''.join(blocks) or '<p>No document has a duplicate.</p>'}"
        "<h3>Boilerplate candidates: lines seen in N documents</h3>"
        '<p class="meta">Recurring lines without a noise signal, most frequent first: kept as content. '
        "<code>docclean rules check</code> prints a rule that removes them.</p>"
        f"{candidates}"
    )


def render_html(summary: DatasetSummary, generated_at: datetime) -> str:
    """The whole report page as one string."""
    versions = "; ".join(
        f"{label} " + ", ".join(f"{_esc(version)} ({count:,})" for version, count in counts)
        for label, counts in (("rules", summary.rules_versions), ("pipeline", summary.pipeline_versions))
        if counts
    )
    status = (
        ""
        if summary.has_snapshot
        else "<p><b>This folder holds no dataset yet</b>: run <code>docclean run</code> to make one.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="zh-Hans"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>docclean report: {_esc(summary.curated)}</title><style>{STYLE}</style></head><body>"
        "<h1>docclean dataset report</h1>"
        f'<p class="meta">Curated folder <code>{_esc(summary.curated)}</code>, '
        f"report made {generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        + (f". Versions: {versions}." if versions else ".")
        + f"</p>{status}{_figures(summary)}{_plots(summary)}{_rules_section(summary)}"
        f"{_duplicates_section(summary.corpus)}{_rejects_section(summary)}</body></html>\n"
    )


def rule_hits_markdown(documents: ds.Dataset, curated: str, html_report: tuple[str, datetime] | None) -> str:
    """A short Markdown summary for the Prefect run report: hits per rule, and where the HTML is.

    `html_report` is the written page's (location, modification time), None when there is none yet.
    """
    totals = rule_totals(documents.to_table(columns=["removed"]).column("removed"))
    lines = ["**Noise removed by rule (whole dataset)**\n"]
    if totals:
        lines += ["| rule | category | hits | documents | characters |", "|---|---|---:|---:|---:|"]
        lines += [f"| {t.rule} | {t.category} | {t.hits} | {t.documents} | {t.chars} |" for t in totals]
    else:
        lines.append("No rule removed anything.")
    command = f"`docclean report --curated {curated}`"
    if html_report is not None:
        where, written = html_report
        lines.append(
            f"\nHTML report with plots and sample removals per rule: `{where}` "
            f"(made {written:%Y-%m-%d %H:%M} UTC; {command} refreshes it)."
        )
    else:
        lines.append(f"\nFor plots and sample removals per rule in context, run {command}.")
    return "\n".join(lines) + "\n"
