"""Child processes that end with the docclean process that started them, even when it is killed outright.

A run killed with SIGKILL (or by the OOM killer) runs no exit handler, so nothing it does at exit
can stop its children. On Linux the kernel can: a child that asked with PR_SET_PDEATHSIG gets a
signal when its parent dies. The temporary Prefect server and the cleaning workers both ask.

The cleaning workers are spawned (a fresh interpreter each), not forked from the run: a forked
worker holds copies of every descriptor the run had open, the curated folder's lock among them
(an flock lock belongs to the open file, which the copies share), so a worker outliving a killed
run kept every later run locked out. A fork server would spare each worker its imports (3 s of
CPU, most of it Prefect), but every worker it forks holds the write end of the pipe whose closing
tells the fork server that the run has died: it never learns it, and its workers live on.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

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


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` cleaning processes that inherit no descriptor and die with the run.

    The processes start now, from the calling thread (the flow's, which lasts as long as the
    run): the kernel sends the parent-death signal when the thread that created a child ends,
    and a pool left to itself would create them from whichever task thread submits first.
    """
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_started
    )
    # A worker is spawned per submission while none is idle: one trivial call per worker starts them all.
    for _ in range(workers):
        pool.submit(int)
    return pool
