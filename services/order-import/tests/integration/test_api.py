"""The order views and OrderSettings over HTTP and the config command: filters and keyset paging (spec 14), problem
details naming the field, configuration validated, diffed and audited."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from orders_helpers import MARKET, T0, placed, product, run_id, running, settings_doc, usd

from contracts.events import Address
from devstack.testing import auth_headers
from order_import.settings import registry
from servicekit import config_cli

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"


async def test_all_orders_filters_and_pages_recent_and_awaiting_shipment(topics_created, database_url) -> None:
    run = run_id()
    account, sku = f"view-{run}", f"SKU-{run}"
    names = ["Ann Lee", "Bob Stone", "ANN-marie Roe", "Carl Poe", "Dee Fox"]
    totals = ["10.50", "20.00", "30.99", "40.00", "50.00"]
    statuses = ["Pending", "Unshipped", "Unshipped", "Shipped", "Pending"]
    orders = [f"140-{run}-{n}" for n in range(5)]
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku, quantity=100))
        await h.send(*(placed(account, o, s, sku=sku, at=T0 + timedelta(hours=n), order_total=usd(t),
                              address=Address(name=name, city="Austin", region="TX", country_code="US"))
                       for n, (o, s, t, name) in enumerate(zip(orders, statuses, totals, names, strict=True))))

        async def listing(**params: object) -> list[str]:
            r = await h.client.get("/orders", params={"account_id": account, **params})
            assert r.status_code == 200, r.text
            return [o["amazon_order_id"] for o in r.json()["items"]]

        pages, after = [], None
        while True:
            r = (await h.client.get("/orders", params={"account_id": account, "limit": 2,
                                                       **({"after": after} if after else {})})).json()
            pages.append([o["amazon_order_id"] for o in r["items"]])
            after = r["next"]
            if after is None:
                break
        first = (await h.client.get("/orders", params={"account_id": account, "limit": 1})).json()["items"][0]
        dated = await listing(purchased_from=(T0 + timedelta(hours=1)).isoformat(),
                              purchased_to=(T0 + timedelta(hours=3)).isoformat())
        by_buyer = await listing(buyer="ann")
        by_buyer_paged = await listing(buyer="ann", limit=1)
        second = (await h.client.get("/orders", params={"account_id": account, "buyer": "ann", "limit": 1,
                                                        "after": by_buyer_paged[0]})).json()
        by_total = await listing(total_min=20, total_max=30)
        by_status = await listing(status="Pending")
        by_number = await listing(number=orders[3])
        by_state = await listing(import_state="requested")
        elsewhere = await listing(marketplace_id="A2EUQ1WTGCTBG2")
        recent = (await h.client.get("/orders/recent", params={"account_id": account, "limit": 3})).json()
        awaiting = (await h.client.get("/orders/awaiting-shipment", params={"limit": 200})).json()["items"]
        problems = {
            "cursor": await h.client.get("/orders", params={"after": "not/an-order"}),
            "limit": await h.client.get("/orders", params={"limit": 0}),
            "status": await h.client.get("/orders", params={"status": "Lost"}),
            "dates": await h.client.get("/orders", params={"purchased_from": "yesterday"}),
            "totals": await h.client.get("/orders", params={"total_max": 1.5}),
        }
        empty_ranges = (await listing(total_min=5, total_max=4), await listing(
            purchased_from=T0.isoformat(), purchased_to=(T0 - timedelta(days=1)).isoformat()))
        unknown_position = await h.client.get("/orders", params={"after": "140-no-such-order"})
        missing = await h.client.get("/orders/140-nothing")
        anonymous = await h.client.get("/orders", headers={"Authorization": ""})
        reader = await h.client.get("/orders", params={"account_id": account}, headers=auth_headers("read"))
        openapi = (await h.client.get("/openapi.json")).json()

    newest_first = orders[::-1]
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    assert first["buyer_name"] == "Dee Fox" and first["grand_total"] == {"amount": "50.00", "currency": "USD"}
    assert first["purchase_date"].startswith("2026-12-01T16:00") and first["note"]
    assert dated == [orders[2], orders[1]]
    assert by_buyer == [orders[2], orders[0]] and by_buyer_paged == [orders[2]]
    assert [o["amazon_order_id"] for o in second["items"]] == [orders[0]] and second["next"] is None
    assert by_total == [orders[2], orders[1]]
    assert by_status == [orders[4], orders[0]]
    assert by_number == [orders[3]] and by_state == [orders[3], orders[2], orders[1]]
    assert elsewhere == []
    assert [o["amazon_order_id"] for o in recent] == newest_first[:3]
    mine = [o["amazon_order_id"] for o in awaiting if o["account_id"] == account]
    assert mine == [orders[2], orders[1]]
    for name, field in (("cursor", "query.after"), ("limit", "query.limit"), ("status", "query.status"),
                        ("dates", "query.purchased_from"), ("totals", "query.total_max")):
        r = problems[name]
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), name
        assert [e["field"] for e in r.json()["errors"]] == [field], (name, r.text)
    assert empty_ranges == ([], []) and unknown_position.status_code == 404
    assert missing.status_code == 404 and missing.json()["type"] == "urn:saleschannel:problem:not-found"
    assert anonymous.status_code == 401 and reader.status_code == 200
    assert {"/orders", "/orders/recent", "/orders/awaiting-shipment", "/orders/errors", "/orders/{amazon_order_id}",
            "/orders/{amazon_order_id}/retry", "/orders/{amazon_order_id}/address",
            "/config/OrderSettings/{name}"} <= set(openapi["paths"])
    assert Decimal(first["grand_total"]["amount"]) == Decimal("50")


async def test_order_settings_over_http_validated_and_audited(topics_created, database_url) -> None:
    run = run_id()
    account = f"cfg-{run}"
    async with running(topics_created, database_url) as h:
        good = await h.client.put(f"/config/OrderSettings/{account}.us", json=settings_doc(account)["spec"])
        custom = await h.client.put(f"/config/OrderSettings/{account}.us", json={
            **settings_doc(account)["spec"], "order_status": "custom"})
        twice = await h.client.put(f"/config/OrderSettings/{account}.second", json=settings_doc(account)["spec"])
        naive = await h.client.put(f"/config/OrderSettings/{account}.x", json={
            **settings_doc(account)["spec"], "marketplace_id": "OTHER", "integration_date": "2026-01-01T00:00:00"})
        operator = await h.client.put(f"/config/OrderSettings/{account}.x", json=settings_doc(account)["spec"],
                                      headers=auth_headers("operate"))
        update = await h.client.put(f"/config/OrderSettings/{account}.us", json={
            **settings_doc(account)["spec"], "import_enabled": False})
        audit = (await h.client.get("/audit", params={"target": f"OrderSettings/{account}.us"})).json()

    assert good.status_code == 200 and good.json()["spec"]["customer_creation"] == "guest"
    assert custom.status_code == 422 and custom.json()["errors"][0]["kind"] == "OrderSettings"
    assert "processing_status" in custom.text
    assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "spec.marketplace_id"
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "spec.integration_date"
    assert operator.status_code == 403
    assert update.status_code == 200 and update.json()["metadata"]["revision"] == 2
    assert [(a["action"], (a["after"] or {}).get("import_enabled")) for a in audit] == [
        ("config.create", True), ("config.update", False)]


async def test_config_command_applies_the_example_with_a_diff_once(topics_created, database_url, capsys,
                                                                   tmp_path: Path) -> None:
    run = run_id()
    doc = yaml.safe_load((EXAMPLES / "orders.yaml").read_text())
    doc["metadata"]["name"] = f"cli-{run}.us"
    doc["spec"]["account_id"] = f"cli-{run}"
    path = tmp_path / "orders.yaml"
    path.write_text(yaml.safe_dump(doc))
    async with running(topics_created, database_url) as h:
        dry = await config_cli.run("order_import config", registry, ["diff", "-f", str(path)], client=h.client)
        dry_out = capsys.readouterr().out
        first = await config_cli.run("order_import config", registry, ["apply", "-f", str(path)], client=h.client)
        capsys.readouterr()
        doc["spec"]["order_number_source"] = "commerce"
        path.write_text(yaml.safe_dump(doc))
        changed = await config_cli.run("order_import config", registry, ["apply", "-f", str(path)],
                                       client=h.client)
        changed_out = capsys.readouterr().out
        again = await config_cli.run("order_import config", registry, ["apply", "-f", str(path)], client=h.client)
        again_out = capsys.readouterr().out
        stored = (await h.client.get(f"/config/OrderSettings/cli-{run}.us")).json()

    assert (dry, first, changed, again) == (0, 0, 0, 0)
    assert f"+ OrderSettings/cli-{run}.us" in dry_out
    assert 'spec.order_number_source: "amazon" -> "commerce"' in changed_out
    assert "0 to create, 0 to update, 0 to delete, 1 unchanged" in again_out
    assert stored["spec"]["marketplace_id"] == MARKET and stored["metadata"]["revision"] == 2
