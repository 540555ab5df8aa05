"""Strip noise (notices, promo blocks, contacts, URLs, page markers, watermarks) from normalized text.

Pure: no I/O, no global state. The input is normalized text (lines joined by one `\\n`, no
empty lines, no spaces at a line's edges, no trailing newline) and so is the output. Every
removed span is recorded as a `Removal` whose offset indexes the input, so
`apply_removals(input, stripped.removed) == stripped.text` always holds.

Order of precedence for a line: block rules, then line rules, then repeated-line rules, then
inline rules (see docclean/rules.py for the rule format). A whole-line removal takes one
adjacent line break with it: the following one, or the preceding one when no kept line
follows (so the output never ends with a newline).

Speed. A line or inline rule is searched only in the lines its prefilter admits (a literal
the rule needs, a maximal length; see docclean/prefilter.py): a line no rule can match costs
a length test, or its share of one scan of the whole text for the scope's literals, and no
regex call.

Timeouts. A user's regex can backtrack catastrophically, so every regex call runs with the
`regex` module's `timeout`. Each rule (and the combined alternation of the line or inline
rules) gets a budget per document: `timeout` seconds (default 1 s, about 10^4 times what a
sane rule needs on a speech of 20,000 characters, so a loaded worker never trips it), plus
the same again per 100,000 characters for larger documents. A rule that exhausts its budget
is skipped for the whole document (the document is re-scanned without it, so it contributes
nothing) and its id is passed to `on_timeout`; nothing is raised. When the combined
alternation times out, the document is re-scanned rule by rule to find the culprit.
"""

from __future__ import annotations

import bisect
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate

import regex

from docclean.lines import iter_lines
from docclean.record import Removal, Stripped
from docclean.rules import CombinedScope, RuleSet, group_name

DEFAULT_TIMEOUT_SECONDS = 1.0
# Documents longer than this get a proportionally larger budget per rule.
_BUDGET_CHARS = 100_000


def apply_removals(text: str, removed: Sequence[Removal]) -> str:
    """Delete every removed span from `text` (the replay of `strip_noise`).

    Raises ValueError when a removal's text is not at its offset or removals overlap, so a
    stale or corrupted annotation cannot silently produce a wrong text.
    """
    parts: list[str] = []
    position = 0
    for removal in sorted(removed, key=lambda r: r.offset):
        end = removal.offset + len(removal.text)
        if removal.offset < position or text[removal.offset : end] != removal.text:
            raise ValueError(f"Removal {removal.text!r} ({removal.rule}) is not at offset {removal.offset}.")
        parts.append(text[position : removal.offset])
        position = end
    parts.append(text[position:])
    return "".join(parts)


