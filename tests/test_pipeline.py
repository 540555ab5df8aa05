"""The whole core: the seeds in every encoding users drop, replay, and invariants on any input."""

from __future__ import annotations

import json
import re

import opencc
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from docclean.errors import RejectedInput
from docclean.noise import strip_noise
from docclean.normalize import keep_zhu
from docclean.pipeline import CleanConfig, Cleaner, replay
from docclean.placeholders import DEFAULT_TOKEN
from docclean.record import Record
from tests.conftest import DATA_DIR, SAMPLES_DIR

S2T = opencc.OpenCC("s2t").convert
# Big5 encodes the Taiwan standard forms (為, not 爲): s2tw gives text Big5 can hold.
S2TW = opencc.OpenCC("s2tw").convert
TW2S = opencc.OpenCC("tw2s").convert

# What the seeds must come out as: their titles, and noise that must be gone.
SEED_TITLES = {
    "000": "在县直机关党组织书记抓党建工作述职评议会议上的讲话",
    "001": None,
    "002": "在局党组研究部署党建工作会上的讲话",
    "003": "在专题研究机关党的建设工作会上的讲话提纲",
    "004": "在县委党建工作领导小组第三季度例会上的讲话",
}
NOISE_MARKERS = (
    "仅供学习",
    "请勿照搬",
    "酷乐文行",
    "QQ",
    "会员",
    "自建平台",
    "实时分享",
    "倒卖",
    "订阅",
    "迭代",
)
X_LIKE = re.compile(r"[XxＸｘ×＊*]")


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner()


def _content_lines(normalized: str) -> list[str]:
    """Paragraphs a reader would call the speech: long lines, which no rule may touch."""
    return [line for line in normalized.split("\n") if len(line) > 60]


def _variants(text: str) -> dict[str, bytes]:
    traditional = S2TW(text)
    return {
        "utf-8": text.encode("utf-8"),
        "gbk": text.encode("gbk"),
        "gb18030": text.encode("gb18030"),
        "big5-after-s2t": traditional.encode("big5hkscs", errors="strict"),
        "utf-16": text.encode("utf-16"),
        "utf-8-bom-crlf": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"),
    }


def test_seeds_in_every_encoding_give_the_same_clean_text(seeds: dict[str, bytes], cleaner: Cleaner) -> None:
    for name, data in seeds.items():
        source = data.decode("utf-8")
        reference = cleaner.clean(data, name)
        assert reference.title == SEED_TITLES[name[:3]], name
        for marker in NOISE_MARKERS:
            assert marker not in reference.text, (name, marker)
        body = X_LIKE.sub("", reference.text.replace(DEFAULT_TOKEN, ""))
        for line in _content_lines(reference.normalized_text):
            assert X_LIKE.sub("", line) in body, (name, line[:40])
        for variant, encoded in _variants(source).items():
            record = cleaner.clean(encoded, f"{name}:{variant}")
            expected = reference.text
            if variant == "big5-after-s2t":
                # The same Taiwan text in UTF-8 gives the same record; opencc round trips are not
                # exact, so it is compared with opencc's own Taiwan conversion, not the seed.
                taiwan = cleaner.clean(S2TW(source).encode("utf-8"), name)
                assert (record.text, record.title) == (taiwan.text, taiwan.title), name
                # tw2s as docclean applies it: 著 stays where it is zhù (normalize.keep_zhu).
                simplified = keep_zhu(S2TW(source), TW2S(S2TW(source))).encode("utf-8")
                expected = cleaner.clean(simplified, name).text
                assert record.source_script == "Hant"
            assert record.text == expected, (name, variant)
            assert record.title == (
                reference.title if variant != "big5-after-s2t" else cleaner.clean(simplified, name).title
            )
            assert [(p.original, p.kind) for p in record.placeholders] == [
                (p.original, p.kind) for p in reference.placeholders
            ] or variant == "big5-after-s2t"


def test_seed_placeholders_and_structure(seeds: dict[str, bytes], cleaner: Cleaner) -> None:
    records = {name[:3]: cleaner.clean(data, name) for name, data in seeds.items()}
    kinds = {(p.original, p.kind) for r in records.values() for p in r.placeholders}
    assert ("×", "person") in kinds  # ×部长
    assert ("**", "person") in kinds  # **同志
    assert ("X", "number") in kinds  # X次
    assert "某种程度" in records["002"].text
    assert records["003"].doc_type == "讲话提纲"
    assert [e.marker for e in records["001"].outline][:2] == ["一、", "第一，"]
    for record in records.values():
        assert not X_LIKE.search(record.text.replace(DEFAULT_TOKEN, "")), record.source_path


@pytest.mark.parametrize("sample", sorted(SAMPLES_DIR.glob("*.txt")), ids=lambda p: p.name)
def test_project_samples_clean_and_replay(sample, cleaner: Cleaner) -> None:
    record = cleaner.clean(sample.read_bytes(), sample.name)
    assert record.text and record.title
    assert replay(record, record.normalized_text) == record.text
    for placeholder in record.placeholders:
        assert record.text[placeholder.start : placeholder.end] == DEFAULT_TOKEN
    assert "QQ" not in record.text and "仅供学习" not in record.text


