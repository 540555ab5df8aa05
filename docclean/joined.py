"""Many texts as one array of code points, for passes over a whole table in numpy.

What docclean.dedup's shingles of every row of a table are computed from: a few numpy passes
over all the rows' text instead of a few per row, and one encode of all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Every code point str.isspace() holds (the whitespace str.split() and str.strip() take out) is
# below U+3001 (the last is U+3000, the ideographic space): a table of those is the whole test.
_SPACE_END = 0x3001
_SPACE = np.array([chr(code).isspace() for code in range(_SPACE_END)], np.bool_)


@dataclass(frozen=True, slots=True)
class JoinedTexts:
    """`texts`, each followed by a line break, as one array of code points.

    `codes`: uint32, a lone surrogate its own code point. `starts`: int64, len(texts) + 1 values;
    text i is codes[starts[i] : starts[i + 1] - 1], the line break after it at starts[i + 1] - 1.
    `spaces`: int64, ascending, the indices in `codes` of the whitespace code points (str.isspace,
    the line breaks included).
    """

    texts: Sequence[str]
    codes: np.ndarray
    starts: np.ndarray
    spaces: np.ndarray


def join_texts(texts: Sequence[str]) -> JoinedTexts:
    """The texts joined (JoinedTexts). Two encodes of all the text and a pass over its code points."""
    codes = np.frombuffer(("\n".join(texts) + "\n").encode("utf-32-le", "surrogatepass"), np.uint32)
    starts = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1, out=starts[1:])
    # Looked up only where a code point can be whitespace: most of a Chinese text cannot.
    low = np.flatnonzero(codes < _SPACE_END)
    return JoinedTexts(texts, codes, starts, low[_SPACE[codes[low]]])
