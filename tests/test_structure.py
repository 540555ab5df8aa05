from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docclean.structure import _match_marker, default_tables, find_structure
from tests.conftest import DATA_DIR

CASES = json.loads((DATA_DIR / "structure_cases.json").read_text("utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_golden_cases(case: dict) -> None:
    structure = find_structure(case["text"])
    assert structure.title == case["title"]
    assert structure.doc_type == case["doc_type"]
    assert [[e.level, e.marker, e.heading] for e in structure.outline] == case["outline"]


def test_outline_offsets_point_at_the_marker() -> None:
    text = CASES[2]["text"]
    for entry in find_structure(text).outline:
        line = text[entry.offset :].split("\n")[0]
        assert line.startswith(entry.marker) and entry.heading in line


def test_empty_text_has_no_structure() -> None:
    structure = find_structure("")
    assert structure.title is None and structure.outline == ()


@given(st.text(alphabet="一二三十百第部分章节是要求（）()1２.．、，：的工作 ", max_size=12))
def test_one_alternation_finds_the_marker_each_pattern_finds_in_rank_order(line: str) -> None:
    tables = default_tables()
    expected = next(
        ((marker, found.group(1)) for marker in tables.markers if (found := marker.pattern.match(line))),
        None,
    )
    assert _match_marker(line, tables) == expected
