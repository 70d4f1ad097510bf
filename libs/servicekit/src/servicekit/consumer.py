"""Consume a batch, decide, persist through the inbox and outbox in one transaction, then ack.

The offset is committed (by the subscriber's ack) only after the transaction has committed and
every dead letter of the batch is stored, so a crash at any point redelivers rather than loses;
the inbox turns redelivery into a no-op.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from contracts import Event, InvalidEvent, Topic, decode
from servicekit import dlq, metrics, outbox
from servicekit.logging import event_context, get_logger

log = get_logger(component="consumer")

E = TypeVar("E", bound=Event)

# Failures that say nothing about the message: retrying the batch later is the right answer.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)


@dataclass
class Tx:
    """What a handler gets: the open transaction's connection and a place to emit events."""

    conn: asyncpg.Connection
    service: str
    emitted: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        self.emitted.append(event)


Handler = Callable[[Tx, list[E]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription(Generic[E]):
    topic: Topic
    handler: Handler[E]


@dataclass
class BatchProcessor:
    """The per-batch pipeline behind every subscriber."""

    service: str
    schema: str
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    subscriptions: dict[str, Subscription[Any]]
    max_attempts: int = 3
    on_committed: Callable[[Sequence[ConsumerRecord]], None] | None = None

    async def process(self, records: Sequence[ConsumerRecord]) -> None:
        first = records[0] if records else None
        with structlog.contextvars.bound_contextvars(
            topic=first.topic if first else None, partition=first.partition if first else None,
            first_offset=first.offset if first else None, batch_size=len(records),
        ):
            await self._process(records)

    async def _process(self, records: Sequence[ConsumerRecord]) -> None:
        started = time.perf_counter()
        by_topic: dict[str, list[tuple[ConsumerRecord, Event]]] = {}
        letters: list[dlq.DeadLetter] = []
        for record in records:
            sub = self.subscriptions.get(record.topic)
            if sub is None:
                letters.append(dlq.DeadLetter(record, "unexpected_topic", f"no handler for {record.topic}"))
                continue
            try:
                event = decode(record.value, sub.topic.event_type_names)
            except InvalidEvent as exc:
                metrics.MESSAGES_FAILED.labels(self.service, record.topic, exc.kind).inc()
                letters.append(dlq.DeadLetter(record, exc.kind, exc.reason))
                continue
            by_topic.setdefault(record.topic, []).append((record, event))

        for topic, items in by_topic.items():
            sub = self.subscriptions[topic]
            try:
                handled = await self._in_one_transaction(sub, items)
            except INFRASTRUCTURE_ERRORS:
                metrics.MESSAGES_FAILED.labels(self.service, topic, "infrastructure").inc(len(items))
                raise
            except Exception as exc:
                log.warning("batch_failed_retrying_one_by_one", topic=topic, size=len(items),
                            error=repr(exc))
                handled = 0
                for item in items:
                    letter = await self._one_by_one(sub, item)
                    if letter is None:
                        handled += 1
                    else:
                        letters.append(letter)
            self._observe(topic, items, handled, started)

        await dlq.send(self.producer, self.service, letters)
        if self.on_committed is not None:
            self.on_committed(records)

    async def _in_one_transaction(
        self, sub: Subscription[Any], items: list[tuple[ConsumerRecord, Event]]
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await self._claim(conn, sub.topic.name, [e for _, e in items])
            if fresh:
                tx = Tx(conn, self.service)
                await sub.handler(tx, fresh)
                await outbox.write(conn, self.schema, tx.emitted)
        duplicates = len(items) - len(fresh)
        if duplicates:
            metrics.MESSAGES_DUPLICATE.labels(self.service, sub.topic.name).inc(duplicates)
        return len(fresh)

    async def _one_by_one(
        self, sub: Subscription[Any], item: tuple[ConsumerRecord, Event]
    ) -> dlq.DeadLetter | None:
        record, event = item
        with event_context(event):
            error: Exception | None = None
            for attempt in range(1, self.max_attempts + 1):
                try:
                    await self._in_one_transaction(sub, [item])
                    return None
                except INFRASTRUCTURE_ERRORS:
                    raise
                except Exception as exc:
                    error = exc
                    log.warning("handler_failed", topic=record.topic, attempt=attempt, error=repr(exc))
                    await asyncio.sleep(0.05 * attempt)
            assert error is not None
            metrics.MESSAGES_FAILED.labels(self.service, record.topic, "handler").inc()
            return dlq.DeadLetter(
                record, "handler_error",
                f"handler failed {self.max_attempts} times: {type(error).__name__}: {error}", error,
            )

    @staticmethod
    async def _claim(conn: asyncpg.Connection, topic: str, events: list[Event]) -> list[Event]:
        """Record the events in the inbox; return those not seen before, each once, in order."""
        ids = [e.event_id for e in events]
        rows = await conn.fetch(
            "INSERT INTO _inbox (event_id, topic) SELECT DISTINCT unnest($1::uuid[]), $2 "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            ids, topic,
        )
        new: set[uuid.UUID] = {r["event_id"] for r in rows}
        fresh = []
        for event in events:
            if event.event_id in new:
                new.discard(event.event_id)
                fresh.append(event)
        return fresh

    def _observe(self, topic: str, items: list[tuple[ConsumerRecord, Event]], handled: int,
                 started: float) -> None:
        now = datetime.now(UTC)
        metrics.HANDLER_DURATION.labels(self.service, topic).observe(time.perf_counter() - started)
        metrics.MESSAGES_HANDLED.labels(self.service, topic).inc(handled)
        age = metrics.EVENT_AGE.labels(self.service, topic)
        for _, event in items:
            age.observe(max(0.0, (now - event.occurred_at).total_seconds()))


async def prune_inbox(pool: asyncpg.Pool, older_than_days: float) -> int:
    """Forget handled event ids older than the retention; returns how many."""
    status = await pool.execute(
        "DELETE FROM _inbox WHERE received_at < now() - make_interval(secs => $1)",
        older_than_days * 86400,
    )
    return int(status.split()[-1])
