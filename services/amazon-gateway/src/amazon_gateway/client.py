"""An async SP-API client: LWA tokens, per-(account, operation) rate limits, retries, no secrets in errors.

The decisions (when to refresh, how long to wait, whether to retry, what to report) are the domain's;
this module only does the I/O around them.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from amazon_gateway.accounts import AmazonAccount
from amazon_gateway.domain.lwa import TOKEN_URL, AccessTokenCache, refresh_token_form
from amazon_gateway.domain.rate_limit import RATE_LIMIT_HEADER, RateLimits
from amazon_gateway.domain.retry import RetryPolicy, communication_error_fields, redact
from servicekit.logging import get_logger

log = get_logger(component="sp-api")

LISTINGS_ITEMS = "/listings/2021-08-01/items"
LWA_OPERATION = "lwaToken"
VERIFY_INCLUDED = "summaries,offers,fulfillmentAvailability"
FEEDS = "/feeds/2021-06-30"
ORDERS = "/orders/v0/orders"
RESTRICTED_DATA_TOKEN = "/tokens/2021-03-01/restrictedDataToken"
REPORTS = "/reports/2021-06-30"
SEARCH_MAX_IDENTIFIERS = 20
SEARCH_INCLUDED = "summaries,offers,fulfillmentAvailability,issues,attributes"

Json = dict[str, Any]


class AmazonCallFailed(Exception):
    """A call that failed for good; `fields` are the CommunicationError's operation, code, message, attempts."""

    def __init__(self, fields: dict[str, Any], status: int | None) -> None:
        super().__init__(f"{fields['operation']} failed: {fields['code']}")
        self.fields = fields
        self.status = status


def _error_code(response: httpx.Response) -> tuple[str | None, str | None]:
    """Amazon's error code and message from an SP-API `errors` body or an LWA error body."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return errors[0].get("code"), errors[0].get("message")
        if isinstance(body.get("error"), str):
            return body["error"], body.get("error_description")
    return None, None


def search_results_problem(body: Json) -> str | None:
    """What makes a searchListingsItems answer unusable for paging, or None."""
    if isinstance(body.get("numberOfResults"), bool) or not isinstance(body.get("numberOfResults"), int):
        return "ItemSearchResults.numberOfResults is not an integer"
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("sku"), str) for i in items):
        return "ItemSearchResults.items is not a list of items with a sku"
    pagination = body.get("pagination", {})
    if not isinstance(pagination, dict) or not isinstance(pagination.get("nextToken", ""), str):
        return "ItemSearchResults.pagination.nextToken is not a string"
    return None


def _payload_with_list(name: str) -> Callable[[Json], str | None]:
    """A check that an Orders v0 answer has a `payload` object holding the list `name`."""
    def problem(body: Json) -> str | None:
        payload = body.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get(name), list):
            return f"the answer has no payload.{name} list"
        if not all(isinstance(x, dict) for x in payload[name]):
            return f"payload.{name} holds something other than objects"
        return None
    return problem


def _text(body: Json, name: str) -> str:
    """A required string field of an answer; a missing one is an answer we cannot use."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"the answer has no {name}")
    return value


def _report_problem(body: Json) -> str | None:
    if not isinstance(body.get("processingStatus"), str):
        return "Report.processingStatus is not a string"
    if body["processingStatus"] == "DONE" and not isinstance(body.get("reportDocumentId"), str):
        return "a DONE report without a reportDocumentId"
    return None


