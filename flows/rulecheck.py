"""`docclean rules check` over a raw folder or prefix: the one scanner lists it, the core checks the files.

The files are those a run would curate (flows.scan.scan_raw, with no settle time: a check is
not a run, and a file still being copied is checked as it is); partial downloads are left out
and links, devices and odd object keys are listed as rejected with the reason a run gives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.fs as pafs

from docclean.errors import RejectedInput
from docclean.rulecheck import RuleCheck, RuleCheckError, check_files
from flows.scan import RawEntry, ScanProblem, scan_raw
from flows.storage import parse_location


def check_rules(raw: str | Path, rules_file: Path | None = None) -> RuleCheck:
    """Clean every file under `raw` with the effective rules (docclean.rulecheck.check_files).

    Raises RuleCheckError when `raw` is not a folder (or a prefix holding objects), and
    StorageError when object storage cannot be listed.
    """
    location = parse_location(str(raw))
    if location.kind() != pafs.FileType.Directory:
        raise RuleCheckError(
            f"The raw folder {raw} does not exist; pass the folder of raw documents with --raw."
        )
    scan = scan_raw(location, settle_seconds=0)
    listed: list[tuple[str, Callable[[], bytes]]] = [(e.rel_path, _reader(e)) for e in scan.files]
    listed += [(p.rel_path, _refusal(p)) for p in scan.problems]
    return check_files(str(raw), sorted(listed, key=lambda item: item[0]), rules_file)


def _reader(entry: RawEntry) -> Callable[[], bytes]:
    def read() -> bytes:
        with entry.abs_path.backend.open_raw(entry) as handle:
            return handle.read()

    return read


def _refusal(problem: ScanProblem) -> Callable[[], bytes]:
    def read() -> bytes:
        raise RejectedInput(problem.reason, problem.detail)

    return read
