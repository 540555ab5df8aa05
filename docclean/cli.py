"""The `docclean` command: a thin shell over the cleaning core and the curate flow."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

# Nothing heavier at module level: `docclean run` launches its temporary Prefect server before
# it imports the cleaning core, so that the server boots while the rest loads.
from docclean import DEFAULT_MAX_FILE_BYTES, DEFAULT_PLACEHOLDER_TOKEN, __version__, arguments
from docclean.arguments import ArgumentError, shown
from docclean.errors import DoccleanError

if TYPE_CHECKING:
    from docclean.record import Record
    from flows.curate import RunSummary
    from flows.server import TemporaryPrefectServer

EXIT_OK = 0
EXIT_ERROR = 1
# Distinct from an error: the run completed and the dataset is written, but some files
# could not become documents (see curated/rejects/).
EXIT_REJECTS = 3
# The shell's convention for a process ended by a signal: 128 + the signal's number.
EXIT_SIGNALLED = 128


def _no_telemetry() -> None:
    # docclean promises no network beyond the user's own servers: Prefect's server heartbeat
    # (which also printed "database is locked" on the temporary API) and its client's usage
    # events and first-start notice are both off. DO_NOT_TRACK is the client's switch.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def _quiet_prefect() -> None:
    # INFO logs would bury the summary a user reads.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


def add_curate_options(parser: argparse.ArgumentParser) -> None:
    """The options `run` and `serve` share: what a curate flow run is given."""
    parser.add_argument(
        "--raw", default="raw", help="folder or s3://bucket/prefix URL of raw documents (default: ./raw)"
    )
    parser.add_argument(
        "--curated",
        default="curated",
        help="folder or s3://bucket/prefix URL of the curated dataset (default: ./curated)",
    )
    add_clean_options(parser)
    parser.add_argument(
        "--languages",
        type=_languages,
        help="keep only documents in these languages, ISO 639-1 codes such as zh or zh,en; the others are "
        "rejected with reason 'language' (default: keep all, each annotated with its language)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes that clean in parallel (default: 1; with --runner dask, one per core)",
    )
    parser.add_argument(
        "--runner",
        choices=("local", "dask"),
        default="local",
        help="where the cleaning batches run: in this process (default) or on a Dask cluster",
    )
    parser.add_argument(
        "--address",
        help="with --runner dask: the scheduler of an existing cluster, e.g. tcp://HOST:8786 "
        "(default: start a LocalCluster with one worker per core, or --workers)",
    )


def add_clean_options(parser: argparse.ArgumentParser) -> None:
    """The options of the cleaning itself (CleanConfig): `run`, `serve` and `inspect` share them."""
    parser.add_argument("--rules", help="a TOML rules file that extends or overrides the built-in rules")
    parser.add_argument(
        "--mask-token",
        default=DEFAULT_PLACEHOLDER_TOKEN,
        help=f"what replaces a redaction placeholder in the text (default: {DEFAULT_PLACEHOLDER_TOKEN})",
    )
    parser.add_argument(
        "--keep-script",
        action="store_true",
        help="keep Traditional script as it is (default: convert it to Simplified with OpenCC t2s)",
    )


def _languages(value: str) -> list[str]:
    from docclean.language import parse_languages

    try:
        return list(parse_languages(value))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docclean",
        description="Turn messy drops of Chinese documents into a clean, annotated Parquet corpus.",
    )
    parser.add_argument("--version", action="version", version=f"docclean {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="Clean the raw folder into the curated dataset (a Prefect flow run)."
    )
    add_curate_options(run)
    run.add_argument("--prune", action="store_true", help="drop the rows of raw files that have disappeared")
    run.add_argument(
        "--settle",
        type=float,
        default=None,
        help="seconds a file must be unchanged before it is curated (default: 2)",
    )
    run.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for another run to finish (default: 0)"
    )
    run.add_argument(
        "--max-bytes",
        default=str(DEFAULT_MAX_FILE_BYTES),
        help="reject files larger than this: bytes, or K, M, G (binary: 10M is 10 MiB) "
        f"(default: 50M, {DEFAULT_MAX_FILE_BYTES:,} bytes)",
    )
    run.add_argument(
        "--verify",
        action="store_true",
        help="hash every raw file, not only those whose size or mtime changed, and clean again what differs",
    )
    run.add_argument("--verbose", action="store_true", help="show Prefect's logs")
    run.add_argument(
        "--json", action="store_true", help="print the run summary as one JSON object (keys: see README)"
    )

    serve = commands.add_parser(
        "serve",
        help="Serve the curate flow on a cron schedule and curate files dropped into raw/ within seconds.",
    )
    add_curate_options(serve)
    serve.add_argument(
        "--cron", default=None, help="cron schedule of the curate runs (default: every 10 minutes)"
    )
    serve.add_argument("--no-watch", action="store_true", help="rely on the schedule only; do not watch raw/")
    serve.add_argument(
        "--port",
        type=int,
        default=None,
        help="loopback port of the local Prefect server and its UI (default: a free port)",
    )
    serve.add_argument(
        "--state-dir",
        default=".docclean/prefect",
        help="where the local Prefect server keeps its database when PREFECT_API_URL is not set "
        "(default: ./.docclean/prefect)",
    )

    inspect = commands.add_parser(
        "inspect", help="Show how one file is cleaned: encoding, removals, placeholders."
    )
    inspect.add_argument("file", type=Path)
    add_clean_options(inspect)
    shown_text = inspect.add_mutually_exclusive_group()
    shown_text.add_argument(
        "--text", action="store_true", help="also print the normalized text with its removals marked"
    )
    shown_text.add_argument(
        "--clean",
        action="store_true",
        help="print only the final clean text, as the dataset's `text` holds it",
    )
    inspect.add_argument(
        "--curated",
        type=Path,
        help="also say which duplicate cluster the file would join in this dataset, and which of its "
        "lines the dataset's counts make boilerplate",
    )

    report = commands.add_parser(
        "report", help="Write one self-contained HTML page describing the curated dataset, with plots."
    )
    report.add_argument(
        "--curated",
        default="curated",
        help="folder or s3://bucket/prefix URL of the curated dataset (default: ./curated)",
    )
    report.add_argument("--out", help="HTML file (or s3:// URL) to write (default: CURATED/report.html)")

    path = commands.add_parser(
        "path", help="Print where the current snapshot of the curated dataset is (a folder or an s3:// URL)."
    )
    path.add_argument(
        "curated", nargs="?", default="curated", help="folder or s3:// URL of the curated dataset"
    )
    path.add_argument("--rejects", action="store_true", help="the rejects table instead of the documents")

    rules = commands.add_parser("rules", help="Work on the noise rules.")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    check = rules_commands.add_parser(
        "check",
        help="Run the rules over the raw files: hits and samples per rule, and kept lines that look like noise.",
    )
    check.add_argument(
        "--raw", default="raw", help="folder or s3://bucket/prefix URL of raw documents (default: ./raw)"
    )
    check.add_argument("--rules", help="a TOML rules file that extends or overrides the built-in rules")
    return parser


def check_curate_arguments(args: argparse.Namespace) -> None:
    """What `run` and `serve` are given, checked before a Prefect server starts."""
    arguments.readable_folder("--raw", args.raw)
    arguments.writable_folder("--curated", args.curated)
    arguments.separate_folders(args.raw, args.curated)
    arguments.readable_file("--rules", args.rules)
    arguments.placeholder_token("--mask-token", args.mask_token)
    arguments.at_least_one("--workers", args.workers)
    arguments.dask_address_needs_dask(args.address, args.runner)
    arguments.reachable_scheduler(args.address)


def check_run_arguments(args: argparse.Namespace) -> None:
    check_curate_arguments(args)
    arguments.seconds("--settle", args.settle)
    arguments.seconds("--wait", args.wait)
    args.max_bytes = arguments.byte_size("--max-bytes", args.max_bytes)


def check_serve_arguments(args: argparse.Namespace) -> None:
    check_curate_arguments(args)
    arguments.cron_expression("--cron", args.cron)
    arguments.free_port("--port", args.port)


def check_inspect_arguments(args: argparse.Namespace) -> None:
    arguments.readable_file("FILE", str(args.file))
    arguments.readable_file("--rules", args.rules)
    arguments.placeholder_token("--mask-token", args.mask_token)


def check_rules_arguments(args: argparse.Namespace) -> None:
    arguments.readable_folder("--raw", args.raw)
    arguments.readable_file("--rules", args.rules)


def check_nothing(args: argparse.Namespace) -> None:
    """`path` and `report` check what they are given where they read it: an s3:// dataset is known only there."""


