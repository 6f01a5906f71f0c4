"""raif-data speed and memory: offline evolve of synthetic seeds (prompts/s, peak memory at 10k vs 100k
seeds), and endpoint throughput against the loopback stub (achieved req/s vs the bound concurrency/latency).

    python benchmarks/bench_evolve.py                 # both parts, 10k and 100k seeds
    python benchmarks/bench_evolve.py --sizes 10000 --skip-endpoint
    python benchmarks/bench_evolve.py --sizes 10000 --skip-endpoint --instruct-workers 1 0   # one process, then one per CPU
    python benchmarks/bench_evolve.py --skip-offline --workers 1   # endpoint part only
    python benchmarks/bench_evolve.py --skip-offline --workers     # endpoint parts, no respond stage
Targets (issue 4): >= 2,000 prompts/s on 2 cores; memory flat in the number of seeds; >= 0.8 of the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = (
    "river mountain city garden budget robot letter museum winter coffee market teacher bridge camera "
    "planet recipe forest harbor bicycle library concert island castle desert violin engine festival "
    "startup hospital rocket ocean village science history poetry network battery kitchen painting "
    "airport weather candle journal tractor penguin volcano lantern compass orchard glacier meadow"
).split()
TASKS = ("writing", "coding", "analysis", "advice", "extraction", "summarization", "planning", "explanation")
VERBS = ("Write", "Explain", "Describe", "Plan", "Summarize", "Compare", "Analyze", "Suggest")


def make_seeds(path: Path, n: int, seed: int = 0) -> None:
    """n distinct synthetic English seed prompts (random word sequences: no near duplicates)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 24)))
            task = TASKS[i % len(TASKS)]
            prompt = f"{rng.choice(VERBS)} {words} for request {i}."
            fh.write(json.dumps({"id": f"syn-{i}", "prompt": prompt, "lang": "en", "task_type": task}) + "\n")


