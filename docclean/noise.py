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
import dataclasses
import heapq
import operator
import re
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Protocol

import regex

from docclean.lines import iter_lines
from docclean.prefilter import literal_finder
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
    candidates: LineCandidates | None = None,
    matched_in: str | None = None,
) -> Stripped:
    """Remove what the rules match; `on_timeout` receives the id of each rule skipped for time.

    The rules whose ids are in `disabled` are not run at all (a caller disables a rule that
    keeps timing out, so it stops costing its budget on every document). `candidates`, when
    given, says which lines each line or inline rule may match in, in place of the rules'
    prefilters, and whether each block rule may match at all (docclean/batch/noise.py finds
    them for a whole batch); the result is the same. `matched_in`, when given, is where the
    rules are matched: a text as long as `text` whose characters stand one for one for its own
    (its Simplified twin, `normalize.simplified_twin`: the rules are written in Simplified);
    the removals are then `text`'s, at the same offsets. Raises ValueError when it is not as long.
    """
    if matched_in is not None:
        if len(matched_in) != len(text):
            raise ValueError("matched_in must stand for text character for character, and be as long.")
        twin = strip_noise(matched_in, rules, on_timeout, timeout, disabled, candidates)
        removed = tuple(
            dataclasses.replace(removal, text=text[removal.offset : removal.offset + len(removal.text)])
            for removal in twin.removed
        )
        return Stripped(apply_removals(text, removed), removed)
    if not text:
        return Stripped(text, ())
    budget = timeout * max(1.0, len(text) / _BUDGET_CHARS)
    skipped = {index for index, rule in enumerate(rules.rules) if rule.id in disabled}
    # A combined alternation would still find a disabled member's matches.
    use_combined = not any(index in rules.line.members or index in rules.inline.members for index in skipped)
    while True:
        scan = _Scan(rules, budget, skipped, use_combined)
        try:
            return _strip(text, rules, scan, candidates)
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


def removes_whole(line: str, rules: RuleSet, disabled: Collection[str] = ()) -> bool:
    """Whether `strip_noise` removes `line` (stripped), taken as a text of its own, whole.

    Its prefilters are asked first, a search where the removal costs its set-up: a line or
    inline rule whose literal the line holds or that needs none, or a block rule that matches it,
    may remove it (a repeated rule needs two lines at least); else none does.
    """
    line = line.strip()
    return bool(line) and _may_remove(line, rules) and not strip_noise(line, rules, disabled=disabled).text


def _may_remove(line: str, rules: RuleSet) -> bool:
    for scope in (rules.line, rules.inline):
        if scope.open_rules or (scope.finder is not None and scope.finder.search(line) is not None):
            return True
    try:
        return any(rules.patterns[rule].search(line, timeout=DEFAULT_TIMEOUT_SECONDS) for rule in rules.block)
    except TimeoutError:
        return True  # strip_noise skips the rule for time, as it would in a document


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
            rule = (
                next(i for i in scope.members if match.start(group_name(i)) != -1)
                if match is not None and match.end() > match.start()
                else None
            )
            if rule is not None and rule in admitted:
                candidates.append(_Hit(match.start(), match.end(), rule))  # type: ignore[union-attr]
            elif match is not None:
                # An empty match, or a member the caller left out (a phone rule is not tried
                # on a paragraph's sentences), may hide an admitted rule's match.
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
# Letters, digits or Hanzi that the inline rules must leave in a line a line rule matched for
# the line to keep them: a clause of content (让我们共同努力), not the thanks closing an ad (谢谢).
MIN_CONTENT_LEFT = 4


class LineCandidates(Protocol):
    """The lines of one document each line or inline rule may match in: a superset of those it does."""

    def lines_to_search(self, scope: CombinedScope) -> Iterable[tuple[int, list[int]]]:
        """Each line (by index, in order) some rule of `scope` may match in, with those rules, in rule order."""
        ...

    def lines_for_units(self, line_rules: Sequence[int]) -> Iterable[int]:
        """The lines (by index, in order) holding a unit (a substring) one of `line_rules` may match."""
        ...

    def may_match_block(self, rule: int) -> bool:
        """Whether the block rule `rule` may match in the document."""
        ...

    def most_repeated(self) -> int:
        """How often the document's most frequent line occurs in it (0 for no line)."""
        ...


