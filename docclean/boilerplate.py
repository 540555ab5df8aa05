"""Boilerplate learned from the drop: lines a vendor repeats across the files it sells.

One document alone cannot tell a shop's name or a QQ group from content; the corpus can. Every
line of every document's clean text is folded (`line_key`: whitespace removed, digits to 0, the
placeholder token to □) and `LineCounts` counts in how many distinct documents each folded line
occurs, and how often at a document's edges. A folded line is boilerplate when it recurs in at
least `min_documents` documents, carries a noise signal (contact details, a vendor-like name, a
solicitation, a URL, an identifier) and is not a speech convention of the negative list
(rules/boilerplate.toml). Recurrence alone is not enough: 同志们： and 谢谢大家！ recur in
thousands of speeches. Recurring lines without a signal are candidates for a person to judge.

`apply_boilerplate` removes boilerplate lines from a record with the rule `corpus_boilerplate`
(category advertising). The record is rebuilt from its normalized text each time, with its own
removals plus one removal per boilerplate line (a line the noise stage already cut into pieces
becomes one removal per piece), so `pipeline.replay` stays exact and applying it twice, or to a
record that already had corpus removals, gives the same record. Counting always uses the text
before corpus removals (`base_text`), so a line's count does not fall once it is removed.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources

import pyarrow as pa

from docclean.noise import apply_removals
from docclean.placeholders import DEFAULT_TOKEN, replace_placeholders
from docclean.record import Record, Removal
from docclean.structure import find_structure

RULE_ID = "corpus_boilerplate"
CATEGORY = "advertising"
_EMPTY_FLAG = "empty_after_cleaning"
_DIGITS = str.maketrans("123456789０１２３４５６７８９", "0000000000000000000")

LINES_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False, metadata={"description": "The folded line (line_key)."}),
        pa.field("line", pa.string(), nullable=False, metadata={"description": "The line as first seen."}),
        pa.field("position", pa.string(), nullable=False, metadata={"description": "first, last or body."}),
    ],
    metadata={"docclean.table": "boilerplate_lines"},
)


@dataclass(frozen=True)
class BoilerplateRules:
    """What makes a recurring line boilerplate; loaded from rules/boilerplate.toml."""

    min_documents: int
    edge_lines: int
    signals: Mapping[str, re.Pattern[str]]
    negative_lines: frozenset[str]
    negative_patterns: tuple[re.Pattern[str], ...]
    # What makes a kept line (as it is, not folded) a candidate for a new noise rule, for
    # `docclean rules check` to list: looser than `signals`, never a reason to remove a line.
    candidate_signals: Mapping[str, re.Pattern[str]] = field(default_factory=dict)

    def signals_of(self, key: str) -> tuple[str, ...]:
        """Names of the signals the folded line carries, in the table's order."""
        return tuple(name for name, pattern in self.signals.items() if pattern.search(key))

    def candidate_signals_of(self, line: str) -> tuple[str, ...]:
        """Names of the candidate signals the line (not folded) carries, in the table's order."""
        return tuple(name for name, pattern in self.candidate_signals.items() if pattern.search(line))

    def is_convention(self, key: str) -> bool:
        """True for a speech convention of the negative list: content however often it recurs."""
        return key in self.negative_lines or any(p.search(key) for p in self.negative_patterns)

    def is_boilerplate(self, key: str, documents: int) -> bool:
        return documents >= self.min_documents and not self.is_convention(key) and bool(self.signals_of(key))


def parse_boilerplate_rules(toml_text: str, source: str) -> BoilerplateRules:
    """Parse a boilerplate table. Raises ValueError naming `source` and the problem."""
    try:
        data = tomllib.loads(toml_text)
        min_documents = int(data["min_documents"])
        edge_lines = int(data["edge_lines"])
        signals = {name: re.compile(pattern) for name, pattern in data["signals"].items()}
        negative = data.get("negative", {})
        lines = frozenset(line_key(line) for line in negative.get("lines", []))
        patterns = tuple(re.compile(p) for p in negative.get("patterns", []))
        candidate_signals = {
            name: re.compile(pattern) for name, pattern in data.get("candidate_signals", {}).items()
        }
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, re.error) as error:
        raise ValueError(f"{source}: the boilerplate table is invalid ({error}); fix the file.") from error
    if min_documents < 2:
        raise ValueError(
            f"{source}: min_documents must be at least 2 (a line in one document recurs nowhere)."
        )
    return BoilerplateRules(min_documents, edge_lines, signals, lines, patterns, candidate_signals)


def line_key(line: str, token: str = DEFAULT_TOKEN) -> str:
    """A line folded for counting: whitespace removed, digits to 0, the placeholder token to □."""
    return "".join(line.replace(token, "□").split()).translate(_DIGITS)


# The package's table, read once when the module is imported.
DEFAULT_RULES = parse_boilerplate_rules(
    resources.files("docclean").joinpath("rules/boilerplate.toml").read_text(encoding="utf-8"),
    "docclean/rules/boilerplate.toml",
)


# --- the record before and after corpus removals -------------------------------------------


