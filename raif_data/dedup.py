"""Exact and near-duplicate detection for streams of prompts in fixed memory.

Near duplicates: MinHash signatures cut into LSH bands; a prompt whose band hashes were
seen before is a near duplicate. Seen keys live in a Bloom filter sized once for ``capacity`` prompts,
so memory does not grow with the stream (a false positive only costs one prompt, deterministically).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from itertools import accumulate

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def normalize(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used for exact duplicates."""
    return " ".join(_words(text))


def shingles(text: str, n: int) -> list[bytes]:
    """Word n-grams; CJK characters count as words (Chinese has no spaces)."""
    return _shingles_of(_words(text), n)


def _shingles_of(words: list[str], n: int) -> list[bytes]:
    tokens: list[str] = words
    if _CJK.search(" ".join(words)):  # most texts have no CJK character: their words are the tokens
        tokens = []
        for word in words:
            if _CJK.search(word):
                tokens.extend(word)
            else:
                tokens.append(word)
    if len(tokens) <= n:
        return [" ".join(tokens).encode()] if tokens else [b""]
    # each n-gram is a slice of the whole text encoded once: token k starts at byte starts[k]
    data = " ".join(tokens).encode()
    sizes = map(len, tokens) if len(data) == len(" ".join(tokens)) else (len(t.encode()) for t in tokens)
    starts = [0, *accumulate(size + 1 for size in sizes)]
    return [data[starts[k] : starts[k + n] - 1] for k in range(len(tokens) - n + 1)]


class BloomFilter:
    """A fixed-size Bloom filter over byte keys, one key at a time (double hashing on a blake2b digest)."""

    def __init__(self, capacity: int, bits_per_key: int = 16):
        self.m = max(64, capacity * bits_per_key)
        self.k = max(1, round(bits_per_key * 0.693))
        self.bits = bytearray((self.m + 7) // 8)

    def _positions(self, key: bytes) -> list[int]:
        d = hashlib.blake2b(key, digest_size=16).digest()
        h1 = int.from_bytes(d[:8], "little")
        h2 = int.from_bytes(d[8:], "little") | 1
        m = self.m
        return [(h1 + i * h2) % m for i in range(self.k)]

    def __contains__(self, key: bytes) -> bool:
        bits = self.bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))

    def add(self, key: bytes) -> bool:
        """Insert ``key``; True if it was (probably) present already."""
        bits = self.bits
        present = True
        for p in self._positions(key):
            byte, mask = p >> 3, 1 << (p & 7)
            if not bits[byte] & mask:
                present = False
                bits[byte] |= mask
        return present


