"""langdetect 1.0.9's ``detect``/``detect_langs``, same verdicts and probabilities, several times faster.

It reads the installed langdetect's profiles and replays its algorithm call for call: the same
``random.Random`` draws in the same order, the same IEEE double operations in the same order. What
changes is only how much Python runs per character and per update (see :class:`_Model`).
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import re
import threading
from array import array
from collections.abc import Callable

import numpy as np
from langdetect.detector_factory import PROFILES_DIRECTORY
from langdetect.lang_detect_exception import ErrorCode, LangDetectException
from langdetect.language import Language
from langdetect.utils.ngram import NGram

__all__ = ["LangDetectException", "Language", "detect", "detect_langs"]

# langdetect's Detector constants.
_ALPHA = 0.5
_ALPHA_WIDTH = 0.05
_ITERATION_LIMIT = 1000
_PROB_THRESHOLD = 0.1
_CONV_THRESHOLD = 0.99999
_BASE_FREQ = 10000
_N_TRIAL = 7
_MAX_TEXT_LENGTH = 10000
_UNKNOWN_LANG = "unknown"

_URL_RE = re.compile(r"https?://[-_.?&~;+=/#0-9A-Za-z]{1,2076}")
_MAIL_RE = re.compile(r"[-_.0-9A-Za-z]{1,64}@[-_0-9A-Za-z]{1,255}[-_.0-9A-Za-z]{1,255}")
# Detector.cleaning_text's "Latin" is the code-point range 'A'..'z' (so [\]^_` count too).
_DROP_LATIN = dict.fromkeys(range(ord("A"), ord("z") + 1))
# Its "non-Latin" test compares unicode_block()'s integer with the string 'Latin Extended Additional',
# which is never equal: every character from U+0300 up counts.
_NON_LATIN_RE = re.compile("[\u0300-\U0010ffff]+")
_CACHE_LIMIT = 1 << 16  # entries per cache (words, characters): a few MiB at most


class _Normalizer(dict):
    """``str.translate`` table of ``NGram.normalize``, filled in the first time a character is met.

    Normalisation is a function of the character alone, so translating the whole text at once
    gives what langdetect's per-character calls give.
    """

    def __missing__(self, code: int) -> str:
        if len(self) >= _CACHE_LIMIT:  # bounded even for text that walks all of Unicode
            self.clear()
        self[code] = out = NGram.normalize(chr(code))
        return out


class _Model:
    """The profiles as one matrix: row = n-gram, column = language (langdetect's word_lang_prob_map).

    Speed comes from four places. The normalised text is cut into words, and a word's n-gram
    rows are computed once and cached (NGram's sliding window never reaches across a space). A
    trial's random choices are decoded in bulk from the generator's output (:class:`_Draws`). Each
    update ``prob[i] *= weight + vec[i]`` is an elementwise float64 multiply (the same rounding as
    langdetect's loop), and the up to five updates between two convergence checks are one
    ``multiply.reduce`` down the rows, which multiplies in row order. The normalising sum stays
    Python's ``sum`` over Python floats, as in langdetect (numpy sums pairwise, which rounds differently).
    """

    def __init__(self, directory: str) -> None:
        self.index: dict[str, int] = {}
        langlist, rows, columns, probs = _read_profiles(directory, self.index)
        self.langlist: tuple[str, ...] = tuple(langlist)
        self.matrix = np.zeros((len(self.index), len(langlist)))
        self.matrix[rows, columns] = probs
        self.normalizer = _Normalizer()
        self.words: dict[tuple[str, bool], array] = {}
        self._local = threading.local()

    def ngram_rows(self, text: str) -> array:
        """Matrix rows of the n-grams Detector._extract_ngrams finds in the cleaned ``text``, in order.

        An int32 ``array``: extended a word at a time in C, and read by numpy without a copy.
        """
        parts = text.translate(self.normalizer).split(" ")
        last = len(parts) - 1
        words = self.words
        if len(words) >= _CACHE_LIMIT:
            words.clear()
        rows = array("i")
        for k, word in enumerate(parts):
            if word:
                key = (word, k < last)
                found = words.get(key)
                if found is None:
                    found = words[key] = self._word_rows(*key)
                rows += found
        return rows

    def _word_rows(self, word: str, followed_by_space: bool) -> array:
        # NGram's buffer restarts at ' ' before each word, and a space ends the word.
        padded = " " + word + " " if followed_by_space else " " + word
        get = self.index.get
        out = []
        for j in range(1, len(padded)):
            ch, prev = padded[j], padded[j - 1]
            if ch.isupper() and prev.isupper():
                continue  # NGram.capitalword: inside an all-capitals run
            # No tuples here: short-lived containers would set off the garbage collector's passes.
            if ch != " " and (row := get(ch)) is not None:
                out.append(row)
            if (row := get(prev + ch)) is not None:
                out.append(row)
            if j >= 2 and (row := get(padded[j - 2 : j + 1])) is not None:
                out.append(row)
        return array("i", out)

    def probabilities(self, text: str, seed: int | None, settled: Settled | None = None) -> list[float]:
        """Detector._detect_block: the averaged language probabilities, in ``langlist`` order.

        ``settled(sums, trials)``: asked after each trial with the sums so far; True stops there (the
        sums returned are then partial: for a caller that needs only what they already decide).
        """
        rows = self.ngram_rows(_clean(text))
        if not rows:
            raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
        trials = self._trials_from_stream if _stream_matches_random() else self._trials_from_random
        return trials(rows, seed, settled).tolist()

    def _trials_from_random(self, rows: array, seed: int | None, settled: Settled | None = None) -> np.ndarray:
        """The trials drawing from ``random.Random`` one call at a time, exactly as langdetect does."""
        n_lang = len(self.langlist)
        langprob = np.zeros(n_lang)
        buf = np.empty((6, n_lang))
        rnd = random.Random()
        rnd.seed(seed)
        for trial in range(_N_TRIAL):
            prob = np.full(n_lang, 1.0 / n_lang)
            weight = (_ALPHA + rnd.gauss(0.0, 1.0) * _ALPHA_WIDTH) / _BASE_FREQ
            i, block = 0, 1  # a convergence check after update 0, then after every fifth
            while True:
                stack = buf[: block + 1]
                stack[0] = prob
                np.take(self.matrix, [rnd.choice(rows) for _ in range(block)], axis=0, out=stack[1:])
                np.add(stack[1:], weight, out=stack[1:])
                np.multiply.reduce(stack, axis=0, out=prob)
                if _normalize(prob) > _CONV_THRESHOLD or i >= _ITERATION_LIMIT:
                    break
                i += 5
                block = 5
            langprob += prob / _N_TRIAL
            if settled is not None and settled(langprob, trial + 1):
                break
        return langprob

    def _trials_from_stream(self, rows: array, seed: int | None, settled: Settled | None = None) -> np.ndarray:
        """The same trials, with a trial's choices decoded in bulk from the generator's output words.

        A trial's choices do not depend on its updates, only how many it takes does: the words
        after the last one used are handed to the next trial's gauss, as langdetect's calls would.
        """
        n_lang = len(self.langlist)
        langprob = np.zeros(n_lang)
        draws = _Draws(seed, len(rows))
        row_of = np.frombuffer(rows, dtype=np.int32)
        # Block j's factors sit below a free row; normalising a block writes the probabilities into the
        # next block's free row, so that a block's updates are one multiply.reduce (in row order). The
        # table and its views are made once (see _Scratch): a view costs as much as a small update.
        scratch = self._scratch()
        table, product, blocks, outs = scratch.table, scratch.product, scratch.blocks, scratch.outs
        matrix, factors = self.matrix, scratch.factors
        multiply_down, divide, add = np.multiply.reduce, np.divide, np.add
        leader = 0
        for trial in range(_N_TRIAL):
            table[0] = 1.0 / n_lang
            weight = (_ALPHA + draws.gauss(0.0, 1.0) * _ALPHA_WIDTH) / _BASE_FREQ
            drawn, ready = 1, 0  # draws used so far (one, then five per block), draws decoded
            # block j is the convergence check after update i = 5 * j
            for j in range(_BLOCKS):
                # Most trials converge early: decode a few choices first, more only when needed.
                if drawn > ready:
                    start, ready = ready, next(stage for stage in _STAGES if stage >= drawn)
                    picked, after = draws.choices(ready)
                    if start == 0:
                        add(matrix[row_of[picked[0]]], weight, out=table[1])
                        start = 1
                    chosen = matrix.take(row_of[picked[start:ready]], axis=0).reshape(-1, 5, n_lang)
                    add(chosen, weight, out=factors[(start - 1) // 5 : (ready - 1) // 5])
                multiply_down(blocks[j], axis=0, out=product)
                values = product.tolist()
                # Python's own sum, as langdetect's (numpy's pairwise sum rounds differently).
                total = sum(values)
                if total == 0.0:
                    raise ZeroDivisionError("float division by zero")  # what langdetect's loop would raise
                divide(product, total, out=outs[j])
                # Convergence is max(values) / total > threshold (x -> x / total is monotonic). While the
                # last leader holds a thousandth of the total, no other value can pass the threshold, so
                # the leader alone decides; otherwise all are scanned for the new leader.
                lead = values[leader]
                if lead < 1e-3 * total:
                    lead = max(values)
                    leader = values.index(lead)
                if lead / total > _CONV_THRESHOLD:
                    break
                drawn += 5
            else:
                drawn -= 5  # the last block (i = _ITERATION_LIMIT) ends the trial unconverged
            draws.seek(int(after[drawn - 1]))
            langprob += outs[j] / _N_TRIAL
            if settled is not None and settled(langprob, trial + 1):
                break
        return langprob

    def _scratch(self) -> _Scratch:
        """This thread's table (a thread of its own for each caller: the model is shared)."""
        local = self._local
        scratch = getattr(local, "scratch", None)
        if scratch is None:
            scratch = local.scratch = _Scratch(len(self.langlist))
        return scratch


# Choices decoded per trial: updates up to i = 50, 200, then the limit (i = 1000, the 1001st update).
_STAGES = (51, 201, _ITERATION_LIMIT + 1)
# Checks per trial: after update 0, then after every fifth, the last at i = _ITERATION_LIMIT.
_BLOCKS = _ITERATION_LIMIT // 5 + 1


class _Scratch:
    """The trials' work table and its views, made once per thread.

    Row 0 holds the starting probabilities and row 1 the first update's factor: block 0. Block j >= 1
    is rows 6j-4 .. 6j+1, a free row (which block j-1's normalised product was written to) above its
    five factors; block j's own normalised product goes to row 6j+2.
    """

    def __init__(self, n_lang: int) -> None:
        self.table = np.empty((6 * _BLOCKS - 3, n_lang))
        self.product = np.empty(n_lang)
        tops = [0] + [6 * j - 4 for j in range(1, _BLOCKS)]
        self.blocks = [self.table[top : 6 * j + 2] for j, top in enumerate(tops)]
        self.outs = [self.table[6 * j + 2] for j in range(_BLOCKS)]
        # the factor rows of blocks 1, 2, ...: the draws 1 + 5k .. 5 + 5k are block k + 1's
        self.factors = self.table[2 : 6 * _BLOCKS - 4].reshape(_BLOCKS - 1, 6, n_lang)[:, 1:]


def _normalize(prob: np.ndarray) -> float:
    """Detector._normalize_prob in place; returns the largest probability."""
    values = prob.tolist()
    total = sum(values)  # Python's own sum, as langdetect's: numpy would sum pairwise and round differently
    if total == 0.0:
        raise ZeroDivisionError("float division by zero")  # what langdetect's loop would raise
    np.divide(prob, total, out=prob)
    # x -> x / total is monotonic, so the largest quotient is the quotient of the largest value.
    top = max(values) / total
    return top if top > 0.0 else 0.0


class _Draws:
    """``random.Random(seed)``'s ``gauss`` and ``choice`` results, decoded from its 32-bit output words.

    CPython's ``choice(seq)`` is ``seq[_randbelow(len(seq))]``: one word shifted down to
    ``len(seq).bit_length()`` bits per try, retried while too large. ``random()`` takes two words and
    ``gauss`` two ``random()`` per pair of results. The words are decoded as choices among ``n``
    once, as they are drawn; a trial then takes the accepted ones after its position.
    :func:`_stream_matches_random` checks this decoding against the running interpreter's ``random``.
    """

    _CHUNK = 1024

    def __init__(self, seed: int | None, n: int) -> None:
        self._rnd = random.Random(seed)
        self._n, self._shift = n, 32 - n.bit_length()
        self._words = np.empty(0, dtype=np.uint32)
        self._kept = np.empty(0, dtype=np.intp)  # positions of the words that are accepted choices
        self._values = np.empty(0, dtype=np.uint32)  # and their choices
        self._pos = 0
        self._gauss_next: float | None = None

    def _extend(self, count: int) -> None:
        count = max(count, self._CHUNK)
        # getrandbits fills a long integer 32 bits at a time, from the least significant end.
        raw = self._rnd.getrandbits(32 * count).to_bytes(4 * count, "little")
        words = np.frombuffer(raw, dtype="<u4")
        values = words >> self._shift
        kept = np.flatnonzero(values < self._n)
        self._kept = np.concatenate((self._kept, kept + len(self._words)))
        self._values = np.concatenate((self._values, values[kept]))
        self._words = np.concatenate((self._words, words))

    def _random(self) -> float:
        if len(self._words) - self._pos < 2:
            self._extend(2)
        a = int(self._words[self._pos]) >> 5
        b = int(self._words[self._pos + 1]) >> 6
        self._pos += 2
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)

    def gauss(self, mu: float, sigma: float) -> float:
        z, self._gauss_next = self._gauss_next, None
        if z is None:
            x2pi = self._random() * _TWOPI
            g2rad = math.sqrt(-2.0 * math.log(1.0 - self._random()))
            z = math.cos(x2pi) * g2rad
            self._gauss_next = math.sin(x2pi) * g2rad
        return mu + z * sigma

    def choices(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``count`` values of ``_randbelow(n)``, not consumed, and the position after each."""
        first = int(np.searchsorted(self._kept, self._pos))
        while (short := count - (len(self._kept) - first)) > 0:
            self._extend(2 * short + 64)  # a try succeeds with probability above one half
        return self._values[first : first + count], self._kept[first : first + count] + 1

    def seek(self, position: int) -> None:
        self._pos = position


_TWOPI = 2.0 * math.pi


@functools.cache
def _stream_matches_random() -> bool:
    """Whether :class:`_Draws` reproduces this interpreter's ``random.Random`` (else calls are replayed)."""
    for seed in (0, 1, 12345):
        for n in (1, 2, 3, 5, 1000, 30000, 65537):
            ref, ours = random.Random(seed), _Draws(seed, n)
            for count in (3, 40, 1, 300, 70, 1, 9):
                if ref.gauss(0.0, 1.0) != ours.gauss(0.0, 1.0):
                    return False
                values, after = ours.choices(count)
                if values.tolist() != [ref.choice(range(n)) for _ in range(count)]:
                    return False
                ours.seek(int(after[-1]))
            if ref.gauss(0.0, 1.0) != ours.gauss(0.0, 1.0) or ref.random() != ours._random():
                return False
    return True


def _read_profiles(
    directory: str, index: dict[str, int]
) -> tuple[list[str], list[int], list[int], list[float]]:
    """DetectorFactory.load_profile's walk (directory order, dot-files and folders skipped).

    Returns the languages and the matrix's non-zero cells as flat lists (rows numbered in ``index``),
    not as tuples: a few hundred thousand surviving containers would make the garbage collector
    walk them again later, in the middle of scoring.
    """
    names = os.listdir(directory)
    if not names:
        raise LangDetectException(ErrorCode.NeedLoadProfileError, "Not found profile: " + directory)
    langlist: list[str] = []
    rows: list[int] = []
    columns: list[int] = []
    probs: list[float] = []
    for name in names:
        path = os.path.join(directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        lang, freq, n_words = data["name"], data["freq"], data["n_words"]
        if lang in langlist:
            raise LangDetectException(ErrorCode.DuplicateLangError, "Duplicate the same language profile.")
        column = len(langlist)
        langlist.append(lang)
        for word, count in freq.items():
            length = len(word)
            if 1 <= length <= 3:  # longer keys exist in langdetect's map but no extracted n-gram reaches them
                rows.append(index.setdefault(word, len(index)))
                columns.append(column)
                probs.append(1.0 * count / n_words[length - 1])
    return langlist, rows, columns, probs


def _clean(text: str) -> str:
    """Detector.append then cleaning_text (URLs and mails out, Vietnamese normalised, cut, Latin dropped)."""
    # Each pattern needs a literal its matches contain; most texts have none of them.
    if "http" in text:
        text = _URL_RE.sub(" ", text)
    if "@" in text:
        text = _MAIL_RE.sub(" ", text)
    if text.isascii():  # normalize_vi only rewrites letters followed by a combining mark
        return text[:_MAX_TEXT_LENGTH]
    text = NGram.normalize_vi(text)[:_MAX_TEXT_LENGTH]
    # append() also squeezes runs of spaces; NGram skips a space after a space, so that changes nothing here.
    non_latin = sum(len(run) for run in _NON_LATIN_RE.findall(text))
    without_latin = text.translate(_DROP_LATIN)
    latin = len(text) - len(without_latin)
    return without_latin if latin * 2 < non_latin else text


#: settled(sums so far, trials done) -> stop the trials (see _Model.probabilities)
Settled = Callable[[np.ndarray, int], bool]

_model: _Model | None = None
_lock = threading.Lock()


def _get_model() -> _Model:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = _Model(PROFILES_DIRECTORY)
    return _model


def _sorted_languages(langlist: tuple[str, ...], probs: list[float]) -> list[Language]:
    result = [Language(lang, p) for lang, p in zip(langlist, probs, strict=True) if p > _PROB_THRESHOLD]
    result.sort(reverse=True)
    return result


def detect_langs(text: str, seed: int | None = 0) -> list[Language]:
    """What ``langdetect.detect_langs(text)`` returns with ``DetectorFactory.seed = seed``.

    Raises langdetect's own ``LangDetectException`` where it does (no n-gram features).
    """
    model = _get_model()
    return _sorted_languages(model.langlist, model.probabilities(text, seed))


def detect(text: str, seed: int | None = 0) -> str:
    """What ``langdetect.detect(text)`` returns with ``DetectorFactory.seed = seed``.

    The trials stop as soon as the leader cannot be overtaken (:func:`_leader_settled`): the answer
    is the top language of all seven trials, found with fewer of them when they agree.
    """
    model = _get_model()
    found = _sorted_languages(model.langlist, model.probabilities(text, seed, _leader_settled))
    return found[0].lang if found else _UNKNOWN_LANG


def _leader_settled(sums: np.ndarray, trials: int) -> bool:
    """Whether the language leading after ``trials`` of the seven trials leads at the end too, with a
    probability over the 0.1 that detect_langs keeps.

    Each trial adds its probabilities over 7 to the sums, each at most 1/7 (a probability is a
    quotient of a part by the whole: never above 1), and adding a non-negative number never lowers a
    sum. So when the leader is ahead of the second by more than the remaining trials' 1/7 each, no
    language can reach it; the 1e-9 covers the roundings, which are some 1e-16 each. The leader's
    sum is then above 1/7 > 0.1 already.
    """
    if trials >= _N_TRIAL:
        return True
    second, first = np.partition(sums, -2)[-2:].tolist()
    return first - second > (_N_TRIAL - trials) / _N_TRIAL + 1e-9
