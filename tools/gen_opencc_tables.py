"""Generate docclean/rules/opencc_tables.toml from the dictionaries of the installed OpenCC wheel.

    python3 tools/gen_opencc_tables.py          write the table
    python3 tools/gen_opencc_tables.py --check  exit 1 when the table differs from what it would write

For each configuration in CONFIGS: every character that the configuration's dictionaries
(its normalization and conversion chain, read from the configuration's JSON) write otherwise
at the same place of some entry, phrases included, in any of an entry's candidates. A
conversion only ever replaces a matched key by its value, so no other character of a text can
change, in any context. Script detection uses the s2t table to bound the Simplified evidence of
a text without converting it (`docclean.normalize._detect_script`); the table holds only for
the OpenCC version it names, and normalize ignores it under any other.

For each regional configuration in REGIONAL (tw2s, hk2s), the same for the dictionaries that
tell it from its base configuration (t2s): its normalization and the dictionaries of its
conversion chain that the base lacks (TWVariantsRevPhrases and TWVariantsRev for tw2s). And
CLAUSE_SEPARATORS, checked to occur in no key of any dictionary of these configurations.
`docclean.normalize.regional_conversion` runs a regional configuration only on the clauses
(text between separators) that hold one of its characters and takes the rest from the base
configuration's output; the script refuses configurations whose structure makes that inexact
(see `regional_structure`).

The dictionaries are dumped to text with the wheel's own `opencc_dict` tool. The script refuses
a dictionary with an entry whose value is not as long as its key: then a character's place is
not its place in the converted text, and no such bound holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import opencc

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docclean" / "rules" / "opencc_tables.toml"
CONFIGS = ("s2t",)
# Regional configuration -> the base configuration whose output it refines.
REGIONAL = {"tw2s": "t2s", "hk2s": "t2s"}
# Line break, and the full-width marks that end or set off a clause in Chinese text.
CLAUSE_SEPARATORS = "\n，。、；：？！「」『』（）《》“”‘’"
SHARE = Path(opencc.__file__).resolve().parent / "clib" / "share" / "opencc"
OPENCC_DICT = SHARE.parent.parent / "bin" / "opencc_dict"
CHARS_PER_LINE = 64


def dictionary_files(node: object) -> Iterator[str]:
    """The dictionary files a configuration's JSON names, depth first."""
    if isinstance(node, dict):
        if node.get("type") == "ocd2" and "file" in node:
            yield node["file"]
        for value in node.values():
            yield from dictionary_files(value)
    elif isinstance(node, list):
        for value in node:
            yield from dictionary_files(value)


def entries(ocd2: Path) -> Iterator[tuple[str, list[str]]]:
    with tempfile.TemporaryDirectory() as folder:
        text = Path(folder) / "dictionary.txt"
        subprocess.run(
            [str(OPENCC_DICT), "-i", str(ocd2), "-o", str(text), "-f", "ocd2", "-t", "text"],
            check=True,
            capture_output=True,
        )
        for line in text.read_text("utf-8").splitlines():
            key, _, values = line.partition("\t")
            yield key, values.split(" ")


def settings_of(config: str) -> dict[str, Any]:
    return json.loads((SHARE / f"{config}.json").read_text("utf-8"))


def changed_in(config: str, files: list[str]) -> set[str]:
    """The characters the dictionaries `files` of `config` write otherwise at the same place of
    some entry, in any of its candidates."""
    changed: set[str] = set()
    for name in files:
        for key, values in entries(SHARE / name):
            for value in values:
                if len(value) != len(key):
                    raise SystemExit(f"{name}: {key} -> {value} changes the length; no table for {config}.")
                changed.update(before for before, after in zip(key, value, strict=True) if before != after)
    return changed


def changed_characters(config: str) -> str:
    """The characters `config` may change (see the module docstring), sorted by code point."""
    settings = settings_of(config)
    files = [
        *dictionary_files(settings.get("normalization", [])),
        *dictionary_files(settings["conversion_chain"]),
    ]
    return "".join(sorted(changed_in(config, files)))


