"""Duplicate clusters (docclean/dedup.py): seeds and their variants, unrelated documents, stability."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docclean import dedup
from docclean.dedup import (
    Assignment,
    DedupIndex,
    DedupParams,
    StaleIndex,
    shingle_hash,
    shingle_hashes,
    shingle_text,
    shingles,
    signature,
    signatures,
    text_sha256,
)
from docclean.pipeline import Cleaner
from docclean.record import Record
from tests.conftest import SEEDS_DIR as SEEDS

RAW_SAMPLES = Path(__file__).resolve().parent.parent / "raw"
CASES = json.loads((Path(__file__).parent / "data" / "dedup_cases.json").read_text(encoding="utf-8"))["cases"]
VENDOR_HEADER = "本文档由星辰文库整理 更多范文请访问 www.xcwk-demo.com"
VENDOR_FOOTER = "关注公众号：星辰范文 获取更多资料 QQ群 987654321"

needs_seeds = pytest.mark.skipif(
    not SEEDS.is_dir(),
    reason=f"the seed documents are not here ({SEEDS} is absent): they ship beside the project only",
)


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner()


def seed_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(SEEDS.iterdir())]


def variant(op: str, text: str, other: str) -> bytes:
    paras = text.split("\n")
    if op == "vendor_wrap":
        return "\n".join([VENDOR_HEADER, *paras, VENDOR_FOOTER]).encode()
    if op == "drop_middle_paragraph":
        body = [i for i, p in enumerate(paras) if len(p) > 40]
        drop = body[len(body) // 2]
        return "\n".join(p for i, p in enumerate(paras) if i != drop).encode()
    if op == "drop_every_fifth":
        return "\n".join(p for i, p in enumerate(paras) if i % 5 != 2).encode()
    if op == "change_title":
        return "\n".join(["关于做好当前重点工作的讲话（修订稿）", *paras[1:]]).encode()
    if op == "gbk":
        return text.encode("gbk", errors="replace")
    if op == "reflow":
        return "\n\n".join(p[i : i + 30] for p in paras for i in range(0, max(1, len(p)), 30)).encode()
    if op == "redact":
        return text.replace("同志", "XX同志").replace("县", "XX县").encode()
    if op == "first_third":
        return "\n".join(paras[: max(1, len(paras) // 3)]).encode()
    if op == "reverse_paragraphs":
        return "\n".join(reversed(paras)).encode()
    if op == "other_seed":
        return other.encode()
    raise AssertionError(f"unknown op {op}")


def entry(record: Record, params: DedupParams | None = None) -> tuple[str, str, bytes]:
    return record.doc_id, text_sha256(record.text), signature(record.text, record.placeholders, params)


@needs_seeds
def test_five_seeds_with_vendor_copies_shortened_and_gbk_form_five_clusters(cleaner: Cleaner) -> None:
    texts = seed_texts()
    originals = [cleaner.clean(t.encode(), f"a/{i}.txt") for i, t in enumerate(texts)]
    copies = []
    for i, text in enumerate(texts):
        for op in ("vendor_wrap", "drop_middle_paragraph", "gbk"):
            copies.append((i, cleaner.clean(variant(op, text, ""), f"b/{i}-{op}.txt")))
    index = DedupIndex()
    index.update([entry(r) for r in originals] + [entry(r) for _, r in copies])
    clusters = {index.assignment(r.doc_id).dup_cluster for r in originals + [r for _, r in copies]}
    assert clusters == {r.doc_id for r in originals}
    for i, record in copies:
        assigned = index.assignment(record.doc_id)
        assert assigned.dup_cluster == originals[i].doc_id
        assert 0.5 <= assigned.dup_similarity <= 1.0
    for record in originals:
        assert index.assignment(record.doc_id).dup_similarity == 1.0


@needs_seeds
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_variant_cases(case: dict[str, str], cleaner: Cleaner) -> None:
    texts = seed_texts()
    for i, text in enumerate(texts):
        original = cleaner.clean(text.encode(), f"{i}.txt")
        copy = cleaner.clean(variant(case["op"], text, texts[(i + 1) % len(texts)]), f"{i}-copy.txt")
        index = DedupIndex()
        index.update([entry(original), entry(copy)])
        joined = index.assignment(copy.doc_id).dup_cluster == original.doc_id
        assert joined == (case["expect"] == "same"), (case["name"], i)


def _all_samples(cleaner: Cleaner) -> list[Record]:
    paths = sorted(SEEDS.iterdir()) if SEEDS.is_dir() else []
    paths += sorted(p for p in RAW_SAMPLES.iterdir() if p.is_file())
    return [cleaner.clean(p.read_bytes(), p.name) for p in paths]


def test_unrelated_documents_never_share_a_cluster(cleaner: Cleaner) -> None:
    records = _all_samples(cleaner)
    assert len(records) >= 5
    for a, b in itertools.combinations(records, 2):
        index = DedupIndex()
        index.update([entry(a), entry(b)])
        assert index.assignment(b.doc_id).dup_cluster == b.doc_id, (a.source_path, b.source_path)
    index = DedupIndex()
    index.update(entry(r) for r in records)
    assert {index.assignment(r.doc_id).dup_cluster for r in records} == {r.doc_id for r in records}


def test_exact_copies_share_the_hash_and_similarity_one(cleaner: Cleaner) -> None:
    text = "同志们：\n今天召开全县乡村振兴推进会，主要任务是总结工作、部署任务。\n谢谢大家！"
    a = cleaner.clean(text.encode(), "a.txt")
    b = cleaner.clean(text.encode("gb18030"), "b.txt")
    index = DedupIndex()
    index.update([entry(a), entry(b)])
    assert index.assignment(b.doc_id) == index.assignment(a.doc_id).__class__(
        text_sha256(a.text), a.doc_id, 1.0
    )


def _docs(n: int, seed: int = 0) -> list[tuple[str, str, bytes]]:
    """n documents in groups of three near copies of one invented text each."""
    out = []
    for i in range(n):
        group = i // 3
        body = "".join(f"第{group}组第{k}段落的内容各不相同，编号{group * 7919 + k}。" for k in range(12))
        text = body if i % 3 == 0 else body[: -10 * (i % 3)]
        out.append((f"doc{i:03d}", text_sha256(text), signature(text)))
    return out


def test_removing_a_representative_hands_its_role_to_the_next_earliest_member() -> None:
    docs = _docs(9)
    index = DedupIndex()
    index.update(docs)
    assert index.assignment("doc001").dup_cluster == "doc000"
    changed = index.update([], removed=["doc000"])
    assert set(changed) == {"doc001", "doc002"}
    assert changed["doc001"].dup_cluster == "doc001" and changed["doc001"].dup_similarity == 1.0
    assert changed["doc002"].dup_cluster == "doc001"
    assert "doc000" not in index


def test_incremental_updates_equal_one_update_and_survive_serialization() -> None:
    docs = _docs(30)
    whole = DedupIndex()
    whole.update(docs)
    halves = DedupIndex()
    halves.update(docs[:14])
    halves = DedupIndex.from_table(halves.to_table())
    changed = halves.update(docs[14:])
    assert set(changed) == {d[0] for d in docs[14:]}
    assert halves.assignments() == whole.assignments()
    assert DedupIndex.from_table(whole.to_table()).assignments() == whole.assignments()


def test_a_changed_document_keeps_its_place_in_the_ingest_order() -> None:
    docs = _docs(3)
    index = DedupIndex()
    index.update(docs)
    rewritten = "全新的内容，与此前任何文档都不相同。" * 20
    changed = index.update([("doc000", text_sha256(rewritten), signature(rewritten))])
    assert changed["doc000"].dup_cluster == "doc000"
    assert changed["doc001"].dup_cluster == "doc001"
    assert changed["doc002"].dup_cluster == "doc001"
    back = index.update([docs[0]])
    assert back["doc001"].dup_cluster == "doc000"


def test_loading_an_index_built_with_other_parameters_fails_clearly() -> None:
    index = DedupIndex(DedupParams(ngram=3))
    index.update(_docs(2, 0))
    with pytest.raises(ValueError, match="built with ngram=3, not 5; rebuild it"):
        DedupIndex.from_table(index.to_table())


@pytest.mark.parametrize("kwargs", [{"ngram": 0}, {"threshold": 0.0}, {"threshold": 1.5}, {"num_perm": 100}])
def test_invalid_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DedupParams(**kwargs)


def test_query_tells_the_cluster_a_new_document_would_join() -> None:
    docs = _docs(6)
    index = DedupIndex()
    index.update(docs)
    assert index.query(docs[1][1], docs[1][2]).dup_cluster == "doc000"
    other = "毫不相干的一段话" * 30
    assert index.query(text_sha256(other), signature(other)).dup_cluster == ""


HAN_CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
hans = st.text(alphabet=st.sampled_from(list(HAN_CHARS)), max_size=400)


@settings(max_examples=60, deadline=None)
@given(st.lists(hans, min_size=1, max_size=12), st.integers(0, 11))
def test_cluster_invariants(texts: list[str], cut: int) -> None:
    docs = [(f"d{i:02d}", text_sha256(t), signature(t)) for i, t in enumerate(texts)]
    index = DedupIndex()
    index.update(docs[:cut])
    index.update(docs[cut:])
    whole = DedupIndex()
    whole.update(docs)
    assert index.assignments() == whole.assignments()
    order = [d[0] for d in docs]
    for doc_id, assigned in whole.assignments().items():
        representative = assigned.dup_cluster
        assert whole.assignment(representative).dup_cluster == representative
        assert order.index(representative) <= order.index(doc_id)
        if representative == doc_id:
            assert assigned.dup_similarity == 1.0
        assert assigned.dup_similarity >= whole.params.threshold


@given(hans)
def test_shingles_ignore_whitespace(text: str) -> None:
    spaced = " \n".join(text[i : i + 7] for i in range(0, len(text), 7))
    assert shingles(spaced) == shingles(text)


@given(st.text(max_size=60), st.integers(1, 8))
def test_shingle_hashes_are_the_reference_hash_of_every_shingle(text: str, n: int) -> None:
    folded = shingle_text(text)
    hashes = shingle_hashes(folded, n)
    assert {int(h) for h in hashes} == {shingle_hash(s) for s in shingles(text, n=n)}
    assert len(hashes) == (max(len(folded) - n + 1, 1) if folded else 0)


@given(st.lists(hans, max_size=6))
def test_signatures_of_many_texts_are_each_texts_own(texts: list[str]) -> None:
    together = signatures(texts)
    assert together == [signature(text) for text in texts]
    assert all(len(s) == 4 * DedupParams().num_perm for s in together)


def test_an_index_in_an_older_format_is_stale_not_misread() -> None:
    index = DedupIndex()
    index.update(_docs(2, 0))
    table = index.to_table()
    older = table.replace_schema_metadata(
        {k: v for k, v in table.schema.metadata.items() if b"format" not in k}
    )
    with pytest.raises(StaleIndex):
        DedupIndex.from_table(older)
    assert DedupIndex.from_table(table).assignments() == index.assignments()


def _from_scratch(index: DedupIndex) -> dict[str, Assignment]:
    """What one update of every document the index holds, in its ingest order, assigns."""
    table = index.to_table()
    whole = DedupIndex(index.params)
    whole.update(
        zip(
            *(table.column(name).to_pylist() for name in ("doc_id", "text_sha256", "signature")),
            strict=True,
        )
    )
    return whole.assignments()


# Near copies of a few texts, so that operations make and break clusters.
def _random_text(seed: int, length: int = 300) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(HAN_CHARS) for _ in range(length))


_GROUPS = [_random_text(group) for group in range(3)]
_VERSIONS = [text[: len(text) - cut] for text in _GROUPS for cut in (0, 15, 40)] + ["毫不相干的一段话" * 20]
_operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "save"]), st.integers(0, 7), st.integers(0, len(_VERSIONS) - 1)
    ),
    max_size=25,
)


@settings(max_examples=80, deadline=None)
@given(_operations, st.sampled_from([0.5, 0.9]))
def test_updates_in_any_order_assign_what_one_update_from_scratch_assigns(
    operations: list[tuple[str, int, int]], threshold: float
) -> None:
    """An update clusters again only from its earliest change on; what it keeps must be what
    clustering every document again would give, after adds, edits, removals and reloads."""
    params = DedupParams(threshold=threshold)
    index = DedupIndex(params)
    for operation, number, version in operations:
        doc_id, text = f"d{number}", _VERSIONS[version]
        if operation == "add":
            changed = index.update([(doc_id, text_sha256(text), signature(text))])
            assert doc_id in changed
        elif operation == "remove":
            index.update([], removed=[doc_id])
        else:
            index = DedupIndex.from_table(index.to_table(), params)
        assert index.assignments() == _from_scratch(index)


def test_an_index_loaded_under_another_threshold_is_clustered_again_whole() -> None:
    docs = _docs(9)
    strict = DedupIndex(DedupParams(threshold=0.99))
    strict.update(docs)
    assert {a.dup_cluster for a in strict.assignments().values()} == {d[0] for d in docs}
    loose = DedupIndex.from_table(strict.to_table(), DedupParams())
    extra = "毫不相干的一段话" * 20
    changed = loose.update([("new", text_sha256(extra), signature(extra))])
    assert changed["doc001"].dup_cluster == "doc000"
    assert loose.assignments() == _from_scratch(loose)


# Texts made of two groups' paragraphs in several proportions: each shares bands with two
# representatives, at different similarities.
_MIXES = _VERSIONS + [
    a[: len(a) * k // 6] + b[len(b) * k // 6 :]
    for a, b in zip(_GROUPS, _GROUPS[1:] + _GROUPS[:1], strict=True)
    for k in (1, 2, 3, 4, 5)
]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, len(_MIXES) - 1), max_size=30),
    st.integers(0, 3),
    st.sampled_from([0.3, 0.5, 0.8]),
)
def test_the_band_tables_find_the_candidates_the_scan_finds(
    versions: list[int], limit: int, threshold: float
) -> None:
    """Past SCAN_LEADERS representatives, candidates come from the bands' hash tables instead of
    one numpy pass over every representative: the same clusters either way."""
    docs = [(f"d{i:02d}", text_sha256(_MIXES[v]), signature(_MIXES[v])) for i, v in enumerate(versions)]
    scanned = DedupIndex(DedupParams(threshold=threshold))
    scanned.update(docs)
    with mock.patch.object(dedup, "SCAN_LEADERS", limit):
        tabled = DedupIndex(DedupParams(threshold=threshold))
        tabled.update(docs)
    assert tabled.assignments() == scanned.assignments()


@given(st.lists(st.lists(st.integers(0, 3), min_size=4, max_size=4), max_size=12))
def test_a_row_is_alone_when_no_other_row_has_one_of_its_keys_in_that_band(rows: list[list[int]]) -> None:
    keys = np.array(rows, np.uint64).reshape(len(rows), 4)
    assert dedup._alone(keys).tolist() == [
        not any(
            other != row and rows[other][band] == rows[row][band]
            for other in range(len(rows))
            for band in range(4)
        )
        for row in range(len(rows))
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_MIXES), hans), max_size=30), st.sampled_from([0.3, 0.5, 0.8]))
def test_documents_sharing_no_band_cluster_as_when_each_is_searched(
    texts: list[str], threshold: float
) -> None:
    """A document whose band keys no other shares leads its own cluster without being searched
    or filed: the clusters are those of searching every document."""
    docs = [(f"d{i:02d}", text_sha256(text), signature(text)) for i, text in enumerate(texts)]
    shortcut = DedupIndex(DedupParams(threshold=threshold))
    shortcut.update(docs)
    with mock.patch.object(dedup, "_alone", lambda keys: np.zeros(len(keys), bool)):
        searched = DedupIndex(DedupParams(threshold=threshold))
        searched.update(docs)
    assert shortcut.assignments() == searched.assignments()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(hans, min_size=1, max_size=12),
    st.integers(0, 11),
    st.lists(st.tuples(st.integers(0, 11), hans), max_size=4),
    st.sets(st.integers(0, 11), max_size=3),
)
def test_new_rows_then_rows_changed_since_equal_one_update(
    texts: list[str], known: int, edits: list[tuple[int, str]], gone: set[int]
) -> None:
    # The corpus pass clusters a run's new rows first, then the rows cleaning changed since (any
    # of them, new or known), with their new signatures: that must equal one update of both.
    docs = [(f"d{i:02d}", text_sha256(t), signature(t)) for i, t in enumerate(texts)]
    known = min(known, len(docs))
    removed = [docs[i][0] for i in sorted(gone) if i < known]
    edited = {docs[i][0]: (text_sha256(t), signature(t)) for i, t in edits if i < len(docs)}
    final = [(d, *edited.get(d, (sha, sig))) for d, sha, sig in docs if d not in removed]
    in_two = DedupIndex()
    in_two.update(docs[:known])
    in_two.update(docs[known:], removed=removed)
    in_two.update([(d, *edited[d]) for d, _, _ in docs if d in edited and d not in removed])
    in_one = DedupIndex()
    in_one.update(docs[:known])
    in_one.update([row for row in final if row[0] in edited or row[0] >= f"d{known:02d}"], removed=removed)
    assert in_two.assignments() == in_one.assignments()
