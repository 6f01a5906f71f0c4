"""The ``<think>`` plan of a witness: one short line per constraint, naming its id and how the answer
meets it, worded from the constraint's own :class:`~raif_rewards.witness_spec.Need` in the row's
language (ids stay ids).

Kept terse on purpose: the expert rows are cloned whole by small models with short response budgets
(the tiny CPU demo clones rows of at most 40 word-level tokens), so a plan says what the answer does
in a few words ("at least 120 words", "use river, bridge"), never a sentence about it.
"""

from __future__ import annotations

from raif_rewards.witness_spec import INF, Need

__all__ = ["describe", "plan_line"]


def _quote(text: str, lang: str) -> str:
    if lang == "zh":
        return f"“{text}”"
    # a plain word reads as itself; a phrase or a marker is quoted so that its bounds are clear
    return text if text.isalnum() else f"'{text}'"


def _times(n: int, lang: str) -> str:
    if lang == "zh":
        return f"{n}次"
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _count(low: int, high: int, lang: str, unit: tuple[str, str]) -> str:
    """An inclusive count range in words: ``unit`` is (English singular, English plural) in English and
    the measure word in Chinese (both forms the same)."""
    one, many = unit

    def n_unit(n: int) -> str:
        return f"{n}{one}" if lang == "zh" else f"{n} {one if n == 1 else many}"

    if high >= INF:
        return f"至少{n_unit(low)}" if lang == "zh" else f"at least {n_unit(low)}"
    if low == high:
        return f"恰好{n_unit(low)}" if lang == "zh" else f"exactly {n_unit(low)}"
    if low == 0:  # the checkers' "less than N": said as the instruction says it
        return f"少于{n_unit(high + 1)}" if lang == "zh" else f"fewer than {n_unit(high + 1)}"
    return f"{low}到{n_unit(high)}" if lang == "zh" else f"{low}-{n_unit(high)}"


def _occurrences(need: Need, lang: str) -> list[str]:
    """Phrases to include and phrases capped: "use river, bridge 3 times, lake exactly once"."""
    low: dict[str, int] = {}
    high: dict[str, int] = {}
    for phrase, n in need.include:
        low[phrase] = low.get(phrase, 0) + n
    for phrase, n in need.cap:
        high[phrase] = min(high.get(phrase, INF), n)
    used, capped = [], []
    for phrase in dict.fromkeys([*low, *high]):
        lo, hi, q = low.get(phrase, 0), high.get(phrase, INF), _quote(phrase, lang)
        if lo == 0:
            capped.append(f"{q}最多{hi}次" if lang == "zh" else f"{q} at most {_times(hi, lang)}")
        elif lo == hi:
            used.append(f"{q}恰好{hi}次" if lang == "zh" else f"{q} exactly {_times(hi, lang)}")
        elif hi < INF:
            used.append(f"{q}{lo}到{hi}次" if lang == "zh" else f"{q} {lo}-{hi} times")
        else:
            used.append(q if lo == 1 else (f"{q}{lo}次" if lang == "zh" else f"{q} {_times(lo, lang)}"))
    out = []
    if used:
        out.append(("用到" + "、".join(used)) if lang == "zh" else "use " + ", ".join(used))
    return out + capped


def _sentence(n: int, lang: str) -> str:
    if lang == "zh":
        return f"第{n}句" if n > 0 else ("最后一句" if n == -1 else f"倒数第{-n}句")
    return f"sentence {n}" if n > 0 else ("the last sentence" if n == -1 else f"sentence {-n} from the end")


def _placed(n: int, m: int, word: str, lang: str) -> str:
    s, q = _sentence(n, lang), _quote(word, lang)
    if m == -1:
        return f"{s}以{q}结尾" if lang == "zh" else f"{s} ends with {q}"
    if lang == "zh":
        return f"{s}第{m}个词是{q}" if m > 0 else f"{s}倒数第{-m}个词是{q}"
    return f"{q} as word {m} of {s}" if m > 0 else f"{q} as word {-m} from the end of {s}"


def _first_word(need: Need, k: int, word: str, lang: str) -> str:
    q = _quote(word, lang)
    if k == 1 and not need.paragraphs:
        return f"以{q}开头" if lang == "zh" else f"start with {q}"
    return f"第{k}段以{q}开头" if lang == "zh" else f"paragraph {k} starts with {q}"


