"""Decimal inputs, their bounds, and the percentage arithmetic every pricing step shares."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, Field

from contracts.money import round_money
from repricer.domain.errors import PriceOutOfRange

HUNDRED = Decimal(100)

MAX_AMOUNT = 1_000_000_000
"""The largest money amount or price accepted anywhere in the configuration or a simulation."""
AMOUNT_PLACES = 6
"""Decimal places of an amount or percentage: what Commerce keeps (decimal(20,6))."""
MAX_PERCENT = 1000
"""The largest percentage where more than 100 % makes sense (an increase, a collectible's variance)."""
MIN_RATE = Decimal("0.000001")
MAX_RATE = 1_000_000
"""A currency rate and its inverse both stay within [MIN_RATE, MAX_RATE]."""
RATE_PLACES = 10
MAX_COMPUTED = Decimal(10) ** 18
"""The largest amount a pricing step may yield; far above MAX_AMOUNT converted at MAX_RATE with VAT
and a MAX_PERCENT increase, and far below what the Decimal context (28 digits) still rounds."""


def _decimal_from_input(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError(f"must be a number, got {value!r}") from None
    return value


NonNegativeDecimal = Annotated[Decimal, Field(allow_inf_nan=False, ge=0), BeforeValidator(_decimal_from_input)]
"""Any finite non-negative decimal: a Commerce attribute value, which may be no price at all
(an EAN, a weight). The engine refuses to price from one above MAX_AMOUNT."""

Amount = Annotated[
    Decimal,
    Field(allow_inf_nan=False, ge=0, le=MAX_AMOUNT, decimal_places=AMOUNT_PLACES),
    BeforeValidator(_decimal_from_input),
]
"""A money amount or price, 0 to 1,000,000,000 with at most 6 decimal places; text such as 'abc'
is rejected, a float goes through its shortest text."""

Percent = Annotated[
    Decimal,
    Field(allow_inf_nan=False, ge=0, le=MAX_PERCENT, decimal_places=AMOUNT_PLACES),
    BeforeValidator(_decimal_from_input),
]
"""A percentage that may exceed 100: 0 to 1000 with at most 6 decimal places."""

SharePercent = Annotated[
    Decimal,
    Field(allow_inf_nan=False, ge=0, le=100, decimal_places=AMOUNT_PLACES),
    BeforeValidator(_decimal_from_input),
]
"""A share of a price (VAT, a discount): 0 to 100 with at most 6 decimal places."""

Rate = Annotated[
    Decimal,
    Field(allow_inf_nan=False, ge=MIN_RATE, le=MAX_RATE, decimal_places=RATE_PLACES),
    BeforeValidator(_decimal_from_input),
]
"""A currency rate: 0.000001 to 1,000,000 with at most 10 decimal places."""


def percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * percent / HUNDRED


def increased(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * (HUNDRED + percent) / HUNDRED


def decreased(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * (HUNDRED - percent) / HUNDRED


def rounded(amount: Decimal, currency: str) -> Decimal:
    """Rounded to the currency's minor unit; PriceOutOfRange beyond MAX_COMPUTED (rules compounding,
    a competitor's absurd price), where rounding would fail."""
    if not amount.is_finite() or abs(amount) > MAX_COMPUTED:
        raise PriceOutOfRange(f"a pricing step gives {amount:.3E} {currency}, beyond any price (10^18)")
    return round_money(amount, currency)
