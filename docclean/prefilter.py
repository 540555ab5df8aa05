"""Prefilters: a cheap necessary condition for a line or inline noise rule to match in a line.

Most lines of a document hold no noise, and a regex call per line per rule costs far more
than reading the line once. So each line or inline rule gets a necessary condition for it to
match in a line, derived from its regex: literals one of which the line must contain, and
for rules starting `^(?=.{m,N}$)` a maximal line length. The analysis is conservative: it
models a subset of the syntax exactly and gives up (no prefilter, the rule is searched in
every line) on anything else, so a prefilter can only skip lines the rule cannot match.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Generic, TypeVar

import regex

# The most strings a set of exact matches or required literals may hold before the analysis
# forgets it; literal alternations of this size still scan at C speed. The built-in rules with the
# most (copyright_notice, advertising_line) hold some 280 (a test keeps every one prefiltered).
_MAX_EXACT = 64
_MAX_LITERALS = 512
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


# What a Reader makes of a piece of a regex.
Piece = TypeVar("Piece")


class Unmodelled(Exception):
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
        raise Unmodelled("a quantifier on a zero-width item")
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


class Reader(abc.ABC, Generic[Piece]):
    """Reads the `regex` module's VERSION0 syntax piece by piece; a subclass says what each piece
    means (a `Piece`) by its `sequence`.

    Raises Unmodelled at syntax outside the subset it reads (see `escape_char` and the callers).
    """

    def read(self) -> Piece:
        """What the whole expression means; raises Unmodelled."""
        piece = self.alternation(verbose=False)
        if self.peek():
            raise Unmodelled("an unbalanced parenthesis")
        return piece

    def alternation(self, verbose: bool) -> Piece:
        return self.alternative(self.branches(verbose))

    def branches(self, verbose: bool) -> list[Piece]:
        branches = [self.sequence(verbose)]
        while self.peek() == "|":
            self.position += 1
            branches.append(self.sequence(verbose))
        return branches

    @abc.abstractmethod
    def sequence(self, verbose: bool) -> Piece:
        """What the items up to the next `|` or `)` match, one after the other."""

    @abc.abstractmethod
    def alternative(self, branches: list[Piece]) -> Piece:
        """What matching any one of `branches` means."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.position = 0

    def peek(self) -> str:
        return self.pattern[self.position : self.position + 1]

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise Unmodelled("unexpected end")
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

    def quantifier(self, verbose: bool) -> tuple[int, int | None] | None:
        """Read the quantifier after an item, if any: its (least, most) repeats, most None for no bound."""
        self.skip_spacing(verbose)
        char = self.peek()
        if char in ("*", "+", "?"):
            self.position += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{":
            match = _QUANTIFIER.match(self.pattern, self.position)
            if match is None or not (match["low"] or match["comma"]):
                raise Unmodelled("a brace that is not a counted repeat")
            self.position = match.end()
            low = int(match["low"] or 0)
            high = low if match["comma"] is None else (int(match["high"]) if match["high"] else None)
        else:
            return None
        self.skip_spacing(verbose)
        if self.peek() in ("?", "+"):
            self.position += 1  # lazy or possessive: the same strings can match
            self.skip_spacing(verbose)
        if self.peek() in ("*", "+", "?", "{"):
            raise Unmodelled("a repeated repeat")
        return low, high

    def group_opening(self, verbose: bool) -> tuple[tuple[bool, bool] | None, bool]:
        """Read a group's opening after its `(`: (positive, behind) for a lookaround, None for
        any other group; and whether the group's body is verbose."""
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
                    raise Unmodelled("a group name")
                self.position = name.end()
            elif char != ">":  # an atomic group matches some of what the plain group would
                self.position -= 1
                verbose = self.scoped_flags(verbose)
        return lookaround, verbose

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
                raise Unmodelled(f"(?{char}")
        return verbose

    def escape_char(self) -> str | None:
        """The character an escape (after its backslash) stands for; None for a class like \\d."""
        char = self.take()
        if char in _CLASS_ESCAPES:
            return None
        if char in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[char]
        if char in _HEX_ESCAPES:
            digits = self.pattern[self.position : self.position + _HEX_ESCAPES[char]]
            if len(digits) < _HEX_ESCAPES[char] or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise Unmodelled("a hexadecimal escape")
            self.position += len(digits)
            return chr(int(digits, 16))
        if char.isascii() and not char.isalnum():
            return char
        # Back-references, \g, \K, \G, \p{..}, \N{..}, \X, octal, \b in a class, ...
        raise Unmodelled(f"\\{char}")


class _Analysis(Reader[_Facts]):
    """A recursive-descent reading of a regex: what each piece can match (`_Facts`)."""

    def alternative(self, branches: list[_Facts]) -> _Facts:
        return _alternation_facts(branches)

    def sequence(self, verbose: bool) -> _Facts:
        items: list[_Facts] = []
        while True:
            self.skip_spacing(verbose)
            if self.peek() in ("", "|", ")"):
                return _sequence_facts(items) if items else _Facts(frozenset({""}), None)
            items.append(self.quantified(self.atom(verbose), verbose))

    def quantified(self, atom: _Facts, verbose: bool) -> _Facts:
        repeat = self.quantifier(verbose)
        return atom if repeat is None else _repetition_facts(atom, *repeat)

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
            raise Unmodelled("a quantifier without an item")
        return _Facts(frozenset(char), frozenset(char))

    def group(self, verbose: bool) -> _Facts:
        lookaround, verbose = self.group_opening(verbose)
        body = self.alternation(verbose)
        if self.take() != ")":
            raise Unmodelled("an unclosed group")
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

    def char_class(self) -> _Facts:
        negated = self.peek() == "^"
        self.position += negated
        if self.peek() == "]":
            raise Unmodelled("a class opening with ]")
        chars: set[str] = set()
        known = not negated
        while (char := self.take()) != "]":
            if char == "[":
                raise Unmodelled("a nested set or POSIX class")
            low = self.escape_char() if char == "\\" else char
            if self.peek() == "-" and self.pattern[self.position + 1 : self.position + 2] not in ("]", ""):
                self.position += 1
                high_char = self.take()
                if high_char == "[":
                    raise Unmodelled("a nested set or POSIX class")
                high = self.escape_char() if high_char == "\\" else high_char
                if low is None or high is None:
                    raise Unmodelled("a range of a class escape")
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
        literal = self.escape_char()
        if literal is None:
            return _Facts(None, None)
        return _Facts(frozenset(literal), frozenset(literal))


# A counted repeat as `regex` reads it: `{,}` and `{,n}` count from zero, `{}` is no repeat.
_QUANTIFIER = regex.compile(r"\{(?P<low>[0-9]*)(?:(?P<comma>,)(?P<high>[0-9]*))?\}")


# Memoized: a pure function of the expression, and the analysis (0.1 s for the built-in rules)
# would otherwise run each time rules load: twice per `docclean run`, once per scheduled run.
@cache
def prefilter_of(expression: str) -> Prefilter | None:
    """The prefilter of a line or inline rule's regex; None when nothing useful is known."""
    try:
        facts = _Analysis(expression).read()
    except Unmodelled:
        return None
    literals = _more_selective(_literals(facts.exact), facts.required)
    if literals is None and facts.max_length is None:
        return None
    finder = None if literals is None else literal_finder(literals)
    return Prefilter(literals, facts.max_length, finder)


def literal_finder(literals: Iterable[str]) -> re.Pattern[str]:
    # The standard library's engine finds an alternation of plain literals about three times
    # faster than `regex`, and plain literals mean the same to both.
    return re.compile("|".join(re.escape(literal) for literal in sorted(literals)))
