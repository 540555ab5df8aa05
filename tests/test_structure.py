from __future__ import annotations

import json

import pytest

from docclean.structure import find_structure
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
