"""Raw and curated in S3-compatible object storage: a real server (moto) on loopback, not a mocked client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from docclean.schema import DOCUMENT_SCHEMA
from flows.curate import curate
from flows.dataset import current_url, open_dataset, open_store
from flows.location import RunLockedError, StorageError, StoreError
from flows.s3 import PointedSnapshots
from tests.conftest import SAMPLES_DIR

pytestmark = pytest.mark.usefixtures("prefect_harness")

SPEECH = (
    "在全县安全生产工作会议上的讲话\n同志们：\n今天召开会议，主要任务是部署安全生产工作。XX县要压实责任。\n"
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
# When a row was written and the raw file's timestamp differ between any two runs: not what was made.
RUN_TIME_FIELDS = ("ingested_at", "source_mtime_ns")


def put(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    with fs.open_output_stream(path) as handle:
        handle.write(data)


def s3fs(endpoint: str) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(endpoint_override=endpoint)


def what(curated: str, table: str = "documents") -> list[dict]:
    rows = open_dataset(curated, table).to_table().to_pylist()
    for row in rows:
        for name in (*RUN_TIME_FIELDS, "rejected_at"):
            row.pop(name, None)
    return sorted(rows, key=lambda row: row["source_path"])


def run(raw: str, curated: str, **kwargs: object):
    return curate(raw=raw, curated=curated, settle_seconds=0, **kwargs)


def test_s3_to_s3_gives_the_same_dataset_as_local_folders(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    fs = s3fs(s3_endpoint)
    (tmp_path / "raw").mkdir()
    for sample in SAMPLES_DIR.glob("*.txt"):
        shutil.copy2(sample, tmp_path / "raw" / sample.name)
        put(fs, f"{s3_bucket}/raw/{sample.name}", sample.read_bytes())
    (tmp_path / "raw" / "sub").mkdir()
    (tmp_path / "raw" / "sub" / "image.txt").write_bytes(PNG)
    put(fs, f"{s3_bucket}/raw/sub/image.txt", PNG)
    local = run(str(tmp_path / "raw"), str(tmp_path / "curated"))
    remote = run(f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated")
    assert remote.cleaned == local.cleaned == 5 and remote.rejected == local.rejected == 1
    assert what(f"s3://{s3_bucket}/curated") == what(str(tmp_path / "curated"))
    # The corpus pass ran on object storage as on the disk: duplicate columns filled, and equal above.
    remote_rows = open_dataset(f"s3://{s3_bucket}/curated").to_table().to_pylist()
    assert all(row["text_sha256"] and row["dup_cluster"] for row in remote_rows)
    assert what(f"s3://{s3_bucket}/curated", "rejects") == what(str(tmp_path / "curated"), "rejects")
    [rejected] = what(f"s3://{s3_bucket}/curated", "rejects")
    assert rejected["source_path"] == "sub/image.txt" and rejected["reason"] == "binary"
    url = current_url(f"s3://{s3_bucket}/curated")
    assert url.startswith(f"s3://{s3_bucket}/curated/.snapshots/000001-") and url.endswith("/documents")


def test_a_run_that_rejects_every_object_still_has_a_documents_table(
    s3_endpoint: str, s3_bucket: str
) -> None:
    put(s3fs(s3_endpoint), f"{s3_bucket}/raw/image.txt", PNG)
    curated = f"s3://{s3_bucket}/curated"
    assert run(f"s3://{s3_bucket}/raw", curated).rejected == 1
    documents = open_dataset(curated).to_table()
    assert documents.num_rows == 0 and documents.schema.equals(DOCUMENT_SCHEMA, check_metadata=False)


def test_incremental_runs_on_s3(s3_endpoint: str, s3_bucket: str) -> None:
    fs = s3fs(s3_endpoint)
    raw, curated = f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated"
    put(fs, f"{s3_bucket}/raw/a.txt", SPEECH.encode())
    put(fs, f"{s3_bucket}/raw/b.txt", SPEECH.replace("安全生产", "防汛抗旱").encode())
    put(fs, f"{s3_bucket}/raw/.hidden.txt", SPEECH.encode())
    put(fs, f"{s3_bucket}/raw/download.txt.part", SPEECH.encode())
    first = run(raw, curated)
    assert first.cleaned == 2 and first.pending == 1 and first.wrote
    ids = {row["source_path"]: row["doc_id"] for row in what(curated)}
    pointer = fs.open_input_stream(f"{s3_bucket}/curated/current.json").read()
    objects = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(s3_bucket, recursive=True)))

    again = run(raw, curated)
    assert not again.wrote and again.cleaned == 0 and again.unchanged == 2
    assert fs.open_input_stream(f"{s3_bucket}/curated/current.json").read() == pointer
    assert sorted(i.path for i in fs.get_file_info(pafs.FileSelector(s3_bucket, recursive=True))) == objects

    time.sleep(1.1)  # S3 keeps modification times to the second
    put(fs, f"{s3_bucket}/raw/a.txt", (SPEECH + "二、狠抓落实\n要把各项措施落到实处。\n").encode())
    changed = run(raw, curated)
    assert changed.changed == 1 and changed.cleaned == 1
    rows = {row["source_path"]: row for row in what(curated)}
    assert "狠抓落实" in rows["a.txt"]["text"] and rows["a.txt"]["doc_id"] == ids["a.txt"]

    fs.move(f"{s3_bucket}/raw/b.txt", f"{s3_bucket}/raw/renamed.txt")
    renamed = run(raw, curated)
    assert renamed.renamed == 1 and renamed.cleaned == 0
    rows = {row["source_path"]: row for row in what(curated)}
    assert set(rows) == {"a.txt", "renamed.txt"} and rows["renamed.txt"]["doc_id"] == ids["b.txt"]

    fs.delete_file(f"{s3_bucket}/raw/renamed.txt")
    assert run(raw, curated).missing == 1
    assert {r["source_path"]: r["source_present"] for r in what(curated)} == {
        "a.txt": True,
        "renamed.txt": False,
    }
    # Five commits: the current snapshot and the two before it are kept, as in a local folder.
    snapshots = fs.get_file_info(pafs.FileSelector(f"{s3_bucket}/curated/.snapshots"))
    assert sorted(i.base_name[:6] for i in snapshots) == ["000002", "000003", "000004"]


def test_a_reader_sees_a_complete_snapshot_while_and_after_a_run_fails(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = s3fs(s3_endpoint)
    raw, curated = f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated"
    put(fs, f"{s3_bucket}/raw/a.txt", SPEECH.encode())
    run(raw, curated)
    before = what(curated)
    reader = open_dataset(curated)  # resolved before the next run commits
    put(fs, f"{s3_bucket}/raw/b.txt", SPEECH.replace("安全生产", "防汛抗旱").encode())
    seen_while_staged: list[list[dict]] = []
    real_commit = PointedSnapshots.commit

    def commit_fails(self: PointedSnapshots, snapshot_id: str, base: dict[str, object] | None) -> None:
        staged = fs.get_file_info(
            pafs.FileSelector(f"{s3_bucket}/curated/.snapshots/{snapshot_id}", recursive=True)
        )
        assert any(i.path.endswith(".parquet") for i in staged)  # the next snapshot is written ...
        seen_while_staged.append(what(curated))  # ... and readers still get the previous one
        raise StoreError("the storage went away")

    monkeypatch.setattr(PointedSnapshots, "commit", commit_fails)
    with pytest.raises(StoreError, match="the storage went away"):
        run(raw, curated)
    assert seen_while_staged == [before] and what(curated) == before
    assert reader.to_table().num_rows == 1
    monkeypatch.setattr(PointedSnapshots, "commit", real_commit)
    summary = run(raw, curated)
    # b.txt's batch finished before the failed commit: this run takes its part instead of cleaning it again.
    assert (summary.cleaned, summary.resumed) == (0, 1)
    assert {r["source_path"] for r in what(curated)} == {"a.txt", "b.txt"}
    assert reader.to_table().num_rows == 1  # the old snapshot is still there, whole, for this reader
    # The killed run's snapshot was cleaned up: only committed snapshots remain.
    names = [i.base_name for i in fs.get_file_info(pafs.FileSelector(f"{s3_bucket}/curated/.snapshots"))]
    assert sorted(n[:6] for n in names) == ["000001", "000002"]


def test_a_second_run_stops_on_the_lock(s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/curated")
    with store.lock():
        with pytest.raises(RunLockedError) as caught:
            run(f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated")
        assert str(caught.value) == (
            f"Another docclean run is writing s3://{s3_bucket}/curated; this run stops without changing "
            "anything. Try again when it has finished, or let a run wait for it (--wait SECONDS)."
        )
    assert run(f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated").wrote


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "gs://bucket/raw",
            "gs://bucket/raw cannot be used: docclean reads and writes local folders and s3:// URLs only.",
        ),
        ("s3:///raw", "s3:///raw cannot be used: the URL names no bucket; write s3://BUCKET/PREFIX."),
        (
            "s3://KEY:SECRET@bucket/raw?colour=blue",
            "s3://bucket/raw?colour=blue cannot be used: Unexpected query parameter in S3 URI: 'colour'.",
        ),
    ],
)
def test_a_bad_url_is_a_clear_error(raw: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(StorageError) as caught:
        run(raw, str(tmp_path / "curated"))
    assert str(caught.value) == message


def test_a_missing_bucket_is_a_clear_error(s3_bucket: str, tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(StorageError) as caught:
        run("s3://no-such-bucket/raw", str(tmp_path / "curated"))
    assert str(caught.value) == (
        "Could not list the raw folder s3://no-such-bucket/raw: the bucket no-such-bucket does not exist."
    )
    with pytest.raises(StorageError) as caught:
        run(str(tmp_path / "raw"), "s3://no-such-bucket/curated")
    assert str(caught.value) == (
        "Could not lock the curated dataset at s3://no-such-bucket/curated: the bucket no-such-bucket does not exist."
    )


def test_refused_credentials_are_a_clear_error(s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    # The loopback server checks credentials from now on, as AWS does, and knows no access key: the
    # answer AWS gives to missing or unknown credentials alike (moto accepts unsigned requests otherwise).
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN")
    with pytest.raises(StorageError) as caught:
        run(f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated")
    assert str(caught.value) == (
        f"Could not lock the curated dataset at s3://{s3_bucket}/curated: access was denied; check the "
        "credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and their permissions on "
        f"the bucket {s3_bucket}."
    )


def test_no_dataset_yet_is_a_clear_error(s3_bucket: str) -> None:
    with pytest.raises(StorageError) as caught:
        current_url(f"s3://{s3_bucket}/curated")
    assert str(caught.value) == (
        f"s3://{s3_bucket}/curated holds no curated dataset yet; run `docclean run --curated "
        f"s3://{s3_bucket}/curated` first."
    )


def test_endpoint_in_the_url_instead_of_the_environment(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    put(s3fs(s3_endpoint), f"{s3_bucket}/raw/a.txt", SPEECH.encode())
    query = f"?endpoint_override={s3_endpoint}"
    assert run(f"s3://{s3_bucket}/raw{query}", f"s3://{s3_bucket}/curated{query}").cleaned == 1
    assert [r["source_path"] for r in what(f"s3://{s3_bucket}/curated{query}")] == ["a.txt"]
    assert os.environ.get("AWS_ENDPOINT_URL") is None


def test_dask_cluster_from_and_to_s3_gives_the_same_dataset(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    pytest.importorskip("prefect_dask", reason="prefect-dask is not installed (pip install 'docclean[dask]')")
    from prefect.settings import PREFECT_API_URL

    from docclean_cli import main

    # The LocalCluster's workers inherit the environment: the session's Prefect API and the AWS_* variables.
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    fs = s3fs(s3_endpoint)
    shutil.copytree(SAMPLES_DIR, tmp_path / "raw")
    for sample in SAMPLES_DIR.glob("*.txt"):
        put(fs, f"{s3_bucket}/raw/{sample.name}", sample.read_bytes())
    run(str(tmp_path / "raw"), str(tmp_path / "curated"))
    # As a deployment runs it (`docclean serve --runner dask`, prefect.yaml): the flow's parameters choose Dask.
    summary = run(f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated", runner="dask", workers=2)
    assert summary.cleaned == 5
    assert what(f"s3://{s3_bucket}/curated") == what(str(tmp_path / "curated"))
    assert main(["path", f"s3://{s3_bucket}/curated"]) == 0
    assert capsys.readouterr().out.strip() == current_url(f"s3://{s3_bucket}/curated")


def test_a_crashed_run_on_s3_resumes_from_its_finished_batches(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_curate import resumed_run_cleans_only_batches_that_did_not_finish

    fs = s3fs(s3_endpoint)

    def put_text(name: str, text: str) -> None:
        put(fs, f"{s3_bucket}/raw/{name}", text.encode("utf-8"))

    curated = f"s3://{s3_bucket}/curated"
    resumed_run_cleans_only_batches_that_did_not_finish(
        monkeypatch, put_text, f"s3://{s3_bucket}/raw", curated
    )
    # The commit holds the batches now: none are left under the curated prefix.
    assert open_store(curated).kept_batches() == 0


def test_objects_docclean_cannot_read_are_rejects_and_a_rerun_commits_nothing(
    s3_endpoint: str, s3_bucket: str
) -> None:
    boto3 = pytest.importorskip("boto3", reason="boto3 comes with moto (pip install -e '.[test]')")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    long_name = "长" * 300 + ".txt"  # 904 bytes of key, near S3's limit of 1024
    objects = {
        "raw/a.txt": SPEECH.encode(),
        f"raw/{long_name}": SPEECH.encode(),
        "raw//x.txt": SPEECH.encode(),  # an empty path component
        "raw/./dot.txt": SPEECH.encode(),
        "raw/sub/../up.txt": SPEECH.encode(),
        "raw/marker/": SPEECH.encode(),  # a folder marker that holds bytes
        "raw/folder/": b"",  # the usual folder marker: a folder, not a file
        "raw/empty.txt": b"",
    }
    for key, body in objects.items():
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    raw, curated = f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated"
    first = run(raw, curated)
    assert first.wrote and first.cleaned == 2
    assert {r["source_path"] for r in what(curated)} == {"a.txt", long_name}
    rejects = {r["source_path"]: (r["reason"], r["detail"]) for r in what(curated, "rejects")}
    assert {path: reason for path, (reason, _) in rejects.items()} == {
        "/x.txt": "bad_key",
        "./dot.txt": "bad_key",
        "sub/../up.txt": "bad_key",
        "marker": "not_a_file",
        "empty.txt": "empty",
    }
    assert rejects["/x.txt"][1] == (
        f"/x.txt: The object key has an empty, '.' or '..' path component (s3://{s3_bucket}/raw//x.txt): object "
        "storage keeps such keys, but they name no file; rename the object."
    )
    assert rejects["marker"][1] == (
        f"marker: s3://{s3_bucket}/raw/marker/ is a folder marker with content (a key ending in '/'), not a "
        "file; delete it or give it a name without the trailing '/'."
    )
    fs = s3fs(s3_endpoint)
    pointer = fs.open_input_stream(f"{s3_bucket}/curated/current.json").read()
    for _ in range(2):  # nothing changed: no run retries them or commits a snapshot
        again = run(raw, curated)
        assert not again.wrote and again.cleaned == 0 and again.rejected == 5
        assert fs.open_input_stream(f"{s3_bucket}/curated/current.json").read() == pointer


@pytest.mark.parametrize(
    ("body", "what_is_wrong"),
    [
        (
            b'{"snapshot": "0000',
            "it is not JSON: Unterminated string starting at: line 1 column 14 (char 13)",
        ),
        (b'{"snap": "000001"}', "it has no 'snapshot' field"),
        (b'["000001"]', "it is not a JSON object"),
        (b'{"snapshot": "../../elsewhere"}', "its snapshot '../../elsewhere' is not a snapshot name"),
        (b'{"snapshot": "000009-deadbeef"}', "it names the snapshot 000009-deadbeef, which is not there"),
    ],
)
def test_a_corrupt_pointer_says_what_is_wrong_and_how_to_recover(
    s3_endpoint: str, s3_bucket: str, body: bytes, what_is_wrong: str
) -> None:
    fs = s3fs(s3_endpoint)
    raw, curated = f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated"
    put(fs, f"{s3_bucket}/raw/a.txt", SPEECH.encode())
    run(raw, curated)
    [snapshot] = [i.base_name for i in fs.get_file_info(pafs.FileSelector(f"{s3_bucket}/curated/.snapshots"))]
    put(fs, f"{s3_bucket}/curated/current.json", body)
    message = (
        f"s3://{s3_bucket}/curated/current.json, the pointer to the current snapshot, is corrupt ({what_is_wrong}); "
        f'write {{"snapshot": "{snapshot}"}} into it to restore the newest snapshot in '
        f"s3://{s3_bucket}/curated/.snapshots, or delete it to rebuild the dataset from raw/."
    )
    for attempt in (lambda: run(raw, curated), lambda: current_url(curated)):
        with pytest.raises(StoreError) as caught:
            attempt()
        assert str(caught.value) == message
    # The recovery the message gives works, and nothing was lost.
    put(fs, f"{s3_bucket}/curated/current.json", f'{{"snapshot": "{snapshot}"}}'.encode())
    assert [r["source_path"] for r in what(curated)] == ["a.txt"]
    assert run(raw, curated).unchanged == 1


def test_a_corrupt_lock_says_what_is_wrong_and_how_to_recover(s3_endpoint: str, s3_bucket: str) -> None:
    fs = s3fs(s3_endpoint)
    raw, curated = f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated"
    put(fs, f"{s3_bucket}/raw/a.txt", SPEECH.encode())
    for body, what_is_wrong in [
        (b"\xff\xfegarbage", "it is not text"),
        (b"garbage", "it is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'{"since": "today"}', "it has no 'owner' field"),
    ]:
        put(fs, f"{s3_bucket}/curated/.lock", body)
        with pytest.raises(StoreError) as caught:
            run(raw, curated)
        assert str(caught.value) == (
            f"s3://{s3_bucket}/curated/.lock, the run lock, is corrupt ({what_is_wrong}); if no other docclean "
            "run is writing, delete it (or wait 60 s until it expires) and run again."
        )
    fs.delete_file(f"{s3_bucket}/curated/.lock")
    assert run(raw, curated).cleaned == 1


def test_a_damaged_part_object_is_named(s3_endpoint: str, s3_bucket: str) -> None:
    fs = s3fs(s3_endpoint)
    raw, curated = f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated"
    put(fs, f"{s3_bucket}/raw/a.txt", SPEECH.encode())
    run(raw, curated)
    [part] = [
        i.path
        for i in fs.get_file_info(pafs.FileSelector(f"{s3_bucket}/curated/.snapshots", recursive=True))
        if "/documents/" in i.path and i.path.endswith(".parquet")
    ]
    put(fs, part, b"not parquet at all")
    with pytest.raises(StoreError) as caught:
        run(raw, curated)
    assert str(caught.value).startswith(f"s3://{part} cannot be read as Parquet (")
    assert str(caught.value).endswith(
        f"): the current snapshot is damaged; point s3://{s3_bucket}/curated/current.json at an earlier "
        "snapshot, or delete it to rebuild the dataset from raw/."
    )


def test_corpus_columns_and_state_on_s3_equal_a_local_run(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """Duplicates and their state on object storage, in two drops: the rows and counts of a local run, state committed."""
    fs = s3fs(s3_endpoint)
    first, second, third = (path.read_bytes() for path in sorted(SAMPLES_DIR.glob("*.txt"))[:3])
    drops = [{"a.txt": first, "b.txt": second}, {"copy.txt": first + b"\n", "c.txt": third}]
    (tmp_path / "raw").mkdir()
    raw, curated = f"s3://{s3_bucket}/raw", f"s3://{s3_bucket}/curated"
    for drop in drops:
        for name, data in drop.items():
            (tmp_path / "raw" / name).write_bytes(data)
            put(fs, f"{s3_bucket}/raw/{name}", data)
        local = run(str(tmp_path / "raw"), str(tmp_path / "curated"))
        remote = run(raw, curated)
        counted = ("recleaned", "rewritten", "boilerplate_lines", "clusters", "duplicates")
        assert [getattr(remote.corpus, name) for name in counted] == [
            getattr(local.corpus, name) for name in counted
        ]
        assert what(curated) == what(str(tmp_path / "curated"))
    rows = {row["source_path"]: row for row in what(curated)}
    assert rows["copy.txt"]["dup_cluster"] == rows["a.txt"]["dup_cluster"] == rows["a.txt"]["doc_id"]
    assert len({row["dup_cluster"] for row in rows.values()}) == 3
    # The index and line counts are committed with the snapshot the pointer names.
    snapshot = current_url(curated).removesuffix("/documents").removeprefix("s3://")
    state = fs.get_file_info(pafs.FileSelector(f"{snapshot}/corpus"))
    assert sorted(info.base_name for info in state) == [
        "dedup.parquet",
        "line_texts.parquet",
        "lines.parquet",
    ]


def test_report_on_s3(
    s3_bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """`docclean report --curated s3://…` writes the page into the prefix; the run report keeps its whole-dataset part."""
    import flows.summary
    from docclean_cli import main

    artifacts: list[str] = []
    monkeypatch.setattr(
        flows.summary, "create_markdown_artifact", lambda markdown, **_: artifacts.append(markdown)
    )
    fs = pafs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"])
    for sample in SAMPLES_DIR.glob("*.txt"):
        put(fs, f"{s3_bucket}/raw/{sample.name}", sample.read_bytes())
    put(fs, f"{s3_bucket}/raw/image.txt", PNG)
    curated = f"s3://{s3_bucket}/curated"
    run(f"s3://{s3_bucket}/raw", curated)
    [markdown] = artifacts
    assert "**Noise removed by rule (whole dataset)**" in markdown
    assert "| copyright_notice | copyright | 5 | 3 | 74 |" in markdown
    assert f"run `docclean report --curated {curated}`" in markdown

    # The command as a user runs it, in a process of its own with the AWS_* variables of the fixture.
    command = subprocess.run(
        [sys.executable, "-m", "docclean_cli", "report", "--curated", curated],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (command.returncode, command.stderr) == (0, "")
    assert command.stdout == f"Wrote {curated}/report.html: 5 documents, 1 rejected files.\n"
    page = fs.open_input_stream(f"{s3_bucket}/curated/report.html").read().decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and curated in page
    out = tmp_path / "page.html"
    assert main(["report", "--curated", curated, "--out", str(out)]) == 0
    assert out.read_text("utf-8").startswith("<!DOCTYPE html>") and not list(tmp_path.glob(".*"))

    # A served run (html_report) refreshes the page in the prefix first, and its run report points at it.
    artifacts.clear()
    put(fs, f"{s3_bucket}/raw/new.txt", SPEECH.encode())
    run(f"s3://{s3_bucket}/raw", curated, html_report=True)
    [markdown] = artifacts
    assert f"HTML report with plots and sample removals per rule: `{curated}/report.html` (made " in markdown
    assert main(["report", "--curated", f"s3://{s3_bucket}/nothing-here"]) == 1
    assert capsys.readouterr().err == (
        f"docclean: The curated folder s3://{s3_bucket}/nothing-here does not exist; run `docclean run` first "
        "or pass --curated.\n"
    )


def test_the_one_scanner_decides_alike_on_a_folder_and_a_prefix(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """Files, partial names (at any depth) and settle time: the same decisions on disk and in object storage."""
    from flows.scan import scan_raw
    from flows.storage import parse_location

    fs = s3fs(s3_endpoint)
    names = [
        "a.txt",
        "sub/b.txt",
        "sub/deeper/c.txt",
        ".hidden.txt",
        "download.txt.part",
        "~$draft.docx",
        "sub/.git/config",
        "sub/.git/objects/ab/cdef",
        "half/file.txt.crdownload",
    ]
    for name in names:
        (tmp_path / "raw" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "raw" / name).write_bytes(name.encode())
        put(fs, f"{s3_bucket}/raw/{name}", name.encode())
    local = scan_raw(parse_location(str(tmp_path / "raw")), settle_seconds=0)
    remote = scan_raw(parse_location(f"s3://{s3_bucket}/raw"), settle_seconds=0)
    assert [(e.rel_path, e.size) for e in remote.files] == [(e.rel_path, e.size) for e in local.files]
    assert [e.rel_path for e in local.files] == ["a.txt", "sub/b.txt", "sub/deeper/c.txt"]
    assert remote.pending == local.pending == ["download.txt.part", "half/file.txt.crdownload"]
    assert remote.ignored == local.ignored == [".hidden.txt", "sub/.git", "~$draft.docx"]
    assert remote.problems == local.problems == []
    # Written just now: within a settle time of an hour every file waits, on disk and in the bucket alike.
    assert (
        scan_raw(parse_location(f"s3://{s3_bucket}/raw"), 3600).pending
        == scan_raw(parse_location(str(tmp_path / "raw")), 3600).pending
    )
