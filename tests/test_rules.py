from __future__ import annotations

from pathlib import Path

import pytest

from docclean.errors import RulesError
from docclean.noise import strip_noise
from docclean.rules import NoiseRule, compile_rules, load_rules, parse_rules

BUILTIN_IDS = {
    "copyright_notice": "copyright",
    "copyright_notice_bracketed": "copyright",
    "copyright_notice_inline": "copyright",
    "source_line": "copyright",
    "vendor_promo_block": "advertising",
    "vendor_line": "advertising",
    "vendor_inline": "advertising",
    "download_elsewhere_inline": "advertising",
    "site_watermark": "watermark",
    "advertising_line": "advertising",
    "shop_line": "advertising",
    "template_line": "advertising",
    "web_furniture_line": "watermark",
    "contact_line": "contact",
    "contact_inline": "contact",
    "phone_line": "phone",
    "phone_inline": "phone",
    "email_inline": "email",
    "url_inline": "url",
    "page_marker": "page_marker",
    "page_marker_inline": "page_marker",
    "page_number": "page_marker",
    "repeated_line": "watermark",
}


def rule_table(**keys: object) -> str:
    """One [[rule]] table; string values are written as TOML literal strings."""
    lines = ["[[rule]]"]
    for key, value in keys.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f"{key} = '{value}'")
    return "\n".join(lines) + "\n"


def test_builtin_rules_load_with_ids_categories_and_a_short_version() -> None:
    rules = load_rules()
    assert {rule.id: rule.category for rule in rules.rules} == BUILTIN_IDS
    assert len(rules.version) == 12 and int(rules.version, 16) >= 0
    assert load_rules().version == rules.version
    assert rules.block and rules.repeated and rules.line.members and rules.inline.members
    # The built-in rules avoid syntax that would force a rule out of the combined alternation.
    assert rules.line.standalone == () and rules.inline.standalone == ()


def test_parse_rules_applies_defaults() -> None:
    text = rule_table(id="a", category="ad", pattern="x.y", scope="line") + rule_table(
        id="b", category="watermark", pattern="^水印$", scope="repeated", regex=True
    )
    first, second = parse_rules(text, "mine.toml")
    assert first == NoiseRule("a", "ad", "x.y", "line", regex=False, min_count=None)
    assert first.expression == r"x\.y"
    assert second.min_count == 3 and second.regex is True
    assert first.source == "mine.toml"


def test_a_literal_rule_matches_its_text_only() -> None:
    rules = compile_rules(
        parse_rules(rule_table(id="dot", category="ad", pattern="a.b", scope="inline"), "t.toml")
    )
    assert strip_noise("中a.b文\naxb", rules).text == "中文\naxb"


