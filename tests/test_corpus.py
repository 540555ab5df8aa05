"""The corpus pass of the curate flow (flows/corpus.py): clusters and learned boilerplate in the dataset."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from docclean.boilerplate import RULE_ID, normalized_text_of
from docclean.pipeline import replay
from docclean.schema import DOCUMENT_SCHEMA
from docclean.schema import record_from_row as record_of
from docclean_cli import main
from flows import commit, corpus
from flows.corpus import CORPUS_FOLDER, DEDUP_FILE, LINE_TEXTS_FILE, LINES_FILE
from flows.corpus_parts import facts_of
from flows.curate import curate
from flows.storage import parse_location
from flows.store import read_part
from flows.summary import report_markdown
from tests.conftest import SEEDS_DIR as SEEDS
from tests.conftest import current_snapshot

pytestmark = pytest.mark.usefixtures("prefect_harness")
VENDOR_LINE = "（本文由青松文档工作室整理，加V：qs2024获取更多）"
HEADER = "本文档由星辰文库整理 更多范文请访问 www.xcwk-demo.com"
FOOTER = "关注公众号：星辰范文 获取更多资料 QQ群 987654321"


def run(raw: Path, curated: Path, **kwargs: object):
    return curate(raw=str(raw), curated=str(curated), settle_seconds=0, **kwargs)


def rows(curated: Path) -> dict[str, dict]:
    table = ds.dataset(curated / "documents", format="parquet").to_table()
    return {row["source_path"]: row for row in table.to_pylist()}


def district(i: int) -> str:
    """A name of its own for document `i` (up to 60): documents that differ in digits alone count once for boilerplate."""
    return "甲乙丙丁戊己庚辛壬癸"[i % 10] + "子丑寅卯辰巳午未申酉戌亥"[i % 12]


def speech(i: int) -> str:
    return "\n".join(
        [
            f"在{district(i)}片区第{i}次安全生产工作会议上的讲话",
            "同志们：",
            f"今天召开第{i}次会议，主要任务是总结前一阶段工作，部署下一步任务。" * 3,
            f"一、提高思想认识，{i}个方面的工作要落实到位",
            "安全生产是底线，必须时刻绷紧这根弦，压实各方责任，编号" + str(i * 7919) + "。",
            "谢谢大家！",
            VENDOR_LINE,
        ]
    )


@pytest.mark.skipif(
    not SEEDS.is_dir(),
    reason=f"the seed documents are not here ({SEEDS} is absent): they ship beside the project only",
)
def test_seeds_and_their_copies_land_in_five_clusters_with_the_originals_as_representatives(
    tmp_path: Path,
) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    for i, path in enumerate(sorted(SEEDS.iterdir())):
        text = path.read_text(encoding="utf-8")
        paras = text.split("\n")
        long = [k for k, p in enumerate(paras) if len(p) > 40]
        (raw / f"a{i}.txt").write_text(text, encoding="utf-8")
        (raw / f"b{i}_vendor.txt").write_text("\n".join([HEADER, *paras, FOOTER]), encoding="utf-8")
        shortened = "\n".join(p for k, p in enumerate(paras) if k != long[len(long) // 2])
        (raw / f"c{i}_short.txt").write_text(shortened, encoding="utf-8")
        (raw / f"d{i}_gbk.txt").write_bytes(text.encode("gbk", errors="replace"))
    run(raw, curated)
    got = rows(curated)
    representatives = {row["dup_cluster"] for row in got.values()}
    assert representatives == {got[f"a{i}.txt"]["doc_id"] for i in range(5)}
    for path, row in got.items():
        assert row["dup_cluster"] == got[f"a{path[1]}.txt"]["doc_id"], path
        assert 0.5 <= row["dup_similarity"] <= 1.0
        assert row["text_sha256"] is not None
    assert (current_snapshot(curated) / CORPUS_FOLDER / DEDUP_FILE).is_file()


def _removals(row: dict) -> list[tuple[str, str]]:
    return sorted((r["rule"], r["text"]) for r in row["removed"] if r["rule"] == RULE_ID)


def test_a_vendor_line_in_twenty_documents_is_removed_from_all_and_the_salutation_kept(
    tmp_path: Path,
) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    for i in range(20):
        (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
    run(raw, curated)
    got = rows(curated)
    assert len(got) == 20
    for row in got.values():
        lines = row["text"].split("\n")
        assert "青松" not in row["text"] and "同志们：" in lines and "谢谢大家！" in lines
        assert _removals(row), row["source_path"]
        record = record_of(row)
        assert replay(record, normalized_text_of(record)) == row["text"]
    counts = pq.read_table(current_snapshot(curated) / CORPUS_FOLDER / LINES_FILE)
    assert set(counts.column("doc_id").to_pylist()) == {row["doc_id"] for row in got.values()}


def test_learned_boilerplate_with_another_mask_token_uses_that_token(tmp_path: Path) -> None:
    # The corpus pass rebuilt rows and folded lines with the default token: a run with
    # --mask-token <M> and a learned boilerplate line failed, and so did switching a dataset to it.
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    for i in range(20):
        (raw / f"{i:02d}.txt").write_text(speech(i).replace("同志们：", "XX同志、同志们："), encoding="utf-8")
    run(raw, curated)
    for token in ("<M>", "[MASK]"):
        run(raw, curated, placeholder_token=token)
        got = rows(curated)
        assert len(got) == 20
        for row in got.values():
            assert "青松" not in row["text"] and _removals(row), row["source_path"]
            assert row["text"].count(token) == 1 and row["placeholders"][0]["original"] == "XX"
            record = record_of(row)
            assert replay(record, normalized_text_of(record, token), token) == row["text"]


def test_copies_of_one_speech_keep_its_own_lines(tmp_path: Path) -> None:
    # A content line with a vendor-like noun (工作室), in five copies of one speech, and a sixth
    # copy later: one document as far as boilerplate goes, whatever the number of copies.
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    own = "去年以来，县非遗工作室牵头完成了各项展演任务。"
    text = speech(1).replace("同志们：", f"同志们：\n{own}")
    for i in range(6):
        (raw / f"copy{i}.txt").write_text(text, encoding="utf-8")
        if i == 4:
            run(raw, curated)
    run(raw, curated)
    got = rows(curated)
    assert len(got) == 6 and all(own in row["text"].split("\n") for row in got.values())
    assert all(not _removals(row) for row in got.values())


def test_two_drops_give_the_same_dataset_as_one_and_earlier_documents_are_cleaned_again(
    tmp_path: Path,
) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    for i in range(3):
        (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
    (raw / "00_copy.txt").write_text(speech(0) + "\n补充一句。", encoding="utf-8")
    first = run(raw, curated)
    assert first.corpus is not None and first.corpus.recleaned == 0
    assert all(not _removals(row) for row in rows(curated).values())  # three documents are too few
    for i in range(3, 20):
        (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
    second = run(raw, curated)
    assert second.corpus is not None and second.corpus.recleaned == 4
    assert "4 documents cleaned again because a line became or stopped being boilerplate" in (
        report_markdown(second)
    )
    whole_raw, whole_curated = tmp_path / "raw2", tmp_path / "curated2"
    shutil.copytree(raw, whole_raw)
    run(whole_raw, whole_curated)
    columns = ("text", "removed", "placeholders", "title", "outline", "text_sha256", "dup_similarity")
    two, one = rows(curated), rows(whole_curated)
    assert two.keys() == one.keys()
    ids_two = {row["doc_id"]: path for path, row in two.items()}
    ids_one = {row["doc_id"]: path for path, row in one.items()}
    for path in one:
        assert {c: two[path][c] for c in columns} == {c: one[path][c] for c in columns}, path
        assert ids_two[two[path]["dup_cluster"]] == ids_one[one[path]["dup_cluster"]], path
    assert two["00_copy.txt"]["dup_cluster"] == two["00.txt"]["doc_id"]


def test_pruning_a_representative_hands_the_cluster_to_the_next_member(tmp_path: Path) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    (raw / "a.txt").write_text(speech(1), encoding="utf-8")
    (raw / "b.txt").write_text(speech(1) + "\n补充一句。", encoding="utf-8")
    (raw / "c.txt").write_text(speech(1) + "\n再补充一句。", encoding="utf-8")
    run(raw, curated)
    before = rows(curated)
    assert before["c.txt"]["dup_cluster"] == before["a.txt"]["doc_id"]
    (raw / "a.txt").unlink()
    run(raw, curated, prune=True)
    after = rows(curated)
    assert set(after) == {"b.txt", "c.txt"}
    assert (
        after["b.txt"]["dup_cluster"] == after["b.txt"]["doc_id"] and after["b.txt"]["dup_similarity"] == 1.0
    )
    assert after["c.txt"]["dup_cluster"] == after["b.txt"]["doc_id"]


def _corpus_state(curated: Path) -> list:
    folder = current_snapshot(curated) / CORPUS_FOLDER
    return [pq.read_table(folder / name) for name in (DEDUP_FILE, LINES_FILE, LINE_TEXTS_FILE)]


def _without_run_times(table: dict[str, dict]) -> dict[str, dict]:
    """The rows without what differs between two runs over copies of one drop: times."""
    return {
        path: {k: v for k, v in row.items() if k not in ("ingested_at", "source_mtime_ns")}
        for path, row in table.items()
    }


def _drop(raw: Path) -> None:
    raw.mkdir()
    for i in range(12):
        (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
    (raw / "00_copy.txt").write_text(speech(0) + "\n补充一句。", encoding="utf-8")


def test_facts_computed_by_the_pass_give_what_the_batches_facts_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batches hand their documents' corpus facts to the pass; without them (a batch of an older
    docclean, an unreadable facts file) the pass computes them itself: the same dataset and state."""
    raw = tmp_path / "raw"
    _drop(raw)
    computed: list[object] = []
    monkeypatch.setattr(corpus, "facts_of", lambda job: computed.append(job) or facts_of(job))
    run(raw, tmp_path / "with")
    assert computed == []  # every row's facts came from its batch
    monkeypatch.setattr(commit, "batch_facts_of", lambda batches: [])
    run(raw, tmp_path / "without")
    assert len(computed) == 1  # one part, its facts computed by the pass
    assert _without_run_times(rows(tmp_path / "with")) == _without_run_times(rows(tmp_path / "without"))
    for mine, theirs in zip(
        _corpus_state(tmp_path / "with"), _corpus_state(tmp_path / "without"), strict=True
    ):
        assert mine.equals(theirs)


