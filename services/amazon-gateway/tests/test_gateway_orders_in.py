"""Orders placed in the simulator reach the ORDERS topic once per real change, however often they are polled.

Real broker and PostgreSQL; Amazon is the in-process simulator.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import structlog
from prometheus_client import REGISTRY

from amazon_gateway.client import SpApiClient
from contracts import decode, topics
from contracts.events import CommunicationError, OrderPlaced, OrderStatusChanged
from devstack.testing import eventually, read_topic

pytestmark = pytest.mark.integration


def account_id() -> str:
    return f"acct-orders-{uuid.uuid4().hex[:8]}"


async def start(gateway_factory: Any, kit: Any, *, pii: bool = False, **settings: Any) -> tuple[Any, str]:
    acct = account_id()
    gateway = await gateway_factory(
        [kit.gateway_account(account_id=acct, pii_role=pii)],
        **({"order_poll_interval_s": 3600, "order_action_idle_s": 0.05} | settings))
    # The gateway adopts the rate Amazon reports; a seller with a higher getOrderItems plan keeps tests quick.
    await gateway.sim.post("/_sim/ratelimits", json={"overrides": {"getOrderItems": {"rate": 50, "burst": 30}}})
    return gateway, acct


async def place(gateway: Any, kit: Any, skus: list[str], status: str = "Unshipped") -> dict[str, Any]:
    r = await gateway.sim.post("/_sim/orders", json={
        "sellerId": kit.SELLER, "lines": [{"sku": s, "quantity": 1} for s in skus], "orderStatus": status})
    assert r.status_code == 201, r.text
    return r.json()


async def orders_events(gateway: Any, acct: str, until: Any, timeout: float = 60) -> list[Any]:
    def mine(records: list[Any]) -> list[Any]:
        events = [decode(r.value) for r in records]
        return [e for e in events if getattr(e, "account_id", None) == acct]

    return mine(await read_topic(gateway.bootstrap, topics.ORDERS.name, timeout=timeout,
                                 until=lambda rs: until(mine(rs))))


async def poll_now(gateway: Any, acct: str) -> None:
    """Wake the poller and wait until that poll is done and its events have left the outbox."""
    poller = gateway.service.order_poller
    before = poller.polls
    poller.wake(acct)
    await eventually(lambda: _true(poller.polls > before), timeout=30, what="a poll")
    await eventually(lambda: _outbox_empty(gateway), timeout=30, what="outbox drained")


async def _true(value: bool) -> bool:
    return value


async def _outbox_empty(gateway: Any) -> bool:
    return await gateway.db.fetchval(f"SELECT count(*) FROM {gateway.service.schema}._outbox") == 0


def counts(events: list[Any]) -> tuple[dict[str, int], list[tuple[str, str | None, str]]]:
    placed: dict[str, int] = {}
    for e in events:
        if isinstance(e, OrderPlaced):
            placed[e.amazon_order_id] = placed.get(e.amazon_order_id, 0) + 1
    changes = [(e.amazon_order_id, e.previous_status, e.order_status) for e in events
               if isinstance(e, OrderStatusChanged)]
    return placed, changes


async def test_each_order_is_placed_once_and_each_status_change_told_once(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit)
    skus = kit.new_skus(2)
    for sku in skus:
        await kit.seed_listing(gateway.sim, sku, price=17)
    orders = [await place(gateway, kit, skus), await place(gateway, kit, skus[:1], status="Pending"),
              await place(gateway, kit, skus[1:])]
    ids = [o["AmazonOrderId"] for o in orders]
    for _ in range(3):  # the overlap window returns every order on every poll
        await poll_now(gateway, acct)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 3)
    placed, changes = counts(events)
    assert placed == {i: 1 for i in ids} and changes == []
    first = next(e for e in events if isinstance(e, OrderPlaced) and e.amazon_order_id == ids[0])
    assert first.order_status == "Unshipped" and first.fulfillment == "MFN" and first.marketplace_id == kit.US
    assert sorted(line.sku for line in first.lines) == sorted(skus)
    assert all(str(line.item_price.amount) == "17.00" for line in first.lines)
    assert first.order_total is not None and str(first.order_total.amount) == "34.00"
    assert first.buyer_email is None and first.shipping_address is None  # no PII role, no PII
    assert "createRestrictedDataToken" not in (await gateway.sim.get("/_sim/stats")).json()["operations"]
    placed_total = REGISTRY.get_sample_value("saleschannel_amazon_order_events_total",
                                             {"service": "amazon-gateway", "event_type": "OrderPlaced"})
    assert placed_total is not None and placed_total >= 3

    await gateway.sim.post(f"/_sim/orders/{ids[0]}/status", json={"orderStatus": "Shipped"})
    await gateway.sim.post(f"/_sim/orders/{ids[2]}/buyer-cancel-request", json={"reason": "changed mind"})
    await gateway.sim.post("/_sim/clock/advance", json={"seconds": 6})  # the Pending order's payment clears
    for _ in range(2):
        await poll_now(gateway, acct)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 5)
    placed, changes = counts(events)
    assert placed == {i: 1 for i in ids}
    assert sorted(changes) == sorted([(ids[0], "Unshipped", "Shipped"), (ids[1], "Pending", "Unshipped")])
    cursor = await gateway.db.fetchval(
        f"SELECT cursor_at FROM {gateway.service.schema}.order_cursors WHERE account_id = $1", acct)
    assert cursor is not None
    states = dict(await gateway.db.fetch(
        f"SELECT amazon_order_id, status FROM {gateway.service.schema}.order_states WHERE account_id = $1", acct))
    assert states == {ids[0]: "Shipped", ids[1]: "Unshipped", ids[2]: "Unshipped"}


async def test_many_orders_are_read_over_many_pages(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit, order_page_size=10)
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(gateway.sim, sku)
    ids = [(await place(gateway, kit, [sku]))["AmazonOrderId"] for _ in range(45)]
    await poll_now(gateway, acct)
    await poll_now(gateway, acct)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 45)
    placed, changes = counts(events)
    assert placed == {i: 1 for i in ids} and changes == []
    stats = (await gateway.sim.get("/_sim/stats")).json()["operations"]
    assert stats["getOrders"]["200"] >= 10  # five pages a poll
    assert stats["getOrderItems"]["200"] == 45  # items only for orders new to us


async def test_with_injected_faults_each_order_is_still_placed_once(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit, order_page_size=5, amazon_max_attempts=10)
    # retries spend getOrders' burst of 20 quickly: this seller has a higher plan, which the client adopts
    await gateway.sim.post("/_sim/ratelimits", json={"overrides": {"getOrderItems": {"rate": 50, "burst": 30},
                                                                   "getOrders": {"rate": 20, "burst": 20}}})
    await gateway.sim.post("/_sim/faults", json={"seed": 4, "error_rate": 0.2, "malformed_rate": 0.1})
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(gateway.sim, sku)
    ids = [(await place(gateway, kit, [sku]))["AmazonOrderId"] for _ in range(12)]
    for _ in range(3):
        await poll_now(gateway, acct)
    for order_id in ids[:4]:
        await gateway.sim.post(f"/_sim/orders/{order_id}/status", json={"orderStatus": "Shipped"})
    for _ in range(2):
        await poll_now(gateway, acct)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 16)
    placed, changes = counts(events)
    assert placed == {i: 1 for i in ids}
    assert sorted(changes) == sorted((i, "Unshipped", "Shipped") for i in ids[:4])
    faults = (await gateway.sim.get("/_sim/stats")).json()["faults"]
    assert faults["errors"] > 0 and faults["malformed"] > 0


def sim_state(gateway: Any) -> Any:
    """The in-process simulator behind the gateway's HTTP client."""
    return gateway.sim._transport.app.state.sim


