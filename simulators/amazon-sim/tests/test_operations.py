"""`/healthz`, `/readyz`, `/metrics`, `/openapi.json`: served without a token, outside rate limits and faults,
and not counted as SP-API calls."""

from __future__ import annotations

import subprocess
import sys

import httpx
from prometheus_client.parser import text_string_to_metric_families

from amazon_sim import SimConfig, create_app
from amazon_sim.testing import ACCOUNT, Sim, free_port, wait_until_serving

PARTICIPATIONS = "/sellers/v1/marketplaceParticipations"
OPERATIONS = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/_sim/openapi.json", "/docs")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def calls(text: str, operation: str, status: str) -> float | None:
    return samples(text).get(("amazon_sim_sp_api_calls_total", (("operation", operation), ("status", status))))


async def test_health_and_docs_answer_without_a_token(sim: Sim) -> None:
    r = await sim.client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok", "service": "amazon-sim"})
    doc = (await sim.client.get("/openapi.json")).json()
    assert doc["info"]["title"] == "amazon-sim"
    assert {"/healthz", "/readyz", "/metrics", PARTICIPATIONS, "/_sim/stats"} <= doc["paths"].keys()
    assert (await sim.client.get("/_sim/openapi.json")).json() == doc
    docs = await sim.client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


async def test_not_ready_before_the_lifespan_starts_and_ready_while_it_runs() -> None:
    app = create_app(SimConfig(accounts=[ACCOUNT]), background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        r = await client.get("/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
        async with app.router.lifespan_context(app):
            r = await client.get("/readyz")
            assert r.status_code == 200, r.text
            assert r.json() == {"ready": True, "service": "amazon-sim", "checks": {"started": True}}
        assert (await client.get("/readyz")).status_code == 503


async def test_metrics_count_sp_api_calls_by_operation_and_status(sim: Sim) -> None:
    assert (await sim.call("GET", PARTICIPATIONS)).status_code == 200
    assert (await sim.call("GET", PARTICIPATIONS)).status_code == 200
    assert (await sim.client.get(PARTICIPATIONS)).status_code == 403  # no token
    r = await sim.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert calls(r.text, "getMarketplaceParticipations", "200") == 2
    assert calls(r.text, "getMarketplaceParticipations", "403") == 1
    assert samples(r.text)[("amazon_sim_notifications_pending", ())] == 0


async def test_operations_endpoints_are_outside_faults_limits_and_stats(sim: Sim) -> None:
    r = await sim.client.post("/_sim/faults", json={"error_rate": 1.0, "malformed_rate": 1.0})
    assert r.status_code == 200, r.text
    for _ in range(3):
        for path in OPERATIONS:
            r = await sim.client.get(path)
            assert r.status_code == (503 if path == "/readyz" else 200), (path, r.text)  # no lifespan here
            assert "x-amzn-RequestId" not in r.headers
    stats = (await sim.client.get("/_sim/stats")).json()
    assert stats["operations"] == {} and stats["faults"] == {} and stats["throttled"] == 0
    assert (await sim.call("GET", PARTICIPATIONS)).status_code in (500, 503)  # while an SP-API call fails


async def test_each_app_has_its_own_metrics(sim: Sim) -> None:
    other = create_app(SimConfig(accounts=[ACCOUNT]), background=False)
    assert (await sim.call("GET", PARTICIPATIONS)).status_code == 200
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://other.test") as client:
        text = (await client.get("/metrics")).text
    assert calls(text, "getMarketplaceParticipations", "200") is None
    assert calls((await sim.client.get("/metrics")).text, "getMarketplaceParticipations", "200") == 1


def test_the_running_server_is_ready_and_counts_a_real_call() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "amazon_sim", "--port", str(port)])
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base)
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"started": True, "background": True}
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "service": "amazon-sim"}
        assert "/metrics" in httpx.get(f"{base}/openapi.json").json()["paths"]
        token = httpx.post(f"{base}/auth/o2/token", data={
            "grant_type": "refresh_token", "refresh_token": "Atzr|sim-refresh-token",
            "client_id": "amzn1.application-oa2-client.sim", "client_secret": "sim-secret"}).json()["access_token"]
        r = httpx.get(f"{base}{PARTICIPATIONS}", headers={"x-amz-access-token": token})
        assert r.status_code == 200, r.text
        assert calls(httpx.get(f"{base}/metrics").text, "getMarketplaceParticipations", "200") == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
