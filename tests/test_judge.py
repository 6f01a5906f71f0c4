"""The YES/NO judge against the loopback OpenAI stub: logprob verdicts, request shape, batching and
caching, faults that are retried, and outages reported as unscored (never silently 0)."""

from __future__ import annotations

import json
import math

import pytest

from raif_rewards.dispatch import Sample, metrics, score_batch, score_sample
from raif_rewards.judge import Judge, JudgeVerdict, verdict_from_result, yes_no_probabilities
from raif_rewards.llm import ChatResult, LLMClient
from tests.openai_stub import openai_stub_fixture  # noqa: F401

# the stub's judge: YES to questions about politeness, NO to questions about French
LOGPROBS = {
    "polite": [{"YES": math.log(0.8), "NO": math.log(0.15), "Maybe": math.log(0.05)}],
    "French": [{"NO": math.log(0.7), " Yes": math.log(0.2), "yes": math.log(0.1)}],
    "tie": [{"YES": math.log(0.5), "NO": math.log(0.5)}],
    "weird": [{"Perhaps": math.log(0.9), "Maybe": math.log(0.1)}],
}


def judge_responder(request):
    user = request["messages"][-1]["content"]
    for word, top in LOGPROBS.items():
        if word in user.split("Question:")[1]:
            return {"content": max(top[0], key=top[0].get), "top_logprobs": top}
    return {"content": "NO", "top_logprobs": [{"NO": 0.0}]}


def make_judge(stub, **kw) -> Judge:
    stub.responder = judge_responder
    kw.setdefault("max_retries", 2)
    return Judge(LLMClient(stub.base_url, "judge-model", backoff_base=0.001, timeout=1.0, **kw))


QUESTIONS = ["Is the answer polite?", "Is the answer written in French?"]


def test_verdicts_from_logprobs(openai_stub):
    judge = make_judge(openai_stub)
    out = judge.ask_many_sync([("Thank you kindly.", QUESTIONS[0]), ("Thank you kindly.", QUESTIONS[1]),
                               ("x", "a tie?"), ("x", "something weird?")])
    assert [v.yes for v in out] == [True, False, False, None]
    assert out[0].p_yes == pytest.approx(0.8) and out[0].p_no == pytest.approx(0.15)
    assert out[1].p_yes == pytest.approx(0.3)  # " Yes" and "yes" both count as YES
    assert "neither YES nor NO" in out[3].error


def test_request_is_greedy_one_token_with_logprobs_and_holds_only_the_answer(openai_stub):
    judge = make_judge(openai_stub)
    judge.ask_many_sync([("ANSWER-TEXT", QUESTIONS[0])])
    req = openai_stub.requests[0]
    assert (req["temperature"], req["max_tokens"], req["logprobs"], req["top_logprobs"]) == (0.0, 1, True, 20)
    assert req["model"] == "judge-model"
    assert "ANSWER-TEXT" in req["messages"][-1]["content"] and QUESTIONS[0] in req["messages"][-1]["content"]


def test_the_judge_sees_the_instruction_above_the_answer(openai_stub):
    judge = make_judge(openai_stub)
    judge.ask_many_sync([("ANSWER-TEXT", QUESTIONS[0], "INSTRUCTION-TEXT"), ("ANSWER-TEXT", QUESTIONS[0])])
    with_it, without = (r["messages"][-1]["content"] for r in openai_stub.requests)
    assert with_it.index("INSTRUCTION-TEXT") < with_it.index("ANSWER-TEXT")
    assert "[Instruction]" not in without  # same answer and question, no instruction: a separate question


def test_identical_questions_are_asked_once_and_remembered(openai_stub, tmp_path):
    judge = make_judge(openai_stub, cache_path=tmp_path / "judge.sqlite")
    items = [("a", QUESTIONS[0]), ("a", QUESTIONS[0]), ("b", QUESTIONS[0])]
    judge.ask_many_sync(items)
    assert openai_stub.request_count == 2
    judge.ask_many_sync(items)
    assert openai_stub.request_count == 2
    # a new judge (a rerun) answers from the content-addressed cache: zero requests
    again = make_judge(openai_stub, cache_path=tmp_path / "judge.sqlite")
    out = again.ask_many_sync(items)
    assert openai_stub.request_count == 2 and all(v.cached for v in out) and out[0].yes is True