def main(argv: Sequence[str] | None = None) -> int:
    # Chinese text and file names must never crash the output on a terminal that cannot show
    # them (LC_ALL=C, PYTHONIOENCODING=ascii): what it cannot encode is printed as an escape.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    _no_telemetry()
    args = build_parser().parse_args(argv)
    check, command = COMMANDS[args.command]
    try:
        check(args)
        return command(args)
    except (DoccleanError, FileNotFoundError) as error:
        print(f"docclean: {arguments.escape(str(error))}", file=sys.stderr)
        return EXIT_ERROR


def _drop_signal_crash(record: logging.LogRecord) -> bool:
    # Prefect's wording for a run ended by SIGTERM or SIGINT (prefect.states.exception_to_crashed_state).
    message = record.getMessage()
    return not (message.startswith("Crash detected!") and "aborted by a" in message and "signal" in message)


def command_run_interruptible(args: argparse.Namespace) -> int:
    """`docclean run`, which Ctrl-C or SIGTERM ends with one line and status 130 or 143.

    The first signal interrupts the run where it is (further ones are ignored so that the
    temporary server stops cleanly); the batches that finished are kept for the next run.
    """
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        for name in (signal.SIGINT, signal.SIGTERM):
            signal.signal(name, signal.SIG_IGN)
        if not args.verbose:
            # Prefect logs the interruption as a crash, and its log worker reports the logs it
            # cannot ship to the temporary server being stopped (through `raiseExceptions`):
            # the one line below says what happened instead.
            logging.disable(logging.CRITICAL)
            logging.raiseExceptions = False
        raise KeyboardInterrupt

    previous = {name: signal.signal(name, interrupt) for name in (signal.SIGINT, signal.SIGTERM)}
    raise_exceptions = logging.raiseExceptions
    # During a flow run Prefect takes SIGTERM itself, logs the run as crashed, then hands the
    # signal on to `interrupt`: that crash record is the interruption the one line reports.
    flow_run_logger = logging.getLogger("prefect.flow_runs")
    if not args.verbose:
        flow_run_logger.addFilter(_drop_signal_crash)
    try:
        return command_run(args)
    except BaseException:
        if not received:
            raise
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)
        if not received:  # interrupted, the process ends quiet: Prefect's workers flush at exit
            logging.disable(logging.NOTSET)
            logging.raiseExceptions = raise_exceptions
            flow_run_logger.removeFilter(_drop_signal_crash)
    from flows.dataset import open_store

    kept = open_store(args.curated).kept_batches()
    print(
        f"interrupted: the dataset is unchanged; {kept} batches are kept and the next run resumes",
        file=sys.stderr,
    )
    return EXIT_SIGNALLED + received[0]


