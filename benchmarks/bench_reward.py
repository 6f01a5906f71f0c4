"""Reward throughput: 4,096 realistic rule-scored rollouts (about 500-word answers, 3-6 registry
constraints each), single process and in the process pool, against the 2,000 rollouts/s/core target.

Usage: python benchmarks/bench_reward.py [--n 4096] [--workers 2] [--words 500] [--seed 0] [--langdetect langdetect|langdetect-py|rs]
Rollouts come from a fixed seed: 8 rollouts per prompt (as in GRPO), every answer distinct. Wall-clock
rates depend on what else runs on the machine; rates per CPU-second (this process's, or the pool
workers' from /proc) do not, and are the per-core figures compared with the target.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import Counter

from raif_rewards import registry
from raif_rewards.compose import from_constraints, to_json
from raif_rewards.dispatch import Sample, score_batch, shutdown_pool
from raif_rewards.verl_plugin import compute_score

TARGET_PER_CORE = 2000.0
ROLLOUTS_PER_PROMPT = 8

WORDS = (
    "the river city light morning history people water garden market winter music stone road bridge "
    "village harbor forest letter window story answer reason season journey evening summer teacher "
    "student kitchen island mountain painting library silence planet machine signal engine carpet "
    "whisper lantern meadow orchard valley thunder compass feather velvet ribbon canyon glacier "
    "is was runs holds brings makes keeps finds shows turns grows carries builds opens follows "
    "quietly slowly often always never rarely gently brightly softly early late together "
    "and but so because while although when after before under over through across within"
).split()

log = logging.getLogger("bench_reward")


def make_answer(rng: random.Random, n_words: int) -> str:
    """A markdown-ish answer: an optional title, paragraphs of sentences, sometimes bullets and a P.S."""
    parts: list[str] = []
    if rng.random() < 0.3:
        parts.append(f"<<{rng.choice(WORDS).title()} {rng.choice(WORDS)}>>")
    words_left = n_words
    while words_left > 0:
        sentences = []
        for _ in range(rng.randint(3, 6)):
            k = min(words_left, rng.randint(8, 20))
            if k <= 0:
                break
            words = [rng.choice(WORDS) for _ in range(k)]
            if rng.random() < 0.3:
                words[rng.randrange(k)] += ","
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + rng.choice(".!?" if rng.random() < 0.2 else "."))
            words_left -= k
        if rng.random() < 0.15:
            parts.append("\n".join(f"* {rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(rng.randint(2, 5))))
        parts.append(" ".join(sentences))
    if rng.random() < 0.2:
        parts.append(f"P.S. {rng.choice(WORDS)} {rng.choice(WORDS)}.")
    text = "\n\n".join(parts)
    return text.lower() if rng.random() < 0.1 else text


def sample_constraints(rng: random.Random, checkers, k: int) -> list[dict]:
    chosen: list[dict] = []
    blocked: set[str] = set()
    for checker in rng.sample(checkers, len(checkers)):
        if checker.id in blocked:
            continue
        try:
            kwargs = checker.sample(rng, "en")
        except ValueError:
            continue
        chosen.append({"id": checker.id, "kwargs": kwargs})
        blocked |= set(checker.conflicts)
        if len(chosen) == k:
            break
    return chosen


#: checkers whose cost is a language model or NLTK tokenizer run over the whole answer
HEAVY = {"language:response_language", "change_case:english_lowercase", "change_case:english_capital",
         "change_case:capital_word_frequency", "length_constraints:number_sentences"}


def make_rollouts(n: int, n_words: int, seed: int, light: bool = False) -> list[Sample]:
    rng = random.Random(seed)
    checkers = [c for c in registry.all_checkers() if c.sampler is not None and not c.prompt_kwargs
                and c.source in ("ifeval", "raif") and not (light and c.id in HEAVY)]
    samples: list[Sample] = []
    while len(samples) < n:
        want = rng.randint(3, 6)
        constraints = sample_constraints(rng, checkers, want)
        while len(constraints) < want:  # conflicts can exhaust a draw: draw again
            constraints = sample_constraints(rng, checkers, want)
        gt = to_json(from_constraints(constraints))
        for _ in range(ROLLOUTS_PER_PROMPT):
            answer = make_answer(rng, rng.randint(int(n_words * 0.8), int(n_words * 1.2)))
            reasoning = " ".join(rng.choice(WORDS) for _ in range(rng.randint(50, 150)))
            samples.append(Sample(f"<think>{reasoning}</think>\n<answer>{answer}</answer>", gt, "raif_ifeval"))
    return samples[:n]


def per_checker_ms(samples: list[Sample]) -> list[tuple[str, float]]:
    """Mean milliseconds per call of each checker on these answers (the first checker of a rollout
    also pays for the shared text features it computes)."""
    from raif_rewards.compose import parse_ground_truth, score_tree
    from raif_rewards.reward import parse_response

    total: Counter = Counter()
    calls: Counter = Counter()
    for s in samples:
        answer = parse_response(s.solution_str).answer
        for leaf in parse_ground_truth(s.ground_truth).tree.children:
            t0 = time.perf_counter()
            score_tree(leaf, answer)
            total[leaf.id] += time.perf_counter() - t0
            calls[leaf.id] += 1
    return sorted(((k, 1e3 * v / calls[k]) for k, v in total.items()), key=lambda kv: -kv[1])


def _cpu_seconds(pids) -> float:
    """utime + stime of these processes (Linux /proc): load from other programs does not count."""
    import os

    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def run(samples: list[Sample], fresh: list[Sample], workers: int, label: str) -> None:
    from raif_rewards import dispatch

    compute_score(samples[0].data_source, samples[0].solution_str, samples[0].ground_truth)  # warm-up
    w0, c0 = time.perf_counter(), time.process_time()
    single = [compute_score(s.data_source, s.solution_str, s.ground_truth) for s in samples]
    single_wall, single_cpu = time.perf_counter() - w0, time.process_time() - c0
    n = len(samples)
    log.info("[%s] mean reward %.3f, answered %.0f%%", label, sum(r["score"] for r in single) / n,
             100 * sum(r["answered"] for r in single) / n)
    log.info("[%s] single process : %7.0f rollouts/s wall, %7.0f per CPU-second = %.2fx the %d/s/core target",
             label, n / single_wall, n / single_cpu, n / single_cpu / TARGET_PER_CORE, TARGET_PER_CORE)
    if workers < 2:  # score_batch scores in this process below two workers: no pool to measure
        return
    # the pool is started and warmed before timing (veRL keeps it for the whole run)
    score_batch(samples[:256], workers=workers, min_pool_batch=1)
    pids = list(dispatch._POOL._processes)  # the benchmark may peek: CPU accounting per worker
    w0, c0, k0 = time.perf_counter(), time.process_time(), _cpu_seconds(pids)
    # new texts (no per-text cache reuse), metrics dicts as compute_score_batch returns them to veRL
    pooled = score_batch(fresh, workers=workers, min_pool_batch=1, as_metrics=True)
    pool_wall, parent_cpu, worker_cpu = time.perf_counter() - w0, time.process_time() - c0, _cpu_seconds(pids) - k0
    assert len(pooled) == len(fresh)
    log.info("[%s] pool, %d workers: %7.0f rollouts/s wall (speed-up %.2fx); %7.0f per worker CPU-second "
             "= %.2fx target; parent CPU %.0f%% of workers'", label, workers, n / pool_wall,
             single_wall / pool_wall, n / worker_cpu, n / worker_cpu / TARGET_PER_CORE,
             100 * parent_cpu / worker_cpu)


def describe(samples: list[Sample], label: str) -> None:
    n_constraints = [len(json.loads(s.ground_truth)["tree"]["children"]) for s in samples]
    words = sum(len(s.solution_str.split("<answer>")[1].split()) for s in samples) / len(samples)
    log.info("[%s] %d rollouts, answer words mean %.0f, constraints %d-%d (mean %.2f)", label, len(samples), words,
             min(n_constraints), max(n_constraints), sum(n_constraints) / len(n_constraints))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--words", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--langdetect", choices=["langdetect", "langdetect-py", "rs"], default="langdetect",
                    help="language-detection backend (langdetect = the exact fast path, langdetect-py = the package itself, rs = langdetect-rs, the [fastlang] extra)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.langdetect != "langdetect":
        import os

        from raif_rewards import langid

        langid.set_backend(args.langdetect)
        os.environ["RAIF_LANGDETECT"] = args.langdetect  # pool workers read it at import

    for light in (False, True):
        label = "IFEval mix without langdetect/NLTK checkers" if light else "all IFEval checkers"
        samples = make_rollouts(args.n, args.words, args.seed, light)
        fresh = make_rollouts(args.n, args.words, args.seed + 1, light)
        describe(samples, label)
        run(samples, fresh, args.workers, label)
        if not light:
            # rollouts never scored before: no per-text or per-sentence feature is cached yet
            slowest = per_checker_ms(make_rollouts(args.n // 4, args.words, args.seed + 2, light))
            log.info("[%s] slowest checkers (ms/call): %s", label,
                     ", ".join(f"{k} {v:.2f}" for k, v in slowest[:6]))
    shutdown_pool()


if __name__ == "__main__":
    main()
