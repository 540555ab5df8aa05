"""What a run's cleaning processes give back (flows.processes.release_memory)."""

from __future__ import annotations

import sys

import pytest

from flows.processes import release_memory, released


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
