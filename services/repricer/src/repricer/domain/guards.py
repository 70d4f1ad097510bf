"""Protections on the final price against runaway moves and price wars (field lessons §2.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.events import PriceTraceStep
from contracts.money import Money
from repricer.domain.amounts import decreased, increased, rounded
from repricer.domain.settings import PriceGuards


class PriceChange(BaseModel):
    """One price the repricer sent for this listing, and the competitor it reacted to."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    at: AwareDatetime
    old_price: Money | None
    new_price: Money
    competitor_seller_id: str | None = None

    @property
    def is_cut(self) -> bool:
        return (
            self.old_price is not None
            and self.old_price.currency == self.new_price.currency
            and self.new_price.amount < self.old_price.amount
        )


class PriceHistory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    live_price: Money | None = Field(default=None, description="The price Amazon shows now, if known")
    changes: list[PriceChange] = Field(default=[], description="Recent changes, any order")

    def current(self) -> Money | None:
        if self.live_price is not None:
            return self.live_price
        latest = max(self.changes, key=lambda c: c.at, default=None)
        return latest.new_price if latest else None

    def cuts_against(self, seller_id: str, since: datetime) -> int:
        return sum(
            1 for c in self.changes if c.at > since and c.competitor_seller_id == seller_id and c.is_cut
        )


@dataclass(frozen=True)
class Band:
    floor: Decimal | None
    ceiling: Decimal | None

    def clamp(self, amount: Decimal) -> Decimal:
        if self.floor is not None:
            amount = max(amount, self.floor)
        if self.ceiling is not None:
            amount = min(amount, self.ceiling)
        return amount


@dataclass
class Guarded:
    amount: Decimal
    currency: str
    send: bool = True
    held: str | None = None
    trace: list[PriceTraceStep] = field(default_factory=list)

    def note(self, detail: str) -> None:
        price = Money(amount=self.amount, currency=self.currency)
        self.trace.append(PriceTraceStep(step="guard", detail=detail, price=price))


def guard(
    amount: Decimal,
    currency: str,
    guards: PriceGuards,
    history: PriceHistory,
    band: Band,
    competitor_seller_id: str | None,
    now: datetime,
) -> Guarded:
    live = history.current()
    current = live.amount if live is not None and live.currency == currency else None
    out = Guarded(amount, currency)
    if guards.limit_step and current:
        _limit_step(out, current, guards.max_step_percent)
    if guards.detect_price_war and current is not None and competitor_seller_id is not None:
        _hold_in_price_war(out, current, guards, history, competitor_seller_id, now)
    if guards.enforce_band:
        _keep_in_band(out, band)
    if out.amount <= 0:
        out.send, out.held = False, out.held or "the price would not be positive"
        out.note(out.held)
    elif current is not None:
        _send_only_changes(out, current, guards)
    return out


def _limit_step(out: Guarded, current: Decimal, max_percent: Decimal) -> None:
    highest = rounded(increased(current, max_percent), out.currency)
    lowest = rounded(decreased(current, max_percent), out.currency)
    limited = min(max(out.amount, lowest), highest)
    if limited != out.amount:
        wanted, out.amount = out.amount, limited
        out.note(f"max step {max_percent} % from the live price {current}: {wanted} limited to {limited}")


def _hold_in_price_war(
    out: Guarded, current: Decimal, guards: PriceGuards, history: PriceHistory, seller: str, now: datetime
) -> None:
    if out.amount >= current:
        return
    cuts = history.cuts_against(seller, now - guards.price_war_window)
    if cuts >= guards.price_war_undercuts:
        wanted, out.amount = out.amount, current
        out.held = (
            f"price war with seller {seller}: {cuts} cuts within {guards.price_war_window};"
            f" holding {current} instead of {wanted}"
        )
        out.note(out.held)


def _keep_in_band(out: Guarded, band: Band) -> None:
    clamped = band.clamp(out.amount)
    if clamped != out.amount:
        wanted, out.amount = out.amount, clamped
        out.note(f"band [{band.floor}, {band.ceiling}]: {wanted} clamped to {clamped}")


def _send_only_changes(out: Guarded, current: Decimal, guards: PriceGuards) -> None:
    change = abs(out.amount - current)
    if change == 0:
        out.send = False
        out.note(f"unchanged from the live price {current}; nothing to send")
    elif guards.skip_small_changes and change < guards.min_change_amount:
        out.send = False
        out.note(f"change {change} is below the minimum {guards.min_change_amount}; not sent")