def _strip(text: str, rules: RuleSet, scan: _Scan, candidates: LineCandidates | None) -> Stripped:
    lines = _Lines(text)
    starts = lines.starts
    # Which rule removes each whole line (_KEPT for none), and the unit it goes in: the lines of
    # one block match form one unit (one Removal); every other removed line is its own unit.
    # Arrays, 4 bytes a line: a unit is below 2**31 (at most two per line of a bounded file).
    line_rule = array("i", [_KEPT]) * len(lines)
    line_unit = array("i", range(len(lines)))

    blocks = _block_matches(text, starts, rules, scan, candidates)
    for unit, (first, last, rule) in enumerate(blocks, start=len(lines)):
        for index in range(first, last + 1):
            if line_rule[index] == _KEPT:
                line_rule[index] = rule
                line_unit[index] = unit

    # Spans of lines that hold content besides what a line rule matched: only these go.
    noise_units: dict[int, list[_Hit]] = {}
    line_rules = sorted(rules.line.members + rules.line.standalone)
    line_checks = _checks(rules, line_rules)
    pasted_checks = _checks(rules, [rule for rule in line_rules if may_be_pasted(rules, rule)])
    inline_checks = _checks(rules, sorted(rules.inline.members + rules.inline.standalone))
    line_search = (
        _lines_to_search(rules.line, rules, lines, text, starts)
        if candidates is None
        else candidates.lines_to_search(rules.line)
    )
    for index, admitted in line_search:
        if line_rule[index] == _KEPT:
            hit = scan.first_hit(rules.line, lines[index], 0, admitted)
            if hit is not None:
                units = _matched_line_units(
                    lines[index], hit, rules, scan, line_checks, pasted_checks, inline_checks
                )
                if units is None:
                    line_rule[index] = hit.rule
                elif units:
                    noise_units[index] = units
    unit_lines = (
        _lines_for_units(rules, lines, text, starts)
        if candidates is None
        else candidates.lines_for_units([rule for rule in line_rules if may_be_pasted(rules, rule)])
    )
    for index in unit_lines:
        if (
            line_rule[index] == _KEPT
            and index not in noise_units
            and (units := _noise_units(lines[index], rules, scan, pasted_checks, inline_checks, pasted=True))
        ):
            noise_units[index] = units

    # A line must recur to be a watermark: most documents have no line that recurs often enough.
    watermarks = (
        _repeated_lines(lines, rules, scan, line_rule)
        if candidates is None or candidates.most_repeated() >= _least_repeat(rules)
        else {}
    )
    for index, line in enumerate(lines if watermarks else ()):
        if line_rule[index] == _KEPT and line in watermarks:
            line_rule[index] = watermarks[line]

    inline: list[Removal] = []
    # The lines an inline rule may match, and those with noise units: both in line order, a
    # line in both once, with its inline rules.
    inline_search = (
        _lines_to_search(rules.inline, rules, lines, text, starts)
        if candidates is None
        else candidates.lines_to_search(rules.inline)
    )
    inline_lines = (
        heapq.merge(inline_search, ((index, []) for index in sorted(noise_units)), key=operator.itemgetter(0))
        if noise_units
        else inline_search
    )
    previous = -1
    for index, admitted in inline_lines:
        if index == previous:
            continue
        previous = index
        line = lines[index]
        if line_rule[index] != _KEPT:
            continue
        spans = _merge_spans(
            line, noise_units.get(index, []), _inline_spans(line, admitted, rules, scan) if admitted else []
        )
        if not spans:
            continue
        if _leaves_nothing(line, spans):
            line_rule[index] = spans[0].rule
            continue
        if (
            rest_rule := _rest_is_noise(line, spans, rules, scan, line_checks, pasted_checks, inline_checks)
        ) is not None:
            line_rule[index] = rest_rule
            continue
        for span in spans:
            rule = rules.rules[span.rule]
            inline.append(
                Removal(rule.id, rule.category, line[span.start : span.end], starts[index] + span.start)
            )

    removed = inline + _line_removals(text, lines, starts, line_rule, line_unit, rules)
    removed.sort(key=lambda removal: removal.offset)
    return Stripped(apply_removals(text, removed), tuple(removed))


