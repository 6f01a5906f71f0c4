"""Language detection: seeded and cached; the fast path and langdetect-rs proven identical to langdetect."""

from __future__ import annotations

import json
import os

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


def test_default_backend_is_the_exact_fast_path_and_the_package_can_be_forced():
    import subprocess
    import sys

    code = "from raif_rewards import langid; print(langid.backend())"
    env = {k: v for k, v in os.environ.items() if k != "RAIF_LANGDETECT"}
    run = lambda extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True, check=True
    )
    assert run({}).stdout.strip() == "langdetect"
    assert run({"RAIF_LANGDETECT": "langdetect-py"}).stdout.strip() == "langdetect-py"
    unknown = run({"RAIF_LANGDETECT": "fasttext"})
    assert unknown.stdout.strip() == "langdetect" and "not one of" in unknown.stderr


def test_fast_default_and_langdetect_package_agree_through_langid(conformance_dir):
    """The wiring: verdicts (and None for undetectable text) equal through langid.detect itself."""
    texts = _conformance_texts(conformance_dir)[::9] + ["", "12345 !!! ...", "http://x.org", "ABC DEF"]
    try:
        langid.set_backend("langdetect-py")
        original = [langid.detect(t) for t in texts]
        langid.set_backend("langdetect")
        fast = [langid.detect(t) for t in texts]
    finally:
        langid.set_backend("langdetect")
    assert fast == original
    assert None in fast and "en" in fast
