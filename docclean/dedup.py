"""Exact and near duplicates across the corpus: MinHash signatures, LSH, and stable clusters.

A document's shingles are the character n-grams of its clean text with whitespace and the
placeholder token taken out (Chinese has no spaces between words, so characters are the unit;
two copies that differ only in line breaks or in which name was redacted share every shingle).
Each shingle is hashed to 64 bits (`shingle_hashes`, a few numpy passes over the text's code
points), signatures are rensa's `RMinHash` digests of those hashes (one call for many documents),
candidates come from LSH banding over the signatures, and every candidate is verified by its
estimated Jaccard similarity (the share of equal signature values) before it joins a cluster.

Clusters are a function of the documents and their ingest order alone: documents are taken in
the order the index first saw them; each joins the most similar representative seen before it
(at or above the threshold; ties go to the earliest), or becomes a representative itself. So a
representative keeps its role while it exists (a later document can never precede it), and when
it is removed its members are reassigned as if it had never been: the earliest of them takes
over. The expensive part, shingling and hashing, is done once per document and version of its
text; the clustering over stored signatures (LSH queries) is redone on every update from the
earliest document the update adds, changes or removes on (a document's assignment depends on the
documents before it alone), which is what makes a run over the drop in two halves equal to one
run over all of it, at the cost of the new documents only.

The index is pure: it produces and consumes an Arrow table (`to_table`, `from_table`), and the
curate flow writes it into the snapshot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from rensa import RMinHash

from docclean.han import code_points
from docclean.joined import JoinedTexts, join_texts
from docclean.placeholders import DEFAULT_TOKEN
from docclean.record import Placeholder

# Measured on the five seeds and the samples in raw/ (true Jaccard of 5-gram sets, README
# "Duplicates"): one paragraph dropped 0.78-0.95, every fifth paragraph dropped 0.66-0.84, a
# changed title 0.91-0.99, another vendor's header and footer 0.91-0.98; the most similar pair
# of unrelated documents 0.03. 0.5 sits far from both sides. Shorter n-grams let unrelated
# speeches share the stock phrases of official writing (worst pair 0.09 with 3-grams, 0.20 with
# 2-grams); longer ones make each edited character cost more shingles (8-grams: 0.64 for the
# fifth-paragraphs case).
DEFAULT_NGRAM = 5
DEFAULT_THRESHOLD = 0.5
# 128 permutations: the standard error of the Jaccard estimate is sqrt(J(1-J)/128) <= 0.044,
# well inside the gap between duplicates and unrelated documents.
DEFAULT_NUM_PERM = 128
# Fixed so signatures computed by any process, in any run, are comparable.
SEED = 19

# Schema metadata key of the index's format: 2 since signatures are rensa digests of shingle_hashes
# (format 1 kept rensa's pickled state of string shingles, which cannot be compared with them).
FORMAT_KEY = "docclean.dedup.format"

INDEX_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False, metadata={"description": "Ingest order (0 first)."}),
        pa.field("text_sha256", pa.string(), nullable=False),
        pa.field(
            "signature",
            pa.binary(),
            nullable=False,
            metadata={
                "description": "The MinHash signature: num_perm uint32 values, little-endian (docclean.dedup.signatures)."
            },
        ),
        pa.field("dup_cluster", pa.string(), nullable=False),
        pa.field("dup_similarity", pa.float32(), nullable=False),
    ],
    metadata={"docclean.table": "dedup_index", FORMAT_KEY: "2"},
)


class StaleIndex(ValueError):
    """A kept duplicate index in a format this docclean does not read (its signatures differ)."""


@dataclass(frozen=True, slots=True)
class DedupParams:
    ngram: int = DEFAULT_NGRAM
    threshold: float = DEFAULT_THRESHOLD
    num_perm: int = DEFAULT_NUM_PERM

    def __post_init__(self) -> None:
        if self.ngram < 1:
            raise ValueError(f"The n-gram size must be at least 1, not {self.ngram}.")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"The similarity threshold must be in (0, 1], not {self.threshold}.")
        if self.num_perm < 16 or self.num_perm % 8:
            raise ValueError(
                f"The number of permutations must be a multiple of 8, at least 16, not {self.num_perm}."
            )

    @property
    def num_bands(self) -> int:
        """LSH bands: the most bands whose candidate threshold (1/b)^(1/r) stays below `threshold`.

        Below, so that a true duplicate near the threshold is a candidate with high probability;
        the verification by estimated Jaccard then removes the false candidates. With the
        defaults: 32 bands of 4 rows, candidate threshold 0.42.
        """
        divisors = [b for b in range(1, self.num_perm + 1) if self.num_perm % b == 0]
        return next(
            (b for b in divisors if (1 / b) ** (b / self.num_perm) <= self.threshold * 0.85), self.num_perm
        )


@dataclass(frozen=True, slots=True)
class Assignment:
    """A document's place in the duplicate clusters: the columns the dataset stores."""

    text_sha256: str
    dup_cluster: str
    dup_similarity: float