# A line splits into units: a bracketed aside (with its brackets), or a sentence up to its end
# punctuation and the closing quotes after it. A line rule removes the whole line only when
# every unit with a word in it is noise by itself; otherwise only the noise units go, so
# `一是提高认识。（更多资料请关注公众号：文稿之家）要切实提高政治站位。` keeps its two sentences.
# A unit's end: its end punctuation, and the closing quotes after it.
_END_MARKS = "。！？!?；;"
_CLOSING_QUOTES = "”’」』"
_UNIT_END = f"[{_END_MARKS}]+[{_CLOSING_QUOTES}]*"
_UNIT = regex.compile(
    r"[（(【\[〔][^（）()【】\[\]〔〕\n]*[）)】\]〕]"
    rf"|[^{_END_MARKS}（(【\[〔\n]+(?:{_UNIT_END}|(?=[（(【\[〔])|$)"
    rf"|{_UNIT_END}|[（(【\[〔]"
)


def _noise_units(
    line: str,
    rules: RuleSet,
    scan: _Scan,
    checks: list[_Check],
    inline_checks: list[_Check],
    pasted: bool = False,
) -> list[_Hit] | None:
    """The units of `line` that a line rule matches alone; None when the whole line is noise.

    An empty list: no unit is noise by itself (the line keeps everything). A line of one unit
    is judged whole by the caller's match, as a line rule is written to do. With `pasted`
    (no rule matched the whole line), only a unit that is a whole sentence or a bracketed
    aside is tried: what was pasted into a paragraph, not a fragment of one. `checks` are the
    line rules' prefilters; a literal missing from the line is missing from each unit, so it
    is looked for once per line. A unit the inline rules leave content in is not noise by
    itself (`_inline_leaves_content`): only their spans go.
    """
    in_line = [check for check in checks if check[2] is None or check[2](line) is not None]
    if not in_line:
        return [] if pasted else None
    units = [match.span() for match in _UNIT.finditer(line)]
    if len(units) < 2:
        if pasted or _inline_leaves_content(line, rules, scan, inline_checks, in_line):
            return [] if pasted else None
        clause = _noise_clause(line, rules, scan, in_line, inline_checks)
        return None if clause is None else [clause]
    found: list[_Hit] = []
    content_left = False
    for start, end in units:
        unit = line[start:end]
        if pasted and not _is_whole_unit(unit):
            content_left = True
            continue
        admitted = _admitted(in_line, unit)
        hit = scan.first_hit(rules.line, unit, 0, admitted) if admitted else None
        if hit is not None and not _inline_leaves_content(unit, rules, scan, inline_checks, in_line):
            clause = _noise_clause(unit, rules, scan, in_line, inline_checks)
            if clause is None:
                found.append(_Hit(start, end, hit.rule))
            else:
                found.append(_Hit(start + clause.start, start + clause.end, clause.rule))
                content_left = True
        elif _ALNUM.search(unit):
            content_left = True
    if not content_left:
        return None if found else []
    return found


def _inline_leaves_content(
    line: str, rules: RuleSet, scan: _Scan, checks: list[_Check], line_checks: list[_Check]
) -> bool:
    """Whether the inline rules take the noise out of a line a line rule matched and leave a
    clause of content that no line rule matches: `同志们，想要全套范文请加微信：abc12345，让我们
    共同努力！` loses the solicitation, not the sentence. The inline rules need a value (an id, a
    number), so they are the more precise; `MIN_CONTENT_LEFT` letters at least must remain, so
    that the `谢谢！` closing an ad goes with it.
    """
    admitted = _admitted(checks, line)
    spans = _merge_spans(line, [], _inline_spans(line, admitted, rules, scan)) if admitted else []
    if not spans:
        return False
    rest = "".join(_left_by(line, spans))
    if sum(char.isalnum() for char in rest) < MIN_CONTENT_LEFT:
        return False
    return scan.first_hit(rules.line, rest, 0, _admitted(line_checks, rest)) is None


