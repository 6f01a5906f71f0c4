"""Instructions that fit their task, say what their checker checks, and read less like templates (issue 12):
task types and request kinds, keyword words from the request, phrasings faithful to the kwargs, step
wording, if/else layout, exact request-length conditions, and the diversity/relevance measures."""

from __future__ import annotations

import json
import random
import re

import pytest

from raif_data import instruct, quality, tasks, wording
from raif_data.recipe import InstructConfig
from raif_data.seeds import Seed, asset_path
from raif_rewards import registry
from raif_rewards.text import view

#: the sources whose phrasings this issue covers (IFBench's are evaluation constraints, see docs/data.md)
COVERED = [c for c in registry.all_checkers() if c.sampler is not None and c.source in ("ifeval", "raif", "iftrain")]
SEEDS = [Seed(d["id"], d["prompt"], d["lang"], d["task_type"])
         for d in map(json.loads, asset_path("seeds_demo.jsonl").read_text(encoding="utf-8").splitlines())]


# ------------------------------------------------------------------------------------------ phrasings

@pytest.mark.parametrize("checker", COVERED, ids=lambda c: c.id)
def test_at_least_five_distinct_phrasings_per_language(checker):
    for lang in checker.languages:
        kwargs = checker.sample(random.Random(3), lang)
        for name in checker.prompt_kwargs:
            kwargs[name] = "Plan a picnic for six friends."
        n = checker.phrasing_count(lang)
        texts = {checker.render(kwargs, lang, v) for v in range(n)}
        assert n >= 5 and len(texts) >= 5, (checker.id, lang, n, len(texts))


def test_every_phrasing_is_equally_likely():
    """Variants are drawn below ``_VARIANTS`` and taken modulo the phrasing count: a count that does not
    divide it would favour the first phrasings."""
    for checker in COVERED:
        for lang in checker.languages:
            assert instruct._VARIANTS % checker.phrasing_count(lang) == 0, (checker.id, lang)


_RELATION_TEXT = {
    ("en", "at least"): re.compile(r"at least|no fewer than"),
    ("en", "less than"): re.compile(r"less than|(?<!no )fewer than"),
    ("zh", "至少"): re.compile("至少|不少于"),
    ("zh", "少于"): re.compile("(?<!不)少于|不到"),
}
_OTHER_RELATION = {"at least": "less than", "less than": "at least", "至少": "少于", "少于": "至少"}


def _mentions(text: str, name: str, value, lang: str, checker) -> bool:
    if name in checker.prompt_kwargs or isinstance(value, bool):
        return True  # the request itself; a flag the wording states as a rule (checked below)
    if name == "language":
        from raif_rewards.checkers.language import LANGUAGES

        return LANGUAGES[value][1 if lang == "zh" else 0] in text
    if isinstance(value, str) and value in registry.RELATIONS:
        at_least = value in registry.AT_LEAST  # rendered in the phrasing's language whatever its kwarg says
        own = {("en", True): "at least", ("en", False): "less than", ("zh", True): "至少", ("zh", False): "少于"}
        mine, other = own[(lang, at_least)], own[(lang, not at_least)]
        return bool(_RELATION_TEXT[(lang, mine)].search(text)) and not _RELATION_TEXT[(lang, other)].search(text)
    if isinstance(value, list):
        return all(str(v) in text for v in value)
    return str(value) in text


@pytest.mark.parametrize("checker", COVERED, ids=lambda c: c.id)
def test_every_phrasing_states_every_kwarg_value(checker):
    """A phrasing that drops a number, word, marker or relation cannot be followed: each one must name
    every kwargs value (relations in words of the right direction), for many sampled kwargs."""
    for lang in checker.languages:
        for seed in range(12):
            rng = random.Random(seed)
            kwargs = checker.sample(rng, lang)
            if "relation" in json.dumps(checker.schema):  # both directions of every relation
                for key, value in list(kwargs.items()):
                    if isinstance(value, str) and value in registry.RELATIONS and seed % 2:
                        kwargs[key] = _OTHER_RELATION[value]
            for name in checker.prompt_kwargs:
                kwargs[name] = "Plan a picnic for six friends."
            for v in range(checker.phrasing_count(lang)):
                text = checker.render(kwargs, lang, v)
                for name, value in kwargs.items():
                    assert _mentions(text, name, value, lang, checker), (checker.id, lang, v, name, value, text)


