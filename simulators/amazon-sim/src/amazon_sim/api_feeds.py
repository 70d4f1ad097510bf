"""Feeds API 2021-06-30, and the document storage behind its URLs."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from amazon_sim import schemas
from amazon_sim.config import Account
from amazon_sim.core import Simulator, SpApiError, bad_request, check_marketplaces, csv, json_body, parse_time

FEEDS_BASE = "/feeds/2021-06-30"


def register(app: FastAPI, sim: Simulator) -> None:
    def document_url(request: Request, document_id: str) -> str:
        return f"{str(request.base_url).rstrip('/')}/_sim/documents/{document_id}"

    @app.post(f"{FEEDS_BASE}/documents")
    async def create_feed_document(request: Request) -> Response:
        account = await sim.enter(request, "createFeedDocument")
        body = await json_body(request, schemas.FEEDS, "CreateFeedDocumentSpecification")
        doc = sim.feeds.new_document(account.seller_id, body["contentType"])
        return sim.respond(request, 201, {"feedDocumentId": doc.document_id,
                                          "url": document_url(request, doc.document_id)})

    @app.post(f"{FEEDS_BASE}/feeds")
    async def create_feed(request: Request) -> Response:
        account = await sim.enter(request, "createFeed")
        body = await json_body(request, schemas.FEEDS, "CreateFeedSpecification")
        check_marketplaces(account, body["marketplaceIds"])
        doc = sim.feeds.documents.get(body["inputFeedDocumentId"])
        if doc is None or doc.seller_id != account.seller_id:
            raise bad_request(f"Invalid inputFeedDocumentId: {body['inputFeedDocumentId']}.", "inputFeedDocumentId")
        feed = sim.feeds.new_feed(account.seller_id, body["feedType"], body["marketplaceIds"], doc.document_id,
                                  sim.now(), body.get("feedOptions"))
        return sim.respond(request, 202, {"feedId": feed.feed_id})

    def own_feed(account: Account, feed_id: str) -> Any:
        feed = sim.feeds.feeds.get(feed_id)
        if feed is None or feed.seller_id != account.seller_id:
            raise SpApiError(404, "NotFound", f"Feed {feed_id} not found.")
        return feed

    @app.get(f"{FEEDS_BASE}/feeds/{{feed_id}}")
    async def get_feed(request: Request, feed_id: str) -> Response:
        account = await sim.enter(request, "getFeed")
        return sim.respond(request, 200, own_feed(account, feed_id).view())

    @app.delete(f"{FEEDS_BASE}/feeds/{{feed_id}}")
    async def cancel_feed(request: Request, feed_id: str) -> Response:
        account = await sim.enter(request, "cancelFeed")
        feed = own_feed(account, feed_id)
        if feed.status != "IN_QUEUE":
            raise bad_request(f"Feed {feed_id} is {feed.status} and can no longer be cancelled.", "feedId")
        feed.status = "CANCELLED"
        sim.calls["cancelFeed"]["200"] += 1
        return Response(status_code=200, headers=sim.headers(request))

    @app.get(f"{FEEDS_BASE}/feeds")
    async def get_feeds(request: Request) -> Response:
        account = await sim.enter(request, "getFeeds")
        q = request.query_params
        if q.get("nextToken") and len(q) > 1:
            raise bad_request("nextToken must be sent alone.", "nextToken")
        feed_types, marketplaces = csv(request, "feedTypes"), csv(request, "marketplaceIds")
        statuses = csv(request, "processingStatuses")
        if not q.get("nextToken") and not feed_types:
            raise bad_request("feedTypes is required when nextToken is not given.", "feedTypes")
        since, until = parse_time(request, "createdSince"), parse_time(request, "createdUntil")
        try:
            page_size = int(q.get("pageSize", "10"))
        except ValueError as exc:
            raise bad_request("Invalid pageSize.", "pageSize") from exc
        offset = 0
        if q.get("nextToken"):
            try:
                state = json.loads(base64.urlsafe_b64decode(q["nextToken"].encode()))
                offset, page_size = state["offset"], state["pageSize"]
                feed_types, marketplaces, statuses = state["feedTypes"], state["marketplaceIds"], state["statuses"]
                since, until = state["since"], state["until"]
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request("Invalid nextToken.", "nextToken") from exc
        if not 1 <= page_size <= 100:
            raise bad_request("pageSize must be between 1 and 100.", "pageSize")
        feeds = [f for f in sim.feeds.feeds.values() if f.seller_id == account.seller_id
                 and f.feed_type in feed_types
                 and (not marketplaces or set(marketplaces) & set(f.marketplaces))
                 and (not statuses or f.status in statuses)
                 and (since is None or f.created >= since) and (until is None or f.created <= until)]
        feeds.sort(key=lambda f: f.created, reverse=True)
        body: dict[str, Any] = {"feeds": [f.view() for f in feeds[offset: offset + page_size]]}
        if offset + page_size < len(feeds):
            state = {"offset": offset + page_size, "pageSize": page_size, "feedTypes": feed_types,
                     "marketplaceIds": marketplaces, "statuses": statuses, "since": since, "until": until}
            body["nextToken"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        return sim.respond(request, 200, body)

    @app.get(f"{FEEDS_BASE}/documents/{{document_id}}")
    async def get_feed_document(request: Request, document_id: str) -> Response:
        account = await sim.enter(request, "getFeedDocument")
        doc = sim.feeds.documents.get(document_id)
        if doc is None or doc.seller_id != account.seller_id:
            raise SpApiError(404, "NotFound", f"Feed document {document_id} not found.")
        return sim.respond(request, 200, {"feedDocumentId": doc.document_id,
                                          "url": document_url(request, doc.document_id)})

    # --- document storage (stands in for the pre-signed S3 URLs) --------------------------------------------
    @app.put("/_sim/documents/{document_id}")
    async def upload_document(request: Request, document_id: str) -> Response:
        doc = sim.feeds.documents.get(document_id)
        if doc is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
        doc.content = await request.body()
        return Response(status_code=200)

    @app.get("/_sim/documents/{document_id}")
    async def download_document(document_id: str) -> Response:
        doc = sim.feeds.documents.get(document_id)
        if doc is None or doc.content is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
        return Response(doc.content, 200, media_type=doc.content_type)
