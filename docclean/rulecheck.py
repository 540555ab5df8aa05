"""`docclean rules check`: what the noise rules do to a raw folder, and what they miss.

Each raw file is cleaned as `docclean run` would clean it (without writing anything). Per rule
the check counts hits, documents and characters removed and keeps a few distinct matches; then
it lists the lines of the clean texts that still look like noise (a QQ number, 微信, 公众号, a
URL, a phone number, an e-mail address, a vendor's name), grouped by identical line and most
frequent first: the candidates for the next rule. Lines that recur in many documents without
any noise signal (a shop's slogan no rule names) are counted across the folder as the corpus pass
counts them (`boilerplate.LineCounts`) and listed most frequent first, with a rules-file snippet
that removes the top ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from docclean.boilerplate import DEFAULT_RULES, BoilerplateRules, LineCounts, LineStat, lines_with
from docclean.console import make_console
from docclean.errors import DoccleanError, RejectedInput
from docclean.pipeline import CleanConfig, Cleaner
from docclean.placeholders import DEFAULT_TOKEN
from docclean.record import Record
from docclean.rules import NoiseRule, vendor_names
from docclean.terminal import escape

SAMPLES_PER_RULE = 3
# Candidate lines printed; the rest are counted in one sentence.
MAX_CANDIDATES_SHOWN = 50
MAX_SHOWN_CHARS = 100
# Recurring lines printed, and how many of the top ones the ready rules snippet covers.
MAX_RECURRING_SHOWN = 20
SNIPPET_LINES = 5


class RuleCheckError(DoccleanError):
    """The raw folder to check cannot be read."""


@dataclass
class RuleUse:
    """What one rule removed over the raw folder."""

    rule: NoiseRule
    hits: int = 0
    chars: int = 0
    documents: int = 0
    samples: list[str] = field(default_factory=list)


@dataclass
class NoiseCandidate:
    """A kept line that looks like noise; `files` holds where it occurs (first occurrence first)."""

    line: str
    signals: tuple[str, ...]
    files: list[str] = field(default_factory=list)


@dataclass
class RuleCheck:
    raw: str
    files: int
    uses: list[RuleUse]
    candidates: list[NoiseCandidate]
    rejected: list[tuple[str, str]]
    # Lines in at least `min_documents` files (rules/boilerplate.toml) without a noise signal
    # and not a speech convention, most frequent first.
    recurring: list[LineStat] = field(default_factory=list)


def vendor_pattern(rules: tuple[NoiseRule, ...]) -> re.Pattern[str]:
    """Any of the vendor and site names the rules name (`rules.vendor_names`), longest first."""
    names = sorted(vendor_names(rules), key=len, reverse=True)
    return re.compile("|".join(re.escape(name) for name in names) or "(?!)")


def noise_signals(
    line: str, vendors: re.Pattern[str], boilerplate: BoilerplateRules = DEFAULT_RULES
) -> tuple[str, ...]:
    """Names of what makes a kept line look like noise: the candidate signals of
    rules/boilerplate.toml that it carries, in the table's order, then `vendor` when it names one."""
    found = list(boilerplate.candidate_signals_of(line))
    if vendors.search(line):
        found.append("vendor")
    return tuple(found)


def check_files(
    raw: str, files: Sequence[tuple[str, Callable[[], bytes]]], rules_file: Path | None = None
) -> RuleCheck:
    """Clean every raw file with the effective rules and gather what each rule did and missed.

    `raw` names the folder in the output; `files` are its files as (source_path, read), in
    order, `read` giving the bytes or raising OSError (the caller scans: flows.rulecheck); a
    file holding the first copy of a recurring line is read twice (one gone or changed by then
    leaves the counts, and another file gives the line).
    """
    cleaner = Cleaner(CleanConfig(rules_file=rules_file))
    uses = {rule.id: RuleUse(rule) for rule in cleaner.rules.rules}
    vendors = vendor_pattern(cleaner.rules.rules)
    candidates: dict[str, NoiseCandidate] = {}
    counts = LineCounts()
    rejected: list[tuple[str, str]] = []
    checked = 0
    for name, read in files:
        checked += 1
        try:
            record = cleaner.clean(read(), name)
        except RejectedInput as error:
            rejected.append((name, error.detail))
            continue
        except OSError as error:
            rejected.append((name, f"The file cannot be read ({error.strerror})."))
            continue
        _count_removals(record, uses)
        counts.set_document(name, record.text)
        for line in record.text.split("\n"):
            signals = noise_signals(line, vendors, counts.rules)
            if signals:
                candidates.setdefault(line, NoiseCandidate(line, signals)).files.append(name)
    ranked = sorted(candidates.values(), key=lambda candidate: -len(candidate.files))
    # The counts keep no text: the few files that hold the first copy of a recurring line are cleaned again.
    readers = dict(files)
    while wanted := counts.wanted_lines():
        for name, values in wanted.items():
            try:
                text = cleaner.clean(readers[name](), name).text
                counts.set_lines(name, lines_with(text, values, counts.rules.edge_lines))
            except (OSError, RejectedInput, ValueError):
                # Gone or changed since it was counted: its lines are taken from the other files.
                counts.remove_documents([name])
    return RuleCheck(raw, checked, list(uses.values()), ranked, rejected, counts.candidates())


_RUNS = (r"\s*", "[0-9０-９]+")