def _noise_clause(
    unit: str, rules: RuleSet, scan: _Scan, checks: list[_Check], inline_checks: list[_Check]
) -> _Hit | None:
    """The clause closing `unit` (a sentence a line rule matched) that a line rule matches alone,
    when the clauses before its comma hold content: `一是提高认识，更多资料请关注公众号文稿之家。`
    loses `，更多资料请关注公众号文稿之家` (the comma with it, the sentence's end mark kept).

    The clause is the shortest that a rule matches: the commas are tried from the last, so
    `一是提高认识，加强学习，更多资料请关注…` keeps both clauses of content. Content, before it:
    `MIN_CONTENT_LEFT` letters at least, none of the words the line rules need
    (`RuleSet.line_words`: `更多精彩内容，请关注…` is one ad) and no match of a line or inline rule
    (`本文系作者原创投稿，仅供学习参考` is one notice); else the whole sentence goes. The words
    are the rules' own, held apart from the prefilters: the decision is the same without them.
    """
    ending = _SENTENCE_END.search(unit)
    end = ending.start() if ending is not None else len(unit)
    for comma in reversed(list(_CLAUSE_COMMA.finditer(unit, 0, end))):
        tail = unit[comma.end() : end]
        hit = scan.first_hit(rules.line, tail, 0, _admitted(checks, tail))
        if hit is None:
            continue
        head = unit[: comma.start()]
        if (
            sum(char.isalnum() for char in head) < MIN_CONTENT_LEFT
            or (rules.line_words is not None and rules.line_words.search(head) is not None)
            or scan.first_hit(rules.line, head, 0, _admitted(checks, head)) is not None
            or scan.first_hit(rules.inline, head, 0, _admitted(inline_checks, head)) is not None
        ):
            return None
        return _Hit(comma.start(), end, hit.rule)
    return None


_CLAUSE_COMMA = re.compile("[，,]")
_SENTENCE_END = re.compile(f"(?:{_UNIT_END})?$")


def _is_whole_unit(unit: str) -> bool:
    return unit.rstrip(_CLOSING_QUOTES).endswith(_UNIT_ENDS) or (
        unit[:1] in "（(【[〔" and unit[-1:] in "）)】]〕"
    )


_UNIT_ENDS = tuple(_END_MARKS)


def may_be_pasted(rules: RuleSet, rule: int) -> bool:
    """Whether a line rule's noise can be pasted into a paragraph as a sentence of its own.

    Page markers cannot: they are page furniture, never a sentence (the normalize stage takes
    those a page break left inside a paragraph). A phone number in a paragraph is taken by the
    phone inline rule whatever sentence holds it; the phone line rules' literals (digits) are
    in most paragraphs, so trying them on every sentence would cost a regex call for nothing.
    """
    return rules.rules[rule].category not in _NEVER_PASTED


_NEVER_PASTED = frozenset({"page_marker", "phone", "copyright"})


def _lines_for_units(rules: RuleSet, lines: Sequence[str], text: str, starts: Sequence[int]) -> Iterable[int]:
    """The lines whose units a line rule may match although it matched no whole line.

    A line rule is written for a line that is noise from its start (`^…`) and bounded in
    length; an ad sentence pasted into a paragraph, or after a sentence of content, is found
    by trying the rules on the line's units. Only a line holding a literal some rule needs is
    worth it (one scan of the text finds them), unless a rule that may be pasted needs none.
    """
    if any(may_be_pasted(rules, rule) for rule in rules.line.open_rules):
        return range(len(lines))
    finder = _pasted_finder(rules)
    if finder is None:
        return []
    return _lines_with_a_literal(dataclasses.replace(rules.line, finder=finder), text, starts)


