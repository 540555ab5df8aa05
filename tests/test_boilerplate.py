"""Boilerplate learned from the drop (docclean/boilerplate.py): signals, conventions, exact replay."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docclean.boilerplate import (
    DEFAULT_RULES,
    POSITIONS,
    RULE_ID,
    LineCounts,
    apply_boilerplate,
    base_text,
    document_lines,
    key_hash,
    line_facts,
    line_key,
    lines_with,
    normalized_text_of,
    parse_boilerplate_rules,
)
from docclean.pipeline import Cleaner, replay
from docclean.record import Record
from tests.conftest import SEEDS_DIR as SEEDS

CASES = json.loads((Path(__file__).parent / "data" / "boilerplate_cases.json").read_text(encoding="utf-8"))
VENDOR_LINE = "（本文由青松文档工作室整理，加V：qs2024获取更多）"
BODY = [
    "今天召开全县乡村振兴推进会，主要任务是总结前一阶段工作，部署下一步任务。",
    "一、提高思想认识，增强责任感和紧迫感",
    "XX县各级干部要把思想和行动统一到县委的决策部署上来，第{i}次会议精神要落实到位。",
    "二、突出工作重点，推动各项任务落地见效",
    "要抓好产业发展、人才培养、文化建设、生态保护和组织建设五个方面的工作，编号{i}。",
]


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner()


def district(i: int) -> str:
    """A name of its own for document `i` (up to 60): documents that differ in digits alone count once for boilerplate."""
    return "甲乙丙丁戊己庚辛壬癸"[i % 10] + "子丑寅卯辰巳午未申酉戌亥"[i % 12]


def speech(i: int, tail: str = VENDOR_LINE) -> bytes:
    lines = [
        f"在{district(i)}片区第{i}次工作会议上的讲话",
        "同志们：",
        *(line.format(i=i) for line in BODY),
        "谢谢大家！",
        tail,
    ]
    return "\n".join(lines).encode()


def judge(line: str, documents: int = 20) -> str:
    rules = DEFAULT_RULES
    key = line_key(line)
    if rules.is_boilerplate(key, documents):
        return "boilerplate"
    return "convention" if rules.is_convention(key) else "candidate"


@pytest.mark.parametrize("line", CASES["boilerplate"])
def test_recurring_lines_with_a_signal_are_boilerplate(line: str) -> None:
    assert judge(line) == "boilerplate"
    assert judge(line, documents=DEFAULT_RULES.min_documents - 1) != "boilerplate"


@pytest.mark.parametrize("line", CASES["convention"])
def test_speech_conventions_are_content_however_often_they_recur(line: str) -> None:
    assert judge(line, documents=10_000) == "convention"


@pytest.mark.parametrize("line", CASES["candidate"])
def test_recurring_lines_without_a_signal_are_candidates(line: str) -> None:
    assert judge(line) == "candidate"


@pytest.mark.parametrize("case", CASES["known_failure"], ids=lambda c: c["line"])
def test_known_failures_keep_their_documented_verdict(case: dict[str, str]) -> None:
    assert judge(case["line"]) == case["verdict"]


def test_line_key_folds_whitespace_digits_and_the_token() -> None:
    assert (
        line_key(" 加 QQ：１２３45 [MASK]同志 ") == line_key("加QQ：99999 [MASK] 同志") == "加QQ：00000□同志"
    )


def _counted(records: list[Record]) -> LineCounts:
    return LineCounts.of({record.doc_id: base_text(record) for record in records})


def test_a_vendor_line_in_twenty_documents_is_removed_from_all_and_salutations_kept(cleaner: Cleaner) -> None:
    records = [cleaner.clean(speech(i), f"{i}.txt") for i in range(20)]
    counts = _counted(records)
    boilerplate = counts.boilerplate()
    assert boilerplate == {line_key(line) for line in counts_lines(records) if "青松" in line}
    for record in records:
        cleaned = apply_boilerplate(record, boilerplate.__contains__)
        assert "青松" not in cleaned.text
        assert "同志们：" in cleaned.text.split("\n") and "谢谢大家！" in cleaned.text.split("\n")
        assert any(r.rule == RULE_ID and r.category == "advertising" for r in cleaned.removed)
        assert replay(cleaned, normalized_text_of(replace(cleaned, normalized_text=""))) == cleaned.text
        assert base_text(replace(cleaned, normalized_text="")) == record.text
        assert apply_boilerplate(cleaned, boilerplate.__contains__) is cleaned
    candidates = [stat.line for stat in counts.candidates()]
    assert "同志们：" not in candidates and "谢谢大家！" not in candidates


def counts_lines(records: list[Record]) -> set[str]:
    return {line for record in records for line in record.text.split("\n")}


def test_copies_of_one_document_count_once(cleaner: Cleaner) -> None:
    # A content line carrying a vendor-like noun, in five copies of one speech: content, not boilerplate.
    own = "去年以来，县非遗工作室牵头完成了各项展演任务。"
    copies = [cleaner.clean(speech(0, own), f"copy{i}.txt") for i in range(DEFAULT_RULES.min_documents)]
    assert _counted([]).boilerplate() == frozenset() and _counted([]).documents_of(line_key(own)) == 0
    counts = _counted(copies)
    assert counts.documents_of(line_key(own)) == 1
    assert counts.boilerplate() == frozenset()
    # Five distinct documents holding the vendor's line still make it boilerplate, copies or not.
    records = copies + [cleaner.clean(speech(i), f"{i}.txt") for i in range(DEFAULT_RULES.min_documents)]
    assert _counted(records).boilerplate() == {
        line_key(line) for line in counts_lines(records) if "青松" in line
    }


def test_below_the_threshold_nothing_is_removed(cleaner: Cleaner) -> None:
    rules = DEFAULT_RULES
    records = [cleaner.clean(speech(i), f"{i}.txt") for i in range(rules.min_documents - 1)]
    assert _counted(records).boilerplate() == frozenset()


def test_counts_are_incremental_and_survive_serialization(cleaner: Cleaner) -> None:
    records = [cleaner.clean(speech(i), f"{i}.txt") for i in range(8)]
    whole = _counted(records)
    part = _counted(records[:3])
    part = LineCounts.from_tables(*part.to_tables())
    for record in records[3:]:
        part.set_document(record.doc_id, record.text)
    part.fill_lines({record.doc_id: record.text for record in records})
    for mine, theirs in zip(part.to_tables(), whole.to_tables(), strict=True):
        assert mine.equals(theirs)
    for record in records[:4]:
        whole.remove_document(record.doc_id)
    assert whole.boilerplate() == frozenset()
    assert whole.holders({line_key(VENDOR_LINE)}) <= {r.doc_id for r in records[4:]}


def test_candidates_are_recurring_lines_without_a_signal_most_frequent_first(cleaner: Cleaner) -> None:
    records = [
        cleaner.clean(speech(i, "精品资料 值得收藏" if i < 12 else "本篇完"), f"{i}.txt") for i in range(20)
    ]
    stats = _counted(records).candidates()
    lines = [s.line for s in stats]
    assert lines.index("精品资料 值得收藏") < lines.index("本篇完")
    first = stats[lines.index("精品资料 值得收藏")]
    assert (first.documents, first.last) == (12, 12)


def test_an_invalid_table_names_the_file() -> None:
    with pytest.raises(ValueError, match=r"^mine\.toml: the boilerplate table is invalid"):
        parse_boilerplate_rules("min_documents = 3\nedge_lines = 2\n[signals]\nx = '('\n", "mine.toml")


# Texts of the characters the folds treat apart: line breaks, every kind of whitespace, the digits
# they fold, the token's characters and the stand-in line_facts uses for line breaks.
_FOLD_TEXTS = st.lists(
    st.sampled_from([*list("\n\r\t \u3000\x85\u2028\x0b\x00□MASK[]同志们3９0"), "[MASK]", "\r\n", "M\nA"]),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_FOLD_TEXTS, st.integers(0, 4), st.sampled_from(["[MASK]", "□", "M\nA", "", "\x00", "3"]))
def test_line_facts_and_lines_with_equal_the_line_by_line_reference(
    text: str, edge_lines: int, token: str
) -> None:
    """line_facts and lines_with fold a whole text at once; document_lines folds it line by line."""
    reference = document_lines(text, edge_lines, token)
    hashes, positions = line_facts(text, edge_lines, token)
    assert hashes.dtype == np.uint64 and positions.dtype == np.int8
    assert hashes.tolist() == [key_hash(key) for key in reference]
    assert positions.tolist() == [POSITIONS.index(position) for _, position in reference.values()]
    assert lines_with(text, set(hashes.tolist()), edge_lines, token) == {
        key_hash(key): line for key, (line, _) in reference.items()
    }


@pytest.mark.skipif(
    not SEEDS.is_dir(),
    reason=f"the seed documents are not here ({SEEDS} is absent): they ship beside the project only",
)
@settings(max_examples=25, deadline=None)
@given(st.data())
def test_replay_stays_exact_whatever_lines_are_removed(data: st.DataObject) -> None:
    cleaner = _module_cleaner()
    paths = sorted(SEEDS.iterdir())
    path = data.draw(st.sampled_from(paths))
    record = cleaner.clean(path.read_bytes(), path.name)
    keys = sorted({line_key(line) for line in record.text.split("\n") if line.strip()})
    chosen = set(data.draw(st.lists(st.sampled_from(keys), max_size=len(keys))))
    cleaned = apply_boilerplate(record, chosen.__contains__)
    row = replace(cleaned, normalized_text="")
    normalized = normalized_text_of(row)
    assert normalized == record.normalized_text
    assert replay(row, normalized) == cleaned.text
    assert all(line_key(line) not in chosen for line in cleaned.text.split("\n") if line.strip())
    assert base_text(row) == record.text


_CLEANER: list[Cleaner] = []


def _module_cleaner() -> Cleaner:
    if not _CLEANER:
        _CLEANER.append(Cleaner())
    return _CLEANER[0]


# Lines drawn from a small pool, so that they recur across documents; the vendor lines carry signals.
LINE_POOL = [
    "同志们：",
    "谢谢大家！",
    "扫码关注公众号 青松范文",
    "加QQ：12345678 获取全文",
    "精品资料 值得收藏",
    "本篇完",
]
documents_strategy = st.dictionaries(
    st.sampled_from([f"d{i:02d}" for i in range(14)]),
    st.lists(st.sampled_from(LINE_POOL + [f"第{i}段正文内容。" for i in range(4)]), min_size=1, max_size=8),
    min_size=1,
)


def _reference(texts: dict[str, str]) -> dict[str, set[str]]:
    """Folded line -> the documents holding it, counted the plain way."""
    holders: dict[str, set[str]] = {}
    for doc_id, text in texts.items():
        for line in text.split("\n"):
            if line.strip():
                holders.setdefault(line_key(line), set()).add(doc_id)
    return holders


def _distinct(texts: dict[str, str], holders: set[str]) -> int:
    """How many distinct documents `holders` are: those with the same set of folded lines count once."""
    return len({frozenset(line_key(line) for line in texts[d].split("\n") if line.strip()) for d in holders})


@settings(max_examples=60, deadline=None)
@given(documents_strategy, documents_strategy, st.randoms(use_true_random=False))
def test_line_counts_equal_a_plain_count_whatever_the_order_of_adds_and_removals(
    first: dict[str, list[str]], second: dict[str, list[str]], rng: random.Random
) -> None:
    """Counted in one go, or as a first drop then a second one (documents replaced and removed) through a
    saved state: the same counts, lines, boilerplate and candidates as counting the final texts plainly
    (documents with the same set of folded lines once)."""
    final = {doc_id: "\n".join(lines) for doc_id, lines in {**first, **second}.items()}
    removed = set(rng.sample(sorted(final), k=len(final) // 3))
    final = {doc_id: text for doc_id, text in final.items() if doc_id not in removed}
    whole = LineCounts.of(final)
    staged = LineCounts.of({doc_id: "\n".join(lines) for doc_id, lines in first.items()})
    staged = LineCounts.from_tables(*staged.to_tables())
    staged.remove_documents(removed)
    later = {doc_id: "\n".join(lines) for doc_id, lines in second.items() if doc_id not in removed}
    if later:
        facts = [line_facts(text, DEFAULT_RULES.edge_lines) for text in later.values()]
        staged.set_documents(
            list(later),
            np.array([h for hashes, _ in facts for h in hashes], np.uint64),
            np.array([p for _, positions in facts for p in positions], np.int8),
            [len(hashes) for hashes, _ in facts],
        )
    staged.fill_lines(final)
    reference = _reference(final)
    for counts in (whole, staged):
        for key, holders in reference.items():
            assert counts.documents_of(key) == _distinct(final, holders)
            assert counts.holders({key}) == holders
        assert counts.boilerplate() == {
            key
            for key, holders in reference.items()
            if DEFAULT_RULES.is_boilerplate(key, _distinct(final, holders))
        }
        for stat in counts.candidates():
            holders = reference[stat.key]
            assert stat.documents == _distinct(final, holders)
            assert line_key(stat.line) == stat.key
            # The line as the holder with the smallest doc_id has it, whatever the order of counting.
            assert stat.line in {line.strip() for line in final[min(holders)].split("\n")}
    for mine, theirs in zip(staged.to_tables(), whole.to_tables(), strict=True):
        assert mine.equals(theirs)


def test_the_applied_lines_are_kept_with_the_counts_whatever_the_rules_say_later(cleaner: Cleaner) -> None:
    """The pass compares what the documents were cleaned of with what the counts and rules say now,
    so a stricter threshold in a later docclean cleans the lines out of the documents again."""
    records = [cleaner.clean(speech(i), f"{i}.txt") for i in range(8)]
    counts = _counted(records)
    counts.applied = counts.boilerplate()
    assert counts.applied
    stricter = replace(DEFAULT_RULES, min_documents=9)
    loaded = LineCounts.from_tables(*counts.to_tables(), rules=stricter)
    assert loaded.applied == counts.applied
    assert loaded.wanted_lines() == {} and loaded.boilerplate() == frozenset()


def test_a_state_kept_under_a_higher_threshold_still_lists_its_candidates(cleaner: Cleaner) -> None:
    """The report and `rules check` read counts a run kept; a lower threshold in a later docclean makes
    lines recurring whose text the state lacks: they are left out of the listing, not an error."""
    records = [
        cleaner.clean(speech(i, "精品资料 值得收藏" if i < 3 else "本篇完"), f"{i}.txt") for i in range(8)
    ]
    kept = LineCounts.from_tables(
        *_counted(records).to_tables(), rules=replace(DEFAULT_RULES, min_documents=2)
    )
    lines = [stat.line for stat in kept.candidates()]
    assert "本篇完" in lines and "精品资料 值得收藏" not in lines
    with pytest.raises(ValueError, match="fill_lines"):
        kept.boilerplate()
