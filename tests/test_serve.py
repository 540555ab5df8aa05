"""`docclean serve` as a user runs it: its own local Prefect server, a cron schedule, a drop folder."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.dataset as ds

ENV = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}


def _api(url: str, path: str, body: dict | None = None) -> object:
    request = urllib.request.Request(
        f"{url}{path}", data=json.dumps(body or {}).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


class ServeProcess:
    def __init__(self, cwd: Path) -> None:
        self.log = cwd / "serve.log"
        self.handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "docclean.cli", "serve", "--state-dir", str(cwd / "state")],
            cwd=cwd,
            env=ENV,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )
        self.api_url = ""

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log.read_text())
            if found:
                return found
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.5)
        raise AssertionError(f"serve never printed {pattern!r}:\n{self.log.read_text()}")

    def start(self) -> None:
        ui = self.wait_for(r"Prefect UI: (http://127\.0\.0\.1:\d+)").group(1)
        self.api_url = ui + "/api"
        self.wait_for(r"Serving: ")
        deadline = time.monotonic() + 60
        while not _api(self.api_url, "/deployments/filter"):
            assert time.monotonic() < deadline, "serve registered no deployment"
            time.sleep(0.5)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        self.handle.close()
        return self.log.read_text()


def _wait_rows(curated: Path, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (curated / "documents").exists():  # a link into the first committed snapshot
            table = ds.dataset(curated / "documents").to_table()
            if table.num_rows >= count:
                return table.to_pylist()
        time.sleep(0.5)
    raise AssertionError(f"fewer than {count} rows after {timeout} s")


def test_serve_schedules_watches_the_drop_folder_and_stops_cleanly(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    serve = ServeProcess(tmp_path)
    try:
        serve.start()
        [deployment] = _api(serve.api_url, "/deployments/filter")
        assert deployment["schedules"][0]["schedule"]["cron"] == "*/10 * * * *"
        assert not deployment["paused"]
        # Dropped at once, while serve runs: curated in one run (one commit time), within seconds.
        dropped = time.monotonic()
        for number in range(50):
            (tmp_path / "raw" / f"drop{number:02d}.txt").write_text(
                f"在全县工作会议上的讲话\n同志们：\n今天召开第{number}次会议，XX局要抓好落实。\n",
                encoding="utf-8",
            )
        rows = _wait_rows(tmp_path / "curated", 50, timeout=90)
        assert time.monotonic() - dropped < 60
        assert len(rows) == 50 and len({row["ingested_at"] for row in rows}) == 1
        scheduled = _api(
            serve.api_url, "/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}
        )
        assert scheduled, "the scheduler created no cron runs"
    finally:
        output = serve.stop()
    assert serve.process.returncode == 0, output
    assert "Traceback" not in output and "database is locked" not in output
    assert "Stopped the local Prefect server." in output

    # The next start finds its schedule active, not paused by the previous shutdown.
    again = ServeProcess(tmp_path)
    try:
        again.start()
        [deployment] = _api(again.api_url, "/deployments/filter")
        assert not deployment["paused"]
        assert all(schedule["active"] for schedule in deployment["schedules"])
    finally:
        again.stop()