def text_sha256(text: str) -> str:
    """SHA-256 of the clean text's UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shingle_text(text: str, placeholders: Sequence[Placeholder] = (), token: str = DEFAULT_TOKEN) -> str:
    """The text shingles are cut from: placeholder tokens (at their offsets) and whitespace taken out."""
    return _without(text, [(p.start, p.end) for p in placeholders])


def _without(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` without the spans (start, end) and without whitespace."""
    parts: list[str] = []
    position = 0
    for start, end in sorted(spans):
        parts.append(text[position:start])
        position = end
    parts.append(text[position:])
    return "".join("".join(parts).split())


def shingles(
    text: str, placeholders: Sequence[Placeholder] = (), n: int = DEFAULT_NGRAM, token: str = DEFAULT_TOKEN
) -> set[str]:
    """Character n-grams of `shingle_text`; a text shorter than `n` is one shingle, an empty one none."""
    folded = shingle_text(text, placeholders, token)
    if len(folded) <= n:
        return {folded} if folded else set()
    return {folded[i : i + n] for i in range(len(folded) - n + 1)}


# A shingle's 64-bit hash: FNV-1a over its code points (offset basis and prime of 64-bit FNV,
# http://www.isthe.com/chongo/tech/comp/fnv/), then the splitmix64 finalizer (Steele et al.,
# "Fast splittable pseudorandom number generators", 2014) so that every bit depends on every
# character. Defined on code points, not on Python objects, so that a whole text's shingles are
# hashed in a few numpy passes (shingle_hashes) instead of one Python string per shingle.
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1


def shingle_hash(shingle: str) -> int:
    """The 64-bit hash of one shingle (the reference of `shingle_hashes`)."""
    value = _FNV_OFFSET
    for character in shingle:
        value = ((value ^ ord(character)) * _FNV_PRIME) & _MASK
    value ^= value >> 30
    value = (value * 0xBF58476D1CE4E5B9) & _MASK
    value ^= value >> 27
    value = (value * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def shingle_hashes(folded: str, n: int = DEFAULT_NGRAM) -> np.ndarray:
    """`shingle_hash` of every character n-gram of `folded` (a `shingle_text`), in text order, repeats kept.

    A uint64 array of len(folded) - n + 1 values; one value for a text shorter than `n`, none for
    an empty one. Equal, as a set, to `{shingle_hash(s) for s in shingles(...)}` (tests/test_dedup.py).
    """
    codes = code_points(folded).astype(np.uint64)
    if not len(codes):
        return np.empty(0, np.uint64)
    width = min(n, len(codes))
    count = len(codes) - width + 1
    value = np.full(count, _FNV_OFFSET, np.uint64)
    prime = np.uint64(_FNV_PRIME)
    for k in range(width):
        value ^= codes[k : k + count]
        value *= prime
    value ^= value >> np.uint64(30)
    value *= np.uint64(0xBF58476D1CE4E5B9)
    value ^= value >> np.uint64(27)
    value *= np.uint64(0x94D049BB133111EB)
    value ^= value >> np.uint64(31)
    return value


# Placeholder spans of many texts, one entry per span: (the text's index, start, end), int64 arrays.
Spans = tuple[np.ndarray, np.ndarray, np.ndarray]


def signatures(
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]] | None = None,
    params: DedupParams | None = None,
) -> list[bytes]:
    """The MinHash signature of each text: `num_perm` uint32 values, little-endian, as bytes.

    `spans` are each text's placeholder tokens as (start, end) offsets, left out of its shingles.
    The values are rensa's `RMinHash` digest (seed SEED) of the text's `shingle_hashes`, computed
    for many texts at once (span_signatures). An empty text's signature is all 0xFFFFFFFF.
    Raises ValueError when `spans` are not one per text.
    """
    marks = [()] * len(texts) if spans is None else spans
    if len(marks) != len(texts):
        raise ValueError(f"{len(marks)} texts' spans for {len(texts)} texts.")
    counts = np.fromiter(map(len, marks), np.int64, len(marks))
    pairs = np.array([pair for text_spans in marks for pair in text_spans], np.int64).reshape(-1, 2)
    return span_signatures(texts, (np.repeat(np.arange(len(marks)), counts), *pairs.T), params)


