"""Helpers for tests against the simulator: schema checks of responses and a logged-in client."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx

from amazon_sim import schemas
from amazon_sim.config import Account

SELLER = "A1SIMSELLER0001"
US = "ATVPDKIKX0DER"
DE = "A1PA6795UKMFR9"
ACCOUNT = Account(client_id="app-1", client_secret="secret-1", refresh_token="Atzr|one", seller_id=SELLER,
                  marketplaces=[US, DE])
OTHER = Account(client_id="app-1", client_secret="secret-1", refresh_token="Atzr|two", seller_id="A2OTHERSELLER",
                marketplaces=[US])


def check(model: str, operation: str, response: httpx.Response) -> Any:
    """Assert that the body validates against the schema the model declares for this operation and status."""
    body = response.json()
    validator = schemas.response_validator(model, operation, response.status_code)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, (operation, response.status_code, problems, body)
    assert response.headers["x-amzn-RequestId"]
    assert response.headers["x-amzn-RateLimit-Limit"]
    return body


class Sim:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.headers: dict[str, str] = {}

    async def login(self, refresh_token: str = "Atzr|one") -> str:
        r = await self.client.post("/auth/o2/token", data={
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "app-1",
            "client_secret": "secret-1"})
        assert r.status_code == 200, r.text
        self.headers = {"x-amz-access-token": r.json()["access_token"]}
        return r.json()["access_token"]

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers={**self.headers, **kwargs.pop("headers", {})},
                                         **kwargs)


def free_port() -> int:
    """A TCP port nothing listens on now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Credentials a local SQS-compatible server accepts (it checks none).
LOCAL_AWS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextlib.contextmanager
def local_sqs_server() -> Iterator[str]:
    """A local SQS-compatible server (moto's server mode) on a free port, for the life of the block; its URL."""
    from moto.server import ThreadedMotoServer  # loading moto takes a while: only when asked for

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def wait_until_serving(base_url: str, attempts: int = 100) -> None:
    """Block until a simulator started as a process is ready at `base_url`."""
    for _ in range(attempts):
        try:
            if httpx.get(f"{base_url}/readyz", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
