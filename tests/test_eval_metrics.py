"""Metric arithmetic of every benchmark adapter on hand-computed cases, and the pure helpers
(reasoning split, agreement, judge parsing, rule checks)."""

from __future__ import annotations

import math

import pytest

from raif_eval.answer import split_reasoning
from raif_eval.benchmarks import cello, cfbench, complexbench, fbbench, followbench, infobench
from raif_eval.benchmarks import complexbench_rules as cbr
from raif_eval.benchmarks import followbench_rules as fbr
from raif_eval.judging import decide
from raif_eval.modes import agreement_order
from raif_rewards.llm import ChatResult

NAN = math.nan


# ------------------------------------------------------------------ answer / judge helpers
@pytest.mark.parametrize(
    ("text", "server", "answer", "reasoning"),
    [
        ("plain answer", None, "plain answer", ""),
        ("<think>plan it</think>\n\nThe answer.", None, "The answer.", "plan it"),
        ("<think>a</think>mid</think> final", None, "final", "a</think>mid"),
        ("<think>never closed because max_tokens", None, "", "never closed because max_tokens"),
        ("Answer only", "server side thoughts", "Answer only", "server side thoughts"),
        ("", None, "", ""),
    ],
)
def test_split_reasoning(text, server, answer, reasoning):
    assert split_reasoning(text, server) == (answer, reasoning)


@pytest.mark.parametrize(
    ("text", "logprobs", "expected"),
    [
        ("YES", [{"YES": -0.1, "NO": -2.4}], True),
        ("YES", [{"YES": -1.0, "No": -0.5, " no": -3.0}], False),  # NO-like mass wins
        ("Yes, it does.", None, True),
        ("no.", None, False),
        ("The answer is NO", None, False),
        ("maybe", [{"maybe": -0.1}], None),
        ("是", None, True),
    ],
)
def test_judge_decision(text, logprobs, expected):
    assert decide(ChatResult(text=text, logprobs=logprobs)) is expected


def test_agreement_order_picks_the_medoid():
    # word-set Jaccard: (0,1)=2/4, (0,2)=0, (1,2)=0 -> means .25, .25, 0; ties keep sampling order
    assert agreement_order(["a b c", "a b d", "x y z"]) == [0, 1, 2]
    assert agreement_order(["x y z", "a b c", "a b c"]) == [1, 2, 0]


# ------------------------------------------------------------------ InFoBench
def test_infobench_drfr_pools_questions_and_counts_none_as_no():
    assert infobench.drfr([[True, False, None], [True, True]]) == pytest.approx(3 / 5)
    assert math.isnan(infobench.drfr([]))


# ------------------------------------------------------------------ CFBench
P, S = cfbench.PRIMARY, cfbench.SECONDARY


@pytest.mark.parametrize(
    ("scores", "parsing", "kinds", "expected"),
    [
        ([1, 1, 0, 1], "1", [P, S, S, S], {"csr": 0.75, "isr": 0.0, "psr": 1.0}),  # .5+.5*.67=.835 > .8
        ([1, 1, 0], "1", [P, S, S], {"csr": 0.67, "isr": 0.0, "psr": 0.0}),  # .5+.5*.5=.75
        ([1, 1], "1", [P, P], {"csr": 1.0, "isr": 1.0, "psr": 1.0}),
        ([0, 1, 1], "1", [P, S, S], {"csr": 0.67, "isr": 0.0, "psr": 0.0}),  # a primary failed
        ([1, 1, 1, 1, 0], "1", [S, S, S, S, S], {"csr": 0.8, "isr": 0.0, "psr": 0.0}),  # not > .8
        ([1, 1, 1, 1, 1, 0], "0", [S] * 6, {"csr": 0.83, "isr": 0.0, "psr": 1.0}),
        ([0.0], "-1", [P], {"csr": 0.0, "isr": 0.0, "psr": 0.0}),
    ],
)
def test_cfbench_item_metrics(scores, parsing, kinds, expected):
    assert cfbench.item_metrics(scores, parsing, kinds) == expected


