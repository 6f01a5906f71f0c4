"""IFTrain word constraints: keywords once, N times, at a position, or not at all; first and last words;
letters and lowercase words counted; unique words; a palindrome (IFBench's training set; ids as in
open-instruct's IFEvalG)."""

from __future__ import annotations

import random
import re
import string
from itertools import pairwise

from raif_rewards.checkers._common import RELATION_SCHEMA, compare, int_schema, sample_relation, user_regex
from raif_rewards.checkers.ifbench_shared import STRIP, no_kwargs
from raif_rewards.checkers.iftrain_shared import (
    REPEAT_PROMPT,
    SOURCE,
    WORD_CHOICE_AVOIDS,
    distinct_words,
    has_cjk,
    texts,
    words,
)
from raif_rewards.registry import SHORT_ANSWER_KINDS, declare, register
from raif_rewards.text import Text, view
from raif_rewards.witness_spec import INF, Need, count_range

_KEYWORD = {"type": "string", "minLength": 1}
# Constraints that forbid words drawn from the same word lists the keyword constraints below draw from:
# the two could name the same word.
_AVOIDS_WORDS = ("keywords:exclude_word_harder", "keywords:forbidden_words")


def _counted(phrase: str, low: int, high: int) -> Need:
    """A need for ``phrase`` to occur between ``low`` and ``high`` times."""
    return Need(include=((phrase, low),) if low else (), cap=((phrase, high),) if high < INF else ())


def _count(keyword: str, t: Text) -> int:
    """Case-insensitive matches of ``keyword`` read as a regular expression (IFEval's keyword count)."""
    return len(user_regex(keyword.strip()).findall(t.raw))


@register(
    "keywords:word_once",
    group="lexical",
    schema={"properties": {"keyword": _KEYWORD}, "required": ["keyword"]},
    sample=lambda rng, lang: {"keyword": distinct_words(rng, 1, lang)[0]},
    **texts(
        (
            "Include keyword {keyword} once in your response.",
            'Use the word "{keyword}" exactly once in your answer.',
            'Mention "{keyword}" one time, and only one time.',
        ),
        ("请在回答中使用关键词“{keyword}”，且只出现一次。", "“{keyword}”这个词在回答中必须恰好出现一次。"),
    ),
    conflicts=(
        *_AVOIDS_WORDS,
        "keywords:frequency",
        "keywords:word_count_different_numbers",
        "count:count_increment_word",
        REPEAT_PROMPT,  # the word is the request's own: a copied request already counts it
    ),
    source=SOURCE,
    witness=lambda kw, ctx: _counted(kw["keyword"], 1, 1),
)
def word_once(t: Text, keyword: str) -> bool:
    """The keyword matches exactly once (case-insensitive regex matches, as IFEvalG counts)."""
    return _count(keyword, t) == 1


declare(
    "keywords:word_once",
    topic_kwargs={"keyword": "present"},
    phrasings={
        "en": (
            'Use "{keyword}" once; a second occurrence is not allowed.',
            'The keyword "{keyword}" must appear in your response exactly one time.',
            'Write "{keyword}" a single time - not zero times, not twice.',
        ),
        "zh": (
            "“{keyword}”要在回答里出现，但只能出现一次。",
            "请用一次“{keyword}”，不要重复使用，也不要漏掉。",
            "关键词“{keyword}”的出现次数：恰好一次。",
            "“{keyword}”必须提到，而且只提这一次，第二次就算违规。",
            "“{keyword}”在你的回答里正好用上一回，不能缺，也不能多。",
            "请把“{keyword}”这个词恰好写进回答一次。",
            "回答中要有一处用到“{keyword}”，并且只能有这一处。",
            "“{keyword}”一词用且仅用一次。",
            "关键词“{keyword}”只能用一回，既不能省略，也不能重复。",
            "“{keyword}”在回答里只能出现一次——哪怕是夹在别的词里，也算一次。",
        ),
    },
)


def _sample_frequency(rng: random.Random, lang: str) -> dict:
    relation = sample_relation(rng)
    low = 2 if relation == "less than" else 1  # "less than 1 time" is a forbidden word in disguise
    return {
        "keyword": distinct_words(rng, 1, lang)[0],
        "frequency": rng.randint(low, 4),
        "relation": relation,
    }


