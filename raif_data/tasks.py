"""What a seed request asks for: its task type (from the seed file, else an offline heuristic) and the
request kinds read off its text, plus the request's own content words and topic words for keywords.

The heuristic (documented in docs/data.md) looks at the request's first words and a few cue words, in
English and Chinese, in this order: code, math, yes/no question, classification, extraction,
summarization, rewriting, creative writing, brainstorming, planning, advice, explanation, writing,
open question; anything else is "general". With an endpoint, the model's label replaces it
(:func:`model_task_type`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from raif_rewards.registry import TASK_KINDS, Request

#: task-type names found in seed files, mapped onto the registry's kinds
ALIASES = {
    "coding": "code", "programming": "code", "qa": "open_qa", "question": "open_qa", "open-qa": "open_qa",
    "open qa": "open_qa", "creative_writing": "creative", "creative writing": "creative", "story": "creative",
    "poem": "creative", "summary": "summarization", "summarize": "summarization", "rewrite": "rewriting",
    "editing": "rewriting", "translation": "rewriting", "classify": "classification", "yes/no": "yes_no",
    "yesno": "yes_no", "boolean": "yes_no", "role-play": "roleplay", "role_play": "roleplay",
    "brainstorm": "brainstorming", "plan": "planning", "explain": "explanation", "information_extraction":
    "extraction", "closed_qa": "extraction", "general_qa": "open_qa",
}


def canonical(task_type: str) -> str:
    """The registry kind for a seed file's task type ("coding" -> "code"); unknown names -> "general"."""
    name = task_type.strip().lower()
    name = ALIASES.get(name, name)
    return name if name in TASK_KINDS else "general"


_EN_RULES: tuple[tuple[str, re.Pattern], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("code", r"\b(code|function|python|javascript|java|sql|regex|script|program|class|bug|compile|api|"
                 r"algorithm|implement)\b"),
        ("math", r"\b(calculate|compute|solve|equation|integral|probability|how many|how much)\b|\d+\s*[-+*/^]\s*\d+"),
        ("classification", r"\b(classify|categori[sz]e|label|which category|sentiment|is it positive)\b"),
        ("extraction", r"\b(extract|list all|pull out|find all|identify the)\b"),
        ("summarization", r"\b(summari[sz]e|summary|tl;?dr|condense)\b"),
        ("rewriting", r"\b(rewrite|rephrase|paraphrase|translate|proofread|edit|make (it|this) more)\b"),
        ("creative", r"\b(poem|story|haiku|limerick|song|lyrics|fiction|fairy tale|riddle|sonnet)\b"),
        ("brainstorming", r"\b(ideas|brainstorm|suggest (some|a few)|names for)\b"),
        ("planning", r"\b(plan|itinerary|schedule|roadmap|timeline|checklist)\b"),
        ("roleplay", r"\b(pretend|act as|you are a|role[- ]?play)\b"),
        ("advice", r"\b(should i|how can i|how do i|tips|advice|recommend)\b"),
        ("explanation", r"\b(explain|why|what is|what are|how does|describe)\b"),
        ("writing", r"\b(write|draft|compose|email|letter|essay|article|speech|post|description)\b"),
    )
)
# a one-sentence question opened by an auxiliary verb, without "or" (is it A or B? is a choice)
_EN_YES_NO = re.compile(r"^(is|are|was|were|do|does|did|can|could|should|would|will|has|have|had)\b"
                        r"(?![^?]*\bor\b)[^?]*\?\s*$", re.IGNORECASE)
_ZH_RULES: tuple[tuple[str, re.Pattern], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("code", r"代码|函数|编程|程序|Python|SQL|正则|脚本|算法|实现一个"),
        ("math", r"计算|求解|方程|概率|多少个|等于多少"),
        ("classification", r"分类|归类|判断.*属于|情感倾向"),
        ("extraction", r"提取|抽取|找出所有|列出.*中的"),
        ("summarization", r"总结|概括|摘要"),
        ("rewriting", r"改写|润色|翻译|改成|重写"),
        ("creative", r"诗|故事|小说|歌词|童话|对联"),
        ("brainstorming", r"点子|想法|创意|起名|取名"),
        ("planning", r"计划|行程|日程|安排|规划"),
        ("roleplay", r"假设你是|扮演|你是一名|你是一位"),
        ("advice", r"建议|怎样才能|如何才能|我应该|怎么办"),
        ("explanation", r"解释|为什么|什么是|原理|介绍"),
        ("writing", r"写一|撰写|起草|邮件|信|文章|演讲"),
    )
)
# a yes/no question: ends in 吗 or asks 是否/是不是/..., and asks no wh-question (如何判断……是否可靠 is not one)
_ZH_YES_NO = re.compile(r"^(?!.*(如何|怎么|怎样|为什么|什么|哪|多少|几|谁|还是))"
                        r"(.*[吗么][？?]?\s*$|.*(是否|是不是|能不能|可不可以|有没有|会不会|对不对))")


