"""Commerce's store structure and currency information (store-data-*, directory-data-currency-information) as
StoreStructureObserved and CurrencyRatesObserved, and their digests: pure, no I/O. The answers below are in the
published 2.4.8 model's shapes, which the first test proves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commerce_gateway.domain.stores import (
    UnusableStores,
    content_hash,
    plain,
    rates,
    rates_event,
    structure,
    structure_event,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

WEBSITES = [{"id": 0, "code": "admin", "name": "Admin", "default_group_id": 0},
            {"id": 1, "code": "base", "name": "Main Website", "default_group_id": 1},
            {"id": 3, "code": "uk", "name": "UK Website", "default_group_id": 3}]
GROUPS = [{"id": 0, "website_id": 0, "root_category_id": 0, "default_store_id": 0, "name": "Default",
           "code": "default"},
          {"id": 1, "website_id": 1, "root_category_id": 2, "default_store_id": 1, "name": "Main Website Store",
           "code": "main_website_store"},
          {"id": 3, "website_id": 3, "root_category_id": 2, "default_store_id": 4, "name": "UK Store",
           "code": "uk_store"}]
VIEWS = [{"id": 0, "code": "admin", "name": "Admin", "website_id": 0, "store_group_id": 0, "is_active": 1},
         {"id": 4, "code": "uk_en", "name": "UK English", "website_id": 3, "store_group_id": 3, "is_active": 0},
         {"id": 1, "code": "default", "name": "Default Store View", "website_id": 1, "store_group_id": 1,
          "is_active": 1}]


def config(view_id: int, code: str, website_id: int, base: str, display: str, locale: str, timezone: str,
           weight: str) -> dict[str, Any]:
    url = "https://shop.example/"
    return {"id": view_id, "code": code, "website_id": website_id, "locale": locale, "base_currency_code": base,
            "default_display_currency_code": display, "timezone": timezone, "weight_unit": weight,
            "base_url": url, "base_link_url": url, "base_static_url": url + "static/",
            "base_media_url": url + "media/", "secure_base_url": url, "secure_base_link_url": url,
            "secure_base_static_url": url + "static/", "secure_base_media_url": url + "media/"}


CONFIGS = [config(1, "default", 1, "USD", "USD", "en_US", "America/Chicago", "lbs"),
           config(4, "uk_en", 3, "GBP", "EUR", "en_GB", "Europe/London", "kgs")]
CURRENCY = {"base_currency_code": "USD", "base_currency_symbol": "$", "default_display_currency_code": "USD",
            "default_display_currency_symbol": "$", "available_currency_codes": ["CAD", "EUR", "GBP", "USD"],
            "exchange_rates": [{"currency_to": "CAD", "rate": Decimal("1.370000")},
                               {"currency_to": "EUR", "rate": Decimal("0.92")},
                               {"currency_to": "GBP", "rate": Decimal("0")},
                               {"currency_to": "USD", "rate": Decimal("1")}]}


def test_the_answers_here_are_the_published_models_shapes() -> None:
    model = pytest.importorskip("magento_sim.model")
    for path, answer in (("/V1/store/websites", WEBSITES), ("/V1/store/storeGroups", GROUPS),
                         ("/V1/store/storeViews", VIEWS), ("/V1/store/storeConfigs", CONFIGS),
                         ("/V1/directory/currency", CURRENCY)):
        as_json = json.loads(json.dumps(answer, default=float))
        assert model.problems(model.response_validator("GET", path, 200), as_json) == [], path


def test_sold_websites_groups_and_views_with_their_configuration_in_id_order() -> None:
    s = structure(WEBSITES, GROUPS, VIEWS, CONFIGS)
    assert [w.code for w in s.websites] == ["base", "uk"]
    assert [(g.code, g.default_store_id) for g in s.store_groups] == [("main_website_store", 1), ("uk_store", 4)]
    assert [(v.id, v.code, v.is_active, v.base_currency, v.default_display_currency, v.locale, v.timezone,
             v.weight_unit) for v in s.store_views] == [
        (1, "default", True, "USD", "USD", "en_US", "America/Chicago", "lbs"),
        (4, "uk_en", False, "GBP", "EUR", "en_GB", "Europe/London", "kgs")]
    assert s.unconfigured == []


def test_the_admin_scope_is_left_out_and_a_view_without_configuration_is_named() -> None:
    s = structure(WEBSITES, GROUPS, VIEWS, CONFIGS[:1])
    assert 0 not in {w.id for w in s.websites} | {g.id for g in s.store_groups} | {v.id for v in s.store_views}
    assert [v.code for v in s.store_views] == ["default"] and s.unconfigured == ["uk_en"]


def test_ids_as_strings_are_read_as_numbers() -> None:
    views = [{**v, "id": str(v["id"]), "is_active": str(v["is_active"])} for v in VIEWS]
    assert [(v.id, v.is_active) for v in structure(WEBSITES, GROUPS, views, CONFIGS).store_views] == [
        (1, True), (4, False)]


@pytest.mark.parametrize("bad", [
    {"websites": {"items": []}},
    {"views": [{"id": 1, "code": "default", "name": "x", "website_id": 1, "store_group_id": 1, "is_active": 1}],
     "configs": [{**CONFIGS[0], "base_currency_code": "dollars"}]},
    {"groups": [{"id": 1, "code": "g", "name": "G", "website_id": "one"}]},
])
def test_an_answer_that_is_no_store_structure_is_unusable(bad: dict[str, Any]) -> None:
    args = {"websites": WEBSITES, "groups": GROUPS, "views": VIEWS, "configs": CONFIGS, **bad}
    with pytest.raises(UnusableStores):
        structure(args["websites"], args["groups"], args["views"], args["configs"])


def test_rates_from_the_base_currency_positive_only_the_base_is_one() -> None:
    r = rates(CURRENCY)
    assert (r.base_currency, r.default_display_currency) == ("USD", "USD")
    assert r.rates == {"CAD": Decimal("1.37"), "EUR": Decimal("0.92"), "USD": Decimal("1")}
    assert str(r.rates["CAD"]) == "1.37"


def test_rates_as_strings_and_a_missing_base_entry() -> None:
    answer = {**CURRENCY, "default_display_currency_code": "EUR",
              "exchange_rates": [{"currency_to": "EUR", "rate": "0.920000000000"}]}
    r = rates(answer)
    assert r.default_display_currency == "EUR"
    assert r.rates == {"EUR": Decimal("0.92"), "USD": Decimal("1")}


@pytest.mark.parametrize("answer", [[], {**CURRENCY, "exchange_rates": {"EUR": 1}}])
def test_currency_information_that_is_none_is_unusable(answer: Any) -> None:
    with pytest.raises(UnusableStores):
        rates(answer)


def test_a_base_currency_that_is_no_currency_code_is_unusable() -> None:
    with pytest.raises(UnusableStores):
        rates_event(rates({**CURRENCY, "base_currency_code": "us dollar"}), commerce="c", producer="t",
                    observed_at=T0)


def test_the_digest_is_of_the_content_not_of_the_envelope_nor_the_time_read() -> None:
    s = structure(WEBSITES, GROUPS, VIEWS, CONFIGS)
    one = structure_event(s, commerce="shop", producer="commerce-gateway", observed_at=T0)
    two = structure_event(s, commerce="shop", producer="commerce-gateway", observed_at=T0 + timedelta(hours=1))
    assert one.event_id != two.event_id and content_hash(one) == content_hash(two)
    other = structure_event(s, commerce="other", producer="commerce-gateway", observed_at=T0)
    assert content_hash(other) != content_hash(one)
    renamed = structure(WEBSITES, GROUPS, [{**v, "name": v["name"] + "!"} for v in VIEWS], CONFIGS)
    assert content_hash(structure_event(renamed, commerce="shop", producer="p", observed_at=T0)) != content_hash(one)


def test_a_changed_rate_changes_the_digest_and_a_reformatted_one_does_not() -> None:
    base = rates_event(rates(CURRENCY), commerce="shop", producer="p", observed_at=T0)
    padded = {**CURRENCY, "exchange_rates": [{**x, "rate": Decimal(str(x["rate"])) + Decimal("0.000000")}
                                             for x in CURRENCY["exchange_rates"]]}
    moved = {**CURRENCY, "exchange_rates": [{"currency_to": "EUR", "rate": Decimal("0.93")},
                                            *CURRENCY["exchange_rates"][:1]]}
    assert content_hash(rates_event(rates(padded), commerce="shop", producer="p", observed_at=T0)) == content_hash(base)
    assert content_hash(rates_event(rates(moved), commerce="shop", producer="p", observed_at=T0)) != content_hash(base)


@given(st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1000000"), places=12))
def test_plain_keeps_the_value_and_never_an_exponent(value: Decimal) -> None:
    p = plain(value)
    assert p == value and "E" not in str(p) and (not str(p).endswith("0") or "." not in str(p))


@given(st.dictionaries(st.sampled_from(["CAD", "EUR", "GBP", "JPY", "MXN"]),
                       st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("500"), places=6), min_size=1),
       st.integers(min_value=0, max_value=2))
def test_equal_rates_whatever_their_order_or_padding_have_one_digest(found: dict[str, Decimal], pad: int) -> None:
    def answer(items: list[tuple[str, Decimal]]) -> dict[str, Any]:
        return {**CURRENCY, "exchange_rates": [{"currency_to": c, "rate": r} for c, r in items]}
    padded = [(c, r.quantize(Decimal(1).scaleb(-(-r.as_tuple().exponent + pad)))) for c, r in reversed(found.items())]
    one = rates_event(rates(answer(list(found.items()))), commerce="c", producer="p", observed_at=T0)
    two = rates_event(rates(answer(padded)), commerce="c", producer="p", observed_at=T0)
    assert content_hash(one) == content_hash(two)
    assert one.event_id != two.event_id
