"""Terminal output of the CLI: the run summary, the progress bar and `inspect`'s highlighting."""

from __future__ import annotations

import bisect
import contextlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from docclean.arguments import escape
from docclean.record import Placeholder, Record

# Characters of clean text shown on each side of a placeholder in `inspect`'s list.
PLACEHOLDER_CONTEXT_CHARS = 8
# Width given to rich when output goes to a file or a pipe: wide enough that no line a document
# or a table holds is ever broken, which the reader's pager or editor does better.
UNWRAPPED_WIDTH = 100_000


class RunCounts(Protocol):
    seen: int
    new: int
    changed: int
    unchanged: int
    reused: int
    renamed: int
    missing: int
    pending: int
    cleaned: int
    rejected: int
    wrote: bool
    seconds: float
    noise_by_category: Counter[str]
    placeholders_by_kind: Counter[str]
    encodings: Counter[str]
    reject_reasons: Counter[str]


def make_console(stderr: bool = False) -> Console:
    """A console for the CLI: never interprets brackets in text as markup; wraps only on a terminal."""
    console = Console(stderr=stderr, markup=False, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, markup=False, highlight=False, width=UNWRAPPED_WIDTH, soft_wrap=True)
    return console


def _heading(console: Console, title: str) -> None:
    # A rule spans the console's width: on a terminal, the screen's; elsewhere a plain line.
    if console.is_terminal:
        console.rule(title)
    else:
        console.print(f"── {title} ──")


def _colourless(console: Console) -> bool:
    return console.color_system is None or console.no_color


@contextlib.contextmanager
def progress_bar() -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr while files are cleaned; silent when stderr is not a terminal."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda done, total: None
        return
    columns = (TextColumn("cleaning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("clean", total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def print_summary(counts: RunCounts, curated: str) -> None:
    """Print a flows.curate.RunSummary (typed by protocol: the library does not import flows)."""
    console = make_console()
    line = (
        f"{counts.seen} files seen: {counts.new} new, {counts.changed} changed, {counts.unchanged} unchanged, "
        f"{counts.pending} pending. Cleaned {counts.cleaned}, reused {counts.reused + counts.renamed}, "
        f"rejected {counts.rejected}, in {counts.seconds:.1f} s."
    )
    console.print(line)
    for title, table in (
        ("noise removed", counts.noise_by_category),
        ("placeholders", counts.placeholders_by_kind),
        ("encodings", counts.encodings),
        ("rejects", counts.reject_reasons),
    ):
        if table:
            console.print(f"  {title}: " + ", ".join(f"{k} {v}" for k, v in table.most_common()))
    # On object storage the current snapshot moves with each commit: `docclean path` resolves it.
    documents, rejects = (
        (f"`docclean path {escape(curated)}`", f"`docclean path {escape(curated)} --rejects`")
        if "://" in curated
        else (f"{escape(curated)}/documents", f"{escape(curated)}/rejects")
    )
    console.print(f"Dataset: {documents}" + ("" if counts.wrote else " (unchanged)"))
    if counts.rejected:
        console.print(f"Rejected files are listed in {rejects} with their reasons.")


def _highlight_removals(record: Record, colour: bool) -> Text:
    """The normalized text with each removal struck through in red, or `[-removed-]` (wdiff's
    notation) without colour, followed by its rule in ⟦⟧; the text's own lines are kept."""
    text = Text()
    position = 0
    source = record.normalized_text
    for removal in record.removed:
        text.append(source[position : removal.offset])
        if colour:
            text.append(removal.text, style="red strike")
        else:
            text.append(f"[-{removal.text}-]")
        text.append(f"⟦{removal.rule}⟧", style="bold red")
        position = removal.offset + len(removal.text)
    text.append(source[position:])
    return text


def placeholder_context(record: Record, placeholder: Placeholder) -> str:
    """Clean text around a placeholder on one line, widened so that no other token is cut."""
    text = record.text
    starts = [p.start for p in record.placeholders]
    start = max(0, placeholder.start - PLACEHOLDER_CONTEXT_CHARS)
    end = min(len(text), placeholder.end + PLACEHOLDER_CONTEXT_CHARS)
    cut_at_start = _token_around(record, starts, start)
    cut_at_end = _token_around(record, starts, end)
    start = cut_at_start.start if cut_at_start else start
    end = cut_at_end.end if cut_at_end else end
    return text[start:end].replace("\n", "↵")


def _token_around(record: Record, starts: list[int], position: int) -> Placeholder | None:
    """The placeholder whose token `position` falls strictly inside, if any (tokens do not overlap)."""
    index = bisect.bisect_right(starts, position) - 1
    if index >= 0 and record.placeholders[index].start < position < record.placeholders[index].end:
        return record.placeholders[index]
    return None


def print_inspection(record: Record, show_text: bool = False) -> None:
    console = make_console()
    facts = Table(show_header=False, box=None)
    facts.add_row("file", escape(record.source_path))
    if record.source_format != "text":
        pages = f", {record.page_count} pages" if record.page_count is not None else ""
        found = ", ".join(f"{part} {count}" for part, count in record.extraction)
        facts.add_row("extracted", f"{record.source_format}{pages}" + (f" ({found})" if found else ""))
    facts.add_row(
        "encoding",
        f"{record.encoding} (confidence {record.encoding_confidence:.2f}, {record.encoding_method})",
    )
    if len(record.encoding_segments) > 1:
        for segment in record.encoding_segments:
            facts.add_row("  segment", f"bytes {segment.start}-{segment.end}: {segment.encoding}")
    if record.repair:
        facts.add_row("repair", record.repair)
    facts.add_row(
        "language",
        f"{record.language} (confidence {record.language_confidence:.2f})" if record.language else "(none)",
    )
    facts.add_row("script", record.source_script)
    facts.add_row("title", Text(record.title or "(none)"))
    facts.add_row("type", record.doc_type or "(unknown)")
    facts.add_row("flags", ", ".join(record.flags) or "(none)")
    for edit in record.normalizations:
        facts.add_row(
            "normalized",
            f"{edit.rule}: {edit.count}" + (f" took out {edit.removed!r}" if edit.removed else ""),
        )
    console.print(facts)
    _heading(console, f"removed ({len(record.removed)})")
    for removal in record.removed:
        console.print(
            Text.assemble(
                (f"{removal.rule}", "bold red"),
                f" [{removal.category}] @{removal.offset}: ",
                (removal.text.replace("\n", "↵"), "red"),
            )
        )
    _heading(console, f"placeholders ({len(record.placeholders)})")
    for placeholder in record.placeholders:
        console.print(
            Text.assemble(
                (placeholder.original, "bold yellow"),
                f" -> {placeholder.kind}: ",
                placeholder_context(record, placeholder),
            )
        )
    if record.outline:
        _heading(console, "outline")
        for entry in record.outline:
            console.print(Text("  " * (entry.level - 1) + f"{entry.marker}{entry.heading}"))
    if show_text:
        _heading(console, "normalized text with removals")
        console.print(_highlight_removals(record, colour=not _colourless(console)))


def print_clean_text(record: Record) -> None:
    """The final `text` exactly, for a pipe or a file: nothing added, nothing wrapped."""
    sys.stdout.write(record.text + "\n")
