"""Commerce's store structure and currency rates (`store-data-*`, `directory-data-currency-information-interface`)
as StoreStructureObserved and CurrencyRatesObserved, and the digests that tell whether either changed.

The admin scope (website 0, store group 0, store view 0) is left out: nothing is sold there, and Commerce gives it no
store configuration (currency, locale). A store view Commerce lists without a configuration is left out too, and named
in `Structure.unconfigured`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from commerce_gateway.domain.products import decimal
from contracts.events import (
    CommerceStoreGroup,
    CommerceStoreView,
    CommerceWebsite,
    CurrencyRatesObserved,
    StoreStructureObserved,
)

Json = dict[str, Any]
ADMIN_ID = 0
_CONTENT_EXCLUDED = frozenset({"event_id", "event_type", "schema_version", "occurred_at", "producer",
                               "correlation_id", "causation_id", "observed_at"})


class UnusableStores(ValueError):
    """Commerce answered something that is no store structure or currency information."""


@dataclass(frozen=True)
class Structure:
    websites: list[CommerceWebsite]
    store_groups: list[CommerceStoreGroup]
    store_views: list[CommerceStoreView]
    unconfigured: list[str]  # codes of store views without a store configuration


@dataclass(frozen=True)
class Rates:
    base_currency: str
    default_display_currency: str
    rates: dict[str, Decimal]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _sold(item: Json) -> bool:
    return _int(item.get("id")) != ADMIN_ID


def _items(answer: Any, what: str) -> list[Json]:
    if not isinstance(answer, list) or not all(isinstance(i, dict) for i in answer):
        raise UnusableStores(f"{what}: not a list of objects")
    return sorted((i for i in answer if _sold(i)), key=lambda i: _int(i.get("id")) or 0)


def _build(model: type[Any], what: str, fields: Json) -> Any:
    try:
        return model(**fields)
    except ValidationError as exc:
        raise UnusableStores(f"{what}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc


def structure(websites: Any, groups: Any, views: Any, configs: Any) -> Structure:
    """The sold websites, store groups and store views in id order, each view with its store configuration."""
    config_by_id = {_int(c.get("id")): c for c in _items(configs, "storeConfigs")}
    out_views: list[CommerceStoreView] = []
    unconfigured: list[str] = []
    for v in _items(views, "storeViews"):
        config = config_by_id.get(_int(v.get("id")))
        if config is None:
            unconfigured.append(str(v.get("code")))
            continue
        out_views.append(_build(CommerceStoreView, f"store view {v.get('code')}", {
            "id": _int(v.get("id")), "code": v.get("code"), "name": v.get("name"),
            "website_id": _int(v.get("website_id")), "store_group_id": _int(v.get("store_group_id")),
            "is_active": bool(_int(v.get("is_active"))),
            "base_currency": config.get("base_currency_code"),
            "default_display_currency": config.get("default_display_currency_code"),
            "locale": config.get("locale") or None, "timezone": config.get("timezone") or None,
            "weight_unit": config.get("weight_unit") or None,
        }))
    return Structure(
        websites=[_build(CommerceWebsite, f"website {w.get('code')}", {
            "id": _int(w.get("id")), "code": w.get("code"), "name": w.get("name"),
            "default_group_id": _int(w.get("default_group_id"))}) for w in _items(websites, "websites")],
        store_groups=[_build(CommerceStoreGroup, f"store group {g.get('code')}", {
            "id": _int(g.get("id")), "code": g.get("code"), "name": g.get("name"),
            "website_id": _int(g.get("website_id")), "root_category_id": _int(g.get("root_category_id")),
            "default_store_id": _int(g.get("default_store_id"))}) for g in _items(groups, "storeGroups")],
        store_views=out_views,
        unconfigured=unconfigured,
    )


def plain(value: Decimal) -> Decimal:
    """The value without trailing zeros and never in exponent form: 0.920000 and 0.92 are one rate."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def rates(currency: Any) -> Rates:
    """The base currency, the default display currency and what one unit of the base buys of each currency
    Commerce has a positive rate for; the base itself is 1."""
    if not isinstance(currency, dict):
        raise UnusableStores("directory/currency: not an object")
    base = currency.get("base_currency_code")
    display = currency.get("default_display_currency_code") or base
    exchange = currency.get("exchange_rates") or []
    if not isinstance(exchange, list) or not all(isinstance(r, dict) for r in exchange):
        raise UnusableStores("directory/currency: exchange_rates is not a list of objects")
    found: dict[str, Decimal] = {}
    for r in exchange:
        code, rate = r.get("currency_to"), decimal(r.get("rate"))
        if isinstance(code, str) and rate is not None and rate > 0:
            found[code] = plain(rate)
    if isinstance(base, str):
        found[base] = Decimal(1)
    return Rates(base_currency=base, default_display_currency=display,  # type: ignore[arg-type]
                 rates=dict(sorted(found.items())))


def _event(model: type[Any], what: str, **fields: Any) -> Any:
    try:
        return model.new(**fields)
    except ValidationError as exc:
        raise UnusableStores(f"{what}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc


def structure_event(s: Structure, *, commerce: str, producer: str, observed_at: datetime) -> StoreStructureObserved:
    return _event(StoreStructureObserved, "store structure", producer=producer, commerce=commerce,  # type: ignore[no-any-return]
                  websites=s.websites, store_groups=s.store_groups, store_views=s.store_views,
                  observed_at=observed_at)


def rates_event(r: Rates, *, commerce: str, producer: str, observed_at: datetime) -> CurrencyRatesObserved:
    return _event(CurrencyRatesObserved, "directory/currency", producer=producer, commerce=commerce,  # type: ignore[no-any-return]
                  base_currency=r.base_currency, default_display_currency=r.default_display_currency,
                  rates=r.rates, observed_at=observed_at)


def content_hash(event: StoreStructureObserved | CurrencyRatesObserved) -> str:
    """A digest of what the event says (not of its envelope nor of when it was read): equal when nothing changed."""
    body = event.model_dump(mode="json", exclude=set(_CONTENT_EXCLUDED))
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