_RULE_WORDS = {
    # constraints without kwargs (or with a flag): the words that state the rule, one group each
    "change_case:english_capital": [r"capital|upper ?case|CAPITAL"],
    "change_case:english_lowercase": [r"lower ?case|upper ?case"],
    "combination:two_responses": [r"\*\*\*\*\*\*", r"two|两"],
    "combination:repeat_prompt": [r"repeat|copy|restate|exact text|复述|重复|抄写|原文"],
    "detectable_format:constrained_response": [r"My answer is yes\.", r"My answer is no\.", r"My answer is maybe\."],
    "detectable_format:json_format": [r"JSON"],
    "detectable_format:xml_format": [r"XML", r"root|根|top-level|顶层|one well-formed"],
    "detectable_format:title": [r"<<"],
    "startend:quotation": [r"quot|\"|引号"],
    "punctuation:no_comma": [r"comma|,|逗号|，"],
    # IFTrain (the copy rules state both what to copy and that this sentence is left out)
    "copy:copy": [r"cop(y|ies)|repeat|verbatim|exactly as|word for word|letter for letter|抄|复述|重复|原样|照搬",
                  r"this (instruction|sentence)|这句|本句"],
    "copy:copying_simple": [r"cop(y|ies)|repeat|verbatim|exactly as|echo|restate|抄|复述|重复|原样|原封不动",
                            r"this sentence|这句|本句"],
    "count:count_unique": [r"repeat|unique|twice|only once|differ|distinct"],
    "detectable_format:bigram_wrapping": [r"<<", r"pair|bigram|two"],
    "detectable_format:sentence_hyphens": [r"hyphen|'-'|\(-\)", r"sentence", r"space"],
    "detectable_format:square_brackets": [r"square brackets|'\[' and ends with '\]'"],
    "keywords:no_adjacent_consecutive": [r"alphabet", r"adjacent|neighbo|next|after|in a row|before|side by side"],
    "keywords:palindrome": [r"palindrom|same forwards and backwards|same backwards", r"three"],
    "keywords:start_end": [r"same|identical|match", r"first|begin|start|open", r"last|end|finish|close"],
    "paragraphs:paragraphs": [r"\*\*\*", r"two|2|两|second paragraph|第二段"],
    "paragraphs:paragraphs2": [r"two|2|两|second paragraph|第二段", r"blank line|empty line|line break|空行|换行"],
    "punctuation:punctuation_dot": [r"'\.'|\(\.\)|\bdots?\b|period"],
    "punctuation:punctuation_exclamation": [r"exclamation|'!'|\(!\)"],
}


@pytest.mark.parametrize("cid", sorted(_RULE_WORDS))
def test_phrasings_without_values_name_their_rule(cid):
    checker = registry.get(cid)
    for lang in checker.languages:
        kwargs = checker.sample(random.Random(0), lang)
        for name in checker.prompt_kwargs:
            kwargs[name] = "x"
        for v in range(checker.phrasing_count(lang)):
            text = checker.render(kwargs, lang, v)
            for pattern in _RULE_WORDS[cid]:
                assert re.search(pattern, text, re.IGNORECASE), (cid, lang, v, pattern, text)
    if cid == "punctuation:no_comma":  # the Chinese rule bans the full-width comma and 、 too: say so
        for v in range(checker.phrasing_count("zh")):
            text = checker.render({"include_fullwidth": True}, "zh", v)
            assert ("逗号" in text or "，" in text) and ("、" in text or "顿号" in text), text


@pytest.mark.parametrize("checker", [c for c in COVERED if not instruct._whole_response(c)], ids=lambda c: c.id)
def test_step_wording_never_speaks_of_the_whole_response(checker):
    for lang in checker.languages:
        kwargs = checker.sample(random.Random(1), lang)
        for v in range(checker.phrasing_count(lang)):
            text = wording.step_text(checker.render(kwargs, lang, v), lang)
            assert not wording.STEP_LEAKS[lang].search(text), (checker.id, lang, v, text)


