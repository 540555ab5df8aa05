"""The `docclean` command: a thin shell over the cleaning core and the curate flow."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

# Nothing heavier at module level: `docclean run` launches its temporary Prefect server before
# it imports the cleaning core, so that the server boots while the rest loads.
from docclean import DEFAULT_MAX_FILE_BYTES
from docclean.errors import DoccleanError

if TYPE_CHECKING:
    from docclean.record import Record
    from flows.server import TemporaryPrefectServer

EXIT_OK = 0
EXIT_ERROR = 1
# Distinct from an error: the run completed and the dataset is written, but some files
# could not become documents (see curated/rejects/).
EXIT_REJECTS = 3


def _quiet_prefect() -> None:
    # The temporary server's telemetry heartbeat is what printed "database is locked"
    # tracebacks on the ephemeral API; INFO logs would bury the summary a user reads.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
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
    parser.add_argument("--rules", help="a TOML rules file that extends or overrides the built-in rules")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docclean",
        description="Turn messy drops of Chinese documents into a clean, annotated Parquet corpus.",
    )
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
        type=int,
        default=DEFAULT_MAX_FILE_BYTES,
        help=f"reject files larger than this many bytes (default: {DEFAULT_MAX_FILE_BYTES:,})",
    )
    run.add_argument("--verbose", action="store_true", help="show Prefect's logs")

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
        "--state-dir",
        default=".docclean/prefect",
        help="where the local Prefect server keeps its database when PREFECT_API_URL is not set "
        "(default: ./.docclean/prefect)",
    )

    inspect = commands.add_parser(
        "inspect", help="Show how one file is cleaned: encoding, removals, placeholders."
    )
    inspect.add_argument("file", type=Path)
    inspect.add_argument("--rules", help="a TOML rules file that extends or overrides the built-in rules")
    inspect.add_argument("--text", action="store_true", help="also print the whole clean text")
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
        "--curated", default="curated", help="folder of the curated dataset (default: ./curated)"
    )
    report.add_argument("--out", type=Path, help="HTML file to write (default: CURATED/report.html)")

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
    check.add_argument("--raw", default="raw", help="folder of raw documents (default: ./raw)")
    check.add_argument("--rules", help="a TOML rules file that extends or overrides the built-in rules")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return command_run(args)
        if args.command == "serve":
            return command_serve(args)
        if args.command == "report":
            return command_report(args)
        if args.command == "rules":
            return command_rules_check(args)
        if args.command == "path":
            return command_path(args)
        return command_inspect(args)
    except DoccleanError as error:
        print(f"docclean: {error}", file=sys.stderr)
        return EXIT_ERROR
    except FileNotFoundError as error:
        print(f"docclean: {error}", file=sys.stderr)
        return EXIT_ERROR


def command_run(args: argparse.Namespace) -> int:
    if not args.verbose:
        _quiet_prefect()
    from flows.server import TemporaryPrefectServer

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
                # On Dask the cluster is the parallelism: no process pool inside a batch.
                workers=args.workers or 1 if args.runner == "local" else 1,
                prune=args.prune,
                settle_seconds=DEFAULT_SETTLE_SECONDS if args.settle is None else args.settle,
                wait_seconds=args.wait,
                max_file_bytes=args.max_bytes,
            )
        finally:
            progress.hook.reset(token)
    print_summary(summary, args.curated)
    return EXIT_REJECTS if summary.rejected else EXIT_OK


def command_serve(args: argparse.Namespace) -> int:
    from docclean.rules import load_rules

    load_rules(Path(args.rules) if args.rules else None)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The served runner looks for due runs this often; Prefect's 10 s default would make a
    # dropped file wait up to 10 s more before its run even starts.
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    from flows.server import LocalPrefectServer

    # A service manager stops serve with SIGTERM: treat it as Ctrl-C so the server is stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    server = None
    if not os.environ.get("PREFECT_API_URL"):
        server = LocalPrefectServer(Path(args.state_dir))
        print(f"Starting a local Prefect server (state in {server.state_dir}) ...", flush=True)
        server.start()
        # Set before Prefect is imported, so the flow, the runner and the watcher all use it.
        os.environ["PREFECT_API_URL"] = server.api_url
        print(f"Prefect UI: {server.ui_url}  (runs, logs and run reports are there)", flush=True)
    else:
        print(f"Using the Prefect server at {os.environ['PREFECT_API_URL']}", flush=True)
    try:
        from flows.serve import DEFAULT_CRON, serve_curate
        from flows.storage import is_url

        parameters = {
            "raw": _absolute(args.raw),
            "curated": _absolute(args.curated),
            "rules_file": str(Path(args.rules).resolve()) if args.rules else None,
            "workers": args.workers,
            "runner": args.runner,
            "address": args.address,
            # A scheduled run waits for a manual one instead of failing on the lock.
            "wait_seconds": 600.0,
        }
        cron = args.cron or DEFAULT_CRON
        print(
            f"Serving: curate runs on '{cron}'"
            + ("" if args.no_watch or is_url(args.raw) else f" and when files land in {args.raw}")
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
    from flows.storage import is_url

    return location if is_url(location) else str(Path(location).resolve())


def command_path(args: argparse.Namespace) -> int:
    from flows.dataset import current_url

    print(current_url(args.curated, "rejects" if args.rejects else "documents"))
    return EXIT_OK


def command_inspect(args: argparse.Namespace) -> int:
    from docclean.console import print_inspection
    from docclean.pipeline import CleanConfig, Cleaner

    path: Path = args.file
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not a file.")
    cleaner = Cleaner(CleanConfig(rules_file=Path(args.rules) if args.rules else None))
    try:
        record = cleaner.clean(path.read_bytes(), path.name)
    except DoccleanError as error:
        print(f"docclean: {path}: rejected: {error}", file=sys.stderr)
        return EXIT_REJECTS
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
    from docclean.report import write_report

    out, summary = write_report(Path(args.curated), args.out)
    print(f"Wrote {out}: {summary.documents} documents, {summary.reject_count} rejected files.")
    return EXIT_OK


def command_rules_check(args: argparse.Namespace) -> int:
    from docclean.rulecheck import check_rules, print_rule_check

    print_rule_check(check_rules(Path(args.raw), Path(args.rules) if args.rules else None))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