def strip_noise(
    text: str,
    rules: RuleSet,
    on_timeout: Callable[[str], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    disabled: Collection[str] = (),
) -> Stripped:
    """Remove what the rules match; `on_timeout` receives the id of each rule skipped for time.

    The rules whose ids are in `disabled` are not run at all (a caller disables a rule that
    keeps timing out, so it stops costing its budget on every document).
    """
    if not text:
        return Stripped(text, ())
    budget = timeout * max(1.0, len(text) / _BUDGET_CHARS)
    skipped = {index for index, rule in enumerate(rules.rules) if rule.id in disabled}
    # A combined alternation would still find a disabled member's matches.
    use_combined = not any(index in rules.line.members or index in rules.inline.members for index in skipped)
    while True:
        scan = _Scan(rules, budget, skipped, use_combined)
        try:
            return _strip(text, rules, scan)
        except _Timeout as timed_out:
            # Re-scan from scratch so the skipped rule contributes nothing to this document.
            if timed_out.rule is None:
                use_combined = False
                continue
            skipped.add(timed_out.rule)
            if timed_out.rule in rules.line.members or timed_out.rule in rules.inline.members:
                use_combined = False
            if on_timeout is not None:
                on_timeout(rules.rules[timed_out.rule].id)


class _Timeout(Exception):
    """A rule (or, with rule None, a combined alternation) ran out of its budget."""

    def __init__(self, rule: int | None) -> None:
        super().__init__(rule)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    rule: int


class _Scan:
    """The regex calls of one pass over one document, with their time budgets."""

    def __init__(self, rules: RuleSet, budget: float, skipped: set[int], use_combined: bool) -> None:
        self.rules = rules
        self.budget = budget
        self.skipped = skipped
        self.use_combined = use_combined
        # Seconds spent so far, per rule index; None is the combined alternation.
        self.spent: Counter[int | None] = Counter()

    def search(
        self, pattern: regex.Pattern[str], key: int | None, subject: str, pos: int
    ) -> regex.Match[str] | None:
        remaining = self.budget - self.spent[key]
        if remaining <= 0:
            raise _Timeout(key)
        started = time.monotonic()
        try:
            return pattern.search(subject, pos, timeout=remaining)
        except TimeoutError:
            raise _Timeout(key) from None
        finally:
            self.spent[key] += time.monotonic() - started

    def first_nonempty(self, rule: int, subject: str, pos: int) -> _Hit | None:
        pattern = self.rules.patterns[rule]
        while pos <= len(subject):
            match = self.search(pattern, rule, subject, pos)
            if match is None:
                return None
            if match.end() > match.start():
                return _Hit(match.start(), match.end(), rule)
            pos = match.start() + 1
        return None

    def first_hit(self, scope: CombinedScope, subject: str, pos: int, admitted: Sequence[int]) -> _Hit | None:
        """The leftmost non-empty match of any rule of the scope from `pos`; first rule on a tie.

        `admitted` are the rules whose prefilter lets `subject` through (the others cannot
        match in it). The combined alternation finds the hit among its members in one call,
        unless it stops at an empty match, which could hide another member's match at the same
        place: then (and when combining is off) the admitted rules are searched one by one.
        """
        candidates: list[_Hit] = []
        one_by_one: Sequence[int] = [rule for rule in admitted if rule in scope.standalone]
        if self.use_combined and scope.combined is not None and len(admitted) > 1:
            match = self.search(scope.combined, None, subject, pos)
            if match is not None and match.end() > match.start():
                rule = next(i for i in scope.members if match.start(group_name(i)) != -1)
                candidates.append(_Hit(match.start(), match.end(), rule))
            elif match is not None:
                one_by_one = admitted
        else:
            one_by_one = admitted
        for rule in one_by_one:
            if rule not in self.skipped:
                hit = self.first_nonempty(rule, subject, pos)
                if hit is not None:
                    candidates.append(hit)
        return min(candidates, key=lambda hit: (hit.start, hit.rule), default=None)


class _Lines(Sequence[str]):
    """The lines of a text, sliced out of it when asked for: no Python object per line is held.

    `starts` holds each line's offset in the text, 8 bytes a line where a list of the lines
    costs 60-80 (800 MB for ten million one-character lines).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = array("q", accumulate((len(line) + 1 for line in iter_lines(text)), initial=0))
        self.starts.pop()  # the start of a line after the last one

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]  # no slices: nothing asks for one
        end = self.starts[index + 1] - 1 if index + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[index] : end]

    def __iter__(self) -> Iterator[str]:
        return iter_lines(self.text)


# `line_rule` of a line that no rule removes.
_KEPT = -1


def _strip(text: str, rules: RuleSet, scan: _Scan) -> Stripped:
    lines = _Lines(text)
    starts = lines.starts
    # Which rule removes each whole line (_KEPT for none), and the unit it goes in: the lines of
    # one block match form one unit (one Removal); every other removed line is its own unit.
    # Arrays, 4 bytes a line: a unit is below 2**31 (at most two per line of a bounded file).
    line_rule = array("i", [_KEPT]) * len(lines)
    line_unit = array("i", range(len(lines)))

    for unit, (first, last, rule) in enumerate(_block_matches(text, starts, rules, scan), start=len(lines)):
        for index in range(first, last + 1):
            if line_rule[index] == _KEPT:
                line_rule[index] = rule
                line_unit[index] = unit

    for index, admitted in _lines_to_search(rules.line, rules, lines, text, starts):
        if line_rule[index] == _KEPT:
            hit = scan.first_hit(rules.line, lines[index], 0, admitted)
            if hit is not None:
                line_rule[index] = hit.rule

    watermarks = _repeated_lines(lines, rules, scan)
    for index, line in enumerate(lines if watermarks else ()):
        if line_rule[index] == _KEPT and line in watermarks:
            line_rule[index] = watermarks[line]

    inline: list[Removal] = []
    for index, admitted in _lines_to_search(rules.inline, rules, lines, text, starts):
        line = lines[index]
        if line_rule[index] != _KEPT:
            continue
        spans = _inline_spans(line, admitted, rules, scan)
        if not spans:
            continue
        if _leaves_nothing(line, spans):
            line_rule[index] = spans[0].rule
            continue
        for span in spans:
            rule = rules.rules[span.rule]
            inline.append(
                Removal(rule.id, rule.category, line[span.start : span.end], starts[index] + span.start)
            )

    removed = inline + _line_removals(text, lines, starts, line_rule, line_unit, rules)
    removed.sort(key=lambda removal: removal.offset)
    return Stripped(apply_removals(text, removed), tuple(removed))


def _lines_to_search(
    scope: CombinedScope, rules: RuleSet, lines: Sequence[str], text: str, starts: Sequence[int]
) -> Iterator[tuple[int, list[int]]]:
    """Each line (by index, in order) that some rule of the scope may match, with those rules."""
    if scope.max_length is not None:
        # Paragraphs are long and the bounded rules look for short lines: a length test per
        # line rejects most of the text before any search.
        everyone = _checks(rules, sorted(scope.members + scope.standalone))
        for index, line in enumerate(lines):
            if len(line) <= scope.max_length and (admitted := _admitted(everyone, line)):
                yield index, admitted
        return
    with_literal = _lines_with_a_literal(scope, text, starts)
    literal_rules = _checks(rules, scope.literal_rules)
    if not scope.open_rules:
        for index in with_literal:
            if admitted := _admitted(literal_rules, lines[index]):
                yield index, admitted
        return
    open_rules = _checks(rules, scope.open_rules)
    # Both in increasing order: the next marked line is the only one to compare with.
    marked = next(with_literal, None)
    for index, line in enumerate(lines):
        admitted = _admitted(open_rules, line)
        if index == marked:
            admitted = sorted(admitted + _admitted(literal_rules, line))
            marked = next(with_literal, None)
        if admitted:
            yield index, admitted


# A rule, the longest line it can match, and a test that the line holds one of its literals.
_Check = tuple[int, int, Callable[[str], object] | None]


def _checks(rules: RuleSet, indexes: Sequence[int]) -> list[_Check]:
    """The rules' prefilters unpacked, to be tested on every line without a call per rule."""
    checks: list[_Check] = []
    for rule in indexes:
        prefilter = rules.prefilters[rule]
        if prefilter is None:
            checks.append((rule, sys.maxsize, None))
        else:
            bound = sys.maxsize if prefilter.max_length is None else prefilter.max_length
            checks.append((rule, bound, None if prefilter.finder is None else prefilter.finder.search))
    return checks


def _admitted(checks: list[_Check], line: str) -> list[int]:
    """The rules whose prefilter lets `line` through, in the order of `checks`."""
    length = len(line)
    return [
        rule
        for rule, bound, search in checks
        if length <= bound and (search is None or search(line) is not None)
    ]


def _lines_with_a_literal(scope: CombinedScope, text: str, starts: Sequence[int]) -> Iterator[int]:
    """The indexes, in increasing order, of the lines holding a literal of the scope's literal rules."""
    if scope.finder is None:
        return
    pos = 0
    while (match := scope.finder.search(text, pos)) is not None:
        index = bisect.bisect_right(starts, match.start()) - 1
        yield index
        if index + 1 == len(starts):
            break
        pos = starts[index + 1]


def _block_matches(
    text: str, starts: Sequence[int], rules: RuleSet, scan: _Scan
) -> list[tuple[int, int, int]]:
    """(first line, last line, rule) of every block match, in text order, first rule on a tie."""
    found: list[tuple[int, int, int]] = []
    for rule in rules.block:
        if rule in scan.skipped:
            continue
        pos = 0
        while (hit := scan.first_nonempty(rule, text, pos)) is not None:
            first = bisect.bisect_right(starts, hit.start) - 1
            # A match ending just after a line break does not touch the next line.
            last = bisect.bisect_right(starts, hit.end - 1) - 1
            found.append((first, last, rule))
            pos = starts[last + 1] if last + 1 < len(starts) else len(text) + 1
    found.sort(key=lambda block: (block[0], block[2]))
    return found


def _repeated_lines(lines: Sequence[str], rules: RuleSet, scan: _Scan) -> dict[str, int]:
    """Each line that a repeated-scope rule marks as a watermark, with that rule."""
    counts = Counter(lines)
    marked: dict[str, int] = {}
    for rule in rules.repeated:
        if rule in scan.skipped:
            continue
        min_count = rules.rules[rule].min_count or 0
        for line, count in counts.items():
            if count >= min_count and line not in marked and scan.first_nonempty(rule, line, 0) is not None:
                marked[line] = rule
    return marked


def _inline_spans(line: str, admitted: list[int], rules: RuleSet, scan: _Scan) -> list[_Hit]:
    """Non-overlapping inline matches, each widened by the spaces its removal would strand."""
    hits: list[_Hit] = []
    pos = 0
    while (hit := scan.first_hit(rules.inline, line, pos, admitted)) is not None:
        hits.append(hit)
        pos = hit.end
    widened: list[_Hit] = []
    for position, hit in enumerate(hits):
        floor = widened[-1].end if widened else 0
        ceiling = hits[position + 1].start if position + 1 < len(hits) else len(line)
        start, end = hit.start, hit.end
        # Take the spaces before the span if any, else those after: this removes the space
        # that would be doubled inside a line, or left at its start or end.
        while start > floor and line[start - 1].isspace():
            start -= 1
        if start == hit.start:
            while end < ceiling and line[end].isspace():
                end += 1
        widened.append(_Hit(start, end, hit.rule))
    return widened


def _leaves_nothing(line: str, spans: list[_Hit]) -> bool:
    """Whether the line keeps no letter, digit or Han character once the spans are gone."""
    position = 0
    for span in spans:
        if any(ch.isalnum() for ch in line[position : span.start]):
            return False
        position = span.end
    return not any(ch.isalnum() for ch in line[position:])


def _line_removals(
    text: str,
    lines: Sequence[str],
    starts: Sequence[int],
    line_rule: Sequence[int],
    line_unit: Sequence[int],
    rules: RuleSet,
) -> list[Removal]:
    last_kept = next((index for index in reversed(range(len(line_rule))) if line_rule[index] == _KEPT), -1)
    removals: list[Removal] = []
    index = 0
    while index < len(lines):
        rule_index = line_rule[index]
        if rule_index == _KEPT:
            index += 1
            continue
        last = index
        while (
            last + 1 < len(lines) and line_rule[last + 1] != _KEPT and line_unit[last + 1] == line_unit[index]
        ):
            last += 1
        start, end = starts[index], starts[last] + len(lines[last])
        if last < last_kept:
            end += 1  # the line break after the unit
        elif index > 0:
            start -= 1  # nothing kept follows: the line break before the unit
        rule = rules.rules[rule_index]
        removals.append(Removal(rule.id, rule.category, text[start:end], start))
        index = last + 1
    return removals
