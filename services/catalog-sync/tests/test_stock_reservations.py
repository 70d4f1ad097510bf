"""catalog-sync against the real broker and PostgreSQL: what pending Amazon orders hold back comes off the
listed quantity at once, once per change, whatever the delivery order."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from catalog_sync.service import CatalogSyncSettings, build
from contracts import decode
from contracts.events import ListingChanged, StockReservationChanged
from contracts.topics import LISTINGS
from devstack.testing import eventually, publish, read_topic
from samples import product

US = "ATVPDKIKX0DER"


async def test_reservations_come_off_the_listed_quantity_at_once(topics_created, database_url, db) -> None:
    run = uuid.uuid4().hex[:6]
    store = f"store-{run}"
    a, b, c, d = (f"{run}-{x}" for x in "ABCD")
    service = build(CatalogSyncSettings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                                        catalog_sync_targets=f"{run}:{US}", consumer_batch_timeout_ms=20))

    def reserve(order: str, version: int, reserved: dict[str, int], store_code: str = store) -> StockReservationChanged:
        return StockReservationChanged.new(producer="order-import", account_id=run, marketplace_id=US,
                                           amazon_order_id=f"{run}-{order}", store_code=store_code,
                                           reserved=reserved, version=version)

    async def quantities() -> dict[str, int]:
        rows = await db.fetch("SELECT sku, quantity FROM catalog_sync.listings WHERE account_id = $1", run)
        return {r["sku"]: r["quantity"] for r in rows}

    async def listed(**expected: int) -> None:
        want = {f"{run}-{sku}": quantity for sku, quantity in expected.items()}

        async def reached() -> bool:
            have = await quantities()
            return {sku: have.get(sku) for sku in want} == want

        await eventually(reached, what=f"listed quantities {want}")

    async def handled(*events: StockReservationChanged) -> None:
        ids = [e.event_id for e in events]

        async def seen() -> bool:
            return await db.fetchval("SELECT count(*) FROM catalog_sync._inbox WHERE event_id = ANY($1::uuid[])",
                                     ids) == len(ids)

        await eventually(seen, what="events handled")

    first = reserve("O1", 1, {a: 3})
    second_order = reserve("O2", 1, {a: 2, b: 5})
    newer, older = reserve("O1", 3, {a: 1}), reserve("O1", 2, {a: 6})
    before_its_product = reserve("O3", 1, {c: 4, d: 2})
    release = reserve("O2", 2, {})
    pa, pb, pc, pd = (product(sku=sku, quantity=q, store_code=store) for sku, q in ((a, 10), (b, 2), (c, 5), (d, 3)))
    c_restocked = product(sku=c, quantity=9, store_code=store, updated_at=pc.updated_at + timedelta(minutes=1))

    def mine(records: list[Any]) -> list[ListingChanged]:
        return [e for e in (decode(r.value) for r in records if r.key.decode().startswith(f"{run}|"))
                if isinstance(e, ListingChanged)]

    await service.start()
    try:
        await publish(topics_created, [pa, pb, pc])
        await listed(A=10, B=2, C=5)

        await publish(topics_created, [first])
        await listed(A=7)

        # the same event again, the same version with other quantities, another store view's stock: nothing
        same_version = reserve("O1", 1, {a: 8})
        elsewhere = reserve("O9", 1, {a: 5}, store_code=f"other-{run}")
        await publish(topics_created, [first, same_version, elsewhere])
        await handled(same_version, elsewhere)
        assert (await quantities())[a] == 7

        await publish(topics_created, [second_order])  # two orders on one SKU; more than B has
        await listed(A=5, B=0)

        await publish(topics_created, [newer])
        await listed(A=7)
        await publish(topics_created, [older])  # arrives late: already replaced
        await handled(older)
        assert (await quantities())[a] == 7

        await publish(topics_created, [before_its_product])
        await listed(C=1)
        await publish(topics_created, [c_restocked, pd])
        await listed(C=5, D=1)

        await publish(topics_created, [release])
        await listed(A=9, B=2)

        last = {a: 5, b: 3, c: 3, d: 1}  # the version of each listing's last change

        def complete(records: list[Any]) -> bool:
            seen = {(e.sku, e.version) for e in mine(records)}
            return all((sku, version) in seen for sku, version in last.items())

        records = await read_topic(topics_created, LISTINGS.name, until=complete)
        rows = {r["sku"]: r for r in await db.fetch(
            "SELECT * FROM catalog_sync.listings WHERE account_id = $1", run)}
        reserved = {r["sku"]: r["quantity"] for r in await db.fetch(
            "SELECT sku, quantity FROM catalog_sync.stock_reserved WHERE store_code = $1", store)}
        orders = {r["amazon_order_id"]: (r["version"], r["reserved"]) for r in await db.fetch(
            "SELECT amazon_order_id, version, reserved::text FROM catalog_sync.stock_reservations "
            "WHERE account_id = $1", run)}
    finally:
        await service.stop()

    events = sorted(mine(records), key=lambda e: (e.sku, e.version))
    # no other change was made: each change bumps the stored version by one
    assert {sku: rows[sku]["version"] for sku in last} == last
    assert [(e.sku, e.version, e.quantity, [(ch.field, ch.old, ch.new) for ch in e.changes][-1:], e.causation_id)
            for e in events] == [
        (a, 1, 10, [("product_sku", None, a)], pa.event_id),
        (a, 2, 7, [("quantity", "10", "7")], first.event_id),
        (a, 3, 5, [("quantity", "7", "5")], second_order.event_id),
        (a, 4, 7, [("quantity", "5", "7")], newer.event_id),
        (a, 5, 9, [("quantity", "7", "9")], release.event_id),
        (b, 1, 2, [("product_sku", None, b)], pb.event_id),
        (b, 2, 0, [("quantity", "2", "0")], second_order.event_id),
        (b, 3, 2, [("quantity", "0", "2")], release.event_id),
        (c, 1, 5, [("product_sku", None, c)], pc.event_id),
        (c, 2, 1, [("quantity", "5", "1")], before_its_product.event_id),
        (c, 3, 5, [("quantity", "1", "5")], c_restocked.event_id),
        (d, 1, 1, [("product_sku", None, d)], pd.event_id),
    ]
    assert reserved == {a: 1, c: 4, d: 2}
    assert orders == {f"{run}-O1": (3, f'{{"{a}": 1}}'), f"{run}-O2": (2, "{}"),
                      f"{run}-O3": (1, f'{{"{c}": 4, "{d}": 2}}'), f"{run}-O9": (1, f'{{"{a}": 5}}')}
    assert all(rows[sku]["store_code"] == store for sku in last)
