"""The curate flow: scan raw/ → plan → clean batches → commit a snapshot → report.

Idempotency lives in docclean's own state (the current snapshot's paths, sizes, mtimes and
content hashes), not in Prefect's task cache, which keys on arguments and would return stale
results for a file edited in place.

Each step is a function with plain inputs and outputs, in a module of its own: the scan here,
the plan in flows.plan (pure; hashing is the step before it), the batches in flows.batches, the
new snapshot in flows.commit, the run summary and its report in flows.summary.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger

from docclean import DEFAULT_MAX_FILE_BYTES
from docclean.pipeline import DEFAULT_SCRIPT_CONVERSION, CleanConfig
from docclean.placeholders import DEFAULT_TOKEN
from docclean.rules import load_rules
from docclean.terminal import escape
from flows.batches import CleaningProcesses, clean_batches, hash_files
from flows.commit import commit, scan_rejects
from flows.dataset import open_store
from flows.location import Location
from flows.plan import (
    PLAN_COLUMNS,
    TRANSIENT_REASONS,
    Current,
    Judgement,
    Plan,
    files_to_hash,
    judged_options,
    plan,
)
from flows.processes import use_system_allocator
from flows.runners import on_dask
from flows.scan import DEFAULT_SETTLE_SECONDS, ScanResult, scan_raw
from flows.storage import parse_location
from flows.store import Snapshot, Store
from flows.summary import RunSummary, report


@dataclass(frozen=True)
class RunOptions:
    """What a run is asked to do besides cleaning: the flow's parameters that are neither a location,
    a CleanConfig field nor where the batches run. Raises ValueError for a number of seconds that is
    not finite, zero or more."""

    prune: bool = False
    verify: bool = False
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    wait_seconds: float = 0.0
    html_report: bool = False

    def __post_init__(self) -> None:
        for name in ("settle_seconds", "wait_seconds"):
            seconds = getattr(self, name)
            if not math.isfinite(seconds) or seconds < 0:
                raise ValueError(f"{name} must be a number of seconds, zero or more; got {seconds}.")


@flow(name="curate", log_prints=False, persist_result=False)
def curate(
    raw: str = "raw",
    curated: str = "curated",
    rules_file: str | None = None,
    workers: int | None = None,
    prune: bool = False,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    wait_seconds: float = 0.0,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    runner: str = "local",
    address: str | None = None,
    verify: bool = False,
    placeholder_token: str = DEFAULT_TOKEN,
    script_conversion: str | None = DEFAULT_SCRIPT_CONVERSION,
    html_report: bool = False,
    languages: list[str] | None = None,
) -> RunSummary:
    """Curate `raw` into `curated` (folders or s3:// URLs); see the README for what a run does.

    `workers` is the number of processes that clean in parallel: a process pool in the flow's
    process (default 1), or with `runner="dask"` the LocalCluster's worker processes (default
    one per core). `runner="dask"` (and `address`) is for runs started by a deployment, whose
    flow has a fixed task runner: the run goes on as a subflow on Dask. `docclean run --runner
    dask` sets the task runner itself. `verify` hashes every file, not only those whose size or
    mtime changed, and cleans again what differs from its row. `rules_file`, `max_file_bytes`,
    `placeholder_token`, `script_conversion` (None keeps Traditional script) and `languages` (ISO
    639-1 codes; documents in other languages are rejected with reason `language`) make the
    CleanConfig. `html_report` rewrites a local dataset's HTML report after a run that changed
    it, before the run report that links to it (`docclean serve`).

    Raises ValueError when `settle_seconds` or `wait_seconds` is not a finite number, zero or more.
    """
    parameters = dict(locals())  # as a deployment passes them, for the subflow on Dask
    options = RunOptions(prune, verify, settle_seconds, wait_seconds, html_report)
    if runner == "dask" and not on_dask():
        return _subflow_on_dask(parameters)
    started = time.perf_counter()
    use_system_allocator()  # the corpus pass's Arrow work in this process: 50 MB less at its peak
    config = clean_config(rules_file, max_file_bytes, placeholder_token, script_conversion, languages)
    # Invalid rules stop the run before any file is touched.
    rules_version = load_rules(config.rules_file).version
    raw_root, store, summary = parse_location(raw), open_store(curated), RunSummary()
    with store.lock(options.wait_seconds), CleaningProcesses(workers) as processes:
        store.upgrade_layout()
        scan = scan_step(raw_root, store, options.settle_seconds)
        snapshot = store.read(columns=PLAN_COLUMNS)
        judgement = judge(store, config, rules_version, options)
        run_plan = plan_step(scan, snapshot, judgement, raw)
        summary.add_scan(scan, run_plan)
        if store.has_snapshot() and nothing_to_do(run_plan, scan, snapshot):
            return summary.left_as_is(snapshot.rejects, started)
        now = datetime.now(UTC)
        pool = processes.for_plan(run_plan)
        batches = clean_batches(run_plan, store, config, rules_version, now, pool)
        committed = commit(store, snapshot, run_plan, batches, scan, judgement.options, now, pool)
        processes.close()
        summary.add_commit(batches, committed)
    report(summary, curated, options.html_report)
    return summary.finished(started)


def clean_config(
    rules_file: str | None,
    max_file_bytes: int,
    placeholder_token: str,
    script_conversion: str | None,
    languages: list[str] | None,
) -> CleanConfig:
    """The CleanConfig of the flow's parameters; the rules file as an absolute path (a batch may run elsewhere)."""
    return CleanConfig(
        rules_file=Path(rules_file).resolve() if rules_file else None,
        max_file_bytes=max_file_bytes,
        placeholder_token=placeholder_token,
        script_conversion=script_conversion,
        languages=tuple(languages) if languages else None,
    )