def _cpu_seconds() -> tuple[float, float]:
    """CPU time (user + system) of this process, and of its finished children (stage 2's workers,
    which the stage joins before it returns)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def offline_worker(n: int, use_tracemalloc: bool, instruct_workers: int) -> dict:
    from raif_data import drafts, pipeline
    from raif_data import recipe as recipe_mod

    with tempfile.TemporaryDirectory() as tmp:
        seeds = Path(tmp) / "seeds.jsonl"
        make_seeds(seeds, n)
        r = recipe_mod.from_dict({"output_dir": str(Path(tmp) / "out"), "num_prompts": n,
                                  "seeds": {"path": str(seeds)}, "output": {"rows_per_shard": 50_000},
                                  "instruct": {"workers": instruct_workers}})
        pipeline.fingerprints(r)  # imports and registry load happen before the clock starts
        from raif_rewards import registry

        registry.all_checkers()
        # the witness verifier's models (language profiles, Punkt) load once per process, like the registry
        from raif_rewards.text import view

        view("Warm up the models. Then start the clock.").language  # noqa: B018
        view("Warm up the models. Then start the clock.").sentence_count  # noqa: B018
        # pyarrow's first conversion of Python objects imports pandas (about 0.3 s), an import like those
        # above: once per process, whatever the number of rows
        import pyarrow

        pyarrow.array([0])
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if use_tracemalloc:
            import tracemalloc

            tracemalloc.start()
        t0, (c0, k0) = time.perf_counter(), _cpu_seconds()
        m = pipeline.evolve(r)
        wall, (c1, k1) = time.perf_counter() - t0, _cpu_seconds()
        cpu_main, cpu_workers = c1 - c0, k1 - k0
        cpu = cpu_main + cpu_workers
        peak_traced = None
        if use_tracemalloc:
            peak_traced = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        rows = m["counts"]["train"] + m["counts"]["validation"]
    return {"seeds": n, "rows": rows, "seconds": wall, "prompts_per_s": n / wall, "cpu_seconds": cpu,
            "cpu_main_seconds": cpu_main, "cpu_worker_seconds": cpu_workers, "prompts_per_cpu_s": n / cpu,
            "instruct_workers": drafts.worker_count(r),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            # the largest stage-2 worker (forked: most of its pages are shared with the main process)
            "peak_rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "rss_before_mb": rss_before / 1024,
            "peak_traced_mb": peak_traced / 2**20 if peak_traced is not None else None}


STUB_SERVER = """
import sys
sys.path.insert(0, {root!r})
from tests.openai_stub import OpenAIStub
with OpenAIStub(lambda req: "ok", latency={latency!r}) as stub:
    print(stub.base_url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


def endpoint_bench(requests: int, concurrency: int, latency: float) -> dict:
    """The stub runs in its own process (as a real server would), the client here."""
    from raif_rewards.llm import LLMClient, run_sync

    server = subprocess.Popen([sys.executable, "-c", STUB_SERVER.format(root=str(ROOT), latency=latency)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        client = LLMClient(base_url, "bench", concurrency=concurrency, timeout=30, max_retries=3)
        jobs = [([{"role": "user", "content": f"q {i}"}], {"max_tokens": 8}) for i in range(requests)]

        async def run():
            try:
                # warm-up on the same loop: the timed part reuses the warm keep-alive connections
                await client.chat_many([([{"role": "user", "content": f"warm {i}"}], {}) for i in range(concurrency)])
                sent0 = client.requests_sent
                t0, c0 = time.perf_counter(), time.process_time()
                results = await client.chat_many(jobs)
                return results, time.perf_counter() - t0, time.process_time() - c0, client.requests_sent - sent0
            finally:
                await client.aclose()

        results, wall, cpu, sent = run_sync(run())
        errors = sum(1 for r in results if isinstance(r, BaseException))
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    achieved = requests / wall
    bound = concurrency / latency
    return {"requests": requests, "concurrency": concurrency, "latency_s": latency, "seconds": wall,
            "req_per_s": achieved, "bound_req_per_s": bound, "fraction_of_bound": achieved / bound,
            "errors": errors, "retries": sent - requests,
            "client_cpu_ms_per_request": 1000 * cpu / requests}


STUB_JUDGING_SERVER = """
import sys
sys.path.insert(0, {root!r})
from tests.openai_stub import OpenAIStub
def answer(req):
    if req.get("logprobs"):  # a judge question: YES, sure of it
        return {{"content": "YES", "top_logprobs": [{{"YES": -0.05, "NO": -3.0}}]}}
    return "ok"
with OpenAIStub(answer, latency={latency!r}) as stub:
    print(stub.base_url, flush=True)
    sys.stdin.read()
"""


def _first_line(server: subprocess.Popen) -> str:
    assert server.stdout is not None  # started with stdout=PIPE
    return server.stdout.readline().strip()


def endpoints_bench(requests: int, concurrency: int, latency: float, endpoints: int) -> dict:
    """``endpoints`` stub servers (each its own process) behind one client (``base_url`` a list,
    ``concurrency`` per endpoint); half the requests are sampled answers, half judge questions asked
    through raif_rewards.judge (logprobs, one token), as stage 3 sends them with the answer judges on."""
    from raif_data.judges import answer_judge, framed
    from raif_rewards.llm import LLMClient, run_sync

    servers = [subprocess.Popen([sys.executable, "-c", STUB_JUDGING_SERVER.format(root=str(ROOT), latency=latency)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(endpoints)]
    try:
        urls = [_first_line(srv) for srv in servers]
        client = LLMClient(urls, "bench", concurrency=concurrency, timeout=30, max_retries=3)
        judge = answer_judge(client)
        half = requests // 2
        jobs = [([{"role": "user", "content": f"q {i}"}], {"max_tokens": 8}) for i in range(half)]
        questions = [(framed(f"q {i}", f"answer {i}"), "Is it done?") for i in range(requests - half)]

        async def run():
            try:
                await client.chat_many([([{"role": "user", "content": f"warm {i}"}], {})
                                        for i in range(concurrency * endpoints)])
                served0 = [e.served for e in client.endpoints]
                sent0 = client.requests_sent
                t0 = time.perf_counter()
                answers, verdicts = await asyncio.gather(client.chat_many(jobs), judge.ask_many(questions))
                wall = time.perf_counter() - t0
                served = [e.served - s for e, s in zip(client.endpoints, served0, strict=True)]
                return answers, verdicts, wall, served, client.requests_sent - sent0
            finally:
                await client.aclose()

        answers, verdicts, wall, served, sent = run_sync(run())
    finally:
        for srv in servers:
            if srv.stdin is not None:
                srv.stdin.close()
        for srv in servers:
            srv.wait(timeout=30)
    per_bound = concurrency / latency
    return {"requests": requests, "endpoints": endpoints, "concurrency_per_endpoint": concurrency,
            "seconds": wall, "req_per_s": requests / wall, "bound_req_per_s": endpoints * per_bound,
            "fraction_of_bound": requests / wall / (endpoints * per_bound),
            "per_endpoint": [{"served": n, "req_per_s": n / wall, "fraction_of_bound": n / wall / per_bound}
                             for n in served],
            "errors": sum(1 for r in answers if isinstance(r, BaseException)),
            "unscored": sum(1 for v in verdicts if v.yes is None), "retries": sent - requests}


def respond_bench(prompts: int, concurrency: int, latency: float, workers: int = 1) -> dict:
    """The whole respond stage (requests, verification, chunk files) against the stub in its own process."""
    from raif_data import pipeline
    from raif_data import recipe as recipe_mod

    server = subprocess.Popen([sys.executable, "-c", STUB_SERVER.format(root=str(ROOT), latency=latency)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            r = recipe_mod.from_dict({
                "output_dir": tmp, "num_prompts": prompts,
                "respond": {"samples": 1, "direct_samples": 1},
                "llm": {"base_url": base_url, "model": "bench", "concurrency": concurrency, "workers": workers},
                "output": {"chunk_size": 1024}})
            layout = pipeline.Layout(Path(tmp))
            pipeline.run_seeds(r, layout)
            pipeline.run_instruct(r, layout)
            # one-time loads a long run pays once (langdetect's profiles, the client's imports) are
            # kept out of the timed part, which measures the steady rate
            from raif_rewards import langid

            langid.detect("load the language profiles before the clock starts")
            import aiohttp  # noqa: F401

            t0 = time.perf_counter()
            pipeline.run_respond(r, layout)
            wall = time.perf_counter() - t0
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    requests = 2 * prompts
    return {"requests": requests, "seconds": wall, "req_per_s": requests / wall,
            "fraction_of_bound": requests / wall / (concurrency / latency)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--tracemalloc", action="store_true", help="also report Python-heap peaks (slower)")
    ap.add_argument("--instruct-workers", type=int, nargs="+", default=[0],
                    help="instruct.workers values for the offline part (0: one per usable CPU, the default; "
                         "1: stage 2 in the main process)")
    ap.add_argument("--skip-offline", action="store_true")
    ap.add_argument("--skip-endpoint", action="store_true")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--endpoints", type=int, default=2, help="stub servers for the several-endpoint part")
    ap.add_argument("--endpoint-concurrency", type=int, default=32, help="concurrency per endpoint there")
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="llm.workers values for the respond stage")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(offline_worker(args.worker, args.tracemalloc, args.instruct_workers[0])))
        return
    print(f"cpus available: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.1f} "
          "(wall-clock rates on a shared machine understate the CPU-time rates)")
    if not args.skip_offline:
        results = []
        for workers in args.instruct_workers:
            for n in args.sizes:
                # one process per run: peak RSS is a per-process high-water mark
                cmd = [sys.executable, __file__, "--worker", str(n), "--instruct-workers", str(workers)]
                cmd += ["--tracemalloc"] if args.tracemalloc else []
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                res = json.loads(out.strip().splitlines()[-1])
                results.append(res)
                traced = f", Python-heap peak {res['peak_traced_mb']:.1f} MB" if res["peak_traced_mb"] is not None else ""
                shown = res["instruct_workers"]
                print(f"offline evolve, instruct.workers={workers} ({shown} {'process' if shown == 1 else 'workers'} "
                      f"in stage 2): {n:>7,} seeds -> {res['rows']:,} rows in {res['seconds']:.1f} s = "
                      f"{res['prompts_per_s']:,.0f} prompts/s (target >= 2,000: "
                      f"{'met' if res['prompts_per_s'] >= 2000 else 'NOT met'}); peak RSS of the main process "
                      f"{res['peak_rss_mb']:.0f} MB (after imports {res['rss_before_mb']:.0f} MB){traced}"
                      + (f", of a worker {res['peak_rss_worker_mb']:.0f} MB" if shown > 1 else ""))
                where = ("one process: the rate on an otherwise idle core" if shown == 1 else
                         f"main process {res['cpu_main_seconds']:.1f} s + stage-2 workers "
                         f"{res['cpu_worker_seconds']:.1f} s, all of them together")
                print(f"  CPU time {res['cpu_seconds']:.1f} s = {res['prompts_per_cpu_s']:,.0f} prompts per "
                      f"CPU-second ({where})")
        results = [res for res in results if res["instruct_workers"] == results[0]["instruct_workers"]]
        if len(results) >= 2:
            a, b = results[0], results[-1]
            grow = (b["peak_rss_mb"] - b["rss_before_mb"]) / max(1e-9, a["peak_rss_mb"] - a["rss_before_mb"])
            print(f"memory growth {a['seeds']:,} -> {b['seeds']:,} seeds ({b['seeds'] / a['seeds']:.0f}x): "
                  f"peak RSS above the import baseline x{grow:.2f}")
    if not args.skip_endpoint:
        res = endpoint_bench(args.requests, args.concurrency, args.latency)
        print(f"endpoint: {res['requests']} requests, concurrency {res['concurrency']}, latency "
              f"{res['latency_s'] * 1000:.0f} ms -> {res['req_per_s']:,.0f} req/s of a bound of "
              f"{res['bound_req_per_s']:,.0f} = {res['fraction_of_bound']:.2f} (target >= 0.8: "
              f"{'met' if res['fraction_of_bound'] >= 0.8 else 'NOT met'}); errors {res['errors']}, "
              f"retries {res['retries']}")
        multi = endpoints_bench(args.requests, args.endpoint_concurrency, args.latency, args.endpoints)
        print(f"{multi['endpoints']} endpoints, judges on (half the requests judge questions): "
              f"{multi['requests']} requests, concurrency {multi['concurrency_per_endpoint']} per endpoint, "
              f"latency {args.latency * 1000:.0f} ms -> {multi['req_per_s']:,.0f} req/s of a bound of "
              f"{multi['bound_req_per_s']:,.0f} = {multi['fraction_of_bound']:.2f}; errors {multi['errors']}, "
              f"unscored {multi['unscored']}, retries {multi['retries']}")
        for k, ep in enumerate(multi["per_endpoint"]):
            print(f"  endpoint {k}: {ep['served']} requests, {ep['req_per_s']:,.0f} req/s = "
                  f"{ep['fraction_of_bound']:.2f} of its bound (target >= 0.8: "
                  f"{'met' if ep['fraction_of_bound'] >= 0.8 else 'NOT met'})")
        for workers in args.workers:
            stage = respond_bench(args.requests // 2, args.concurrency, args.latency, workers)
            print(f"respond stage, llm.workers={workers} (requests + verification + chunk files): "
                  f"{stage['requests']} requests in {stage['seconds']:.1f} s = {stage['req_per_s']:,.0f} req/s = "
                  f"{stage['fraction_of_bound']:.2f} of the bound")
        cpu = res["client_cpu_ms_per_request"]
        print(f"  client CPU {cpu:.2f} ms per request (one event loop = one core): CPU-bound ceiling "
              f"{1000 / cpu:,.0f} req/s = {1000 / cpu / res['bound_req_per_s']:.2f} of the bound")


if __name__ == "__main__":
    main()
