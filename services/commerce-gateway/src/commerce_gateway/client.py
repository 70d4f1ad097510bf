"""An async Commerce REST client: bearer auth, retries with full-jitter backoff, no token in any error.

The decisions (retry or not, how long to wait, what to report) are the domain's; this module does the I/O.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from commerce_gateway.domain.paging import search_criteria
from commerce_gateway.domain.retry import RetryPolicy, communication_error_fields, error_message, redact
from servicekit.logging import get_logger

log = get_logger(component="commerce-api")

PRODUCTS = "/V1/products"
CURRENCY = "/V1/directory/currency"
STORE_VIEWS = "/V1/store/storeViews"
WEBSITES = "/V1/store/websites"
STORE_GROUPS = "/V1/store/storeGroups"
STORE_CONFIGS = "/V1/store/storeConfigs"
ORDERS = "/V1/orders"
CUSTOMERS = "/V1/customers"
CUSTOMERS_SEARCH = "/V1/customers/search"
SHIPMENTS = "/V1/shipments"
INVOICE = "/V1/order/{orderId}/invoice"

# Every Commerce operation the gateway sends, as the published 2.4.8 model names it. `send` refuses any other, and
# the wire test drives each one against the simulator and checks request and answer against the model.
OPERATIONS: frozenset[str] = frozenset({
    f"GET {PRODUCTS}", f"GET {PRODUCTS}/{{sku}}", f"POST {PRODUCTS}", f"PUT {PRODUCTS}/{{sku}}",
    f"GET {CURRENCY}", f"GET {STORE_VIEWS}", f"GET {WEBSITES}", f"GET {STORE_GROUPS}", f"GET {STORE_CONFIGS}",
    f"GET {ORDERS}", f"POST {ORDERS}", f"POST {INVOICE}", f"GET {SHIPMENTS}",
    f"GET {CUSTOMERS_SEARCH}", f"POST {CUSTOMERS}",
})
Json = dict[str, Any]


class CommerceCallFailed(Exception):
    """A call that failed for good; `fields` are the CommunicationError's operation, code, message, attempts."""

    def __init__(self, fields: dict[str, Any], status: int | None) -> None:
        super().__init__(f"{fields['operation']} failed after {fields['attempts']} attempt(s): "
                         f"{fields['code']}: {fields['message']}")
        self.fields = fields
        self.status = status


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _search_results_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the answer is not a JSON object"
    if not isinstance(body.get("items"), list) or not all(isinstance(i, dict) for i in body["items"]):
        return "SearchResults.items is not a list of objects"
    total = body.get("total_count")
    if isinstance(total, bool) or not isinstance(total, int):
        return "SearchResults.total_count is not an integer"
    return None


def _currency_problem(body: Any) -> str | None:
    ok = isinstance(body, dict) and isinstance(body.get("base_currency_code"), str)
    return None if ok else "the answer has no base_currency_code"


def _list_problem(body: Any) -> str | None:
    return None if isinstance(body, list) else "the answer is not a JSON list"


def _entity_problem(body: Any) -> str | None:
    ok = isinstance(body, dict) and body.get("entity_id") not in (None, "")
    return None if ok else "the answer has no entity_id"


def _invoice_problem(body: Any) -> str | None:
    ok = isinstance(body, (int, str)) and not isinstance(body, bool) and str(body).strip() not in ("", "0")
    return None if ok else "the answer is no invoice id"


def _customer_problem(body: Any) -> str | None:
    ok = isinstance(body, dict) and body.get("id") not in (None, "")
    return None if ok else "the answer has no customer id"


def _product_problem(body: Any) -> str | None:
    ok = isinstance(body, dict) and isinstance(body.get("sku"), str)
    return None if ok else "the answer is not a product"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _released(response: httpx.Response) -> bytes:
    """The answer's body, with the response unbound from its stream: httpx's stream refers back to the response,
    a reference cycle that would keep every answer (a catalogue page is about 400 KiB) until the garbage collector
    next runs its older generations."""
    content = response.content
    response.stream = httpx.ByteStream(b"")
    return content