def classify(prompt: str, lang: str = "en") -> str:
    """The offline task-type heuristic: the first matching rule of the module docstring's order."""
    text = prompt.strip()
    if lang == "zh" or re.search(r"[\u4e00-\u9fff]", text):
        rules, yes_no = _ZH_RULES, _ZH_YES_NO
    else:
        rules, yes_no = _EN_RULES, _EN_YES_NO
    head = text[:300]
    for kind, pattern in rules[:2]:  # code and math outrank the question form
        if pattern.search(head):
            return kind
    if yes_no.search(text) and "\n" not in text:
        return "yes_no"
    for kind, pattern in rules[2:]:
        if pattern.search(head):
            return kind
    if text.endswith(("?", "？")):
        return "open_qa"
    return "general"


_KINDS: dict[str, frozenset[str]] = {}
# the "code" rules of classify(), case-sensitive on lower-cased text (several times faster than IGNORECASE)
_CODE = {zh: re.compile(rules[0][1].pattern.lower()) for zh, rules in ((False, _EN_RULES), (True, _ZH_RULES))}
# plain substrings one of which every match of _CODE contains: most requests are ruled out without the regex
_CODE_WORDS = {False: ("code", "function", "python", "java", "sql", "regex", "script", "program", "class", "bug",
                       "compile", "api", "algorithm", "implement"),
               True: ("代码", "函数", "编程", "程序", "python", "sql", "正则", "脚本", "算法", "实现一个")}


@lru_cache(maxsize=16384)  # a seed is usually drawn several times
def request_kinds(prompt: str, lang: str, task_type: str) -> frozenset[str]:
    """The seed's kind plus what its text shows (a yes/no question, code), for checker fit.

    Only the two text rules that change which checkers fit run here (once per request, so cheap)."""
    kind = _KINDS.get(task_type)
    if kind is None:
        kind = _KINDS.setdefault(task_type, frozenset((canonical(task_type),)))
    zh = lang == "zh"
    extra = []
    head = prompt[:300].lower()
    if "```" in prompt or (any(w in head for w in _CODE_WORDS[zh]) and _CODE[zh].search(head)):
        extra.append("code")
    if "\n" not in prompt and (_ZH_YES_NO.search(prompt) if zh else _EN_YES_NO.match(prompt)):
        extra.append("yes_no")
    return kind.union(extra) if extra else kind


# ----------------------------------------------------------------------------- content and topic words

_EN_STOP = frozenset(
    "about above after again against also among another answer around because before being below between "
    "both brief could does doing down during each explain describe draft write compose create give make "
    "provide tell list please short long from further have having here into just more most much need "
    "only other over same should some such than that their them then there these they this those "
    "through under until very what when where which while with would your yours something someone "
    "every many like want help include including using used based ways good best following text "
    "sentence paragraph words following whether simple detailed quick three four five summarize summarise "
    "label classify extract rewrite rephrase translate identify suggest "
    # auxiliaries, adverbs and connectives that say nothing of the topic ("been" once, "been" twice)
    "been were will shall might must cannot even ever enough least less none nobody well able despite always "
    "never often usually exactly mostly fully entirely barely almost quite rather still already whose within "
    "without across along upon onto toward towards since though although unless else gotta "
    # the request's framing verbs ("show how to ...": "show" is no topic to open the answer with)
    "show create generate produce imagine pretend".split()
)
_EN_WORD = re.compile(r"[A-Za-z][a-z]{3,}")
#: single characters that end or join Chinese content words (particles, pronouns, common verbs)
_ZH_BREAK = re.compile(
    "[^\u4e00-\u9fff]+|[这那一每][条张本件位只种次段篇份首封个款家部台辆套项]|的|地|得|了|着|在|和|与|及|或|是|我|你|他|她|它|们|请|吗|呢|吧|把|被|给|对|从|向|为|"
    "以|更|很|太|也|都|就|还|而|关于|每|否|到|已|您|按|出|应该|多少|举|一个|一封|一篇|一份|一段|一首|一些|这|那|些|什么|怎样|如何|怎么|哪|写|用|要|"
    "能|会|让|并|其|有|个|篇|封|份|首|段|下|上|中|里|时|后|前|最|做|说|到|过|来|去"
)


