"""aiokafka's default partitioner with the key hashes remembered.

The default partitioner hashes every key with murmur2 (as Kafka's Java client does, so every
producer agrees where a key goes) in pure Python. An outbox relays several events per key (a
listing's price, its update request, its competition), over and over, so the hash of a key is
kept and the partition chosen exactly as the default one would.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner, murmur2

KEYS_KEPT = 100_000


class CachingPartitioner:
    def __init__(self, keys_kept: int = KEYS_KEPT) -> None:
        self.keys_kept = keys_kept
        self._hashes: dict[bytes, int] = {}
        self._default = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return self._default(key, all_partitions, available)
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.keys_kept:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]
