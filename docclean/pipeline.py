"""Bytes in, one record out: the five stages in order, and the replay that audits them.

`Cleaner` holds what is expensive to build (compiled rules, opencc converters) so a process
builds it once and cleans many documents with it; cleaning itself keeps no state.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import opencc

from docclean import DEFAULT_MAX_FILE_BYTES, PIPELINE_VERSION
from docclean.decode import decode_bytes
from docclean.errors import RejectedInput
from docclean.noise import apply_removals, strip_noise
from docclean.normalize import ScriptConverters, normalize_text
from docclean.placeholders import DEFAULT_TOKEN, apply_placeholders, replace_placeholders
from docclean.record import Record
from docclean.rules import RuleSet, load_rules
from docclean.structure import find_structure

# A rule that times out on this many documents is disabled for the rest of the run: each
# timeout costs the rule's whole budget (a second or more), so a catastrophic user regex would
# otherwise cost that on every document. Three is enough to tell a rule that fails on most
# text from one that trips on a rare odd document.
DISABLE_AFTER_TIMEOUTS = 3


@dataclass(frozen=True, slots=True)
class CleanConfig:
    placeholder_token: str = DEFAULT_TOKEN
    # opencc configuration applied to Traditional or mixed documents; None keeps the script.
    script_conversion: str | None = "t2s"
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    rules_file: Path | None = field(default=None)

    def check_size(self, size: int) -> None:
        """Reject a file over the size limit; the curate flow calls it before reading the file."""
        if size > self.max_file_bytes:
            raise RejectedInput(
                "too_large", f"The file is {size:,} bytes, over the limit of {self.max_file_bytes:,} bytes."
            )


def make_doc_id(source_path: str, source_sha256: str) -> str:
    """The id a document gets when it is first seen; the curate flow keeps it across renames."""
    return hashlib.sha256(f"{source_path}\0{source_sha256}".encode()).hexdigest()[:20]


class Cleaner:
    """Cleans documents one by one with one configuration and rule set.

    The one state it keeps across documents is the rules' timeouts: a rule that ran out of
    time on `disable_after_timeouts` documents is disabled, and not run on the documents this
    Cleaner cleans after that (each of which is flagged `rule_disabled:<id>`), until
    `enable_rules` is called. `disabled_rules` tells a caller which rules are off.
    """

    def __init__(
        self,
        config: CleanConfig | None = None,
        rules: RuleSet | None = None,
        disable_after_timeouts: int = DISABLE_AFTER_TIMEOUTS,
    ) -> None:
        self.config = config or CleanConfig()
        self.rules = rules if rules is not None else load_rules(self.config.rules_file)
        self.disable_after_timeouts = disable_after_timeouts
        # Rule id -> documents it timed out on since the rules were last enabled.
        self.rule_timeouts: Counter[str] = Counter()
        to_simplified = opencc.OpenCC("t2s").convert
        to_traditional = opencc.OpenCC("s2t").convert
        target = self.config.script_conversion
        self.converters = ScriptConverters(
            to_simplified=to_simplified,
            to_traditional=to_traditional,
            target=None
            if target is None
            else (to_simplified if target == "t2s" else opencc.OpenCC(target).convert),
            target_name=target,
        )

    @property
    def disabled_rules(self) -> frozenset[str]:
        """The ids of the rules that timed out often enough to be disabled."""
        return frozenset(
            rule for rule, count in self.rule_timeouts.items() if count >= self.disable_after_timeouts
        )

    def enable_rules(self) -> None:
        """Forget the rules' timeouts: every rule runs again (a new run starts afresh)."""
        self.rule_timeouts.clear()

    def clean(self, data: bytes, source_path: str, doc_id: str | None = None) -> Record:
        """Clean one document. Raises RejectedInput for a file that cannot become a document."""
        sha = hashlib.sha256(data).hexdigest()
        self.config.check_size(len(data))
        decoded = decode_bytes(data)
        if not decoded.text.strip():
            raise RejectedInput("empty", "The file holds no text (it is empty or only whitespace).")
        normalized = normalize_text(decoded.text, self.converters)
        timed_out: list[str] = []
        disabled = self.disabled_rules
        stripped = strip_noise(normalized.text, self.rules, on_timeout=timed_out.append, disabled=disabled)
        self.rule_timeouts.update(timed_out)
        replaced = replace_placeholders(stripped.text, self.config.placeholder_token)
        structure = find_structure(replaced.text)
        flags = list(decoded.flags)
        flags += [f"rule_timeout:{rule}" for rule in timed_out]
        flags += [f"rule_disabled:{rule}" for rule in sorted(disabled)]
        if replaced.capped:
            flags.append("placeholders_capped")
        if structure.capped:
            flags.append("outline_capped")
        if not replaced.text:
            flags.append("empty_after_cleaning")
        return Record(
            doc_id=doc_id or make_doc_id(source_path, sha),
            source_path=source_path,
            source_sha256=sha,
            source_bytes=len(data),
            encoding=decoded.encoding,
            encoding_confidence=decoded.confidence,
            encoding_method=decoded.method,
            encoding_segments=decoded.segments,
            repair=decoded.repair,
            source_script=normalized.source_script,
            title=structure.title,
            doc_type=structure.doc_type,
            text=replaced.text,
            placeholders=replaced.placeholders,
            removed=stripped.removed,
            normalizations=normalized.edits,
            outline=structure.outline,
            flags=tuple(dict.fromkeys(flags)),
            char_count=len(replaced.text),
            pipeline_version=PIPELINE_VERSION,
            rules_version=self.rules.version,
            normalized_text=normalized.text,
        )


def replay(record: Record, normalized_text: str, token: str = DEFAULT_TOKEN) -> str:
    """Rebuild `record.text` from the normalized text and the record's annotations alone."""
    return apply_placeholders(apply_removals(normalized_text, record.removed), record.placeholders, token)