def test_cfbench_parse_judgement():
    crits = ["Is a poem", "Has 4 lines"]
    assert cfbench.parse_judgement("Is a poem\t1\n\nHas 4 lines\t0", crits) == ([1.0, 0.0], "1")
    # criterion text altered -> not a full parse; the fallback keeps only the 1s (the authors'),
    # or the 0s too with the correction
    assert cfbench.parse_judgement("A poem\t1\nHas 4 lines\t0", crits) == ([1.0], "0")
    assert cfbench.parse_judgement("A poem\t1\nHas 4 lines\t0", crits, keep_zeros=True) == ([1.0, 0.0], "0")
    assert cfbench.parse_judgement("I think it is fine.", crits) == ([0.0], "-1")


# ------------------------------------------------------------------ FB-Bench
def test_fbbench_item_score_weights_and_null_weight_shortcut():
    assert fbbench.item_score([("a", True, 0.2), ("b", False, 0.3), ("c", True, 0.5)]) == pytest.approx(0.7)
    assert fbbench.item_score([("a", False, None), ("b", True, None)]) == 1.0
    assert fbbench.item_score([("a", False, None), ("b", False, None)]) == 0.0


def test_fbbench_aggregate_is_macro_over_task_types():
    rows = [
        ("Error Correction", "Math", 1.0),
        ("Error Correction", "Math", 0.0),
        ("Error Correction", "Coding", 0.4),
        ("Response Maintenance", "Math", 1.0),
    ]
    out = fbbench.aggregate(rows)
    assert out["error_correction"] == pytest.approx(0.45)  # mean(0.5, 0.4)
    assert out["response_maintenance"] == pytest.approx(1.0)
    assert out["overall"] == pytest.approx((0.5 + 0.4 + 1.0) / 3)


def test_fbbench_parse_judgement():
    reply = (
        '```json\n{"json ok": {"评判理由": "x", "评判结果": "是", "weight": 0.5},'
        ' "apologises": {"评判理由": "y", "评判结果": "否", "weight": 0.5}}\n```'
    )
    assert fbbench.parse_judgement(reply) == [("json ok", True, 0.5), ("apologises", False, 0.5)]
    assert fbbench.parse_judgement("no json here") is None
    assert (
        fbbench.parse_judgement('{"json ok": {"评判理由": "x", "评判结果": "部分是", "weight": 0.5}}') is None
    )


# ------------------------------------------------------------------ FollowBench
@pytest.mark.parametrize(
    ("reply", "level", "expected"),
    [
        ("analysis...\n['YES', 'NO', 'YES']", 3, (0, 2 / 3)),
        ("ok\n['YES', 'YES']", 2, (1, 1.0)),
        ("x\n['YES']", 1, (1, 1.0)),
        ("x\nNO", 1, (0, 0.0)),
        ("x\n['YES', 'YES']", 3, None),  # wrong length
        ("x\n['YES', 'MAYBE']", 2, (0, 0.5)),  # the authors count MAYBE as NO
        ("x\n['YES', 'SURE']", 2, None),
        ("['YES', 'YES']\nthat is all", 2, None),  # the list must be on the last line
    ],
)
def test_followbench_parse_judgement(reply, level, expected):
    got = followbench.parse_judgement(reply, level)
    assert got == (pytest.approx(expected) if expected else None)


