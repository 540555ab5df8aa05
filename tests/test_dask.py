"""The curate flow on a Dask LocalCluster gives the dataset the default runner gives, row for row."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.conftest import SAMPLES_DIR

pytest.importorskip("prefect_dask", reason="prefect-dask is not installed (pip install 'docclean[dask]')")

# INFO logs show every temporary Prefect server that Prefect starts, so the test can see them.
ENV = {**{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}, "PREFECT_LOGGING_LEVEL": "INFO"}


def _curate(tmp_path: Path, name: str, *args: str) -> list[dict]:
    folder = tmp_path / name
    shutil.copytree(SAMPLES_DIR, folder / "raw")
    for path in (folder / "raw").iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    result = subprocess.run(
        [sys.executable, "-m", "docclean.cli", "run", *args],
        cwd=folder,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # One Prefect API for client and workers, the temporary server docclean starts itself:
    # neither Prefect in the client nor any worker started a temporary server of its own.
    assert "Starting temporary server" not in result.stderr
    rows = ds.dataset(folder / "curated" / "documents").to_table().to_pylist()
    for row in rows:
        del row["ingested_at"], row["source_mtime_ns"]  # when, not what
    return sorted(rows, key=lambda row: row["source_path"])


def test_local_cluster_with_two_workers_gives_the_same_dataset(tmp_path: Path) -> None:
    default = _curate(tmp_path, "default")
    on_dask = _curate(tmp_path, "dask", "--runner", "dask", "--workers", "2")
    assert len(on_dask) == 5
    assert on_dask == default


def test_remote_cluster_without_a_shared_api_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "docclean.cli", "run", "--runner", "dask", "--address", "tcp://127.0.0.1:1"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "must report to the same Prefect API" in result.stderr


def test_serve_takes_the_same_runner_options_as_run() -> None:
    from docclean.cli import build_parser

    for command in ("run", "serve"):
        args = build_parser().parse_args([command, "--runner", "dask", "--address", "tcp://127.0.0.1:8786"])
        assert (args.runner, args.address) == ("dask", "tcp://127.0.0.1:8786")
