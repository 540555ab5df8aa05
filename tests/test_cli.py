"""The `docclean` command as a user meets it: real subprocesses, no harness."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from docclean.cli import build_parser, main
from tests.conftest import ROOT, SAMPLES_DIR, assert_one_row_per_document

ENV = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def docclean(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docclean.cli", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _commands() -> list[str]:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if a.dest == "command"]
    return list(subparsers.choices)


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for command in _commands():
        assert f"docclean {command}" in readme, f"`docclean {command}` is not documented in README.md"


def test_readme_quick_start_commands_are_the_ones_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    test_command = "python3 -m pip install -e '.[test]' && python3 -m pytest"
    assert test_command in readme and test_command in ci
    assert "python3 -m pip install -e . && docclean run" in readme


@pytest.mark.parametrize("command", _commands())
def test_help_for_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert command in capsys.readouterr().out


def test_inspect_shows_encoding_removals_and_placeholders(capsys: pytest.CaptureFixture[str]) -> None:
    sample = next(SAMPLES_DIR.glob("*gbk*"))
    assert main(["inspect", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "gb18030" in out and "removed" in out and "placeholders" in out


def test_inspect_names_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["inspect", str(tmp_path / "nope.txt")]) == 1
    assert f"docclean: {tmp_path / 'nope.txt'} is not a file." in capsys.readouterr().err


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES_DIR, tmp_path / "raw")
    for path in (tmp_path / "raw").iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    return tmp_path


def test_run_twice_gives_the_same_dataset_and_clean_output(workdir: Path) -> None:
    first = docclean("run", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert "5 files seen" in first.stdout
    assert "Traceback" not in first.stderr and "database is locked" not in first.stderr
    table = ds.dataset(workdir / "curated" / "documents").to_table()
    assert table.num_rows == 5
    assert_one_row_per_document(table.to_pylist())
    second = docclean("run", cwd=workdir)
    assert second.returncode == 0 and "(unchanged)" in second.stdout
    again = ds.dataset(workdir / "curated" / "documents").to_table()
    assert again.equals(table)


def test_the_command_module_loads_nothing_heavy_before_the_server_launches() -> None:
    # `docclean run` launches its temporary Prefect server first thing; whatever the CLI module
    # imports at load time delays that launch, and every run's start-up with it.
    heavy = ("prefect", "pyarrow", "opencc", "pandas", "docclean.pipeline")
    probe = f"import sys, docclean.cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_runs_on_a_temporary_server_send_no_flow_run_heartbeats() -> None:
    from prefect.settings import get_current_settings

    from flows.server import temporary_api_settings

    before = get_current_settings().flows.heartbeat_frequency
    assert before is not None
    with temporary_api_settings():
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency == before


def _many_files(raw: Path, count: int) -> None:
    body = (
        "在全县工作会议上的讲话\n同志们：\n"
        + "今天我们召开会议，部署下一阶段的重点工作，XX局要抓好落实。\n" * 200
    )
    for number in range(count):
        path = raw / f"doc{number:04d}.txt"
        path.write_text(body + f"第{number}份。\n", encoding="utf-8")
        os.utime(path, (time.time() - 60, time.time() - 60))


def _running_prefect_servers() -> set[int]:
    """Live (not zombie) processes serving Prefect's API app (Linux; none elsewhere, like the guarantee)."""
    found = set()
    for proc in Path("/proc").iterdir() if sys.platform == "linux" else ():
        try:
            command = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"prefect.server.api.server:create_app" in command and state != "Z":
            found.add(int(proc.name))
    return found


def test_sigkill_mid_run_leaves_a_loadable_dataset_and_the_next_run_completes(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    _many_files(raw, 20)
    assert docclean("run", cwd=tmp_path).returncode == 0
    _many_files(raw, 400)
    servers_before = _running_prefect_servers()
    process = subprocess.Popen(
        [sys.executable, "-m", "docclean.cli", "run"],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(9)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # The temporary Prefect server the run started, in a session of its own, went with it.
    deadline = time.monotonic() + 15
    while _running_prefect_servers() - servers_before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running_prefect_servers() - servers_before
    table = ds.dataset(tmp_path / "curated" / "documents").to_table()  # loadable, old or new snapshot
    assert table.num_rows in (20, 400)
    assert docclean("run", cwd=tmp_path).returncode == 0
    paths = ds.dataset(tmp_path / "curated" / "documents").to_table().column("source_path").to_pylist()
    assert sorted(paths) == [f"doc{n:04d}.txt" for n in range(400)]


def test_two_runs_at_once_never_interleave(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    _many_files(raw, 150)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "docclean.cli", "run", "--wait", "120"],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    paths = ds.dataset(tmp_path / "curated" / "documents").to_table().column("source_path").to_pylist()
    assert sorted(paths) == [f"doc{n:04d}.txt" for n in range(150)]
    cleaned = [int(re.search(r"Cleaned (\d+)", out).group(1)) for out, _ in outputs]
    assert sorted(cleaned) == [0, 150]


def test_second_run_without_wait_says_another_run_is_writing(tmp_path: Path) -> None:
    from flows.store import CuratedStore

    (tmp_path / "raw").mkdir()
    store = CuratedStore(tmp_path / "curated")
    with store.lock():
        result = docclean("run", cwd=tmp_path)
    assert result.returncode == 1
    assert "Another docclean run is writing" in result.stderr