def command_run(args: argparse.Namespace) -> int:
    if not args.verbose:
        _quiet_prefect()
    from flows.server import TemporaryPrefectServer, use_state_home

    use_state_home()
    # Launched before Prefect is imported, so that it boots while the rest loads.
    server = None if os.environ.get("PREFECT_API_URL") else TemporaryPrefectServer()
    if server is not None:
        server.launch()
    try:
        return _run_curate(args, server)
    finally:
        if server is not None:
            server.stop()
            os.environ.pop("PREFECT_API_URL", None)


def _run_curate(args: argparse.Namespace, server: TemporaryPrefectServer | None) -> int:
    from docclean.pipeline import DEFAULT_SCRIPT_CONVERSION
    from docclean.rules import load_rules
    from flows.scan import DEFAULT_SETTLE_SECONDS

    load_rules(Path(args.rules) if args.rules else None)  # a bad rules file fails before Prefect runs
    from docclean.console import print_summary, progress_bar
    from flows import progress
    from flows.curate import curate
    from flows.runners import check_shared_api, dask_task_runner
    from flows.server import adopt_temporary_server, temporary_api_settings

    temporary_api = server is not None and adopt_temporary_server(server)
    flow_run = curate
    if args.runner == "dask":
        check_shared_api(args.address, temporary_api)
        flow_run = curate.with_options(task_runner=dask_task_runner(args.address, args.workers))
    settings = temporary_api_settings() if temporary_api else contextlib.nullcontext()
    with settings, progress_bar() as advance:
        token = progress.hook.set(advance)
        try:
            summary = flow_run(
                raw=args.raw,
                curated=args.curated,
                rules_file=args.rules,
                placeholder_token=args.mask_token,
                script_conversion=None if args.keep_script else DEFAULT_SCRIPT_CONVERSION,
                # On Dask the cluster is the parallelism: no process pool inside a batch.
                workers=args.workers or 1 if args.runner == "local" else 1,
                prune=args.prune,
                settle_seconds=DEFAULT_SETTLE_SECONDS if args.settle is None else args.settle,
                wait_seconds=args.wait,
                max_file_bytes=args.max_bytes,
                verify=args.verify,
                languages=args.languages,
            )
        finally:
            progress.hook.reset(token)
    if args.json:
        print_json_summary(summary, args.curated)
    else:
        print_summary(summary, args.curated)
    return EXIT_REJECTS if summary.rejected else EXIT_OK