# Names of passed-over files a run's log shows; a .git folder is one name.
_IGNORED_SHOWN = 5


def scan_step(raw: Location, store: Store, settle_seconds: float) -> ScanResult:
    """Every raw file ready to curate, those still pending, and those that cannot be (flows.scan)."""
    # The curated dataset inside raw/ holds docclean's own output and state, never input.
    scan = scan_raw(raw, settle_seconds, skip=(store.root,))
    if scan.ignored:
        shown = ", ".join(escape(path) for path in scan.ignored[:_IGNORED_SHOWN])
        more = f" and {len(scan.ignored) - _IGNORED_SHOWN} more" if len(scan.ignored) > _IGNORED_SHOWN else ""
        get_run_logger().info(
            "Passed over %d hidden, lock or system files and folders, which are never documents: %s%s.",
            len(scan.ignored),
            shown,
            more,
        )
    for path in scan.future_mtime:
        get_run_logger().warning(
            "%s has a modification time in the future; it is curated now, since no copy in progress "
            "stamps a file ahead of the clock. Check the clock of the machine that wrote it.",
            path,
        )
    return scan


def judge(store: Store, config: CleanConfig, rules_version: str, options: RunOptions) -> Judgement:
    """What this run holds a row or a reject against: its rules, its options and those the snapshot records."""
    current = judged_options(config)
    # A first run judges everything afresh: what it records is what it cleans under.
    recorded = store.reject_options() if store.has_snapshot() else current
    return Judgement(rules_version, recorded, current, prune=options.prune, verify=options.verify)


def plan_step(scan: ScanResult, snapshot: Snapshot, judgement: Judgement, raw: str) -> Plan:
    """Hash the files the plan needs a hash of, then plan the run (flows.plan)."""
    current = Current(snapshot.documents, snapshot.rejects, judgement)
    run_plan = plan(scan, current, hash_files(files_to_hash(scan, current)))
    get_run_logger().info(
        "Scanned %s: %d files, %d to clean, %d pending.",
        escape(raw),
        len(scan.files) + len(scan.problems),
        len(run_plan.to_clean),
        len(scan.pending),
    )
    return run_plan


def nothing_to_do(run_plan: Plan, scan: ScanResult, snapshot: Snapshot) -> bool:
    """No row changes, the rejects stay the same ones, and no reject is worth retrying: nothing is written."""
    problems = scan_rejects(scan)
    old_reject_paths = set(snapshot.rejects.column("source_path").to_pylist())
    return (
        run_plan.changes_nothing()
        and set(run_plan.carried_rejects) | {r.source_path for r in problems} == old_reject_paths
        and all(r.reason not in TRANSIENT_REASONS for r in problems)
    )


def _subflow_on_dask(parameters: dict[str, object]) -> RunSummary:
    """The run as a subflow on Dask (a deployment's flow has a fixed task runner); the cluster is the parallelism."""
    from flows.runners import dask_task_runner

    on_dask = curate.with_options(task_runner=dask_task_runner(parameters["address"], parameters["workers"]))
    return on_dask(**{**parameters, "workers": 1})
