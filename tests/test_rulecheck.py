"""`docclean rules check`: per-rule counts and samples over a raw folder, and the lines no rule removed."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from docclean.boilerplate import DEFAULT_RULES
from docclean.errors import DoccleanError
from docclean.pipeline import CleanConfig, Cleaner
from docclean.rulecheck import (
    SAMPLES_PER_RULE,
    RuleCheck,
    RuleCheckError,
    check_files,
    line_pattern,
    noise_signals,
    rule_snippet,
    vendor_pattern,
)
from docclean.rules import NoiseRule, load_rules, vendor_names
from docclean_cli import main
from flows.rulecheck import check_rules
from tests.conftest import SAMPLES_DIR

# Long enough that the bounded line rules leave them alone: what the check must surface.
WECHAT_LINE = (
    "请XX同志会后在微信群里继续交流学习体会，把今天的会议精神原原本本传达到每一位同志，确保各项任务落到实处。"
)
VENDOR_LINE = (
    "资料来自豆丁网整理的精品合集，欢迎各位同仁参考借鉴并提出宝贵意见和建议，共同提高写作水平和工作能力。"
)
SPEECH_HEAD = "在全县工作会议上的讲话\n同志们：\n今天召开会议，主要任务是部署全年工作。\n"


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("raw")
    for sample in SAMPLES_DIR.glob("*.txt"):
        shutil.copy2(sample, folder / sample.name)
    (folder / "会议").mkdir()
    (folder / "会议" / "a.txt").write_text(SPEECH_HEAD + WECHAT_LINE + "\n" + VENDOR_LINE + "\n", "utf-8")
    (folder / "会议" / "b.txt").write_text(SPEECH_HEAD + WECHAT_LINE + "\n", "utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / ".hidden.txt").write_text(SPEECH_HEAD + WECHAT_LINE, "utf-8")
    return folder


@pytest.fixture(scope="module")
def check(raw: Path) -> RuleCheck:
    return check_rules(raw)


def test_counts_per_rule_are_what_the_cleaner_removes(check: RuleCheck) -> None:
    cleaner = Cleaner()
    records = [cleaner.clean(path.read_bytes(), path.name) for path in sorted(SAMPLES_DIR.glob("*.txt"))]
    removals = [removal for record in records for removal in record.removed]
    uses = {use.rule.id: use for use in check.uses}

    assert list(uses) == [rule.id for rule in load_rules().rules]  # every rule, hit or not
    assert {rule: use.hits for rule, use in uses.items() if use.hits} == Counter(r.rule for r in removals)
    assert uses["copyright_notice"].chars == sum(
        len(r.text) for r in removals if r.rule == "copyright_notice"
    )
    assert uses["copyright_notice"].documents == 3
    assert uses["url_inline"].hits == 0 and uses["url_inline"].samples == []


def test_samples_are_distinct_matches_without_their_line_breaks(check: RuleCheck) -> None:
    uses = {use.rule.id: use for use in check.uses}
    assert (
        uses["copyright_notice"].samples
        == [
            "本文系作者原创投稿，仅供学习参考，请勿照搬照抄！",
            "本文来源于网络，如有侵权请联系删除。",
            "仅供学习 禁止外传",
        ][:SAMPLES_PER_RULE]
    )
    assert uses["vendor_line"].samples == ["酷乐文行整理，咨询QQ206157060"]


def test_files_checked_and_rejected(check: RuleCheck) -> None:
    # The five samples, two in a subfolder and the empty file; the hidden file is skipped.
    assert check.files == 8
    assert check.rejected == [("empty.txt", "The file holds no text (it is empty or only whitespace).")]


def test_kept_lines_that_look_like_noise_are_grouped_most_frequent_first(check: RuleCheck) -> None:
    wechat, vendor = check.candidates
    assert wechat.line == WECHAT_LINE.replace("XX", "[MASK]")
    assert wechat.signals == ("微信",) and wechat.files == ["会议/a.txt", "会议/b.txt"]
    assert vendor.line == VENDOR_LINE and vendor.signals == ("vendor",) and vendor.files == ["会议/a.txt"]


@pytest.mark.parametrize(
    ("line", "signals"),
    [
        ("如需完整版请加QQ：206157060获取", ("QQ",)),
        ("欢迎关注微信公众号文秘之家", ("微信", "公众号")),
        ("原文见 https://example.org/a?b=1 ", ("URL",)),
        ("详见example.com发布的通知", ("URL",)),
        ("咨询电话 010-12345678", ("phone",)),
        ("手机13812345678随时联系", ("phone",)),
        ("投稿请发至 editor@example.com", ("e-mail",)),
        ("本文由酷乐文行提供", ("vendor",)),
        # Numbers of a speech are not contacts.
        ("全年完成投资138123456万元，增长12.5%，2023年新增就业岗位4000个。", ()),
        ("今年以来我们用好QQ、微博等新媒体开展宣传", ()),
    ],
)
def test_noise_signals(line: str, signals: tuple[str, ...]) -> None:
    assert noise_signals(line, vendor_pattern(load_rules().rules)) == signals


def test_literal_advertising_rules_name_vendors() -> None:
    shop = NoiseRule("shop_footer", "advertising", "小店出品", "line")
    assert noise_signals("这是小店出品的材料合集", vendor_pattern((shop,))) == ("vendor",)


def test_cli_prints_the_tables_without_reading_document_text_as_markup(
    raw: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    assert main(["rules", "check", "--raw", str(raw)]) == 0
    out = capsys.readouterr().out
    assert f"Noise rules over {raw}: 7 files cleaned, 1 rejected" in out
    for rule in load_rules().rules:
        assert rule.id in out
    assert "本文来源于网络，如有侵权请联系删除。" in out
    assert "Kept lines that look like noise (2): candidates for a new rule" in out
    # `[MASK]` would vanish if rich read it as a style tag.
    assert WECHAT_LINE.replace("XX", "[MASK]") in out
    assert "empty.txt: The file holds no text" in out


def test_user_rules_file_is_applied(tmp_path: Path, raw: Path) -> None:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        '[[rule]]\nid = "douding_credit"\ncategory = "advertising"\npattern = "资料来自豆丁网"\nscope = "line"\n',
        "utf-8",
    )
    check = check_rules(raw, rules_file)
    uses = {use.rule.id: use for use in check.uses}
    assert uses["douding_credit"].hits == 1 and uses["douding_credit"].samples == [VENDOR_LINE]
    assert [candidate.line for candidate in check.candidates] == [WECHAT_LINE.replace("XX", "[MASK]")]


def test_missing_raw_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(RuleCheckError) as raised:
        check_rules(missing)
    assert isinstance(raised.value, DoccleanError)
    assert main(["rules", "check", "--raw", str(missing)]) == 1
    assert capsys.readouterr().err == (
        f"docclean: --raw {missing} does not exist; create it and put the documents there, "
        "or name another folder with --raw.\n"
    )


# A shop's lines no rule names and no signal reveals: only their recurrence gives them away.
SHOP_FOOTER = "——青松书社精选——"
SHOP_ISSUE = "青松书社 第12期 精选合集"


@pytest.fixture(scope="module")
def shop_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shop")
    for i in range(6):
        body = f"今天召开{'甲乙丙丁戊己'[i]}片区工作会议，主要任务是总结前一阶段工作，部署下一步任务。" * 2
        lines = [SHOP_ISSUE.replace("12", str(10 + i)), "同志们：", body, "谢谢大家！", SHOP_FOOTER]
        (folder / f"{i}.txt").write_text("\n".join(lines[: 5 if i < 5 else 4]), "utf-8")
    # The footer's words inside a sentence of a speech: content, however often the footer recurs.
    (folder / "quote.txt").write_text(f"同志们：\n他说{SHOP_FOOTER}这句话我们都记得。\n", "utf-8")
    return folder


def test_recurring_lines_without_a_signal_are_listed_most_frequent_first(shop_raw: Path) -> None:
    check = check_rules(shop_raw)
    recurring = [(stat.line, stat.documents, stat.first, stat.last) for stat in check.recurring]
    # Conventions (同志们：, 谢谢大家！) recur as often and are never listed; digits are folded.
    # Lines are shown as cleaned; spaces between words stay (第 opens the word 第10期, no single character).
    assert recurring == [("青松书社 第10期 精选合集", 6, 6, 0), (SHOP_FOOTER, 5, 0, 5)]


def test_the_rules_snippet_removes_the_listed_lines_and_nothing_else(shop_raw: Path, tmp_path: Path) -> None:
    check = check_rules(shop_raw)
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(rule_snippet(check.recurring), "utf-8")
    assert [rule.id for rule in load_rules(rules_file).rules][-2:] == ["recurring_line_1", "recurring_line_2"]
    after = check_rules(shop_raw, rules_file)
    uses = {use.rule.id: use for use in after.uses}
    assert (uses["recurring_line_1"].documents, uses["recurring_line_2"].documents) == (6, 5)
    assert after.recurring == []
    quote = Cleaner(CleanConfig(rules_file=rules_file)).clean(
        (shop_raw / "quote.txt").read_bytes(), "quote.txt"
    )
    assert SHOP_FOOTER in quote.text


@pytest.mark.parametrize(
    ("line", "matches", "misses"),
    [
        (
            "青松书社 第12期",
            ["青松书社第3期", "  青松书社  第２０２４期 "],
            ["青松书社第期", "欢迎青松书社第3期"],
        ),
        ("a+b (c)", ["a+b(c)"], ["aab (c)"]),
        ("请[MASK]同志转达", ["请XX同志转达", "请××同志转达"], ["请同志转达"]),
    ],
)
def test_line_pattern_matches_the_line_up_to_what_counting_folds(
    line: str, matches: list[str], misses: list[str]
) -> None:
    pattern = re.compile(line_pattern(line))
    assert all(pattern.search(m) for m in matches)
    assert not any(pattern.search(m) for m in misses)


def test_cli_lists_recurring_lines_and_prints_the_snippet(
    shop_raw: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    assert main(["rules", "check", "--raw", str(shop_raw)]) == 0
    out = capsys.readouterr().out
    assert "Lines seen in many documents without a noise signal (2): boilerplate candidates" in out
    assert "To remove the top 2 as noise, add this to a rules file and pass it with --rules:" in out
    assert rule_snippet(check_rules(shop_raw).recurring) in out


def test_vendor_names_are_the_names_the_noise_rules_require() -> None:
    # The site_watermark alternation and the vendor_* rules' 酷乐文行, from rules/default.toml.
    builtin = load_rules().rules
    names = vendor_names(builtin)
    assert {"酷乐文行", "百度文库", "豆丁网", "范文网"} <= names
    assert all(re.search("|".join(map(re.escape, names)), line) for line in ("第一范文网整理", "来自豆丁网"))
    # A user's rule named vendor_… adds the names its pattern needs; a regex of another kind adds none.
    mine = (
        NoiseRule("vendor_mine", "advertising", "(?:小店|大店)出品", "line", regex=True),
        NoiseRule("mine", "advertising", "(?:小店|大店)出品", "line", regex=True),
    )
    assert vendor_names(mine) == {"小店出品", "大店出品"}


def test_candidate_signals_come_from_the_boilerplate_table() -> None:
    assert list(DEFAULT_RULES.candidate_signals) == ["QQ", "微信", "公众号", "URL", "phone", "e-mail"]
    assert noise_signals("加微信", re.compile("(?!)"), replace(DEFAULT_RULES, candidate_signals={})) == ()


def test_a_file_gone_or_changed_before_its_second_reading_leaves_the_counts(tmp_path: Path) -> None:
    """The file holding the first copy of a recurring line is read again for its text: one deleted
    or rewritten in between leaves the counts, and the next file holding the line gives it."""
    for i in range(8):
        body = f"今天召开{'甲乙丙丁戊己庚辛'[i]}片区工作会议，主要任务是总结前一阶段工作。" * 2
        (tmp_path / f"{i}.txt").write_text(f"同志们：\n{body}\n{SHOP_FOOTER}", "utf-8")
    readings: Counter[str] = Counter()

    def reader(path: Path) -> Callable[[], bytes]:
        def read() -> bytes:
            readings[path.name] += 1
            if readings[path.name] > 1 and path.name == "0.txt":
                raise FileNotFoundError(2, "No such file or directory")
            if readings[path.name] > 1 and path.name == "1.txt":
                return "同志们：\n内容全部换掉了。".encode()
            return path.read_bytes()

        return read

    files = [(path.name, reader(path)) for path in sorted(tmp_path.iterdir())]
    check = check_files(str(tmp_path), files)
    assert [readings[f"{i}.txt"] for i in range(4)] == [2, 2, 2, 1]
    assert [(stat.line, stat.documents) for stat in check.recurring] == [(SHOP_FOOTER, 6)]
