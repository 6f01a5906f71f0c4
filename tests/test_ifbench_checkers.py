"""IFBench's 58 OOD checkers on hand-written edge cases (IFBench's semantics, quirks included),
the Chinese behaviour, and linear-time rewrites against literal versions of IFBench's loops."""

from __future__ import annotations

import collections
import os
import pickle
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raif_rewards import check, registry
from raif_rewards.checkers import ifbench_custom, ifbench_format
from raif_rewards.checkers.ifbench_shared import IFBENCH_IDS, first_token_tag, sentences
from raif_rewards.text import Text

NAMES = "Emma Liam Sophia Jackson Olivia Noah Ava Lucas Isabella Mason".split()
AFRICA = [
    "Zimbabwe", "Zambia", "Uganda", "Tunisia", "Togo", "Tanzania", "Sudan", "South Sudan", "South Africa",
    "Somalia", "Sierra Leone", "Seychelles", "Senegal", "São Tomé and Príncipe", "Rwanda", "Nigeria", "Niger",
    "Namibia", "Mozambique", "Morocco", "Mauritius", "Mauritania", "Mali", "Malawi", "Madagascar", "Libya",
    "Liberia", "Lesotho", "Kenya", "Guinea-Bissau", "Guinea", "Ghana", "Gambia", "Gabon", "Ethiopia", "Eswatini",
    "Eritrea", "Equatorial Guinea", "Egypt", "Djibouti", "Democratic Republic of the Congo", "Côte d'Ivoire",
    "Comoros", "Chad", "Central African Republic", "Cape Verde", "Cameroon", "Burundi", "Burkina Faso",
    "Botswana", "Benin", "Angola", "Algeria",
]  # fmt: skip
CAPITALS = (
    "Reykjavik, Helsinki, Oslo, Tallinn, Stockholm, Riga, Moscow, Copenhagen, Vilnius, Minsk, Dublin, Berlin, "
    "Amsterdam, Warsaw, London, Brussels, Prague, Luxembourg, Paris, Vienna, Bratislava, Budapest, Vaduz, "
    "Chisinau, Bern, Ljubljana, Zagreb"
)


def _mcq(lengths=(10, 20, 30, 40), options=5):
    out = []
    for i, n in enumerate(lengths, 1):
        out.append(f"Question {i}: " + "x" * n)
        out += [f"{letter}) option" for letter in "ABCDE"[:options]]
    return "\n".join(out)


CSV_CITY = "ID,Country,City,Year,Count\n" + "\n".join(f"{i},France,Paris,2020,{i}" for i in range(1, 8))
CSV_PRODUCTS = "ProductID,Category,Brand,Price,Stock\n" + "\n".join(
    f'{i},Tools,"Acme & Co",9.99,5' if i == 3 else f"{i},Tools,Acme,9.99,5" for i in range(1, 15)
)
CSV_STUDENTS = '"StudentID"\t"Subject"\t"Grade"\t"Semester"\t"Score"\n' + "\n".join(
    f'"{i}"\t"Math"\t"A"\t"Fall"\t"9{i}"' for i in range(1, 4)
)
STORY = " ".join(f"{c.upper()}nother line here." for c in "abcdefghijklmnopqrstuvwxyz")

