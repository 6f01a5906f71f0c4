"""LLMClient against the loopback OpenAI stub: results, logprobs, retries per fault, cache, concurrency."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import gzip
import json
import sqlite3
import time
import warnings

import pytest

from raif_rewards.chat_http import env_proxy
from raif_rewards.errors import EndpointError
from raif_rewards.llm import (
    ChatResult,
    Choice,
    LLMClient,
    _MalformedResponse,
    _to_result,
    request_key,
    run_sync,
)
from tests.openai_stub import OpenAIStub, openai_stub_fixture  # noqa: F401

MSG = [{"role": "user", "content": "hello"}]


def client_for(stub, **kw) -> LLMClient:
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("timeout", 2.0)
    return LLMClient(stub.base_url, "stub-model", **kw)


def test_chat_returns_text_reasoning_usage(openai_stub):
    openai_stub.responder = lambda req: {"content": "the answer", "reasoning_content": "because"}
    client = client_for(openai_stub)
    result = run_sync(client.chat(MSG, temperature=0))
    assert (result.text, result.reasoning, result.finish_reason, result.cached) == (
        "the answer", "because", "stop", False)
    assert result.usage["completion_tokens"] == 2
    assert openai_stub.requests[0]["messages"] == MSG
    assert openai_stub.requests[0]["temperature"] == 0


def test_logprobs_are_returned_per_position(openai_stub):
    openai_stub.responder = lambda req: {"content": "YES", "top_logprobs": [{"YES": -0.1, "NO": -2.5, "Yes": -4.0}]}
    result = run_sync(client_for(openai_stub).chat(MSG, max_tokens=1, logprobs=True, top_logprobs=2))
    assert result.logprobs == [{"YES": -0.1, "NO": -2.5}]
    assert openai_stub.requests[0]["top_logprobs"] == 2


def test_n_choices(openai_stub):
    counter = iter(range(100))
    openai_stub.responder = lambda req: f"sample {next(counter)}"
    result = run_sync(client_for(openai_stub).chat(MSG, n=3))
    assert [c.text for c in result.choices] == ["sample 0", "sample 1", "sample 2"]
    assert result.text == "sample 0"


@pytest.mark.parametrize("fault", ["429", "500", "malformed", "truncated", "hang"])
def test_each_transient_fault_is_retried(openai_stub, fault):
    openai_stub.hang_seconds = 5.0
    openai_stub.set_faults([fault, fault])
    client = client_for(openai_stub, timeout=0.5, max_retries=3)
    result = run_sync(client.chat(MSG))
    assert result.text == "echo: hello"
    assert openai_stub.faults_served == [fault, fault]
    assert openai_stub.request_count == 3
    assert client.requests_sent == 3


def test_persistent_outage_raises_endpoint_error_after_retries(openai_stub):
    openai_stub.set_faults(lambda i, req: "500")
    client = client_for(openai_stub, max_retries=2)
    with pytest.raises(EndpointError, match=r"failed after 3 attempts.*HTTP 500"):
        run_sync(client.chat(MSG))
    assert openai_stub.request_count == 3


def test_client_error_is_not_retried(openai_stub):
    client = LLMClient(openai_stub.base_url.replace("/v1", "/nope"), "m", backoff_base=0.001, max_retries=4)
    with pytest.raises(EndpointError, match="404"):
        run_sync(client.chat(MSG))
    assert client.requests_sent == 1


def test_backoff_grows_exponentially(openai_stub):
    openai_stub.set_faults(["500", "500", "500"])
    client = client_for(openai_stub, backoff_base=0.05, max_retries=3)
    t0 = time.perf_counter()
    run_sync(client.chat(MSG))
    # delays are base * 2**k * U(0.5, 1.5): at least 0.5 * (0.05 + 0.1 + 0.2)
    assert time.perf_counter() - t0 >= 0.175


def test_cache_second_run_makes_zero_requests(openai_stub, tmp_path):
    db = tmp_path / "cache.sqlite"
    first = client_for(openai_stub, cache_path=db)
    out1 = run_sync(first.chat_many([(MSG, {"temperature": 0}), ([{"role": "user", "content": "b"}], {})]))
    assert openai_stub.request_count == 2
    first.close()
    second = client_for(openai_stub, cache_path=db)
    out2 = run_sync(second.chat_many([(MSG, {"temperature": 0}), ([{"role": "user", "content": "b"}], {})]))
    assert openai_stub.request_count == 2 and second.requests_sent == 0
    assert [r.text for r in out2] == [r.text for r in out1] and all(r.cached for r in out2)
    # a different sampling parameter or salt is a different request
    run_sync(second.chat(MSG, temperature=0.7))
    run_sync(second.chat(MSG, temperature=0, cache_salt="sample-2"))
    assert openai_stub.request_count == 4


def test_cache_key_ignores_endpoint_but_not_model():
    assert request_key("m", MSG, {"temperature": 0}) == request_key("m", MSG, {"temperature": 0, "timeout": 3})
    assert request_key("m", MSG, {}) != request_key("m2", MSG, {})


def test_failures_are_not_cached(openai_stub, tmp_path):
    openai_stub.set_faults(lambda i, req: "500" if i < 2 else None)
    client = client_for(openai_stub, cache_path=tmp_path / "c.sqlite", max_retries=0)
    with pytest.raises(EndpointError):
        run_sync(client.chat(MSG))
    assert len(client.cache) == 0


def test_chat_many_returns_errors_in_place_and_keeps_order(openai_stub):
    openai_stub.responder = lambda req: req["messages"][-1]["content"].upper()
    openai_stub.set_faults(lambda i, req: "500" if req["messages"][-1]["content"] == "bad" else None)
    client = client_for(openai_stub, max_retries=1)
    reqs = [([{"role": "user", "content": c}], {}) for c in ["a", "bad", "c"]]
    out = run_sync(client.chat_many(reqs))
    assert out[0].text == "A" and out[2].text == "C"
    assert isinstance(out[1], EndpointError)


def test_concurrency_is_bounded():
    with OpenAIStub(lambda req: "ok", latency=0.05) as stub:
        client = client_for(stub, concurrency=3)
        reqs = [([{"role": "user", "content": str(i)}], {}) for i in range(12)]
        out = run_sync(client.chat_many(reqs))
    assert all(r.text == "ok" for r in out)
    assert stub.max_in_flight == 3


def test_run_sync_inside_running_loop(openai_stub):
    client = client_for(openai_stub)

    async def outer():
        return run_sync(client.chat(MSG))

    assert asyncio.run(outer()).text == "echo: hello"


def test_models_endpoint(openai_stub):
    import urllib.request

    with urllib.request.urlopen(openai_stub.base_url + "/models", timeout=5) as resp:
        assert b"stub-model" in resp.read()


def test_api_key_extra_headers_and_extra_body_reach_the_server(openai_stub):
    client = client_for(openai_stub, api_key="sk-test")
    run_sync(client.chat(MSG, max_tokens=5, extra_headers={"X-Trace": "t1"},
                         extra_body={"chat_template_kwargs": {"enable_thinking": False}}))
    req, headers = openai_stub.requests[0], openai_stub.headers[0]
    assert headers["authorization"] == "Bearer sk-test" and headers["x-trace"] == "t1"
    assert req == {"model": "stub-model", "messages": MSG, "max_tokens": 5,
                   "chat_template_kwargs": {"enable_thinking": False}}
    run_sync(client_for(openai_stub).chat(MSG))
    assert openai_stub.headers[1]["authorization"] == "Bearer EMPTY" and "x-trace" not in openai_stub.headers[1]


def test_per_call_timeout_overrides_the_client_timeout(openai_stub):
    openai_stub.hang_seconds = 5.0
    openai_stub.set_faults(["hang"])
    client = client_for(openai_stub, timeout=10.0, max_retries=1)
    t0 = time.perf_counter()
    assert run_sync(client.chat(MSG, timeout=0.3)).text == "echo: hello"
    assert time.perf_counter() - t0 < 3.0 and openai_stub.request_count == 2


def test_refused_connection_is_retried_then_reported(openai_stub):
    url = openai_stub.base_url
    openai_stub.stop()
    client = LLMClient(url, "m", backoff_base=0.001, max_retries=2)
    with pytest.raises(EndpointError, match="failed after 3 attempts"):
        run_sync(client.chat(MSG))
    assert client.requests_sent == 3


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://host/v1", "http://[bad/v1"])
def test_a_malformed_url_fails_at_once(url):
    client = LLMClient(url, "m", backoff_base=0.001, max_retries=3)
    with pytest.raises(EndpointError, match="UrlClientError"):
        run_sync(client.chat(MSG))
    assert client.requests_sent == 1


def test_streaming_is_refused_before_sending(openai_stub):
    client = client_for(openai_stub)
    with pytest.raises(ValueError, match="stream"):
        run_sync(client.chat(MSG, stream=True))
    assert openai_stub.request_count == 0


def test_a_result_is_committed_before_chat_returns(openai_stub, tmp_path):
    db = tmp_path / "c.sqlite"
    client = client_for(openai_stub, cache_path=db)
    msgs = [[{"role": "user", "content": f"q{i}"}] for i in range(20)]

    async def ask_then_look():
        results = await asyncio.gather(*(client.chat(m) for m in msgs))
        # a separate connection sees only committed rows: every answer handed back is durable
        with sqlite3.connect(db) as other:
            stored = other.execute("SELECT COUNT(*) FROM chat").fetchone()[0]
        return results, stored

    results, stored = run_sync(ask_then_look())
    assert stored == 20 and [r.text for r in results] == [f"echo: q{i}" for i in range(20)]


def test_sync_calls_leave_no_unclosed_session(openai_stub):
    client = client_for(openai_stub)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            run_sync(client.chat(MSG))
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]


@pytest.mark.parametrize("raw", [
    {}, {"choices": []}, {"choices": "x"}, {"choices": [{"message": None}]}, {"choices": [None]},
    {"choices": [{"message": {"content": 3}}]}, [1, 2],
    {"choices": [{"message": {"content": "a"}, "logprobs": {"content": [{"token": "a"}]}}]},
])
def test_unusable_completions_are_malformed(raw):
    with pytest.raises(_MalformedResponse):
        _to_result(raw)


def test_completion_fields_are_read_as_the_sdk_read_them():
    raw = {"choices": [
        {"message": {"content": None, "reasoning": "thought"}, "finish_reason": "length"},
        {"message": {"content": "b", "reasoning_content": "r", "reasoning": "ignored"}},
    ], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "completion_tokens_details": {"x": 1}}}
    result = _to_result(raw)
    assert (result.text, result.reasoning, result.finish_reason) == ("", "thought", "length")
    assert [(c.text, c.reasoning, c.finish_reason) for c in result.choices] == [
        ("", "thought", "length"), ("b", "r", None)]
    assert result.usage == {"prompt_tokens": 3, "completion_tokens": 4} and result.logprobs is None


def test_proxy_comes_from_the_environment(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                 "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("http://gpu-box:8000/v1") is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert env_proxy("http://gpu-box:8000/v1") == "http://proxy:3128"
    assert env_proxy("http://127.0.0.1:8000/v1") is None
    assert env_proxy("https://api.openai.com/v1") is None


@pytest.mark.parametrize("result", [
    ChatResult("a"),
    ChatResult("é", reasoning="r", finish_reason="length", logprobs=[{"YES": -0.1, "NO": -2.0}],
               usage={"prompt_tokens": 1}, cached=True,
               choices=(Choice("é", "r", "length"), Choice("b", None, None))),
])
def test_cached_value_format_is_unchanged(result):
    # the format caches written so far hold: dataclasses.asdict without "cached"
    reference = {k: v for k, v in dataclasses.asdict(result).items() if k != "cached"}
    assert result.to_json() == json.dumps(reference, ensure_ascii=False)
    assert ChatResult.from_json(result.to_json(), cached=False) == dataclasses.replace(result, cached=False)



# ---------------------------------------------------------------- raw servers: framings and failures
OK_BODY = json.dumps({"choices": [{"message": {"content": "fine"}, "finish_reason": "stop"}]}).encode()


def ok_head(**headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: application/json", *(f"{k.replace('_', '-')}: {v}"
                                                                      for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def scripted_chat(answers: list, **client_kw):
    """One chat call against a raw server that answers the n-th request it reads with ``answers[n]``
    (a list of byte strings written one by one, or None to close the connection without answering).
    Returns the result (or the exception) and the request heads the server read."""
    heads: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                heads.append(head)
                pieces = answers.pop(0)
                if pieces is None:
                    break
                for piece in pieces:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.01)  # separate TCP segments: the client must reassemble
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client_kw.setdefault("max_retries", 0)
        client_kw.setdefault("timeout", 2.0)
        client = LLMClient(f"http://127.0.0.1:{port}/v1", "m", backoff_base=0.001, **client_kw)
        try:
            return await client.chat(MSG, extra_query={"api-version": "1"}), heads, client
        except Exception as exc:  # returned for the test to inspect
            return exc, heads, client
        finally:
            await client.aclose()
            server.close()
            for writer in writers:
                writer.close()
            await asyncio.sleep(0.01)

    return run_sync(main())


@pytest.mark.parametrize("answer", [
    [ok_head(content_length=str(len(OK_BODY))), OK_BODY[:10], OK_BODY[10:]],
    [ok_head(transfer_encoding="chunked"), b"a\r\n" + OK_BODY[:10] + b"\r\n",
     b"%x;ext=1\r\n" % (len(OK_BODY) - 10) + OK_BODY[10:] + b"\r\n", b"0\r\nX-Trailer: t\r\n\r\n"],
    [ok_head(connection="close"), OK_BODY],  # framed by the end of the connection
    [b"HTTP/1.1 100 Continue\r\n\r\n", ok_head(content_length=str(len(OK_BODY))) + OK_BODY],
    [ok_head(content_encoding="gzip", content_length=str(len(gzip.compress(OK_BODY)))), gzip.compress(OK_BODY)],
])
def test_client_reads_every_framing(answer):
    result, heads, client = scripted_chat([answer])
    assert isinstance(result, ChatResult) and result.text == "fine" and client.requests_sent == 1
    assert heads[0].startswith(b"POST /v1/chat/completions?api-version=1 HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in heads[0].lower()


def test_a_keep_alive_connection_the_server_dropped_is_retried_on_a_fresh_one():
    # the server closes the reused connection instead of answering: a transient failure, retried
    answer = [ok_head(content_length=str(len(OK_BODY))) + OK_BODY]
    heads: list[bytes] = []

    writers: list[asyncio.StreamWriter] = []

    async def handle(reader, writer):
        writers.append(writer)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
                heads.append(head)
                if served == 1:
                    break  # the second request on this connection: dropped unanswered
                writer.write(answer[0])
                served += 1
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        client = LLMClient(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", "m", max_retries=1,
                           backoff_base=0.001)
        try:
            first = await client.chat(MSG)
            second = await client.chat([{"role": "user", "content": "again"}])
            return first, second, client.requests_sent
        finally:
            await client.aclose()
            server.close()
            for writer in writers:
                writer.close()
            await asyncio.sleep(0.01)

    first, second, sent = run_sync(main())
    assert first.text == second.text == "fine" and sent == 3 and len(heads) == 3


@pytest.mark.parametrize("answers", [
    [[ok_head(content_length="500"), OK_BODY]],  # body cut short by a close
    [[ok_head(content_length="500"), OK_BODY], None],  # body never completed
    [[b"SPDY/3 200 OK\r\n\r\n"]],
    [None],  # a fresh connection closed unanswered
])
def test_transport_failures_are_transient(answers):
    result, _, _ = scripted_chat(answers, timeout=0.3)
    assert isinstance(result, EndpointError) and "failed after 1 attempts" in str(result)


def test_client_refuses_header_injection():
    client = LLMClient("http://127.0.0.1:9/v1", "m", max_retries=3)
    with pytest.raises(ValueError, match="line break"):
        run_sync(client.chat(MSG, extra_headers={"X-Evil": "a\r\nInjected: 1"}))
    assert client.requests_sent == 0
