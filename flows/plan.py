"""Plan a run: what happens to every scanned file and every row of the current snapshot.

Pure: the scan, the current tables, the content hashes taken beforehand (`files_to_hash` says
which) and what the run was asked to do go in; a `Plan` comes out. Nothing is read or written
here, so the plan is tested with plain values.

A row is kept as it is when its file has the size and mtime it recorded and it was made by this
run's rules, pipeline version and cleaning options; the options the snapshot was made under are
recorded with its rejects table (`judged_options`), so that changing one of them (`--mask-token`,
`--keep-script`, `--languages`) cleans the documents again, and the rejects that depend on it
(`OPTION_DEPENDENT_REASONS`) are looked at again; so is every reject after a new pipeline version.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from docclean import PIPELINE_VERSION
from docclean.pipeline import CleanConfig
from docclean.sourcepath import legacy_source_path
from flows.scan import RawEntry, ScanResult

# The columns of the documents table the plan reads.
PLAN_COLUMNS = [
    "doc_id",
    "source_path",
    "source_sha256",
    "source_bytes",
    "source_mtime_ns",
    "rules_version",
    "pipeline_version",
    "source_present",
]
# Reasons worth retrying on the next run: the file may be readable or present by then.
TRANSIENT_REASONS = frozenset({"unreadable", "vanished", "changed_during_read"})
# Scan problems of a folder whose files the scan could not see: their rows are kept as they are.
_UNLISTED_REASONS = frozenset({"unreadable", "changed_during_read"})
# Reasons that depend on an option, and the CleanConfig fields they depend on: a reject of one of
# these is looked at again when a run's value of the field differs from the one it was judged under.
OPTION_DEPENDENT_REASONS: dict[str, tuple[str, ...]] = {
    "too_large": ("max_file_bytes",),
    "language": ("languages",),
}
# The CleanConfig fields a document's row depends on (its rules are in its `rules_version`). The
# size limit is not one: a document stays a document when the limit is lowered below its size.
DOCUMENT_OPTIONS = ("placeholder_token", "script_conversion", "languages")


def judged_options(config: CleanConfig) -> dict[str, object]:
    """The values of the options that rows and rejects depend on, as JSON values (recorded per
    snapshot), and the pipeline version that judged the rejects (`PIPELINE_KEY`)."""
    names = sorted(
        {*DOCUMENT_OPTIONS, *(name for names in OPTION_DEPENDENT_REASONS.values() for name in names)}
    )
    return {
        **json.loads(json.dumps({name: getattr(config, name) for name in names})),
        PIPELINE_KEY: PIPELINE_VERSION,
    }


# The key of the recorded options that holds the pipeline version the rejects were judged by: a
# newer pipeline may read what an older one refused (a text padded with NUL bytes), so a run of
# another version looks at every reject again, once.
PIPELINE_KEY = "pipeline_version"


def stale_reasons(recorded: Mapping[str, object] | None, current: Mapping[str, object]) -> frozenset[str]:
    """Reject reasons whose options differ between the run that judged them and this run.

    A rejects table that records no options (written before they were recorded) makes every
    option-dependent reason stale once.
    """
    return frozenset(
        reason
        for reason, names in OPTION_DEPENDENT_REASONS.items()
        if recorded is None or any(recorded.get(name) != current.get(name) for name in names)
    )


def options_changed(recorded: Mapping[str, object] | None, current: Mapping[str, object]) -> bool:
    """Whether the documents were cleaned under other options than this run's (unknown counts as other)."""
    return recorded is None or any(recorded.get(name) != current.get(name) for name in DOCUMENT_OPTIONS)


@dataclass(frozen=True)
class Judgement:
    """What decides whether a row or a reject still stands, and what the run was asked to do."""

    rules_version: str
    # The options the current snapshot records (None when it records none) and this run's.
    recorded_options: Mapping[str, object] | None = None
    options: Mapping[str, object] = field(default_factory=dict)
    prune: bool = False
    verify: bool = False

    @property
    def stale_reasons(self) -> frozenset[str]:
        """Reject reasons to look at again: their options changed (see stale_reasons)."""
        return stale_reasons(self.recorded_options, self.options)

    @property
    def pipeline_changed(self) -> bool:
        """Whether the rejects were judged by another pipeline version (unknown counts as other). A
        judgement without this run's options (a plan made outside a run, in a test) compares none."""
        return bool(self.options) and (self.recorded_options or {}).get(PIPELINE_KEY) != self.options.get(
            PIPELINE_KEY
        )

    @property
    def options_changed(self) -> bool:
        """Whether the documents were cleaned under other options. A judgement without this run's
        options (a plan made outside a run, in a test) compares none."""
        return bool(self.options) and options_changed(self.recorded_options, self.options)


