"""Which lines of a whole batch each line or inline noise rule may match in, and which texts each
block rule may match in, in a few polars passes; and how often each text's most frequent line occurs.

Each such rule's regex is translated to a superset regex (docclean/batch/superset.py); polars
runs it over every line of the batch at once (Rust's regex engine, which finds literal
alternations at memory speed and caches the compiled pattern). A line the superset does not
match in is a line the rule cannot match in, so `strip_noise` tries the rule, with the `regex`
module and its timeouts, only on the other lines (`LineCandidates`): first hits and every
Removal are those of the per-document prefilters. A rule without a superset (syntax the
translation does not model, or a pattern polars rejects) is tried on every line, as a rule
without a prefilter is. Each rule's longest line (`Prefilter.max_length`) still applies.
A block rule's superset, its anchors kept, is searched in each whole text: a text it does not
match in is a text the rule is not searched in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, pairwise

import numpy as np
import polars as pl

from docclean.batch.superset import escaped_char, superset_pattern
from docclean.noise import may_be_pasted
from docclean.prefilter import prefilter_of
from docclean.rules import CombinedScope, RuleSet


class BatchLineFilter:
    """The supersets of one rule set's line and inline rules; built once, used on every batch."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        # Rule index -> its superset regex, for the rules that have one.
        self.supersets: dict[int, str] = {}
        for index, rule in enumerate(rules.rules):
            pattern = superset_pattern(rule.expression) if rule.scope in ("line", "inline") else None
            if pattern is not None and _compiles(pattern):
                self.supersets[index] = pattern
        # Block rule index -> its superset in a whole text, for the rules that have one.
        self.block_supersets = {
            index: pattern
            for index, rule in enumerate(rules.rules)
            if rule.scope == "block"
            and (pattern := superset_pattern(rule.expression, whole_text=True)) is not None
            and _compiles(pattern)
        }
        # Block rule index -> the literals a text must hold one of, for those of them that need
        # one: found by Aho-Corasick, far faster than the superset's classes are tried.
        self.block_literals = {
            index: sorted(prefilter.literals)
            for index in self.block_supersets
            if (prefilter := prefilter_of(rules.rules[index].expression)) is not None and prefilter.literals
        }
        self.bounds = {
            index: prefilter.max_length
            for index, prefilter in enumerate(rules.prefilters)
            if prefilter is not None and prefilter.max_length is not None
        }
        self.scoped = [index for index, rule in enumerate(rules.rules) if rule.scope in ("line", "inline")]
        # Every literal of every rule, and which rule each belongs to (a literal may serve several).
        owners = [
            (literal, rule)
            for rule in self.scoped
            if (prefilter := rules.prefilters[rule]) is not None and prefilter.literals
            for literal in sorted(prefilter.literals)
        ]
        self.literals = sorted({literal for literal, _ in owners})
        # Whether a line holds any literal at all, as a regex: Rust's engine scans for a literal
        # alternation faster than the Aho-Corasick pass that names each literal found.
        self.any_literal = "|".join("".join(map(escaped_char, literal)) for literal in self.literals)
        self.literal_owners = pl.DataFrame(
            {"literal": [literal for literal, _ in owners], "rule": [rule for _, rule in owners]},
            schema={"literal": pl.String, "rule": pl.Int64},
        )

    def candidates(self, texts: Sequence[str]) -> list[DocumentLines]:
        """For each text (normalized, as `strip_noise` takes it), the lines each rule may match in."""
        counts = np.fromiter((text.count("\n") + 1 for text in texts), np.int64, len(texts))
        firsts = np.zeros(len(texts) + 1, np.int64)
        np.cumsum(counts, out=firsts[1:])
        # Each text split alone, its lines following the previous text's: the lines of the texts
        # joined by line breaks. Polars reads many strings faster than one string of them all.
        documents = pl.Series(texts, dtype=pl.String)
        lines = documents.str.split("\n").explode() if texts else pl.Series([], dtype=pl.String)
        lengths = lines.str.len_chars().to_numpy()
        with_literal = self._lines_with_a_literal(lines)
        flags = {rule: self._may_match(rule, lines, lengths, with_literal) for rule in self.scoped}
        blocks = {rule: self._block_may_match(rule, documents) for rule in self.block_supersets}
        batch = _BatchLines(self, flags, lengths, blocks, self._most_repeated(lines, counts))
        return [
            DocumentLines(batch, document, first, last)
            for document, (first, last) in enumerate(pairwise(firsts.tolist()))
        ]

    def _lines_with_a_literal(self, lines: pl.Series) -> dict[int, np.ndarray]:
        """For each rule with literals, whether each line holds one: one Aho-Corasick pass for all,
        over only the lines that hold some literal (most lines of text hold none)."""
        with_any = np.flatnonzero(lines.str.contains(self.any_literal).to_numpy()) if self.literals else []
        found = (
            pl.DataFrame(
                {"literal": lines.gather(with_any).str.extract_many(self.literals, overlapping=True)}
            )
            .with_columns(line=pl.Series(with_any, dtype=pl.Int64))
            .explode("literal")
            .drop_nulls()
            .join(self.literal_owners, on="literal")
        )
        holding: dict[int, np.ndarray] = {}
        for (rule,), group in found.group_by("rule"):
            holding[int(rule)] = np.zeros(len(lines), bool)
            holding[int(rule)][group["line"].to_numpy()] = True
        return holding

    def _most_repeated(self, lines: pl.Series, counts: np.ndarray) -> np.ndarray:
        """How often each text's most frequent line occurs in it (`counts`: its lines); all zeros
        when the rules have no repeated-scope rule, which alone asks."""
        most = np.zeros(len(counts), np.int64)
        if self.rules.repeated and len(lines):
            found = (
                pl.DataFrame({"text": np.repeat(np.arange(len(counts)), counts), "line": lines})
                .group_by("text", "line")
                .len()
                .group_by("text")
                .agg(pl.col("len").max())
            )
            most[found["text"].to_numpy()] = found["len"].to_numpy()
        return most

    def _may_match(
        self, rule: int, lines: pl.Series, lengths: np.ndarray, with_literal: dict[int, np.ndarray]
    ) -> np.ndarray:
        """Whether `rule` may match in each line: one of its literals is there, and its superset
        matches there (a regex pass over those lines only)."""
        prefilter = self.rules.prefilters[rule]
        if prefilter is not None and prefilter.literals:
            may_match = with_literal.get(rule, np.zeros(len(lines), bool))
        elif rule in self.bounds and not (
            self.rules.rules[rule].scope == "line" and may_be_pasted(self.rules, rule)
        ):
            # Never tried on a line's units: its longest line bounds every line it is tried on.
            may_match = lengths <= self.bounds[rule]
        else:
            may_match = np.ones(len(lines), bool)
        superset = self.supersets.get(rule)
        if superset is not None and (tried := np.flatnonzero(may_match)).size:
            may_match[tried] = lines.gather(tried).str.contains(superset).to_numpy()
        return may_match

    def _block_may_match(self, rule: int, documents: pl.Series) -> np.ndarray:
        """Whether the block rule `rule` may match in each text: one of its literals is there,
        and its superset matches there."""
        literals = self.block_literals.get(rule)
        may_match = (
            np.ones(len(documents), bool)
            if literals is None
            else documents.str.contains_any(literals).to_numpy()
        )
        if (tried := np.flatnonzero(may_match)).size:
            may_match[tried] = documents.gather(tried).str.contains(self.block_supersets[rule]).to_numpy()
        return may_match


