"""Prefect servers that docclean starts itself, on loopback, when the user has not configured one.

- `LocalPrefectServer`, for `docclean serve`: Prefect's ephemeral API runs flows but schedules
  nothing, and cron runs need a real server with its scheduler service. This runs `prefect
  server start` with its database under a folder the user can see.
- `TemporaryPrefectServer`, for `docclean run`: the same temporary API Prefect starts by itself
  when PREFECT_API_URL is unset, but launched first thing, before Prefect is imported. Prefect
  launches it only when the flow first asks for a client, after importing its whole server
  package in the calling process (4 s on a 2-core machine) just to do so; launched first, the
  server boots while the CLI imports Prefect, pyarrow and opencc and compiles the rules, and the
  fixed cost of a run halves.

Both wait until the server answers and stop it cleanly.
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import fcntl
import functools
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from docclean.errors import DoccleanError
from flows.processes import die_with_parent

# The server migrates a new SQLite database on first start; on a 2-core machine that has taken
# 20 s idle and over a minute under load, so two minutes leave room without hanging forever.
# Later starts copy an empty database migrated once (TemporaryPrefectServer) and take seconds.
HEALTH_TIMEOUT_SECONDS = 120.0
# Every poll before the server answers is start-up time a user waits through.
HEALTH_POLL_SECONDS = 0.1
# How long `docclean serve` keeps finished runs in its server's database: a month of history.
SERVE_RETENTION_SECONDS = 30 * 24 * 3600
# uvicorn's exit status when its port was taken between our probe and its bind.
_PORT_IN_USE_STATUS = 3


# The lock a serve holds on its state folder, with its pid.
SERVE_LOCK = "serve.lock"


class ServerError(DoccleanError):
    """A local Prefect server could not be started."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _ServerProcess(abc.ABC):
    """A Prefect server in a child process of its own session, reached on a loopback port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_loopback_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @abc.abstractmethod
    def command(self) -> list[str]: ...

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)
        env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        return env

    @abc.abstractmethod
    def open_log(self) -> IO[bytes]:
        """Where the server's output goes; launch closes the returned handle once the child has it."""

    @abc.abstractmethod
    def describe_log(self) -> str:
        """Where to look (or what was printed) when the server failed."""

    def launch(self) -> None:
        """Start the server without waiting for it: `wait_healthy` does that."""
        with self.open_log() as log:
            self.process = subprocess.Popen(
                self.command(),
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self.preexec(),
            )

    def preexec(self) -> Callable[[], None] | None:
        """What the child runs between fork and exec; None for nothing."""
        return None

    def start(self) -> None:
        self.launch()
        self.wait_healthy()

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                if self.process.returncode == _PORT_IN_USE_STATUS:
                    self.port = free_loopback_port()
                    self.launch()
                    continue
                raise ServerError(
                    f"The local Prefect server exited with status {self.process.returncode}; "
                    f"{self.describe_log()}."
                )
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(HEALTH_POLL_SECONDS)
        self.stop()
        raise ServerError(
            f"The local Prefect server did not answer within {timeout:.0f} s; {self.describe_log()}."
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        flush_prefect_clients()
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class LocalPrefectServer(_ServerProcess):
    """`docclean serve`'s server, its state in `state_dir`, which one serve uses at a time: a second
    one on the same folder would share its database and replace its schedule (ServerError)."""

    def __init__(self, state_dir: Path, port: int | None = None) -> None:
        super().__init__(port)
        self.state_dir = state_dir.resolve()
        self.log_path = self.state_dir / "server.log"
        self._lock: IO[str] | None = None

    def claim(self) -> None:
        """Hold `SERVE_LOCK` in the state folder (flock) while this server lives, its pid in it;
        ServerError when another serve holds it. Done by `launch` if not before."""
        if self._lock is not None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.state_dir / SERVE_LOCK, "a+", encoding="utf-8")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise ServerError(
                f"Another docclean serve{f' (pid {holder})' if holder.isdigit() else ''} is using {self.state_dir}; "
                "stop it first, or give this one a --state-dir of its own."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update(
            PREFECT_HOME=str(self.state_dir),
            PREFECT_SERVER_API_HOST="127.0.0.1",
            PREFECT_SERVER_API_PORT=str(self.port),
        )
        # A cron run every ten minutes adds 50,000 runs a year: the vacuum service deletes runs
        # (and their logs and artifacts) older than its retention, unless the user chose otherwise.
        env.setdefault("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", "events,flow_runs")
        env.setdefault("PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD", str(SERVE_RETENTION_SECONDS))
        return env

    def open_log(self) -> IO[bytes]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_path, "ab")

    def launch(self) -> None:
        self.claim()
        # A new state folder starts from the empty database `docclean run` keeps, when there is
        # one: migrating a new database has taken a minute on a busy 2-core machine.
        database = self.state_dir / "prefect.db"
        template = state_home() / f"empty-{_prefect_version()}.db"
        if not database.exists() and template.is_file():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, database)
        super().launch()

    def describe_log(self) -> str:
        return f"see {self.log_path}"

    def stop(self) -> None:
        super().stop()
        if self._lock is not None:
            self._lock.close()  # the flock goes with the file
            self._lock = None


