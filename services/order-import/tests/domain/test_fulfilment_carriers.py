"""Commerce's tracking carriers as Amazon's carrier codes, and cancellation reasons by code or display name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_import.domain.fulfilment import (
    AMAZON_CARRIERS,
    OTHER,
    REASON_CODES,
    REASONS,
    Carrier,
    CarrierMissing,
    UnknownReason,
    amazon_carrier,
    display_name,
    reason_code,
)

AMAZON_CODES = {*AMAZON_CARRIERS.values(), OTHER}


@pytest.mark.parametrize(("commerce", "amazon"), [("ups", "UPS"), ("usps", "USPS"), ("fedex", "FedEx"), ("dhl", "DHL")])
def test_commerce_carriers_are_amazon_codes(commerce: str, amazon: str) -> None:
    assert amazon_carrier(commerce, "United Parcel Service") == Carrier(amazon)
    assert amazon_carrier(commerce, None) == Carrier(amazon)


def test_custom_track_is_other_named_by_its_title() -> None:
    assert amazon_carrier("custom", "Royal Mail") == Carrier(OTHER, "Royal Mail")
    assert amazon_carrier("custom", "  Hermes  ") == Carrier(OTHER, "Hermes")


def test_custom_track_titled_with_a_known_carrier_is_that_carrier() -> None:
    assert amazon_carrier("custom", "fedex") == Carrier("FedEx")
    assert amazon_carrier("custom", "UPS") == Carrier("UPS")


def test_a_third_party_carrier_is_other_named_by_title_else_by_code() -> None:
    assert amazon_carrier("ontrac", "OnTrac Ground") == Carrier(OTHER, "OnTrac Ground")
    assert amazon_carrier("ontrac", None) == Carrier(OTHER, "ontrac")


def test_amazon_codes_given_by_hand_are_kept() -> None:
    assert amazon_carrier("FedEx") == Carrier("FedEx")
    assert amazon_carrier("Other", "La Poste") == Carrier(OTHER, "La Poste")


@pytest.mark.parametrize(("code", "title"), [("custom", None), ("custom", "  "), ("Other", None), ("", None)])
def test_other_without_a_name_is_refused(code: str, title: str | None) -> None:
    with pytest.raises(CarrierMissing):
        amazon_carrier(code, title)


@given(code=st.sampled_from(sorted(AMAZON_CARRIERS)), upper=st.booleans(), pad=st.sampled_from(["", " ", "\t"]),
       title=st.none() | st.text(max_size=30))
def test_a_known_carrier_is_its_code_in_any_case_and_any_title(code: str, upper: bool, pad: str,
                                                                 title: str | None) -> None:
    given_code = pad + (code.upper() if upper else code) + pad
    assert amazon_carrier(given_code, title) == Carrier(AMAZON_CARRIERS[code])


@given(code=st.text(max_size=20), title=st.none() | st.text(max_size=40))
def test_every_carrier_is_an_amazon_code_and_other_always_has_a_name(code: str, title: str | None) -> None:
    try:
        carrier = amazon_carrier(code, title)
    except CarrierMissing:
        assert not (title or "").strip()
        return
    assert carrier.code in AMAZON_CODES
    if carrier.code == OTHER:
        assert carrier.name and carrier.name == carrier.name.strip()
    else:
        assert carrier.name is None


# ---------------------------------------------------------------- reasons


@pytest.mark.parametrize(("given_reason", "code"), [
    ("No Inventory", "NoInventory"), ("Buyer Cancelled", "BuyerCanceled"), ("General Adjustment", "GeneralAdjustment"),
    ("Shipping Address Undeliverable", "ShippingAddressUndeliverable"), ("Customer Exchange", "CustomerExchange"),
    ("NoInventory", "NoInventory"), ("BuyerCanceled", "BuyerCanceled"), ("Buyer Canceled", "BuyerCanceled"),
])
def test_reasons_by_code_or_display_name(given_reason: str, code: str) -> None:
    assert reason_code(given_reason) == code


@pytest.mark.parametrize("spelling", ["Pricing Error", "pricing error"])
def test_pricing_error_is_refused_with_what_to_do(spelling: str) -> None:
    with pytest.raises(UnknownReason, match="GeneralAdjustment"):
        reason_code(spelling)


def test_an_unknown_reason_lists_amazons_codes() -> None:
    with pytest.raises(UnknownReason, match="NoInventory"):
        reason_code("Changed my mind")


@given(code=st.sampled_from(REASON_CODES))
def test_every_reason_code_and_its_display_name_is_that_code(code: str) -> None:
    assert reason_code(code) == code
    assert reason_code(display_name(code)) == code
    assert display_name(code).replace(" ", "") == code


@given(text=st.text(max_size=40))
def test_a_reason_is_either_amazons_code_or_refused(text: str) -> None:
    try:
        code = reason_code(text)
    except UnknownReason:
        assert text not in REASONS
        return
    assert code in REASON_CODES
