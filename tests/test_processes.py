"""A run killed outright leaves no process behind and no lock held: real `docclean run` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="reads /proc; the parent-death signal is Linux's"
)

PARAGRAPH = "今天召开全县安全生产工作会议，主要任务是部署下一阶段的工作。XX局要压实责任，狠抓落实。\n"


def _children() -> dict[int, list[int]]:
    """Every live process's children, from /proc (zombies count as gone: they run nothing)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            tree.setdefault(int(parent), []).append(int(entry))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, stack = _children(), set(), [pid]
    while stack:
        for child in tree.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_sigkill_of_a_two_worker_run_leaves_no_worker_and_no_lock(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    # Three batches of files (BATCH_FILES each at most): both workers get one while the run goes on.
    for number in range(1200):
        (raw / f"speech{number:04d}.txt").write_text(f"第{number}号讲话\n" + PARAGRAPH * 40, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "docclean_cli",
        "run",
        "--raw",
        str(raw),
        "--curated",
        str(tmp_path / "curated"),
        "--workers",
        "2",
        "--settle",
        "0",
    ]
    # Prefect's home as the developer's: its empty database spares the run a migration (up to a minute).
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen: set[int] = set()
    deadline = time.monotonic() + 240
    # Wait for the two workers of the pool, among the run's descendants.
    while time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()[0].decode()
        seen |= _descendants(run.pid)
        pool = [pid for pid in seen if _alive(pid) and "multiprocessing.spawn" in _command_line(pid)]
        if len(pool) >= 2:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the run never started its two workers")
    assert run.poll() is None, "the run ended before it could be killed: give it more files"
    seen |= _descendants(run.pid)
    run.kill()
    run.wait()
    gone_by = time.monotonic() + 20
    while time.monotonic() < gone_by and any(_alive(pid) for pid in seen):
        time.sleep(0.2)
    survivors = {pid: _command_line(pid) for pid in seen if _alive(pid)}
    assert not survivors, f"processes of the killed run still running: {survivors}"

    # The next run is not refused: nothing holds the lock.
    (raw / "late.txt").write_text("迟到的讲话\n" + PARAGRAPH, encoding="utf-8")
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Another docclean run" not in again.stderr