# Texts are joined in groups of about this many code points: the arrays of a group stay in the
# processor's cache and are reused by the allocator, where a whole table's would be mapped afresh
# (page faults) for every table.
_GROUP = 1 << 15


def span_signatures(texts: Sequence[str], spans: Spans, params: DedupParams | None = None) -> list[bytes]:
    """`signatures` of `texts`, their placeholder `spans` (Spans, rows ascending) left out of their shingles.

    Texts are joined (docclean.joined) in groups of about _GROUP code points and each group's
    shingles hashed in one pass over its shingle texts end to end.
    """
    params = params or DedupParams()
    rows = spans[0]
    ends = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1)
    out: list[bytes] = []
    first = 0
    while first < len(texts):
        begin = int(ends[first - 1]) if first else 0
        last = max(first + 1, int(np.searchsorted(ends, begin + _GROUP, "right")))
        low, high = np.searchsorted(rows, [first, last])
        group = (rows[low:high] - first, spans[1][low:high], spans[2][low:high])
        out += _joined_signatures(join_texts(texts[first:last]), group, params)
        first = last
    return out


def _joined_signatures(joined: JoinedTexts, spans: Spans, params: DedupParams) -> list[bytes]:
    """`signatures` of the texts of `joined`, their placeholder `spans` (Spans) left out of their shingles.

    One pass of shingle hashes over all the texts' shingle texts end to end. A shingle that runs
    across the end of its text is overwritten by one of the text's own (a repeat does not change a
    minimum, so the text's digest is that of its `shingle_hashes`). Texts whose spans are out of
    order, overlap or have a negative offset are computed text by text (`_without`'s own reading).
    """
    texts = len(joined.starts) - 1
    if not texts:
        return []
    dropped = _span_positions(joined, spans)
    if dropped is None:
        rows, starts, ends = (values.tolist() for values in spans)
        marks: list[list[tuple[int, int]]] = [[] for _ in range(texts)]
        for row, start, end in zip(rows, starts, ends, strict=True):
            marks[row].append((start, end))
        hashes = [
            shingle_hashes(_without(text, text_marks), params.ngram)
            for text, text_marks in zip(joined.texts, marks, strict=True)
        ]
        offsets = np.zeros(texts + 1, np.uint64)
        np.cumsum([len(h) for h in hashes], out=offsets[1:])
        return _digests_of(np.concatenate(hashes), offsets, params)
    keep = np.ones(len(joined.codes), np.bool_)
    keep[joined.spaces] = False
    keep[dropped] = False
    folded = joined.codes[keep]
    # A text starts in the folded codes where its start is, less the code points left out before it.
    offsets = (joined.starts - np.searchsorted(np.flatnonzero(~keep), joined.starts)).astype(np.uint64)
    hashes = _window_hashes(folded, params.ngram)
    n = params.ngram
    ends = offsets[1:].astype(np.int64)
    lengths = np.diff(offsets.astype(np.int64))
    whole = ends[lengths >= n]
    hashes[whole[:, None] - np.arange(1, n)] = hashes[whole - n][:, None]
    short = (lengths > 0) & (lengths < n)
    for start, end in zip((ends - lengths)[short].tolist(), ends[short].tolist(), strict=True):
        hashes[start:end] = shingle_hash(folded[start:end].tobytes().decode("utf-32-le", "surrogatepass"))
    return _digests_of(hashes, offsets, params)


