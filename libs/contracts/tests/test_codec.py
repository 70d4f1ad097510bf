import json
import uuid

import pytest

from contracts import InvalidEvent, decode, encode
from contracts.events import ListingChanged, ProductChanged
from samples import product


def test_an_event_survives_the_wire() -> None:
    event = product()
    assert decode(encode(event)) == event


def test_new_starts_a_correlation_and_follow_ups_continue_it() -> None:
    first = product()
    assert first.correlation_id == first.event_id and first.causation_id is None
    second = ListingChanged.new(
        producer="catalog-sync", caused_by=first, account_id="a", marketplace_id="m", sku="s",
        product_sku="s", status="Ready to List", quantity=1, price=None, version=1, changes=[],
    )
    assert second.correlation_id == first.event_id
    assert second.causation_id == first.event_id


@pytest.mark.parametrize(
    ("raw", "kind", "names"),
    [
        (None, "empty", "no value"),
        (b"{not json", "malformed", "not valid JSON"),
        (b"\xff\xfe", "malformed", "not valid JSON"),
        (b"[1, 2]", "malformed", "JSON object"),
        (b'{"event_type": "ProductChanged"}', "envelope", "event_id"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(raw: bytes | None, kind: str, names: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(raw)
    assert err.value.kind == kind
    assert names in err.value.reason


def _wire(**changes: object) -> bytes:
    data = json.loads(encode(product()))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize("expected", [None, {"ProductChanged"}], ids=["any type", "the topic's one type"])
def test_each_missing_envelope_field_is_named(expected: set[str] | None) -> None:
    for field in ("event_id", "event_type", "producer", "occurred_at", "correlation_id", "schema_version"):
        with pytest.raises(InvalidEvent) as err:
            decode(_wire(**{field: None}), expected)
        assert err.value.kind == "envelope" and field in err.value.reason


def test_unknown_event_type() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(_wire(event_type="ProductExploded"))
    assert err.value.kind == "unknown_type" and "ProductExploded" in err.value.reason


def test_an_event_on_the_wrong_topic() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(encode(product()), expected={"ListingChanged"})
    assert err.value.kind == "unexpected_type"


def test_a_field_error_names_the_field() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(_wire(quantity=-1))
    assert err.value.kind == "invalid" and err.value.reason.startswith("quantity:")


def test_a_float_price_is_refused_on_the_wire() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(_wire(price={"amount": 34.0, "currency": "USD"}))
    assert "price.amount" in err.value.reason


def test_a_newer_schema_version_is_refused() -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(_wire(schema_version=ProductChanged.SCHEMA_VERSION + 1))
    assert "schema_version" in err.value.reason


def test_unknown_fields_are_ignored_so_producers_can_add_optional_ones_first() -> None:
    event = product()
    data = {**json.loads(encode(event)), "colour": "red"}
    assert decode(json.dumps(data).encode()) == event


def test_event_ids_are_unique() -> None:
    assert len({product().event_id for _ in range(100)}) == 100
    assert isinstance(product().event_id, uuid.UUID)
