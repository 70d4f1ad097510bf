"""A service: its subscriptions, its HTTP API, and the lifecycle that runs them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from importlib.resources.abc import Traversable
from typing import Any, Generic, TypeVar

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition
from fastapi import APIRouter, FastAPI
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from contracts import Topic
from servicekit import audit, auth, db, http, metrics
from servicekit.consumer import BatchProcessor, Handler, Subscription, prune_inbox
from servicekit.logging import configure_logging, get_logger
from servicekit.outbox import OutboxRelay
from servicekit.partitioner import CachingPartitioner
from servicekit.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
log = get_logger(component="service")


async def _raw_records(message: Any) -> None:
    """The handler reads the raw records; spare FastStream decoding every value as JSON."""
    return None


def tune_gc(gen0_threshold: int) -> None:
    """Collect young objects less often and leave what startup built (modules, schemas, the app)
    out of every later collection: consuming in batches otherwise spends a large share of its
    time in the garbage collector."""
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


class Service(Generic[S]):
    """One deployable: declare subscriptions and routes, then `run()`."""

    def __init__(
        self, name: str, settings: S, *, migrations: Traversable | None = None,
        version: str = "0.1.0",
    ) -> None:
        self.name = name
        self.settings = settings
        self.schema = db.schema_name(name)
        self.migrations = migrations
        self.version = version
        self.subscriptions: dict[str, Subscription[Any]] = {}
        self.routers: list[APIRouter] = []
        self.on_committed: Callable[[Sequence[ConsumerRecord]], None] | None = None
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._background: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self.pool: asyncpg.Pool | None = None
        self.broker: KafkaBroker | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    # ------------------------------------------------------------ declaration

    def subscribe(self, topic: Topic, handler: Handler[Any]) -> None:
        self.subscriptions[topic.name] = Subscription(topic, handler)

    def include_router(self, router: APIRouter) -> None:
        self.routers.append(router)

    def on_startup(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run after the database is migrated and before consuming starts."""
        self._startup.append(hook)

    def background(self, name: str, task: Callable[[], Awaitable[None]]) -> None:
        """A task that runs for the service's lifetime, started once consuming has begun."""
        self._background.append((name, task))

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        s = self.settings
        dsn = s.database_url.get_secret_value()
        self.pool = await db.create_pool(dsn, self.schema, min_size=s.db_pool_min, max_size=s.db_pool_max)
        await db.migrate(self.pool, self.schema, self.migrations)

        self.producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers, acks="all", linger_ms=s.producer_linger_ms,
            max_batch_size=256 * 1024, client_id=self.name, partitioner=CachingPartitioner(),
        )
        await self.producer.start()

        self.relay = OutboxRelay(
            service=self.name, dsn=dsn, schema=self.schema, producer=self.producer,
            batch_size=s.outbox_batch_size, poll_interval_s=s.outbox_poll_interval_s,
        )
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.relay.connected.wait(), 10)

        for hook in self._startup:
            await hook()
        tune_gc(s.gc_gen0_threshold)

        if self.subscriptions:
            self.broker = self._build_broker()
            await self.broker.start()
            self._tasks.append(asyncio.create_task(self._report_lag(), name="consumer-lag"))
            self._tasks.append(asyncio.create_task(self._prune_inbox(), name="inbox-prune"))
        for name, task in self._background:
            self._tasks.append(asyncio.create_task(task(), name=name))
        self.started = True
        log.info("service_started", topics=sorted(self.subscriptions), version=self.version)

    async def stop(self) -> None:
        self.started = False
        if self.broker is not None:
            await self.broker.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
        log.info("service_stopped")

    def _build_broker(self) -> KafkaBroker:
        assert self.pool is not None and self.producer is not None
        s = self.settings
        broker = KafkaBroker(s.kafka_bootstrap_servers, logger=None, client_id=self.name)
        processor = BatchProcessor(
            service=self.name, schema=self.schema, pool=self.pool, producer=self.producer,
            subscriptions=self.subscriptions, max_attempts=s.handler_max_attempts,
            on_committed=self.on_committed,
        )

        # Offsets are committed by the ack after `process` returns; an exception rewinds the
        # batch (NACK) so it is delivered again. Never the default ack-first policy.
        @broker.subscriber(
            *self.subscriptions, group_id=self.name, batch=True,
            max_records=s.consumer_max_records, batch_timeout_ms=s.consumer_batch_timeout_ms,
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR, auto_offset_reset="earliest",
            decoder=_raw_records,
        )
        async def consume(message: KafkaMessage) -> None:
            records = message.raw_message
            await processor.process(records if isinstance(records, tuple) else (records,))

        return broker

    def consumers(self) -> list[Any]:
        if self.broker is None:
            return []
        return [c for sub in self.broker.subscribers if (c := getattr(sub, "consumer", None))]

    async def _report_lag(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lag_interval_s)
            for consumer in self.consumers():
                try:
                    parts: set[TopicPartition] = consumer.assignment()
                    if not parts:
                        continue
                    # The high watermark the last fetch reported; Tansu's ListOffsets answers
                    # wrong end offsets, so asking the broker is the fallback only.
                    highwater = {tp: consumer.highwater(tp) for tp in parts}
                    unknown = [tp for tp, end in highwater.items() if end is None]
                    if unknown:
                        highwater.update(await consumer.end_offsets(unknown))
                    for tp in parts:
                        position = await consumer.position(tp)
                        metrics.CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(
                            max(0, highwater[tp] - position)
                        )
                except Exception as exc:  # lag is advisory; never stop the service for it
                    log.debug("lag_unavailable", error=repr(exc))

    async def _prune_inbox(self) -> None:
        assert self.pool is not None
        while True:
            try:
                pruned = await prune_inbox(self.pool, self.settings.inbox_retention_days)
                if pruned:
                    log.info("inbox_pruned", rows=pruned)
            except Exception as exc:  # retried at the next interval
                log.warning("inbox_prune_failed", error=repr(exc))
            await asyncio.sleep(self.settings.inbox_prune_interval_s)

    async def ready(self) -> dict[str, bool]:
        checks = {"started": self.started, "database": False, "broker": False, "outbox": False}
        if self.pool is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    checks["database"] = await self.pool.fetchval("SELECT true")
        if self.broker is not None:
            with contextlib.suppress(Exception):
                checks["broker"] = bool(await self.broker.ping(timeout=2))
        elif self.producer is not None:
            checks["broker"] = True
        checks["outbox"] = bool(self.relay and self.relay.healthy)
        return checks

    # ------------------------------------------------------------ running

    def asgi(self) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = http.create_app(self, lifespan)
        app.include_router(audit.router(self))
        for router in self.routers:
            app.include_router(router)
        auth.check_routes(app.routes)
        return app

    def run(self) -> None:
        configure_logging(self.name, self.settings.log_level)
        config = uvicorn.Config(
            self.asgi(), host=self.settings.http_host, port=self.settings.http_port,
            log_config=None, access_log=False, lifespan="on",
        )
        uvicorn.Server(config).run()
