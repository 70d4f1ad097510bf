"""An infrastructure failure in a handler rewinds the batch: it is delivered again, not lost."""

from __future__ import annotations

import uuid

from contracts import encode
from contracts.events import ProductChanged
from devstack.testing import eventually, publish
from samples import product
from servicekit import Tx

TABLE = "CREATE TABLE seen (sku text NOT NULL);"


async def test_connection_failure_redelivers_the_batch(service_factory, test_topic, topics_created, db) -> None:
    run = uuid.uuid4().hex[:6]
    events = [product(sku=f"{run}-{i}") for i in range(50)]
    failures = {"left": 2}

    async def flaky(tx: Tx, batch: list[ProductChanged]) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionResetError("connection reset by peer")
        await tx.conn.executemany("INSERT INTO seen (sku) VALUES ($1)", [(e.sku,) for e in batch])

    async with service_factory(test_topic, flaky, setup_sql=TABLE) as svc:
        await publish(topics_created, [(test_topic.name, test_topic.key(e).encode(), encode(e))
                                       for e in events])

        async def all_seen() -> bool:
            return await db.fetchval(f"SELECT count(*) FROM {svc.schema}.seen") >= len(events)

        await eventually(all_seen, what="every event after the failures")
        rows = await db.fetch(f"SELECT sku FROM {svc.schema}.seen")

    assert failures["left"] == 0
    assert sorted(r["sku"] for r in rows) == sorted(e.sku for e in events)
