"""raif_data against a real OpenAI-compatible server on loopback: responses, verification, pass rate,
direct-answer baseline, expert SFT shards, LLM rewrite and soft constraints, faults, cache, unreachable.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from raif_data import pipeline
from raif_data import recipe as recipe_mod
from raif_data.cli import app
from raif_data.respond import EMPTY_THINK
from raif_rewards import compose
from raif_rewards.errors import EndpointError
from tests.killrun import kill_after_chunks
from tests.openai_stub import OpenAIStub

# The stub's ThreadingHTTPServer keeps the stdlib listen backlog of 5: with 64 concurrent clients the
# kernel refuses connections and every test would spend its time in retries. (Reported upstream.)
http.server.ThreadingHTTPServer.request_queue_size = 256


def responder(request: dict):
    """Deterministic model: reasoning answers carry a <<title>>, direct answers do not; the expert
    model also titles its answer; rewrite and soft-constraint requests get faithful answers."""
    msgs = request["messages"]
    last = msgs[-1]["content"]
    if msgs[-1]["role"] == "assistant":
        return "plain direct answer without any title"
    if last.startswith("Rewrite the following instruction"):
        original = last.split("---\n", 1)[1].rsplit("\n---", 1)[0]
        return "Kindly: " + original
    if "soft requirements" in last:
        return '{"constraints": ["Keep a warm tone."], "questions": ["Is the tone of the answer warm?"]}'
    if request.get("model") == "expert":
        return {"content": "<<Expert Title>>\nA careful answer.", "reasoning_content": "expert plan"}
    return {"content": "<<Base Title>>\nAn answer.", "reasoning_content": "let me think"}


def _recipe(out: Path, url: str, **kw) -> recipe_mod.Recipe:
    data = {
        "output_dir": str(out), "num_prompts": 24,
        "instruct": {"include_ids": ["detectable_format:title"], "compositions": {"and": 1.0}, "max_constraints": 1},
        "respond": {"samples": 2, "direct_samples": 1, "expert": {"model": "expert", "samples": 1}},
        "llm": {"base_url": url, "model": "base", "timeout": 2.0, "max_retries": 4, "concurrency": 16},
        "output": {"chunk_size": 8, "validation_fraction": 0.0},
    }
    for key, value in kw.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe_mod.from_dict(data)


def _read(out: Path, folder: str) -> list[dict]:
    rows = []
    for p in sorted((out / folder).glob("part-*.parquet")):
        rows += pq.read_table(p).to_pylist()
    return rows


def _bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


@pytest.fixture
def stub():
    with OpenAIStub(responder) as s:
        s.hang_seconds = 4.0
        yield s


def test_responses_are_verified_and_recorded(tmp_path, stub):
    out = tmp_path / "d"
    m = pipeline.evolve(_recipe(out, stub.base_url))
    rows = _read(out, "train")
    assert len(rows) == 24 == m["counts"]["train"]
    for r in rows:
        info = r["extra_info"]
        assert info["pass_rate"] == 1.0  # every reasoning answer has a title
        assert info["baseline_score"] == 0.0  # the direct answers never do
        assert json.loads(info["provenance"])["response_model"] == "base"
    sft = _read(out, "sft/train")
    assert len(sft) == 24 == m["counts"]["sft"]
    assert all(s["response"].startswith("<think>\nexpert plan\n</think>") and "<<Expert Title>>" in s["response"]
               for s in sft)
    assert all(s["extra_info"]["model"] == "expert" and s["extra_info"]["score"] == 1.0 for s in sft)
    # direct answers: the prompt ends with an empty closed think block and vLLM continues it
    direct = [q for q in stub.requests if q["messages"][-1]["role"] == "assistant"]
    assert len(direct) == 24
    assert all(q["messages"][-1]["content"] == EMPTY_THINK and q["continue_final_message"] is True
               and q["add_generation_prompt"] is False for q in direct)
    assert {q["n"] for q in stub.requests if q["model"] == "base" and q not in direct} == {2}
    # a rerun is served from the cache / the manifest: no request is made twice
    sent = stub.request_count
    pipeline.evolve(_recipe(out, stub.base_url))
    assert stub.request_count == sent


def test_filters_by_pass_rate(tmp_path):
    def half(request):
        if request["messages"][-1]["role"] == "assistant" or request.get("model") == "expert":
            return "nothing"
        # pass for prompts whose seed text has an even length: some prompts fail every sample
        body = request["messages"][-1]["content"]
        return "<<T>> ok" if len(body) % 2 == 0 else "no title"

    with OpenAIStub(half) as s:
        out = tmp_path / "d"
        m = pipeline.evolve(_recipe(out, s.base_url, respond={"max_pass_rate": 0.99}))
    c = m["counts"]
    assert c.get("dropped_too_easy", 0) + c.get("dropped_impossible", 0) == 24 - c["train"]
    assert c.get("dropped_too_easy", 0) > 0 and c.get("dropped_impossible", 0) > 0
    assert c["sft"] == 0 and not (out / "sft").exists()


@pytest.mark.parametrize("fault", ["429", "500", "hang", "malformed", "truncated"])
def test_faults_are_retried_and_change_nothing(tmp_path, stub, fault):
    clean = tmp_path / "clean"
    pipeline.evolve(_recipe(clean, stub.base_url, num_prompts=8))
    # every third request fails once (each failed request is retried and then answered)
    stub.reset()
    stub.set_faults(lambda i, req: fault if i % 3 == 0 and i < 12 else None)
    faulty = tmp_path / "faulty"
    pipeline.evolve(_recipe(faulty, stub.base_url, num_prompts=8,
                            llm={"cache": str(tmp_path / "faulty-cache.sqlite")}))
    assert fault in stub.faults_served
    assert _bytes(faulty) == _bytes(clean)


def test_persistent_failure_writes_nothing_then_resumes(tmp_path, stub):
    out = tmp_path / "d"
    r = _recipe(out, stub.base_url, llm={"max_retries": 1})
    stub.set_faults(lambda i, req: "500" if req.get("model") == "expert" else None)
    with pytest.raises(EndpointError, match="rerun the same command to resume"):
        pipeline.evolve(r)
    assert not list((out / "stages" / "respond").glob("chunk-*.jsonl"))
    sent = stub.request_count
    stub.set_faults([])
    m = pipeline.evolve(r)
    assert m["counts"]["train"] == 24
    # base-model answers from the failed attempt came from the cache: only expert calls were repeated
    def base_calls(reqs):
        return {json.dumps(q, sort_keys=True) for q in reqs if q.get("model") == "base"}

    first, second = base_calls(stub.requests[:sent]), base_calls(stub.requests[sent:])
    assert first and not (first & second)


def test_rewrite_and_soft_constraints(tmp_path, stub):
    out = tmp_path / "d"
    r = _recipe(out, stub.base_url, instruct={"include_ids": ["keywords:existence", "detectable_format:title"],
                                              "max_constraints": 2, "compositions": {"and": 1.0},
                                              "rewrite": {"enabled": True}, "soft": {"enabled": True, "ratio": 0.5}},
                respond={"enabled": False})
    m = pipeline.evolve(r)
    rows = _read(out, "train")
    assert len(rows) == 24
    rewritten = [r for r in rows if json.loads(r["extra_info"]["provenance"])["rewritten"]]
    assert rewritten and all(r["prompt"][0]["content"].startswith("Kindly: ") for r in rewritten)
    judged = [r for r in rows if r["reward_model"]["style"] == "judge"]
    assert 0 < len(judged) < 24
    for r in judged:
        gt = compose.parse_ground_truth(r["reward_model"]["ground_truth"])
        assert gt.questions == ("Is the tone of the answer warm?",) and gt.tree is not None
        assert r["prompt"][0]["content"].endswith("Keep a warm tone.")
    llm = json.loads((out / "stages" / "instruct" / "manifest.json").read_text())["llm"]
    assert llm["rewrite_accepted"] == len(rewritten) and llm["soft_added"] == len(judged)
    assert m["counts"]["sft"] == 0


def test_unfaithful_rewrites_fall_back_to_the_template(tmp_path):
    def dropper(request):
        last = request["messages"][-1]["content"]
        original = last.split("---\n", 1)[1].rsplit("\n---", 1)[0]
        return re.sub(r"\d+", "several", original)  # loses every number

    with OpenAIStub(dropper) as s:
        out = tmp_path / "d"
        r = _recipe(out, s.base_url, instruct={"include_ids": ["detectable_content:number_placeholders"],
                                               "rewrite": {"enabled": True}}, respond={"enabled": False})
        pipeline.evolve(r)
    rows = _read(out, "train")
    assert all(not json.loads(x["extra_info"]["provenance"])["rewritten"] for x in rows)
    assert all(re.search(r"\d", x["prompt"][0]["content"]) for x in rows)


def test_unreachable_endpoint_is_one_clear_line(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    res = CliRunner().invoke(app, ["evolve", "--output-dir", str(tmp_path / "d"), "--num-prompts", "5", "-q",
                                   "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m"])
    assert res.exit_code == 1
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "unreachable" in lines[0] and str(port) in lines[0]


def test_math_rows_are_verified_with_the_math_checker(tmp_path):
    root = Path(__file__).resolve().parents[1]
    answers = {}
    for line in (root / "data" / "math_demo.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        answers[d["problem"]] = d["answer"]

    def solver(request):
        msgs = request["messages"]
        problem = msgs[0]["content"].split("\n\n")[0]
        if problem not in answers:
            return responder(request)
        if msgs[-1]["role"] == "assistant":
            return "The answer is \\boxed{0.123}"  # direct answers are wrong
        return {"content": f"So the result is \\boxed{{{answers[problem]}}}.", "reasoning_content": "work"}

    with OpenAIStub(solver) as s:
        out = tmp_path / "d"
        pipeline.evolve(_recipe(out, s.base_url, num_prompts=20, math={"path": "demo", "ratio": 0.5}))
    rows = _read(out, "train")
    maths = [r for r in rows if r["reward_model"]["style"] == "math"]
    assert len(maths) == 10 and len(rows) == 20
    assert all(r["extra_info"]["pass_rate"] == 1.0 and r["extra_info"]["baseline_score"] == 0.0 for r in maths)


@pytest.mark.slow
def test_sigkill_during_respond_then_resume(tmp_path):
    import subprocess
    import sys

    with OpenAIStub(responder, latency=0.05) as s:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(
            "instruct: {include_ids: [detectable_format:title], compositions: {and: 1.0}, max_constraints: 1}\n"
            "respond: {samples: 2, direct_samples: 1}\n"
            f"llm: {{base_url: '{s.base_url}', model: base, concurrency: 8, timeout: 5}}\n"
            "output: {chunk_size: 10, validation_fraction: 0.0}\n")
        ref = tmp_path / "ref"
        pipeline.evolve(recipe_mod.override(recipe_mod.load(recipe), {"output_dir": str(ref), "num_prompts": 80}))
        s.reset()
        out = tmp_path / "killed"
        cmd = [sys.executable, "-m", "raif_data.cli", "evolve", "--output-dir", str(out), "--recipe", str(recipe),
               "--num-prompts", "80", "--quiet"]
        done = kill_after_chunks(cmd, out / "stages" / "respond", 2, tmp_path / "killed.log")
        assert 2 <= done < 8
        first = [json.dumps(q, sort_keys=True) for q in s.requests]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        second = [json.dumps(q, sort_keys=True) for q in s.requests[len(first):]]
    assert _bytes(out) == _bytes(ref)
    assert len(_read(out, "train")) == 80
    # only calls still in flight at the kill (at most the concurrency) are sent again
    assert len(set(first) & set(second)) <= 8
    assert len(set(first) | set(second)) == len(set(first + second)) == 160


@pytest.mark.slow
def test_several_respond_workers_give_the_same_shards(tmp_path, stub):
    one, two = tmp_path / "one", tmp_path / "two"
    pipeline.evolve(_recipe(one, stub.base_url, num_prompts=16))
    sent = stub.request_count
    m = pipeline.evolve(_recipe(two, stub.base_url, num_prompts=16,
                                llm={"workers": 2, "cache": str(tmp_path / "two.sqlite")}))
    assert _bytes(two) == _bytes(one) and m["counts"]["sft"] == 16
    assert stub.request_count - sent == sent  # the second run asked everything again, once
    assert json.loads((two / "stages" / "respond" / "manifest.json").read_text())["llm"]["workers"] == 2
