"""The transactional outbox: events written with the state change, relayed to Kafka after.

Rows are written in the handler's transaction and a NOTIFY wakes the relay at commit. The relay
publishes in id order (so per key in order), waits for the broker's acks, then deletes what it
sent. A crash between the two re-sends rows; consumers drop them by event_id. One relay per
schema is active at a time, held by an advisory lock, so replicas never interleave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts import Event, encode, topic_for
from servicekit import metrics
from servicekit.logging import get_logger

log = get_logger(component="outbox")

_INSERT = """
INSERT INTO _outbox (topic, key, event_id, event_type, correlation_id, payload)
SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::uuid[], $6::bytea[])
"""


BACKLOG = "SELECT count(*) FROM _outbox WHERE id >= (SELECT min(id) FROM _outbox)"
"""Rows waiting, counted along the primary key from the oldest one: every relayed row is deleted,
and a plain count(*) walks all those dead rows until a vacuum (about 0.1 s per count after a few
hundred thousand events, on every relay round)."""


def channel(schema: str) -> str:
    return f"outbox_{schema}"


async def write(conn: asyncpg.Connection, schema: str, events: Sequence[Event]) -> None:
    """Add events to the outbox inside the caller's transaction."""
    if not events:
        return
    topics, keys, ids, types, correlations, payloads = [], [], [], [], [], []
    for event in events:
        topic = topic_for(event)
        topics.append(topic.name)
        keys.append(topic.key(event))
        ids.append(event.event_id)
        types.append(event.event_type)
        correlations.append(event.correlation_id)
        payloads.append(encode(event))
    await conn.execute(_INSERT, topics, keys, ids, types, correlations, payloads)
    await conn.execute("SELECT pg_notify($1, '')", channel(schema))


def headers(event_type: str, event_id: object, correlation_id: object) -> list[tuple[str, bytes]]:
    return [
        ("event_type", event_type.encode()),
        ("event_id", str(event_id).encode()),
        ("correlation_id", str(correlation_id).encode()),
        ("content-type", b"application/json"),
    ]


class OutboxRelay:
    def __init__(
        self, *, service: str, dsn: str, schema: str, producer: AIOKafkaProducer,
        batch_size: int = 2000, poll_interval_s: float = 1.0,
    ) -> None:
        self.service = service
        self.dsn = dsn
        self.schema = schema
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self.is_leader = False
        self.healthy = False
        self.connected = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                await self._run_connected()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost, broker down: try again shortly
                self.healthy = False
                self.is_leader = False
                log.warning("outbox_relay_error", error=repr(exc))
                await asyncio.sleep(1.0)

    async def _run_connected(self) -> None:
        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        try:
            await conn.add_listener(channel(self.schema), lambda *_: self._wake.set())
            lock = f"{self.schema}.outbox"
            self.healthy = True  # a standby is healthy too; another replica relays meanwhile
            self.connected.set()
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock):
                await asyncio.sleep(self.poll_interval_s * 5)
            self.is_leader = True
            log.info("outbox_relay_leading", schema=self.schema)
            while True:
                self._wake.clear()
                while await self.relay_once(conn) >= self.batch_size:
                    pass
                backlog = await conn.fetchval(BACKLOG)
                metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
                if backlog:
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
                except TimeoutError:
                    pass
        finally:
            self.is_leader = False
            await conn.close()

    async def relay_once(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT id, topic, key, event_id, event_type, correlation_id, payload "
            "FROM _outbox ORDER BY id LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        futures = []
        for row in rows:
            futures.append(
                await self.producer.send(
                    row["topic"],
                    value=row["payload"],
                    key=row["key"].encode(),
                    headers=headers(row["event_type"], row["event_id"], row["correlation_id"]),
                )
            )
        await asyncio.gather(*futures)
        # By exact ids: a row with a smaller id may commit after this read.
        await conn.execute("DELETE FROM _outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["topic"]] = counts.get(row["topic"], 0) + 1
        for topic, n in counts.items():
            metrics.OUTBOX_PUBLISHED.labels(self.service, topic).inc(n)
        return len(rows)


class OutboxFlush:
    """Publishes a service's outbox from a command (an import) while no running service's relay leads.

    The command writes through the outbox like the service does. When the service runs, its relay holds
    the outbox lock and publishes the rows (woken by the NOTIFY of each commit); otherwise this takes the
    same lock and relays after every call, so the command also works alone. Rows it cannot publish
    (no broker) stay in the outbox for the next relay that runs.
    """

    def __init__(self, *, dsn: str, schema: str, bootstrap: str, service: str) -> None:
        self.dsn, self.schema, self.bootstrap, self.service = dsn, schema, bootstrap, service
        self.conn: asyncpg.Connection | None = None
        self.relay: OutboxRelay | None = None
        self.problem: str | None = None

    async def start(self) -> None:
        self.conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        if not await self.conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"{self.schema}.outbox"):
            return  # a running service's relay publishes them
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
        except Exception as exc:  # kept in the outbox; published by the next relay that runs
            self.problem = f"publishing failed: {exc!r}"
            log.warning("outbox_flush_failed", error=repr(exc))

    async def waiting(self) -> int:
        assert self.conn is not None
        return int(await self.conn.fetchval("SELECT count(*) FROM _outbox"))

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.producer.stop()
        if self.conn is not None:
            await self.conn.close()  # ends the session, and with it the advisory lock
