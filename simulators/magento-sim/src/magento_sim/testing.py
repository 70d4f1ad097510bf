"""Helpers for tests against the simulator: a free port, a simulator process, response checks."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx

from magento_sim import model

TOKEN = "magento-sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    """A TCP port nothing listens on now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(base_url: str, attempts: int = 200) -> None:
    """Block until a simulator started as a process is ready at `base_url` (10 s at most by default)."""
    for _ in range(attempts):
        try:
            if httpx.get(f"{base_url}/readyz", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"nothing ready at {base_url}")


@contextlib.contextmanager
def running(*args: str, port: int | None = None) -> Iterator[str]:
    """`python -m magento_sim --port <free port> *args` for the life of the block; its base URL."""
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "magento_sim", "--port", str(port), *args])
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def check(method: str, path: str, response: httpx.Response) -> Any:
    """Assert that the body validates against the published model's schema for this operation and status.

    `path` is the operation's path in the model, e.g. `/V1/products/{sku}`.
    """
    body = response.json()
    found = model.problems(model.response_validator(method, path, response.status_code), body)
    assert not found, (method, path, response.status_code, found[:5], str(body)[:500])
    return body
