"""The `docclean` command as a user meets it: real subprocesses, no harness."""

from __future__ import annotations

import argparse
import functools
import io
import logging
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
from hypothesis import given, settings
from hypothesis import strategies as st

from docclean.console import placeholder_context
from docclean.layout import state_folder
from docclean.pipeline import CleanConfig, Cleaner
from docclean_cli import build_parser, main
from tests.conftest import ROOT, SAMPLES_DIR, assert_one_row_per_document, prefect_api

ENV = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
# Lines a healthy run, a verbose run or a serve start and stop must never print.
FALSE_ALARMS = re.compile(
    r"Traceback|Error logging to API|All connection attempts failed|Unable to connect|never awaited"
    r"|anonymous usage data|database is locked"
)


def docclean(
    *args: str, cwd: Path, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docclean_cli", *args],
        cwd=cwd,
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _commands() -> list[str]:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if a.dest == "command"]
    return list(subparsers.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"}


def _help_commands() -> dict[str, set[str]]:
    """Every command of `docclean --help`, nested ones too ("rules check"), with its long options."""
    found: dict[str, set[str]] = {}

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        children = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not children:
            found[name] = _options(parser)
        for child in children:
            for command, subparser in child.choices.items():
                walk(subparser, f"{name} {command}".strip())

    parser = build_parser()
    found[""] = _options(parser)
    walk(parser, "")
    return found


def _readme_commands() -> dict[str, set[str]]:
    """The synopsis of each bullet of the README's Commands section, with the options it names."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("\n## Commands\n", 1)[1].split("\n### ", 1)[0]
    found: dict[str, set[str]] = {}
    for synopsis in re.findall(r"^- `docclean ([^`]*)`", section, flags=re.MULTILINE):
        name = " ".join(re.match(r"((?:[a-z]+ ?)*)", synopsis).group(1).split())
        found.setdefault(name, set()).update(re.findall(r"--[a-z][a-z-]*", synopsis))
    return found


def test_help_and_readme_agree_on_every_command_and_option() -> None:
    # As sqlite-utils checks its documentation: a command or option added to one and not the other fails.
    assert _readme_commands() == _help_commands()


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text("utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", quick_start, flags=re.DOTALL)


def test_readme_quick_start_works_without_pip_on_the_system_python_and_ci_runs_it() -> None:
    # A stock Debian or Ubuntu Python refuses `pip install` outside a virtual environment (PEP 668),
    # and an unactivated venv's scripts are not on PATH: each command makes and names its venv.
    run_command, test_command = _quick_start_commands()
    assert run_command == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/docclean run"
    assert test_command == (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
    )
    ci_lines = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    assert test_command in ci_lines


def test_version_and_python_dash_m(tmp_path: Path) -> None:
    from importlib.metadata import version

    for command in (
        [sys.executable, "-m", "docclean_cli", "--version"],
        [str(Path(sys.executable).parent / "docclean"), "--version"],  # the console script
    ):
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
        assert (result.returncode, result.stdout) == (0, f"docclean {version('docclean')}\n")


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


def test_inspect_read_by_a_reader_that_stops_early_ends_quietly_with_status_0() -> None:
    # `docclean inspect FILE | head -2`: rich ended the process with status 1, an error to `set -o pipefail`.
    sample = next(SAMPLES_DIR.glob("*gbk*"))
    process = subprocess.Popen(
        [sys.executable, "-m", "docclean_cli", "inspect", "--text", str(sample)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    assert (process.wait(timeout=120), process.stderr.read()) == (0, b"")


def test_inspect_shows_a_long_run_of_removed_characters_by_count(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    padded = tmp_path / "padded.txt"
    padded.write_bytes("同志们：今天我们召开会议。".encode() + b"\x00" * 512)
    assert main(["inspect", str(padded)]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert "normalized  invisible_chars: 512 took out '\\x00' ×512" in lines


def test_inspect_with_a_broken_rules_file_says_so_as_run_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The rules are the command's, not the document's: no "rejected", status 1.
    rules = tmp_path / "broken.toml"
    rules.write_text("disable = [\n", encoding="utf-8")
    sample = next(SAMPLES_DIR.glob("*gbk*"))
    assert main(["inspect", "--rules", str(rules), str(sample)]) == 1
    assert capsys.readouterr().err == (
        f"docclean: Rules file {rules} is not valid TOML: Invalid value (at end of document).\n"
    )


def test_a_python_without_docclean_s_dependencies_is_told_which_python_to_use() -> None:
    # `python3 -m docclean_cli` in a clone, by the system's Python: a traceback ending in
    # ModuleNotFoundError. `rich` stands for any dependency such a Python lacks.
    sample = next(SAMPLES_DIR.glob("*gbk*"))
    script = (
        "import sys; sys.modules['rich'] = None; from docclean_cli import main; "
        f"sys.exit(main(['inspect', {str(sample)!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        f"docclean: this Python ({sys.executable}) cannot import rich, a dependency of docclean; run docclean "
        "with the Python it is installed in (.venv/bin/python -m docclean_cli, or .venv/bin/docclean), or "
        "install it into this one (pip install -e .).\n",
    )


def test_inspect_names_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["inspect", str(tmp_path / "nope.txt")]) == 1
    assert capsys.readouterr().err == (
        f"docclean: FILE {tmp_path / 'nope.txt'} does not exist; check the name, or name another file.\n"
    )


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
    probe = f"import sys, docclean_cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_what_a_cleaning_process_runs_loads_no_prefect(tmp_path: Path) -> None:
    # A --workers process imports what it runs (a batch, a corpus job): Prefect would add a second
    # of imports to each one's start, before its first batch, and Arrow's dataset layer 0.2 s to
    # its first corpus job, which reads and writes part files.
    part = tmp_path / "part.parquet"
    probe = (
        "import sys, flows.cleaning, flows.corpus_parts; "
        "from docclean.schema import DOCUMENT_SCHEMA; from flows.storage import parse_location; "
        "from flows.store import read_part, write_part; "
        f"part = parse_location({str(part)!r}); write_part(DOCUMENT_SCHEMA.empty_table(), part); "
        "read_part(part); print([m for m in ('prefect', 'pyarrow.dataset') if m in sys.modules])"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_process_freezes_what_it_loaded_before_it_exits_and_keeps_the_status(tmp_path: Path) -> None:
    # Python's collections at exit would walk every object the command loaded; frozen, they are
    # left to the operating system. The status is main's, whatever it is.
    probe = (
        "import gc, sys; from docclean_cli import command_line; "
        f"sys.argv = ['docclean', 'path', {str(tmp_path)!r}]; "
        "status = command_line(); print(status, gc.get_freeze_count() > 0)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "1 True"
    assert "is not a curated dataset" in result.stderr


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


def _prefect_servers_started_by(parent: int) -> set[int]:
    """Live (not zombie) children of `parent` serving Prefect's API app (Linux; none elsewhere, like the
    guarantee). Only this run's: other tests, and other work on the machine, run servers of their own."""
    found = set()
    for proc in Path("/proc").iterdir() if sys.platform == "linux" else ():
        try:
            command = (proc / "cmdline").read_bytes()
            state, parent_pid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if b"prefect.server.api.server:create_app" in command and state != "Z" and int(parent_pid) == parent:
            found.add(int(proc.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigkill_mid_run_leaves_a_loadable_dataset_and_the_next_run_completes(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    _many_files(raw, 20)
    assert docclean("run", cwd=tmp_path).returncode == 0
    _many_files(raw, 400)
    process = subprocess.Popen(
        [sys.executable, "-m", "docclean_cli", "run"],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    servers: set[int] = set()
    killed_at = time.monotonic() + 9
    while time.monotonic() < killed_at:
        servers |= _prefect_servers_started_by(process.pid)
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # The temporary Prefect server the run started, in a session of its own, went with it.
    assert servers or sys.platform != "linux", "the run's temporary Prefect server was never seen"
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in servers)
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
            [sys.executable, "-m", "docclean_cli", "run", "--wait", "120"],
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
    from flows.dataset import open_store

    (tmp_path / "raw").mkdir()
    store = open_store(str(tmp_path / "curated"))
    with store.lock():
        result = docclean("run", cwd=tmp_path)
    assert result.returncode == 1
    # One line: Prefect's record of the same error, a traceback, stays in the run's log.
    assert result.stderr == (
        f"docclean: Another docclean run is writing {tmp_path / 'curated'}; this run stops without "
        "changing anything. Try again when it has finished, or let a run wait for it (--wait SECONDS).\n"
    )


# Mistakes a new user makes, each answered in one sentence before any server starts: (arguments,
# what to create in the working folder first, the exact stderr). {cwd} is the working folder.
def _make(cwd: Path, *paths: str) -> None:
    for path in paths:
        target = cwd / path.rstrip("/")
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x", encoding="utf-8")


MISTAKES = [
    (
        ["run"],
        [],
        "--raw raw ({cwd}/raw) does not exist; create it and put the documents there, or name another folder with --raw.",
    ),
    (
        ["run", "--raw", "notes.txt"],
        ["notes.txt"],
        "--raw notes.txt ({cwd}/notes.txt) is a file, not a folder; name the folder that holds the documents.",
    ),
    (
        ["run", "--curated", "out.parquet"],
        ["raw/", "out.parquet"],
        "--curated out.parquet ({cwd}/out.parquet) is a file, not a folder; name a folder for the dataset.",
    ),
    (
        ["run", "--curated", "raw"],
        ["raw/"],
        "--raw raw ({cwd}/raw) and --curated raw ({cwd}/raw) are the same folder; use two separate folders.",
    ),
    (
        ["run", "--curated", "raw/out"],
        ["raw/"],
        "--raw raw ({cwd}/raw) and --curated raw/out ({cwd}/raw/out) overlap: the dataset would be inside the documents it is made of; use two separate folders.",
    ),
    (
        ["run", "--raw", "data/raw", "--curated", "data"],
        ["data/raw/"],
        "--raw data/raw ({cwd}/data/raw) and --curated data ({cwd}/data) overlap: the documents would be inside the dataset; use two separate folders.",
    ),
    (
        ["serve", "--no-watch"],
        [],
        "--raw raw ({cwd}/raw) does not exist; create it and put the documents there, or name another folder with --raw.",
    ),
    (
        ["serve", "--cron", "every hour"],
        ["raw/"],
        "--cron 'every hour' is not a cron schedule; write five fields, minute hour day month weekday, e.g. '*/10 * * * *' (every 10 minutes) or '0 * * * *' (hourly).",
    ),
    (
        ["serve", "--cron", "H * * * *"],
        ["raw/"],
        "--cron 'H * * * *' is not a cron schedule; write five fields, minute hour day month weekday, e.g. '*/10 * * * *' (every 10 minutes) or '0 * * * *' (hourly).",
    ),
    (["serve", "--port", "70000"], ["raw/"], "--port 70000 is not a port; give a number from 1 to 65535."),
    (["run", "--workers", "0"], ["raw/"], "--workers 0 is not allowed; give 1 or more."),
    (
        ["run", "--settle", "-5"],
        ["raw/"],
        "--settle -5 is not allowed; give a number of seconds, 0 or more.",
    ),
    (
        ["run", "--settle", "nan"],
        ["raw/"],
        "--settle nan is not allowed; give a number of seconds, 0 or more.",
    ),
    (["run", "--wait", "-1"], ["raw/"], "--wait -1 is not allowed; give a number of seconds, 0 or more."),
    (
        ["run", "--max-bytes", "10 parsecs"],
        ["raw/"],
        "--max-bytes 10 parsecs is not a size; give bytes, or a number with K, M or G (e.g. 10M, 512K).",
    ),
    (
        ["run", "--max-bytes", "0"],
        ["raw/"],
        "--max-bytes 0 is less than one byte; give 1 or more (e.g. 10M, 512K).",
    ),
    (
        ["run", "--max-bytes", "0.0001K"],
        ["raw/"],
        "--max-bytes 0.0001K is less than one byte; give 1 or more (e.g. 10M, 512K).",
    ),
    (
        ["run", "--mask-token", ""],
        ["raw/"],
        "--mask-token '' is not allowed; give visible text on one line, e.g. [MASK] or ＿＿.",
    ),
    (
        ["run", "--rules", "mine.toml"],
        ["raw/"],
        "--rules mine.toml ({cwd}/mine.toml) does not exist; check the name, or name another file.",
    ),
    (
        ["run", "--address", "tcp://127.0.0.1:8786"],
        ["raw/"],
        "--address tcp://127.0.0.1:8786 names a Dask scheduler, but the runner is local; add --runner dask, or leave --address out.",
    ),
    (
        ["run", "--runner", "dask", "--address", "8786"],
        ["raw/"],
        "--address 8786 is not a Dask scheduler address; write tcp://HOST:PORT (the scheduler's default port is 8786).",
    ),
    (
        ["path", "raw"],
        ["raw/"],
        "raw ({cwd}/raw) is not a curated dataset (it holds no snapshot); name the folder `docclean run --curated` wrote, or make one with `docclean run --curated raw`.",
    ),
    (["inspect", "raw"], ["raw/"], "FILE raw ({cwd}/raw) is a folder, not a file; name one file."),
    (
        ["inspect", "a.txt", "--curated", "nowhere"],
        ["a.txt"],
        "--curated nowhere ({cwd}/nowhere) does not exist; name the folder `docclean run --curated` wrote.",
    ),
    (
        ["run", "--curated", ".docclean/datasets/curated"],
        ["raw/", ".docclean/datasets/curated/"],
        "--curated .docclean/datasets/curated ({cwd}/.docclean/datasets/curated) is in docclean's state folder "
        "{cwd}/.docclean, which holds the datasets' snapshots; name the dataset's own folder (the one holding "
        "documents and README.md).",
    ),
    (
        ["run", "--curated", "mine"],
        ["raw/", "mine/README.md", "mine/notes.csv"],
        "--curated mine ({cwd}/mine) holds files that are not a docclean dataset's (README.md, notes.csv); name "
        "a new or empty folder for the dataset.",
    ),
    (
        ["run", "--curated", "s3:/bucket/curated"],
        ["raw/"],
        "--curated s3:/bucket/curated reads as a URL with one slash; write s3://BUCKET/PREFIX, or ./ before a "
        "local folder whose name has a colon.",
    ),
    (
        ["run", "--settle", "1e308"],
        ["raw/"],
        "--settle 1e308 is too long; give at most 31536000 seconds (a year).",
    ),
    (
        ["run", "--settle", "1e400"],
        ["raw/"],
        "--settle 1e400 is too long; give at most 31536000 seconds (a year).",
    ),
    (
        ["serve", "--state-dir", "raw/state"],
        ["raw/"],
        "--state-dir raw/state ({cwd}/raw/state) is inside --raw raw ({cwd}/raw): the next run would read "
        "docclean's own files as documents; name a folder outside --raw.",
    ),
    (
        ["serve", "--state-dir", "notes.txt"],
        ["raw/", "notes.txt"],
        "--state-dir notes.txt ({cwd}/notes.txt) is a file, not a folder; name a folder for the Prefect server's "
        "state.",
    ),
    (
        ["report", "--curated", "raw"],
        ["raw/a.txt"],
        "--curated raw ({cwd}/raw) holds files that are not a docclean dataset's (a.txt); name the dataset's "
        "folder, or where the page goes with --out.",
    ),
    (
        ["report", "--out", "curated/README.md"],
        ["curated/"],
        "--out curated/README.md ({cwd}/curated/README.md) would replace the dataset's own README.md; name another "
        "file (the default is CURATED/report.html).",
    ),
    (
        ["report", "--out", ".docclean/datasets/curated/snapshots/page.html"],
        ["curated/", ".docclean/datasets/curated/snapshots/"],
        "--out .docclean/datasets/curated/snapshots/page.html ({cwd}/.docclean/datasets/curated/snapshots/page.html) "
        "is inside the dataset's tables or docclean's state folder, where readers take every file for part of the "
        "dataset; name a file outside them (the default is CURATED/report.html).",
    ),
    (
        ["inspect", "speech.txt", "--curated", "empty"],
        ["speech.txt", "empty/"],
        "The curated folder empty holds no dataset; name the folder `docclean run --curated` wrote, or run "
        "`docclean run` first.",
    ),
    (
        ["rules", "check"],
        [],
        "--raw raw ({cwd}/raw) does not exist; create it and put the documents there, or name another folder with --raw.",
    ),
]


@pytest.mark.parametrize(
    ("args", "setup", "message"), MISTAKES, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_a_mistake_is_one_sentence_before_anything_starts(
    tmp_path: Path, args: list[str], setup: list[str], message: str
) -> None:
    _make(tmp_path, *setup)
    result = docclean(*args, cwd=tmp_path, timeout=60)
    # Nothing on stdout: `serve` says there when it starts its server, before anything else.
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"docclean: {message.format(cwd=tmp_path)}\n"


def test_a_curated_folder_inside_a_dataset_is_one_sentence(tmp_path: Path) -> None:
    # The documents table of a dataset, named for the dataset: a link into its current snapshot.
    _make(tmp_path, "raw/", "curated/")
    (tmp_path / "curated" / "documents").symlink_to("../.docclean/datasets/curated/current/documents")
    result = docclean("run", "--curated", "curated/documents", cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"docclean: --curated curated/documents ({tmp_path}/curated/documents) is inside the dataset "
        f"{tmp_path}/curated; name a folder outside it: each dataset has a folder of its own.\n"
    )


def test_a_quoted_tilde_is_one_sentence(tmp_path: Path) -> None:
    _make(tmp_path, "raw/")
    env = {**ENV, "HOME": str(tmp_path / "home")}
    result = docclean("run", "--curated", "~/curated", cwd=tmp_path, env=env, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"docclean: --curated ~/curated starts with ~, which the shell expands only outside quotes; write "
        f"{tmp_path}/home/curated, or leave the quotes off.\n"
    )
    assert not (tmp_path / "~").exists()


def test_more_workers_than_the_machine_can_run_is_one_sentence(tmp_path: Path) -> None:
    _make(tmp_path, "raw/")
    cores = os.cpu_count() or 1
    result = docclean("run", "--workers", "100000", cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"docclean: --workers 100000 is more than this machine can run: its {cores} cores take at most "
        f"{4 * cores} workers; give {4 * cores} or fewer (one per core, {cores}, is the usual choice).\n"
    )


@pytest.mark.skipif(
    not Path("/proc/self").exists(), reason="needs Linux's /proc, where no folder can be made"
)
def test_a_curated_folder_that_cannot_be_made_is_one_sentence(tmp_path: Path) -> None:
    _make(tmp_path, "raw/")
    result = docclean("run", "--curated", "/proc/docclean-test", cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "docclean: --curated /proc/docclean-test cannot be created (No such file or directory); name a folder "
        "on a disk docclean can write to.\n"
    )


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_inspect_names_a_device_as_such(tmp_path: Path) -> None:
    result = docclean("inspect", "/dev/null", cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "docclean: FILE /dev/null is not a regular file (a device, a pipe or a socket); name one file.\n"
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device that is always full")
def test_output_that_cannot_be_written_is_one_sentence(tmp_path: Path) -> None:
    _make(tmp_path, "raw/")
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "docclean_cli", "inspect", str(sorted(SAMPLES_DIR.iterdir())[0])],
            cwd=tmp_path, env=ENV, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        "docclean: the output could not be written (No space left on device); free space where it goes, or "
        "send it elsewhere.\n"
    )


# What the parser itself rejects: one line too, with argparse's exit status 2.
PARSER_MISTAKES = [
    (
        ["run", "--rwa", "x"],
        "docclean run: unrecognized option: --rwa (did you mean --raw?); `docclean run --help` lists the options.",
    ),
    # argparse reports a missing command when an unknown option comes first.
    (
        ["--versoin"],
        "docclean: unrecognized option: --versoin (did you mean --version?); `docclean --help` lists the options.",
    ),
    (
        ["--verison", "run"],
        "docclean: unrecognized option: --verison (did you mean --version?); `docclean --help` lists the options.",
    ),
    (
        ["run", "--prnue", "--work=2", "--verbsoe=1", "--zzz"],
        "docclean run: unrecognized options: --prnue (did you mean --prune?), --verbsoe=1 (did you mean "
        "--verbose?), --zzz; `docclean run --help` lists the options.",
    ),
    (
        ["rules", "check", "--rules", "x.toml", "--bogus"],
        "docclean rules check: unrecognized option: --bogus; `docclean rules check --help` lists the options.",
    ),
    (
        ["inspect", "a.txt", "b.txt"],
        "docclean inspect: unrecognized arguments: b.txt; `docclean inspect --help` lists the options.",
    ),
    (
        ["run", "--settle", "abc"],
        "docclean run: argument --settle: 'abc' is not a number of seconds; `docclean run --help` lists the options.",
    ),
    (
        ["run", "--languages", "chinese"],
        "docclean run: argument --languages: chinese is not a language code the detector knows; use ISO 639-1 "
        "codes among ar, de, el, en, es, fr, id, it, ja, ko, ms, pt, ru, th, vi, zh, separated by commas; "
        "`docclean run --help` lists the options.",
    ),
    (
        ["rn"],
        "docclean: argument COMMAND: invalid choice: 'rn' (choose from 'run', 'serve', 'inspect', 'report', "
        "'path', 'rules') (did you mean run?); `docclean --help` lists the options.",
    ),
    (
        ["xyz"],
        "docclean: argument COMMAND: invalid choice: 'xyz' (choose from 'run', 'serve', 'inspect', 'report', "
        "'path', 'rules'); `docclean --help` lists the options.",
    ),
    (
        ["run", "--languages", ""],
        "docclean run: argument --languages: no language code is given; name one or more, ISO 639-1 codes among "
        "ar, de, el, en, es, fr, id, it, ja, ko, ms, pt, ru, th, vi, zh, separated by commas; `docclean run --help` "
        "lists the options.",
    ),
]


@pytest.mark.parametrize(
    ("args", "message"), PARSER_MISTAKES, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_what_the_parser_rejects_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = docclean(*args, cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")


def test_an_unreachable_dask_scheduler_is_named_as_such(tmp_path: Path) -> None:
    import socket

    _make(tmp_path, "raw/")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = docclean(
        "run", "--runner", "dask", "--address", f"tcp://127.0.0.1:{port}", cwd=tmp_path, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"docclean: The Dask scheduler tcp://127.0.0.1:{port} cannot be reached (Connection refused); "
        f"start it (`dask scheduler --port {port}`) or fix --address.\n"
    )


def test_max_bytes_takes_units() -> None:
    from docclean_cli.arguments import byte_size

    assert [byte_size("--max-bytes", t) for t in ("1", "512K", "10M", "1G", "1.5GiB", "2mb")] == [
        1,
        512 * 1024,
        10 * 1024**2,
        1024**3,
        3 * 1024**3 // 2,
        2 * 1024**2,
    ]


def _without_root_override() -> list[str]:
    """A command prefix under which file permissions bind, as they do for every user but root."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions cannot be made to bind")
    # Without these two capabilities root is held to a file's mode bits like its owner.
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["inspect", "secret.txt"],
            "docclean: FILE secret.txt ({cwd}/secret.txt) cannot be read (Permission denied); fix its permissions, "
            "or name another file.",
        ),
        (
            ["inspect", "closed/x.txt"],
            "docclean: FILE closed/x.txt ({cwd}/closed/x.txt) cannot be looked at (Permission denied); fix the "
            "permissions of the folders on its path, or name another one.",
        ),
        (
            ["run", "--raw", "closed/raw"],
            "docclean: --raw closed/raw ({cwd}/closed/raw) cannot be looked at (Permission denied); fix the "
            "permissions of the folders on its path, or name another one.",
        ),
    ],
    ids=["unreadable-file", "file-in-a-closed-folder", "raw-in-a-closed-folder"],
)
def test_a_path_that_cannot_be_read_is_one_sentence(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "secret.txt").write_text("同志们：今天开会。", encoding="utf-8")
    (tmp_path / "closed" / "raw").mkdir(parents=True)
    (tmp_path / "closed" / "x.txt").write_text("同志们：今天开会。", encoding="utf-8")
    (tmp_path / "secret.txt").chmod(0o000)
    (tmp_path / "closed").chmod(0o000)
    try:
        result = subprocess.run(
            [*_without_root_override(), sys.executable, "-m", "docclean_cli", *args],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        (tmp_path / "closed").chmod(0o755)
        (tmp_path / "secret.txt").chmod(0o644)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", message.format(cwd=tmp_path) + "\n")


@pytest.mark.parametrize("entry", [None, ".lock", "state", "snapshots"])
def test_a_curated_folder_that_cannot_be_written_is_one_sentence(tmp_path: Path, entry: str | None) -> None:
    (tmp_path / "raw").mkdir()
    curated = tmp_path / "curated"
    curated.mkdir()
    denied = {
        None: curated,
        ".lock": curated / ".lock",
        "state": state_folder(curated),
        "snapshots": state_folder(curated) / "snapshots",
    }[entry]
    if entry == ".lock":
        denied.touch()
    elif entry in ("state", "snapshots"):
        denied.mkdir(parents=True)
    denied.chmod(0o444 if entry == ".lock" else 0o555)
    try:
        result = subprocess.run(
            [*_without_root_override(), sys.executable, "-m", "docclean_cli", "run"],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        denied.chmod(0o755)
    what_to_do = (
        "fix its permissions or name another folder"
        if entry is None
        else "fix its permissions (or run as its owner)"
    )
    assert (result.returncode, result.stderr) == (
        1,
        f"docclean: --curated curated ({curated}) cannot be written: {denied} is not writable by this user; "
        f"{what_to_do}.\n",
    )


def test_clean_given_text_says_it_wants_bytes() -> None:
    from docclean.pipeline import Cleaner

    with pytest.raises(TypeError) as raised:
        Cleaner().clean("在全县工作会议上的讲话", "a.txt")  # type: ignore[arg-type]
    assert str(raised.value) == (
        "Cleaner.clean wants the file's bytes, not str: pass path.read_bytes() (or text.encode() for text you already have)."
    )


def test_a_healthy_run_ends_clean_with_a_reject_and_with_verbose(workdir: Path) -> None:
    # A reject and --verbose both make Prefect send logs and events to the temporary server
    # right before it stops: they must all be delivered, not reported as failures.
    (workdir / "raw" / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n0000")
    os.utime(workdir / "raw" / "picture.txt", (time.time() - 60, time.time() - 60))
    first = docclean("run", cwd=workdir)
    assert first.returncode == 3, first.stderr
    assert not FALSE_ALARMS.search(first.stdout + first.stderr), first.stdout + first.stderr
    # The summary counts the reject; the per-file notice is for --verbose and the run's log.
    assert "rejects: binary 1" in first.stdout and "Rejected" not in first.stderr, first.stderr
    (workdir / "raw" / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n1111")
    os.utime(workdir / "raw" / "photo.txt", (time.time() - 60, time.time() - 60))
    verbose = docclean("run", "--verbose", "--prune", cwd=workdir)
    assert verbose.returncode == 3, verbose.stderr
    assert not FALSE_ALARMS.search(verbose.stdout + verbose.stderr), verbose.stdout + verbose.stderr
    assert re.search(r"WARNING .* Rejected photo\.txt: ", verbose.stderr), verbose.stderr


def test_only_what_the_cli_reports_is_kept_off_the_terminal() -> None:
    from prefect.logging.handlers import PrefectConsoleHandler

    from flows.commands import _reported_by_the_cli_off_the_terminal
    from flows.location import RunLockedError
    from flows.summary import REJECT_NOTICE

    terminal = io.StringIO()
    console = PrefectConsoleHandler(stream=terminal)
    logging.getLogger().addHandler(console)
    logger = logging.getLogger("tests.reject_notices")
    try:
        with _reported_by_the_cli_off_the_terminal():
            logger.warning("Rejected a.txt: binary.", extra={REJECT_NOTICE: True})
            logger.warning("Rule 'ad' timed out on 3 documents and was disabled.")
            logger.error("The run failed.")
            for error in (RunLockedError("Another docclean run is writing x."), OSError("disk full")):
                try:
                    raise error
                except Exception:
                    logger.exception("Encountered exception during execution: %r", error)
        logger.warning("Rejected b.txt: binary.", extra={REJECT_NOTICE: True})
    finally:
        logging.getLogger().removeHandler(console)
    shown = terminal.getvalue()
    assert "Rejected a.txt" not in shown and "Another docclean run" not in shown
    assert "timed out" in shown and "The run failed." in shown and "Rejected b.txt" in shown
    assert "disk full" in shown  # not a DoccleanError: the CLI does not report it, Prefect's record stays
    assert not console.filters


def test_run_with_mask_token_and_keep_script(workdir: Path) -> None:
    result = docclean("run", "--mask-token", "＿＿", "--keep-script", cwd=workdir)
    assert result.returncode == 0, result.stderr
    rows = ds.dataset(workdir / "curated" / "documents").to_table().to_pylist()
    assert rows and all("[MASK]" not in row["text"] for row in rows)
    assert all(row["text"][p["start"] : p["end"]] == "＿＿" for row in rows for p in row["placeholders"])
    [big5] = [row for row in rows if row["encoding"] == "big5hkscs"]
    assert big5["source_script"] == "Hant" and big5["title"] == "在全市教育工作座談會上的講話"
    assert big5["doc_type"] == "讲话"


def test_serve_points_every_thread_at_its_server_even_when_prefect_is_loaded_first() -> None:
    # `serve --cron …` checks the schedule with Prefect's croniter, which loads Prefect before serve
    # knows its server: the runner's threads then started temporary servers of their own, and
    # every scheduled run was lost ("Flow run not found").
    script = (
        "import threading\n"
        "import prefect._vendor.croniter\n"
        "from flows.commands import use_api\n"
        "use_api('http://127.0.0.1:9/api')\n"
        "from prefect.settings import get_current_settings\n"
        "seen = []\n"
        "thread = threading.Thread(target=lambda: seen.append(get_current_settings().api.url))\n"
        "thread.start(); thread.join()\n"
        "print(seen[0])\n"
    )
    env = {key: value for key, value in ENV.items() if key != "PREFECT_API_URL"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout) == (0, "http://127.0.0.1:9/api\n"), result.stderr


def test_serve_on_a_port_refreshes_the_report_and_stops_clean_on_sigterm(workdir: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = workdir / "serve.log"
    with open(log, "w") as handle:
        serve = subprocess.Popen(
            [sys.executable, "-m", "docclean_cli", "serve", "--port", str(port), "--state-dir", "state"],
            cwd=workdir,
            env={k: v for k, v in ENV.items() if k != "PREFECT_API_URL"},
            stdout=handle,
            stderr=subprocess.STDOUT,
            # As `docclean serve &` in a script starts it: SIGINT ignored, and SIGTERM must still stop it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        try:
            deadline = time.monotonic() + 180
            # The watcher wakes one run at start for what raw/ already holds; it writes the HTML report.
            while not (workdir / "curated" / "report.html").is_file():
                assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            while True:
                artifacts = prefect_api(
                    f"http://127.0.0.1:{port}/api/artifacts/filter",
                    {"artifacts": {"key": {"any_": ["docclean-run-report"]}}},
                )
                if artifacts or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=90)
    output = log.read_text()
    assert f"Prefect UI: http://127.0.0.1:{port}" in output
    [artifact] = artifacts
    made = time.strftime("%Y-%m-%d", time.gmtime((workdir / "curated" / "report.html").stat().st_mtime))
    assert f"{workdir / 'curated' / 'report.html'}` (made {made}" in artifact["data"]
    assert serve.returncode == 0, output
    assert not FALSE_ALARMS.search(output), output
    assert "Stopped the local Prefect server." in output


LONG_LINE = "今天我们召开会议，部署下一阶段的重点工作，XX局要抓好落实，" * 12


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "讲话.txt"
    body = f"在全县工作会议上的讲话\n同志们：\n{LONG_LINE}\n更多精品资料请访问 www.example.com\nXX县XX乡××同志XX次发言。\n"
    path.write_text(body, encoding="utf-8")
    return path


def test_inspect_piped_keeps_the_texts_lines_and_marks_removals_in_brackets(document: Path) -> None:
    from docclean.pipeline import Cleaner

    record = Cleaner().clean(document.read_bytes(), document.name)
    result = docclean("inspect", str(document), "--text", cwd=document.parent, timeout=60)
    assert result.returncode == 0, result.stderr
    shown = result.stdout.split("── normalized text with removals ──\n", 1)[1]
    # No line added by wrapping at 80 columns: the long paragraph is one line, as in the file.
    assert LONG_LINE in shown.splitlines()
    assert all(f"[-{r.text}-]⟦{r.rule}⟧" in shown for r in record.removed) and record.removed
    # Take the marks out and the normalized text is back, line for line.
    for removal in record.removed:
        shown = shown.replace(f"[-{removal.text}-]⟦{removal.rule}⟧", removal.text, 1)
    assert shown == record.normalized_text + "\n"


def test_inspect_clean_prints_exactly_the_final_text(document: Path) -> None:
    from docclean.pipeline import CleanConfig, Cleaner

    result = docclean(
        "inspect", str(document), "--clean", "--mask-token", "〔隐〕", cwd=document.parent, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout
        == Cleaner(CleanConfig(placeholder_token="〔隐〕")).clean(document.read_bytes(), "x").text + "\n"
    )


def test_inspect_keep_script_types_a_traditional_title(tmp_path: Path) -> None:
    [big5] = SAMPLES_DIR.glob("*big5*")
    result = docclean("inspect", str(big5), "--keep-script", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    facts = dict(line.split(None, 1) for line in result.stdout.split("──", 1)[0].splitlines() if line.strip())
    assert facts["title"].strip() == "在全市教育工作座談會上的講話" and facts["type"].strip() == "讲话"


@functools.cache
def _cleaner_with_token(token: str) -> Cleaner:
    return Cleaner(CleanConfig(placeholder_token=token))


@settings(deadline=None, max_examples=60)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=8),
    token=st.sampled_from(["[MASK]", "〔隐〕", "＿"]),
)
def test_a_placeholders_context_never_cuts_a_token(gaps: list[int], token: str) -> None:

    text = (
        "在全县工作会议上的讲话\n同志们：\n" + "".join("会" * gap + "XX局" for gap in gaps) + "要抓好落实。\n"
    )
    record = _cleaner_with_token(token).clean(text.encode(), "a.txt")
    for placeholder in record.placeholders:
        context = placeholder_context(record, placeholder)
        start = record.text.replace("\n", "↵").index(context)
        # Every token the context touches lies wholly inside it.
        for other in record.placeholders:
            inside = start < other.end and other.start < start + len(context)
            assert not inside or (start <= other.start and other.end <= start + len(context))


NON_UTF8_NAME = b"\xd6\xd0\xce\xc4.txt"  # 中文.txt in GBK, as an unzipped Windows archive leaves it


@pytest.mark.parametrize("environment", [{}, {"LC_ALL": "C"}, {"PYTHONIOENCODING": "ascii"}], ids=str)
def test_inspect_and_rules_check_never_crash_on_a_name_or_a_terminal_that_is_not_utf8(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    path = os.path.join(os.fsencode(raw), NON_UTF8_NAME)
    with open(path, "wb") as handle:
        handle.write(
            "在全县工作会议上的讲话\n同志们：\n今天召开会议，XX局要抓好落实。\n会上大家谈到微信工作群的管理，要求各单位规范使用。\n".encode(
                "gbk"
            )
        )
    env = {**ENV, **environment}
    for args in (["inspect", os.fsdecode(path)], ["rules", "check"]):
        result = docclean(*args, cwd=tmp_path, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and "\\xd6\\xd0\\xce\\xc4.txt" in result.stdout


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("Crash detected! Execution was aborted by a termination signal.", False),
        (
            "Crash detected! Execution was interrupted by an unexpected exception: CancelledError: Task run "
            "cancelled by the task runner",
            False,
        ),
        (
            "Finished in state Crashed('Execution was interrupted by an unexpected exception: CancelledError: "
            "Task run cancelled by the task runner')",
            False,
        ),
        ("Crash detected! Execution was interrupted by an unexpected exception: MemoryError", True),
        ("Finished in state Failed('Task run encountered an exception ValueError')", True),
    ],
)
def test_an_interrupted_run_hides_only_the_crash_records_of_its_interruption(
    message: str, shown: bool
) -> None:
    # A run ended by Ctrl-C or SIGTERM prints one line; Prefect's records of the flow run and of the
    # batch its task runner cancelled are that line's cause, any other crash still shows.
    from flows.commands import _drop_signal_crash

    record = logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, message, None, None)
    assert _drop_signal_crash(record) is shown


def test_prefect_workers_flushing_at_the_end_say_nothing_on_the_console() -> None:
    from flows.commands import _reported_by_the_cli_off_the_terminal

    # Prefect's logging set-up replaces the root's handlers (caplog's too): records are taken
    # on the workers' own loggers, after their filters.
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    workers = [logging.getLogger(name) for name in ("EventsWorker", "APILogWorker")]
    for logger in workers:
        logger.addHandler(handler)
    try:
        with _reported_by_the_cli_off_the_terminal():
            workers[0].warning("Still processing items: 1 items remaining...")
            workers[0].error("Service 'EventsWorker' failed with 2 pending items.")
        # The filter outlives the run: the workers flush again at exit.
        workers[1].warning("Still processing items: 3 items remaining...")
    finally:
        for logger in workers:
            logger.removeHandler(handler)
    assert seen == ["Service 'EventsWorker' failed with 2 pending items."]


@pytest.mark.skipif(sys.platform != "linux", reason="a folder that cannot be made: under Linux's /proc")
@pytest.mark.parametrize(
    "variables",
    [
        {"HOME": "/proc/docclean-no-home"},
        {"XDG_CACHE_HOME": "/proc/docclean-no-cache"},
        {"PREFECT_HOME": "/proc/docclean-no-prefect"},
    ],
    ids=["HOME", "XDG_CACHE_HOME", "PREFECT_HOME"],
)
def test_a_state_folder_that_cannot_be_made_is_one_line_naming_it(
    tmp_path: Path, variables: dict[str, str]
) -> None:
    """A service account's HOME that does not exist or is read-only: no traceback, the folder and what to set."""
    (tmp_path / "raw").mkdir()
    env = {key: value for key, value in ENV.items() if key not in ("PREFECT_HOME", "XDG_CACHE_HOME")}
    env.update(variables)
    result = docclean("run", "--settle", "0", cwd=tmp_path, env=env)
    folder = {
        "HOME": "/proc/docclean-no-home/.cache/docclean/prefect",
        "XDG_CACHE_HOME": "/proc/docclean-no-cache/docclean/prefect",
        "PREFECT_HOME": "/proc/docclean-no-prefect",
    }[next(iter(variables))]
    which = "PREFECT_HOME" if "PREFECT_HOME" in variables else "PREFECT_HOME (or XDG_CACHE_HOME)"
    assert (result.returncode, result.stderr) == (
        1,
        f"docclean: Prefect's state folder {folder} cannot be used (No such file or directory); set {which} "
        "to a folder this user can write, and run again.\n",
    )


def test_inspect_says_when_the_file_is_a_link_a_run_rejects(tmp_path: Path) -> None:
    (tmp_path / "speech.txt").write_text("同志们：\n今天召开会议。\n", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(tmp_path / "speech.txt")
    result = docclean("inspect", "link.txt", "--clean", cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stdout) == (0, "同志们：\n今天召开会议。\n")
    assert result.stderr == (
        f"docclean: note: link.txt ({tmp_path}/link.txt) is a symbolic link, inspected as the file it leads to; "
        "`docclean run` never follows links in the raw folder and rejects it (reason symlink).\n"
    )