def normalized_text_of(record: Record, token: str = DEFAULT_TOKEN) -> str:
    """The normalized text a record's annotations index into, rebuilt from the row alone.

    The inverse of `pipeline.replay`: placeholders' originals go back at their offsets, then
    every removed span is inserted at its offset. Raises ValueError when the annotations do
    not fit the text (a corrupt row).
    """
    if record.normalized_text:
        return record.normalized_text
    parts: list[str] = []
    position = 0
    for placeholder in sorted(record.placeholders, key=lambda p: p.start):
        if record.text[placeholder.start : placeholder.end] != token:
            raise ValueError(
                f"Placeholder at {placeholder.start} of {record.doc_id} is not the token {token!r}."
            )
        parts.append(record.text[position : placeholder.start])
        parts.append(placeholder.original)
        position = placeholder.end
    parts.append(record.text[position:])
    stripped = "".join(parts)
    out: list[str] = []
    length = 0
    kept = 0
    for removal in sorted(record.removed, key=lambda r: r.offset):
        take = removal.offset - length
        if take < 0 or kept + take > len(stripped):
            raise ValueError(f"Removal at {removal.offset} of {record.doc_id} does not fit its text.")
        out.append(stripped[kept : kept + take])
        out.append(removal.text)
        kept += take
        length = removal.offset + len(removal.text)
    out.append(stripped[kept:])
    return "".join(out)


def _rebuilt(record: Record, normalized: str, removed: tuple[Removal, ...], token: str) -> Record:
    stripped = apply_removals(normalized, removed)
    replaced = replace_placeholders(stripped, token)
    structure = find_structure(replaced.text)
    flags = [f for f in record.flags if f != _EMPTY_FLAG]
    if not replaced.text:
        flags.append(_EMPTY_FLAG)
    return replace(
        record,
        text=replaced.text,
        placeholders=replaced.placeholders,
        removed=removed,
        title=structure.title,
        doc_type=structure.doc_type,
        outline=structure.outline,
        flags=tuple(flags),
        char_count=len(replaced.text),
        normalized_text=normalized,
    )


def base_text(record: Record, token: str = DEFAULT_TOKEN) -> str:
    """The record's clean text without corpus removals: what its lines are counted on."""
    if not any(r.rule == RULE_ID for r in record.removed):
        return record.text
    return without_corpus_removals(record, token).text


def without_corpus_removals(record: Record, token: str = DEFAULT_TOKEN) -> Record:
    """The record as cleaning alone made it: every `corpus_boilerplate` removal undone."""
    if not any(r.rule == RULE_ID for r in record.removed):
        return record
    normalized = normalized_text_of(record, token)
    return _rebuilt(record, normalized, tuple(r for r in record.removed if r.rule != RULE_ID), token)


