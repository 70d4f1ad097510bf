"""Decimal inputs and the percentage arithmetic every pricing step shares."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, Field

from contracts.money import round_money

HUNDRED = Decimal(100)


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


Amount = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_input),
    Field(allow_inf_nan=False, ge=0),
]
"""A non-negative decimal; text such as 'abc' is rejected, a float goes through its shortest text."""


def percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * percent / HUNDRED


def increased(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * (HUNDRED + percent) / HUNDRED


def decreased(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * (HUNDRED - percent) / HUNDRED


def rounded(amount: Decimal, currency: str) -> Decimal:
    return round_money(amount, currency)