def print_json_summary(summary: RunSummary, curated: str) -> None:
    """The run summary as one JSON object on stdout, for scripts; its keys are listed in the README."""
    import json

    from flows.dataset import current_url

    where = {"documents": current_url(curated), "rejects": current_url(curated, "rejects")}
    print(json.dumps({**summary.as_dict(), **where}, ensure_ascii=False))


def command_serve(args: argparse.Namespace) -> int:
    from docclean.pipeline import DEFAULT_SCRIPT_CONVERSION
    from docclean.rules import load_rules

    load_rules(Path(args.rules) if args.rules else None)
    # The served runner looks for due runs this often; Prefect's 10 s default would make a
    # dropped file wait up to 10 s more before its run even starts.
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    from flows.server import LocalPrefectServer

    # A service manager stops serve with SIGTERM: treat it as Ctrl-C so the server is stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = LocalPrefectServer(Path(args.state_dir), port=args.port)
        print(f"Starting a local Prefect server (state in {server.state_dir}) ...", flush=True)
        server.start()
        # Set before Prefect is imported, so the flow, the runner and the watcher all use it.
        os.environ["PREFECT_API_URL"] = server.api_url
        print(f"Prefect UI: {server.ui_url}  (runs, logs and run reports are there)", flush=True)
    else:
        print(f"Using the Prefect server at {os.environ['PREFECT_API_URL']}", flush=True)
    try:
        from flows.serve import DEFAULT_CRON, serve_curate

        parameters = {
            "raw": _absolute(args.raw),
            "curated": _absolute(args.curated),
            "rules_file": str(Path(args.rules).resolve()) if args.rules else None,
            "placeholder_token": args.mask_token,
            "script_conversion": None if args.keep_script else DEFAULT_SCRIPT_CONVERSION,
            "workers": args.workers,
            "runner": args.runner,
            "address": args.address,
            "languages": args.languages,
            # A scheduled run waits for a manual one instead of failing on the lock.
            "wait_seconds": 600.0,
            # The run report links to the HTML report: each served run refreshes it first.
            "html_report": True,
        }
        cron = args.cron or DEFAULT_CRON
        print(
            f"Serving: curate runs on '{cron}'"
            + (
                ""
                if args.no_watch or arguments.is_url(args.raw)
                else f" and when files land in {shown(args.raw)}"
            )
            + ". Stop with Ctrl-C.",
            flush=True,
        )
        try:
            serve_curate(parameters, cron=cron, watch=not args.no_watch)
        except* KeyboardInterrupt:
            pass  # Ctrl-C (or SIGTERM) is how serve is stopped; Prefect may wrap it in a group
    finally:
        if server:
            server.stop()
            print("Stopped the local Prefect server.", flush=True)
    return EXIT_OK


