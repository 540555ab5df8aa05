"""The run summary and the run report: what a run did, as counts, a Prefect artifact and log lines.

`RunSummary` is what the flow returns and `docclean run` prints (README: The run summary); it is
filled step by step: from the scan and the plan, from the cleaned batches, from the commit.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from docclean.pipeline import DISABLE_AFTER_TIMEOUTS
from docclean.record import Reject
from flows.batches import CleanedBatch
from flows.cleaning import BatchOutcome
from flows.commit import Committed
from flows.corpus import CorpusOutcome
from flows.dataset import dataset_report_markdown, write_report
from flows.plan import Plan
from flows.scan import ScanResult

# The log record attribute that marks a per-file reject notice: a terminal run's summary counts the
# rejects and curated/rejects lists them, so `docclean run` without --verbose keeps these off the
# terminal while the run's log (the Prefect UI, a served run) keeps them.
REJECT_NOTICE = "docclean_reject_notice"


@dataclass
class RunSummary:
    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    reused: int = 0
    renamed: int = 0
    missing: int = 0
    pruned: int = 0
    pending: int = 0
    cleaned: int = 0
    # Documents taken from the finished batches of an interrupted run instead of cleaned again.
    resumed: int = 0
    resumed_batches: int = 0
    rejected: int = 0
    wrote: bool = False
    reject_reasons: Counter[str] = field(default_factory=Counter)
    noise_by_category: Counter[str] = field(default_factory=Counter)
    placeholders_by_kind: Counter[str] = field(default_factory=Counter)
    encodings: Counter[str] = field(default_factory=Counter)
    rejects: list[Reject] = field(default_factory=list)
    # Files curated although their modification time is ahead of the clock (flows.scan.scan_raw).
    future_mtime: list[str] = field(default_factory=list)
    # Rules disabled for timing out too often -> documents cleaned without them (see Cleaner).
    disabled_rules: dict[str, int] = field(default_factory=dict)
    # Wall time of the run's own work (scan, plan, clean, commit): the run less Prefect's start-up.
    seconds: float = 0.0
    # Duplicate clusters and learned boilerplate (flows/corpus.py); None on object storage.
    corpus: CorpusOutcome | None = None

    def as_dict(self) -> dict[str, object]:
        """The summary as JSON values: what `docclean run --json` prints (README: The run summary)."""
        counts = {
            name: getattr(self, name)
            for name in (
                "seen", "new", "changed", "unchanged", "renamed", "reused", "missing", "pruned",
                "pending", "cleaned", "resumed", "rejected", "wrote",
            )
        }  # fmt: skip
        return {
            **counts,
            "seconds": round(self.seconds, 3),
            "reject_reasons": dict(self.reject_reasons.most_common()),
            "rejected_files": [
                {"source_path": r.source_path, "reason": r.reason, "detail": r.detail} for r in self.rejects
            ],
            "noise_by_category": dict(self.noise_by_category.most_common()),
            "placeholders_by_kind": dict(self.placeholders_by_kind.most_common()),
            "encodings": dict(self.encodings.most_common()),
        }

    def add_batch(self, outcome: BatchOutcome, resumed: bool = False) -> None:
        if resumed:
            self.resumed += outcome.cleaned
            self.resumed_batches += 1
        else:
            self.cleaned += outcome.cleaned
        self.encodings.update(outcome.encodings)
        self.noise_by_category.update(outcome.noise_by_category)
        self.placeholders_by_kind.update(outcome.placeholders_by_kind)
        for rule, documents in outcome.disabled_rules.items():
            self.disabled_rules[rule] = self.disabled_rules.get(rule, 0) + documents

    def add_scan(self, scan: ScanResult, plan: Plan) -> None:
        """The counts of files: what the scan saw and what the plan decides for each."""
        self.seen = len(scan.files) + len(scan.problems)
        self.pending = len(scan.pending)
        self.future_mtime = list(scan.future_mtime)
        for name, count in plan.counts.items():
            setattr(self, name, count)

    def add_kept_rejects(self, rejects: pa.Table) -> None:
        """Rejects carried over from the current snapshot (all of them, when the run writes nothing)."""
        self.rejected += rejects.num_rows
        self.reject_reasons.update(rejects.column("reason").to_pylist())

    def left_as_is(self, rejects: pa.Table, started: float) -> RunSummary:
        """The summary of a run that found nothing new or changed: the dataset's rejects, the time since `started`."""
        get_run_logger().info("Nothing new or changed: the dataset is left as it is.")
        self.add_kept_rejects(rejects)
        self.seconds = time.perf_counter() - started
        return self

    def finished(self, started: float) -> RunSummary:
        """The summary of a run that wrote its snapshot, with the time since `started` (time.perf_counter)."""
        self.seconds = time.perf_counter() - started
        get_run_logger().info(
            "Cleaned %d documents, rejected %d files in %.1f s.",
            self.cleaned,
            len(self.rejects),
            self.seconds,
        )
        return self

    def add_commit(self, batches: list[CleanedBatch], committed: Committed) -> None:
        """What the batches cleaned and the commit wrote."""
        for batch in batches:
            self.add_batch(batch.outcome, batch.resumed)
        self.wrote = True
        self.rejects = committed.rejects
        self.rejected = len(committed.rejects)
        self.reject_reasons.update(r.reason for r in committed.rejects)
        self.add_kept_rejects(committed.kept_rejects)
        self.corpus = committed.corpus


