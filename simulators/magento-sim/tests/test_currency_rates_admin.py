"""`PUT /_sim/currency-rates`: an admin changing a rate, as `GET /V1/directory/currency` then answers it (in the
published model's shape); bad rates refused naming the field (Magento's 400); `/_sim/reset` brings the seeded rates back."""

from __future__ import annotations

from magento_sim import model

from .conftest import Client


def rates_of(currency: dict) -> dict[str, float]:
    return {r["currency_to"]: r["rate"] for r in currency["exchange_rates"]}


async def test_a_changed_rate_is_what_directory_currency_answers(sim: Client) -> None:
    try:
        put = await sim.client.put("/_sim/currency-rates", json={"base_currency": "USD",
                                                                 "rates": {"EUR": 0.95, "GBP": 0.79, "CAD": 1.37}})
        assert put.status_code == 200, put.text
        assert put.json() == {"base_currency": "USD", "rates": {"CAD": 1.37, "EUR": 0.95, "GBP": 0.79, "USD": 1.0}}
        currency = (await sim.call("GET", "/V1/directory/currency")).json()
        assert rates_of(currency) == {"CAD": 1.37, "EUR": 0.95, "GBP": 0.79, "USD": 1.0}
        assert currency["available_currency_codes"] == ["CAD", "EUR", "GBP", "USD"]
        validator = model.response_validator("GET", "/V1/directory/currency", 200)
        assert model.problems(validator, currency) == []
        eu = (await sim.call("GET", "/rest/eu_en/V1/directory/currency")).json()
        assert rates_of(eu)["USD"] == 1.087  # the other base's rates are untouched
        shown = (await sim.client.get("/_sim/currency-rates")).json()
        assert shown["USD"]["EUR"] == 0.95 and shown["EUR"]["USD"] == 1.087
    finally:
        assert (await sim.client.post("/_sim/reset")).status_code == 200
    assert rates_of((await sim.call("GET", "/V1/directory/currency")).json())["EUR"] == 0.92


async def test_bad_rates_are_refused_naming_the_field(sim: Client) -> None:
    for body in ({"base_currency": "USD", "rates": {"EUR": 0}}, {"base_currency": "usd", "rates": {"EUR": 1}},
                 {"base_currency": "USD", "rates": {"EURO": 1}}, {"base_currency": "USD"}):
        r = await sim.client.put("/_sim/currency-rates", json=body)
        assert r.status_code == 400, body
        assert r.json()["parameters"][0]["fieldName"].split("/")[0] in {"base_currency", "rates"}
    assert rates_of((await sim.call("GET", "/V1/directory/currency")).json())["EUR"] == 0.92
