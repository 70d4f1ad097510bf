"""Orders domain: which sightings are news, the polling window, order JSON as events, the bodies and documents
sent to Amazon, and reading its processing report. No I/O."""

import itertools
import json
import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from amazon_gateway.domain import orders as d
from contracts.events import OrderCancelRequested, ShipmentConfirmRequested

HERE = Path(__file__).parent
MODEL = HERE.parents[3] / "simulators/amazon-sim/src/amazon_sim/amazon_models/ordersV0.json"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
US = "ATVPDKIKX0DER"
STATUSES = ("Pending", "Unshipped", "PartiallyShipped", "Shipped", "Canceled")


def validator(definition: str) -> Draft7Validator:
    doc = json.loads(MODEL.read_text())
    return Draft7Validator({"definitions": doc["definitions"], "allOf": [{"$ref": f"#/definitions/{definition}"}]})


def order_json(order_id: str = "111-2222222-3333333", status: str = "Unshipped", updated: datetime = T0,
               **extra: object) -> dict:
    body = {"AmazonOrderId": order_id, "PurchaseDate": "2026-11-26T11:00:00Z", "LastUpdateDate": d.amazon_time(updated),
            "OrderStatus": status, "FulfillmentChannel": "MFN", "MarketplaceId": US,
            "OrderTotal": {"CurrencyCode": "USD", "Amount": "30.10"},
            "ShippingAddress": {"City": "Seattle", "PostalCode": "98109", "CountryCode": "US"}}
    return body | extra


ITEM = {"ASIN": "B000000001", "SellerSKU": "SKU-1", "OrderItemId": "40000000000001", "QuantityOrdered": 2,
        "QuantityShipped": 0, "ItemPrice": {"CurrencyCode": "USD", "Amount": "30.10"},
        "ItemTax": {"CurrencyCode": "USD", "Amount": "2.41"}}


# ---------------------------------------------------------------- window


def test_first_poll_looks_back_then_each_poll_overlaps_the_cursor() -> None:
    kw = {"overlap": timedelta(minutes=10), "first_lookback": timedelta(days=1), "max_lookback": timedelta(days=30)}
    assert d.window_start(None, T0, **kw) == T0 - timedelta(days=1)
    assert d.window_start(T0 - timedelta(hours=1), T0, **kw) == T0 - timedelta(hours=1, minutes=10)
    assert d.window_start(T0 - timedelta(days=90), T0, **kw) == T0 - timedelta(days=30)


def test_cursor_prefers_amazons_window_end_and_never_moves_back() -> None:
    assert d.next_cursor(None, T0, [T0 - timedelta(hours=1)]) == T0
    assert d.next_cursor(None, None, [T0 - timedelta(hours=1), T0 - timedelta(hours=2)]) == T0 - timedelta(hours=1)
    assert d.next_cursor(T0, T0 - timedelta(hours=1), []) == T0
    assert d.next_cursor(None, None, []) is None


@given(st.lists(st.datetimes(timezones=st.just(UTC)), max_size=5), st.none() | st.datetimes(timezones=st.just(UTC)),
       st.none() | st.datetimes(timezones=st.just(UTC)))
def test_cursor_is_monotone(seen: list[datetime], before: datetime | None, cursor: datetime | None) -> None:
    moved = d.next_cursor(cursor, before, seen)
    if cursor is not None:
        assert moved is not None and moved >= cursor


def test_restricted_data_tokens_are_dropped_a_margin_before_amazon_expires_them() -> None:
    assert d.token_usable_until(100.0, 3600) == 100.0 + 3540
    assert d.token_usable_until(100.0, 30) == 100.0  # too short to reuse
    # one token for getOrders itself, with the two data elements an OrderPlaced carries (checked against the
    # Tokens model's RestrictedResource)
    tokens = json.loads((MODEL.parent / "tokens_2021-03-01.json").read_text())
    resource = Draft7Validator({"definitions": tokens["definitions"],
                                "allOf": [{"$ref": "#/definitions/RestrictedResource"}]})
    assert all(resource.is_valid(r) for r in d.PII_RESOURCES)
    assert d.PII_RESOURCES == [{"method": "GET", "path": "/orders/v0/orders",
                                "dataElements": ["buyerInfo", "shippingAddress"]}]


# ---------------------------------------------------------------- decisions