def test_a_corpus_state_of_an_older_format_is_built_again(tmp_path: Path) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    _drop(raw)
    run(raw, curated)
    index = current_snapshot(curated) / CORPUS_FOLDER / DEDUP_FILE
    table = pq.read_table(index)
    older = table.replace_schema_metadata(
        {k: v for k, v in table.schema.metadata.items() if b"format" not in k}
    )
    index.unlink()  # a hard link the next snapshot may share: replaced, never written through
    pq.write_table(older, index)
    (raw / "20.txt").write_text(speech(20), encoding="utf-8")
    again = run(raw, curated)
    whole = tmp_path / "whole"
    once = run(raw, whole)
    assert again.corpus is not None and once.corpus is not None
    assert (again.corpus.clusters, again.corpus.boilerplate_lines) == (
        once.corpus.clusters,
        once.corpus.boilerplate_lines,
    )
    got, expected = rows(curated), rows(whole)
    for path in expected:
        for column in ("text", "removed", "text_sha256", "dup_similarity"):
            assert got[path][column] == expected[path][column], (path, column)
    for mine, theirs in zip(_corpus_state(curated)[1:], _corpus_state(whole)[1:], strict=True):
        assert mine.equals(theirs)


def test_the_pass_in_the_runs_cleaning_processes_gives_what_it_gives_here(tmp_path: Path) -> None:
    """With --workers 2 the pass's jobs (lines, re-cleaning, rewriting parts) run in the cleaning
    processes; two drops, the second making a line boilerplate, end as with one worker."""
    for name, workers in (("pool", 2), ("here", 1)):
        raw = tmp_path / name / "raw"
        raw.mkdir(parents=True)
        for i in range(3):
            (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
        run(raw, tmp_path / name / "curated", workers=workers)
        for i in range(3, 9):
            (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
        summary = run(raw, tmp_path / name / "curated", workers=workers)
        assert summary.corpus is not None and summary.corpus.recleaned == 3
    pool, here = rows(tmp_path / "pool" / "curated"), rows(tmp_path / "here" / "curated")
    assert _without_run_times(pool) == _without_run_times(here)
    for mine, theirs in zip(
        _corpus_state(tmp_path / "pool" / "curated"),
        _corpus_state(tmp_path / "here" / "curated"),
        strict=True,
    ):
        assert mine.equals(theirs)


def test_inspect_tells_the_cluster_a_file_would_join_and_its_boilerplate_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    _drop(raw)
    run(raw, curated)
    representative = rows(curated)["00.txt"]
    newcomer = tmp_path / "new.txt"
    newcomer.write_text(speech(0) + "\n再补充一句。", encoding="utf-8")
    capsys.readouterr()
    assert main(["inspect", str(newcomer), "--curated", str(curated)]) == 0
    out = capsys.readouterr().out
    assert f"duplicates: would join the cluster of 00.txt ({representative['title']}), similarity" in out
    assert "boilerplate by the corpus counts (removed by corpus_boilerplate): 1\n" in out
    # The vendor's contact went with a noise rule already; the rest of its line is what recurs.
    assert "  seen in 14 documents: （本文由青松文档工作室整理，获取更多）\n" in out
    # A copy of a document of the dataset counts once, as the corpus pass counts it.
    copy = tmp_path / "copy.txt"
    copy.write_bytes((raw / "00.txt").read_bytes())
    assert main(["inspect", str(copy), "--curated", str(curated)]) == 0
    out = capsys.readouterr().out
    assert "  seen in 13 documents: （本文由青松文档工作室整理，获取更多）\n" in out
    unrelated = tmp_path / "other.txt"
    unrelated.write_text(
        "关于加强秋季森林防火工作的通知\n各乡镇：\n近期气温回升，降水偏少，森林火险等级持续偏高。",
        encoding="utf-8",
    )
    assert main(["inspect", str(unrelated), "--curated", str(curated)]) == 0
    assert (
        "duplicates: would be its own cluster (no near duplicate among 13 documents)"
        in capsys.readouterr().out
    )


def _unrelated(i: int) -> str:
    """A speech of its own: shares no run of five characters with another's, bar chance."""
    rng = random.Random(i)
    hans = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
    return "\n".join("".join(rng.choice(hans) for _ in range(60)) + "。" for _ in range(8))


def test_documents_alone_are_not_rewritten_and_an_edited_file_is_new_to_the_pass(tmp_path: Path) -> None:
    """A batch writes its rows as documents alone: with no duplicate the pass rewrites no part. A
    file edited in place keeps its doc_id, and its new text still reaches the index: here it becomes
    a copy of a later file, which joins its cluster, as in one run over the edited drop."""
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    for i in range(4):
        (raw / f"{i:02d}.txt").write_text(_unrelated(i), encoding="utf-8")
    first = run(raw, curated)
    assert first.corpus is not None and (first.corpus.clusters, first.corpus.rewritten) == (4, 0)
    assert not [p.name for p in (current_snapshot(curated) / "documents").iterdir() if "-corpus" in p.name]
    before = rows(curated)
    (raw / "00.txt").write_text(_unrelated(3) + "\n补充一句。", encoding="utf-8")
    run(raw, curated)
    after = rows(curated)
    assert after["00.txt"]["doc_id"] == before["00.txt"]["doc_id"]
    assert after["03.txt"]["dup_cluster"] == after["00.txt"]["doc_id"]
    whole = tmp_path / "whole"
    run(raw, whole)
    once = rows(whole)
    by_path = {row["doc_id"]: path for path, row in once.items()}
    mine = {row["doc_id"]: path for path, row in after.items()}
    for path, row in once.items():
        assert mine[after[path]["dup_cluster"]] == by_path[row["dup_cluster"]], path
        assert after[path]["text_sha256"] == row["text_sha256"]
        assert after[path]["dup_similarity"] == row["dup_similarity"]


def test_a_part_an_older_docclean_wrote_reads_with_the_columns_it_lacks_null(tmp_path: Path) -> None:
    """The pass reads parts column by column as DOCUMENT_SCHEMA has them, whatever docclean wrote them."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
    run(raw, tmp_path / "curated")
    table = ds.dataset(tmp_path / "curated" / "documents", format="parquet").to_table()
    older = tmp_path / "older.parquet"
    pq.write_table(table.drop_columns(["text_sha256", "dup_cluster", "dup_similarity"]), older)
    part = parse_location(str(older))
    for columns in (None, ["doc_id", "dup_cluster", "text"]):
        read = read_part(part, columns)
        assert read.equals(pq.read_table(older, columns=columns, schema=DOCUMENT_SCHEMA), check_metadata=True)
        assert read.schema.names == (columns or DOCUMENT_SCHEMA.names)
    assert read.column("dup_cluster").null_count == 3