def _span_positions(joined: JoinedTexts, spans: Spans) -> np.ndarray | None:
    """The indices in `joined.codes` of the spans' code points, or None when a text's spans are not
    disjoint with offsets at least 0 (a span past a text's end stops at it, as a slice does)."""
    rows, starts, ends = spans
    if not len(rows):
        return np.empty(0, np.int64)
    if (starts < 0).any() or (ends < starts).any():
        return None
    if not _disjoint_in_order(rows, starts, ends):
        order = np.lexsort((starts, rows))
        rows, starts, ends = rows[order], starts[order], ends[order]
        if not _disjoint_in_order(rows, starts, ends):
            return None
    base = joined.starts[rows]
    lengths = joined.starts[rows + 1] - 1 - base
    first = base + np.minimum(starts, lengths)
    count = base + np.minimum(ends, lengths) - first
    total = int(count.sum())
    return np.repeat(first - (np.cumsum(count) - count), count) + np.arange(total)


def _disjoint_in_order(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bool:
    """Whether each span (start <= end) ends at or before the next one of its row starts, rows ascending."""
    return bool(((rows[1:] > rows[:-1]) | ((rows[1:] == rows[:-1]) & (starts[1:] >= ends[:-1]))).all())


# Shingles hashed per block of this many: each of the hash's passes then works on arrays held in
# the processor's cache.
_BLOCK = 1 << 15


def _window_hashes(codes: np.ndarray, n: int) -> np.ndarray:
    """`shingle_hash` of codes[i : i + n] for every i (uint64, len(codes) values), the code points
    past the end taken as 0: what `shingle_hashes` computes, for one long array."""
    out = np.empty(len(codes), np.uint64)
    wide = np.zeros(_BLOCK + n - 1, np.uint64)
    shifted = np.empty(_BLOCK, np.uint64)
    prime = np.uint64(_FNV_PRIME)
    for first in range(0, len(codes), _BLOCK):
        value = out[first : first + _BLOCK]
        scratch = shifted[: len(value)]
        window = codes[first : first + len(value) + n - 1]
        wide[: len(window)] = window
        wide[len(window) :] = 0
        np.bitwise_xor(wide[: len(value)], np.uint64(_FNV_OFFSET), out=value)
        value *= prime
        for k in range(1, n):
            value ^= wide[k : k + len(value)]
            value *= prime
        for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            np.right_shift(value, np.uint64(shift), out=scratch)
            value ^= scratch
            value *= np.uint64(multiplier)
        np.right_shift(value, np.uint64(31), out=scratch)
        value ^= scratch
    return out


def _digests_of(hashes: np.ndarray, offsets: np.ndarray, params: DedupParams) -> list[bytes]:
    """rensa's digest of each row's hashes (hashes[offsets[i] : offsets[i + 1]]), as signature bytes."""
    matrix = RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, params.num_perm, SEED)
    digests = np.array(matrix.to_rows(), dtype="<u4")
    return [row.tobytes() for row in digests]


def signature(
    text: str, placeholders: Sequence[Placeholder] = (), params: DedupParams | None = None
) -> bytes:
    """One document's MinHash signature (see `signatures`), to store and to pass between processes."""
    return signatures([text], [[(p.start, p.end) for p in placeholders]], params)[0]


def _digests(states: Sequence[bytes], params: DedupParams) -> np.ndarray:
    """Signatures as a (documents, num_perm) uint32 matrix."""
    if not states:
        return np.empty((0, params.num_perm), np.uint32)
    return np.frombuffer(b"".join(states), dtype="<u4").reshape(len(states), params.num_perm)


