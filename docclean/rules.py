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
  pattern matches is removed everywhere it occurs: for running headers and watermarks. A line
  that stands between short lines of content at half of its occurrences (a poem's refrain, a
  table's cell: `docclean.noise`) stays.

A line claimed by a block rule is not looked at again; then line rules, then repeated rules,
then inline rules. Between rules of one scope, the leftmost match wins, and on a tie the rule
listed first (built-in rules come before the user's, in file order).

A rule whose id starts with `vendor_` or `site_` names vendors or document-sharing sites: the
literals every match of its pattern needs (`酷乐文行`, or each name of an alternation
`百度文库|豆丁网`) are the names, and `docclean rules check` lists a kept line that holds one as a
rule's miss. A literal pattern of category advertising or watermark counts as a name too.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import regex

from docclean.errors import RulesError
from docclean.prefilter import Prefilter, literal_finder, prefilter_of

SCOPES = ("line", "inline", "block", "repeated")
DEFAULT_MIN_COUNT = 3
BUILTIN_SOURCE = "default.toml"

_REQUIRED_KEYS = ("id", "category", "pattern", "scope")
_ALLOWED_KEYS = (*_REQUIRED_KEYS, "regex", "min_count")
# Rules that name vendors or sites (see the format above), and the categories whose literal
# (non-regex) patterns are a vendor's or site's name by nature.
_VENDOR_RULE_PREFIXES = ("vendor_", "site_")
_VENDOR_CATEGORIES = ("advertising", "watermark")
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
    bound); when it is known, every longer line is passed over before any other test.
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
    # The words the line rules need (their prefilters' literals), as one finder, held apart
    # from the prefilters: a clause holding one is not plain content (docclean.noise
    # `_noise_clause`), whether or not the prefilters are in use. None: no such words.
    line_words: re.Pattern[str] | None = None


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


def vendor_names(rules: Sequence[NoiseRule]) -> frozenset[str]:
    """The vendors and sites the rules name: the literals every match of a `vendor_`/`site_`
    rule needs (docclean.prefilter), and every literal pattern of an advertising or watermark rule."""
    names: set[str] = set()
    for rule in rules:
        if rule.category in _VENDOR_CATEGORIES and not rule.regex:
            names.add(rule.pattern)
        elif rule.id.startswith(_VENDOR_RULE_PREFIXES):
            prefilter = prefilter_of(rule.expression)
            names |= prefilter.literals if prefilter is not None and prefilter.literals is not None else set()
    return frozenset(names)


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
        prefilter_of(rule.expression) if rule.scope in ("line", "inline") else None for rule in ordered
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
        line_words=_line_words(ordered, prefilters),
    )


def _line_words(
    rules: tuple[NoiseRule, ...], prefilters: tuple[Prefilter | None, ...]
) -> re.Pattern[str] | None:
    words: set[str] = set()
    for rule, prefilter in zip(rules, prefilters, strict=True):
        if rule.scope == "line" and prefilter is not None and prefilter.literals:
            words |= prefilter.literals
    return literal_finder(words) if words else None


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
    finder = literal_finder(literals) if literals else None
    bounds = [prefilter.max_length if (prefilter := prefilters[i]) else None for i in members + standalone]
    max_length = None if None in bounds else max((bound or 0 for bound in bounds), default=None)
    return CombinedScope(
        combined, tuple(members), tuple(standalone), tuple(literal_rules), finder, max_length
    )


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
