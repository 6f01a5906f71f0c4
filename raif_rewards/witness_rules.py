"""Witness shaping that has to read the text it shapes, for :mod:`raif_rewards.witness`.

Two kinds: rules on a written text's words and lines (``Need.text_rules``: an alphabet chain, no two
neighbours with one initial, alternating syllable parity, a Japanese word every N words, lines that
end with their first word, no closing quote), applied once the text they are checked on (the whole
answer with its wrapper, or a chain step's section) is written; and sentence shaping measured with the
IFBench checkers' own sentence split (equal sentence lengths, growing alliteration) and the trigram
share of a reference text.

Words are changed only where the text has a filler word (a bank word no constraint asked for); a rule
that a fixed word breaks gets filler words inserted before it, and a rule that cannot be met this way
raises :class:`Clash` ``text_rule:<rule>`` instead of handing back a failing answer.
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from raif_rewards.checkers.ifbench_sentence import alliteration_score
from raif_rewards.checkers.ifbench_shared import DELETE_PUNCT, STRIP, punkt_sentences, sentences, syllables
from raif_rewards.text import view
from raif_rewards.witness_spec import Clash

# Japanese words of two or three characters (a prime length, so that words:prime_lengths holds too)
JAPANESE = ("計画", "方法", "説明", "答え", "考え", "言葉", "未来", "毎日", "季節", "音楽", "写真", "旅行", "学校",
            "先生", "家族", "さくら", "ひかり", "こころ", "しごと", "じかん", "ことば", "やま", "かわ", "みち", "そら",
            "うみ", "はな", "まち", "ゆめ", "あさ", "よる", "かぜ", "あめ", "ほし", "もり", "にわ")
#: words for initials the English filler bank lacks or holds few of (an alphabet chain needs them all)
ALPHABET_EXTRA = ("xenon", "xylophone", "yard", "yellow", "young", "jolly", "kettle", "umbrella", "unit", "zebra")
VOWELS = "aeiou"
COMMON = frozenset("the and to of in is it for with this that you are we can".split())
#: vowels kept first when an answer may use only some (the filler bank has most words with these)
VOWEL_ORDER = "aeoiu"

_PLAIN = re.compile(r"^([^\w]*)([A-Za-z]+)([^\w]*)$")
_JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_QUOTE_EDGE = string.digits + string.punctuation.replace('"', "")


def _key(token: str) -> str:
    """The word as the IFBench word checkers read it: ASCII punctuation deleted, lower-cased."""
    return token.translate(DELETE_PUNCT).lower()


def _cased(word: str, like: str) -> str:
    if len(like) > 1 and like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _next_letter(ch: str) -> str:
    return chr((ord(ch) - 96) % 26 + 97) if "a" <= ch <= "z" else ""


@lru_cache(maxsize=8192)
def _parity(key: str) -> int:
    return syllables(key) % 2


class _Chain:
    """The word rules of one answer, checked word by word as the answer is rewritten left to right."""

    def __init__(self, rules: Sequence[str], bank: Sequence[str], rng: random.Random):
        self.rules = tuple(rules)
        self.alphabet = "alphabet" in rules
        self.no_consecutive = "no_consecutive" in rules
        self.odd_even = "odd_even" in rules
        self.every = sorted({int(r.split(":")[1]) for r in rules if r.startswith("japanese:")})
        self.bank = [w for w in dict.fromkeys(bank) if w.isascii() and w.isalpha()]
        self.rng = rng
        self.used: Counter = Counter()
        self.pos = 0  # whitespace tokens written so far (raw.split() positions, 1-based once written)
        self.prev = ""  # key of the last word the key rules read (punctuation-only tokens have none)

    def japanese_at(self, pos: int) -> bool:
        return any(pos % n == 0 for n in self.every)

    def fits(self, token: str, pos: int, nxt: str | None) -> bool:
        """Whether ``token`` written at whitespace position ``pos`` keeps every rule with the words
        before it, and with ``nxt`` (the key of a fixed word that comes next), if any."""
        if self.japanese_at(pos):
            core = token.strip(STRIP)
            if core and not core.isdigit() and not _JAPANESE_CHAR.search(core):
                return False
        key = _key(token)
        if not key:
            return True
        if self.alphabet:
            want = _next_letter(self.prev[0]) if self.prev else None
            if (key[0] != want) if want else key[0] not in string.ascii_lowercase:
                return False
            if nxt and nxt[0] != _next_letter(key[0]):
                return False
        if self.prev and self.no_consecutive and key[0] == self.prev[0]:
            return False
        if self.prev and self.odd_even and _parity(key) == _parity(self.prev):
            return False
        if nxt and self.no_consecutive and key[0] == nxt[0]:
            return False
        if nxt and self.odd_even and _parity(key) == _parity(nxt):
            return False
        # the next word will be Japanese (one syllable for syllapy)
        return not (self.odd_even and self.japanese_at(pos + 1) and _parity(key) == _parity(JAPANESE[0]))

    def pick(self, pos: int, nxt: str | None) -> str | None:
        """A word for position ``pos`` that keeps every rule (the least used first), or None."""
        pool = JAPANESE if self.japanese_at(pos) else self.bank
        options = [w for w in pool if self.fits(w, pos, nxt)]
        if not options:
            return None
        # the least used first (a word already in the text counts), then the most common words, which
        # keep the text English to a language detector
        least = min((self.used[w], w not in COMMON) for w in options)
        word = self.rng.choice([w for w in options if (self.used[w], w not in COMMON) == least])
        self.used[word] += 1
        return word

    def advance(self, token: str) -> None:
        self.pos += 1
        key = _key(token)
        if key:
            self.prev = key

    def state(self) -> tuple:
        return self.pos, self.prev, Counter(self.used), self.rng.getstate()

    def restore(self, state: tuple) -> None:
        self.pos, self.prev, used, rng_state = state
        self.used = Counter(used)
        self.rng.setstate(rng_state)

    def name(self) -> str:
        return "+".join(n for n, on in (("alphabet", self.alphabet), ("no_consecutive", self.no_consecutive),
                                         ("odd_even", self.odd_even), ("japanese", bool(self.every))) if on)


def _line_edges(tokens: list[str]) -> set[int]:
    """Indexes of the first and last word of every line, in a ``re.split(r"(\\s+)")`` token list."""
    edges: set[int] = set()
    line: list[int] = []
    for i, tok in enumerate(tokens):
        if i % 2 == 0 and tok.strip(STRIP):
            line.append(i)
        if (i % 2 and "\n" in tok) or i == len(tokens) - 1:
            if line:
                edges.update((line[0], line[-1]))
            line = []
    return edges


def _word_rules(text: str, rules: Sequence[str], keep: Keep, rng: random.Random) -> str:
    """``text`` with its filler words changed (and, before a run of fixed words that needs it, filler
    words inserted) so that the word rules hold; Clash ``text_rule:<rules>`` where they cannot."""
    chain = _Chain(rules, keep.bank, rng)
    bank_set = frozenset(chain.bank)
    tokens = re.split(r"(\s+)", text)
    # a line's first and last words stay as they are when lines must end with their first word
    edges = _line_edges(tokens) if "line_ends" in rules else set()
    words = tokens[0::2]
    seps = ["", *tokens[1::2]]

    def movable(j: int) -> bool:
        m = _PLAIN.match(words[j])
        word = m.group(2).lower() if m else ""
        # a word that carries letters some constraint counts stays (the count would drop)
        return (2 * j not in edges and bool(word) and word in bank_set and word not in keep.protected
                and m is not None and m.group(2) not in keep.caps and not any(ch in word for ch in keep.letters))

    free = [bool(w) and movable(j) for j, w in enumerate(words)]
    chain.used.update(_key(w) for w in words if w)
    out: list[str] = []
    last_free: tuple[int, int, tuple] | None = None  # (word index, len(out), chain state) of the last free word
    j = 0
    while j < len(words):
        tok = words[j]
        if not tok:  # the empty ends of a text that starts or ends with whitespace
            out.append(seps[j])
            j += 1
            continue
        if free[j]:
            k = next((k for k in range(j + 1, len(words)) if _key(words[k])), None)
            # (an alphabet chain reaches the fixed word by words put in before this one, see _place_run)
            nxt = _key(words[k]) if k is not None and not free[k] and not chain.alphabet else None
            last_free = (j, len(out), chain.state())
            out.append(seps[j] + _fitted(chain, tok, nxt))
            j += 1
            continue
        r = j
        while r + 1 < len(words) and words[r + 1] and not free[r + 1]:
            r += 1
        redo = last_free if last_free is not None and last_free[0] == j - 1 else None
        opens_line = 2 * j in edges and (j == 0 or "\n" in seps[j])
        pieces = _place_run(chain, words, seps, j, r, redo, opens_line, keep.may_insert)
        if redo is not None:
            del out[redo[1]:]
        out += pieces
        last_free = None
        j = r + 1
    return "".join(out)


def _fitted(chain: _Chain, tok: str, nxt: str | None) -> str:
    """The free word ``tok``, or a bank word in its place (same case and punctuation) that fits."""
    pos = chain.pos + 1
    if not chain.fits(tok, pos, nxt):
        word = chain.pick(pos, nxt)
        if word is None:
            raise Clash(f"text_rule:{chain.name()}")
        m = _PLAIN.match(tok)
        assert m is not None
        tok = m.group(1) + _cased(word, m.group(2)) + m.group(3)
    chain.advance(tok)
    return tok


def _place_run(chain: _Chain, words: list[str], seps: list[str], j: int, r: int,
               redo: tuple[int, int, tuple] | None, opens_line: bool, may_insert: bool) -> list[str]:
    """The pieces that write the fixed words ``words[j..r]``: when the rules need it, filler words go in
    before them (before the free word just in front, ``redo``, which is then chosen again: words put
    there stay out of the run's own sentence); Clash when no number of inserted words works."""
    run = words[j : r + 1]
    keys = [k for k in map(_key, run) if k]
    probe = _Chain(chain.rules, (), chain.rng)
    probe.every = []  # positions are the shift's business, below
    for a, b in zip(keys, keys[1:], strict=False):  # the run must keep the rules within itself
        probe.prev = a
        if not probe.fits(b, 0, None):
            raise Clash(f"text_rule:{chain.name()}")
    start = redo[2] if redo is not None else chain.state()
    chain.restore(start)
    if chain.alphabet and keys and chain.prev[:1].isalpha():
        # the words between the last one written and the run's first take the letters in between
        gap = (ord(keys[0][0]) - ord(chain.prev[0]) - 1) % 26
        shifts: Iterable[int] = [gap - 1 if gap else 25] if redo is not None else [gap]
    elif chain.alphabet:
        shifts = [0]
    else:
        shifts = range(0, max(chain.every, default=2) + 2)
    for s in shifts:
        if s and (not may_insert or opens_line and redo is None):
            continue  # a word put before a line's first word would open the line in its place
        chain.restore(start)
        pieces = _try_run(chain, words, seps, j, r, redo, s, keys[0] if keys else None)
        if pieces is not None:
            return pieces
    chain.restore(start)
    raise Clash(f"text_rule:{chain.name()}")


def _try_run(chain: _Chain, words: list[str], seps: list[str], j: int, r: int,
             redo: tuple[int, int, tuple] | None, s: int, first: str | None) -> list[str] | None:
    bridge: list[str] = []
    for n in range(s):
        last = n == s - 1 and redo is None
        word = chain.pick(chain.pos + 1, first if last else None)
        if word is None:
            return None
        bridge.append(word)
        chain.advance(word)
    pieces = []
    head = "".join(w + " " for w in bridge)
    if redo is not None:
        i = redo[0]
        try:
            tok = _fitted(chain, words[i], first)
        except Clash:
            return None
        pieces.append(seps[i] + head + tok)
        head = ""
    for i in range(j, r + 1):
        if not chain.fits(words[i], chain.pos + 1, None):
            return None
        pieces.append(seps[i] + (head if i == j else "") + words[i])
        chain.advance(words[i])
    return pieces


_SENTENCE_END = re.compile(r"^[.?!]*$")


def _line_ends(text: str, keep: Keep) -> str:
    """Every line ends with the word it starts with (compared lower-cased, edge punctuation stripped):
    its last word, a free filler word, becomes the first one, or the first word is added at its end.
    Clash ``text_rule:line_ends`` where neither can be done without breaking another constraint's text
    (``keep.frozen``: texts that must stay verbatim, such as a repeated request or an end phrase)."""
    bank_set = frozenset(keep.bank)
    out = []
    for line in text.split("\n"):
        s = line.strip()
        body = s.strip(STRIP)
        words = body.split()
        if not words or words[0].lower() == words[-1].lower():
            out.append(line)
            continue
        first, last = words[0], words[-1]
        head = s[: len(s) - len(s.lstrip(STRIP))]
        tail = s[len(s.rstrip(STRIP)):]
        start = len(head) + len(body) - len(last)  # where the last word starts in ``s``
        if (first.rstrip(STRIP) != first  # a first word ending in punctuation ("P.S.") can never end a line
                or any(not (ch.isalnum() or ch in STRIP) for ch in last)  # an emoji: not to be moved
                or last.lstrip(STRIP) != last  # markup opening the last word ("<<word"): it would go
                or any(t and (s in t or t in s and s.index(t) + len(t) > start) for t in keep.frozen)):
            raise Clash("text_rule:line_ends")
        if last.islower():
            first = first.lower()
        low = last.lower()
        if (last.isalpha() and low in bank_set and low not in keep.protected and last not in keep.caps
                and not any(ch in low for ch in keep.letters)):
            body = f"{body[: len(body) - len(last)]}{first}"
        elif not keep.may_insert:
            raise Clash("text_rule:line_ends")
        elif _SENTENCE_END.match(tail):
            body = f"{body} {first}"
        else:  # the tail belongs to the last word (a template's "Outlook:"): the first word goes after it
            body, tail = f"{body}{tail} {first}", ""
        indent = line[: len(line) - len(line.lstrip())]
        out.append(f"{indent}{head}{body}{tail}")
    return "\n".join(out)


def _open_end(text: str) -> None:
    """format:quote_unquote: no two double quotes touch, and the answer does not end on a quote."""
    bare = "".join(text.replace("'\"'", "").split())
    if '""' in bare or bare.strip(_QUOTE_EDGE).endswith('"'):
        raise Clash("text_rule:open_end")


@dataclass(frozen=True)
class Keep:
    """What the text rules may change in an answer, and what they must leave as it is."""

    bank: tuple[str, ...]  # the filler words (the only words that may be replaced), and the replacements
    protected: frozenset[str]  # lower-cased words some constraint asks for: never replaced
    caps: frozenset[str]  # ALL-CAPS words put in for a count of them: never replaced
    letters: str  # letters some constraint counts: a word with one of them is never replaced
    may_insert: bool  # whether words may be added (no constraint counts words or their places)
    frozen: tuple[str, ...]  # texts that must stay verbatim (a repeated request, an end phrase)


def apply_text_rules(text: str, rules: Sequence[str], keep: Keep, rng: random.Random) -> str:
    """``text`` rewritten so that every rule in ``rules`` holds (see ``Need.text_rules``): filler words
    are replaced or added as ``keep`` allows; Clash ``text_rule:<rules>`` when that cannot make them hold."""
    rules = tuple(dict.fromkeys(rules))
    if "line_ends" in rules:
        text = _line_ends(text, keep)
    if any(r in ("alphabet", "no_consecutive", "odd_even") or r.startswith("japanese:") for r in rules):
        text = _word_rules(text, rules, keep, rng)
    if "open_end" in rules:
        _open_end(text)
    return text


# ------------------------------------------------------------------------------- sentence shaping


def measured_sentences(text: str) -> tuple[str, ...]:
    """The sentences the IFBench checkers read (Punkt, or Chinese end punctuation)."""
    return sentences(view(text))


def alliteration_scores(text: str) -> list[int]:
    """sentence:alliteration_increment's score of each sentence (Punkt split)."""
    return [alliteration_score(s) for s in punkt_sentences(view(text))]


def first_rise(scores: Sequence[int]) -> int | None:
    """The first sentence whose alliteration score does not exceed the one before it, or None."""
    for i in range(1, len(scores)):
        if scores[i] <= scores[i - 1]:
            return i
    return None


def alliterative_run(bank: Sequence[str], k: int, avoid: Iterable[str], used: Iterable[str] = ()) -> list[str]:
    """``k`` bank words sharing one initial that is none of ``avoid`` (unused words first)."""
    by_letter: dict[str, list[str]] = {}
    for w in bank:
        if " " not in w and w[:1].isalpha():
            by_letter.setdefault(w[0].lower(), []).append(w)
    bad = {a[:1].lower() for a in avoid}
    seen = set(used)
    for letter, words in sorted(by_letter.items(), key=lambda kv: -len(kv[1])):
        if letter in bad:
            continue
        fresh = [w for w in words if w not in seen] + [w for w in words if w in seen]
        if len(set(fresh)) >= min(k, 2):
            return [fresh[i % len(fresh)] for i in range(k)]
    raise Clash("alliteration_exhausted")


def padding(deficit: int, sizes: Iterable[int], gap: int) -> list[int] | None:
    """Word lengths that, each plus ``gap`` for its space, add up to exactly ``deficit`` (fewest words,
    longest first), or None."""
    steps = sorted({n + gap for n in sizes if n + gap > 0}, reverse=True)
    best: dict[int, list[int]] = {0: []}
    for total in range(1, deficit + 1):
        options = [best[total - k] + [k - gap] for k in steps if total - k in best]
        if options:
            best[total] = min(options, key=len)
    return best.get(deficit)


def word_source(bank: Sequence[str], used: Iterable[str], gap: int) -> Callable[[int], str]:
    """``fresh(n)``: a bank word of ``n`` characters, one not used yet while there are any."""
    seen = set(used)
    pools: dict[int, list[str]] = {}
    for w in bank:
        if " " not in w and (gap or not w.isascii()):
            pools.setdefault(len(w), []).append(w)

    def fresh(n: int) -> str:
        pool = pools[n]
        word = next((w for w in pool if w not in seen), pool[len(seen) % len(pool)])
        seen.add(word)
        return word

    return fresh


# ----------------------------------------------------------------------------------- trigram share


def _trigrams(s: str) -> set[str]:
    return {s[i : i + 3] for i in range(len(s) - 2)}


def overlap_share(text: str, reference: str) -> float:
    """ratio:overlap's measure: the percentage of the text's distinct character trigrams in the reference."""
    mine = _trigrams(text)
    return 100 * len(mine & _trigrams(reference)) / len(mine) if mine else 0.0


_SPAN = {"zh": re.compile(r"[\u4e00-\u9fff]+"), "en": re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*")}
_UNIT = {"zh": re.compile(r"[\u4e00-\u9fff]"), "en": re.compile(r"[A-Za-z]+")}


def reference_units(reference: str, lang: str) -> list[str]:
    """The reference's words (its characters in Chinese), punctuation left out: copying the first k of
    them in order keeps nearly every trigram of the copy inside the reference."""
    return _UNIT["zh" if lang == "zh" else "en"].findall(reference)


def reference_spans(reference: str, lang: str) -> list[str]:
    """The reference's runs of words (of CJK characters in Chinese) between punctuation marks."""
    return _SPAN["zh" if lang == "zh" else "en"].findall(reference)


def novel_words(bank: Sequence[str], reference: str, lang: str) -> list[str]:
    """Bank words none of whose trigrams (with the spaces around them) occur in the reference."""
    ref = _trigrams(reference)
    pad = "" if lang == "zh" else " "
    return [w for w in bank if not (_trigrams(f"{pad}{w}{pad}") & ref)] or list(bank)


def tune(render: Callable[[int, int], str], n_units: int, reference: str, percentage: float) -> str:
    """``render(k, m)``: the answer with the reference's first ``k`` units copied in and ``m`` new words
    added. The answer whose trigram share is within ±2 of ``percentage``: new words until the share
    without a copy is low enough, then the shortest copy that reaches the band (found by bisection, the
    share growing with the copy); one more new word when a single unit jumps over the band."""
    def share(k: int, m: int) -> tuple[float, str]:
        text = render(k, m)
        return overlap_share(text, reference), text

    for m in range(40):
        low, text = share(0, m)
        if low > percentage + 2:
            continue
        if low >= percentage - 2:
            return text
        high, text = share(n_units, m)
        if high < percentage - 2:
            break  # the whole reference copied is not enough: new words only lower the share
        lo, hi = 0, n_units  # share(lo) < band <= share(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if share(mid, m)[0] < percentage - 2:
                lo = mid
            else:
                hi = mid
        value, text = share(hi, m)
        if value <= percentage + 2:
            return text
    raise Clash("overlap_out_of_reach")