def test_decisions() -> None:
    first = d.decide(None, "Pending", T0)
    assert first.change is d.Change.PLACED and first.state == d.Known("Pending", T0)
    same = d.decide(first.state, "Pending", T0 + timedelta(minutes=1))
    assert same.change is d.Change.NONE and same.state.last_update == T0 + timedelta(minutes=1)
    moved = d.decide(same.state, "Unshipped", T0 + timedelta(minutes=2))
    assert moved.change is d.Change.STATUS_CHANGED and moved.previous_status == "Pending"
    stale = d.decide(moved.state, "Pending", T0)
    assert stale.change is d.Change.NONE and stale.state == moved.state
    same_second = d.decide(d.Known("Shipped", T0), "Unshipped", T0)
    assert same_second.change is d.Change.NONE and same_second.state == d.Known("Shipped", T0)
    onward = d.decide(d.Known("Unshipped", T0), "Shipped", T0)
    assert onward.change is d.Change.STATUS_CHANGED and onward.previous_status == "Unshipped"


# A true history: per order, states at strictly increasing times; the same status may repeat (LastUpdateDate
# moves for other reasons), and a real change is a pair of consecutive states with different statuses.
histories = st.dictionaries(
    st.from_regex(r"[0-9]{3}-[0-9]{7}-[0-9]{7}", fullmatch=True),
    st.lists(st.sampled_from(STATUSES), min_size=1, max_size=5), min_size=1, max_size=6)


def timeline(history: dict[str, list[str]]) -> dict[str, list[d.Sighting]]:
    return {oid: [d.Sighting(oid, status, T0 + timedelta(minutes=n)) for n, status in enumerate(statuses)]
            for oid, statuses in history.items()}


def run_pages(pages: list[list[d.Sighting]]) -> list[tuple[d.Sighting, d.Decision]]:
    known: dict[str, d.Known] = {}
    news = []
    for page in pages:
        known, page_news = d.decide_all(known, page)
        news += page_news
    return news


def real_changes(states: list[d.Sighting]) -> int:
    return sum(1 for a, b in itertools.pairwise(states) if a.status != b.status)


@settings(max_examples=300, deadline=None)
@given(histories, st.data())
def test_any_interleaving_of_pages_announces_each_order_once_and_never_goes_back(history, data) -> None:
    states = timeline(history)
    everything = [s for ss in states.values() for s in ss]
    sightings = data.draw(st.lists(st.sampled_from(everything), min_size=1, max_size=40))  # repeats, any order
    cuts = sorted(data.draw(st.lists(st.integers(0, len(sightings)), max_size=6)))
    pages = [sightings[a:b] for a, b in zip([0, *cuts], [*cuts, len(sightings)], strict=True)]
    news = run_pages(pages)

    seen_orders = {s.order_id for s in sightings}
    placed = [s.order_id for s, dec in news if dec.change is d.Change.PLACED]
    assert sorted(placed) == sorted(seen_orders)  # one OrderPlaced per order, whatever the repeats
    for oid in seen_orders:
        mine = [(s, dec) for s, dec in news if s.order_id == oid]
        assert mine[0][1].change is d.Change.PLACED
        times = [s.last_update for s, _ in mine]
        assert times == sorted(set(times))  # never an older state, never the same state twice
        for (a, _), (b, dec) in itertools.pairwise(mine):
            assert dec.change is d.Change.STATUS_CHANGED and dec.previous_status == a.status != b.status
        assert len(mine) - 1 <= real_changes(states[oid])


@settings(max_examples=300, deadline=None)
@given(histories, st.data())
def test_polls_in_time_order_with_overlap_announce_every_real_change_exactly_once(history, data) -> None:
    """Each poll sees every order's state as of its time, re-reading an overlap of earlier polls, any number of
    times: one OrderPlaced per order and one OrderStatusChanged per real status change."""
    states = timeline(history)
    horizon = max(len(v) for v in history.values())
    pages = []
    for t in range(horizon):  # one poll per minute of the history, so every state is seen at least once
        overlap = data.draw(st.integers(0, 3))
        window = [s for ss in states.values() for s in ss[max(0, t - overlap): t + 1]]
        repeat = data.draw(st.integers(1, 2))
        for _ in range(repeat):
            pages.append(data.draw(st.permutations(window)))
    news = run_pages(pages)
    for oid, ss in states.items():
        mine = [dec for s, dec in news if s.order_id == oid]
        assert [m.change for m in mine].count(d.Change.PLACED) == 1
        assert [m.change for m in mine].count(d.Change.STATUS_CHANGED) == real_changes(ss)


# ---------------------------------------------------------------- order JSON -> events


