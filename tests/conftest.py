from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: on a shared two-core machine a first example that builds a table, or
# one run beside another process's work, takes longer than Hypothesis' 200 ms by chance, and a
# deadline then fails a test that found nothing wrong. Slowness is the benchmark's to measure.
settings.register_profile("docclean", deadline=None)
settings.load_profile("docclean")

ROOT = Path(__file__).resolve().parents[1]
# The real seed documents live in ../shared/seeds beside the project in CI and on the
# developers' machines, never in a user's clone: tests that need them skip without them.
SEEDS_DIR = ROOT.parent / "shared" / "seeds"
# Copies of the sample documents in raw/: a user adding a file to raw/ must not change what tests see.
SAMPLES_DIR = Path(__file__).resolve().parent / "data" / "samples"
DATA_DIR = Path(__file__).resolve().parent / "data"


def seed_files() -> list[Path]:
    return sorted(SEEDS_DIR.glob("*.txt")) if SEEDS_DIR.is_dir() else []


@pytest.fixture
def seeds() -> dict[str, bytes]:
    files = seed_files()
    if not files:
        pytest.skip(
            f"the seed documents are not here ({SEEDS_DIR} is absent): they ship beside the project only"
        )
    return {path.name: path.read_bytes() for path in files}


def current_snapshot(curated: Path) -> Path:
    """The folder of a local curated dataset's current snapshot (its `documents` link's parent)."""
    return (curated / "documents").resolve().parent


def assert_one_row_per_document(rows: list[dict]) -> None:
    """The dataset's identity invariant: no source_path and no doc_id on two rows (rows counted, not keyed)."""
    for column in ("source_path", "doc_id"):
        repeated = {value: n for value, n in Counter(row[column] for row in rows).items() if n > 1}
        assert not repeated, f"{column} on more than one row: {repeated}"


def assert_corpus_agrees(curated: Path) -> None:
    """The corpus columns and the corpus state agree with the rows' text: `text_sha256` is the
    text's hash, the index holds each doc_id with that hash and the row's cluster, a cluster is a
    representative's, and the line counts hold each document's lines as its base text has them."""
    import hashlib

    import numpy as np
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    from docclean.boilerplate import base_text, line_facts
    from docclean.corpus_state import read_state
    from docclean.schema import record_from_row

    table = ds.dataset(curated / "documents", format="parquet").to_table()
    rows = {row["doc_id"]: row for row in table.to_pylist()}
    state = read_state(str(current_snapshot(curated)), pafs.LocalFileSystem())
    assert state is not None, "no corpus state"
    index, counts = state
    assignments = index.assignments()
    assert set(assignments) == set(rows) == set(counts.doc_ids())
    lines = counts.to_tables()[0].to_pylist()
    held: dict[str, set[int]] = {}
    for line in lines:
        held.setdefault(line["doc_id"], set()).add(line["key_hash"])
    for doc_id, row in rows.items():
        sha = hashlib.sha256(row["text"].encode("utf-8")).hexdigest()
        assert row["text_sha256"] == sha == assignments[doc_id].text_sha256, row["source_path"]
        assert row["dup_cluster"] == assignments[doc_id].dup_cluster, row["source_path"]
        assert rows[row["dup_cluster"]]["dup_cluster"] == row["dup_cluster"], row["source_path"]
        hashes, _ = line_facts(base_text(record_from_row(row)), counts.rules.edge_lines)
        assert held.get(doc_id, set()) == set(np.asarray(hashes).tolist()), row["source_path"]


# What Prefect's own client retries (prefect.client.base): a busy SQLite database, for one, makes
# the server answer 503 ("database is locked" while the scheduler, the late-runs service or a run
# writes), and it expects the client to ask again.
RETRIED_STATUSES = {429, 502, 503}


def prefect_api(url: str, body: dict | None = None, attempts: int = 10, backoff: float = 0.5) -> object:
    """JSON from a Prefect server's REST API `url`: POSTs `body` when given, else GETs.

    Retried on RETRIED_STATUSES, as Prefect's client does, after `backoff` s, twice that, ...
    (attempts in all); any other HTTP error, or the last one, is raised.
    """
    data = None if body is None else json.dumps(body).encode()
    attempt = 1
    while True:
        request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            if error.code not in RETRIED_STATUSES or attempt == attempts:
                raise
        time.sleep(backoff * attempt)
        attempt += 1


@pytest.fixture(autouse=True)
def every_commit_holds_one_row_per_document(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """After every commit any test makes (a local folder or object storage), read the dataset back and
    count, and compare its corpus columns with the duplicate index committed beside it.

    The CLI tests run docclean in subprocesses: they call assert_one_row_per_document themselves.
    """
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    from docclean.corpus_state import CORPUS_FOLDER, DEDUP_FILE
    from flows.store import SnapshotWriter

    commit = SnapshotWriter.commit

    def checked_commit(self):  # type: ignore[no-untyped-def]
        result = commit(self)
        corpus = ["text_sha256", "dup_cluster", "dup_similarity"]
        documents = self.store.read(columns=["source_path", "doc_id", *corpus]).documents
        assert_one_row_per_document(documents.select(["source_path", "doc_id"]).to_pylist())
        # Every row's corpus columns are the duplicate index's: a batch writes rows as documents
        # alone, and the corpus pass must rewrite every row a cluster takes in.
        index = self.store.current().child(f"{CORPUS_FOLDER}/{DEDUP_FILE}")
        if index.kind() == pafs.FileType.File:
            kept = pq.read_table(index.path, filesystem=index.filesystem, columns=["doc_id", *corpus])
            assert sorted(documents.select(["doc_id", *corpus]).to_pylist(), key=str) == sorted(
                kept.to_pylist(), key=str
            )
        return result

    monkeypatch.setattr(SnapshotWriter, "commit", checked_commit)
    yield


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session: starting one costs seconds."""
    import os

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-compatible server (moto in server mode) on loopback for the whole session."""
    import logging

    server_module = pytest.importorskip(
        "moto.server", reason="moto is not installed (pip install -e '.[test]')"
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the loopback server, with the AWS_* variables a user would set to reach it."""
    import uuid

    import pyarrow.fs as pafs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    # Never ask a cloud metadata service for credentials: only loopback is ever contacted.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bucket = f"docclean-{uuid.uuid4().hex[:12]}"
    pafs.S3FileSystem(endpoint_override=s3_endpoint, allow_bucket_creation=True).create_dir(bucket)
    return bucket