async def test_buyer_data_only_with_the_pii_role_read_with_the_orders_themselves(
        gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit, pii=True)
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(gateway.sim, sku, quantity=10)
    orders = [await place(gateway, kit, [sku]) for _ in range(3)]
    pending = await place(gateway, kit, [sku], status="Pending")
    with structlog.testing.capture_logs() as logs:
        await poll_now(gateway, acct)
        events = await orders_events(gateway, acct, lambda es: len(es) >= 4)
    placed = {e.amazon_order_id: e for e in events if isinstance(e, OrderPlaced)}
    assert sorted(placed) == sorted(o["AmazonOrderId"] for o in [*orders, pending])
    sim = sim_state(gateway)
    for order in orders:
        event, truth = placed[order["AmazonOrderId"]], sim.orders.orders[order["AmazonOrderId"]]
        assert event.buyer_email == truth.buyer_email and event.buyer_email.endswith("@marketplace.amazon.com")
        assert event.shipping_address is not None
        assert (event.shipping_address.name, event.shipping_address.line1, event.shipping_address.city,
                event.shipping_address.postal_code, event.shipping_address.phone) == (
            truth.address["Name"], "410 Terry Ave N", truth.address["City"], truth.address["PostalCode"],
            truth.address["Phone"])
    assert placed[pending["AmazonOrderId"]].buyer_email  # Amazon gives no address before payment clears
    assert placed[pending["AmazonOrderId"]].shipping_address is None

    stats = (await gateway.sim.get("/_sim/stats")).json()["operations"]
    # one Restricted Data Token for getOrders; the page holds every order's buyer data: no call per order for it
    assert stats["createRestrictedDataToken"] == {"calls": 1, "200": 1}
    assert set(stats["getOrders"]) == {"calls", "200"}  # every page answered to the token
    assert "getOrderAddress" not in stats and "getOrderBuyerInfo" not in stats
    (rdt,) = [t for t in sim.tokens if t.startswith("Atz.sprdt|")]
    assert sim.tokens[rdt].restricted == {("GET", "/orders/v0/orders"): {"buyerInfo", "shippingAddress"}}
    logged = json.dumps(logs, default=str)
    assert logs, "the poll logged nothing"
    for secret in [rdt, *(sim.orders.orders[o["AmazonOrderId"]].buyer_email for o in orders), "410 Terry Ave N"]:
        assert secret not in logged

    another = await place(gateway, kit, [sku])
    await poll_now(gateway, acct)  # the token lives on: no second one
    events = await orders_events(gateway, acct, lambda es: len(es) >= 5)
    assert any(isinstance(e, OrderPlaced) and e.amazon_order_id == another["AmazonOrderId"] and e.buyer_email
               for e in events)
    assert (await gateway.sim.get("/_sim/stats")).json()["operations"]["createRestrictedDataToken"]["calls"] == 1


