"""Feeds 2021-06-30: documents, feeds, and JSON_LISTINGS_FEED processing into a processing report."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amazon_sim import schemas
from amazon_sim.listings import INCLUDED_DATA, OFFER_ATTRIBUTES, ListingStore, iso


@dataclass
class Document:
    document_id: str
    seller_id: str
    content_type: str
    content: bytes | None = None


@dataclass
class Feed:
    feed_id: str
    seller_id: str
    feed_type: str
    marketplaces: list[str]
    input_document_id: str
    created: float
    status: str = "IN_QUEUE"
    started: float | None = None
    ended: float | None = None
    result_document_id: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "feedId": self.feed_id, "feedType": self.feed_type, "marketplaceIds": self.marketplaces,
            "createdTime": iso(self.created), "processingStatus": self.status,
        }
        if self.started is not None:
            out["processingStartTime"] = iso(self.started)
        if self.ended is not None:
            out["processingEndTime"] = iso(self.ended)
        if self.result_document_id:
            out["resultFeedDocumentId"] = self.result_document_id
        return out


class FeedStore:
    def __init__(self, listings: ListingStore, queue_seconds: float, processing_seconds: float,
                 drop_update: Callable[[], bool]) -> None:
        self.listings = listings
        self.queue_seconds = queue_seconds
        self.processing_seconds = processing_seconds
        self.drop_update = drop_update
        self.documents: dict[str, Document] = {}
        self.feeds: dict[str, Feed] = {}
        self._ids = itertools.count(50000000001)
        # Other feed types, by feedType: (seller_id, feed_id, content, now) -> (XML processing report, fatal).
        self.processors: dict[str, Callable[[str, str, bytes, float], tuple[bytes, bool]]] = {}

    def new_document(self, seller_id: str, content_type: str, content: bytes | None = None) -> Document:
        doc = Document(f"amzn1.tortuga.4.na.{uuid.uuid4()}.T{uuid.uuid4().hex[:12].upper()}", seller_id,
                       content_type, content)
        self.documents[doc.document_id] = doc
        return doc

    def new_feed(self, seller_id: str, feed_type: str, marketplaces: list[str], document_id: str, now: float,
                 options: dict[str, str] | None = None) -> Feed:
        feed = Feed(str(next(self._ids)), seller_id, feed_type, marketplaces, document_id, now, options=options or {})
        self.feeds[feed.feed_id] = feed
        return feed

    def advance(self, now: float, force: bool = False) -> None:
        """Move feeds along IN_QUEUE → IN_PROGRESS → DONE/FATAL by the clock (or all the way, when forced)."""
        for feed in self.feeds.values():
            if feed.status == "IN_QUEUE" and (force or now >= feed.created + self.queue_seconds):
                feed.status, feed.started = "IN_PROGRESS", now if force else feed.created + self.queue_seconds
            if feed.status == "IN_PROGRESS" and (force or now >= (feed.started or now) + self.processing_seconds):
                self.process(feed, now)

    def process(self, feed: Feed, now: float) -> None:
        doc = self.documents.get(feed.input_document_id)
        processor = self.processors.get(feed.feed_type)
        if processor is not None and doc is not None and doc.content is not None:
            content, fatal_xml = processor(feed.seller_id, feed.feed_id, doc.content, now)
            result = self.new_document(feed.seller_id, "text/xml; charset=UTF-8", content)
            feed.result_document_id, feed.ended = result.document_id, now
            feed.status = "FATAL" if fatal_xml else "DONE"
            return
        report: dict[str, Any]
        if feed.feed_type != "JSON_LISTINGS_FEED":
            report = fatal_report(feed, f"The feed type {feed.feed_type} is not supported by the simulator.")
        elif doc is None or doc.content is None:
            report = fatal_report(feed, "The input feed document was never uploaded.")
        else:
            report = self.apply_listings_feed(feed, doc.content, now)
        fatal = report.pop("_fatal", False)
        result = self.new_document(feed.seller_id, "application/json; charset=UTF-8", json.dumps(report).encode())
        feed.result_document_id = result.document_id
        feed.status = "FATAL" if fatal else "DONE"
        feed.ended = now

    def apply_listings_feed(self, feed: Feed, content: bytes, now: float) -> dict[str, Any]:
        try:
            body = json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return fatal_report(feed, f"The feed document is not valid JSON: {exc}.")
        if not isinstance(body, dict) or not isinstance(body.get("header"), dict) or not isinstance(
                body.get("messages"), list):
            return fatal_report(feed, "The feed document must be an object with 'header' and 'messages'.")
        header_schema = schemas.load(schemas.FEED_SCHEMA)["properties"]["header"]
        problem = schemas.first_error(schemas.Draft7Validator(header_schema), body["header"])
        if problem:
            return fatal_report(feed, f"Invalid feed header: {problem}.")
        if body["header"]["sellerId"] != feed.seller_id:
            return fatal_report(feed, "The sellerId in the feed header does not match the authorized seller.")
        if not 1 <= len(body["messages"]) <= 25000:
            return fatal_report(feed, "A feed must carry between 1 and 25000 messages.")
        validator = schemas.schema_validator(schemas.FEED_MESSAGE_SCHEMA)
        issues: list[dict[str, Any]] = []
        accepted = invalid = 0
        touched: list[str] = []
        for index, message in enumerate(body["messages"], start=1):
            problem = schemas.first_error(validator, message)
            message_id = message.get("messageId") if isinstance(message, dict) else None
            message_id = message_id if isinstance(message_id, int) and message_id >= 1 else index
            sku = message.get("sku") if isinstance(message, dict) else None
            if problem:
                invalid += 1
                entry = {"messageId": message_id, "code": "100001", "severity": "ERROR",
                         "message": f"The message does not match the listings feed message schema: {problem}"}
                if isinstance(sku, str) and sku:
                    entry["sku"] = sku
                issues.append(entry)
                continue
            op = message["operationType"]
            changed = set(message.get("attributes") or {}) | {
                str(p.get("path", "")).strip("/").split("/")[-1] for p in message.get("patches") or []}
            drop = op != "DELETE" and bool(changed & set(OFFER_ATTRIBUTES)) and self.drop_update()
            if op == "DELETE":
                self.listings.delete(feed.seller_id, sku)
                found = []
            elif op == "UPDATE":
                found = self.listings.put(feed.seller_id, sku, message["productType"], message.get("requirements"),
                                          message["attributes"], feed.marketplaces, now, drop_offer=drop)
            else:
                patches = message.get("patches") or [
                    {"op": "replace", "path": f"/attributes/{k}", "value": v} for k, v in message["attributes"].items()
                ]
                if op == "PARTIAL_UPDATE" and self.listings.get(feed.seller_id, sku) is None:
                    found = self.listings.put(feed.seller_id, sku, message["productType"], None,
                                              message["attributes"], feed.marketplaces, now, drop_offer=drop)
                else:
                    found = self.listings.patch(feed.seller_id, sku, message["productType"], patches,
                                                feed.marketplaces, now, drop_offer=drop)
            errors = [i for i in found if i["severity"] == "ERROR"]
            for i in found:
                entry = {"messageId": message_id, "sku": sku, "code": i["code"], "severity": i["severity"],
                         "message": i["message"]}
                if i.get("attributeNames"):
                    entry["attributeName"] = i["attributeNames"][0]
                issues.append(entry)
            if errors:
                invalid += 1
            else:
                accepted += 1
                touched.append(sku)
        header: dict[str, Any] = {"sellerId": feed.seller_id, "version": "2.0", "feedId": feed.feed_id}
        summary: dict[str, Any] = {
            "errors": sum(1 for i in issues if i["severity"] == "ERROR"),
            "warnings": sum(1 for i in issues if i["severity"] == "WARNING"),
            "messagesProcessed": accepted + invalid, "messagesAccepted": accepted, "messagesInvalid": invalid,
        }
        report: dict[str, Any] = {"header": header, "issues": issues, "summary": summary}
        requested = body["header"].get("report")
        if requested:
            header["report"] = requested
            included = [k for k in requested["includedData"] if k in INCLUDED_DATA]
            items = []
            for sku in dict.fromkeys(touched):
                listing = self.listings.get(feed.seller_id, sku)
                if listing is not None:
                    items.append(listing.item(included, feed.marketplaces))
            report["items"] = items
            summary["itemSummary"] = {
                "items": len(items),
                "errors": sum(1 for it in items for i in it.get("issues", []) if i["severity"] == "ERROR"),
                "warnings": sum(1 for it in items for i in it.get("issues", []) if i["severity"] == "WARNING"),
            }
        return report


def fatal_report(feed: Feed, message: str) -> dict[str, Any]:
    return {
        "_fatal": True,
        "header": {"sellerId": feed.seller_id, "version": "2.0", "feedId": feed.feed_id},
        "issues": [{"code": "100000", "severity": "ERROR", "message": message}],
        "summary": {"errors": 1, "warnings": 0, "messagesProcessed": 0, "messagesAccepted": 0, "messagesInvalid": 0},
    }