class BlockedBloom:
    """A fixed-size blocked Bloom filter: each key sets ``k`` bits inside one 64-bit word, so a batch of
    keys is tested and inserted in a few vectorised numpy steps (``add_hashes``)."""

    def __init__(self, capacity: int, bits_per_key: int = 16, k: int = 8):
        self.n = max(1, -(-capacity * bits_per_key // 64))
        self.k = k
        self.words = np.zeros(self.n, dtype=np.uint64)
        self._shifts = np.arange(k, dtype=np.uint64) * np.uint64(6)

    @staticmethod
    def _pair(key: bytes) -> tuple[np.ndarray, np.ndarray]:
        d = hashlib.blake2b(key, digest_size=16).digest()
        h = np.frombuffer(d, dtype="<u8")
        return h[:1], h[1:]

    def _where(self, h1: np.ndarray, h2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = (h1 % np.uint64(self.n)).astype(np.intp)
        bits = (h2[:, None] >> self._shifts[None, :]) & np.uint64(63)
        masks = np.bitwise_or.reduce(np.left_shift(np.uint64(1), bits), axis=1)
        return idx, masks

    def add_hashes(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """Insert the keys given by 64-bit hash pairs; per key, whether it was (probably) present."""
        idx, masks = self._where(h1, h2)
        present = (self.words[idx] & masks) == masks
        np.bitwise_or.at(self.words, idx, masks)  # two keys may share a word: accumulate
        return present

    def add(self, key: bytes) -> bool:
        """Insert ``key``; True if it was (probably) present already."""
        return bool(self.add_hashes(*self._pair(key))[0])


class Deduplicator:
    """Streaming exact + near-duplicate filter: ``seen(text)`` says why a text is a duplicate, or None.

    MinHash uses multiply-shift hashes of CRC-32 shingle hashes (one numpy expression per text); the
    permutations are fixed (seeded), so verdicts are identical on every run.
    """

    def __init__(
        self,
        *,
        exact: bool = True,
        near: bool = True,
        num_perm: int = 64,
        bands: int = 8,
        shingle: int = 3,
        capacity: int = 1_000_000,
    ):
        self.exact, self.near = exact, near
        self.bands, self.rows, self.shingle = bands, num_perm // bands, shingle
        keys_per_item = (bands if near else 0) + (1 if exact else 0)
        self.filter = BlockedBloom(max(1, capacity * keys_per_item))
        rng = np.random.default_rng(20251)
        self._a = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
        self._b = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True)
        # two fixed odd multipliers per row fold a band's row values into a pair of 64-bit hashes
        self._mul = rng.integers(1, 2**63, size=(2, self.rows), dtype=np.uint64) | np.uint64(1)
        self._salt = rng.integers(1, 2**63, size=(2, bands), dtype=np.uint64)

    def signature(self, text: str) -> np.ndarray:
        """The MinHash signature (``num_perm`` values below 2**32) of the text's shingles."""
        sh = shingles(text, self.shingle)
        hv = np.fromiter((zlib.crc32(s) for s in sh), dtype=np.uint64, count=len(sh))
        with np.errstate(over="ignore"):
            return ((hv[:, None] * self._a[None, :] + self._b[None, :]) >> np.uint64(32)).min(axis=0)

    def band_hashes(self, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = sig[: self.bands * self.rows].reshape(self.bands, self.rows)
        with np.errstate(over="ignore"):
            h1 = (rows * self._mul[0]).sum(axis=1, dtype=np.uint64) ^ self._salt[0]
            h2 = (rows * self._mul[1]).sum(axis=1, dtype=np.uint64) ^ self._salt[1]
        return h1, h2

    def seen_batch(self, texts: list[str]) -> list[str | None]:
        """``seen`` for many texts at once, in order (a text duplicating an earlier one of the same
        batch is caught too); one set of numpy operations per batch instead of per text."""
        if not texts:
            return []
        if not (self.exact or self.near):
            return [None] * len(texts)
        h1s, h2s = [], []
        words = [_words(t) for t in texts]
        if self.exact:
            digests = b"".join(hashlib.blake2b(b"x" + " ".join(w).encode(), digest_size=16).digest() for w in words)
            pairs = np.frombuffer(digests, dtype="<u8").reshape(len(texts), 2)
            h1s.append(pairs[:, :1])
            h2s.append(pairs[:, 1:])
        if self.near:
            shs = [_shingles_of(w, self.shingle) for w in words]
            lengths = np.fromiter((len(s) for s in shs), dtype=np.intp, count=len(shs))
            hv = np.fromiter((zlib.crc32(x) for s in shs for x in s), dtype=np.uint64, count=int(lengths.sum()))
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            with np.errstate(over="ignore"):
                phv = np.multiply.outer(hv, self._a)  # in place from here: the array is large
                phv += self._b
                phv >>= np.uint64(32)
                sig = np.minimum.reduceat(phv, starts, axis=0)
                rows = sig[:, : self.bands * self.rows].reshape(len(texts), self.bands, self.rows)
                h1s.append((rows * self._mul[0]).sum(axis=2, dtype=np.uint64) ^ self._salt[0])
                h2s.append((rows * self._mul[1]).sum(axis=2, dtype=np.uint64) ^ self._salt[1])
        h1, h2 = np.concatenate(h1s, axis=1), np.concatenate(h2s, axis=1)
        n_items, per = h1.shape
        idx, masks = self.filter._where(h1.ravel(), h2.ravel())
        present = (self.filter.words[idx] & masks) == masks
        # keys repeated inside this batch: every occurrence after the first counts as seen (a stable
        # sort keeps equal keys in batch order, so each run's first is the earliest)
        order = np.lexsort((masks, idx))
        s_idx, s_masks = idx[order], masks[order]
        again = (s_idx[1:] == s_idx[:-1]) & (s_masks[1:] == s_masks[:-1])
        present[order[1:][again]] = True
        np.bitwise_or.at(self.filter.words, idx, masks)
        present = present.reshape(n_items, per)
        exact = present[:, 0].tolist() if self.exact else [False] * n_items
        near = present[:, 1 if self.exact else 0 :].any(axis=1).tolist() if self.near else [False] * n_items
        return ["exact" if e else "near" if n else None for e, n in zip(exact, near, strict=True)]

    def seen(self, text: str) -> str | None:
        """Record ``text``; return "exact" or "near" if it duplicates an earlier text, else None."""
        h1s, h2s = [], []
        if self.exact:
            e1, e2 = BlockedBloom._pair(b"x" + normalize(text).encode())
            h1s.append(e1)
            h2s.append(e2)
        if self.near:
            b1, b2 = self.band_hashes(self.signature(text))
            h1s.append(b1)
            h2s.append(b2)
        if not h1s:
            return None
        present = self.filter.add_hashes(np.concatenate(h1s), np.concatenate(h2s))
        if self.exact and present[0]:
            return "exact"
        if self.near and present[1 if self.exact else 0 :].any():
            return "near"
        return None
