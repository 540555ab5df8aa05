"""Where the cleaning batches run: in the flow's process (optionally a process pool), or on Dask.

On Dask, each worker runs its batch tasks through Prefect too, and reports them to the API the
worker's own settings name. With Prefect's embedded API that is nothing, so every worker would
start a temporary server of its own and its task runs would go missing from the UI (a known
Prefect issue). `shared_api` therefore gives the flow and the workers one API: the configured
server if there is one, else a temporary server whose address the workers inherit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from docclean.errors import DoccleanError

RUNNERS = ("local", "dask")


class RunnerError(DoccleanError):
    """The requested task runner cannot be used."""


def dask_task_runner(address: str | None, workers: int | None):  # -> prefect_dask.DaskTaskRunner
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as error:
        raise RunnerError(
            "The Dask runner needs prefect-dask: pip install 'docclean[dask]' (or pip install prefect-dask)."
        ) from error
    if address:
        return DaskTaskRunner(address=address)
    # One single-threaded worker process per core: cleaning is CPU-bound Python, so threads
    # inside a worker would only contend for its GIL.
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers or os.cpu_count() or 1,
            "threads_per_worker": 1,
            "processes": True,
        }
    )


@contextlib.contextmanager
def shared_api(address: str | None) -> Iterator[None]:
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    if address:
        raise RunnerError(
            f"Workers of the Dask cluster at {address} must report to the same Prefect API as this client: "
            "set PREFECT_API_URL (for example to a server started with `prefect server start`) here and on the workers."
        )
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    server.start()
    # Set in the environment too: the LocalCluster's worker processes inherit it when they start.
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield
    finally:
        del os.environ["PREFECT_API_URL"]
        server.stop()
