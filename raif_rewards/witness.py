"""Witness answers: one text that satisfies a whole rule ground truth, composed from the :class:`Need`
each checker declares (protocol: :mod:`raif_rewards.witness_spec`), verified with the reward's own scorer.

The data pipeline keeps only rows with a verified witness and writes the witnesses as synthetic expert
rows (``<think>`` plan + ``<answer>``), so every rule row is provably satisfiable.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from xml.sax.saxutils import escape

from raif_rewards import registry, witness_rules
from raif_rewards.compose import And, Chain, Check, Node, RuleTruth, Selection, parse_ground_truth
from raif_rewards.reward import DEFAULT_CONFIG, score_rule
from raif_rewards.text import view
from raif_rewards.witness_plan import plan_line
from raif_rewards.witness_spec import EMPTY, INF, Clash, Need, WitnessContext

__all__ = ["Clash", "Witness", "compose_witness", "completion", "verify", "witness_for"]

# Filler vocabularies: plain words of two letters or more (a one-letter word such as "I" or "A" would
# count as an ALL-CAPS word), no commas anywhere, so that only the needs add what they ask for.
_BANKS = {
    # frequent function words keep language identification sure of the language of random fillers
    "en": ("the and to of in is it for with this that you are we can the and to of in is it for with this "
           "that you are we can answer plan idea point detail step reason result method example option choice goal need "
           "clear simple useful careful honest direct short brief good better strong steady quick calm "
           "people team work time place task topic question request reader writer friend group city home "
           "study offer help keep make take give show find build check share follow explain describe "
           "today often always first next then also still very well together around during across just join "
           "enjoy major project quick quiet quality exact next size zone zero value every why back "
           "known table window garden river morning evening market street school office letter story music "
           "picture paper color light water field road bridge harbor island forest valley mountain village "
           "season summer winter spring autumn weather cloud rain wind sunny warm cool fresh bright gentle "
           "kind fair open ready early later soon never maybe perhaps rather quite almost enough mostly "
           "choose learn teach write read speak listen watch visit travel cook clean plant grow move carry "
           "bring send hold turn stand sit walk run rest sleep wake smile laugh thank greet invite welcome "
           "family parent child student teacher doctor farmer driver neighbor guest member leader partner "
           "number amount level price cost budget record report summary review detail feature service "
           "product system process design model version update change chance habit skill talent").split(),
    "zh": ("我们 可以 这个 的 是 在 和 一个 也 都 就 要 会 我们 可以 这个 的 是 在 和 一个 也 都 就 要 会 计划 方法 例子 原因 结果 目标 步骤 细节 问题 建议 内容 读者 团队 时间 地方 任务 主题 思路 "
           "简单 清楚 有用 认真 直接 稳定 重要 合适 完整 具体 明确 实际 方便 准确 安全 灵活 "
           "分析 说明 整理 检查 分享 描述 解释 完成 提供 需要 考虑 选择 支持 改进 "
           "早晨 晚上 春天 夏天 秋天 冬天 阳光 微风 雨水 河边 山路 小镇 街道 市场 学校 家庭 朋友 邻居 孩子 "
           "老师 学生 医生 农民 司机 客人 音乐 图书 绘画 电影 新闻 故事 历史 文化 艺术 体育 健康 运动 饮食 "
           "旅行 工作 学习 生活 休息 睡眠 习惯 能力 经验 机会 变化 进步 成长 未来 过去 现在 今天 明天 "
           "快乐 安静 热闹 温暖 凉爽 明亮 美丽 干净 新鲜 丰富 普通 特别 容易 困难 轻松 愉快").split(),
    "es": "el plan es claro y la idea funciona bien para todos los usuarios cada día con mucho cuidado".split(),
    "fr": "le plan est clair et cette idée fonctionne bien pour tous les lecteurs chaque jour avec soin".split(),
    "de": "der plan ist klar und diese idee funktioniert gut für alle leser jeden tag mit viel sorgfalt".split(),
    "it": "il piano è chiaro e questa idea funziona bene per tutti i lettori ogni giorno con molta cura".split(),
    "pt": "o plano é claro e esta ideia funciona bem para todos os leitores todos os dias com cuidado".split(),
    "ru": "этот план очень простой и эта идея хорошо работает для всех читателей каждый день".split(),
    "ja": "この 計画 は とても 分かり やすく 毎日 の 仕事 に 役立つ 方法 です".split(),
    "ko": "이 계획은 아주 명확하고 모든 독자에게 매일 도움이 되는 좋은 방법입니다".split(),
}
_NO_SPACE = frozenset({"zh", "ja"})
_STOP = {"zh": "。", "ja": "。"}
_TITLE = {"en": "A Clear Answer", "zh": "回答"}
_PS_TEXT = {"en": "Thank you for reading", "zh": "感谢阅读"}
_CAPITALS = ("NOTE", "KEY", "PLAN", "GOAL", "STEP", "TIP")
_STEP_HEAD = {"en": "{marker} {i}:", "zh": "{marker}{i}："}
# The shortest answer that verifies: one filler sentence and few words unless a need asks for more
# (expert rows are cloned by small models with short response budgets, e.g. the tiny CPU demo).
_DEFAULT_SENTENCES = 1
_WORDS_PER_FILLER = {"zh": 2.0, "ja": 1.6, "ko": 1.0}
_DEFAULT_WORDS = {"en": 3, "zh": 4}  # words (characters in Chinese) per filler sentence


@dataclass(frozen=True)
class Witness:
    """A verified witness: the answer text and the plan that names each constraint and how it is met."""

    answer: str
    plan: str

    @property
    def completion(self) -> str:
        return completion(self.plan, self.answer)


def completion(plan: str, answer: str) -> str:
    """The paper's response format: ``<think>`` plan, then ``<answer>``."""
    return f"<think>\n{plan}\n</think>\n<answer>\n{answer}\n</answer>"


