"""Word's automatic list numbers (`一、`, `（一）`, `1.1`), as Word displays them.

A numbered paragraph holds no number in its text: it names a list (`w:numPr`: `w:numId`, `w:ilvl`,
on the paragraph or on its paragraph style), and Word draws the number from `numbering.xml`
(ECMA-376 Part 1, 17.9):

- `w:num` (numId) points to a `w:abstractNum` and may override levels (`w:lvlOverride`, with a
  `w:startOverride` or a whole `w:lvl`);
- each `w:lvl` (ilvl 0-8) has a start value (`w:start`), a number format (`w:numFmt`: decimal,
  chineseCounting, …, or bullet), a text with one placeholder per level (`w:lvlText`, `%1、`,
  `（%2）`, `%1.%2`), and when it restarts (`w:lvlRestart`; by default after any higher level);
- counters run per abstract list, in reading order; a `w:num` with a start override restarts
  its levels where it is first used (Word's "restart numbering").

`Numbering.label(paragraph)` is called once per paragraph in reading order and returns the
paragraph's number text (`一、`) and suffix, "" for an unnumbered or bulleted paragraph;
`with_number` puts the number before the paragraph's text.

Not rendered: numbers of style-linked numbering definitions more than one hop deep, and the
spelled-out English forms (`ordinalText`, `cardinalText`), which fall back to decimal as
every format this module does not know.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
LEVELS = 9


def _w(name: str) -> str:
    return f"{{{W}}}{name}"


def _val(element: object | None, default: str | None = None) -> str | None:
    """The `w:val` of `element`, or `default` when the element or the attribute is absent."""
    if element is None:
        return default
    return element.get(_w("val"), default)


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


# --- Number formats (ST_NumberFormat, ECMA-376 Part 1, 17.18.59) ---------------------------------


@dataclass(frozen=True, slots=True)
class Counting:
    """A counting form: digits 0-9, the units 十 百 千, the myriad 万, and how 10-19 read."""

    digits: str
    units: str
    myriad: str
    # 十二, not 一十二: everyday counting drops the 一 before 十 in 10-19; the legal forms keep it.
    teens_without_one: bool


# The counting forms as Word writes them (the 一, 二, 三 lists of a Chinese Word or WPS).
# chineseCounting counts up to 99 (十, 二十一) and writes larger numbers digit by digit (一〇〇).
_COUNTING = {
    "chineseCountingThousand": Counting("零一二三四五六七八九", "十百千", "万", True),
    "taiwaneseCountingThousand": Counting("零一二三四五六七八九", "十百千", "萬", True),
    "chineseLegalSimplified": Counting("零壹贰叁肆伍陆柒捌玖", "拾佰仟", "万", False),
    "ideographLegalTraditional": Counting("零壹貳參肆伍陸柒捌玖", "拾佰仟", "萬", False),
}
_COUNTING_TO_99 = {
    "chineseCounting": "〇一二三四五六七八九",
    "taiwaneseCounting": "○一二三四五六七八九",
}
# Digit for digit: each decimal digit replaced.
_DIGITS = {
    "decimalFullWidth": "０１２３４５６７８９",
    "decimalFullWidth2": "０１２３４５６７８９",
    "ideographDigital": "〇一二三四五六七八九",
    "taiwaneseDigital": "○一二三四五六七八九",
    "japaneseDigitalTenThousand": "〇一二三四五六七八九",
}
# A fixed series (1 is its first item); past its end Word falls back to decimal.
_SERIES = {
    "decimalEnclosedCircle": "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳",
    "decimalEnclosedCircleChinese": "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳",
    "decimalEnclosedFullstop": "⒈⒉⒊⒋⒌⒍⒎⒏⒐⒑⒒⒓⒔⒕⒖⒗⒘⒙⒚⒛",
    "decimalEnclosedParen": "⑴⑵⑶⑷⑸⑹⑺⑻⑼⑽⑾⑿⒀⒁⒂⒃⒄⒅⒆⒇",
    "ideographEnclosedCircle": "㊀㊁㊂㊃㊄㊅㊆㊇㊈㊉",
    # The ten Heavenly Stems and the twelve Earthly Branches.
    "ideographTraditional": "甲乙丙丁戊己庚辛壬癸",
    "ideographZodiac": "子丑寅卯辰巳午未申酉戌亥",
}
_ROMAN = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
          (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))  # fmt: skip


def _counted(number: int, form: Counting) -> str:
    """`number` (1 to 99,999,999) in a counting form: 一百零一, 一千零一十, 十二, 壹拾贰."""
    high, low = divmod(number, 10_000)
    text = _group(high, form) + form.myriad if high else ""
    if low:
        if high and low < 1000:
            text += form.digits[0]
        text += _group(low, form)
    if form.teens_without_one and 10 <= number < 20:
        text = text[1:]
    return text


def _group(number: int, form: Counting) -> str:
    """1 to 9999 in a counting form; one 零 for each run of zeros between digits (一千零一)."""
    text = ""
    gap = False
    for place, unit in ((1000, form.units[2]), (100, form.units[1]), (10, form.units[0]), (1, "")):
        digit = number // place % 10
        if digit == 0:
            gap = bool(text)
            continue
        if gap:
            text += form.digits[0]
            gap = False
        text += form.digits[digit] + unit
    return text


def format_number(number: int, fmt: str) -> str:
    """`number` in the number format `fmt` (a `w:numFmt` value); unknown formats as decimal."""
    if fmt == "none":
        return ""
    if number < 1 or number >= 100_000_000:
        return str(number)
    if fmt in _COUNTING:
        return _counted(number, _COUNTING[fmt])
    if fmt in _COUNTING_TO_99:
        digits = _COUNTING_TO_99[fmt]
        if number < 10 or number >= 100:
            return "".join(digits[int(d)] for d in str(number))
        tens, ones = divmod(number, 10)
        return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")
    if fmt in _DIGITS:
        return "".join(_DIGITS[fmt][int(d)] for d in str(number))
    if fmt in _SERIES:
        series = _SERIES[fmt]
        return series[number - 1] if number <= len(series) else str(number)
    if fmt in ("upperRoman", "lowerRoman"):
        roman = ""
        for value, letters in _ROMAN:
            count, number = divmod(number, value)
            roman += letters * count
        return roman if fmt == "upperRoman" else roman.lower()
    if fmt in ("upperLetter", "lowerLetter"):
        # A, …, Z, AA, BB, …: the letter repeated once per round of the alphabet, not base 26.
        rounds, index = divmod(number - 1, 26)
        letter = chr(ord("A" if fmt == "upperLetter" else "a") + index)
        return letter * (rounds + 1)
    if fmt == "decimalZero":
        return f"{number:02d}"
    if fmt == "numberInDash":
        return f"- {number} -"
    return str(number)


# --- numbering.xml ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Level:
    """One `w:lvl`: start value, number format, level text, restart level, legal numbering, suffix."""

    start: int = 1
    fmt: str = "decimal"
    text: str = ""
    # 1-based level whose use restarts this one (0: never; None: any higher level).
    restart: int | None = None
    legal: bool = False
    suffix: str = "tab"
    style: str | None = None


@dataclass(frozen=True, slots=True)
class NumberedList:
    """One `w:num`: its abstract list, and the levels it overrides (whole, or only the start)."""

    abstract: str
    levels: dict[int, Level] = field(default_factory=dict)
    starts: dict[int, int] = field(default_factory=dict)


def _level(lvl: object) -> Level:
    fmt_element = lvl.find(_w("numFmt"))
    if fmt_element is None:
        # Word 2010 writes a custom format (`001, 002, 003`) as an mc:Choice with a classic
        # format in the mc:Fallback: read the classic one.
        fmt_element = lvl.find(f"{{{MC}}}AlternateContent/{{{MC}}}Fallback/{_w('numFmt')}")
    restart = lvl.find(_w("lvlRestart"))
    text = lvl.find(_w("lvlText"))
    legal = lvl.find(_w("isLgl"))
    return Level(
        start=_int(_val(lvl.find(_w("start"))), 1),
        fmt=_val(fmt_element, "decimal") or "decimal",
        text=_val(text, "") or "",
        restart=_int(_val(restart), 0) if restart is not None else None,
        legal=legal is not None and _val(legal, "1") not in ("0", "false", "off"),
        suffix=_val(lvl.find(_w("suff")), "tab") or "tab",
        style=_val(lvl.find(_w("pStyle"))),
    )


def _levels(parent: object) -> dict[int, Level]:
    return {_int(lvl.get(_w("ilvl")), 0): _level(lvl) for lvl in parent.iterfind(_w("lvl"))}


class Numbering:
    """The lists of one document and their counters (see the module docstring)."""

    def __init__(self, numbering: object | None, styles: object | None) -> None:
        self._abstracts: dict[str, dict[int, Level]] = {}
        # An abstract list that only links to a numbering style (`w:numStyleLink`) takes its
        # levels from the list that style names.
        self._style_links: dict[str, str] = {}
        self._lists: dict[str, NumberedList] = {}
        if numbering is not None:
            for abstract in numbering.iterfind(_w("abstractNum")):
                key = abstract.get(_w("abstractNumId"), "")
                self._abstracts[key] = _levels(abstract)
                link = _val(abstract.find(_w("numStyleLink")))
                if link:
                    self._style_links[key] = link
            for num in numbering.iterfind(_w("num")):
                overrides = {_int(o.get(_w("ilvl")), 0): o for o in num.iterfind(_w("lvlOverride"))}
                self._lists[num.get(_w("numId"), "")] = NumberedList(
                    abstract=_val(num.find(_w("abstractNumId")), "") or "",
                    levels={
                        i: _level(lvl) for i, o in overrides.items() if (lvl := o.find(_w("lvl"))) is not None
                    },
                    starts={
                        i: _int(_val(start), 1)
                        for i, o in overrides.items()
                        if (start := o.find(_w("startOverride"))) is not None
                    },
                )
        self._styles, self._default_style = _paragraph_styles(styles)
        self._counters: dict[str, list[int | None]] = {}
        self._started: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._lists)

    def label(self, paragraph: object) -> tuple[str, str]:
        """The number Word shows before `paragraph` and its suffix (`w:suff`: tab, space, nothing),
        ("", "") for none; counts the paragraph."""
        found = self._list_and_level(paragraph)
        if found is None:
            return "", ""
        num_id, ilvl = found
        numbered = self._lists[num_id]
        levels = self._abstract_levels(numbered.abstract)
        counters = self._counters.setdefault(numbered.abstract, [None] * LEVELS)
        if num_id not in self._started:
            self._started.add(num_id)
            for overridden in numbered.starts:
                if 0 <= overridden < LEVELS:
                    counters[overridden] = None
        level = numbered.levels.get(ilvl) or levels.get(ilvl)
        if level is None:
            return "", ""
        counters[ilvl] = self._start(numbered, levels, ilvl) if counters[ilvl] is None else counters[ilvl] + 1
        for deeper in range(ilvl + 1, LEVELS):
            deeper_level = numbered.levels.get(deeper) or levels.get(deeper)
            restart = deeper if deeper_level is None or deeper_level.restart is None else deeper_level.restart
            if ilvl < restart:
                counters[deeper] = None
        if level.fmt == "bullet" or not level.text:
            return "", ""

        def placeholder(match: re.Match[str]) -> str:
            index = int(match[1]) - 1
            shown = numbered.levels.get(index) or levels.get(index) or Level()
            value = counters[index] if counters[index] is not None else self._start(numbered, levels, index)
            return format_number(value, "decimal" if level.legal else shown.fmt)

        text = re.sub("%([1-9])", placeholder, level.text)
        return (text, level.suffix) if text.strip() else ("", "")

    def _list_and_level(self, paragraph: object) -> tuple[str, int] | None:
        """(numId, ilvl) of a numbered paragraph: its own `w:numPr`, else its style's."""
        properties = paragraph.find(_w("pPr"))
        if properties is not None and properties.find(f"{_w('rPr')}/{_w('del')}") is not None:
            return None  # a deleted paragraph is not shown, so not counted
        style = _val(properties.find(_w("pStyle"))) if properties is not None else None
        style = style or self._default_style
        num_pr = properties.find(_w("numPr")) if properties is not None else None
        num_id = _val(num_pr.find(_w("numId"))) if num_pr is not None else None
        ilvl = _val(num_pr.find(_w("ilvl"))) if num_pr is not None else None
        style_num, style_ilvl = self._styles.get(style, (None, None)) if style else (None, None)
        num_id = num_id if num_id is not None else style_num
        if num_id is None or num_id not in self._lists:  # numId 0 (or unknown): no number
            return None
        if ilvl is None:
            ilvl = style_ilvl
        if ilvl is None:
            # A heading style linked to a multilevel list: the level that names the style.
            abstract = self._abstract_levels(self._lists[num_id].abstract)
            ilvl = next((str(i) for i, level in abstract.items() if level.style == style), "0")
        level = _int(ilvl, 0)
        return (num_id, level) if 0 <= level < LEVELS else None

    def _abstract_levels(self, abstract: str) -> dict[int, Level]:
        link = self._style_links.get(abstract)
        if link is not None:
            linked_num = self._styles.get(link, (None, None))[0]
            linked = self._lists.get(linked_num or "")
            if linked is not None and linked.abstract != abstract:
                return self._abstracts.get(linked.abstract, {})
        return self._abstracts.get(abstract, {})

    @staticmethod
    def _start(numbered: NumberedList, levels: dict[int, Level], ilvl: int) -> int:
        if ilvl in numbered.starts:
            return numbered.starts[ilvl]
        level = numbered.levels.get(ilvl) or levels.get(ilvl)
        return level.start if level is not None else 1