def test_followbench_level_metrics_hsr_ssr_csl():
    rows = [
        ("g1", 1, 1, 1.0),
        ("g1", 2, 1, 1.0),
        ("g1", 3, 0, 2 / 3),
        ("g1", 4, 1, 1.0),
        ("g1", 5, 1, 1.0),
        ("g2", 1, 1, 1.0),
        ("g2", 2, 1, 1.0),
        ("g2", 3, 1, 1.0),
        ("g2", 4, 1, 1.0),
        ("g2", 5, 0, 0.4),
    ]
    m = followbench.level_metrics(rows)
    assert m["hsr_l3"] == 0.5 and m["hsr_l5"] == 0.5 and m["hsr_l1"] == 1.0
    assert m["hsr"] == pytest.approx((1 + 1 + 0.5 + 1 + 0.5) / 5)
    assert m["ssr_l3"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["ssr"] == pytest.approx((1 + 1 + (2 / 3 + 1) / 2 + 1 + 0.7) / 5)
    assert m["csl"] == pytest.approx((2 + 4) / 2)


@pytest.mark.parametrize(
    ("source", "generation", "target", "level", "ok"),
    [
        ("gsm_8k", "First $3, then the total is $18", "$18", 1, True),
        ("gsm_8k", "The total is $18 not $20", "$18", 1, False),  # the last amount counts
        ("BBH_logical", "(A) or maybe (C)", "(C)", 2, True),
        ("BBH_time", "It was 01/02/2020.", "01/02/2020", 1, True),
        ("E2E", "exact", "exact", 1, True),
        ("CONLL2003", "b", "['a', 'b']", 1, True),
        ("WIKIEVENTS", "x\ny", "x\ny\nz", 1, True),
        ("WIKIEVENTS", "x\nq", "x\ny\nz", 1, False),
        ("xsum", "The team is winning the operation now", "", 5, True),
        ("xsum", "The team is winning the operation now", "", 3, True),
        ("xsum", "The team won. Then it left", "", 1, False),  # two sentences
        ("gigaword", "police arrest man in city for bus theft", "", 3, True),
        ("gigaword", "police arrest man in city for bus theft", "", 4, False),  # contains "bus"
    ],
)
def test_followbench_rules(source, generation, target, level, ok):
    assert fbr.RULES[source](generation, target, level) is ok


def test_followbench_example_template():
    assert fbr.example_template_match("{instruction}\nAnswer: {answer}.", "Answer: 42.")
    assert not fbr.example_template_match("{instruction}\nAnswer: {answer}.", "The answer: 42.")
    assert fbr.example_template_match('{{"k": {answer}}}', '{"k": 7}')


# ------------------------------------------------------------------ ComplexBench
def test_complexbench_dependencies_and_drfr():
    verdicts = [True, False, True, True]
    relied = complexbench.rely(verdicts, [[], [], [1], [0]])
    assert relied == [True, False, False, True]
    assert complexbench.drfr([relied, [True, True]]) == pytest.approx(4 / 6)


@pytest.mark.parametrize(
    ("rule", "segments", "ok"),
    [
        ("model_length:[1,5]", ["abc"], True),
        ("model_length:[1,5]", ["abcdef"], False),
        ("model_length:[1,5]", ['"abcde"'], True),  # quotes may be ignored
        ("model_length:[1,5]", [], False),
        ("model_length_word:[2,3]", ["two words"], True),
        ("model_keyword:[猫,狗]", ["猫和狗"], True),
        ("model_keyword:[猫,狗]", ["只有猫"], False),
        ("model_keyword_each:[good]", ["good a", "good b"], True),
        ("model_keyword_each:[good]", ["good a", "bad b"], False),
        ("model_forbidden_word:[坏]", [], True),
        ("model_forbidden_word:[坏]", ["好坏"], False),
        ("model_number_each:[2,3]", ["a", "b"], True),
        ("model_number_each:[2,3]", ["a"], False),
        ("model_keyword_num:[1,1,cat,dog]", ["a cat"], True),
        ("model_keyword_num:[1,1,cat,dog]", ["a cat, a dog"], False),
        ("model_startswith:亲爱的", ["亲爱的朋友"], True),
        ("model_endswith:谢谢", ["好的，谢谢。"], True),
        ("model_not_startswith:Hi", ["Hello"], True),
        ("model_startswith:Dear\nmodel_endswith:Bye", ["Dear x. Bye"], True),
        ("model_starts_with_list_each:[A,B]", ["A1", "B2"], True),
        ("model_starts_with_list_each:[A,B]", ["A1"], False),
        ("model_constraint_punc:[，]", ["你好，世界"], True),
        ("model_constraint_punc:[，]", ["你好。世界"], False),
    ],
)
def test_complexbench_rules(rule, segments, ok):
    assert cbr.check_rule(rule, segments) is ok


def test_complexbench_unknown_rule_and_extraction():
    with pytest.raises(cbr.UnknownRule):
        cbr.check_rule("model_sparkles:[1]", ["x"])
    assert cbr.parse_extraction("ANSWER", "reasoning\nExtracted: part one || part two") == [
        "part one",
        "part two",
    ]
    assert cbr.parse_extraction("ANSWER", "Extracted: all") == ["ANSWER"]
    assert cbr.parse_extraction("ANSWER", "Extracted: None") == []


# ------------------------------------------------------------------ CELLO
def crit(name, limit):
    return [{"criterion": name, "limit": limit}]


@pytest.mark.parametrize(
    ("answer", "criteria", "lang", "expected"),
    [
        ("你好世界", crit("word-max", 2), "ch", 0.5),  # 1 - |2-4|/4
        ("你好世界", crit("word-min", 8), "ch", 0.5),  # 4/8
        ("你好世界", crit("word-exact", 8), "ch", 1.0),  # authors' quirk: never checked
        ("one two, three!! --", crit("word-min", 6), "eg", 0.5),  # "--" has no letter or digit: 3/6
        ("x", crit("NULL", "NULL"), "ch", NAN),
    ],
)
def test_cello_word_count(answer, criteria, lang, expected):
    got = cello.word_count_score(answer, criteria, lang)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_cello_sample_and_sentence_counts():
    assert cello.sample_count_score("1. a\n2. b\n3. c", crit("sample-number", 3)) == 1.0
    assert cello.sample_count_score("1. a\n2. b\n3. c\n4. d", crit("sample-number", 3)) == 0.0
    assert cello.sample_count_score("- a\n- b\n* c", crit("sample-min", [["- ", 2], ["* ", 2]])) == 0.5
    # header + separator + limit rows: limit + 1 newlines inside the table
    assert cello.sample_count_score("|a|b|\n|-|-|\n|1|2|", crit("sample-table", 1)) == 1.0
    assert cello.sample_count_score("|a|b|\n|-|-|\n|1|2|", crit("sample-table", 2)) == 0.0
    # authors' quirk: a sample-table criterion narrows the answer to the table for later criteria
    both = [{"criterion": "sample-table", "limit": 5}, {"criterion": "sample-number", "limit": 5}]
    assert cello.sample_count_score("5 items | 2", both) == 0.0
    assert cello.sample_count_score("5 items", [both[1]]) == 1.0
    assert cello.sentence_count_score("一句。两句！三句？", crit("sentence-min", 6), "ch") == 0.5
    assert cello.sentence_count_score("One. Two. Three.", crit("sentence-exact", 3), "eg") == 1.0
    assert math.isnan(cello.sentence_count_score("One.", crit("sentence-max", 1), "eg"))  # authors' quirk


def test_cello_format_input_task_scores():
    fmt = [{"criterion": "resolve", "limit": "json"}, {"criterion": "keywords", "limit": ["a", "b"]}]
    assert cello.format_score('{"a": 1, "b": 2}', fmt) == 1.0
    assert cello.format_score('[1, "a"]', fmt) == pytest.approx((0 + 0.5) / 2)
    kw = crit("keywords", ["红", "绿", "蓝", "黄"])
    assert cello.task_score("红和绿", kw) == 0.5
    assert cello.task_score("成就", crit("keywords", "成功")) == 0.5  # a string limit is read by character
    assert cello.input_score("红和绿", kw, "NULL") == 0.5
    assert cello.input_score("红绿蓝黄", kw, "红绿蓝黄") == 0.0  # copying the input: BLEU 1
    assert 0.0 < cello.input_score("红绿蓝黄是四种颜色", kw, "这是红绿蓝黄的原文内容") < 1.0


def test_cello_aggregation_groups_tasks_like_the_authors():
    per_task = {
        "closed_qa": [[NAN, 0.5, NAN, NAN], [NAN, 1.0, NAN, NAN]],  # 0.75
        "Planning": [[1.0, NAN, 0.0, NAN]],  # 0.5
        "Structure_hard": [[0.2, NAN, NAN, NAN]],
        "Structure_simple": [[0.4, NAN, NAN, NAN]],  # Structure = 0.3
    }
    out = cello.aggregate(per_task)
    assert out["task:closed_qa"] == pytest.approx(0.75)
    assert out["task:Structure"] == pytest.approx(0.3)
    assert out["complex_instruction"] == pytest.approx(0.5)
    assert out["complex_input"] == pytest.approx((0.75 + 0.3) / 2)
    assert out["average"] == pytest.approx((0.5 + 0.525) / 2)
