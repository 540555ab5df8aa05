"""The CLI's progress bar hook for the curate flow.

A context variable rather than a flow parameter, because a deployment's parameters must be
JSON; in a module of its own, because the flow function is pickled by value when tasks run on
Dask and a context variable among its globals cannot be pickled (a module is pickled by name).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

hook: ContextVar[Callable[[int, int], None] | None] = ContextVar("docclean_progress_hook", default=None)