@dataclass
class Plan:
    """What a run does with each path; every path of the current snapshot ends in exactly one row or none.

    A path in `reuse` (as new path), `mark_missing` or `to_clean` is also in `drop`: its old row
    goes, and the row the run writes for it replaces it. `counts` are the run summary's counts of
    files: new, changed, unchanged, renamed, reused, missing, pruned.
    """

    to_clean: list[RawEntry] = field(default_factory=list)
    # (existing row's path, new path, new mtime, keep the existing row's doc_id): rows carried over without cleaning.
    reuse: list[tuple[str, str, int, bool]] = field(default_factory=list)
    drop: set[str] = field(default_factory=set)
    mark_missing: list[str] = field(default_factory=list)
    carried_rejects: list[str] = field(default_factory=list)
    # The doc_id a path keeps from its earlier row, whatever row its new content comes from.
    doc_ids: dict[str, str] = field(default_factory=dict)
    # Paths whose row shares its doc_id with another path's (written by an earlier version): a new id.
    fresh_ids: set[str] = field(default_factory=set)
    # The content hash of each file to clean that the run hashed beforehand: part of its batch's key.
    hashes: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def changes_nothing(self) -> bool:
        """No row is written, moved or dropped (rejects aside)."""
        return not (self.to_clean or self.reuse or self.mark_missing or self.drop)


class Current:
    """The current snapshot's rows as the plan looks them up: the first row of each path, and its indexes."""

    def __init__(self, documents: pa.Table, rejects: pa.Table, judgement: Judgement) -> None:
        table_rows = documents.to_pylist()
        self.rows: dict[str, dict[str, object]] = {}
        for row in table_rows:
            self.rows.setdefault(str(row["source_path"]), row)
        # An earlier version could leave one path twice, or one doc_id on two paths: such rows are
        # rewritten, once each, with a doc_id of their own.
        duplicated = {path for path, n in Counter(r["source_path"] for r in table_rows).items() if n > 1}
        owners: dict[object, str] = {}
        self.fresh_ids: set[str] = set()
        for path in sorted(self.rows):
            if self.rows[path]["doc_id"] in owners:
                self.fresh_ids.add(path)
            else:
                owners[self.rows[path]["doc_id"]] = path
        self.rewrite = duplicated | self.fresh_ids
        # Rows made by this run's rules, pipeline and cleaning options: only these can stand as they are.
        same_options = not judgement.options_changed
        self.up_to_date = {
            path
            for path, row in self.rows.items()
            if same_options
            and row["rules_version"] == judgement.rules_version
            and row["pipeline_version"] == PIPELINE_VERSION
        }
        self.by_sha: dict[object, list[str]] = {}
        for path in sorted(self.up_to_date):
            self.by_sha.setdefault(self.rows[path]["source_sha256"], []).append(path)
        # Every row by its source bytes, whatever made it: a rename is one whatever the run's rules.
        self.any_by_sha: dict[object, list[str]] = {}
        for path in sorted(self.rows):
            self.any_by_sha.setdefault(self.rows[path]["source_sha256"], []).append(path)
        # Content seen before has its row's size. A file of any other size is new content: hashing
        # it beforehand would read it twice, since its batch reads (and hashes) it again to clean it.
        self.up_to_date_sizes = {self.rows[path]["source_bytes"] for path in self.up_to_date}
        self.rejects = {str(row["source_path"]): row for row in rejects.to_pylist()}
        self.judgement = judgement

    def vanished(self, scan: ScanResult) -> set[str]:
        """Paths of rows whose file the scan did not see at all (neither to curate nor pending nor a
        problem, nor inside a folder that could not be listed: its files are there, unseen)."""
        seen = {e.rel_path for e in scan.files} | set(scan.pending) | {p.rel_path for p in scan.problems}
        unlisted = tuple(f"{p.rel_path}/" for p in scan.problems if p.reason in _UNLISTED_REASONS)
        return {
            path for path in self.rows if path not in seen and not (unlisted and path.startswith(unlisted))
        }

    def legacy_origins(
        self, scan: ScanResult, hashes: Mapping[str, str | None] | None = None
    ) -> dict[str, str]:
        """Files whose row was written under the old spelling of their path (docclean.sourcepath).

        By name alone when `hashes` is None: the candidates, which `files_to_hash` hashes. With the
        hashes, only a candidate whose content is its row's: the old spelling of a name is the
        current spelling of another (a file literally named `\\xd6\\xd0.txt` spelled the old way is
        the GBK name 中.txt spelled the new way), so a name alone could hand a deleted file's row,
        doc_id and text to another file.
        """
        vanished = self.vanished(scan)
        origins: dict[str, str] = {}
        for entry in scan.files:
            legacy = legacy_source_path(entry.rel_path)
            named = entry.rel_path not in self.rows and legacy != entry.rel_path and legacy in vanished
            if named and (hashes is None or hashes.get(entry.rel_path) == self.rows[legacy]["source_sha256"]):
                origins.setdefault(entry.rel_path, legacy)
        return origins

    def same_stat(self, entry: RawEntry, origin: str | None) -> bool:
        """The row of `origin` is current and records the file's size and mtime."""
        row = self.rows.get(origin) if origin is not None else None
        return (
            row is not None
            and origin in self.up_to_date
            and row["source_bytes"] == entry.size
            and row["source_mtime_ns"] == entry.mtime_ns
        )

    def standing_reject(self, entry: RawEntry, origin: str | None) -> dict[str, object] | None:
        """The file's reject when size and mtime still match and nothing since makes it worth a new look."""
        reject = self.rejects.get(entry.rel_path)
        if origin in self.rows or reject is None:
            return None
        standing = (
            reject["source_bytes"] == entry.size
            and reject["source_mtime_ns"] == entry.mtime_ns
            and reject["reason"] not in TRANSIENT_REASONS
            and reject["reason"] not in self.judgement.stale_reasons
            and not self.judgement.pipeline_changed
        )
        return reject if standing else None