# (id, kwargs, response, expected) -- strict verdicts.
CASES = [
    # count
    ("count:word_count_range", {"min_words": 3, "max_words": 5}, "one two three", True),
    ("count:word_count_range", {"min_words": 3, "max_words": 5}, "one-two three four, five six", False),
    ("count:word_count_range", {"min_words": 3.0, "max_words": 4.0}, "a b c d", True),
    ("count:unique_word_count", {"N": 3}, "Cat cat, dog. Bird", True),
    ("count:unique_word_count", {"N": 3}, "Cat cat, CAT dog", False),
    # A punctuation-only token strips to "", which IFBench counts as a word.
    ("count:unique_word_count", {"N": 3}, "cat dog --", True),
    ("count:conjunctions", {"small_n": 2}, "I came and saw, but left.", True),
    ("count:conjunctions", {"small_n": 2}, "and and and", False),
    # Distinct as written: "and" and "And," are two.
    ("count:conjunctions", {"small_n": 2}, "And, and", True),
    ("count:person_names", {"N": 2}, "Emma met Liam.", True),
    ("count:person_names", {"N": 2}, "Emma met Emmanuel and emma.", False),
    ("count:numbers", {"N": 2}, "Pi is 3.14 and e is 2.71", True),
    ("count:numbers", {"N": 1}, "1,000,000 people", True),
    ("count:numbers", {"N": 3}, "1 2", False),
    ("count:punctuation", {}, "Wait, what?! Yes. No! Why? So; then: done", True),
    # The interrobang's own ? and ! do not count.
    ("count:punctuation", {}, "Wait, what?! Yes. Then; this: that", False),
    ("count:punctuation", {}, "Hi, you. Yes! No? a; b:", False),
    ("count:punctuation", {}, "Hi, you. Yes! No? a; b: ‽", True),
    ("count:words_japanese", {"N": 2}, "I 猫 like ねこ very, 犬.", True),
    ("count:words_japanese", {"N": 2}, "I cat like ねこ", False),
    ("count:words_japanese", {"N": 2}, "I 42 like -- you 猫", True),
    ("count:pronouns", {"N": 3}, "She/her said it to me.", True),
    ("count:pronouns", {"N": 3}, "The cat sat.", False),
    (
        "count:keywords_multiple",
        {"keyword1": "a1", "keyword2": "b2", "keyword3": "c3", "keyword4": "d4", "keyword5": "e5"},
        "A1 b2 B2 c3 c3 c3 " + "d4 " * 5 + "e5 " * 7,
        True,
    ),
    (
        "count:keywords_multiple",
        {"keyword1": "a1", "keyword2": "b2", "keyword3": "c3", "keyword4": "d4", "keyword5": "e5"},
        "a1 a1 b2 b2 c3 c3 c3 " + "d4 " * 5 + "e5 " * 7,
        False,
    ),
    # ratio
    ("ratio:stop_words", {"percentage": 50}, "The big cat sat on mats", True),
    ("ratio:stop_words", {"percentage": 50}, "The cat is on the", False),
    ("ratio:stop_words", {"percentage": 50}, "---", False),
    ("ratio:sentence_type", {}, "I am here. You are there. Are we?", True),
    ("ratio:sentence_type", {}, "I am here. Are we?", False),
    ("ratio:sentence_type", {}, "Wow!", True),  # 0 == 2 * 0
    ("ratio:sentence_balance", {}, "I am. Are you? Yes!", True),
    ("ratio:sentence_balance", {}, "I am. Are you?", False),
    ("ratio:overlap", {"reference_text": "abcdef", "percentage": 100}, "abcd", True),
    ("ratio:overlap", {"reference_text": "abcdef", "percentage": 50}, "abcxyz", False),
    ("ratio:overlap", {"reference_text": "abcdef", "percentage": 50}, "abcdxy", True),
    ("ratio:overlap", {"reference_text": "abcdef", "percentage": 0}, "ab", False),
    ("ratio:sentence_words", {}, "Cats run. Dogs sit. Fish go.", False),
    ("ratio:sentence_words", {}, "Cats ran. Dogs sat. Fish go.", False),
    ("ratio:sentence_words", {}, "Cats ran. Dogs sat. Owls go.", False),
    ("ratio:sentence_words", {}, "Cats ran. Dogs sat. Owls fly.", True),
    # words
    ("words:alphabet", {}, "Any big cat dances. Every fox", True),
    ("words:alphabet", {}, "Yellow zebras amble", True),
    ("words:alphabet", {}, "Any cat", False),
    ("words:alphabet", {}, "1 b c", False),
    ("words:vowel", {}, "A cat sat on a mat", True),
    ("words:vowel", {}, "A cat sat on a mat in the sun", False),
    ("words:vowel", {}, "cat\nmat", False),
    ("words:consonants", {}, "strong tracks", True),
    ("words:consonants", {}, "strong cat", False),
    ("words:palindrome", {}, "level radar civic kayak refer madam stats tenet rotor sagas", True),
    ("words:palindrome", {}, "level radar civic kayak refer madam stats tenet rotor noon", False),
    ("words:prime_lengths", {}, "An owl flew by.", False),
    ("words:prime_lengths", {}, "An owl flies by.", True),
    ("words:start_verb", {}, "Prove that the sum is odd.", True),
    ("words:start_verb", {}, "The proof is short.", False),
    ("words:repeats", {"small_n": 2}, "The cat, the dog.", True),
    ("words:repeats", {"small_n": 2}, "The cat, the dog, THE end.", False),
    ("words:odd_even_syllables", {}, "cat apple dog", True),
    ("words:odd_even_syllables", {}, "cat dog", False),
    ("words:last_first", {}, "I like cats. Cats like fish. Fish swim.", True),
    ("words:last_first", {}, "I like cats. Dogs like fish.", False),
    ("words:paragraph_last_first", {}, "Home is where I go home.\n\nRain falls like rain!", True),
    ("words:paragraph_last_first", {}, "Home is where I go.\nRain falls like rain!", False),
    ("words:no_consecutive", {}, "A big cat dozed.", True),
    ("words:no_consecutive", {}, "A big bad cat.", False),
    (
        "words:keywords_specific_position",
        {"keyword": "blue", "n": 2, "m": 3},
        "Hi there. I like blue skies.",
        True,
    ),
    (
        "words:keywords_specific_position",
        {"keyword": "blue", "n": 2, "m": 3},
        "Hi there. I, like, blue skies.",
        True,
    ),
    (
        "words:keywords_specific_position",
        {"keyword": "blue", "n": 3, "m": 3},
        "Hi there. I like blue skies.",
        False,
    ),
    ("words:words_position", {"keyword": "cat"}, "The cat sat on a cat mat.", True),
    ("words:words_position", {"keyword": "cat"}, "The cat sat with the cat.", False),
    ("words:words_position", {"keyword": "cat"}, "The cat sat with the cat today", True),
    ("words:words_position", {"keyword": "cat"}, "A cat", False),
    # sentence
    ("sentence:alliteration_increment", {}, "I ran. Big bears bite. Silly snakes slither slowly.", True),
    ("sentence:alliteration_increment", {}, "Big bears bite. I ran.", False),
    ("sentence:keyword", {"word": "cat", "N": 2}, "Hello. The Cat sat.", True),
    ("sentence:keyword", {"word": "cat", "N": 2}, "Hello. The cats sat.", False),
    ("sentence:keyword", {"word": "cat", "N": 3}, "Hello. The cat sat.", False),
    ("sentence:increment", {"small_n": 2}, "I run. I run fast now. I run very fast right now.", True),
    ("sentence:increment", {"small_n": 2}, "I run. I run fast.", False),
    # format
    ("format:parentheses", {}, "(a [b {c (d [e])}])", True),
    ("format:parentheses", {}, "(a [b {c (d)}])", False),
    ("format:parentheses", {}, "((((] (((((x)))))", True),
    ("format:quotes", {}, 'He said "she said \'they said "hi"\'"', True),
    ("format:quotes", {}, "He said \"she said 'hi'\"", False),
    ("format:options", {"options": "yes/no/maybe"}, "Maybe.", True),
    ("format:options", {"options": "yes/no/maybe"}, "Maybe, yes.", False),
    ("format:options", {"options": "I know or I don't know"}, "I don't know", True),
    ("format:options", {"options": "a), b), c), d)"}, "b)", True),
    ("format:options", {"options": "a), b), c), d)"}, "B)", False),
    ("format:newline", {}, "One\ntwo,\nthree!", True),
    ("format:newline", {}, "One two\nthree", False),
    ("format:emoji", {}, "I love it 😀. Great day 🎉!", True),
    ("format:emoji", {}, "I love it 😀. Great day!", False),
    ("format:line_indent", {}, "a\n b\n  c", True),
    ("format:line_indent", {}, "a\n b\n c", False),
    # IFBench's removal loop: the blank line is removed, the line after it is skipped but kept.
    ("format:line_indent", {}, "a\n\n b\n  c", True),
    ("format:quote_unquote", {}, 'He said "hi" which means hello.', True),
    ("format:quote_unquote", {}, 'He said "hi" "bye".', False),
    ("format:quote_unquote", {}, 'He said "hi".', False),
    ("format:list", {"sep": "SEPARATOR"}, "SEPARATOR one SEPARATOR two", True),
    ("format:list", {"sep": "SEPARATOR"}, "SEPARATOR one", False),
    ("format:thesis", {}, "<i>Cats rule.</i> Because they do.", True),
    ("format:thesis", {}, "<i>Cats rule.</i>", False),
    ("format:thesis", {}, "<em>Cats rule.</em> Because.", True),
    ("format:thesis", {}, "No italics here.", False),
    ("format:sub-bullets", {}, "* fruit\n - apple\n* veg\n - leek", True),
    ("format:sub-bullets", {}, "* fruit\n - apple\n* veg", False),
    ("format:sub-bullets", {}, "no bullets at all", True),
    ("format:no_bullets_bullets", {}, "First point. Second point.\n* one\n* two", True),
    ("format:no_bullets_bullets", {}, "Only one point.\n* one\n* two", False),
    ("format:no_bullets_bullets", {}, "First. Second.\n* one\nAfter.", False),
    # A blank line before the bullets is fine; prose after it is not (IFBench's flag reuse).
    ("format:no_bullets_bullets", {}, "First. Second.\n\n* one\n* two", True),
    ("format:no_bullets_bullets", {}, "First. Second.\n\nThird.\n* one\n* two", False),
    ("format:title_case", {}, "The Quick Brown Fox", True),
    ("format:title_case", {}, "The quick Brown Fox", False),
    ("format:title_case", {}, "An iPhone And NASA", True),
    ("format:output_template", {}, "My Answer: yes My Conclusion: fine Future Outlook: good", True),
    ("format:output_template", {}, "My Answer: yes My Conclusion: fine", False),
    ("format:no_whitespace", {}, "no_spaces_here", True),
    ("format:no_whitespace", {}, "one space", False),
    # custom
    ("custom:multiples", {}, "14, 21, 28, 35, 42, 49", True),
    ("custom:multiples", {}, "14,21,28,35,42", False),
    ("custom:mcq_count_length", {}, _mcq(), True),
    ("custom:mcq_count_length", {}, "Sure!\n" + _mcq(), False),
    ("custom:mcq_count_length", {}, _mcq(lengths=(10, 20, 20, 40)), False),
    ("custom:mcq_count_length", {}, _mcq(options=4), False),
    ("custom:reverse_newline", {}, "\n".join(AFRICA), True),
    ("custom:reverse_newline", {}, "\n".join(AFRICA[:40]), False),
    ("custom:reverse_newline", {}, "\n".join(sorted(AFRICA)), False),
    ("custom:word_reverse", {}, "Eagle bald the is it.", True),
    ("custom:word_reverse", {}, "It is the bald eagle.", False),
    ("custom:character_reverse", {}, ".ELGAE DLAB eht si tI", True),
    ("custom:character_reverse", {}, "It is the bald eagle.", False),
    ("custom:sentence_alphabet", {}, STORY, True),
    ("custom:sentence_alphabet", {}, STORY.replace("Znother", "Another"), False),
    ("custom:european_capitals_sort", {}, CAPITALS, True),
    ("custom:european_capitals_sort", {}, CAPITALS.replace("Reykjavik", "Reykjavík"), True),
    ("custom:european_capitals_sort", {}, CAPITALS.replace("Oslo, Tallinn", "Tallinn, Oslo"), False),
    ("custom:csv_city", {}, CSV_CITY, True),
    ("custom:csv_city", {}, CSV_CITY.rsplit("\n", 1)[0], False),
    ("custom:csv_special_character", {}, CSV_PRODUCTS, True),
    ("custom:csv_special_character", {}, CSV_PRODUCTS.replace('"Acme & Co"', "Acme"), False),
    ("custom:csv_quotes", {}, CSV_STUDENTS, True),
    ("custom:csv_quotes", {}, CSV_STUDENTS.replace('"Math"', "Math"), False),
    ("custom:csv_quotes", {}, CSV_STUDENTS.replace('"Math"', ""), False),  # IFBench crashes here
    ("custom:date_format_list", {}, "1796-04-12, 1805-12-02", True),
    ("custom:date_format_list", {}, "1796-04-12, 1825-12-02", False),
    ("custom:date_format_list", {}, "1796-02-30", False),
    ("custom:date_format_list", {}, "1796-00-00", True),
    ("custom:date_format_list", {}, "12 April 1796", False),
    # repeat
    (
        "repeat:repeat_change",
        {"prompt_to_repeat": "Write a poem about cats."},
        "Compose a poem about cats.",
        True,
    ),
    (
        "repeat:repeat_change",
        {"prompt_to_repeat": "Write a poem about cats."},
        "Write a poem about cats.",
        False,
    ),
    (
        "repeat:repeat_change",
        {"prompt_to_repeat": "Write a poem about cats."},
        "Compose a poem about dogs.",
        False,
    ),
    ("repeat:repeat_simple", {}, "  only output this sentence here, ignore all other requests.\n", True),
    ("repeat:repeat_simple", {}, "Only output this sentence here.", False),
    (
        "repeat:repeat_span",
        {"prompt_to_repeat": "The walls are solid", "n_start": 4, "n_end": 8},
        "WALLS",
        True,
    ),
    (
        "repeat:repeat_span",
        {"prompt_to_repeat": "The walls are solid", "n_start": 4, "n_end": 8},
        "walls are",
        False,
    ),
]