def test_declared_kinds_and_roles_are_known():
    for checker in registry.all_checkers():
        assert checker.suits <= set(registry.TASK_KINDS) and checker.avoids <= set(registry.TASK_KINDS)
        assert not checker.suits & checker.avoids, checker.id
    with pytest.raises(ValueError, match="unknown task kind"):
        registry.declare("punctuation:no_comma", avoids=("poetry",))
    with pytest.raises(ValueError, match="not in its schema"):
        registry.declare("punctuation:no_comma", topic_kwargs={"keywords": "present"})
    with pytest.raises(ValueError, match="register the checker first"):
        registry.declare("nope:nothing")


# ------------------------------------------------------------------------------------ task types


@pytest.mark.parametrize(("prompt", "lang", "kind"), [
    ("Write a Python function that merges two sorted lists.", "en", "code"),
    ("Is it safe to swim right after eating?", "en", "yes_no"),
    ("Classify this review as positive or negative: the food was cold.", "en", "classification"),
    ("Extract every date mentioned in the following paragraph: ...", "en", "extraction"),
    ("Write a haiku about the first snow.", "en", "creative"),
    ("Rewrite this sentence in a formal tone: gonna be late, sorry.", "en", "rewriting"),
    ("Calculate the probability of rolling two sixes with two dice.", "en", "math"),
    ("Summarize the plot of Hamlet in a few lines.", "en", "summarization"),
    ("Where do migrating swallows spend the winter?", "en", "open_qa"),
    ("写一个 Python 函数，判断一个字符串是不是回文。", "zh", "code"),
    ("明天会下雨吗？", "zh", "yes_no"),
    ("喝咖啡是否有益健康？", "zh", "yes_no"),
    ("如何判断一份兼职工作是否可靠？", "zh", "open_qa"),  # a how-question, though it says 是否
    ("Is it better to rent or to buy a flat?", "en", "open_qa"),  # a choice, not yes/no
    ("写一首关于秋天的诗。", "zh", "creative"),
    ("请总结这篇文章的主要观点。", "zh", "summarization"),
    ("把下面这段话翻译成英文：今天天气很好。", "zh", "rewriting"),
])
def test_offline_task_type_heuristic(prompt, lang, kind):
    assert tasks.classify(prompt, lang) == kind


def test_seed_file_task_types_map_onto_registry_kinds():
    assert tasks.canonical("coding") == "code" and tasks.canonical("qa") == "open_qa"
    assert tasks.canonical("Creative") == "creative" and tasks.canonical("weird-type") == "general"
    kinds = tasks.request_kinds("Is coffee healthier than tea?", "en", "qa")
    assert kinds == {"open_qa", "yes_no"}
    assert "code" in tasks.request_kinds("Why does this fail?\n```x = 1/0```", "en", "qa")


#: per source, checkers its declarations must remove for some demo request (code, classification, ...)
_REMOVED = {
    "ifeval": ("punctuation:no_comma", "change_case:english_capital", "detectable_format:constrained_response",
               "combination:two_responses"),
    "iftrain": ("punctuation:punctuation_dot", "punctuation:punctuation_exclamation", "detectable_format:square_brackets",
                "detectable_format:bigram_wrapping", "count:count_unique", "letters:letter_counting2",
                "keywords:no_adjacent_consecutive", "paragraphs:paragraphs2", "copy:repeat_phrase"),
}


@pytest.mark.parametrize("source", sorted(_REMOVED))
def test_sampling_respects_suits_and_avoids(source):
    """Over many instructions for every demo seed, no drawn checker avoids one of the request's kinds
    or suits none of them, and the declarations actually remove checkers for some requests."""
    cfg = InstructConfig(sources=[source], compositions={"and": 0.4, "chain": 0.2, "selection": 0.2, "nested": 0.2})
    removed = set()
    for i in range(1500):
        seed = SEEDS[i % len(SEEDS)]
        kinds = tasks.request_kinds(seed.prompt, seed.lang, seed.task_type)
        ins = instruct.compose_instruction(random.Random(f"fit:{i}"), seed, cfg)
        for leaf in ins.leaves:
            assert instruct.fits(leaf.checker, kinds), (leaf.checker.id, kinds, seed.prompt)
        full = instruct.build_pool(tuple(cfg.sources), seed.lang, (), ())
        fitted = instruct.build_pool(tuple(cfg.sources), seed.lang, (), (), kinds)
        removed |= {c.id for c in full.all} - {c.id for c in fitted.all}
    for cid in _REMOVED[source]:
        assert cid in removed