@pytest.mark.parametrize(
    ("toml_text", "message"),
    [
        (
            "[[rule]]\nid = 'a'\nid = 'b'\n",
            "Rules file rules.toml is not valid TOML: Cannot overwrite a value (at line 3, column 9).",
        ),
        ("rules = []", 'Rules file rules.toml: unknown top-level key "rules"; expected "rule" or "disable".'),
        ('rule = "x"', 'Rules file rules.toml: "rule" must be an array of tables ([[rule]]).'),
        ('disable = "page_marker"', 'Rules file rules.toml: "disable" must be a list of rule ids.'),
        ("[[rule]]\ncategory = 'ad'\n", 'Rule #1 in rules.toml: missing key "id".'),
        (
            rule_table(id="qq contact", category="contact", pattern="QQ", scope="line"),
            'Rule #1 in rules.toml: "id" must be a string of letters, digits, "_" or "-".',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern="QQ", scope="line", enabled=False),
            'Rule "qq_contact" in rules.toml: unknown key "enabled"; allowed keys are id, category, pattern, '
            "scope, regex, min_count.",
        ),
        (
            rule_table(id="qq_contact", category="contact", scope="line"),
            'Rule "qq_contact" in rules.toml: missing key "pattern".',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern=3, scope="line"),
            'Rule "qq_contact" in rules.toml: "pattern" must be a string.',
        ),
        (
            rule_table(id="qq_contact", category="contact info", pattern="QQ", scope="line"),
            'Rule "qq_contact" in rules.toml: "category" must be letters, digits, "_" or "-".',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern="QQ", scope="line", regex="yes"),
            'Rule "qq_contact" in rules.toml: "regex" must be true or false.',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern="QQ", scope="lines"),
            'Rule "qq_contact" in rules.toml: scope must be one of line, inline, block, repeated; '
            'got "lines".',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern="QQ", scope="line", min_count=3),
            'Rule "qq_contact" in rules.toml: "min_count" only applies to scope "repeated".',
        ),
        (
            rule_table(id="mark", category="watermark", pattern="X", scope="repeated", min_count=1),
            'Rule "mark" in rules.toml: "min_count" must be an integer of at least 2.',
        ),
        (
            rule_table(id="mark", category="watermark", pattern="X", scope="repeated", min_count=True),
            'Rule "mark" in rules.toml: "min_count" must be an integer of at least 2.',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern="", scope="line"),
            'Rule "qq_contact" in rules.toml: pattern is empty.',
        ),
        (
            '[[rule]]\nid = "qq_contact"\ncategory = "contact"\npattern = "QQ\\n群"\nscope = "inline"\n',
            'Rule "qq_contact" in rules.toml: a literal pattern of scope inline cannot contain a line break.',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern="(QQ", scope="line", regex=True),
            'Rule "qq_contact" in rules.toml: invalid regex: missing ) at position 3.',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern="[QQ", scope="line", regex=True),
            'Rule "qq_contact" in rules.toml: invalid regex: unterminated character set at position 3.',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern="(?:QQ)?", scope="inline", regex=True),
            'Rule "qq_contact" in rules.toml: pattern matches the empty string.',
        ),
        (
            rule_table(id="qq_contact", category="contact", pattern="QQ", scope="line")
            + rule_table(id="qq_contact", category="contact", pattern="微信", scope="line"),
            'Rule "qq_contact" in rules.toml: duplicate id.',
        ),
    ],
)
def test_invalid_rules_files_raise_exact_messages(toml_text: str, message: str) -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules(toml_text, "rules.toml")
    assert str(raised.value) == message


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_file_adds_a_rule_and_disables_a_builtin_one(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        'disable = ["page_marker"]\n'
        + rule_table(id="shop_footer", category="advertising", pattern="小店出品", scope="line"),
    )
    rules = load_rules(path)
    ids = [rule.id for rule in rules.rules]
    assert "page_marker" not in ids and ids[-1] == "shop_footer"
    assert rules.rules[-1].source == str(path)
    assert rules.version != load_rules().version
    stripped = strip_noise("同志们：\n- 2 -\n本文由小店出品\n谢谢大家！", rules)
    assert stripped.text == "同志们：\n- 2 -\n谢谢大家！"
    assert [(r.rule, r.category, r.text) for r in stripped.removed] == [
        ("shop_footer", "advertising", "本文由小店出品\n")
    ]


def test_user_file_replaces_a_disabled_builtin_rule_with_the_same_id(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        'disable = ["page_marker"]\n'
        + rule_table(id="page_marker", category="page_marker", pattern="^~\\d+~$", scope="line", regex=True),
    )
    stripped = strip_noise("正文\n~2~\n- 3 -", load_rules(path))
    assert stripped.text == "正文\n- 3 -"


def test_user_rule_cannot_reuse_an_enabled_builtin_id(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path, rule_table(id="page_marker", category="page_marker", pattern="~", scope="line")
    )
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    assert str(raised.value) == (
        f'Rule "page_marker" in {path}: duplicate id: a built-in rule has it '
        "(add it to disable to replace it)."
    )


def test_disabling_an_unknown_rule_is_an_error(tmp_path: Path) -> None:
    path = write_rules(tmp_path, 'disable = ["no_such_rule"]\n')
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    assert (
        str(raised.value) == f'Rules file {path}: disable names "no_such_rule", which is not a built-in rule.'
    )


def test_invalid_regex_in_a_user_file_names_the_file(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path, rule_table(id="qq_contact", category="contact", pattern="(QQ", scope="line", regex=True)
    )
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    assert str(raised.value) == f'Rule "qq_contact" in {path}: invalid regex: missing ) at position 3.'


def test_a_missing_user_file_is_a_rules_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(RulesError, match=r"^Rules file .*absent\.toml cannot be read: "):
        load_rules(path)


def test_version_follows_the_effective_rules() -> None:
    def version(pattern: str, scope: str = "line") -> str:
        return compile_rules(
            parse_rules(rule_table(id="a", category="ad", pattern=pattern, scope=scope), "x")
        ).version

    assert version("广告") == version("广告")
    assert version("广告") != version("广告语")
    assert version("广告") != version("广告", scope="inline")


def test_rules_with_context_dependent_syntax_run_alone_and_still_work() -> None:
    text = (
        rule_table(id="same_digit", category="phone", pattern=r"(\d)\1{5}", scope="inline", regex=True)
        + rule_table(id="any_case", category="ad", pattern="(?i)^buy now$", scope="line", regex=True)
        + rule_table(id="plain", category="ad", pattern="广告", scope="inline")
    )
    rules = compile_rules(parse_rules(text, "t.toml"))
    assert rules.inline.standalone == (0,) and rules.inline.members == (2,)
    assert rules.line.standalone == (1,)
    stripped = strip_noise("号码888888。广告词\nBUY NOW\n正文123456", rules)
    assert stripped.text == "号码。词\n正文123456"
    assert [r.rule for r in stripped.removed] == ["same_digit", "plain", "any_case"]
