"""Random drop-folder histories against a model of what the dataset must hold (issue 14, item 1).

Each step drops, changes, rewrites in place (same size and mtime), renames, copies over another,
swaps the names of two or deletes a file, or runs the flow (with --prune or --verify, or neither). After every run the dataset must hold one
row per source_path and per doc_id, a present row for every file with the content the run could
know about, and a missing row for every file gone since, unless pruned; the corpus columns and
state agree with the rows' text (tests.conftest.assert_corpus_agrees).

CI runs a few histories. A longer run: DOCCLEAN_MODEL_EXAMPLES=500 python3 -m pytest
tests/test_dataset_model.py (see the README's Development section).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from flows.curate import curate
from tests.conftest import assert_corpus_agrees, assert_one_row_per_document

EXAMPLES = int(os.environ.get("DOCCLEAN_MODEL_EXAMPLES", "6"))
STEPS = int(os.environ.get("DOCCLEAN_MODEL_STEPS", "14"))

# Contents in pairs of equal byte length: a rewrite that keeps size and mtime is possible.
BASE = "在全县安全生产工作会议上的讲话\n同志们：\n今天召开会议，主要任务是部署{}工作。\n"
CONTENTS = [
    BASE.format(topic).encode() for topic in ("安全生产", "防汛抗旱", "招商引资", "乡村振兴", "环境整治")
]
NAMES = ["a.txt", "b.txt", "c.txt", "sub/d.txt"]
# Every write gets an mtime of its own, in the past, one second after the previous one.
EPOCH = time.time() - 10 * 86400


class DropFolder(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="docclean-model-"))
        self.raw = self.tmp / "raw"
        (self.raw / "sub").mkdir(parents=True)
        self.curated = self.tmp / "curated"
        self.files: dict[str, bytes] = {}  # what raw/ holds
        self.clock = 0
        # After the last run: path -> (content the row must hold, size, mtime_ns, doc_id, present)
        self.rows: dict[str, tuple[bytes, int, int, str, bool]] = {}
        self.text_of: dict[str, str] = {}  # sha256 -> the clean text, the same whenever it is cleaned

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _write(self, name: str, data: bytes, mtime_ns: int | None = None) -> None:
        path = self.raw / name
        path.write_bytes(data)
        if mtime_ns is None:
            self.clock += 1
            mtime_ns = int((EPOCH + self.clock) * 1e9)
        os.utime(path, ns=(mtime_ns, mtime_ns))
        self.files[name] = data

    @rule(name=st.sampled_from(NAMES), content=st.sampled_from(CONTENTS))
    def drop(self, name: str, content: bytes) -> None:
        if name not in self.files:
            self._write(name, content)

    @rule(name=st.sampled_from(NAMES), content=st.sampled_from(CONTENTS))
    def change(self, name: str, content: bytes) -> None:
        if name in self.files:
            self._write(name, content)

    @rule(name=st.sampled_from(NAMES), content=st.sampled_from(CONTENTS))
    def rewrite_keeping_size_and_mtime(self, name: str, content: bytes) -> None:
        if name in self.files and len(content) == len(self.files[name]):
            self._write(name, content, (self.raw / name).stat().st_mtime_ns)

    @rule(old=st.sampled_from(NAMES), new=st.sampled_from(NAMES))
    def rename(self, old: str, new: str) -> None:
        if old in self.files and new not in self.files:
            os.rename(self.raw / old, self.raw / new)
            self.files[new] = self.files.pop(old)

    @rule(source=st.sampled_from(NAMES), over=st.sampled_from(NAMES))
    def copy_over(self, source: str, over: str) -> None:
        # `cp source over` onto an existing file: the row of `over` takes the content of source's.
        if source in self.files and over in self.files and source != over:
            self._write(over, self.files[source])

    @rule(one=st.sampled_from(NAMES), other=st.sampled_from(NAMES))
    def swap(self, one: str, other: str) -> None:
        if one in self.files and other in self.files and one != other:
            os.rename(self.raw / one, self.raw / "swap.tmp")
            os.rename(self.raw / other, self.raw / one)
            os.rename(self.raw / "swap.tmp", self.raw / other)
            self.files[one], self.files[other] = self.files[other], self.files[one]

    @rule(name=st.sampled_from(NAMES))
    def delete(self, name: str) -> None:
        if name in self.files:
            (self.raw / name).unlink()
            del self.files[name]

    @rule(mode=st.sampled_from(["plain", "plain", "prune", "verify"]))
    def run(self, mode: str) -> None:
        stats = {name: (self.raw / name).stat() for name in self.files}
        summary = curate(
            raw=str(self.raw),
            curated=str(self.curated),
            settle_seconds=0,
            prune=mode == "prune",
            verify=mode == "verify",
        )
        table = ds.dataset(self.curated / "documents", format="parquet").to_table().to_pylist()
        assert_one_row_per_document(table)
        found = {row["source_path"]: row for row in table}
        present = {path for path, row in found.items() if row["source_present"]}
        assert present == set(self.files), summary
        gone = set(self.rows) - set(self.files)
        missing = set(found) - present
        if mode == "prune":
            assert not missing
        # A file gone since keeps its row as missing, unless a file with its content took the row over (a rename).
        assert missing <= gone
        taken_over = {self.rows[path][0] for path in gone - missing}
        assert taken_over <= {self.files[path] for path in present}
        vanished_ids = {self.rows[p][3] for p in set(self.rows) - set(self.files)}
        rows: dict[str, tuple[bytes, int, int, str, bool]] = {}
        for path, row in found.items():
            if path not in self.files:
                content, size, mtime, doc_id, _ = self.rows[path]
                assert row["doc_id"] == doc_id
                rows[path] = (content, size, mtime, doc_id, False)
                continue
            info = stats[path]
            earlier = self.rows.get(path)
            # The quick path trusts size and mtime; only --verify looks at a file they match.
            quick = (
                earlier is not None and earlier[1:3] == (info.st_size, info.st_mtime_ns) and mode != "verify"
            )
            content = earlier[0] if quick else self.files[path]
            sha = hashlib.sha256(content).hexdigest()
            assert row["source_sha256"] == sha, (path, mode)
            assert self.text_of.setdefault(sha, row["text"]) == row["text"]
            if earlier is not None:
                # A file keeps its id, or takes over the id of a file renamed onto it.
                assert row["doc_id"] == earlier[3] or row["doc_id"] in vanished_ids
            rows[path] = (content, info.st_size, info.st_mtime_ns, row["doc_id"], True)
        self.rows = rows
        if table:
            assert_corpus_agrees(self.curated)

    @invariant()
    def raw_holds_what_the_model_says(self) -> None:
        on_disk = {str(path.relative_to(self.raw)) for path in self.raw.rglob("*") if path.is_file()}
        assert on_disk == set(self.files)


@pytest.mark.usefixtures("prefect_harness")
def test_random_histories_keep_one_row_per_document() -> None:
    run_state_machine_as_test(
        DropFolder,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