@lru_cache(maxsize=65536)
def content_words(prompt: str, lang: str) -> tuple[str, ...]:
    """Distinct content words of the request, in order of appearance (each occurs in the request).

    English: alphabetic words of 4+ letters that are not function words, lower-cased. Chinese: the
    runs between particles, pronouns and common verbs, 2 to 4 characters long (longer runs give
    their first and last two characters), so each one is a substring of the request.
    """
    out: list[str] = []
    if lang == "zh":
        for run in _ZH_BREAK.split(prompt):
            pieces = [run] if 2 <= len(run) <= 4 else ([run[:2], run[-2:]] if len(run) > 4 else [])
            out.extend(pieces)
    else:
        for word in _EN_WORD.findall(prompt):
            w = word.lower()
            if w not in _EN_STOP:
                out.append(w)
    return tuple(dict.fromkeys(out))


#: words an answer of each kind of task often uses, in both languages (written for this project):
#: forbidding or limiting them is a constraint about the task, not about an unrelated list
TOPIC_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "advice": ("important", "consider", "remember", "simply", "really", "always", "never", "honestly"),
        "analysis": ("however", "therefore", "factor", "impact", "significant", "overall", "trend", "because"),
        "brainstorming": ("idea", "unique", "creative", "innovative", "option", "perhaps", "theme", "fun"),
        "classification": ("category", "label", "likely", "clearly", "type", "belongs", "class", "example"),
        "code": ("simply", "basically", "easy", "obviously", "just", "magic", "hack", "trivial"),
        "creative": ("suddenly", "very", "beautiful", "heart", "dream", "light", "night", "love"),
        "explanation": ("basically", "simply", "essentially", "actually", "obviously", "complex", "process", "because"),
        "extraction": ("item", "found", "mentioned", "listed", "following", "entry", "value", "record"),
        "general": ("really", "very", "thing", "important", "actually", "basically", "great", "stuff"),
        "math": ("obviously", "clearly", "trivially", "simply", "easy", "guess", "roughly", "about"),
        "open_qa": ("actually", "basically", "generally", "really", "definitely", "common", "thing", "often"),
        "planning": ("schedule", "deadline", "goal", "step", "priority", "busy", "flexible", "first"),
        "reasoning": ("obviously", "clearly", "therefore", "assume", "guess", "because", "thus", "hence"),
        "rewriting": ("very", "really", "original", "version", "sentence", "change", "better", "improved"),
        "roleplay": ("character", "pretend", "role", "actually", "honestly", "really", "friend", "indeed"),
        "summarization": ("summary", "overall", "basically", "mainly", "article", "text", "briefly", "key"),
        "writing": ("passionate", "excited", "dear", "sincerely", "opportunity", "thrilled", "amazing", "truly"),
        "yes_no": ("maybe", "probably", "depends", "definitely", "certainly", "absolutely", "perhaps", "possibly"),
    },
    "zh": {
        "advice": ("重要", "建议", "一定", "其实", "注意", "尽量", "坚持", "方法"),
        "analysis": ("因此", "然而", "影响", "因素", "总体", "趋势", "显著", "原因"),
        "brainstorming": ("创意", "独特", "新颖", "主题", "有趣", "方案", "灵感", "点子"),
        "classification": ("类别", "标签", "属于", "明显", "类型", "可能", "判断", "例子"),
        "code": ("简单", "其实", "显然", "容易", "直接", "技巧", "基本", "注意"),
        "creative": ("突然", "美丽", "心中", "梦想", "夜晚", "光芒", "温柔", "仿佛"),
        "explanation": ("其实", "简单", "本质", "过程", "原因", "复杂", "显然", "基本"),
        "extraction": ("条目", "提到", "列出", "以下", "内容", "信息", "数值", "记录"),
        "general": ("非常", "其实", "重要", "东西", "很多", "基本", "比较", "一定"),
        "math": ("显然", "简单", "大约", "容易", "估计", "直接", "明显", "答案"),
        "open_qa": ("其实", "一般", "通常", "确实", "常见", "很多", "基本", "主要"),
        "planning": ("安排", "目标", "步骤", "优先", "时间", "灵活", "首先", "计划"),
        "reasoning": ("显然", "因此", "假设", "所以", "推断", "明显", "原因", "结论"),
        "rewriting": ("原文", "版本", "修改", "句子", "更好", "改进", "表达", "非常"),
        "roleplay": ("角色", "假装", "朋友", "其实", "真的", "确实", "身份", "扮演"),
        "summarization": ("总结", "总体", "主要", "文章", "要点", "简要", "概括", "核心"),
        "writing": ("热情", "荣幸", "感谢", "机会", "真诚", "期待", "非常", "衷心"),
        "yes_no": ("也许", "可能", "取决", "肯定", "当然", "绝对", "或许", "大概"),
    },
}


