"""Fault injection: errors, latency, malformed bodies and accepted-but-not-applied updates, from a seedable RNG."""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, Field


class FaultSettings(BaseModel):
    seed: int | None = None
    error_rate: float = Field(0.0, ge=0, le=1)
    error_statuses: list[Literal[500, 503]] = Field(default_factory=lambda: [500, 503])
    latency_ms: float = Field(0.0, ge=0)
    latency_rate: float = Field(1.0, ge=0, le=1)
    malformed_rate: float = Field(0.0, ge=0, le=1)
    malformed_kinds: list[Literal["invalid_json", "schema"]] = Field(
        default_factory=lambda: ["invalid_json", "schema"]
    )
    # put/patch/feed updates of purchasable_offer or fulfillment_availability answered ACCEPTED but dropped
    drop_update_rate: float = Field(0.0, ge=0, le=1)
    # restrict faults to these operationIds (None: every SP-API operation)
    operations: list[str] | None = None


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self.settings = FaultSettings(seed=seed)
        self.rng = random.Random(seed)

    def configure(self, settings: FaultSettings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)

    def _applies(self, operation: str) -> bool:
        ops = self.settings.operations
        return ops is None or operation in ops

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def error(self, operation: str) -> int | None:
        if self._applies(operation) and self._roll(self.settings.error_rate):
            return self.rng.choice(self.settings.error_statuses)
        return None

    def latency(self, operation: str) -> float:
        if self.settings.latency_ms and self._applies(operation) and self.rng.random() < self.settings.latency_rate:
            return self.settings.latency_ms / 1000.0
        return 0.0

    def malformed(self, operation: str) -> str | None:
        if self._applies(operation) and self._roll(self.settings.malformed_rate):
            return self.rng.choice(self.settings.malformed_kinds)
        return None

    def drop_update(self, operation: str) -> bool:
        return self._applies(operation) and self._roll(self.settings.drop_update_rate)
