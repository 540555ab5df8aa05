"""A noise rule's regex as a superset regex for Rust's regex engine (what polars runs).

A line the rule matches in (with the `regex` module, VERSION0) is always a line the superset
matches in; the converse need not hold. Lookarounds, anchors and word boundaries are dropped
(each only ever removes matches), atomic groups become plain groups, lazy and possessive
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

_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_QUANTIFIER = regex.compile(r"\{(?P<low>[0-9]*)(?:(?P<comma>,)(?P<high>[0-9]*))?\}")
_GROUP_NAME = regex.compile(r"[A-Za-z_][A-Za-z0-9_]*>")
_MODELLED_FLAGS = "msx"


class _Unmodelled(Exception):
    """Syntax the translation does not model."""


def superset_pattern(expression: str) -> str | None:
    """The superset regex of `expression` for Rust's regex engine, or None (see the module docstring)."""
    translation = _Translation(expression)
    try:
        translated = translation.alternation(verbose=False)
        if translation.peek():
            raise _Unmodelled("an unbalanced parenthesis")
    except _Unmodelled:
        return None
    return translated


def _char(char: str) -> str:
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
        _char(chr(first)) if first == last else f"{_char(chr(first))}-{_char(chr(last))}"
        for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True)
    )


class _Translation:
    """A recursive-descent reading of a VERSION0 regex that writes its superset."""

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
        while verbose and self.peek():
            if self.peek().isspace():
                self.position += 1
            elif self.peek() == "#":
                end = self.pattern.find("\n", self.position)
                self.position = len(self.pattern) if end < 0 else end
            else:
                return

    def alternation(self, verbose: bool) -> str:
        branches = [self.sequence(verbose)]
        while self.peek() == "|":
            self.position += 1
            branches.append(self.sequence(verbose))
        return "|".join(branches)

    def sequence(self, verbose: bool) -> str:
        items: list[str] = []
        while True:
            self.skip_spacing(verbose)
            if self.peek() in ("", "|", ")"):
                return "".join(items)
            atom = self.atom(verbose)
            items.append(self.quantified(atom, verbose))

    def quantified(self, atom: str | None, verbose: bool) -> str:
        """`atom` with its quantifier; None is a zero-width item, which takes none."""
        self.skip_spacing(verbose)
        char = self.peek()
        if char in ("*", "+", "?"):
            self.position += 1
            quantifier = char
        elif char == "{" and (match := _QUANTIFIER.match(self.pattern, self.position)) is not None:
            if not (match["low"] or match["comma"]):
                raise _Unmodelled("a brace that is not a counted repeat")
            self.position = match.end()
            low = match["low"] or "0"
            quantifier = f"{{{low}}}" if match["comma"] is None else f"{{{low},{match['high']}}}"
        elif char == "{":
            raise _Unmodelled("a brace that is not a counted repeat")
        else:
            return "" if atom is None else atom
        if atom is None:
            raise _Unmodelled("a quantifier on a zero-width item")
        self.skip_spacing(verbose)
        if self.peek() in ("?", "+"):
            self.position += 1  # lazy or possessive: the same lines hold a match
            self.skip_spacing(verbose)
        if self.peek() in ("*", "+", "?", "{"):
            raise _Unmodelled("a repeated repeat")
        return f"(?:{atom}){quantifier}"

    def atom(self, verbose: bool) -> str | None:
        char = self.take()
        if char == "(":
            return self.group(verbose)
        if char == "[":
            return f"[{self.char_class()}]"
        if char == "\\":
            return self.escape()
        if char == ".":
            return "[^\\n]"
        if char in ("^", "$"):
            return None
        if char in "*+?{)":
            raise _Unmodelled("a quantifier without an item")
        return _char(char)

    def group(self, verbose: bool) -> str | None:
        zero_width = False
        if self.peek() == "?":
            self.position += 1
            char = self.take()
            if char in ("=", "!"):
                zero_width = True
            elif char == "<" and self.peek() in ("=", "!"):
                self.position += 1
                zero_width = True
            elif char == "<" or (char == "P" and self.take() == "<"):
                name = _GROUP_NAME.match(self.pattern, self.position)
                if name is None:
                    raise _Unmodelled("a group name")
                self.position = name.end()
            elif char != ">":
                self.position -= 1
                verbose = self.scoped_flags(verbose)
        body = self.alternation(verbose)
        if self.take() != ")":
            raise _Unmodelled("an unclosed group")
        return None if zero_width else f"(?:{body})"

    def scoped_flags(self, verbose: bool) -> bool:
        on = True
        while (char := self.take()) != ":":
            if char == "-" and on:
                on = False
            elif char in _MODELLED_FLAGS:
                if char == "x":
                    verbose = on
            else:
                raise _Unmodelled(f"(?{char}")
        return verbose

    def char_class(self) -> str:
        negated = self.peek() == "^"
        self.position += negated
        if self.peek() == "]":
            raise _Unmodelled("a class opening with ]")
        items: list[str] = []
        while (char := self.take()) != "]":
            if char == "[":
                raise _Unmodelled("a nested set or POSIX class")
            if char == "\\":
                escape = self.peek()
                if escape in "dswDSW":
                    self.position += 1
                    if escape.isupper():
                        raise _Unmodelled("a negated class escape inside a class")
                    items.append(_escape_class(escape))
                    continue
                low = self.escape_char()
            else:
                low = char
            if self.peek() == "-" and self.pattern[self.position + 1 : self.position + 2] not in ("]", ""):
                self.position += 1
                high = self.take()
                if high == "[":
                    raise _Unmodelled("a nested set or POSIX class")
                if high == "\\":
                    high = self.escape_char()
                items.append(f"{_char(low)}-{_char(high)}")
            else:
                items.append(_char(low))
        return ("^" if negated else "") + "".join(items)

    def escape(self) -> str | None:
        char = self.peek()
        if char in ("b", "B", "A", "Z"):
            self.position += 1
            return None
        if char in "dsw":
            self.position += 1
            return f"[{_escape_class(char)}]"
        if char in "DSW":
            self.position += 1
            return f"[^{_escape_class(char.lower())}]"
        return _char(self.escape_char())

    def escape_char(self) -> str:
        """The character an escape (after its backslash) stands for."""
        char = self.take()
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
        raise _Unmodelled(f"\\{char}")
