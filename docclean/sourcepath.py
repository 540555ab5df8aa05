"""Names of raw files in the dataset: `source_path`, printable and injective, and back to bytes.

A file name is bytes on a POSIX file system and need not be UTF-8; `source_path` is a string
that a terminal can show and that maps back to exactly one name, so that two files never share
a row and every row leads to its file.
"""

from __future__ import annotations

import os
import re

# What source_path_of escapes besides non-UTF-8 bytes: the escape character itself, so that the
# escaping is injective, and control characters (C0, DEL, C1), so that no name can drive a terminal.
_ESCAPED = re.compile(r"[\\\x00-\x1f\x7f-\x9f\udc80-\udcff]")
_ESCAPE_SEQUENCE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    raw = bytes([code - 0xDC00]) if code >= 0xDC80 else char.encode("utf-8")
    return "".join(f"\\x{byte:02x}" for byte in raw)


def source_path_of(rel: bytes) -> str:
    """The source_path of a raw-relative path: '/'-separated, printable, and injective.

    Bytes that are not UTF-8 and the bytes of control characters become `\\xNN` (two lower-case
    hex digits), and a backslash becomes `\\\\`; everything else is the UTF-8 text of the name.
    Two different names never get one source_path; `raw_path_of` gives the bytes back.
    """
    text = rel.replace(os.sep.encode(), b"/").decode("utf-8", errors="surrogateescape")
    return _ESCAPED.sub(_escape, text)


def raw_path_of(source_path: str) -> bytes:
    """The raw-relative path's bytes (with '/' separators) of a source_path: the inverse of source_path_of.

    `\\\\` is one backslash, `\\xNN` the byte NN; every other character is its UTF-8 bytes.
    """
    out = bytearray()
    position = 0
    for match in _ESCAPE_SEQUENCE.finditer(source_path):
        out += source_path[position : match.start()].encode("utf-8")
        sequence = match.group(1)
        out += b"\\" if sequence == "\\" else bytes([int(sequence[1:], 16)])
        position = match.end()
    out += source_path[position:].encode("utf-8")
    return bytes(out)


def legacy_source_path(source_path: str) -> str:
    """The source_path the same file had before backslashes and control characters were escaped.

    Rows written then keep their doc_id under the new spelling (flows.plan.plan).
    """
    return raw_path_of(source_path).decode("utf-8", errors="backslashreplace")
