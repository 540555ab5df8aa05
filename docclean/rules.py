"""Noise rules: the TOML format, its validation, and compilation into a `RuleSet`.

The rules file format (a user contract)
=======================================

A rules file is TOML with two top-level keys, both optional:

    disable = ["advertising_line", "repeated_line"]   # built-in rules to switch off, by id

    [[rule]]
    id = "shop_footer"              # required; letters, digits, "_" or "-"; unique
    category = "advertising"        # required; free text such as watermark, advertising,
                                    # contact, url, email, phone, copyright, page_marker
    pattern = "小店出品"            # required; a literal unless regex = true
    scope = "line"                  # required; line, inline, block or repeated (below)
    regex = false                   # optional, default false: pattern is a literal string
    min_count = 3                   # optional, scope "repeated" only, default 3, at least 2

Scopes, applied to normalized text (lines separated by one newline, no empty lines):

- `line`: the pattern is searched within each line (`^` and `$` are the line's ends, a match
  never crosses a line break) and the WHOLE line is removed. Bound line rules that use common
  words, e.g. `^(?=.{1,50}$)` or `^...$`, so a long paragraph that only mentions a word stays.
- `inline`: only the matched span is removed (with the spaces that would otherwise be left at
  a line's edge or doubled); a line left without any letter, digit or Han character goes.
- `block`: the pattern is a regex searched in the whole text with MULTILINE (so `^`/`$` are
  line ends and `\\n` crosses lines); every line a match touches is removed.
- `repeated`: a line that occurs at least `min_count` times in the document and that the
  pattern matches is removed everywhere it occurs: for running headers and watermarks.

A line claimed by a block rule is not looked at again; then line rules, then repeated rules,
then inline rules. Between rules of one scope, the leftmost match wins, and on a tie the rule
listed first (built-in rules come before the user's, in file order).

Regexes use the `regex` module's syntax (a superset of Python's `re`). A pattern must match
at least one character: one that matches the empty string is rejected. For long patterns, use
a TOML multi-line literal string ('''...''') and the scoped verbose flag `(?x: ... )`.

A user file is loaded after the built-in rules (docclean/rules/default.toml): its rules are
added after them, and `disable` switches built-in rules off. A user rule cannot reuse the id of
an enabled built-in rule; to replace one, disable it and define a rule with the same id.

Every problem (TOML syntax, unknown or missing keys, wrong types, bad scope, duplicate ids,
invalid regexes, disabling an unknown rule) raises `RulesError` naming the file and the rule,
from `load_rules`, before any document is touched.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import regex

from docclean.errors import RulesError

SCOPES = ("line", "inline", "block", "repeated")
DEFAULT_MIN_COUNT = 3
BUILTIN_SOURCE = "default.toml"

_REQUIRED_KEYS = ("id", "category", "pattern", "scope")
_ALLOWED_KEYS = (*_REQUIRED_KEYS, "regex", "min_count")
_NAME = regex.compile(r"[A-Za-z0-9_-]+")

# Regexes are compiled in VERSION0 (Python `re` compatible) whatever the module default is.
_FLAGS = regex.VERSION0
# The name prefix of the groups that tell which rule of a combined alternation matched.
_GROUP_PREFIX = "_noise_rule_"
# Syntax whose meaning changes inside a combined alternation: numbered back-references and
# recursion (the group numbers shift), global inline flags (in VERSION0 they would apply to
# every rule), conditionals, branch reset and backtracking verbs. Rules using any of it run
# alone; the check is conservative (an escaped `\\1` also counts), which only costs speed.
_STANDALONE_SYNTAX = regex.compile(
    r"\\[1-9]|\\g|\(\?P[=>]|\(\?[&R(|+0-9-]|\(\*|\(\?[a-zA-Z]+(?:-[a-zA-Z]+)?\)"
)


@dataclass(frozen=True, slots=True)
class NoiseRule:
    id: str
    category: str
    pattern: str
    scope: str
    regex: bool = False
    # Only for scope "repeated": how many times a line must occur to count as a watermark.
    min_count: int | None = None
    # The file the rule came from, for messages; not part of the rule's identity.
    source: str = field(default=BUILTIN_SOURCE, compare=False)

    @property
    def expression(self) -> str:
        """The rule as a regex: a literal pattern is escaped."""
        return self.pattern if self.regex else regex.escape(self.pattern)


@dataclass(frozen=True, slots=True)
class RulesFile:
    """What one rules file says: its rules, and the built-in rule ids it switches off."""

    rules: tuple[NoiseRule, ...]
    disable: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CombinedScope:
    """The rules of one per-line scope, ready to scan a line in one regex call.

    `combined` is one alternation of the rules in `members` (rule indexes, in rule order),
    each wrapped in a group named by `group_name`; `standalone` rules must run alone.
    `literal_rules` (in rule order) are those whose prefilter requires a literal, and `finder`
    finds any of their literals in a whole text, so only the lines it finds are tried with
    them; every other rule of the scope (the `open_rules`) is tried on every line.
    `max_length` bounds the lines any rule of the scope can match (None: some rule has no
    bound); when it is known, the lines are sorted by length before anything else.
    """

    combined: regex.Pattern[str] | None
    members: tuple[int, ...]
    standalone: tuple[int, ...]
    literal_rules: tuple[int, ...] = ()
    finder: re.Pattern[str] | None = None
    max_length: int | None = None

    @property
    def open_rules(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.members + self.standalone) - set(self.literal_rules)))


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Compiled rules; build it once (with `load_rules`) and clean many documents with it."""

    rules: tuple[NoiseRule, ...]
    # One compiled pattern per rule, same index as `rules`.
    patterns: tuple[regex.Pattern[str], ...]
    # Same index as `rules`: what a line needs for a line or inline rule to match in it.
    prefilters: tuple[Prefilter | None, ...]
    line: CombinedScope
    inline: CombinedScope
    block: tuple[int, ...]
    repeated: tuple[int, ...]
    # A short hash of the effective rules: any change to them changes it.
    version: str