def test_constrained_response_only_for_yes_no_questions():
    pool = instruct.build_pool(("ifeval",), "en", (), (), frozenset({"yes_no", "open_qa"}))
    assert "detectable_format:constrained_response" in {c.id for c in pool.all}
    pool = instruct.build_pool(("ifeval",), "en", (), (), frozenset({"writing"}))
    assert "detectable_format:constrained_response" not in {c.id for c in pool.all}


def test_iftrain_whole_answer_shapes_avoid_code_and_short_answers():
    """Brackets, word pairs, initials, letter counts and sentence shapes over the whole answer are drawn
    for free text only; the word-choice rules not for a rewrite either; the rest stay for every kind."""
    shapes = {"detectable_format:square_brackets", "detectable_format:bigram_wrapping",
              "detectable_format:sentence_hyphens", "count:counting_composition", "keywords:no_adjacent_consecutive",
              "first_word:first_word_sent", "last_word:last_word_sent", "letters:letter_counting2", "count:count_unique"}
    word_choice = {"keywords:no_adjacent_consecutive", "first_word:first_word_sent", "last_word:last_word_sent",
                   "letters:letter_counting2", "count:count_unique"}
    free = {c.id for c in instruct.build_pool(("iftrain",), "en", (), (), frozenset({"writing"})).all}
    assert shapes <= free
    for kind in ("code", "classification", "yes_no", "extraction", "math"):
        pool = {c.id for c in instruct.build_pool(("iftrain",), "en", (), (), frozenset({kind})).all}
        assert not pool & shapes, (kind, pool & shapes)
        # a request of any kind can still be copied, use its own words and avoid a topic word
        assert {"copy:copy", "keywords:word_once", "keywords:exclude_word_harder"} <= pool, kind
    rewrite = {c.id for c in instruct.build_pool(("iftrain",), "en", (), (), frozenset({"rewriting"})).all}
    assert not rewrite & word_choice and "detectable_format:square_brackets" in rewrite
    code = {c.id for c in instruct.build_pool(("iftrain",), "en", (), (), frozenset({"code"})).all}
    assert not code & {"punctuation:punctuation_dot", "punctuation:punctuation_exclamation",
                       "count:lowercase_counting", "paragraphs:paragraphs2", "letters:letter_counting"}


def test_iftrain_less_than_letter_counts_name_rare_letters():
    """'The letter e less than 4 times' asks for a lipogram on any topic: "less than" is drawn for rare
    letters only, "at least" for any letter."""
    c = registry.get("letters:letter_counting2")
    draws = [c.sample(random.Random(i), "en") for i in range(600)]
    below = {kw["letter"] for kw in draws if kw["let_relation"] == "less than"}
    above = {kw["letter"] for kw in draws if kw["let_relation"] == "at least"}
    assert below and not below & set("etaoinshrdlcumwfgyp")
    assert {"e", "t"} <= above


# ------------------------------------------------------------------------------- keyword relevance


def test_content_words_come_from_the_request_and_topic_words_do_not():
    for seed in SEEDS:
        words = tasks.content_words(seed.prompt, seed.lang)
        low = seed.prompt.lower()
        assert all(w in low for w in words), seed.prompt
        assert all(w not in low for w in tasks.topic_words(seed.task_type, seed.lang, seed.prompt))
    assert tasks.content_words("Draft an email to my landlord about the leaking faucet.", "en") == (
        "email", "landlord", "leaking", "faucet")
    # auxiliaries and adverbs are no topic ("use been exactly twice")
    assert tasks.content_words("The faucet has been dripping for weeks and will never stop.", "en") == (
        "faucet", "dripping", "weeks", "stop")