def _pasted_finder(rules: RuleSet) -> re.Pattern[str] | None:
    """A finder of the literals of the line rules that may be pasted (see `may_be_pasted`).

    Built once per rule set: `rules.version` names the effective rules.
    """
    key = (rules.version, rules.line.literal_rules)
    if key not in _PASTED_FINDERS:
        literals: set[str] = set()
        for rule in rules.line.literal_rules:
            prefilter = rules.prefilters[rule]
            if may_be_pasted(rules, rule) and prefilter is not None and prefilter.literals:
                literals |= prefilter.literals
        _PASTED_FINDERS[key] = literal_finder(literals) if literals else None
    return _PASTED_FINDERS[key]


_PASTED_FINDERS: dict[tuple[str, tuple[int, ...]], re.Pattern[str] | None] = {}


def _merge_spans(line: str, units: list[_Hit], inline: list[_Hit]) -> list[_Hit]:
    """The noise units and inline spans of a line, without overlaps, in line order.

    Where inline spans already take every word of a noise unit, they stand for it (the more
    precise rule is on record); otherwise the unit replaces the spans inside it. A sentence
    or aside that the inline spans leave without a word goes whole, with its punctuation:
    `…。想要全套范文请加微信：abc123。…` loses its second sentence, not all but `。`.
    """
    merged = list(inline)
    for unit in units:
        inside = [span for span in merged if span.start < unit.end and unit.start < span.end]
        if inside and _leaves_nothing(line[unit.start : unit.end], _relative(inside, unit)):
            continue
        merged = [span for span in merged if span not in inside]
        merged.append(unit)
    merged.sort(key=lambda span: span.start)
    if not merged or _leaves_nothing(line, merged):
        return merged
    for match in _UNIT.finditer(line):
        unit = _Hit(match.start(), match.end(), -1)
        inside = [span for span in merged if span.start < unit.end and unit.start < span.end]
        if inside and _leaves_nothing(line[unit.start : unit.end], _relative(inside, unit)):
            start, end = min(unit.start, inside[0].start), max(unit.end, inside[-1].end)
            merged = [span for span in merged if span not in inside] + [_Hit(start, end, inside[0].rule)]
            merged.sort(key=lambda span: span.start)
    return _take_stranded_spaces(line, [_take_stranded_comma(line, span, merged) for span in merged])


def _take_stranded_spaces(line: str, spans: list[_Hit]) -> list[_Hit]:
    """The spans, each with the spaces its removal would leave at the start or end of the line.

    `_inline_spans` widens each match by its spaces; a span merged into its unit or given the
    separator after it (`http://…， 党`, `（http://…） 党`) ends elsewhere, and what follows it
    would open the line with a space.
    """
    widened = list(spans)
    opens = True  # nothing but spaces is kept before the span: its removal opens the line
    for index, span in enumerate(widened):
        previous_end = widened[index - 1].end if index else 0
        next_start = widened[index + 1].start if index + 1 < len(widened) else len(line)
        opens = opens and not line[previous_end : span.start].strip()
        end = span.end
        while opens and end < next_start and line[end].isspace():
            end += 1
        widened[index] = _Hit(span.start, end, span.rule)
    closes = True  # nothing but spaces is kept after the span: its removal ends the line
    for index in reversed(range(len(widened))):
        span = widened[index]
        previous_end = widened[index - 1].end if index else 0
        next_start = widened[index + 1].start if index + 1 < len(widened) else len(line)
        closes = closes and not line[span.end : next_start].strip()
        start = span.start
        while closes and start > previous_end and line[start - 1].isspace():
            start -= 1
        widened[index] = _Hit(start, span.end, span.rule)
    return widened