def files_to_hash(scan: ScanResult, current: Current) -> list[RawEntry]:
    """The files whose content hash the plan needs, in scan order; the hashing step reads them.

    Without `verify`: a file whose size and mtime do not match its row, and whose size some current
    row has (a copy or a touched file), a new file of the size of a row whose file is gone (a rename
    in a run whose rules or options differ from the row's), and a file that may have a row under the old spelling of
    its path (`Current.legacy_origins`). With `verify`: every file, except a standing reject that
    keeps no hash (its bytes were never fully read: size and mtime decide then).
    """
    candidates = current.legacy_origins(scan)
    # A new file of a vanished row's size may be that file renamed, under rows made by other rules too.
    vanished_sizes = {current.rows[path]["source_bytes"] for path in current.vanished(scan)}
    wanted: list[RawEntry] = []
    for entry in scan.files:
        origin = entry.rel_path if entry.rel_path in current.rows else None
        reject = current.standing_reject(entry, origin)
        if entry.rel_path in candidates:
            needed = True
        elif current.judgement.verify:
            needed = reject is None or reject["source_sha256"] is not None
        else:
            needed = (
                not current.same_stat(entry, origin)
                and reject is None
                and (
                    entry.size in current.up_to_date_sizes
                    or (origin is None and entry.size in vanished_sizes)
                )
            )
        if needed:
            wanted.append(entry)
    return wanted


def plan(scan: ScanResult, current: Current, hashes: Mapping[str, str | None]) -> Plan:
    """Decide, for every scanned file and every row of the current snapshot, what this run does.

    `hashes` holds the SHA-256 of each file `files_to_hash` named (None for a file that could not
    be read). Pending files and scan problems are neither missing nor reused here.
    """
    planner = _Planner(scan, current, hashes)
    for entry in scan.files:
        planner.place(entry)
    # A pending file keeps its reject, as it keeps its row, until a run reads it.
    planner.plan.carried_rejects.extend(path for path in scan.pending if path in current.rejects)
    planner.close_vanished(current.vanished(scan))
    return planner.plan


