"""A run of the endpoint recipe's quality control against two loopback stub servers, printing the
per-reason counts that docs/data.md shows. The stub's judge is scripted: each question is answered from
a hash of the judged text at the rates below (so the counts show the bookkeeping, not a model's taste).
Its sub-tasks, conditions and rewrites are scripted too, and its reader reads the texts the way the
pipeline lays them out (step lines, indented cases), with scripted misreadings.

    python benchmarks/quality_stub_run.py [--prompts 200] [--rows FILE]

``--rows FILE`` also writes the stage-2 records (prompt, ground truth, what the model wrote) as JSONL.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: share of texts the scripted judge says NO to, per question; "unscored" answers neither YES nor NO
NO_RATE = {"well_defined": 0.05, "consistent": 0.08, "relevant": 0.05, "task_done": 0.15, "language": 0.03,
           "no_leaked_reasoning": 0.10, "soft": 0.20}
UNSCORED_RATE = 0.01
#: share of round trips the scripted reader answers with garbage, reads with a constraint missing, or
#: (texts with a condition) reads with the other branch applying
READ_BACK = {"malformed": 0.05, "constraints": 0.10, "applies": 0.05}
#: share of decompositions answered with no JSON, or with one step too many
DECOMPOSE = {"malformed": 0.05, "step_count": 0.08}
#: share of condition requests answered with no JSON, or with a condition about the request's form
CONDITION = {"malformed": 0.05, "surface": 0.05}

SUBTASKS = {
    "en": ["List the main points the request calls for.", "Using those points, write the full answer.",
           "Using that answer, add a one-line summary of it."],
    "zh": ["列出这个请求需要涵盖的要点。", "根据上一步列出的要点写出完整的回答。", "根据上一步的回答写一句话总结。"],
}
#: content conditions the scripted model proposes, each with a keyword test standing for its judgement
CONTENT = {
    "en": [("the request above asks for a new piece of writing, such as a letter, a story, a speech or a post",
            "it does not ask for a new piece of writing", r"^(write|draft|compose|create)\b"),
           ("the request above asks for advice about the writer's own situation",
            "it does not ask for advice about the writer's own situation",
            r"\b(how (do|can|should) i|my (manager|boss|friend|landlord|team|partner)|advice|should i)\b"),
           ("the request above asks for a message to someone, such as a letter, an email or a note",
            "it does not ask for a message to someone", r"\b(letter|e-?mail|note|message|memo|invitation)\b"),
           ("the request above asks for an explanation of how or why something happens",
            "it does not ask for an explanation of how or why something happens", r"\b(explain|why|how (do|does|is|are))\b"),
           ("the request above asks for code or a technical artifact such as a function, a query or an interface",
            "it does not ask for code or a technical artifact", r"\b(function|code|script|query|sql|python|interface|regex)\b"),
           ("the request above asks for a summary or a classification of a given text",
            "it does not ask for a summary or a classification of a given text", r"\b(summari[sz]e|summary|sentiment|classify|extract)\b")],
    "zh": [("上面的请求要求创作一段新的文字，例如信件、故事、演讲或帖子", "上面的请求不要求创作新的文字",
            r"^(写|撰写|创作|起草|编写|为)"),
           ("上面的请求是在为提问者自己的处境寻求建议", "上面的请求不是在为提问者自己的处境寻求建议",
            r"我该|我应该|我想|怎么办|建议"),
           ("上面的请求要求写一段给某人的信息，例如信件、邮件或留言", "上面的请求不要求写给某人的信息",
            r"信件|一封信|邮件|留言|消息|通知|邀请"),
           ("上面的请求要求解释某件事为什么发生或如何发生", "上面的请求不要求解释某件事为什么发生或如何发生",
            r"为什么|如何|怎样|原理|解释"),
           ("上面的请求要求写代码或技术内容，例如函数或查询语句", "上面的请求不要求写代码或技术内容",
            r"代码|函数|SQL|Python|程序|脚本"),
           ("上面的请求要求总结、分类或提取一段给定的文字", "上面的请求不要求总结、分类或提取给定的文字",
            r"总结|概括|分类|提取|情感")],
}
#: what the scripted rewrite puts before the text, per style (the text itself is kept as it is)
LEADS = {"sentences": "Please: ", "list": "Here is what I need. ", "role": "You are helping an editor. ",
         "scaffold": "Kindly: "}
#: an answer with a title and no comma in every step, under either chain marker
ANSWER = "\n".join(f"Step {k}\n步骤{k}\n<<Title {k}>>\nPart {k} of the answer." for k in (1, 2, 3))
_STEP_LINE = re.compile(r"^- .*?(?:Step |步骤)(\d+)")
_WORDS_OVER = re.compile(r"(?:more than |超过)(\d+)")


def draw(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") / 2**64


def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].rsplit(end, 1)[0]


class Reader:
    """Reads an instruction the way the pipeline lays it out: a line with a chain label is that step,
    the first block of indented items is the if case and the second the else case, every other line
    is the whole answer; constraints are told apart by their words (a title's ``<<``, a comma)."""

    def __init__(self) -> None:
        self.conditions: dict[str, bool] = {}  # model-written condition -> whether it holds

    def read(self, text: str) -> dict:
        for lead in LEADS.values():
            text = text.removeprefix(lead)
        request, _, rest = text.partition("\n\n")
        zh = bool(re.search(r"[\u4e00-\u9fff]", request))
        reqs, steps, blocks, indented = [], set(), 0, False
        for line in rest.splitlines():
            step = _STEP_LINE.match(line)
            if line.startswith("  "):
                blocks += not indented
                indented = True
                scope = "if" if blocks == 1 else "else"
            else:
                indented = False
                scope = f"step {step.group(1)}" if step else "all"
            if step:
                steps.add(step.group(1))
            if "<<" in line:
                reqs.append({"id": "detectable_format:title", "kwargs": {}, "scope": scope})
            if "comma" in line.lower() or "逗号" in line or "“，”" in line:
                reqs.append({"id": "punctuation:no_comma", "kwargs": {"include_fullwidth": True} if zh else {},
                             "scope": scope})
        applies = "none"
        if blocks:
            applies = "if" if self.holds(request, rest, zh) else "else"
        return {"requirements": reqs, "applies": applies, "steps": len(steps)}

    def holds(self, request: str, rest: str, zh: bool) -> bool:
        for cond, value in self.conditions.items():
            if cond in rest:
                return value
        from raif_data.wording import request_size

        over = _WORDS_OVER.search(rest)
        if "digit" in rest or "阿拉伯数字" in rest:
            return bool(re.search(r"[0-9]", request))
        if "question mark" in rest or "问号" in rest:
            return request.rstrip().endswith(("?", "？"))
        return over is not None and request_size(request, "zh" if zh else "en") > int(over.group(1))


def main() -> None:
    from raif_data import pipeline
    from raif_data import recipe as recipe_mod
    from raif_data.enrich import REWRITE_PROMPTS
    from raif_data.judges import ANSWER_QUESTIONS, INSTRUCTION_QUESTIONS, JUDGE_SYSTEM
    from tests.openai_stub import OpenAIStub

    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--rows", type=Path, default=None)
    args = ap.parse_args()
    names = {q: n for n, q in {**INSTRUCTION_QUESTIONS, **ANSWER_QUESTIONS}.items()}
    style_of = {p.split("\n")[0]: s for s, p in REWRITE_PROMPTS.items()}
    reader = Reader()

    def condition(request: str, last: str) -> str:
        u = draw("condition" + request)
        if u < CONDITION["malformed"]:
            return "A good condition would be whether it asks for something."
        zh = "上面的请求" in last
        if u < CONDITION["malformed"] + CONDITION["surface"]:
            cond, neg = (("上面的请求含有阿拉伯数字", "上面的请求不含阿拉伯数字") if zh
                         else ("the request above contains a digit", "it contains no digit"))
            return json.dumps({"condition": cond, "negation": neg, "holds": bool(re.search(r"\d", request))})
        asked = "that is clearly true for this request" in last
        options = CONTENT["zh" if zh else "en"]
        start = int(u * 1000) % len(options)
        options = options[start:] + options[:start]
        judged = [(c, n, bool(re.search(k, request, re.IGNORECASE))) for c, n, k in options]
        # the first condition whose truth is the one asked; when none is, the model says so (holds differs)
        cond, neg, holds = next((j for j in judged if j[2] == asked), judged[0])
        reader.conditions[cond] = holds
        return json.dumps({"condition": cond, "negation": neg, "holds": holds})

    def model(request: dict) -> str | dict:
        msgs = request["messages"]
        last = msgs[-1]["content"]
        if msgs[0]["role"] == "system" and msgs[0]["content"] == JUDGE_SYSTEM:
            body, _, question = last.rpartition("\n\nQuestion: ")
            name = names.get(question.removesuffix("\nAnswer YES or NO."), "soft")
            u = draw(name + body)
            if u < UNSCORED_RATE:
                return "Maybe"
            p = 0.1 if u < UNSCORED_RATE + NO_RATE[name] else 0.9
            return {"content": "YES" if p > 0.5 else "NO", "top_logprobs": [{"YES": math.log(p), "NO": math.log(1 - p)}]}
        if "[Instruction]" in last:  # a round trip
            u = draw("roundtrip" + last)
            if u < READ_BACK["malformed"]:
                return "The instruction wants a title."
            reading = reader.read(between(last, "[Instruction]\n", "\n[End of instruction]"))
            if u < READ_BACK["malformed"] + READ_BACK["constraints"]:
                reading["requirements"] = reading["requirements"][1:]
            elif u < sum(READ_BACK.values()) and reading["applies"] != "none":
                reading["applies"] = {"if": "else", "else": "if"}[reading["applies"]]
            return json.dumps(reading, ensure_ascii=False)
        if msgs[-1]["role"] == "assistant":
            return "A direct answer."
        if last.startswith("Rewrite the following instruction"):
            return LEADS[style_of[last.split("\n")[0]]] + between(last, "---\n", "\n---")
        if "soft requirements" in last:
            return json.dumps({"constraints": ["Keep a friendly tone."], "questions": ["Is the tone friendly?"]})
        if last.startswith("Here is a user request") and "Break the request into exactly" in last:
            request = between(last, "---\n", "\n---")
            u = draw("decompose" + request)
            if u < DECOMPOSE["malformed"]:
                return "First list the points, then write the answer."
            n = int(re.search(r"exactly (\d+) sub-tasks", last).group(1))
            tasks = SUBTASKS["zh" if re.search(r"[\u4e00-\u9fff]", request) else "en"]
            extra = u < DECOMPOSE["malformed"] + DECOMPOSE["step_count"]
            return json.dumps({"steps": tasks[:n] + (["And one step more."] if extra else [])}, ensure_ascii=False)
        if last.startswith("Here is a user request") and "Write one condition about the content" in last:
            return condition(between(last, "---\n", "\n---"), last)
        return {"content": ANSWER, "reasoning_content": "some thought"}

    with OpenAIStub(model) as a, OpenAIStub(model) as b, tempfile.TemporaryDirectory() as tmp:
        r = recipe_mod.load(ROOT / "pipelines" / "data_endpoint.yaml")
        r = recipe_mod.override(r, {
            "output_dir": str(Path(tmp) / "out"), "num_prompts": args.prompts, "math.ratio": 0.0,
            "llm.base_url": [a.base_url, b.base_url], "llm.model": "stub", "llm.workers": 1,
            "instruct.include_ids": ["detectable_format:title", "punctuation:no_comma"],
            "instruct.compositions": {"and": 0.4, "chain": 0.3, "selection": 0.3},
            "instruct.max_constraints": 2, "instruct.min_constraints": 1,
            "respond.samples": 4, "respond.direct_samples": 1, "output.validation_fraction": 0.0,
        })
        m = pipeline.evolve(r)
        out = {"counts": m["counts"], "quality": m["quality"],
               "requests_per_endpoint": [a.request_count, b.request_count]}
        if args.rows is not None:
            chunks = sorted((Path(tmp) / "out" / "stages" / "instruct").glob("chunk-*.jsonl"))
            args.rows.write_text("".join(c.read_text(encoding="utf-8") for c in chunks), encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