def _take_stranded_comma(line: str, span: _Hit, spans: list[_Hit]) -> _Hit:
    """The span, with the clause separator that its removal would strand.

    A span opening its sentence, or a clause between two separators, takes the separator after it
    (`…工作。如需全文请咨询QQ…，各级…` would leave `。，`, `…学习，想要范文请加微信：…，我们…`
    `，，`); a span closing its sentence takes the one before it (`…印发，如需电子版可联系QQ…。`
    would leave `，。`).
    """
    # A neighbouring span that touches the separator keeps it out of reach.
    touching = {other.start for other in spans if other != span} | {
        other.end for other in spans if other != span
    }
    opens = span.start == 0 or line[span.start - 1] in _SENTENCE_OPENERS
    separated = span.start > 0 and line[span.start - 1] in _CLAUSE_SEPARATORS
    followed = span.end < len(line) and line[span.end] in _CLAUSE_SEPARATORS and span.end not in touching
    if (opens or separated) and followed:
        return _Hit(span.start, span.end + 1, span.rule)
    closes = span.end < len(line) and (
        line[span.end] in _SENTENCE_ENDS
        # An ASCII full stop ends a sentence at the line's end or before a space, not in `v1.2`.
        or (line[span.end] == "." and (span.end + 1 == len(line) or line[span.end + 1].isspace()))
    )
    if closes and separated and not touching & {span.start - 1, span.start}:
        return _Hit(span.start - 1, span.end, span.rule)
    return span


_CLAUSE_SEPARATORS = "，,、；;：:"
_SENTENCE_ENDS = "。！？!?"


_SENTENCE_OPENERS = "。！？!?；;…（(【[「『“"


def _relative(spans: list[_Hit], unit: _Hit) -> list[_Hit]:
    """`spans` clipped to `unit`, with offsets relative to its start."""
    return [
        _Hit(max(span.start, unit.start) - unit.start, min(span.end, unit.end) - unit.start, span.rule)
        for span in spans
    ]


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
    text: str, starts: Sequence[int], rules: RuleSet, scan: _Scan, candidates: LineCandidates | None
) -> list[tuple[int, int, int]]:
    """(first line, last line, rule) of every block match, in text order, first rule on a tie."""
    found: list[tuple[int, int, int]] = []
    for rule in rules.block:
        if rule in scan.skipped or (candidates is not None and not candidates.may_match_block(rule)):
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


def _repeated_lines(
    lines: Sequence[str], rules: RuleSet, scan: _Scan, line_rule: Sequence[int]
) -> dict[str, int]:
    """Each line that a repeated-scope rule marks as a watermark, with that rule.

    A line that recurs among short lines of content is the content's: a poem's refrain (我爱你，
    中国), a table's cell (优秀), a contract party's （盖章）. It is kept when at half of its
    occurrences or more both nearest lines kept so far (`line_rule`: not taken by a block or line
    rule, not blank) are such lines (`_short_content`) and recur less often than the rule needs;
    a watermark stands between paragraphs and sentences, page markers and other watermarks.
    """
    counts = Counter(lines)
    marked: dict[str, int] = {}
    for rule in rules.repeated:
        if rule in scan.skipped:
            continue
        min_count = rules.rules[rule].min_count or 0
        for line, count in counts.items():
            if count >= min_count and line not in marked and scan.first_nonempty(rule, line, 0) is not None:
                marked[line] = rule
    if not marked:
        return marked
    kept = [index for index, line in enumerate(lines) if line_rule[index] == _KEPT and line.strip()]
    among_short: Counter[str] = Counter()
    for position, index in enumerate(kept):
        line = lines[index]
        if line not in marked:
            continue
        min_count = rules.rules[marked[line]].min_count or 0
        neighbours = [lines[kept[other]] for other in (position - 1, position + 1) if 0 <= other < len(kept)]
        if all(_short_content(other, counts[other] < min_count) for other in neighbours):
            among_short[line] += 1
    return {line: rule for line, rule in marked.items() if among_short[line] * 2 < counts[line]}


def _least_repeat(rules: RuleSet) -> int:
    """The fewest occurrences a repeated-scope rule asks of a line (no rule: more than any line has)."""
    return min((rules.rules[rule].min_count or 0 for rule in rules.repeated), default=sys.maxsize)


