"""What each `docclean` command does beyond its arguments: one function per command the CLI calls.

The CLI (docclean_cli) parses and checks arguments, calls one of these, and prints what it returns.
Everything about Prefect happens here: its environment (home, telemetry, log level), the Prefect
server docclean starts itself, the task runner, the flow run and its interruption.

Light on purpose at import: `docclean run` launches its temporary Prefect server before Prefect,
pyarrow or the cleaning core are imported, so that the server boots while the rest loads.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from docclean import DEFAULT_PLACEHOLDER_TOKEN
from docclean.errors import DoccleanError
from docclean.layout import is_url
from docclean.terminal import shown

if TYPE_CHECKING:
    from docclean.report import DatasetSummary
    from flows.server import TemporaryPrefectServer
    from flows.summary import RunSummary


@dataclass(frozen=True)
class CurateOptions:
    """What `docclean run` and `docclean serve` give every curate run (the flow's parameters, as typed)."""

    raw: str = "raw"
    curated: str = "curated"
    rules: str | None = None
    mask_token: str = DEFAULT_PLACEHOLDER_TOKEN
    keep_script: bool = False
    languages: list[str] | None = None
    workers: int | None = None
    runner: str = "local"
    address: str | None = None

    def flow_parameters(self) -> dict[str, object]:
        """The curate flow's parameters these options set (docclean.pipeline is loaded by then)."""
        from docclean.pipeline import DEFAULT_SCRIPT_CONVERSION

        return {
            "raw": self.raw,
            "curated": self.curated,
            "rules_file": self.rules,
            "placeholder_token": self.mask_token,
            "script_conversion": None if self.keep_script else DEFAULT_SCRIPT_CONVERSION,
            "languages": self.languages,
        }


@dataclass(frozen=True)
class RunResult:
    """A finished `docclean run`: its summary, and the dataset it wrote."""

    summary: RunSummary
    curated: str

    def locations(self) -> dict[str, str]:
        """Where the current snapshot's two tables are (folders or URLs): `documents` and `rejects`."""
        from flows.dataset import current_url

        return {table: current_url(self.curated, table) for table in ("documents", "rejects")}


class RunInterrupted(DoccleanError):
    """A run ended by SIGINT or SIGTERM: before its commit, the dataset is unchanged and its finished
    batches are kept; after it (`written`), the dataset is the run's."""

    def __init__(self, signum: int, kept_batches: int, written: bool = False) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
        self.kept_batches = kept_batches
        self.written = written


def no_telemetry() -> None:
    """Prefect's telemetry off, in this process and the servers it starts.

    docclean promises no network beyond the user's own servers: Prefect's server heartbeat
    (which also printed "database is locked" on the temporary API) and its client's usage events
    and first-start notice are both off. DO_NOT_TRACK is the client's switch.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def _quiet_prefect() -> None:
    # INFO logs would bury the summary a user reads.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


def run(
    options: CurateOptions,
    *,
    prune: bool = False,
    settle_seconds: float | None = None,
    wait_seconds: float = 0.0,
    max_file_bytes: int | None = None,
    verify: bool = False,
    verbose: bool = False,
    progress_bar: Callable[[], contextlib.AbstractContextManager[Callable[[int, int], None]]] | None = None,
) -> RunResult:
    """`docclean run`: one curate flow run, on a temporary Prefect server unless PREFECT_API_URL names one.

    `settle_seconds` and `max_file_bytes` None take the flow's defaults. `progress_bar` makes the
    context in which the run reports its progress. Ctrl-C or SIGTERM interrupt the run where it
    is and raise RunInterrupted (further signals are ignored, so the temporary server stops
    cleanly); the batches that finished are kept for the next run. Raises what the flow raises.
    """
    no_telemetry()
    with _interruptible(options.curated, verbose):
        if not verbose:
            _quiet_prefect()
        from flows.server import TemporaryPrefectServer, use_state_home

        use_state_home()
        # Launched before Prefect is imported, so that it boots while the rest loads.
        server = None if os.environ.get("PREFECT_API_URL") else TemporaryPrefectServer()
        if server is not None:
            server.launch()
        _load_run_modules()
        try:
            parameters = {
                **options.flow_parameters(),
                "prune": prune,
                "wait_seconds": wait_seconds,
                "verify": verify,
                **({} if settle_seconds is None else {"settle_seconds": settle_seconds}),
                **({} if max_file_bytes is None else {"max_file_bytes": max_file_bytes}),
            }
            summary = _run_flow(options, parameters, server, verbose, progress_bar)
        finally:
            if server is not None:
                server.stop()
                os.environ.pop("PREFECT_API_URL", None)
    return RunResult(summary, options.curated)


def _load_run_modules() -> None:
    """Import what every run loads (Prefect, the flow, the cleaning core) with the cyclic GC off, then freeze it.

    Loading them makes some 200,000 objects that live as long as the process: the collector would
    walk them again and again while they load, and at every full collection of the run after.
    Frozen, it never looks at them again; what the run itself makes is collected as before.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        # Prefect loads FastAPI's encoder only when the flow is called, to send its parameters;
        # loaded here, it loads while a temporary server is still booting.
        import fastapi.encoders  # noqa: F401

        import flows.curate  # noqa: F401
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _run_flow(
    options: CurateOptions,
    parameters: dict[str, object],
    server: TemporaryPrefectServer | None,
    verbose: bool,
    progress_bar: Callable[[], contextlib.AbstractContextManager[Callable[[int, int], None]]] | None,
) -> RunSummary:
    from docclean.rules import load_rules

    load_rules(Path(options.rules) if options.rules else None)  # a bad rules file fails before Prefect runs
    from flows import progress
    from flows.curate import curate
    from flows.runners import check_shared_api, dask_task_runner
    from flows.server import adopt_temporary_server, temporary_api_settings

    temporary_api = server is not None and adopt_temporary_server(server)
    flow_run = curate
    if options.runner == "dask":
        check_shared_api(options.address, temporary_api)
        flow_run = curate.with_options(task_runner=dask_task_runner(options.address, options.workers))
    settings = temporary_api_settings() if temporary_api else contextlib.nullcontext()
    bar = progress_bar() if progress_bar is not None else contextlib.nullcontext(None)
    quiet = contextlib.nullcontext() if verbose else _reported_by_the_cli_off_the_terminal()
    with settings, quiet, bar as advance:
        token = progress.hook.set(advance)
        try:
            # On Dask the cluster is the parallelism: no process pool inside a batch.
            return flow_run(**parameters, workers=options.workers or 1 if options.runner == "local" else 1)
        finally:
            progress.hook.reset(token)


@contextlib.contextmanager
def _reported_by_the_cli_off_the_terminal() -> Iterator[None]:
    """Keep off Prefect's console handler what the CLI says itself; every other record passes.

    The flow's per-file reject notices: the summary counts the rejects and names curated/rejects.
    Prefect's record of a DoccleanError that ends the run (`Another docclean run is writing…`),
    a traceback: the CLI prints its message as its one line. Both stay in the run's log.
    """
    from prefect.logging.handlers import PrefectConsoleHandler

    from flows.summary import REJECT_NOTICE

    def keep(record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not getattr(record, REJECT_NOTICE, False) and not isinstance(error, DoccleanError)

    consoles = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    for handler in consoles:
        handler.addFilter(keep)
    # Prefect's event and log workers flush at the run's end and at exit, after this context:
    # their filter stays (adding it twice adds it once).
    for name in _FLUSHING_WORKERS:
        logging.getLogger(name).addFilter(_drop_flush_progress)
    try:
        yield
    finally:
        for handler in consoles:
            handler.removeFilter(keep)


# Loggers of Prefect's background services (prefect._internal.concurrency.services), named after
# their classes, which warn `Still processing items: 1 items remaining...` while they flush.
_FLUSHING_WORKERS = ("EventsWorker", "APILogWorker")


def _drop_flush_progress(record: logging.LogRecord) -> bool:
    # A worker sending its last events is no news for the person who ran the command.
    return not record.getMessage().startswith("Still processing items:")


def _drop_signal_crash(record: logging.LogRecord) -> bool:
    # Prefect's wording for a run ended by SIGTERM or SIGINT, and for the batch it was cleaning,
    # which its task runner cancels (prefect.states.exception_to_crashed_state).
    message = record.getMessage()
    crash = message.startswith(("Crash detected!", "Finished in state Crashed("))
    by_signal = (
        "aborted by a" in message and "signal" in message
    ) or "Task run cancelled by the task runner" in message
    return not (crash and by_signal)


@contextlib.contextmanager
def _interruptible(curated: str, verbose: bool) -> Iterator[None]:
    """Turn the first SIGINT or SIGTERM into RunInterrupted, naming how many batches the run keeps."""
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        for name in (signal.SIGINT, signal.SIGTERM):
            signal.signal(name, signal.SIG_IGN)
        if not verbose:
            # Prefect logs the interruption as a crash, and its log worker reports the logs it
            # cannot ship to the temporary server being stopped (through `raiseExceptions`):
            # the one line the CLI prints says what happened instead.
            logging.disable(logging.CRITICAL)
            logging.raiseExceptions = False
        raise KeyboardInterrupt

    previous = {name: signal.signal(name, interrupt) for name in (signal.SIGINT, signal.SIGTERM)}
    raise_exceptions = logging.raiseExceptions
    # During a flow run Prefect takes SIGTERM itself, logs the run as crashed, then hands the
    # signal on to `interrupt`: that crash record is the interruption the one line reports.
    run_loggers = [logging.getLogger("prefect.flow_runs"), logging.getLogger("prefect.task_runs")]
    if not verbose:
        for logger in run_loggers:
            logger.addFilter(_drop_signal_crash)
    interrupted = False
    before = _current_snapshot(curated)
    try:
        yield
    except BaseException:
        if not received:
            raise
        interrupted = True
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)
        if not received:  # interrupted, the process ends quiet: Prefect's workers flush at exit
            logging.disable(logging.NOTSET)
            logging.raiseExceptions = raise_exceptions
            for logger in run_loggers:
                logger.removeFilter(_drop_signal_crash)
    if interrupted:
        from flows.dataset import open_store

        written = _current_snapshot(curated) != before
        raise RunInterrupted(received[0], open_store(curated).kept_batches(), written)


def _current_snapshot(curated: str) -> str | None:
    """Where the dataset's current snapshot is (None: none, or it cannot be told): a run that
    moved it committed, whatever stopped it after."""
    from flows.dataset import open_store

    try:
        current = open_store(curated).current()
    except (DoccleanError, OSError):
        return None
    # Its URL, not the Location: that holds its backend object, another one at every call.
    return None if current is None else current.url


def use_api(url: str) -> None:
    """Point Prefect at the API at `url`, in this process (every thread: the runner's, the watcher's)
    and the processes it starts.

    Prefect reads its settings when it is imported, into a process-wide context that threads
    without one of their own fall back to: when it is imported already (the --cron check loads
    its croniter), that context is read again, or the runner's threads would start temporary
    servers of their own and lose every scheduled run ("Flow run not found").
    """
    os.environ["PREFECT_API_URL"] = url
    if "prefect" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def serve(
    options: CurateOptions,
    *,
    cron: str | None = None,
    watch: bool = True,
    port: int | None = None,
    state_dir: str,
    say: Callable[[str], None],
) -> None:
    """`docclean serve`: the curate deployment on `cron` (and the drop-folder watcher) until Ctrl-C or SIGTERM.

    Starts a local Prefect server with its state in `state_dir` unless PREFECT_API_URL names one;
    `say` prints each status line (the server, the UI, what is served). Returns when stopped.
    """
    no_telemetry()
    from docclean.rules import load_rules

    load_rules(Path(options.rules) if options.rules else None)
    # The served runner looks for due runs this often; Prefect's 10 s default would make a
    # dropped file wait up to 10 s more before its run even starts.
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    from flows.server import LocalPrefectServer

    # A service manager stops serve with SIGTERM: treat it as Ctrl-C so the server is stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Started in the background by a script (`docclean serve &`), serve inherits SIGINT ignored:
    # the runner's event loop then takes no SIGINT, and SIGTERM, which the runner raises as
    # SIGINT (flows.serve), would not stop it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    server = None
    try:
        if not os.environ.get("PREFECT_API_URL"):
            local = LocalPrefectServer(Path(state_dir), port=port)
            local.claim()  # another serve on the same state folder is refused before anything starts
            server = local
            say(f"Starting a local Prefect server (state in {server.state_dir}) ...")
            server.start()
            use_api(server.api_url)
            say(f"Prefect UI: {server.ui_url}  (runs, logs and run reports are there)")
        else:
            say(f"Using the Prefect server at {os.environ['PREFECT_API_URL']}")
        from flows.serve import DEFAULT_CRON, serve_curate, served_parameters

        parameters = served_parameters(
            {
                **options.flow_parameters(),
                "workers": options.workers,
                "runner": options.runner,
                "address": options.address,
            }
        )
        cron = cron or DEFAULT_CRON
        watched = "" if not watch or is_url(options.raw) else f" and when files land in {shown(options.raw)}"
        say(f"Serving: curate runs on '{cron}'{watched}. Stop with Ctrl-C.")
        try:
            serve_curate(parameters, cron=cron, watch=watch)
        except* KeyboardInterrupt:
            pass  # Ctrl-C (or SIGTERM) is how serve is stopped; Prefect may wrap it in a group
    except KeyboardInterrupt:
        pass  # stopped before it served (while its server started): the server goes all the same
    finally:
        if server:
            server.stop()
            say("Stopped the local Prefect server.")


def snapshot_url(curated: str, table: str = "documents") -> str | None:
    """`docclean path`: where the current snapshot's `table` ("documents" or "rejects") is, a folder or a URL.

    None when `curated` holds no snapshot: it is no curated dataset.
    """
    from flows.dataset import current_url, open_store

    if not open_store(curated).has_snapshot():
        return None
    return current_url(curated, table)


def html_report(curated: str, out: str | None = None) -> tuple[str, DatasetSummary]:
    """`docclean report`: write the HTML page describing the dataset at `curated` (a folder or an s3:// URL)
    to `out` (default: report.html in the dataset); where it went and its summary."""
    from flows.dataset import write_report

    return write_report(curated, out)
