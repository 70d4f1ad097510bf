"""Duplicates, out-of-order statuses, Commerce's answers and restarts through the broker: one request per order,
statuses never backwards, stock reserved once and released once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from orders_helpers import KEY, MARKET, T0, placed, product, run_id, running, settings_doc, status

from contracts.events import (
    Address,
    CommerceOrderCancelled,
    CommerceOrderCreated,
    CommerceOrderFailed,
    CommunicationError,
    ListingChanged,
)
from devstack.testing import auth_headers
from order_import.buyers import new_key

pytestmark = pytest.mark.integration


async def test_duplicates_and_statuses_out_of_order_make_one_request_and_never_regress(
        topics_created, database_url) -> None:
    run = run_id()
    account, sku = f"dup-{run}", f"SKU-{run}"
    same, changed, early = f"120-{run}-1", f"120-{run}-2", f"120-{run}-3"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku, quantity=50))
        first = placed(account, same, sku=sku)
        await h.send(first)
        await h.send(first)  # the same event again: the inbox drops it
        await h.send(placed(account, same, sku=sku))  # the same order, a new event id
        await h.send(placed(account, changed, sku=sku, quantity=1))
        await h.send(placed(account, changed, sku=sku, quantity=3, buyer_email="other@example.com"))
        # A status heard before its order: kept, acted on when the lines arrive.
        await h.send(status(account, early, "Shipped", "Unshipped", T0 + timedelta(hours=2)))
        before_order = await h.pool.fetchrow("SELECT amazon_status, import_state FROM orders "
                                             "WHERE amazon_order_id = $1", early)
        listed = await h.client.get(f"/orders/{early}")
        await h.send(status(account, early, "Unshipped", "Pending", T0 + timedelta(hours=1)))
        await h.send(placed(account, early, "Pending", sku=sku))
        await h.send(status(account, same, "Shipped", "Unshipped", T0 + timedelta(hours=3)),
                     status(account, same, "Unshipped", "Pending", T0 + timedelta(hours=1)))
        details = {o: await h.order(o) for o in (same, changed, early)}
        requests = await h.requests(same, changed, early, at_least=3)
        reservations = await h.reservations(same, changed, early, at_least=3)

    assert sorted(r.amazon_order_id for r in requests) == sorted([same, changed, early])
    assert [x.quantity for r in requests if r.amazon_order_id == changed for x in r.lines] == [1]
    assert (before_order["amazon_status"], before_order["import_state"]) == ("Shipped", "waiting")
    assert listed.status_code == 404  # not shown before the order itself is heard
    assert details[early]["amazon_status"] == "Shipped" and details[early]["import_state"] == "requested"
    assert details[same]["amazon_status"] == "Shipped"
    assert details[changed]["buyer_email"] == "buyer@example.com"  # the request went with the first one's data
    assert any("ignored" in n["note"] for n in details[changed]["notes"])
    by_order: dict[str, list[int]] = {}
    for r in reservations:
        by_order.setdefault(r.amazon_order_id, []).append(r.version)
    assert by_order == {same: [1], changed: [1], early: [1]}


async def test_commerce_refusal_is_an_order_error_and_retry_requests_it_again_once(topics_created, database_url):
    run = run_id()
    account, sku, order_id = f"ref-{run}", f"SKU-{run}", f"121-{run}-1"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku))
        await h.send(placed(account, order_id, sku=sku))
        [request] = await h.requests(order_id, at_least=1)
        stale = CommerceOrderFailed.new(
            producer="commerce-gateway", account_id=account, marketplace_id=MARKET, amazon_order_id=order_id,
            store_code="default", request_event_id=request.correlation_id, operation="POST /V1/orders", code="400",
            message="an answer to another request")
        refusal = CommerceOrderFailed.new(
            producer="commerce-gateway", caused_by=request, account_id=account, marketplace_id=MARKET,
            amazon_order_id=order_id, store_code="default", request_event_id=request.event_id,
            operation="POST /V1/orders", code="400", message="The requested qty is not available")
        await h.send(stale)
        assert (await h.order(order_id))["import_state"] == "requested"
        await h.send(refusal)
        failed = await h.order(order_id)
        errors = (await h.client.get("/orders/errors", params={"limit": 500})).json()
        anonymous = await h.client.post(f"/orders/{order_id}/retry", headers={"Authorization": ""})
        read_only = await h.client.post(f"/orders/{order_id}/retry", headers=auth_headers("read"))
        retried = await h.client.post(f"/orders/{order_id}/retry")
        again = await h.client.post(f"/orders/{order_id}/retry")
        unknown = await h.client.post("/orders/no-such-order/retry")
        requests = await h.requests(order_id, at_least=2)
        audit = (await h.client.get("/audit", params={"target": f"order {order_id}"})).json()
        await h.send(CommerceOrderCreated.new(  # answer and cancellation of one order in one batch
            producer="commerce-gateway", caused_by=requests[-1], account_id=account, marketplace_id=MARKET,
            amazon_order_id=order_id, created=True, commerce_order_id="77", increment_id="000000077"),
                     CommerceOrderCancelled.new(
            producer="commerce-gateway", account_id=account, marketplace_id=MARKET, amazon_order_id=order_id,
            store_code="default", commerce_order_id="77", increment_id="000000077", cancelled_at=T0))
        final = await h.order(order_id)
        reservations = await h.reservations(order_id, at_least=2)

    assert failed["import_state"] == "failed"
    assert failed["note"] == "Commerce refused the order: The requested qty is not available"
    assert failed["actions"] == ["retry", "edit_address"]
    assert any(e["amazon_order_id"] == order_id and e["actions"][0] == "retry" for e in errors)
    assert (anonymous.status_code, read_only.status_code) == (401, 403)
    assert retried.status_code == 200 and retried.json()["import_state"] == "requested"
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert unknown.status_code == 404
    assert len(requests) == 2 and requests[1].event_id != requests[0].event_id
    assert [a["action"] for a in audit] == ["order.retry"]
    assert audit[0]["after"] == {"import_state_before": "failed", "import_state": "requested"}
    assert final["import_state"] == "created" and final["requests"] == 2
    assert any(n["kind"] == "commerce" and "cancelled in Commerce (order #000000077)" in n["note"]
               for n in final["notes"])
    assert [(r.reserved, r.version) for r in reservations] == [({sku: 1}, 1), ({}, 2)]


async def test_a_restart_between_events_changes_nothing_already_decided(topics_created, database_url) -> None:
    run = run_id()
    account, sku = f"rs-{run}", f"SKU-{run}"
    orders = [f"122-{run}-{n}" for n in range(6)]
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku, quantity=100))
        await h.send(*(placed(account, o, "Pending", sku=sku) for o in orders))
    async with running(topics_created, database_url) as h:
        await h.send(*(status(account, o, "Unshipped", "Pending", T0 + timedelta(minutes=1)) for o in orders[:3]))
    async with running(topics_created, database_url) as h:
        await h.send(*(placed(account, o, "Pending", sku=sku) for o in orders))  # redelivered as new events
        await h.send(*(status(account, o, "Unshipped", "Pending", T0 + timedelta(minutes=1)) for o in orders))
        await h.send(status(account, orders[5], "Canceled", "Unshipped", T0 + timedelta(minutes=2)))
        states = {o: (await h.order(o))["import_state"] for o in orders}
        requests = await h.requests(*orders, at_least=6)

    assert sorted(r.amazon_order_id for r in requests) == sorted(orders)
    assert set(states.values()) == {"requested"}


async def test_commerce_unreachable_is_an_order_error_until_retried(topics_created, database_url) -> None:
    run = run_id()
    account, sku, order_id = f"cx-{run}", f"SKU-{run}", f"123-{run}-1"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku))
        await h.send(placed(account, order_id, sku=sku))
        [request] = await h.requests(order_id, at_least=1)
        await h.send(CommunicationError.new(
            producer="commerce-gateway", system="amazon", operation="getOrders", code="503", message="x",
            attempts=5, request_ref=str(request.event_id)))
        unchanged = await h.order(order_id)
        await h.send(CommunicationError.new(
            producer="commerce-gateway", caused_by=request, system="commerce", account_id=account,
            marketplace_id=MARKET, operation="POST /V1/orders", code="503", message="Service Unavailable",
            attempts=5, request_ref=str(request.event_id)))
        failed = await h.order(order_id)
        retried = await h.client.post(f"/orders/{order_id}/retry")

    assert unchanged["import_state"] == "requested"
    assert failed["import_state"] == "failed" and failed["actions"][0] == "retry"
    assert failed["note"] == ("Commerce unreachable (POST /V1/orders: 503 after 5 attempts): Service Unavailable")
    assert retried.json()["import_state"] == "requested" and retried.json()["requests"] == 2


async def test_buyer_data_shown_with_a_later_status_goes_with_the_request(topics_created, database_url) -> None:
    run = run_id()
    account, sku, order_id = f"bd-{run}", f"SKU-{run}", f"124-{run}-1"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account, customer_creation="build"))
        await h.send(product(sku))
        await h.send(placed(account, order_id, "Pending", sku=sku, email=None, shipping_address=Address(
            city="Escondido", region="CA", postal_code="92025", country_code="US")))
        pending = await h.order(order_id)
        revealed = status(account, order_id, "Unshipped", "Pending", T0 + timedelta(minutes=5))
        revealed = revealed.model_copy(update={"buyer_email": "late@example.com", "shipping_address": Address(
            name="Lee  Park!", line1="2 Oak Ave", city="ESCONDIDO", region="california", postal_code="92025-1501",
            country_code="US")})
        await h.send(revealed)
        [request] = await h.requests(order_id, at_least=1)
        details = await h.order(order_id)

    assert pending["buyer_email"] is None and pending["shipping_address"]["line1"] is None
    assert request.customer_email == "late@example.com" and request.create_customer is True
    address = request.shipping_address
    assert (address.name, address.line1, address.city, address.region, address.postal_code) == (
        "Lee Park", "2 Oak Ave", "Escondido", "CA", "92025")
    assert details["buyer_name"] == "Lee  Park!"  # kept as Amazon sent it; cleaned on the way to Commerce


async def test_a_reservation_follows_the_listing_mapping_and_ignores_other_listing_changes(topics_created, database_url):
    run = run_id()
    account, amazon_sku, commerce_sku, order_id = f"rm-{run}", f"AMZ-{run}", f"COM-{run}", f"125-{run}-1"

    def listing(version: int, quantity: int) -> ListingChanged:
        return ListingChanged.new(producer="catalog-sync", account_id=account, marketplace_id=MARKET, sku=amazon_sku,
                                  product_sku=commerce_sku, status="Active", quantity=quantity, price=None,
                                  version=version, changes=[])

    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(placed(account, order_id, "Pending", sku=amazon_sku, quantity=2))
        await h.send(listing(1, 5))
        await h.send(listing(2, 3), listing(2, 3))  # the quantity moved: the mapping did not
        await h.send(listing(1, 9))  # an older version, late
        reservations = await h.reservations(order_id, at_least=2)

    assert [(r.reserved, r.version) for r in reservations] == [({amazon_sku: 2}, 1), ({commerce_sku: 2}, 2)]


async def test_buyer_data_sealed_with_a_key_no_longer_configured_blocks_the_import_and_fails_nothing_else(
        topics_created, database_url) -> None:
    run = run_id()
    account, sku, order_id = f"key-{run}", f"SKU-{run}", f"126-{run}-1"
    other = new_key()
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku))
        await h.send(placed(account, order_id, "Pending", sku=sku))
    async with running(topics_created, database_url, buyer_data_keys=other) as h:
        await h.send(status(account, order_id, "Unshipped", "Pending", T0 + timedelta(minutes=1)))
        blocked = await h.order(order_id)
        listed = (await h.client.get("/orders", params={"account_id": account})).json()["items"]
        edit = await h.client.put(f"/orders/{order_id}/address", json={"region": "TX"})
    async with running(topics_created, database_url, buyer_data_keys=f"{other},{KEY}") as h:
        retried = await h.client.post(f"/orders/{order_id}/retry")
        [request] = await h.requests(order_id, at_least=1)

    assert blocked["import_state"] == "blocked" and blocked["buyer_email"] is None
    assert blocked["note"] == "shipping address unreadable: the buyer data cannot be opened with the configured keys"
    assert [(o["amazon_order_id"], o["buyer_name"]) for o in listed] == [(order_id, None)]
    assert edit.status_code == 409 and "BUYER_DATA_KEYS" in edit.json()["detail"]
    assert retried.status_code == 200 and retried.json()["import_state"] == "requested"
    assert request.customer_email == "buyer@example.com" and request.shipping_address.region == "CA"
