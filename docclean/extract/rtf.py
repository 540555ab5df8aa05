"""RTF (Rich Text Format) to text, by a small reader of its own.

Many ".doc" files from Chinese material sites are RTF (`{\\rtf1\\ansi\\ansicpg936...`), as
WordPad and Word's "Save as RTF" write it. The reader follows the RTF 1.9.1 specification in
what matters for the text:

- Control words leave the text; `\\par`, `\\line`, `\\sect`, `\\page` and `\\row` end a line,
  `\\tab` and `\\cell` are a tab; the typographic symbols (`\\emdash`, `\\ldblquote`, ...) are
  their characters.
- `\\'xx` escapes are bytes in a code page: the current font's (`\\fN`, whose `\\fcharsetN` or
  `\\cpgN` the font table gives: 134 GB2312 -> GB18030, 136 Big5 -> cp950, 128 Shift-JIS, 129
  Korean, the Windows code pages of the others), else the document's `\\ansicpgN` (936, 950,
  1252, ...). A run of them is decoded together, so a two-byte character is one character.
- `\\uN` is a UTF-16 code unit (negative above 32767, surrogate pairs joined); the `\\ucN`
  characters after it are its fallback for older readers and are skipped.
- Groups that are not text are skipped: the font, colour, style and list tables, `\\info`,
  pictures (`\\pict`, and `\\binN` data, skipped by its length), objects, field instructions
  (the field's result stays), a shape's fallback drawing (`\\shprslt`), hidden text (`\\v`),
  and every destination marked `\\*` (which RTF says a reader that does not know it skips).
- Footnotes (`\\footnote`) follow the body, each on its own line, as the .docx reader puts them,
  rather than inside the sentence that holds their mark.

Lines are stripped of edge whitespace; empty lines go. Rejects: `malformed` for groups nested
more than `MAX_DEPTH` deep (Word writes tens; more is a damaged or hostile file).
"""

from __future__ import annotations

import codecs
import re

from docclean.errors import RejectedInput
from docclean.extract import Extracted

MAX_DEPTH = 1_000
# `\fcharsetN` (a font's Windows character set) -> the code page its bytes are in.
_CHARSET_CODE_PAGES = {
    0: 1252,
    77: 10000,
    128: 932,
    129: 949,
    130: 1361,
    134: 936,
    136: 950,
    161: 1253,
    162: 1254,
    163: 1258,
    177: 1255,
    178: 1256,
    186: 1257,
    204: 1251,
    222: 874,
    238: 1250,
}
# Code pages read with a superset Python has: GB2312/GBK text may hold GB18030 characters.
_CODEC_OF_CODE_PAGE = {936: "gb18030", 950: "cp950", 10000: "mac_roman", 1361: "johab"}
# Destinations that are not the document's text (RTF 1.9.1), skipped with all their groups.
_SKIPPED = frozenset(
    [
        "colortbl",
        "stylesheet",
        "listtable",
        "listoverridetable",
        "revtbl",
        "rsidtbl",
        "info",
        "pict",
        "object",
        "objdata",
        "themedata",
        "colorschememapping",
        "datastore",
        "latentstyles",
        "xmlnstbl",
        "filetbl",
        "generator",
        "fldinst",
        "shprslt",
        "nonshppict",
        "mmathPr",
    ]
)
_LINE_BREAKS = frozenset(["par", "line", "sect", "page", "row"])
_SYMBOLS = {
    "tab": "\t",
    "cell": "\t",
    "emdash": "\u2014",
    "endash": "\u2013",
    "emspace": "\u2003",
    "enspace": "\u2002",
    "qmspace": "\u2005",
    "bullet": "\u2022",
    "lquote": "\u2018",
    "rquote": "\u2019",
    "ldblquote": "\u201c",
    "rdblquote": "\u201d",
}
_CONTROL_SYMBOLS = {"~": "\u00a0", "_": "\u2011", "-": "", "\\": "\\", "{": "{", "}": "}"}
# A control word (its delimiting space belongs to it), a hex escape, a control symbol, a brace,
# line ends (not text in RTF), or a run of text.
_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z'])|([{}])|[\r\n]+|([^\\{}\r\n]+)|\\",
    re.DOTALL,
)


