"""Math answers: the last ``\\boxed{}`` of a response, checked for equivalence with ``math-verify``.

Every check is bounded in time without a process per sample: an interval timer in the main thread,
and one long-lived helper process (restarted only after a timeout) when called from other threads.
"""

from __future__ import annotations

import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from functools import lru_cache
from typing import Literal

log = logging.getLogger(__name__)

Verdict = Literal["correct", "wrong", "no_boxed", "timeout"]

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
#: a backslash and the character it escapes, or a brace (one regex pass instead of a Python loop)
_BRACE_RE = re.compile(r"\\.|[{}]", re.DOTALL)
#: answers longer than this are not parsed by sympy at all (no reference answer is this long)
MAX_ANSWER_CHARS = 1000


def last_boxed(text: str) -> str | None:
    """The content of the last well-formed ``\\boxed{...}`` (nested braces, ``\\{`` escapes and the
    ``\\boxed 5`` form handled); ``None`` when there is none.

    Linear in ``len(text)``: the braces are matched in one pass first. Scanning from every ``\\boxed{``
    to its closing brace made ``"\\boxed{" * 8000`` (56 KB) take 23 s.
    """
    matches = list(_BOXED_RE.finditer(text))
    if not matches:
        return None
    closing = _matching_braces(text)
    for match in reversed(matches):
        content = _boxed_content(text, match.end(), closing)
        if content is not None and content.strip():
            return content.strip()
    return None


def _matching_braces(text: str) -> dict[int, int]:
    """``{open: close}`` for every balanced brace pair; ``\\{`` and ``\\}`` are literal braces."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_RE.finditer(text):
        ch = m.group()
        if ch == "{":
            stack.append(m.start())
        elif ch == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


def _boxed_content(text: str, i: int, closing: dict[int, int]) -> str | None:
    n, start = len(text), i
    while i < n and text[i] in " \t":
        i += 1
    if i >= n:
        return None
    if text[i] != "{":
        if i == start:  # "\boxed5" is not the spaced form "\boxed 5"
            return None
        end = i
        while end < n and not text[end].isspace() and text[end] not in "$":
            end += 1
        return text[i:end]
    close = closing.get(i)
    return text[i + 1 : close] if close is not None else None


_SPACE_RE = re.compile(r"\s+|\\[,;:! ]|\\left|\\right|\\displaystyle|\$")


def _normal(s: str) -> str:
    return _SPACE_RE.sub("", s).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").rstrip(".")


def check_answer(answer: str, reference: str, *, timeout: float = 5.0) -> Verdict:
    """Whether the last boxed expression of ``answer`` equals ``reference`` mathematically."""
    boxed = last_boxed(answer)
    if boxed is None:
        return "no_boxed"
    return check_equivalent(boxed, reference, timeout=timeout)


def check_equivalent(predicted: str, reference: str, *, timeout: float = 5.0) -> Verdict:
    """``correct`` / ``wrong`` / ``timeout`` for two LaTeX (or plain) expressions."""
    ref_boxed = last_boxed(reference)
    reference = ref_boxed if ref_boxed is not None else reference
    if _normal(predicted) == _normal(reference):
        return "correct"  # the common case needs no sympy
    if len(predicted) > MAX_ANSWER_CHARS:
        return "wrong"
    return _cached_verdict(predicted, reference, float(timeout))


@lru_cache(maxsize=65536)
def _cached_verdict(predicted: str, reference: str, timeout: float) -> Verdict:
    if threading.current_thread() is threading.main_thread():
        return _verify_with_alarm(predicted, reference, timeout)
    return _helper().verify(predicted, reference, timeout)


# ------------------------------------------------------------------------------ the equivalence check


@lru_cache(maxsize=1)
def _math_verify():
    import math_verify
    import math_verify.grader
    import math_verify.parser

    # we bound time ourselves (below); its one-time "timeout disabled" warning would mislead users
    for mod in (math_verify.grader, math_verify.parser):
        if hasattr(mod, "TIMEOUT_WARNING_SHOWN"):
            mod.TIMEOUT_WARNING_SHOWN = True
    gold_cfg = [math_verify.LatexExtractionConfig(), math_verify.ExprExtractionConfig()]
    pred_cfg = [math_verify.LatexExtractionConfig(boxed_match_priority=0), math_verify.ExprExtractionConfig()]
    return math_verify, gold_cfg, pred_cfg


def equivalent_unbounded(predicted: str, reference: str) -> bool:
    """math-verify's verdict with no time bound (call only under a bound)."""
    mv, gold_cfg, pred_cfg = _math_verify()
    gold = mv.parse(f"${reference}$", extraction_config=gold_cfg, parsing_timeout=None)
    pred = mv.parse(f"${predicted}$", extraction_config=pred_cfg, parsing_timeout=None)
    if not gold or not pred:
        return False
    return bool(mv.verify(gold, pred, timeout_seconds=None))


class _Expired(BaseException):
    """Raised by the interval timer; a BaseException so library ``except Exception`` cannot eat it."""


def _verify_with_alarm(predicted: str, reference: str, timeout: float) -> Verdict:
    _math_verify()  # import sympy & co. outside the bound: an interrupted import leaves broken modules
    fired = False

    def on_alarm(signum, frame):
        nonlocal fired
        fired = True
        raise _Expired()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        ok = equivalent_unbounded(predicted, reference)
    except _Expired:
        ok = False
    except Exception:  # sympy/latex2sympy failures on odd input: not equivalent
        ok = False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if fired:
        log.warning("math check timed out after %.1fs: %.80r vs %.80r", timeout, predicted, reference)
        return "timeout"
    return "correct" if ok else "wrong"


# --------------------------------------------------------------- helper process for non-main threads


def _serve() -> None:
    """The helper's loop: one JSON request per stdin line, one verdict per stdout line."""
    import json
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in sys.stdin:
        predicted, reference, timeout = json.loads(line)
        sys.stdout.write(json.dumps(_verify_with_alarm(predicted, reference, timeout)) + "\n")
        sys.stdout.flush()


class _Helper:
    """One long-lived ``python -m raif_rewards.mathcheck`` process that runs checks for threads that
    cannot use signals; one that overruns its bound is killed (a fresh one starts on the next call).
    A plain subprocess, not multiprocessing: spawn would re-import the caller's ``__main__``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._buf = b""

    def _ensure(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "raif_rewards.mathcheck"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
            self._buf = b""
        return self._proc

    def _read_line(self, proc: subprocess.Popen, deadline: float) -> bytes | None:
        fd = proc.stdout.fileno()  # type: ignore[union-attr]  # opened with stdout=PIPE: never None
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def verify(self, predicted: str, reference: str, timeout: float) -> Verdict:
        import json

        with self._lock:
            proc = self._ensure()
            try:
                proc.stdin.write((json.dumps([predicted, reference, timeout]) + "\n").encode())  # type: ignore[union-attr]  # stdin=PIPE: never None
                proc.stdin.flush()  # type: ignore[union-attr]  # stdin=PIPE: never None
            except OSError:
                line = None
            else:
                # the helper bounds itself with its own timer; the margin covers its start-up imports
                line = self._read_line(proc, time.monotonic() + timeout + 30.0)
            if line is not None:
                return json.loads(line)
            log.warning("math check helper unresponsive (bound %.1fs); restarting it", timeout)
            proc.kill()
            proc.wait(5)
            self._proc = None
            return "timeout"


@lru_cache(maxsize=1)
def _helper() -> _Helper:
    return _Helper()


if __name__ == "__main__":
    _serve()
