"""encode writes exactly the bytes model_dump_json would, for every event type, full and minimal."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from test_schemas import ALL_EVENTS, EVENT_IDS, FULL, MINIMAL

from contracts import Money, decode, encode
from contracts.envelope import Event
from samples import product


@pytest.mark.parametrize("samples", [FULL, MINIMAL], ids=["full", "minimal"])
@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_encode_writes_exactly_what_model_dump_json_writes(
    cls: type[Event], samples: dict[type[Event], Callable[[], Event]]
) -> None:
    event = samples[cls]()
    assert encode(event) == event.model_dump_json(exclude_none=False).encode()
    assert decode(encode(event)) == event


def test_amounts_stay_plain_decimal_strings_on_the_wire() -> None:
    event = product(price="34.00").model_copy(update={"price": Money(amount=Decimal("1E+2"), currency="USD")})
    assert b'"price":{"amount":"100","currency":"USD"}' in encode(event)


@pytest.mark.parametrize("wire", [b'{"amount": 34.5, "currency": "USD"}', b'{"amount": true, "currency": "USD"}',
                                  b'{"amount": "1e3", "currency": "USD"}', b'{"amount": "", "currency": "USD"}',
                                  b'{"amount": "12.", "currency": "USD"}', b'{"amount": null, "currency": "USD"}'])
def test_amounts_refused_on_the_wire_say_what_is_accepted(wire: bytes) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"plain decimal such as '19\.99' or an integer, not a float"):
        Money.model_validate_json(wire)


def test_integer_and_plain_string_amounts_are_accepted_on_the_wire() -> None:
    assert Money.model_validate_json(b'{"amount": 34, "currency": "USD"}').amount == Decimal(34)
    assert Money.model_validate_json(b'{"amount": "-0.50", "currency": "USD"}').amount == Decimal("-0.50")