def test_order_placed_maps_amazons_order_and_items_without_pii() -> None:
    event = d.order_placed(order_json(), [ITEM], account_id="acct", marketplace_id=US, producer="amazon-gateway")
    assert (event.amazon_order_id, event.order_status, event.fulfillment) == ("111-2222222-3333333", "Unshipped", "MFN")
    assert event.purchase_date == datetime(2026, 11, 26, 11, tzinfo=UTC)
    assert event.order_total is not None and event.order_total.amount == Decimal("30.10")
    line = event.lines[0]
    assert (line.order_item_id, line.sku, line.asin, line.quantity) == ("40000000000001", "SKU-1", "B000000001", 2)
    assert line.item_price.amount == Decimal("30.10") and line.item_tax and line.item_tax.amount == Decimal("2.41")
    assert event.buyer_email is None and event.shipping_address is None
    assert "Seattle" not in event.model_dump_json()  # getOrders' partial address is not copied


def restricted_order_json(**extra: object) -> dict:
    """An Order as getOrders gives it to a Restricted Data Token for buyerInfo and shippingAddress."""
    return order_json(
        BuyerInfo={"BuyerEmail": "abc@marketplace.amazon.com", "BuyerName": "Ada"},
        ShippingAddress={"Name": "Ada", "AddressLine1": "1 Main St", "AddressLine2": "Apt 2", "AddressLine3": "Rear",
                         "City": "Seattle", "StateOrRegion": "WA", "PostalCode": "98109", "CountryCode": "US",
                         "Phone": "+1 206-555-0100", "AddressType": "Residential"}, **extra)


def test_order_placed_with_the_pii_role_carries_buyer_and_address_from_the_order() -> None:
    order = restricted_order_json()
    assert not list(validator("Order").iter_errors(order))
    event = d.order_placed(order, [ITEM], account_id="acct", marketplace_id=US, producer="gw", buyer_data=True)
    assert event.buyer_email == "abc@marketplace.amazon.com"
    address = event.shipping_address
    assert address is not None
    assert (address.name, address.line1, address.line2, address.city, address.region, address.postal_code,
            address.country_code, address.phone) == ("Ada", "1 Main St", "Apt 2, Rear", "Seattle", "WA", "98109",
                                                     "US", "+1 206-555-0100")


def test_buyer_data_is_copied_only_when_the_order_was_read_for_it() -> None:
    event = d.order_placed(restricted_order_json(), [ITEM], account_id="acct", marketplace_id=US, producer="gw")
    assert event.buyer_email is None and event.shipping_address is None
    assert "Ada" not in event.model_dump_json() and "abc@" not in event.model_dump_json()
    pending = {k: v for k, v in order_json(status="Pending", BuyerInfo={}).items() if k != "ShippingAddress"}
    pending_event = d.order_placed(pending, [ITEM], account_id="acct", marketplace_id=US, producer="gw",
                                   buyer_data=True)
    assert pending_event.buyer_email is None and pending_event.shipping_address is None  # none before payment


def test_pending_orders_without_prices_still_map() -> None:
    pending = order_json(status="Pending")
    del pending["OrderTotal"]
    item = {k: v for k, v in ITEM.items() if k not in ("ItemPrice", "ItemTax")}
    event = d.order_placed(pending, [item], account_id="a", marketplace_id="A1PA6795UKMFR9", producer="gw")
    assert event.order_total is None and event.lines[0].item_price.currency == "USD"  # the order's marketplace


@pytest.mark.parametrize("broken", [
    {"AmazonOrderId": None}, {"OrderStatus": ""}, {"LastUpdateDate": "yesterday"}, {"PurchaseDate": None}])
def test_an_order_missing_what_amazon_always_sends_is_unreadable(broken: dict) -> None:
    with pytest.raises(d.UnreadableOrder):
        d.order_placed(order_json(**broken), [ITEM], account_id="a", marketplace_id=US, producer="gw")


def test_status_changed_event() -> None:
    e = d.order_status_changed(order_json(status="Shipped"), "Unshipped", account_id="a", marketplace_id=US,
                               producer="gw")
    assert (e.previous_status, e.order_status, e.last_update_date) == ("Unshipped", "Shipped", T0)
    assert e.buyer_email is None and e.shipping_address is None