# ------------------------------------------------------------------------------------ the tree's needs


@dataclass(frozen=True)
class _Leaf:
    """One constraint that applies: its id, its need and the chain step it belongs to ("" if none)."""

    id: str
    need: Need
    where: str = ""


@dataclass
class _Scope:
    need: Need
    chain: tuple[str, list[_Scope]] | None = None


def _needs(node: Node, ctx: WitnessContext, leaves: list[_Leaf], where: str = "") -> _Scope:
    """The tree's needs by scope; ``leaves`` collects each applying constraint with its need and the
    chain step it sits in (``where``, "" at the top level), for the plan."""
    if isinstance(node, Check):
        checker = registry.get(node.id)
        if checker.witness is None:
            raise Clash(f"no_witness:{node.id}")
        need = checker.witness(node.kwargs, ctx)
        leaves.append(_Leaf(node.id, need, where))
        return _Scope(need)
    if isinstance(node, Selection):  # only the active branch applies
        return _needs(node.branches[node.active], ctx, leaves, where)
    if isinstance(node, Chain):
        head = "{marker}{i}" if ctx.lang == "zh" else "{marker} {i}"
        steps = [_needs(step, ctx, leaves, ", ".join(filter(None, (where, head.format(marker=node.marker, i=i)))))
                 for i, step in enumerate(node.steps, 1)]
        return _Scope(EMPTY, (node.marker, steps))
    assert isinstance(node, And)
    need, chain = EMPTY, None
    for child in node.children:
        scope = _needs(child, ctx, leaves, where)
        need = need.merge(scope.need)
        if scope.chain is not None:
            if chain is not None:
                raise Clash("two_chains")
            chain = scope.chain
    return _Scope(need, chain)


# ---------------------------------------------------------------------------------------- rendering


def _lang_of(need: Need, ctx: WitnessContext) -> str:
    return need.language or ctx.lang


def _is_cjk(lang: str) -> bool:
    return lang in _NO_SPACE


def _count_words(text: str, ctx: WitnessContext) -> int:
    t = view(text)
    return t.cjk_word_count if (ctx.lang == "zh" or t.cjk_dominant) else t.word_count


def _count_sentences(text: str, ctx: WitnessContext) -> int:
    t = view(text)
    return t.cjk_sentence_count if (ctx.lang == "zh" or t.cjk_dominant) else t.sentence_count


_PRIMES = frozenset((2, 3, 5, 7, 11, 13, 17, 19, 23))
_CONSONANT_PAIR = re.compile(r"[bcdfghjklmnpqrstvwxyz]{2}")
#: named rules a need may ask every filler word to obey
WORD_RULES = {
    "prime_length": lambda w: len(w) in _PRIMES,
    "consonant_pair": lambda w: _CONSONANT_PAIR.search(w) is not None,
    # initials a, c, e, ... y: no two of them are neighbours in the alphabet (keywords:no_adjacent_consecutive)
    "alternate_initials": lambda w: w[:1] in "acegikmoqsuwy",
}


#: word rules that every word of the answer obeys, the words constraints ask for included
_PER_WORD_RULES = ("prime_length", "consonant_pair")
_DELETE_PUNCT = str.maketrans("", "", string.punctuation)


def _bank_filters(need: Need) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str | None, str | None]:
    """What the filler of ``need`` must avoid or obey: (banned words, rare letters, avoided words, word
    rule, vowels)."""
    banned = tuple(w.lower() for w in need.forbid) + tuple(p.lower() for p, _ in need.cap)
    rare = tuple(letter.lower() for letter, _lo, hi in need.letters if hi < INF)
    return banned, rare, tuple(sorted(need.avoid_words)), need.word_rule, _vowel_set(need)


def _bank(need: Need, lang: str) -> list[str]:
    words = _filtered_bank(lang, *_bank_filters(need))
    if not words:
        raise Clash("filler_exhausted")
    return words