def _band_keys(digests: np.ndarray, params: DedupParams) -> np.ndarray:
    """One 64-bit key per LSH band of each signature (documents, bands): FNV-1a over the band's values."""
    rows = digests.shape[1] // params.num_bands
    bands = digests.reshape(len(digests), params.num_bands, rows).astype(np.uint64)
    key = np.full(bands.shape[:2], _FNV_OFFSET, np.uint64)
    for row in range(rows):
        key ^= bands[:, :, row]
        key *= np.uint64(_FNV_PRIME)
    return key


# Up to this many representatives, a document's candidates are found by comparing its band keys
# with every representative's in one numpy pass; beyond, by a hash table per band. Measured per
# document on random signatures: the pass costs about 10 µs + 0.04 µs per representative, the
# tables 20-25 µs whatever their size (more where many representatives share its bands, as near
# copies of a few templates do, where the pass wins).
SCAN_LEADERS = 512


def _alone(keys: np.ndarray) -> np.ndarray:
    """Whether each row of band keys (rows, bands) has no key in common with another row in its band."""
    shared = np.zeros(len(keys), bool)
    for band in keys.T:
        _, inverse, counts = np.unique(band, return_inverse=True, return_counts=True)
        shared |= counts[inverse] > 1
    return ~shared


def _bucket(buckets: list[dict[int, list[int]]], row: int, keys: np.ndarray) -> None:
    """File `row` under each of its band keys, one hash table per band."""
    for bucket, key in zip(buckets, keys.tolist(), strict=True):
        bucket.setdefault(key, []).append(row)


class _Leaders:
    """The LSH index of cluster representatives: banding over signatures (Leskovec, Rajaraman and
    Ullman, Mining of Massive Datasets, ch. 3.4), each candidate verified by estimated Jaccard.

    Rows are those of `digests`; representatives are inserted in ascending row order.
    """

    def __init__(self, digests: np.ndarray, params: DedupParams) -> None:
        self.digests = digests
        self.params = params
        self.keys = _band_keys(digests, params)
        # The representatives' rows and band keys, in order, in arrays grown by doubling.
        self.rows = np.empty(16, np.int64)
        self.row_keys = np.empty((16, params.num_bands), np.uint64)
        self.count = 0
        self.buckets: list[dict[int, list[int]]] | None = None

    def insert(self, row: int) -> None:
        if self.count == len(self.rows):
            self.rows = np.concatenate([self.rows, np.empty_like(self.rows)])
            self.row_keys = np.concatenate([self.row_keys, np.empty_like(self.row_keys)])
        self.rows[self.count] = row
        self.row_keys[self.count] = self.keys[row]
        self.count += 1
        if self.buckets is None and self.count > SCAN_LEADERS:
            self.buckets = [{} for _ in range(self.params.num_bands)]
            for leader in self.rows[: self.count - 1].tolist():
                _bucket(self.buckets, leader, self.keys[leader])
        if self.buckets is not None:
            _bucket(self.buckets, row, self.keys[row])

    def candidates(self, row: int) -> np.ndarray:
        """The representatives sharing at least one band key with `row`, ascending."""
        if self.buckets is None:
            shared = (self.row_keys[: self.count] == self.keys[row]).any(axis=1)
            return self.rows[: self.count][shared]
        hits = [
            rows
            for bucket, key in zip(self.buckets, self.keys[row].tolist(), strict=True)
            if (rows := bucket.get(key))
        ]
        if len(hits) == 1:
            return np.array(hits[0], np.int64)
        return np.array(sorted({leader for rows in hits for leader in rows}), np.int64)

    def best(self, row: int) -> tuple[int | None, float]:
        """The most similar representative at or above the threshold (ties: the lowest row), and the similarity."""
        candidates = self.candidates(row)
        if not len(candidates):
            return None, 0.0
        equal = np.count_nonzero(self.digests[candidates] == self.digests[row], axis=1)
        best = int(np.argmax(equal))  # the first of the highest: the lowest row
        similarity = float(equal[best]) / self.params.num_perm
        if similarity < self.params.threshold:
            return None, 0.0
        return int(candidates[best]), round(similarity, 4)


