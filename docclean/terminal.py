"""Text as a terminal can show it: what the CLI, the console output and the flow's logs print."""

from __future__ import annotations

import os


def shown(given: str | os.PathLike[str]) -> str:
    """A path as given and as resolved, for a message: `raw (/home/me/raw)`; control characters escaped."""
    text = os.fspath(given)
    resolved = os.path.abspath(text)
    return escape(text) if resolved == text else f"{escape(text)} ({escape(resolved)})"


def escape(text: str) -> str:
    """Text safe to print on any terminal: control characters and undecodable bytes as escapes."""
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    # A surrogate escape is a file-name byte that is not UTF-8: shown as that byte.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else repr(char)[1:-1]
