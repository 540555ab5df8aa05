"""Where the cleaning batches run: in the flow's process (optionally a process pool), or on Dask.

On Dask, each worker runs its batch tasks through Prefect too, and reports them to the API the
worker's own settings name. With Prefect's embedded API that is nothing, so every worker would
start a temporary server of its own and its task runs would go missing from the UI (a known
Prefect issue). The flow and the workers therefore share one API: the configured server if
there is one, else the temporary server `docclean run` starts, whose address (PREFECT_API_URL
in the environment) the LocalCluster's workers inherit. Workers of an existing cluster cannot
reach that loopback server: `check_shared_api` says so before anything runs.
"""

from __future__ import annotations

import os

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


def check_shared_api(address: str | None, api_is_temporary: bool) -> None:
    """Workers of an existing cluster cannot reach a temporary API on this machine's loopback."""
    if address and api_is_temporary:
        raise RunnerError(
            f"Workers of the Dask cluster at {address} must report to the same Prefect API as this client: "
            "set PREFECT_API_URL (for example to a server started with `prefect server start`) here and on the workers."
        )
