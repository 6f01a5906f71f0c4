"""Tiny data files in each benchmark's own released format, and scripted model / judge responders
for the loopback OpenAI stub, shared by the raif-eval end-to-end tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

YES_NO_MARK = re.compile(r"\[(yes|no)\]")


def write_benchmarks(root: Path) -> dict[str, Path]:
    """One small data set per benchmark under ``root``; returns benchmark -> path for --data."""
    root.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    paths["ifeval"] = root / "input_data.jsonl"
    paths["ifeval"].write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "key": 1,
                    "prompt": "IF1: write a note without commas.",
                    "instruction_id_list": ["punctuation:no_comma"],
                    "kwargs": [{}],
                },
                {
                    "key": 2,
                    "prompt": "IF2: write in lowercase only.",
                    "instruction_id_list": ["change_case:english_lowercase"],
                    "kwargs": [{}],
                },
            ]
        )
        + "\n"
    )

    paths["ifbench"] = root / "IFBench_test.jsonl"  # IFBench's format: null-valued kwargs listed
    paths["ifbench"].write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "key": "IB-1",
                    "prompt": "IFB1: list three fruits.",
                    "instruction_id_list": ["count:numbers"],
                    "kwargs": [{"N": 2}],
                },
                {
                    "key": "IB-2",
                    "prompt": "IFB2: tell a story.",
                    "instruction_id_list": ["format:no_whitespace"],
                    "kwargs": [{"N": None}],
                },
            ]
        )
        + "\n"
    )

    paths["infobench"] = root / "InfoBench.json"  # JSON lines, as released
    paths["infobench"].write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "id": "a",
                    "input": "",
                    "category": "x",
                    "instruction": "IB1 write",
                    "decomposed_questions": ["Q1 [yes]", "Q2 [no]"],
                    "subset": "Easy_set",
                },
                {
                    "id": "b",
                    "input": "some input",
                    "category": "x",
                    "instruction": "IB2 write",
                    "decomposed_questions": ["Q3 [yes]", "Q4 [yes]", "Q5 [no]"],
                    "subset": "Hard_set",
                },
            ]
        )
        + "\n"
    )

    paths["cfbench"] = root / "cfbench_data.json"
    paths["cfbench"].write_text(
        json.dumps(
            [
                {
                    "idx": 0,
                    "prompt": "CF1 write",
                    "gold": "",
                    "split": "hard",
                    "criteria": [
                        ["main (ok)", "主需", "a", "b"],
                        ["sec1 (ok)", "次需", "a", "b"],
                        ["sec2", "次需", "a", "b"],
                    ],
                },
                {
                    "idx": 1,
                    "prompt": "CF2 write",
                    "gold": "ref",
                    "split": "easy",
                    "criteria": [["m (ok)", "主需", "a", "b"], ["s (ok)", "次需", "a", "b"]],
                },
            ],
            ensure_ascii=False,
            indent=2,
        )
    )

    paths["fbbench"] = root / "fb_bench_dataset.json"
    paths["fbbench"].write_text(
        json.dumps(
            [
                {
                    "bench_type": "Error Correction",
                    "task_type": "Mathematics",
                    "user_query": "FB1 query",
                    "origin_first_response": "wrong",
                    "feedback": "FB1 that is wrong",
                    "reference_second_response": "right",
                    "checklist": [["fix (ok)", 0.6], ["tone", 0.4]],
                },
                {
                    "bench_type": "Response Maintenance",
                    "task_type": "Coding",
                    "user_query": "FB2 query",
                    "origin_first_response": "right",
                    "feedback": "FB2 are you sure?",
                    "reference_second_response": "yes",
                    "checklist": ["keeps answer (ok)"],
                },
            ],
            indent=2,
        )
    )

    fb = root / "followbench"
    fb.mkdir(exist_ok=True)
    (fb / "content_constraints.json").write_text(
        json.dumps(
            [
                {
                    "example_id": 1,
                    "category": "content",
                    "source": "alpaca",
                    "level": 0,
                    "instruction": "FW seed",
                    "target": "",
                },
                {
                    "example_id": 1,
                    "category": "content",
                    "source": "alpaca",
                    "level": 1,
                    "instruction": "FW L1",
                    "target": "",
                },
                {
                    "example_id": 1,
                    "category": "content",
                    "source": "alpaca",
                    "level": 2,
                    "instruction": "FW L2",
                    "target": "",
                },
                {
                    "example_id": 2,
                    "category": "content",
                    "source": "gsm_8k",
                    "level": 0,
                    "instruction": "FW apples seed",
                    "target": "",
                },
                {
                    "example_id": 2,
                    "category": "content",
                    "source": "gsm_8k",
                    "level": 1,
                    "instruction": "FW apples L1",
                    "target": "$18",
                },
            ],
            indent=2,
        )
    )
    paths["followbench"] = fb

    paths["complexbench"] = root / "data_final.json"

    def q(text, rule=None, dep=()):
        return {
            "point_id": 0,
            "question": text,
            "question_en": text,
            "rule": rule,
            "constraint_dimensions": [],
            "composition_types": [],
            "dep": list(dep),
        }

    paths["complexbench"].write_text(
        json.dumps(
            [
                {
                    "main_id": 7,
                    "group": "g",
                    "idx_in_group": 1,
                    "instruction": "CB1 write",
                    "instruction_en": "CB1 write (en)",
                    "task_types": "Writing",
                    "constraint_dimensions": [],
                    "composition_types": ["And"],
                    "category": "And_2",
                    "scoring_questions": [
                        q("Relevant? [yes]"),
                        q("Short?", "model_length:[1,50]"),
                        q("Formal? [no]"),
                        q("Polite? [yes]", dep=[2]),
                    ],
                },
            ],
            ensure_ascii=False,
            indent=2,
        )
    )

    cello = root / "cello"
    cello.mkdir(exist_ok=True)
    null = [{"criterion": "NULL", "limit": "NULL"}]
    (cello / "closed_qa.json").write_text(
        json.dumps(
            [
                {
                    "Instruction": "CE1 颜色？",
                    "Instruction_id": "c1",
                    "input_text": "NULL",
                    "lang": "ch",
                    "histories": [],
                    "Count_limit": [{"criterion": "word-max", "limit": 4}],
                    "Answer_format": null,
                    "Task_prescribed_phrases": null,
                    "Input_depdent_query": [{"criterion": "keywords", "limit": ["红", "绿"]}],
                },
            ],
            ensure_ascii=False,
        )
    )
    (cello / "writing_multi_rounds.json").write_text(
        json.dumps(
            [
                {
                    "Instruction": "CE2 再短一点",
                    "Instruction_id": "c2",
                    "input_text": "NULL",
                    "lang": "ch",
                    "histories": [["写一句话", "好的一句话"]],
                    "Count_limit": [{"criterion": "revise", "limit": "shorter"}],
                    "Answer_format": null,
                    "Task_prescribed_phrases": [{"criterion": "keywords", "limit": ["短"]}],
                    "Input_depdent_query": null,
                },
            ],
            ensure_ascii=False,
        )
    )
    paths["cello"] = cello
    return paths


# hand-computed expectations for the answers the model responder gives (see MODEL_ANSWERS)
EXPECTED = {
    "ifeval": {"prompt_strict": 0.5, "inst_strict": 0.5, "prompt_loose": 0.5, "inst_loose": 0.5},
    "infobench": {"drfr": 3 / 5, "drfr_easy": 1 / 2, "drfr_hard": 2 / 3},
    "cfbench": {"csr": (0.67 + 1.0) / 2, "isr": 0.5, "psr": 0.5},
    "fbbench": {"overall": 0.8, "error_correction": 0.6, "response_maintenance": 1.0},
    "followbench": {"hsr_l1": 1.0, "hsr_l2": 0.0, "hsr": 0.5, "ssr": 0.75},
    "complexbench": {"drfr": 0.5},
    "cello": {"average": (0.75 + 1.0) / 2, "task:closed_qa": 0.75, "task:writing_multi_rounds": 1.0},
    "ifbench": {"prompt_strict": 0.5, "prompt_loose": 0.5, "inst_strict": 0.5, "inst_loose": 0.5},
}

MODEL_ANSWERS = {
    # reasoning with commas is split off: only "hello world" is scored (no_comma passes)
    "IF1": {"content": "<think>Plan: short, plain, no commas.</think>\n\nhello world"},
    "IF2": "Hello World",  # not lowercase
    "IFB1": "I have 3 apples and 4 pears.",  # two numbers: count:numbers N=2 holds
    "IFB2": "a story",  # has whitespace
    "IB1": "an answer",
    "IB2": "another answer",
    "CF1": "cf answer",
    "CF2": "cf answer 2",
    "FB1": "fixed",
    "FB2": "I stand by it",
    "FW L1": "l1",
    "FW L2": "l2",
    "FW apples L1": "The total is $18",
    "CB1": "A short reply.",
    "CE1": "红色",
}


def model_responder(request: dict) -> str | dict:
    messages = request["messages"]
    last = messages[-1]["content"]
    if last.startswith("CE2"):  # multi-round CELLO: the history must have been replayed
        return (
            "短"
            if any(m["role"] == "assistant" and m["content"] == "好的一句话" for m in messages)
            else "no history"
        )
    for prefix in sorted(MODEL_ANSWERS, key=len, reverse=True):
        if last.startswith(prefix):
            return MODEL_ANSWERS[prefix]
    return "unexpected prompt"


def judge_responder(request: dict) -> str | dict:
    last = request["messages"][-1]["content"]
    if request.get("logprobs"):  # YES/NO judgement: the last [yes]/[no] mark in the turn decides
        marks = YES_NO_MARK.findall(last)
        word = "YES" if marks and marks[-1] == "yes" else "NO"
        other = "NO" if word == "YES" else "YES"
        return {"content": word, "top_logprobs": [{word: -0.05, other: -3.0}]}
    if "[Criteria]:" in last:  # CFBench
        crits = last.split("[Criteria]: ", 1)[1].split("\n\n[Your evaluation]", 1)[0].split("\n\n")
        return "\n\n".join(f"{c}\t{1 if '(ok)' in c else 0}" for c in crits)
    if "<评判细则>" in last:  # FB-Bench
        skeleton = json.loads(last.rsplit("```json", 1)[1].rsplit("```", 1)[0])
        out = {
            k: {"评判理由": "r", "评判结果": "是" if "(ok)" in k else "否", "weight": v["weight"]}
            for k, v in skeleton.items()
        }
        return json.dumps(out, ensure_ascii=False)
    if "#System#" in last:  # FollowBench
        level = 1 if "1 added constraint." in last else int(re.search(r"all (\d+) added", last).group(1))
        return "analysis\n" + str(["YES"] + ["NO"] * (level - 1))
    if "Extracted:" in last:  # ComplexBench extractor
        return "The whole response.\nExtracted: all"
    return "unexpected judge prompt"


# ------------------------------------------------------------------ the tests of this module
import pytest  # noqa: E402

from raif_eval.benchmarks import BENCHMARKS  # noqa: E402
from raif_rewards.errors import InputFileError  # noqa: E402


def test_every_adapter_reads_its_released_format(tmp_path):
    paths = write_benchmarks(tmp_path)
    counts = {name: len(cls().load(paths[name])) for name, cls in BENCHMARKS.items()}
    # followbench: level 0 seeds are not answered
    assert counts == {
        "ifeval": 2,
        "infobench": 2,
        "cfbench": 2,
        "fbbench": 2,
        "followbench": 3,
        "complexbench": 1,
        "cello": 2,
        "ifbench": 2,
    }
    fb = BENCHMARKS["fbbench"]().load(paths["fbbench"])
    assert [m["role"] for m in fb[0].messages] == ["user", "assistant", "user"]
    en = BENCHMARKS["complexbench"](lang="en").load(paths["complexbench"])
    assert en[0].messages[0]["content"] == "CB1 write (en)"


BAD_CASES = [
    # (benchmark, file name, content, line, field, message part)
    (
        "infobench",
        "InfoBench.json",
        '{"id": "a", "instruction": "x", "decomposed_questions": ["q"]}\n{"id": "b", "instruction": "y"}\n',
        2,
        "decomposed_questions",
        "missing",
    ),
    (
        "infobench",
        "InfoBench.json",
        '{"id": "a", "instruction": "x", "decomposed_questions": ["q", 3]}\n',
        1,
        "decomposed_questions",
        "element 1",
    ),
    (
        "infobench",
        "InfoBench.json",
        '{"id": "a", "instruction": "x", "decomposed_questions": ["q"]}\n{"id": "a", "instruction": "x", "decomposed_questions": ["q"]}\n',
        2,
        None,
        "duplicate id",
    ),
    (
        "cfbench",
        "cfbench_data.json",
        '[\n  {"idx": 0, "prompt": "p", "criteria": [["c", "主需"]]},\n  {"idx": 1, "prompt": "p",\n   "criteria": [["c", "must"]]}\n]',
        3,
        "criteria",
        "主需",
    ),
    (
        "cfbench",
        "cfbench_data.json",
        '[\n  {"idx": 0, "prompt": 5, "criteria": [["c", "主需"]]}\n]',
        2,
        "prompt",
        "expected a string, got int",
    ),
    (
        "fbbench",
        "fb.json",
        '[{"user_query": "q", "origin_first_response": "r", "feedback": "f", "bench_type": "Error Correction",'
        ' "task_type": "Coding", "checklist": [["c", 2]]}]',
        1,
        "checklist",
        "weight",
    ),
    (
        "complexbench",
        "data_final.json",
        '[\n{"main_id": 1, "instruction": "i", "scoring_questions": [{"question": "q", "rule": null, "dep": [4]}]}\n]',
        2,
        "scoring_questions[0].dep",
        "indices",
    ),
    (
        "ifeval",
        "input_data.jsonl",
        '{"key": 1, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{"x": 1}]}\n',
        1,
        "kwargs",
        "no_comma",
    ),
    (
        "cfbench",
        "cfbench_data.json",
        '[\n  {"idx": 0, "prompt": "p" "criteria": []}\n]',
        2,
        None,
        "not valid JSON",
    ),
]


@pytest.mark.parametrize(("bench", "name", "content", "line", "field", "part"), BAD_CASES)
def test_bad_data_names_file_line_and_field(tmp_path, bench, name, content, line, field, part):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        BENCHMARKS[bench]().load(path)
    err = info.value
    assert err.path == str(path) and err.line == line and err.field == field
    assert part in str(err) and str(path) in str(err)


def test_bad_data_in_a_benchmark_folder(tmp_path):
    fb = tmp_path / "followbench"
    fb.mkdir()
    (fb / "style_constraints.json").write_text(
        '[{"example_id": 1, "category": "style", "source": "s", "level": 0, "instruction": "a", "target": ""},\n'
        ' {"example_id": 1, "category": "style", "source": "s", "level": 2, "instruction": "b", "target": ""}]'
    )
    with pytest.raises(InputFileError, match=r"style_constraints.json:2: field 'level'"):
        BENCHMARKS["followbench"]().load(fb)
    cello = tmp_path / "cello"
    cello.mkdir()
    (cello / "closed_qa.json").write_text(
        '[{"Instruction": "x", "Instruction_id": "1", "Count_limit": [], "Answer_format": [],'
        ' "Task_prescribed_phrases": [], "Input_depdent_query": [{"limit": 1}]}]'
    )
    with pytest.raises(InputFileError, match=r"closed_qa.json:1: field 'Input_depdent_query'"):
        BENCHMARKS["cello"]().load(cello)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no \\*.json task files"):
        BENCHMARKS["cello"]().load(tmp_path / "empty")


def test_read_records_keeps_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    from raif_eval.benchmarks.base import read_records

    path = tmp_path / "data.jsonl"
    path.write_text(
        json.dumps({"a": "x\u2028y"}, ensure_ascii=False) + "\n" + json.dumps({"a": 2}) + "\n",
        encoding="utf-8",
    )
    assert read_records(path) == [(1, {"a": "x\u2028y"}), (2, {"a": 2})]
