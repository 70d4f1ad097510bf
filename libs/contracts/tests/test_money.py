from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import Money, round_money
from contracts.money import minor_unit


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("10.005", "USD", "10.01"),
        ("10.004", "USD", "10.00"),
        ("-10.005", "EUR", "-10.01"),
        ("99.5", "JPY", "100"),
        ("1.0005", "KWD", "1.001"),
        ("31", "GBP", "31.00"),
    ],
)
def test_rounds_half_up_to_the_currency_minor_unit(amount: str, currency: str, expected: str) -> None:
    assert str(round_money(Decimal(amount), currency)) == expected


def test_float_amounts_are_refused() -> None:
    with pytest.raises(ValidationError, match="not a float"):
        Money(amount=19.99, currency="USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["usd", "US", "EURO", ""])
def test_currency_must_be_an_iso_code(currency: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount=Decimal("1"), currency=currency)


def test_nan_and_infinity_are_refused() -> None:
    with pytest.raises(ValidationError):
        Money(amount=Decimal("NaN"), currency="USD")


def test_amount_travels_as_a_string() -> None:
    assert Money(amount=Decimal("19.90"), currency="USD").model_dump(mode="json") == {
        "amount": "19.90", "currency": "USD",
    }


@given(
    st.decimals(min_value=-10**9, max_value=10**9, allow_nan=False, allow_infinity=False, places=6),
    st.sampled_from(["USD", "EUR", "JPY", "KWD", "GBP"]),
)
def test_rounding_is_idempotent_and_within_half_a_minor_unit(amount: Decimal, currency: str) -> None:
    rounded = round_money(amount, currency)
    assert round_money(rounded, currency) == rounded
    assert abs(rounded - amount) <= Decimal(1).scaleb(-minor_unit(currency)) / 2
    assert -rounded.as_tuple().exponent == minor_unit(currency)  # type: ignore[operator]


@pytest.mark.parametrize("amount", ["1E+2", "1e-7", "19,99", " 1", "+1", ".5"])
def test_only_plain_decimal_strings_are_accepted(amount: str) -> None:
    with pytest.raises(ValidationError, match="plain decimal"):
        Money(amount=amount, currency="USD")  # type: ignore[arg-type]


def test_exponent_decimals_are_written_plainly() -> None:
    assert Money(amount=Decimal("1E+2"), currency="USD").model_dump(mode="json")["amount"] == "100"
    assert Money(amount=Decimal("1E-7"), currency="USD").model_dump(mode="json")["amount"] == "0.0000001"
