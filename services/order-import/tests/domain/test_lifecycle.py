"""Amazon statuses never move backwards; Canceled and Error end an order; order of arrival does not matter."""

from __future__ import annotations

from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from order_import.domain.lifecycle import PROGRESS, TERMINAL, AmazonStatus, advance, rank

STATUSES = [s.value for s in AmazonStatus]


def test_rank_follows_the_lifecycle() -> None:
    assert [rank(s) for s in PROGRESS] == list(range(6))
    assert rank("Canceled") == rank("Error") > rank("Completed")


def test_a_later_status_replaces_an_earlier_one_and_not_the_reverse() -> None:
    assert advance("Pending", "Unshipped") == "Unshipped"
    assert advance("Shipped", "Unshipped") == "Shipped"
    assert advance("Unshipped", "Canceled") == "Canceled"
    assert advance("Canceled", "Shipped") == "Canceled"
    assert advance("Error", "Canceled") == "Error"
    assert advance("Unshipped", "InvoiceUnconfirmed") == "Unshipped"


@given(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=12), st.randoms())
def test_without_terminal_statuses_the_newest_known_is_the_highest_whatever_the_order(statuses, random) -> None:
    progress = [s for s in statuses if s not in TERMINAL] or ["Pending"]
    shuffled = progress[:]
    random.shuffle(shuffled)
    assert reduce(advance, shuffled) == reduce(advance, progress) == max(progress, key=rank)


@given(st.lists(st.sampled_from(STATUSES), min_size=2, max_size=12))
def test_status_never_regresses_and_terminal_is_final(statuses) -> None:
    current = statuses[0]
    for status in statuses[1:]:
        nxt = advance(current, status)
        assert rank(nxt) >= rank(current)
        if current in TERMINAL:
            assert nxt == current
        current = nxt
