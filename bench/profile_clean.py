"""Time (and optionally profile) `Cleaner.clean` alone over the benchmark corpus, in one process.

    python3 bench/profile_clean.py [--docs N] [--repeat R] [--batch] [--stages] [--profile bench/out/clean_profile.txt]

Reads every file into memory first, so the figure is the cleaning core's cost without I/O,
Prefect or Arrow: the number to watch when changing anything in docclean/*.py. The corpus is
the one run_bench.py builds (same seed, cached under bench/out/). `--stages` also times each
stage alone, fed with the previous stage's output, in ms per MB of raw bytes: the figure to
compare with the floor's (about 20 ms/MB) when working on one stage. `--batch` times (and
profiles) `Cleaner.clean_batch` instead, over batches of the flow's `BATCH_FILES` documents;
CPU time is printed beside wall time, the steadier figure on a shared machine. `--batch --stages`
times the stages of the batch path, and the rest of a batch task's work (its corpus facts and
its part file), each against the floor (run_bench's, measured here in the same run), in CPU ms
per MB: the profile of a run's cleaning.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from corpus import describe, generate_corpus
from run_bench import measure_floor

from docclean.batch.placeholders import replace_placeholders_batch
from docclean.corpus_facts import alone, corpus_facts
from docclean.decode import decode_bytes
from docclean.noise import strip_noise
from docclean.normalize import normalize_text
from docclean.pipeline import BatchItem, Cleaner
from docclean.placeholders import replace_placeholders
from docclean.structure import find_structure, find_structure_batch
from flows.batches import BATCH_FILES
from flows.storage import parse_location
from flows.store import write_part

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_SEED = 20_241_123


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=1000, help="documents in the corpus (default: 1000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="corpus seed (default: run_bench's)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the median is printed")
    parser.add_argument("--batch", action="store_true", help="time Cleaner.clean_batch instead of clean")
    parser.add_argument("--stages", action="store_true", help="also time each stage alone, in ms/MB")
    parser.add_argument(
        "--profile", type=Path, help="also write a pyinstrument text profile of one pass here"
    )
    args = parser.parse_args()

    corpus = generate_corpus(
        BENCH_DIR / "out" / f"corpus-{args.docs}-{args.seed}", REPO_DIR / "raw", args.docs, args.seed
    )
    print(f"corpus: {describe(corpus)}", file=sys.stderr)
    documents = [(f.name, (corpus.raw_dir / f.name).read_bytes()) for f in corpus.files]
    cleaner = Cleaner()
    batches = [
        [BatchItem(data, name) for name, data in documents[start : start + BATCH_FILES]]
        for start in range(0, len(documents), BATCH_FILES)
    ]

    def clean_all() -> tuple[float, float]:
        started, cpu_started = time.perf_counter(), time.process_time()
        if args.batch:
            for batch in batches:
                cleaner.clean_batch(batch)
        else:
            for name, data in documents:
                cleaner.clean(data, name)
        return time.perf_counter() - started, time.process_time() - cpu_started

    clean_all()  # warm caches (char weights, compiled regexes) as a long-running worker has them
    timings = [clean_all() for _ in range(args.repeat)]
    seconds = statistics.median(wall for wall, _ in timings)
    cpu_seconds = statistics.median(cpu for _, cpu in timings)
    megabytes = corpus.total_bytes / 1e6
    print(
        f"Cleaner.{'clean_batch' if args.batch else 'clean'}: {seconds:.2f} s for {len(documents):,} docs, "
        f"{megabytes:.1f} MB: {len(documents) / seconds:,.0f} docs/s, {megabytes / seconds:.2f} MB/s; "
        f"CPU {cpu_seconds * 1000 / megabytes:.1f} ms/MB (medians of {args.repeat})"
    )
    if args.stages and args.batch:
        (BENCH_DIR / "out" / "work").mkdir(parents=True, exist_ok=True)
        floor = statistics.median(
            measure_floor(corpus, BENCH_DIR / "out" / "work" / "profile-floor.parquet")
            for _ in range(args.repeat)
        )
        time_batch_stages(cleaner, batches, megabytes, args.repeat, floor * 1000 / megabytes)
    elif args.stages:
        time_stages(cleaner, [data for _, data in documents], megabytes, args.repeat)
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
        clean_all()
        profiler.stop()
        args.profile.parent.mkdir(parents=True, exist_ok=True)
        args.profile.write_text(profiler.output_text(unicode=True, color=False), "utf-8")
        print(f"profile written to {args.profile}")
    return 0


def time_stages(cleaner: Cleaner, raw: list[bytes], megabytes: float, repeat: int) -> None:
    """Each stage over every document, fed with the previous stage's output; median of `repeat`."""
    stages = (
        ("decode", lambda data: decode_bytes(data).text),
        ("normalize", lambda text: normalize_text(text, cleaner.converters).text),
        ("noise", lambda text: strip_noise(text, cleaner.rules).text),
        ("placeholders", lambda text: replace_placeholders(text, cleaner.config.placeholder_token).text),
        ("structure", find_structure),
    )
    total = 0.0
    for name, seconds in _chained(stages, raw, repeat, time.perf_counter):
        total += seconds
        print(f"  {name:<13} {seconds * 1000 / megabytes:8.1f} ms/MB")
    print(f"  {'all stages':<13} {total * 1000 / megabytes:8.1f} ms/MB")


