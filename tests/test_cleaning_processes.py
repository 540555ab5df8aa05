"""Where a run cleans (flows.batches.cleaning_process_count) and what its cleaning processes give back
(flows.processes.release_memory)."""

from __future__ import annotations

import atexit
import multiprocessing
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from flows import batches
from flows import curate as curate_module
from flows.batches import BATCH_FILES, IN_PROCESS_BYTES, cleaning_process_count
from flows.plan import Plan
from flows.processes import release_memory, released, use_system_allocator, worker_pool
from flows.scan import RawEntry
from flows.storage import parse_location
from tests.conftest import SAMPLES_DIR
from tests.test_corpus import _corpus_state, _without_run_times, rows, run, speech
from tests.test_s3 import put, s3fs, what


def _plan(files: int, size: int = 100) -> Plan:
    entries = [RawEntry(f"{i}.txt", parse_location(f"/raw/{i}.txt"), size, 0) for i in range(files)]
    return Plan(to_clean=entries)


@pytest.mark.parametrize(
    ("workers", "files", "size", "processes"),
    [
        (None, 0, 0, 0),
        (1, 0, 0, 0),
        (3, 0, 0, 0),  # nothing to clean: no process
        (None, 1, IN_PROCESS_BYTES, 0),
        (1, 4 * BATCH_FILES, 100, 0),  # a few files or many small ones: the flow's process
        (None, 1, IN_PROCESS_BYTES + 1, 1),
        (1, 3, IN_PROCESS_BYTES // 2, 1),  # more bytes: one process of its own
        (2, 1, 100, 2),
        (3, 3, IN_PROCESS_BYTES, 3),
    ],
)
def test_a_run_starts_a_cleaning_process_per_worker_and_one_for_one_worker_past_its_bytes(
    workers: int | None, files: int, size: int, processes: int
) -> None:
    assert cleaning_process_count(workers, _plan(files, size)) == processes


def test_on_dask_the_cluster_cleans_and_the_run_starts_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batches, "on_dask", lambda: True)
    for workers in (None, 1, 2):
        assert cleaning_process_count(workers, _plan(3, IN_PROCESS_BYTES)) == 0


