"""Whatever a download folder holds gets a clear outcome; the rest of the run goes on (issue 6).

Each case here is also a row of the README's table of bad inputs.
"""

from __future__ import annotations

import errno
import os
import time
import zipfile
from io import BytesIO
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from docclean.errors import RulesError
from docclean.layout import state_folder
from docclean_cli import main
from flows import local as local_module
from flows import store as store_module
from flows.curate import curate
from flows.location import StoreError

pytestmark = pytest.mark.usefixtures("prefect_harness")

SPEECH = "在全县安全生产工作会议上的讲话\n同志们：\n今天召开会议，主要任务是部署安全生产工作。\n"


def _docx_bytes() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "png.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "binary"),
    # Word, PDF and OLE2 files go to extraction (issue #20): these are damaged ones.
    "docx.txt": (_docx_bytes(), "malformed"),
    "pdf.txt": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n", "malformed"),
    "ole.doc.txt": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "malformed"),
    "zero.txt": (b"", "empty"),
    "spaces.txt": (" \n\t\r\n\u3000\n".encode(), "empty"),
}


def _write_aged(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    past = time.time() - 60
    os.utime(path, (past, past))


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    raw = tmp_path / "raw"
    raw.mkdir()
    _write_aged(raw / "good.txt", SPEECH.encode("utf-8"))
    return raw, tmp_path / "curated"


def _run(raw: Path, curated: Path, **kwargs: object):
    return curate(raw=str(raw), curated=str(curated), settle_seconds=0, **kwargs)


def _documents(curated: Path) -> dict[str, dict]:
    return {r["source_path"]: r for r in ds.dataset(curated / "documents").to_table().to_pylist()}


def _rejects(curated: Path) -> dict[str, dict]:
    return {r["source_path"]: r for r in ds.dataset(curated / "rejects").to_table().to_pylist()}


def test_each_bad_file_is_a_reject_with_a_reason_and_good_files_still_land(
    folders: tuple[Path, Path],
) -> None:
    raw, curated = folders
    for name, (data, _) in BAD_FILES.items():
        _write_aged(raw / name, data)
    summary = _run(raw, curated)
    rejected = _rejects(curated)
    assert {name: row["reason"] for name, row in rejected.items()} == {
        n: r for n, (_, r) in BAD_FILES.items()
    }
    for name, row in rejected.items():
        assert row["detail"].startswith(name + ": ") and len(row["detail"]) > len(name) + 10
    assert set(_documents(curated)) == {"good.txt"}
    assert summary.rejected == len(BAD_FILES)


def test_only_noise_is_a_flagged_document_not_a_reject(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    _write_aged(
        raw / "noise.txt",
        "本文系作者原创投稿，仅供学习参考，请勿照搬照抄！\n酷乐文行整理，咨询QQ206157060\n".encode(),
    )
    _run(raw, curated)
    row = _documents(curated)["noise.txt"]
    assert row["text"] == "" and "empty_after_cleaning" in row["flags"] and len(row["removed"]) == 2


def test_truncated_multibyte_character_and_undecodable_bytes_are_flagged_documents(
    folders: tuple[Path, Path],
) -> None:
    raw, curated = folders
    _write_aged(raw / "truncated.txt", SPEECH.encode("utf-8")[:-2])
    _write_aged(raw / "garbage.txt", SPEECH.encode("utf-8") + b"\xff\xfe\xfa" + SPEECH.encode("utf-8"))
    _run(raw, curated)
    documents = _documents(curated)
    assert "今天召开会议" in documents["truncated.txt"]["text"]
    assert "今天召开会议" in documents["garbage.txt"]["text"]
    assert documents["garbage.txt"]["flags"]


def test_file_name_that_is_not_utf8_gets_a_stable_path(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    name = "讲话稿".encode("gbk") + b".txt"
    path = os.path.join(os.fsencode(raw), name)
    with open(path, "wb") as handle:
        handle.write(SPEECH.encode("utf-8"))
    os.utime(path, (time.time() - 60, time.time() - 60))
    _run(raw, curated)
    expected = name.decode("utf-8", errors="backslashreplace")
    assert expected in _documents(curated)
    assert not _run(raw, curated).wrote


def test_huge_lines_and_a_size_limit(folders: tuple[Path, Path]) -> None:
    raw, curated = folders
    _write_aged(raw / "long_line.txt", ("今天召开会议，部署工作。" * 50_000).encode("utf-8"))
    _write_aged(raw / "too_big.txt", b"a" * 2_000_001)
    _run(raw, curated, max_file_bytes=2_000_000)
    too_big = _rejects(curated)["too_big.txt"]
    assert too_big["reason"] == "too_large"
    assert too_big["detail"].endswith(
        "The file is 2,000,001 bytes, over the limit of 2,000,000 bytes; raise the limit (--max-bytes, "
        "CleanConfig.max_file_bytes) to clean it."
    )
    assert _documents(curated)["long_line.txt"]["char_count"] == 600_000


def test_directory_named_like_a_file_and_symlinks(folders: tuple[Path, Path], tmp_path: Path) -> None:
    raw, curated = folders
    (raw / "x.txt").mkdir()
    _write_aged(raw / "x.txt" / "inner.txt", SPEECH.encode("utf-8"))
    secret = tmp_path / "secret.txt"
    secret.write_text("outside raw", encoding="utf-8")
    (raw / "link.txt").symlink_to(secret)
    _run(raw, curated)
    assert "x.txt/inner.txt" in _documents(curated)
    reject = _rejects(curated)["link.txt"]
    assert reject["reason"] == "symlink" and "outside the raw folder" in reject["detail"]
    assert all("outside raw" not in row["text"] for row in _documents(curated).values())


def test_unreadable_and_vanishing_files(folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    raw, curated = folders
    _write_aged(raw / "locked.txt", SPEECH.encode("utf-8"))
    _write_aged(raw / "vanishing.txt", SPEECH.encode("utf-8"))
    real_open = os.open

    def guarded_open(file, flags, *args, **kwargs):
        name = os.fsdecode(file)
        if name.endswith("locked.txt"):
            raise PermissionError(errno.EACCES, "Permission denied", name)
        if name.endswith("vanishing.txt"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", name)
        return real_open(file, flags, *args, **kwargs)

    # Tests run as root in CI, where chmod cannot make a file unreadable: simulate the OS answer.
    monkeypatch.setattr(local_module.os, "open", guarded_open)
    summary = _run(raw, curated)
    rejected = _rejects(curated)
    assert rejected["locked.txt"]["reason"] == "unreadable"
    assert "permission denied" in rejected["locked.txt"]["detail"]
    assert rejected["vanishing.txt"]["reason"] == "vanished"
    assert "good.txt" in _documents(curated) and summary.cleaned == 1


def test_invalid_rules_file_stops_before_any_file_is_touched(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    raw, curated = folders
    rules = tmp_path / "bad.toml"
    rules.write_text(
        '[[rule]]\nid = "broken"\ncategory = "watermark"\npattern = "(unclosed"\nscope = "line"\nregex = true\n',
        encoding="utf-8",
    )
    with pytest.raises(RulesError, match='"broken"'):
        _run(raw, curated, rules_file=str(rules))
    assert not curated.exists()
    assert main(["run", "--raw", str(raw), "--curated", str(curated), "--rules", str(rules)]) == 1
    assert not curated.exists()


def test_catastrophic_rule_is_bounded_and_reported(folders: tuple[Path, Path], tmp_path: Path) -> None:
    raw, curated = folders
    _write_aged(raw / "evil.txt", ("a" * 40 + "!\n" + SPEECH).encode("utf-8"))
    rules = tmp_path / "slow.toml"
    rules.write_text(
        '[[rule]]\nid = "backtracks"\ncategory = "watermark"\npattern = "(?:a|aa)+$"\nscope = "line"\nregex = true\n',
        encoding="utf-8",
    )
    started = time.monotonic()
    _run(raw, curated, rules_file=str(rules))
    assert time.monotonic() - started < 60
    documents = _documents(curated)
    assert "rule_timeout:backtracks" in documents["evil.txt"]["flags"]
    assert "good.txt" in documents


def test_write_error_leaves_the_previous_dataset_intact(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, curated = folders
    _run(raw, curated)
    before = ds.dataset(curated / "documents").to_table()
    _write_aged(raw / "second.txt", SPEECH.replace("安全生产", "防汛抗旱").encode("utf-8"))

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.pq, "ParquetWriter", disk_full)
    with pytest.raises(StoreError, match=r"No space left on device.*previous dataset is intact"):
        _run(raw, curated)
    assert ds.dataset(curated / "documents").to_table().equals(before)
    assert not list((state_folder(curated) / "snapshots").glob("*.tmp"))
    monkeypatch.undo()
    _run(raw, curated)
    assert set(_documents(curated)) == {"good.txt", "second.txt"}
