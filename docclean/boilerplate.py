"""Boilerplate learned from the drop: lines a vendor repeats across the files it sells.

One document alone cannot tell a shop's name or a QQ group from content; the corpus can. Every
line of every document's clean text is folded (`line_key`: whitespace removed, digits to 0, the
placeholder token to □) and `LineCounts` counts in how many distinct documents each folded line
occurs, and how often at a document's edges; documents holding the same set of folded lines (exact
copies) count once. A folded line is boilerplate when it recurs in at
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

import hashlib
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from docclean.noise import apply_removals
from docclean.placeholders import DEFAULT_TOKEN, replace_placeholders
from docclean.record import Record, Removal
from docclean.structure import find_structure

RULE_ID = "corpus_boilerplate"
CATEGORY = "advertising"
_EMPTY_FLAG = "empty_after_cleaning"
_DIGITS = re.compile("[1-9０-９]")
# Stands for the line breaks while line_facts removes a whole text's other whitespace at once (not
# whitespace itself, so str.split keeps it; a text that holds it is folded line by line).
_KEEP = "\x00"

# Schema metadata key of the counts' format (2: key hashes and known lines; 1 kept every line's text).
FORMAT_KEY = b"docclean.lines.format"

LINES_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field(
            "key_hash", pa.uint64(), nullable=False, metadata={"description": "key_hash of the folded line."}
        ),
        pa.field(
            "position",
            pa.int8(),
            nullable=False,
            metadata={"description": "0 first, 1 last, 2 body (POSITIONS)."},
        ),
    ],
    metadata={"docclean.table": "boilerplate_lines", FORMAT_KEY: b"2"},
)

LINE_TEXTS_SCHEMA = pa.schema(
    [
        pa.field("key_hash", pa.uint64(), nullable=False),
        pa.field(
            "holder",
            pa.string(),
            nullable=False,
            metadata={"description": "The doc_id the line is taken from."},
        ),
        pa.field(
            "line", pa.string(), nullable=False, metadata={"description": "The line as its holder has it."}
        ),
        pa.field(
            "applied",
            pa.bool_(),
            nullable=False,
            metadata={"description": "The snapshot's documents are cleaned of it (corpus_boilerplate)."},
        ),
    ],
    metadata={"docclean.table": "boilerplate_line_texts", FORMAT_KEY: b"2"},
)


class StaleLineCounts(ValueError):
    """Kept line counts in a format this docclean does not read: the corpus pass counts again."""


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
    return _DIGITS.sub("0", "".join(line.replace(token, "□").split()))


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

POSITIONS = ("first", "last", "body")


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


def key_hash(key: str) -> int:
    """A folded line's 64-bit hash (BLAKE2b of its UTF-8, 8 bytes, little-endian): what the counts keep."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def _first_lines(text: str, edge_lines: int, token: str) -> dict[str, tuple[int, int]]:
    """Folded line -> (its index in text.split("\\n"), its position) for each distinct non-empty line:
    `document_lines`, which is the reference (tests), with the whole text folded at once.

    The folds act on single characters, and on the token, which holds no line break: so the text
    is folded whole, its line breaks standing as _KEEP while its other whitespace goes in one split.
    """
    if not token or "\n" in token or _KEEP in text or _KEEP in token:
        lines = text.split("\n")
        keys = [line_key(line, token) if line.strip() else "" for line in lines]
    else:
        spaced = text.replace(token, "□").replace("\n", _KEEP)
        keys = _DIGITS.sub("0", "".join(spaced.split())).split(_KEEP)
    present = [index for index, key in enumerate(keys) if key]
    last = len(present) - edge_lines
    out: dict[str, tuple[int, int]] = {}
    for number, index in enumerate(present):
        out.setdefault(keys[index], (index, 0 if number < edge_lines else 1 if number >= last else 2))
    return out


def _key_hashes(keys: Iterable[str]) -> np.ndarray:
    """`key_hash` of each key, as uint64."""
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(key.encode("utf-8"), digest_size=8).digest() for key in keys])
    return np.frombuffer(digests, "<u8").astype(np.uint64)


def line_facts(text: str, edge_lines: int, token: str = DEFAULT_TOKEN) -> tuple[np.ndarray, np.ndarray]:
    """The `key_hash` of each distinct folded line of a clean text (uint64), and its position (int8,
    an index of POSITIONS), in the order of `document_lines`."""
    lines = _first_lines(text, edge_lines, token)
    positions = np.fromiter((position for _, position in lines.values()), np.int8, len(lines))
    return _key_hashes(lines), positions


