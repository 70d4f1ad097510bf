"""--multiply copies, the signed product-change webhook, and fault injection."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from fastapi import FastAPI, Request

from magento_sim import SimConfig, create_app
from magento_sim.core import AnswerLost
from magento_sim.webhooks import SIGNATURE_HEADER, signature

from .conftest import Client

ALL = {"searchCriteria": ""}


async def test_multiply_makes_unique_copies() -> None:
    app = create_app(SimConfig(multiply=50))
    catalog = app.state.sim.catalog
    assert len(catalog) == 50 * 2046
    assert len({p.sku for p in catalog.by_id.values()}) == len({p.id for p in catalog.by_id.values()}) == 102_300
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        sim = Client(client)
        copy = (await sim.call("GET", "/V1/products/MH01-7")).json()
        children = copy["extension_attributes"]["configurable_product_links"]
        child = (await sim.call("GET", "/V1/products/MH01-XS-Black-7")).json()
        assert child["id"] in children and child["sku"] == "MH01-XS-Black-7"
        upcs = {next(a["value"] for a in p["custom_attributes"] if a["attribute_code"] == "upc")
                for p in (child, (await sim.call("GET", "/V1/products/MH01-XS-Black")).json())}
        assert len(upcs) == 2
        r = await sim.call("GET", "/V1/products", params={"searchCriteria[pageSize]": "300",
                                                           "searchCriteria[currentPage]": "2"})
        assert r.json()["total_count"] == 102_300 and len(r.json()["items"]) == 300


@pytest.fixture
def receiver() -> tuple[FastAPI, list[tuple[bytes, dict[str, str]]]]:
    received: list[tuple[bytes, dict[str, str]]] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        received.append((await request.body(), dict(request.headers)))
        return {"ok": True}

    return app, received


async def test_every_change_is_pushed_signed(receiver: tuple[FastAPI, list]) -> None:
    hook_app, received = receiver
    app = create_app(SimConfig(webhook_url="http://hooks.test/hook", webhook_secret="s3cret"),
                     webhook_transport=httpx.ASGITransport(app=hook_app))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        sim = Client(client)
        assert (await sim.call("PUT", "/V1/products/24-MB01", json={"product": {"price": 33}})).status_code == 200
        assert (await client.patch("/_sim/products/24-MB02", json={"qty": 3})).status_code == 200
        await app.state.sim.webhooks.drain()
        assert len(received) == 2
        for body, headers in received:
            assert headers[SIGNATURE_HEADER.lower()] == signature("s3cret", body)
        assert [json.loads(b)["sku"] for b, _ in received] == ["24-MB01", "24-MB02"]
        assert json.loads(received[0][0])["price"] == 33
        stats = (await client.get("/_sim/stats")).json()["webhooks"]
        assert stats["delivered"] == 2
        shown = (await client.get("/_sim/config")).text + (await client.get("/_sim/stats")).text
        assert "s3cret" not in shown and (await client.get("/_sim/config")).json()["webhook_signed"] is True


async def test_injected_errors_and_their_counts(sim: Client) -> None:
    r = await sim.client.post("/_sim/faults", json={"seed": 1, "error_rate": 1.0, "error_statuses": [429],
                                                    "operations": ["GetV1ProductsSku"]})
    assert r.status_code == 200
    r = await sim.call("GET", "/V1/products/MH01")
    assert r.status_code == 429 and r.json()["message"]
    assert (await sim.call("GET", "/V1/products", params=ALL)).status_code == 200  # another operation
    await sim.client.post("/_sim/faults", json={"error_rate": 1.0, "error_statuses": [500]})
    r = await sim.call("GET", "/V1/store/websites")
    assert r.status_code == 500 and r.json()["message"].startswith("Internal Error.")
    stats = (await sim.client.get("/_sim/stats")).json()
    assert stats["operations"]["GetV1ProductsSku"] == {"calls": 1, "429": 1}
    assert stats["faults"] == {"error:429": 1, "error:500": 1}
    assert (await sim.client.get("/healthz")).status_code == 200


async def test_latency_and_malformed_answers(sim: Client) -> None:
    await sim.client.post("/_sim/faults", json={"latency_ms": 50, "malformed_rate": 1.0,
                                                "malformed_kinds": ["invalid_json"]})
    started = time.perf_counter()
    r = await sim.call("GET", "/V1/products/MH01")
    assert time.perf_counter() - started >= 0.05 and r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()
    await sim.client.post("/_sim/faults", json={"malformed_rate": 1.0, "malformed_kinds": ["schema"]})
    body = (await sim.call("GET", "/V1/products", params=ALL)).json()
    assert body["items"] == "malformed"


async def test_a_write_whose_answer_is_lost_is_applied(sim: Client) -> None:
    await sim.client.post("/_sim/faults", json={"timeout_after_commit_rate": 1.0})
    with pytest.raises(AnswerLost):
        await sim.call("PUT", "/V1/products/24-MB01", json={"product": {"price": 21}})
    await sim.client.post("/_sim/faults", json={})
    assert (await sim.call("GET", "/V1/products/24-MB01")).json()["price"] == 21
    await sim.client.post("/_sim/faults", json={"timeout_after_commit_rate": 1.0, "timeout_mode": "delay",
                                                "timeout_delay_ms": 300})
    with pytest.raises(TimeoutError):  # the client gives up before the answer comes
        await asyncio.wait_for(sim.call("PUT", "/V1/products/24-MB01", json={"product": {"price": 22}}), 0.1)
    assert (await sim.call("GET", "/V1/products/24-MB01")).json()["price"] == 22
    assert (await sim.client.get("/_sim/stats")).json()["faults"]["lost_answer"] == 2
