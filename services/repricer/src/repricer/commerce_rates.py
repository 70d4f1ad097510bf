"""Commerce's currency rates in: each CurrencyRatesObserved newer than the stored one for its Commerce installation
replaces it, and the configuration is reloaded (the notification `apply` sends, so every replica reloads and
reprices), which brings the rates into memory: nothing is read per offer."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from fastapi import APIRouter

from contracts import Event
from contracts.events import CurrencyRatesObserved
from repricer.domain.currency import CommerceRates
from servicekit import Service, Tx
from servicekit.auth import Scope, requires
from servicekit.logging import get_logger
from servicekit.problems import ProblemError

log = get_logger(component="commerce-rates")

NOTIFY_PAYLOAD = "CommerceRates"

_UPSERT = """
INSERT INTO commerce_rates AS c (commerce, base_currency, rates, observed_at, event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[], $5::uuid[])
ON CONFLICT (commerce) DO UPDATE SET base_currency = EXCLUDED.base_currency, rates = EXCLUDED.rates,
    observed_at = EXCLUDED.observed_at, event_id = EXCLUDED.event_id, updated_at = now()
WHERE c.observed_at < EXCLUDED.observed_at
RETURNING commerce
"""


async def on_stores(tx: Tx, events: Sequence[Event], channel: str) -> None:
    """Keep the newest rates per Commerce installation (an older observation never replaces a newer one); when any
    changed, notify `channel` so the configuration, and with it the rates, is reloaded after this commit."""
    newest: dict[str, CurrencyRatesObserved] = {}
    for e in events:
        if isinstance(e, CurrencyRatesObserved) and (
                e.commerce not in newest or newest[e.commerce].observed_at < e.observed_at):
            newest[e.commerce] = e
    if not newest:
        return
    batch = list(newest.values())
    stored = await tx.conn.fetch(
        _UPSERT, [e.commerce for e in batch], [e.base_currency for e in batch],
        [json.dumps({code: str(rate) for code, rate in e.rates.items()}) for e in batch],
        [e.observed_at for e in batch], [e.event_id for e in batch])
    if stored:
        await tx.conn.execute("SELECT pg_notify($1, $2)", channel, NOTIFY_PAYLOAD)
    log.info("commerce_rates_observed", stored=[r["commerce"] for r in stored],
             stale=sorted(set(newest) - {r["commerce"] for r in stored}))


async def load(conn: Any) -> list[CommerceRates]:
    """Every installation's stored rates, oldest observation first."""
    rows = await conn.fetch("SELECT base_currency, rates::text AS rates FROM commerce_rates "
                            "ORDER BY observed_at, commerce")
    return [CommerceRates(r["base_currency"], {code: Decimal(rate) for code, rate in json.loads(r["rates"]).items()})
            for r in rows]


def router(service: Service[Any], rates_in_use: Callable[[], Mapping[str, Decimal]]) -> APIRouter:
    r = APIRouter(tags=["pricing"], dependencies=[requires(Scope.READ)])

    @r.get("/rates")
    async def rates() -> dict[str, Any]:
        """The currency rates conversion uses ("FROM/TO": 1 FROM = rate TO), and each Commerce installation's
        rates as last observed; configured CurrencyRate resources are under /config/CurrencyRate."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        observed = await service.pool.fetch(
            "SELECT commerce, base_currency, rates::text AS rates, observed_at FROM commerce_rates ORDER BY commerce")
        return {"in_use": {pair: str(rate) for pair, rate in sorted(rates_in_use().items())},
                "commerce": [{"commerce": o["commerce"], "base_currency": o["base_currency"],
                              "rates": json.loads(o["rates"]), "observed_at": o["observed_at"].isoformat()}
                             for o in observed]}

    return r
