"""A noise rule's regex as a superset regex for Rust's regex engine (what polars runs).

A line the rule matches in (with the `regex` module, VERSION0) is always a line the superset
matches in; the converse need not hold. Lookarounds, anchors and word boundaries are dropped
(each only ever removes matches; a block rule's anchors are kept, see `superset_pattern`), atomic groups become plain groups, lazy and possessive
quantifiers greedy ones; characters and classes are kept exactly. Every literal character is
written as `\\x{..}`, so no character means something else to the other engine, and the class
escapes `\\d`, `\\s`, `\\w` (whose Unicode tables differ between engines and versions) are
written out as the ranges Python's `regex` module gives them. Any other syntax (back-references,
conditionals, Unicode properties, flags other than m, s and x) gives no superset: None.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import regex

from docclean.prefilter import Reader, Unmodelled

_CLASS_ESCAPES = "dswDSW"


def superset_pattern(expression: str, whole_text: bool = False) -> str | None:
    """The superset regex of `expression` for Rust's regex engine, or None (see the module docstring).

    `whole_text`: of a block rule, searched in a whole text (compiled with MULTILINE). Its anchors
    are kept, as Rust's multi-line ones, true wherever the rule's are whatever its flags (`^`
    and `$` at every line's edges, `\\A`, `\\Z` as `\\z`): without them a rule of a line of
    digits (a page number) would pass every text with a digit. And `.` matches any character,
    as a scoped s flag may let the rule's.
    """
    try:
        return _Translation(expression, whole_text).read()
    except Unmodelled:
        return None


def escaped_char(char: str) -> str:
    """`char` as Rust's regex engine reads it, whatever the character: `\\x{..}`."""
    return f"\\x{{{ord(char):x}}}"


@cache
def _escape_class(escape: str) -> str:
    """The class body (ranges) of what `\\d`, `\\s` or `\\w` matches in the `regex` module, VERSION0."""
    every = np.arange(0x110000, dtype=np.uint32)
    every = every[(every < 0xD800) | (every > 0xDFFF)]
    text = every.tobytes().decode("utf-32-le")
    matched = np.frombuffer(
        "".join(regex.findall(f"\\{escape}", text, regex.VERSION0)).encode("utf-32-le"), np.uint32
    )
    breaks = np.flatnonzero(np.diff(matched) != 1)
    firsts = np.append(matched[:1], matched[breaks + 1])
    lasts = np.append(matched[breaks], matched[-1:])
    return "".join(
        escaped_char(chr(first)) if first == last else f"{escaped_char(chr(first))}-{escaped_char(chr(last))}"
        for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True)
    )


def _class_escape(escape: str) -> str:
    """A class escape (`d`, `S`, ...) as a class of its own."""
    return f"[{'^' if escape.isupper() else ''}{_escape_class(escape.lower())}]"


class _Translation(Reader[str]):
    """What each piece of a regex becomes in its superset; None for a zero-width piece, dropped."""

    def __init__(self, pattern: str, whole_text: bool = False) -> None:
        super().__init__(pattern)
        self.whole_text = whole_text

    def alternative(self, branches: list[str]) -> str:
        return "|".join(branches)

    def sequence(self, verbose: bool) -> str:
        items: list[str] = []
        while True:
            self.skip_spacing(verbose)
            if self.peek() in ("", "|", ")"):
                return "".join(items)
            atom = self.atom(verbose)
            repeat = self.quantifier(verbose)
            if repeat is None:
                items.append(atom or "")
            elif atom is None:
                raise Unmodelled("a quantifier on a zero-width item")
            else:
                low, high = repeat
                items.append(f"(?:{atom}){{{low},{'' if high is None else high}}}")

    def atom(self, verbose: bool) -> str | None:
        char = self.take()
        if char == "(":
            lookaround, verbose = self.group_opening(verbose)
            body = self.alternation(verbose)
            if self.take() != ")":
                raise Unmodelled("an unclosed group")
            return None if lookaround is not None else f"(?:{body})"
        if char == "[":
            return f"[{self.char_class()}]"
        if char == "\\":
            if self.peek() in ("A", "Z") and self.whole_text:
                return "\\A" if self.take() == "A" else "\\z"
            if self.peek() in ("b", "B", "A", "Z"):
                self.position += 1
                return None
            if self.peek() and self.peek() in _CLASS_ESCAPES:
                return _class_escape(self.take())
            return self.literal()
        if char == ".":
            return "(?s:.)" if self.whole_text else "[^\\n]"
        if char in ("^", "$"):
            return f"(?m:{char})" if self.whole_text else None
        if char in "*+?{)":
            raise Unmodelled("a quantifier without an item")
        return escaped_char(char)

    def literal(self) -> str:
        """The character an escape (after its backslash) stands for, written out."""
        char = self.escape_char()
        if char is None:
            raise Unmodelled("a class escape where a character is needed")
        return escaped_char(char)

    def char_class(self) -> str:
        negated = self.peek() == "^"
        self.position += negated
        if self.peek() == "]":
            raise Unmodelled("a class opening with ]")
        items: list[str] = []
        while (char := self.take()) != "]":
            if char == "[":
                raise Unmodelled("a nested set or POSIX class")
            if char == "\\" and self.peek() and self.peek() in _CLASS_ESCAPES:
                # Rust reads a class nested in a class as their union.
                items.append(_class_escape(self.take()))
                continue
            low = self.literal() if char == "\\" else escaped_char(char)
            if self.peek() == "-" and self.pattern[self.position + 1 : self.position + 2] not in ("]", ""):
                self.position += 1
                high_char = self.take()
                if high_char == "[":
                    raise Unmodelled("a nested set or POSIX class")
                high = self.literal() if high_char == "\\" else escaped_char(high_char)
                items.append(f"{low}-{high}")
            else:
                items.append(low)
        return ("^" if negated else "") + "".join(items)
