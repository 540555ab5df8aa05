from __future__ import annotations

import json
import re

import opencc
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from docclean import structure as structure_module
from docclean.normalize import ScriptConverters, normalize_text
from docclean.schema import OUTLINE_TYPE, _struct_list_array
from docclean.structure import DEFAULT_TABLES, _match_marker, find_structure, find_structure_batch
from tests.conftest import DATA_DIR

DATA = json.loads((DATA_DIR / "structure_cases.json").read_text("utf-8"))
CASES = DATA["cases"]


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
    tables = DEFAULT_TABLES
    expected = next(
        ((marker, found.group(1)) for marker in tables.markers if (found := marker.pattern.match(line))),
        None,
    )
    assert _match_marker(line, tables) == expected


_STRUCTURED_TEXTS = st.lists(
    st.lists(
        st.sampled_from(
            [
                "一、总体要求",
                "（一）提高认识。要抓好落实",
                "1.明确责任",
                "二是加强领导",
                "第一章 总则",
                "同志们：",
            ]
        )
        | st.text(alphabet="一二第是要（）()1.、，。：的工作会议讲话 \u3000", max_size=12),
        max_size=12,
    ).map("\n".join),
    max_size=6,
)


@settings(max_examples=200)
@given(_STRUCTURED_TEXTS, st.sampled_from([2, 100_000]))
def test_the_batch_columns_are_those_of_find_structure(texts: list[str], max_entries: int) -> None:
    """Titles, types, the capped flags and the outline column (as `records_to_table` builds it from
    OutlineEntry objects), a capped outline included (`max_entries` 2)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(structure_module, "MAX_OUTLINE_ENTRIES", max_entries)
        expected = [find_structure(text) for text in texts]
        columns = find_structure_batch(texts)
    assert columns.titles == [s.title for s in expected]
    assert columns.doc_types == [s.doc_type for s in expected]
    assert columns.capped == [s.capped for s in expected]
    reference = _struct_list_array([s.outline for s in expected], pa.list_(OUTLINE_TYPE))
    assert columns.outline.type == reference.type
    assert columns.outline.to_pylist() == reference.to_pylist()


@pytest.mark.parametrize("case", DATA["known_failures"], ids=lambda c: c["name"])
def test_known_failure(case: dict) -> None:
    structure = find_structure(case["text"])
    if (structure.title, structure.doc_type) != (case["title"], case["doc_type"]):
        pytest.xfail(case["reason"])
    pytest.fail(f"known failure {case['name']!r} now passes: move it to the cases")


_SALUTATIONS = ["同志们", "各位领导", "尊敬的各位来宾", "女士们、先生们", "各位代表、同志们", "朋友们"]
_TITLE_PIECES = [
    "在全县",
    "工作会议上的",
    "讲话",
    "培训",
    "安排",
    "08:30",
    "上午",
    "第一天",
    "  ",
    "。",
    "！",
    "，",
    "：",
    "一、",
]


@given(
    st.lists(
        st.lists(st.sampled_from(_TITLE_PIECES + _SALUTATIONS), min_size=1, max_size=5).map("".join),
        max_size=5,
    ),
    st.sampled_from(_SALUTATIONS),
    st.sampled_from(["", "：", "，", "！"]),
)
# Found by this test: a salutation with two marks after it was taken for a title.
@example(["同志们，："], "同志们", "")
# A gap of four spaces is one gap, not two (the test counted "  " twice in it).
@example(["在全县    在全县"], "同志们", "")
def test_a_title_is_made_of_heading_lines_only(head: list[str], salutation: str, end: str) -> None:
    # Final text: no empty lines, no spaces at a line's edges.
    head = [line.strip() for line in head if line.strip()]
    text = "\n".join([*head, salutation + end, "今天我们召开会议，研究部署工作。"])
    structure = find_structure(text)
    lines = text.split("\n")
    if structure.title is None:
        return
    # The title is the first lines joined, each of them a heading: never the salutation, a
    # sentence, a time or a schedule line; its type comes from the title's own words.
    count = next(n for n in range(1, 4) if "".join(lines[:n]) == structure.title)
    for line in lines[:count]:
        # One ！ or ？ may end a title of one line with a salutation under it (奋斗的青春最美丽！).
        body = line[:-1] if count == 1 and line.endswith(("！", "？")) else line
        assert not any(mark in body for mark in "。！？；")
        # A run of spaces may set a title's two parts apart, not three fields of a schedule.
        assert "08:30" not in line and "上午" not in line and "第一天" not in line
        assert len(re.findall(r"\s{2,}", line)) <= 1  # one gap, however wide
        assert line.rstrip("：，！") not in _SALUTATIONS
    assert structure.doc_type is None or structure.doc_type in structure.title


def test_kangxi_numeral_heading_is_an_outline_entry_once_normalized() -> None:
    t2s, s2t = opencc.OpenCC("t2s").convert, opencc.OpenCC("s2t").convert
    converters = ScriptConverters(to_simplified=t2s, to_traditional=s2t, target=t2s, target_name="t2s")
    text = normalize_text("工作报告\n⼀、总体情况\n⼆、下步打算", converters).text
    assert [(entry.marker, entry.heading) for entry in find_structure(text).outline] == [
        ("一、", "总体情况"),
        ("二、", "下步打算"),
    ]
