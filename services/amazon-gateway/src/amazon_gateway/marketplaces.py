"""Each account's marketplaces from the Sellers API (getMarketplaceParticipations).

At start and then every `MARKETPLACES_REFRESH_S`, every account's participations are read, stored in
`account_marketplaces` (served at `GET /accounts`), and the account's working marketplaces set: the
configured `marketplace_ids` where the seller participates, or every participating marketplace when none
are configured. Order polling, the listing import and notifications then use them. A failed read is a
CommunicationError, the account keeps its configured marketplaces, and it is tried again after
`MARKETPLACES_RETRY_S`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from amazon_gateway.accounts import AmazonAccount
from amazon_gateway.client import AmazonCallFailed, SpApiClient
from amazon_gateway.domain.marketplaces import (
    Participation,
    ParticipationsUnreadable,
    marketplaces_to_serve,
    read_participations,
)
from amazon_gateway.notifications import sellers_of
from contracts.events import CommunicationError
from servicekit import outbox
from servicekit.auth import Scope, requires
from servicekit.logging import get_logger

log = get_logger(component="marketplaces")

OPERATION = "getMarketplaceParticipations"

_STORE = """
INSERT INTO account_marketplaces (account_id, marketplace_id, country_code, currency, language, name, participating,
                                  suspended_listings, served, refreshed_at)
SELECT $1, m, c, cur, lang, n, p, s, sv, now()
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::bool[], $9::bool[])
     AS u(m, c, cur, lang, n, p, s, sv)
ON CONFLICT (account_id, marketplace_id) DO UPDATE SET
    country_code = EXCLUDED.country_code, currency = EXCLUDED.currency, language = EXCLUDED.language,
    name = EXCLUDED.name, participating = EXCLUDED.participating, suspended_listings = EXCLUDED.suspended_listings,
    served = EXCLUDED.served, refreshed_at = EXCLUDED.refreshed_at
"""


class MarketplaceDiscovery:
    def __init__(self, service: Any, client: SpApiClient, *, refresh_s: float, retry_s: float) -> None:
        self.service = service
        self.client = client
        self.refresh_s = refresh_s
        self.retry_s = retry_s
        # What the configuration said, kept apart from what the client now works with.
        self.configured: dict[str, list[str]] = {a: list(acc.marketplace_ids) for a, acc in client.accounts.items()}

    async def refresh(self, account_id: str) -> list[str] | None:
        """Read one account's participations and apply them; None when Amazon could not be read."""
        account = self.client.accounts[account_id]
        try:
            _, body = await self.client.call(account_id, OPERATION, "GET", "/sellers/v1/marketplaceParticipations")
            participations = read_participations(body)
        except AmazonCallFailed as exc:
            await self._report(account, exc.fields)
            return None
        except ParticipationsUnreadable as exc:
            await self._report(account, {"operation": OPERATION, "code": "UnexpectedResponse", "message": str(exc),
                                         "attempts": 1})
            return None
        served, refused = marketplaces_to_serve(self.configured.get(account_id, []), participations)
        if refused:
            log.warning("marketplaces_not_participating", account_id=account_id, marketplaces=refused)
        await self._store(account_id, participations, set(served))
        self.client.accounts[account_id] = account.model_copy(update={"marketplace_ids": served})
        notifications = getattr(self.service, "notifications", None)
        if notifications is not None:
            notifications.sellers = sellers_of(self.client.accounts)
        log.info("marketplaces_refreshed", account_id=account_id, marketplaces=served)
        return served

    async def refresh_all(self) -> bool:
        """Every account; True when all were read."""
        results = [await self.refresh(a) for a in list(self.client.accounts)]
        return all(r is not None for r in results)

    async def run(self) -> None:
        while True:
            try:
                ok = await self.refresh_all()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the next round repeats this one
                log.warning("marketplaces_refresh_error", error=repr(exc))
                ok = False
            await asyncio.sleep(self.refresh_s if ok else self.retry_s)

    async def _store(self, account_id: str, ps: list[Participation], served: set[str]) -> None:
        pool = self.service.pool
        if pool is None or not ps:
            return
        await pool.execute(
            _STORE, account_id, [p.marketplace_id for p in ps], [p.country_code for p in ps],
            [p.currency for p in ps], [p.language for p in ps], [p.name for p in ps], [p.participating for p in ps],
            [p.suspended_listings for p in ps], [p.marketplace_id in served for p in ps])

    async def _report(self, account: AmazonAccount, fields: dict[str, Any]) -> None:
        log.warning("marketplaces_read_failed", account_id=account.account_id, operation=fields["operation"],
                    code=fields["code"])
        pool = self.service.pool
        if pool is None:
            return
        event = CommunicationError.new(
            producer=self.service.name, system="amazon", account_id=account.account_id, region=account.region,
            operation=fields["operation"], code=str(fields["code"]), message=fields["message"],
            attempts=fields["attempts"])
        async with pool.acquire() as conn, conn.transaction():
            await outbox.write(conn, self.service.schema, [event])


def attach(service: Any, client: SpApiClient) -> MarketplaceDiscovery:
    s = service.settings
    discovery = MarketplaceDiscovery(service, client, refresh_s=s.marketplaces_refresh_s,
                                     retry_s=s.marketplaces_retry_s)
    service.marketplaces = discovery
    service.background("marketplaces", discovery.run)
    router = APIRouter(tags=["accounts"], dependencies=[requires(Scope.READ)])

    @router.get("/accounts")
    async def accounts() -> list[dict[str, Any]]:
        """Every configured account (no credentials) with its marketplaces as the Sellers API last reported them."""
        rows = await service.pool.fetch("SELECT * FROM account_marketplaces ORDER BY account_id, marketplace_id") \
            if service.pool is not None else []
        by_account: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_account.setdefault(r["account_id"], []).append({
                "marketplace_id": r["marketplace_id"], "name": r["name"], "country_code": r["country_code"],
                "currency": r["currency"], "participating": r["participating"],
                "suspended_listings": r["suspended_listings"], "served": r["served"],
                "refreshed_at": r["refreshed_at"].isoformat()})
        return [{"account_id": a.account_id, "seller_id": a.seller_id, "region": a.region,
                 "configured_marketplace_ids": discovery.configured.get(a.account_id, []),
                 "marketplace_ids": list(a.marketplace_ids), "marketplaces": by_account.get(a.account_id, [])}
                for a in client.accounts.values()]

    service.include_router(router)
    return discovery