def _fixed(text: str, request: str, lang: str) -> str:
    def same(a: str) -> bool:
        return a.strip().lower() == request.strip().lower()

    zh = lang == "zh"
    if same(text):
        return "原样照抄请求" if zh else "copy the request exactly"
    copies = text.split("******")
    if len(copies) > 1 and all(same(c) for c in copies):
        n = len(copies)
        return f"照抄请求{n}遍，用******分隔" if zh else f"copy the request {n} times, split by ******"
    if text.strip() and text.strip().lower() in request.lower():
        return "只照抄请求中指定的片段" if zh else "copy only the given span of the request"
    if len(text) <= 30 and "\n" not in text:  # a set reply ("My answer is yes.") is shorter than a description
        return f"只写{_quote(text, lang)}" if zh else f"write only {_quote(text, lang)}"
    return "只写规定的文字" if zh else "write exactly the given text"


_WORD_RULE = {
    "en": {"prime_length": "only words of prime length", "consonant_pair": "every word with two consonants in a row",
           "alternate_initials": "word initials a, c, e ... y only"},
    "zh": {"prime_length": "词长都是质数", "consonant_pair": "每个词都有两个相连的辅音",
           "alternate_initials": "词首字母只用a、c、e……y"},
}
_SHAPE = {
    "en": {"hyphen_joined": "sentences joined by -", "square_brackets": "every word in [ ]",
           "bigram_wrapped": "word pairs in << >>", "staircase": "each line indented one space more",
           "word_per_line": "one word per line", "no_whitespace": "no whitespace"},
    "zh": {"hyphen_joined": "句子之间用-相连", "square_brackets": "每个词放进[ ]", "bigram_wrapped": "每两个词放进<< >>",
           "staircase": "每行比上一行多缩进一格", "word_per_line": "每行一个词", "no_whitespace": "不留空白"},
}
_CASE = {"en": {"lower": "all lowercase", "upper": "all capitals", "title": "every word capitalised"},
         "zh": {"lower": "全部小写", "upper": "全部大写", "title": "每个词首字母大写"}}
_WRAP = {"en": {"json": "all inside JSON", "xml": "all inside one XML element", "quotes": "all in double quotes"},
         "zh": {"json": "整体写成JSON", "xml": "整体包进一个XML元素", "quotes": "整体加双引号"}}
_SEP = {"en": {"***": " split by ***", "\n\n": " split by blank lines"}, "zh": {"***": "，用***分隔", "\n\n": "，空行分隔"}}
_CJK_MARK = str.maketrans({".": "。", "?": "？", "!": "！"})
_TEXT_RULE = {
    "en": {"alphabet": "each word starts with the next letter", "no_consecutive": "no two neighbours share an initial",
           "odd_even": "odd and even syllable counts alternate", "japanese": "every {n} word in Japanese",
           "line_ends": "each line ends with its first word", "open_end": "words after each quote"},
    "zh": {"alphabet": "每个词的首字母依字母表顺延", "no_consecutive": "相邻两词首字母不同",
           "odd_even": "音节数奇偶交替", "japanese": "每第{n}个词用日语", "line_ends": "每行以首词结尾",
           "open_end": "引号后都有说明"},
}


def _text_rule(rule: str, lang: str) -> str:
    name, _, n = rule.partition(":")
    if n and lang == "en":
        k = int(n)
        n += "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return _TEXT_RULE[lang].get(name, name).format(n=n)


def _language(code: str, lang: str) -> str:
    from raif_rewards.checkers.language import LANGUAGES

    name = LANGUAGES.get(code, (code, code))[1 if lang == "zh" else 0]
    return f"用{name}写" if lang == "zh" else f"write in {name}"


