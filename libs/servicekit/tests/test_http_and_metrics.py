"""Health, readiness and the metrics a running service exposes."""

from __future__ import annotations

import uuid

import httpx

from contracts import encode
from contracts.events import ProductChanged
from devstack.testing import eventually, publish
from samples import product
from servicekit import Service, ServiceSettings, Tx
from servicekit.http import create_app


async def nothing(tx: Tx, events: list[ProductChanged]) -> None:
    return None


async def test_ready_only_when_started_and_metrics_count_messages(
    service_factory, test_topic, topics_created, database_url
) -> None:
    idle = Service(f"idle-{uuid.uuid4().hex[:6]}", ServiceSettings(
        kafka_bootstrap_servers=topics_created, database_url=database_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(create_app(idle, None)),
                                 base_url="http://svc") as client:
        assert (await client.get("/healthz")).status_code == 200
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.json()["checks"]["started"] is False

    async with service_factory(test_topic, nothing) as svc:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(create_app(svc, None)),
                                     base_url="http://svc") as client:
            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, what="readiness")
            await publish(topics_created, [(test_topic.name, b"k", encode(product(sku=f"m-{i}")))
                                           for i in range(5)] + [(test_topic.name, b"k", b"junk")])

            async def counted() -> bool:
                text = (await client.get("/metrics")).text
                return (f'saleschannel_messages_handled_total{{service="{svc.name}",topic="{test_topic.name}"}} 5.0' in text
                        and f'saleschannel_messages_dead_lettered_total{{service="{svc.name}",topic="{test_topic.name}"}} 1.0' in text
                        and f'saleschannel_consumer_lag{{partition="0",service="{svc.name}",topic="{test_topic.name}"}} 0.0' in text)

            await eventually(counted, what="handled, dead-lettered and lag series")
            text = (await client.get("/metrics")).text
    assert f'saleschannel_outbox_backlog{{service="{svc.name}"}}' in text
    assert f'saleschannel_handler_duration_seconds_count{{service="{svc.name}"' in text
