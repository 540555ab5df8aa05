"""`docclean serve`: the curate flow as a Prefect deployment on a cron schedule, plus a drop-folder watcher.

A watcher event is only a wake-up call: every run processes everything pending in raw/, so a
missed or doubled event does no harm, and the cron schedule is the safety net.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from types import FrameType

from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.deployments.runner import EntrypointType
from prefect.runner import Runner

from flows.curate import curate
from flows.storage import is_url

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

logger = logging.getLogger("docclean.serve")


class DropFolderWatcher(threading.Thread):
    """Wakes the deployment when files land in raw/, at most one queued run at a time."""

    def __init__(self, raw: Path, parameters: dict[str, object]) -> None:
        super().__init__(name="docclean-watcher", daemon=True)
        self.raw = raw
        self.parameters = parameters
        self.stop_event = threading.Event()
        self.triggered = 0
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
        self.triggered += 1
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
    and exits at once. A KeyboardInterrupt unwinds `start` instead, which shuts down cleanly.
    """

    def handle_sigterm(self, signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt


def serve_curate(parameters: dict[str, object], cron: str = DEFAULT_CRON, watch: bool = True) -> None:
    deployment = curate.to_deployment(
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
