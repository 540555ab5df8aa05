"""The curate flow on a Dask LocalCluster gives the dataset the default runner gives, row for row."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.conftest import SAMPLES_DIR, assert_one_row_per_document

pytest.importorskip("prefect_dask", reason="prefect-dask is not installed (pip install 'docclean[dask]')")

# INFO logs show every temporary Prefect server that Prefect starts, so the test can see them.
ENV = {**{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}, "PREFECT_LOGGING_LEVEL": "INFO"}


def _curate(tmp_path: Path, name: str, *args: str, env: dict[str, str] = ENV) -> list[dict]:
    folder = tmp_path / name
    shutil.copytree(SAMPLES_DIR, folder / "raw")
    for path in (folder / "raw").iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    result = subprocess.run(
        [sys.executable, "-m", "docclean_cli", "run", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # One Prefect API for client and workers, the temporary server docclean starts itself:
    # neither Prefect in the client nor any worker started a temporary server of its own.
    assert "Starting temporary server" not in result.stderr
    rows = ds.dataset(folder / "curated" / "documents").to_table().to_pylist()
    assert_one_row_per_document(rows)
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
    # Something listens at the address, so the check that the scheduler can be reached passes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "docclean_cli", "run", "--runner", "dask", "--address", address],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert "must report to the same Prefect API" in result.stderr


def test_serve_takes_the_same_runner_options_as_run() -> None:
    from docclean_cli import build_parser

    for command in ("run", "serve"):
        args = build_parser().parse_args([command, "--runner", "dask", "--address", "tcp://127.0.0.1:8786"])
        assert (args.runner, args.address) == ("dask", "tcp://127.0.0.1:8786")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker_api_urls(address: str) -> set[str | None]:
    from distributed import Client

    with Client(address, timeout=30) as client:
        return set(client.run(lambda: os.environ.get("PREFECT_API_URL")).values())


def test_workers_of_an_existing_cluster_report_to_the_clients_prefect_api(
    tmp_path: Path, prefect_harness: None
) -> None:
    from distributed import Client
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import get_current_settings

    api_url = get_current_settings().api.url
    assert api_url
    address = f"tcp://127.0.0.1:{_free_port()}"
    # The workers know nothing of the client's API: no PREFECT_API_* variable, a home of their own.
    worker_env = {k: v for k, v in ENV.items() if not k.startswith("PREFECT_API")}
    worker_env["PREFECT_HOME"] = str(tmp_path / "worker-home")
    worker_log = tmp_path / "worker.log"
    with open(worker_log, "wb") as log:
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", address.rsplit(":", 1)[1], "--dashboard-address", ":0"],
            env=worker_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2",
             "--nthreads", "1", "--dashboard-address", ":0"],
            env=worker_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        assert _worker_api_urls(address) == {None}

        rows = _curate(
            tmp_path,
            "remote",
            "--runner",
            "dask",
            "--address",
            address,
            env={**ENV, "PREFECT_API_URL": api_url},
        )

        assert len(rows) == 5
        assert _worker_api_urls(address) == {api_url}
        assert "temporary server" not in worker_log.read_text("utf-8", "replace")
        # The batches' task runs are in the client's API, under the run's flow run.
        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)[0]
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
            )
        batches = [run for run in task_runs if run.name.startswith("clean-batch")]
        assert flow_run.state is not None and flow_run.state.is_completed()
        assert batches and all(run.state is not None and run.state.is_completed() for run in batches)
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_workers_without_docclean_or_with_another_version_are_named_before_the_run() -> None:
    from flows.runners import RunnerError, check_worker_versions

    address = "tcp://scheduler:8786"
    check_worker_versions(address, "0.1.0", {"tcp://a:1": "0.1.0", "tcp://b:1": "0.1.0"})
    check_worker_versions(address, "0.1.0", {})  # an adaptive cluster before it scales up
    with pytest.raises(RunnerError) as error:
        check_worker_versions(
            address, "0.1.0", {"tcp://a:1": "0.1.0", "tcp://c:1": None, "tcp://b:1": "0.0.9"}
        )
    assert str(error.value) == (
        "Every worker of the Dask cluster at tcp://scheduler:8786 needs docclean 0.1.0, as installed here; "
        "these have another or none: tcp://b:1 (0.0.9), tcp://c:1 (not installed). "
        "Install it there: pip install 'docclean[dask]==0.1.0'."
    )
