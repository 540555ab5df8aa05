"""Exact and near duplicates across the corpus: MinHash signatures, LSH, and stable clusters.

A document's shingles are the character n-grams of its clean text with whitespace and the
placeholder token taken out (Chinese has no spaces between words, so characters are the unit;
two copies that differ only in line breaks or in which name was redacted share every shingle).
Signatures are rensa's `RMinHash`, candidates come from rensa's `RMinHashLSH`, and every
candidate is verified by its estimated Jaccard similarity before it joins a cluster.

Clusters are a function of the documents and their ingest order alone: documents are taken in
the order the index first saw them; each joins the most similar representative seen before it
(at or above the threshold; ties go to the earliest), or becomes a representative itself. So a
representative keeps its role while it exists (a later document can never precede it), and when
it is removed its members are reassigned as if it had never been: the earliest of them takes
over. The expensive part, shingling and hashing, is done once per document and version of its
text; the clustering pass over stored signatures is cheap (LSH queries) and is redone on every
update, which is what makes a run over the drop in two halves equal to one run over all of it.

The index is pure: it produces and consumes an Arrow table (`to_table`, `from_table`), and the
curate flow writes it into the snapshot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
from rensa import RMinHash, RMinHashLSH

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

INDEX_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False, metadata={"description": "Ingest order (0 first)."}),
        pa.field("text_sha256", pa.string(), nullable=False),
        pa.field(
            "signature",
            pa.binary(),
            nullable=False,
            metadata={"description": "rensa RMinHash state (RMinHash.__setstate__)."},
        ),
        pa.field("dup_cluster", pa.string(), nullable=False),
        pa.field("dup_similarity", pa.float32(), nullable=False),
    ],
    metadata={"docclean.table": "dedup_index"},
)


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
    parts: list[str] = []
    position = 0
    for placeholder in sorted(placeholders, key=lambda p: p.start):
        parts.append(text[position : placeholder.start])
        position = placeholder.end
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


def signature(
    text: str, placeholders: Sequence[Placeholder] = (), params: DedupParams | None = None
) -> bytes:
    """A document's MinHash signature as bytes (rensa's state), to store and to pass between processes."""
    params = params or DedupParams()
    minhash = RMinHash(num_perm=params.num_perm, seed=SEED)
    minhash.update(sorted(shingles(text, placeholders, params.ngram)))
    return minhash.__getstate__()


def _minhash(state: bytes, params: DedupParams) -> RMinHash:
    minhash = RMinHash(params.num_perm, SEED)
    minhash.__setstate__(state)
    return minhash


@dataclass(slots=True)
class _Entry:
    seq: int
    sha: str
    minhash: RMinHash
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
        similarity changed, to its new assignment.
        """
        for doc_id in removed:
            self._entries.pop(doc_id, None)
            self._assignments.pop(doc_id, None)
        touched: set[str] = set()
        for doc_id, sha, state in added:
            entry = self._entries.get(doc_id)
            seq = entry.seq if entry is not None else self._next_seq
            if entry is None:
                self._next_seq += 1
            self._entries[doc_id] = _Entry(seq, sha, _minhash(state, self.params), state)
            touched.add(doc_id)
        fresh = self._cluster()
        changed = {
            doc_id: assignment
            for doc_id, assignment in fresh.items()
            if doc_id in touched or self._assignments.get(doc_id) != assignment
        }
        self._assignments = fresh
        return changed

    def query(self, sha: str, state: bytes) -> Assignment:
        """The assignment a document not in the index would get if it were added last."""
        representative, similarity = self._best_representative(
            sha, _minhash(state, self.params), self._leader_lsh(), self._leader_shas()
        )
        return Assignment(sha, representative or "", similarity if representative else 1.0)

    def _leader_lsh(self) -> RMinHashLSH:
        lsh = self._new_lsh()
        for doc_id, assignment in self._assignments.items():
            if assignment.dup_cluster == doc_id:
                lsh.insert(self._entries[doc_id].seq, self._entries[doc_id].minhash)
        return lsh

    def _leader_shas(self) -> dict[str, str]:
        shas: dict[str, str] = {}
        for doc_id, entry in sorted(self._entries.items(), key=lambda item: item[1].seq):
            if self._assignments.get(doc_id, Assignment("", "", 0)).dup_cluster == doc_id:
                shas.setdefault(entry.sha, doc_id)
        return shas

    def _new_lsh(self) -> RMinHashLSH:
        return RMinHashLSH(
            threshold=self.params.threshold, num_perm=self.params.num_perm, num_bands=self.params.num_bands
        )

    def _cluster(self) -> dict[str, Assignment]:
        lsh = self._new_lsh()
        leader_by_sha: dict[str, str] = {}
        out: dict[str, Assignment] = {}
        for doc_id, entry in sorted(self._entries.items(), key=lambda item: item[1].seq):
            representative, similarity = self._best_representative(
                entry.sha, entry.minhash, lsh, leader_by_sha
            )
            if representative is None:
                out[doc_id] = Assignment(entry.sha, doc_id, 1.0)
                lsh.insert(entry.seq, entry.minhash)
                leader_by_sha.setdefault(entry.sha, doc_id)
            else:
                out[doc_id] = Assignment(entry.sha, representative, similarity)
        return out

    def _best_representative(
        self, sha: str, minhash: RMinHash, lsh: RMinHashLSH, leader_by_sha: Mapping[str, str]
    ) -> tuple[str | None, float]:
        exact = leader_by_sha.get(sha)
        if exact is not None:
            return exact, 1.0
        doc_by_seq = {entry.seq: doc_id for doc_id, entry in self._entries.items()}
        best: tuple[float, int] | None = None
        for seq in lsh.query(minhash):
            similarity = float(minhash.jaccard(self._entries[doc_by_seq[seq]].minhash))
            if similarity >= self.params.threshold and (
                best is None or (-similarity, seq) < (-best[0], best[1])
            ):
                best = (similarity, seq)
        if best is None:
            return None, 0.0
        return doc_by_seq[best[1]], round(best[0], 4)

    def to_table(self) -> pa.Table:
        """The index as an Arrow table (INDEX_SCHEMA), one row per document in ingest order."""
        rows = sorted(self._entries.items(), key=lambda item: item[1].seq)
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

        Raises ValueError when the table's columns are not INDEX_SCHEMA's, or when it was
        built with other n-gram size or permutations than `params` (its signatures cannot be
        compared with new ones: rebuild the index by re-running with --full).
        """
        params = params or DedupParams()
        missing = set(INDEX_SCHEMA.names) - set(table.column_names)
        if missing:
            raise ValueError(f"The duplicate index lacks the columns {sorted(missing)}; rebuild it.")
        metadata = table.schema.metadata or {}
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
            index._entries[doc_id] = _Entry(seq, sha, _minhash(state, params), state)
            index._assignments[doc_id] = Assignment(sha, cluster, round(float(similarity), 4))
        index._next_seq = max(seqs, default=-1) + 1
        return index