def regional_structure(config: str, base: str) -> list[str]:
    """The dictionaries that tell `config` from `base`, after checking that `config` is `base`
    with a stage of them put first.

    What makes converting clause by clause exact (docclean.normalize.regional_conversion):
    both normalize alike; `base` has no segmentation, so its one conversion stage runs over the
    whole text, a short-circuit group whose first dictionary is the one `config` segments with
    and whose other dictionaries have one-character keys; `config`'s chain is one stage of its
    own followed by `base`'s. Then, where `config`'s own stage changes nothing, each segment
    comes out of `base`'s stage as the same stretch of the whole text does.
    """
    mine, theirs = settings_of(config), settings_of(base)
    stages = theirs["conversion_chain"]
    own, *rest = mine["conversion_chain"]
    group = stages[0]["dict"] if len(stages) == 1 else {}
    first, *others = group.get("dicts", [{}])
    segmentation = mine.get("segmentation", {})
    if (
        mine.get("normalization") != theirs.get("normalization")
        or "segmentation" in theirs
        or rest != stages
        or group.get("match_policy") != "short_circuit"
        or segmentation.get("type") != "mmseg"
        or segmentation.get("dict") != first
    ):
        raise SystemExit(f"{config} is not {base} with a stage put first; no table for {config}.")
    for name in (file for other in others for file in dictionary_files(other)):
        if any(len(key) != 1 for key, _ in entries(SHARE / name)):
            raise SystemExit(f"{name} has keys of several characters; no table for {config}.")
    # A clause is taken from `base`'s output at its place in the text.
    for name in dictionary_files(theirs):
        if any(len(value) != len(key) for key, values in entries(SHARE / name) for value in values):
            raise SystemExit(f"{name} changes the length of some text; no table for {config}.")
    return list(dictionary_files(own))


def changed_beyond(config: str, base: str) -> str:
    """The characters whose presence in a clause may make `config`'s conversion of it differ from
    `base`'s: those its own stage and its normalization may change, sorted by code point."""
    settings = settings_of(config)
    files = [*dictionary_files(settings.get("normalization", [])), *regional_structure(config, base)]
    return "".join(sorted(changed_in(config, files)))


def check_separators(configs: list[str]) -> None:
    """Refuse separators that some entry of the dictionaries of `configs` holds: a match could then
    span two clauses, or a clause's conversion be read as two."""
    for config in configs:
        for name in dictionary_files(settings_of(config)):
            for key, values in entries(SHARE / name):
                if held := set(key).union(*values) & set(CLAUSE_SEPARATORS):
                    raise SystemExit(f"{name}: {key} holds the separators {held}; no clause table.")


def render() -> str:
    lines = [
        "# Characters each OpenCC configuration may change, in any context: docclean.normalize bounds",
        "# the Simplified evidence of a text with the s2t table instead of converting it, and runs a",
        "# regional configuration only on the clauses holding a character it changes beyond t2s.",
        f"# Generated by tools/gen_opencc_tables.py from the dictionaries of OpenCC {opencc.__version__}",
        "# (its normalization and conversion chain). Do not edit by hand: re-run the script.",
        "",
        f'opencc_version = "{opencc.__version__}"',
        "# Characters in no key of any dictionary of the regional configurations below and of their",
        "# base: a conversion of a text is the conversion of each clause between them, joined by them.",
        f"clause_separators = {json.dumps(CLAUSE_SEPARATORS, ensure_ascii=False)}",
    ]
    check_separators([*REGIONAL, *sorted(set(REGIONAL.values()))])
    for config in CONFIGS:
        lines += table_lines(config, changed_characters(config))
    for config, base in REGIONAL.items():
        lines += table_lines(f"beyond_{base}.{config}", changed_beyond(config, base))
    return "\n".join(lines) + "\n"


def table_lines(name: str, chars: str) -> list[str]:
    """The TOML table `name` holding `chars` as `changes`, a list of strings of CHARS_PER_LINE."""
    return [
        "",
        f"[{name}]",
        "changes = [",
        # A JSON string with its characters as they are is a TOML basic string.
        *(
            f"  {json.dumps(chars[start : start + CHARS_PER_LINE], ensure_ascii=False)},"
            for start in range(0, len(chars), CHARS_PER_LINE)
        ),
        "]",
    ]


def main() -> int:
    table = render()
    if sys.argv[1:] == ["--check"]:
        if OUTPUT.read_text("utf-8") != table:
            print(f"{OUTPUT} differs from OpenCC {opencc.__version__}'s dictionaries: re-run the script.")
            return 1
        return 0
    OUTPUT.write_text(table, "utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