@register(
    "keywords:word_count_different_numbers",
    group="lexical",
    schema={
        "properties": {"keyword": _KEYWORD, "frequency": int_schema(0), "relation": RELATION_SCHEMA},
        "required": ["keyword", "frequency", "relation"],
    },
    sample=_sample_frequency,
    **texts(
        (
            "In your response, the word {keyword} should appear {relation} {frequency} times.",
            'Use "{keyword}" {relation} {frequency} times.',
            'Count your uses of the word "{keyword}": there must be {relation} {frequency} of them.',
        ),
        (
            "回答中“{keyword}”一词出现的次数应{relation}{frequency}次。",
            "请让“{keyword}”出现{relation}{frequency}次。",
        ),
    ),
    conflicts=(*_AVOIDS_WORDS, "keywords:frequency", "keywords:word_once", "count:count_increment_word"),
    source=SOURCE,
    witness=lambda kw, ctx: _counted(kw["keyword"], *count_range(kw["relation"], kw["frequency"])),
)
def word_count_different_numbers(t: Text, keyword: str, frequency: int, relation: str) -> bool:
    """The keyword's case-insensitive regex matches number at least / less than ``frequency``.

    IFEvalG's text leaves the relation out ("should appear 3 times"); here it is said.
    """
    return compare(_count(keyword, t), relation, frequency)


declare(
    "keywords:word_count_different_numbers",
    topic_kwargs={"keyword": "count:relation"},
    phrasings={
        "en": (
            'Mention "{keyword}" {relation_alt} {frequency} times.',
            'How often "{keyword}" shows up in your response matters: {relation} {frequency} times.',
            'Work the word "{keyword}" into your response so that it occurs {relation} {frequency} times in '
            "total.",
        ),
        "zh": (
            "“{keyword}”这个词要用{relation_alt}{frequency}次。",
            "请注意“{keyword}”的出现次数：{relation}{frequency}次。",
            "在回答里提到“{keyword}”的次数须{relation_alt}{frequency}次。",
            "写完后数一数“{keyword}”，它出现的总次数应该{relation}{frequency}次。",
            "用到“{keyword}”的地方合计应{relation_alt}{frequency}处。",
            "请统计一下你用了几次“{keyword}”，这个数字必须{relation_alt}{frequency}。",
            "统计“{keyword}”时，夹在其他词语里的也算，总次数须{relation_alt}{frequency}次。",
            "“{keyword}”的用量有规定，必须是{relation}{frequency}次。",
            "作答时留意“{keyword}”用了多少次，得{relation}{frequency}次才算合格。",
            "你可以随意安排“{keyword}”的位置，只要它出现的次数{relation_alt}{frequency}次就行。",
        ),
    },
)


_EXCLUDE: dict[str, re.Pattern] = {}


def _whole_word(keyword: str) -> re.Pattern:
    pattern = _EXCLUDE.get(keyword)
    if pattern is None:
        if len(_EXCLUDE) > 4096:
            _EXCLUDE.clear()
        # Chinese has no spaces between words: there any occurrence counts.
        body = re.escape(keyword)
        pattern = _EXCLUDE[keyword] = re.compile(body if has_cjk(keyword) else rf"(?<!\w){body}(?!\w)", re.I)
    return pattern


@register(
    "keywords:exclude_word_harder",
    group="lexical",
    schema={"properties": {"keyword": _KEYWORD}, "required": ["keyword"]},
    sample=lambda rng, lang: {"keyword": distinct_words(rng, 1, lang)[0]},
    **texts(
        (
            "Do not include keyword {keyword} in the response.",
            'Never use the word "{keyword}" in your answer.',
            'Avoid the word "{keyword}" completely.',
        ),
        ("回答中不要出现“{keyword}”这个词。", "请完全避免使用“{keyword}”一词。"),
    ),
    conflicts=("keywords:existence", "keywords:frequency"),
    source=SOURCE,
    witness=lambda kw, ctx: Need(forbid=(kw["keyword"],)),
)
def exclude_word_harder(t: Text, keyword: str) -> bool:
    """The keyword does not occur as a whole word, in any case (in Chinese: nowhere).

    IFEvalG only looks for it between two spaces, so "river." or "River" slipped through a text that forbids
    the word.
    """
    keyword = keyword.strip()
    return bool(keyword) and _whole_word(keyword).search(t.raw) is None


