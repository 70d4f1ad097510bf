"""Reports API 2021-06-30: GET_MERCHANT_LISTINGS_ALL_DATA through its lifecycle, each answer against the model."""

from __future__ import annotations

import csv
import gzip
import io

from amazon_sim import schemas
from amazon_sim.api_reports import COLUMNS, MERCHANT_LISTINGS
from amazon_sim.testing import DE, SELLER, US, Sim, check

R = schemas.REPORTS
BASE = "/reports/2021-06-30"


async def seed(sim: Sim, sku: str, attributes: dict) -> None:
    r = await sim.client.put(f"/_sim/listings/{SELLER}/{sku}", json={
        "productType": "HOME", "attributes": attributes, "marketplaceIds": [US]})
    assert r.status_code == 200, r.text


def offer(price: float) -> list[dict]:
    return [{"marketplace_id": US, "currency": "USD", "our_price": [{"schedule": [{"value_with_tax": price}]}]}]


async def create(sim: Sim, report_type: str = MERCHANT_LISTINGS, marketplaces: list[str] | None = None) -> str:
    r = await sim.call("POST", f"{BASE}/reports", json={"reportType": report_type,
                                                        "marketplaceIds": marketplaces or [US]})
    return str(check(R, "createReport", r)["reportId"])


async def test_merchant_listings_report_lifecycle_and_content(sim: Sim) -> None:
    await seed(sim, "LAMP-1", {"item_name": [{"value": "Desk  lamp\tblue", "marketplace_id": US}],
                               "purchasable_offer": offer(19.99),
                               "condition_type": [{"value": "used_good", "marketplace_id": US}],
                               "externally_assigned_product_identifier": [{"type": "ean", "value": "4006381333931",
                                                                           "marketplace_id": US}],
                               "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 4}]})
    await seed(sim, "FBA-2", {"purchasable_offer": offer(5),
                              "fulfillment_availability": [{"fulfillment_channel_code": "AMAZON_NA"}]})
    await seed(sim, "SOLD-OUT", {"purchasable_offer": offer(7),
                                 "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}]})
    report_id = await create(sim)
    queued = check(R, "getReport", await sim.call("GET", f"{BASE}/reports/{report_id}"))
    assert queued["processingStatus"] == "IN_QUEUE" and "reportDocumentId" not in queued
    await sim.client.post("/_sim/clock/advance", json={"seconds": 60})
    done = check(R, "getReport", await sim.call("GET", f"{BASE}/reports/{report_id}"))
    assert done["processingStatus"] == "DONE" and done["reportType"] == MERCHANT_LISTINGS
    document = check(R, "getReportDocument", await sim.call("GET", f"{BASE}/documents/{done['reportDocumentId']}"))
    assert document["compressionAlgorithm"] == "GZIP"
    raw = await sim.client.get(document["url"])
    text = gzip.decompress(raw.content).decode()
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    assert text.splitlines()[0].split("\t") == list(COLUMNS)
    by_sku = {r["seller-sku"]: r for r in rows}
    assert set(by_sku) == {"LAMP-1", "FBA-2", "SOLD-OUT"}
    lamp = by_sku["LAMP-1"]
    assert (lamp["item-name"], lamp["price"], lamp["quantity"], lamp["item-condition"], lamp["status"]) == (
        "Desk lamp blue", "19.99", "4", "3", "Active")
    assert (lamp["product-id-type"], lamp["product-id"], lamp["fulfillment-channel"]) == ("4", "4006381333931",
                                                                                          "DEFAULT")
    assert lamp["asin1"].startswith("B0")
    fba = by_sku["FBA-2"]
    assert (fba["quantity"], fba["fulfillment-channel"], fba["product-id-type"], fba["product-id"]) == (
        "", "AMAZON_NA", "1", fba["asin1"])
    assert by_sku["SOLD-OUT"]["status"] == "Inactive"


async def test_other_report_types_fail_and_reports_are_the_sellers_own(sim: Sim) -> None:
    report_id = await create(sim, "GET_FLAT_FILE_OPEN_LISTINGS_DATA")
    await sim.client.post("/_sim/reports/process")
    assert check(R, "getReport", await sim.call("GET", f"{BASE}/reports/{report_id}"))["processingStatus"] == "FATAL"
    r = await sim.call("GET", f"{BASE}/reports/999999")
    assert r.status_code == 404 and check(R, "getReport", r)
    r = await sim.call("GET", f"{BASE}/documents/amzn1.spdoc.1.4.na.nope")
    assert r.status_code == 404 and check(R, "getReportDocument", r)
    r = await sim.call("POST", f"{BASE}/reports", json={"reportType": MERCHANT_LISTINGS})
    assert r.status_code == 400 and "marketplaceIds" in check(R, "createReport", r)["errors"][0]["message"]
    r = await sim.call("POST", f"{BASE}/reports", json={"reportType": MERCHANT_LISTINGS,
                                                         "marketplaceIds": ["A1VC38T7YXB528"]})
    assert r.status_code == 403 and check(R, "createReport", r)


async def test_get_reports_pages_and_cancel_only_while_queued(sim: Sim) -> None:
    ids = [await create(sim, marketplaces=[m]) for m in (US, DE, US)]
    body = check(R, "getReports", await sim.call("GET", f"{BASE}/reports", params={
        "reportTypes": MERCHANT_LISTINGS, "pageSize": "2"}))
    assert len(body["reports"]) == 2 and body["nextToken"]
    rest = check(R, "getReports", await sim.call("GET", f"{BASE}/reports", params={"nextToken": body["nextToken"]}))
    assert {r["reportId"] for r in body["reports"] + rest["reports"]} == set(ids)
    assert (await sim.call("DELETE", f"{BASE}/reports/{ids[0]}")).status_code == 200
    await sim.client.post("/_sim/reports/process")
    r = await sim.call("DELETE", f"{BASE}/reports/{ids[1]}")
    assert r.status_code == 400 and check(R, "cancelReport", r)
    statuses = {r["reportId"]: r["processingStatus"] for r in check(R, "getReports", await sim.call(
        "GET", f"{BASE}/reports", params={"reportTypes": MERCHANT_LISTINGS}))["reports"]}
    assert statuses == {ids[0]: "CANCELLED", ids[1]: "DONE", ids[2]: "DONE"}