def group_name(rule_index: int) -> str:
    return f"{_GROUP_PREFIX}{rule_index}"


def parse_rules_file(toml_text: str, source: str) -> RulesFile:
    """Parse and validate one rules file's text; `source` names it in error messages."""
    try:
        document = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"Rules file {source} is not valid TOML: {error}.") from None
    for key in document:
        if key not in ("rule", "disable"):
            raise RulesError(
                f'Rules file {source}: unknown top-level key "{key}"; expected "rule" or "disable".'
            )
    tables = document.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise RulesError(f'Rules file {source}: "rule" must be an array of tables ([[rule]]).')
    disable = document.get("disable", [])
    if not isinstance(disable, list) or not all(isinstance(rule_id, str) for rule_id in disable):
        raise RulesError(f'Rules file {source}: "disable" must be a list of rule ids.')
    rules: list[NoiseRule] = []
    seen: set[str] = set()
    for number, table in enumerate(tables, start=1):
        rule = _parse_rule(table, number, source)
        if rule.id in seen:
            raise RulesError(f'Rule "{rule.id}" in {source}: duplicate id.')
        seen.add(rule.id)
        rules.append(rule)
    return RulesFile(tuple(rules), tuple(disable))


def parse_rules(toml_text: str, source: str) -> list[NoiseRule]:
    """The validated rules of one rules file's text (its `disable` list is checked, not returned)."""
    return list(parse_rules_file(toml_text, source).rules)


