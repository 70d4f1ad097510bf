"""Money as Decimal with the currency's own minor unit and half-up rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

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


PLAIN_DECIMAL = r"^-?\d+(\.\d+)?$"
AMOUNT_ERROR = "amount must be a plain decimal such as '19.99' or an integer, not a float"


def minor_unit(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit: 10.005 USD -> 10.01, 99.5 JPY -> 100."""
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP)


def _plain(amount: Decimal) -> str:
    return format(amount, "f")


class _Amount:
    """A Decimal that takes a Decimal, an integer or a plain decimal string (never a float, never
    '1E+2') and travels as a plain decimal string. Every check runs inside pydantic-core: an event
    carries dozens of amounts, and a Python validator per amount was a large share of decoding."""

    @staticmethod
    def __get_pydantic_core_schema__(source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        accepted = core_schema.union_schema(
            [core_schema.is_instance_schema(Decimal), core_schema.int_schema(strict=True),
             core_schema.str_schema(pattern=PLAIN_DECIMAL)],
            mode="left_to_right", custom_error_type="decimal_amount", custom_error_message=AMOUNT_ERROR,
        )
        return core_schema.chain_schema(
            [accepted, core_schema.decimal_schema(allow_inf_nan=False)],
            serialization=core_schema.plain_serializer_function_ser_schema(
                _plain, return_schema=core_schema.str_schema(), when_used="json"),
        )

    @staticmethod
    def __get_pydantic_json_schema__(schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        if handler.mode == "serialization":
            return handler(schema)
        return {"anyOf": [{"type": "number"}, {"type": "string"}]}


DecimalString = Annotated[Decimal, _Amount]


class Money(BaseModel):
    """An amount in one currency. On the wire the amount is a decimal string, never a float."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: DecimalString = Field(description="Decimal amount, as a string on the wire, e.g. '19.99'")
    currency: str = Field(
        description="ISO 4217 currency code, e.g. 'USD'", pattern=r"^[A-Z]{3}$"
    )

    def rounded(self) -> Money:
        return Money(amount=round_money(self.amount, self.currency), currency=self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