async def pending_then_paid_then_shipped(gateway: Any, kit: Any, acct: str) -> tuple[str, list[Any]]:
    """One order placed Pending and polled, moved to Unshipped (paid) and polled, then to Shipped and polled;
    its events in order."""
    sim_state(gateway).orders.pending_seconds = 3600  # the order moves only when the test moves it
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(gateway.sim, sku)
    order_id = (await place(gateway, kit, [sku], status="Pending"))["AmazonOrderId"]
    await poll_now(gateway, acct)
    for n, status in enumerate(["Unshipped", "Shipped"], start=2):
        r = await gateway.sim.post(f"/_sim/orders/{order_id}/status", json={"orderStatus": status})
        assert r.status_code == 200, r.text
        await poll_now(gateway, acct)
        await orders_events(gateway, acct, lambda es, n=n: len(es) >= n)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 3)
    return order_id, [e for e in events if e.amazon_order_id == order_id]


async def announced(gateway: Any, acct: str, order_id: str) -> dict[str, Any]:
    row = await gateway.db.fetchrow(
        f"SELECT * FROM {gateway.service.schema}.order_states WHERE account_id = $1 AND amazon_order_id = $2",
        acct, order_id)
    return dict(row)


async def test_an_order_first_seen_pending_gets_its_buyer_data_with_the_change_that_shows_it(
        gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit, pii=True)
    order_id, events = await pending_then_paid_then_shipped(gateway, kit, acct)
    truth = sim_state(gateway).orders.orders[order_id]
    assert [(type(e).__name__, e.order_status) for e in events] == [
        ("OrderPlaced", "Pending"), ("OrderStatusChanged", "Unshipped"), ("OrderStatusChanged", "Shipped")]
    placed, paid, shipped = events
    assert placed.shipping_address is None  # Amazon gives no address before payment clears
    assert paid.previous_status == "Pending" and paid.buyer_email == truth.buyer_email
    address = paid.shipping_address
    assert address is not None
    assert (address.name, address.line1, address.city, address.region, address.postal_code, address.country_code,
            address.phone) == (truth.address["Name"], truth.address["AddressLine1"], truth.address["City"],
                               truth.address["StateOrRegion"], truth.address["PostalCode"],
                               truth.address["CountryCode"], truth.address["Phone"])
    assert shipped.buyer_email is None and shipped.shipping_address is None  # announced once, not again
    row = await announced(gateway, acct, order_id)
    assert (row["status"], row["buyer_email_announced"], row["address_announced"]) == ("Shipped", True, True)
    kept = json.dumps(row, default=str)  # the gateway records that it went out, not the buyer data
    assert truth.buyer_email not in kept and truth.address["AddressLine1"] not in kept
    assert truth.address["Name"] not in kept

    await poll_now(gateway, acct)  # seen again: nothing new
    assert len(await orders_events(gateway, acct, lambda es: len(es) >= 3)) == 3


