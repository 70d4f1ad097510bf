"""Token buckets per (seller account, operation) with SP-API's default usage plans."""

from __future__ import annotations

from dataclasses import dataclass

# operation -> (rate in requests per second, burst); the default usage plans printed in the models.
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "getListingsItem": (5.0, 10),
    "putListingsItem": (5.0, 10),
    "patchListingsItem": (5.0, 5),
    "deleteListingsItem": (5.0, 5),
    "searchListingsItems": (5.0, 5),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeeds": (0.0222, 10),
    "cancelFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    "getMarketplaceParticipations": (0.016, 15),
    "getAccount": (0.016, 15),
}


@dataclass
class Bucket:
    rate: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    def __init__(self) -> None:
        self.enabled = True
        self.overrides: dict[str, tuple[float, int]] = {}
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def plan(self, operation: str) -> tuple[float, int]:
        return self.overrides.get(operation) or USAGE_PLANS[operation]

    def allow(self, account: str, operation: str, now: float) -> bool:
        if not self.enabled:
            return True
        rate, burst = self.plan(operation)
        bucket = self._buckets.get((account, operation))
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            bucket = self._buckets[(account, operation)] = Bucket(rate, burst, float(burst), now)
        return bucket.take(now)

    def reset(self) -> None:
        self._buckets.clear()
