"""Child processes that end with the docclean process that started them, even when it is killed outright.

A run killed with SIGKILL (or by the OOM killer) runs no exit handler, so nothing it does at exit
can stop its children. On Linux the kernel can: a child that asked with PR_SET_PDEATHSIG gets a
signal when its parent dies. The temporary Prefect server and the cleaning workers both ask.

The cleaning workers are spawned (a fresh interpreter each), not forked from the run: a forked
worker holds copies of every descriptor the run had open, the curated folder's lock among them
(an flock lock belongs to the open file, which the copies share), so a worker outliving a killed
run kept every later run locked out. A fork server would spare each worker its imports (0.75 s of
CPU), but every worker it forks holds the write end of the pipe whose closing tells the fork server
that the run has died: it never learns it, and its workers live on.

A cleaning process gives the memory it freed back to the system after each call (release_memory),
so that it holds about its live data between batches and parts, not the high-water mark of each.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from functools import cache
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# linux/prctl.h
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask the kernel to send this process SIGTERM when its parent dies (Linux only; elsewhere nothing).

    `parent_pid`, the parent's process id as the parent saw it, closes the race in which the
    parent died before the request: then this process ends at once. Safe between fork and exec.
    """
    if sys.platform != "linux":
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_started() -> None:
    # Ctrl-C reaches every process of the terminal's group: the run's own process alone handles
    # it (ending the run with one line); a worker just ends with the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    run = multiprocessing.parent_process()
    if run is not None and not run.is_alive():  # the run died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
    use_system_allocator()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS, Windows)."""
    if sys.platform != "linux":
        return None
    return getattr(ctypes.CDLL(None), "malloc_trim", None)


def use_system_allocator() -> None:
    """Arrow's buffers from now on from the C library's malloc, not the mimalloc pyarrow bundles,
    in this process; nothing when ARROW_DEFAULT_MEMORY_POOL chooses a pool.

    mimalloc keeps the pages each thread freed for that thread's next allocations: a batch of 500
    documents of the benchmark's corpus (8 MB) peaked 40 MB higher with it, and was cleaned no faster.
    """
    import pyarrow as pa

    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())


def release_memory() -> None:
    """Give the memory this process freed back to the system: Arrow's pool, then the C heap.

    Both keep what a batch or a part freed, for reuse: a cleaning process that has cleaned
    batches and then read and rewritten parts holds the high-water mark of each, each in its own
    pages, while what it holds live between two of them is a fraction. Costs a few milliseconds.
    """
    import pyarrow as pa  # here: the CLI starts its Prefect server through this module before any Arrow

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def released(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`function(*args, **kwargs)`, then release_memory(), whatever it raises."""
    try:
        return function(*args, **kwargs)
    finally:
        release_memory()


class CleaningPool(ProcessPoolExecutor):
    """A process pool whose worker gives freed memory back (release_memory) after each call it runs."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(released, fn, *args, **kwargs)


class _CleaningProcess(multiprocessing.context.SpawnProcess):
    """A spawned cleaning process that ends as soon as its pool lets it go.

    Its work is on disk when each call returns (part files closed, results sent back): tearing
    down its interpreter (every module, rule table and freed batch) would only keep the run
    waiting, 0.4 s at the pool's shutdown after a run of 2,000 documents.
    """

    def run(self) -> None:
        super().run()  # the pool's worker loop: returns once the pool shuts down
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


class _CleaningContext(multiprocessing.context.SpawnContext):
    Process = _CleaningProcess


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` cleaning processes that inherit no descriptor and die with the run.

    The processes start now, from the calling thread (the flow's, which lasts as long as the
    run): the kernel sends the parent-death signal when the thread that created a child ends,
    and a pool left to itself would create them from whichever task thread submits first.
    """
    pool = CleaningPool(max_workers=workers, mp_context=_CleaningContext(), initializer=_worker_started)
    # A worker is spawned per submission while none is idle: one trivial call per worker starts them all.
    for _ in range(workers):
        pool.submit(int)
    return pool
