"""Several endpoints behind one client: spreading, per-endpoint concurrency, resting a failing endpoint and
retrying it later (the pool on a fake clock; the client against two loopback stubs)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from raif_data import recipe as recipe_mod
from raif_data.llm import preflight
from raif_rewards.endpoints import Endpoint, EndpointPool, endpoint_urls
from raif_rewards.errors import EndpointError
from raif_rewards.llm import LLMClient, run_sync
from tests.openai_stub import OpenAIStub

MSG = [{"role": "user", "content": "hello"}]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pool_of(n: int, concurrency: int = 2, clock: FakeClock | None = None) -> EndpointPool:
    return EndpointPool([Endpoint(f"http://e{i}/v1") for i in range(n)], concurrency, rest_base=1.0,
                        rest_max=8.0, clock=clock or FakeClock())


def test_endpoint_urls_reads_lists_and_comma_strings():
    assert endpoint_urls("http://a/v1/") == ["http://a/v1"]
    assert endpoint_urls("http://a/v1, http://b/v1") == ["http://a/v1", "http://b/v1"]
    assert endpoint_urls(["http://a/v1", "http://b/v1"]) == ["http://a/v1", "http://b/v1"]
    for bad in ([], "", ["http://a/v1", ""], ["http://a/v1", "http://a/v1/"]):
        with pytest.raises(ValueError, match="base_url"):
            endpoint_urls(bad)


def test_requests_go_to_the_least_busy_endpoint_and_wait_when_all_are_full():
    async def go():
        pool = pool_of(2, concurrency=2)
        got = [await pool.acquire() for _ in range(4)]
        assert [e.base_url for e in got] == ["http://e0/v1", "http://e1/v1", "http://e0/v1", "http://e1/v1"]
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # every endpoint holds `concurrency` requests
        pool.release(got[1], ok=True)
        assert (await asyncio.wait_for(waiting, 1)).base_url == "http://e1/v1"
        assert [e.in_flight for e in pool.endpoints] == [2, 2]

    asyncio.run(go())


def test_a_failing_endpoint_is_rested_then_retried():
    async def go():
        clock = FakeClock()
        pool = pool_of(2, concurrency=4, clock=clock)
        e0 = await pool.acquire()
        pool.release(e0, ok=False)
        # rested for rest_base seconds: everything goes to e1 meanwhile
        picks = [await pool.acquire() for _ in range(3)]
        assert {e.base_url for e in picks} == {"http://e1/v1"}
        for e in picks:
            pool.release(e, ok=True)
        clock.now += 1.01
        assert (await pool.acquire()).base_url == "http://e0/v1"  # rest over: tried again
        # a second failure in a row rests it twice as long
        pool.release(pool.endpoints[0], ok=False)
        assert pool.endpoints[0].rested_until == pytest.approx(clock.now + 2.0)
        clock.now += 2.01
        e = await pool.acquire()
        assert e.base_url == "http://e0/v1"
        pool.release(e, ok=True)
        assert pool.endpoints[0].failures == 0  # a success ends the streak

    asyncio.run(go())


def test_when_every_endpoint_rests_the_one_back_soonest_is_used():
    async def go():
        clock = FakeClock()
        pool = pool_of(2, concurrency=1, clock=clock)
        e0, e1 = await pool.acquire(), await pool.acquire()
        pool.release(e1, ok=False)
        pool.release(e0, ok=False)
        e1.rested_until = clock.now + 5  # as after a longer streak of failures
        got = await asyncio.wait_for(pool.acquire(), 1)  # no waiting: the client's backoff spaces retries
        assert got.base_url == "http://e0/v1"

    asyncio.run(go())


def test_a_cancelled_waiter_passes_its_wake_up_on():
    async def go():
        pool = pool_of(1, concurrency=1)
        held = await pool.acquire()
        first = asyncio.ensure_future(pool.acquire())
        second = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        pool.release(held, ok=True)
        first.cancel()
        assert (await asyncio.wait_for(second, 1)).base_url == "http://e0/v1"

    asyncio.run(go())


def free_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there once the socket is closed


def test_client_spreads_requests_with_a_bound_per_endpoint():
    with OpenAIStub(lambda r: "a", latency=0.02) as a, OpenAIStub(lambda r: "b", latency=0.02) as b:
        client = LLMClient([a.base_url, b.base_url], "stub-model", concurrency=4, timeout=5)
        results = run_sync(client.chat_many([(MSG, {"seed": i}) for i in range(40)]))
        assert all(not isinstance(r, BaseException) for r in results)
        assert a.request_count + b.request_count == 40
        assert a.request_count >= 10 and b.request_count >= 10
        assert a.max_in_flight <= 4 and b.max_in_flight <= 4
        assert a.max_in_flight + b.max_in_flight > 4  # both bounds were used: more than one server's worth


def test_client_routes_around_a_dead_endpoint():
    dead = free_port_url()
    with OpenAIStub(lambda r: "alive") as live:
        client = LLMClient([dead, live.base_url], "stub-model", concurrency=2, timeout=2, backoff_base=0.001)
        results = run_sync(client.chat_many([(MSG, {"seed": i}) for i in range(20)]))
        assert [r.text for r in results if not isinstance(r, BaseException)] == ["alive"] * 20
        dead_ep = client.endpoints[0]
        # rested after its first failures: nearly everything went to the live one
        assert dead_ep.served == 0 and 1 <= dead_ep.failed <= 4
        assert client.endpoints[1].served == 20


def test_client_fails_over_a_server_error_to_the_other_endpoint():
    with OpenAIStub(lambda r: "bad") as bad, OpenAIStub(lambda r: "good") as good:
        bad.set_faults(lambda i, req: "500")
        client = LLMClient([bad.base_url, good.base_url], "stub-model", concurrency=1, timeout=2,
                           backoff_base=0.001, max_retries=2)
        texts = [run_sync(client.chat(MSG, seed=i)).text for i in range(5)]
        assert texts == ["good"] * 5
        assert bad.request_count == 1  # failed once, then rested for the rest of this quick test


def test_every_endpoint_down_is_an_endpoint_error_naming_them():
    urls = [free_port_url(), free_port_url()]
    client = LLMClient(urls, "stub-model", timeout=1, backoff_base=0.001, max_retries=2)
    with pytest.raises(EndpointError, match="failed after 3 attempts") as info:
        run_sync(client.chat(MSG))
    assert urls[0] in str(info.value) and urls[1] in str(info.value)


def test_recipe_and_preflight_take_a_list():
    with OpenAIStub() as a, OpenAIStub() as b:
        r = recipe_mod.from_dict({"llm": {"base_url": [a.base_url, b.base_url], "model": "m"}})
        assert r.llm.base_url == [a.base_url, b.base_url]
        preflight(r.llm.base_url, timeout=2)
        dead = free_port_url()
        with pytest.raises(EndpointError, match=dead.replace(".", r"\.")):
            preflight([a.base_url, dead], timeout=2)
    with pytest.raises(recipe_mod.RecipeError, match="llm.base_url.*twice"):
        recipe_mod.from_dict({"llm": {"base_url": ["http://x/v1", "http://x/v1"]}})