def _parse_rule(table: dict[str, Any], number: int, source: str) -> NoiseRule:
    rule_id = table.get("id")
    if rule_id is None:
        raise RulesError(f'Rule #{number} in {source}: missing key "id".')
    if not isinstance(rule_id, str) or not _NAME.fullmatch(rule_id):
        raise RulesError(f'Rule #{number} in {source}: "id" must be a string of letters, digits, "_" or "-".')

    def fail(problem: str) -> RulesError:
        return RulesError(f'Rule "{rule_id}" in {source}: {problem}.')

    for key in table:
        if key not in _ALLOWED_KEYS:
            raise fail(f'unknown key "{key}"; allowed keys are {", ".join(_ALLOWED_KEYS)}')
    for key in _REQUIRED_KEYS:
        if key not in table:
            raise fail(f'missing key "{key}"')
    for key in ("category", "pattern", "scope"):
        if not isinstance(table[key], str):
            raise fail(f'"{key}" must be a string')
    category, pattern, scope = table["category"], table["pattern"], table["scope"]
    if not _NAME.fullmatch(category):
        raise fail('"category" must be letters, digits, "_" or "-"')
    is_regex = table.get("regex", False)
    if not isinstance(is_regex, bool):
        raise fail('"regex" must be true or false')
    if scope not in SCOPES:
        raise fail(f'scope must be one of {", ".join(SCOPES)}; got "{scope}"')
    min_count = table.get("min_count")
    if min_count is not None and scope != "repeated":
        raise fail('"min_count" only applies to scope "repeated"')
    if scope == "repeated":
        min_count = DEFAULT_MIN_COUNT if min_count is None else min_count
        # bool is an int in Python; `min_count = true` is a mistake, not 1.
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 2:
            raise fail('"min_count" must be an integer of at least 2')
    if not pattern:
        raise fail("pattern is empty")
    if not is_regex and scope != "block" and "\n" in pattern:
        raise fail(f"a literal pattern of scope {scope} cannot contain a line break")
    rule = NoiseRule(rule_id, category, pattern, scope, is_regex, min_count, source)
    _compile(rule)
    return rule


def _compile(rule: NoiseRule) -> regex.Pattern[str]:
    flags = _FLAGS | (regex.MULTILINE if rule.scope == "block" else 0)
    try:
        compiled = regex.compile(rule.expression, flags)
    except regex.error as error:
        raise RulesError(f'Rule "{rule.id}" in {rule.source}: invalid regex: {error}.') from None
    if compiled.search("") is not None:
        raise RulesError(f'Rule "{rule.id}" in {rule.source}: pattern matches the empty string.')
    return compiled


def merge_rules(builtin: Sequence[NoiseRule], user: RulesFile, user_source: str) -> list[NoiseRule]:
    """The effective rules: built-in ones minus those the user disables, then the user's."""
    builtin_ids = {rule.id for rule in builtin}
    for rule_id in user.disable:
        if rule_id not in builtin_ids:
            raise RulesError(
                f'Rules file {user_source}: disable names "{rule_id}", which is not a built-in rule.'
            )
    disabled = set(user.disable)
    kept = [rule for rule in builtin if rule.id not in disabled]
    kept_ids = {rule.id for rule in kept}
    for rule in user.rules:
        if rule.id in kept_ids:
            raise RulesError(
                f'Rule "{rule.id}" in {user_source}: duplicate id: a built-in rule has it '
                f"(add it to disable to replace it)."
            )
    return kept + list(user.rules)


def compile_rules(rules: Sequence[NoiseRule]) -> RuleSet:
    """Compile validated rules once: each rule alone, and the per-line scopes combined."""
    ordered = tuple(rules)
    patterns = tuple(_compile(rule) for rule in ordered)
    prefilters = tuple(
        _prefilter(rule.expression) if rule.scope in ("line", "inline") else None for rule in ordered
    )
    return RuleSet(
        rules=ordered,
        patterns=patterns,
        prefilters=prefilters,
        line=_combine(ordered, patterns, prefilters, "line"),
        inline=_combine(ordered, patterns, prefilters, "inline"),
        block=tuple(i for i, rule in enumerate(ordered) if rule.scope == "block"),
        repeated=tuple(i for i, rule in enumerate(ordered) if rule.scope == "repeated"),
        version=rules_version(ordered),
    )


def _combine(
    rules: tuple[NoiseRule, ...],
    patterns: tuple[regex.Pattern[str], ...],
    prefilters: tuple[Prefilter | None, ...],
    scope: str,
) -> CombinedScope:
    members: list[int] = []
    standalone: list[int] = []
    for index, rule in enumerate(rules):
        if rule.scope != scope:
            continue
        combinable = not (rule.regex and _STANDALONE_SYNTAX.search(rule.pattern)) and not any(
            name.startswith(_GROUP_PREFIX) for name in patterns[index].groupindex
        )
        (members if combinable else standalone).append(index)
    combined = None
    if members:
        alternation = "|".join(f"(?P<{group_name(i)}>{rules[i].expression})" for i in members)
        combined = regex.compile(alternation, _FLAGS)
    literal_rules: list[int] = []
    literals: set[str] = set()
    for index in sorted(members + standalone):
        prefilter = prefilters[index]
        if prefilter is not None and prefilter.literals is not None:
            literal_rules.append(index)
            literals |= prefilter.literals
    finder = _literal_finder(literals) if literals else None
    bounds = [prefilter.max_length if (prefilter := prefilters[i]) else None for i in members + standalone]
    max_length = None if None in bounds else max((bound or 0 for bound in bounds), default=None)
    return CombinedScope(
        combined, tuple(members), tuple(standalone), tuple(literal_rules), finder, max_length
    )


