"""`docclean serve` as a user runs it: its own local Prefect server, a cron schedule, a drop folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from flows.serve import SERVED_VARIABLE, ServeRefusedError, served_curate, served_locations
from tests.conftest import prefect_api

ENV = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}


def _api(url: str, path: str, body: dict | None = None) -> object:
    return prefect_api(f"{url}{path}", body or {})


class ServeProcess:
    def __init__(self, cwd: Path) -> None:
        self.log = cwd / "serve.log"
        self.handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "docclean_cli", "serve", "--state-dir", str(cwd / "state")],
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


def _wait_final_state(url: str, flow_run_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _api_get(url, f"/flow_runs/{flow_run_id}")["state"]
        if state and state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(0.5)
    raise AssertionError(f"flow run {flow_run_id} did not finish in {timeout} s")


def _api_get(url: str, path: str) -> dict:
    return prefect_api(f"{url}{path}")


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
        # Anyone who reaches the API can ask for a run elsewhere: the served flow refuses it, touching nothing.
        elsewhere = tmp_path / "elsewhere"
        refused = _api(
            serve.api_url,
            f"/deployments/{deployment['id']}/create_flow_run",
            {"parameters": {"raw": str(tmp_path), "curated": str(elsewhere)}},
        )
        state = _wait_final_state(serve.api_url, str(refused["id"]), timeout=120)
        assert state["type"] == "FAILED" and f"refuses raw='{tmp_path}'" in state["message"], state
        assert not elsewhere.exists()
    finally:
        output = serve.stop()
    assert serve.process.returncode == 0, output
    # The one traceback is the refused run's, which Prefect logs with the error it failed with.
    assert all("ServeRefusedError: This deployment refuses" in part for part in output.split("Traceback")[1:])
    assert "database is locked" not in output
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


@pytest.mark.usefixtures("prefect_harness")
def test_a_served_run_refuses_locations_it_was_not_started_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.txt").write_text(
        "在全县工作会议上的讲话\n同志们：\n今天召开会议。\n", encoding="utf-8"
    )
    started = {"raw": str(tmp_path / "raw"), "curated": str(tmp_path / "curated"), "rules_file": None}
    monkeypatch.setenv(SERVED_VARIABLE, served_locations(started))
    monkeypatch.chdir(tmp_path)
    assert served_curate(raw="raw/", curated="./curated", settle_seconds=0).cleaned == 1  # the same folders
    rules = tmp_path / "rules.toml"
    rules.write_text("", encoding="utf-8")
    for asked, message in [
        (
            {"raw": "/etc"},
            f"This deployment refuses raw='/etc': it runs only with raw '{tmp_path}/raw', as it was started (or as "
            "DOCCLEAN_SERVED lists). Start `docclean serve` with the location you want instead.",
        ),
        (
            {"curated": str(tmp_path / "raw")},
            f"This deployment refuses curated='{tmp_path}/raw': it runs only with curated '{tmp_path}/curated', "
            "as it was started (or as DOCCLEAN_SERVED lists). Start `docclean serve` with the location you want "
            "instead.",
        ),
        (
            {"rules_file": str(rules)},
            f"This deployment refuses rules_file='{rules}': it runs only with rules_file none, as it was started "
            "(or as DOCCLEAN_SERVED lists). Start `docclean serve` with the location you want instead.",
        ),
        (
            {"runner": "dask", "address": "tcp://203.0.113.9:8786"},
            "This deployment refuses address='tcp://203.0.113.9:8786': it runs only with address none, as it was "
            "started (or as DOCCLEAN_SERVED lists). Start `docclean serve` with the location you want instead.",
        ),
    ]:
        with pytest.raises(ServeRefusedError) as caught:
            served_curate(**{**started, "settle_seconds": 0, **asked})
        assert str(caught.value) == message
    monkeypatch.delenv(SERVED_VARIABLE)
    with pytest.raises(ServeRefusedError, match="DOCCLEAN_SERVED does not list them"):
        served_curate(**started)


def test_the_api_helper_retries_what_prefects_client_retries() -> None:
    import http.server
    import threading
    import urllib.error

    answers = [503, 503, 200, 404, 502, 503]
    asked: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            asked.append(self.rfile.read(int(self.headers["content-length"])))
            status = answers.pop(0)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b'{"id": 1}')

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/api/flow_runs/filter"
        assert prefect_api(url, {"limit": 1}, backoff=0.01) == {"id": 1}  # busy twice, then answered
        assert asked == [b'{"limit": 1}'] * 3
        with pytest.raises(urllib.error.HTTPError) as raised:
            prefect_api(url, {}, backoff=0.01)  # not a status to retry: raised at once
        assert raised.value.code == 404 and len(asked) == 4
        with pytest.raises(urllib.error.HTTPError) as raised:
            prefect_api(url, {}, attempts=2, backoff=0.01)  # still busy at the last attempt
        assert raised.value.code == 503 and len(asked) == 6
        server.shutdown()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stopped_while_its_server_starts_stops_the_server_too(tmp_path: Path, signum: int) -> None:
    """Ctrl-C (or a service manager's SIGTERM) before serve is up: no traceback, no server left behind."""
    (tmp_path / "raw").mkdir()
    serve = ServeProcess(tmp_path)
    serve.wait_for(r"Starting a local Prefect server")
    serve.process.send_signal(signum)
    serve.process.wait(timeout=60)
    serve.handle.close()
    output = serve.log.read_text()
    assert serve.process.returncode == 0, output
    assert "Traceback" not in output
    assert output.splitlines()[-1] == "Stopped the local Prefect server."
    # The server's process went with it: none is left with this test's state folder as its home.
    assert not _processes_with_home(tmp_path / "state")


def _processes_with_home(home: Path) -> list[int]:
    """The processes whose environment sets PREFECT_HOME to `home` (Linux's /proc; none elsewhere)."""
    wanted = f"PREFECT_HOME={home}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in environment:
            found.append(int(entry.name))
    return found


def test_a_second_serve_on_the_same_state_folder_is_refused(tmp_path: Path) -> None:
    """It would share the first one's database and replace its schedule."""
    (tmp_path / "raw").mkdir()
    first = ServeProcess(tmp_path)
    try:
        first.wait_for(r"Prefect UI: ")
        second = subprocess.run(
            [sys.executable, "-m", "docclean_cli", "serve", "--state-dir", str(tmp_path / "state")],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        first.stop()
    assert (second.returncode, second.stdout) == (1, "")
    assert second.stderr == (
        f"docclean: Another docclean serve (pid {first.process.pid}) is using {tmp_path / 'state'}; stop it "
        "first, or give this one a --state-dir of its own.\n"
    )
