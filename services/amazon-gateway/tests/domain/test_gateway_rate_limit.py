from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_gateway.domain.rate_limit import (
    PUBLISHED_USAGE_PLANS,
    RateLimits,
    TokenBucket,
    UnknownOperation,
    UsagePlan,
    parse_rate_limit_header,
)


def test_a_full_bucket_allows_the_burst_then_asks_to_wait():
    bucket = TokenBucket(Decimal("5"), 5)
    assert [bucket.try_take(0.0) for _ in range(5)] == [0.0] * 5
    assert bucket.try_take(0.0) == pytest.approx(0.2)
    assert bucket.try_take(0.1) == pytest.approx(0.1)
    assert bucket.try_take(0.2) == 0.0


def test_the_bucket_never_holds_more_than_the_burst():
    bucket = TokenBucket(1, 2)
    bucket.try_take(0.0)
    assert [bucket.try_take(1000.0) for _ in range(3)][:2] == [0.0, 0.0]
    assert bucket.try_take(1000.0) > 0


def test_a_slow_operation_waits_about_a_minute_between_calls():
    bucket = TokenBucket(Decimal("0.0167"), 1)
    assert bucket.try_take(10.0) == 0.0
    assert bucket.try_take(10.0) == pytest.approx(1 / 0.0167)


def test_adjust_applies_the_rate_amazon_reported():
    bucket = TokenBucket(Decimal("0.0083"), 1)
    bucket.try_take(0.0)
    bucket.adjust("2")
    assert bucket.try_take(0.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        bucket.adjust(0)


def test_a_clock_going_backwards_earns_nothing():
    bucket = TokenBucket(1, 1)
    bucket.try_take(10.0)
    assert bucket.try_take(5.0) > 0


@pytest.mark.parametrize(
    ("operation", "rate", "burst"),
    [
        ("getListingsItem", "5", 10),
        ("patchListingsItem", "5", 5),
        ("searchListingsItems", "5", 5),
        ("createFeed", "0.0083", 15),
        ("createFeedDocument", "0.5", 15),
        ("getFeedDocument", "0.0222", 10),
        ("getOrders", "0.0167", 20),
        ("getOrderItems", "0.5", 30),
        ("confirmShipment", "2", 10),
        ("getMarketplaceParticipations", "0.016", 15),
    ],
)
def test_published_usage_plans(operation, rate, burst):
    assert PUBLISHED_USAGE_PLANS[operation] == UsagePlan(Decimal(rate), burst)


def test_buckets_are_per_account_and_operation():
    limits = RateLimits()
    for _ in range(5):
        assert limits.try_take("acct-1", "patchListingsItem", 0.0) == 0.0
    assert limits.try_take("acct-1", "patchListingsItem", 0.0) > 0
    assert limits.try_take("acct-2", "patchListingsItem", 0.0) == 0.0
    assert limits.try_take("acct-1", "getListingsItem", 0.0) == 0.0


def test_rate_limit_header_adjusts_the_account_bucket():
    limits = RateLimits()
    limits.observe_header("acct-1", "createFeed", "0.5")
    limits.observe_header("acct-1", "createFeed", "garbage")
    limits.observe_header("acct-1", "createFeed", None)
    assert limits.bucket("acct-1", "createFeed").rate_per_s == 0.5
    assert limits.bucket("acct-2", "createFeed").rate_per_s == pytest.approx(0.0083)


def test_header_parsing():
    assert parse_rate_limit_header(" 5.0 ") == Decimal("5.0")
    assert parse_rate_limit_header("0") is None
    assert parse_rate_limit_header("NaN") is None
    assert parse_rate_limit_header("abc") is None


def test_unknown_operations_need_a_default():
    with pytest.raises(UnknownOperation):
        RateLimits().bucket("a", "getSomethingNew")
    limits = RateLimits(default=UsagePlan(Decimal("1"), 1))
    assert limits.try_take("a", "getSomethingNew", 0.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    rate=st.decimals(min_value="0.005", max_value="20", places=4),
    burst=st.integers(min_value=1, max_value=30),
    steps=st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=200),
)
def test_never_more_takes_than_burst_plus_rate_times_elapsed(rate, burst, steps):
    bucket = TokenBucket(rate, burst)
    now = 0.0
    allowed = 0
    for step in steps:
        now += step
        if bucket.try_take(now) == 0.0:
            allowed += 1
    assert allowed <= burst + float(rate) * now + 1e-9


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(min_value=0.01, max_value=10), burst=st.integers(min_value=1, max_value=10))
def test_waiting_the_advised_time_is_enough(rate, burst):
    bucket = TokenBucket(rate, burst)
    for _ in range(burst):
        bucket.try_take(0.0)
    wait = bucket.try_take(0.0)
    assert wait > 0
    assert bucket.try_take(wait * (1 + 1e-9)) == 0.0


@given(rate=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("50"), places=4),
       burst=st.integers(1, 30), start=st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_a_caller_that_sleeps_what_it_is_told_always_gets_a_token(rate, burst, start) -> None:
    """Waiting exactly the answer and asking again ends with a token, on any float clock: no wait is too
    small to move the clock (a rounding error short of a token once made a caller spin forever)."""
    bucket = TokenBucket(rate, burst, now=start)
    now = start
    for _ in range(burst):
        assert bucket.try_take(now) == 0.0
    for _ in range(3):
        asks = 0
        while (wait := bucket.try_take(now)) > 0:
            assert now + wait > now
            now += wait
            asks += 1
            assert asks < 5
