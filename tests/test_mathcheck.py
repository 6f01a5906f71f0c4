"""Math answers: last-\\boxed extraction (nested braces), equivalence through math-verify, and the
time bound in the main thread, in other threads, and in worker processes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from raif_rewards.mathcheck import check_answer, check_equivalent, last_boxed

# sympy evaluates this power tower for far longer than any bound
SLOW = r"9^{9^{9^{9}}}"


@pytest.mark.parametrize(
    "text,expected",
    [
        (r"so \boxed{42}.", "42"),
        (r"first \boxed{1} then \boxed{2}", "2"),
        (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}"),
        (r"\boxed{\left\{1, 2\right\}}", r"\left\{1, 2\right\}"),
        (r"\boxed{\{1,2\}}", r"\{1,2\}"),
        (r"\boxed{a_{n}^{2}} and trailing text", r"a_{n}^{2}"),
        (r"$\boxed 7$", "7"),
        (r"\fbox{3}", "3"),
        (r"\boxed{5} then a broken \boxed{6", "5"),   # the last well-formed one
        (r"\boxed{}", None),
        (r"\boxedx{5}", None),
        ("no box here: 42", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "predicted,reference",
    [
        (r"\frac{1}{2}", "0.5"),
        (r"\dfrac{3}{4}", "0.75"),
        ("1/2", r"\frac12"),
        (r"\frac{\frac{1}{2}}{2}", r"\frac{1}{4}"),
        (r"2\sqrt{2}", r"\sqrt{8}"),
        (r"\{1,2\}", r"\{2,1\}"),
        ("(1,2)", "(1, 2)"),
        ("3.0", "3"),
        (r"x = 3", "3"),
        (r"10\%", "0.1"),
        (r"\pi", r"\pi"),
        (r"\frac{\pi}{2}", r"\pi/2"),
        (r"\text{(B)}", "B"),
        ("42", r"\boxed{42}"),  # a reference written with its own box
    ],
)
def test_equivalent(predicted, reference):
    assert check_equivalent(predicted, reference) == "correct"


@pytest.mark.parametrize(
    "predicted,reference",
    [("5", "6"), (r"\frac{1}{3}", "0.33"), (r"\sqrt{2}", "2"), ("(1,2)", "(2,1)"), (r"2\pi", r"\pi")],
)
def test_not_equivalent(predicted, reference):
    assert check_equivalent(predicted, reference) == "wrong"


def test_check_answer_verdicts():
    assert check_answer(r"thus \boxed{\frac{2}{4}}", "0.5") == "correct"
    assert check_answer(r"thus \boxed{3}", "0.5") == "wrong"
    assert check_answer("thus one half", "0.5") == "no_boxed"


def test_time_bound_in_main_thread():
    t0 = time.perf_counter()
    assert check_equivalent(SLOW, "1", timeout=0.3) == "timeout"
    assert time.perf_counter() - t0 < 3.0
    # the bound leaves the signal state clean: a normal check still works
    assert check_equivalent(r"\frac{6}{8}", "0.75", timeout=0.3) == "correct"


def test_time_bound_in_other_threads():
    # signals cannot be used off the main thread: a long-lived helper process bounds the check
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(check_equivalent, SLOW, "2", timeout=0.5)
        fast = pool.submit(check_equivalent, r"\sqrt{12}", r"2\sqrt{3}", timeout=5.0)
        assert fast.result(timeout=60) == "correct"
        assert slow.result(timeout=60) == "timeout"
    assert threading.active_count() >= 1


def _in_worker(args):
    return check_equivalent(*args[:2], timeout=args[2])


def test_time_bound_in_worker_processes():
    with ProcessPoolExecutor(1) as pool:
        assert list(pool.map(_in_worker, [(SLOW, "3", 0.3), ("1/3", r"\frac{1}{3}", 5.0)])) == ["timeout", "correct"]
