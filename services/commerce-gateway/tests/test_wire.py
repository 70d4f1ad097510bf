"""The gateway's requests against Adobe's published Commerce 2.4.8 model: the check every `sim` test runs."""

from __future__ import annotations

import json
from typing import Any

import httpx


def req(method: str, url: str, body: Any = None, **params: str) -> httpx.Request:
    content = json.dumps(body).encode() if body is not None else None
    return httpx.Request(method, "http://commerce.test" + url, params=params, content=content)


def test_requests_the_model_accepts_pass(kit: Any) -> None:
    assert kit.request_problems(req("GET", "/rest/default/V1/products", **{
        "searchCriteria[pageSize]": "10", "searchCriteria[filterGroups][1][filters][0][field]": "sku"})) == []
    assert kit.request_problems(req("POST", "/rest/default/V1/customers", {
        "customer": {"email": "a@example.com", "firstname": "A", "lastname": "B"}})) == []


def test_requests_the_model_refuses_are_named(kit: Any) -> None:
    [unknown] = kit.request_problems(req("GET", "/rest/default/V1/productz"))
    assert "no operation" in unknown
    [query] = kit.request_problems(req("GET", "/rest/default/V1/products", **{"searchCriteria[page_size]": "10"}))
    assert "searchCriteria[page_size]" in query
    body = kit.request_problems(req("POST", "/rest/default/V1/customers", {"customer": {"email": 7}}))
    assert any("customer/email" in p for p in body) and any("firstname" in p for p in body)
    assert kit.request_problems(req("POST", "/rest/default/V1/customers"))[0].endswith("needs one")
    assert kit.request_problems(req("GET", "/rest/default/V1/orders/3", {"x": 1}))[0].endswith("takes none")
