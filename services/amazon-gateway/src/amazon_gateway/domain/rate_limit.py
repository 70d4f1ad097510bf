"""Token buckets per (account, operation), seeded with Amazon's published default usage plans.

The rate is a refill rate in requests per second and the burst is the bucket size. Amazon may grant a
seller more; the limit actually applied comes back in `x-amzn-RateLimit-Limit` and replaces the rate.
Time is passed in (seconds on a monotonic clock) so the buckets are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


@dataclass(frozen=True)
class UsagePlan:
    rate_per_s: Decimal
    burst: int


def _plan(rate: str, burst: int) -> UsagePlan:
    return UsagePlan(Decimal(rate), burst)


PUBLISHED_USAGE_PLANS: dict[str, UsagePlan] = {
    # Listings Items 2021-08-01
    "getListingsItem": _plan("5", 10),
    "putListingsItem": _plan("5", 10),
    "patchListingsItem": _plan("5", 5),
    "deleteListingsItem": _plan("5", 5),
    "searchListingsItems": _plan("5", 5),
    # Feeds 2021-06-30
    "createFeedDocument": _plan("0.5", 15),
    "createFeed": _plan("0.0083", 15),
    "getFeed": _plan("2", 15),
    "getFeeds": _plan("0.0222", 10),
    "cancelFeed": _plan("2", 15),
    "getFeedDocument": _plan("0.0222", 10),
    # Orders v0
    "getOrders": _plan("0.0167", 20),
    "getOrderItems": _plan("0.5", 30),
    "confirmShipment": _plan("2", 10),
    # Sellers v1
    "getMarketplaceParticipations": _plan("0.016", 15),
    # Reports 2021-06-30 (the merchant listings report of the listing import)
    "createReport": _plan("0.0167", 15),
    "getReport": _plan("2", 15),
    "getReportDocument": _plan("0.0167", 15),
}

RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"
# A bucket a rounding error short of a token has one; the shortest wait asked of a caller.
_EPSILON = 1e-9
MIN_WAIT_S = 0.001


class UnknownOperation(KeyError):
    """An operation with no published usage plan and no default was asked for."""


class TokenBucket:
    """Allows `burst` calls at once, then `rate_per_s` calls per second."""

    def __init__(self, rate_per_s: Decimal | float, burst: int, *, now: float | None = None) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._burst = burst
        self._rate = self._positive(rate_per_s)
        self._tokens = float(burst)
        self._updated_at = now

    @staticmethod
    def _positive(rate: Decimal | float) -> float:
        value = float(rate)
        if not value > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        return value

    @property
    def rate_per_s(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    def _refill(self, now: float) -> None:
        if self._updated_at is None:
            self._updated_at = now
        if now <= self._updated_at:
            return
        self._tokens = min(float(self._burst), self._tokens + (now - self._updated_at) * self._rate)
        self._updated_at = now

    def try_take(self, now: float) -> float:
        """Take one token: 0.0 when allowed, else the seconds to wait before one is available."""
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        # Never a wait too small to move a float clock: the caller would ask again at the same instant forever.
        return max((1.0 - self._tokens) / self._rate, MIN_WAIT_S)

    def adjust(self, rate: Decimal | float | str) -> None:
        """Apply the rate Amazon reported for this caller (tokens already earned are kept)."""
        self._rate = self._positive(Decimal(rate) if isinstance(rate, str) else rate)


def parse_rate_limit_header(value: str | None) -> Decimal | None:
    """The rate from an `x-amzn-RateLimit-Limit` value, or None when absent or unusable."""
    if value is None:
        return None
    try:
        rate = Decimal(value.strip())
    except InvalidOperation:
        return None
    return rate if rate.is_finite() and rate > 0 else None


class RateLimits:
    """One bucket per (account_id, operation), created from the published plan on first use."""

    def __init__(
        self,
        plans: dict[str, UsagePlan] | None = None,
        *,
        default: UsagePlan | None = None,
    ) -> None:
        self._plans = dict(PUBLISHED_USAGE_PLANS if plans is None else plans)
        self._default = default
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def plan(self, operation: str) -> UsagePlan:
        plan = self._plans.get(operation, self._default)
        if plan is None:
            raise UnknownOperation(operation)
        return plan

    def bucket(self, account_id: str, operation: str) -> TokenBucket:
        key = (account_id, operation)
        bucket = self._buckets.get(key)
        if bucket is None:
            plan = self.plan(operation)
            bucket = self._buckets[key] = TokenBucket(plan.rate_per_s, plan.burst)
        return bucket

    def try_take(self, account_id: str, operation: str, now: float) -> float:
        return self.bucket(account_id, operation).try_take(now)

    def observe_header(self, account_id: str, operation: str, header_value: str | None) -> None:
        """Adopt the rate from a response's `x-amzn-RateLimit-Limit` header, if it carried one."""
        rate = parse_rate_limit_header(header_value)
        if rate is not None:
            self.bucket(account_id, operation).adjust(rate)