async def test_without_the_pii_role_no_status_change_carries_buyer_data(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit)
    order_id, events = await pending_then_paid_then_shipped(gateway, kit, acct)
    assert [e.order_status for e in events] == ["Pending", "Unshipped", "Shipped"]
    assert all(e.buyer_email is None and e.shipping_address is None for e in events)
    truth = sim_state(gateway).orders.orders[order_id]
    assert all(truth.address["City"] not in e.model_dump_json() for e in events)  # not even the open part
    row = await announced(gateway, acct, order_id)
    assert (row["buyer_email_announced"], row["address_announced"]) == (False, False)
    assert "createRestrictedDataToken" not in (await gateway.sim.get("/_sim/stats")).json()["operations"]


async def test_a_denied_restricted_data_token_is_replaced_within_the_poll(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit, pii=True)
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(gateway.sim, sku)
    await poll_now(gateway, acct)
    sim = sim_state(gateway)
    for token in [t for t in sim.tokens if t.startswith("Atz.sprdt|")]:
        del sim.tokens[token]  # revoked (or expired early) while the gateway still holds it
    order = await place(gateway, kit, [sku])
    await poll_now(gateway, acct)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 1)
    assert [(e.amazon_order_id, bool(e.buyer_email), e.shipping_address is not None) for e in events] == [
        (order["AmazonOrderId"], True, True)]
    stats = (await gateway.sim.get("/_sim/stats")).json()["operations"]
    assert stats["createRestrictedDataToken"] == {"calls": 2, "200": 2}
    assert stats["getOrders"]["403"] == 1


async def test_an_app_amazon_refuses_buyer_data_is_reported_and_its_orders_wait(
        gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit, pii=True)
    sim = sim_state(gateway)
    sim.accounts[kit.REFRESH_TOKEN].pii_role = False  # the restricted role is not (or no longer) granted
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(gateway.sim, sku)
    order = await place(gateway, kit, [sku])
    await poll_now(gateway, acct)

    def mine(records: list[Any]) -> list[CommunicationError]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, CommunicationError) and e.account_id == acct]

    errors = mine(await read_topic(gateway.bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=30,
                                   until=lambda rs: bool(mine(rs))))
    assert (errors[0].operation, errors[0].code) == ("createRestrictedDataToken", "InvalidInput")
    assert "buyerInfo, shippingAddress" in errors[0].message
    assert await gateway.db.fetchval(  # not announced without its buyer data
        f"SELECT count(*) FROM {gateway.service.schema}.order_states WHERE account_id = $1", acct) == 0

    sim.accounts[kit.REFRESH_TOKEN].pii_role = True
    await poll_now(gateway, acct)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 1)
    assert [(e.amazon_order_id, bool(e.buyer_email)) for e in events] == [(order["AmazonOrderId"], True)]


