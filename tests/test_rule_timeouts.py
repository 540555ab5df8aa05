"""A catastrophic user regex is disabled after a few timeouts, for the rest of the run (issue 14 item 10).

Timeouts are counted, never timed: each one costs the rule's budget, so a bound on their number
is a bound on the run's time that a loaded machine cannot make flaky.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from docclean.pipeline import DISABLE_AFTER_TIMEOUTS, BatchItem, CleanConfig, Cleaner
from docclean.rules import load_rules
from flows import cleaning as cleaning_module
from flows.curate import curate
from flows.summary import report_markdown

# `(a|aa)+$` backtracks exponentially on a run of a's that does not end the line (the `regex` module
# cuts `(a+)+$` short, so that classic is no test here).
CATASTROPHIC_RULES = """
[[rule]]
id = "nested_plus"
category = "watermark"
pattern = "(a|aa)+$"
scope = "line"
regex = true

[[rule]]
id = "promo"
category = "promo"
pattern = "关注公众号"
scope = "inline"
"""

DOCUMENTS = 20


def _document(number: int) -> str:
    return (
        f"第{number}号文件的标题\n同志们：\n今天召开会议，关注公众号部署安全生产工作。\n"
        + "a" * 40
        + "b\n"
        + f"这是第{number}份文件的正文，内容不同。\n"
    )


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(CATASTROPHIC_RULES, encoding="utf-8")
    return path


def test_cleaner_disables_a_rule_after_a_few_timeouts(rules_file: Path) -> None:
    cleaner = Cleaner(rules=load_rules(rules_file))
    records = [cleaner.clean(_document(n).encode(), f"{n}.txt") for n in range(DOCUMENTS)]
    timed_out = [r for r in records if "rule_timeout:nested_plus" in r.flags]
    disabled = [r for r in records if "rule_disabled:nested_plus" in r.flags]
    assert len(timed_out) == DISABLE_AFTER_TIMEOUTS
    # The first documents paid the timeouts; every later one was cleaned without the rule, and says so.
    assert timed_out == records[:DISABLE_AFTER_TIMEOUTS]
    assert disabled == records[DISABLE_AFTER_TIMEOUTS:]
    assert cleaner.disabled_rules == {"nested_plus"}
    # The other rules keep working, on every document, with the bad rule off.
    assert all("关注公众号" not in r.text and any(x.rule == "promo" for x in r.removed) for r in records)
    assert all("a" * 40 + "b" in r.text for r in records)

    cleaner.enable_rules()
    again = cleaner.clean(_document(99).encode(), "99.txt")
    assert "rule_timeout:nested_plus" in again.flags
    assert "rule_disabled:nested_plus" not in again.flags


def test_a_disabled_rule_gives_the_same_text_as_a_timed_out_one(rules_file: Path) -> None:
    # Skipping a rule for time and not running it at all must clean a document the same way.
    cleaner = Cleaner(rules=load_rules(rules_file), disable_after_timeouts=1)
    first = cleaner.clean(_document(1).encode(), "1.txt")
    second = cleaner.clean(_document(1).encode(), "1.txt")
    assert "rule_timeout:nested_plus" in first.flags
    assert "rule_disabled:nested_plus" in second.flags
    assert (second.text, second.removed, second.placeholders) == (
        first.text,
        first.removed,
        first.placeholders,
    )


def _write_aged(path: Path, text: str) -> None:
    path.write_bytes(text.encode())
    past = time.time() - 60
    os.utime(path, (past, past))


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_disables_the_rule_flags_the_documents_and_warns_once(
    tmp_path: Path, rules_file: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    raw.mkdir()
    for number in range(DOCUMENTS):
        _write_aged(raw / f"{number:02d}.txt", _document(number))
    calls: list[str] = []
    original = Cleaner.clean_batch

    def counted(self: Cleaner, items: Iterable[BatchItem], *args: Any, **kwargs: Any) -> pa.Table:
        items = list(items)
        calls.extend(item.source_path for item in items)
        return original(self, items, *args, **kwargs)

    monkeypatch.setattr(Cleaner, "clean_batch", counted)
    with caplog.at_level(logging.WARNING):
        summary = curate(raw=str(raw), curated=str(curated), settle_seconds=0, rules_file=str(rules_file))
    rows = ds.dataset(curated / "documents").to_table().to_pylist()
    assert len(rows) == DOCUMENTS == len(calls)
    timed_out = [r["source_path"] for r in rows if "rule_timeout:nested_plus" in r["flags"]]
    disabled = [r["source_path"] for r in rows if "rule_disabled:nested_plus" in r["flags"]]
    assert len(timed_out) == DISABLE_AFTER_TIMEOUTS
    assert sorted(timed_out + disabled) == sorted(r["source_path"] for r in rows)
    assert summary.disabled_rules == {"nested_plus": DOCUMENTS - DISABLE_AFTER_TIMEOUTS}
    warnings = [r.getMessage() for r in caplog.records if "nested_plus" in r.getMessage()]
    assert len(warnings) == 1
    assert "rule_disabled:nested_plus" in warnings[0]
    assert "Rules disabled after timeouts" in report_markdown(summary)

    # A new run gives the rule a new chance: the process's Cleaner forgets the old run's timeouts.
    cleaner = cleaning_module._cleaner(CleanConfig(rules_file=rules_file))
    assert cleaner.disabled_rules == {"nested_plus"}
    cleaning_module._cleaner_for_run(CleanConfig(rules_file=rules_file), cleaning_module.datetime.now())
    assert cleaner.disabled_rules == frozenset()