def test_custom_token_and_keeping_the_script() -> None:
    cleaner = Cleaner(CleanConfig(placeholder_token="<某>", script_conversion=None))
    record = cleaner.clean("在會議上的講話\n同志們：\n今天XX局召開會議。".encode("big5hkscs"), "a.txt")
    assert "<某>局" in record.text and "會議" in record.text and record.source_script == "Hant"


TRADITIONAL_NOISE = (
    "關於加強基層治理工作的講話\n同志們：\n今天召開這次會議，研究部署基層治理工作。\n"
    "更多範文請關注微信公眾號：wenmi2023\n本文來源於網絡，如有侵權請聯繫刪除。\n聯繫電話：13812345678\n謝謝大家！"
)


def test_a_kept_traditional_script_loses_its_noise_as_a_converted_one_does() -> None:
    """The rules are written in Simplified: with the script kept they are matched in the text's
    Simplified twin, and the same lines go, in Traditional script, at the same offsets."""
    data = TRADITIONAL_NOISE.encode("big5hkscs")
    kept = Cleaner(CleanConfig(script_conversion=None)).clean(data, "a.txt")
    converted = Cleaner().clean(data, "a.txt")
    assert (
        kept.text
        == "關於加強基層治理工作的講話\n同志們：\n今天召開這次會議，研究部署基層治理工作。\n謝謝大家！"
    )
    assert [(r.rule, r.offset, len(r.text)) for r in kept.removed] == [
        (r.rule, r.offset, len(r.text)) for r in converted.removed
    ]
    assert "本文來源於網絡，如有侵權請聯繫刪除。" in "".join(r.text for r in kept.removed)
    assert replay(kept, kept.normalized_text) == kept.text


def test_empty_and_binary_are_rejected(cleaner: Cleaner) -> None:
    with pytest.raises(RejectedInput) as empty:
        cleaner.clean(b"  \r\n\t", "blank.txt")
    assert empty.value.reason == "empty"
    with pytest.raises(RejectedInput) as binary:
        cleaner.clean(b"\x89PNG\r\n\x1a\n", "a.png")
    assert binary.value.reason == "binary"


@pytest.mark.parametrize(
    "noise",
    [
        "更多范文请关注公众号：笔杆子范文库",
        "免费下载更多范文请访问 www.fanwen123.com",
        "本文系作者原创投稿，仅供学习参考",
    ],
)
@pytest.mark.parametrize("edge", ["- 2 -", "第 2 页 共 3 页", "\f"])
def test_an_ad_at_a_pages_foot_goes_alone_and_the_paragraph_after_it_stays(
    cleaner: Cleaner, noise: str, edge: str
) -> None:
    # Joined to the paragraph after the page edge, as a sentence the page cut is, it took that
    # paragraph with it.
    paragraph = "要加快数字政府建设，提升政务服务效能"
    text = f"讲话稿\n同志们：\n今天我们召开会议，研究部署信息化工作。\n{noise}\n{edge}\n{paragraph}。\n谢谢大家！"
    record = cleaner.clean(text.encode(), "a.txt")
    assert f"{paragraph}。\n谢谢大家！" in record.text
    assert noise not in record.text
    assert [removal.text.strip() for removal in record.removed] == [noise]
    # A sentence the page cut is still whole again.
    cut = cleaner.clean(f"要切实把责任\n{edge}\n扛在肩上。".encode(), "b.txt")
    assert cut.text == "要切实把责任扛在肩上。"


@pytest.mark.parametrize(
    "noise", ["更多精品资料请关注微信公众号：wenmi2023", "下载更多资料请访问 www.example-wenku.com"]
)
def test_an_ad_line_among_hard_wrapped_lines_goes_alone(cleaner: Cleaner, noise: str) -> None:
    # Joined to the wrapped paragraph above it, the ad stayed inside the paragraph's text.
    paragraph = (
        "同志们，今天我们召开全县安全生产工作会议，主要任务是深入学习贯彻上级精神，研究部署下一阶段安全生产工作。"
        "刚才几位同志作了发言，讲得很好，我完全同意。下面，我讲三点意见：一是要提高认识，二是要强化责任，三是要狠抓"
        "落实，确保全年安全生产形势持续稳定向好，为经济社会发展创造良好环境，切实维护人民群众生命财产安全。"
    )
    lines = [paragraph[start : start + 30] for start in range(0, len(paragraph), 30)]
    lines.insert(3, noise)
    record = cleaner.clean(("讲话稿\n" + "\n".join(lines) + "\n谢谢大家！").encode(), "a.txt")
    assert noise.split()[0] not in record.text
    assert record.text.replace("\n", "") == "讲话稿" + paragraph + "谢谢大家！"
    assert [removal.rule for removal in record.removed if noise in removal.text] == ["advertising_line"]