class _Planner:
    """The plan being made, and the rows already claimed as the source of a rename."""

    def __init__(self, scan: ScanResult, current: Current, hashes: Mapping[str, str | None]) -> None:
        self.current = current
        self.hashes = hashes
        self.verify = current.judgement.verify
        self.plan = Plan(fresh_ids=set(current.fresh_ids))
        self.vanished = current.vanished(scan)
        # Rows written under the old spelling of a path go to their file first, before any
        # content match could take them for a rename.
        self.origins = current.legacy_origins(scan, hashes)
        self.renamed_from: set[str] = set(self.origins.values())
        self.plan.drop.update(self.renamed_from)

    def place(self, entry: RawEntry) -> None:
        path, rows = entry.rel_path, self.current.rows
        origin = path if path in rows else self.origins.get(path)
        row = rows[origin] if origin is not None else None
        kept_id = str(row["doc_id"]) if row is not None and origin not in self.plan.fresh_ids else None
        same_stat = self.current.same_stat(entry, origin)
        sha = self.hashes.get(path)
        if same_stat and origin == path and row["source_present"] and path not in self.current.rewrite:
            # A file that cannot be read now keeps its row: verifying never loses a document.
            if not self.verify or sha is None or sha == row["source_sha256"]:
                self.plan.counts["unchanged"] += 1
            else:
                self._clean(entry, kept_id, "changed")
            return
        if same_stat and not self.verify:
            # The file of the row by the quick test: the row moves to the new spelling of its
            # path, is present again, or is written once instead of twice.
            self._reuse(str(origin), entry, kept_id is not None, "renamed" if origin != path else "changed")
            return
        reject = self.current.standing_reject(entry, origin)
        if reject is not None and (not self.verify or reject["source_sha256"] in (None, sha) or sha is None):
            self.plan.carried_rejects.append(path)
            self.plan.counts["unchanged"] += 1
            return
        kind = "new" if row is None else "renamed" if origin != path else "changed"
        self._place_content(entry, origin, kept_id, sha, kind)

    def _place_content(
        self, entry: RawEntry, origin: str | None, kept_id: str | None, sha: str | None, kind: str
    ) -> None:
        """A file whose row does not stand: its content is reused from a row holding it, or cleaned."""
        self.plan.counts[kind] += 1
        row = self.current.rows.get(origin) if origin is not None else None
        if (
            sha is not None
            and row is not None
            and origin in self.current.up_to_date
            and row["source_sha256"] == sha
        ):
            self._reuse(str(origin), entry, kept_id is not None)
            return
        source = self._reusable_source(self.current.by_sha.get(sha, [])) if sha is not None else None
        renamed = self._renamed_source(sha) if source is None and kept_id is None else None
        if renamed is not None:
            # A file renamed in a run that cleans its row again (other rules or options): the row's
            # doc_id goes with it, as in any rename, and the file is cleaned.
            self.renamed_from.add(renamed)
            self.plan.drop.add(renamed)
            self.plan.counts["renamed"] += 1
            fresh = renamed in self.plan.fresh_ids
            self._clean(entry, None if fresh else str(self.current.rows[renamed]["doc_id"]))
        elif source is None:
            self._clean(entry, kept_id)
        elif source in self.vanished and source not in self.renamed_from and source != entry.rel_path:
            self.renamed_from.add(source)
            self.plan.drop.add(source)
            self.plan.counts["renamed"] += 1
            self._reuse(source, entry, source not in self.plan.fresh_ids)
        else:
            self.plan.counts["reused"] += 1
            if kept_id is not None:
                self.plan.doc_ids[entry.rel_path] = (
                    kept_id  # an edited file that now copies another keeps its id
                )
            self._reuse(source, entry, False)

    def _reusable_source(self, paths: list[str]) -> str | None:
        """The row to reuse for content seen before: a vanished path first (a rename), else any copy."""
        for path in paths:
            if path in self.vanished and path not in self.renamed_from:
                return path
        return paths[0] if paths else None

    def _renamed_source(self, sha: str | None) -> str | None:
        """A row whose file is gone and whose bytes were `sha`, not yet taken by another rename."""
        for path in self.current.any_by_sha.get(sha, []) if sha is not None else []:
            if path in self.vanished and path not in self.renamed_from:
                return path
        return None

    def _clean(self, entry: RawEntry, kept_id: str | None, kind: str | None = None) -> None:
        if kind is not None:
            self.plan.counts[kind] += 1
        self.plan.to_clean.append(entry)
        if self.hashes.get(entry.rel_path) is not None:
            self.plan.hashes[entry.rel_path] = str(self.hashes[entry.rel_path])
        self.plan.drop.add(entry.rel_path)
        if kept_id is not None:
            self.plan.doc_ids[entry.rel_path] = kept_id

    def _reuse(self, source: str, entry: RawEntry, keep_id: bool, kind: str | None = None) -> None:
        if kind is not None:
            self.plan.counts[kind] += 1
        self.plan.reuse.append((source, entry.rel_path, entry.mtime_ns, keep_id))
        self.plan.drop.add(entry.rel_path)

    def close_vanished(self, vanished: set[str]) -> None:
        """Rows whose file is gone: dropped with `prune`, else kept once, marked missing."""
        for path in sorted(vanished - self.renamed_from):
            row = self.current.rows[path]
            if self.current.judgement.prune:
                self.plan.drop.add(path)
                self.plan.counts["pruned"] += 1
            elif row["source_present"] or path in self.current.rewrite:
                self.plan.mark_missing.append(path)
                self.plan.drop.add(path)
                self.plan.counts["missing"] += bool(row["source_present"])