class TemporaryPrefectServer(_ServerProcess):
    """Prefect's temporary API (no UI, no services), as Prefect itself runs it, for one run.

    Its database lives as long as the run: a fresh copy of an empty, migrated template, deleted
    when the server stops, so Prefect's state neither grows from run to run nor keeps paths and
    reject details anywhere but the run's own folder (see `state_home`). The template is made
    once per Prefect version from the first run's database, taken as soon as the server answers
    and before the flow has written anything: migrating a new database costs seconds a copy does
    not. Stopped at interpreter exit at the latest: registered with atexit before Prefect is
    imported, it is stopped after Prefect's own exit handlers flush logs and events.
    """

    def __init__(self, port: int | None = None, home: Path | None = None) -> None:
        super().__init__(port)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - read when the server fails
        self.home = home or state_home()
        self.template = self.home / f"empty-{_prefect_version()}.db"
        self.run_dir: Path | None = None

    @property
    def database(self) -> Path:
        assert self.run_dir is not None, "launch() makes the run's folder"
        return self.run_dir / "prefect.db"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        # What Prefect's own SubprocessASGIServer sets: an API without UI or background services.
        env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{self.database}",
        )
        return env

    def open_log(self) -> IO[bytes]:
        self._log.seek(0)
        self._log.truncate()
        return os.fdopen(os.dup(self._log.fileno()), "ab")

    def describe_log(self) -> str:
        self._log.seek(0)
        tail = self._log.read()[-2000:].decode("utf-8", "replace").strip()
        return f"its output was: {tail}" if tail else "it printed nothing"

    def launch(self) -> None:
        if self.run_dir is None:
            self.home.mkdir(parents=True, exist_ok=True)
            _remove_runs_of_dead_processes(self.home)
            self.run_dir = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=self.home))
            if self.template.is_file():
                shutil.copyfile(self.template, self.database)
            # Prefect pickles a failed flow run's exception (paths, reject details) into its local
            # storage whatever persist_result says: in the run's folder, it goes with the run.
            os.environ.setdefault("PREFECT_LOCAL_STORAGE_PATH", str(self.run_dir / "storage"))
        super().launch()
        atexit.register(self.stop)

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT_SECONDS) -> None:
        super().wait_healthy(timeout)
        if not self.template.is_file():
            with contextlib.suppress(OSError, sqlite3.Error):  # only a later run's start-up would miss it
                _copy_database(self.database, self.template)

    def preexec(self) -> Callable[[], None] | None:
        # A run killed outright (SIGKILL, OOM killer) runs no exit handler: the kernel stops the
        # server with it, which its own session would otherwise keep alive.
        return functools.partial(die_with_parent, os.getpid()) if sys.platform == "linux" else None

    def stop(self) -> None:
        super().stop()
        atexit.unregister(self.stop)
        if self.run_dir is not None:
            if os.environ.get("PREFECT_LOCAL_STORAGE_PATH") == str(self.run_dir / "storage"):
                del os.environ["PREFECT_LOCAL_STORAGE_PATH"]
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None


