"""Domain exceptions. Their messages are sentences a user can act on; tests assert them exactly."""

from __future__ import annotations


class DoccleanError(Exception):
    """Base class for every error docclean raises on purpose."""


class RejectedInput(DoccleanError):
    """A file that cannot become a document. `reason` is a stable code, `detail` a sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class RulesError(DoccleanError):
    """A rules file that cannot be used; raised before any document is touched."""