def apply_boilerplate(
    record: Record, is_boilerplate: Callable[[str], bool], token: str = DEFAULT_TOKEN
) -> Record:
    """The record with every line whose folded form `is_boilerplate` removed by `corpus_boilerplate`.

    Each removed line takes one adjacent line break with it (the one after it; the last line
    the one before it), so the kept lines keep their breaks. Returns the record unchanged
    (the same object) when its corpus removals are already exactly these.
    """
    base = without_corpus_removals(record, token)
    lines = base.text.split("\n")
    remove = [bool(line.strip()) and is_boilerplate(line_key(line, token)) for line in lines]
    if not any(remove):
        return base
    normalized = normalized_text_of(base, token)
    stripped = apply_removals(normalized, base.removed)
    # Offsets of lines in the stripped text (placeholders are replaced within lines, never
    # across a line break, so line i of the clean text is line i of the stripped text).
    stripped_lines = stripped.split("\n")
    if len(stripped_lines) != len(lines):
        raise ValueError(f"The lines of {base.doc_id} do not match its stripped text.")
    starts = [0]
    for line in stripped_lines:
        starts.append(starts[-1] + len(line) + 1)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        if not remove[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(lines) and remove[j + 1]:
            j += 1
        if j + 1 < len(lines):
            spans.append((starts[i], starts[j + 1]))
        else:
            spans.append((max(0, starts[i] - 1), len(stripped)))
        i = j + 1
    corpus = _to_normalized(spans, base.removed, stripped, normalized)
    removed = tuple(sorted(base.removed + corpus, key=lambda r: r.offset))
    result = _rebuilt(base, normalized, removed, token)
    return record if result.removed == record.removed and result.text == record.text else result


def _to_normalized(
    spans: Sequence[tuple[int, int]], removed: Sequence[Removal], stripped: str, normalized: str
) -> tuple[Removal, ...]:
    """Removals of the normalized text for spans of the stripped text, split around earlier removals."""
    # Kept runs of the normalized text: (normalized start, stripped start, length).
    runs: list[tuple[int, int, int]] = []
    position = 0
    kept = 0
    for removal in sorted(removed, key=lambda r: r.offset):
        if removal.offset > position:
            runs.append((position, kept, removal.offset - position))
            kept += removal.offset - position
        position = removal.offset + len(removal.text)
    if len(normalized) > position:
        runs.append((position, kept, len(normalized) - position))
    out: list[Removal] = []
    for start, end in spans:
        for norm_start, kept_start, length in runs:
            lo, hi = max(start, kept_start), min(end, kept_start + length)
            if lo < hi:
                offset = norm_start + lo - kept_start
                out.append(Removal(RULE_ID, CATEGORY, normalized[offset : offset + hi - lo], offset))
    return tuple(out)


# --- counting across documents ----------------------------------------------------------------


def document_lines(text: str, edge_lines: int, token: str = DEFAULT_TOKEN) -> dict[str, tuple[str, str]]:
    """Folded line -> (the line, position) for each distinct non-empty line of a clean text.

    Position is `first` within the first `edge_lines` non-empty lines, `last` within the last
    ones (first wins in a short document), `body` otherwise; for a line seen twice, its first
    occurrence.
    """
    lines = [line for line in text.split("\n") if line.strip()]
    out: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(lines):
        position = "first" if number < edge_lines else "last" if number >= len(lines) - edge_lines else "body"
        out.setdefault(line_key(line, token), (line.strip(), position))
    return out


@dataclass(frozen=True, slots=True)
class LineStat:
    """A folded line across the corpus: in how many documents, how often at an edge."""

    key: str
    line: str
    documents: int
    first: int
    last: int
    signals: tuple[str, ...]


class LineCounts:
    """Distinct documents per folded line, kept incrementally (add, replace, remove documents)."""

    def __init__(self, rules: BoilerplateRules | None = None) -> None:
        self.rules = rules or DEFAULT_RULES
        self._lines: dict[str, dict[str, tuple[str, str]]] = {}
        self._documents: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._lines)

    def set_document(self, doc_id: str, text: str, token: str = DEFAULT_TOKEN) -> None:
        """Count `text` (a base text: `base_text`) as the document's lines, replacing earlier ones."""
        self.remove_document(doc_id)
        lines = document_lines(text, self.rules.edge_lines, token)
        self._lines[doc_id] = lines
        self._documents.update(lines.keys())

    def remove_document(self, doc_id: str) -> None:
        old = self._lines.pop(doc_id, None)
        if old:
            self._documents.subtract(old.keys())
            for key in old:
                if self._documents[key] <= 0:
                    del self._documents[key]

    def documents_of(self, key: str) -> int:
        return self._documents.get(key, 0)

    def boilerplate(self) -> frozenset[str]:
        """The folded lines removed by `corpus_boilerplate` at the current counts."""
        return frozenset(k for k, n in self._documents.items() if self.rules.is_boilerplate(k, n))

    def holders(self, keys: Collection[str]) -> set[str]:
        """The documents that hold any of `keys`."""
        return {doc_id for doc_id, lines in self._lines.items() if not keys.isdisjoint(lines.keys())}

    def stat(self, key: str) -> LineStat:
        seen = [lines[key] for lines in self._lines.values() if key in lines]
        return LineStat(
            key,
            min(line for line, _ in seen),
            len(seen),
            sum(position == "first" for _, position in seen),
            sum(position == "last" for _, position in seen),
            self.rules.signals_of(key),
        )

    def candidates(self, limit: int | None = None) -> list[LineStat]:
        """Recurring lines (in at least `min_documents` documents) that are not boilerplate and not
        speech conventions, most frequent first (then by line)."""
        keys = [
            k
            for k, n in self._documents.items()
            if n >= self.rules.min_documents
            and not self.rules.is_convention(k)
            and not self.rules.signals_of(k)
        ]
        stats = sorted((self.stat(k) for k in keys), key=lambda s: (-s.documents, s.key))
        return stats[:limit] if limit is not None else stats

    def to_table(self) -> pa.Table:
        """The counts as (doc_id, key, line, position) rows (LINES_SCHEMA), sorted."""
        # Four columns filled in order, not a sorted list of row tuples: a corpus has millions of lines.
        columns: tuple[list[str], list[str], list[str], list[str]] = ([], [], [], [])
        doc_ids, keys, texts, positions = columns
        for doc_id in sorted(self._lines):
            for key, (line, position) in sorted(self._lines[doc_id].items()):
                doc_ids.append(doc_id)
                keys.append(key)
                texts.append(line)
                positions.append(position)
        return pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns], schema=LINES_SCHEMA)

    @classmethod
    def from_table(cls, table: pa.Table, rules: BoilerplateRules | None = None) -> LineCounts:
        """Load counts written by `to_table`; ValueError when a column is missing."""
        missing = set(LINES_SCHEMA.names) - set(table.column_names)
        if missing:
            raise ValueError(f"The boilerplate line counts lack the columns {sorted(missing)}; rebuild them.")
        counts = cls(rules)
        for doc_id, key, line, position in zip(
            *(table.column(name).to_pylist() for name in LINES_SCHEMA.names), strict=True
        ):
            counts._lines.setdefault(doc_id, {})[key] = (line, position)
        for lines in counts._lines.values():
            counts._documents.update(lines.keys())
        return counts

    def doc_ids(self) -> Iterable[str]:
        return self._lines.keys()
