"""Shared machinery: Magento's error bodies, the simulator state and the gate every /V1 call passes."""

from __future__ import annotations

import asyncio
import copy
import hmac
import json
import secrets
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
import pydantic_core
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from magento_sim import catalog, sales, seed, stores
from magento_sim.config import SAMPLE_DATA, SAMPLE_DATA_ENV, SimConfig, select, shared_file
from magento_sim.faults import Faults, FaultSettings
from magento_sim.webhooks import Webhooks

UNAUTHORIZED = "The consumer isn't authorized to access %resources."


class MagentoError(Exception):
    """An answer in Magento's `error-response` shape: `message` with `%name` placeholders and `parameters`."""

    def __init__(self, status: int, message: str, parameters: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.parameters = status, message, parameters

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.parameters:
            out["parameters"] = [self.parameters]
        return out


def not_found_product() -> MagentoError:
    return MagentoError(404, "The product that was requested doesn't exist. Verify the product and try again.")


class Simulator:
    """All state of one simulator instance."""

    def __init__(self, config: SimConfig, webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        root = config.sample_data or shared_file(SAMPLE_DATA, SAMPLE_DATA_ENV)
        if root is None or not root.exists():
            raise FileNotFoundError(f"the Luma sample data is missing: pass sample_data or set ${SAMPLE_DATA_ENV}")
        self.sample_data = root
        self.templates = select(seed.load(root), config.catalog)
        self.faults = Faults(config.seed)
        secret = config.webhook_secret.get_secret_value() if config.webhook_secret else None
        self.webhooks = Webhooks(config.webhook_url, secret, config.webhook_timeout_s, webhook_transport)
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.fault_counts: Counter[str] = Counter()
        self.catalog = self._catalog()
        self.sales = self._sales()

    def _sales(self) -> sales.Sales:
        built = sales.Sales(self.catalog)
        built.listeners.append(self._sold)
        return built

    def _sold(self, entity: str, event: str, record: dict[str, Any]) -> None:
        self.webhooks.publish({"entity": entity, "event": event, entity: record}, entity)

    def _catalog(self) -> catalog.Catalog:
        created = self.config.clock_start or catalog.magento_time(time.time())
        built = catalog.Catalog(copy.deepcopy(self.templates), self.config.multiply, created,
                                self.config.price_scope)
        built.listeners.append(self._changed)
        return built

    def _changed(self, product: catalog.Product) -> None:
        self.webhooks.publish(self.catalog.render(product, 1), "product")

    def reset(self) -> None:
        self.catalog = self._catalog()
        self.sales = self._sales()
        self.faults.configure(FaultSettings(seed=self.config.seed))
        self.calls.clear()
        self.fault_counts.clear()

    # --- the gate every /V1 call passes ------------------------------------------------------------------
    async def enter(self, request: Request, operation: str, resource: str | None) -> dict[str, Any]:
        """Count the call, check the bearer token, inject latency and errors; the store view addressed."""
        request.state.operation = operation
        self.calls[operation]["calls"] += 1
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000.0)
        if resource is not None and not self.authorized(request):
            raise MagentoError(401, UNAUTHORIZED, {"resources": resource})
        view = stores.view(request.path_params.get("store_code"))
        if view is None:
            raise MagentoError(400, "Specified request cannot be processed.")
        delay = self.faults.latency(operation)
        if delay:
            self.fault_counts["latency"] += 1
            await asyncio.sleep(delay)
        status = self.faults.error(operation)
        if status:
            self.fault_counts[f"error:{status}"] += 1
            if status == 429:
                raise MagentoError(429, "Too many requests. Try again later.")
            if status == 500:
                raise MagentoError(500, "Internal Error. Details are available in Magento log file. Report ID: "
                                   f"webapi-{secrets.token_hex(6)}")
            raise MagentoError(status, "Service temporarily unavailable.")
        return view

    def authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = self.config.token.get_secret_value()
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())

    async def respond(self, request: Request, body: Any, *, committed: bool = False) -> Response:
        """The answer, after the faults that touch answers: lost (when a change was committed) or malformed."""
        operation = request.state.operation
        self.calls[operation]["200"] += 1
        if committed and self.faults.lost_answer(operation):
            self.fault_counts["lost_answer"] += 1
            if self.faults.settings.timeout_mode == "delay":
                await asyncio.sleep(self.faults.settings.timeout_delay_ms / 1000.0)
            else:
                return StreamingResponse(_broken(), 200, media_type="application/json")
        kind = self.faults.malformed(operation)
        if kind == "invalid_json":
            self.fault_counts["malformed"] += 1
            text = json.dumps(body)
            return Response(text[: max(1, len(text) // 2)], 200, media_type="application/json")
        if kind == "schema":
            self.fault_counts["malformed"] += 1
            body = {"items": "malformed", "total_count": "many"} if isinstance(body, dict) else {"malformed": True}
        return Answer(body)


class Answer(JSONResponse):
    """JSON as Starlette writes it (compact, UTF-8), rendered by pydantic-core: the same bytes at about a
    quarter of the cost, which a catalogue page of several hundred products notices."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


class AnswerLost(ConnectionError):
    """Raised while streaming an answer: the server closes the connection before the body is complete."""


async def _broken() -> Any:
    yield b'{"id":'
    raise AnswerLost("the answer to a committed change is dropped (fault injection)")
