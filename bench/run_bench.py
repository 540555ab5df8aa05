"""End-to-end benchmark of `docclean run`: prints figures and PASS/MISS against targets, never asserts.

    python3 bench/run_bench.py [--docs N] [--out bench/out/results.json]
    python3 bench/run_bench.py --shapes   (peak memory on pathological files, see bench/shapes.py)
    python3 bench/run_bench.py --decoding (decoding CPU ms/MB per kind of file beside the floor, seconds)

Builds (or reuses) a reproducible synthetic corpus of N documents (default 10,000, ~120 MB)
from the samples in raw/, then measures, in one run:

  (a) the floor: read, decode with the known codec, opencc t2s, write one zstd Parquet file,
      measured three times (first, then beside each full one-worker run), the fastest counting;
  (b) `docclean run` end to end (a subprocess, as a user runs it), split into the fixed
      start-up (the wall time of a corpus of one document) and the cost per MB (the run's own
      work, which it reports as `in S s`: scan, plan, clean and commit, without the start-up);
      the start-up also against a Prefect server that is already running, the part of it
      Prefect's temporary server takes;
  (c) a re-run with nothing new, checking that it wrote nothing (the current-snapshot link unchanged);
  (d) peak RSS of each run, on the full corpus and on a tenth of it (is it flat?);
  (e) one worker against two (`--workers 2`); the full-corpus runs alternate, one worker then
      two, twice, and the faster of each counts (a shared machine's slow spells hit both alike);
  (f) the same on a Dask LocalCluster of one worker, then two (`--runner dask`), when
      prefect-dask is installed (`pip install -e '.[dask]'`).

`--docs 1000` is the quick run (about three minutes); the default takes about seven.
Everything is written under bench/out/, which git ignores; Prefect's state goes to bench/out/prefect-home so that benchmark runs
neither read nor grow the user's ~/.prefect database.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import opencc
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import shapes
from corpus import Corpus, CorpusFile, describe, generate_corpus, link_subset, load_cached

from docclean.pipeline import BatchItem, Cleaner
from docclean.schema import records_to_table

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
DEFAULT_DOCS = 10_000
DEFAULT_SEED = 20_241_123
MB = 1e6

# The targets of issue #18 (and #19 for the corpus pass, issue 5 for the start-up with a temporary
# server), for 2 cores and 10,000 documents (~120 MB).
TARGET_COST_RATIO = 4.0  # end-to-end cost per MB on one core beyond start-up, as a multiple of the floor's
TARGET_SPEEDUP = 1.7  # two workers against one
TARGET_CORPUS_SHARE = 0.2  # the corpus pass (dedup and boilerplate) within a run, issue #19
TARGET_RERUN_EXTRA_S = 2.0  # a re-run with nothing new, beyond Prefect's start-up
TARGET_PEAK_RSS_MB = 500.0
# "Flat in corpus size": the full corpus may take at most this much more memory than a tenth of it.
TARGET_RSS_GROWTH = 1.2
TARGET_STARTUP_S = 5.0  # with the temporary Prefect server a run starts itself (issue 5)
TARGET_STARTUP_WITH_SERVER_S = 3.0  # with a Prefect server already running (PREFECT_API_URL)

# The same quieting the CLI applies to itself, also for the bare Prefect flow measured beside it.
QUIET_PREFECT_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LOG_PRINTS": "false",
}
BARE_FLOW = "from prefect import flow\n@flow\ndef noop() -> None:\n    pass\nnoop()\n"
# /proc is sampled this often for the memory of the whole process tree (ru_maxrss is per process):
# often enough to catch the plateau of a run that lasts tens of seconds, rarely enough that the
# sampling (a /proc scan and an smaps_rollup read per process) takes next to no CPU from the runs
# it times, which on two cores have none to spare with two workers.
RSS_SAMPLE_SECONDS = 1.0
# A Prefect server started for the "running server" start-up figure must answer within this.
SERVER_READY_SECONDS = 90.0


@dataclass
class ProcessRun:
    """One subprocess: wall time, exit status and memory."""

    label: str
    command: list[str]
    seconds: float
    exit_code: int
    # ru_maxrss from wait4: the largest single process of the tree (the CLI, the Prefect
    # server it starts, a pool worker), whichever peaked highest.
    max_process_rss_mb: float
    # The sum over the whole process tree of PSS (shared pages split between the processes
    # that share them, so forked pool workers are not counted twice), sampled from /proc.
    peak_tree_pss_mb: float
    output_tail: str = ""
    # What `docclean run` reports as its own work (scan, plan, clean, commit): the wall time
    # less the fixed start-up, measured inside the run, so no subtraction of two noisy runs.
    work_seconds: float | None = None


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue  # the process ended while we looked
        # The command name in parentheses may hold spaces: the fields after its ')' are fixed.
        parent = int(stat.rsplit(b")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass  # the process ended while we looked
    return 0


def _tree_pss_bytes(root: int) -> int:
    children = _children_by_parent()
    total = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        total += _pss_bytes(pid)
    return total


def run_process(label: str, command: Sequence[str], env: dict[str, str], log_dir: Path) -> ProcessRun:
    """Run `command`, measuring wall time, the per-process peak (wait4) and the tree's peak (/proc)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{label}.log"
    peak_tree = 0
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_DIR)
        finished = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not finished.is_set():
                peak_tree = max(peak_tree, _tree_pss_bytes(process.pid))
                finished.wait(RSS_SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # wait4, not getrusage(RUSAGE_CHILDREN): the latter is a high-water mark over every
        # child so far, so a small run after a big one would report the big one's memory.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        finished.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    output = log_path.read_text("utf-8", errors="replace")
    return ProcessRun(
        label=label,
        command=list(command),
        seconds=seconds,
        exit_code=process.returncode,
        max_process_rss_mb=usage.ru_maxrss * 1024 / MB,  # Linux reports KiB
        peak_tree_pss_mb=peak_tree / MB,
        output_tail="\n".join(output.strip().splitlines()[-6:]),
        work_seconds=_reported_work_seconds(output),
    )


# The summary line `... rejected N, in S s.`, perhaps wrapped by the console.
_WORK_SECONDS = re.compile(r"rejected \d+, in ([0-9.]+) s\.")


def _reported_work_seconds(output: str) -> float | None:
    match = _WORK_SECONDS.search(" ".join(output.split()))
    return float(match.group(1)) if match else None


def own_work(run: ProcessRun) -> float:
    """The run's own work in seconds; a run that printed no summary failed and was reported."""
    return run.seconds if run.work_seconds is None else run.work_seconds


@dataclass
class Bench:
    """Paths and environment of one benchmark; every run is recorded in `runs`."""

    work: Path
    env: dict[str, str]
    runs: list[ProcessRun] = field(default_factory=list)

    def docclean_run(
        self,
        label: str,
        raw: Path,
        curated: Path,
        workers: int = 1,
        env: dict[str, str] | None = None,
        runner: str = "local",
    ) -> ProcessRun:
        command = [sys.executable, "-m", "docclean_cli", "run", "--raw", str(raw), "--curated", str(curated)]
        command += ["--settle", "0", "--workers", str(workers), "--runner", runner]
        run = run_process(label, command, env or self.env, self.work / "logs")
        self.runs.append(run)
        status = "ok" if run.exit_code == 0 else f"EXIT {run.exit_code}"
        print(
            f"  {label:<28} {run.seconds:7.2f} s  rss {run.max_process_rss_mb:6.0f} MB "
            f"(tree PSS {run.peak_tree_pss_mb:6.0f} MB)  {status}",
            file=sys.stderr,
            flush=True,
        )
        if run.exit_code != 0:
            print(run.output_tail, file=sys.stderr)
        return run

    def bare_prefect_flow(self, label: str) -> ProcessRun:
        run = run_process(label, [sys.executable, "-c", BARE_FLOW], self.env, self.work / "logs")
        self.runs.append(run)
        print(f"  {label:<28} {run.seconds:7.2f} s", file=sys.stderr, flush=True)
        return run

    def fresh(self, name: str) -> Path:
        """A curated folder that does not exist yet (removed, with its snapshots, if a previous benchmark left it)."""
        from docclean.layout import state_folder

        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(state_folder(path), ignore_errors=True)
        return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_prefect_server(env: dict[str, str], log_path: Path) -> Iterator[str | None]:
    """A `prefect server start` of our own for the duration; yields its API URL, None if it never answers."""
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log:
        # Its own session, so that stopping it reaches the uvicorn process it starts, and nothing else.
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVER_READY_SECONDS
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        yield api_url
                        return
            except OSError:
                time.sleep(0.5)
        yield None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def measure_floor(corpus: Corpus, out_file: Path) -> float:
    """Seconds for the least any cleaner must do: read, decode (codec known), t2s, one Parquet file."""
    to_simplified = opencc.OpenCC("t2s")
    started = time.perf_counter()
    names: list[str] = []
    texts: list[str] = []
    for f in corpus.files:
        data = (corpus.raw_dir / f.name).read_bytes()
        texts.append(to_simplified.convert(data.decode(f.codec)))
        names.append(f.name)
    pq.write_table(pa.table({"source_path": names, "text": texts}), out_file, compression="zstd")
    return time.perf_counter() - started


def measure_clean_core(corpus: Corpus) -> dict[str, float]:
    """Seconds for the cleaning core alone over `corpus`: bytes already read, no Prefect, no Parquet.

    Two ways, each into the batch's Arrow table, over the batches the flow makes (at most
    BATCH_FILES files and BATCH_BYTES bytes): `Cleaner.clean` per document then
    `records_to_table` (the reference), and `Cleaner.clean_batch` (what the flow runs). Each
    runs once to warm up (compiled rules, lookup tables), then once timed.
    """
    from flows.batches import BATCH_BYTES, BATCH_FILES

    ingested_at = datetime.now(UTC)
    batches: list[list[BatchItem]] = [[]]
    size = 0
    for f in corpus.files:
        data = (corpus.raw_dir / f.name).read_bytes()
        if batches[-1] and (size + len(data) > BATCH_BYTES or len(batches[-1]) >= BATCH_FILES):
            batches.append([])
            size = 0
        batches[-1].append(BatchItem(data, f.name))
        size += len(data)

    def per_document(cleaner: Cleaner, batch: list[BatchItem]) -> pa.Table:
        records = [cleaner.clean(item.data, item.source_path) for item in batch]
        return records_to_table(records, [item.mtime_ns for item in batch], ingested_at)

    def batched(cleaner: Cleaner, batch: list[BatchItem]) -> pa.Table:
        return cleaner.clean_batch(batch, ingested_at)

    seconds: dict[str, float] = {}
    for name, clean in (("", per_document), ("batch_", batched)):
        cleaner = Cleaner()
        clean(cleaner, batches[0][:50])
        if clean is batched:
            # Fifty documents are under PER_DOCUMENT_BELOW_BYTES: clean_batch cleaned them one by
            # one, and builds its tables on the first batch of a megabyte; they are warmed here.
            cleaner.line_filter  # noqa: B018
        started, cpu_started = time.perf_counter(), time.process_time()
        for batch in batches:
            clean(cleaner, batch)
        seconds[f"{name}seconds"] = time.perf_counter() - started
        seconds[f"{name}cpu_seconds"] = time.process_time() - cpu_started
    return seconds


def measure_formats(docs: int) -> int:
    """Print extraction ms per MB of file per format, over `docs` documents built from the samples.

    Each project sample becomes a .docx, a PDF and a saved page (tests/extract_documents.py,
    which needs the `test` extra); extraction alone is timed (`docclean.extract.extract`), then
    the whole `Cleaner.clean` for comparison. Sizes are of the files, not of their text.
    """
    sys.path.insert(0, str(REPO_DIR))
    from docclean.extract import extract
    from tests.extract_documents import docx_bytes, html_page, pdf_bytes

    texts = [path.read_bytes() for path in sorted((REPO_DIR / "raw").glob("*.txt"))]
    cleaner = Cleaner()
    plain = [cleaner.clean(data, "sample").normalized_text for data in texts]
    builders = {
        "docx": lambda text: docx_bytes(
            text.split("\n"), table_rows=[[line] for line in text.split("\n")[:3]]
        ),
        "pdf": lambda text: pdf_bytes(text, pages_at_least=2),
        "html": lambda text: html_page(text, "utf-8"),
    }
    print(f"{'format':<8}{'files':>6}{'MB':>8}{'extract ms/MB':>16}{'clean ms/MB':>14}")
    for name, build in builders.items():
        files = [build(plain[index % len(plain)]) for index in range(docs)]
        megabytes = sum(len(data) for data in files) / 1e6
        # Warm-up: the first call imports the library (and pypdf loads its CJK CMaps).
        cleaner.clean(files[0], name)
        started = time.perf_counter()
        for data in files:
            extract(data)
        extracted = time.perf_counter() - started
        started = time.perf_counter()
        for data in files:
            cleaner.clean(data, name)
        cleaned = time.perf_counter() - started
        print(
            f"{name:<8}{len(files):>6}{megabytes:>8.2f}{extracted * 1000 / megabytes:>16.0f}{cleaned * 1000 / megabytes:>14.0f}"
        )
    return 0


# --- Decoding: the cost of issue #15's checks beside the UTF-8 fast path (`--decoding`) ---------------

# Each kind of file gets about this much input, in files of about the corpus's mean size.
DECODING_KIND_BYTES = 2_000_000
DECODING_FILE_BYTES = 12_000
# A Greek line: valid UTF-8 with two-byte letters in a row, which GBK bytes can also make (ѧϰ),
# so the file goes from the fast path to the line and run analysis.
TWO_BYTE_LINE = "Σύνοψη της ομιλίας για την αγροτική αναζωογόνηση.\n"


def decoding_files(texts: list[str]) -> dict[str, list[bytes]]:
    """Files of each decoding path of docclean.decode, from `texts` (Chinese paragraphs).

    utf-8: the fast path (characters of three bytes and ASCII only); utf-8 with ××: the same
    text with the two-byte × of its redaction placeholders, which legacy bytes could also make,
    so the line and run analysis looks at it; utf-8 + a Greek line: valid UTF-8 in two scripts;
    gb18030 and big5hkscs: a legacy codec chosen by trial; mixed lines: GBK lines among UTF-8
    ones; mixed in a line: a GBK name and a phrase in cp1252 quotes inside UTF-8 sentences,
    cut into segments at the byte runs (issue #15's examples).
    """
    to_traditional = opencc.OpenCC("s2t")
    lines = [line for text in texts for line in text.split("\n") if line.strip()]
    three_byte = [line for line in lines if not any(0x80 <= ord(c) < 0x800 for c in line)]
    with_times = [line.replace("XX", "××") for line in lines]

    def files(source: list[str], encode: Callable[[int, str], bytes]) -> list[bytes]:
        made: list[bytes] = []
        current = bytearray()
        index = 0
        while sum(map(len, made)) < DECODING_KIND_BYTES:
            current += encode(index, source[index % len(source)] + "\n")
            index += 1
            if len(current) >= DECODING_FILE_BYTES:
                made.append(bytes(current))
                current.clear()
        return made

    def in_a_line(index: int, line: str) -> bytes:
        if index % 4:
            return line.encode("utf-8")
        pasted = "张德明".encode("gbk") + "同志强调".encode() + b"\x93Rural Revitalization\x94"
        return "会议由".encode() + pasted + "的要求。".encode() + line.encode()

    def utf8(_: int, line: str) -> bytes:
        return line.encode("utf-8")

    return {
        "utf-8 (fast path)": files(three_byte, utf8),
        "utf-8 with ××": files(with_times, utf8),
        "utf-8 + a Greek line": files(
            three_byte, lambda i, line: ((TWO_BYTE_LINE if i % 20 == 0 else "") + line).encode()
        ),
        "gb18030": files(three_byte, lambda _, line: line.encode("gb18030")),
        "big5hkscs": files(
            three_byte, lambda _, line: to_traditional.convert(line).encode("big5hkscs", "ignore")
        ),
        "mixed lines (utf-8, gbk)": files(
            three_byte, lambda i, line: line.encode("gbk" if i % 10 == 5 else "utf-8")
        ),
        "mixed in a line": files(three_byte, in_a_line),
    }


def measure_decoding() -> int:
    """Print decode_bytes' ms per MB for each decoding path beside the floor's (issue #15).

    For each kind of file: `decode_bytes` (deciding the codecs and decoding), the same bytes
    decoded with the segments it found already known (what decoding costs with nothing to
    decide), and the difference, the checks, also as a share of the floor: read, decode with the
    codec known, t2s and Parquet (measure_floor), over the single-codec files. CPU time of this
    process, best of three each: the work is single-threaded, so on an idle machine it is the wall
    time, and on a shared one the neighbours' load stays out of it.
    """
    from docclean.decode import decode_bytes

    texts = [decode_bytes(path.read_bytes()).text for path in sorted((REPO_DIR / "raw").glob("*.txt"))]
    kinds = decoding_files(texts)
    folder = OUT_DIR / "work" / "decoding"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    known_codec: list[CorpusFile] = []
    for kind, codec in (("utf-8 (fast path)", "utf-8"), ("gb18030", "gb18030"), ("big5hkscs", "big5hkscs")):
        for number, data in enumerate(kinds[kind]):
            name = f"{codec}-{number:04d}.txt"
            (folder / name).write_bytes(data)
            known_codec.append(CorpusFile(name, codec, codec, len(data)))
    floor_corpus = Corpus(folder, tuple(known_codec))

    def best_of_three(work: Callable[[], object]) -> float:
        timings = []
        for _ in range(3):
            started = time.process_time()
            work()
            timings.append(time.process_time() - started)
        return min(timings)

    floor = best_of_three(lambda: measure_floor(floor_corpus, OUT_DIR / "work" / "decoding.parquet"))
    floor_ms = floor * 1000 / (floor_corpus.total_bytes / MB)

    print(f"CPU ms per MB of file; the floor (read+decode+t2s+parquet, codec known): {floor_ms:.1f} ms/MB")
    print(
        f"{'kind':<26}{'files':>6}{'MB':>6}{'decode_bytes':>14}{'known':>8}{'checks':>8}{'of floor':>10}  methods"
    )
    for kind, files in kinds.items():
        decoded = [decode_bytes(data) for data in files]
        segments = [d.segments for d in decoded]
        megabytes = sum(map(len, files)) / MB
        total = best_of_three(lambda files=files: [decode_bytes(data) for data in files]) * 1000 / megabytes
        known = (
            best_of_three(
                lambda files=files, segments=segments: [
                    "".join(data[s.start : s.end].decode(s.encoding, "replace") for s in parts)
                    for data, parts in zip(files, segments, strict=True)
                ]
            )
            * 1000
            / megabytes
        )
        methods = ", ".join(f"{m} {n}" for m, n in Counter(d.method for d in decoded).most_common())
        print(
            f"{kind:<26}{len(files):>6}{megabytes:>6.1f}{total:>14.1f}{known:>8.1f}{total - known:>8.1f}"
            f"{(total - known) / floor_ms:>10.0%}  {methods}"
        )
    return 0


def corpus_dir(docs: int, seed: int) -> Path:
    return OUT_DIR / f"corpus-{docs}-{seed}"


def measure_here(kind: str, docs: int, seed: int) -> int:
    """The child side of measure_in_child: one measurement on the cached corpus, printed as JSON."""
    corpus = load_cached(corpus_dir(docs, seed), docs, seed)
    if corpus is None:
        print("the corpus is not built yet: run the benchmark itself", file=sys.stderr)
        return 1
    if kind == "corpus":
        print(json.dumps(measure_corpus_pass(OUT_DIR / "work" / "curated-full-1-worker-1")))
        return 0
    if kind == "floor":
        cpu_started = time.process_time()
        seconds = measure_floor(corpus, OUT_DIR / "work" / "floor.parquet")
        print(json.dumps({"seconds": seconds, "cpu_seconds": time.process_time() - cpu_started}))
    else:
        share = corpus.files if kind == "core-all" else corpus.files[: docs // 10]
        print(json.dumps(measure_clean_core(Corpus(corpus.raw_dir, share))))
    return 0


def core_rows(
    seconds: float, batch_seconds: float, per_mb: float, batch_per_mb: float, floor_per_mb: float, share: str
) -> list[tuple[str, str, str]]:
    """The table rows of the cleaning core: per document and batched, against the floor."""
    return [
        (
            f"clean per document + table ({share})",
            f"{seconds:.1f} s",
            f"{per_mb * 1000:.0f} ms/MB = {per_mb / floor_per_mb:.1f}x the floor",
        ),
        (
            f"clean_batch ({share})",
            f"{batch_seconds:.1f} s",
            f"{batch_per_mb * 1000:.0f} ms/MB = {batch_per_mb / floor_per_mb:.1f}x the floor, "
            f"{per_mb / batch_per_mb:.2f}x faster",
        ),
    ]


def print_core(docs: int, seed: int) -> int:
    """`--core`: the floor and the core over the whole corpus, alternated twice, the fastest counting.

    Printed in wall time and in CPU time (this process's threads): on a shared machine the
    CPU time is the steadier figure, since waiting for a core is not counted.
    """
    corpus = generate_corpus(corpus_dir(docs, seed), REPO_DIR / "raw", docs, seed)
    (OUT_DIR / "work").mkdir(parents=True, exist_ok=True)
    megabytes = corpus.total_bytes / MB
    floors, cores = [], []
    for _ in range(2):
        floors.append(measure_json_in_child("floor", docs, seed))
        cores.append(measure_json_in_child("core-all", docs, seed))
    rows = [("corpus", describe(corpus), "")]
    for clock, key in (("wall", "seconds"), ("CPU", "cpu_seconds")):
        floor = min(floor[key] for floor in floors)
        seconds = min(core[key] for core in cores)
        batch_seconds = min(core[f"batch_{key}"] for core in cores)
        rows += [
            (
                f"{clock}: floor, read+decode+t2s+parquet",
                f"{floor:.1f} s",
                f"{floor / megabytes * 1000:.0f} ms/MB",
            ),
            *(
                (f"{clock}: {name}", value, note)
                for name, value, note in core_rows(
                    seconds,
                    batch_seconds,
                    seconds / megabytes,
                    batch_seconds / megabytes,
                    floor / megabytes,
                    "all",
                )
            ),
        ]
    width = max(len(name) for name, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: figures of a shared machine")
    return 0


def measure_corpus_pass(curated: Path) -> dict[str, float]:
    """Seconds of the corpus work (dedup and boilerplate) from scratch over a run's whole dataset.

    As the first run over the corpus did it, on a copy of the current snapshot with no earlier
    state: each part's corpus facts (text hash, MinHash signature, line hashes), which the
    batches compute in parallel beside the cleaning (`facts_seconds`, CPU of this process), each
    part written as a batch writes it (every row alone), then the pass that counts, clusters and
    rewrites the parts (`seconds`, wall clock).
    """
    import pyarrow.parquet as pq

    from docclean.corpus_facts import alone, corpus_facts
    from docclean.layout import state_folder
    from flows.corpus import update_corpus
    from flows.storage import parse_location
    from flows.store import write_part

    staged = curated.parent / "corpus-pass"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree((state_folder(curated) / "current").resolve(), staged, copy_function=os.link)
    shutil.rmtree(staged / "corpus", ignore_errors=True)
    location = parse_location(str(staged))
    facts, facts_seconds, written = [], 0.0, []
    for part in sorted((staged / "documents").glob("*.parquet")):
        table = pq.read_table(part)
        started = time.process_time()
        facts.append(corpus_facts(table))
        facts_seconds += time.process_time() - started
        part.unlink()  # a hard link to the run's own part, which must stay as it is
        written.append(location.child(f"documents/{part.name}"))
        write_part(alone(table, facts[-1].column("text_sha256")), written[-1])
        del table
    outcome = update_corpus(location, None, given_facts=facts, written=written)
    shutil.rmtree(staged)
    return {
        "seconds": outcome.seconds,
        "facts_seconds": facts_seconds,
        "dedup_seconds": outcome.dedup_seconds,
        "boilerplate_seconds": outcome.boilerplate_seconds,
    }


def measure_in_child(kind: str, docs: int, seed: int) -> float:
    """Run an in-process measurement in a fresh child, so its memory never inflates this process.

    Linux carries a forked child's pre-exec RSS into its ru_maxrss: had this process held the
    corpus's texts (the floor does), every `docclean run` after it would report that much.
    """
    return float(measure_json_in_child(kind, docs, seed)["seconds"])


def measure_json_in_child(kind: str, docs: int, seed: int) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", kind]
    command += ["--docs", str(docs), "--seed", str(seed)]
    result = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_DIR)
    return json.loads(result.stdout)


def snapshot_state(curated: Path) -> tuple[str, list[str]]:
    """What a run that writes nothing must leave as it is: the current link and the snapshots."""
    from docclean.layout import state_folder

    state = state_folder(curated)
    return os.readlink(state / "current"), sorted(p.name for p in (state / "snapshots").iterdir())


def dataset_counts(curated: Path) -> tuple[int, int]:
    documents = ds.dataset(curated / "documents", format="parquet").count_rows()
    rejects = ds.dataset(curated / "rejects", format="parquet").count_rows()
    return documents, rejects


def machine() -> dict[str, object]:
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import prefect

    return {
        "nproc": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "prefect": prefect.__version__,
        "pyarrow": pa.__version__,
        "platform": platform.platform(),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--docs", type=int, default=DEFAULT_DOCS, help=f"documents (default: {DEFAULT_DOCS:,})"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR / "results.json", help="JSON file of the figures")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="corpus seed (default: %(default)s)")
    parser.add_argument(
        "--shapes",
        action="store_true",
        help="only the peak RSS and CPU time of Cleaner.clean on pathological 40 MB files (bench/shapes.py)",
    )
    # Internal: the in-process measurements run in a child of their own (see measure_in_child).
    parser.add_argument("--measure", choices=("floor", "core", "core-all", "corpus"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--core",
        action="store_true",
        help="only the floor and the cleaning core (clean per document against clean_batch) over the "
        "whole corpus, twice: the quick figure while working on docclean/ (use a small --docs)",
    )
    parser.add_argument(
        "--formats", action="store_true", help="only print extraction ms per MB per format (.docx, PDF, HTML)"
    )
    parser.add_argument(
        "--decoding",
        action="store_true",
        help="only print decoding ms per MB per kind of file: the UTF-8 fast path, issue #15's checks, the floor",
    )
    args = parser.parse_args()
    if args.formats:
        return measure_formats(args.docs)
    if args.decoding:
        return measure_decoding()
    if args.docs < 10:
        parser.error("--docs must be at least 10 (a tenth of the corpus is measured too)")
    if args.measure:
        return measure_here(args.measure, args.docs, args.seed)
    if args.shapes:
        shapes.print_shapes(list(shapes.SHAPES), int(40 * MB))
        return 0
    if args.core:
        return print_core(args.docs, args.seed)

    bench_started = time.perf_counter()
    work = OUT_DIR / "work"
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **QUIET_PREFECT_ENV, "PREFECT_HOME": str(OUT_DIR / "prefect-home")}
    bench = Bench(work, env)

    print("corpus ...", file=sys.stderr, flush=True)
    generated = time.perf_counter()
    corpus = generate_corpus(corpus_dir(args.docs, args.seed), REPO_DIR / "raw", args.docs, args.seed)
    generate_seconds = time.perf_counter() - generated
    one_doc = link_subset(corpus, corpus.files[:1], work / "raw-1")
    tenth = link_subset(corpus, corpus.files[: args.docs // 10], work / f"raw-{args.docs // 10}")
    megabytes = corpus.total_bytes / MB
    print(f"  {describe(corpus)} ({generate_seconds:.1f} s)", file=sys.stderr)

    # The floor and the core are measured again beside each full one-worker run below, and the
    # fastest of each counts, as for the runs: a slow spell of the host must not make one side
    # of a ratio look better than the other.
    floors: list[float] = []
    cores: list[float] = []
    batch_cores: list[float] = []

    def measure_floor_and_core() -> None:
        floors.append(measure_in_child("floor", args.docs, args.seed))
        core = measure_json_in_child("core", args.docs, args.seed)
        cores.append(core["seconds"])
        batch_cores.append(core["batch_seconds"])
        print(
            f"  floor {floors[-1]:.2f} s; over a tenth, clean per document {cores[-1]:.2f} s, "
            f"clean_batch {batch_cores[-1]:.2f} s",
            file=sys.stderr,
        )

    print("(a) floor and cleaning core, each in a process of its own ...", file=sys.stderr, flush=True)
    measure_floor_and_core()

    print("(b) start-up: a bare Prefect flow, then docclean on one document ...", file=sys.stderr, flush=True)
    # The first run of a fresh PREFECT_HOME creates Prefect's database: a one-time cost, not start-up.
    bench.bare_prefect_flow("prefect-warm-up")
    prefect_bare = statistics.median(bench.bare_prefect_flow(f"prefect-bare-{i}").seconds for i in (1, 2))
    bench.docclean_run("warm-up-1-doc", one_doc.raw_dir, bench.fresh("curated-warm-up"))
    startup_runs = [
        bench.docclean_run(f"startup-1-doc-{i}", one_doc.raw_dir, bench.fresh(f"curated-1-doc-{i}"))
        for i in (1, 2, 3)
    ]
    startup = statistics.median(r.seconds for r in startup_runs)
    small_curated = work / "curated-1-doc-3"
    rerun_small = statistics.median(
        bench.docclean_run(f"rerun-1-doc-{i}", one_doc.raw_dir, small_curated).seconds for i in (1, 2)
    )

    print("(b) start-up against a running Prefect server (PREFECT_API_URL) ...", file=sys.stderr, flush=True)
    # Most of the start-up is Prefect's temporary server; with a server already running (as
    # `docclean serve` or `prefect server start` provide) a run skips it. Measured for comparison.
    startup_with_server: float | None = None
    with running_prefect_server(env, work / "logs" / "prefect-server.log") as api_url:
        if api_url is None:
            print("  the Prefect server did not answer; figure skipped", file=sys.stderr)
        else:
            server_env = {**env, "PREFECT_API_URL": api_url}
            bench.docclean_run(
                "server-warm-up-1-doc", one_doc.raw_dir, bench.fresh("curated-s0"), env=server_env
            )
            startup_with_server = statistics.median(
                bench.docclean_run(
                    f"server-startup-1-doc-{i}", one_doc.raw_dir, bench.fresh(f"curated-s{i}"), env=server_env
                ).seconds
                for i in (1, 2)
            )

    print(
        f"(b, d, e) full corpus ({megabytes:.0f} MB), one worker then two, twice ...",
        file=sys.stderr,
        flush=True,
    )
    # Alternated and repeated, the faster of each counting: on a shared machine a slow spell
    # then hits both figures alike, and the speed-up is not one run's luck against another's.
    full_one_runs: list[ProcessRun] = []
    full_two_runs: list[ProcessRun] = []
    for i in (1, 2):
        measure_floor_and_core()
        full_one_runs.append(
            bench.docclean_run(
                f"full-1-worker-{i}", corpus.raw_dir, bench.fresh(f"curated-full-1-worker-{i}")
            )
        )
        full_two_runs.append(
            bench.docclean_run(
                f"full-2-workers-{i}", corpus.raw_dir, bench.fresh(f"curated-full-2-workers-{i}"), workers=2
            )
        )
    full_one = min(full_one_runs, key=lambda run: run.seconds)
    full_two = min(full_two_runs, key=lambda run: run.seconds)
    curated_one = work / "curated-full-1-worker-1"
    documents, rejects = dataset_counts(curated_one)
    documents_two, rejects_two = dataset_counts(work / "curated-full-2-workers-1")

    print("(g) the corpus pass (dedup, boilerplate) from scratch over the whole dataset ...", file=sys.stderr)
    corpus_pass = measure_json_in_child("corpus", args.docs, args.seed)
    # The facts the batches compute count too: the whole of the corpus work within the run.
    corpus_share = (corpus_pass["seconds"] + corpus_pass["facts_seconds"]) / own_work(full_one)
    print("(c) re-run with nothing new ...", file=sys.stderr, flush=True)
    before = snapshot_state(curated_one)
    reruns = [bench.docclean_run(f"rerun-full-{i}", corpus.raw_dir, curated_one) for i in (1, 2)]
    rerun = statistics.median(r.seconds for r in reruns)
    wrote_nothing = snapshot_state(curated_one) == before

    print("(d) a tenth of the corpus, one worker (memory flat?) ...", file=sys.stderr, flush=True)
    tenth_run = bench.docclean_run("tenth-1-worker", tenth.raw_dir, bench.fresh("curated-tenth-1-worker"))

    dask_runs: dict[int, ProcessRun] = {}
    if importlib.util.find_spec("prefect_dask") is None:
        print("(f) Dask: prefect-dask is not installed, skipped (pip install -e '.[dask]')", file=sys.stderr)
    else:
        print("(f) full corpus on a Dask LocalCluster, one worker then two ...", file=sys.stderr, flush=True)
        for workers in (1, 2):
            dask_runs[workers] = bench.docclean_run(
                f"dask-{workers}-worker",
                corpus.raw_dir,
                bench.fresh(f"curated-dask-{workers}"),
                workers=workers,
                runner="dask",
            )

    floor_seconds, core_seconds, batch_core_seconds = min(floors), min(cores), min(batch_cores)
    # Derived figures. Cost per MB is what a run takes beyond its fixed start-up.
    floor_per_mb = floor_seconds / megabytes
    core_per_mb = core_seconds / (tenth.total_bytes / MB)
    batch_core_per_mb = batch_core_seconds / (tenth.total_bytes / MB)
    one_per_mb = own_work(full_one) / megabytes
    two_per_mb = own_work(full_two) / megabytes
    tenth_per_mb = own_work(tenth_run) / (tenth.total_bytes / MB)
    speedup = one_per_mb / two_per_mb
    rss_growth = full_one.max_process_rss_mb / tenth_run.max_process_rss_mb
    docclean_runs = [r for r in bench.runs if not r.label.startswith("prefect")]
    peak_rss = max(r.max_process_rss_mb for r in docclean_runs)
    peak_tree = max(r.peak_tree_pss_mb for r in docclean_runs)
    rerun_extra = statistics.median(own_work(r) for r in reruns)
    # A child's ru_maxrss can never read below what this process held when it forked the child.
    bench_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    if bench_rss >= min(r.max_process_rss_mb for r in docclean_runs):
        print(
            f"warning: this process reached {bench_rss:.0f} MB, which may mask the runs' RSS", file=sys.stderr
        )

    measurements = [
        ("corpus", f"{args.docs:,} docs, {megabytes:.1f} MB", ""),
        ("floor (a): read+decode+t2s+parquet", f"{floor_seconds:.1f} s", f"{floor_per_mb * 1000:.0f} ms/MB"),
        *core_rows(core_seconds, batch_core_seconds, core_per_mb, batch_core_per_mb, floor_per_mb, "a tenth"),
        ("bare Prefect flow (start-up)", f"{prefect_bare:.2f} s", ""),
        ("docclean start-up (1 doc)", f"{startup:.2f} s", "Prefect's temporary server included"),
        (
            "  with a running Prefect server",
            "n/a" if startup_with_server is None else f"{startup_with_server:.2f} s",
            "PREFECT_API_URL set",
        ),
        (
            "docclean run, 1 worker",
            f"{full_one.seconds:.1f} s",
            f"{args.docs / full_one.seconds:.0f} docs/s, {megabytes / full_one.seconds:.2f} MB/s",
        ),
        (
            "  beyond start-up",
            f"{own_work(full_one):.1f} s",
            f"{args.docs / own_work(full_one):.0f} docs/s, {one_per_mb * 1000:.0f} ms/MB (the run's own figure)",
        ),
        ("  a tenth of the corpus", f"{tenth_run.seconds:.1f} s", f"{tenth_per_mb * 1000:.0f} ms/MB"),
        (
            "  corpus work (from scratch)",
            f"{corpus_pass['seconds'] + corpus_pass['facts_seconds']:.1f} s",
            f"{corpus_share:.0%} of the run beyond start-up: facts in the batches "
            f"{corpus_pass['facts_seconds']:.1f} s, the pass {corpus_pass['seconds']:.1f} s (dedup "
            f"{corpus_pass['dedup_seconds']:.1f} s, boilerplate {corpus_pass['boilerplate_seconds']:.1f} s, "
            "the rest reading and rewriting parts)",
        ),
        (
            "docclean run, 2 workers",
            f"{full_two.seconds:.1f} s",
            f"{args.docs / full_two.seconds:.0f} docs/s, {megabytes / full_two.seconds:.2f} MB/s",
        ),
        ("e2e per MB / floor per MB (1 worker)", f"{one_per_mb / floor_per_mb:.2f}x", ""),
        (
            "2 vs 1 worker speed-up",
            f"{speedup:.2f}x",
            f"wall clock {full_one.seconds / full_two.seconds:.2f}x",
        ),
        (
            "re-run, nothing new",
            f"{rerun:.2f} s",
            f"its own work {rerun_extra:.2f} s; 1-doc re-run {rerun_small:.2f} s; wrote nothing: {wrote_nothing}",
        ),
        (
            "peak RSS, 1 worker",
            f"{full_one.max_process_rss_mb:.0f} MB",
            f"tenth {tenth_run.max_process_rss_mb:.0f} MB, 1 doc {startup_runs[-1].max_process_rss_mb:.0f} MB; "
            f"tree PSS {full_one.peak_tree_pss_mb:.0f} MB",
        ),
        (
            "peak RSS, 2 workers",
            f"{full_two.max_process_rss_mb:.0f} MB",
            f"tree PSS {full_two.peak_tree_pss_mb:.0f} MB",
        ),
        *(
            (
                f"Dask LocalCluster, {workers} worker{'s' if workers > 1 else ''}",
                f"{run.seconds:.1f} s",
                f"{args.docs / run.seconds:.0f} docs/s, {megabytes / run.seconds:.2f} MB/s; "
                f"beyond start-up {own_work(run) / megabytes * 1000:.0f} ms/MB",
            )
            for workers, run in dask_runs.items()
        ),
        (
            "rows written",
            f"{documents:,} + {rejects} rejects",
            f"2 workers: {documents_two:,} + {rejects_two} rejects",
        ),
    ]
    targets = [
        (
            f"#18 cost/MB beyond start-up, 1 worker <= {TARGET_COST_RATIO:g}x floor",
            f"{one_per_mb / floor_per_mb:.2f}x",
            one_per_mb / floor_per_mb <= TARGET_COST_RATIO,
        ),
        (
            f"#18 2 workers >= {TARGET_SPEEDUP:g}x one (beyond start-up)",
            f"{speedup:.2f}x",
            speedup >= TARGET_SPEEDUP,
        ),
        (
            f"#18 re-run, nothing new <= {TARGET_RERUN_EXTRA_S:g} s beyond start-up",
            f"{rerun_extra:.2f} s",
            rerun_extra <= TARGET_RERUN_EXTRA_S and wrote_nothing,
        ),
        (
            f"#18 peak RSS <= {TARGET_PEAK_RSS_MB:.0f} MB and flat",
            f"{peak_rss:.0f} MB, x{rss_growth:.2f} for 10x docs",
            peak_rss <= TARGET_PEAK_RSS_MB and rss_growth <= TARGET_RSS_GROWTH,
        ),
        (
            f"#18 start-up with a running server <= {TARGET_STARTUP_WITH_SERVER_S:g} s",
            "n/a" if startup_with_server is None else f"{startup_with_server:.2f} s",
            startup_with_server is not None and startup_with_server <= TARGET_STARTUP_WITH_SERVER_S,
        ),
        (
            f"#19 corpus work <= 1/{1 / TARGET_CORPUS_SHARE:.0f} of the run",
            f"{corpus_share:.0%}",
            corpus_share <= TARGET_CORPUS_SHARE,
        ),
        (
            f"start-up, temporary server <= {TARGET_STARTUP_S:g} s",
            f"{startup:.2f} s",
            startup <= TARGET_STARTUP_S,
        ),
    ]

    width = max(len(name) for name, *_ in measurements + targets)
    print()
    print(f"docclean benchmark: {machine()['cpu_model']}, {os.cpu_count()} cores")
    print("-" * (width + 50))
    for name, value, note in measurements:
        print(f"{name:<{width}}  {value:>18}  {note}")
    print("-" * (width + 50))
    for name, value, ok in targets:
        print(f"{name:<{width}}  {value:>18}  {verdict(ok)}")
    print("-" * (width + 50))
    total_seconds = time.perf_counter() - bench_started
    print(f"benchmark took {total_seconds / 60:.1f} min; figures in {args.out}")

    results = {
        "corpus_pass": {**corpus_pass, "share_of_run": corpus_share},
        "machine": machine(),
        "parameters": {"docs": args.docs, "seed": args.seed, "corpus_dir": str(corpus.raw_dir)},
        "corpus": {
            "documents": args.docs,
            "bytes": corpus.total_bytes,
            "encodings": {
                label: sum(1 for f in corpus.files if f.encoding == label)
                for label in dict.fromkeys(f.encoding for f in corpus.files)
            },
            "generate_seconds": generate_seconds,
        },
        "floor": {"seconds": floor_seconds, "seconds_per_mb": floor_per_mb, "all_seconds": floors},
        "clean_core_tenth": {
            "seconds": core_seconds,
            "seconds_per_mb": core_per_mb,
            "batch_seconds": batch_core_seconds,
            "batch_seconds_per_mb": batch_core_per_mb,
            "bytes": tenth.total_bytes,
        },
        "prefect_bare_flow_seconds": prefect_bare,
        "startup_seconds": startup,
        "startup_seconds_with_running_server": startup_with_server,
        "full_1_worker": {
            "seconds": full_one.seconds,
            "docs_per_second": args.docs / full_one.seconds,
            "mb_per_second": megabytes / full_one.seconds,
            "seconds_per_mb_beyond_startup": one_per_mb,
            "rows": documents,
            "rejects": rejects,
        },
        "tenth_1_worker": {"seconds": tenth_run.seconds, "seconds_per_mb_beyond_startup": tenth_per_mb},
        "full_2_workers": {
            "seconds": full_two.seconds,
            "docs_per_second": args.docs / full_two.seconds,
            "mb_per_second": megabytes / full_two.seconds,
            "seconds_per_mb_beyond_startup": two_per_mb,
            "rows": documents_two,
            "rejects": rejects_two,
        },
        "dask": {
            str(workers): {
                "seconds": run.seconds,
                "docs_per_second": args.docs / run.seconds,
                "mb_per_second": megabytes / run.seconds,
                "seconds_per_mb_beyond_startup": own_work(run) / megabytes,
                "exit_code": run.exit_code,
            }
            for workers, run in dask_runs.items()
        },
        "cost_ratio_to_floor": one_per_mb / floor_per_mb,
        "speedup_2_workers": speedup,
        "speedup_2_workers_wall_clock": full_one.seconds / full_two.seconds,
        "rerun": {
            "seconds": rerun,
            "one_doc_rerun_seconds": rerun_small,
            "extra_seconds": rerun_extra,
            "wrote_nothing": wrote_nothing,
        },
        "peak_rss_mb": {
            "max_process": peak_rss,
            "max_tree_pss": peak_tree,
            "full_1_worker": full_one.max_process_rss_mb,
            "tenth_1_worker": tenth_run.max_process_rss_mb,
            "full_2_workers": full_two.max_process_rss_mb,
            "growth_tenth_to_full": rss_growth,
            "benchmark_process": bench_rss,
        },
        "targets": {name: {"value": value, "pass": ok} for name, value, ok in targets},
        "runs": [asdict(r) for r in bench.runs],
        "benchmark_seconds": total_seconds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
