"""Peak memory and time of `Cleaner.clean` on pathological file shapes just under the size limit.

    python3 bench/shapes.py [--mb 40] [--shape NAME ...] [--stages]

Each shape is cleaned in a fresh child process, which prints its own peak RSS
(its address space's high-water mark, `VmHWM`, the file's bytes included) and the CPU seconds
`Cleaner.clean` took; the parent prints one line per shape. `--mb` sets the file size (default 40, under the
default limit `DEFAULT_MAX_FILE_BYTES` of 50 MiB); the test suite runs the same children on a
few MB and bounds the RSS per input MB. `--stages` also prints each stage's own peak (Python
allocations only, from tracemalloc: slower, for finding the stage that blows up).

Shapes, each a class of input that makes per-line or per-match structures dominate:

  one_line      one line of Chinese text, no line break at all
  short_lines   one Han character per line (10 million lines at 40 MB)
  blank_lines   line breaks only, with one line of text at the top
  placeholders  `X一` repeated: one redaction placeholder per 4 bytes
  mixed_lines   GBK and UTF-8 lines alternating (the mixed-encoding path)
  outline       `一、` outline headings, one per line
  removals      URL lines that the default rules remove, one Removal each
  spaced_han    `推 进`: a space between Han characters on every line (PDF letter-spacing)
  page_numbers  `— 3 —` page-number lines between the text lines (the page-furniture pass)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
MB = 1_000_000

_SENTENCE = "我们要坚持以人民为中心的发展思想，推动经济社会高质量发展。"


def _repeat(unit: bytes, size: int, head: bytes = b"") -> bytes:
    return head + unit * ((size - len(head)) // len(unit))


def one_line(size: int) -> bytes:
    return _repeat(_SENTENCE.encode(), size)


def short_lines(size: int) -> bytes:
    return _repeat("字\n".encode(), size)


def blank_lines(size: int) -> bytes:
    return _repeat(b"\n", size, head=_SENTENCE.encode() + b"\n")


def placeholders(size: int) -> bytes:
    return _repeat("X一".encode(), size)


def mixed_lines(size: int) -> bytes:
    # Lines that end a sentence, so that no rule takes them for a repeated watermark.
    return _repeat("中文。\n".encode("gbk") + "内容。\n".encode(), size)


def outline(size: int) -> bytes:
    return _repeat("一、加强党的建设\n".encode(), size)


def removals(size: int) -> bytes:
    return _repeat(b"http://www.example.com/a\n", size, head=_SENTENCE.encode() + b"\n")


def spaced_han(size: int) -> bytes:
    return _repeat("推 进\n".encode(), size)


def page_numbers(size: int) -> bytes:
    return _repeat("正文内容\n— 3 —\n".encode(), size)


SHAPES: dict[str, Callable[[int], bytes]] = {
    "one_line": one_line,
    "short_lines": short_lines,
    "blank_lines": blank_lines,
    "placeholders": placeholders,
    "mixed_lines": mixed_lines,
    "outline": outline,
    "removals": removals,
    "spaced_han": spaced_han,
    "page_numbers": page_numbers,
}


def _peak_rss_bytes() -> int:
    """This process's peak RSS so far, in bytes.

    On Linux the high-water mark of its own address space (`VmHWM`): `ru_maxrss` starts at the
    parent's peak when a process is spawned by fork or vfork and exec, so a child started by a
    large process (a test runner that has run other tests) would report no growth at all.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # Elsewhere ru_maxrss, in KiB on Linux and bytes on macOS; taken as KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_here(shape: str, size: int, stages: bool, batch: bool = False) -> dict[str, object]:
    """The child's side: clean one shape (with `clean`, or `clean_batch` as the flow does), return
    peak RSS (bytes) and seconds."""
    from docclean.errors import RejectedInput
    from docclean.pipeline import BatchItem, Cleaner

    cleaner = Cleaner()
    if batch:
        cleaner.line_filter  # noqa: B018  (the batch path's tables: built once per process, not per file)
    data = SHAPES[shape](size)
    baseline = _peak_rss_bytes()
    # CPU seconds: on a shared machine the wall time says more about the neighbours.
    started = time.process_time()
    try:
        if batch:
            table = cleaner.clean_batch([BatchItem(data, f"{shape}.txt")])
            outcome = f"{table['char_count'][0].as_py():,} characters out"
        else:
            outcome = f"{cleaner.clean(data, f'{shape}.txt').char_count:,} characters out"
    except RejectedInput as rejected:
        outcome = f"rejected: {rejected.reason}"
    seconds = time.process_time() - started
    result: dict[str, object] = {
        "shape": shape,
        "bytes": len(data),
        "seconds": round(seconds, 2),
        "peak_rss": _peak_rss_bytes(),
        "baseline_rss": baseline,
        "outcome": outcome,
    }
    if stages and not outcome.startswith("rejected"):
        result["stages"] = _stage_peaks(cleaner, data)
    return result


def _stage_peaks(cleaner: object, data: bytes) -> dict[str, int]:
    """Each stage's peak of Python allocations (tracemalloc), fed with the previous stage's output."""
    import tracemalloc

    from docclean.decode import decode_bytes
    from docclean.noise import strip_noise
    from docclean.normalize import normalize_text
    from docclean.placeholders import replace_placeholders
    from docclean.structure import find_structure

    peaks: dict[str, int] = {}
    value: object = data
    steps: list[tuple[str, Callable[[object], object]]] = [
        ("decode", lambda d: decode_bytes(d).text),
        ("normalize", lambda t: normalize_text(t, cleaner.converters).text),  # type: ignore[attr-defined]
        ("noise", lambda t: strip_noise(t, cleaner.rules).text),  # type: ignore[attr-defined]
        ("placeholders", lambda t: replace_placeholders(t).text),
        ("structure", lambda t: find_structure(t)),
    ]
    for name, step in steps:
        tracemalloc.start()
        value = step(value)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peaks


def measure_in_child(shape: str, size: int, stages: bool = False, batch: bool = False) -> dict[str, object]:
    """Run `measure_here` in a fresh interpreter, so each shape's peak is its own."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", shape, "--bytes", str(size)]
    if stages:
        command.append("--stages")
    if batch:
        command.append("--batch")
    result = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_DIR)
    return json.loads(result.stdout)


def print_shapes(names: list[str], size: int, stages: bool = False, batch: bool = False) -> None:
    method = "clean_batch" if batch else "clean"
    print(f"Cleaner.{method} on {size / MB:.0f} MB files (peak RSS of a fresh process, file included):")
    for name in names:
        row = measure_in_child(name, size, stages, batch)
        line = (
            f"  {name:<13} {int(row['peak_rss']) / 2**20:8.0f} MiB peak RSS"
            f"  {float(row['seconds']):7.1f} s CPU  ({row['outcome']})"
        )
        print(line, flush=True)
        if "stages" in row:
            for stage, peak in dict(row["stages"]).items():  # type: ignore[call-overload]
                print(f"      {stage:<13} {peak / 2**20:8.0f} MiB traced peak", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=40, help="file size in MB (default: 40)")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="only these shapes")
    parser.add_argument("--stages", action="store_true", help="also each stage's traced peak")
    parser.add_argument("--batch", action="store_true", help="clean with clean_batch, as the flow does")
    # Internal: the child that measures one shape.
    parser.add_argument("--child", choices=sorted(SHAPES), help=argparse.SUPPRESS)
    parser.add_argument("--bytes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_here(args.child, args.bytes, args.stages, args.batch)))
        return 0
    print_shapes(args.shape or list(SHAPES), int(args.mb * MB), args.stages, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
