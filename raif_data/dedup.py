"""Exact and near-duplicate detection for streams of prompts in fixed memory.

Near duplicates: MinHash signatures (datasketch) cut into LSH bands; a prompt whose band hashes were
seen before is a near duplicate. Seen keys live in a Bloom filter sized once for ``capacity`` prompts,
so memory does not grow with the stream (a false positive only costs one prompt, deterministically).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib

import numpy as np
from datasketch import MinHash

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def normalize(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used for exact duplicates."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def shingles(text: str, n: int) -> list[bytes]:
    """Word n-grams; CJK characters count as words (Chinese has no spaces)."""
    tokens: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text).lower()):
        if _CJK.search(word):
            tokens.extend(word)
        else:
            tokens.append(word)
    if len(tokens) <= n:
        return [" ".join(tokens).encode()] if tokens else [b""]
    return [" ".join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)]


class BloomFilter:
    """A fixed-size Bloom filter (double hashing); ``add`` takes bytes keys, ``add_hashes`` takes pairs of
    64-bit hashes as numpy arrays and checks many keys in a few vectorised steps."""

    def __init__(self, capacity: int, bits_per_key: int = 16):
        self.m = max(64, capacity * bits_per_key)
        self.k = max(1, round(bits_per_key * 0.693))
        self.bits = np.zeros((self.m + 7) // 8, dtype=np.uint8)
        self._steps = np.arange(self.k, dtype=np.uint64)

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

    def add_hashes(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """Insert keys given by hash pairs (uint64 arrays); per key, whether it was present already."""
        with np.errstate(over="ignore"):
            pos = (h1[:, None] + self._steps[None, :] * (h2[:, None] | np.uint64(1))) % np.uint64(self.m)
        byte = (pos >> np.uint64(3)).astype(np.int64)
        mask = (np.uint8(1) << (pos & np.uint64(7)).astype(np.uint8)).astype(np.uint8)
        present = np.all(self.bits[byte] & mask, axis=1)
        np.bitwise_or.at(self.bits, byte.ravel(), mask.ravel())
        return present


def _crc32(data: bytes) -> int:
    return zlib.crc32(data)


class Deduplicator:
    """Streaming exact + near-duplicate filter: ``seen(text)`` says why a text is a duplicate, or None."""

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
        self.filter = BloomFilter(max(1, capacity * keys_per_item))
        # fixed permutations (seed 1): signatures, and hence verdicts, are identical on every run
        self._minhash = MinHash(num_perm=num_perm, seed=1, hashfunc=_crc32)
        # two fixed odd multipliers per row fold a band's row values into a pair of 64-bit hashes
        rng = np.random.default_rng(12345)
        self._mul = rng.integers(1, 2**63, size=(2, self.rows), dtype=np.uint64) | np.uint64(1)
        self._salt = rng.integers(1, 2**63, size=(2, bands), dtype=np.uint64)

    def signature(self, text: str) -> np.ndarray:
        m = self._minhash
        m.clear()
        m.update_batch(shingles(text, self.shingle))
        return m.hashvalues.copy()

    def band_hashes(self, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = sig[: self.bands * self.rows].astype(np.uint64).reshape(self.bands, self.rows)
        with np.errstate(over="ignore"):
            h1 = (rows * self._mul[0]).sum(axis=1, dtype=np.uint64) ^ self._salt[0]
            h2 = (rows * self._mul[1]).sum(axis=1, dtype=np.uint64) ^ self._salt[1]
        return h1, h2

    def seen(self, text: str) -> str | None:
        """Record ``text``; return "exact" or "near" if it duplicates an earlier text, else None."""
        if self.exact:
            if self.filter.add(b"x" + hashlib.blake2b(normalize(text).encode(), digest_size=16).digest()):
                return "exact"
        if self.near:
            h1, h2 = self.band_hashes(self.signature(text))
            if self.filter.add_hashes(h1, h2).any():
                return "near"
        return None
