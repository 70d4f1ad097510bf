from __future__ import annotations

import json

from amazon_sim import schemas
from amazon_sim.testing import SELLER, US, Sim, check

F = schemas.FEEDS


def feed_document(seller: str = SELLER) -> dict:
    return {
        "header": {"sellerId": seller, "version": "2.0", "issueLocale": "en_US",
                   "report": {"includedData": ["summaries", "offers", "fulfillmentAvailability", "issues"],
                              "apiVersion": "2021-08-01"}},
        "messages": [
            {"messageId": 1, "sku": "F-OLD", "operationType": "DELETE"},
            {"messageId": 2, "sku": "F-QTY", "operationType": "PARTIAL_UPDATE", "productType": "HOME",
             "attributes": {"fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}]}},
            {"messageId": 3, "sku": "F-NEW", "operationType": "UPDATE", "productType": "HOME", "requirements": "LISTING",
             "attributes": {
                 "item_name": [{"value": "Teapot", "language_tag": "en_US", "marketplace_id": US}],
                 "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                                        "our_price": [{"schedule": [{"value_with_tax": 31.99}]}]}],
                 "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 4}]}},
            {"messageId": 4, "sku": "F-QTY", "operationType": "PATCH", "productType": "HOME", "patches": [
                {"op": "replace", "path": "/attributes/purchasable_offer", "value": [
                    {"marketplace_id": US, "currency": "USD", "our_price": [{"schedule": [{"value_with_tax": 9}]}]}]}]},
            {"messageId": 5, "sku": "F-BAD", "operationType": "PATCH", "attributes": {"x": [{}]}},
            {"messageId": 6, "sku": "F-NEG", "operationType": "UPDATE", "productType": "HOME",
             "attributes": {"fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": -2}]}},
        ],
    }


async def submit(sim: Sim, content: bytes, feed_type: str = "JSON_LISTINGS_FEED") -> str:
    r = await sim.call("POST", "/feeds/2021-06-30/documents", json={"contentType": "application/json; charset=UTF-8"})
    assert r.status_code == 201
    doc = check(F, "createFeedDocument", r)
    assert doc["url"].startswith("http://sim.test/")
    up = await sim.client.put(doc["url"], content=content, headers={"content-type": "application/json; charset=UTF-8"})
    assert up.status_code == 200
    r = await sim.call("POST", "/feeds/2021-06-30/feeds", json={
        "feedType": feed_type, "marketplaceIds": [US], "inputFeedDocumentId": doc["feedDocumentId"]})
    assert r.status_code == 202
    return check(F, "createFeed", r)["feedId"]


async def report_of(sim: Sim, feed: dict) -> dict:
    doc = check(F, "getFeedDocument", await sim.call("GET", f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}"))
    report = (await sim.client.get(doc["url"])).json()
    problems = list(schemas.schema_validator(schemas.FEED_REPORT_SCHEMA).iter_errors(report))
    assert not problems, [p.message for p in problems]
    return report


async def test_feed_lifecycle_applies_messages_and_reports(sim: Sim) -> None:
    await sim.client.put(f"/_sim/listings/{SELLER}/F-OLD", json={"productType": "HOME", "attributes": {}})
    # the schema-valid messages of the fixture pass Amazon's whole-feed schema
    assert schemas.schema_validator(schemas.FEED_SCHEMA).is_valid(
        {**feed_document(), "messages": feed_document()["messages"][:4]})
    feed_id = await submit(sim, json.dumps(feed_document()).encode())

    async def status() -> dict:
        return check(F, "getFeed", await sim.call("GET", f"/feeds/2021-06-30/feeds/{feed_id}"))

    assert (await status())["processingStatus"] == "IN_QUEUE"
    await sim.client.post("/_sim/clock/advance", json={"seconds": 5})
    feed = await status()
    assert feed["processingStatus"] == "IN_PROGRESS" and "processingStartTime" in feed
    assert (await sim.client.get(f"/_sim/listings/{SELLER}/F-OLD")).status_code == 200  # not applied yet
    await sim.client.post("/_sim/clock/advance", json={"seconds": 5})
    feed = await status()
    assert feed["processingStatus"] == "DONE" and feed["resultFeedDocumentId"] and "processingEndTime" in feed

    report = await report_of(sim, feed)
    assert report["header"] == {"sellerId": SELLER, "version": "2.0", "feedId": feed_id,
                                "report": feed_document()["header"]["report"]}
    s = report["summary"]
    assert (s["messagesProcessed"], s["messagesAccepted"], s["messagesInvalid"]) == (6, 4, 2)
    assert {i["messageId"] for i in report["issues"]} == {5, 6}
    assert {i["sku"] for i in report["items"]} == {"F-QTY", "F-NEW"}
    for item in report["items"]:
        check_item = schemas.definition_validator(schemas.LISTINGS, "Item")
        assert check_item.is_valid(item), item

    assert (await sim.client.get(f"/_sim/listings/{SELLER}/F-OLD")).status_code == 404
    qty = (await sim.client.get(f"/_sim/listings/{SELLER}/F-QTY")).json()
    assert qty["quantity"] == 7 and qty["prices"] == {US: "9.00"}
    new = (await sim.client.get(f"/_sim/listings/{SELLER}/F-NEW")).json()
    assert new["quantity"] == 4 and new["prices"] == {US: "31.99"}
    assert (await sim.client.get(f"/_sim/listings/{SELLER}/F-NEG")).status_code == 404

    body = check(F, "getFeeds", await sim.call("GET", "/feeds/2021-06-30/feeds",
                                               params={"feedTypes": "JSON_LISTINGS_FEED"}))
    assert [f["feedId"] for f in body["feeds"]] == [feed_id]


async def test_fatal_feeds_and_forced_processing(sim: Sim) -> None:
    bad_json = await submit(sim, b"{nope")
    wrong_seller = await submit(sim, json.dumps(feed_document("ASOMEONEELSE")).encode())
    other_type = await submit(sim, b"<xml/>", feed_type="POST_PRODUCT_DATA")
    r = await sim.client.post("/_sim/feeds/process")
    assert r.json()["feeds"] == {bad_json: "FATAL", wrong_seller: "FATAL", other_type: "FATAL"}
    for feed_id in (bad_json, wrong_seller, other_type):
        feed = check(F, "getFeed", await sim.call("GET", f"/feeds/2021-06-30/feeds/{feed_id}"))
        report = await report_of(sim, feed)
        assert report["summary"]["errors"] == 1


async def test_feed_request_validation(sim: Sim) -> None:
    r = await sim.call("POST", "/feeds/2021-06-30/documents", json={})
    assert r.status_code == 400 and "contentType" in check(F, "createFeedDocument", r)["errors"][0]["message"]
    r = await sim.call("POST", "/feeds/2021-06-30/feeds", json={"feedType": "JSON_LISTINGS_FEED",
                                                                "marketplaceIds": [], "inputFeedDocumentId": "x"})
    assert r.status_code == 400 and "marketplaceIds" in check(F, "createFeed", r)["errors"][0]["message"]
    r = await sim.call("POST", "/feeds/2021-06-30/feeds", json={"feedType": "JSON_LISTINGS_FEED",
                                                                "marketplaceIds": [US], "inputFeedDocumentId": "x"})
    assert r.status_code == 400 and "inputFeedDocumentId" in check(F, "createFeed", r)["errors"][0]["details"]
    r = await sim.call("GET", "/feeds/2021-06-30/feeds/123")
    assert r.status_code == 404
    check(F, "getFeed", r)
    r = await sim.call("GET", "/feeds/2021-06-30/documents/nope")
    assert r.status_code == 404
    check(F, "getFeedDocument", r)


async def test_cancel_feed_while_queued(sim: Sim) -> None:
    feed_id = await submit(sim, json.dumps(feed_document()).encode())
    r = await sim.call("DELETE", f"/feeds/2021-06-30/feeds/{feed_id}")
    assert r.status_code == 200
    await sim.client.post("/_sim/feeds/process")
    feed = check(F, "getFeed", await sim.call("GET", f"/feeds/2021-06-30/feeds/{feed_id}"))
    assert feed["processingStatus"] == "CANCELLED"
    r = await sim.call("DELETE", f"/feeds/2021-06-30/feeds/{feed_id}")
    assert r.status_code == 400


async def test_feed_updates_can_be_accepted_but_not_applied(sim: Sim) -> None:
    await sim.client.put(f"/_sim/listings/{SELLER}/F-QTY", json={"productType": "HOME", "attributes": {
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}]}})
    await sim.client.post("/_sim/faults", json={"seed": 5, "drop_update_rate": 1.0, "operations": ["createFeed"]})
    doc = feed_document()
    doc["messages"] = [doc["messages"][1]]
    feed_id = await submit(sim, json.dumps(doc).encode())
    await sim.client.post("/_sim/feeds/process")
    feed = check(F, "getFeed", await sim.call("GET", f"/feeds/2021-06-30/feeds/{feed_id}"))
    report = await report_of(sim, feed)
    assert report["summary"]["messagesAccepted"] == 1
    assert (await sim.client.get(f"/_sim/listings/{SELLER}/F-QTY")).json()["quantity"] == 1


async def test_get_feeds_pages_with_next_token_alone(sim: Sim) -> None:
    ids = [await submit(sim, b"{}") for _ in range(3)]
    params = {"feedTypes": "JSON_LISTINGS_FEED", "pageSize": "2"}
    body = check(F, "getFeeds", await sim.call("GET", "/feeds/2021-06-30/feeds", params=params))
    assert len(body["feeds"]) == 2 and body["nextToken"]
    r = await sim.call("GET", "/feeds/2021-06-30/feeds", params={**params, "nextToken": body["nextToken"]})
    assert r.status_code == 400
    check(F, "getFeeds", r)
    rest = check(F, "getFeeds", await sim.call("GET", "/feeds/2021-06-30/feeds", params={"nextToken": body["nextToken"]}))
    assert sorted(f["feedId"] for f in body["feeds"] + rest["feeds"]) == sorted(ids) and "nextToken" not in rest
