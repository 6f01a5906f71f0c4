"""A least-recently-used cache for functions of one string, bounded by the characters it holds.

``functools.lru_cache`` bounds the number of entries only: 4,096 cached views of distinct 1 MB answers
held 2 GB. Here the total length of the cached strings is bounded, and a string longer than
``max_item_chars`` is computed every time instead of being cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class SizedCache(Generic[V]):
    """``cache(key)`` -> ``fn(key)``, remembered while the keys held total at most ``max_chars``
    characters (times ``weight``: what one character of key costs in the value, e.g. 8 loose variants)."""

    def __init__(self, fn: Callable[[str], V], max_chars: int, max_item_chars: int, weight: int = 1):
        self.fn, self.max_chars, self.max_item_chars, self.weight = fn, max_chars, max_item_chars, weight
        self._entries: OrderedDict[str, V] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.__doc__, self.__name__ = fn.__doc__, getattr(fn, "__name__", "cached")

    def __call__(self, key: str) -> V:
        # The hit path takes no lock: it runs for every check in RL, and each OrderedDict operation is
        # atomic under the GIL; an entry evicted between the two steps is simply not moved.
        entries = self._entries
        try:
            value = entries[key]
        except KeyError:
            pass
        else:
            try:
                entries.move_to_end(key)
            except KeyError:
                pass
            return value
        value = self.fn(key)
        size = len(key) * self.weight
        if len(key) > self.max_item_chars:
            return value
        with self._lock:
            if key not in self._entries:
                self._entries[key] = value
                self._chars += size
                while self._chars > self.max_chars and self._entries:
                    old, _ = self._entries.popitem(last=False)
                    self._chars -= len(old) * self.weight
        return value

    @property
    def chars(self) -> int:
        """Characters held now (weighted)."""
        return self._chars

    def __len__(self) -> int:
        return len(self._entries)

    def cache_clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0


def sized_cache(max_chars: int, max_item_chars: int, weight: int = 1) -> Callable[[Callable[[str], V]], SizedCache[V]]:
    """Decorator form of :class:`SizedCache`."""
    return lambda fn: SizedCache(fn, max_chars, max_item_chars, weight)