def describe(need: Need, lang: str, request: str = "") -> str:
    """How an answer meets ``need``, in a few words of ``lang`` ("zh", else English)."""
    lang = "zh" if lang == "zh" else "en"
    zh = lang == "zh"
    parts: list[str] = []
    add = parts.append

    def flag(on: object, en: str, zh_text: str) -> None:
        if on:
            add(zh_text if zh else en)

    if need.fixed is not None:
        add(_fixed(need.fixed, request, lang))
    flag(need.prefix, "repeat the request first", "先复述请求")
    flag(need.two, "two different answers split by ******", "两个不同的回答，用******分隔")
    if need.language:
        add(_language(need.language, lang))
    parts += _occurrences(need, lang)
    if need.forbid:
        words = [_quote(w, lang) for w in need.forbid]
        add("避开" + "、".join(words) if zh else "avoid " + ", ".join(words))
    ranges: list[tuple[tuple[int, int], tuple[str, str]]] = [
        (need.words, ("字", "字") if zh else ("word", "words")),
        (need.sentences, ("句", "句") if zh else ("sentence", "sentences")),
        (need.capitals, ("个全大写词", "个全大写词") if zh else ("ALL-CAPS word", "ALL-CAPS words")),
    ]
    for r, unit in ranges:
        if r != (0, INF):
            add(_count(*r, lang, unit))
    for letter, lo, hi in need.letters:
        times = _count(lo, hi, lang, ("次", "次") if zh else ("time", "times"))
        add(f"字母{letter}{times}" if zh else f"letter {letter} {times}")
    if need.paragraphs:
        sep = _SEP[lang].get(need.paragraph_sep or "", "")
        add(f"{need.paragraphs}段{sep}" if zh else f"{need.paragraphs} paragraphs{sep}")
    for k, word in need.first_words:
        add(_first_word(need, k, word, lang))
    flag(need.title, "a <<title>>", "加<<标题>>")
    if need.sections:
        splitter, n = need.sections
        add(f"{n}节：{splitter} 1..{n}" if zh else f"{n} sections: {splitter} 1..{n}")
    if need.bullets:
        add(f"{need.bullets}个要点" if zh else f"{need.bullets} bullet point{'s' * (need.bullets != 1)}")
    flag(need.sub_bullets, "a sub-item under each bullet", "每个要点下加子项")
    if need.highlights:
        add(f"{need.highlights}处*重点*" if zh else f"{need.highlights} *highlighted* part{'s' * (need.highlights != 1)}")
    if need.placeholders:
        add(f"{need.placeholders}个[占位符]" if zh else f"{need.placeholders} [placeholders]")
    for n, m, word in need.placed:
        add(_placed(n, m, word, lang))
    if need.sentence_marks:
        marks = [m.strip() for m in need.sentence_marks]
        if zh:
            add(("句末依次用" if len(marks) > 1 else "句末用") + "".join(marks).translate(_CJK_MARK))
        else:
            add(("sentence ends in turn: " if len(marks) > 1 else "sentences end with ") + " ".join(marks))
    flag(need.linked, "each sentence opens with the last word before", "每句以上一句的末词开头")
    if need.increment:
        k = need.increment
        add(f"每句比上一句多{k}字" if zh else f"each sentence {k} word{'s' * (k != 1)} longer than the last")
    flag(need.equal_sentences, "sentences of equal length", "各句字数相同")
    flag(need.alliteration, "a longer alliterative run each sentence", "每句的头韵串比上一句长")
    flag(need.distinct, "no word twice", "不重复用词")
    flag(need.avoid_words, "no stop words", "不用停用词")
    if need.word_rule:
        add(_WORD_RULE[lang].get(need.word_rule, need.word_rule))
    for rule in dict.fromkeys(need.text_rules):
        add(_text_rule(rule, lang))
    flag(need.one_line, "one line", "只写一行")
    if need.vowels is not None:
        add(f"最多用{need.vowels}种元音字母" if zh else f"at most {need.vowels} of the vowels a e i o u")
    if need.overlap:
        pct = need.overlap[1]
        add(f"与参考文本共有{pct}%的三字组" if zh else f"{pct}% of trigrams from the reference")
    if need.shape:
        add(_SHAPE[lang].get(need.shape, need.shape))
    if need.case:
        add(_CASE[lang].get(need.case, need.case))
    flag(need.no_comma or need.no_fullwidth_comma, "no commas",
         "不用逗号和顿号" if need.no_fullwidth_comma else "不用逗号")
    if need.postscript:
        add(f"结尾加{need.postscript}附言" if zh else f"close with a {need.postscript} line")
    if need.end:
        add(f"以{_quote(need.end, lang)}结尾" if zh else f"end with {_quote(need.end, lang)}")
    if need.wrap:
        add(_WRAP[lang].get(need.wrap, need.wrap))
    if not parts:
        return "无需额外处理" if zh else "nothing extra"
    return ("；" if zh else "; ").join(parts)


def plan_line(cid: str, need: Need, lang: str, request: str = "", where: str = "") -> str:
    """``- id: how`` (``where``: the chain step it belongs to, e.g. "Step 2")."""
    zh = lang == "zh"
    scope = (f"（{where}）" if zh else f" ({where})") if where else ""
    return f"- {cid}{scope}{'：' if zh else ': '}{describe(need, lang, request)}"