def _compiles(pattern: str) -> bool:
    try:
        pl.Series([""]).str.contains(pattern)
    except pl.exceptions.ComputeError:
        return False
    return True


class _BatchLines:
    """The lines of a whole batch each scope's rules may match in, found once for the batch, so
    that their numpy passes are paid per batch, and a document takes its slice of them."""

    def __init__(
        self,
        line_filter: BatchLineFilter,
        flags: dict[int, np.ndarray],
        lengths: np.ndarray,
        blocks: dict[int, np.ndarray],
        most_repeated: np.ndarray,
    ) -> None:
        self.line_filter = line_filter
        # Rule index -> whether the rule may match in each line of the batch.
        self.flags = flags
        self.lengths = lengths  # characters per line of the batch
        # Block rule index -> whether the rule may match in each text of the batch.
        self.blocks = blocks
        # How often each text's most frequent line occurs in it, for the repeated-scope rules.
        self.most_repeated = most_repeated
        # Rules of a scope -> the batch lines some of them may match in, and those rules per line.
        self._to_search: dict[tuple[int, ...], tuple[np.ndarray, list[list[int]]]] = {}
        # Line rules -> the batch lines holding a unit one of them may match.
        self._for_units: dict[tuple[int, ...], np.ndarray] = {}

    def _may_match(self, rule: int, bounded: bool) -> np.ndarray:
        bound = self.line_filter.bounds.get(rule) if bounded else None
        return self.flags[rule] if bound is None else self.flags[rule] & (self.lengths <= bound)

    def to_search(self, rules: tuple[int, ...]) -> tuple[np.ndarray, list[list[int]]]:
        """The batch lines some of `rules` may match in (increasing), and for each, those rules in order."""
        if rules not in self._to_search:
            may_match = np.stack([self._may_match(rule, bounded=True) for rule in rules])
            found = np.flatnonzero(may_match.any(axis=0))
            admitted = [list(compress(rules, row)) for row in may_match[:, found].T.tolist()]
            self._to_search[rules] = found, admitted
        return self._to_search[rules]

    def for_units(self, line_rules: tuple[int, ...]) -> np.ndarray:
        """The batch lines (increasing) where one of `line_rules` may match a unit."""
        if line_rules not in self._for_units:
            # A unit is shorter than its line: the rules' longest lines do not bound the line.
            self._for_units[line_rules] = np.flatnonzero(
                np.logical_or.reduce([self._may_match(rule, bounded=False) for rule in line_rules])
            )
        return self._for_units[line_rules]


@dataclass(frozen=True, slots=True)
class DocumentLines:
    """One document's lines of a batch: `LineCandidates` for `strip_noise`."""

    batch: _BatchLines
    document: int  # the document's index in the batch
    first: int  # the document's lines are first..last-1 of the batch
    last: int

    def may_match_block(self, rule: int) -> bool:
        blocks = self.batch.blocks.get(rule)
        return True if blocks is None else bool(blocks[self.document])

    def most_repeated(self) -> int:
        return int(self.batch.most_repeated[self.document])

    def lines_to_search(self, scope: CombinedScope) -> Iterator[tuple[int, list[int]]]:
        rules = tuple(sorted(scope.members + scope.standalone))
        if not rules:
            return
        found, admitted = self.batch.to_search(rules)
        begin, end = np.searchsorted(found, (self.first, self.last)).tolist()
        for index, line_rules in zip(found[begin:end].tolist(), admitted[begin:end], strict=True):
            # A list of its own: the caller may keep or change it.
            yield index - self.first, list(line_rules)

    def lines_for_units(self, line_rules: Sequence[int]) -> Iterator[int]:
        if line_rules:
            found = self.batch.for_units(tuple(line_rules))
            begin, end = np.searchsorted(found, (self.first, self.last)).tolist()
            for index in found[begin:end].tolist():
                yield index - self.first