@pytest.mark.usefixtures("prefect_harness")
def test_the_processes_workers_ask_for_start_before_the_scan_and_end_with_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started before the scan, their imports overlap it; a run that then finds nothing to clean
    ends them all the same. Two runs with --workers 2 (two processes' imports): seconds."""
    events: list[str] = []
    real_pool, real_scan = batches.worker_pool, curate_module.scan_step
    monkeypatch.setattr(
        batches, "worker_pool", lambda count: events.append(f"pool {count}") or real_pool(count)
    )
    monkeypatch.setattr(curate_module, "scan_step", lambda *a: events.append("scan") or real_scan(*a))
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
    run(raw, tmp_path / "curated", workers=2)
    assert len(rows(tmp_path / "curated")) == 3
    summary = run(raw, tmp_path / "curated", workers=2)  # nothing new
    assert summary.corpus is None
    assert events == ["pool 2", "scan", "pool 2", "scan"]
    assert multiprocessing.active_children() == []


@pytest.mark.usefixtures("prefect_harness")
def test_one_worker_past_its_bytes_cleans_in_a_process_of_its_own_and_gives_the_same_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two drops, the second making a line boilerplate, so that the corpus pass's jobs run in the
    cleaning process too: the dataset and the corpus state are those of a run that cleans in its
    own process. A threshold of one byte stands in for a large plan. Four runs, two of them
    starting a process (its imports): seconds."""
    started: list[int] = []
    real_pool = batches.worker_pool
    monkeypatch.setattr(batches, "worker_pool", lambda count: started.append(count) or real_pool(count))
    for name, in_process_bytes in (("child", 1), ("here", IN_PROCESS_BYTES)):
        monkeypatch.setattr(batches, "IN_PROCESS_BYTES", in_process_bytes)
        raw = tmp_path / name / "raw"
        raw.mkdir(parents=True)
        for i in range(3):
            (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
        run(raw, tmp_path / name / "curated", workers=1)
        for i in range(3, 9):
            (raw / f"{i:02d}.txt").write_text(speech(i), encoding="utf-8")
        summary = run(raw, tmp_path / name / "curated", workers=1)
        assert summary.corpus is not None and summary.corpus.recleaned == 3
    assert started == [1, 1]  # both runs past the threshold, none of the others
    child, here = tmp_path / "child" / "curated", tmp_path / "here" / "curated"
    assert _without_run_times(rows(child)) == _without_run_times(rows(here))
    for mine, theirs in zip(_corpus_state(child), _corpus_state(here), strict=True):
        assert mine.equals(theirs)


@pytest.mark.usefixtures("prefect_harness")
def test_a_process_of_its_own_reads_and_writes_object_storage_as_the_flows_process_does(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cleaning process takes the AWS_* variables from the run's environment: S3 to S3, the
    same dataset as a run that cleans in its own process. Two runs, one starting a process: seconds."""
    fs = s3fs(s3_endpoint)
    for sample in SAMPLES_DIR.glob("*.txt"):
        put(fs, f"{s3_bucket}/raw/{sample.name}", sample.read_bytes())
    started: list[int] = []
    real_pool = batches.worker_pool
    monkeypatch.setattr(batches, "worker_pool", lambda count: started.append(count) or real_pool(count))
    raw = f"s3://{s3_bucket}/raw"
    monkeypatch.setattr(batches, "IN_PROCESS_BYTES", 1)
    assert run(raw, f"s3://{s3_bucket}/child").cleaned == 5
    monkeypatch.setattr(batches, "IN_PROCESS_BYTES", IN_PROCESS_BYTES)
    assert run(raw, f"s3://{s3_bucket}/here").cleaned == 5
    assert started == [1]
    assert what(f"s3://{s3_bucket}/child") == what(f"s3://{s3_bucket}/here")


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; malloc_trim is glibc's")
def test_memory_freed_inside_the_heap_goes_back_to_the_system() -> None:
    """Blocks of the C heap freed between blocks still in use stay in the process until released."""
    blocks = [bytearray(4096) for _ in range(50_000)]  # 200 MB from malloc's heap, not mmap
    kept = blocks[::64]  # one block in 64 stays: the heap cannot shrink from its top
    del blocks
    held = _rss_bytes()
    assert released(len, kept) == len(kept)
    assert held - _rss_bytes() > 100 * 1024 * 1024


def test_release_memory_runs_after_a_call_that_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr("flows.processes.release_memory", lambda: calls.append("released"))

    def fails() -> None:
        raise ValueError("the batch failed")

    with pytest.raises(ValueError, match="the batch failed"):
        released(fails)
    assert calls == ["released"]
    release_memory()  # the real one, where this platform has it: no error


def _arrow_allocator() -> str:
    return pa.default_memory_pool().backend_name


def test_a_cleaning_process_takes_arrow_buffers_from_the_system_allocator() -> None:
    """A process of its own (its imports): two seconds."""
    pool = worker_pool(1)
    try:
        assert pool.submit(_arrow_allocator).result() == "system"
    finally:
        pool.shutdown()


def _write(path: Path, text: str) -> int:
    return path.write_text(text, "utf-8")


def _exit_at_teardown(path: Path) -> None:
    atexit.register(path.write_text, "torn down", "utf-8")


def test_a_cleaning_process_ends_without_tearing_down_its_interpreter(tmp_path: Path) -> None:
    """Its work is complete when a call returns; at the pool's shutdown it ends, status 0, skipping
    the interpreter's teardown (its exit handlers with it)."""
    pool = worker_pool(1)
    try:
        out, teardown = tmp_path / "part.txt", tmp_path / "teardown.txt"
        assert pool.submit(_write, out, "完整的内容" * 1000).result() == 5000
        pool.submit(_exit_at_teardown, teardown).result()
        processes = list(pool._processes.values())  # type: ignore[attr-defined]
    finally:
        pool.shutdown()
    for process in processes:
        process.join(10)
        assert process.exitcode == 0
    assert out.read_text("utf-8") == "完整的内容" * 1000
    assert not teardown.exists()


def test_an_allocator_chosen_in_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.mimalloc_memory_pool())
    except NotImplementedError:
        pytest.skip("this pyarrow was built without mimalloc")
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
    try:
        use_system_allocator()
        assert pa.default_memory_pool().backend_name == "mimalloc"
    finally:
        pa.set_memory_pool(before)
