"""A damaged curated folder stops the run with a sentence naming what is wrong and how to recover."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from docclean.layout import state_folder
from flows.curate import curate
from flows.location import StoreError

pytestmark = pytest.mark.usefixtures("prefect_harness")

SPEECH = "在全县工作会议上的讲话\n同志们：\n今天召开会议，XX局要抓好落实。\n"


def _curated_once(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.txt").write_text(SPEECH, encoding="utf-8")
    curated = tmp_path / "curated"
    curate(raw=str(tmp_path / "raw"), curated=str(curated), settle_seconds=0)
    return tmp_path / "raw", curated


def test_a_current_link_pointing_nowhere_is_named_not_taken_for_an_empty_dataset(tmp_path: Path) -> None:
    raw, curated = _curated_once(tmp_path)
    state = state_folder(curated)
    os.replace(state / "snapshots" / "000001", state / "snapshots" / "000001.moved")
    with pytest.raises(StoreError) as caught:
        curate(raw=str(raw), curated=str(curated), settle_seconds=0)
    assert str(caught.value) == (
        f"{state}/current points to snapshots/000001, which is not a snapshot folder; point it at the newest "
        f"snapshot in {state}/snapshots (ln -sfn snapshots/NNNNNN {state}/current) or delete it to rebuild "
        "the dataset from raw/."
    )
    assert sorted(p.name for p in (state / "snapshots").iterdir()) == ["000001.moved"]  # nothing pruned
    (state / "current").unlink()
    (state / "current").mkdir()
    with pytest.raises(StoreError) as caught:
        curate(raw=str(raw), curated=str(curated), settle_seconds=0)
    assert str(caught.value) == (
        f"{state}/current is not docclean's link to the current snapshot; move it away and run again."
    )


def test_an_unreadable_part_file_is_named(tmp_path: Path) -> None:
    raw, curated = _curated_once(tmp_path)
    state = state_folder(curated)
    [part] = (state / "snapshots" / "000001" / "documents").glob("*.parquet")
    os.unlink(part)  # it may be a hard link shared with another snapshot: replace it, never write through it
    part.write_bytes(b"PAR1 truncated")
    with pytest.raises(StoreError) as caught:
        curate(raw=str(raw), curated=str(curated), settle_seconds=0)
    message = str(caught.value)
    assert message.startswith(f"{part.resolve()} cannot be read (")
    assert message.endswith(
        f"); if it is damaged, point {state.resolve()}/current at the previous snapshot "
        f"(ln -sfn snapshots/NNNNNN {state.resolve()}/current) or delete {state.resolve()}/current to "
        "rebuild the dataset from raw/."
    )
