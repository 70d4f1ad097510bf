"""Money as Decimal with the currency's own minor unit and half-up rounding."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

# ISO 4217 minor units for the currencies of Amazon's marketplaces; others default to 2.
MINOR_UNITS: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "HUF": 2,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
}


_PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


def minor_unit(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit: 10.005 USD -> 10.01, 99.5 JPY -> 100."""
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP)


DecimalString = Annotated[
    Decimal,
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    Field(allow_inf_nan=False),
]


class Money(BaseModel):
    """An amount in one currency. On the wire the amount is a decimal string, never a float."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: DecimalString = Field(description="Decimal amount, as a string on the wire, e.g. '19.99'")
    currency: str = Field(
        description="ISO 4217 currency code, e.g. 'USD'", pattern=r"^[A-Z]{3}$"
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _no_floats(cls, value: object) -> object:
        if isinstance(value, float):
            raise ValueError("amount must be a decimal string or integer, not a float")
        if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
            raise ValueError("amount must be a plain decimal such as '19.99'")
        return value

    def rounded(self) -> Money:
        return Money(amount=round_money(self.amount, self.currency), currency=self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
