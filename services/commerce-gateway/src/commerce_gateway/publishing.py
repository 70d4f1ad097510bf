"""Publishing the gateway's outbox from a command while no running gateway relays it."""

from __future__ import annotations

from typing import Any

import asyncpg

from servicekit.logging import get_logger

log = get_logger(component="outbox-flush")


class OutboxFlush:
    """Takes the outbox lock when no gateway holds it and relays after every committed page.

    When a gateway runs, its relay holds the lock and publishes the rows (woken by each commit's NOTIFY).
    Rows this cannot publish (no broker) stay in the outbox for the next gateway start.
    """

    def __init__(self, *, dsn: str, schema: str, bootstrap: str, service: str) -> None:
        self.dsn, self.schema, self.bootstrap, self.service = dsn, schema, bootstrap, service
        self.conn: asyncpg.Connection | None = None
        self.relay: Any = None
        self.problem: str | None = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        from servicekit.outbox import OutboxRelay

        self.conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        if not await self.conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"{self.schema}.outbox"):
            return
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", client_id=f"{self.service}-import")
        try:
            await producer.start()
        except Exception as exc:  # no broker: the rows wait in the outbox
            self.problem = f"broker {self.bootstrap} unreachable: {exc!r}"
            await producer.stop()
            return
        self.relay = OutboxRelay(service=self.service, dsn=self.dsn, schema=self.schema, producer=producer)

    @property
    def relaying(self) -> bool:
        return self.relay is not None

    async def __call__(self) -> None:
        if self.relay is None or self.conn is None:
            return
        try:
            while await self.relay.relay_once(self.conn) >= self.relay.batch_size:
                pass
        except Exception as exc:
            self.problem = f"publishing failed: {exc!r}"
            log.warning("outbox_flush_failed", error=repr(exc))

    async def waiting(self) -> int:
        assert self.conn is not None
        return int(await self.conn.fetchval("SELECT count(*) FROM _outbox"))

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.producer.stop()
        if self.conn is not None:
            await self.conn.close()
