"""Reports API 2021-06-30, for GET_MERCHANT_LISTINGS_ALL_DATA: the seller's whole catalogue as one report.

A report waits IN_QUEUE and IN_PROGRESS for the configured feed timings (the simulator's clock), then is DONE
with a gzip-compressed, tab-separated document of the seller's listings in its marketplace, in the column
layout Amazon's report has. Other report types end FATAL. `POST /_sim/reports/process` finishes every report
at once.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from amazon_sim import schemas
from amazon_sim.core import Simulator, SpApiError, bad_request, check_marketplaces, csv, json_body
from amazon_sim.listings import Listing, iso, our_price
from amazon_sim.ratelimit import USAGE_PLANS

REPORTS_BASE = "/reports/2021-06-30"
MERCHANT_LISTINGS = "GET_MERCHANT_LISTINGS_ALL_DATA"
REPORT_DOCUMENTS = "/_sim/report-documents"
COLUMNS = (
    "item-name", "item-description", "listing-id", "seller-sku", "price", "quantity", "open-date", "image-url",
    "item-is-marketplace", "product-id-type", "zshop-shipping-fee", "item-note", "item-condition",
    "zshop-category1", "zshop-browse-path", "zshop-storefront-feature", "asin1", "asin2", "asin3",
    "will-ship-internationally", "expedited-shipping", "zshop-boldface", "product-id",
    "bid-for-featured-placement", "add-delete", "pending-quantity", "fulfillment-channel",
    "merchant-shipping-group", "status",
)
# The default usage plans printed in reports_2021-06-30.json.
REPORT_USAGE_PLANS: dict[str, tuple[float, int]] = {
    "createReport": (0.0167, 15),
    "getReport": (2.0, 15),
    "getReports": (0.0222, 10),
    "cancelReport": (0.0222, 10),
    "getReportDocument": (0.0167, 15),
}
USAGE_PLANS.update(REPORT_USAGE_PLANS)
# condition_type -> the report's numeric item-condition
CONDITION_CODES = {
    "used_like_new": "1", "used_very_good": "2", "used_good": "3", "used_acceptable": "4",
    "collectible_like_new": "5", "collectible_very_good": "6", "collectible_good": "7",
    "collectible_acceptable": "8", "refurbished_refurbished": "10", "new_new": "11",
}
# externally_assigned_product_identifier type -> the report's product-id-type (1 is the ASIN)
PRODUCT_ID_TYPES = {"isbn": "2", "upc": "3", "ean": "4"}


@dataclass
class Report:
    report_id: str
    seller_id: str
    report_type: str
    marketplaces: list[str]
    created: float
    status: str = "IN_QUEUE"
    started: float | None = None
    ended: float | None = None
    document_id: str | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reportId": self.report_id, "reportType": self.report_type,
                               "marketplaceIds": self.marketplaces, "createdTime": iso(self.created),
                               "processingStatus": self.status}
        if self.started is not None:
            out["processingStartTime"] = iso(self.started)
        if self.ended is not None:
            out["processingEndTime"] = iso(self.ended)
        if self.document_id:
            out["reportDocumentId"] = self.document_id
        return out


def _cell(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def listing_row(listing: Listing, marketplace_id: str) -> dict[str, str]:
    """One listing as a GET_MERCHANT_LISTINGS_ALL_DATA row."""
    attributes = listing.attributes
    price = next((our_price(o) for o in attributes.get("purchasable_offer") or []
                  if isinstance(o, dict) and o.get("marketplace_id", marketplace_id) == marketplace_id), None)
    channels = listing.fulfillment_availability()
    merchant = [c for c in channels if c["fulfillmentChannelCode"] == "DEFAULT"]
    condition = next((c.get("value") for c in attributes.get("condition_type") or [] if isinstance(c, dict)), None)
    identifier = next((i for i in attributes.get("externally_assigned_product_identifier") or []
                       if isinstance(i, dict) and str(i.get("type", "")).lower() in PRODUCT_ID_TYPES), None)
    status = listing.status()
    row = {
        "item-name": listing.item_name() or "", "listing-id": listing.asin[2:] + listing.sku[-4:].upper(),
        "seller-sku": listing.sku, "price": "" if price is None else f"{price:.2f}",
        "quantity": str(sum(c.get("quantity", 0) for c in merchant)) if merchant or not channels else "",
        "open-date": datetime.fromtimestamp(listing.created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "item-is-marketplace": "y", "item-condition": CONDITION_CODES.get(str(condition), "11"),
        "asin1": listing.asin, "will-ship-internationally": "", "add-delete": "",
        "product-id-type": PRODUCT_ID_TYPES[str(identifier["type"]).lower()] if identifier else "1",
        "product-id": str(identifier["value"]) if identifier else listing.asin,
        "fulfillment-channel": "DEFAULT" if merchant or not channels else channels[0]["fulfillmentChannelCode"],
        "status": "Incomplete" if not status else "Active" if "BUYABLE" in status else "Inactive",
    }
    return {c: _cell(row.get(c)) for c in COLUMNS}


def merchant_listings(listings: list[Listing], marketplace_id: str) -> bytes:
    rows = ["\t".join(COLUMNS)]
    for listing in sorted(listings, key=lambda x: x.sku):
        if marketplace_id in listing.marketplaces:
            row = listing_row(listing, marketplace_id)
            rows.append("\t".join(row[c] for c in COLUMNS))
    return ("\n".join(rows) + "\n").encode()


class ReportStore:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.reports: dict[str, Report] = {}
        self.documents: dict[str, tuple[str, bytes]] = {}  # id -> (seller, gzip content)
        self._ids = itertools.count(50001)

    def create(self, seller_id: str, report_type: str, marketplaces: list[str], now: float) -> Report:
        report = Report(str(next(self._ids)), seller_id, report_type, marketplaces, now)
        self.reports[report.report_id] = report
        return report

    def advance(self, now: float, force: bool = False) -> None:
        queue, processing = self.sim.config.feed_queue_seconds, self.sim.config.feed_processing_seconds
        for report in self.reports.values():
            if report.status == "IN_QUEUE" and (force or now >= report.created + queue):
                report.status, report.started = "IN_PROGRESS", now if force else report.created + queue
            if report.status == "IN_PROGRESS" and (force or now >= (report.started or now) + processing):
                self.finish(report, now)

    def finish(self, report: Report, now: float) -> None:
        report.ended = now
        if report.report_type != MERCHANT_LISTINGS:
            report.status = "FATAL"
            return
        content = merchant_listings(self.sim.listings.for_seller(report.seller_id), report.marketplaces[0])
        document_id = f"amzn1.spdoc.1.4.na.{uuid.uuid4()}"
        self.documents[document_id] = (report.seller_id, gzip.compress(content))
        report.document_id, report.status = document_id, "DONE"


def register(app: FastAPI, sim: Simulator) -> None:
    store = ReportStore(sim)
    sim.tickers.append(store.advance)
    app.state.reports = store

    def own(seller_id: str, report_id: str) -> Report:
        report = store.reports.get(report_id)
        if report is None or report.seller_id != seller_id:
            raise SpApiError(404, "NotFound", f"Report {report_id} not found.")
        return report

    @app.post(f"{REPORTS_BASE}/reports")
    async def create_report(request: Request) -> Response:
        account = await sim.enter(request, "createReport")
        body = await json_body(request, schemas.REPORTS, "CreateReportSpecification")
        check_marketplaces(account, body["marketplaceIds"])
        report = store.create(account.seller_id, body["reportType"], body["marketplaceIds"], sim.now())
        return sim.respond(request, 202, {"reportId": report.report_id})

    @app.get(f"{REPORTS_BASE}/reports/{{report_id}}")
    async def get_report(request: Request, report_id: str) -> Response:
        account = await sim.enter(request, "getReport")
        return sim.respond(request, 200, own(account.seller_id, report_id).view())

    @app.delete(f"{REPORTS_BASE}/reports/{{report_id}}")
    async def cancel_report(request: Request, report_id: str) -> Response:
        account = await sim.enter(request, "cancelReport")
        report = own(account.seller_id, report_id)
        if report.status != "IN_QUEUE":
            raise bad_request(f"Report {report_id} is {report.status} and can no longer be cancelled.", "reportId")
        report.status = "CANCELLED"
        sim.calls["cancelReport"]["200"] += 1
        return Response(status_code=200, headers=sim.headers(request))

    @app.get(f"{REPORTS_BASE}/reports")
    async def get_reports(request: Request) -> Response:
        account = await sim.enter(request, "getReports")
        q = request.query_params
        if q.get("nextToken") and len(q) > 1:
            raise bad_request("nextToken must be sent alone.", "nextToken")
        types, statuses = csv(request, "reportTypes"), csv(request, "processingStatuses")
        if not q.get("nextToken") and not types:
            raise bad_request("reportTypes is required when nextToken is not given.", "reportTypes")
        try:
            offset = int(base64.urlsafe_b64decode(q["nextToken"]).decode()) if q.get("nextToken") else 0
            page_size = int(q.get("pageSize", "10"))
        except ValueError as exc:
            raise bad_request("Invalid nextToken or pageSize.", "nextToken") from exc
        if not 1 <= page_size <= 100:
            raise bad_request("pageSize must be between 1 and 100.", "pageSize")
        mine = [r for r in sorted(store.reports.values(), key=lambda r: -r.created)
                if r.seller_id == account.seller_id and (not types or r.report_type in types)
                and (not statuses or r.status in statuses)]
        body: dict[str, Any] = {"reports": [r.view() for r in mine[offset: offset + page_size]]}
        if offset + page_size < len(mine):
            body["nextToken"] = base64.urlsafe_b64encode(str(offset + page_size).encode()).decode()
        return sim.respond(request, 200, body)

    @app.get(f"{REPORTS_BASE}/documents/{{document_id}}")
    async def get_report_document(request: Request, document_id: str) -> Response:
        account = await sim.enter(request, "getReportDocument")
        stored = store.documents.get(document_id)
        if stored is None or stored[0] != account.seller_id:
            raise SpApiError(404, "NotFound", f"Report document {document_id} not found.")
        url = f"{str(request.base_url).rstrip('/')}{REPORT_DOCUMENTS}/{document_id}"
        return sim.respond(request, 200, {"reportDocumentId": document_id, "url": url,
                                          "compressionAlgorithm": "GZIP"})

    @app.get(f"{REPORT_DOCUMENTS}/{{document_id}}")
    async def download_report_document(document_id: str) -> Response:
        stored = store.documents.get(document_id)
        if stored is None:
            return Response(status_code=404)
        return Response(stored[1], 200, media_type="application/octet-stream")

    @app.post("/_sim/reports/process")
    async def process_reports() -> dict[str, Any]:
        store.advance(sim.now(), force=True)
        return {"reports": {r.report_id: r.status for r in store.reports.values()}}