@pytest.mark.parametrize("fault", ["429", "500", "malformed", "truncated", "hang"])
def test_transient_faults_are_retried(openai_stub, fault):
    openai_stub.hang_seconds = 3.0
    openai_stub.set_faults([fault])
    judge = make_judge(openai_stub)
    assert judge.ask_many_sync([("a", QUESTIONS[0])])[0].yes is True
    assert openai_stub.faults_served == [fault]


def test_outage_is_unscored_not_zero(openai_stub):
    openai_stub.set_faults(lambda i, req: "500")
    judge = make_judge(openai_stub)
    out = judge.ask_many_sync([("a", QUESTIONS[0])])
    assert out[0].yes is None and "HTTP 500" in out[0].error
    assert openai_stub.request_count == 3  # one try + two retries


def test_failures_are_retried_on_the_next_batch(openai_stub):
    openai_stub.set_faults(lambda i, req: "500" if i < 3 else None)
    judge = make_judge(openai_stub)
    assert judge.ask_many_sync([("a", QUESTIONS[0])])[0].yes is None
    assert judge.ask_many_sync([("a", QUESTIONS[0])])[0].yes is True


def test_yes_no_spellings():
    p_yes, p_no = yes_no_probabilities({"YES": math.log(0.5), " yes.": math.log(0.1), "No": math.log(0.2), "Now": 0.0})
    assert (p_yes, p_no) == (pytest.approx(0.6), pytest.approx(0.2))


def test_endpoint_without_logprobs_uses_the_greedy_token():
    assert verdict_from_result(ChatResult(text="Yes.")) == JudgeVerdict(True, 1.0, 0.0)
    assert verdict_from_result(ChatResult(text="I think")).yes is None


# ----------------------------------------------------------------------------- judge-style rewards

JUDGE_GT = json.dumps({"style": "judge", "questions": QUESTIONS,
                       "tree": {"op": "check", "id": "punctuation:no_comma"}})
ROLLOUT = "<think>be nice</think><answer>Thank you kindly for asking</answer>"


def test_judge_reward_combines_questions_and_hard_constraints(openai_stub):
    judge = make_judge(openai_stub)
    r = score_sample(ROLLOUT, JUDGE_GT, judge=judge)
    # polite: YES, French: NO, no_comma: satisfied -> 2 of 3
    assert (r.style, r.satisfied, r.total, r.judge_yes, r.judge_questions) == ("judge", 2, 3, 1, 2)
    assert r.score == pytest.approx(2 / 3 + 1)


def test_judge_is_not_asked_when_the_format_gate_fails(openai_stub):
    judge = make_judge(openai_stub)
    r = score_sample("<answer>Thank you</answer>", JUDGE_GT, judge=judge)
    assert r.score == -3.0 and openai_stub.request_count == 0


def test_judge_outage_marks_the_sample_unscored(openai_stub):
    openai_stub.set_faults(lambda i, req: "500")
    judge = make_judge(openai_stub, max_retries=1)
    r = score_sample(ROLLOUT, JUDGE_GT, judge=judge)
    assert r.unscored == 2
    # only the hard constraint was scored: satisfied 1 of 1 -> +2, and the metrics flag it
    assert (r.satisfied, r.total, r.answer_score) == (1, 1, 2.0)
    m = metrics(r)
    assert (m["unscored"], m["judge_unscored"]) == (1.0, 2.0)
    only_questions = json.dumps({"style": "judge", "questions": QUESTIONS})
    r = score_sample(ROLLOUT, only_questions, judge=judge)
    assert r.answer_score is None and metrics(r)["unscored"] == 1.0


def test_batch_asks_every_question_of_the_batch_together(openai_stub):
    judge = make_judge(openai_stub)
    samples = [Sample(ROLLOUT, JUDGE_GT), Sample("<think>x</think><answer>Bonjour, merci</answer>", JUDGE_GT),
               Sample(ROLLOUT, '[{"id": "punctuation:no_comma"}]')]
    out = score_batch(samples, judge=judge, workers=1)
    assert [r.style for r in out] == ["judge", "judge", "rule"]
    assert out[2].score == 3.0
    assert openai_stub.request_count == 4


def test_judge_ground_truth_without_a_judge_is_a_config_error():
    from raif_rewards.reward import RewardConfigError

    with pytest.raises(RewardConfigError, match="judge"):
        score_sample(ROLLOUT, JUDGE_GT)
