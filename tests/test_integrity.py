"""Issue 14: one row per document, injective source paths, --verify, files swapped after the scan, odd drops."""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flows.local as flows_local
import flows.scan as scan_module
from docclean.schema import DOCUMENT_SCHEMA
from docclean.sourcepath import legacy_source_path, raw_path_of, source_path_of
from flows.cleaning import read_raw
from flows.curate import curate
from flows.dataset import open_store
from flows.local import _list_folder
from flows.location import StoreError
from flows.scan import ChangedDuringRead, RawUnlistable, scan_raw
from flows.storage import parse_location
from tests.conftest import assert_corpus_agrees, assert_one_row_per_document, current_snapshot

SPEECH = "在全县安全生产工作会议上的讲话\n同志们：\n今天召开会议，主要任务是部署安全生产工作。\n"
OTHER = "关于做好防汛抗旱工作的通知\n各乡镇：\n现就做好今年防汛抗旱工作通知如下。\n"


def write_aged(path: Path | bytes, text: str, seconds: float = 60) -> None:
    with open(path, "wb") as handle:
        handle.write(text.encode("utf-8"))
    past = time.time() - seconds
    os.utime(path, (past, past))


def run(raw: Path, curated: Path, **kwargs: object):
    return curate(raw=str(raw), curated=str(curated), settle_seconds=0, **kwargs)


def rows(curated: Path) -> list[dict]:
    table = ds.dataset(curated / "documents", format="parquet").to_table().to_pylist()
    assert_one_row_per_document(table)
    return table


def by_path(curated: Path) -> dict[str, dict]:
    return {row["source_path"]: row for row in rows(curated)}


def rejects(curated: Path) -> dict[str, dict]:
    return {r["source_path"]: r for r in ds.dataset(curated / "rejects").to_table().to_pylist()}


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    raw = tmp_path / "raw"
    raw.mkdir()
    return raw, tmp_path / "curated"


# --- 1. one row per source_path and per doc_id -------------------------------------------------


