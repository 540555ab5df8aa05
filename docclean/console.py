"""Terminal output of the CLI: the run summary, the progress bar and `inspect`'s highlighting."""

from __future__ import annotations

import bisect
import contextlib
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from docclean.record import Placeholder, Record
from docclean.terminal import escape

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
    pruned: int
    pending: int
    cleaned: int
    resumed: int
    rejected: int
    wrote: bool
    seconds: float
    noise_by_category: Counter[str]
    placeholders_by_kind: Counter[str]
    encodings: Counter[str]
    reject_reasons: Counter[str]


class _Console(Console):
    """rich's Console, leaving a closed pipe (`docclean inspect … | head`) to the command, which
    ends quietly with status 0, where rich ends the process with status 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def make_console(stderr: bool = False) -> Console:
    """A console for the CLI: never interprets brackets in text as markup; wraps only on a terminal."""
    console = _Console(stderr=stderr, markup=False, highlight=False)
    if not console.is_terminal:
        console = _Console(
            stderr=stderr, markup=False, highlight=False, width=UNWRAPPED_WIDTH, soft_wrap=True
        )
    return console


# Removed characters up to this many are shown as they are; more, as each distinct one's count.
_SHOWN_CHARACTERS = 40


def _characters(removed: str) -> str:
    """What a normalization took out, in one short line: `'\\u200b\\u3000'`, or for a long run
    (a padding of 512 NULs) `'\\x00' ×512`, each distinct character with its count."""
    if len(removed) <= _SHOWN_CHARACTERS:
        return repr(removed)
    return ", ".join(f"{char!r} ×{count}" for char, count in Counter(removed).most_common())


def _heading(console: Console, title: str) -> None:
    # A rule spans the console's width: on a terminal, the screen's; elsewhere a plain line.
    if console.is_terminal:
        console.rule(title)
    else:
        console.print(f"── {title} ──")


def _colourless(console: Console) -> bool:
    return console.color_system is None or console.no_color


# How often the progress goes to a log (stderr not a terminal): often enough to show life, rarely
# enough that a long run's log stays readable.
LOG_PROGRESS_SECONDS = 5.0


@contextlib.contextmanager
def progress_bar() -> Iterator[Callable[[int, int], None]]:
    """Progress on stderr while files are cleaned: a bar on a terminal, else a line every few seconds."""
    console = Console(stderr=True)
    if not console.is_terminal:
        with log_progress(LOG_PROGRESS_SECONDS) as advance:
            yield advance
        return
    columns = (
        TextColumn("cleaning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("clean", total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def progress_line(done: int, total: int, elapsed: float) -> str:
    """`cleaning: 1500/3000 files (50%), 12 s elapsed, ETA 12 s`; the ETA assumes the rate so far."""
    share = done / total if total else 1.0
    line = f"cleaning: {done}/{total} files ({share:.0%}), {elapsed:.0f} s elapsed"
    if 0 < done < total:
        line += f", ETA {elapsed * (total - done) / done:.0f} s"
    return line


@contextlib.contextmanager
def log_progress(interval: float) -> Iterator[Callable[[int, int], None]]:
    """Progress for a log: a line every `interval` seconds while files are cleaned, and one at the end."""
    started: list[float] = []  # when cleaning began: the first report, not the run's start-up
    state: dict[str, int] = {}
    finished = threading.Event()
    lock = threading.Lock()
    stop = threading.Event()

    def emit() -> None:
        with lock:
            if not state or finished.is_set():
                return
            if state["done"] == state["total"]:
                finished.set()
            line = progress_line(state["done"], state["total"], time.monotonic() - started[0])
            print(line, file=sys.stderr, flush=True)

    def tick() -> None:
        while not stop.wait(interval):
            emit()

    def advance(done: int, total: int) -> None:
        with lock:
            if not started:
                started.append(time.monotonic())
            state.update(done=done, total=total)
        if done == total:
            emit()

    ticker = threading.Thread(target=tick, name="docclean-progress", daemon=True)
    ticker.start()
    try:
        yield advance
    finally:
        stop.set()
        ticker.join()


def print_summary(counts: RunCounts, curated: str) -> None:
    """Print a flows.summary.RunSummary (typed by protocol: the core does not import flows)."""
    console = make_console()
    console.print(
        f"{counts.seen} {'file' if counts.seen == 1 else 'files'} seen: {counts.new} new, {counts.changed} changed, {counts.unchanged} unchanged, "
        f"{counts.renamed} renamed, {counts.missing} missing (rows kept), {counts.pruned} pruned, "
        f"{counts.rejected} rejected, {counts.pending} pending."
    )
    resumed = f", resumed {counts.resumed} from an interrupted run" if counts.resumed else ""
    console.print(
        f"Cleaned {counts.cleaned}, reused {counts.reused + counts.renamed}{resumed}, "
        f"rejected {counts.rejected}, in {counts.seconds:.1f} s."
    )
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
        f"{record.encoding} (confidence {record.encoding_confidence:.2f}, {record.encoding_method})"
        if record.encoding is not None
        else f"none: the {record.source_format} file holds its text as text, not bytes to decode",
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
            f"{edit.rule}: {edit.count}" + (f" took out {_characters(edit.removed)}" if edit.removed else ""),
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
