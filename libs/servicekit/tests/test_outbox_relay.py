"""The relay publishes what a committed transaction wrote, and only one replica relays."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer

from contracts import decode
from contracts.topics import PRODUCTS
from devstack.testing import eventually, read_topic
from samples import product
from servicekit import db as servicekit_db
from servicekit import outbox


async def test_committed_rows_are_relayed_in_order_and_rolled_back_ones_never(
    database_url, topics_created, db
) -> None:
    schema = f"relay_{uuid.uuid4().hex[:6]}"
    pool = await servicekit_db.create_pool(database_url, schema)
    await servicekit_db.migrate(pool, schema, None)
    producer = AIOKafkaProducer(bootstrap_servers=topics_created)
    await producer.start()
    relays = [outbox.OutboxRelay(service=schema, dsn=database_url, schema=schema, producer=producer,
                                 poll_interval_s=0.2) for _ in range(2)]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    run = uuid.uuid4().hex[:6]
    kept = [product(sku=f"{run}-a", quantity=q) for q in range(1, 30)]
    try:
        async with pool.acquire() as conn:
            for e in kept:
                async with conn.transaction():
                    await outbox.write(conn, schema, [e])
            try:
                async with conn.transaction():
                    await outbox.write(conn, schema, [product(sku=f"{run}-rolled-back")])
                    raise RuntimeError("abort")
            except RuntimeError:
                pass
        records = await read_topic(
            topics_created, PRODUCTS.name,
            until=lambda rs: sum(r.key == f"default|{run}-a".encode() for r in rs) >= len(kept),
        )

        async def drained() -> bool:
            return await db.fetchval(f'SELECT count(*) FROM "{schema}"._outbox') == 0

        await eventually(drained, what="outbox drained")
        leaders = [r.is_leader for r in relays]
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await pool.close()

    mine = [decode(r.value) for r in records if r.key.decode().startswith(f"default|{run}-")]
    assert [e.quantity for e in mine] == [e.quantity for e in kept]
    assert sorted(leaders) == [False, True]
    headers = dict(records[-1].headers)
    assert headers["event_type"] == b"ProductChanged"