def test_picked_words_never_nest_in_words_already_used():
    # "leak" once and "leaking" twice cannot both hold: a word inside or around a used one is not drawn
    # (nor one inside or around another word of the same draw)
    words = ("leak", "leaking", "faucet", "landlord", "land")
    seen = set()
    for i in range(50):
        used = {"leaking"}
        got = tasks.pick(random.Random(i), words, 3, used)
        assert not {"leak", "leaking"} & set(got) and len(got) == 2 and "faucet" in got, got
        assert used == {"leaking", *got}
        got = tasks.pick(random.Random(i), words, 5, {"landlord"})
        assert len(got) == 2 and "faucet" in got and len({"leak", "leaking"} & set(got)) == 1, got
        seen |= set(got)
    assert {"leak", "leaking"} <= seen  # either may be drawn


_WORD_ROLES = {"present", "absent", "phrase", "saying"}


@pytest.mark.parametrize("checker", [c for c in COVERED if c.source == "iftrain"], ids=lambda c: c.id)
def test_every_iftrain_word_kwarg_is_drawn_from_the_request_or_its_topic(checker):
    """A kwarg naming a word or phrase the answer must use, avoid or place (every free string but the
    request itself, a relation and a single letter) is a declared topic kwarg, with a known role."""
    for name, spec in checker.schema.get("properties", {}).items():
        free_string = spec.get("type") == "string" and "enum" not in spec and spec.get("maxLength") != 1
        if free_string and name not in checker.prompt_kwargs:
            assert name in checker.topic_kwargs, (checker.id, name)
    for name, role in checker.topic_kwargs.items():
        assert role in _WORD_ROLES or role.startswith("count:"), (checker.id, name, role)
        if role.startswith("count:"):
            assert role[6:] in checker.schema["properties"], (checker.id, role)


def _leaf_words(seed: Seed, cid: str, i: int):
    c = registry.get(cid)
    draw = instruct.Draw.of(seed)
    return instruct.make_leaf(random.Random(i), c, seed, draw).kwargs


@pytest.mark.parametrize("seed", [s for s in SEEDS[::9]], ids=lambda s: s.id)
def test_iftrain_keywords_come_from_the_request_and_avoided_words_do_not(seed):
    low = seed.prompt.lower()
    for cid in ("keywords:word_once", "count:count_increment_word", "keywords:word_count_different_numbers",
                "keywords:exclude_word_harder", "keywords:keyword_specific_position", "first_word:first_word_answer",
                "last_word:last_word_sent", "copy:repeat_phrase"):
        c = registry.get(cid)
        if seed.lang not in c.languages:
            continue
        for i in range(6):
            kw = _leaf_words(seed, cid, i)
            for name, role in c.topic_kwargs.items():
                if role.startswith("count:"):
                    role = "present" if kw[role[6:]] in registry.AT_LEAST else "absent"
                word = kw[name]
                if role == "present":
                    assert word.lower() in low, (cid, name, word, seed.prompt)
                elif role == "absent":
                    assert word.lower() not in low, (cid, name, word, seed.prompt)
                    assert word in tasks.topic_words(seed.task_type, seed.lang, seed.prompt)
                else:  # a saying around one of the request's words
                    own = tasks.content_words(seed.prompt, seed.lang)
                    assert any(word == f.format(w=w) for f in tasks.SAYINGS["en"] for w in own), (cid, word)


