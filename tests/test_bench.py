"""The benchmark runs: its quick core measurement, in a process of its own, on a corpus of 20 documents.

The benchmark imports the flow's and the core's pieces where it measures them, so a module that
moves breaks it only when it runs; this runs it (about ten seconds), figures unchecked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_quick_core_benchmark_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run_bench.py"),
            "--core",
            "--docs",
            "20",
            "--out",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for row in ("floor, read+decode+t2s+parquet", "clean per document + table (all)", "clean_batch (all)"):
        assert row in result.stdout, result.stdout