declare(
    "keywords:exclude_word_harder",
    topic_kwargs={"keyword": "absent"},
    phrasings={
        "en": (
            'The word "{keyword}" is off-limits: it must not appear in your response in any capitalisation.',
            'Get your point across without ever writing "{keyword}".',
            'Keep "{keyword}" out of your response entirely, whether capitalised or not.',
        ),
        "zh": (
            "“{keyword}”这个词禁止使用，回答里一次都不能出现。",
            "请在不提到“{keyword}”的前提下完成回答。",
            "回答中任何地方都不能有“{keyword}”，包括作为别的词的一部分。",
            "把“{keyword}”列为禁用词，它一旦出现在回答里就算不合格。",
            "换个说法也好，绕开也好，总之别写出“{keyword}”这个词。",
            "你的回答里找不到“{keyword}”才算合格。",
            "请避开“{keyword}”，正文、标题、括号里都不要用到它。",
            "“{keyword}”属于不许使用的词。",
            "哪怕意思上需要，也请用其他表达来代替“{keyword}”，这个词本身不能出现。",
            "检查时会搜索“{keyword}”这个词，只要搜到一处（包括藏在更长的词里）就算不通过。",
        ),
    },
)


_LETTERS = frozenset(string.ascii_lowercase)


@register(
    "keywords:no_adjacent_consecutive",
    group="lexical",
    sample=no_kwargs,
    **texts(
        (
            "No two adjacent words can start with consecutive letters of the alphabet.",
            "Never let a word start with the letter that alphabetically follows the first letter of the word before "
            "it (no 'big' then 'cat').",
            "Make sure no word begins with the next letter of the alphabet after the previous word's first letter.",
        ),
    ),
    conflicts=("words:alphabet",),
    source=SOURCE,
    witness=lambda kw, ctx: Need(word_rule="alternate_initials"),
    request_conflicts=lambda req: () if _no_consecutive_initials(req.text) else (REPEAT_PROMPT,),
)
def no_adjacent_consecutive(t: Text) -> bool:
    """For adjacent whitespace tokens, the second's first character (lower-cased) is not the code point after the first's; a first character whose lower case is two characters long fails, as in IFEvalG."""
    return _no_consecutive_initials(t.raw)


def _no_consecutive_initials(raw: str) -> bool:
    for a, b in pairwise(raw.split()):
        x, y = a[0].lower(), b[0].lower()
        if len(x) != 1 or len(y) != 1 or ord(y) - ord(x) == 1:
            return False
    return True


declare(
    "keywords:no_adjacent_consecutive",
    avoids=WORD_CHOICE_AVOIDS,
    phrasings={
        "en": (
            "For every two words in a row, the second must not start with the letter that comes right after "
            "the first word's initial in the alphabet (so 'apple' followed by 'banana' is not allowed).",
            "Watch the initials of neighbouring words: no word may begin with the letter that follows, in the "
            "alphabet, the first letter of the word before it (after 'dog', no word starting with 'e').",
            "Two words side by side may never have initials that are next to each other in alphabetical order, "
            "like the s and t of 'sun tree' or the r and s of 'red sky'.",
        ),
    },
)


