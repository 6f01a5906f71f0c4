"""The checkers' shortcuts equal the plain computations they stand in for (IFEval's regex semantics)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from raif_rewards import registry
from raif_rewards.checking import check

# Letters that re's case folding pairs with ASCII letters (ſ~s, K~k, ı~i, İ~i) are in the alphabet on purpose.
TEXT = st.text(alphabet="abcsikKSIT tea TEA Tea\n.,*-'ſKıİé日", max_size=80)
WORD = st.text(alphabet="abcsikKSITe ", min_size=1, max_size=5)


def _kw(cid: str, **kwargs):
    return registry.validate_kwargs(cid, kwargs)


@given(TEXT, st.lists(WORD, min_size=1, max_size=3))
def test_existence_equals_regex_search(text: str, words: list[str]) -> None:
    expected = all(re.search(w, text, flags=re.IGNORECASE) for w in words)
    assert check("keywords:existence", text, _kw("keywords:existence", keywords=words)) is (
        expected and bool(text.strip())
    )


@given(TEXT, WORD, st.integers(0, 4), st.sampled_from(["at least", "less than"]))
def test_frequency_equals_regex_findall(text: str, word: str, n: int, relation: str) -> None:
    count = len(re.findall(word.strip(), text, flags=re.IGNORECASE)) if word.strip() else None
    if count is None:
        return  # a blank keyword is rejected by the schema
    expected = count >= n if relation == "at least" else count < n
    kwargs = _kw("keywords:frequency", keyword=word, frequency=n, relation=relation)
    assert check("keywords:frequency", text, kwargs) is (expected and bool(text.strip()))


@given(TEXT, st.lists(WORD, min_size=1, max_size=3))
def test_forbidden_words_equals_bounded_regex(text: str, words: list[str]) -> None:
    expected = not any(re.search(r"\b" + w + r"\b", text, flags=re.IGNORECASE) for w in words)
    kwargs = _kw("keywords:forbidden_words", forbidden_words=words)
    assert check("keywords:forbidden_words", text, kwargs) is (expected and bool(text.strip()))


@pytest.mark.parametrize(
    ("text", "word", "found"),
    [
        ("the ſun", "sun", True),  # U+017F folds to s in re, not in str.lower
        ("the sun", "SUN", True),
        ("a Kelvin", "kelvin", True),
        ("sunny", "sun", True),
        ("moon", "sun", False),
    ],
)
def test_existence_unicode_folding(text: str, word: str, found: bool) -> None:
    assert check("keywords:existence", text, {"keywords": [word]}) is found



def test_scoring_path_kwargs_equal_validated_kwargs() -> None:
    checker = registry.get("length_constraints:number_words")
    plain = {"num_words": 3, "relation": "at least"}
    assert registry.checked_kwargs(checker, plain) is plain  # no copy on the hot path
    with_null = {"num_words": 3, "relation": "at least", "unused": None}
    assert registry.checked_kwargs(checker, with_null) == plain  # None counts as absent (IFBench lists nulls)
    assert registry.checked_kwargs(registry.get("punctuation:no_comma"), None) == {}
    with pytest.raises(Exception, match="num_words"):
        registry.checked_kwargs(checker, {"num_words": "3", "relation": "at least"})


LOOSE_TEXT = st.one_of(st.text(alphabet="ab c*\n.", max_size=40), st.text(alphabet="ab c*\n.日", max_size=40))


def _every_variant(cid: str, text: str, kwargs: dict) -> bool:
    from raif_rewards.text import loose_variants, view

    fn = registry.get(cid).fn
    return any(v.strip() and fn(view(v), **kwargs) for v in loose_variants(text))


@example("a b\nc", 3, "less than")  # only the first-line-removed variant passes
@example("a*b c", 3, "at least")
@given(LOOSE_TEXT, st.integers(0, 8), st.sampled_from(["at least", "less than", "至少", "少于"]))
def test_loose_number_words_equals_trying_every_variant(text: str, n: int, relation: str) -> None:
    kwargs = {"num_words": n, "relation": relation}
    assert check("length_constraints:number_words", text, kwargs, loose=True) is _every_variant(
        "length_constraints:number_words", text, kwargs
    )


MARKUP_TEXT = st.text(alphabet="a *[]\n", max_size=40)


@example("x\n[a] [b]\n*y*", "detectable_content:number_placeholders", 2)
@example("*a* *b*\nz", "detectable_format:number_highlighted_sections", 2)
@given(
    MARKUP_TEXT,
    st.sampled_from(["detectable_content:number_placeholders", "detectable_format:number_highlighted_sections"]),
    st.integers(0, 4),
)
def test_loose_markup_counts_equal_trying_every_variant(text: str, cid: str, n: int) -> None:
    field = "num_placeholders" if "placeholders" in cid else "num_highlights"
    assert check(cid, text, {field: n}, loose=True) is _every_variant(cid, text, {field: n})


COVERED = {
    "length_constraints:number_words",
    "detectable_content:number_placeholders",
    "detectable_format:number_highlighted_sections",
}


@pytest.mark.parametrize("cid", [c.id for c in registry.all_checkers() if c.loose_settled is not None])
def test_every_loose_shortcut_is_covered_here(cid: str) -> None:
    # a new loose_settled needs its own equality property above
    assert cid in COVERED


CAPS_TEXT = st.text(alphabet="AB a.?!'\"\n-,CANNOTx", max_size=60)


@settings(deadline=None)  # the first example loads NLTK's tokenisers
@example("CANNOT go. I said NO!")
@example("A.B. C D-E 'F' \"G\"")
@given(CAPS_TEXT)
def test_capital_lower_bound_never_exceeds_nltk(text: str) -> None:
    from raif_rewards.text import punkt_tokenizer, treebank_tokenizer, view

    nltk_count = sum(
        tok.isupper() for sent in punkt_tokenizer().tokenize(text) for tok in treebank_tokenizer().tokenize(sent)
    )
    assert view(text).upper_word_lower_bound <= nltk_count == view(text).upper_word_count


def test_capital_lower_bound_on_the_conformance_responses(conformance_dir) -> None:
    import json

    from raif_rewards.text import Text, loose_variants

    path = conformance_dir / "ifeval" / "input_response_data_gpt4_20231107_145030.jsonl"
    checked = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        for variant in loose_variants(json.loads(line)["response"]):
            t = Text(variant)
            assert t.upper_word_lower_bound <= t.upper_word_count
            checked += t.upper_word_lower_bound > 0
    assert checked > 50  # the bound is exercised, not always zero
