from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The real seed documents live in ../shared/seeds beside the project in CI and on the
# developers' machines, never in a user's clone: tests that need them skip without them.
SEEDS_DIR = ROOT.parent / "shared" / "seeds"
SAMPLES_DIR = ROOT / "raw"
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


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session: starting one costs seconds."""
    import os

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
