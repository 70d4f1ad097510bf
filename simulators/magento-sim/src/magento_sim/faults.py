"""Fault injection: errors, latency, lost answers after a committed change, malformed bodies; seedable."""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, Field


class FaultSettings(BaseModel):
    seed: int | None = None
    error_rate: float = Field(0.0, ge=0, le=1)
    error_statuses: list[Literal[429, 500, 502, 503]] = Field(default_factory=lambda: [500, 503])
    latency_ms: float = Field(0.0, ge=0)
    latency_rate: float = Field(1.0, ge=0, le=1)
    # writes applied, then the answer is lost: the connection is closed, or the answer waits `timeout_delay_ms`
    timeout_after_commit_rate: float = Field(0.0, ge=0, le=1)
    timeout_mode: Literal["close", "delay"] = "close"
    timeout_delay_ms: float = Field(30_000, ge=0)
    malformed_rate: float = Field(0.0, ge=0, le=1)
    malformed_kinds: list[Literal["invalid_json", "schema"]] = Field(
        default_factory=lambda: ["invalid_json", "schema"])
    # restrict faults to these operations (operationIds of the model, e.g. GetV1Products); None: all of them
    operations: list[str] | None = None


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self.configure(FaultSettings(seed=seed))

    def configure(self, settings: FaultSettings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)

    def _applies(self, operation: str) -> bool:
        return self.settings.operations is None or operation in self.settings.operations

    def _roll(self, operation: str, rate: float) -> bool:
        return rate > 0 and self._applies(operation) and self.rng.random() < rate

    def error(self, operation: str) -> int | None:
        return self.rng.choice(self.settings.error_statuses) if self._roll(operation, self.settings.error_rate) \
            else None

    def latency(self, operation: str) -> float:
        s = self.settings
        return s.latency_ms / 1000.0 if s.latency_ms and self._roll(operation, s.latency_rate) else 0.0

    def lost_answer(self, operation: str) -> bool:
        return self._roll(operation, self.settings.timeout_after_commit_rate)

    def malformed(self, operation: str) -> str | None:
        return self.rng.choice(self.settings.malformed_kinds) if self._roll(operation, self.settings.malformed_rate) \
            else None
