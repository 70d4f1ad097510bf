"""Reprice listings inside the caller's transaction: read what they need in one query, decide
in memory, write the prices and emit the events through the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg
from prometheus_client import Counter

from contracts import Event, Money
from repricer import translate
from repricer.config import PricingConfig
from repricer.domain import MarketSnapshot, OurListing, PricingError, decide
from servicekit.logging import get_logger
from servicekit.metrics import MESSAGES_FAILED

log = get_logger(component="repricing")

PRICES_HELD = Counter(
    "saleschannel_repricer_prices_held_total",
    "Decisions a guard held back (price war, step limit...), by the guard's reason",
    ["service", "reason"],
)
PRICES_CHANGED = Counter("saleschannel_repricer_prices_changed_total", "Prices changed and sent", ["service"])

ListingKey = tuple[str, str, str]

_READ = """
SELECT l.account_id, l.marketplace_id, l.sku, l.asin, l.condition, l.status,
       p.sku AS product_sku, p.currency AS product_currency, p.price AS product_price,
       p.attributes::text AS attributes, p.website_attributes::text AS website_attributes,
       pr.price AS live_price, pr.currency AS live_currency, pr.history::text AS history,
       pr.competitive::text AS competitive, o.snapshot::text AS snapshot
FROM listings l
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(a, m, s)
  ON l.account_id = k.a AND l.marketplace_id = k.m AND l.sku = k.s
LEFT JOIN products p ON p.sku = l.product_sku
LEFT JOIN prices pr ON pr.account_id = l.account_id AND pr.marketplace_id = l.marketplace_id AND pr.sku = l.sku
LEFT JOIN offers o ON $4 AND o.marketplace_id = l.marketplace_id AND o.asin = l.asin
ORDER BY l.account_id, l.marketplace_id, l.sku
"""

_WRITE = """
INSERT INTO prices AS p (account_id, marketplace_id, sku, price, currency, decided_at, decision,
                         history, competitive)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[],
                     $6::timestamptz[], $7::json[], $8::jsonb[], $9::jsonb[])
ON CONFLICT (account_id, marketplace_id, sku) DO UPDATE SET
    price = EXCLUDED.price, currency = EXCLUDED.currency, decided_at = EXCLUDED.decided_at,
    decision = EXCLUDED.decision, history = EXCLUDED.history, competitive = EXCLUDED.competitive
"""

NOT_PRICED = {"Ineligible", "Manually Ended"}


async def reprice(
    conn: asyncpg.Connection, config: PricingConfig, keys: Iterable[ListingKey], now: datetime,
    causes: Mapping[ListingKey, Event] | None = None,
    markets: Mapping[tuple[str, str], MarketSnapshot] | None = None,
) -> list[Event]:
    """Decide the price of each listing; return the events to emit. A listing without a product,
    settings or a price source is skipped with a log line; it is priced once those arrive.
    `markets` gives the offer sets in hand (all that matter for these listings), sparing reading
    and parsing the stored ones."""
    keys = sorted(set(keys))
    if not keys:
        return []
    # One decision per listing at a time: a handler and a reprice-all (or two replicas) pricing
    # the same listing would otherwise both see the old price and both emit. Locks are taken in
    # key order, so two batches never deadlock; the read below then sees what the other committed.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k ORDER BY k",
        sorted("|".join(k) for k in keys))
    rows = await conn.fetch(_READ, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
                            markets is None)
    events: list[Event] = []
    writes: list[tuple[Any, ...]] = []
    causes = causes or {}
    for row in rows:
        key = (row["account_id"], row["marketplace_id"], row["sku"])
        settings = config.settings.get(key[:2])
        if settings is None or row["product_sku"] is None or row["status"] in NOT_PRICED:
            continue
        product_key = (row["product_sku"], row["product_currency"], row["product_price"],
                       row["attributes"], row["website_attributes"])
        product = translate.stored_product(product_key)
        market: MarketSnapshot | None = (
            markets.get((key[1], row["asin"])) if markets is not None else translate.market_from_json(row["snapshot"]))
        history = translate.history_from_json(row["live_price"], row["live_currency"], row["history"])
        ours = _our_listing(settings.seller_id, row["condition"])
        try:
            rules = config.matching_rules(key[0], key[1], product, product_key, now)
            decision = decide(product, settings, rules, ours, now, market=market, rates=config.rates,
                              history=history, rules_matched=True)
        except PricingError as exc:
            MESSAGES_FAILED.labels(translate.SERVICE, "pricing", type(exc).__name__).inc()
            log.warning("not_priced", account_id=key[0], marketplace_id=key[1], sku=key[2], reason=str(exc))
            continue

        cause = causes.get(key)
        if decision.held:
            reason = "price_war" if decision.held.startswith("price war") else "other"
            PRICES_HELD.labels(translate.SERVICE, reason).inc()
            log.warning("price_held", account_id=key[0], marketplace_id=key[1], sku=key[2], held=decision.held,
                        competitor=decision.competitor.seller_id if decision.competitor else None)
        live = history.current()
        changed = decision.send and (live is None or live != decision.price)
        price = decision.price if changed or live is None else live
        if changed:
            PRICES_CHANGED.labels(translate.SERVICE).inc()
            events += translate.price_events(key, row["asin"], decision, now, cause)
        competition = translate.competition(market, settings.seller_id)
        landed = _landed(price, ours, market)
        analysis = competition.as_dict(landed)
        competitive = json.dumps(analysis, sort_keys=True)
        if row["asin"] and market is not None and analysis != translate.stored_competition(row["competitive"]):
            observed = market.observed_at or now
            events.append(translate.competitive_event(key, row["asin"], landed, competition, observed, cause))
        history_json = translate.history_after(history, decision, now) if changed else (row["history"] or "[]")
        writes.append((*key, price.amount, price.currency, now,
                       decision.model_dump_json(), history_json, competitive))
    if writes:
        await conn.execute(_WRITE, *[list(col) for col in zip(*writes, strict=True)])
    return events


@lru_cache(maxsize=1024)
def _our_listing(seller_id: str, condition: str | None) -> OurListing:
    """A handful of sellers and conditions make every listing's view of itself; built once each."""
    return OurListing(seller_id=seller_id, condition=translate.our_condition(condition))


def _landed(price: Money, ours: OurListing, market: MarketSnapshot | None) -> Money:
    """Our landed price: our item price plus the shipping our own offer shows, if any."""
    own = next((o for o in (market.offers if market else []) if o.is_ours or o.seller_id == ours.seller_id), None)
    if own is None or own.shipping.currency != price.currency:
        return price
    return Money(amount=price.amount + own.shipping.amount, currency=price.currency)
