"""How constraint texts are woven into a request: layouts (a sentence, a list, a role or scenario framing),
chain and selection framings, step-scoped wording, and request conditions counted exactly.

Every choice takes the caller's ``random.Random``; the texts are written for this project.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence

from raif_rewards.text import CJK_WORD_RE

# ------------------------------------------------------------------------------------- step wording

# A requirement inside a chain step is checked on that step's section only, so it must say so; the
# phrasings speak of "your response", and these rewrites (longest first) turn that into the step.
_STEP_EN = (
    ("In your entire response", "In this entire step"), ("in your entire response", "in this entire step"),
    ("Your entire response", "This entire step"), ("your entire response", "this entire step"),
    ("Your whole answer", "This whole step"), ("your whole answer", "this whole step"),
    ("Your whole response", "This whole step"), ("your whole response", "this whole step"),
    ("Your response", "This step"), ("your response", "this step"),
    ("Your answer", "This step"), ("your answer", "this step"),
    ("Your reply", "This step"), ("your reply", "this step"),
    ("The response", "This step"), ("the response", "this step"),
    ("The answer", "This step"), ("the answer", "this step"),
    ("Answer with", "Write this step with"), ("Respond with", "Write this step with"),
)
_STEP_ZH = (
    ("整个回答", "整个步骤"), ("你的回答", "该步骤"), ("作答", "完成该步骤"), ("回答", "该步骤"),
)
STEP_LEAKS = {"en": re.compile(r"\b(response|answer|reply|respond)\b", re.IGNORECASE), "zh": re.compile("回答|作答")}


def step_text(text: str, lang: str) -> str:
    """``text`` worded for one chain step instead of the whole response."""
    for old, new in _STEP_ZH if lang == "zh" else _STEP_EN:
        text = text.replace(old, new)
    return text


# -------------------------------------------------------------------------------------- layouts

_HEADS = {
    "en": (
        "Requirements:", "Please follow these rules:", "Constraints for your reply:", "A few conditions apply:",
        "Make sure the reply meets all of the following:", "Rules to respect:", "Keep to these points:",
        "Your reply is checked against this list:", "Some requirements for the answer:",
        "Check these boxes before you finish:", "House rules for this one:", "Ground rules:",
    ),
    "zh": (
        "要求：", "请遵守以下规则：", "回复须满足以下条件：", "请注意以下几点：", "以下规则都要遵守：", "写作要求如下：",
        "请逐条满足下列要求：", "回答会按以下清单检查：", "对回答的几点要求：", "完成前请核对以下各项：",
        "本题的格式规定：", "基本规则：",
    ),
}
_LEADS = {
    "en": ("", "Also, keep this in mind: ", "One more thing: ", "While answering, note the following. ",
           "Please note: ", "A few ground rules. ", "Important: ", "To be accepted, the reply has to follow this. ",
           "Mind the format: "),
    "zh": ("", "另外请注意：", "作答时请注意：", "还有几点要求：", "请留意：", "补充说明：", "重要提示：",
           "要被采纳，回答必须做到：", "格式上请注意："),
}
_SCENES = {
    "en": (
        "Picture this reply going to an editor who checks it line by line. The editor's rules:",
        "You are answering on behalf of a team with a strict house style, which requires the following:",
        "Imagine a grader who only accepts answers that meet every rule below.",
        "This will be published exactly as you write it, so it has to respect these conditions:",
        "Think of this as a client brief with a few non-negotiable conditions:",
        "A colleague asked for this and attached a note with their conditions:",
        "You are a careful assistant whose replies are reviewed against a checklist; this one's checklist:",
        "The person asking is going to paste your reply into a tool that rejects anything off-spec. The spec:",
        "Treat this like an exam question where marks are only given if the answer obeys these instructions:",
        "You are drafting this for a demanding manager who has stated exactly how it should look:",
        "A teacher set this as an exercise in following instructions; the instructions are:",
    ),
    "zh": (
        "假设这份回答要交给一位逐行审稿的编辑，编辑的规定是：",
        "你代表一个有严格写作规范的团队作答，规范要求：",
        "设想有一位评审，只接受满足下面每一条规则的回答。",
        "这段内容会原样发布，因此必须遵守以下条件：",
        "把这当作客户的委托，客户提出了几条不可商量的条件：",
        "一位同事提出了这个请求，并附上了他的要求：",
        "你是一名细心的助手，回答会按清单审核；本次的清单是：",
        "提问的人会把你的回答粘贴进一个只接受合规格式的系统，规格如下：",
        "把它当作一道考试题：只有遵守下列指令的回答才能得分。",
        "你在为一位要求很高的经理起草这份内容，他明确说明了应当怎样写：",
        "老师把这道题当作“按要求作答”的练习，要求是：",
    ),
}


def _join(texts: Sequence[str], lang: str) -> str:
    # multi-line renderings (examples of bullets or sections) read best one per line
    if len(texts) > 1 and any("\n" in t for t in texts):
        return "\n".join(texts)
    return ("" if lang == "zh" else " ").join(texts)


def _items(texts: Sequence[str], numbered: bool, indent: str = "") -> str:
    marks = [f"{i}." for i in range(1, len(texts) + 1)] if numbered else ["-"] * len(texts)
    return "\n".join(f"{indent}{m} " + t.replace("\n", "\n" + indent + "  ") for m, t in zip(marks, texts, strict=True))


def layout(rng: random.Random, texts: Sequence[str], lang: str) -> str:
    """Constraint texts of a plain "and", woven in one of several styles."""
    lang = "zh" if lang == "zh" else "en"
    style = rng.randrange(5)
    if style == 0 or (len(texts) == 1 and style < 3):
        return rng.choice(_LEADS[lang]) + _join(texts, lang)
    if style in (1, 2):
        return rng.choice(_HEADS[lang]) + "\n" + _items(texts, numbered=style == 2)
    scene = rng.choice(_SCENES[lang])
    if style == 3:
        return scene + "\n" + _items(texts, numbered=rng.random() < 0.5)
    return scene + ("" if lang == "zh" else " ") + _join(texts, lang)


# --------------------------------------------------------------------------------------- chains

_CHAIN_HEADS = {
    "en": (
        "Answer in {n} steps, each beginning on its own line with {names} in order. Each requirement below "
        "applies only to its step:",
        "Split your answer into {n} parts. Start each part on a new line with its label ({names}, in that order); "
        "the rules listed for a step apply to that step's text only:",
        "Work through this in {n} steps. Put each label ({names}) at the start of its own line, in order, and "
        "follow each step's rules within that step alone:",
        "Structure the reply as {n} labelled steps, beginning a new line with {names} in turn. Below is what each "
        "step must satisfy; a rule for one step does not apply to the others:",
        "Please answer step by step in {n} steps, each opened on its own line by {names} respectively. The "
        "requirements are per step:",
        "Go through {n} stages. Each stage starts on a fresh line with its name ({names}, in this order), and "
        "each stage has its own rules below, which do not carry over to the other stages:",
        "Answer in {n} numbered steps; write {names} at the beginning of the line where each step starts. Below, "
        "each step's requirements concern that step alone:",
    ),
    "zh": (
        "请分{n}个步骤作答，每个步骤单独起一行，依次以{names}开头；以下要求只适用于对应的步骤：",
        "请把回答分成{n}步，每一步另起一行，并按顺序以{names}作为开头；每条要求只约束它所属的那一步：",
        "请按{n}个步骤组织内容，各步骤依次以{names}开头、各占一行。下列规则按步骤分别适用，互不影响：",
        "回答须包含{n}个步骤，每步在新的一行以{names}起头（按此顺序）。每一步只需满足为它列出的要求：",
        "请一步一步地回答，共{n}步，每步单独成行并依次标为{names}；以下是各步骤各自的要求：",
        "请按{n}个阶段作答，每个阶段在新的一行开头写上它的名称（依次为{names}）；下面每个阶段的规则只对该阶段有效：",
        "回答由{n}个带编号的步骤组成，每个步骤开始的那一行以{names}开头。以下每条要求只针对所在的步骤：",
    ),
}
_STEP_LINES = {
    "en": ("- In {m} {i}: ", "- {m} {i}: ", "- Within {m} {i}: ", "- For {m} {i}: ", "- {m} {i} only: ",
           "- Rules for {m} {i}: "),
    "zh": ("- {m}{i}：", "- 在{m}{i}中：", "- {m}{i}的要求：", "- 对于{m}{i}：", "- 仅限{m}{i}：", "- {m}{i}须做到："),
}


# Heads and step lines of a chain whose steps are sub-tasks (written by a model, raif_data/structure.py):
# each line states the step's task first and its requirements after it.
_TASK_CHAIN_HEADS = {
    "en": (
        "Answer in {n} steps, each beginning on its own line with {names} in order. Each step below names its "
        "task, which builds on the step before it, and then the rules that apply to that step only:",
        "Work through this in {n} steps. Put each label ({names}) at the start of its own line, in order. Every "
        "step has its own task, which uses what the previous step produced, followed by rules for that step alone:",
        "Split your answer into {n} parts, each starting on a new line with its label ({names}, in that order). "
        "Each part does the task given for it, building on the part before, and follows the rules listed with "
        "it, which apply to that part only:",
    ),
    "zh": (
        "请分{n}个步骤作答，每个步骤单独起一行，依次以{names}开头。下面每一步先给出该步的任务（它要用到上一步的结果），"
        "再给出只适用于该步骤的要求：",
        "请按{n}个步骤完成，每步另起一行并按顺序以{names}开头；每一步都在上一步结果的基础上完成给出的任务，"
        "并满足随后列出的、只对该步有效的要求：",
        "回答须包含{n}个步骤，每步在新的一行以{names}起头（按此顺序）。下面每一步先写任务（基于上一步的输出），"
        "后写该步骤自己的要求：",
    ),
}
_TASK_LINES = {"en": ("- {m} {i}: ", "- For {m} {i}: "), "zh": ("- {m}{i}：", "- 对于{m}{i}：")}


def chain_text(rng: random.Random, marker: str, bodies: Sequence[str], lang: str,
               tasks: Sequence[str] | None = None) -> str:
    """The framing of a chain: how to label the steps, then one line of requirements per step (after
    the step's sub-task, when ``tasks`` gives one per step)."""
    lang = "zh" if lang == "zh" else "en"
    n = len(bodies)
    if lang == "zh":
        names = "".join(f"“{marker}{i}”" for i in range(1, n + 1))
    else:
        names = ", ".join(f'"{marker} {i}"' for i in range(1, n + 1))
    if tasks is not None:
        if len(tasks) != n:
            raise ValueError(f"{len(tasks)} sub-tasks for {n} steps")
        sep = "" if lang == "zh" else " "
        bodies = [f"{t}{sep}{b}" for t, b in zip(tasks, bodies, strict=True)]
    head = rng.choice((_CHAIN_HEADS if tasks is None else _TASK_CHAIN_HEADS)[lang]).format(n=n, names=names)
    line = rng.choice((_STEP_LINES if tasks is None else _TASK_LINES)[lang])
    return head + "\n" + "\n".join(line.format(m=marker, i=i) + b for i, b in enumerate(bodies, 1))


# ----------------------------------------------------------------------------------- selections

_SELECTION = {
    "en": (
        ("Which rules apply depends on the request above.\nIf {cond}, follow only these rules:",
         "Otherwise ({neg}), follow only these rules instead:"),
        ("Exactly one of the two rule sets below applies.\nRule set A, only if {cond}:",
         "Rule set B, only if {neg}:"),
        ("Check the request above first.\nCase 1 - {cond}. Then, and only then:",
         "Case 2 - {neg}. Then, and only then:"),
        ("The rules depend on a condition.\nWhen {cond}:", "When instead {neg}:"),
        ("Look at the request above and pick the matching case; follow that case's rules and ignore the other's."
         "\nCase: {cond}.", "Case: {neg}."),
        ("Two alternatives follow; only the one whose condition holds applies.\nAlternative 1 (if {cond}):",
         "Alternative 2 (if {neg}):"),
    ),
    "zh": (
        ("适用哪组规则取决于上面的请求。\n如果{cond}，只需遵守以下规则：", "否则（{neg}），改为只遵守以下规则："),
        ("下面两组规则中恰好有一组适用。\nA 组，仅当{cond}时适用：", "B 组，仅当{neg}时适用："),
        ("请先看上面的请求。\n情况一：{cond}。此时且仅在此时：", "情况二：{neg}。此时且仅在此时："),
        ("规则取决于一个条件。\n当{cond}时：", "当{neg}时："),
        ("请对照上面的请求选出符合的情况，只遵守该情况下的规则，忽略另一种。\n情况：{cond}。", "情况：{neg}。"),
        ("下面有两个备选方案，只有条件成立的那一个适用。\n方案一，若{cond}：", "方案二，若{neg}："),
        ("两套要求按请求本身的情况二选一，另一套不用管。\n第一套，{cond}时使用：", "第二套，{neg}时使用："),
        ("规则分两种情况，请先判断上面的请求属于哪一种，只照那一种的规则写。\n若{cond}：", "若{neg}："),
        ("先核对一个条件：{cond}。\n条件成立时，照这几条写：", "条件不成立（{neg}）时，照这几条写："),
    ),
}
_GLOBAL_LEADS = {
    "en": ("In addition, whichever case applies, the whole answer must also follow this: ",
           "Regardless of the condition above, for the whole answer: ",
           "For the whole answer, in every case: "),
    "zh": ("此外，无论哪种情况，整个回答还需满足：", "不论上面的条件如何，整个回答都要：", "在任何情况下，整个回答都应："),
}
_AFTER_CHAIN = {
    "en": ("In addition, for the whole answer (all steps together): ", "Across the whole answer, not just one step: ",
           "For the answer as a whole: "),
    "zh": ("此外，整个回答（所有步骤合起来）还需满足：", "对整个回答而言（不限于某一步）：", "就整个回答来说："),
}


def selection_text(rng: random.Random, cond: str, neg: str, branches: Sequence[Sequence[str]], lang: str) -> str:
    """An if/else whose conditional lines are the indented items under each case."""
    lang = "zh" if lang == "zh" else "en"
    first, second = rng.choice(_SELECTION[lang])
    numbered = rng.random() < 0.5
    return "\n".join((first.format(cond=cond), _items(branches[0], numbered, "  "),
                      second.format(neg=neg), _items(branches[1], numbered, "  ")))


def global_lead(rng: random.Random, inner: str, lang: str) -> str:
    """The lead of whole-answer rules that follow a chain or a selection."""
    lang = "zh" if lang == "zh" else "en"
    return rng.choice((_AFTER_CHAIN if inner == "chain" else _GLOBAL_LEADS)[lang])


# ----------------------------------------------------------------------------------- conditions

_DIGIT = re.compile(r"[0-9]")


def request_size(prompt: str, lang: str) -> int:
    """The request's length as a condition states it: English words are runs between spaces; in
    Chinese every CJK character and every run of other word characters counts once, punctuation
    and spaces not at all (the same count as the Chinese word-count constraint)."""
    return len(CJK_WORD_RE.findall(prompt)) if lang == "zh" else len(prompt.split())


def far_threshold(rng: random.Random, count: int, others: Sequence[int] = ()) -> int:
    """A threshold at least 10% away from ``count`` (at least 1), on the same side of every count in
    ``others`` (the request counted another plausible way) and 10% away from those too."""
    counts = (count, *others)
    for _ in range(16):
        factor = rng.uniform(1.2, 1.6) if (rng.random() < 0.5 or count < 3) else rng.uniform(0.5, 0.8)
        threshold = max(1, round(count * factor))
        if all(abs(c - threshold) > 0.1 * threshold for c in counts) and \
                len({c > threshold for c in counts}) == 1:
            return threshold
    return max(2, math.ceil(max(counts) * 1.5) + 1)


_PLAIN_WORD = re.compile(r"\w+")


# Chinese conditions in several wordings (each selection row states one twice, as condition and
# negation, so a single wording repeats across rows). Every length wording says "超过N个字" and how
# characters are counted (punctuation never, as request_size counts); the negations name the request
# again rather than "它", which would be read after a list of rules, and none nests brackets (the
# framings put conditions in brackets).
_ZH_LENGTH = (
    ("上面的请求超过{n}个字{unit}", "上面的请求不超过{n}个字"),
    ("这条请求的长度超过{n}个字{unit}", "这条请求的长度不超过{n}个字"),
    ("请求原文超过{n}个字{unit}", "请求原文只有{n}个字或更少"),
    ("上面这段请求按字数算超过{n}个字{unit}", "这段请求按同样的算法不超过{n}个字"),
)
_ZH_UNITS = (
    "（每个汉字、每个英文单词或数字各算一个字，标点和空格不计）",
    "（一个汉字算一个字，一串连续的字母或数字也算一个字，标点和空格不算）",
    "（标点、空格不计；汉字逐个计数，英文单词和数字每个记作一个字）",
)
_ZH_DIGIT = (
    ("上面的请求中含有阿拉伯数字", "上面的请求中没有阿拉伯数字"),
    ("这条请求里出现了0到9的阿拉伯数字", "这条请求里一个阿拉伯数字也没有"),
    ("请求原文写有0-9中任意一个阿拉伯数字", "请求原文没有写任何阿拉伯数字0-9"),
)
_ZH_QUESTION = (
    ("上面的请求以问号结尾", "上面的请求不以问号结尾"),
    ("这条请求的最后一个字符是问号", "这条请求的最后一个字符不是问号"),
    ("请求原文的末尾是问号“？”或“?”", "请求原文的末尾没有问号"),
)


def condition(rng: random.Random, prompt: str, lang: str) -> tuple[str, str, int]:
    """A condition about the request that the data decides now: (text, its negation, active branch)."""
    kind = rng.randrange(3)
    zh = lang == "zh"
    if kind == 0:
        count = request_size(prompt, lang)
        # a reader who counts punctuation (Chinese) or only letter runs (English) reaches the same branch
        other = len(prompt.replace(" ", "").replace("\n", "")) if zh else len(_PLAIN_WORD.findall(prompt))
        n = far_threshold(rng, count, (other,))
        if zh:
            cond, negation = rng.choice(_ZH_LENGTH)
            text, neg = cond.format(n=n, unit=rng.choice(_ZH_UNITS)), negation.format(n=n)
        else:
            text, neg = (f"the request above has more than {n} words (counting runs of characters between spaces)",
                         f"it has {n} words or fewer")
        return text, neg, 0 if count > n else 1
    if kind == 1:
        text, neg = (rng.choice(_ZH_DIGIT) if zh
                     else ("the request above contains a digit (0-9)", "it contains no digit"))
        return text, neg, 0 if _DIGIT.search(prompt) else 1
    text, neg = (rng.choice(_ZH_QUESTION) if zh
                 else ("the request above ends with a question mark", "it does not end with a question mark"))
    return text, neg, 0 if prompt.rstrip().endswith(("?", "？")) else 1
