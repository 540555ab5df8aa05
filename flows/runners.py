"""Where the cleaning batches run: in the flow's process (optionally a process pool), or on Dask.

On Dask, each worker runs its batch tasks through Prefect too, and reports them to the API the
worker's own settings name. With Prefect's embedded API that is nothing, so every worker would
start a temporary server of its own and its task runs would go missing from the UI (a known
Prefect issue). The flow and the workers therefore share one API: the configured server if
there is one, else the temporary server `docclean run` starts, whose address (PREFECT_API_URL
in the environment) the LocalCluster's workers inherit. An existing cluster's workers get the
client's API settings from a worker plugin registered with its scheduler (`share_prefect_api`),
whatever their own environment says. They cannot reach a temporary server on the client's
loopback, though: `check_shared_api` says so before anything runs.
"""

from __future__ import annotations

import os

from docclean.errors import DoccleanError

# Long enough for a scheduler across a network, short enough that a wrong address fails soon.
CONNECT_TIMEOUT_SECONDS = 30


def on_dask() -> bool:
    """Whether the flow run in progress (if any) runs its tasks on Dask."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context is not None and type(context.task_runner).__name__ == "DaskTaskRunner"


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
        share_prefect_api(address)
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


def prefect_api_environment() -> dict[str, str]:
    """This process's Prefect API settings (from the environment, a profile or a file) as variables."""
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    environment = {"PREFECT_API_URL": api.url} if api.url else {}
    if api.key is not None:
        environment["PREFECT_API_KEY"] = api.key.get_secret_value()
    if api.auth_string is not None:
        environment["PREFECT_API_AUTH_STRING"] = api.auth_string.get_secret_value()
    if api.tls_insecure_skip_verify:
        environment["PREFECT_API_TLS_INSECURE_SKIP_VERIFY"] = "true"
    return environment


def share_prefect_api(address: str) -> None:
    """Give every worker of the cluster at `address`, now and later, this process's Prefect API."""
    from distributed import Client

    from flows.dask_plugin import PrefectApiPlugin

    def installed_docclean() -> str | None:
        # Defined here so that it travels by value: it must run where docclean may be missing.
        from importlib import metadata

        try:
            return metadata.version("docclean")
        except metadata.PackageNotFoundError:
            return None

    try:
        with Client(address, timeout=CONNECT_TIMEOUT_SECONDS) as client:
            check_worker_versions(address, installed_docclean(), client.run(installed_docclean))
            client.register_plugin(PrefectApiPlugin(prefect_api_environment()), name=PrefectApiPlugin.name)
    except OSError as error:
        raise RunnerError(f"Cannot reach the Dask scheduler at {address}: {error}") from error


def check_worker_versions(address: str, client_version: str | None, workers: dict[str, str | None]) -> None:
    """Workers without docclean, or with another version, would fail or clean differently: say so first.

    Only the workers there now are checked: an adaptive cluster may have none yet.
    """
    odd = sorted(worker for worker, version in workers.items() if version != client_version)
    if odd:
        found = ", ".join(f"{worker} ({workers[worker] or 'not installed'})" for worker in odd)
        raise RunnerError(
            f"Every worker of the Dask cluster at {address} needs docclean {client_version}, as installed here; "
            f"these have another or none: {found}. Install it there: pip install 'docclean[dask]=={client_version}'."
        )
