"""Time (and optionally profile) `Cleaner.clean` alone over the benchmark corpus, in one process.

    python3 bench/profile_clean.py [--docs N] [--repeat R] [--profile bench/out/clean_profile.txt]

Reads every file into memory first, so the figure is the cleaning core's cost without I/O,
Prefect or Arrow: the number to watch when changing anything in docclean/*.py. The corpus is
the one run_bench.py builds (same seed, cached under bench/out/).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from corpus import describe, generate_corpus

from docclean.pipeline import Cleaner

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

    def clean_all() -> float:
        started = time.perf_counter()
        for name, data in documents:
            cleaner.clean(data, name)
        return time.perf_counter() - started

    clean_all()  # warm caches (char weights, compiled regexes) as a long-running worker has them
    seconds = statistics.median(clean_all() for _ in range(args.repeat))
    megabytes = corpus.total_bytes / 1e6
    print(
        f"Cleaner.clean: {seconds:.2f} s for {len(documents):,} docs, {megabytes:.1f} MB: "
        f"{len(documents) / seconds:,.0f} docs/s, {megabytes / seconds:.2f} MB/s (median of {args.repeat})"
    )
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


if __name__ == "__main__":
    sys.exit(main())