_NOISE_LINES = [
    line
    for case in json.loads((DATA_DIR / "noise_cases.json").read_text("utf-8"))["positive"]
    for line in case["input"].split("\n")
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.sampled_from([*_NOISE_LINES, "12", "- 3 -", "同志们", "，", "QQ"]), max_size=3).map("".join)
)
def test_a_line_is_noise_alone_as_the_noise_stage_says(cleaner: Cleaner, line: str) -> None:
    # The prefilters asked first never answer otherwise than the removal itself.
    assume(line.strip())
    assert cleaner._noise_alone(line) == (not strip_noise(line.strip(), cleaner.rules).text)


NOISY_ALPHABET = list(
    "在会议上的讲话同志们今天召开，。：、XX×*○某QQ微信123456789\n\r 　\u200babc一二三是、（）"
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(NOISY_ALPHABET), max_size=300))
def test_any_text_cleans_and_replays(cleaner: Cleaner, text: str) -> None:
    try:
        record = cleaner.clean(text.encode("utf-8"), "prop.txt")
    except RejectedInput as rejected:
        assert rejected.reason == "empty"
        return
    assert replay(record, record.normalized_text) == record.text
    for placeholder in record.placeholders:
        assert record.text[placeholder.start : placeholder.end] == DEFAULT_TOKEN
    # Nothing visible is lost: what is left plus what was removed accounts for every
    # non-whitespace character of the normalized input.
    assert _accounts_for_every_visible_character(record)


SAMPLE_BYTES = [path.read_bytes() for path in sorted(SAMPLES_DIR.glob("*.txt"))]


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    """A real sample in one of its encodings, with bytes flipped, inserted, deleted or cut off."""
    data = bytearray(draw(st.sampled_from(SAMPLE_BYTES)))
    for _ in range(draw(st.integers(0, 8))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 4))]
        else:
            del data[position:]
    return bytes(data)


def _accounts_for_every_visible_character(record: Record) -> bool:
    kept = re.sub(r"\s", "", record.normalized_text)
    accounted = (
        re.sub(r"\s", "", "".join(r.text for r in record.removed))
        + re.sub(r"\s", "", record.text.replace(DEFAULT_TOKEN, ""))
        + "".join(p.original for p in record.placeholders)
    )
    return sorted(kept) == sorted(accounted)


def _assert_cleans_or_rejects_cleanly(cleaner: Cleaner, data: bytes) -> None:
    try:
        record = cleaner.clean(data, "fuzz.txt")
    except RejectedInput as rejected:
        # Bytes that open like a PDF, .docx or OLE2 file go to extraction (issue #20) and are
        # rejected by it when damaged.
        assert rejected.reason in {"binary", "empty", "malformed", "no_text_layer", "encrypted"}
        assert rejected.detail
        return
    assert replay(record, record.normalized_text) == record.text
    for placeholder in record.placeholders:
        assert record.text[placeholder.start : placeholder.end] == DEFAULT_TOKEN
    assert _accounts_for_every_visible_character(record)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_any_bytes_clean_or_reject_cleanly(cleaner: Cleaner, data: bytes) -> None:
    _assert_cleans_or_rejects_cleanly(cleaner, data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_samples())
def test_mutated_real_documents_never_break_the_pipeline(cleaner: Cleaner, data: bytes) -> None:
    _assert_cleans_or_rejects_cleanly(cleaner, data)


# A PDF copy wrapped at 60 columns: a heading that fills the width, then an ad whose address the wrap cut.
WRAPPED_AD_UNDER_A_HEADING = "这次会议的主要任务是，深入贯彻落实中央和省、市经济工作会议精\n神，总结2023年经济工作，分析当前经济形势，部署2024年经济工作\n。刚才，XX同志通报了全县经济运行情况，XX同志对今年的重点工作\n作了具体安排，我完全同意，请大家认真抓好落实。下面，我讲三点\n意见。\n一、正确认识当前经济形势，切实增强做好经济工作的信心和决心\n下载更多资料请访问 www.example-wenku.com/fanwen/jianghua/202\n4/index.html\n过去的一年，面对复杂严峻的外部环境，全县上下坚持稳中求进工作\n总基调，全年实现地区生产总值XX亿元，同比增长X.X%；一般公共预\n算收入XX亿元，增长X%。\n（一）产业发展势头良好。新签约亿元以上项目XX个，新开工项目XX"


def test_an_ad_under_a_heading_that_fills_the_width_goes_whole_and_is_not_joined_to_it() -> None:
    record = Cleaner().clean(WRAPPED_AD_UNDER_A_HEADING.encode("gb18030"), "a.txt")
    lines = record.text.split("\n")
    assert "一、正确认识当前经济形势，切实增强做好经济工作的信心和决心" in lines
    assert "下载" not in record.text and "www" not in record.text
    assert [r.rule for r in record.removed] == ["advertising_line"]
    assert record.outline[0].heading == "正确认识当前经济形势，切实增强做好经济工作的信心和决心"
