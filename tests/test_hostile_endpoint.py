"""A misbehaving OpenAI-compatible server (the stub's hostile modes): no silent zeros, nothing unusable
cached, bounded bodies, Retry-After honoured, one-line errors (issue 15, points 3, 8, 9 and 10)."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from typer.testing import CliRunner

from raif_rewards.errors import EndpointError
from raif_rewards.llm import LLMClient, run_sync
from tests.openai_stub import OpenAIStub, openai_stub_fixture  # noqa: F401

MSG = [{"role": "user", "content": "hello"}]


def client_for(stub, tmp_path=None, **kw) -> LLMClient:
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("max_retries", 2)
    if tmp_path is not None:
        kw.setdefault("cache_path", tmp_path / "cache.sqlite")
    return LLMClient(stub.base_url, "stub-model", **kw)


def _cached_rows(path) -> int:
    with sqlite3.connect(str(path)) as db:
        return db.execute("SELECT COUNT(*) FROM chat").fetchone()[0]


@pytest.mark.parametrize("fault,match", [("null_content", "content is null"), ("surrogate", "lone surrogate")])
def test_an_unusable_answer_is_retried_reported_and_never_cached(openai_stub, tmp_path, fault, match):
    openai_stub.set_faults(lambda i, req: fault)
    client = client_for(openai_stub, tmp_path)
    with pytest.raises(EndpointError, match=match) as info:
        run_sync(client.chat(MSG))
    assert "\n" not in str(info.value)
    assert openai_stub.request_count == 3  # retried
    assert _cached_rows(tmp_path / "cache.sqlite") == 0  # never cached
    # the server fixed: the same request gets the real answer
    openai_stub.set_faults([])
    assert run_sync(client.chat(MSG)).text == "echo: hello"


def test_a_reasoning_only_answer_is_an_answer_not_an_error(openai_stub, tmp_path):
    openai_stub.set_faults(["reasoning_only"])
    result = run_sync(client_for(openai_stub, tmp_path).chat(MSG))
    assert (result.text, result.reasoning) == ("", "thinking it over, and over")
    assert openai_stub.request_count == 1


def test_one_null_choice_among_several_is_an_endpoint_error(openai_stub):
    from raif_rewards.llm import _MalformedResponse, _to_result

    raw = {"choices": [{"message": {"content": "a"}}, {"message": {"content": None}}]}
    with pytest.raises(_MalformedResponse, match="null"):
        _to_result(raw)


def test_raif_eval_reports_null_content_instead_of_a_complete_zero(tmp_path):
    from raif_eval.cli import app
    from tests.test_eval_data import judge_responder, model_responder, write_benchmarks
    from tests.test_eval_run import run_args

    with OpenAIStub(model_responder, model="tiny-model") as model, \
            OpenAIStub(judge_responder, model="tiny-judge") as judge:
        data = write_benchmarks(tmp_path / "data")
        out = tmp_path / "run"
        model.set_faults(lambda i, req: "null_content")
        first = CliRunner().invoke(app, run_args(model, judge, data, out, ["ifeval"]))
        assert first.exit_code == 1
        assert not (out / "ifeval" / "scores.json").exists()
        # the server fixed: every prompt is asked again (nothing empty was kept) and scored for real
        model.set_faults([])
        model.reset()
        second = CliRunner().invoke(app, run_args(model, judge, data, out, ["ifeval"]))
        assert second.exit_code == 0, second.output
        assert model.request_count == 2
        summary = json.loads((out / "summary.json").read_text())
        assert summary["benchmarks"]["ifeval"]["complete"]
        assert summary["benchmarks"]["ifeval"]["metrics"]["prompt_strict"] > 0


def test_raif_data_does_not_drop_prompts_on_null_content(tmp_path):
    from raif_data import pipeline
    from tests.test_data_endpoint import _read, _recipe, responder

    with OpenAIStub(responder) as stub:
        out = tmp_path / "d"
        stub.set_faults(lambda i, req: "null_content")
        with pytest.raises(EndpointError, match="content is null"):
            pipeline.evolve(_recipe(out, stub.base_url, llm={"max_retries": 1}))
        stub.set_faults([])
        m = pipeline.evolve(_recipe(out, stub.base_url))
        assert m["counts"]["train"] == 24 == len(_read(out, "train"))  # none dropped as "impossible"


# ------------------------------------------------------------------ bounded bodies and caches (point 9)


def test_a_huge_answer_is_refused_unread_and_not_cached(openai_stub, tmp_path):
    openai_stub.huge_bytes = 3 * 1024 * 1024
    openai_stub.set_faults(["huge"])
    client = client_for(openai_stub, tmp_path, max_body_bytes=1024 * 1024)
    with pytest.raises(EndpointError, match="bytes") as info:
        run_sync(client.chat(MSG))
    assert "\n" not in str(info.value)
    assert openai_stub.request_count == 1  # the same request would get the same answer: not retried
    assert _cached_rows(tmp_path / "cache.sqlite") == 0


def test_the_default_body_limit_is_in_megabytes():
    from raif_rewards.chat_http import DEFAULT_MAX_BODY_BYTES

    client = LLMClient("http://127.0.0.1:9/v1", "m")
    assert client.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 8 * 1024 * 1024


def test_a_slow_drip_body_ends_at_the_timeout_and_a_reset_is_retried(openai_stub):
    openai_stub.drip_seconds = 0.05  # a ~300-byte body would take ~15 s
    openai_stub.set_faults(["drip", "drip"])
    client = client_for(openai_stub, timeout=0.5, max_retries=1)
    start = time.monotonic()
    with pytest.raises(EndpointError, match="failed after 2 attempts"):
        run_sync(client.chat(MSG))
    assert time.monotonic() - start < 5
    openai_stub.set_faults(["reset"])
    assert run_sync(client_for(openai_stub).chat(MSG)).text == "echo: hello"
    assert openai_stub.faults_served[-1] == "reset"


def test_the_feature_caches_are_bounded_by_characters():
    from raif_rewards import langid, text
    from raif_rewards.checking import check

    text.view.cache_clear()
    for i in range(60):  # 60 distinct 200 KB answers: 12 M characters offered
        answer = f"answer {i} " + "word " * 40_000
        check("punctuation:no_comma", answer, {})
        check("change_case:english_lowercase", answer, {}, loose=True)
        assert text.view.chars <= text.VIEW_CACHE_CHARS
        assert text.loose_variants.chars <= text.VIEW_CACHE_CHARS
        assert langid.detect.chars <= 4_000_000
    assert 0 < len(text.view) < 60
    big = "x " * 600_000  # over MAX_CACHED_TEXT_CHARS: analysed, not kept
    before = len(text.view)
    check("punctuation:no_comma", big, {})
    assert len(text.view) == before


# ------------------------------------------------------------------ Retry-After (point 10)


def test_retry_after_is_honoured(openai_stub):
    openai_stub.retry_after = "1.5"
    openai_stub.set_faults(["429_retry_after"])
    client = client_for(openai_stub, backoff_base=0.001)
    start = time.monotonic()
    assert run_sync(client.chat(MSG)).text == "echo: hello"
    assert time.monotonic() - start >= 1.5
    assert openai_stub.request_count == 2


def test_retry_after_is_capped(openai_stub):
    openai_stub.retry_after = "3600"
    openai_stub.set_faults(["429_retry_after"])
    client = client_for(openai_stub, backoff_base=0.001, retry_after_max=0.5)
    start = time.monotonic()
    assert run_sync(client.chat(MSG)).text == "echo: hello"
    assert 0.5 <= time.monotonic() - start < 3.0


@pytest.mark.parametrize("value,low,high", [
    ("30", 30, 30), ("0", 0, 0), ("-5", 0, 0), ("soon", 0, 0), ("nan", 0, 0), ("inf", 0, 0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0, 0),  # a date in the past: no wait
])
def test_retry_after_values(value, low, high):
    from raif_rewards.chat_http import HTTPStatusError
    from raif_rewards.llm import _retry_after

    assert low <= _retry_after(HTTPStatusError(429, b"", value)) <= high


def test_retry_after_as_a_future_date():
    import email.utils

    from raif_rewards.chat_http import HTTPStatusError
    from raif_rewards.llm import _retry_after

    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 <= _retry_after(HTTPStatusError(503, b"", when)) <= 21


# ------------------------------------------------------------------ a thinking judge (point 14)


@pytest.mark.parametrize("text,logprobs", [
    ("<think>hmm</think>YES", None),
    ("<think>is it YES? no</think>", None),
    ("  <think>\nYES", None),
    ("<think>", [{"<think>": -0.01, "YES": -6.0}]),
])
def test_a_judge_reply_opening_with_think_gives_no_verdict(text, logprobs):
    """docs/eval.md: a judge that opens with <think> gives no verdict (counted as NO)."""
    from raif_eval.judging import decide
    from raif_rewards.judge import verdict_from_result
    from raif_rewards.llm import ChatResult

    result = ChatResult(text=text, logprobs=logprobs)
    assert decide(result) is None
    assert verdict_from_result(result).yes is None
