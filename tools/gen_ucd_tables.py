"""Generate docclean/rules/ucd_tables.toml and docclean/rules/han.toml from the Unicode Character Database.

    python3 tools/gen_ucd_tables.py [UCD_DIR]   (default /usr/share/unicode, Debian's
                                                      `unicode-data` package)

Sources, both from the UCD:
- EquivalentUnifiedIdeograph.txt: the CJK radicals (Kangxi Radicals U+2F00-2FD5, CJK
  Radicals Supplement U+2E80-2EF3) mapped to the unified ideograph they look like. The CJK
  Strokes block (U+31C0-31EF) that the file also maps is left out: a stroke is written on
  purpose (in teaching material about strokes), a radical in running text is a PDF artefact.
- UnicodeData.txt: the CJK Compatibility Ideographs (U+F900-FAFF, U+2F800-2FA1F) with their
  canonical singleton decomposition (the NFC of each). The twelve unified ideographs inside
  the compatibility block (U+FA0E, 﨑 U+FA11, ...) have none and are not folded.
- DerivedCoreProperties.txt: the Default_Ignorable_Code_Point ranges, the invisible
  characters normalize removes.
- StandardizedVariants.txt: the variation sequences Unicode defines (base + U+FE00-FE0F), the
  ones whose selector docclean keeps when removing invisible characters.
- Scripts.txt and extracted/DerivedGeneralCategory.txt: the Han ideographs (Script=Han and
  General_Category=Lo: the CJK Unified and Compatibility Ideographs of every plane), what
  docclean.han calls a Han character. Radicals (So), 々 (Lm) and 〇 (Nl) are Han script but
  not ideographs.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docclean" / "rules" / "ucd_tables.toml"
HAN_OUTPUT = REPO / "docclean" / "rules" / "han.toml"
RADICAL_BLOCKS = ((0x2E80, 0x2EFF), (0x2F00, 0x2FDF))
COMPATIBILITY_BLOCKS = ((0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _in(code: int, blocks: tuple[tuple[int, int], ...]) -> bool:
    return any(first <= code <= last for first, last in blocks)


def _version(path: Path) -> str:
    return path.read_text("utf-8").split("\n", 1)[0].lstrip("# ").strip()


def radicals(path: Path) -> dict[int, int]:
    folds: dict[int, int] = {}
    for raw in path.read_text("utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        source, target = (field.strip() for field in line.split(";"))
        first, _, last = source.partition("..")
        for code in range(int(first, 16), int(last or first, 16) + 1):
            if _in(code, RADICAL_BLOCKS):
                folds[code] = int(target, 16)
    return folds


def compatibility_ideographs(path: Path) -> dict[int, int]:
    folds: dict[int, int] = {}
    for line in path.read_text("utf-8").splitlines():
        fields = line.split(";")
        code, decomposition = int(fields[0], 16), fields[5]
        if _in(code, COMPATIBILITY_BLOCKS) and decomposition and not decomposition.startswith("<"):
            (target,) = decomposition.split()
            folds[code] = int(target, 16)
    return folds


def standardized_variants(path: Path) -> list[str]:
    sequences: list[str] = []
    for raw in path.read_text("utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            sequence = line.split(";", 1)[0].split()
            if len(sequence) == 2 and 0xFE00 <= int(sequence[1], 16) <= 0xFE0F:
                sequences.append(" ".join(sequence))
    return sorted(set(sequences))


def default_ignorable(path: Path) -> list[str]:
    ranges: list[str] = []
    for raw in path.read_text("utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and line.split(";")[1].strip() == "Default_Ignorable_Code_Point":
            ranges.append(line.split(";")[0].strip())
    return ranges


def _codes_with(path: Path, value: str) -> set[int]:
    """The code points a UCD property file gives `value` (`code` or `first..last ; value`)."""
    codes: set[int] = set()
    for raw in path.read_text("utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and line.split(";")[1].strip() == value:
            first, _, last = line.split(";")[0].strip().partition("..")
            codes.update(range(int(first, 16), int(last or first, 16) + 1))
    return codes


def han_ideographs(scripts: Path, general_category: Path) -> list[tuple[int, int]]:
    """Script=Han and General_Category=Lo, as ranges of consecutive code points."""
    ranges: list[list[int]] = []
    for code in sorted(_codes_with(scripts, "Han") & _codes_with(general_category, "Lo")):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return [(first, last) for first, last in ranges]


def write_han(ucd: Path) -> None:
    scripts = ucd / "Scripts.txt"
    ranges = han_ideographs(scripts, ucd / "extracted" / "DerivedGeneralCategory.txt")
    lines = [
        "# The Han ideographs, for docclean.han: Script=Han and General_Category=Lo.",
        f"# Generated by tools/gen_ucd_tables.py from the Unicode Character Database: {_version(scripts)}",
        "# and extracted/DerivedGeneralCategory.txt. Do not edit by hand: re-run the script on a newer UCD.",
        "",
        "# Code point ranges, hexadecimal.",
        "ranges = [",
        *(f'  "{first:04X}..{last:04X}",' for first, last in ranges),
        "]",
    ]
    HAN_OUTPUT.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"{HAN_OUTPUT}: {len(ranges)} ranges", file=sys.stderr)


def main() -> int:
    ucd = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/usr/share/unicode")
    equivalent = ucd / "EquivalentUnifiedIdeograph.txt"
    data = ucd / "UnicodeData.txt"
    folds = radicals(equivalent) | compatibility_ideographs(data)
    variants = standardized_variants(ucd / "StandardizedVariants.txt")
    lines = [
        "# Unicode tables for docclean.normalize: look-alike ideographs folded to the unified",
        "# ideograph, the invisible (default-ignorable) characters removed, and the standardized",
        "# variation sequences whose selector stays.",
        f"# Generated by tools/gen_ucd_tables.py from the Unicode Character Database: {_version(equivalent)}",
        "# (CJK radicals), UnicodeData.txt (canonical decompositions of the CJK Compatibility",
        "# Ideographs), DerivedCoreProperties.txt and StandardizedVariants.txt. Do not edit by hand: re-run the script on a",
        "# newer UCD.",
        "",
        "# Default_Ignorable_Code_Point: code points or ranges, hexadecimal.",
        "default_ignorable = [",
        *(f'  "{code_range}",' for code_range in default_ignorable(ucd / "DerivedCoreProperties.txt")),
        "]",
        "",
        "# Base and selector code points, hexadecimal.",
        "standardized_variants = [",
        *(f'  "{sequence}",' for sequence in variants),
        "]",
        "",
        "# Source code point = unified ideograph, both hexadecimal.",
        "[fold]",
    ]
    lines += [
        f'"{code:04X}" = "{target:04X}"  # {chr(code)} {chr(target)}'
        for code, target in sorted(folds.items())
    ]
    OUTPUT.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"{OUTPUT}: {len(folds)} folds", file=sys.stderr)
    write_han(ucd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
