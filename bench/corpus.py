"""A reproducible synthetic corpus of Chinese speech manuscripts, built from the project's raw/ samples.

The samples in raw/ are decoded and cleaned with docclean's own stages (decode, normalize,
noise), so the paragraph source holds no noise of its own; the generator then adds a known
amount of noise and placeholders and encodes each document in one of the codecs docclean
meets in practice. The same seed and document count always give the same bytes.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import opencc

from docclean.decode import decode_bytes
from docclean.noise import strip_noise
from docclean.normalize import normalize_text
from docclean.pipeline import Cleaner

# Bump when the generator changes, so a cached corpus made by an older generator is rebuilt.
GENERATOR_VERSION = 1
MANIFEST_NAME = "manifest.json"
RAW_DIR_NAME = "raw"

# Encoded size of a document, drawn uniformly: the mean (12 KB) is the brief's ~12 KB per document.
MIN_DOC_BYTES = 6_000
MAX_DOC_BYTES = 18_000

# (share, encoding label, Python codec that decodes the file exactly). The labels say how the
# bytes were written; the floor measurement decodes with the codec, as if it knew the encoding.
ENCODING_MIX: tuple[tuple[float, str, str], ...] = (
    (0.45, "utf-8", "utf-8"),
    (0.15, "utf-8-bom-crlf", "utf-8-sig"),
    (0.125, "gbk", "gbk"),
    (0.125, "gb18030", "gb18030"),
    (0.10, "big5-s2tw", "big5"),
    (0.05, "utf-16", "utf-16"),
)

# Noise the way material-sharing sites add it; each must be removed by docclean's built-in rules.
COPYRIGHT_NOTICES = (
    "本文系作者原创投稿，仅供学习参考，请勿照搬照抄！",
    "仅供学习 禁止外传",
    "版权归原作者所有，如有侵权请联系删除。",
    "本文来源于网络，如有侵权请联系删除。",
)
VENDOR_LINE = "酷乐文行整理，咨询QQ206157060"
URL_LINES = (
    "下载更多资料请访问 www.example-wenku.com",
    "https://www.example-wenku.com/doc/{number}.html",
    "更多精品资料请关注微信公众号：wenmi2023",
)
CONTACT_LINE = "联系电话：138{number:08d}　邮箱：ziliao@example.com"
WATERMARK = "仅供学习 禁止外传"
# Redaction placeholders of every family docclean knows, as sentences a manuscript could hold.
PLACEHOLDER_SENTENCES = (
    "XX同志在20XX年X月的会议上作了具体部署。",
    "××局长要牵头研究，XX局、XX办要密切配合。",
    "全年完成投资XX亿元，同比增长X.X%。",
    "某某同志和**同志分别作了表态发言。",
    # ○ (U+25CB), not 〇 (U+3007): Big5 has only the former.
    "要在XX县开展试点，力争二○XX年前全面推开。",
)
CHINESE_NUMERALS = "一二三四五六七八九十"
# A PDF copy wraps lines at a fixed page width; docclean must join them back.
HARD_WRAP_CHARS = 32
INDENT = "\u3000\u3000"

_SENTENCE = re.compile(r"[^。！？；]+[。！？；]?")
_OUTLINE_MARKER = re.compile(r"^(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）)")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class CorpusFile:
    name: str
    encoding: str
    codec: str
    size: int


@dataclass(frozen=True, slots=True)
class Corpus:
    raw_dir: Path
    files: tuple[CorpusFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True, slots=True)
class ParagraphSource:
    """What the raw/ samples give the generator: titles, salutations, headings and sentences."""

    titles: tuple[str, ...]
    salutations: tuple[str, ...]
    headings: tuple[str, ...]
    sentences: tuple[str, ...]


def load_paragraph_source(sample_dir: Path) -> ParagraphSource:
    """Decode and clean raw/*.txt with docclean's own stages, then sort their lines by role."""
    cleaner = Cleaner()
    titles: list[str] = []
    salutations: list[str] = []
    headings: list[str] = []
    sentences: list[str] = []
    for path in sorted(sample_dir.glob("*.txt")):
        decoded = decode_bytes(path.read_bytes())
        normalized = normalize_text(decoded.text, cleaner.converters)
        # The sources are mixed-script (one sample is Big5 Traditional): all become Simplified
        # so that the script of a generated document is decided by its encoding alone.
        lines = cleaner.converters.to_simplified(strip_noise(normalized.text, cleaner.rules).text).split("\n")
        titles.append(lines[0])
        for line in lines[1:]:
            if line.endswith("："):
                salutations.append(line)
            elif marker := _OUTLINE_MARKER.match(line):
                heading = line[marker.end() :]
                # `（一）加强政治理论学习。坚持…`: the heading is its first sentence, the rest is body.
                first, _, rest = heading.partition("。")
                headings.append(first)
                sentences += _SENTENCE.findall(rest)
            else:
                sentences += _SENTENCE.findall(line)
    return ParagraphSource(
        titles=tuple(titles),
        salutations=tuple(dict.fromkeys(salutations)) or ("同志们：",),
        headings=tuple(dict.fromkeys(headings)),
        sentences=tuple(s for s in dict.fromkeys(sentences) if len(s) > 4),
    )


def _vary_numbers(sentence: str, rng: random.Random) -> str:
    # Different figures per use make every paragraph, and so every document, distinct content.
    return _DIGITS.sub(lambda m: str(rng.randrange(1, 10 ** len(m.group()))), sentence)


def _paragraph(source: ParagraphSource, rng: random.Random) -> str:
    sentences = [_vary_numbers(rng.choice(source.sentences), rng) for _ in range(rng.randint(2, 6))]
    if rng.random() < 0.2:
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(PLACEHOLDER_SENTENCES))
    return "".join(sentences)


def _hard_wrap(paragraph: str) -> list[str]:
    return [paragraph[i : i + HARD_WRAP_CHARS] for i in range(0, len(paragraph), HARD_WRAP_CHARS)]


def build_document(
    source: ParagraphSource, rng: random.Random, target_bytes: int, bytes_per_char: float
) -> str:
    """One Simplified manuscript of about `target_bytes` once encoded, with noise and placeholders."""
    indent = INDENT if rng.random() < 0.5 else ""
    hard_wrapped = rng.random() < 0.05
    body: list[str] = []
    size = 0.0
    section = 0
    while size < target_bytes:
        if section < len(CHINESE_NUMERALS) and (not body or rng.random() < 0.15):
            heading = f"{CHINESE_NUMERALS[section]}、{rng.choice(source.headings)}"
            body.append(heading)
            size += len(heading) * bytes_per_char
            section += 1
            continue
        paragraph = _paragraph(source, rng)
        size += (len(paragraph) + len(indent)) * bytes_per_char
        if hard_wrapped:
            wrapped = _hard_wrap(paragraph)
            body += [indent + wrapped[0], *wrapped[1:]]
        else:
            body.append(indent + paragraph)

    # Page markers every ~40 lines, the way a PDF or Word copy leaves them behind.
    page_style = rng.random()
    lines: list[str] = []
    page = 1
    for index, line in enumerate(body, start=1):
        lines.append(line)
        if index % 40 == 0 and page_style < 0.6:
            pages = len(body) // 40 + 1
            lines.append(f"- {page} -" if page_style < 0.4 else f"第 {page} 页 共 {pages} 页")
            page += 1
    if rng.random() < 0.15:
        for _ in range(3):
            lines.insert(rng.randrange(1, len(lines)), WATERMARK)
    if rng.random() < 0.3:
        lines.insert(rng.randrange(len(lines)), rng.choice(URL_LINES).format(number=rng.randrange(10**6)))
    if rng.random() < 0.1:
        lines.append(CONTACT_LINE.format(number=rng.randrange(10**8)))

    head = [rng.choice(source.titles)]
    if rng.random() < 0.6:
        head.append(rng.choice(source.salutations))
    if rng.random() < 0.5:
        head.insert(0, rng.choice(COPYRIGHT_NOTICES))
    tail: list[str] = []
    if rng.random() < 0.4:
        (head if rng.random() < 0.5 else tail).insert(0, VENDOR_LINE)
    return "\n".join(head + lines + tail) + "\n"


def _pick_encoding(rng: random.Random) -> tuple[str, str]:
    draw = rng.random()
    for share, label, codec in ENCODING_MIX:
        if draw < share:
            return label, codec
        draw -= share
    return ENCODING_MIX[-1][1], ENCODING_MIX[-1][2]


def encode_document(text: str, encoding: str, to_taiwan: opencc.OpenCC) -> bytes:
    if encoding == "utf-8":
        return text.encode("utf-8")
    if encoding == "utf-8-bom-crlf":
        return text.replace("\n", "\r\n").encode("utf-8-sig")
    if encoding == "big5-s2tw":
        # Big5 holds Taiwan-standard forms (為, 著), which s2tw produces; strict, so a character
        # Big5 lacks fails loudly here instead of becoming '?' in the corpus.
        return to_taiwan.convert(text).encode("big5", errors="strict")
    if encoding == "utf-16":
        return text.encode("utf-16")  # with a BOM, as Windows Notepad writes it
    return text.encode(encoding)


def _manifest_key(docs: int, seed: int) -> dict[str, int]:
    return {"generator_version": GENERATOR_VERSION, "docs": docs, "seed": seed}


def load_cached(folder: Path, docs: int, seed: int) -> Corpus | None:
    """The corpus built earlier with the same parameters, if it is complete and untouched."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text("utf-8"))
    if manifest.get("key") != _manifest_key(docs, seed):
        return None
    files = tuple(CorpusFile(**f) for f in manifest["files"])
    raw_dir = folder / RAW_DIR_NAME
    for f in files:
        path = raw_dir / f.name
        if not path.is_file() or path.stat().st_size != f.size:
            return None
    return Corpus(raw_dir, files)


def generate_corpus(folder: Path, sample_dir: Path, docs: int, seed: int) -> Corpus:
    """Write `docs` documents to folder/raw, with mtimes a day in the past, and a manifest."""
    cached = load_cached(folder, docs, seed)
    if cached is not None:
        return cached
    shutil.rmtree(folder, ignore_errors=True)
    raw_dir = folder / RAW_DIR_NAME
    raw_dir.mkdir(parents=True)
    rng = random.Random(seed)
    source = load_paragraph_source(sample_dir)
    to_taiwan = opencc.OpenCC("s2tw")
    # A day old: the curate flow skips files changed within its settle time (2 s by default).
    past_ns = time.time_ns() - 86_400 * 10**9
    files: list[CorpusFile] = []
    for number in range(docs):
        encoding, codec = _pick_encoding(rng)
        bytes_per_char = 3.0 if encoding.startswith("utf-8") else 2.0
        target = rng.randint(MIN_DOC_BYTES, MAX_DOC_BYTES)
        data = encode_document(build_document(source, rng, target, bytes_per_char), encoding, to_taiwan)
        name = f"doc{number:06d}_{encoding}.txt"
        path = raw_dir / name
        path.write_bytes(data)
        os.utime(path, ns=(past_ns, past_ns))
        files.append(CorpusFile(name, encoding, codec, len(data)))
    manifest = {"key": _manifest_key(docs, seed), "files": [asdict(f) for f in files]}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest), "utf-8")
    return Corpus(raw_dir, tuple(files))


def link_subset(corpus: Corpus, files: Sequence[CorpusFile], folder: Path) -> Corpus:
    """A raw folder holding `files` as hard links: same bytes and mtimes, no copy."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for f in files:
        os.link(corpus.raw_dir / f.name, folder / f.name)
    return Corpus(folder, tuple(files))


def describe(corpus: Corpus) -> str:
    counts = Counter(f.encoding for f in corpus.files)
    mix = ", ".join(f"{label} {count}" for label, count in counts.most_common())
    return f"{len(corpus.files):,} documents, {corpus.total_bytes / 1e6:.1f} MB ({mix})"