def _absolute(location: str) -> str:
    # A served run starts in another working directory: folders are made absolute, URLs kept.
    return location if arguments.is_url(location) else str(Path(location).resolve())


def command_path(args: argparse.Namespace) -> int:
    from flows.dataset import current_url, open_store

    if not open_store(args.curated).has_snapshot():
        raise ArgumentError(
            f"{shown(args.curated)} is not a curated dataset (it holds no snapshot); name the folder "
            f"`docclean run --curated` wrote, or make one with `docclean run --curated {arguments.escape(args.curated)}`."
        )

    print(current_url(args.curated, "rejects" if args.rejects else "documents"))
    return EXIT_OK


def command_inspect(args: argparse.Namespace) -> int:
    from docclean.console import print_clean_text, print_inspection
    from docclean.pipeline import DEFAULT_SCRIPT_CONVERSION, CleanConfig, Cleaner
    from docclean.sourcepath import source_path_of

    path: Path = args.file
    config = CleanConfig(
        rules_file=Path(args.rules) if args.rules else None,
        placeholder_token=args.mask_token,
        script_conversion=None if args.keep_script else DEFAULT_SCRIPT_CONVERSION,
    )
    try:
        # Named as a run names it in `source_path`, so a name that is not UTF-8 shows as \xNN.
        record = Cleaner(config).clean(path.read_bytes(), source_path_of(os.fsencode(path.name)))
    except DoccleanError as error:
        print(f"docclean: {shown(path)}: rejected: {arguments.escape(str(error))}", file=sys.stderr)
        return EXIT_REJECTS
    if args.clean:
        print_clean_text(record)
    else:
        print_inspection(record, show_text=args.text)
    if args.curated is not None:
        _print_corpus_fit(record, args.curated)
    return EXIT_OK


def _print_corpus_fit(record: Record, curated: Path) -> None:
    from docclean.corpus_state import fit_into_corpus

    fit = fit_into_corpus(record, curated)
    similarity = fit.assignment.dup_similarity
    if fit.representative is not None:
        path, title = fit.representative
        print(
            f"duplicates: would join the cluster of {path} ({title or 'no title'}), similarity {similarity:.2f}"
        )
    else:
        print(f"duplicates: would be its own cluster (no near duplicate among {fit.documents} documents)")
    for heading, lines in (
        ("boilerplate by the corpus counts (removed by corpus_boilerplate)", fit.boilerplate),
        ("recurring lines without a noise signal (kept)", fit.candidates),
    ):
        print(f"{heading}: {len(lines)}")
        for line, documents in lines:
            print(f"  seen in {documents} documents: {line}")


def command_report(args: argparse.Namespace) -> int:
    from flows.dataset import write_report

    out, summary = write_report(args.curated, args.out)
    print(f"Wrote {out}: {summary.documents} documents, {summary.reject_count} rejected files.")
    return EXIT_OK


def command_rules_check(args: argparse.Namespace) -> int:
    from docclean.rulecheck import print_rule_check
    from flows.rulecheck import check_rules

    print_rule_check(check_rules(args.raw, Path(args.rules) if args.rules else None))
    return EXIT_OK


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], Callable[[argparse.Namespace], int]]] = {
    "run": (check_run_arguments, command_run_interruptible),
    "serve": (check_serve_arguments, command_serve),
    "inspect": (check_inspect_arguments, command_inspect),
    "report": (check_nothing, command_report),
    "path": (check_nothing, command_path),
    "rules": (check_rules_arguments, command_rules_check),
}


if __name__ == "__main__":
    sys.exit(main())