# Prefilters ------------------------------------------------------------------------------
#
# Most lines of a document hold no noise, and a regex call per line per rule costs far more
# than reading the line once. So each line or inline rule gets a necessary condition for it to
# match in a line, derived from its regex: literals one of which the line must contain, and
# for rules starting `^(?=.{m,N}$)` a maximal line length. The analysis is conservative: it
# models a subset of the syntax exactly and gives up (no prefilter, the rule is searched in
# every line) on anything else, so a prefilter can only skip lines the rule cannot match.

# The most strings a set of exact matches or required literals may hold before the analysis
# forgets it; literal alternations of this size still scan at C speed.
_MAX_EXACT = 64
_MAX_LITERALS = 256
# Character ranges of a class expanded into literals up to this many characters (`[3-9]`).
_MAX_RANGE = 16
# Scoped flags the analysis models: multiline and dotall change nothing within one line
# (it has no line break), verbose only the spelling. Others (ignore case, word, ...) give up.
_MODELLED_FLAGS = "msx"
_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_CLASS_ESCAPES = "dswDSW"
_GROUP_NAME = regex.compile(r"[A-Za-z_][A-Za-z0-9_]*>")


@dataclass(frozen=True, slots=True)
class Prefilter:
    """A cheap necessary condition for a line or inline rule to match in a line."""

    # The line contains one of these (None: no literal is required).
    literals: frozenset[str] | None
    # The line is at most this long (None: any length).
    max_length: int | None
    # `literals` as one alternation, to test a line at C speed.
    finder: re.Pattern[str] | None

    def admits(self, line: str) -> bool:
        if self.max_length is not None and len(line) > self.max_length:
            return False
        return self.finder is None or self.finder.search(line) is not None


