"""langdetect_fast against the real langdetect 1.0.9: same verdicts, same probabilities, same errors."""

from __future__ import annotations

import json

import langdetect
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langdetect.detector_factory import init_factory

from raif_rewards import langdetect_fast
from raif_rewards.text import loose_variants

SEED = 0


def _reference(fn, text: str) -> str:
    """repr of langdetect's answer (``lang:prob`` with every digit), or its exception."""
    langdetect.DetectorFactory.seed = SEED
    try:
        return repr(fn(text))
    except langdetect.LangDetectException as exc:
        return f"LangDetectException({exc.code}, {exc})"


def _ours(fn, text: str) -> str:
    try:
        return repr(fn(text, SEED))
    except langdetect.LangDetectException as exc:
        return f"LangDetectException({exc.code}, {exc})"


def _assert_identical(text: str) -> None:
    assert _ours(langdetect_fast.detect_langs, text) == _reference(langdetect.detect_langs, text)
    assert _ours(langdetect_fast.detect, text) == _reference(langdetect.detect, text)


def _conformance_texts(conformance_dir) -> list[str]:
    """Every response of the IFEval and IFBench files and their IFEval loose variants, and the IFEval prompts."""
    texts: set[str] = set()
    for path in sorted([*conformance_dir.glob("ifeval/*.jsonl"), *conformance_dir.glob("ifbench/*.jsonl")]):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if isinstance(row.get("response"), str):
                texts.update(loose_variants(row["response"]))
            if path.parent.name == "ifeval" and isinstance(row.get("prompt"), str):
                texts.add(row["prompt"])
    return sorted(texts)


@pytest.mark.slow
def test_identical_on_every_conformance_text(conformance_dir):
    texts = _conformance_texts(conformance_dir)
    assert len(texts) > 3000
    differing = []
    for text in texts:
        ours = _ours(langdetect_fast.detect_langs, text)
        if ours != _reference(langdetect.detect_langs, text):
            differing.append((text[:60], ours))
    assert differing == []
    # detect() is detect_langs()[0]; checked on its own on a slice to keep the test's time down
    for text in texts[::7]:
        assert _ours(langdetect_fast.detect, text) == _reference(langdetect.detect, text)


def test_identical_on_conformance_sample_with_call_by_call_draws(conformance_dir, monkeypatch):
    """The fallback (random.Random called as langdetect calls it) is exact too, should a Python's
    random module ever decode differently from what _Draws assumes."""
    texts = _conformance_texts(conformance_dir)[::40]
    fast = [_ours(langdetect_fast.detect_langs, t) for t in texts]
    monkeypatch.setattr(langdetect_fast, "_stream_matches_random", lambda: False)
    replayed = [_ours(langdetect_fast.detect_langs, t) for t in texts]
    assert replayed == fast == [_reference(langdetect.detect_langs, t) for t in texts]


def test_bulk_decoding_matches_this_interpreters_random():
    # Otherwise every detection silently takes the slower call-by-call path.
    assert langdetect_fast._stream_matches_random()


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "12345 !!! ...",
        "http://example.com/a?b=c",
        "someone@example.com",
        "\u3000\u3000",
        "A",
        "ABC DEF",  # all-capital words give no n-grams
        "a",
        "Ж",
        "x" * 20000,  # cut at 10,000 characters
        "The quick brown fox jumps over the lazy dog.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "我们今天去公园散步，天气非常好。",
        "これは日本語の文章です。カタカナもあります。",
        "안녕하세요 만나서 반갑습니다",
        "هذا نص عربي قصير ی",
        "Tiếng Việt có dấu: Tie\u0302\u0301ng Vie\u0323\u0302t",
        "Romanian: ș ț şi ţ",
        "Mixed: hello мир 世界 مرحبا 123 https://x.org a@b.cc",
        "ǅemal ǈubljana NATO-Gipfel iPhone ÄÖÜ straße",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ abc Жжж ЖЖЖ",
        "[\\]^_` are counted as Latin by langdetect: 中文中文中文 [\\]^_`",
    ],
)
def test_identical_on_edge_cases(text):
    _assert_identical(text)


def test_other_seeds_identical():
    text = "Ein kurzer Satz, der auch Englisch sein könnte: the end."
    for seed in (1, 7, 123456789):
        langdetect.DetectorFactory.seed = seed
        try:
            expected = repr(langdetect.detect_langs(text))
        finally:
            langdetect.DetectorFactory.seed = SEED
        assert repr(langdetect_fast.detect_langs(text, seed)) == expected


