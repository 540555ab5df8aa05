"""The prefilters (docclean/prefilter.py) only skip lines a rule cannot match: strip_noise agrees
with a plain reference that searches every rule in every line."""

from __future__ import annotations

import dataclasses

import regex
from hypothesis import example, given, settings
from hypothesis import strategies as st

from docclean.noise import strip_noise
from docclean.rules import RuleSet, compile_rules, load_rules, parse_rules

BUILTIN = load_rules()

# User rules with what makes a prefilter unsound when modelled carelessly: negated classes,
# negative and positive lookarounds, anchors, optional and lazy pieces, alternations, and
# syntax the analysis gives up on (back-references, properties, ignore case).
ADVERSARIAL = """
[[rule]]
id = "negated"
category = "x"
scope = "inline"
regex = true
pattern = '[^甲]乙'
[[rule]]
id = "behind"
category = "x"
scope = "inline"
regex = true
pattern = '(?<=丙)丁|(?<!戊)己'
[[rule]]
id = "ahead"
category = "x"
scope = "line"
regex = true
pattern = '^(?=.{1,6}$)(?!.*庚)辛?壬'
[[rule]]
id = "verbose"
category = "x"
scope = "inline"
regex = true
pattern = '''(?x: 癸 \\x20? (?:子|丑)+? # comment 寅
  )'''
[[rule]]
id = "backref"
category = "x"
scope = "inline"
regex = true
pattern = '(卯)\\1'
[[rule]]
id = "property"
category = "x"
scope = "line"
regex = true
pattern = '^\\p{Han}{2}$'
[[rule]]
id = "ignorecase"
category = "x"
scope = "inline"
regex = true
pattern = '(?i:ab)c'
[[rule]]
id = "literal"
category = "x"
scope = "line"
pattern = "a.b"
"""
USER = compile_rules([*BUILTIN.rules, *parse_rules(ADVERSARIAL, "adversarial.toml")])

TOKENS = [
    *"甲乙丙丁戊己庚辛壬癸子丑寅卯ABCabc.  同志们，。0123456789@-/",
    *("QQ", "加V", "微信", "www.", ".com", "http://", "第", "页", "本文系", "仅供参考", "未经许可"),
    *("酷乐文行", "会员群：", "电话：", "138", "0755-", "13812345678", "a.b", "卯卯"),
    # Long enough to push a line past every length bound of the built-in rules.
    "我们要坚持以人民为中心的发展思想" * 4,
    "\n",
    "\n",
]


def reference_line_hit(rules: RuleSet, scope: str, line: str, pos: int) -> tuple[int, int, int] | None:
    """(start, end, rule) of the leftmost non-empty match of any rule of `scope`; first rule on a tie."""
    best = None
    for index, rule in enumerate(rules.rules):
        if rule.scope != scope:
            continue
        start = pos
        while start <= len(line) and (match := rules.patterns[index].search(line, start)) is not None:
            if match.end() > match.start():
                if best is None or match.start() < best[0]:
                    best = (match.start(), match.end(), index)
                break
            start = match.start() + 1
    return best


def reference_claims(rules: RuleSet, text: str) -> list[object]:
    """What the line and inline scopes find in each line, searching every rule everywhere."""
    claims: list[object] = []
    for line in text.split("\n"):
        inline = []
        pos = 0
        while (hit := reference_line_hit(rules, "inline", line, pos)) is not None:
            inline.append(hit)
            pos = hit[1]
        claims.append((reference_line_hit(rules, "line", line, 0), inline))
    return claims


def claims(rules: RuleSet, text: str) -> list[object]:
    """The same as found through the prefilters: a rule a prefilter rejects finds nothing."""
    found: list[object] = []
    for line in text.split("\n"):
        admitted = {
            index
            for index, prefilter in enumerate(rules.prefilters)
            if prefilter is None or prefilter.admits(line)
        }
        restricted = RuleSet(
            rules=rules.rules,
            patterns=tuple(
                pattern if index in admitted else regex.compile("(?!)")
                for index, pattern in enumerate(rules.patterns)
            ),
            prefilters=rules.prefilters,
            line=rules.line,
            inline=rules.inline,
            block=rules.block,
            repeated=rules.repeated,
            version=rules.version,
        )
        found.extend(reference_claims(restricted, line))
    return found


def text_from(tokens: list[str]) -> str:
    return "\n".join(line.strip() for line in "".join(tokens).split("\n") if line.strip())


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map(text_from))
def test_prefilters_reject_only_lines_no_rule_matches(text: str) -> None:
    for rules in (BUILTIN, USER):
        assert claims(rules, text) == reference_claims(rules, text)


def without_prefilters(rules: RuleSet) -> RuleSet:
    """The same rules searched in every line."""
    return dataclasses.replace(
        rules,
        prefilters=(None,) * len(rules.rules),
        line=dataclasses.replace(rules.line, literal_rules=(), finder=None, max_length=None),
        inline=dataclasses.replace(rules.inline, literal_rules=(), finder=None, max_length=None),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map(text_from))
# A phone number in a sentence followed by another: the combined alternation found the phone
# line rule in the sentence, which is never tried there (the phone inline rule takes the number).
@example("甲13812345678。甲")
def test_strip_noise_agrees_with_searching_every_line(text: str) -> None:
    for rules in (BUILTIN, USER):
        assert strip_noise(text, rules) == strip_noise(text, without_prefilters(rules))


def test_the_analysis_gives_up_on_unmodelled_syntax() -> None:
    by_id = {rule.id: prefilter for rule, prefilter in zip(USER.rules, USER.prefilters, strict=True)}
    assert by_id["backref"] is None and by_id["ignorecase"] is None
    assert by_id["property"] is None
    assert by_id["verbose"] is not None and by_id["verbose"].literals == frozenset({"癸"})
    assert by_id["literal"] is not None and by_id["literal"].literals == frozenset({"a.b"})


def test_every_builtin_line_rule_is_bounded() -> None:
    # The fast path of the line scope: lines longer than every bound are never searched.
    assert BUILTIN.line.max_length is not None


def test_every_builtin_line_and_inline_rule_needs_a_literal() -> None:
    """A rule without a literal is searched in every line, and makes every line of every page
    edge and wrap a candidate for `removes_whole`: a rule that grows past the analysis' limit of
    literals loses its prefilter silently, so its count is held here."""
    open_rules = [BUILTIN.rules[index].id for index in (*BUILTIN.line.open_rules, *BUILTIN.inline.open_rules)]
    assert open_rules == []