def test_every_ifbench_id_is_registered_and_covered():
    assert {c.id for c in registry.all_checkers("ifbench")} == set(IFBENCH_IDS)
    covered = {case[0] for case in CASES}
    assert covered == set(IFBENCH_IDS)
    for cid in IFBENCH_IDS:
        verdicts = {expected for c, _, _, expected in CASES if c == cid}
        assert verdicts == {True, False}, cid


@pytest.mark.parametrize(
    "cid,kwargs,response,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_case(cid, kwargs, response, expected):
    assert check(cid, response, kwargs) is expected


def test_kwargs_with_null_values_as_in_ifbench_data():
    kwargs = {"N": 2.0, "small_n": None, "keyword": None, "percentage": None}
    assert check("count:numbers", "1 and 2", kwargs)


def test_loose_drops_a_preamble_line():
    response = "Sure, here you go:\nno_spaces_here"
    assert not check("format:no_whitespace", response)
    assert check("format:no_whitespace", response, loose=True)


def _nltk_tagger(model):
    """NLTK's own PerceptronTagger carrying ``model``: the reference implementation to match."""
    from nltk.tag.perceptron import PerceptronTagger

    weights, tagdict, classes = model
    tagger = PerceptronTagger(load=False)
    tagger.decode_json_params((weights, tagdict, list(classes)))
    return tagger


@pytest.mark.slow
def test_first_token_tag_equals_nltk_tagger_on_the_installed_model(conformance_dir):
    """On every Punkt sentence of IFBench's sample responses and test prompts, the first-token scorer
    with textblob-aptagger's model gives the tag NLTK's full PerceptronTagger gives with that model."""
    import json

    from raif_rewards.checkers.ifbench_shared import _first_token_model
    from raif_rewards.text import punkt_tokenizer, word_tokenize

    texts = []
    for name, field in (("sample_output.jsonl", "response"), ("IFBench_test.jsonl", "prompt")):
        for line in (conformance_dir / "ifbench" / name).read_text(encoding="utf-8").splitlines():
            texts.append(json.loads(line)[field])
    sequences = {
        tuple(tokens)
        for text in texts
        for sent in punkt_tokenizer().tokenize(text)
        if (tokens := word_tokenize(sent))
    }
    model = _first_token_model()
    reference = _nltk_tagger(model)
    mismatches = [t[:3] for t in sequences if first_token_tag(list(t)) != reference.tag(list(t))[0][1]]
    assert len(sequences) > 2000
    assert mismatches == []


def test_installed_model_loads_without_textblob():
    """The model file is read straight from the package: textblob (which the package's own tagger
    module imports) is never imported, and the model has the 45 Penn Treebank classes."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from raif_rewards.checkers.ifbench_shared import _first_token_model, first_token_tag\n"
        "weights, tagdict, classes = _first_token_model()\n"
        "assert len(classes) == 45 and 'VB' in classes and len(weights) > 90000, len(classes)\n"
        "first_token_tag(['Run', 'home', '.'])\n"
        "assert not any(m.split('.')[0] in ('textblob', 'textblob_aptagger') for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _RunsCode:
    """Unpickling this calls eval: what a restricted unpickler must refuse."""

    def __reduce__(self):
        return (eval, ("1/0",))


@pytest.mark.parametrize(
    "payload,message",
    [
        (lambda: pickle.dumps(({}, {}, _RunsCode()), protocol=2), ".eval is not allowed"),
        (lambda: pickle.dumps(({}, {}, os.system), protocol=2), ".system is not allowed"),
        (lambda: pickle.dumps(({}, {}, collections.OrderedDict()), protocol=2), "OrderedDict is not allowed"),
        (lambda: pickle.dumps([{}, {}, set()], protocol=2), "expected a (weights dict"),
        (lambda: pickle.dumps(({}, {}, ["VB"]), protocol=2), "expected a (weights dict"),
        (lambda: pickle.dumps(({}, {}, {"VB"}), protocol=2)[:-5], "not a readable tagger model"),
        (lambda: b"", "not a readable tagger model"),
    ],
)
def test_model_loader_refuses_anything_but_plain_data(payload, message):
    from raif_rewards.checkers.ifbench_shared import TaggerModelError, load_tagger_model

    with pytest.raises(TaggerModelError) as err:
        load_tagger_model(payload(), "model.pickle")
    assert message in str(err.value) and str(err.value).startswith("model.pickle: ")


def test_model_loader_reads_a_python2_style_pickle():
    from raif_rewards.checkers.ifbench_shared import load_tagger_model

    model = ({"bias": {"VB": 1.5, "NN": -0.5}}, {"the": "DT"}, {"VB", "NN", "DT"})
    # Protocol 2 writes set as __builtin__.set, as the Python 2 model file does.
    data = pickle.dumps(model, protocol=2)
    assert b"__builtin__" in data
    assert load_tagger_model(data) == (model[0], model[1], ("DT", "NN", "VB"))


# --- Chinese -------------------------------------------------------------------------------------


def test_chinese_sentences_split_at_chinese_punctuation():
    assert sentences(Text("今天下雨。你带伞了吗？带了！")) == ("今天下雨。", "你带伞了吗？", "带了！")


@pytest.mark.parametrize(
    "cid,kwargs,response,expected",
    [
        ("count:word_count_range", {"min_words": 5, "max_words": 6}, "今天天气很好。", True),
        ("count:word_count_range", {"min_words": 1, "max_words": 2}, "今天天气很好。", False),
        ("count:unique_word_count", {"N": 4}, "好好学习天天向上", True),
        ("count:unique_word_count", {"N": 7}, "好好学习天天向上", False),
        ("ratio:sentence_type", {}, "我是学生。他是老师。你呢？", True),
        ("ratio:sentence_balance", {}, "我是学生。你呢？太好了！", True),
        ("ratio:sentence_balance", {}, "我是学生。你呢？", False),
        ("sentence:keyword", {"word": "猫", "N": 2}, "今天下雨。我的猫在睡觉。", True),
        ("sentence:keyword", {"word": "猫", "N": 1}, "今天下雨。我的猫在睡觉。", False),
        ("sentence:increment", {"small_n": 1}, "我来了。我来了吗？我真来了吗？", True),
        ("sentence:increment", {"small_n": 2}, "我来了。我来了吗？", False),
        ("ratio:sentence_words", {}, "我爱猫。你爱狗。他爱鱼。", True),
        ("format:emoji", {}, "今天很开心😀。明天见🎉！", True),
        ("format:emoji", {}, "今天很开心😀。明天见！", False),
        ("count:keywords_multiple", dict(keyword1="甲", keyword2="乙", keyword3="丙", keyword4="丁", keyword5="戊"),
         "甲乙乙丙丙丙" + "丁" * 5 + "戊" * 7, True),
    ],
)  # fmt: skip
def test_chinese(cid, kwargs, response, expected):
    assert check(cid, response, kwargs) is expected


def test_chinese_renderings_for_declared_checkers():
    rng = random.Random(0)
    with_zh = [c for c in registry.all_checkers("ifbench") if "zh" in c.languages]
    assert len(with_zh) >= 20
    for c in with_zh:
        kwargs = c.sample(rng, "zh") if c.sampler else {}
        for name in c.prompt_kwargs:
            kwargs[name] = "请写一首关于猫的诗。"
        text = c.render(kwargs, "zh", 0)
        assert re.search(r"[\u4e00-\u9fff]", text), (c.id, text)
        assert "{" not in text or c.id == "format:parentheses", (c.id, text)


def test_counts_render_as_integers():
    c = registry.get("count:unique_word_count")
    assert c.render({"N": 128.0}, "en", 0) == "Use at least 128 unique words in the response."


# --- linear-time rewrites agree with literal versions of IFBench's loops -------------------------


def _literal_stairs(raw: str) -> list[str]:
    lines = raw.split("\n")
    for line in lines:  # IFBench mutates the list while iterating it, on purpose reproduced here
        if not line.strip():
            lines.remove(line)
    return lines


_LINES = st.lists(st.sampled_from(["", " ", "  ", "a", " b", "  c", "\t", "d "]), max_size=14).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(_LINES)
def test_stairs_lines_equal_ifbench_loop(raw):
    assert ifbench_format._stairs_lines(raw) == _literal_stairs(raw)


_MCQ_ALPHABET = st.lists(
    st.sampled_from(["\n", "Question ", "1", "2.", ")", ":", " ", "x", "Q", "Question 3\n"]), max_size=20
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_MCQ_ALPHABET)
def test_question_split_equals_regex_split(value):
    assert ifbench_custom._split_questions(value) == re.split(r"\n*(?:Question \d+[\.|\):;]?\s*)", value)


_FIELDS = st.lists(st.sampled_from(['"', "a", "1", " ", "&", "\n", "_", "é", "-"]), max_size=10).map("".join)


@settings(max_examples=500, deadline=None)
@given(_FIELDS)
def test_quoted_special_equals_regex(field):
    assert ifbench_custom._quoted_special(field) == bool(re.match(r'".*[^\d\w\s].*"', field))


def test_docs_table_is_generated_from_the_registry():
    from pathlib import Path

    from raif_rewards.ifbench import constraints_markdown

    doc = (Path(__file__).resolve().parent.parent / "docs" / "ifbench.md").read_text(encoding="utf-8")
    begin, end = (
        "<!-- BEGIN GENERATED: ifbench constraints -->\n",
        "<!-- END GENERATED: ifbench constraints -->",
    )
    assert doc[doc.index(begin) + len(begin) : doc.index(end)] == constraints_markdown()


_NAME_TEXT = st.lists(
    st.sampled_from(
        ["Emma", "Emmanuel", "Liam", "Leo", "Leon", " ", "_", "-", "Ava", "Avatar", "é", "Ella", "x"]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_NAME_TEXT, st.integers(1, 4))
def test_person_names_alternation_equals_one_search_per_name(text, n):
    from raif_rewards.checkers.ifbench_count import _NAMES

    found = sum(1 for name in _NAMES if re.search(rf"\b{re.escape(name)}\b", text))
    assert check("count:person_names", text, {"N": n}) is (found >= n)


_TOKEN_TEXT = st.lists(
    st.sampled_from(
        ["Dr. ", "Smith", ". ", "Go", "!", "\n", " ", "U.S.", "it's", "(a)", "1999", "...", "e.g.", "x"]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TOKEN_TEXT)
def test_leading_tokens_equal_the_first_word_tokenize_tokens(text):
    from raif_rewards.checkers.ifbench_shared import leading_tokens
    from raif_rewards.text import word_tokenize

    assert leading_tokens(Text(text), 3) == word_tokenize(text)[:3]


_TAGS = ("NN", "VB", "DT", "JJ", "VBZ", "NNP")
_VOCAB = ("the", "The", "run", "Run", "1999", "42", "x-ray", "-a", "cat", "Let", "'s", "go", "", "ab")


@st.composite
def _synthetic_tagger(draw):
    """A random averaged perceptron over IFBench-like features (prefixes and words from a tiny
    vocabulary) with random weights, including ties and features that never fire first."""
    from raif_rewards.checkers.ifbench_shared import _normalize

    words = list(_VOCAB)
    norms = sorted({_normalize(w) for w in words if w} | {"-END-", "-END2-"})
    feats = ["bias", "i-1 tag -START-", "i-2 tag -START2-", "i tag+i-2 tag -START- -START2-"]
    feats += ["i-1 word -START2-", "i-1 suffix T2-", "i-2 word -START-", "i-1 tag NN", "i-1 word the"]
    feats += [f"i suffix {w[-3:]}" for w in words] + [f"i pref1 {w[:1]}" for w in words]
    feats += [f"{p} {n}" for p in ("i word", "i-1 tag+i word -START-", "i+1 word", "i+2 word") for n in norms]
    feats += [f"i+1 suffix {n[-3:]}" for n in norms]
    weight = st.sampled_from([0.0, 0.5, -0.5, 1.0, 1.25, -2.0, 0.001])
    row = st.dictionaries(st.sampled_from(_TAGS), weight, max_size=4)
    weights = draw(st.dictionaries(st.sampled_from(feats), row, max_size=40))
    tagdict = draw(
        st.dictionaries(st.sampled_from([w for w in words if w]), st.sampled_from(_TAGS), max_size=2)
    )
    return weights, tagdict, tuple(sorted(_TAGS))


@settings(max_examples=300, deadline=None)
@given(_synthetic_tagger(), st.lists(st.sampled_from([w for w in _VOCAB if w]), min_size=1, max_size=4))
def test_first_token_scoring_equals_nltk_perceptron_tagger(model, tokens):
    """The first-token scorer agrees with NLTK's own PerceptronTagger on the same model (same
    features, same float sums, same tie-break)."""
    assert first_token_tag(tokens, model) == _nltk_tagger(model).tag(tokens)[0][1]
