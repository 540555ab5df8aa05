"""`docclean serve`: the curate flow as a Prefect deployment on a cron schedule, plus a drop-folder watcher.

A watcher event is only a wake-up call: every run processes everything pending in raw/, so a
missed or doubled event does no harm, and the cron schedule is the safety net.

Anyone who can reach the Prefect API can start a run of the deployment with parameters of their
choosing. The served flow therefore runs only at the locations it was configured with: the
folders `docclean serve` was started with, or those listed in DOCCLEAN_SERVED in the worker's
environment for a deployment made from prefect.yaml. The list lives in the environment of the
process that runs the flow, which the API cannot change.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.deployments.runner import EntrypointType
from prefect.runner import Runner

from docclean.errors import DoccleanError
from docclean.layout import is_url
from flows.curate import curate
from flows.summary import RunSummary

DEPLOYMENT_NAME = "docclean"
FULL_DEPLOYMENT_NAME = f"curate/{DEPLOYMENT_NAME}"
# Every ten minutes: frequent enough that a forgotten file waits little, rare enough that a
# run over an unchanged folder (which writes nothing) costs nothing worth noticing.
DEFAULT_CRON = "*/10 * * * *"
# The watcher wakes a run after the folder has been quiet this long (the scan's settle time,
# so what was dropped is complete when the run looks), or after MAX_GROUP_MS of constant
# activity, so a slow copy of many files still gets curated in pieces.
QUIET_MS = 2500
MAX_GROUP_MS = 60_000

# The environment variable that lists, per parameter, the values a served run may be given:
# {"raw": ["/data/raw"], "curated": ["/data/curated"], "rules_file": [null], "address": [null]}.
SERVED_VARIABLE = "DOCCLEAN_SERVED"
# The parameters that name what a run reads, writes or connects to. An omitted one allows only
# its default: no rules file, no Dask scheduler.
PINNED_PARAMETERS = ("raw", "curated", "rules_file", "address")

logger = logging.getLogger("docclean.serve")


class ServeRefusedError(DoccleanError):
    """A served run was asked to read, write or connect somewhere it was not configured for."""


# What a served run does besides the user's options: it waits for a manual run instead of failing
# on the lock, and rewrites the HTML report its run report links to.
SERVED_DEFAULTS: dict[str, object] = {"wait_seconds": 600.0, "html_report": True}


def served_parameters(parameters: dict[str, object]) -> dict[str, object]:
    """The deployment's parameters for the curate flow's `parameters`: folders made absolute, since a
    served run starts in another working directory (URLs kept), and SERVED_DEFAULTS added."""
    located = {
        name: None if parameters.get(name) is None else _absolute(str(parameters[name]))
        for name in ("raw", "curated", "rules_file")
    }
    return {**parameters, **located, **SERVED_DEFAULTS}


def _absolute(location: str) -> str:
    return location if is_url(location) else str(Path(location).resolve())


def served_locations(parameters: dict[str, object]) -> str:
    """The DOCCLEAN_SERVED value that allows exactly these parameters' locations (JSON)."""
    return json.dumps({name: [parameters.get(name)] for name in PINNED_PARAMETERS})


def _normal(value: object) -> object:
    # Folders compare as absolute paths, so that "raw" and "./raw/" are the same folder; URLs as written.
    if isinstance(value, str) and not is_url(value):
        return str(Path(value).resolve())
    return value


def check_served_parameters(parameters: dict[str, object]) -> None:
    """Refuse a served run whose locations are not those listed in DOCCLEAN_SERVED.

    Raises ServeRefusedError, naming the parameter, its value and what is allowed.
    """
    listed = os.environ.get(SERVED_VARIABLE)
    try:
        allowed = json.loads(listed) if listed else None
        if not isinstance(allowed, dict) or not all(isinstance(v, list) for v in allowed.values()):
            raise ValueError
    except ValueError:
        raise ServeRefusedError(
            f"This deployment runs only at the locations it is configured for, and {SERVED_VARIABLE} does not "
            'list them: set it in the environment of the process that runs the flow, e.g. {"raw": ["/data/raw"], '
            '"curated": ["/data/curated"]}, or start it with `docclean serve`.'
        ) from None
    for name in PINNED_PARAMETERS:
        permitted = allowed.get(name, [None])
        if _normal(parameters.get(name)) not in [_normal(value) for value in permitted]:
            shown = ", ".join("none" if value is None else repr(value) for value in permitted)
            raise ServeRefusedError(
                f"This deployment refuses {name}={parameters.get(name)!r}: it runs only with {name} {shown}, "
                f"as it was started (or as {SERVED_VARIABLE} lists). Start `docclean serve` with the location "
                "you want instead."
            )


