"""The `docclean` command: parses and checks its arguments, calls one function per command, prints.

A thin shell over the two layers: `run`, `serve`, `path` and `report` call flows.commands (the
orchestration: Prefect, storage), `inspect` and `rules check` the cleaning core on local files.
Nothing heavy is imported at module level: `docclean run` launches its temporary Prefect server
before Prefect, pyarrow or the cleaning core are imported (see flows.commands).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import gc
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from docclean import DEFAULT_MAX_FILE_BYTES, DEFAULT_PLACEHOLDER_TOKEN, __version__
from docclean.errors import DoccleanError
from docclean.terminal import escape, shown
from docclean_cli import arguments
from docclean_cli.arguments import ArgumentError
from flows import commands

if TYPE_CHECKING:
    from docclean.corpus_state import CorpusFit
    from docclean.record import Record

EXIT_OK = 0
EXIT_ERROR = 1
# Distinct from an error: the run completed and the dataset is written, but some files
# could not become documents (see curated/rejects/).
EXIT_REJECTS = 3
# The shell's convention for a process ended by a signal: 128 + the signal's number.
EXIT_SIGNALLED = 128


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


class _Parser(argparse.ArgumentParser):
    """argparse's parser, saying what it rejects (an unknown option, a value of the wrong kind) in
    one line, as every other mistake is, instead of its usage block; exit status 2, as argparse's.

    An unknown option is named, with the known option it is closest to (`--versoin`: did you mean
    --version?), by the command whose options it is among: argparse reports it from the top
    parser, or reports a missing command instead when the option came before any.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        parser, unknown = self._unknown_options(getattr(self, "_given", []))
        if unknown and (message.startswith("unrecognized arguments") or "required: COMMAND" in message):
            known = [option for action in parser._actions for option in action.option_strings]
            named = []
            for option in unknown:
                close = difflib.get_close_matches(option.split("=", 1)[0], known, n=1)
                named.append(f"{option} (did you mean {close[0]}?)" if close else option)
            message = f"unrecognized option{'s' if len(named) > 1 else ''}: {', '.join(named)}"
        elif not message.startswith("unrecognized arguments"):
            parser = self
            choice = re.match(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)$", message)
            if choice is not None:
                close = difflib.get_close_matches(choice[2], re.findall(r"'([^']*)'", choice[3]), n=1)
                if close:
                    message = f"{message} (did you mean {close[0]}?)"
        parser.exit(2, f"{parser.prog}: {message.rstrip('.')}; `{parser.prog} --help` lists the options.\n")

    def _unknown_options(self, given: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
        """The options of `given` (this parser's arguments) that the parser they were given to does
        not know, and that parser: this one for those before the command, else the command's
        (its own command's, and so on)."""
        commands = next(
            (action.choices for action in self._actions if isinstance(action, argparse._SubParsersAction)), {}
        )
        position = next((i for i, arg in enumerate(given) if arg in commands), len(given))
        before = [arg for arg in given[:position] if _unknown(arg, self)]
        if before or position == len(given):
            return self, before
        return commands[given[position]]._unknown_options(given[position + 1 :])


def _unknown(arg: str, parser: argparse.ArgumentParser) -> bool:
    """Whether `arg` is an option (not a negative number, not `-` for standard input) `parser` does not know."""
    if not arg.startswith("-") or arg == "-" or arg == "--":
        return False
    try:
        float(arg)
    except ValueError:
        name = arg.split("=", 1)[0]
        # argparse takes a long option's unique prefix (--verb for --verbose) as the option.
        return not any(
            known == name or (name.startswith("--") and parser.allow_abbrev and known.startswith(name))
            for known in parser._option_string_actions
        )
    return False


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        type=arguments.GivenSeconds,
        default=None,
        help="seconds a file must be unchanged before it is curated (default: 2)",
    )
    run.add_argument(
        "--wait",
        type=arguments.GivenSeconds,
        default=0.0,
        help="seconds to wait for another run to finish (default: 0)",
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
    arguments.written_as_meant("--raw", args.raw)
    arguments.written_as_meant("--curated", args.curated)
    arguments.readable_folder("--raw", args.raw)
    arguments.separate_folders(args.raw, args.curated)
    arguments.own_folder("--curated", args.curated)
    arguments.writable_folder("--curated", args.curated)
    arguments.readable_file("--rules", args.rules)
    arguments.placeholder_token("--mask-token", args.mask_token)
    arguments.workers("--workers", args.workers, local=args.address is None)
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
    arguments.not_inside("--state-dir", args.state_dir, "--raw", args.raw)
    arguments.writable_folder("--state-dir", args.state_dir, "for the Prefect server's state")


def check_report_arguments(args: argparse.Namespace) -> None:
    arguments.readable_folder("--curated", args.curated, "name the folder `docclean run --curated` wrote")
    # The page goes into the dataset's folder unless --out says where: never among other files
    # (raw/, where the next run would read it as a document).
    if args.out is None:
        arguments.own_folder(
            "--curated", args.curated, "name the dataset's folder, or where the page goes with --out"
        )
    arguments.report_destination("--out", args.out, args.curated)


def check_inspect_arguments(args: argparse.Namespace) -> None:
    arguments.readable_file("FILE", str(args.file))
    if args.curated is not None:
        # Before the inspection is printed, not after it.
        arguments.readable_folder(
            "--curated", str(args.curated), "name the folder `docclean run --curated` wrote"
        )
    arguments.readable_file("--rules", args.rules)
    arguments.placeholder_token("--mask-token", args.mask_token)


def check_rules_arguments(args: argparse.Namespace) -> None:
    arguments.readable_folder("--raw", args.raw)
    arguments.readable_file("--rules", args.rules)


def check_nothing(args: argparse.Namespace) -> None:
    """`path` checks what it is given where it reads it: an s3:// dataset is known only there."""


def main(argv: Sequence[str] | None = None) -> int:
    # Chinese text and file names must never crash the output on a terminal that cannot show
    # them (LC_ALL=C, PYTHONIOENCODING=ascii): what it cannot encode is printed as an escape.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    check, command = COMMANDS[args.command]
    stdout = sys.stdout
    sys.stdout = _Output(stdout)
    try:
        check(args)
        status = command(args)
        sys.stdout.flush()  # here, where a failure to write the output can still be reported
        return status
    except (DoccleanError, FileNotFoundError) as error:
        print(f"docclean: {escape(str(error))}", file=sys.stderr)
        return EXIT_ERROR
    except ModuleNotFoundError as error:
        # `python3 -m docclean_cli` from a clone, by a Python docclean is not installed in.
        print(
            f"docclean: this Python ({escape(sys.executable)}) cannot import {(error.name or 'a module').split('.')[0]}, a dependency of "
            "docclean; run docclean with the Python it is installed in (.venv/bin/python -m docclean_cli, or "
            ".venv/bin/docclean), or install it into this one (pip install -e .).",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader stopped early (`docclean inspect … | head`): it has what it wanted.
        _discard_output()
        return EXIT_OK
    except _OutputError as error:
        _discard_output()
        print(
            f"docclean: the output could not be written ({error}); free space where it goes, or send it "
            "elsewhere.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    finally:
        sys.stdout = stdout


class _OutputError(Exception):
    """Standard output could not be written (a full disk); a closed pipe is BrokenPipeError."""


class _Output:
    """Standard output, telling its own write errors from any other OSError."""

    def __init__(self, stream: object) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)  # type: ignore[attr-defined, no-any-return]
        except BrokenPipeError:
            raise
        except OSError as error:
            raise _OutputError(error.strerror or str(error)) from error

    def flush(self) -> None:
        try:
            self._stream.flush()  # type: ignore[attr-defined]
        except BrokenPipeError:
            raise
        except OSError as error:
            raise _OutputError(error.strerror or str(error)) from error

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _discard_output() -> None:
    """Point standard output at /dev/null, so that Python's last flush at exit fails on nothing."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def command_line() -> int:
    """`docclean` as a process runs it (the console script, `python -m docclean_cli`): main, then the exit.

    Python's collections while it exits walk every object the command loaded (Prefect, pydantic,
    pyarrow), a large share of a short run; frozen, they are left to the operating system, which
    frees the process at once. Exit handlers still run (Prefect sends its last events and logs),
    and files are closed as before: a frozen object is still freed when its last reference goes.
    """
    status = main()
    gc.freeze()
    return status


def curate_options(args: argparse.Namespace) -> commands.CurateOptions:
    return commands.CurateOptions(
        raw=args.raw,
        curated=args.curated,
        rules=args.rules,
        mask_token=args.mask_token,
        keep_script=args.keep_script,
        languages=args.languages,
        workers=args.workers,
        runner=args.runner,
        address=args.address,
    )


def command_run(args: argparse.Namespace) -> int:
    """`docclean run`; Ctrl-C or SIGTERM end it with one line and status 130 or 143."""
    from docclean.console import progress_bar

    try:
        result = commands.run(
            curate_options(args),
            prune=args.prune,
            settle_seconds=args.settle,
            wait_seconds=args.wait,
            max_file_bytes=args.max_bytes,
            verify=args.verify,
            verbose=args.verbose,
            progress_bar=progress_bar,
        )
    except commands.RunInterrupted as interrupted:
        if interrupted.written:
            print(
                "interrupted after the dataset was written: it holds this run's work, and the next run "
                "finds it up to date",
                file=sys.stderr,
            )
        else:
            print(
                f"interrupted: the dataset is unchanged; {interrupted.kept_batches} "
                f"{'batch is' if interrupted.kept_batches == 1 else 'batches are'} kept and the next run resumes",
                file=sys.stderr,
            )
        return EXIT_SIGNALLED + interrupted.signum
    if args.json:
        # The run summary as one JSON object on stdout, for scripts; its keys are listed in the README.
        print(json.dumps({**result.summary.as_dict(), **result.locations()}, ensure_ascii=False))
    else:
        from docclean.console import print_summary

        print_summary(result.summary, args.curated)
    return EXIT_REJECTS if result.summary.rejected else EXIT_OK


def command_serve(args: argparse.Namespace) -> int:
    commands.serve(
        curate_options(args),
        cron=args.cron,
        watch=not args.no_watch,
        port=args.port,
        state_dir=args.state_dir,
        say=lambda line: print(line, flush=True),
    )
    return EXIT_OK


def command_path(args: argparse.Namespace) -> int:
    url = commands.snapshot_url(args.curated, "rejects" if args.rejects else "documents")
    if url is None:
        raise ArgumentError(
            f"{shown(args.curated)} is not a curated dataset (it holds no snapshot); name the folder "
            f"`docclean run --curated` wrote, or make one with `docclean run --curated {escape(args.curated)}`."
        )
    print(url)
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
    # Built first: a rules file that cannot be read is the command's error, not the document's reject.
    cleaner = Cleaner(config)
    if path.is_symlink():
        print(
            f"docclean: note: {shown(path)} is a symbolic link, inspected as the file it leads to; `docclean run` "
            "never follows links in the raw folder and rejects it (reason symlink).",
            file=sys.stderr,
        )
    try:
        # Named as a run names it in `source_path`, so a name that is not UTF-8 shows as \xNN.
        record = cleaner.clean(path.read_bytes(), source_path_of(os.fsencode(path.name)))
    except DoccleanError as error:
        print(f"docclean: {shown(path)}: rejected: {escape(str(error))}", file=sys.stderr)
        return EXIT_REJECTS
    # Fitted before anything is printed: a --curated that holds no dataset is the one line said.
    fit = _corpus_fit(record, args.curated) if args.curated is not None else None
    if args.clean:
        print_clean_text(record)
    else:
        print_inspection(record, show_text=args.text)
    if fit is not None:
        _print_corpus_fit(fit)
    return EXIT_OK


def _corpus_fit(record: Record, curated: Path) -> CorpusFit:
    from docclean.corpus_state import fit_into_corpus

    return fit_into_corpus(record, curated)


def _print_corpus_fit(fit: CorpusFit) -> None:
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
    out, summary = commands.html_report(args.curated, args.out)
    print(f"Wrote {out}: {summary.documents} documents, {summary.reject_count} rejected files.")
    return EXIT_OK


def command_rules_check(args: argparse.Namespace) -> int:
    from docclean.rulecheck import print_rule_check
    from flows.rulecheck import check_rules

    print_rule_check(check_rules(args.raw, Path(args.rules) if args.rules else None))
    return EXIT_OK


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], Callable[[argparse.Namespace], int]]] = {
    "run": (check_run_arguments, command_run),
    "serve": (check_serve_arguments, command_serve),
    "inspect": (check_inspect_arguments, command_inspect),
    "report": (check_report_arguments, command_report),
    "path": (check_nothing, command_path),
    "rules": (check_rules_arguments, command_rules_check),
}