class CommerceClient:
    def __init__(self, base_url: str, token: SecretStr, *, http: httpx.AsyncClient,
                 retry: RetryPolicy | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.http = http
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()

    async def search_products(self, *, page: int, page_size: int,
                              sort: tuple[tuple[str, str], ...] = (("entity_id", "ASC"),),
                              filters: tuple[tuple[str, str, str], ...] = (), fields: str | None = None) -> Json:
        """One page of `GET /V1/products`: `{items, search_criteria, total_count}`, numbers as Decimal; `fields`
        asks for a partial answer in Commerce's syntax (`items[sku],search_criteria,total_count`)."""
        params = search_criteria(page=page, page_size=page_size, sort=sort, filters=filters)
        if fields:
            params["fields"] = fields
        return await self.get(f"GET {PRODUCTS}", PRODUCTS, params, check=_search_results_problem)

    async def base_currency(self) -> str:
        body = await self.get(f"GET {CURRENCY}", CURRENCY, {}, check=_currency_problem)
        return str(body["base_currency_code"])

    async def store_views(self) -> Any:
        return await self.get(f"GET {STORE_VIEWS}", STORE_VIEWS, {}, check=_list_problem)

    async def websites(self) -> Any:
        return await self.get(f"GET {WEBSITES}", WEBSITES, {}, check=_list_problem)

    async def store_groups(self) -> Any:
        return await self.get(f"GET {STORE_GROUPS}", STORE_GROUPS, {}, check=_list_problem)

    async def store_configs(self) -> Any:
        """Every store view's configuration (currencies, locale, timezone, weight unit)."""
        return await self.get(f"GET {STORE_CONFIGS}", STORE_CONFIGS, {}, check=_list_problem)

    async def currency(self) -> Json:
        """`GET /V1/directory/currency` of the store view in the base URL: base and display currency, rates."""
        return await self.get(f"GET {CURRENCY}", CURRENCY, {}, check=_currency_problem)  # type: ignore[no-any-return]

    async def search_orders(self, field: str, value: str) -> Json:
        """`GET /V1/orders` with `field eq value`: `{items, total_count}`."""
        params = search_criteria(page=1, page_size=20, filters=((field, "eq", value),))
        return await self.get(f"GET {ORDERS}", ORDERS, params, check=_search_results_problem)  # type: ignore[no-any-return]

    async def list_orders(self, *, page: int, page_size: int,
                          filters: tuple[tuple[str, str, str], ...] = ()) -> Json:
        """One page of `GET /V1/orders` in entity_id order, each filter its own (ANDed) group."""
        params = search_criteria(page=page, page_size=page_size, filters=filters)
        return await self.get(f"GET {ORDERS}", ORDERS, params, check=_search_results_problem)  # type: ignore[no-any-return]

    async def search_shipments(self, *, page: int, page_size: int,
                               filters: tuple[tuple[str, str, str], ...] = ()) -> Json:
        """One page of `GET /V1/shipments` in entity_id order, each filter its own (ANDed) group."""
        params = search_criteria(page=page, page_size=page_size, filters=filters)
        return await self.get(f"GET {SHIPMENTS}", SHIPMENTS, params,  # type: ignore[no-any-return]
                              check=_search_results_problem)

    async def search_customers(self, email: str) -> Json:
        """`GET /V1/customers/search` with `email eq email`."""
        params = search_criteria(page=1, page_size=50, filters=(("email", "eq", email),))
        return await self.get(f"GET {CUSTOMERS_SEARCH}", CUSTOMERS_SEARCH, params,  # type: ignore[no-any-return]
                              check=_search_results_problem)

    async def create_order(self, body: Json) -> Json:
        """`POST /V1/orders`, one attempt: repeating it blindly could make a second order."""
        return await self.send("POST", f"POST {ORDERS}", ORDERS, body, check=_entity_problem,  # type: ignore[no-any-return]
                               once=True)

    async def invoice_order(self, order_id: str, body: Json) -> Any:
        """`POST /V1/order/{orderId}/invoice`, one attempt: a blind repeat could invoice twice. Answers the
        invoice id."""
        return await self.send("POST", f"POST {INVOICE}", INVOICE.replace("{orderId}", quote(order_id, safe="")),
                               body, check=_invoice_problem, once=True)

    async def create_customer(self, body: Json) -> Json:
        """`POST /V1/customers`, one attempt: repeating it blindly could make a second customer."""
        return await self.send("POST", f"POST {CUSTOMERS}", CUSTOMERS, body, check=_customer_problem,  # type: ignore[no-any-return]
                               once=True)

    def for_store(self, store_code: str) -> CommerceClient:
        """This client addressing another store view (`…/rest/<store_code>`); itself when it already does."""
        head, sep, current = self.base_url.rpartition("/rest/")
        if not sep or "/" in current or current == store_code:
            return self
        return CommerceClient(f"{head}/rest/{store_code}", self._token, http=self.http, retry=self.retry,
                              sleep=self.sleep, rng=self.rng)

    async def get_product(self, sku: str) -> Json:
        """`GET /V1/products/{sku}`; CommerceCallFailed with status 404 when there is no such product."""
        return await self.send("GET", f"GET {PRODUCTS}/{{sku}}", f"{PRODUCTS}/{quote(sku, safe='')}",  # type: ignore[no-any-return]
                               check=_product_problem, expected=(404,))

    async def create_product(self, body: Json) -> Json:
        """`POST /V1/products`, one attempt: Commerce saves over an existing SKU, so the product is looked up again
        before any repeat."""
        return await self.send("POST", f"POST {PRODUCTS}", PRODUCTS, body, check=_product_problem,  # type: ignore[no-any-return]
                               once=True)

    async def update_product(self, sku: str, body: Json) -> Json:
        """`PUT /V1/products/{sku}` with retries (writing the same values again changes nothing)."""
        return await self.send("PUT", f"PUT {PRODUCTS}/{{sku}}", f"{PRODUCTS}/{quote(sku, safe='')}", body,  # type: ignore[no-any-return]
                               check=_product_problem)

    async def get(self, operation: str, path: str, params: dict[str, str],
                  check: Callable[[Any], str | None] | None = None) -> Any:
        """GET with retries of 429, 5xx, timeouts and unusable answers; CommerceCallFailed when they run out."""
        return await self.send("GET", operation, path, None, params, check)

    async def send(self, method: str, operation: str, path: str, body: Json | None = None,
                   params: dict[str, str] | None = None, check: Callable[[Any], str | None] | None = None,
                   *, once: bool = False, expected: tuple[int, ...] = ()) -> Any:
        """One call with retries as for GET (none when `once`); CommerceCallFailed when they run out. A final
        answer with an `expected` status (a lookup's 404) is the caller's to handle and not logged as a failure."""
        if operation not in OPERATIONS:
            raise ValueError(f"{operation!r} is not one of the Commerce operations the gateway declares")
        secret = self._token.get_secret_value()
        content = json.dumps(body, default=_json_default).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            message: str | None = None
            transport_error: str | None = None
            retry_after: float | None = None
            try:
                response = await self.http.request(method, self.base_url + path, params=params, content=content,
                                                   headers=headers)
            except httpx.TransportError as exc:
                transport_error, message = type(exc).__name__, str(exc) or type(exc).__name__
            else:
                status = response.status_code
                retry_after = _retry_after(response)
                raw = _released(response)
                try:
                    body = json.loads(raw, parse_float=Decimal) if raw else None
                except ValueError:
                    body, message = None, "the answer is not JSON"
                    if 200 <= status < 300:
                        status = 502  # an unreadable answer is retried like a server error
                if status is not None and 200 <= status < 300:
                    problem = check(body) if check else None
                    if problem is None:
                        return body
                    status, message = 502, problem
                elif message is None:
                    message = error_message(body)
            delay = None if once else self.retry.next_delay(attempt, status, self.rng, retry_after)
            if delay is None:
                fields = communication_error_fields(operation=operation, attempts=attempt, status=status,
                                                    message=message, transport_error=transport_error,
                                                    secrets=(secret,))
                if status not in expected:
                    log.warning("commerce_call_failed", **fields)
                raise CommerceCallFailed(fields, status)
            log.info("commerce_call_retrying", operation=operation, attempt=attempt, status=status,
                     error=redact(message or transport_error or "", (secret,)), delay_s=round(delay, 3))
            await self.sleep(delay)
