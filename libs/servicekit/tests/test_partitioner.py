"""The caching partitioner sends every key where aiokafka's default partitioner does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from servicekit.partitioner import CachingPartitioner


@given(st.lists(st.binary(min_size=0, max_size=60), min_size=1, max_size=50), st.integers(1, 64))
def test_same_partition_as_the_default_partitioner(keys: list[bytes], count: int) -> None:
    partitions = list(range(count))
    cached = CachingPartitioner(keys_kept=7)
    for key in keys + keys:
        assert cached(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)
    assert len(cached._hashes) <= 7


def test_a_key_hashed_once_and_no_key_spread_over_available_partitions() -> None:
    cached = CachingPartitioner()
    assert cached(b"acct|ATVPDKIKX0DER|SKU-1", [0, 1, 2], [0, 1, 2]) == cached(b"acct|ATVPDKIKX0DER|SKU-1", [0, 1, 2], [])
    assert list(cached._hashes) == [b"acct|ATVPDKIKX0DER|SKU-1"]
    assert {cached(None, [0, 1, 2], [1]) for _ in range(20)} == {1}