def line_pattern(line: str) -> str:
    """A regex matching the whole line up to what `line_key` folds: digits, whitespace, placeholders.

    Rules run before placeholders are replaced, so the token stands for any short redaction.
    """
    parts: list[str] = []
    for ch in line.strip().replace(DEFAULT_TOKEN, "\0"):
        if ch == "\0":
            token = ".{1,8}?"
        elif ch.isspace():
            token = r"\s*"
        elif ch in "0123456789０１２３４５６７８９":
            token = "[0-9０-９]+"
        else:
            token = re.escape(ch)
        if not (parts and parts[-1] == token and token in _RUNS):
            parts.append(token)
    return r"^\s*" + "".join(parts) + r"\s*$"


def rule_snippet(stats: list[LineStat]) -> str:
    """A rules-file (TOML) snippet with one line rule per recurring line, to paste into --rules.

    Each rule matches its whole line only (anchored, digits and whitespace free), so a sentence
    that merely contains the line's words stays. Category `boilerplate`; ids recurring_line_N.
    """
    blocks = []
    for number, stat in enumerate(stats, 1):
        blocks.append(
            f"# seen in {stat.documents} documents ({stat.first} at the start, {stat.last} at the end)\n"
            f'[[rule]]\nid = "recurring_line_{number}"\ncategory = "boilerplate"\nscope = "line"\n'
            f"regex = true\npattern = {json.dumps(line_pattern(stat.line), ensure_ascii=False)}\n"
        )
    return "\n".join(blocks)


def _count_removals(record: Record, uses: dict[str, RuleUse]) -> None:
    for removal in record.removed:
        use = uses[removal.rule]
        use.hits += 1
        use.chars += len(removal.text)
        match = removal.text.strip("\n")
        if len(use.samples) < SAMPLES_PER_RULE and match not in use.samples:
            use.samples.append(match)
    for rule in {removal.rule for removal in record.removed}:
        uses[rule].documents += 1


def _shown(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """One line of at most `limit` characters: line breaks become ↵, the rest is cut with …."""
    flat = text.replace("\n", "↵")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def print_rule_check(check: RuleCheck, console: Console | None = None) -> None:
    # Every cell is a Text, never markup: documents contain brackets such as [MASK].
    console = console or make_console()
    cleaned = check.files - len(check.rejected)
    # Headings are lines of their own: a table title would wrap to the table's width.
    console.print(
        Text(
            f"Noise rules over {escape(check.raw)}: {cleaned} files cleaned, {len(check.rejected)} rejected",
            style="bold",
        )
    )
    rules = Table()
    for column in ("rule", "category", "scope"):
        rules.add_column(column, no_wrap=True)
    for column in ("hits", "docs", "chars"):
        rules.add_column(column, justify="right", no_wrap=True)
    ranked = sorted(check.uses, key=lambda use: (-use.hits, use.rule.id))
    for use in ranked:
        rules.add_row(
            Text(use.rule.id),
            Text(use.rule.category),
            Text(use.rule.scope),
            str(use.hits),
            str(use.documents),
            str(use.chars),
            style=None if use.hits else "dim",
        )
    console.print(rules)
    # Samples below the table, one per line: they stay readable in a narrow terminal.
    if any(use.samples for use in ranked):
        console.print(Text(f"Sample matches (up to {SAMPLES_PER_RULE} distinct per rule):"))
    for use in ranked:
        if use.samples:
            console.print(Text(f"{use.rule.id}:", style="bold"))
            for sample in use.samples:
                console.print(Text("  ").append(_shown(sample), style="red"))
    if check.rejected:
        console.print(Text(f"Rejected files ({len(check.rejected)}):"))
        for name, detail in check.rejected:
            console.print(Text(f"  {escape(name)}: {escape(detail)}"))
    _print_recurring(check, console)
    if not check.candidates:
        console.print(Text("No kept line looks like noise: no candidate for a new rule."))
        return
    shown = check.candidates[:MAX_CANDIDATES_SHOWN]
    console.print(
        Text(
            f"Kept lines that look like noise ({len(check.candidates)}): candidates for a new rule",
            style="bold",
        )
    )
    lines = Table()
    lines.add_column("files", justify="right", no_wrap=True)
    lines.add_column("signals", no_wrap=True)
    lines.add_column("line", overflow="fold")
    lines.add_column("first file")
    for candidate in shown:
        lines.add_row(
            str(len(candidate.files)),
            Text(", ".join(candidate.signals)),
            Text(_shown(candidate.line)),
            Text(escape(candidate.files[0])),
        )
    console.print(lines)
    if len(check.candidates) > len(shown):
        console.print(Text(f"… and {len(check.candidates) - len(shown)} more lines not shown."))


def _print_recurring(check: RuleCheck, console: Console) -> None:
    if not check.recurring:
        return
    shown = check.recurring[:MAX_RECURRING_SHOWN]
    console.print(
        Text(
            f"Lines seen in many documents without a noise signal ({len(check.recurring)}): "
            "boilerplate candidates",
            style="bold",
        )
    )
    lines = Table()
    for column in ("documents", "first", "last"):
        lines.add_column(column, justify="right", no_wrap=True)
    lines.add_column("line", overflow="fold")
    for stat in shown:
        lines.add_row(str(stat.documents), str(stat.first), str(stat.last), Text(_shown(stat.line)))
    console.print(lines)
    if len(check.recurring) > len(shown):
        console.print(Text(f"… and {len(check.recurring) - len(shown)} more lines not shown."))
    top = check.recurring[:SNIPPET_LINES]
    console.print(
        Text(f"To remove the top {len(top)} as noise, add this to a rules file and pass it with --rules:")
    )
    console.print(Text(rule_snippet(top)), soft_wrap=True)