def _short_content(line: str, rare: bool) -> bool:
    """Whether `line`, beside a repeated line, is a line of verse, a table's cell or a list's item:
    shorter than `_SHORT_NEIGHBOUR`, ending no sentence, and `rare` (recurring less often than a
    watermark must)."""
    line = line.strip()
    return rare and len(line) < _SHORT_NEIGHBOUR and not line.endswith(_ENDS_A_SENTENCE)


# Lines shorter than this around a repeated line make it a poem's, a table's or a list's: a
# line of verse or a cell is shorter, a paragraph a watermark interrupts is longer.
_SHORT_NEIGHBOUR = 25
# What a line of prose ends with: a unit's end marks, or an ellipsis.
_ENDS_A_SENTENCE = (*_END_MARKS, "…")


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


def _matched_line_units(
    line: str,
    hit: _Hit,
    rules: RuleSet,
    scan: _Scan,
    line_checks: list[_Check],
    pasted_checks: list[_Check],
    inline_checks: list[_Check],
) -> list[_Hit] | None:
    """What goes of a line the line rule `hit` matched: None for the whole line, else its noise
    units (none: the line keeps everything the inline rules do not take).

    A line a notice's rule matched is judged unit by unit with every rule; in a line an ad's
    rule matched, the other units are sentences, judged as pasted ones are (`违者必究。` beside an
    ad is the speech's)."""
    unit_checks = line_checks if not may_be_pasted(rules, hit.rule) else pasted_checks
    units = _noise_units(line, rules, scan, unit_checks, inline_checks)
    if units is None and not _inline_leaves_content(line, rules, scan, inline_checks, line_checks):
        return None
    return units or []


def _rest_is_noise(
    line: str,
    spans: list[_Hit],
    rules: RuleSet,
    scan: _Scan,
    line_checks: list[_Check],
    pasted_checks: list[_Check],
    inline_checks: list[_Check],
) -> int | None:
    """The line rule that removes what the inline `spans` leave of `line` whole, if one does: the
    line was too long for it only by what they took (`下载更多资料请访问 www.…/index.html`, an ad
    whose address put it past the rule's bound). The line then goes whole, by that rule."""
    rest = " ".join(part for piece in _left_by(line, spans) if (part := piece.strip()))
    if not rest or len(rest) >= len(line):
        return None
    hit = scan.first_hit(rules.line, rest, 0, _admitted(line_checks, rest))
    if hit is None:
        return None
    units = _matched_line_units(rest, hit, rules, scan, line_checks, pasted_checks, inline_checks)
    return hit.rule if units is None else None


def _left_by(line: str, spans: list[_Hit]) -> list[str]:
    """The pieces of `line` between the `spans` (in line order, not overlapping), each in order."""
    return [
        line[a:b]
        for a, b in zip(
            [0, *(span.end for span in spans)], [*(span.start for span in spans), len(line)], strict=True
        )
    ]


def _leaves_nothing(line: str, spans: list[_Hit]) -> bool:
    """Whether the line keeps no letter, digit or Han character once the spans are gone."""
    position = 0
    for span in spans:
        if _ALNUM.search(line, position, span.start):
            return False
        position = span.end
    return not _ALNUM.search(line, position)


# A character for which `str.isalnum()` holds: `re`'s Unicode `\w` is exactly those and `_`
# (its docs say so; a test checks every code point), searched without a Python step per character.
_ALNUM = re.compile(r"[^\W_]")


def _line_removals(
    text: str,
    lines: Sequence[str],
    starts: Sequence[int],
    line_rule: Sequence[int],
    line_unit: Sequence[int],
    rules: RuleSet,
) -> list[Removal]:
    count = len(line_rule)
    if line_rule.count(_KEPT) == count:
        return []
    last_kept = next((index for index in reversed(range(count)) if line_rule[index] == _KEPT), -1)
    removals: list[Removal] = []
    index = 0
    while index < count:
        rule_index = line_rule[index]
        if rule_index == _KEPT:
            index += 1
            continue
        last = index
        while last + 1 < count and line_rule[last + 1] != _KEPT and line_unit[last + 1] == line_unit[index]:
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