def with_number(number: str, suffix: str, text: str) -> str:
    """`text` after its list number. Word's tab or space after a number (`w:suff`) is layout; in
    text a number needs a space only where it would otherwise run into the words: after a
    letter or digit (`第一章 总则`, `1.1 由来`), or before a Latin word (`1. Introduction`); a
    number ending in a mark is followed directly by Chinese (`一、提高`, `（一）统一`, `1.细化`)."""
    if suffix == "nothing" or not text:
        return number + text
    last, first = number.rstrip()[-1], text[0]
    spaced = unicodedata.category(last)[0] in "LN" or (first.isascii() and first.isalnum())
    return number + (" " if spaced else "") + text


def _paragraph_styles(styles: object | None) -> tuple[dict[str, tuple[str | None, str | None]], str | None]:
    """Each paragraph style's (numId, ilvl), inherited through `w:basedOn`; the default style's id."""
    if styles is None:
        return {}, None
    own: dict[str, tuple[str | None, str | None, str | None]] = {}
    default = None
    for style in styles.iterfind(_w("style")):
        if style.get(_w("type"), "paragraph") not in ("paragraph", "numbering"):
            continue
        style_id = style.get(_w("styleId"), "")
        if (
            style.get(_w("default")) in ("1", "true", "on")
            and style.get(_w("type"), "paragraph") == "paragraph"
        ):
            default = style_id
        num_pr = style.find(f"{_w('pPr')}/{_w('numPr')}")
        num_id = _val(num_pr.find(_w("numId"))) if num_pr is not None else None
        ilvl = _val(num_pr.find(_w("ilvl"))) if num_pr is not None else None
        own[style_id] = (num_id, ilvl, _val(style.find(_w("basedOn"))))
    resolved: dict[str, tuple[str | None, str | None]] = {}
    for style_id in own:
        num_id = ilvl = None
        current: str | None = style_id
        for _ in range(16):  # a basedOn chain is short; a cycle is cut
            if current is None or current not in own:
                break
            own_num, own_ilvl, based_on = own[current]
            num_id = num_id if num_id is not None else own_num
            ilvl = ilvl if ilvl is not None else own_ilvl
            current = based_on
        resolved[style_id] = (num_id, ilvl)
    return resolved, default
