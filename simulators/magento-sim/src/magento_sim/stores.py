"""The store structure: two websites (US in USD, EU in EUR) so that website-scoped prices matter."""

from __future__ import annotations

from typing import Any

WEBSITES = [
    {"id": 0, "code": "admin", "name": "Admin", "default_group_id": 0},
    {"id": 1, "code": "base", "name": "Main Website", "default_group_id": 1},
    {"id": 2, "code": "eu", "name": "EU Website", "default_group_id": 2},
]
GROUPS = [
    {"id": 0, "website_id": 0, "root_category_id": 0, "default_store_id": 0, "name": "Default", "code": "default"},
    {"id": 1, "website_id": 1, "root_category_id": 2, "default_store_id": 1, "name": "Main Website Store",
     "code": "main_website_store"},
    {"id": 2, "website_id": 2, "root_category_id": 2, "default_store_id": 2, "name": "EU Store",
     "code": "eu_store"},
]
VIEWS = [
    {"id": 0, "code": "admin", "name": "Admin", "website_id": 0, "store_group_id": 0, "is_active": 1},
    {"id": 1, "code": "default", "name": "Default Store View", "website_id": 1, "store_group_id": 1, "is_active": 1},
    {"id": 2, "code": "eu_en", "name": "EU English", "website_id": 2, "store_group_id": 2, "is_active": 1},
]
CURRENCIES = {"USD": "$", "EUR": "€", "GBP": "£"}
WEBSITE_CURRENCY = {0: "USD", 1: "USD", 2: "EUR"}
RATES = {"USD": {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}, "EUR": {"EUR": 1.0, "USD": 1.087, "GBP": 0.86}}
SEEDED_RATES = {base: dict(rates) for base, rates in RATES.items()}
LOCALES = {1: ("en_US", "America/Chicago", "lbs"), 2: ("en_GB", "Europe/Berlin", "kgs")}


def view(code: str | None) -> dict[str, Any] | None:
    """The store view a request's `/rest/<code>/` names: `default` when absent, `all` is the admin scope."""
    code = code or "default"
    if code == "all":
        return VIEWS[0]
    return next((v for v in VIEWS if v["code"] == code), None)


def configs(base_url: str, codes: list[str] | None) -> list[dict[str, Any]]:
    out = []
    for v in VIEWS[1:]:
        if codes and v["code"] not in codes:
            continue
        locale, timezone, weight = LOCALES[v["website_id"]]
        currency = WEBSITE_CURRENCY[v["website_id"]]
        url = f"{base_url.rstrip('/')}/"
        out.append({
            "id": v["id"], "code": v["code"], "website_id": v["website_id"], "locale": locale,
            "base_currency_code": currency, "default_display_currency_code": currency, "timezone": timezone,
            "weight_unit": weight, "base_url": url, "base_link_url": url, "base_static_url": f"{url}static/",
            "base_media_url": f"{url}media/", "secure_base_url": url, "secure_base_link_url": url,
            "secure_base_static_url": f"{url}static/", "secure_base_media_url": f"{url}media/",
        })
    return out


def currency(website_id: int) -> dict[str, Any]:
    base = WEBSITE_CURRENCY.get(website_id, "USD")
    return {
        "base_currency_code": base, "base_currency_symbol": CURRENCIES[base],
        "default_display_currency_code": base, "default_display_currency_symbol": CURRENCIES[base],
        "available_currency_codes": sorted(RATES[base]),
        "exchange_rates": [{"currency_to": to, "rate": rate} for to, rate in sorted(RATES[base].items())],
    }


def set_rates(base: str, rates: dict[str, float]) -> dict[str, float]:
    """Replace the rates from `base` (as an admin saving Stores > Currency Rates would); the base itself stays 1.
    The rates, like the rest of the store structure, are the process's: every simulator in it sees them."""
    RATES[base] = {**rates, base: 1.0}
    return dict(sorted(RATES[base].items()))


def reset_rates() -> None:
    RATES.clear()
    RATES.update({base: dict(rates) for base, rates in SEEDED_RATES.items()})