def flush_prefect_clients(timeout: float = 5.0) -> None:
    """Send what Prefect's log and event workers still hold to the API, waiting up to `timeout` s each.

    They send in the background, in batches; Prefect drains them at interpreter exit, which is
    after a server docclean started has stopped: each then failed against the closed port and
    printed "--- Error logging to API ---" or "Unable to connect to 'ws://…/events/in'". Called
    before such a server stops. Nothing to do in a process that never loaded them.
    """
    handlers = sys.modules.get("prefect.logging.handlers")
    events = sys.modules.get("prefect.events.worker")
    for worker in (getattr(handlers, "APILogWorker", None), getattr(events, "EventsWorker", None)):
        if worker is not None:
            worker.drain_all(timeout=timeout)


def state_home() -> Path:
    """Where `docclean run` keeps Prefect's state: PREFECT_HOME when the user set it, else
    $XDG_CACHE_HOME/docclean/prefect (~/.cache/docclean/prefect).

    PREFECT_HOME for the temporary server: the template database, Prefect's block-registration
    memo, and one folder per run in progress. Nothing there outlives its run but the template,
    which holds no run: deleting the folder costs the next run one database migration.
    """
    if os.environ.get("PREFECT_HOME"):
        return Path(os.environ["PREFECT_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "docclean" / "prefect"


def use_state_home() -> None:
    """Give this process (a `docclean run`) `state_home()` as PREFECT_HOME, unless the user chose one.

    Prefect makes its home folder on import, so nothing of a run goes to ~/.prefect. A profile
    the user keeps there (~/.prefect/profiles.toml, naming their server, say) stays in force.
    Raises ServerError when the folder cannot be made or written (a service account's HOME that
    does not exist or is read-only), naming it and what to set.
    """
    chosen = bool(os.environ.get("PREFECT_HOME"))
    home = state_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        writable = os.access(home, os.W_OK | os.X_OK)
    except OSError as error:
        raise _unusable_home(home, chosen, error.strerror or str(error)) from None
    if not writable:
        raise _unusable_home(home, chosen, "it is not writable")
    if chosen:
        return
    profiles = Path.home() / ".prefect" / "profiles.toml"
    with contextlib.suppress(OSError):
        if profiles.is_file():
            os.environ.setdefault("PREFECT_PROFILES_PATH", str(profiles))
    os.environ["PREFECT_HOME"] = str(home)


def _unusable_home(home: Path, chosen: bool, cause: str) -> ServerError:
    where = "PREFECT_HOME" if chosen else "PREFECT_HOME (or XDG_CACHE_HOME)"
    return ServerError(
        f"Prefect's state folder {home} cannot be used ({cause}); set {where} to a folder this user can "
        "write, and run again."
    )


def _prefect_version() -> str:
    from importlib import metadata  # Prefect itself is not imported before the server launches

    return metadata.version("prefect")


def _remove_runs_of_dead_processes(home: Path) -> None:
    # A run killed outright leaves its folder behind; its process id is in the name.
    for folder in home.glob("run-*-*"):
        pid = int(folder.name.split("-")[1]) if folder.name.split("-")[1].isdigit() else 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            continue  # another user's live process


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database another process has open (SQLite's backup API)."""
    staged = target.with_suffix(f".{os.getpid()}.tmp")
    with (
        contextlib.closing(sqlite3.connect(source)) as origin,
        contextlib.closing(sqlite3.connect(staged)) as copy,
    ):
        origin.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    os.replace(staged, target)


def adopt_temporary_server(server: TemporaryPrefectServer) -> bool:
    """Point Prefect at `server`, launched before Prefect was imported, and wait until it answers.

    Unless Prefect's settings name an API already (a profile, a .env or prefect.toml file: only
    now that Prefect is imported can that be known): then `server` is stopped unused and False
    returned. The address also goes into the environment, which a LocalCluster's worker
    processes inherit.
    """
    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        server.stop()
        return False
    os.environ["PREFECT_API_URL"] = server.api_url
    # Prefect read its settings when it was imported; its process-wide context must see the URL.
    refresh_global_settings_context()
    server.wait_healthy()
    return True


@contextlib.contextmanager
def temporary_api_settings() -> Iterator[None]:
    """Prefect's settings for a flow run against a temporary server: no flow-run heartbeats.

    Heartbeats tell a long-lived server that a run is still alive; a temporary server stops with
    the run, so nothing reads them, and Prefect waits for its heartbeat thread (up to a second)
    when the flow ends.
    """
    from prefect.settings import temporary_settings

    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        yield