def test_ngrams_are_langdetects_in_order():
    """The rows behind the draws name exactly the n-grams Detector._extract_ngrams lists."""
    init_factory()
    model = langdetect_fast._get_model()
    gram_of = {row: gram for gram, row in model.index.items()}
    for text in ("Hello WORLD, this is A test.", "Ünïcödé ÇA VA? ça va.", "日本語とEnglish混在 text"):
        detector = langdetect.detector_factory._factory.create()
        detector.append(text)
        detector.cleaning_text()
        expected = detector._extract_ngrams()
        assert expected
        assert [gram_of[row] for row in model.ngram_rows(langdetect_fast._clean(text))] == expected


def test_profiles_read_from_the_installed_package():
    """Every n-gram langdetect can extract has langdetect's own vector, bit for bit, in its language order."""
    init_factory()
    factory = langdetect.detector_factory._factory
    model = langdetect_fast._get_model()
    assert list(model.langlist) == factory.langlist
    reachable = {gram: vec for gram, vec in factory.word_lang_prob_map.items() if 1 <= len(gram) <= 3}
    assert set(model.index) == set(reachable)
    grams = sorted(reachable)
    assert model.matrix[[model.index[g] for g in grams]].tolist() == [reachable[g] for g in grams]


def test_caches_stay_bounded(monkeypatch):
    monkeypatch.setattr(langdetect_fast, "_CACHE_LIMIT", 50)
    model = langdetect_fast._get_model()
    text = " ".join(chr(c) * 2 for c in range(0x4E00, 0x4E00 + 300))
    _assert_identical(text)
    assert len(model.normalizer) <= 50
    _assert_identical("один два три")  # the word cache is emptied before a text when full
    assert len(model.words) <= 3
    _assert_identical(text)  # and results stay right across the emptying


_SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèàçñöüßøåœÉÀ",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщыэюяАБВГДЕЖЗИЙКЛМНОПРСТ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔ",
    "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长",
    "kana": "あいうえおかきくけこアイウエオカキクケコー",
    "hangul": "가나다라마바사아자차카타파하한국어",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهويیک",
    "vietnamese": "ăâđêôơưạảấầẩẫậ\u0300\u0301\u0303\u0309\u0323",
    "digits": "0123456789",
    "punct": " ,.;:!?'\"()[]{}-–—…«»“”‘’/\\|*&^%$#@~`_+=<>\n\t\u00a0\u3000",
}
_word = st.one_of(
    *(st.text(alphabet=chars, min_size=1, max_size=12) for chars in _SCRIPTS.values()),
    st.builds(
        "https://{}.org/{}".format, st.text("abcxyz", min_size=1, max_size=8), st.text("ab/?=", max_size=6)
    ),
    st.builds(
        "{}@{}.com".format, st.text("abc._-", min_size=1, max_size=8), st.text("xyz", min_size=1, max_size=6)
    ),
)
_mixed = st.lists(_word, max_size=60).flatmap(
    lambda words: st.lists(
        st.sampled_from([" ", "  ", "\n", "", ". "]), min_size=len(words), max_size=len(words)
    ).map(lambda seps: "".join(w + s for w, s in zip(words, seps, strict=True)))
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mixed)
def test_identical_on_mixed_script_text(text):
    _assert_identical(text)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mixed, min_size=20, max_size=40).map("\n".join))
def test_identical_on_long_mixed_script_text(text):
    _assert_identical(text)


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(exclude_categories=[]), max_size=80))  # any code point, lone surrogates too
def test_identical_on_any_short_text(text):
    _assert_identical(text)


def test_detect_stops_the_trials_once_the_leader_cannot_be_caught():
    """detect() needs only the top language: it stops when the remaining trials (each adding at most
    1/7 to a language) cannot change it. The verdicts equal langdetect's (the tests above)."""
    import numpy as np

    settled = langdetect_fast._leader_settled
    assert not settled(np.array([3 / 7, 0.0, 0.0]), 4)  # three trials left could tie it
    assert settled(np.array([3 / 7 + 1e-6, 0.0, 0.0]), 4)
    assert not settled(np.array([0.5, 0.45, 0.0]), 6) and settled(np.array([0.5, 0.45, 0.0]), 7)
    stops: list[int] = []

    def spy(sums, trials):
        done = settled(sums, trials)
        if done:
            stops.append(trials)
        return done

    model = langdetect_fast._get_model()
    model.probabilities("This is a plain English sentence about the weather and the garden today.", SEED, spy)
    assert stops == [4]  # seven trials that agree: settled after four
