"""The files `bench/run_bench.py --decoding` times take the decoding path each row names, and decode right.

A row that decoded to replacement characters, or took another path than its name says, would time
the wrong code: the benchmark's own inputs are checked here, at a fraction of their size.
"""

from __future__ import annotations

import pytest

from docclean import decode
from docclean.decode import decode_bytes
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def kinds() -> dict[str, list[bytes]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "bench"))  # run_bench imports its neighbours as top-level modules
        import run_bench

        patch.setattr(run_bench, "DECODING_KIND_BYTES", 60_000)
        texts = [decode_bytes(path.read_bytes()).text for path in sorted((ROOT / "raw").glob("*.txt"))]
        return run_bench.decoding_files(texts)


def test_each_kind_of_file_decodes_without_replacement_on_the_path_it_names(
    kinds: dict[str, list[bytes]],
) -> None:
    expected_methods = {
        "utf-8 (fast path)": {"utf-8"},
        "utf-8 with ××": {"utf-8"},
        "utf-8 + a Greek line": {"utf-8"},
        "gb18030": {"trial"},
        "big5hkscs": {"trial"},
        "mixed lines (utf-8, gbk)": {"mixed"},
        "mixed in a line": {"mixed"},
    }
    assert set(kinds) == set(expected_methods)
    for kind, files in kinds.items():
        assert sum(map(len, files)) >= 60_000, kind
        for data in files:
            decoded = decode_bytes(data)
            assert decoded.method in expected_methods[kind], (kind, decoded.method)
            assert "\ufffd" not in decoded.text, kind
            assert decoded.segments[0].start == 0 and decoded.segments[-1].end == len(data), kind
    # Only the first kind is on the fast path: the others hold two-byte characters in a row or legacy bytes.
    assert not any(decode._may_hide_legacy(data) for data in kinds["utf-8 (fast path)"])
    for kind in ("utf-8 with ××", "utf-8 + a Greek line"):
        assert all(decode._may_hide_legacy(data) for data in kinds[kind]), kind
    for kind, codec in (("gb18030", "gb18030"), ("big5hkscs", "big5hkscs")):
        assert all(decode_bytes(data).text == data.decode(codec) for data in kinds[kind]), kind
    pasted = decode_bytes(kinds["mixed in a line"][0])
    assert "会议由张德明同志强调“Rural Revitalization”的要求。" in pasted.text
    assert {s.encoding for s in pasted.segments} == {"utf-8", "gb18030", "cp1252"}