def report(summary: RunSummary, curated: str, html_report: bool) -> None:
    """Log the run's rejects and disabled rules, and publish the run report as a Prefect artifact.

    The report is the run's own counts, then the per-rule totals of the whole dataset that the
    HTML report details (a local folder or object storage alike). `html_report` rewrites the HTML
    report first, so that the run report's link finds it current.
    """
    logger = get_run_logger()
    for reject in summary.rejects:
        logger.warning("Rejected %s", reject.detail, extra={REJECT_NOTICE: True})
    for rule, documents in sorted(summary.disabled_rules.items()):
        logger.warning(
            "Rule %r timed out on %d documents and was disabled for the rest of the run: %d more documents "
            "were cleaned without it and carry the flag rule_disabled:%s. Fix or remove the rule; the next "
            "run re-cleans every document with the new rules.",
            rule,
            DISABLE_AFTER_TIMEOUTS,
            documents,
            rule,
        )
    if html_report:
        write_report(curated)
    whole = dataset_report_markdown(curated)
    create_markdown_artifact(
        markdown=report_markdown(summary) + "\n" + whole,
        key="docclean-run-report",
        description="What this docclean run did",
    )


def report_markdown(summary: RunSummary) -> str:
    def table(title: str, counts: Counter[str]) -> str:
        if not counts:
            return f"**{title}**: none\n"
        lines = [f"**{title}**\n", "| | count |", "|---|---:|"]
        lines += [f"| {key} | {value} |" for key, value in counts.most_common()]
        return "\n".join(lines) + "\n"

    head = (
        "# docclean run report\n\n"
        f"| files seen | new | changed | unchanged | reused | renamed | missing | pending | cleaned | rejected |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {summary.seen} | {summary.new} | {summary.changed} | {summary.unchanged} | {summary.reused} | "
        f"{summary.renamed} | {summary.missing} | {summary.pending} | {summary.cleaned} | {summary.rejected} |\n"
    )
    rejects = "\n".join(f"- `{r.source_path}`: {r.reason}: {r.detail}" for r in summary.rejects[:50])
    future = "".join(f"- `{path}`\n" for path in summary.future_mtime[:50])
    corpus = summary.corpus
    return "\n".join(
        [
            head,
            *(
                [
                    f"**Corpus**: {corpus.clusters} duplicate clusters, {corpus.duplicates} duplicates, "
                    f"{corpus.boilerplate_lines} boilerplate lines; {corpus.recleaned} documents cleaned "
                    "again because a line became or stopped being boilerplate.\n"
                ]
                if corpus is not None
                else []
            ),
            f"**Modification time in the future** (curated anyway; check the clock that wrote them)\n\n{future}"
            if future
            else "",
            table("Noise removed by category", summary.noise_by_category),
            table("Placeholders by kind", summary.placeholders_by_kind),
            table("Encodings seen", summary.encodings),
            table("Rejected by reason", summary.reject_reasons),
            *(
                [
                    table(
                        "Rules disabled after timeouts (documents cleaned without them)",
                        Counter(summary.disabled_rules),
                    )
                ]
                if summary.disabled_rules
                else []
            ),
            rejects,
        ]
    )
