"""Change push, signed with HMAC-SHA256 of the raw body.

A product change POSTs the product JSON as `GET /V1/products/{sku}` renders it; a product deletion POSTs
`{"entity": "product", "event": "deleted", "product": <the product as it was rendered before>}`; an order or
shipment event POSTs `{"entity": "order" | "shipment", "event": "created" | "canceled", "<entity>": <the REST
record>}`. Every POST names its entity in `X-Magento-Webhook-Entity`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections import Counter
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Magento-Webhook-Signature"
ENTITY_HEADER = "X-Magento-Webhook-Entity"
log = logging.getLogger("magento_sim.webhooks")


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def product_deleted(product: dict[str, Any]) -> dict[str, Any]:
    """The body announcing a deletion, with the product as it was."""
    return {"entity": "product", "event": "deleted", "product": product}


class Webhooks:
    """Sends each queued change to the URL in the background, in order; retries a failed send three times."""

    def __init__(self, url: str | None, secret: str | None, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url, self._secret, self.timeout, self.transport = url, secret, timeout, transport
        self.counts: Counter[str] = Counter()
        self.queue: asyncio.Queue[tuple[bytes, str]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def publish(self, body: dict[str, Any], entity: str) -> None:
        if not self.url:
            return
        if self.queue is None:
            self.queue = asyncio.Queue()
        self.queue.put_nowait((json.dumps(body, separators=(",", ":")).encode(), entity))
        self.counts["published"] += 1
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while self.queue is not None and not self.queue.empty():  # checked again after the client closes
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                while not self.queue.empty():
                    await self._send(client, *self.queue.get_nowait())

    async def _send(self, client: httpx.AsyncClient, body: bytes, entity: str) -> None:
        headers = {"Content-Type": "application/json", ENTITY_HEADER: entity}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        for attempt in range(4):
            try:
                r = await client.post(self.url or "", content=body, headers=headers)
                if r.status_code < 500:
                    self.counts["delivered" if r.status_code < 400 else f"refused:{r.status_code}"] += 1
                    return
                reason = str(r.status_code)
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            self.counts[f"failed:{reason}"] += 1
            await asyncio.sleep(0.05 * 2**attempt)
        self.counts["dropped"] += 1
        log.warning("webhook for a %s change dropped after 4 attempts (%s)", entity, reason)

    async def drain(self) -> None:
        """Wait until every queued change was sent or dropped."""
        if self._worker is not None:
            await self._worker

    def pending(self) -> int:
        return self.queue.qsize() if self.queue else 0