class SpApiClient:
    def __init__(
        self,
        accounts: dict[str, AmazonAccount],
        *,
        http: httpx.AsyncClient,
        api_base_url: str | None = None,
        lwa_url: str | None = None,
        retry: RetryPolicy | None = None,
        limits: RateLimits | None = None,
        token_margin_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.accounts = accounts
        self.http = http
        self.api_base_url = api_base_url
        self.lwa_url = lwa_url or TOKEN_URL
        self.retry = retry or RetryPolicy()
        self.limits = limits or RateLimits()
        self.tokens = AccessTokenCache(token_margin_s)
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._token_locks: dict[str, asyncio.Lock] = {}
        self._live_tokens: dict[str, str] = {}

    # ------------------------------------------------------------ Listings Items API

    async def get_listings_item(self, account_id: str, marketplace_id: str, sku: str,
                                included_data: str = VERIFY_INCLUDED) -> Json | None:
        """The listing, or None when Amazon does not know the SKU."""
        status, body = await self.call(
            account_id, "getListingsItem", "GET", self._item_path(account_id, sku),
            params={"marketplaceIds": marketplace_id, "includedData": included_data}, not_found_ok=True)
        return None if status == 404 else body

    async def patch_listings_item(self, account_id: str, marketplace_id: str, sku: str, body: Json) -> Json:
        return (await self.call(account_id, "patchListingsItem", "PATCH", self._item_path(account_id, sku),
                                params={"marketplaceIds": marketplace_id, "includedData": "issues"},
                                json=body))[1]

    async def put_listings_item(self, account_id: str, marketplace_id: str, sku: str, body: Json) -> Json:
        return (await self.call(account_id, "putListingsItem", "PUT", self._item_path(account_id, sku),
                                params={"marketplaceIds": marketplace_id, "includedData": "issues"},
                                json=body))[1]

    async def delete_listings_item(self, account_id: str, marketplace_id: str, sku: str) -> Json:
        return (await self.call(account_id, "deleteListingsItem", "DELETE", self._item_path(account_id, sku),
                                params={"marketplaceIds": marketplace_id}))[1]

    def _item_path(self, account_id: str, sku: str) -> str:
        seller = self.account(account_id).seller_id
        return f"{LISTINGS_ITEMS}/{quote(seller, safe='')}/{quote(sku, safe='')}"

    # ------------------------------------------------------------ Listings Items API: search (listing import)

    async def search_listings_items(
        self, account_id: str, marketplace_id: str, *, page_size: int = 20, page_token: str | None = None,
        included_data: str = SEARCH_INCLUDED, sort_by: str = "sku", sort_order: str = "ASC",
    ) -> Json:
        """One page of the seller's listings (`ItemSearchResults`); sorted by SKU so pages stay stable while
        listings change during an import."""
        params = {"marketplaceIds": marketplace_id, "includedData": included_data, "pageSize": str(page_size),
                  "sortBy": sort_by, "sortOrder": sort_order}
        if page_token:
            params["pageToken"] = page_token
        seller = quote(self.account(account_id).seller_id, safe="")
        return (await self.call(account_id, "searchListingsItems", "GET", f"{LISTINGS_ITEMS}/{seller}",
                                params=params, check=search_results_problem))[1]

    # ------------------------------------------------------------ Feeds API (JSON_LISTINGS_FEED) and read-back by SKU

    async def create_feed_document(self, account_id: str, content_type: str) -> tuple[str, str]:
        """A new feed document: its id and the pre-signed URL to upload the content to."""
        body = (await self.call(account_id, "createFeedDocument", "POST", f"{FEEDS}/documents",
                                json={"contentType": content_type}))[1]
        return _text(body, "feedDocumentId"), _text(body, "url")

    async def upload_feed_document(self, url: str, content: bytes, content_type: str) -> None:
        """PUT the content to the document's pre-signed URL (not an SP-API call: no token, no usage plan)."""
        await self._transfer("uploadFeedDocument", "PUT", url, content=content,
                             headers={"content-type": content_type})

    async def create_feed(self, account_id: str, feed_type: str, marketplace_ids: list[str], document_id: str) -> str:
        body = (await self.call(account_id, "createFeed", "POST", f"{FEEDS}/feeds", json={
            "feedType": feed_type, "marketplaceIds": marketplace_ids, "inputFeedDocumentId": document_id}))[1]
        return _text(body, "feedId")

    async def get_feed(self, account_id: str, feed_id: str) -> Json:
        return (await self.call(account_id, "getFeed", "GET", f"{FEEDS}/feeds/{quote(feed_id, safe='')}"))[1]

    async def get_feed_document(self, account_id: str, document_id: str) -> Json:
        """The document's download URL and `compressionAlgorithm` (GZIP or absent)."""
        return (await self.call(account_id, "getFeedDocument", "GET",
                                f"{FEEDS}/documents/{quote(document_id, safe='')}"))[1]

    async def download_feed_document(self, document: Json) -> bytes:
        """The content behind a getFeedDocument answer, unzipped when Amazon says it is GZIP."""
        content = await self._transfer("downloadFeedDocument", "GET", _text(document, "url"))
        if document.get("compressionAlgorithm") == "GZIP":
            return gzip.decompress(content)
        return content

    async def listings_by_sku(self, account_id: str, marketplace_id: str, skus: list[str],
                              included_data: str = VERIFY_INCLUDED) -> list[Json]:
        """Up to 20 listings in one searchListingsItems call, looked up by SKU (unknown SKUs are absent)."""
        if not 1 <= len(skus) <= SEARCH_MAX_IDENTIFIERS or any("," in s for s in skus):
            raise ValueError(f"1 to {SEARCH_MAX_IDENTIFIERS} SKUs without commas, got {len(skus)}")
        seller = quote(self.account(account_id).seller_id, safe="")
        body = (await self.call(account_id, "searchListingsItems", "GET", f"{LISTINGS_ITEMS}/{seller}", params={
            "marketplaceIds": marketplace_id, "identifiers": ",".join(skus), "identifiersType": "SKU",
            "pageSize": str(SEARCH_MAX_IDENTIFIERS), "includedData": included_data}))[1]
        items = body.get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValueError("searchListingsItems answered without a list of items")
        return items

    async def _transfer(self, operation: str, method: str, url: str, **kwargs: Any) -> bytes:
        """A document upload or download, retried like an SP-API call; the signed URL never reaches an error."""
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            code: str | None = None
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                code = type(exc).__name__
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response.content
            delay = self.retry.next_delay(attempt, status, code, self.rng)
            if delay is None:
                fields = communication_error_fields(operation=operation, attempts=attempt, status=status,
                                                    error_code=code, message=f"document {method} failed",
                                                    secrets=())
                log.warning("document_transfer_failed", **fields)
                raise AmazonCallFailed(fields, status)
            await self.sleep(delay)

    # ------------------------------------------------------------ Reports API (merchant listings report for the import)

    async def create_report(self, account_id: str, report_type: str, marketplace_ids: list[str]) -> str:
        body = (await self.call(account_id, "createReport", "POST", f"{REPORTS}/reports", json={
            "reportType": report_type, "marketplaceIds": marketplace_ids}))[1]
        return _text(body, "reportId")

    async def get_report(self, account_id: str, report_id: str) -> Json:
        """The report's `processingStatus` and, once DONE, its `reportDocumentId`."""
        return (await self.call(account_id, "getReport", "GET", f"{REPORTS}/reports/{quote(report_id, safe='')}",
                                check=_report_problem))[1]

    async def get_report_document(self, account_id: str, document_id: str) -> Json:
        """The document's download URL and `compressionAlgorithm` (GZIP or absent)."""
        return (await self.call(account_id, "getReportDocument", "GET",
                                f"{REPORTS}/documents/{quote(document_id, safe='')}",
                                check=lambda body: None if isinstance(body.get("url"), str) else "no document url"))[1]

    async def download_report_document(self, document: Json) -> bytes:
        """The content behind a getReportDocument answer, unzipped when Amazon says it is GZIP."""
        content = await self._transfer("downloadReportDocument", "GET", _text(document, "url"))
        if document.get("compressionAlgorithm") == "GZIP":
            return gzip.decompress(content)
        return content

    # ------------------------------------------------------------ Orders API v0

    async def get_orders(self, account_id: str, marketplace_id: str, *, last_updated_after: str | None = None,
                         next_token: str | None = None, max_results: int = 100, rdt: str | None = None) -> Json:
        """One getOrders page (the `payload`): by LastUpdatedAfter, or the page a NextToken points to.

        With a Restricted Data Token (`rdt`) for `/orders/v0/orders`, each order also holds the buyer data
        its dataElements allow.
        """
        params = {"MarketplaceIds": marketplace_id}
        if next_token:
            params["NextToken"] = next_token
        else:
            params["LastUpdatedAfter"] = last_updated_after or ""
            params["MaxResultsPerPage"] = str(max_results)
        return (await self.call(account_id, "getOrders", "GET", ORDERS, params=params,
                                check=_payload_with_list("Orders"), access_token=rdt))[1]["payload"]

    async def get_order_items(self, account_id: str, order_id: str) -> list[Json]:
        """Every item of an order, following getOrderItems' NextToken."""
        items: list[Json] = []
        params: dict[str, str] = {}
        while True:
            payload = (await self.call(account_id, "getOrderItems", "GET", f"{ORDERS}/{quote(order_id, safe='')}"
                                       "/orderItems", params=params or None,
                                       check=_payload_with_list("OrderItems")))[1]["payload"]
            items += payload["OrderItems"]
            if not payload.get("NextToken"):
                return items
            params = {"NextToken": str(payload["NextToken"])}

    async def create_restricted_data_token(self, account_id: str, resources: list[Json]) -> tuple[str, int]:
        """A Restricted Data Token for these `{method, path, dataElements?}` resources, and its lifetime in seconds."""
        body = (await self.call(account_id, "createRestrictedDataToken", "POST", RESTRICTED_DATA_TOKEN,
                                json={"restrictedResources": resources}))[1]
        lifetime = body.get("expiresIn")
        return _text(body, "restrictedDataToken"), lifetime if isinstance(lifetime, int) and lifetime > 0 else 0

    async def confirm_shipment(self, account_id: str, order_id: str, body: Json) -> None:
        """confirmShipment; Amazon answers 204 with no body, a refusal raises AmazonCallFailed with its status."""
        await self.call(account_id, "confirmShipment", "POST",
                        f"{ORDERS}/{quote(order_id, safe='')}/shipmentConfirmation", json=body)

    # ------------------------------------------------------------ the call loop

    def account(self, account_id: str) -> AmazonAccount:
        account = self.accounts.get(account_id)
        if account is None:
            raise AmazonCallFailed({"operation": "account", "code": "UnknownAccount",
                                    "message": f"no credentials configured for account {account_id}",
                                    "attempts": 1}, None)
        return account

    def _secrets(self, account: AmazonAccount) -> tuple[str, ...]:
        live = self._live_tokens.get(account.account_id)
        return account.credentials.secrets() + ((live,) if live else ())

    def base_url(self, account: AmazonAccount) -> str:
        return self.api_base_url or f"https://{account.credentials.host}"

    async def call(
        self, account_id: str, operation: str, method: str, path: str, *,
        params: dict[str, str] | None = None, json: Json | None = None, not_found_ok: bool = False,
        check: Callable[[Json], str | None] | None = None, access_token: str | None = None,
    ) -> tuple[int, Json]:
        """Send one SP-API request, waiting for the rate limit and retrying per the policy.

        `check` names what is wrong with a 2xx body the caller cannot use (None when usable); such an
        answer is retried like a server error and, when retries run out, fails as MalformedResponse.
        `access_token` replaces the account's LWA token (a Restricted Data Token for restricted data).
        """
        account = self.account(account_id)
        attempt = 0
        refreshed_after_denial = False
        while True:
            attempt += 1
            await self._wait_for_token_bucket(account_id, operation)
            token = access_token or await self.access_token(account)
            status: int | None = None
            code: str | None = None
            message: str | None = None
            try:
                response = await self.http.request(
                    method, self.base_url(account) + path, params=params, json=json,
                    headers={"x-amz-access-token": token, "accept": "application/json"})
            except httpx.TransportError as exc:
                code, message = type(exc).__name__, str(exc) or type(exc).__name__
            else:
                status = response.status_code
                self.limits.observe_header(account_id, operation, response.headers.get(RATE_LIMIT_HEADER))
                if status == 204:
                    return status, {}
                if 200 <= status < 300 or (status == 404 and not_found_ok):
                    try:
                        body = response.json()
                    except ValueError:
                        code, message = "MalformedResponse", "response body is not JSON"
                        status = 502  # an unreadable answer is retried like a server error
                    else:
                        problem = "response body is not a JSON object" if not isinstance(body, dict) else (
                            check(body) if check is not None and 200 <= status < 300 else None)
                        if problem is None:
                            return status, body
                        code, message = "MalformedResponse", problem
                        status = 502
                else:
                    code, message = _error_code(response)
                    if status in (401, 403) and not refreshed_after_denial and access_token is None:
                        # The token may have expired early or been revoked: fetch a new one, once. A denied
                        # Restricted Data Token fails at once: its caller asks for a new one.
                        refreshed_after_denial = True
                        self.tokens.invalidate(account_id)
                        attempt -= 1
                        continue
            delay = self.retry.next_delay(attempt, status, code, self.rng)
            if delay is None:
                secrets = self._secrets(account) + ((access_token,) if access_token else ())
                fields = communication_error_fields(operation=operation, attempts=attempt, status=status,
                                                    error_code=code, message=message, secrets=secrets)
                log.warning("sp_api_call_failed", account_id=account_id, **fields)
                raise AmazonCallFailed(fields, status)
            log.info("sp_api_call_retrying", account_id=account_id, operation=operation, attempt=attempt,
                     status=status, code=redact(code or "", self._secrets(account)), delay_s=round(delay, 3))
            await self.sleep(delay)

    async def _wait_for_token_bucket(self, account_id: str, operation: str) -> None:
        while (wait := self.limits.try_take(account_id, operation, self.clock())) > 0:
            await self.sleep(wait)

    # ------------------------------------------------------------ LWA

    async def access_token(self, account: AmazonAccount) -> str:
        """The account's access token, exchanged for its refresh token when missing or about to expire."""
        token = self.tokens.get(account.account_id, self.clock())
        if token is not None:
            return token
        lock = self._token_locks.setdefault(account.account_id, asyncio.Lock())
        async with lock:
            token = self.tokens.get(account.account_id, self.clock())
            if token is None:
                token = await self._exchange(account)
            return token

    async def _exchange(self, account: AmazonAccount) -> str:
        form = refresh_token_form(account.credentials)
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            code: str | None = None
            message: str | None = None
            try:
                response = await self.http.post(self.lwa_url, data=form)
            except httpx.TransportError as exc:
                code, message = type(exc).__name__, str(exc) or type(exc).__name__
            else:
                status = response.status_code
                if status == 200:
                    try:
                        stored = self.tokens.store_response(account.account_id, response.json(), self.clock())
                    except ValueError:
                        code, message, status = "MalformedResponse", "LWA answered without a usable token", 502
                    else:
                        self._live_tokens[account.account_id] = stored.value
                        log.info("lwa_token_refreshed", account_id=account.account_id)
                        return stored.value
                else:
                    code, message = _error_code(response)
            delay = self.retry.next_delay(attempt, status, code, self.rng)
            if delay is None:
                fields = communication_error_fields(operation=LWA_OPERATION, attempts=attempt, status=status,
                                                    error_code=code, message=message,
                                                    secrets=self._secrets(account))
                log.warning("lwa_token_failed", account_id=account.account_id, **fields)
                raise AmazonCallFailed(fields, status)
            await self.sleep(delay)
