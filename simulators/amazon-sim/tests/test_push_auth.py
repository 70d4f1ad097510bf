"""Pushed notifications carry `Authorization: Bearer <push token>` when one is set, and the token is never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client.parser import text_string_to_metric_families

from amazon_sim import SimConfig, create_app
from amazon_sim.__main__ import PUSH_TOKEN_ENV, build_config, parser
from amazon_sim.testing import ACCOUNT, SELLER, US, Sim, free_port, wait_until_serving

TOKEN = "push-token-7f3a9c"
LISTING = {"productType": "HOME", "attributes": {
    "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                           "our_price": [{"schedule": [{"value_with_tax": "10.00"}]}]}],
    "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}]}, "marketplaceIds": [US]}


class Receiver:
    """An in-process push endpoint that records each request's Authorization header and answers `status`."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []
        self.status = 200
        self.app = FastAPI()

        @self.app.post("/notifications")
        async def notifications(request: Request) -> JSONResponse:
            self.authorizations.append(request.headers.get("authorization"))
            return JSONResponse({}, self.status)


@pytest.fixture
async def pushing() -> AsyncIterator[tuple[Sim, Receiver]]:
    app = create_app(SimConfig(accounts=[ACCOUNT], seed=1), background=False)
    receiver = Receiver()
    async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client,
                httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app), base_url="http://hook.test") as push):
        app.state.sim.notifications.http = push
        yield Sim(client), receiver


async def notify(sim: Sim, sku: str) -> dict[str, Any]:
    r = await sim.client.put(f"/_sim/listings/{SELLER}/{sku}", json=LISTING)
    assert r.status_code == 200, r.text
    return dict((await sim.client.post("/_sim/notifications/flush")).json())


async def test_a_push_carries_the_token_which_no_admin_response_shows(pushing: tuple[Sim, Receiver]) -> None:
    sim, receiver = pushing
    r = await sim.client.put("/_sim/notifications/settings", json={"push_url": "http://hook.test/notifications",
                                                                    "push_token": TOKEN})
    assert r.status_code == 200, r.text
    assert r.json()["push_token_set"] is True and "push_token" not in r.json()
    assert (await notify(sim, "AU-1"))["delivered"] == 1
    assert receiver.authorizations == [f"Bearer {TOKEN}"]
    for path in ("/_sim/notifications/settings", "/_sim/notifications", "/_sim/stats", "/metrics"):
        shown = await sim.client.get(path)
        assert shown.status_code == 200 and TOKEN not in shown.text, path
    assert (await sim.client.get("/_sim/notifications/settings")).json() == r.json()


async def test_without_a_token_a_push_has_no_authorization(pushing: tuple[Sim, Receiver]) -> None:
    sim, receiver = pushing
    r = await sim.client.put("/_sim/notifications/settings", json={"push_url": "http://hook.test/notifications"})
    assert r.json()["push_token_set"] is False
    assert (await notify(sim, "AU-2"))["delivered"] == 1
    assert receiver.authorizations == [None]


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_push_is_a_failed_delivery(pushing: tuple[Sim, Receiver], status: int) -> None:
    sim, receiver = pushing
    receiver.status = status
    await sim.client.put("/_sim/notifications/settings", json={"push_url": "http://hook.test/notifications",
                                                                "push_token": "wrong", "max_attempts": 2})
    first = await notify(sim, "AU-3")
    assert first["delivered"] == 0 and first["pending"] == 1  # tried again: the token may be accepted later
    second = (await sim.client.post("/_sim/notifications/flush")).json()
    assert second["pending"] == 0
    counts = (await sim.client.get("/_sim/notifications")).json()["counts"]
    assert counts["dropped"] == 1 and counts["push_failed"] == 2 and counts[f"push_failed:{status}"] == 2
    metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families((await sim.client.get("/metrics")).text) for s in f.samples}
    assert metrics[("amazon_sim_notification_delivery_failures_total",
                    (("destination", "push"), ("reason", str(status))))] == 2
    assert metrics[("amazon_sim_notifications_dropped_total", ())] == 1


def test_the_token_comes_from_the_flag_else_the_environment_else_the_config(tmp_path: Path) -> None:
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"notifications": {"push_url": "http://gw/notifications", "push_token": "from-file"}}))

    def token(argv: list[str], environ: dict[str, str]) -> str | None:
        secret = build_config(parser().parse_args(argv), environ).notifications.push_token
        return secret.get_secret_value() if secret else None

    assert token([], {}) is None
    assert token(["--config", str(config)], {}) == "from-file"
    assert token(["--config", str(config)], {PUSH_TOKEN_ENV: "from-env"}) == "from-env"
    assert token(["--config", str(config), "--push-token", "from-flag"], {PUSH_TOKEN_ENV: "from-env"}) == "from-flag"
    assert TOKEN not in repr(SimConfig.model_validate({"notifications": {"push_token": TOKEN}}))


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[str | None], threading.Event]]:
    """A push endpoint on a real port: the Authorization header of every POST, and an event set on the first."""
    seen: list[str | None] = []
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            seen.append(self.headers.get("authorization"))
            arrived.set()
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notifications", seen, arrived
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_the_running_simulator_pushes_with_the_token_from_its_environment(
        http_receiver: tuple[str, list[str | None], threading.Event]) -> None:
    url, seen, arrived = http_receiver
    port = free_port()
    env = {**os.environ, PUSH_TOKEN_ENV: TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "amazon_sim", "--port", str(port), "--push-url", url], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base)
        settings = httpx.get(f"{base}/_sim/notifications/settings")
        assert settings.json()["push_token_set"] is True and TOKEN not in settings.text
        assert httpx.put(f"{base}/_sim/listings/A1SIMSELLER0001/AU-4", json=LISTING).status_code == 200
        assert arrived.wait(10), "no push arrived"
        assert seen[0] == f"Bearer {TOKEN}"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert TOKEN not in output