@pytest.mark.usefixtures("prefect_harness")
def test_a_deleted_file_keeps_one_row_marked_missing(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    write_aged(raw / "a.txt", SPEECH)
    write_aged(raw / "b.txt", OTHER)
    run(raw, curated)
    (raw / "a.txt").unlink()
    summary = run(raw, curated)
    assert summary.missing == 1
    table = rows(curated)
    assert sorted((r["source_path"], r["source_present"]) for r in table) == [
        ("a.txt", False),
        ("b.txt", True),
    ]
    assert not run(raw, curated).wrote  # nothing changed since: the missing row is left alone


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_changed_and_renamed_in_one_run_leaves_one_row_per_path(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    write_aged(raw / "a.txt", SPEECH)
    run(raw, curated)
    (raw / "a.txt").rename(raw / "b.txt")
    write_aged(raw / "b.txt", SPEECH + "二、狠抓落实\n", seconds=30)
    run(raw, curated)
    assert sorted((r["source_path"], r["source_present"]) for r in rows(curated)) == [
        ("a.txt", False),
        ("b.txt", True),
    ]


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_back_under_its_old_name_gets_a_doc_id_of_its_own(folders: tuple[Path, Path]) -> None:
    # A rename keeps the doc_id, which was made from the old name: the same content back under
    # the old name would be given that id again.
    raw, curated = folders
    write_aged(raw / "a.txt", SPEECH)
    run(raw, curated)
    (raw / "a.txt").rename(raw / "b.txt")
    run(raw, curated)
    shutil.copy2(raw / "b.txt", raw / "a.txt")
    run(raw, curated)
    assert {r["source_path"] for r in rows(curated)} == {"a.txt", "b.txt"}
    # The same, when both are cleaned by batches (a rules change makes every row stale).
    rules = raw.parent / "extra.toml"
    rules.write_text(
        '[[rule]]\nid = "x"\ncategory = "watermark"\npattern = "不存在的水印"\nscope = "line"\n',
        encoding="utf-8",
    )
    (raw / "a.txt").unlink()
    run(raw, curated, prune=True)
    write_aged(raw / "a.txt", SPEECH)
    summary = run(raw, curated, rules_file=str(rules))
    assert summary.cleaned == 2
    assert {r["source_path"] for r in rows(curated)} == {"a.txt", "b.txt"}


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_renamed_in_a_run_with_other_rules_keeps_its_doc_id(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    write_aged(raw / "old_name.txt", SPEECH)
    write_aged(raw / "other.txt", OTHER)
    run(raw, curated)
    before = by_path(curated)
    (raw / "old_name.txt").rename(raw / "new_name.txt")
    rules = raw.parent / "extra.toml"
    rules.write_text(
        '[[rule]]\nid = "x"\ncategory = "watermark"\npattern = "不存在的水印"\nscope = "line"\n',
        encoding="utf-8",
    )
    summary = run(raw, curated, rules_file=str(rules))
    assert (summary.renamed, summary.missing, summary.cleaned) == (1, 0, 2)
    after = by_path(curated)
    assert set(after) == {"new_name.txt", "other.txt"}
    assert after["new_name.txt"]["doc_id"] == before["old_name.txt"]["doc_id"]
    run(raw, curated)  # back to the default rules: cleaned again, the same ids
    assert {p: r["doc_id"] for p, r in by_path(curated).items()} == {p: r["doc_id"] for p, r in after.items()}
    assert_corpus_agrees(curated)


def _document_row(path: str, doc_id: str, present: bool = True) -> dict:
    row = {name: None for name in DOCUMENT_SCHEMA.names}
    row.update(
        doc_id=doc_id,
        source_path=path,
        source_sha256="0" * 64,
        source_bytes=1,
        text="",
        char_count=0,
        source_present=present,
        source_mtime_ns=1,
        rules_version="old",
        pipeline_version="old",
        encoding="utf-8",
        encoding_confidence=1.0,
        encoding_method="utf-8",
        source_script="none",
        source_format="text",
        ingested_at=datetime.now(UTC),
    )
    for name in ("encoding_segments", "placeholders", "removed", "normalizations", "outline", "flags"):
        row[name] = []
    return row


def test_a_commit_with_a_document_twice_is_refused(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "curated"))
    for twins in (
        [_document_row("a.txt", "id1"), _document_row("a.txt", "id2", present=False)],
        [_document_row("a.txt", "id1"), _document_row("b.txt", "id1")],
    ):
        writer = store.begin()
        writer.add_documents(pa.Table.from_pylist(twins[:1], schema=DOCUMENT_SCHEMA))
        writer.add_documents(pa.Table.from_pylist(twins[1:], schema=DOCUMENT_SCHEMA))
        with pytest.raises(StoreError, match=r"more than once .*nothing was committed"):
            writer.commit()
        writer.abandon()
    assert not store.has_snapshot()


@pytest.mark.usefixtures("prefect_harness")
def test_twins_an_earlier_version_wrote_are_healed(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    write_aged(raw / "a.txt", SPEECH)
    write_aged(raw / "b.txt", OTHER)
    run(raw, curated)
    current = current_snapshot(curated) / "documents"
    [part] = current.glob("*.parquet")
    table = pq.read_table(part, schema=DOCUMENT_SCHEMA)
    twins = table.to_pylist()
    a = next(r for r in twins if r["source_path"] == "a.txt")
    b = next(r for r in twins if r["source_path"] == "b.txt")
    # What the old plan made: a.txt twice (present and missing), and b.txt with a.txt's doc_id.
    twins.append({**a, "source_present": False})
    b["doc_id"] = a["doc_id"]
    part.unlink()
    pq.write_table(pa.Table.from_pylist(twins, schema=DOCUMENT_SCHEMA), part)
    summary = run(raw, curated)
    assert summary.wrote and summary.cleaned == 0
    healed = by_path(curated)
    assert set(healed) == {"a.txt", "b.txt"} and healed["a.txt"]["source_present"]
    assert healed["a.txt"]["doc_id"] == a["doc_id"] != healed["b.txt"]["doc_id"]


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("how", ["copy over", "swap"])
def test_a_file_that_becomes_a_copy_of_another_is_new_to_the_corpus_pass(
    folders: tuple[Path, Path], how: str
) -> None:
    # Its row keeps its doc_id and takes the other row's text: the corpus columns and state follow.
    raw, curated = folders
    write_aged(raw / "a.txt", SPEECH)
    write_aged(raw / "b.txt", OTHER)
    run(raw, curated)
    before = by_path(curated)
    if how == "copy over":
        write_aged(raw / "b.txt", SPEECH, seconds=30)
    else:
        (raw / "a.txt").rename(raw / "t")
        (raw / "b.txt").rename(raw / "a.txt")
        (raw / "t").rename(raw / "b.txt")
    summary = run(raw, curated)
    assert summary.cleaned == 0
    after = by_path(curated)
    assert {path: row["doc_id"] for path, row in after.items()} == {
        path: row["doc_id"] for path, row in before.items()
    }
    assert_corpus_agrees(curated)
    if how == "copy over":
        assert after["b.txt"]["dup_cluster"] == after["a.txt"]["doc_id"]
        assert after["b.txt"]["dup_similarity"] == 1.0


# --- 2. an injective source_path ----------------------------------------------------------------


@given(st.lists(st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b), min_size=1, max_size=3))
def test_source_path_is_printable_and_gives_the_bytes_back(parts: list[bytes]) -> None:
    rel = b"/".join(parts)
    path = source_path_of(rel)
    assert raw_path_of(path) == rel
    # No control character (C0, DEL, C1) and no lone surrogate: the string prints, and encodes as UTF-8.
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in path)
    path.encode("utf-8")


def test_two_names_never_share_a_source_path() -> None:
    gbk, literal = b"\xd6\xd0.txt", rb"\xd6\xd0.txt"
    assert source_path_of(gbk) == r"\xd6\xd0.txt"
    assert source_path_of(literal) == r"\\xd6\\xd0.txt"
    assert source_path_of(b"a\x1b[31m\n.txt") == r"a\x1b[31m\x0a.txt"
    assert source_path_of("讲话.txt".encode()) == "讲话.txt"
    assert raw_path_of(source_path_of(literal)) == literal
    # The spelling an earlier version wrote: GBK names unchanged, backslashes single.
    assert legacy_source_path(source_path_of(gbk)) == source_path_of(gbk)
    assert legacy_source_path(source_path_of(literal)) == r"\xd6\xd0.txt"


@pytest.mark.usefixtures("prefect_harness")
def test_a_gbk_name_and_its_escape_written_out_are_two_documents(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    write_aged(os.path.join(os.fsencode(raw), b"\xd6\xd0.txt"), SPEECH)
    write_aged(raw / r"\xd6\xd0.txt", OTHER)
    summary = run(raw, curated)
    assert summary.cleaned == 2
    documents = by_path(curated)
    assert set(documents) == {r"\xd6\xd0.txt", r"\\xd6\\xd0.txt"}
    assert "安全生产" in documents[r"\xd6\xd0.txt"]["text"]
    assert "防汛抗旱" in documents[r"\\xd6\\xd0.txt"]["text"]
    for path in documents:
        assert os.path.exists(os.path.join(os.fsencode(raw), raw_path_of(path)))
    assert not run(raw, curated).wrote


@pytest.mark.usefixtures("prefect_harness")
def test_rows_written_with_the_old_escaping_move_to_the_new_one(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, curated = folders
    write_aged(raw / r"dir\name.txt", SPEECH)
    write_aged(os.path.join(os.fsencode(raw), b"\xd6\xd0.txt"), OTHER)

    def old_escaping(rel: bytes) -> str:
        return rel.decode("utf-8", errors="backslashreplace")

    monkeypatch.setattr(scan_module, "source_path_of", old_escaping)
    run(raw, curated)
    before = by_path(curated)
    assert set(before) == {r"dir\name.txt", r"\xd6\xd0.txt"}
    monkeypatch.undo()
    summary = run(raw, curated)
    assert summary.cleaned == 0 and summary.renamed == 1
    after = by_path(curated)
    assert set(after) == {r"dir\\name.txt", r"\xd6\xd0.txt"}
    assert after[r"dir\\name.txt"]["doc_id"] == before[r"dir\name.txt"]["doc_id"]
    assert all(row["source_present"] for row in after.values())


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_named_like_the_old_spelling_of_a_deleted_file_does_not_take_its_row(
    folders: tuple[Path, Path],
) -> None:
    raw, curated = folders
    gbk = os.path.join(os.fsencode(raw), b"\xd6\xd0.txt")
    write_aged(gbk, SPEECH)
    run(raw, curated)
    [before] = rows(curated)
    stat = os.stat(gbk)
    os.unlink(gbk)
    # Another file, literally named as the GBK name's source_path: the same size and mtime.
    literal = raw / r"\xd6\xd0.txt"
    literal.write_bytes(SPEECH.replace("安全生产", "防汛抗旱").encode())
    os.utime(literal, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    summary = run(raw, curated)
    assert (summary.new, summary.renamed, summary.missing, summary.cleaned) == (1, 0, 1, 1)
    after = by_path(curated)
    assert after[r"\xd6\xd0.txt"] == {**before, "source_present": False}
    assert "防汛抗旱" in after[r"\\xd6\\xd0.txt"]["text"]
    assert after[r"\\xd6\\xd0.txt"]["doc_id"] != before["doc_id"]


# --- 3. --verify --------------------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_harness")
def test_verify_finds_new_content_of_the_same_size_and_mtime(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    doc = raw / "a.txt"
    write_aged(doc, SPEECH)
    run(raw, curated)
    [before] = rows(curated)
    stat = doc.stat()
    rewritten = SPEECH.replace("安全生产", "防汛抗旱")
    assert len(rewritten.encode()) == stat.st_size
    doc.write_bytes(rewritten.encode())
    os.utime(doc, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    quick = run(raw, curated)
    assert not quick.wrote and quick.unchanged == 1  # the quick path is fooled, as documented
    verified = run(raw, curated, verify=True)
    assert verified.changed == 1 and verified.cleaned == 1
    [after] = rows(curated)
    assert "防汛抗旱" in after["text"] and after["doc_id"] == before["doc_id"]
    assert not run(raw, curated, verify=True).wrote


@pytest.mark.usefixtures("prefect_harness")
def test_verify_never_takes_a_file_from_a_part_an_interrupted_run_cleaned_of_other_bytes(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    import flows.curate as curate_module

    raw, curated = folders
    doc = raw / "a.txt"
    write_aged(doc, SPEECH)
    run(raw, curated)
    write_aged(doc, SPEECH.replace("安全生产", "防汛抗旱"), seconds=30)

    def killed(*_: object, **__: object) -> None:
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr(curate_module, "commit", killed)
    with pytest.raises(RuntimeError, match="killed before the commit"):
        run(raw, curated)  # its batch is kept, for the next run to resume
    monkeypatch.undo()
    stat = doc.stat()
    doc.write_bytes(SPEECH.replace("安全生产", "招商引资").encode())  # the same size, the same mtime
    os.utime(doc, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    summary = run(raw, curated, verify=True)
    assert (summary.cleaned, summary.resumed) == (1, 0)
    [row] = rows(curated)
    assert row["source_sha256"] == hashlib.sha256(doc.read_bytes()).hexdigest()
    assert "招商引资" in row["text"]


# --- 5. a file or folder swapped after the scan ------------------------------------------------


def _scanned(raw: Path, name: str):
    [entry] = [e for e in scan_raw(parse_location(str(raw)), 0).files if e.rel_path == name]
    return entry


def test_a_symlink_swapped_in_after_the_scan_is_not_read(tmp_path: Path) -> None:
    from docclean.pipeline import CleanConfig

    raw = tmp_path / "raw"
    raw.mkdir()
    write_aged(raw / "a.txt", SPEECH)
    secret = tmp_path / "secret.txt"
    write_aged(secret, OTHER)
    entry = _scanned(raw, "a.txt")
    (raw / "a.txt").unlink()
    (raw / "a.txt").symlink_to(secret)
    result = read_raw(entry, CleanConfig())
    assert result.reason == "changed_during_read"
    assert result.detail.startswith("a.txt: the file changed between the scan and the read")


def test_another_file_swapped_in_after_the_scan_is_not_read(tmp_path: Path) -> None:
    from docclean.pipeline import CleanConfig

    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    write_aged(raw / "sub" / "a.txt", SPEECH)
    outside = tmp_path / "outside"
    outside.mkdir()
    write_aged(outside / "a.txt", OTHER)
    entry = _scanned(raw, "sub/a.txt")
    # A folder on the way swapped for a link: the path now leads out of raw/.
    shutil.rmtree(raw / "sub")
    (raw / "sub").symlink_to(outside)
    assert read_raw(entry, CleanConfig()).reason == "changed_during_read"


@pytest.mark.parametrize("size", [0, 3, 123, 124, 369, 5_001, 10_000])
def test_a_file_written_to_while_read_is_read_whole_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """The read is sized by the size the scan saw (123 bytes here), plus one byte; a file that
    grows after its identity was checked is still read whole, and one grown past the limit
    reads one byte over it, which the cleaner rejects as too large."""
    from docclean.pipeline import CleanConfig
    from flows import cleaning as cleaning_module

    raw = tmp_path / "raw"
    raw.mkdir()
    write_aged(raw / "a.txt", SPEECH)
    entry = _scanned(raw, "a.txt")
    assert entry.size == 123
    written = (SPEECH.encode() * (size // entry.size + 1))[:size]
    (tmp_path / "now.txt").write_bytes(written)
    # read_raw closes what open_raw returns.
    monkeypatch.setattr(cleaning_module, "open_raw", lambda _: open(tmp_path / "now.txt", "rb"))  # noqa: SIM115
    config = CleanConfig(max_file_bytes=5_000)
    assert read_raw(entry, config) == written[: config.max_file_bytes + 1]


def test_a_fifo_swapped_in_after_the_scan_does_not_block(tmp_path: Path) -> None:
    from docclean.pipeline import CleanConfig

    raw = tmp_path / "raw"
    raw.mkdir()
    write_aged(raw / "a.txt", SPEECH)
    entry = _scanned(raw, "a.txt")
    (raw / "a.txt").unlink()
    os.mkfifo(raw / "a.txt")
    results: list[object] = []
    reader = threading.Thread(target=lambda: results.append(read_raw(entry, CleanConfig())), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the reader so the test process can end
        with open(raw / "a.txt", "wb"):
            pass
        pytest.fail("reading a FIFO swapped in after the scan blocked")
    assert results[0].reason == "changed_during_read"


def test_a_folder_swapped_while_scanning_is_not_listed(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    listed = os.lstat(raw / "sub")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ChangedDuringRead):
        _list_folder(os.fsencode(other), (listed.st_dev, listed.st_ino))
    (raw / "sub").rmdir()
    (raw / "sub").symlink_to(other)
    with pytest.raises(ChangedDuringRead):
        _list_folder(os.fsencode(raw / "sub"), (listed.st_dev, listed.st_ino))


@pytest.mark.usefixtures("prefect_harness")
def test_a_folder_that_cannot_be_listed_keeps_its_rows_and_raw_unlistable_changes_nothing(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its files were absent from the scan, so their rows were closed as missing, and --prune
    # dropped them; with raw/ itself unlistable a --prune run left no document at all.
    raw, curated = folders
    (raw / "share").mkdir()
    write_aged(raw / "share" / "a.txt", SPEECH)
    write_aged(raw / "share" / "b.txt", SPEECH.replace("安全生产", "森林防火"))
    write_aged(raw / "c.txt", SPEECH.replace("安全生产", "防汛抗旱"))
    run(raw, curated)
    before = {row["source_path"]: row for row in rows(curated)}
    real_list = flows_local._list_folder

    def unlistable(name: bytes):
        def list_folder(folder: bytes, expected: tuple[int, int] | None):
            if folder.endswith(name):
                raise PermissionError(13, "Permission denied")
            return real_list(folder, expected)

        return list_folder

    monkeypatch.setattr(flows_local, "_list_folder", unlistable(b"/share"))
    for prune in (False, True):
        summary = run(raw, curated, prune=prune)
        assert summary.missing == 0 and summary.pruned == 0
        assert {row["source_path"]: row for row in rows(curated)} == before
        assert rejects(curated)["share"]["reason"] == "unreadable"
    monkeypatch.setattr(flows_local, "_list_folder", unlistable(os.fsencode(raw)))
    with pytest.raises(RawUnlistable, match=r"cannot be listed \(Permission denied\); nothing was changed"):
        run(raw, curated, prune=True)
    assert {row["source_path"]: row for row in rows(curated)} == before
    monkeypatch.undo()
    assert run(raw, curated).rejected == 0 and not rejects(curated)


@pytest.mark.usefixtures("prefect_harness")
def test_a_folder_named_like_a_partial_download_is_scanned_like_any_other(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    for folder in ("2024.download", "资料.tmp"):
        (raw / folder).mkdir()
        write_aged(raw / folder / "a.txt", SPEECH)
    write_aged(raw / "b.txt.part", OTHER)
    summary = run(raw, curated)
    assert sorted(by_path(curated)) == ["2024.download/a.txt", "资料.tmp/a.txt"]
    assert summary.pending == 1


@pytest.mark.usefixtures("prefect_harness")
def test_a_swap_after_the_scan_is_a_transient_reject(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    raw, curated = folders
    write_aged(raw / "a.txt", SPEECH)
    secret = tmp_path / "secret.txt"
    write_aged(secret, "绝密文件，不得外传。\n" * 5)
    real_scan = scan_module.scan_raw

    def scan_then_swap(*args: object, **kwargs: object):
        result = real_scan(*args, **kwargs)
        (raw / "a.txt").rename(raw.parent / "a.moved")
        (raw / "a.txt").symlink_to(secret)
        return result

    monkeypatch.setattr("flows.curate.scan_raw", scan_then_swap)
    summary = run(raw, curated)
    assert summary.rejected == 1 and summary.cleaned == 0
    assert rejects(curated)["a.txt"]["reason"] == "changed_during_read"
    assert all("绝密" not in row["text"] for row in rows(curated))
    monkeypatch.undo()
    (raw / "a.txt").unlink()
    (raw.parent / "a.moved").rename(raw / "a.txt")
    summary = run(raw, curated)  # retried: the file is what the scan sees now
    assert summary.cleaned == 1 and not rejects(curated)
    assert "安全生产" in by_path(curated)["a.txt"]["text"]


def _after_the_plan(monkeypatch: pytest.MonkeyPatch, act) -> None:  # type: ignore[no-untyped-def]
    """Run `act` between the plan and the batches' reads (a drop being changed while a run reads it)."""
    import flows.curate as curate_module

    planned = curate_module.plan_step

    def plan_then_act(*args: object):  # type: ignore[no-untyped-def]
        result = planned(*args)
        act()
        return result

    monkeypatch.setattr(curate_module, "plan_step", plan_then_act)


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_edited_then_deleted_while_read_keeps_its_row_as_missing(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, curated = folders
    write_aged(raw / "edited.txt", SPEECH)
    write_aged(raw / "untouched.txt", OTHER)
    run(raw, curated)
    before = by_path(curated)
    write_aged(raw / "edited.txt", SPEECH + "补充一段。\n", seconds=30)
    _after_the_plan(monkeypatch, lambda: [(raw / name).unlink() for name in ("edited.txt", "untouched.txt")])
    summary = run(raw, curated)
    assert summary.wrote and not rejects(curated) and not summary.rejects
    after = by_path(curated)
    # The unchanged file is not read: the next run finds it gone, as it finds any deleted file.
    assert {path: (row["doc_id"], row["source_present"]) for path, row in after.items()} == {
        "edited.txt": (before["edited.txt"]["doc_id"], False),
        "untouched.txt": (before["untouched.txt"]["doc_id"], True),
    }
    assert after["edited.txt"]["text"] == before["edited.txt"]["text"]
    assert_corpus_agrees(curated)
    monkeypatch.undo()
    assert run(raw, curated).missing == 1
    assert {path: row["source_present"] for path, row in by_path(curated).items()} == {
        "edited.txt": False,
        "untouched.txt": False,
    }


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_written_to_while_read_keeps_its_row_and_doc_id(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, curated = folders
    write_aged(raw / "a.txt", SPEECH)
    write_aged(raw / "b_copy.txt", SPEECH)
    run(raw, curated)
    before = by_path(curated)
    assert before["b_copy.txt"]["dup_cluster"] == before["a.txt"]["doc_id"]
    write_aged(raw / "a.txt", SPEECH + "补充一段。\n", seconds=30)

    def append() -> None:
        with open(raw / "a.txt", "a", encoding="utf-8") as handle:
            handle.write("又补充一段。\n")

    _after_the_plan(monkeypatch, append)
    summary = run(raw, curated)
    assert summary.cleaned == 0 and not rejects(curated)
    kept = by_path(curated)
    assert kept["a.txt"] == {**before["a.txt"], "ingested_at": kept["a.txt"]["ingested_at"]}
    monkeypatch.undo()
    write_aged(raw / "a.txt", SPEECH + "补充一段。\n又补充一段。\n", seconds=20)
    assert run(raw, curated).changed == 1
    after = by_path(curated)
    assert after["a.txt"]["doc_id"] == before["a.txt"]["doc_id"] and "又补充一段" in after["a.txt"]["text"]
    assert after["b_copy.txt"]["dup_cluster"] == after["a.txt"]["doc_id"]
    assert_corpus_agrees(curated)


@pytest.mark.usefixtures("prefect_harness")
def test_a_pending_file_keeps_its_reject_as_it_keeps_its_row(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    write_aged(raw / "doc.txt", SPEECH)
    write_aged(raw / "empty.txt", "")
    run(raw, curated)
    assert set(rejects(curated)) == {"empty.txt"}
    for name in ("doc.txt", "empty.txt"):  # being written now: pending
        (raw / name).write_bytes((raw / name).read_bytes())
    summary = curate(raw=str(raw), curated=str(curated), settle_seconds=600)
    assert summary.pending == 2 and not summary.wrote
    assert set(rejects(curated)) == {"empty.txt"} and set(by_path(curated)) == {"doc.txt"}
    write_aged(raw / "other.txt", OTHER, seconds=3600)  # a run that writes keeps it too
    summary = curate(raw=str(raw), curated=str(curated), settle_seconds=600)
    assert summary.wrote and summary.rejected == 1
    assert set(rejects(curated)) == {"empty.txt"} and set(by_path(curated)) == {"doc.txt", "other.txt"}


# --- 12. odd drops ------------------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_from_the_future_is_curated_and_named(
    folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    raw, curated = folders
    doc = raw / "future.txt"
    write_aged(doc, SPEECH)
    future = time.time() + 365 * 86400
    os.utime(doc, (future, future))
    with caplog.at_level(logging.WARNING):
        summary = curate(raw=str(raw), curated=str(curated), settle_seconds=30)
    assert summary.pending == 0 and summary.cleaned == 1
    assert summary.future_mtime == ["future.txt"]
    assert any("future.txt has a modification time in the future" in r.getMessage() for r in caplog.records)


def test_a_file_a_little_ahead_of_the_clock_waits_for_the_settle_time(tmp_path: Path) -> None:
    write_aged(tmp_path / "soon.txt", SPEECH)
    now = time.time_ns()
    os.utime(tmp_path / "soon.txt", ns=(now + 10**9, now + 10**9))
    scan = scan_raw(parse_location(str(tmp_path)), 30, now_ns=now)
    assert scan.pending == ["soon.txt"] and not scan.files


@pytest.mark.usefixtures("prefect_harness")
def test_a_curated_folder_inside_raw_is_never_curated(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    write_aged(raw / "a.txt", SPEECH)
    curated = raw / "curated"
    run(raw, curated)
    (curated / "notes.txt").write_text(OTHER, encoding="utf-8")
    os.utime(curated / "notes.txt", (time.time() - 60, time.time() - 60))
    summary = run(raw, curated)
    assert summary.seen == 1 and not summary.wrote
    # Whatever path reaches it: a relative spelling of the same folder is skipped too.
    summary = curate(raw=str(raw), curated=os.path.relpath(curated), settle_seconds=0)
    assert summary.seen == 1
    assert [r["source_path"] for r in rows(curated)] == ["a.txt"]


@pytest.mark.usefixtures("prefect_harness")
def test_control_characters_in_names_never_reach_a_message(
    folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    raw, curated = folders
    write_aged(raw / "evil\x1b[2J\x07.txt", SPEECH)
    (raw / "bad\x1b]0;title\x07\n.txt").write_bytes(b"")
    with caplog.at_level(logging.INFO):
        summary = run(raw, curated)
    assert summary.cleaned == 1 and summary.rejected == 1
    assert set(by_path(curated)) == {r"evil\x1b[2J\x07.txt"}
    [reject] = rejects(curated).values()
    assert reject["source_path"] == r"bad\x1b]0;title\x07\x0a.txt"
    assert reject["detail"].startswith(r"bad\x1b]0;title\x07\x0a.txt: ")
    for record in caplog.records:
        message = record.getMessage()
        assert "\x1b" not in message and "\x07" not in message, message


@pytest.mark.usefixtures("prefect_harness")
def test_settle_and_wait_must_be_finite(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    for name in ("settle_seconds", "wait_seconds"):
        for value in (math.nan, math.inf, -1.0):
            with pytest.raises(ValueError, match=f"{name} must be a number of seconds, zero or more"):
                curate(raw=str(raw), curated=str(curated), **{name: value})
    assert not curated.exists()
    with pytest.raises(ValueError, match="settle time must be a number of seconds"):
        scan_raw(parse_location(str(raw)), math.nan)


# --- the command, as a user meets it -----------------------------------------------------------


def docclean_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return subprocess.run(
        [sys.executable, "-m", "docclean_cli", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_command_verifies_and_prints_no_control_character(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    doc = raw / "evil\x1b[2J\x07.txt"
    write_aged(doc, SPEECH)
    write_aged(raw / "bad\x1b]0;title\x07\n.txt", "")
    first = docclean_run(tmp_path, "--verbose")  # which shows each reject's warning
    assert first.returncode == 3, first.stderr
    assert r"bad\x1b]0;title\x07\x0a.txt: " in first.stderr  # the reject's warning, escaped
    stat = doc.stat()
    doc.write_bytes(SPEECH.replace("安全生产", "防汛抗旱").encode())
    os.utime(doc, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert "0 changed" in docclean_run(tmp_path).stdout
    verified = docclean_run(tmp_path, "--verify")
    assert verified.returncode == 3, verified.stderr
    assert "2 files seen: 0 new, 1 changed, 1 unchanged" in verified.stdout
    for result in (first, verified):
        output = result.stdout + result.stderr
        assert "\x1b" not in output and "\x07" not in output
    table = ds.dataset(tmp_path / "curated" / "documents").to_table().to_pylist()
    assert_one_row_per_document(table)
    assert "防汛抗旱" in table[0]["text"]