def extract_rtf(data: bytes) -> Extracted:
    """The text of an RTF document (see the module docstring). Raises RejectedInput."""
    reader = _Reader(data)
    text = reader.read()
    lines = [line for line in (raw.strip() for raw in text.split("\n")) if line]
    return Extracted("rtf", "\n".join(lines), found=(("paragraphs", len(lines)),))


class _Reader:
    """One pass over the tokens, with the group state (font, \\uc, skipping) on a stack."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.out: list[str] = []
        self.pending: bytearray = bytearray()  # \'xx bytes not yet decoded
        self.pending_codecs = ("cp1252",)
        # Footnotes and endnotes: after the body, as the .docx reader puts them, not inside the
        # sentence their mark is in.
        self.body: list[str] = []
        self.notes: list[str] = []
        self.high_surrogate: int | None = None
        self.default_code_page = 1252
        self.font_code_pages: dict[int, int] = {}
        self.out = self.body
        # Group state: (\uc count, skipping, font, hidden, in the font table, where text goes).
        self.uc, self.skip, self.font, self.hidden, self.in_fonts = 1, False, None, False, False
        self.stack: list[tuple[int, bool, int | None, bool, bool, list[str]]] = []
        self.defining_font: int | None = None
        self.to_skip = 0  # fallback characters still to skip after a \uN

    def read(self) -> str:
        data, position, group_start = self.data, 0, False
        while position < len(data):
            match = _TOKEN.match(data, position)
            assert match is not None  # the last alternative matches any backslash
            position = match.end()
            word, parameter, hex_byte, symbol, brace, run = match.groups()
            starting, group_start = group_start, False
            if brace == b"{":
                self._flush()
                if len(self.stack) >= MAX_DEPTH:
                    raise RejectedInput(
                        "malformed",
                        f"The RTF document nests groups more than {MAX_DEPTH:,} deep: the file is damaged.",
                    )
                self.stack.append((self.uc, self.skip, self.font, self.hidden, self.in_fonts, self.out))
                group_start = True
            elif brace == b"}":
                self._flush()
                if self.stack:  # an unbalanced closing brace is ignored
                    self.uc, self.skip, self.font, self.hidden, self.in_fonts, self.out = self.stack.pop()
                self.to_skip = 0
            elif word is not None:
                position = self._control_word(word.decode("ascii"), parameter, starting, position)
            elif hex_byte is not None:
                if self.to_skip:
                    self.to_skip -= 1
                elif not self._skipping():
                    self._add_byte(int(hex_byte, 16))
            elif symbol is not None:
                self._control_symbol(symbol.decode("latin-1"), starting)
            elif run is not None:
                self._text(run)
        self._flush()
        return "".join(self.body) + "\n" + "".join(self.notes)

    def _skipping(self) -> bool:
        return self.skip or self.hidden or self.in_fonts

    def _control_word(self, word: str, parameter: bytes | None, starting: bool, position: int) -> int:
        value = int(parameter) if parameter is not None else None
        if word == "bin":
            # Binary data of `value` bytes follows; it may hold braces and backslashes.
            self._flush()
            return position + max(value or 0, 0)
        if starting and word in _SKIPPED:
            self.skip = True
        elif starting and word == "footnote":
            self._flush()
            self.out = self.notes
            self._emit("\n")
        if word == "fonttbl":
            self.in_fonts = True
        if self.in_fonts:
            self._font_table_word(word, value)
            return position
        if word == "u" and value is not None:
            self._unicode(value)
            return position
        self.to_skip = 0
        if word == "uc" and value is not None:
            self.uc = max(value, 0)
        elif word == "ansicpg" and value is not None:
            self.default_code_page = value
        elif word in ("f", "deff") and value is not None:
            if word == "f" or self.font is None:
                self._flush()
                self.font = value
        elif word == "v":
            self._flush()
            self.hidden = value != 0
        elif word in _LINE_BREAKS:
            self._emit("\n")
        elif word in _SYMBOLS:
            self._emit(_SYMBOLS[word])
        return position

    def _font_table_word(self, word: str, value: int | None) -> None:
        if value is None:
            return
        if word == "f":
            self.defining_font = value
        elif word == "fcharset" and self.defining_font is not None:
            if value in _CHARSET_CODE_PAGES:
                self.font_code_pages.setdefault(self.defining_font, _CHARSET_CODE_PAGES[value])
        elif word == "cpg" and self.defining_font is not None:
            self.font_code_pages[self.defining_font] = value

    def _control_symbol(self, symbol: str, starting: bool) -> None:
        if symbol == "*":
            if starting or self.skip:
                self.skip = True
            return
        if self.to_skip:
            self.to_skip -= 1
            return
        if symbol in "\r\n":
            self._emit("\n")  # a backslash before a line end is a \par
        elif symbol in _CONTROL_SYMBOLS:
            self._emit(_CONTROL_SYMBOLS[symbol])

    def _text(self, run: bytes) -> None:
        if self.to_skip:
            skipped = min(self.to_skip, len(run))
            self.to_skip -= skipped
            run = run[skipped:]
        if not run or self._skipping():
            return
        if run.isascii():
            self._emit(run.decode("ascii"))
        else:
            # Some writers put the code page's bytes in the text unescaped.
            for byte in run:
                self._add_byte(byte)

    def _unicode(self, value: int) -> None:
        unit = value + 0x10000 if value < 0 else value
        self.to_skip = self.uc
        if self._skipping():
            return
        if not 0 <= unit <= 0xFFFF:  # a damaged file: no UTF-16 code unit
            self._emit("\ufffd")
            return
        if 0xD800 <= unit < 0xDC00:
            self._flush()
            self.high_surrogate = unit
            return
        if 0xDC00 <= unit < 0xE000 and self.high_surrogate is not None:
            character = chr(0x10000 + ((self.high_surrogate - 0xD800) << 10) + (unit - 0xDC00))
            self.high_surrogate = None
            self._emit(character)
            return
        self._emit(chr(unit) if not 0xD800 <= unit < 0xE000 else "\ufffd")

    def _codecs(self) -> tuple[str, ...]:
        """The codecs to read the current run's bytes with, the first that reads them strictly."""
        font = self.font_code_pages.get(self.font) if self.font is not None else None
        pages = [font or self.default_code_page]
        if pages[0] != self.default_code_page:
            # A Western font's run in a Chinese document (\ansicpg936) may still hold the
            # document's bytes (the font of the run before a Hanzi was typed), and the reverse.
            pages.append(self.default_code_page)
        return tuple(dict.fromkeys(_codec_name(page) for page in pages))

    def _add_byte(self, byte: int) -> None:
        candidates = self._codecs()
        if self.pending and candidates != self.pending_codecs:
            self._flush()
        self.pending_codecs = candidates
        self.pending.append(byte)

    def _flush(self) -> None:
        if not self.pending:
            return
        run = bytes(self.pending)
        self.pending.clear()
        for codec in self.pending_codecs:
            try:
                self.out.append(run.decode(codec))
                return
            except UnicodeDecodeError:
                continue
        self.out.append(run.decode(self.pending_codecs[0], errors="replace"))

    def _emit(self, text: str) -> None:
        self._flush()
        if self.high_surrogate is not None:
            self.out.append("\ufffd")  # a high surrogate without its low one
            self.high_surrogate = None
        if not self._skipping():
            self.out.append(text)


def _codec_name(code_page: int) -> str:
    name = _CODEC_OF_CODE_PAGE.get(code_page, f"cp{code_page}")
    try:
        return codecs.lookup(name).name
    except LookupError:  # a code page Python has no codec for
        return "cp1252"