@dataclass(slots=True)
class _Entry:
    seq: int
    sha: str
    state: bytes


class DedupIndex:
    """Signatures of every document in the dataset and the clusters they form.

    `update` adds new and changed documents, removes pruned ones, and returns the documents
    whose `Assignment` changed. Mutating; not thread-safe.
    """

    def __init__(self, params: DedupParams | None = None) -> None:
        self.params = params or DedupParams()
        self._entries: dict[str, _Entry] = {}
        self._assignments: dict[str, Assignment] = {}
        self._next_seq = 0
        # Assignments before this ingest position are the clustering's (a document's depends on
        # the documents before it alone): an update clusters again from its earliest change on.
        self._valid_before = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._entries

    def assignment(self, doc_id: str) -> Assignment:
        """The document's assignment; KeyError for a document the index does not hold."""
        return self._assignments[doc_id]

    def assignments(self) -> Mapping[str, Assignment]:
        return dict(self._assignments)

    def update(
        self, added: Iterable[tuple[str, str, bytes]], removed: Iterable[str] = ()
    ) -> dict[str, Assignment]:
        """Add `(doc_id, text_sha256, signature)` in ingest order, remove `removed`; return what changed.

        A document already in the index keeps its place in the ingest order (a file edited in
        place keeps its doc_id, and with it its role). Removing an unknown doc_id is a no-op.
        The result maps every added document, and every existing one whose cluster or
        similarity changed, to its new assignment. Raises ValueError for a signature that is not
        `num_perm` uint32 values.
        """
        start = self._valid_before
        for doc_id in removed:
            entry = self._entries.pop(doc_id, None)
            if entry is not None:
                start = min(start, entry.seq)
            self._assignments.pop(doc_id, None)
        touched: set[str] = set()
        for doc_id, sha, state in added:
            if len(state) != 4 * self.params.num_perm:
                raise ValueError(
                    f"The signature of {doc_id} has {len(state)} bytes, not {4 * self.params.num_perm}."
                )
            entry = self._entries.get(doc_id)
            seq = entry.seq if entry is not None else self._next_seq
            if entry is None:
                self._next_seq += 1
            self._entries[doc_id] = _Entry(seq, sha, state)
            touched.add(doc_id)
            start = min(start, seq)
        fresh = self._cluster(start)
        changed = {
            doc_id: assignment
            for doc_id, assignment in fresh.items()
            if doc_id in touched or self._assignments.get(doc_id) != assignment
        }
        self._assignments.update(fresh)
        self._valid_before = self._next_seq
        return changed

    def query(self, sha: str, state: bytes) -> Assignment:
        """The assignment a document not in the index would get if it were added last."""
        order = self._in_order()
        leaders = [
            i for i, (doc_id, _) in enumerate(order) if self._assignments[doc_id].dup_cluster == doc_id
        ]
        for i in leaders:
            if order[i][1].sha == sha:
                return Assignment(sha, order[i][0], 1.0)
        digests = _digests([order[i][1].state for i in leaders] + [state], self.params)
        lsh = _Leaders(digests, self.params)
        for row in range(len(leaders)):
            lsh.insert(row)
        row, similarity = lsh.best(len(leaders))
        if row is None:
            return Assignment(sha, "", 1.0)
        return Assignment(sha, order[leaders[row]][0], similarity)

    def _in_order(self) -> list[tuple[str, _Entry]]:
        return sorted(self._entries.items(), key=lambda item: item[1].seq)

    def _cluster(self, start: int) -> dict[str, Assignment]:
        """The assignments of the documents from ingest position `start` on, taking them in ingest
        order (see the module's docstring), after the representatives before `start`."""
        order = self._in_order()
        kept = [item for item in order if item[1].seq < start]
        leaders = [item for item in kept if self._assignments[item[0]].dup_cluster == item[0]]
        rows = leaders + [item for item in order if item[1].seq >= start]
        digests = _digests([entry.state for _, entry in rows], self.params)
        lsh = _Leaders(digests, self.params)
        leader_by_sha: dict[str, str] = {}
        for row, (doc_id, entry) in enumerate(leaders):
            lsh.insert(row)
            leader_by_sha[entry.sha] = doc_id
        out: dict[str, Assignment] = {}
        # A document sharing no band key with any other (most of a corpus) has no candidate, now
        # or for any document after it: it leads a cluster of its own and need not be filed.
        alone = _alone(lsh.keys).tolist()
        for row in range(len(leaders), len(rows)):
            doc_id, entry = rows[row]
            if alone[row]:
                out[doc_id] = Assignment(entry.sha, doc_id, 1.0)
                continue
            exact = leader_by_sha.get(entry.sha)
            if exact is not None:
                out[doc_id] = Assignment(entry.sha, exact, 1.0)
                continue
            leader, similarity = lsh.best(row)
            if leader is None:
                out[doc_id] = Assignment(entry.sha, doc_id, 1.0)
                lsh.insert(row)
                leader_by_sha[entry.sha] = doc_id
            else:
                out[doc_id] = Assignment(entry.sha, rows[leader][0], similarity)
        return out

    def to_table(self) -> pa.Table:
        """The index as an Arrow table (INDEX_SCHEMA), one row per document in ingest order."""
        rows = self._in_order()
        return pa.table(
            {
                "doc_id": [doc_id for doc_id, _ in rows],
                "seq": [entry.seq for _, entry in rows],
                "text_sha256": [entry.sha for _, entry in rows],
                "signature": [entry.state for _, entry in rows],
                "dup_cluster": [self._assignments[doc_id].dup_cluster for doc_id, _ in rows],
                "dup_similarity": [self._assignments[doc_id].dup_similarity for doc_id, _ in rows],
            },
            schema=INDEX_SCHEMA.with_metadata(
                {
                    **INDEX_SCHEMA.metadata,
                    b"docclean.dedup.ngram": str(self.params.ngram).encode(),
                    b"docclean.dedup.threshold": str(self.params.threshold).encode(),
                    b"docclean.dedup.num_perm": str(self.params.num_perm).encode(),
                }
            ),
        )

    @classmethod
    def from_table(cls, table: pa.Table, params: DedupParams | None = None) -> DedupIndex:
        """Load an index written by `to_table`.

        Raises StaleIndex when the table is not INDEX_SCHEMA's format (an older docclean wrote it:
        its signatures cannot be compared with new ones; the corpus pass rebuilds it), and
        ValueError when it was built with another n-gram size or number of permutations than `params`.
        """
        params = params or DedupParams()
        metadata = table.schema.metadata or {}
        missing = set(INDEX_SCHEMA.names) - set(table.column_names)
        if missing or metadata.get(FORMAT_KEY.encode()) != INDEX_SCHEMA.metadata[FORMAT_KEY.encode()]:
            raise StaleIndex(
                "The duplicate index was written in an older format; it is rebuilt from the rows."
            )
        for key, value in (("ngram", params.ngram), ("num_perm", params.num_perm)):
            stored = metadata.get(f"docclean.dedup.{key}".encode())
            if stored is not None and int(stored) != value:
                raise ValueError(
                    f"The duplicate index was built with {key}={int(stored)}, not {value}; rebuild it."
                )
        index = cls(params)
        seqs = table.column("seq").to_pylist()
        for doc_id, seq, sha, state, cluster, similarity in zip(
            table.column("doc_id").to_pylist(),
            seqs,
            table.column("text_sha256").to_pylist(),
            table.column("signature").to_pylist(),
            table.column("dup_cluster").to_pylist(),
            table.column("dup_similarity").to_pylist(),
            strict=True,
        ):
            index._entries[doc_id] = _Entry(seq, sha, state)
            index._assignments[doc_id] = Assignment(sha, cluster, round(float(similarity), 4))
        index._next_seq = max(seqs, default=-1) + 1
        threshold = metadata.get(b"docclean.dedup.threshold")
        # Clusters made under another threshold are made again, all of them, on the next update.
        index._valid_before = (
            index._next_seq if threshold is None or float(threshold) == params.threshold else 0
        )
        return index
