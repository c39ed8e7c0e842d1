"""Bounded maps for per-host state that callers can make grow.

Every registry name a request carries (and every `*.localhost` or loopback port) is a new key,
so state kept per host must have a size bound: past it, the least recently used entries are
forgotten. Forgetting only costs a round trip (a 401 answered again, a scheme tried again).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")


class LruDict(Generic[K, V]):
    """A mapping of at most `limit` entries; reading or setting an entry makes it the newest."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("an LRU bound must be at least 1")
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: V) -> V: ...

    def get(self, key: K, default: V | None = None) -> V | None:
        try:
            self._items.move_to_end(key)
        except KeyError:
            return default
        return self._items[key]

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[K, V]]:
        """A snapshot, oldest first (safe to change the map while walking it)."""
        return list(self._items.items())


class LruSet(Generic[K]):
    """A set of at most `limit` members; adding or finding a member makes it the newest."""

    def __init__(self, limit: int) -> None:
        self._members: LruDict[K, None] = LruDict(limit)

    def add(self, member: K) -> None:
        self._members[member] = None

    def __contains__(self, member: K) -> bool:
        if member not in self._members:
            return False
        self._members.get(member)
        return True

    def __len__(self) -> int:
        return len(self._members)