async def test_a_failing_poll_is_reported_and_the_next_one_catches_up(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit, amazon_max_attempts=2)
    await gateway.sim.post("/_sim/faults", json={"error_rate": 1.0, "operations": ["getOrders"]})
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(gateway.sim, sku)
    order = await place(gateway, kit, [sku])
    await poll_now(gateway, acct)

    def mine(records: list[Any]) -> list[CommunicationError]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, CommunicationError) and e.account_id == acct]

    errors = mine(await read_topic(gateway.bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=30,
                                   until=lambda rs: bool(mine(rs))))
    assert errors[0].operation == "getOrders" and errors[0].attempts == 2
    assert errors[0].request_ref == f"orders-poll:{acct}:{kit.US}"
    assert kit.REFRESH_TOKEN not in errors[0].message and kit.CLIENT_SECRET not in errors[0].message
    assert await gateway.db.fetchval(
        f"SELECT count(*) FROM {gateway.service.schema}.order_cursors WHERE account_id = $1", acct) == 0

    await gateway.sim.delete("/_sim/faults")
    await poll_now(gateway, acct)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 1)
    assert [e.amazon_order_id for e in events] == [order["AmazonOrderId"]]


async def test_an_unreadable_order_is_reported_and_the_others_still_arrive(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit)
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(gateway.sim, sku)
    broken, fine = await place(gateway, kit, [sku]), await place(gateway, kit, [sku])
    sim = gateway.sim._transport.app.state.sim
    sim.orders.orders[broken["AmazonOrderId"]].status = ""  # Amazon sent an order without its OrderStatus
    await poll_now(gateway, acct)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 1)
    assert [e.amazon_order_id for e in events] == [fine["AmazonOrderId"]]

    def mine(records: list[Any]) -> list[CommunicationError]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, CommunicationError) and e.account_id == acct]

    errors = mine(await read_topic(gateway.bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=30,
                                   until=lambda rs: bool(mine(rs))))
    assert errors[0].code == "UnreadableOrder" and broken["AmazonOrderId"] in errors[0].message
    assert errors[0].request_ref == f"order:{acct}:{broken['AmazonOrderId']}"

    sim.orders.orders[broken["AmazonOrderId"]].status = "Unshipped"  # fixed upstream: the next poll catches up
    await poll_now(gateway, acct)
    events = await orders_events(gateway, acct, lambda es: len(es) >= 2)
    assert sorted(e.amazon_order_id for e in events) == sorted([broken["AmazonOrderId"], fine["AmazonOrderId"]])


async def test_get_orders_keeps_to_its_published_rate(sim_http: Any, kit: Any) -> None:
    """Twenty calls at once (the burst), then one a minute: the client waits rather than being throttled."""
    await sim_http.post("/_sim/ratelimits", json={"enabled": False})  # the simulator's clock does not move here
    now = [1000.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += max(seconds, 0.001)  # like a real sleep, never shorter than a tick

    client = SpApiClient({kit.ACCOUNT_ID: kit.gateway_account()}, http=sim_http, api_base_url=kit.SIM_BASE,
                         lwa_url=f"{kit.SIM_BASE}/auth/o2/token", clock=lambda: now[0], sleep=sleep)
    for _ in range(23):
        page = await client.get_orders(kit.ACCOUNT_ID, kit.US, last_updated_after="2020-01-01T00:00:00Z")
        assert page["Orders"] == []
    assert now[0] - 1000.0 == pytest.approx(3 / 0.0167, rel=0.01)  # three calls beyond the burst of 20
    assert sum(1 for w in waits if w > 1) == 3