def served_curate(**parameters: Any) -> RunSummary:
    """The curate flow as a deployment runs it: the same parameters, only at the configured locations."""
    check_served_parameters(parameters)
    return curate.fn(**parameters)


# The served flow has curate's signature: Prefect checks a run's parameters against it (names,
# types, the deployment's parameter schema), and calls the function with them by name. The name
# and module stay served_curate's, so that a deployment's entrypoint leads here, not to curate.
served_curate.__signature__ = inspect.signature(curate.fn, eval_str=True)  # type: ignore[attr-defined]
served_curate = flow(name="curate", log_prints=False, persist_result=False)(served_curate)


class DropFolderWatcher(threading.Thread):
    """Wakes the deployment when files land in raw/, at most one queued run at a time."""

    def __init__(self, raw: Path, parameters: dict[str, object]) -> None:
        super().__init__(name="docclean-watcher", daemon=True)
        self.raw = raw
        self.parameters = parameters
        self.stop_event = threading.Event()
        self._queued_run_id: object | None = None

    def run(self) -> None:
        from watchfiles import watch

        self._wait_for_deployment()
        self.wake()  # what was dropped while serve was not running
        for _changes in watch(
            self.raw,
            debounce=MAX_GROUP_MS,
            step=QUIET_MS,
            stop_event=self.stop_event,
            recursive=True,
            raise_interrupt=False,
        ):
            self.wake()

    def _wait_for_deployment(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        while not self.stop_event.is_set():
            try:
                with get_client(sync_client=True) as client:
                    client.read_deployment_by_name(FULL_DEPLOYMENT_NAME)
                return
            except ObjectNotFound:
                self.stop_event.wait(0.5)

    def wake(self) -> None:
        if self._run_still_queued():
            return  # the queued run has not started yet: it will see these files too
        flow_run = run_deployment(
            FULL_DEPLOYMENT_NAME,
            parameters=self.parameters,
            timeout=0,
            flow_run_name=None,
            tags=["drop-folder"],
        )
        self._queued_run_id = flow_run.id
        logger.info("Files dropped in %s: started curate run %s.", self.raw, flow_run.name)

    def _run_still_queued(self) -> bool:
        if self._queued_run_id is None:
            return False
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            state = client.read_flow_run(self._queued_run_id).state
        return state is not None and state.type in (StateType.SCHEDULED, StateType.PENDING)

    def stop(self) -> None:
        self.stop_event.set()


class _Runner(Runner):
    """Prefect's runner, stopped by SIGTERM the way Ctrl-C stops it.

    Prefect's own SIGTERM handler calls the runner's `stop` inside the running event loop, where
    it only makes a coroutine that nobody awaits ("coroutine 'Runner.astop' was never awaited"),
    and exits at once. SIGINT is what Ctrl-C sends: `asyncio.run` cancels the runner's task on it
    and unwinds `start`, which shuts down cleanly. Raising KeyboardInterrupt here instead would
    surface inside whatever event-loop callback the signal interrupted, as a logged traceback.
    """

    def handle_sigterm(self, signum: int, frame: FrameType | None) -> None:
        signal.raise_signal(signal.SIGINT)


def serve_curate(parameters: dict[str, object], cron: str = DEFAULT_CRON, watch: bool = True) -> None:
    # Inherited by the processes the served runner starts for each run, and beyond the API's reach.
    os.environ[SERVED_VARIABLE] = served_locations(parameters)
    deployment = served_curate.to_deployment(
        name=DEPLOYMENT_NAME,
        cron=cron,
        parameters=parameters,
        description="Curate the raw folder into the Parquet dataset.",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    # Object storage sends no change events docclean could watch: there, the schedule picks files up.
    local_raw = not is_url(str(parameters["raw"]))
    watcher = DropFolderWatcher(Path(str(parameters["raw"])), parameters) if watch and local_raw else None
    if watcher:
        watcher.start()
    try:
        # pause_on_shutdown=False: stopping serve must not leave the schedule paused for the
        # next start (Prefect pauses it by default).
        runner = _Runner(pause_on_shutdown=False, limit=1)
        runner.add_deployment(deployment)
        asyncio.run(runner.start())
    finally:
        if watcher:
            watcher.stop()
