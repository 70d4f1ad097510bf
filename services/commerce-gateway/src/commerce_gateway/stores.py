"""Commerce's store structure and currency rates, read at start and every `STORE_SYNC_INTERVAL_S`.

One pass reads `/V1/store/websites`, `/V1/store/storeGroups`, `/V1/store/storeViews`, `/V1/store/storeConfigs` and
`/V1/directory/currency` (of the store view in the base URL), then emits StoreStructureObserved and
CurrencyRatesObserved on commerce.stores.v1, each only when what it says changed since the last one emitted: its
digest is kept in `store_observations`, written in the transaction that writes the event to the outbox. A call that
fails for good (or an answer that is no store structure) writes a CommunicationError and the next pass tries again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import asyncpg
from fastapi import APIRouter

from commerce_gateway.client import CommerceCallFailed, CommerceClient
from commerce_gateway.domain import stores as domain
from contracts import Event
from contracts.events import CommunicationError
from servicekit import Service, outbox
from servicekit.auth import Scope, requires
from servicekit.logging import get_logger
from servicekit.problems import ProblemError

log = get_logger(component="stores")

Json = dict[str, Any]


class StoreSyncFailed(Exception):
    """Commerce could not be read, or answered no store structure; the CommunicationError is written."""

    def __init__(self, fields: Json) -> None:
        super().__init__(f"{fields['operation']} failed after {fields['attempts']} attempt(s): "
                         f"{fields['code']}: {fields['message']}")
        self.fields = fields


@dataclass(frozen=True)
class SyncResult:
    emitted: list[str]  # kinds emitted in this pass: structure, rates
    unconfigured: list[str]  # store views Commerce gave no configuration


@dataclass
class StoreSync:
    pool: Any  # set by the service once it has started
    schema: str
    client: CommerceClient
    producer: str
    commerce: str = "default"
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def run_once(self) -> SyncResult:
        """Read everything, then write what changed; StoreSyncFailed when Commerce could not be read."""
        try:
            structure, rates = await self._read()
        except CommerceCallFailed as exc:
            await self._failed(exc.fields)
        except domain.UnusableStores as exc:
            await self._failed({"operation": "store sync", "code": "unusable_answer", "message": str(exc),
                                "attempts": 1})
        now = self.clock()
        if structure.unconfigured:
            log.warning("store_views_unconfigured", commerce=self.commerce, store_views=structure.unconfigured)
        events: dict[str, Event] = {
            "structure": domain.structure_event(structure, commerce=self.commerce, producer=self.producer,
                                                observed_at=now),
            "rates": domain.rates_event(rates, commerce=self.commerce, producer=self.producer, observed_at=now),
        }
        emitted = [kind for kind, event in events.items() if await self._write_if_changed(kind, event)]
        log.info("stores_synced", commerce=self.commerce, emitted=emitted, store_views=len(structure.store_views),
                 rates=len(rates.rates))
        return SyncResult(emitted, structure.unconfigured)

    async def _read(self) -> tuple[domain.Structure, domain.Rates]:
        websites = await self.client.websites()
        groups = await self.client.store_groups()
        views = await self.client.store_views()
        configs = await self.client.store_configs()
        currency = await self.client.currency()
        return domain.structure(websites, groups, views, configs), domain.rates(currency)

    async def _failed(self, fields: Json) -> NoReturn:
        error = CommunicationError.new(producer=self.producer, system="commerce", operation=fields["operation"],
                                       code=fields["code"], message=fields["message"], attempts=fields["attempts"],
                                       request_ref=f"store-sync:{self.commerce}")
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.write(conn, self.schema, [error])
        raise StoreSyncFailed(fields)

    async def _write_if_changed(self, kind: str, event: Any) -> bool:
        digest = domain.content_hash(event)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                               f"store_observations|{self.commerce}|{kind}")
            known = await conn.fetchval("SELECT hash FROM store_observations WHERE commerce = $1 AND kind = $2",
                                        self.commerce, kind)
            if known == digest:
                await conn.execute("UPDATE store_observations SET checked_at = now() WHERE commerce = $1 AND kind = $2",
                                   self.commerce, kind)
                return False
            await outbox.write(conn, self.schema, [event])
            await conn.execute(
                """
                INSERT INTO store_observations (commerce, kind, hash, event, observed_at)
                VALUES ($1, $2, $3, $4::jsonb, $5)
                ON CONFLICT (commerce, kind) DO UPDATE SET hash = EXCLUDED.hash, event = EXCLUDED.event,
                    observed_at = EXCLUDED.observed_at, changed_at = now(), checked_at = now()
                """, self.commerce, kind, digest, event.model_dump_json(), event.observed_at)
        return True

    async def run_forever(self, interval_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        while True:
            try:
                await self.run_once()
            except StoreSyncFailed as exc:
                log.warning("store_sync_stopped", commerce=self.commerce, reason=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database trouble: the next pass reads and compares again
                log.warning("store_sync_error", commerce=self.commerce, error=repr(exc))
            await sleep(interval_s)


async def last_observed(conn: asyncpg.Connection | asyncpg.Pool, commerce: str) -> Json | None:
    """The last structure and rates emitted (as their events say them), with when each was last read and changed."""
    rows = await conn.fetch("SELECT kind, event::text AS event, changed_at, checked_at FROM store_observations "
                            "WHERE commerce = $1", commerce)
    if not rows:
        return None
    out: Json = {"commerce": commerce, "structure": None, "rates": None}
    for r in rows:
        event = json.loads(r["event"])
        for envelope in ("event_id", "event_type", "schema_version", "occurred_at", "producer", "correlation_id",
                         "causation_id", "commerce"):
            event.pop(envelope, None)
        out[r["kind"]] = {**event, "changed_at": r["changed_at"].isoformat(), "checked_at": r["checked_at"].isoformat()}
    return out


def attach_store_sync(service: Service[Any], sync: StoreSync, *, interval_s: float) -> None:
    """Read the stores at start and every `interval_s` in the background; `GET /store` shows the last read."""
    async def run() -> None:
        sync.pool = service.pool
        await sync.run_forever(interval_s)

    service.background("store-sync", run)
    service.include_router(_router(service, sync.commerce))
    service.store_sync = sync  # type: ignore[attr-defined]


def _router(service: Service[Any], commerce: str) -> APIRouter:
    router = APIRouter(tags=["stores"])

    @router.get("/store", dependencies=[requires(Scope.READ)])
    async def store() -> Json:
        """Commerce's websites, store groups and store views, and its currency rates, as last emitted; with when
        each last changed and was last read."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        found = await last_observed(service.pool, commerce)
        if found is None:
            raise ProblemError(404, f"the stores of Commerce {commerce} have not been read yet")
        return found

    return router