@register(
    "keywords:palindrome",
    group="lexical",
    sample=no_kwargs,
    **texts(
        (
            "Include a palindrome (one word of at least three letters) in your response.",
            "Use at least one palindromic word of three or more letters (such as 'level' or 'noon').",
            "Somewhere in your answer, include a word that reads the same backwards, at least three letters long.",
        ),
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(include=(("level", 1),)),
)
def palindrome(t: Text) -> bool:
    """Some whitespace token, outer punctuation stripped and lower-cased, is a palindrome of at least three letters.

    IFEvalG accepts any token equal to its reverse, so every text with "a" or "I" passed.
    """
    for token in t.lower.split():
        w = token.strip(STRIP)
        if len(w) >= 3 and w.isalpha() and w == w[::-1]:
            return True
    return False


declare(
    "keywords:palindrome",
    phrasings={
        "en": (
            "Use a word that is spelled the same forwards and backwards, at least three letters long, such "
            "as 'radar' or 'civic'.",
            "Work one or more palindromes of three letters or more (for example 'kayak') into your response.",
            "Your response needs at least one palindromic word of three or more letters, like 'refer'.",
        ),
    },
)


def _words_of_tokens(tokens: list[str]) -> list[str]:
    # Treebank tokens that hold a word character: punctuation tokens are not words
    return [tok for tok in tokens if any(ch.isalnum() for ch in tok)]


@register(
    "keywords:keyword_specific_position",
    group="lexical",
    schema={
        "properties": {"keyword": _KEYWORD, "n": int_schema(1, 50), "m": int_schema(1, 60)},
        "required": ["keyword", "n", "m"],
    },
    sample=lambda rng, lang: {
        "keyword": distinct_words(rng, 1, "en")[0],
        "n": rng.randint(1, 5),
        "m": rng.randint(1, 10),
    },
    **texts(
        (
            "Include keyword {keyword} in sentence {n}, as word number {m} of that sentence.",
            'In sentence number {n} of your answer, word number {m} must be "{keyword}".',
            'Make "{keyword}" word {m} of sentence {n} (counting from 1).',
        ),
    ),
    # a copied request fills the first sentences with words of its own
    conflicts=(*_AVOIDS_WORDS, "first_word:first_word_sent", "count:counting_composition", REPEAT_PROMPT),
    source=SOURCE,
    witness=lambda kw, ctx: Need(placed=((kw["n"], kw["m"], kw["keyword"]),), sentences=(kw["n"], INF)),
    request_ok=lambda req, kw: req.task_type not in SHORT_ANSWER_KINDS or kw["n"] <= 2,
)
def keyword_specific_position(t: Text, keyword: str, n: int, m: int) -> bool:
    """The ``m``-th word of the ``n``-th Punkt sentence is the keyword (case-insensitive; words are Treebank tokens holding a letter or digit).

    IFEvalG compares case-sensitively and counts punctuation tokens as words, so "River" opening a sentence or
    a comma before the keyword failed a correct answer.
    """
    sents = t.sentences
    if len(sents) < n:
        return False
    tokens = _words_of_tokens(view(sents[n - 1]).nltk_words)
    return len(tokens) >= m and tokens[m - 1].lower() == keyword.strip().lower()


declare(
    "keywords:keyword_specific_position",
    avoids=("code",),
    topic_kwargs={"keyword": "present"},
    phrasings={
        "en": (
            'Place "{keyword}" exactly at word {m} of sentence {n}, counting both from one (punctuation '
            "marks are not words).",
            'Sentence number {n} of your response must have "{keyword}" as its word number {m}.',
            'Count to sentence {n}, then to its word number {m}: that word has to be "{keyword}".',
        ),
    },
)


@register(
    "keywords:start_end",
    group="startend",
    sample=no_kwargs,
    **texts(
        (
            "Start and end your response with the same word (do not write anything after the last word, not even "
            "punctuation).",
            "Your first word and your last word must be the same word, and nothing, not even a full stop, may follow "
            "the last one.",
            "Begin and finish your answer with one and the same word; put no punctuation after the final word.",
        ),
    ),
    conflicts=(
        "startend:end_checker",
        "startend:quotation",
        "detectable_format:json_format",
        "detectable_format:title",
        "detectable_content:postscript",
        "first_word:first_word_answer",
        "last_word:last_word_answer",
        "last_word:last_word_sent",
        REPEAT_PROMPT,  # the first word would be the request's
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(first_words=((1, "Today"),), end="today"),
)
def start_end(t: Text) -> bool:
    """At least two ``nltk.word_tokenize`` tokens, the first equal to the last (case-insensitive)."""
    tokens = t.nltk_words
    return len(tokens) >= 2 and tokens[0].lower() == tokens[-1].lower()


declare(
    "keywords:start_end",
    phrasings={
        "en": (
            "Open and close your response with the identical word, and let that word be the very last thing "
            "written, with no full stop or other mark after it.",
            "Whatever word you begin with, end on that same word; the final word must not be followed by "
            "any punctuation.",
            "Make the first and the last word of your response match (e.g. begin with 'Rain' and finish "
            "with 'rain'), leaving nothing after that final word.",
        ),
    },
)


def _first_word(s: str) -> str:
    tokens = s.split()
    return tokens[0].strip(STRIP).lower() if tokens else ""


def _last_word(s: str) -> str:
    tokens = s.split()
    return re.sub(r"[^\w\s]", "", tokens[-1]).lower() if tokens else ""


_WORD_SCHEMA = {"type": "string", "minLength": 1}


@register(
    "first_word:first_word_sent",
    group="startend",
    schema={"properties": {"first_word": _WORD_SCHEMA}, "required": ["first_word"]},
    sample=lambda rng, lang: {"first_word": distinct_words(rng, 1, "en")[0]},
    **texts(
        (
            "The first word of each sentence should be the word {first_word}.",
            'Start every sentence with the word "{first_word}".',
            'Each of your sentences must begin with "{first_word}".',
        ),
    ),
    conflicts=(
        *_AVOIDS_WORDS,
        "first_word:first_word_answer",
        "length_constraints:nth_paragraph_first_word",
        "startend:quotation",
        "detectable_format:title",
        "detectable_format:json_format",
        "detectable_format:number_bullet_lists",
        "detectable_format:multiple_sections",
        "detectable_content:postscript",
        "count:count_unique",
        REPEAT_PROMPT,  # the copied request's sentences start with words of its own
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(first_words=((1, kw["first_word"]),), sentences=(1, 1)),
)
def first_word_sent(t: Text, first_word: str) -> bool:
    """Every Punkt sentence's first whitespace token, outer punctuation stripped, is the word (case-insensitive); at least one sentence.

    IFEvalG keeps the punctuation, so "River," never matched "river".
    """
    sents = t.sentences
    want = first_word.strip(STRIP).lower()
    return bool(sents) and all(_first_word(s) == want for s in sents)


declare(
    "first_word:first_word_sent",
    avoids=WORD_CHOICE_AVOIDS,
    topic_kwargs={"first_word": "present"},
    phrasings={
        "en": (
            'Open each of your sentences with "{first_word}".',
            'Every sentence, from the first to the last, has to start with the word "{first_word}".',
            'Use "{first_word}" as the opening word of all your sentences.',
        ),
    },
)


@register(
    "first_word:first_word_answer",
    group="startend",
    schema={"properties": {"first_word": _WORD_SCHEMA}, "required": ["first_word"]},
    sample=lambda rng, lang: {"first_word": distinct_words(rng, 1, "en")[0]},
    **texts(
        (
            "The first word of your response should be the word {first_word}.",
            'Begin your answer with the word "{first_word}".',
            'The very first word you write must be "{first_word}".',
        ),
    ),
    conflicts=(
        *_AVOIDS_WORDS,
        "length_constraints:nth_paragraph_first_word",
        "startend:quotation",
        "detectable_format:title",
        "detectable_format:json_format",
        "detectable_format:constrained_response",
        REPEAT_PROMPT,  # the first word would be the request's
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(first_words=((1, kw["first_word"]),)),
)
def first_word_answer(t: Text, first_word: str) -> bool:
    """The response's first whitespace token, outer punctuation stripped, is the word (case-insensitive)."""
    return _first_word(t.raw) == first_word.strip(STRIP).lower() != ""


declare(
    "first_word:first_word_answer",
    topic_kwargs={"first_word": "present"},
    phrasings={
        "en": (
            'Your response has to open with the word "{first_word}".',
            'Start with "{first_word}": it must be the first word you write, before anything else.',
            'Let "{first_word}" be the word your response begins with.',
        ),
    },
)


@register(
    "last_word:last_word_sent",
    group="startend",
    schema={"properties": {"last_word": _WORD_SCHEMA}, "required": ["last_word"]},
    sample=lambda rng, lang: {"last_word": distinct_words(rng, 1, "en")[0]},
    **texts(
        (
            "The last word of each sentence, before punctuation, should be the word {last_word}.",
            'End every sentence with the word "{last_word}" (the closing punctuation may follow it).',
            'Each sentence you write must finish on the word "{last_word}", just before its punctuation mark.',
        ),
    ),
    conflicts=(
        *_AVOIDS_WORDS,
        "last_word:last_word_answer",
        "startend:end_checker",
        "startend:quotation",
        "detectable_content:postscript",
        "detectable_format:json_format",
        "detectable_format:title",
        "detectable_format:number_bullet_lists",
        "detectable_format:multiple_sections",
        "count:count_unique",
        REPEAT_PROMPT,  # the copied request's sentences end on words of its own
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(placed=((1, -1, kw["last_word"]),), sentences=(1, 1)),
)
def last_word_sent(t: Text, last_word: str) -> bool:
    """Every Punkt sentence's last whitespace token, with everything but word characters removed, is the word (case-insensitive); at least one sentence."""
    sents = t.sentences
    want = re.sub(r"[^\w\s]", "", last_word).lower()
    return bool(sents) and all(_last_word(s) == want for s in sents)


declare(
    "last_word:last_word_sent",
    avoids=WORD_CHOICE_AVOIDS,
    topic_kwargs={"last_word": "present"},
    phrasings={
        "en": (
            'Close every sentence on the word "{last_word}", followed only by its punctuation mark.',
            'Each sentence must have "{last_word}" as its final word; the full stop, question mark or other '
            "closing mark comes right after it.",
            'Finish all of your sentences with the word "{last_word}".',
        ),
    },
)


@register(
    "last_word:last_word_answer",
    group="startend",
    schema={"properties": {"last_word": _WORD_SCHEMA}, "required": ["last_word"]},
    sample=lambda rng, lang: {"last_word": distinct_words(rng, 1, "en")[0]},
    **texts(
        (
            "The last word of your response should be the word {last_word}.",
            'End your answer with the word "{last_word}".',
            'Make "{last_word}" the final word you write (a closing punctuation mark after it is fine).',
        ),
    ),
    conflicts=(
        *_AVOIDS_WORDS,
        "startend:end_checker",
        "startend:quotation",
        "detectable_content:postscript",
        "detectable_format:json_format",
        "detectable_format:constrained_response",
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(end=kw["last_word"]),
    at_end=True,
)
def last_word_answer(t: Text, last_word: str) -> bool:
    """The response's last whitespace token, with everything but word characters removed, is the word (case-insensitive).

    IFEvalG raised on an empty response; here it fails.
    """
    want = re.sub(r"[^\w\s]", "", last_word).lower()
    return want != "" and _last_word(t.raw) == want


declare(
    "last_word:last_word_answer",
    topic_kwargs={"last_word": "present"},
    phrasings={
        "en": (
            'Let "{last_word}" be the last word of your response; only punctuation may follow it.',
            'Conclude with the word "{last_word}" - nothing but a closing punctuation mark may come after '
            "it.",
            'Your response must end on the word "{last_word}".',
        ),
    },
)


_LOWER_WORD = re.compile(r"\b[a-z]+\b")


@register(
    "count:lowercase_counting",
    group="counting",
    schema={"properties": {"N": int_schema(0)}, "required": ["N"]},
    sample=lambda rng, lang: {"N": rng.randint(3, 30)},
    **texts(
        (
            "In your response, use at most {N} words written entirely in lowercase letters.",
            "No more than {N} of your words may be all lowercase; capitalise the rest.",
            "Write so that at most {N} words are fully lowercase (words with any capital letter do not count).",
        ),
    ),
    conflicts=("change_case:english_lowercase", "length_constraints:number_words"),
    source=SOURCE,
    witness=lambda kw, ctx: Need(case="upper"),
    # a copied request brings its own lowercase words (at least 3 are always allowed)
    request_conflicts=lambda req: (REPEAT_PROMPT,) if len(_LOWER_WORD.findall(req.text)) > 3 else (),
)
def lowercase_counting(t: Text, N: int) -> bool:
    """At most ``N`` runs of ASCII lowercase letters between word boundaries.

    IFEvalG's text ("all lowercase words should appear at most N times") reads as a limit per word; the check
    limits their total, and so does the text here.
    """
    return len(_LOWER_WORD.findall(t.raw)) <= N


declare(
    "count:lowercase_counting",
    avoids=("code", "extraction"),  # as all capitals: identifiers and copied items keep their case
    phrasings={
        "en": (
            "Keep fully lowercase words to a maximum of {N}; a word with any capital letter in it is not "
            "counted.",
            "Write mostly in capitals: at most {N} of your words may consist of lowercase letters only.",
            "You may use up to {N} all-lowercase words in total; capitalise or uppercase every other word.",
        ),
    },
)


@register(
    "count:count_unique",
    group="counting",
    sample=no_kwargs,
    **texts(
        (
            "Only use unique words in your response, no word should be repeated!",
            "Do not use any word twice: every word in your answer must be different (ignoring case).",
            "Each word may appear only once in your reply, so never repeat a word, not even 'the' or 'a'.",
        ),
    ),
    conflicts=(
        "keywords:frequency",
        "count:count_increment_word",
        "keywords:word_count_different_numbers",
        "length_constraints:number_words",
        "copy:repeat_phrase",
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(distinct=True),
    request_conflicts=lambda req: () if _all_distinct(req.text) else (REPEAT_PROMPT,),
)
def count_unique(t: Text) -> bool:
    """At least one word, and no ``\\w+`` word twice (case-insensitive).

    IFEvalG compares ``nltk.word_tokenize`` tokens, so two full stops counted as a repeated word.
    """
    return _all_distinct(t.lower)


def _all_distinct(s: str) -> bool:
    ws = words(s.lower())
    return bool(ws) and len(ws) == len(set(ws))


declare(
    "count:count_unique",
    avoids=WORD_CHOICE_AVOIDS,
    phrasings={
        "en": (
            "Never repeat a word: each word you write, ignoring capitalisation, may occur only once.",
            "Write without a single repeated word - not even small ones like 'a', 'the' or 'and' may appear "
            "twice.",
            "Every word in your response must differ from every other word (case does not matter), so pick "
            "each one fresh.",
        ),
    },
)


def _sample_two(rng: random.Random, lang: str) -> dict:
    first, second = distinct_words(rng, 2, lang)
    return {"keyword1": first, "keyword2": second}


@register(
    "count:count_increment_word",
    group="counting",
    schema={"properties": {"keyword1": _KEYWORD, "keyword2": _KEYWORD}, "required": ["keyword1", "keyword2"]},
    sample=_sample_two,
    **texts(
        (
            "Include keyword {keyword1} once in your response, keyword {keyword2} twice in your response.",
            'Use "{keyword1}" exactly once and "{keyword2}" exactly twice.',
            'The word "{keyword1}" must appear one time and the word "{keyword2}" two times in your answer.',
        ),
        (
            "回答中“{keyword1}”恰好出现一次，“{keyword2}”恰好出现两次。",
            "请使用“{keyword1}”一次、“{keyword2}”两次，不多不少。",
        ),
    ),
    conflicts=(
        *_AVOIDS_WORDS,
        "keywords:frequency",
        "keywords:word_once",
        "keywords:word_count_different_numbers",
        REPEAT_PROMPT,  # the words are the request's own: a copied request already counts them
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(
        include=((kw["keyword1"], 1), (kw["keyword2"], 2)), cap=((kw["keyword1"], 1), (kw["keyword2"], 2))
    ),
)
def count_increment_word(t: Text, keyword1: str, keyword2: str) -> bool:
    """``keyword1`` matches exactly once and ``keyword2`` exactly twice (case-insensitive regex matches)."""
    return _count(keyword1, t) == 1 and _count(keyword2, t) == 2


declare(
    "count:count_increment_word",
    topic_kwargs={"keyword1": "present", "keyword2": "present"},
    phrasings={
        "en": (
            'Mention "{keyword1}" a single time and "{keyword2}" two times, and neither of them any other '
            "time.",
            'Work the word "{keyword2}" in twice and the word "{keyword1}" in once - those exact counts.',
            'Keyword counts for your response: "{keyword1}" exactly 1 time, "{keyword2}" exactly 2 times.',
        ),
        "zh": (
            "“{keyword1}”只能出现一次，“{keyword2}”必须出现两次，都不能多也不能少。",
            "请把“{keyword2}”写进回答两次、把“{keyword1}”写进去一次，其余地方不要再出现这两个词。",
            "关键词用量：“{keyword1}”正好1次，“{keyword2}”正好2次。",
            "两个词的次数都有硬性规定——“{keyword1}”一次，“{keyword2}”两次，多一次少一次都不行。",
            "“{keyword2}”不多不少用两回，“{keyword1}”只用一回。",
            "请让“{keyword1}”出现1次、“{keyword2}”出现2次，这两个数字都必须分毫不差。",
            "数一下回答里的“{keyword1}”和“{keyword2}”，前者应当恰好1个，后者恰好2个。",
            "先后顺序随意，但“{keyword1}”只准出现一次，“{keyword2}”则要正好出现两次。",
            "用词清单（次数须严格相符）：“{keyword1}”×1，“{keyword2}”×2。",
            "“{keyword1}”写一次就停，“{keyword2}”写满两次就停，之后都不要再用。",
        ),
    },
)


_ASCII_LETTER = re.compile(r"[a-zA-Z]")


def _letters_witness(kw, ctx) -> Need:
    # filler words run 3 to 10 letters: a word range that keeps the letter count on the right side
    low, high = count_range(kw["relation"], kw["N"])
    return Need(words=(low // 3 + 1, INF)) if high == INF else Need(words=(1, max(1, high // 12)))


def _sample_letters(rng: random.Random, lang: str) -> dict:
    relation = sample_relation(rng)
    return {
        "N": rng.randint(20, 200) if relation == "at least" else rng.randint(300, 1200),
        "relation": relation,
    }


@register(
    "letters:letter_counting",
    group="lexical",
    schema={"properties": {"N": int_schema(0), "relation": RELATION_SCHEMA}, "required": ["N", "relation"]},
    sample=_sample_letters,
    **texts(
        (
            "Answer with {relation} {N} letters.",
            "Your answer must contain {relation} {N} letters (A-Z, a-z; digits and punctuation do not count).",
            "Count only the Latin letters in your reply: there must be {relation} {N} of them.",
        ),
    ),
    conflicts=("length_constraints:number_words", "count:counting_composition"),
    source=SOURCE,
    witness=_letters_witness,
    # "less than" asks for 300 letters or more: a long copied request leaves the answer too few
    request_conflicts=lambda req: (REPEAT_PROMPT,) if len(_ASCII_LETTER.findall(req.text)) >= 150 else (),
)
def letter_counting(t: Text, N: int, relation: str) -> bool:
    """The number of ASCII letters is at least / less than ``N``."""
    return compare(len(_ASCII_LETTER.findall(t.raw)), relation, N)


declare(
    "letters:letter_counting",
    avoids=("code",),
    phrasings={
        "en": (
            "Use {relation_alt} {N} letters of the English alphabet in total (only a-z and A-Z are counted; "
            "spaces, digits and punctuation are not).",
            "The total number of Latin letters (A-Z, a-z) you write should be {relation} {N}.",
            "Mind the length in letters: your response must have {relation} {N} of the letters a-z/A-Z, "
            "whatever else it contains.",
        ),
    },
)


#: letters under 1.5% of English text: "less than 4 times" on "e" or "t" would ask for a lipogram
_RARE_LETTERS = "bjkqvxz"


def _sample_letter(rng: random.Random, lang: str) -> dict:
    relation = sample_relation(rng)
    return {
        "letter": rng.choice(_RARE_LETTERS if relation == "less than" else string.ascii_lowercase),
        "let_frequency": rng.randint(1, 10),
        "let_relation": relation,
    }


@register(
    "letters:letter_counting2",
    group="lexical",
    schema={
        "properties": {
            "letter": {"type": "string", "minLength": 1, "maxLength": 1},
            "let_frequency": int_schema(0),
            "let_relation": RELATION_SCHEMA,
        },
        "required": ["letter", "let_frequency", "let_relation"],
    },
    sample=_sample_letter,
    **texts(
        (
            "In your response, the letter {letter} should appear {let_relation} {let_frequency} times.",
            'Use the letter "{letter}" {let_relation} {let_frequency} times (upper or lower case).',
            'Count the letter "{letter}" in your answer, capitals included: {let_relation} {let_frequency} times.',
        ),
    ),
    conflicts=("keywords:letter_frequency", REPEAT_PROMPT),  # a copied request spends "less than" letters
    source=SOURCE,
    witness=lambda kw, ctx: Need(
        letters=((kw["letter"], *count_range(kw["let_relation"], kw["let_frequency"])),)
    ),
)
def letter_counting2(t: Text, letter: str, let_frequency: int, let_relation: str) -> bool:
    """The letter (case-insensitive) occurs at least / less than ``let_frequency`` times."""
    return compare(t.lower.count(letter.lower()), let_relation, let_frequency)


declare(
    "letters:letter_counting2",
    avoids=WORD_CHOICE_AVOIDS,
    phrasings={
        "en": (
            'The letter "{letter}", counting both its lowercase and uppercase forms, must occur '
            "{let_relation_alt} {let_frequency} times.",
            'Make sure "{letter}" (capital or small) shows up {let_relation} {let_frequency} times in total.',
            'Keep track of the letter "{letter}" in either case: your response should use it {let_relation} '
            "{let_frequency} times.",
        ),
    },
)
