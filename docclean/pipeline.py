"""Bytes in, one record out: the five stages in order, and the replay that audits them.

A document format (docx, PDF, a saved page) is first extracted to text (`docclean.extract`);
the lines extraction dropped follow the normalized text and are recorded in `removed` like
any rule's, so replay from `normalized_text` stays exact.

`Cleaner` holds what is expensive to build (compiled rules, opencc converters) so a process
builds it once and cleans many documents with it; cleaning itself keeps no state.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import opencc
import pyarrow as pa

from docclean import DEFAULT_MAX_FILE_BYTES, PIPELINE_VERSION
from docclean.batch.placeholders import prepare as prepare_batch_placeholders
from docclean.batch.placeholders import replace_placeholders_batch
from docclean.decode import FLAG_MOJIBAKE_SUSPECTED, check_extracted, decode_bytes
from docclean.errors import RejectedInput
from docclean.extract import Extracted, append_dropped, extract
from docclean.language import LanguageGuess, detect_language, language_name, parse_languages
from docclean.noise import LineCandidates, apply_removals, removes_whole, strip_noise
from docclean.normalize import (
    ScriptConverters,
    normalize_text,
    opencc_changes,
    opencc_changes_beyond,
    opencc_clause_separators,
    simplified_twin,
)
from docclean.placeholders import DEFAULT_TOKEN, apply_placeholders, replace_placeholders
from docclean.record import Decoded, Normalized, Record, Removal, Stripped
from docclean.rules import RuleSet, load_rules
from docclean.schema import columns_to_table, records_to_table
from docclean.structure import find_structure, find_structure_batch

if TYPE_CHECKING:
    from docclean.batch.noise import BatchLineFilter

# opencc configuration applied to Traditional or mixed documents.
DEFAULT_SCRIPT_CONVERSION = "t2s"
# OpenCC configs that replace t2s for a document in Taiwan or Hong Kong standard forms.
REGIONAL_CONVERSIONS = ("tw2s", "hk2s")
# A rule that times out on this many documents is disabled for the rest of the run: each
# timeout costs the rule's whole budget (a second or more), so a catastrophic user regex would
# otherwise cost that on every document. Three is enough to tell a rule that fails on most
# text from one that trips on a rare odd document.
DISABLE_AFTER_TIMEOUTS = 3
# A batch of fewer bytes than this, given to a Cleaner that has not yet built what the batch
# path needs (`Cleaner.line_filter`: polars' import, the rules' supersets and the placeholder
# tables, 0.3 s), is cleaned by `clean` document by document: the same table (tests/test_batch.py)
# without that cost, which the batch path repays from about 2 MB of files on (bench/: 250 ms/MB
# by `clean` against 115 by `clean_batch`). A run over a few new files is the common case.
PER_DOCUMENT_BELOW_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class CleanConfig:
    placeholder_token: str = DEFAULT_TOKEN
    # opencc configuration applied to Traditional or mixed documents; None keeps the script.
    script_conversion: str | None = DEFAULT_SCRIPT_CONVERSION
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    rules_file: Path | None = field(default=None)
    # ISO 639-1 codes of the languages to keep (`--languages zh,en`); a document detected in
    # another language is rejected with reason `language`. None keeps every document.
    languages: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.languages is not None:
            # Normalized and checked here too: a flow run's parameters need not come from the CLI.
            object.__setattr__(self, "languages", parse_languages(",".join(self.languages)))

    def check_size(self, size: int) -> None:
        """Reject a file over the size limit; the curate flow calls it before reading the file."""
        if size > self.max_file_bytes:
            raise RejectedInput(
                "too_large",
                f"The file is {size:,} bytes, over the limit of {self.max_file_bytes:,} bytes; raise the limit "
                "(--max-bytes, CleanConfig.max_file_bytes) to clean it.",
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
        # Taiwan and Hong Kong standard forms need OpenCC's regional configs.
        regional = REGIONAL_CONVERSIONS if target == "t2s" else ()
        self.converters = ScriptConverters(
            to_simplified=to_simplified,
            to_traditional=to_traditional,
            target=None
            if target is None
            else (to_simplified if target == "t2s" else opencc.OpenCC(target).convert),
            target_name=target,
            regional=tuple((name, opencc.OpenCC(name).convert) for name in regional),
            to_traditional_changes=opencc_changes("s2t", opencc.__version__),
            regional_changes={
                name: changes
                for name in regional
                if (changes := opencc_changes_beyond(name, "t2s", opencc.__version__)) is not None
            },
            clause_separators=opencc_clause_separators(opencc.__version__),
        )

    @cached_property
    def line_filter(self) -> BatchLineFilter:
        """What clean_batch needs beyond clean: the noise rules' supersets and the placeholder
        stage's lookup tables (a third of a second with polars' import, once per process for the
        tables). Built on the first batch cleaned column-wise, so that a Cleaner that cleans one
        document at a time (`inspect`) or a few small ones never pays for it."""
        # Imported here: polars alone takes a seventh of a second to import.
        from docclean.batch.noise import BatchLineFilter

        prepare_batch_placeholders()
        return BatchLineFilter(self.rules)

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
        """Clean one document. Raises RejectedInput for a file that cannot become a document.

        `data` is the file's bytes, undecoded (decoding is the first stage): a `str` raises TypeError.
        """
        document = self._strip_noise(self._normalize(data, source_path))
        replaced = replace_placeholders(document.stripped.text, self.config.placeholder_token)
        structure = find_structure(replaced.text)
        return Record(
            doc_id=doc_id or make_doc_id(source_path, document.sha256),
            source_path=source_path,
            source_sha256=document.sha256,
            source_bytes=len(data),
            encoding=document.encoding,
            encoding_confidence=document.decoded.confidence,
            encoding_method=document.decoded.method,
            encoding_segments=document.decoded.segments,
            repair=document.decoded.repair,
            source_script=document.normalized.source_script,
            title=structure.title,
            doc_type=structure.doc_type,
            text=replaced.text,
            placeholders=replaced.placeholders,
            removed=document.removed,
            normalizations=document.normalized.edits,
            outline=structure.outline,
            flags=document.flags(replaced.capped, structure.capped, replaced.text),
            char_count=len(replaced.text),
            pipeline_version=PIPELINE_VERSION,
            rules_version=self.rules.version,
            source_format=document.source_format,
            page_count=document.page_count,
            extraction=document.extracted.found if document.extracted is not None else (),
            language=document.language.language,
            language_confidence=document.language.confidence,
            normalized_text=document.normalized_text,
        )

    def clean_batch(
        self,
        items: Iterable[BatchItem],
        ingested_at: datetime | None = None,
        on_reject: Callable[[BatchItem, RejectedInput], None] | None = None,
        per_document_below: int = PER_DOCUMENT_BELOW_BYTES,
    ) -> pa.Table:
        """Clean a batch of documents into one table of the documents schema (`DOCUMENT_SCHEMA`).

        Row for row what `records_to_table` makes of `clean` on each item, in the items' order
        (the equality tests check it column by column). Decoding, language detection,
        normalization and structure run document by document as in `clean`; the lines each
        noise rule may match in are found for the whole batch at once, and the placeholder
        stage runs over the whole batch, its annotations going straight into Arrow columns
        (docclean/batch/). A batch of fewer than `per_document_below` bytes of files (0: none),
        while `line_filter` is not built yet, is cleaned by `clean` on each item instead
        (PER_DOCUMENT_BELOW_BYTES). `ingested_at` (default: now, UTC)
        fills `ingested_at`; the corpus columns are null. An item that cannot become a
        document is passed to `on_reject` with the RejectedInput and has no row; without
        `on_reject` the RejectedInput is raised.
        """
        items = list(items)
        ingested_at = datetime.now(UTC) if ingested_at is None else ingested_at
        # `line_filter`, a cached_property, is in the instance's __dict__ once built.
        if "line_filter" not in self.__dict__ and sum(len(item.data) for item in items) < per_document_below:
            return self._clean_each(items, ingested_at, on_reject)
        kept: list[BatchItem] = []
        normalized: list[_Normalized] = []
        for item in items:
            try:
                normalized.append(self._normalize(item.data, item.source_path))
            except RejectedInput as rejected:
                if on_reject is None:
                    raise
                on_reject(item, rejected)
                continue
            kept.append(item)
        candidates = self.line_filter.candidates([document.noise_subject for document in normalized])
        documents = [
            self._strip_noise(document, lines) for document, lines in zip(normalized, candidates, strict=True)
        ]
        del normalized
        replaced = replace_placeholders_batch(
            [document.stripped.text for document in documents], self.config.placeholder_token
        )
        structures = find_structure_batch(replaced.texts)
        columns: dict[str, Sequence[object] | pa.Array] = {
            "doc_id": [
                item.doc_id or make_doc_id(item.source_path, document.sha256)
                for item, document in zip(kept, documents, strict=True)
            ],
            "source_path": [item.source_path for item in kept],
            "source_sha256": [document.sha256 for document in documents],
            "source_bytes": [len(item.data) for item in kept],
            "encoding": [document.encoding for document in documents],
            "encoding_confidence": [document.decoded.confidence for document in documents],
            "encoding_method": [document.decoded.method for document in documents],
            "encoding_segments": [document.decoded.segments for document in documents],
            "repair": [document.decoded.repair for document in documents],
            "source_script": [document.normalized.source_script for document in documents],
            "title": structures.titles,
            "doc_type": structures.doc_types,
            "text": replaced.texts,
            "placeholders": replaced.placeholders,
            "removed": [document.removed for document in documents],
            "normalizations": [document.normalized.edits for document in documents],
            "outline": structures.outline,
            "flags": [
                document.flags(capped, outline_capped, text)
                for document, capped, outline_capped, text in zip(
                    documents, replaced.capped, structures.capped, replaced.texts, strict=True
                )
            ],
            "char_count": [len(text) for text in replaced.texts],
            "pipeline_version": [PIPELINE_VERSION] * len(kept),
            "rules_version": [self.rules.version] * len(kept),
            "source_format": [document.source_format for document in documents],
            "page_count": [document.page_count for document in documents],
            "language": [document.language.language for document in documents],
            "language_confidence": [document.language.confidence for document in documents],
        }
        return columns_to_table(columns, len(kept), [item.mtime_ns for item in kept], ingested_at)

    def _clean_each(
        self,
        items: list[BatchItem],
        ingested_at: datetime,
        on_reject: Callable[[BatchItem, RejectedInput], None] | None,
    ) -> pa.Table:
        """`clean_batch`'s table, made by `clean` on each item, as the equality tests make the
        table they compare the column-wise path with."""
        records: list[Record] = []
        mtimes: list[int] = []
        for item in items:
            try:
                records.append(self.clean(item.data, item.source_path, item.doc_id))
            except RejectedInput as rejected:
                if on_reject is None:
                    raise
                on_reject(item, rejected)
                continue
            mtimes.append(item.mtime_ns)
        return records_to_table(records, mtimes, ingested_at)

    def _normalize(self, data: bytes, source_path: str) -> _Normalized:
        """Extraction, decoding, language detection and normalization of one document."""
        if not isinstance(data, bytes | bytearray):
            raise TypeError(
                f"Cleaner.clean wants the file's bytes, not {type(data).__name__}: pass "
                "path.read_bytes() (or text.encode() for text you already have)."
            )
        sha = hashlib.sha256(data).hexdigest()
        self.config.check_size(len(data))
        extracted = extract(data)
        decoded = _decoded(extracted) if extracted is not None else decode_bytes(data)
        if not decoded.text.strip():
            raise RejectedInput("empty", "The file holds no text (it is empty or only whitespace).")
        guess = detect_language(decoded.text, decoded.encoding)
        wanted = self.config.languages
        if wanted and guess.language is not None and guess.language not in wanted:
            raise RejectedInput(
                "language",
                f"The document is in {language_name(guess.language)} ({guess.language}, confidence "
                f"{guess.confidence:.2f}), not in the languages asked for ({', '.join(wanted)}); "
                f"add {guess.language} to --languages to keep it.",
            )
        # OpenCC only on Chinese, and never on suspected mojibake it would rewrite beyond repair.
        convert_script = guess.language in (None, "zh") and FLAG_MOJIBAKE_SUSPECTED not in decoded.flags
        normalized = normalize_text(
            decoded.text, self.converters, convert_script=convert_script, stands_alone=self._noise_alone
        )
        # Chinese whose Traditional script is kept (CleanConfig(script_conversion=None)): the noise
        # rules, written in Simplified, are matched in its Simplified twin.
        twin = (
            simplified_twin(normalized.text, self.converters)
            if convert_script
            and self.converters.target is None
            and normalized.source_script in ("Hant", "mixed")
            else None
        )
        return _Normalized(sha, extracted, decoded, guess, normalized, twin)

    def _noise_alone(self, line: str) -> bool:
        """Whether this Cleaner's noise rules remove `line` whole (`removes_whole`): an ad or a
        notice at a page's foot, or under a hard-wrapped paragraph, is no piece of the paragraph,
        to be joined to it (`normalize_text`)."""
        return removes_whole(line, self.rules, self.disabled_rules)

    def _strip_noise(self, document: _Normalized, candidates: LineCandidates | None = None) -> _ThroughNoise:
        """Noise removal of one normalized document, counting the rules' timeouts."""
        timed_out: list[str] = []
        disabled = self.disabled_rules
        normalized, extracted = document.normalized, document.extracted
        stripped = strip_noise(
            normalized.text,
            self.rules,
            on_timeout=timed_out.append,
            disabled=disabled,
            candidates=candidates,
            matched_in=document.noise_twin,
        )
        self.rule_timeouts.update(timed_out)
        normalized_text, extraction_removed = (
            append_dropped(normalized.text, extracted.dropped) if extracted else (normalized.text, ())
        )
        return _ThroughNoise(
            sha256=document.sha256,
            extracted=extracted,
            decoded=document.decoded,
            language=document.language,
            normalized=normalized,
            stripped=stripped,
            removed=stripped.removed + extraction_removed,
            normalized_text=normalized_text,
            timed_out=tuple(timed_out),
            disabled=disabled,
        )


