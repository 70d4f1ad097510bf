"""Redelivered and duplicated events take effect once; emitted events keep per-key order."""

from __future__ import annotations

import uuid

from contracts import decode
from contracts.events import ListingChanged, ProductChanged
from contracts.topics import LISTINGS
from devstack.testing import eventually, publish, read_topic
from samples import product
from servicekit import Tx

SEEN_TABLE = "CREATE TABLE seen (event_id uuid NOT NULL, sku text NOT NULL, quantity int NOT NULL);"


async def record_and_emit(tx: Tx, events: list[ProductChanged]) -> None:
    await tx.conn.executemany(
        "INSERT INTO seen (event_id, sku, quantity) VALUES ($1, $2, $3)",
        [(e.event_id, e.sku, e.quantity) for e in events],
    )
    for e in events:
        tx.emit(ListingChanged.new(
            producer=tx.service, caused_by=e, account_id="acct", marketplace_id="mkt", sku=e.sku,
            product_sku=e.sku, status="Ready to List", quantity=e.quantity, price=None,
            version=e.quantity, changes=[],
        ))


async def test_duplicates_take_effect_once_and_outbox_keeps_order(
    service_factory, test_topic, topics_created, db
) -> None:
    run = uuid.uuid4().hex[:6]
    events = [product(sku=f"{run}-{i % 20}", quantity=i + 1) for i in range(300)]
    duplicates = events[::7]
    async with service_factory(test_topic, record_and_emit, setup_sql=SEEN_TABLE) as svc:
        published = [(test_topic.name, test_topic.key(e).encode(), e.model_dump_json().encode())
                     for e in events + duplicates]
        await publish(topics_created, published)
        schema = svc.schema

        async def all_seen() -> bool:
            return await db.fetchval(f"SELECT count(*) FROM {schema}.seen") >= len(events)

        await eventually(all_seen, what="all events handled")
        mine = {e.event_id for e in events}
        records = await read_topic(
            topics_created, LISTINGS.name,
            until=lambda rs: sum(1 for r in rs if r.key.decode().startswith(f"acct|mkt|{run}-")) >= len(events),
        )
        # one more look after the outbox is drained: nothing extra arrived late
        assert await db.fetchval(f"SELECT count(*) FROM {schema}._outbox") == 0

    rows = await db.fetch(f"SELECT event_id FROM {schema}.seen")
    assert sorted(r["event_id"] for r in rows) == sorted(mine)

    emitted = [decode(r.value) for r in records if r.key.decode().startswith(f"acct|mkt|{run}-")]
    assert sorted(e.causation_id for e in emitted) == sorted(mine)
    by_key: dict[str, list[int]] = {}
    for e in emitted:
        by_key.setdefault(e.sku, []).append(e.version)
    assert all(versions == sorted(versions) for versions in by_key.values())
