"""Find a document's title, its type and the outline of its section headings.

Runs on the final text (after noise and placeholders), so offsets index the dataset's `text`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import opencc
import pyarrow as pa

from docclean.lines import iter_lines
from docclean.record import OutlineEntry, Structure
from docclean.schema import OUTLINE_TYPE, struct_lists

# A title line is short and does not end a sentence; beyond this many characters a line is a
# paragraph, however it ends.
_TITLE_MAX_CHARS = 60
# Titles are split over two lines in practice (seed 000), rarely three; more short lines at
# the top are a list, not a title.
_TITLE_MAX_LINES = 3
_SENTENCE_END = tuple("。！？；，、…")
# A heading holds no sentence inside it either: `培训安排。请准时参加` is a notice, not a title.
_SENTENCE_PUNCTUATION = re.compile(r"[。！？；!?;]")
# `同志们：`, `各位领导、同志们：`: a salutation opens the body.
_SALUTATION = re.compile(r"^[^。！？，]{1,20}[：:]$")
# Lines of a schedule or a table are not headings: a time (`08:30`, `上午`), a day of a
# programme (`第一天`), or fields set apart by a run of spaces (`第一天  上午  报到`).
_SCHEDULE_LINE = re.compile(
    r"\d{1,2}\s*[:：]\s*\d{2}|[上中下]午|晚上|第[一二三四五六七八九十\d]+天|星期[一二三四五六日天]"
    # Three fields at least: a title in two parts has one gap (传承红色基因　勇担时代使命).
    r"|\S(?:\s{2,}|\t|\u3000)\S.*?\S(?:\s{2,}|\t|\u3000)\S"
)
# A field of a form, filled or left blank (`合同编号：______`), or a line that introduces what
# follows (`以下为…致辞全文：`): no title.
_FIELD_LINE = re.compile(r"[：:]\s*[_＿\s]*$|编号[：:]")
# An official document's masthead (`XX县人民政府办公室文件`) and its number (`X政办发〔2023〕18号`)
# stand above its title, as a date may: passed over.
_ABOVE_TITLE = re.compile(
    r"(?!关于)[^，。！？：:]{2,30}(?:文件|简报)|.{0,12}[〔\[［(（]\d{4}[〕\]］)）]\s*第?\d+号|签发人[：:].{0,10}"
)
# A date or byline under the title: `（2019年3月5日）`, `——在…会上的讲话`.
_BYLINE = re.compile(r"^[（(].*[)）]$|^[—-]{2}")
# A subtitle under the title, which names the occasion and so the type: `——在…会上的讲话`.
_SUBTITLE = re.compile(r"^(?:——|--|—)(?=\S)")
# A date alone on a line (`2024年1月5日`, `2024-01-05`, `二〇二四年一月五日`) is no heading; one
# above the title is passed over.
DATE_LINE = re.compile(
    r"[（(]?(?:\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?|\d{4}[-./]\d{1,2}[-./]\d{1,2}"
    r"|[〇○零一二三四五六七八九]{4}年[一二三四五六七八九十]{1,2}月(?:[一二三四五六七八九十]{1,3}日)?)[)）]?"
)
# Outline headings stop at the end of their first sentence; a marker opening a long paragraph
# still names the section by that sentence.
_HEADING_END = re.compile(r"[。！？；：]")
_HEADING_MAX_CHARS = 80
# A compilation of a thousand speeches has some tens of thousands of headings. A file with
# more is a list of marker lines, not a document: its outline keeps the first ones (flag
# `outline_capped`) rather than an annotation of some 300 bytes per line.
MAX_OUTLINE_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class OutlineMarker:
    kind: str
    rank: int
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class StructureTables:
    doc_types: tuple[str, ...]
    markers: tuple[OutlineMarker, ...]
    # A line made of these forms of address (`同志们`, `尊敬的各位领导、同志们：`) is a salutation.
    salutation: re.Pattern[str] = field(default=re.compile("(?!)"))
    # A clause ending with one of these words before a colon leads a sentence into what follows
    # (`主要表现在以下几个方面：`), unlike a form's field label (`合同编号：`).
    colon_lead_ins: tuple[str, ...] = ()
    # OpenCC t2s, which folds every Traditional variant of a character: titles are typed by it.
    to_simplified: Callable[[str], str] = field(default=str, repr=False, compare=False)
    # All markers as one alternation in rank order: one `match` a line instead of one per marker
    # (alternatives are tried in order, so the first marker that matches still wins). Each
    # marker is wrapped in a group, the last to close when it matches: `lastindex` names it.
    any_marker: re.Pattern[str] = field(init=False, repr=False, compare=False)
    rank_by_group: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rank_by_group: dict[int, int] = {}
        group = 1
        for rank, marker in enumerate(self.markers):
            rank_by_group[group] = rank
            group += 1 + marker.pattern.groups
        pattern = "|".join(f"({marker.pattern.pattern})" for marker in self.markers) or "(?!)"
        object.__setattr__(self, "any_marker", re.compile(pattern))
        object.__setattr__(self, "rank_by_group", rank_by_group)

    @classmethod
    def load(cls) -> StructureTables:
        """The tables of docclean/rules/structure.toml (document types, salutations, outline markers)."""
        raw = tomllib.loads(
            resources.files("docclean").joinpath("rules", "structure.toml").read_text("utf-8")
        )
        markers = tuple(
            OutlineMarker(entry["kind"], rank, re.compile(entry["pattern"]))
            for rank, entry in enumerate(raw["marker"])
        )
        terms = "|".join(f"(?:{term})" for term in raw["salutations"])
        salutation = re.compile(f"^(?:尊敬的)?(?:{terms})(?:[、，,\\s]*(?:尊敬的)?(?:{terms}))*[：:，,！!]*$")
        return cls(
            doc_types=tuple(raw["doc_types"]),
            markers=markers,
            salutation=salutation,
            colon_lead_ins=tuple(raw["colon_lead_ins"]),
            to_simplified=opencc.OpenCC("t2s").convert,
        )


# The package's tables, read once when the module is imported. The normalize stage takes its
# outline markers from them too, so that a line is an outline item to both stages alike.
DEFAULT_TABLES = StructureTables.load()


def find_structure(text: str, tables: StructureTables = DEFAULT_TABLES) -> Structure:
    """The title, document type and outline of a final `text`, by `tables`."""
    title, doc_type, rows, capped = _structure(text, tables)
    return Structure(title, doc_type, tuple(OutlineEntry(*row) for row in rows), capped)


@dataclass(frozen=True, slots=True)
class StructureColumns:
    """`find_structure` of each text of a batch, as the documents columns hold it."""

    titles: list[str | None]
    doc_types: list[str | None]
    outline: pa.ListArray  # list<OUTLINE_TYPE>, one list per text
    capped: list[bool]


def find_structure_batch(texts: Sequence[str], tables: StructureTables = DEFAULT_TABLES) -> StructureColumns:
    """`find_structure` of each text, its outline straight into an Arrow column: a document's
    dozens of headings become no OutlineEntry objects (the equality tests check the columns
    against `records_to_table` of `find_structure`)."""
    found = [_structure(text, tables) for text in texts]
    rows = [row for _, _, outline, _ in found for row in outline]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(OUTLINE_TYPE)
    return StructureColumns(
        titles=[title for title, _, _, _ in found],
        doc_types=[doc_type for _, doc_type, _, _ in found],
        outline=struct_lists(columns, [len(outline) for _, _, outline, _ in found], pa.list_(OUTLINE_TYPE)),
        capped=[capped for _, _, _, capped in found],
    )


_OutlineRow = tuple[int, str, str, int]  # an OutlineEntry's fields: level, marker, heading, offset


def _structure(text: str, tables: StructureTables) -> tuple[str | None, str | None, list[_OutlineRow], bool]:
    """(title, doc_type, outline rows, capped) of a final `text` (see `find_structure`)."""
    # The title is in the first lines (a date line, the title's, one more that says whether they
    # are a list); the last piece here is the rest of the text, or a line when there are fewer.
    # Only the outline walks every line, one chunk of them at a time.
    head = text.split("\n", 2 * _TITLE_MAX_LINES + 2) if text else []
    start, count = _title_lines(head, tables)
    title = "".join(head[start : start + count]) if count else None
    skip_lines = start + count if title else 0
    # One more than kept tells a capped outline from a full one; a capped one is found again,
    # so that the levels are those of the headings kept.
    outline = _outline_rows(iter_lines(text) if text else (), tables, skip_lines, MAX_OUTLINE_ENTRIES + 1)
    capped = len(outline) > MAX_OUTLINE_ENTRIES
    if capped:
        outline = _outline_rows(iter_lines(text), tables, skip_lines, MAX_OUTLINE_ENTRIES)
    doc_type = _doc_type(title, head[start + count].split("\n", 1)[0], tables) if title else None
    return title, doc_type, outline, capped


def _is_title_line(line: str, tables: StructureTables) -> bool:
    """Whether a line looks like a heading: short, no sentence, no time or schedule fields,
    no salutation, byline or outline marker."""
    return (
        0 < len(line) <= _TITLE_MAX_CHARS
        and not line.endswith(_SENTENCE_END)
        and not _SENTENCE_PUNCTUATION.search(line)
        and not _SALUTATION.match(line)
        and not tables.salutation.match(line)
        and not _SCHEDULE_LINE.search(line)
        and not _FIELD_LINE.search(line)
        and not _BYLINE.match(line)
        and not DATE_LINE.fullmatch(line)
        and _match_marker(line, tables) is None
    )


def _title_lines(lines: list[str], tables: StructureTables) -> tuple[int, int]:
    """(first, count) of the title's lines among the first lines of a text: up to
    `_TITLE_MAX_LINES` heading-like lines from the top, a date line above them passed over;
    (0, 0) when there is none.

    A title goes on over a line only while it does not yet name its type at its end
    (`…的调研报告` is whole) and the next line holds no comma (a sentence of the body that
    ends without a mark, cut by a wrap, does). More heading-like lines than a title has are a
    list or a poem: the first of them is its title.
    """
    start = 0
    while start < min(len(lines), _TITLE_MAX_LINES) and (
        DATE_LINE.fullmatch(lines[start].strip()) or _ABOVE_TITLE.fullmatch(lines[start].strip())
    ):
        start += 1
    count = 0
    if _exclaimed_title(lines[start : start + 2], tables):
        count = 1
    for line in lines[start + count : start + _TITLE_MAX_LINES + 1] if not count else ():
        if not _is_title_line(line, tables):
            break
        if count and ("，" in line or _ends_with_doc_type("".join(lines[start : start + count]), tables)):
            break
        count += 1
    if count > _TITLE_MAX_LINES:
        count = 1
    # A title needs a body under it; a document that is nothing but short lines has none.
    return (start, count) if count and start + count < len(lines) else (0, 0)


def _exclaimed_title(lines: list[str], tables: StructureTables) -> bool:
    """Whether the first of `lines` is a speech's title that ends with ！ or ？ (`奋斗的青春最美丽！`,
    `为什么要入党？`): one such mark at its end alone, and a salutation or a subtitle under it."""
    if len(lines) < 2 or not lines[0].endswith(("！", "？")):
        return False
    title, below = lines[0][:-1], lines[1].split("\n", 1)[0].strip()
    if not _is_title_line(title, tables):
        return False
    return bool(_SALUTATION.match(below) or tables.salutation.match(below) or _SUBTITLE.match(below))


def _ends_with_doc_type(title: str, tables: StructureTables) -> bool:
    """Whether `title`, as written or in Simplified script, ends with one of `doc_types`."""
    titles = dict.fromkeys((title, tables.to_simplified(title)))
    return any(t.endswith(name) for name in tables.doc_types for t in titles)


def _doc_type(title: str, below: str, tables: StructureTables) -> str | None:
    """The type named by the title, else by the subtitle right `below` it (`——在…会上的讲话`)."""
    found = find_doc_type(title, tables)
    if found is None and _SUBTITLE.match(below) and len(below) <= _TITLE_MAX_CHARS:
        found = find_doc_type(below, tables)
    return found


def find_doc_type(title: str, tables: StructureTables) -> str | None:
    """The document type named by the title alone (never by the body): the first of
    `doc_types` (docclean/rules/structure.toml) that ends the title, else the first in it.

    The title is matched as written and in Simplified script (OpenCC t2s, which folds every
    Traditional variant of a character), so a document whose script is kept (`--keep-script`)
    gets the type its converted twin gets: 座談會上的講話 is a 讲话.
    """
    titles = dict.fromkeys((title, tables.to_simplified(title)))
    for name in tables.doc_types:
        if any(t.endswith(name) for t in titles):
            return name
    for name in tables.doc_types:
        if any(name in t for t in titles):
            return name
    return None


def _match_marker(line: str, tables: StructureTables) -> tuple[OutlineMarker, str] | None:
    found = tables.any_marker.match(line)
    if found is None or found.lastindex is None:
        return None
    # A marker's own group 1 comes right after the group that wraps it.
    return tables.markers[tables.rank_by_group[found.lastindex]], found.group(found.lastindex + 1)


def _outline_rows(
    lines: Iterable[str], tables: StructureTables, skip_lines: int, limit: int | None
) -> list[_OutlineRow]:
    """The headings among `lines` after the first `skip_lines` (the first `limit` of them), with
    their offsets in the text, as OutlineEntry's fields."""
    found: list[tuple[OutlineMarker, str, str, int]] = []
    # One string object per distinct marker: a document has a few dozen.
    prefixes: dict[str, str] = {}
    offset = 0
    for number, line in enumerate(lines):
        if len(found) == limit:
            break
        match = _match_marker(line, tables) if number >= skip_lines else None
        if match:
            marker, prefix = match
            prefix = prefixes.setdefault(prefix, prefix)
            rest = line[len(prefix) :]
            end = _HEADING_END.search(rest)
            heading = (rest[: end.start()] if end else rest)[:_HEADING_MAX_CHARS].strip()
            found.append((marker, prefix, heading, offset))
        offset += len(line) + 1
    levels = {rank: level for level, rank in enumerate(sorted({m.rank for m, *_ in found}), start=1)}
    return [(levels[m.rank], prefix, heading, at) for m, prefix, heading, at in found]
