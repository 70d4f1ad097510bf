"""reporting: ListingChanged into the read model and the change log, served over HTTP."""

from __future__ import annotations

import uuid

import httpx

from contracts.events import FieldChange, ListingChanged
from devstack.testing import auth_headers, eventually, publish
from reporting.service import ReportingSettings, build


def changed(run: str, sku: str, version: int, quantity: int, status: str = "Ready to List") -> ListingChanged:
    return ListingChanged.new(
        producer="catalog-sync", account_id=run, marketplace_id="ATVPDKIKX0DER", sku=sku,
        product_sku=sku, status=status, quantity=quantity, price=None, version=version,
        changes=[FieldChange(field="quantity", old=None, new=str(quantity))],
    )


async def test_read_model_keeps_the_newest_version_and_logs_each_change_once(topics_created, database_url) -> None:
    run = uuid.uuid4().hex[:6]
    service = build(ReportingSettings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                                      consumer_batch_timeout_ms=20))
    v1, v2, v3 = changed(run, "A", 1, 1), changed(run, "A", 2, 2), changed(run, "A", 3, 3, "Ineligible")
    b1 = changed(run, "B", 1, 4)
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(service.asgi()),
                                     base_url="http://reporting") as client:
            await publish(topics_created, [v1, v3, v2, v3, b1])  # v2 arrives late, v3 twice

            async def logged() -> bool:
                r = await client.get("/listing-changes", params={"account_id": run})
                return len(r.json()) >= 4

            await eventually(logged)
            page = (await client.get("/listings", params={"account_id": run})).json()
            one = (await client.get(f"/listings/{run}/ATVPDKIKX0DER/A")).json()
            missing = await client.get(f"/listings/{run}/ATVPDKIKX0DER/nope")
            ineligible = (await client.get("/listings", params={"account_id": run, "status": "Ineligible"})).json()
            summary = (await client.get("/listings/summary")).json()
            log = (await client.get("/listing-changes", params={"account_id": run})).json()
            bad_limit = await client.get("/listings", params={"limit": 0})
    finally:
        await service.stop()

    assert page["total"] == 2
    assert (one["version"], one["quantity"], one["status"]) == (3, 3, "Ineligible")
    assert missing.status_code == 404
    assert [x["sku"] for x in ineligible["items"]] == ["A"]
    assert summary[f"{run}/ATVPDKIKX0DER"] == {"Ineligible": 1, "Ready to List": 1}
    assert sorted(x["event_id"] for x in log) == sorted(str(e.event_id) for e in (v1, v2, v3, b1))
    assert bad_limit.status_code == 422 and "limit" in bad_limit.text
