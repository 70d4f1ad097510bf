"""Spec section 13's acceptance checks through the events and the API, with the real broker and PostgreSQL:
the input events are published as amazon-gateway, catalog-sync and commerce-gateway would publish them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from orders_helpers import T0, placed, product, run_id, running, settings_doc, status

from contracts.events import CommerceOrderCreated, FulfillmentBy, ListingChanged
from devstack.testing import eventually

pytestmark = pytest.mark.integration


async def test_check_1_pending_waits_unshipped_in_stock_is_one_order_in_the_store_view_with_stock_reserved(
        topics_created, database_url) -> None:
    run = run_id()
    account, order_id, sku = f"a1-{run}", f"111-{run}-1", f"SKU-{run}"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account, store_code="us_view"))
        await h.send(product(sku, quantity=5, store="us_view"))
        await h.send(placed(account, order_id, "Pending", sku=sku, quantity=2))
        pending = await h.order(order_id)
        assert pending["import_state"] == "waiting" and "Pending" in pending["note"]
        assert await h.requests(order_id) == []

        await h.send(status(account, order_id, "Unshipped", "Pending", T0 + timedelta(minutes=5)))
        await h.send(status(account, order_id, "Unshipped", "Pending", T0 + timedelta(minutes=5)))  # a repeat
        details = await h.order(order_id)
        requests = await h.requests(order_id, at_least=1)
        reservations = await h.reservations(order_id, at_least=1)

    assert details["import_state"] == "requested" and details["amazon_status"] == "Unshipped"
    assert len(requests) == 1
    request = requests[0]
    assert (request.store_code, request.commerce_status, request.fulfillment) == ("us_view", "pending",
                                                                                  FulfillmentBy.MFN)
    assert [(x.sku, x.quantity) for x in request.lines] == [(sku, 2)]
    assert request.increment_id is None and request.create_customer is False
    assert request.customer_email == "buyer@example.com"
    address = request.shipping_address
    assert (address.name, address.city, address.region, address.postal_code) == (
        "Jane Doe", "Escondido", "CA", "92025")
    assert [(r.reserved, r.version, r.store_code) for r in reservations] == [({sku: 2}, 1, "us_view")]
    assert details["reserved"] == {sku: 2}


async def test_check_2_a_disabled_sku_blocks_with_a_note_and_enabling_it_creates_the_order(
        topics_created, database_url) -> None:
    run = run_id()
    account, order_id, sku = f"a2-{run}", f"112-{run}-1", f"SKU-{run}"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku, enabled=False))
        await h.send(placed(account, order_id, sku=sku))
        blocked = await h.order(order_id)
        errors = (await h.client.get("/orders/errors", params={"limit": 500})).json()
        assert await h.requests(order_id) == []

        await h.send(product(sku, enabled=True, at=T0 + timedelta(minutes=1)))
        unblocked = await h.order(order_id)
        requests = await h.requests(order_id, at_least=1)
        await h.send(CommerceOrderCreated.new(
            producer="commerce-gateway", caused_by=requests[0], account_id=account, marketplace_id=requests[0].marketplace_id,
            amazon_order_id=order_id, created=True, commerce_order_id="901", increment_id="000000901"))
        created = await h.order(order_id)
        reservations = await h.reservations(order_id, at_least=2)

    assert blocked["import_state"] == "blocked" and blocked["note"] == f"product {sku} disabled"
    assert blocked["actions"] == ["retry", "edit_address"]
    assert any(e["amazon_order_id"] == order_id and e["note"] == f"product {sku} disabled" for e in errors)
    assert unblocked["import_state"] == "requested" and len(requests) == 1
    assert requests[0].causation_id is not None
    assert (created["import_state"], created["commerce_order_id"], created["increment_id"]) == (
        "created", "901", "000000901")
    assert [(r.reserved, r.version) for r in reservations] == [({sku: 1}, 1), ({}, 2)]
    assert [n["kind"] for n in created["notes"]][-3:] == ["blocked", "import", "commerce"]


async def test_check_3_amazon_number_source_gives_the_amazon_id_as_increment_id_and_build_customer(
        topics_created, database_url) -> None:
    run = run_id()
    account, sku = f"a3-{run}", f"SKU-{run}"
    with_email, without_email = f"113-{run}-1", f"113-{run}-2"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account, order_number_source="amazon", customer_creation="build",
                                   order_status="custom", processing_status="processing"))
        await h.send(product(sku))
        await h.send(placed(account, with_email, sku=sku), placed(account, without_email, sku=sku, email=None))
        requests = {r.amazon_order_id: r for r in await h.requests(with_email, without_email, at_least=2)}

    assert requests[with_email].increment_id == with_email
    assert requests[with_email].create_customer is True
    assert requests[with_email].commerce_status == "processing"
    assert requests[without_email].create_customer is False


async def test_check_5_import_disabled_shows_the_order_only(topics_created, database_url) -> None:
    run = run_id()
    account, order_id, sku = f"a5-{run}", f"115-{run}-1", f"SKU-{run}"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account, import_enabled=False))
        await h.send(product(sku))
        await h.send(placed(account, order_id, sku=sku))
        details = await h.order(order_id)
        listed = (await h.client.get("/orders", params={"account_id": account})).json()
        requests = await h.requests(order_id)
        reservations = await h.reservations(order_id)

    assert details["import_state"] == "skipped" and "disabled" in details["note"]
    assert [o["amazon_order_id"] for o in listed["items"]] == [order_id]
    assert requests == [] and reservations == []


async def test_check_6_fba_waits_at_unshipped_and_is_created_complete_at_shipped_without_reserving(
        topics_created, database_url) -> None:
    run = run_id()
    account, order_id, sku = f"a6-{run}", f"116-{run}-1", f"SKU-{run}"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku, quantity=0))
        await h.send(placed(account, order_id, "Unshipped", FulfillmentBy.AFN, sku=sku))
        unshipped = await h.order(order_id)
        assert await h.requests(order_id) == []
        await h.send(status(account, order_id, "Shipped", "Unshipped", T0 + timedelta(hours=1)))
        requests = await h.requests(order_id, at_least=1)
        reservations = await h.reservations(order_id)

    assert unshipped["import_state"] == "waiting" and "Shipped" in unshipped["note"]
    assert len(requests) == 1 and requests[0].commerce_status == "complete"
    assert requests[0].fulfillment is FulfillmentBy.AFN
    assert reservations == []


async def test_orders_placed_before_the_integration_date_are_skipped_with_a_note(topics_created, database_url):
    run = run_id()
    account, order_id, sku = f"ai-{run}", f"117-{run}-1", f"SKU-{run}"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku))
        await h.send(placed(account, order_id, sku=sku, at=T0 - timedelta(days=3)))
        details = await h.order(order_id)
        requests = await h.requests(order_id)

    assert details["import_state"] == "skipped" and "integration date" in details["note"]
    assert requests == []


async def test_a_listing_maps_the_amazon_sku_and_its_arrival_unblocks_the_order(topics_created, database_url):
    run = run_id()
    account, order_id, amazon_sku, commerce_sku = f"al-{run}", f"118-{run}-1", f"AMZ-{run}", f"COM-{run}"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(commerce_sku))
        await h.send(placed(account, order_id, sku=amazon_sku))
        blocked = await h.order(order_id)
        await h.send(ListingChanged.new(producer="catalog-sync", account_id=account, marketplace_id="ATVPDKIKX0DER",
                                        sku=amazon_sku, product_sku=commerce_sku, status="Active", quantity=5,
                                        price=None, version=1, changes=[]))
        requests = await h.requests(order_id, at_least=1)

    assert blocked["import_state"] == "blocked" and f"product {amazon_sku} missing" in blocked["note"]
    assert [(x.sku, x.order_item_id) for x in requests[0].lines] == [(commerce_sku, f"{order_id}-1")]


async def test_a_store_configured_later_and_a_blocked_order_neither_holds_the_others(topics_created, database_url):
    run = run_id()
    account, sku, missing = f"as-{run}", f"SKU-{run}", f"GONE-{run}"
    early, held, fine = f"119-{run}-1", f"119-{run}-2", f"119-{run}-3"
    async with running(topics_created, database_url, schedule_interval_s=0.1) as h:
        await h.send(product(sku))
        await h.send(placed(account, early, sku=sku))
        unconfigured = await h.order(early)
        await h.apply(settings_doc(account))  # the schedule decides the store's waiting orders again

        async def requested() -> bool:
            return (await h.order(early))["import_state"] == "requested"

        await eventually(requested, what="waiting order decided again after the settings")
        await h.send(placed(account, held, sku=missing), placed(account, fine, sku=sku))
        states = {o: (await h.order(o))["import_state"] for o in (held, fine)}
        requests = await h.requests(early, held, fine, at_least=2)

    assert unconfigured["import_state"] == "waiting" and "no OrderSettings" in unconfigured["note"]
    assert states == {held: "blocked", fine: "requested"}
    assert sorted(r.amazon_order_id for r in requests) == sorted([early, fine])