def test_a_status_change_carries_the_buyer_data_it_shows_first() -> None:
    kw = {"account_id": "a", "marketplace_id": US, "producer": "gw"}
    paid = restricted_order_json()
    once_pending = d.Announced(email=True, address=False)  # OrderPlaced of a Pending order: no address yet
    revealed = d.order_status_changed(paid, "Pending", buyer_data=True, announced=once_pending, **kw)
    assert revealed.buyer_email == "abc@marketplace.amazon.com"
    assert revealed.shipping_address is not None and revealed.shipping_address.line1 == "1 Main St"
    assert once_pending.after(revealed) == d.Announced(email=True, address=True)
    shipped = restricted_order_json(OrderStatus="Shipped")
    again = d.order_status_changed(shipped, "Unshipped", buyer_data=True, announced=d.Announced(True, True), **kw)
    assert again.buyer_email is None and again.shipping_address is None  # nothing new: nothing again
    without_role = d.order_status_changed(paid, "Pending", announced=d.Announced(), **kw)
    assert without_role.buyer_email is None and without_role.shipping_address is None
    assert "Ada" not in without_role.model_dump_json() and "abc@" not in without_role.model_dump_json()


def test_what_was_announced_survives_every_decision() -> None:
    known = d.Known("Pending", T0, d.Announced(email=True))
    assert d.decide(known, "Pending", T0 + timedelta(minutes=1)).state.announced == known.announced
    assert d.decide(known, "Unshipped", T0 + timedelta(minutes=2)).state.announced == known.announced
    assert d.decide(known, "Unshipped", T0 - timedelta(minutes=1)).state.announced == known.announced


ADDRESS_STATUSES = {"Unshipped", "PartiallyShipped", "Shipped"}


def as_amazon_shows_it(sight: d.Sighting) -> dict:
    """getOrders' Order for a Restricted Data Token: the e-mail always, the address only once paid."""
    order = restricted_order_json(AmazonOrderId=sight.order_id, OrderStatus=sight.status,
                                  LastUpdateDate=d.amazon_time(sight.last_update))
    return order if sight.status in ADDRESS_STATUSES else {k: v for k, v in order.items() if k != "ShippingAddress"}


@settings(max_examples=300, deadline=None)
@given(histories, st.data())
def test_buyer_data_goes_out_once_whatever_the_polls_see(history, data) -> None:
    """Polls in time order with overlap and repeats: the address goes out in exactly one event once an announced
    state shows it (else never), always with the e-mail; the e-mail goes out at most twice (placed, revealed)."""
    states = timeline(history)
    horizon = max(len(v) for v in history.values())
    known: dict[str, d.Known] = {}
    events: list = []
    for t in range(horizon):
        overlap = data.draw(st.integers(0, 3))
        window = data.draw(st.permutations([s for ss in states.values() for s in ss[max(0, t - overlap): t + 1]]))
        known, news = d.decide_all(known, window)
        for sight, decision in news:
            order = as_amazon_shows_it(sight)
            kw = {"account_id": "a", "marketplace_id": US, "producer": "gw", "buyer_data": True}
            event = (d.order_placed(order, [ITEM], **kw) if decision.change is d.Change.PLACED else
                     d.order_status_changed(order, decision.previous_status, announced=known[sight.order_id].announced,
                                            **kw))
            before = known[sight.order_id]
            known[sight.order_id] = replace(before, announced=before.announced.after(event))
            events.append(event)
    for oid in states:
        mine = [e for e in events if e.amazon_order_id == oid]
        with_address = [e for e in mine if e.shipping_address is not None]
        assert len(with_address) == (1 if any(e.order_status in ADDRESS_STATUSES for e in mine) else 0)
        assert all(e.buyer_email for e in with_address)
        assert mine[0].buyer_email and sum(1 for e in mine if e.buyer_email) <= 2


# ---------------------------------------------------------------- confirmShipment


def shipment(**fields: object) -> ShipmentConfirmRequested:
    base = {"account_id": "a", "marketplace_id": US, "amazon_order_id": "111-2222222-3333333", "carrier_code": "UPS",
            "tracking_number": "1Z999", "ship_date": T0, "items": {"40000000000001": 2}}
    return ShipmentConfirmRequested.new(producer="t", **(base | fields))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.from_regex(r"[0-9]{14}", fullmatch=True), st.integers(1, 50), min_size=1, max_size=8),
       st.sampled_from(["UPS", "USPS", "FedEx", "DHL", "Other"]), st.none() | st.text(min_size=1, max_size=20),
       st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
