"""Stage 3, responses and quality control: sample answers with and without reasoning (and from an expert),
verify them with the reward's own checkers, record pass rate and direct-answer baseline, filter prompts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from raif_data import recipe as recipe_mod
from raif_data.judges import ANSWER_QUESTIONS, answer_judge, framed, gate, raise_outage
from raif_data.llm import LLMClient, as_training_text, make_client, run_sync, split_answer
from raif_data.recipe import Recipe
from raif_rewards import compose
from raif_rewards.errors import EndpointError

log = logging.getLogger(__name__)

#: what a direct answer's prompt ends with: an empty, closed think block (RAIF's baseline)
EMPTY_THINK = "<think>\n\n</think>\n\n"


def verify(ground_truth: str, answer: str) -> tuple[float, bool] | None:
    """(fraction of constraints satisfied, all satisfied) with the reward's checkers, or None when the
    ground truth has nothing checkable without a judge."""
    gt = compose.parse_ground_truth(ground_truth)
    if isinstance(gt, compose.MathTruth):
        from raif_rewards.mathcheck import check_answer

        ok = check_answer(answer, gt.answer) == "correct"
        return (1.0 if ok else 0.0), ok
    if getattr(gt, "tree", None) is None:
        return None
    ts = compose.score_tree(gt, answer)
    return ts.fraction, ts.applicable > 0 and ts.satisfied == ts.applicable


class Responder:
    """Runs stage 3 chunk by chunk; every call goes through the cached async client."""

    def __init__(self, r: Recipe, output_dir: Path, llm_factory: Callable[[str], LLMClient] | None = None):
        self.r = r
        factory = llm_factory or self._default_factory(output_dir)
        self.base = factory("base")
        ex = r.respond.expert
        self.expert = factory("expert") if ex.model and ex.samples > 0 else None
        # answers are judged when answer judges are named or a row carries soft-requirement questions
        self.judge = answer_judge(factory("judge"))
        self.failed = 0
        self.calls: Counter = Counter()

    def _default_factory(self, output_dir: Path) -> Callable[[str], LLMClient]:
        def factory(kind: str) -> LLMClient:
            if kind == "expert":
                ex = self.r.respond.expert
                return make_client(self.r.llm, output_dir, base_url=ex.base_url or self.r.llm.base_url, model=ex.model)
            if kind == "judge":
                q = self.r.quality
                return make_client(self.r.llm, output_dir, base_url=q.judge_base_url or None,
                                   model=q.judge_model or None, check=False)
            return make_client(self.r.llm, output_dir)

        return factory

    def _params(self, index: int, n: int, kind: str) -> dict[str, Any]:
        rc = self.r.respond
        p: dict[str, Any] = {"temperature": rc.temperature, "max_tokens": rc.max_tokens, "n": n,
                             "seed": (self.r.seed * 1_000_003 + index) % 2**31}
        if kind == "direct":
            p["extra_body"] = ({"continue_final_message": True, "add_generation_prompt": False}
                               if rc.direct_mode == "prefill" else
                               {"chat_template_kwargs": {"enable_thinking": False}})
        return p

    def _requests(self, rec: dict) -> list[tuple[str, LLMClient, list[dict], dict]]:
        rc = self.r.respond
        user = [{"role": "user", "content": rec["prompt"]}]
        out = []
        if rc.samples:
            out.append(("reason", self.base, user, self._params(rec["index"], rc.samples, "reason")))
        if rc.direct_samples:
            msgs = user + [{"role": "assistant", "content": EMPTY_THINK}] if rc.direct_mode == "prefill" else user
            out.append(("direct", self.base, msgs, self._params(rec["index"], rc.direct_samples, "direct")))
        if self.expert is not None:
            out.append(("expert", self.expert, user, self._params(rec["index"], rc.expert.samples, "reason")))
        return out

    async def _run(self, plan: list[tuple[dict, list]], advance: Callable[[int], None] | None) -> list[tuple]:
        """Per record: its answers (or errors), then its verdict as soon as they are in, so that
        verification overlaps the requests still in flight instead of following them all."""
        async def one(client: LLMClient, msgs: list[dict], params: dict):
            try:
                return await client.chat(msgs, **params)
            except EndpointError as exc:
                return exc

        async def record(rec: dict, reqs: list) -> tuple[list, dict | None]:
            results = await asyncio.gather(*(one(c, m, p) for _, c, m, p in reqs))
            if any(isinstance(r, BaseException) for r in results):
                return results, None
            try:
                verdict = await self._verdict(rec, {kind: r for (kind, *_), r in zip(reqs, results, strict=True)})
            except EndpointError as exc:  # the judge was down: reported like a failed request
                return [*results, exc], None
            if advance is not None:
                advance(1)
            return results, verdict

        try:
            return await asyncio.gather(*(record(rec, reqs) for rec, reqs in plan))
        finally:
            clients = {id(c): c for _, reqs in plan for _, c, _, _ in reqs}
            clients[id(self.judge.client)] = self.judge.client
            for client in clients.values():
                await client.aclose()

    def run_chunk(self, records: list[dict], advance: Callable[[int], None] | None = None) -> list[dict]:
        """One verdict per record, in order. Raises EndpointError (nothing written) if any call failed
        after its retries: a rerun resumes with every finished call served from the cache."""
        plan = [(rec, self._requests(rec)) for rec in records]
        done = run_sync(self._run(plan, advance))
        results = [r for answers, _ in done for r in answers]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self.failed += len(errors)
            raise EndpointError(f"{len(errors)} of {len(results)} requests failed after retries "
                                f"(first: {errors[0]}); rerun the same command to resume (finished calls are cached)")
        self.calls["requests"] += len(results)
        self.calls["cached"] += sum(1 for r in results if r.cached)
        return [verdict for _, verdict in done]

    async def _judged(self, rec: dict, samples: list[tuple[float, bool, str, str]],
                      reasons: Counter) -> list[bool | None]:
        """Per sample that meets its constraints: whether every answer judge and soft-requirement
        question passes (None: some question could not be scored, so the sample is not counted);
        samples that miss a constraint are not asked about (False). Raises EndpointError on an outage."""
        q = self.r.quality
        names = list(q.answer_judges)
        questions = [ANSWER_QUESTIONS[n] for n in names]
        thresholds = dict(q.answer_judges)
        gt = compose.parse_ground_truth(rec["ground_truth"])
        if isinstance(gt, compose.JudgeTruth):
            for k, soft in enumerate(gt.questions):
                names.append(f"soft_{k}")
                questions.append(soft)
                thresholds[f"soft_{k}"] = q.soft_threshold
        full = [k for k, (_, ok, _, _) in enumerate(samples) if ok]
        out: list[bool | None] = [False] * len(samples)
        if not names or not full:
            for k in full:
                out[k] = True
            return out
        items = [(framed(rec["prompt"], samples[k][3]), question) for k in full for question in questions]
        verdicts = await self.judge.ask_many(items)
        raise_outage(verdicts, f"answer judges (record {rec['index']})")
        for j, k in enumerate(full):
            result = gate(verdicts[j * len(names) : (j + 1) * len(names)], names, thresholds)
            for reason in result.reasons:
                reasons[reason if not reason.startswith("soft_") else
                        "soft" + ("_unscored" if reason.endswith("_unscored") else "")] += 1
            unscored = any(r.endswith("_unscored") for r in result.reasons)
            out[k] = None if unscored else result.ok
        return out

    async def _verdict(self, rec: dict, got: dict) -> dict:
        rc = self.r.respond
        gt = rec["ground_truth"]

        def scored(result) -> list[tuple[float, bool, str, str]]:
            out = []
            for choice in result.choices or (result,):
                reasoning, answer = split_answer(choice)
                v = verify(gt, answer) if answer else (0.0, False)
                if v is None:
                    continue
                out.append((v[0], v[1], reasoning, answer))
            return out

        reason = scored(got["reason"]) if "reason" in got else []
        direct = scored(got["direct"]) if "direct" in got else []
        rejected: Counter = Counter()
        judged = await self._judged(rec, reason, rejected)
        # a sample whose judge question could not be scored counts neither as a pass nor as a fail
        counted = [ok for ok in judged if ok is not None]
        pass_rate = sum(counted) / len(counted) if counted else None
        baseline = sum(frac for frac, *_ in direct) / len(direct) if direct else None
        accepted = []
        if "expert" in got and self.expert is not None:  # got has expert samples only when there is one
            expert = scored(got["expert"])
            expert_rejected: Counter = Counter()
            oks = await self._judged(rec, expert, expert_rejected)
            rejected.update({f"expert_{k}": v for k, v in expert_rejected.items()})
            for (frac, _, reasoning, answer), ok in zip(expert, oks, strict=True):
                if ok:
                    accepted.append({"response": as_training_text(reasoning, answer) if reasoning else answer,
                                     "model": self.expert.model, "score": frac, "reasoning": bool(reasoning)})
        drop = None
        if pass_rate is not None:
            if pass_rate > rc.max_pass_rate:
                drop = "too_easy"
            elif not accepted and (pass_rate < rc.min_pass_rate or (rc.drop_impossible and pass_rate == 0.0)):
                drop = "impossible" if pass_rate == 0.0 else "too_hard"
        return {"index": rec["index"], "pass_rate": pass_rate, "baseline_score": baseline,
                "mean_score": sum(f for f, *_ in reason) / len(reason) if reason else None,
                "n_samples": len(reason), "n_direct": len(direct), "accepted": accepted, "drop": drop,
                "judge_rejected": dict(sorted(rejected.items()))}

    def summary(self) -> dict:
        return {"model": self.base.model, "expert": self.expert.model if self.expert else None,
                "requests_this_run": self.calls["requests"], "cache_hits_this_run": self.calls["cached"]}

    def close(self) -> None:
        for c in (self.base, self.expert, self.judge.client):
            if c is not None:
                c.close()



# ------------------------------------------------------------------------------- several processes

_WORKER: Responder | None = None


def _init_worker(recipe: dict, output_dir: str) -> None:
    global _WORKER
    _WORKER = Responder(recipe_mod.from_dict(recipe), Path(output_dir))


def _work(records: list[dict]) -> tuple[list[dict], int, int]:
    assert _WORKER is not None
    before = Counter(_WORKER.calls)
    verdicts = _WORKER.run_chunk(records)
    return verdicts, _WORKER.calls["requests"] - before["requests"], _WORKER.calls["cached"] - before["cached"]


class ParallelResponder:
    """``llm.workers`` processes, each with its own client and event loop (one Python event loop tops out
    at a few hundred requests/s of client CPU); the recipe's concurrency is shared out among them and
    the SQLite cache is shared. Verdicts come back in order, so the output equals a one-process run."""

    def __init__(self, r: Recipe, output_dir: Path, workers: int):
        per = max(1, r.llm.concurrency // workers)
        local = dataclasses.replace(r, llm=dataclasses.replace(r.llm, concurrency=per))
        self.r, self.workers = r, workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker, initargs=(local.to_dict(), str(output_dir)))
        self.calls: Counter = Counter()

    def run_chunk(self, records: list[dict], advance: Callable[[int], None] | None = None) -> list[dict]:
        size = -(-len(records) // self.workers) if records else 0
        parts = [records[i : i + size] for i in range(0, len(records), size)] if size else []
        futures = [self.pool.submit(_work, part) for part in parts]
        out: list[dict] = []
        for part, fut in zip(parts, futures, strict=True):
            verdicts, sent, cached = fut.result()
            out += verdicts
            self.calls["requests"] += sent
            self.calls["cached"] += cached
            if advance is not None:
                advance(len(part))
        return out

    def summary(self) -> dict:
        ex = self.r.respond.expert
        return {"model": self.r.llm.model, "expert": ex.model if ex.model and ex.samples > 0 else None,
                "requests_this_run": self.calls["requests"], "cache_hits_this_run": self.calls["cached"],
                "workers": self.workers}

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
