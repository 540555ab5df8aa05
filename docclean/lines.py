"""Walking a large text line by line without a Python object per line held at once.

A list of a document's lines costs some 60-80 bytes a line: 800 MB for a 40 MB file of ten
million one-character lines. The stages that work line by line take the text in chunks of
whole lines instead, so what they hold per line is bounded by the chunk, not the document.
"""

from __future__ import annotations

from collections.abc import Iterator

# About a page of a hundred lines per thousand characters; 64 Ki characters keep a chunk's
# lines in the tens of thousands (a few MB), while a normal document is one chunk.
CHUNK_CHARS = 64 * 1024


def line_chunks(text: str, size: int | None = None) -> Iterator[str]:
    """`text` cut at line breaks into pieces of at least `size` characters (default `CHUNK_CHARS`;
    the last piece may be shorter).

    The breaks at the cuts are left out: `"\\n".join(line_chunks(text)) == text`, and the lines
    of the pieces, in order, are the lines of `text`. A text without a break after `size`
    characters is one piece (the text itself, not a copy).
    """
    size = CHUNK_CHARS if size is None else size
    start = 0
    while True:
        cut = text.find("\n", start + size)
        if cut < 0:
            yield text[start:]
            return
        yield text[start:cut]
        start = cut + 1


def iter_lines(text: str) -> Iterator[str]:
    """The lines of `text`, as `text.split("\\n")` gives them, holding one chunk's at a time."""
    for chunk in line_chunks(text):
        yield from chunk.split("\n")
