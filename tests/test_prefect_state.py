"""What `docclean run` leaves of Prefect's state: a real subprocess with a home folder of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from docclean.layout import state_folder
from flows.server import state_home
from tests.conftest import SAMPLES_DIR


def test_a_run_leaves_nothing_in_prefects_home_and_its_state_does_not_grow(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PREFECT_API_URL", "PREFECT_HOME", "XDG_CACHE_HOME") and not k.startswith("PREFECT_")
    }
    env["HOME"] = str(home)
    raw = tmp_path / "raw"
    raw.mkdir()
    for sample in SAMPLES_DIR.glob("*.txt"):
        (raw / sample.name).write_bytes(sample.read_bytes())
    (raw / "image.txt").write_bytes(
        b"\x89PNG\r\n\x1a\n" + bytes(256)
    )  # a reject: its detail is run state too
    state = home / ".cache" / "docclean" / "prefect"
    template = state / f"empty-{metadata.version('prefect')}.db"
    # The developer's empty database, when there is one, spares the first run a migration (minutes under load).
    if (state_home() / template.name).is_file():
        state.mkdir(parents=True)
        shutil.copyfile(state_home() / template.name, template)
    sizes = []
    for number in range(2):
        (raw / f"new{number}.txt").write_text(
            f"第{number}次会议\n同志们：\n今天召开会议。\n", encoding="utf-8"
        )
        command = ["run", "--raw", str(raw), "--curated", str(tmp_path / "curated"), "--settle", "0"]
        done = subprocess.run(
            [sys.executable, "-m", "docclean_cli", *command],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 3, done.stdout + done.stderr  # 3: the PNG was rejected
        assert not (home / ".prefect").exists()
        left = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
        # The template (no run in it) and Prefect's block-registration memo: no run's database, no result.
        assert left == [str(template.relative_to(home)), str((state / "memo_store.toml").relative_to(home))]
        assert not list(tmp_path.rglob("*.pickle")) and not list(tmp_path.rglob("storage"))
        with contextlib.closing(sqlite3.connect(f"file:{template}?mode=ro", uri=True)) as database:
            assert database.execute("select count(*) from flow_run").fetchone() == (0,)
        sizes.append(template.stat().st_size)
    assert sizes[0] == sizes[1]
    # A failed run: Prefect pickles the exception of a failed flow run whatever persist_result says.
    current = state_folder(tmp_path / "curated") / "current"
    current.unlink()
    current.symlink_to("snapshots/999999")
    failed = subprocess.run(
        [sys.executable, "-m", "docclean_cli", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1 and "is not a snapshot folder" in failed.stderr, failed.stderr
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()) == left
