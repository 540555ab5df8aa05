"""Time (and optionally profile) `Cleaner.clean` alone over the benchmark corpus, in one process.

    python3 bench/profile_clean.py [--docs N] [--repeat R] [--batch] [--stages] [--profile bench/out/clean_profile.txt]

Reads every file into memory first, so the figure is the cleaning core's cost without I/O,
Prefect or Arrow: the number to watch when changing anything in docclean/*.py. The corpus is
the one run_bench.py builds (same seed, cached under bench/out/). `--stages` also times each
stage alone, fed with the previous stage's output, in ms per MB of raw bytes: the figure to
compare with the floor's (about 20 ms/MB) when working on one stage. `--batch` times (and
profiles) `Cleaner.clean_batch` instead, over batches of the flow's `BATCH_FILES` documents;
CPU time is printed beside wall time, the steadier figure on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from corpus import describe, generate_corpus

from docclean.decode import decode_bytes
from docclean.noise import strip_noise
from docclean.normalize import normalize_text
from docclean.pipeline import BatchItem, Cleaner
from docclean.placeholders import replace_placeholders
from docclean.structure import find_structure
from flows.batches import BATCH_FILES

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
    if args.stages:
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
    inputs: list = raw
    total = 0.0
    for name, stage in stages:
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            outputs = [stage(item) for item in inputs]
            timings.append(time.perf_counter() - started)
        seconds = statistics.median(timings)
        total += seconds
        print(f"  {name:<13} {seconds * 1000 / megabytes:8.1f} ms/MB")
        inputs = outputs
    print(f"  {'all stages':<13} {total * 1000 / megabytes:8.1f} ms/MB")


if __name__ == "__main__":
    sys.exit(main())
