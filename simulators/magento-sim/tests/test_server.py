"""`python -m magento_sim` as a process: ready, token, multiply, metrics; the operations endpoints."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from magento_sim.testing import running

from .conftest import Client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_process_serves_with_its_token_and_copies() -> None:
    with running("--token", "T0k", "--multiply", "2") as base:
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "service": "magento-sim"}
        assert httpx.get(f"{base}/V1/products/MH01-1").status_code == 401
        r = httpx.get(f"{base}/V1/products/MH01-1", headers={"Authorization": "Bearer T0k"})
        assert r.status_code == 200 and r.json()["sku"] == "MH01-1"
        r = httpx.get(f"{base}/V1/products", params={"searchCriteria[pageSize]": "1"},
                      headers={"Authorization": "Bearer T0k"})
        assert r.json()["total_count"] == 4092
        metrics = samples(httpx.get(f"{base}/metrics").text)
        assert metrics[("magento_sim_rest_calls_total", (("operation", "GetV1ProductsSku"), ("status", "200")))] == 1
        assert metrics[("magento_sim_products", ())] == 4092
        assert "T0k" not in httpx.get(f"{base}/_sim/config").text


async def test_operations_endpoints_need_no_token_and_are_not_counted(sim: Client) -> None:
    doc = (await sim.client.get("/openapi.json")).json()
    assert {"/V1/products", "/V1/products/{sku}", "/healthz", "/_sim/stats"} <= doc["paths"].keys()
    assert (await sim.client.get("/readyz")).status_code == 503  # no lifespan in this client
    assert (await sim.client.get("/metrics")).status_code == 200
    assert (await sim.client.get("/_sim/stats")).json()["operations"] == {}