@lru_cache(maxsize=4096)
def topic_words(task_type: str, lang: str, prompt: str) -> tuple[str, ...]:
    """Topic words of the task's kind that do not occur in the request (safe to forbid: a request
    that a prompt-repeating constraint copies never contains them)."""
    table = TOPIC_WORDS["zh" if lang == "zh" else "en"]
    words = table.get(canonical(task_type), table["general"])
    low = prompt.lower()
    return tuple(w for w in words if w not in low)


#: end phrases that name the request's topic (``{w}``: one of its content words)
END_PHRASES = {
    "en": ("That is all about {w}.", "Those are my thoughts on {w}.", "I hope this helps with {w}.",
           "Let me know if you want more on {w}.", "That sums up {w}."),
    "zh": ("以上就是关于{w}的全部内容。", "关于{w}就说到这里。", "希望这些关于{w}的内容对你有帮助。"),
}


#: sayings to repeat with one word changed (``copy:repeat_phrase``), naming the request's topic (``{w}``):
#: first and last words differ and occur once, and ``{w}`` is not the middle word (the one that changes)
SAYINGS = {
    "en": ("Good thinking about {w} takes patience and care", "Small steps make {w} easier every single day",
           "Every detail of {w} tells a quiet story", "Clear ideas about {w} grow from honest questions",
           "Learning more about {w} opens doors to new places"),
}


def _nested(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return a in b or b in a


def pick(rng, words: Sequence[str], k: int, used: set[str]) -> list[str]:
    """Up to ``k`` distinct words drawn with ``rng``, none inside or around another or a word this
    instruction used already (counted keywords "leak" once and "leaking" twice could never both hold)."""
    left = [w for w in words if not any(_nested(w, u) for u in used)] if used else list(words)
    chosen: list[str] = []
    for w in rng.sample(left, len(left)):
        if len(chosen) == k:
            break
        if not any(_nested(w, c) for c in chosen):
            chosen.append(w)
    used.update(chosen)
    return chosen


# ------------------------------------------------------------------------------------ model labels

LABEL_PROMPT = (
    "What kind of task is the following user request? Reply with exactly one label from this list and "
    "nothing else: {labels}.\n\n---\n{prompt}\n---"
)


def parse_label(text: str) -> str | None:
    """The task kind named by a model's reply (its first word, aliases allowed), or None."""
    words = re.findall(r"[a-z_/\-]+", text.strip().lower())
    if not words:
        return None
    name = ALIASES.get(words[0], words[0])
    return name if name in TASK_KINDS else None


def model_labeler(client, *, max_tokens: int = 8):
    """A labeler for :func:`raif_data.seeds.select` asking ``client`` (temperature 0, cached) for the
    task kind of each prompt; failed requests and unknown labels give None (the heuristic decides)."""
    from raif_data.llm import run_sync

    labels = ", ".join(TASK_KINDS)

    async def ask(prompts: list[str]) -> list:
        try:
            jobs = [([{"role": "user", "content": LABEL_PROMPT.format(labels=labels, prompt=p)}],
                     {"temperature": 0.0, "max_tokens": max_tokens}) for p in prompts]
            return await client.chat_many(jobs)
        finally:
            await client.aclose()

    def label(prompts: list[str]) -> list[str | None]:
        results = run_sync(ask(prompts))
        return [None if isinstance(r, Exception) else parse_label(r.text or "") for r in results]

    return label


def request(prompt: str, lang: str, task_type: str) -> Request:
    """The :class:`~raif_rewards.registry.Request` that request-dependent rules read: the seed's text and
    its task type as a registry kind (``canonical``)."""
    return Request(prompt, lang, canonical(task_type))