@lru_cache(maxsize=4096)
def _filtered_bank(lang: str, banned: tuple[str, ...], rare: tuple[str, ...], avoid: tuple[str, ...],
                   rule: str | None, vowels: str | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """The filler words of ``lang`` (and ``extra`` words) that :func:`_passes` the filters."""
    words = dict.fromkeys((*_BANKS.get(lang, _BANKS["en"]), *extra))
    passes = _passer(banned, rare, avoid, rule, vowels)
    return [w for w in words if passes(w)]


def _passer(banned: tuple[str, ...], rare: tuple[str, ...], avoid: tuple[str, ...], rule: str | None,
            vowels: str | None) -> Callable[[str], bool]:
    """:func:`_passes` with its filters prepared once for a whole bank: "a banned text or a rare letter
    inside the word" is one regex search, "the word inside a banned text" one substring test on the
    banned texts joined by a character no word holds."""
    inside = re.compile("|".join(map(re.escape, (*banned, *rare)))).search if banned or rare else None
    around = "\0".join(banned)
    avoided = frozenset(avoid)
    keep = WORD_RULES[rule] if rule is not None else None
    other_vowels = frozenset(witness_rules.VOWELS) - set(vowels) if vowels is not None else None

    def passes(word: str) -> bool:
        if inside is not None and inside(word):
            return False
        if banned and (word in around if "\0" not in word else any(word in b for b in banned)):
            return False
        return (word not in avoided and (keep is None or keep(word))
                and (other_vowels is None or other_vowels.isdisjoint(word)))

    return passes


def _passes(word: str, banned: tuple[str, ...], rare: tuple[str, ...], avoid: tuple[str, ...], rule: str | None,
            vowels: str | None) -> bool:
    """Whether ``word`` contains no banned word or phrase (nor sits inside one), none of the ``rare``
    letters, is not an ``avoid`` word, obeys the named ``rule`` and uses only the ``vowels`` (if given)."""
    return (not any(b in word or word in b for b in banned) and not any(r in word for r in rare)
            and word not in avoid and (rule is None or WORD_RULES[rule](word))
            and (vowels is None or not (set(witness_rules.VOWELS) - set(vowels)) & set(word)))


def _fixed_texts(need: Need, lang: str) -> list[str]:
    """The texts an answer to ``need`` carries word for word (besides its filler)."""
    key = "zh" if lang == "zh" else "en"
    out = [p for p, _ in need.include] + [w for _, _, w in need.placed] + [w for _, w in need.first_words]
    out += [t for t in (need.prefix, need.end, need.fixed, need.postscript) if t]
    out += [_PS_TEXT[key]] if need.postscript else []
    out += [_TITLE[key]] if need.title else []
    out += [need.sections[0]] if need.sections else []
    out += {"json": ['{"answer": '], "xml": ["<response>"]}.get(need.wrap or "", [])
    return out


def _vowel_set(need: Need) -> str | None:
    """The vowels an answer limited to ``need.vowels`` of them uses: those of its fixed texts, then
    the ones most filler words get by with."""
    if need.vowels is None:
        return None
    used = {ch for text in _fixed_texts(need, "en") for ch in text.lower() if ch in witness_rules.VOWELS}
    if len(used) > need.vowels:
        raise Clash("vowels_vs_text")
    for v in witness_rules.VOWEL_ORDER:
        if len(used) >= need.vowels:
            break
        used.add(v)
    return "".join(sorted(used))


@dataclass
class _Layout:
    """What the flat renderer varies while it adjusts counts."""

    sentences: int
    filler_words: int
    extra: list[str]  # words added for letter counts


def _flat(need: Need, ctx: WitnessContext, rng: random.Random, post: Callable[[str], str] | None = None) -> str:
    """A text for one scope (the whole answer, or one chain step's section) meeting ``need``."""
    lang = _lang_of(need, ctx)
    if need.fixed is not None:
        return need.fixed
    if need.two:
        one = _flat(replace(need, two=False), ctx, rng)
        other = _flat(replace(need, two=False), ctx, random.Random(rng.random()))
        if one.strip() == other.strip():
            other = _flat(replace(need, two=False, include=need.include + ((_BANKS["en"][0], 1),)), ctx, rng)
        return f"{one}\n******\n{other}"
    bank = _bank(need, lang)
    blocks = max(need.paragraphs or 1, need.sections[1] if need.sections else 1, 1)
    lo_s, hi_s = need.sentences
    per = _DEFAULT_WORDS["zh" if _is_cjk(lang) else "en"]
    sentences = max(min(max(_DEFAULT_SENTENCES, blocks, lo_s), hi_s), 1)
    lo_w, hi_w = need.words
    target_w = min(max(sentences * per, lo_w + 3), hi_w - 2 if hi_w < INF else INF)
    layout = _Layout(max(sentences, 1), max(round(target_w / _WORDS_PER_FILLER.get(lang, 1.0)), 0), [])
    measure = need.words != (0, INF) or need.sentences != (0, INF) or any(lo for _, lo, _ in need.letters)
    if need.overlap is not None:
        return _overlapping(need, ctx, lang, bank, blocks, layout, rng, post)
    text = ""
    for _ in range(6):
        text = _assemble(need, ctx, lang, bank, blocks, layout, rng, post)
        if not measure or not _refit(text, need, ctx, lang, bank, layout):
            break
    return text


def _refit(text: str, need: Need, ctx: WitnessContext, lang: str, bank: Sequence[str], layout: _Layout,
           per_word: float | None = None) -> bool:
    """Move ``layout`` towards the counts ``need`` asks for; False when ``text`` already has them.
    ``per_word``: how many counted words one filler item adds (by default, a filler word's)."""
    lo_w, hi_w = need.words
    lo_s, hi_s = need.sentences
    changed = False
    n_w = _count_words(text, ctx)
    if not lo_w <= n_w <= hi_w:
        goal = (lo_w + min(hi_w, lo_w + 6)) // 2 if n_w < lo_w else max(lo_w, hi_w - 3)
        # a filler word adds about this many counted words (a Chinese word is two characters)
        per_word = per_word or _WORDS_PER_FILLER.get(lang, 1.0)
        layout.filler_words = max(0, layout.filler_words + round((goal - n_w) / per_word))
        changed = True
    n_s = _count_sentences(text, ctx)
    if not lo_s <= n_s <= hi_s:
        goal = lo_s if n_s < lo_s else hi_s
        layout.sentences = max(1, layout.sentences + goal - n_s)
        changed = True
    low = text.lower()
    for letter, lo, _hi in need.letters:
        have = low.count(letter.lower())
        if have < lo:
            layout.extra += _letter_words(letter, lo - have, bank)
            changed = True
    return changed


def _overlapping(need: Need, ctx: WitnessContext, lang: str, bank: list[str], blocks: int, layout: _Layout,
                 rng: random.Random, post: Callable[[str], str] | None) -> str:
    """The flat text, with the reference's first words copied in (or new words added) until the share of
    its character trigrams found in the reference is the one asked (ratio:overlap). A long answer of
    filler words has more trigrams than a short reference holds: filler drawn from the reference's own
    phrases, then its words, is tried next."""
    assert need.overlap is not None
    reference, percentage = need.overlap
    # copied words obey what the filler obeys (a word rule, rare letters, a vowel limit, banned words)
    filters = _bank_filters(need)
    units = [u for u in witness_rules.reference_units(reference, lang) if _passes(u.lower(), *filters)]
    spans = [p for p in witness_rules.reference_spans(reference, lang)
             if all(_passes(u.lower(), *filters) for u in witness_rules.reference_units(p, lang))]
    novel = witness_rules.novel_words(bank, reference, lang)
    fillers = [f for f in (bank, list(dict.fromkeys(spans)), list(dict.fromkeys(units))) if f]
    for n, filler in enumerate(fillers):
        try:
            return _overlap_with(need, ctx, lang, filler, blocks, replace(layout, extra=list(layout.extra)), rng,
                                 post, units, novel)
        except Clash:
            if n == len(fillers) - 1:
                raise
    raise AssertionError("unreachable")


def _overlap_with(need: Need, ctx: WitnessContext, lang: str, filler: list[str], blocks: int, layout: _Layout,
                  rng: random.Random, post: Callable[[str], str] | None, units: list[str], novel: list[str]) -> str:
    """:func:`_overlapping` with one filler vocabulary; Clash when no copy length reaches the share."""
    assert need.overlap is not None
    reference, percentage = need.overlap
    state = rng.getstate()  # the same filler on every try: only the copy and the new words move the share
    start = list(layout.extra)
    per_item = sum(_token_words(f, lang) for f in filler) / len(filler)
    text = ""
    fitted = False

    def render(k: int, m: int) -> str:
        nonlocal text, fitted
        copy = _join_words(units[:k], lang)
        layout.extra = start + ([copy] if copy else []) + [novel[i % len(novel)] for i in range(m)]
        for _ in range(6):
            rng.setstate(state)
            text = _assemble(need, ctx, lang, filler, blocks, layout, rng, post)
            fitted = not _refit(text, need, ctx, lang, filler, layout, per_item)
            if fitted:
                break
        return _posted(_finish(text, need), post)

    witness_rules.tune(render, len(units), reference, percentage)
    if not fitted:  # the share came with counts not met yet
        raise Clash("overlap_vs_counts")
    return text


def _posted(text: str, post: Callable[[str], str] | None) -> str:
    """``text`` as the whole answer will read once its text rules are applied."""
    return post(text.strip()) if post is not None else text


def _letter_words(letter: str, missing: int, bank: Sequence[str]) -> list[str]:
    rich = sorted((w for w in bank if letter.lower() in w), key=lambda w: -w.count(letter.lower()))
    out: list[str] = []
    got = 0
    i = 0
    while got < missing:
        word = rich[i % len(rich)] if rich else letter.lower() * 3
        out.append(word)
        got += max(1, word.count(letter.lower()))
        i += 1
    return out


def _join_words(words: Sequence[str], lang: str) -> str:
    if not _is_cjk(lang):
        return " ".join(words)
    # Latin tokens (ALL-CAPS words, English keywords) keep spaces around them inside CJK text
    out = ""
    for w in words:
        if out and (w[:1].isascii() or out[-1:].isascii()):
            out += " "
        out += w
    return out


_CJK_MARK = {".": "。", "?": "？", "!": "！"}


def _sentence(words: list[str], lang: str, stop: bool = True, mark: str | None = None) -> str:
    if not _is_cjk(lang):
        first = words[0]
        words = [first[:1].upper() + first[1:], *words[1:]]
    if mark is not None and _is_cjk(lang):
        mark = _CJK_MARK.get(mark, mark)
    end = (mark or (_STOP[lang] if _is_cjk(lang) else ".")) if stop else ""
    return _join_words(words, lang) + end


_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def _token_words(token: str, lang: str) -> int:
    if _is_cjk(lang):
        return len(_CJK_CHAR.findall(token)) + len(_CJK_CHAR.sub(" ", token).split())
    return len(token.split())


def _after_words(s: list[str], m: int, lang: str, pad: Callable[[], str]) -> int:
    """Where in ``s`` a word goes to be its ``m``-th word (``m`` < 0: counted from the end), counting
    the words of multi-word items; filler words from ``pad`` fill a sentence that is too short, or make
    up the count where an item would straddle the place."""
    want = m - 1 if m > 0 else -m - 1
    i, seen, step = (0, 0, 1) if m > 0 else (len(s), 0, -1)
    while True:
        nxt = s[i] if m > 0 and i < len(s) else s[i - 1] if m < 0 and i > 0 else None
        if nxt is None or seen + _token_words(nxt, lang) > want:
            break
        seen += _token_words(nxt, lang)
        i += step
    for _ in range(want - seen):
        s.insert(i, pad())
        if m > 0:
            i += 1
    return i


def _stagger(sentences: list[list[str]], step: int, lang: str, bank: Sequence[str]) -> None:
    """Pad the sentences so that each has exactly ``step`` more words than the one before."""
    counts = [sum(_token_words(w, lang) for w in s) for s in sentences]
    base = max(c - i * step for i, c in enumerate(counts))
    singles = [w for w in bank if _token_words(w, lang) == 1] or [bank[0]]
    for i, s in enumerate(sentences):
        for k in range(base + i * step - counts[i]):
            s.append(singles[(i + k) % len(singles)])


def _assemble(need: Need, ctx: WitnessContext, lang: str, bank: list[str], blocks: int, layout: _Layout,
              rng: random.Random, post: Callable[[str], str] | None = None) -> str:
    # the content each constraint asks for, as tokens spread over the sentences
    content: list[str] = []
    for phrase, n in need.include:
        content += [phrase] * n
    content += [f"[{bank[i % len(bank)]}]" for i in range(need.placeholders)]
    content += [f"*{bank[(2 * i) % len(bank)]} {bank[(2 * i + 1) % len(bank)]}*" for i in range(need.highlights)]
    caps = _capitals(need)
    content += [caps[i % len(caps)] for i in range(need.capitals[0])]
    content += layout.extra
    n_sent = max(layout.sentences, blocks, 1)
    if need.sentence_marks:  # whole cycles of the marks, so that their counts come out even
        n_sent = -(-n_sent // len(need.sentence_marks)) * len(need.sentence_marks)
    # fewer sentences than blocks: the first blocks end without a full stop and run into the next
    open_ended = max(0, blocks - layout.sentences)
    n_fill = max(layout.filler_words - len(content), 0)
    if need.distinct:
        if n_fill + n_sent > len(bank):
            raise Clash("filler_exhausted")
        filler = rng.sample(bank, n_fill)
    else:
        filler = rng.choices(bank, k=n_fill)
    per_sentence: list[list[str]] = [[] for _ in range(n_sent)]
    for i, w in enumerate(filler):
        per_sentence[i % n_sent].append(w)
    spare = [w for w in bank if w not in filler] if need.distinct else bank
    for k, s in enumerate(per_sentence):
        if not s:
            s.append(spare[k % len(spare)] if need.distinct else bank[rng.randrange(len(bank))])
    # content never opens a sentence: a *highlight* there would read as a bullet at a line start,
    # and a paragraph's first word may be required
    # a rule on neighbouring words (an alphabet chain, ...) can only change filler words, so each content
    # item is followed by one
    spaced = any(r not in ("line_ends", "open_end") for r in need.text_rules)
    items: list[set[int]] = [set() for _ in per_sentence]  # where the content items sit, when spaced
    for i, item in enumerate(content):
        s = per_sentence[i % n_sent]
        if not spaced:
            s.insert(1 + rng.randrange(len(s)), item)
            continue
        at = items[i % n_sent]
        k = rng.choice([k for k in range(1, len(s) + 1) if k - 1 not in at])
        s[k:k] = [item, bank[rng.randrange(len(bank))]]
        items[i % n_sent] = {j + 2 * (j >= k) for j in at} | {k}
    for n, m, word in need.placed:
        s = per_sentence[n - 1 if n > 0 else n]
        s.insert(_after_words(s, m, lang, lambda: bank[rng.randrange(len(bank))]), word)
    if need.linked:
        for prev, s in zip(per_sentence, per_sentence[1:], strict=False):
            s.insert(0, prev[-1])
    if need.increment:
        _stagger(per_sentence, need.increment, lang, bank)

    def lay_out() -> str:
        return _lay_out(need, lang, bank, blocks, per_sentence, n_sent, open_ended)

    if need.equal_sentences or need.alliteration:
        return _shaped(need, lang, bank, per_sentence, lay_out, post)
    return lay_out()


def _capitals(need: Need) -> tuple[str, ...]:
    """The ALL-CAPS words an answer may use (those within its vowel limit)."""
    vowels = _vowel_set(need)
    if vowels is None:
        return _CAPITALS
    caps = tuple(c for c in _CAPITALS if not (set(c.lower()) & set(witness_rules.VOWELS) - set(vowels)))
    if not caps:
        raise Clash("vowels_vs_text")
    return caps


def _free_slot(need: Need, i: int, n_sent: int, words: list[str]) -> int:
    """Where words can go into sentence ``i`` without moving its first and last word or a word
    placed at a position (counted from either end)."""
    mine = [m for n, m, _ in need.placed if (n - 1 if n > 0 else n_sent + n) == i]
    lo = min(max([1, *(m for m in mine if m > 0)]), len(words))
    hi = len(words) - max([1 if need.linked else 0, *(-m for m in mine if m < 0)])
    if lo > hi:
        raise Clash("shaping_vs_placed")
    return lo


def _shaped(need: Need, lang: str, bank: list[str], per_sentence: list[list[str]],
            lay_out: Callable[[], str], post: Callable[[str], str] | None) -> str:
    """``lay_out()`` after words are put into the sentences until, measured the way the IFBench checkers
    split the finished answer, every sentence has one length (ratio:sentence_words) or each sentence a
    longer alliterative run than the one before (sentence:alliteration_increment)."""
    n = len(per_sentence)
    gap = 0 if _is_cjk(lang) else 1
    text = lay_out()
    for _ in range(2 * n + 6):
        fin = _posted(_finish(text, need), post)
        if need.alliteration:
            scores = witness_rules.alliteration_scores(fin)
            rise = witness_rules.first_rise(scores)
            if rise is not None:
                if rise >= n:  # a sentence the layout adds (a list, an end phrase) scores too low
                    raise Clash("alliteration")
                s = per_sentence[rise]
                j = _free_slot(need, rise, n, s)
                around = [s[j - 1].split()[-1] if j > 0 else "", s[j].split()[0] if j < len(s) else ""]
                used = {w for sent in per_sentence for w in sent}
                s[j:j] = witness_rules.alliterative_run(bank, max(2, scores[rise - 1] + 1 - scores[rise]), around, used)
                text = lay_out()
                continue
        if not need.equal_sentences:
            return text
        parts = witness_rules.measured_sentences(fin)
        # the layout joins or splits sentences where the checker reads them
        if len(parts) != n or not need.sentences[0] <= n <= need.sentences[1]:
            raise Clash("equal_sentences")
        lengths = [len(p.strip()) for p in parts]
        if len(set(lengths)) == 1:
            return text
        used = {w for sent in per_sentence for w in sent}
        sizes = {len(w) for w in bank if " " not in w and (gap or not w.isascii())}
        for target in range(max(lengths), max(lengths) + 40):
            pads = [witness_rules.padding(target - length, sizes, gap) for length in lengths]
            if all(p is not None for p in pads):
                break
        else:
            raise Clash("equal_sentences")
        fresh = witness_rules.word_source(bank, used, gap)
        for i, pad in enumerate(pads):
            j = _free_slot(need, i, n, per_sentence[i])
            per_sentence[i][j:j] = [fresh(size) for size in pad or []]
        text = lay_out()
    raise Clash("alliteration" if need.alliteration else "equal_sentences")


def _lay_out(need: Need, lang: str, bank: list[str], blocks: int, per_sentence: list[list[str]], n_sent: int,
             open_ended: int) -> str:
    """The answer text of ``per_sentence`` (the words of each sentence) in the layout ``need`` asks for."""
    key = "zh" if lang == "zh" else "en"
    nl = " " if need.one_line else "\n"
    marks = need.sentence_marks
    first_words = dict(need.first_words)
    n_par = need.paragraphs or 1
    n_sec = need.sections[1] if need.sections else 0
    segments: list[list[list[str]]] = [[] for _ in range(blocks)]
    for i, s in enumerate(per_sentence):
        segments[min(i * blocks // n_sent, blocks - 1)].append(s)
    paragraphs: list[list[str]] = [[] for _ in range(n_par)]
    section = -1
    n_done = 0
    for i, sents in enumerate(segments):
        p = i * n_par // blocks
        lines = []
        if i == 0 and need.title:
            lines.append(f"<<{_TITLE[key]}>>")
        if n_sec and i * n_sec // blocks != section:
            section = i * n_sec // blocks
            lines.append(f"{need.sections[0]} {section + 1}")  # type: ignore[index]
        if not paragraphs[p] and p + 1 in first_words:
            if lines:
                raise Clash("first_word_vs_header")
            sents[0] = [first_words[p + 1], *sents[0]]
        rendered = []
        for s in sents:
            mark = marks[n_done % len(marks)] if marks else None
            rendered.append(_sentence(s, lang, i >= open_ended, mark))
            n_done += 1
        lines.append(("" if _is_cjk(lang) else " ").join(rendered))
        paragraphs[p].append(nl.join(lines))
    n_bullets = need.bullets if need.bullets is not None else (2 if need.sub_bullets else 0)
    if n_bullets:
        # items without a full stop: short list items, and no extra sentences to count
        items = [_sentence([bank[(j * 7 + k) % len(bank)] for k in range(2)], lang, stop=False)
                 for j in range(n_bullets)]
        if need.sub_bullets:
            items = [f"{item}\n  - {bank[(j * 5 + 3) % len(bank)]}" for j, item in enumerate(items)]
        paragraphs[-1].append("\n".join("* " + item for item in items))
    sep = "\n\n***\n\n" if need.paragraph_sep == "***" else "\n\n"
    text = sep.join("\n".join(p) for p in paragraphs)
    joiner = nl if need.one_line or need.paragraph_sep == "\n\n" else "\n\n"
    if need.postscript:
        text += f"{joiner}{need.postscript} {_sentence([_PS_TEXT[key]], lang)}"
    if need.end:
        text += (("" if _is_cjk(lang) else " ") + need.end) if need.postscript else (joiner + need.end)
    if need.prefix:
        text = need.prefix + (nl if need.one_line else "\n\n") + text
    return text


_WORD_START = re.compile(r"(?<![\w'])([a-z])")
_SENTENCE_GAP = re.compile(r"(?<=[.?!]) ")


def _finish(text: str, need: Need) -> str:
    if need.case == "lower":
        text = text.lower()
    elif need.case == "upper":
        text = text.upper()
    elif need.case == "title":
        text = _WORD_START.sub(lambda m: m.group(1).upper(), text)
    if need.shape == "word_per_line":
        text = "\n".join(text.split())
    elif need.shape == "no_whitespace":
        text = "".join(text.split())
    elif need.shape == "hyphen_joined":  # sentences joined by hyphens, no space (IFTrain)
        text = _SENTENCE_GAP.sub("-", " ".join(text.split()))
    elif need.shape == "square_brackets":  # every whitespace token in [brackets] (IFTrain)
        text = " ".join(f"[{w}]" for w in text.split())
    elif need.shape == "bigram_wrapped":  # word pairs in <<double angle brackets>> (IFTrain)
        words = text.split()
        text = " ".join(f"<<{' '.join(words[i : i + 2])}>>" for i in range(0, len(words), 2))
    elif need.shape == "staircase":
        text = "\n".join(" " * i + line.strip() for i, line in enumerate(ln for ln in text.split("\n") if ln.strip()))
    if need.wrap == "json":
        text = json.dumps({"answer": text}, ensure_ascii=False)
    elif need.wrap == "xml":
        text = f"<response>{escape(text)}</response>"
    elif need.wrap == "quotes":
        text = f'"{text}"'
    return text


def _consistent(need: Need) -> None:
    """Clashes between fields that merging alone does not see (decided on the texts themselves)."""
    fixed_texts = [t for t in (need.prefix, need.end, need.fixed, need.postscript) if t]
    fixed_texts += [p for p, _ in need.include]
    if need.no_comma and any("," in t for t in fixed_texts):
        raise Clash("no_comma_vs_text")
    if need.no_fullwidth_comma and any("，" in t or "、" in t for t in fixed_texts):
        raise Clash("no_comma_vs_text")
    banned = {w.lower() for w in need.forbid}
    if any(p.lower() in banned for p, _ in need.include):
        raise Clash("include_vs_forbid")
    if need.word_rule in _PER_WORD_RULES:
        keep = WORD_RULES[need.word_rule]
        if any(not keep(w) for text in _fixed_texts(need, _lang_of(need, WitnessContext()))
               for w in text.translate(_DELETE_PUNCT).lower().split()):
            raise Clash("text_vs_word_rule")
    if need.case == "lower" and need.sections and need.sections[0] != need.sections[0].lower():
        raise Clash("case_vs_splitter")
    if need.case == "upper" and need.sections and need.sections[0] != need.sections[0].upper():
        raise Clash("case_vs_splitter")
    if need.two and (need.overlap or need.equal_sentences or need.alliteration):
        raise Clash("two_vs_whole_answer_rule")  # each of the two answers would keep it, not both together
    if need.words[0] == need.words[1] and (need.overlap or need.alliteration):
        raise Clash("exact_words_vs_added_words")  # the copied or alliterating words land in set sentences
    if need.alliteration and need.increment:
        raise Clash("alliteration_vs_increment")
    if need.one_line and (need.bullets or need.sub_bullets or (need.paragraphs or 1) > 1 or need.sections
                          or need.two or need.shape in ("word_per_line", "staircase")):
        raise Clash("one_line_vs_layout")


# needs on the whole answer that no split over chain steps can keep (a wrapper, a sentence pattern
# running across the steps' headers, a reshaped layout)
_WHOLE_ONLY = ("wrap", "prefix", "end", "fixed", "two", "increment", "linked", "sentence_marks", "shape", "placed",
               "one_line", "overlap", "equal_sentences", "alliteration")


def _split_global(g: Need, n: int, index: int) -> Need:
    """The part of a whole-answer need that step ``index`` (0-based) of ``n`` carries."""
    last = index == n - 1

    def share(r: tuple[int, int], head: int) -> tuple[int, int]:
        lo = -(-r[0] // n)
        hi = INF if r[1] >= INF else max(0, r[1] // n - head)
        return (lo, hi)

    return Need(
        include=g.include if last else (),
        cap=g.cap, forbid=g.forbid,
        words=share(g.words, 3), sentences=share(g.sentences, 0),
        capitals=(g.capitals[0] if last else 0, g.capitals[1]),
        letters=tuple((c, lo if last else 0, hi) for c, lo, hi in g.letters),
        bullets=g.bullets if last else None,
        highlights=g.highlights if last else 0, placeholders=g.placeholders if last else 0,
        sections=g.sections if last else None,
        title=g.title and index == 0,
        postscript=g.postscript if last else None,
        case=g.case, language=g.language, no_comma=g.no_comma, no_fullwidth_comma=g.no_fullwidth_comma,
        avoid_words=g.avoid_words, word_rule=g.word_rule, distinct=g.distinct, sub_bullets=g.sub_bullets and last,
    )


def _render(scope: _Scope, ctx: WitnessContext, rng: random.Random, post: Callable[[str], str] | None = None,
            key: str = "") -> str:
    """The text of ``scope``; ``post`` (this scope's text rules, which its caller applies) is what the
    measures of a flat text read it through. A chain step is checked on its own section: its text rules
    are applied to its section here."""
    _consistent(scope.need)
    if scope.chain is None:
        return _finish(_flat(scope.need, ctx, rng, post), scope.need)
    g = scope.need
    if any(getattr(g, name) not in (None, False, ()) for name in _WHOLE_ONLY) or g.paragraphs or g.first_words:
        raise Clash("whole_answer_layout_around_steps")
    marker, steps = scope.chain
    if g.bullets is not None and any(s.need.bullets for s in steps):
        raise Clash("bullets_across_steps")
    lang = ctx.lang
    parts = []
    for i, step in enumerate(steps, 1):
        need = step.need.merge(_split_global(g, len(steps), i - 1))
        head = _STEP_HEAD["zh" if lang == "zh" else "en"].format(marker=marker, i=i)
        step_post = _text_rules_of(need, [need], ctx, key)
        body = _render(_Scope(need, step.chain), ctx, rng, step_post, key)
        if step_post is not None:
            body = step_post(body.strip())
        parts.append(f"{head}\n{body}")
    return _finish("\n\n".join(parts), Need(case=g.case))


# --------------------------------------------------------------------------------------------- plans

def _plan(leaves: Sequence[_Leaf], ctx: WitnessContext) -> str:
    """The ``<think>`` plan: one short line per constraint naming it and how the answer meets it, in the
    row's language (:mod:`raif_rewards.witness_plan`)."""
    return "\n".join(plan_line(leaf.id, leaf.need, ctx.lang, ctx.request, leaf.where) for leaf in leaves)


# ------------------------------------------------------------------------------------------ entry points


def witness_for(truth: RuleTruth | str, request: str, key: str = "") -> Witness:
    """A witness answer for ``truth`` (unverified); raises :class:`Clash` (with a reason) when the
    needs cannot be composed. ``key`` seeds the filler choice (the same key gives the same text)."""
    gt = parse_ground_truth(truth) if isinstance(truth, str) else truth
    if not isinstance(gt, RuleTruth):
        raise Clash("not_rule_style")
    ctx = WitnessContext(gt.lang, request)
    leaves: list[_Leaf] = []
    scope = _needs(gt.tree, ctx, leaves)
    post = _text_rules_of(scope.need, [leaf.need for leaf in leaves], ctx, key)
    answer = _render(scope, ctx, random.Random(f"witness:{key}"), post, key).strip()
    if post is not None:
        answer = post(answer).strip()
    return Witness(answer, _plan(leaves, ctx))


def _text_rules_of(top: Need, needs: Sequence[Need], ctx: WitnessContext, key: str) -> Callable[[str], str] | None:
    """The rewrite of a scope's finished text for the rules on its words and lines (``top.text_rules``;
    None if it has none), with replacement words that obey what each of ``needs`` (every constraint
    whose text it is part of) asks of the filler (banned words, rare letters, word rules, vowels) and
    leave alone the words they ask for."""
    rules = list(top.text_rules)
    if not rules:
        return None
    if "line_ends" in rules and top.wrap in ("json", "xml"):
        raise Clash("line_ends_vs_wrap")  # the wrapper's one line starts with its markup
    lang = _lang_of(top, ctx)
    banned = tuple(w.lower() for n in needs for w in n.forbid) + tuple(p.lower() for n in needs for p, _ in n.cap)
    rare = tuple(letter.lower() for n in needs for letter, _lo, hi in n.letters if hi < INF)
    avoid = tuple(sorted({w for n in needs for w in n.avoid_words}))
    word_rules = sorted({n.word_rule for n in needs if n.word_rule})
    bank = _filtered_bank(lang, banned, rare, avoid, None, _vowel_set(top), witness_rules.ALPHABET_EXTRA)
    bank = [w for w in bank if all(WORD_RULES[r](w) for r in word_rules)]
    texts = [t for n in needs for t in _fixed_texts(n, lang)] + [n.overlap[0] for n in needs if n.overlap]
    if "line_ends" in rules and any(n.distinct for n in needs):
        raise Clash("line_ends_vs_distinct")  # a line that ends with its first word uses that word twice
    keep = witness_rules.Keep(
        bank=tuple(bank),
        protected=frozenset(w.lower() for text in texts for w in re.findall(r"[A-Za-z]+", text)),
        caps=frozenset(_CAPITALS),
        letters="".join(sorted({letter.lower() for n in needs for letter, lo, _hi in n.letters if lo > 0})),
        # an inserted word moves the words placed by position and changes counts with an upper bound
        may_insert=not any(n.placed or n.increment or n.linked or n.words[1] < INF for n in needs),
        frozen=tuple(t for n in needs for t in (n.prefix, n.end, n.fixed) if t),
    )

    def post(text: str) -> str:
        return witness_rules.apply_text_rules(text, rules, keep, random.Random(f"rules:{key}"))

    return post


def verify(witness: Witness, truth: RuleTruth | str) -> str:
    """"" when the witness earns the full reward (format and every constraint) under the paper's
    ``think_answer`` format, else a reason naming the first failing constraint."""
    result = score_rule(witness.completion, truth, DEFAULT_CONFIG)
    if result.score >= DEFAULT_CONFIG.format_ok + DEFAULT_CONFIG.all_satisfied:
        return ""
    if result.problem:
        return "format"
    failed = next((v.id for v in result.verdicts if not v.passed), "unknown")
    return f"fails:{failed}"


def compose_witness(truth: RuleTruth | str, request: str, key: str = "") -> tuple[Witness | None, str]:
    """``(witness, "")`` when a verified witness exists, else ``(None, reason)``."""
    try:
        w = witness_for(truth, request, key)
    except Clash as exc:
        return None, exc.reason
    reason = verify(w, truth)
    return (w, "") if not reason else (None, reason)