class _Unmodelled(Exception):
    """Syntax the prefilter analysis does not model."""


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a piece of a regex can match, as far as the analysis knows."""

    # Every string the piece can match, when there are few (None: unknown).
    exact: frozenset[str] | None
    # A line the piece matches in contains one of these (None: nothing known).
    required: frozenset[str] | None
    # The piece matches only in a line of at most this many characters (None: unknown).
    max_length: int | None = None
    # Helpers to recognise `^(?=.{m,N}$)`: "start" (`^`, `\A`), "end" (`$`, `\Z`), "zero"
    # (another zero-width assertion), "dots" (`.` repeated at most `limit` times), "tail"
    # (`.{m,N}$`), "bound" (the lookahead `(?=.{m,N}$)`).
    shape: str = ""
    limit: int | None = None
    # For a positive lookaround ("ahead" or "behind"), every string its body can match, when few.
    context: frozenset[str] | None = None


def _literals(strings: frozenset[str] | None) -> frozenset[str] | None:
    """`strings` as a requirement (useless when one is empty), without the redundant ones."""
    if strings is None or "" in strings:
        return None
    # A line holding `本文系` holds `本文`: the longer literal adds nothing to the test.
    return frozenset(s for s in strings if not any(t != s and t in s for t in strings))


def _more_selective(first: frozenset[str] | None, second: frozenset[str] | None) -> frozenset[str] | None:
    # Longer literals occur in fewer lines; then fewer literals.
    if first is None or second is None:
        return first if second is None else second
    key = lambda literals: (min(map(len, literals)), -len(literals))  # noqa: E731
    return first if key(first) >= key(second) else second


def _concatenation(parts: Sequence[frozenset[str]]) -> frozenset[str] | None:
    strings = {""}
    for part in parts:
        strings = {head + tail for head in strings for tail in part}
        if len(strings) > _MAX_EXACT:
            return None
    return frozenset(strings)


def _run_literals(run: list[frozenset[str]]) -> frozenset[str] | None:
    """The most selective requirement a run of exactly known pieces gives: any stretch of it."""
    best = None
    for start in range(len(run)):
        for end in range(start + 1, len(run) + 1):
            best = _more_selective(best, _literals(_concatenation(run[start:end])))
    return best


def _sequence_facts(items: list[_Facts]) -> _Facts:
    if len(items) == 1:
        return items[0]
    exacts = [item.exact for item in items]
    exact = _concatenation(exacts) if all(part is not None for part in exacts) else None
    required = _literals(exact)
    run: list[frozenset[str]] = []
    for item in [*items, _Facts(None, None)]:
        required = _more_selective(required, item.required)
        if item.shape == "ahead" and item.context is not None:
            # What a lookahead sees follows what the run matched: `甲(?=乙)` needs 甲乙.
            required = _more_selective(required, _literals(_concatenation([*run, item.context])))
        elif item.shape == "behind" and item.context is not None:
            # What a lookbehind sees precedes what follows it: `(?<=加)[Vv]` needs 加V or 加v.
            required = _more_selective(required, _run_literals(run))
            run = [item.context]
        elif item.exact is not None:
            run.append(item.exact)
        elif run:
            required = _more_selective(required, _run_literals(run))
            run = []
    lengths = [item.max_length for item in items if item.max_length is not None]
    # `(?=.{m,N}$)` bounds the line only where it is tested at the line's start.
    anchored = False
    for item in items:
        if item.shape == "start":
            anchored = True
        elif item.shape == "bound" and anchored:
            lengths.append(item.limit or 0)
        elif item.exact != frozenset({""}):
            break
    shape, limit = "", None
    if len(items) == 2 and items[0].shape == "dots" and items[1].shape == "end":
        shape, limit = "tail", items[0].limit
    return _Facts(exact, required, min(lengths, default=None), shape, limit)


def _alternation_facts(branches: list[_Facts]) -> _Facts:
    if len(branches) == 1:
        return branches[0]
    exact = None
    if all(branch.exact is not None for branch in branches):
        union = frozenset().union(*(branch.exact or () for branch in branches))
        exact = union if len(union) <= _MAX_EXACT else None
    requirements = [_more_selective(_literals(branch.exact), branch.required) for branch in branches]
    required = None
    if all(requirement is not None for requirement in requirements):
        union = frozenset().union(*(requirement or () for requirement in requirements))
        required = union if len(union) <= _MAX_LITERALS else None
    lengths = [branch.max_length for branch in branches]
    max_length = None if None in lengths else max(length or 0 for length in lengths)
    return _Facts(exact, required, max_length)


def _repetition_facts(atom: _Facts, low: int, high: int | None) -> _Facts:
    if atom.exact == frozenset({""}):
        raise _Unmodelled("a quantifier on a zero-width item")
    exact = None
    if atom.exact is not None and high is not None:
        counts = [_concatenation([atom.exact] * count) for count in range(low, high + 1)]
        if all(strings is not None for strings in counts):
            union = frozenset().union(*(strings or () for strings in counts))
            exact = union if len(union) <= _MAX_EXACT else None
    if low == 0:
        return _Facts(exact, None)
    required = _more_selective(_literals(atom.exact), atom.required)
    is_dots = atom.shape == "dots" and high is not None
    return _Facts(exact, required, atom.max_length, "dots" if is_dots else "", high if is_dots else None)


class _Analysis:
    """A recursive-descent reading of a regex (the `regex` module's VERSION0 syntax)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.position = 0

    def peek(self) -> str:
        return self.pattern[self.position : self.position + 1]

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise _Unmodelled("unexpected end")
        self.position += 1
        return char

    def skip_spacing(self, verbose: bool) -> None:
        # Verbose mode ignores what str.isspace() accepts and `#` comments, as `regex` does.
        while verbose and self.peek():
            if self.peek().isspace():
                self.position += 1
            elif self.peek() == "#":
                end = self.pattern.find("\n", self.position)
                self.position = len(self.pattern) if end < 0 else end
            else:
                return

    def alternation(self, verbose: bool) -> _Facts:
        branches = [self.sequence(verbose)]
        while self.peek() == "|":
            self.position += 1
            branches.append(self.sequence(verbose))
        return _alternation_facts(branches)

    def sequence(self, verbose: bool) -> _Facts:
        items: list[_Facts] = []
        while True:
            self.skip_spacing(verbose)
            if self.peek() in ("", "|", ")"):
                return _sequence_facts(items) if items else _Facts(frozenset({""}), None)
            items.append(self.quantified(self.atom(verbose), verbose))

    def quantified(self, atom: _Facts, verbose: bool) -> _Facts:
        self.skip_spacing(verbose)
        char = self.peek()
        if char in ("*", "+", "?"):
            self.position += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{":
            match = _QUANTIFIER.match(self.pattern, self.position)
            if match is None or not (match["low"] or match["comma"]):
                raise _Unmodelled("a brace that is not a counted repeat")
            self.position = match.end()
            low = int(match["low"] or 0)
            high = low if match["comma"] is None else (int(match["high"]) if match["high"] else None)
        else:
            return atom
        self.skip_spacing(verbose)
        if self.peek() in ("?", "+"):
            self.position += 1  # lazy or possessive: the same strings can match
            self.skip_spacing(verbose)
        if self.peek() in ("*", "+", "?", "{"):
            raise _Unmodelled("a repeated repeat")
        return _repetition_facts(atom, low, high)

    def atom(self, verbose: bool) -> _Facts:
        char = self.take()
        if char == "(":
            return self.group(verbose)
        if char == "[":
            return self.char_class()
        if char == "\\":
            return self.escape()
        if char == ".":
            return _Facts(None, None, shape="dots", limit=1)
        if char == "^":
            return _Facts(frozenset({""}), None, shape="start")
        if char == "$":
            return _Facts(frozenset({""}), None, shape="end")
        if char in "*+?{)":
            raise _Unmodelled("a quantifier without an item")
        return _Facts(frozenset(char), frozenset(char))

    def group(self, verbose: bool) -> _Facts:
        # (positive, behind) for a lookaround; None for any other group.
        lookaround: tuple[bool, bool] | None = None
        if self.peek() == "?":
            self.position += 1
            char = self.take()
            if char in ("=", "!"):
                lookaround = (char == "=", False)
            elif char == "<" and self.peek() in ("=", "!"):
                lookaround = (self.take() == "=", True)
            elif char == "<" or (char == "P" and self.take() == "<"):
                name = _GROUP_NAME.match(self.pattern, self.position)
                if name is None:
                    raise _Unmodelled("a group name")
                self.position = name.end()
            elif char != ">":  # an atomic group matches some of what the plain group would
                self.position -= 1
                verbose = self.scoped_flags(verbose)
        body = self.alternation(verbose)
        if self.take() != ")":
            raise _Unmodelled("an unclosed group")
        if lookaround is None:
            return body
        positive, behind = lookaround
        if not positive:
            return _Facts(frozenset({""}), None, shape="zero")
        # A lookaround tests the same line, so what its body needs, the line has.
        required = _more_selective(_literals(body.exact), body.required)
        if body.shape == "tail" and not behind:
            return _Facts(frozenset({""}), required, body.max_length, "bound", body.limit)
        return _Facts(
            frozenset({""}), required, body.max_length, "behind" if behind else "ahead", context=body.exact
        )

    def scoped_flags(self, verbose: bool) -> bool:
        """Read `(?x:` or `(?s-x:` up to the colon; whether the group is verbose."""
        on = True
        while (char := self.take()) != ":":
            if char == "-" and on:
                on = False
            elif char in _MODELLED_FLAGS:
                if char == "x":
                    verbose = on
            else:
                # Global flags, other flags, conditionals, recursion, branch reset, comments.
                raise _Unmodelled(f"(?{char}")
        return verbose

    def char_class(self) -> _Facts:
        negated = self.peek() == "^"
        self.position += negated
        if self.peek() == "]":
            raise _Unmodelled("a class opening with ]")
        chars: set[str] = set()
        known = not negated
        while (char := self.take()) != "]":
            if char == "[":
                raise _Unmodelled("a nested set or POSIX class")
            low = self.escape_char(in_class=True) if char == "\\" else char
            if self.peek() == "-" and self.pattern[self.position + 1 : self.position + 2] not in ("]", ""):
                self.position += 1
                high_char = self.take()
                if high_char == "[":
                    raise _Unmodelled("a nested set or POSIX class")
                high = self.escape_char(in_class=True) if high_char == "\\" else high_char
                if low is None or high is None:
                    raise _Unmodelled("a range of a class escape")
                if not 0 <= ord(high) - ord(low) < _MAX_RANGE:
                    known = False
                    continue
                chars.update(chr(code) for code in range(ord(low), ord(high) + 1))
            elif low is None:
                known = False
            else:
                chars.add(low)
        if not known or len(chars) > _MAX_EXACT:
            return _Facts(None, None)
        return _Facts(frozenset(chars), frozenset(chars))

    def escape(self) -> _Facts:
        char = self.peek()
        if char in ("b", "B"):
            self.position += 1
            return _Facts(frozenset({""}), None, shape="zero")
        if char in ("A", "Z"):
            self.position += 1
            return _Facts(frozenset({""}), None, shape="start" if char == "A" else "end")
        literal = self.escape_char(in_class=False)
        if literal is None:
            return _Facts(None, None)
        return _Facts(frozenset(literal), frozenset(literal))

    def escape_char(self, in_class: bool) -> str | None:
        """The character an escape (after its backslash) stands for; None for a class like \\d."""
        char = self.take()
        if char in _CLASS_ESCAPES:
            return None
        if char in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[char]
        if char in _HEX_ESCAPES:
            digits = self.pattern[self.position : self.position + _HEX_ESCAPES[char]]
            if len(digits) < _HEX_ESCAPES[char] or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise _Unmodelled("a hexadecimal escape")
            self.position += len(digits)
            return chr(int(digits, 16))
        if char.isascii() and not char.isalnum():
            return char
        # Back-references, \g, \K, \G, \p{..}, \N{..}, \X, octal, \b in a class, ...
        raise _Unmodelled(f"\\{char}")


# A counted repeat as `regex` reads it: `{,}` and `{,n}` count from zero, `{}` is no repeat.
_QUANTIFIER = regex.compile(r"\{(?P<low>[0-9]*)(?:(?P<comma>,)(?P<high>[0-9]*))?\}")


def _prefilter(expression: str) -> Prefilter | None:
    """The prefilter of a line or inline rule's regex; None when nothing useful is known."""
    analysis = _Analysis(expression)
    try:
        facts = analysis.alternation(verbose=False)
        if analysis.peek():
            raise _Unmodelled("an unbalanced parenthesis")
    except _Unmodelled:
        return None
    literals = _more_selective(_literals(facts.exact), facts.required)
    if literals is None and facts.max_length is None:
        return None
    finder = None if literals is None else _literal_finder(literals)
    return Prefilter(literals, facts.max_length, finder)


def _literal_finder(literals: Iterable[str]) -> re.Pattern[str]:
    # The standard library's engine finds an alternation of plain literals about three times
    # faster than `regex`, and plain literals mean the same to both.
    return re.compile("|".join(re.escape(literal) for literal in sorted(literals)))


def rules_version(rules: Sequence[NoiseRule]) -> str:
    """A 12-hex-digit hash of what the rules do (ids, categories, patterns, scopes, order)."""
    canonical = json.dumps(
        [[r.id, r.category, r.scope, r.regex, r.pattern, r.min_count] for r in rules], ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def _builtin_rules_text() -> str:
    return resources.files("docclean").joinpath("rules", BUILTIN_SOURCE).read_text("utf-8")


def load_rules(user_file: Path | None = None) -> RuleSet:
    """The built-in rules, extended and overridden by `user_file`, validated and compiled.

    The only function here that reads a file. Raises RulesError for any problem in either file.
    """
    builtin = parse_rules_file(_builtin_rules_text(), BUILTIN_SOURCE)
    if builtin.disable:
        raise RulesError(f'Rules file {BUILTIN_SOURCE}: "disable" is only for a user rules file.')
    rules = list(builtin.rules)
    if user_file is not None:
        source = str(user_file)
        try:
            text = Path(user_file).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RulesError(f"Rules file {source} cannot be read: {error}.") from None
        rules = merge_rules(rules, parse_rules_file(text, source), source)
    return compile_rules(rules)