def test_sayings_to_repeat_can_be_repeated_with_their_middle_word_changed():
    """A saying keeps the repeat rule satisfiable: first and last words differ and occur once, and the
    request's word is not the middle word (the one each copy changes); its witness earns the reward."""
    from raif_rewards.checkers.iftrain_copy import _variants

    c = registry.get("copy:repeat_phrase")
    for frame in tasks.SAYINGS["en"]:
        words = frame.split()
        assert words.count(words[0]) == 1 and words.count(words[-1]) == 1 and words[0] != words[-1], frame
        assert words[len(words) // 2] != "{w}" and words.count("{w}") == 1, frame
    seed = Seed("s", "Give me tips for keeping houseplants alive in a dark apartment.", "en", "advice")
    for i in range(40):
        kw = _leaf_words(seed, "copy:repeat_phrase", i)
        assert kw["phrase"].split()[0] in {f.split()[0] for f in tasks.SAYINGS["en"]}, kw
        rest = " ".join(kw["phrase"].split()[1:-1]).lower()
        assert any(w in rest.split() for w in tasks.content_words(seed.prompt, "en")), kw
        answer = "\n".join(v for v, _ in _variants(kw["phrase"], kw["small_n"]))
        assert c.fn(view(answer), **kw), (kw, answer)
        assert not c.fn(view(kw["phrase"] + "\n" + answer), **kw)  # the unchanged saying is one copy too many


def test_keyword_constraints_of_one_prompt_never_share_a_word():
    cfg = InstructConfig(include_ids=["keywords:existence", "keywords:forbidden_words", "keywords:frequency",
                                      "startend:end_checker", "length_constraints:nth_paragraph_first_word"],
                         min_constraints=3, max_constraints=4)
    for i in range(400):
        seed = SEEDS[i % len(SEEDS)]
        ins = instruct.compose_instruction(random.Random(i), seed, cfg)
        must, avoid = set(), set()
        for leaf in ins.leaves:
            kw = leaf.kwargs
            if leaf.checker.id == "keywords:existence":
                must |= set(kw["keywords"])
            elif leaf.checker.id == "keywords:forbidden_words":
                avoid |= set(kw["forbidden_words"])
            elif leaf.checker.id == "keywords:frequency":
                (must if kw["relation"] in registry.AT_LEAST else avoid).add(kw["keyword"])
        assert not {w for w in must for a in avoid if a.lower() in w.lower()}, (must, avoid)


def test_iftrain_counted_keywords_of_one_prompt_never_nest():
    """Words of one prompt's keyword constraints (used once, twice, N times, avoided, placed, opening or
    closing the answer) are all different and none lies inside another ("leak" once, "leaking" twice)."""
    ids = [c.id for c in COVERED if c.topic_kwargs and c.source == "iftrain" and "phrase" not in c.topic_kwargs]
    cfg = InstructConfig(sources=["iftrain", "ifeval"], include_ids=ids + ["keywords:existence", "keywords:frequency"],
                         min_constraints=3, max_constraints=4)
    pairs = 0
    for i in range(600):
        seed = SEEDS[i % len(SEEDS)]
        ins = instruct.compose_instruction(random.Random(i), seed, cfg)
        words = []
        for leaf in ins.leaves:
            for name in leaf.checker.topic_kwargs:
                value = leaf.kwargs[name]
                words += value if isinstance(value, list) else [value]
        words = [w.lower() for w in words]
        pairs += len(words) > 1
        for a in range(len(words)):
            for b in range(a + 1, len(words)):
                assert words[a] not in words[b] and words[b] not in words[a], (words, ins.prompt)
    assert pairs > 300


def _records(n: int, cfg: InstructConfig | None = None) -> list[dict]:
    cfg = cfg or InstructConfig()
    out = []
    for i in range(n):
        seed = SEEDS[(i * 7) % len(SEEDS)]
        ins = instruct.compose_instruction(random.Random(f"q:{i}"), seed, cfg)
        from raif_rewards import compose

        out.append({"kind": "rule", "index": i, "lang": seed.lang, "prompt": ins.prompt, "seed_prompt": seed.prompt,
                    "ground_truth": compose.to_json(ins.truth)})
    return out


@pytest.mark.parametrize("sources", [["ifeval"], ["iftrain"], ["ifeval", "raif", "iftrain"]], ids="+".join)
def test_half_of_keyword_constraints_relate_to_the_request_and_text_is_diverse(tmp_path, sources):
    folder = tmp_path / "stages" / "instruct"
    folder.mkdir(parents=True)
    with open(folder / "chunk-00000.jsonl", "w", encoding="utf-8") as fh:
        for rec in _records(2000, InstructConfig(sources=sources)):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    report = quality.instruction_report(tmp_path)
    assert report is not None
    assert report["relevance"]["keyword_constraints"] > 200
    assert report["relevance"]["share"] >= 0.5
    by_id = report["relevance"]["by_id"]
    for cid, counts in by_id.items():  # words the answer must use or place come from the request
        roles = set(registry.get(cid).topic_kwargs.values())
        if roles <= {"present", "phrase", "saying"} and counts["n"] >= 20:
            assert counts["related"] >= 0.9 * counts["n"], (cid, counts)
    if "iftrain" in sources:
        assert {"keywords:word_once", "count:count_increment_word", "keywords:exclude_word_harder"} <= set(by_id)
    for lang in ("en", "zh"):
        d = report["diversity"][lang]
        assert d["tokens_compared"] >= 1000
        assert d["constraint_text_distinct_4grams"] >= 0.6, (lang, d)


def test_relatedness_and_distinct_ngrams_on_hand_computed_cases():
    assert quality.related("landlord", "Email my Landlord today", "en")
    assert not quality.related("passionate", "Email my landlord", "en")
    assert quality.related("Those are my thoughts on faucet.", "Fix the leaking faucet", "en")
    assert not quality.related("Those are my thoughts on faucet.", "Those are my thoughts", "en")
    assert quality.related("关于会议就说到这里。", "怎样在团队会议上发言", "zh")
    assert not quality.related("关于花园就说到这里。", "关于会议就说到这里", "zh")
    # "a b c d e" + "a b c d": 2 + 1 four-grams, of which "a b c d" repeats -> 2 distinct of 3
    d = quality.distinct_ngrams(["a b c d e", "a b c d"], "en")
    assert (d["ngrams"], d["distinct"]) == (3, 2)
    assert quality.distinct_ngrams(["a b c d e", "a b c d"], "en", budget=5)["ngrams"] == 2
    assert quality.tokens("我有3个苹果, and pears", "zh") == ["我", "有", "3", "个", "苹", "果", "and", "pears"]


# ------------------------------------------------------------------------------ text and the tree


def test_chain_steps_are_worded_for_their_step():
    cfg = InstructConfig(compositions={"chain": 1.0}, min_constraints=3, max_constraints=4)
    for i in range(300):
        seed = SEEDS[i % len(SEEDS)]
        ins = instruct.compose_instruction(random.Random(i), seed, cfg)
        if ins.composition != "chain":
            continue
        step_lines = [ln for ln in ins.prompt.split("\n") if re.match(r"- .{0,10}(Step|步骤) ?\d", ln)]
        assert step_lines
        for line in step_lines:
            assert not wording.STEP_LEAKS[seed.lang].search(line), line


def test_selection_marks_which_lines_are_conditional():
    cfg = InstructConfig(compositions={"selection": 1.0}, min_constraints=2, max_constraints=4)
    for i in range(300):
        seed = SEEDS[i % len(SEEDS)]
        ins = instruct.compose_instruction(random.Random(i), seed, cfg)
        if ins.composition != "selection":
            continue
        lines = ins.prompt[len(seed.prompt):].strip().split("\n")
        heads = [j for j, ln in enumerate(lines) if not ln.startswith(" ")]
        # an intro line, the first case, its indented rules, the second case, its indented rules
        assert len(heads) == 3, lines
        branches = ins.truth.tree.branches
        first = [ln for ln in lines[heads[1] + 1:heads[2]] if not ln.startswith("    ")]
        second = [ln for ln in lines[heads[2] + 1:] if not ln.startswith("    ")]
        n_first = len(getattr(branches[0], "children", [branches[0]]))
        n_second = len(getattr(branches[1], "children", [branches[1]]))
        assert (len(first), len(second)) == (n_first, n_second), lines
        assert all(ln.startswith("  ") for ln in first + second)


def test_request_length_conditions_are_exact_and_far_from_the_threshold():
    for count in range(0, 400):
        for s in range(5):
            t = wording.far_threshold(random.Random(s), count)
            assert t >= 1 and abs(count - t) > 0.1 * t, (count, t)
            other = count + count // 4 + s  # the same request counted with punctuation
            t = wording.far_threshold(random.Random(s), count, (other,))
            assert abs(other - t) > 0.1 * t and (count > t) == (other > t), (count, other, t)
    # Chinese: each CJK character and each other word run counts once, punctuation never
    assert wording.request_size("我有3个苹果，and two pears。", "zh") == 9
    assert wording.request_size("Plan a trip, then pack.", "en") == 5
    seen = 0
    for i in range(600):
        seed = SEEDS[i % len(SEEDS)]
        rng = random.Random(i)
        text, neg, active = wording.condition(rng, seed.prompt, seed.lang)
        m = re.search(r"(\d+) (words|个字)|超过(\d+)个字", text)
        if not m:
            continue
        seen += 1
        n = int(m.group(1) or m.group(3))
        size = wording.request_size(seed.prompt, seed.lang)
        assert abs(size - n) > 0.1 * n
        assert active == (0 if size > n else 1)
        with_punctuation = len(seed.prompt.replace(" ", "").replace("\n", ""))
        if seed.lang == "zh":  # counting punctuation too would not change the branch
            assert (with_punctuation > n) == (size > n)
        assert str(n) in neg
        if seed.lang == "zh":
            assert "标点" in text  # says how punctuation counts
    assert seen > 100


def test_zh_word_count_phrasings_say_punctuation_is_not_counted():
    checker = registry.get("length_constraints:number_words")
    kwargs = {"num_words": 200, "relation": "至少"}
    for v in range(checker.phrasing_count("zh")):
        text = checker.render(kwargs, "zh", v)
        assert "标点" in text, text
    # and the checker indeed ignores punctuation: 3 CJK characters + 1 word, with punctuation
    assert checker.fn(view("你好吗？OK！！"), num_words=4, relation="至少")
    assert not checker.fn(view("你好吗？OK！！"), num_words=5, relation="至少")


# ------------------------------------------------------------------------------ task types by model


def _label_responder(request: dict):
    text = request["messages"][-1]["content"]
    if not text.startswith("What kind of task"):
        return "unexpected"
    body = text.split("---\n", 1)[1]
    if "fox" in body:
        return "Creative."  # a label with punctuation and a capital
    if "sorted" in body:
        return "classification"  # the model may disagree with the heuristic: the model wins
    return "no idea"  # not a kind: the heuristic decides


def _typed_seeds(tmp_path, url: str | None, with_types: bool = False):
    from raif_data import recipe as recipe_mod
    from raif_data.pipeline import Layout, run_seeds

    prompts = ["Write a short story about a brave little fox.", "Write a Python function that returns a sorted list.",
               "Is it safe to drink water from a mountain stream?"]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "prompt": p, "lang": "en",
                                        **({"task_type": "writing"} if with_types else {})}) + "\n"
                            for i, p in enumerate(prompts)), encoding="utf-8")
    data: dict = {"output_dir": str(tmp_path / "out"), "seeds": {"path": str(path), "balance": False}}
    if url:
        data["llm"] = {"base_url": url, "model": "labeler", "timeout": 5.0, "max_retries": 1}
    manifest = run_seeds(recipe_mod.from_dict(data), Layout(tmp_path / "out"))
    rows = [json.loads(x) for x in (tmp_path / "out" / "stages" / "seeds" / "seeds.jsonl").read_text().splitlines()]
    return {r["prompt"].split()[-1]: r["task_type"] for r in rows}, manifest


