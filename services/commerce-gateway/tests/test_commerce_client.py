"""The client over an in-process transport: bearer auth, retries, Magento's message, no token in errors."""

from __future__ import annotations

import gc
import random
import weakref
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from commerce_gateway.client import CommerceCallFailed, CommerceClient
from commerce_gateway.domain.retry import RetryPolicy

TOKEN = "integration-token-abc123"
PAGE = {"items": [{"id": 1, "sku": "24-MB01", "price": 34.1}], "search_criteria": {}, "total_count": 1}


def client(handler, attempts: int = 4) -> tuple[CommerceClient, list[float]]:
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return CommerceClient("http://commerce/rest/default", SecretStr(TOKEN), http=http, sleep=sleep,
                          retry=RetryPolicy(attempts, 0.1, 1.0), rng=random.Random(3)), waits


async def test_a_5xx_burst_is_retried_and_numbers_stay_decimal() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503, json={"message": "busy"})
        return httpx.Response(200, json=PAGE)
    c, waits = client(handler)
    body = await c.search_products(page=1, page_size=300)
    assert body["items"][0]["price"] == Decimal("34.1")
    assert len(calls) == 3 and len(waits) == 2 and all(0 <= w <= 0.2 for w in waits)
    assert calls[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert calls[0].url.params["searchCriteria[pageSize]"] == "300"


async def test_a_persistent_failure_keeps_magentos_message_and_hides_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"message": "Database %1 is down for %2", "parameters": ["main", TOKEN]})
    c, _ = client(handler, attempts=3)
    with pytest.raises(CommerceCallFailed) as caught:
        await c.search_products(page=1, page_size=300)
    fields = caught.value.fields
    assert fields["operation"] == "GET /V1/products" and fields["code"] == "500" and fields["attempts"] == 3
    assert fields["message"].startswith("Database main is down for") and TOKEN not in str(fields)


async def test_a_client_error_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(401, json={"message": "The consumer isn't authorized to access %resources.",
                                         "parameters": {"resources": "Magento_Catalog::products"}})
    c, _ = client(handler)
    with pytest.raises(CommerceCallFailed) as caught:
        await c.search_products(page=1, page_size=300)
    assert len(calls) == 1
    assert caught.value.fields["message"] == "The consumer isn't authorized to access Magento_Catalog::products."


async def test_timeouts_and_unusable_answers_are_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow")
        if len(calls) == 2:
            return httpx.Response(200, json={"items": "nope"})
        return httpx.Response(200, json=PAGE)
    c, _ = client(handler)
    assert (await c.search_products(page=1, page_size=300))["total_count"] == 1 and len(calls) == 3


async def test_an_answer_is_freed_when_its_call_returns() -> None:
    """A catalogue page is large: no reference cycle may keep it until the garbage collector next runs."""
    answers: list[weakref.ref[httpx.Response]] = []

    async def remember(response: httpx.Response) -> None:
        answers.append(weakref.ref(response))
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=PAGE)),
                             event_hooks={"response": [remember]})
    c = CommerceClient("http://commerce/rest/default", SecretStr(TOKEN), http=http)
    gc.disable()
    try:
        body = await c.search_products(page=1, page_size=300)
        assert body["total_count"] == 1
        assert len(answers) == 1 and answers[0]() is None
    finally:
        gc.enable()