def time_batch_stages(
    cleaner: Cleaner, batches: list[list[BatchItem]], megabytes: float, repeat: int, floor_ms: float
) -> None:
    """The batch path's stages, each over every batch fed with the previous stage's output, then a
    batch task's facts and part file; CPU ms per MB, median of `repeat`, against `floor_ms`."""
    part = parse_location(str(BENCH_DIR / "out" / "work" / "profile-part.parquet"))
    token = cleaner.config.placeholder_token
    stages: list[tuple[str, Callable[[list], list]]] = [
        ("decode", lambda batch: [(item, decode_bytes(item.data)) for item in batch]),
        # Hash, extraction sniff, decode, language and normalization, less decode above.
        (
            "language, normalize",
            lambda batch: [cleaner._normalize(item.data, item.source_path) for item, _ in batch],
        ),
        (
            "noise",
            lambda batch: [
                cleaner._strip_noise(document, lines)
                for document, lines in zip(
                    batch, cleaner.line_filter.candidates([d.noise_subject for d in batch]), strict=True
                )
            ],
        ),
        ("placeholders", lambda batch: [replace_placeholders_batch([d.stripped.text for d in batch], token)]),
        ("structure", lambda batch: [find_structure_batch(batch[0].texts)]),
    ]
    rows = _chained(stages, batches, repeat, time.process_time)
    decode, normalize = rows[0][1], rows[1][1]
    rows[1] = (rows[1][0], normalize - decode)
    whole = _cpu_median(repeat, lambda: [cleaner.clean_batch(batch) for batch in batches])
    rows.append(("the rest of clean_batch", whole - sum(seconds for _, seconds in rows)))
    tables = [cleaner.clean_batch(batch) for batch in batches]
    facts = _cpu_median(repeat, lambda: [corpus_facts(table) for table in tables])
    written = _cpu_median(
        repeat, lambda: [write_part(alone(t, corpus_facts(t).column("text_sha256")), part) for t in tables]
    )
    rows += [("clean_batch", whole), ("corpus facts", facts), ("part file (with its facts)", written - facts)]
    print(f"  {'floor (read, decode, t2s, Parquet)':<36} {floor_ms:8.1f} ms/MB")
    for name, seconds in rows:
        per_mb = seconds * 1000 / megabytes
        print(f"  {name:<36} {per_mb:8.1f} ms/MB {per_mb / floor_ms:6.2f}x the floor")


def _chained(
    stages: Sequence[tuple[str, Callable[[Any], Any]]], inputs: list, repeat: int, clock: Callable[[], float]
) -> list[tuple[str, float]]:
    """Each stage over every input, fed with the previous stage's outputs: its seconds by `clock`,
    the median of `repeat`."""
    rows = []
    for name, stage in stages:
        timings = []
        for _ in range(repeat):
            started = clock()
            outputs = [stage(item) for item in inputs]
            timings.append(clock() - started)
        rows.append((name, statistics.median(timings)))
        inputs = outputs
    return rows


def _cpu_median(repeat: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        timings.append(time.process_time() - started)
    return statistics.median(timings)


if __name__ == "__main__":
    sys.exit(main())
