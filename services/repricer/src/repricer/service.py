"""repricer: prices from Commerce prices, rules and competitor offers; PriceChanged out."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from functools import partial
from importlib import resources

import asyncpg
from pydantic import Field

from contracts import topics
from repricer import api, commerce_rates, handlers, translate
from repricer.config import PricingConfig, load_config, registry
from repricer.repricing import reprice
from servicekit import Service, ServiceSettings
from servicekit import outbox as servicekit_outbox
from servicekit.config import channel, config_router
from servicekit.logging import get_logger

SERVICE = "repricer"
log = get_logger(component="repricer")


class Settings(ServiceSettings):
    http_port: int = 8102
    reprice_interval_s: float = Field(
        default=3600, gt=0, description="Reprice every listing this often (rule dates begin and end)")
    reprice_chunk: int = Field(default=500, ge=1)
    product_cache_size: int = Field(
        default=translate.PRODUCTS_KEPT, ge=0,
        description="Parsed products kept for repricing on offer changes (about 2.5 KB each)")


class Repricer:
    """The service's state beyond the database: the configuration in memory."""

    def __init__(self, service: Service[Settings]) -> None:
        self.service = service
        self.registry = registry()
        self.config = PricingConfig()
        self.reprice_requested = asyncio.Event()

    async def load(self) -> None:
        assert self.service.pool is not None
        self.config = await load_config(self.service.pool, self.registry)
        log.info("config_loaded", stores=len(self.config.settings), rules=len(self.config.rules),
                 rates=len(self.config.rates))

    async def watch_config(self) -> None:
        """Reload on every applied change (from any replica), then reprice everything."""
        s = self.service.settings
        while True:
            try:
                conn = await asyncpg.connect(s.database_url.get_secret_value(),
                                             server_settings={"search_path": self.service.schema})
                changed = asyncio.Event()
                await conn.add_listener(channel(self.service.schema), lambda *_, ev=changed: ev.set())
                try:
                    while True:
                        await changed.wait()
                        changed.clear()
                        await self.load()
                        self.reprice_requested.set()
                finally:
                    await conn.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect
                log.warning("config_watch_failed", error=repr(exc))
                await asyncio.sleep(1)

    async def reprice_periodically(self) -> None:
        interval = self.service.settings.reprice_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.reprice_requested.wait(), interval)
            self.reprice_requested.clear()
            try:
                await self.reprice_all()
            except Exception as exc:  # next request or interval tries again
                log.warning("reprice_all_failed", error=repr(exc))

    async def reprice_all(self) -> int:
        """Every listing, in chunks, each chunk one transaction; one replica at a time."""
        pool = self.service.pool
        assert pool is not None
        done = 0
        async with pool.acquire() as lock_conn:
            if not await lock_conn.fetchval("SELECT pg_try_advisory_lock(hashtext('repricer.reprice_all'))"):
                return 0
            try:
                after = ("", "", "")
                while True:
                    async with pool.acquire() as conn, conn.transaction():
                        keys = [tuple(r) for r in await conn.fetch(
                            "SELECT account_id, marketplace_id, sku FROM listings "
                            "WHERE (account_id, marketplace_id, sku) > ($1, $2, $3) "
                            "ORDER BY account_id, marketplace_id, sku LIMIT $4",
                            *after, self.service.settings.reprice_chunk)]
                        if not keys:
                            break
                        events = await reprice(conn, self.config, keys, datetime.now(UTC))
                        await servicekit_outbox.write(conn, self.service.schema, events)
                    done += len(keys)
                    after = keys[-1]
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock(hashtext('repricer.reprice_all'))")
        log.info("repriced_all", listings=done)
        return done


def build(settings: Settings | None = None) -> Service[Settings]:
    settings = settings or Settings()
    translate.keep_products(settings.product_cache_size)
    service = Service(SERVICE, settings, migrations=resources.files("repricer") / "migrations")
    repricer = Repricer(service)
    config = lambda: repricer.config  # noqa: E731 - handlers read the live configuration
    service.subscribe(topics.OFFERS, partial(handlers.on_offers, config=config))
    service.subscribe(topics.LISTINGS, partial(handlers.on_listings, config=config))
    service.subscribe(topics.PRODUCTS, partial(handlers.on_products, config=config))
    service.subscribe(topics.STORES, partial(commerce_rates.on_stores, channel=channel(service.schema)))
    service.on_startup(repricer.load)
    service.background("config-watch", repricer.watch_config)
    service.background("reprice", repricer.reprice_periodically)
    service.include_router(api.router(service))
    service.include_router(commerce_rates.router(service, lambda: repricer.config.rates))
    service.include_router(config_router(service, repricer.registry))
    service.repricer = repricer  # type: ignore[attr-defined]
    return service