class BatchItem(NamedTuple):
    """One document of a batch: the file's bytes, its path, the id it keeps (None: a new id) and its mtime."""

    data: bytes
    source_path: str
    doc_id: str | None = None
    mtime_ns: int = 0


@dataclass(frozen=True, slots=True)
class _Normalized:
    """A document through extraction, decoding, language detection and normalization."""

    sha256: str
    extracted: Extracted | None
    decoded: Decoded
    language: LanguageGuess
    normalized: Normalized
    # The normalized text in Simplified script, one character for one, where the noise rules are
    # matched: a Chinese text whose Traditional script is kept; None for every other.
    noise_twin: str | None = None

    @property
    def noise_subject(self) -> str:
        """Where the noise rules are matched: the twin, else the normalized text."""
        return self.normalized.text if self.noise_twin is None else self.noise_twin


@dataclass(frozen=True, slots=True)
class _ThroughNoise:
    """A document through decode, language detection, normalization and noise removal."""

    sha256: str
    extracted: Extracted | None
    decoded: Decoded
    language: LanguageGuess
    normalized: Normalized
    stripped: Stripped
    # The noise stage's removals, then the lines extraction dropped.
    removed: tuple[Removal, ...]
    normalized_text: str
    timed_out: tuple[str, ...]
    disabled: frozenset[str]

    @property
    def encoding(self) -> str | None:
        return (
            None if self.extracted is not None and self.extracted.decoded is None else self.decoded.encoding
        )

    @property
    def source_format(self) -> str:
        return self.extracted.source_format if self.extracted is not None else "text"

    @property
    def page_count(self) -> int | None:
        return self.extracted.page_count if self.extracted is not None else None

    def flags(self, placeholders_capped: bool, outline_capped: bool, text: str) -> tuple[str, ...]:
        """The document's flags once the placeholder and structure stages made `text`."""
        flags = list(self.decoded.flags) + list(self.normalized.flags)
        if self.extracted is not None:
            flags += self.extracted.flags
        flags += [f"rule_timeout:{rule}" for rule in self.timed_out]
        flags += [f"rule_disabled:{rule}" for rule in sorted(self.disabled)]
        if placeholders_capped:
            flags.append("placeholders_capped")
        if outline_capped:
            flags.append("outline_capped")
        if not text:
            flags.append("empty_after_cleaning")
        return tuple(dict.fromkeys(flags))


def _decoded(extracted: Extracted) -> Decoded:
    """The decode stage's view of an extracted document: its page's decoding, or none needed,
    with the decode stage's checks run on the extracted text (`decode.check_extracted`)."""
    if extracted.decoded is not None:
        return check_extracted(replace(extracted.decoded, text=extracted.text))
    # `container`: the format carries its own text encoding; no codec was chosen.
    return check_extracted(Decoded(extracted.text, "", 1.0, "container"))


def replay(record: Record, normalized_text: str, token: str = DEFAULT_TOKEN) -> str:
    """Rebuild `record.text` from the normalized text and the record's annotations alone."""
    return apply_placeholders(apply_removals(normalized_text, record.removed), record.placeholders, token)
