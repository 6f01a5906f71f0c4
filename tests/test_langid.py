"""Language detection: seeded and cached; langdetect-rs proven identical before it may be switched on."""

from __future__ import annotations

import json

import pytest

from raif_rewards import langid
from raif_rewards.text import loose_variants


def _conformance_texts(conformance_dir):
    texts = set()
    path = conformance_dir / "ifeval" / "input_response_data_gpt4_20231107_145030.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            texts.update(v for v in loose_variants(json.loads(line)["response"]) if v.strip())
    return sorted(texts)


def test_detection_is_deterministic():
    text = "Dies ist ein kurzer deutscher Satz über das Wetter."
    first = langid.detect(text)
    langid.detect.cache_clear()
    assert langid.detect(text) == first == "de"


def test_undetectable_text_gives_none():
    assert langid.detect("12345 !!! ...") is None


def test_unknown_backend_rejected():
    with pytest.raises(ValueError, match="unknown language-detection backend"):
        langid.set_backend("fasttext")


@pytest.mark.slow
def test_rs_backend_identical_on_every_conformance_text_and_variant(conformance_dir):
    """The switch to langdetect-rs is only allowed because this holds (about 2,250 distinct texts)."""
    import langdetect
    import langdetect_rs

    langdetect.DetectorFactory.seed = 0
    langdetect_rs.DetectorFactory.seed = 0
    texts = _conformance_texts(conformance_dir)
    assert len(texts) > 2000  # distinct responses and loose variants

    def run(mod, text):
        try:
            return mod.detect(text)
        except mod.LangDetectException:
            return None

    differing = [t[:60] for t in texts if run(langdetect, t) != run(langdetect_rs, t)]
    assert differing == []


def test_backend_switch_round_trip():
    text = "Questo è un testo italiano abbastanza lungo per essere riconosciuto."
    try:
        langid.set_backend("rs")
        fast = langid.detect(text)
    finally:
        langid.set_backend("langdetect")
    assert fast == langid.detect(text) == "it"
