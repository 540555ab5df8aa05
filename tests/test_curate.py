"""The curate flow: incremental runs, renames and copies, rules changes, pending files, atomic commits."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import given
from hypothesis import strategies as st

import docclean.pipeline as pipeline_module
import flows.batches as batches_module
import flows.cleaning as cleaning_module
import flows.plan as plan_module
import flows.scan as scan_module
from docclean import PIPELINE_VERSION
from docclean.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA
from flows.curate import curate
from flows.dataset import open_dataset
from flows.scan import RawEntry, ScanResult
from flows.storage import parse_location
from flows.summary import RunSummary
from tests.conftest import SAMPLES_DIR, current_snapshot

pytestmark = pytest.mark.usefixtures("prefect_harness")

SPEECH = (
    "在全县安全生产工作会议上的讲话\n同志们：\n今天召开会议，主要任务是部署安全生产工作。XX县要压实责任，X个乡镇要开展排查。\n"
    "一、提高认识\n安全生产是底线，必须时刻绷紧这根弦。\n"
)


def run(raw: Path, curated: Path, **kwargs: object):
    return curate(raw=str(raw), curated=str(curated), settle_seconds=0, **kwargs)


def rows(curated: Path) -> list[dict]:
    return ds.dataset(curated / "documents", format="parquet").to_table().to_pylist()


def rejects(curated: Path) -> list[dict]:
    return ds.dataset(curated / "rejects", format="parquet").to_table().to_pylist()


def age(path: Path, seconds: float = 60) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    raw = tmp_path / "raw"
    raw.mkdir()
    return raw, tmp_path / "curated"


def test_samples_become_documents_and_a_second_run_writes_nothing(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    for sample in SAMPLES_DIR.glob("*.txt"):
        shutil.copy2(sample, raw / sample.name)
    first = run(raw, curated)
    assert first.cleaned == 5 and first.rejected == 0 and first.wrote
    table_before = ds.dataset(curated / "documents").to_table()
    snapshot = current_snapshot(curated)
    second = run(raw, curated)
    assert not second.wrote and second.cleaned == 0 and second.unchanged == 5
    assert current_snapshot(curated) == snapshot
    assert ds.dataset(curated / "documents").to_table().equals(table_before)


def test_a_curated_folder_deleted_by_hand_gets_its_links_back(folders: tuple[Path, Path]) -> None:
    """The snapshots live beside it (.docclean/): a run after `rm -r curated` that has nothing new
    writes nothing, and the dataset it reports is where it says it is."""
    raw, curated = folders
    for sample in SAMPLES_DIR.glob("*.txt"):
        shutil.copy2(sample, raw / sample.name)
    run(raw, curated)
    before = ds.dataset(curated / "documents").to_table()
    shutil.rmtree(curated)
    again = run(raw, curated)
    assert not again.wrote and again.unchanged == 5
    assert ds.dataset(curated / "documents").to_table().equals(before)
    assert ds.dataset(curated / "rejects").count_rows() == 0
    assert (curated / "README.md").is_file()


def test_new_changed_copied_renamed_and_missing_files(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    doc = raw / "a.txt"
    doc.write_text(SPEECH, encoding="utf-8")
    age(doc)
    run(raw, curated)
    [row] = rows(curated)
    original_id = row["doc_id"]

    doc.write_text(SPEECH + "二、狠抓落实\n要把各项措施落到实处。\n", encoding="utf-8")
    age(doc, 30)
    summary = run(raw, curated)
    assert summary.changed == 1 and summary.cleaned == 1
    [row] = rows(curated)
    assert "狠抓落实" in row["text"] and row["doc_id"] == original_id

    shutil.copy2(doc, raw / "copy.txt")
    summary = run(raw, curated)
    assert summary.cleaned == 0 and summary.reused == 1
    by_path = {r["source_path"]: r for r in rows(curated)}
    assert set(by_path) == {"a.txt", "copy.txt"}
    assert by_path["copy.txt"]["text"] == by_path["a.txt"]["text"]
    assert by_path["copy.txt"]["doc_id"] != by_path["a.txt"]["doc_id"]

    os.rename(raw / "copy.txt", raw / "renamed.txt")
    summary = run(raw, curated)
    assert summary.cleaned == 0 and summary.renamed == 1
    after = {r["source_path"]: r for r in rows(curated)}
    assert set(after) == {"a.txt", "renamed.txt"}
    assert after["renamed.txt"]["doc_id"] == by_path["copy.txt"]["doc_id"]

    os.remove(raw / "renamed.txt")
    summary = run(raw, curated)
    assert summary.missing == 1
    after = {r["source_path"]: r for r in rows(curated)}
    assert after["renamed.txt"]["source_present"] is False and after["a.txt"]["source_present"] is True

    run(raw, curated, prune=True)
    assert {r["source_path"] for r in rows(curated)} == {"a.txt"}


def _plan_rows(**row: object) -> pa.Table:
    """One current row of 200 bytes, mtime 1 and doc_id d1, made by rules r1, with the columns the plan reads."""
    values = {
        "doc_id": "d1",
        "source_sha256": "c" * 64,
        "source_bytes": 200,
        "source_mtime_ns": 1,
        "rules_version": "r1",
        "pipeline_version": PIPELINE_VERSION,
        "source_present": True,
        **row,
    }
    return pa.Table.from_pylist([values], schema=pa.schema([DOCUMENT_SCHEMA.field(name) for name in values]))


def test_the_plan_hashes_only_files_of_a_size_some_current_row_has() -> None:
    # A copy or a touched file has its row's size; a file of any other size is new content and
    # is read once, by its batch, not hashed beforehand as well.
    documents = _plan_rows(source_path="old.txt")
    entries = [
        RawEntry("new.txt", b"/raw/new.txt", 100, 5),
        RawEntry("copy.txt", b"/raw/copy.txt", 200, 5),
        RawEntry("old.txt", b"/raw/old.txt", 200, 1),
    ]
    scan = ScanResult(files=entries)
    current = plan_module.Current(documents, REJECT_SCHEMA.empty_table(), plan_module.Judgement("r1"))
    hashed = plan_module.files_to_hash(scan, current)
    assert [e.abs_path for e in hashed] == [b"/raw/copy.txt"]
    plan = plan_module.plan(scan, current, {"copy.txt": "c" * 64})
    assert [e.rel_path for e in plan.to_clean] == ["new.txt"]
    assert plan.reuse == [("old.txt", "copy.txt", 5, False)]
    assert (plan.counts["new"], plan.counts["unchanged"], plan.counts["reused"]) == (2, 1, 1)


@pytest.mark.parametrize(
    ("recorded", "cleaned"),
    [({"placeholder_token": "[MASK]", "script_conversion": "t2s", "languages": None}, []),
     ({"placeholder_token": "＿＿", "script_conversion": "t2s", "languages": None}, ["a.txt"]),
     ({"placeholder_token": "[MASK]", "script_conversion": None, "languages": None}, ["a.txt"]),
     ({"placeholder_token": "[MASK]", "script_conversion": "t2s", "languages": ["zh"]}, ["a.txt"]),
     (None, ["a.txt"])],
)  # fmt: skip
def test_the_plan_cleans_an_unchanged_file_again_when_its_cleaning_options_changed(
    recorded: dict[str, object] | None, cleaned: list[str]
) -> None:
    documents = _plan_rows(source_path="a.txt")
    options = {"placeholder_token": "[MASK]", "script_conversion": "t2s", "languages": None}
    judgement = plan_module.Judgement("r1", recorded, options)
    current = plan_module.Current(documents, REJECT_SCHEMA.empty_table(), judgement)
    scan = ScanResult(files=[RawEntry("a.txt", b"/raw/a.txt", 200, 1)])
    plan = plan_module.plan(scan, current, {})
    assert [e.rel_path for e in plan.to_clean] == cleaned
    # The document keeps its id: it is the same document, cleaned again.
    assert plan.doc_ids == {path: "d1" for path in cleaned}


def test_changed_cleaning_options_clean_unchanged_files_again_once(folders: tuple[Path, Path]) -> None:
    """Five flow runs (a second or so each): the options change, then the same options again."""
    raw, curated = folders
    (raw / "a.txt").write_text(
        "在全县工作会议上的讲话\n同志们：\n今天召开會議，XX局要抓好落實，請於週一前回覆。\n", encoding="utf-8"
    )
    (raw / "b.txt").write_text("This is an English note about the meeting on Monday.\n" * 3, encoding="utf-8")
    age(raw / "a.txt")
    age(raw / "b.txt")
    run(raw, curated)
    ids = {r["source_path"]: r["doc_id"] for r in rows(curated)}
    texts = {r["source_path"]: r["text"] for r in rows(curated)}
    assert "[MASK]局" in texts["a.txt"] and "请于" in texts["a.txt"]
    options: dict[str, object] = {"placeholder_token": "<X>", "script_conversion": None}
    summary = run(raw, curated, **options)
    assert summary.wrote and summary.cleaned == 2
    texts = {r["source_path"]: r["text"] for r in rows(curated)}
    assert "<X>局" in texts["a.txt"] and "請於" in texts["a.txt"]
    assert {r["source_path"]: r["doc_id"] for r in rows(curated)} == ids  # the same documents, cleaned again
    assert not run(raw, curated, **options).wrote  # the same options again: nothing is written
    summary = run(raw, curated, **options, languages=["zh"])
    assert summary.wrote and {r["source_path"] for r in rows(curated)} == {"a.txt"}
    assert {r["source_path"]: r["reason"] for r in rejects(curated)} == {"b.txt": "language"}
    # The language reject is looked at again when the languages change, and is a document again.
    summary = run(raw, curated, **options)
    assert summary.wrote and {r["source_path"] for r in rows(curated)} == {"a.txt", "b.txt"}
    assert not rejects(curated)


def test_changed_rules_file_recleans_documents(folders: tuple[Path, Path], tmp_path: Path) -> None:
    raw, curated = folders
    (raw / "a.txt").write_text(SPEECH, encoding="utf-8")
    age(raw / "a.txt")
    run(raw, curated)
    rules = tmp_path / "extra.toml"
    rules.write_text(
        '[[rule]]\nid = "drop_bottom_line"\ncategory = "watermark"\npattern = "安全生产是底线"\nscope = "line"\n',
        encoding="utf-8",
    )
    summary = run(raw, curated, rules_file=str(rules))
    assert summary.cleaned == 1
    [row] = rows(curated)
    assert "安全生产是底线" not in row["text"]
    assert any(r["rule"] == "drop_bottom_line" for r in row["removed"])
    assert not run(raw, curated, rules_file=str(rules)).wrote


def test_partial_and_still_growing_files_wait(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    (raw / "download.txt.part").write_text(SPEECH, encoding="utf-8")
    growing = raw / "growing.txt"
    growing.write_text(SPEECH, encoding="utf-8")  # modified just now: may still be copied in
    summary = curate(raw=str(raw), curated=str(curated), settle_seconds=30)
    assert summary.pending == 2 and summary.cleaned == 0
    age(growing)
    summary = curate(raw=str(raw), curated=str(curated), settle_seconds=30)
    assert summary.cleaned == 1 and summary.pending == 1
    assert [r["source_path"] for r in rows(curated)] == ["growing.txt"]


def test_the_summary_counts_an_extracted_document_under_its_format(folders: tuple[Path, Path]) -> None:
    from tests.extract_documents import pdf_bytes

    raw, curated = folders
    (raw / "speech.txt").write_text(SPEECH, encoding="utf-8")
    (raw / "speech.pdf").write_bytes(pdf_bytes(SPEECH))
    for path in raw.iterdir():
        age(path)
    summary = curate(raw=str(raw), curated=str(curated), settle_seconds=30)
    assert summary.cleaned == 2
    assert dict(summary.encodings) == {"utf-8": 1, "(pdf)": 1}
    assert summary.as_dict()["encodings"] == {"utf-8": 1, "(pdf)": 1}


def test_hidden_lock_and_system_files_are_passed_over_not_pending(folders: tuple[Path, Path]) -> None:
    # They never become documents: counted pending, they would wait for ever; rejected, they
    # would fill the rejects with .DS_Store and .git objects on every run.
    raw, curated = folders
    (raw / "speech.txt").write_text(SPEECH, encoding="utf-8")
    (raw / ".hidden.txt").write_text(SPEECH, encoding="utf-8")
    (raw / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (raw / "~$speech.docx").write_bytes(b"\x05lock")
    (raw / "desktop.ini").write_text("[.ShellClassInfo]\n", encoding="utf-8")
    (raw / ".git").mkdir()
    (raw / ".git" / "config").write_text("[core]\n", encoding="utf-8")
    for path in raw.rglob("*"):
        age(path)
    scan = scan_module.scan_raw(parse_location(str(raw)), settle_seconds=30)
    assert scan.ignored == [".DS_Store", ".git", ".hidden.txt", "desktop.ini", "~$speech.docx"]
    assert [e.rel_path for e in scan.files] == ["speech.txt"] and scan.pending == scan.problems == []
    summary = curate(raw=str(raw), curated=str(curated), settle_seconds=30)
    assert (summary.cleaned, summary.pending, summary.rejected) == (1, 0, 0)
    assert [r["source_path"] for r in rows(curated)] == ["speech.txt"]


@given(
    st.text(alphabet=st.sampled_from("ab.~$*?[]\n\\PARTtmp-"), max_size=14)
    | st.sampled_from(
        [
            "a.part",
            "a.PART",
            "x.crdownload",
            "~$a.docx",
            ".git",
            "a.txt",
            "part",
            "a.part.txt",
            "a.tmp\n",
            "Thumbs.db",
            "desktop.ini",
        ]
    )
)
def test_partial_and_ignored_names_are_those_fnmatch_matches(name: str) -> None:
    for patterns, test in (
        (scan_module.PARTIAL_NAME_PATTERNS, scan_module.is_partial_name),
        (scan_module.IGNORED_NAME_PATTERNS, scan_module.is_ignored_name),
    ):
        assert test(name) == any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def test_bad_files_become_rejects_and_the_run_goes_on(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    (raw / "good.txt").write_text(SPEECH, encoding="utf-8")
    (raw / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (raw / "empty.txt").write_bytes(b"")
    summary = run(raw, curated)
    assert summary.cleaned == 1 and summary.rejected == 2
    reasons = {r["source_path"]: r["reason"] for r in rejects(curated)}
    assert reasons == {"image.txt": "binary", "empty.txt": "empty"}
    # Read before they were refused: their hashes are known.
    shas = {r["source_path"]: r["source_sha256"] for r in rejects(curated)}
    assert shas == {name: hashlib.sha256((raw / name).read_bytes()).hexdigest() for name in reasons}
    # A reject that has not changed is not retried, and the run writes nothing.
    assert not run(raw, curated).wrote
    (raw / "empty.txt").write_text(SPEECH, encoding="utf-8")
    age(raw / "empty.txt", 10)
    run(raw, curated)
    assert {r["source_path"] for r in rejects(curated)} == {"image.txt"}
    assert {r["source_path"] for r in rows(curated)} == {"good.txt", "empty.txt"}


def test_dataset_loads_with_every_reader_and_documents_its_schema(folders: tuple[Path, Path]) -> None:
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.parquet as pq

    from docclean.schema import DOCUMENT_SCHEMA

    raw, curated = folders
    for sample in SAMPLES_DIR.glob("*.txt"):
        shutil.copy2(sample, raw / sample.name)
    run(raw, curated)
    documents = curated / "documents"
    frame = pd.read_parquet(documents)
    assert len(frame) == 5 and set(frame.columns) == set(DOCUMENT_SCHEMA.names)
    lazy = pl.scan_parquet(str(documents / "*.parquet"))
    assert lazy.select(pl.len()).collect().item() == 5
    count = duckdb.sql(f"SELECT count(*) FROM '{documents}/*.parquet' WHERE char_count > 0").fetchall()[0][0]
    assert count == 5
    kinds = duckdb.sql(
        f"SELECT DISTINCT p.kind FROM '{documents}/*.parquet', unnest(placeholders) AS t(p) ORDER BY 1"
    ).fetchall()
    assert ("person",) in kinds
    schema = pq.read_schema(next(documents.glob("*.parquet")))
    for field in DOCUMENT_SCHEMA:
        assert schema.field(field.name).metadata[b"description"], field.name
    assert (
        pq.ParquetFile(next(documents.glob("*.parquet"))).metadata.row_group(0).column(0).compression
        == "ZSTD"
    )


# --- Loading the dataset: every obvious way is right or fails naming what to load -------------


def _three_snapshots(raw: Path, curated: Path) -> None:
    for sample in SAMPLES_DIR.glob("*.txt"):
        shutil.copy2(sample, raw / sample.name)
    (raw / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    run(raw, curated)
    (raw / "extra.txt").write_text(SPEECH, encoding="utf-8")
    age(raw / "extra.txt")
    run(raw, curated)
    (raw / "extra.txt").write_text(SPEECH + "二、狠抓落实\n", encoding="utf-8")
    age(raw / "extra.txt", 30)
    run(raw, curated)


def _right_or_fails_clearly(read: Callable[[], int], expected: int, names: tuple[str, ...]) -> str:
    """A reader of the whole folder returns the right count, or fails with a message naming a path."""
    try:
        count = read()
    except Exception as error:
        assert any(name in str(error) for name in names), error
        return "fails"
    assert count == expected
    return "right"


def test_every_obvious_way_to_load_the_folder_is_right_or_fails_clearly(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb
    import pandas as pd
    import polars as pl

    raw, curated = folders
    _three_snapshots(raw, curated)
    (curated / "report.html").write_text(
        "<!DOCTYPE html>", encoding="utf-8"
    )  # as `docclean report` leaves it
    documents = 6
    monkeypatch.chdir(curated.parent)
    folder = curated.name
    # Older snapshots are out of reach of a recursive glob: never 3x the rows.
    outcomes = {
        "duckdb **": _right_or_fails_clearly(
            lambda: duckdb.sql(f"SELECT count(*) FROM '{folder}/**/*.parquet'").fetchall()[0][0],
            documents,
            ("No files found",),
        ),
        "polars **": _right_or_fails_clearly(
            lambda: pl.scan_parquet(f"{folder}/**/*.parquet").select(pl.len()).collect().item(),
            documents,
            ("rejects/",),
        ),
        "pandas": _right_or_fails_clearly(lambda: len(pd.read_parquet(folder)), documents, ("README.md",)),
        "pyarrow": _right_or_fails_clearly(
            lambda: ds.dataset(folder).to_table().num_rows, documents, ("README.md",)
        ),
    }
    assert "right" not in outcomes.values() or set(outcomes.values()) <= {"right", "fails"}
    # The one right path of each library, as the README shows it.
    assert duckdb.sql(f"SELECT count(*) FROM '{folder}/documents/*.parquet'").fetchall() == [(documents,)]
    assert pl.scan_parquet(f"{folder}/documents/*.parquet").select(pl.len()).collect().item() == documents
    assert len(pd.read_parquet(f"{folder}/documents")) == documents
    assert ds.dataset(f"{folder}/documents").to_table().num_rows == documents
    assert ds.dataset(f"{folder}/rejects").to_table().column("reason").to_pylist() == ["binary"]
    paths = ds.dataset(f"{folder}/documents").to_table().column("source_path").to_pylist()
    assert len(paths) == len(set(paths))  # one row per source_path


def _load_hf(*args: str, cache: Path, **kwargs: object):
    datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is not installed")
    datasets.disable_progress_bars()
    return datasets.load_dataset(*args, split="train", cache_dir=str(cache), **kwargs)


def test_hugging_face_datasets_loads_each_table_and_an_empty_rejects_table(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, curated = folders
    for sample in SAMPLES_DIR.glob("*.txt"):
        shutil.copy2(sample, raw / sample.name)
    run(raw, curated)
    assert ds.dataset(curated / "rejects").to_table().num_rows == 0
    cache = tmp_path / "hf-cache"
    documents = _load_hf("parquet", data_files=str(curated / "documents" / "*.parquet"), cache=cache)
    assert documents.num_rows == 5 and "text" in documents.column_names
    # The folder's README is a dataset card: its default config is the documents table.
    assert _load_hf(str(curated), cache=cache).num_rows == 5
    # A later snapshot is loaded, not the first load's rows from the cache.
    shutil.copy2(next(SAMPLES_DIR.glob("*.txt")), raw / "copy.txt")
    age(raw / "copy.txt")
    run(raw, curated)
    assert _load_hf(str(curated), cache=cache).num_rows == 6
    assert _load_hf("parquet", data_files=str(curated / "documents" / "*.parquet"), cache=cache).num_rows == 6
    # Zero rows and no empty row group ("BatchSize must be greater than 0" otherwise). Streaming:
    # datasets' non-streaming builder makes no split of a Parquet source that yields no rows
    # ('Instruction "train" corresponds to no data!'), whoever wrote the file.
    empty = _load_hf(
        "parquet", data_files=str(curated / "rejects" / "*.parquet"), cache=cache, streaming=True
    )
    assert list(empty) == [] and "reason" in empty.features
    assert list(_load_hf(str(curated), "rejects", cache=cache, streaming=True)) == []


def test_a_table_without_rows_keeps_its_columns_for_every_reader_of_the_readme(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    import duckdb
    import pandas as pd
    import polars as pl

    raw, curated = folders
    (raw / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n0000")  # every file rejected: no document
    age(raw / "picture.txt")
    run(raw, curated)
    for table, schema in (("documents", DOCUMENT_SCHEMA), ("rejects", REJECT_SCHEMA)):
        folder = curated / table
        expected = 0 if table == "documents" else 1
        assert ds.dataset(folder).to_table().schema.equals(schema, check_metadata=False)
        assert ds.dataset(folder).to_table().num_rows == expected
        assert list(pd.read_parquet(folder).columns) == schema.names
        assert pl.scan_parquet(f"{folder}/*.parquet").collect().columns == schema.names
        assert duckdb.sql(f"SELECT count(*) FROM '{folder}/*.parquet'").fetchall() == [(expected,)]
    cache = tmp_path / "hf-cache"
    streamed = _load_hf(str(curated), cache=cache, streaming=True)
    assert list(streamed) == [] and set(streamed.features) == set(DOCUMENT_SCHEMA.names)
    datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is not installed")
    # The README's map-style form for a table that may be empty: all its columns, no row.
    empty = datasets.Dataset(ds.dataset(curated / "documents").to_table())
    assert empty.num_rows == 0 and set(empty.features) == set(DOCUMENT_SCHEMA.names)
    # datasets' own non-streaming builder makes no split of zero rows, whatever the files hold
    # (huggingface/datasets#8401): when it learns to, the table must come back whole.
    try:
        loaded = _load_hf(str(curated), cache=cache)
    except ValueError as error:
        assert str(error) == 'Instruction "train" corresponds to no data!'
    else:
        assert loaded.num_rows == 0 and set(loaded.features) == set(DOCUMENT_SCHEMA.names)


def test_a_curated_folder_in_the_old_layout_is_moved_on_the_next_run(folders: tuple[Path, Path]) -> None:
    from docclean.layout import state_folder

    raw, curated = folders
    for sample in SAMPLES_DIR.glob("*.txt"):
        shutil.copy2(sample, raw / sample.name)
    run(raw, curated)
    before = ds.dataset(curated / "documents").to_table()
    # Rebuild the layout of earlier versions: snapshots inside curated/.snapshots, `current` beside them.
    state = state_folder(curated)
    number = os.readlink(state / "current").split("/")[-1]
    (curated / ".snapshots").mkdir()
    os.rename(state / "snapshots" / number, curated / ".snapshots" / number)
    shutil.copytree(curated / ".snapshots" / number, curated / ".snapshots" / "000000")  # an older one
    shutil.rmtree(state)
    (curated / "README.md").unlink()
    os.symlink(f".snapshots/{number}", curated / "current")
    for name in ("documents", "rejects"):
        (curated / name).unlink()
        os.symlink(f"current/{name}", curated / name)
    assert ds.dataset(curated / "documents").to_table().equals(before)

    summary = run(raw, curated)  # nothing new: the layout moves all the same
    assert not summary.wrote and summary.unchanged == 5
    assert not (curated / ".snapshots").exists() and not (curated / "current").exists()
    assert sorted(p.name for p in curated.iterdir()) == [".lock", "README.md", "documents", "rejects"]
    assert ds.dataset(curated / "documents").to_table().equals(before)
    (raw / "extra.txt").write_text(SPEECH, encoding="utf-8")
    age(raw / "extra.txt")
    assert run(raw, curated).cleaned == 1
    assert ds.dataset(curated / "documents").to_table().num_rows == 6


# --- Option-dependent rejects --------------------------------------------------------------------


def test_a_too_large_reject_is_looked_at_again_when_the_limit_is_raised(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    (raw / "big.txt").write_text(SPEECH * 20, encoding="utf-8")
    (raw / "small.txt").write_text(SPEECH, encoding="utf-8")
    (raw / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    for path in raw.iterdir():
        age(path)
    size = (raw / "big.txt").stat().st_size
    first = run(raw, curated, max_file_bytes=size - 1)
    assert first.reject_reasons == {"too_large": 1, "binary": 1}
    # A file refused for its size was never read: no hash.
    assert {r["source_path"]: r["source_sha256"] is None for r in rejects(curated)} == {
        "big.txt": True,
        "image.txt": False,
    }
    # The same limit: nothing to look at again, nothing written.
    assert not run(raw, curated, max_file_bytes=size - 1).wrote
    raised = run(raw, curated, max_file_bytes=size)
    assert raised.cleaned == 1 and raised.rejected == 1
    assert {r["source_path"]: r["reason"] for r in rejects(curated)} == {"image.txt": "binary"}
    assert {r["source_path"] for r in rows(curated)} == {"big.txt", "small.txt"}
    # A limit lowered again: a document stays a document; a new file over it is rejected.
    (raw / "bigger.txt").write_text(SPEECH * 30, encoding="utf-8")
    age(raw / "bigger.txt")
    lowered = run(raw, curated, max_file_bytes=size - 1)
    assert lowered.reject_reasons == {"too_large": 1, "binary": 1}
    assert not run(raw, curated, max_file_bytes=size - 1).wrote


def test_every_reject_is_looked_at_again_once_under_a_new_pipeline_version(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A newer pipeline may read what an older one refused (a text padded with NUL bytes).
    raw, curated = folders
    (raw / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (raw / "speech.txt").write_text(SPEECH, encoding="utf-8")
    for path in raw.iterdir():
        age(path)
    assert run(raw, curated).reject_reasons == {"binary": 1}
    judged = rejects(curated)[0]["rejected_at"]
    assert not run(raw, curated).wrote  # the same version: the reject stands
    for module in (plan_module, batches_module, pipeline_module):
        monkeypatch.setattr(module, "PIPELINE_VERSION", "next")
    assert run(raw, curated).reject_reasons == {"binary": 1}
    assert rejects(curated)[0]["rejected_at"] > judged
    assert not run(raw, curated).wrote  # judged by this version now: it stands


def test_stale_reasons_are_those_whose_options_differ() -> None:
    current = {"max_file_bytes": 100}
    assert plan_module.stale_reasons({"max_file_bytes": 100}, current) == frozenset()
    assert plan_module.stale_reasons({"max_file_bytes": 50}, current) == {"too_large"}
    # A rejects table from before options were recorded: every option-dependent reason, once.
    assert plan_module.stale_reasons(None, current) == set(plan_module.OPTION_DEPENDENT_REASONS)


# --- Interrupted work is kept (real subprocesses) ------------------------------------------------

CLI_ENV = {
    **{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}
PROGRESS_LINE = re.compile(r"cleaning: \d+/\d+ files \(\d+%\), \d+ s elapsed(, ETA \d+ s)?")


def _speeches(raw: Path, count: int) -> None:
    """`count` distinct documents: batches of BATCH_FILES files each."""
    for number in range(count):
        path = raw / f"doc{number:04d}.txt"
        path.write_text(SPEECH + f"第{number}份。\n", encoding="utf-8")
        age(path)


def _start_run(workdir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "docclean_cli", "run", "--settle", "0", *args],
        cwd=workdir,
        env=CLI_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finished_batches(curated: Path) -> int:
    from flows.dataset import open_store

    return open_store(str(curated)).kept_batches()


def _wait_for_batches(curated: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 400
    while _finished_batches(curated) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run finished no batch in time"
        time.sleep(0.02)


def _comparable(curated: Path) -> list[dict]:
    table = ds.dataset(curated / "documents").to_table().drop_columns(["ingested_at"])
    return sorted(table.to_pylist(), key=lambda row: row["source_path"])


def test_a_run_killed_at_60_percent_resumes_from_its_finished_batches(tmp_path: Path) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    batches = 5
    _speeches(raw, batches * batches_module.BATCH_FILES)
    killed = _start_run(tmp_path)
    _wait_for_batches(curated, 3, killed)
    killed.kill()  # SIGKILL: no handler runs, nothing is cleaned up
    killed.communicate()
    kept = _finished_batches(curated)
    assert 3 <= kept < batches and not (curated / "documents").exists()

    resumed = _start_run(tmp_path, "--json")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    summary = json.loads(out)
    total = batches * batches_module.BATCH_FILES
    assert summary["resumed"] == kept * batches_module.BATCH_FILES
    assert summary["cleaned"] == total - summary["resumed"]  # only what was left
    assert (summary["seen"], summary["new"], summary["rejected"], summary["wrote"]) == (total, total, 0, True)
    # Not a terminal: the progress is a line every few seconds, the last one at 100 %.
    progress = [line for line in err.splitlines() if PROGRESS_LINE.fullmatch(line)]
    assert progress and progress[-1].startswith(f"cleaning: {total}/{total} files (100%)"), err
    assert _finished_batches(curated) == 0  # the commit holds them now

    reference = tmp_path / "reference"
    assert run(raw, reference).cleaned == total
    assert _comparable(curated) == _comparable(reference)


@pytest.mark.parametrize("existing", [False, True], ids=["first run", "dataset already there"])
@pytest.mark.parametrize("committed", [False, True])
def test_an_interrupt_says_whether_the_run_had_written_the_dataset(
    folders: tuple[Path, Path], committed: bool, existing: bool
) -> None:
    # A signal after the commit (the summary not yet printed) said "the dataset is unchanged";
    # with a dataset there already, any signal said it had been written.
    from flows.commands import RunInterrupted, _drop_signal_crash, _interruptible

    raw, curated = folders
    if existing:
        (raw / "earlier.txt").write_text(SPEECH + "\n此前的讲话。", encoding="utf-8")
        age(raw / "earlier.txt")
        run(raw, curated)
    (raw / "speech.txt").write_text(SPEECH, encoding="utf-8")
    age(raw / "speech.txt")
    raise_exceptions = logging.raiseExceptions
    try:
        with pytest.raises(RunInterrupted) as interrupted, _interruptible(str(curated), verbose=False):
            if committed:
                run(raw, curated)
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        # What a process the signal ends leaves as it is.
        logging.disable(logging.NOTSET)
        logging.raiseExceptions = raise_exceptions
        for name in ("prefect.flow_runs", "prefect.task_runs"):
            logging.getLogger(name).removeFilter(_drop_signal_crash)
    assert (interrupted.value.signum, interrupted.value.written) == (signal.SIGINT, committed)


def test_ctrl_c_and_sigterm_end_the_run_with_one_line_and_keep_its_batches(tmp_path: Path) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    _speeches(raw, 4 * batches_module.BATCH_FILES)
    for signum in (signal.SIGTERM, signal.SIGINT):
        before = _finished_batches(curated)
        process = _start_run(tmp_path)
        _wait_for_batches(curated, before + 1, process)
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
        kept = _finished_batches(curated)
        assert process.returncode == 128 + signum, err
        lines = err.splitlines()
        assert (
            lines[-1] == f"interrupted: the dataset is unchanged; {kept} "
            f"{'batch is' if kept == 1 else 'batches are'} kept and the next run resumes"
        )
        assert all(PROGRESS_LINE.fullmatch(line) for line in lines[:-1]), err
        assert out == "" and kept > before
        assert not (curated / "documents").exists()  # nothing was committed


# --- The run summary -----------------------------------------------------------------------------


def test_the_summary_names_every_outcome_and_json_has_the_same_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from docclean.console import print_summary

    summary = RunSummary(
        seen=9, new=2, changed=1, unchanged=5, renamed=1, reused=1, missing=1, pruned=2, pending=1, rejected=1
    )
    summary.cleaned, summary.resumed, summary.wrote = 2, 500, True
    print_summary(summary, "curated")
    out = " ".join(capsys.readouterr().out.split())  # rich wraps at 80 columns off a terminal
    assert out.startswith(
        "9 files seen: 2 new, 1 changed, 5 unchanged, 1 renamed, 1 missing (rows kept), 2 pruned, 1 rejected, "
        "1 pending. Cleaned 2, reused 2, resumed 500 from an interrupted run, rejected 1, in 0.0 s."
    )
    print_summary(RunSummary(seen=1, new=1), "curated")
    assert capsys.readouterr().out.startswith("1 file seen: 1 new, 0 changed")
    as_json = json.loads(json.dumps(summary.as_dict()))
    for key in ("seen", "new", "changed", "unchanged", "renamed", "reused", "missing", "pruned", "pending"):
        assert as_json[key] == getattr(summary, key)
    assert (as_json["cleaned"], as_json["resumed"], as_json["rejected"], as_json["wrote"]) == (
        2,
        500,
        1,
        True,
    )


def test_a_log_gets_a_progress_line_every_interval_and_one_at_the_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from docclean.console import log_progress, progress_line

    assert progress_line(1500, 3000, 12.0) == "cleaning: 1500/3000 files (50%), 12 s elapsed, ETA 12 s"
    with log_progress(0.05) as advance:
        advance(0, 10)
        time.sleep(0.3)
        advance(10, 10)
        time.sleep(0.2)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3 and all(PROGRESS_LINE.fullmatch(line) for line in lines)
    assert lines[-1].startswith("cleaning: 10/10 files (100%)") and lines.count(lines[-1]) == 1


def _fail_on(monkeypatch: pytest.MonkeyPatch, failing: str) -> Callable[..., object]:
    """Make the batch holding `failing` crash, as a run killed in the middle of it would end."""
    clean = cleaning_module.read_raw

    def crash_on(entry: RawEntry, config: object):
        if entry.rel_path == failing:
            raise RuntimeError("the machine went down")
        return clean(entry, config)

    monkeypatch.setattr(cleaning_module, "read_raw", crash_on)
    return clean


def resumed_run_cleans_only_batches_that_did_not_finish(
    monkeypatch: pytest.MonkeyPatch, put: Callable[[str, str], None], raw: str, curated: str
) -> None:
    """Shared by the local and the S3 test: batches of two files, the third batch crashes."""
    monkeypatch.setattr(batches_module, "BATCH_FILES", 2)
    for name in ("a", "b", "c", "d", "e", "f"):
        put(f"{name}.txt", SPEECH + f"第{name}份。\n")
    clean = _fail_on(monkeypatch, "e.txt")
    with pytest.raises(RuntimeError, match="the machine went down"):
        curate(raw=raw, curated=curated, settle_seconds=0)
    monkeypatch.setattr(cleaning_module, "read_raw", clean)
    put("d.txt", SPEECH + "第d份，改过。\n")  # edited since its batch finished: that batch is stale
    summary = curate(raw=raw, curated=curated, settle_seconds=0)
    assert (summary.resumed, summary.resumed_batches, summary.cleaned) == (2, 1, 4)
    texts = {row["source_path"]: row["text"] for row in open_dataset(curated).to_table().to_pylist()}
    assert sorted(texts) == ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt"]
    assert "改过" in texts["d.txt"]


def test_a_crashed_run_resumes_and_a_file_edited_since_is_never_taken_from_a_stale_part(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, curated = folders

    def put(name: str, text: str) -> None:
        (raw / name).write_text(text, encoding="utf-8")
        age(raw / name)

    resumed_run_cleans_only_batches_that_did_not_finish(monkeypatch, put, str(raw), str(curated))


def test_a_batch_cleaned_in_slices_writes_what_one_slice_writes(tmp_path: Path, monkeypatch) -> None:
    # The flow hands the core CLEAN_SLICE_BYTES at a time: slicing must change nothing, the
    # rejects' order (the batch's) included.
    raw = tmp_path / "raw"
    raw.mkdir()
    for sample in SAMPLES_DIR.glob("*.txt"):
        shutil.copy(sample, raw / sample.name)
    (raw / "a-binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (raw / "m-empty.txt").write_bytes(b"")
    whole = curate(raw=str(raw), curated=str(tmp_path / "whole"), settle_seconds=0)
    monkeypatch.setattr(cleaning_module, "CLEAN_SLICE_BYTES", 1)  # every file a slice of its own
    sliced = curate(raw=str(raw), curated=str(tmp_path / "sliced"), settle_seconds=0)
    assert [(r.source_path, r.reason) for r in sliced.rejects] == [
        (r.source_path, r.reason) for r in whole.rejects
    ]
    assert [r.source_path for r in sliced.rejects] == ["a-binary.txt", "m-empty.txt"]
    columns = [name for name in DOCUMENT_SCHEMA.names if name != "ingested_at"]
    tables = [
        open_dataset(str(tmp_path / name)).to_table(columns=columns).sort_by("source_path")
        for name in ("whole", "sliced")
    ]
    assert tables[0].num_rows == len(list(SAMPLES_DIR.glob("*.txt")))
    assert tables[0].equals(tables[1])


def test_a_curated_folder_named_through_a_link_is_the_same_dataset(folders: tuple[Path, Path]) -> None:
    """`/data/curated -> /mnt/disk/curated`: the link names the dataset the folder holds, one state."""
    from docclean.layout import STATE_FOLDER

    raw, curated = folders
    (raw / "speech.txt").write_text(SPEECH, encoding="utf-8")
    age(raw / "speech.txt")
    first = run(raw, curated)
    link = curated.with_name("curated-link")
    link.symlink_to(curated, target_is_directory=True)
    again = run(raw, link)
    assert (first.cleaned, again.cleaned) == (1, 0)
    assert sorted(p.name for p in (curated.parent / STATE_FOLDER / "datasets").iterdir()) == [curated.name]
    assert len(rows(link)) == 1