def test_task_types_from_the_model_with_an_endpoint_else_the_heuristic(tmp_path):
    from tests.openai_stub import OpenAIStub

    with OpenAIStub(_label_responder) as stub:
        types, manifest = _typed_seeds(tmp_path / "a", stub.base_url)
        assert len(stub.requests) == 3
        assert all(r["temperature"] == 0.0 for r in stub.requests)
    assert types == {"fox.": "creative", "list.": "classification", "stream?": "yes_no"}
    assert manifest["task_type_sources"] == {"model": 2, "heuristic": 1}
    types, manifest = _typed_seeds(tmp_path / "b", None)
    assert types == {"fox.": "creative", "list.": "code", "stream?": "yes_no"}
    assert manifest["task_type_sources"] == {"heuristic": 3}
    with OpenAIStub(_label_responder) as stub:  # the seed file's own types are never asked about
        types, manifest = _typed_seeds(tmp_path / "c", stub.base_url, with_types=True)
        assert stub.requests == []
    assert set(types.values()) == {"writing"} and manifest["task_type_sources"] == {"file": 3}


def test_parse_label():
    assert tasks.parse_label(" Yes_No ") == "yes_no"
    assert tasks.parse_label("coding, because it asks for a function") == "code"
    assert tasks.parse_label("") is None and tasks.parse_label("poetry") is None