def test_confirm_shipment_bodies_follow_amazons_request_schema(items, carrier, method, shipped) -> None:
    request = shipment(items=items, carrier_code=carrier, carrier_name="Local Post" if carrier == "Other" else None,
                       shipping_method=method, ship_date=shipped)
    d.check_shipment(request)
    body = d.confirm_shipment_body(request)
    problems = [e.message for e in validator("ConfirmShipmentRequest").iter_errors(body)]
    assert not problems, problems
    package = body["packageDetail"]
    assert package["packageReferenceId"].isdigit() and int(package["packageReferenceId"]) >= 1
    assert {i["orderItemId"]: i["quantity"] for i in package["orderItems"]} == items
    assert datetime.fromisoformat(package["shipDate"].replace("Z", "+00:00")) == shipped.replace(
        microsecond=shipped.microsecond // 1000 * 1000)
    assert d.confirm_shipment_body(request) == body  # the same package every time it is sent


def test_package_reference_differs_per_request() -> None:
    assert d.package_reference(uuid.uuid4()) != d.package_reference(uuid.uuid4())


@pytest.mark.parametrize("fields", [{"items": {}}, {"items": {"1": 0}}, {"carrier_code": "Other"}])
def test_shipments_amazon_would_refuse_are_caught_before_sending(fields: dict) -> None:
    with pytest.raises(d.InvalidAction):
        d.check_shipment(shipment(**fields))


# ---------------------------------------------------------------- cancellation feed and report


def test_cancellation_feed_is_an_order_acknowledgement_with_every_items_reason() -> None:
    requests = [OrderCancelRequested.new(producer="t", account_id="a", marketplace_id=US, amazon_order_id=oid,
                                         reason_code=reason)
                for oid, reason in (("111-0000000-0000001", "NoInventory"), ("111-0000000-0000002", "BuyerCanceled"))]
    feed = d.cancellation_feed("A1SELLER<&>", [d.Cancellation.of(1, requests[0], ["1", "2"]),
                                               d.Cancellation.of(2, requests[1], ["3"])])
    root = ET.fromstring(feed)
    assert root.tag == "AmazonEnvelope" and root.findtext("MessageType") == "OrderAcknowledgement"
    assert root.findtext("Header/MerchantIdentifier") == "A1SELLER<&>"
    messages = root.findall("Message")
    assert [m.findtext("MessageID") for m in messages] == ["1", "2"]
    first = messages[0].find("OrderAcknowledgement")
    assert first is not None and first.findtext("StatusCode") == "Failure"
    assert [(i.findtext("AmazonOrderItemCode"), i.findtext("CancelReason")) for i in first.findall("Item")] == [
        ("1", "NoInventory"), ("2", "NoInventory")]
    with pytest.raises(d.InvalidAction):
        d.cancellation_feed("S", [d.Cancellation(1, "x", (), "NoInventory")])


REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<AmazonEnvelope><Header><DocumentVersion>1.02</DocumentVersion><MerchantIdentifier>S</MerchantIdentifier></Header>
<MessageType>ProcessingReport</MessageType><Message><MessageID>1</MessageID><ProcessingReport>
<DocumentTransactionID>5001</DocumentTransactionID><StatusCode>Complete</StatusCode><ProcessingSummary>
<MessagesProcessed>3</MessagesProcessed><MessagesSuccessful>1</MessagesSuccessful><MessagesWithError>1</MessagesWithError>
<MessagesWithWarning>1</MessagesWithWarning></ProcessingSummary>
<Result><MessageID>2</MessageID><ResultCode>Error</ResultCode><ResultMessageCode>5009</ResultMessageCode>
<ResultDescription>already shipped</ResultDescription></Result>
<Result><MessageID>3</MessageID><ResultCode>Warning</ResultCode><ResultMessageCode>1</ResultMessageCode>
<ResultDescription>note</ResultDescription></Result></ProcessingReport></Message></AmazonEnvelope>"""


def test_processing_report_decides_each_message() -> None:
    report = d.parse_processing_report(REPORT)
    assert report.processed == 3
    assert report.outcome(1, fatal=False) == []
    assert [(i.code, i.message, i.severity) for i in report.outcome(2, fatal=False)] == [
        ("5009", "already shipped", "ERROR")]
    warning = report.outcome(3, fatal=False)  # kept, but a warning does not reject
    assert [(i.code, i.severity) for i in warning] == [("1", "WARNING")]
    assert report.outcome(1, fatal=True)[0].code == "FeedFatal"
    assert [i.severity for i in report.outcome(3, fatal=True)] == ["WARNING", "ERROR"]


@pytest.mark.parametrize("content", [b"not xml", b"<AmazonEnvelope><Message/></AmazonEnvelope>", b"<Other/>"])
def test_unreadable_reports_are_refused(content: bytes) -> None:
    with pytest.raises(d.UnreadableReport):
        d.parse_processing_report(content)