def lines_with(
    text: str, values: Collection[int], edge_lines: int, token: str = DEFAULT_TOKEN
) -> dict[int, str]:
    """The lines of a base text whose key_hash is one of `values` (key_hash -> the line, stripped).

    Raises ValueError when the text has no line for one of them.
    """
    lines = _first_lines(text, edge_lines, token)
    rows = text.split("\n")
    found = {
        value: rows[index].strip()
        for value, (index, _) in zip(_key_hashes(lines).tolist(), lines.values(), strict=True)
        if value in values
    }
    if len(found) != len(values):
        raise ValueError("A text lacks a line it was counted with; its document must be counted again.")
    return found


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
    """Distinct documents per folded line (copies once: `_counted`), kept incrementally (add, replace, remove documents).

    Columnar: one row per (document, distinct folded line) holding the line's `key_hash` and its
    position, in numpy arrays (13 bytes a row, where a dict of strings took hundreds). The text
    of a line is kept only for lines in at least `min_documents` documents, the only ones that can
    be boilerplate or candidates: the line as the holder with the smallest doc_id has it, so the
    counts do not depend on the order documents arrived in. Counting a document does not need
    those texts; after counting, `wanted_lines` names the documents whose text supplies a line
    not yet known, and `fill_lines` takes those texts. `boilerplate` raises ValueError while a
    line is wanted; `candidates` lists the lines whose text is known (a state kept under a higher
    threshold lacks the others until the next run).
    """

    def __init__(self, rules: BoilerplateRules | None = None) -> None:
        self.rules = rules or DEFAULT_RULES
        self._doc_ids: list[str] = []
        self._codes: dict[str, int] = {}
        self._doc = np.empty(0, np.int32)
        self._hash = np.empty(0, np.uint64)
        self._position = np.empty(0, np.int8)
        # key_hash -> (holder doc_id, the line), for lines in at least min_documents documents.
        self._lines: dict[int, tuple[str, str]] = {}
        # The folded lines the documents were last cleaned of, as the corpus pass recorded them: what
        # a change of the counts, or of the rules, is measured against.
        self.applied: frozenset[str] = frozenset()
        self._totals: tuple[np.ndarray, np.ndarray] | None = None
        self._row_contents: np.ndarray | None = None  # `_contents`, kept until the rows change

    def __len__(self) -> int:
        """The number of distinct folded lines."""
        return len(self._counted()[0])

    def doc_ids(self) -> Iterable[str]:
        return self._codes.keys()

    def set_document(self, doc_id: str, text: str, token: str = DEFAULT_TOKEN) -> None:
        """Count `text` (a base text: `base_text`) as the document's lines, replacing earlier ones."""
        hashes, positions = line_facts(text, self.rules.edge_lines, token)
        self.set_documents([doc_id], hashes, positions, [len(hashes)])

    def set_documents(
        self, doc_ids: Sequence[str], hashes: np.ndarray, positions: np.ndarray, sizes: Sequence[int]
    ) -> None:
        """Count many documents at once, replacing what they had: their `line_facts` one after
        another (`hashes` uint64 and `positions` int8, flat), `sizes[i]` of them for `doc_ids[i]`."""
        self.remove_documents(doc_ids)
        codes = np.arange(len(self._doc_ids), len(self._doc_ids) + len(doc_ids), dtype=np.int32)
        for code, doc_id in zip(codes.tolist(), doc_ids, strict=True):
            self._codes[doc_id] = code
        self._doc_ids.extend(doc_ids)
        self._doc = np.concatenate([self._doc, np.repeat(codes, np.asarray(sizes, np.int64))])
        self._hash = np.concatenate([self._hash, np.asarray(hashes, np.uint64)])
        self._position = np.concatenate([self._position, np.asarray(positions, np.int8)])
        self._totals = self._row_contents = None

    def remove_document(self, doc_id: str) -> None:
        self.remove_documents([doc_id])

    def remove_documents(self, doc_ids: Iterable[str]) -> None:
        names = [doc_id for doc_id in doc_ids if doc_id in self._codes]
        gone = [self._codes.pop(doc_id) for doc_id in names]
        if gone:
            # A line taken from a document that changes or leaves is taken again from its holders.
            left = set(names)
            self._lines = {value: held for value, held in self._lines.items() if held[0] not in left}
            keep = ~np.isin(self._doc, np.asarray(gone, np.int32))
            self._doc, self._hash, self._position = self._doc[keep], self._hash[keep], self._position[keep]
            self._totals = self._row_contents = None

    def _contents(self) -> np.ndarray:
        """Each row's document content: the sum (mod 2**64) of its document's key hashes, which
        stands for the document's set of folded lines (a document counts each line once)."""
        if self._row_contents is None:
            sums = np.zeros(len(self._doc_ids), np.uint64)
            np.add.at(sums, self._doc, self._hash)
            self._row_contents = sums[self._doc]
        return self._row_contents

    def _counted(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct key hashes, sorted, and in how many distinct documents each is.

        Documents holding the same set of folded lines (exact copies, or copies that differ in
        whitespace or digits alone) count once: a document's own lines must not become
        boilerplate because the drop holds five copies of it.
        """
        if self._totals is None:
            contents = self._contents()
            order = np.lexsort((contents, self._hash))
            hashes, contents = self._hash[order], contents[order]
            distinct = np.r_[True, (hashes[1:] != hashes[:-1]) | (contents[1:] != contents[:-1])][
                : len(hashes)
            ]
            self._totals = np.unique(hashes[distinct], return_counts=True)
        return self._totals

    def holds_content(self, hashes: np.ndarray) -> bool:
        """Whether a counted document holds the set of folded lines whose key hashes (distinct,
        uint64: `line_facts`) are `hashes`: a document of that content counts for nothing more."""
        # Summed mod 2**64, as `_contents` sums a document's.
        content = np.add.reduce(np.asarray(hashes, np.uint64), dtype=np.uint64)
        return bool(len(self._doc)) and bool((self._contents() == content).any())

    def documents_of(self, key: str) -> int:
        hashes, counts = self._counted()
        value = np.uint64(key_hash(key))
        at = int(np.searchsorted(hashes, value))
        return int(counts[at]) if at < len(hashes) and hashes[at] == value else 0

    def _recurring(self) -> np.ndarray:
        hashes, counts = self._counted()
        return hashes[counts >= self.rules.min_documents]

    def wanted_lines(self) -> dict[str, set[int]]:
        """The documents whose text `fill_lines` needs, each with the key hashes it supplies.

        For every line in at least `min_documents` documents, its holder with the smallest
        doc_id, unless the line is already known from that holder. Lines that stopped recurring
        are forgotten here.
        """
        recurring = self._recurring()
        still = set(recurring.tolist())
        self._lines = {h: v for h, v in self._lines.items() if h in still}
        if not len(recurring):
            return {}
        rows = np.isin(self._hash, recurring)
        live, rank_of_code = self._ranks()
        hashes, ranks = self._hash[rows], rank_of_code[self._doc[rows]]
        order = np.lexsort((ranks, hashes))
        hashes, ranks = hashes[order], ranks[order]
        first = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
        wanted: dict[str, set[int]] = {}
        for value, rank in zip(hashes[first].tolist(), ranks[first].tolist(), strict=True):
            holder = live[rank]
            if self._lines.get(value, ("",))[0] != holder:
                wanted.setdefault(holder, set()).add(value)
        return wanted

    def _ranks(self) -> tuple[list[str], np.ndarray]:
        """The documents' doc_ids, sorted, and each document code's rank among them."""
        live = sorted(self._codes)
        rank_of_code = np.zeros(len(self._doc_ids), np.int64)
        rank_of_code[[self._codes[doc_id] for doc_id in live]] = np.arange(len(live))
        return live, rank_of_code

    def fill_lines(self, texts: Mapping[str, str], token: str = DEFAULT_TOKEN) -> None:
        """Take the lines `wanted_lines` asks for from their holders' texts (doc_id -> base text).

        Raises ValueError when a text lacks a line it was counted with (it is not the text the
        document was counted on).
        """
        for doc_id, values in self.wanted_lines().items():
            if doc_id in texts:
                self.set_lines(doc_id, lines_with(texts[doc_id], values, self.rules.edge_lines, token))

    def set_lines(self, holder: str, lines: Mapping[int, str]) -> None:
        """Record lines (key_hash -> line) as `holder` has them: what `lines_with` found for `wanted_lines`."""
        self._lines.update((value, (holder, line)) for value, line in lines.items())

    def _known(self, every: bool = True) -> dict[str, int]:
        """Folded line -> documents, for every line in at least `min_documents` documents.

        Raises ValueError when the text of one is not known, unless `every` is False: then those
        are left out (what a listing can do with counts kept under another threshold).
        """
        hashes, counts = self._counted()
        recurring = counts >= self.rules.min_documents
        known = {}
        for value, documents in zip(hashes[recurring].tolist(), counts[recurring].tolist(), strict=True):
            if value in self._lines:
                known[line_key(self._lines[value][1])] = documents
            elif every:
                raise ValueError(
                    "A recurring line's text is not known yet: call fill_lines with wanted_lines' texts."
                )
        return known

    def boilerplate(self) -> frozenset[str]:
        """The folded lines removed by `corpus_boilerplate` at the current counts."""
        return frozenset(k for k, n in self._known().items() if self.rules.is_boilerplate(k, n))

    def holders(self, keys: Collection[str]) -> set[str]:
        """The documents that hold any of `keys`."""
        values = np.asarray([key_hash(key) for key in keys], np.uint64)
        codes = np.unique(self._doc[np.isin(self._hash, values)])
        names = {code: doc_id for doc_id, code in self._codes.items()}
        return {names[code] for code in codes.tolist()}

    def stat(self, key: str) -> LineStat:
        value = key_hash(key)
        rows = self._hash == np.uint64(value)
        positions, contents = self._position[rows], self._contents()[rows]
        line = self._lines[value][1] if value in self._lines else key

        def documents(at: np.ndarray) -> int:  # distinct contents, as _counted counts them
            return len(np.unique(contents[at]))

        return LineStat(
            key,
            line,
            documents(np.ones(len(contents), bool)),
            documents(positions == POSITIONS.index("first")),
            documents(positions == POSITIONS.index("last")),
            self.rules.signals_of(key),
        )

    def candidates(self, limit: int | None = None) -> list[LineStat]:
        """Recurring lines (in at least `min_documents` documents) that are not boilerplate and not
        speech conventions, most frequent first (then by line)."""
        keys = [
            k
            for k in self._known(every=False)
            if not self.rules.is_convention(k) and not self.rules.signals_of(k)
        ]
        stats = sorted((self.stat(k) for k in keys), key=lambda s: (-s.documents, s.key))
        return stats[:limit] if limit is not None else stats

    def to_tables(self) -> tuple[pa.Table, pa.Table]:
        """The counts as (doc_id, key_hash, position) rows (LINES_SCHEMA), sorted, and the known
        lines (LINE_TEXTS_SCHEMA)."""
        live, rank_of_code = self._ranks()
        ranks = rank_of_code[self._doc]
        order = np.lexsort((self._hash, ranks))
        lines = pa.table(
            {
                "doc_id": pc.take(pa.array(live, pa.string()), pa.array(ranks[order])),
                "key_hash": pa.array(self._hash[order], pa.uint64()),
                "position": pa.array(self._position[order], pa.int8()),
            },
            schema=LINES_SCHEMA,
        )
        known = sorted(self._lines.items())
        applied = [line_key(line) in self.applied for _, (_, line) in known]
        if sum(applied) != len(self.applied):
            raise ValueError(
                "An applied boilerplate line is not among the recurring lines; it cannot be kept."
            )
        texts = pa.table(
            {
                "key_hash": pa.array([value for value, _ in known], pa.uint64()),
                "holder": pa.array([holder for _, (holder, _) in known], pa.string()),
                "line": pa.array([line for _, (_, line) in known], pa.string()),
                "applied": pa.array(applied, pa.bool_()),
            },
            schema=LINE_TEXTS_SCHEMA,
        )
        return lines, texts

    @classmethod
    def from_tables(
        cls, lines: pa.Table, texts: pa.Table, rules: BoilerplateRules | None = None
    ) -> LineCounts:
        """Load counts written by `to_tables`; StaleLineCounts when they are in another format."""
        for table, schema in ((lines, LINES_SCHEMA), (texts, LINE_TEXTS_SCHEMA)):
            metadata = table.schema.metadata or {}
            if (
                set(schema.names) - set(table.column_names)
                or metadata.get(FORMAT_KEY) != schema.metadata[FORMAT_KEY]
            ):
                raise StaleLineCounts(
                    "The boilerplate line counts are in an older format; they are counted again."
                )
        counts = cls(rules)
        encoded = pc.dictionary_encode(lines.column("doc_id").combine_chunks())
        counts._doc_ids = encoded.dictionary.to_pylist()
        counts._codes = {doc_id: code for code, doc_id in enumerate(counts._doc_ids)}
        counts._doc = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
        counts._hash = lines.column("key_hash").to_numpy().astype(np.uint64)
        counts._position = lines.column("position").to_numpy().astype(np.int8)
        counts._lines = {
            value: (holder, line)
            for value, holder, line in zip(
                texts.column("key_hash").to_pylist(),
                texts.column("holder").to_pylist(),
                texts.column("line").to_pylist(),
                strict=True,
            )
        }
        counts.applied = frozenset(
            line_key(line)
            for line, applied in zip(
                texts.column("line").to_pylist(), texts.column("applied").to_pylist(), strict=True
            )
            if applied
        )
        return counts

    @classmethod
    def of(cls, texts: Mapping[str, str], rules: BoilerplateRules | None = None) -> LineCounts:
        """The counts of documents whose base texts are all at hand (doc_id -> text), lines filled."""
        counts = cls(rules)
        for doc_id, text in texts.items():
            counts.set_document(doc_id, text)
        counts.fill_lines(texts)
        return counts
