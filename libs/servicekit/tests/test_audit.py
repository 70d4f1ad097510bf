"""The audit trail: configuration changes and operating actions, recorded with the change itself and
announced as `AuditRecorded` events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import Field

from contracts import decode
from contracts.events import AuditRecorded
from contracts.topics import AUDIT
from devstack.testing import auth_headers, read_topic
from servicekit import Service, ServiceSettings, audit
from servicekit.auth import SYSTEM, Principal
from servicekit.config import ConfigKind, ConfigRegistry, ConfigSpec, config_router


class Threshold(ConfigSpec):
    limit: int = Field(ge=1)
    label: str = "default"


@pytest.fixture
async def service(topics_created: str, database_url: str) -> AsyncIterator[Service[ServiceSettings]]:
    service = Service(f"audit-{uuid.uuid4().hex[:8]}", ServiceSettings(
        kafka_bootstrap_servers=topics_created, database_url=database_url, gc_gen0_threshold=0,
        outbox_poll_interval_s=0.2))
    service.include_router(config_router(service, ConfigRegistry(ConfigKind("Threshold", Threshold))))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def client(service: Service[Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(service.asgi()), base_url="http://service",
                                 headers=auth_headers()) as client:
        yield client


async def trail(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/audit", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_configuration_changes_are_recorded_with_who_and_what(
    service: Service[Any], client: httpx.AsyncClient, topics_created: str
) -> None:
    assert (await client.put("/config/Threshold/low", json={"limit": 1})).status_code == 200
    assert (await client.put("/config/Threshold/low", json={"limit": 1})).status_code == 200  # unchanged
    assert (await client.put("/config/Threshold/low", json={"limit": 0})).status_code == 422  # invalid
    assert (await client.put("/config/Threshold/low", json={"limit": 2, "label": "tight"})).status_code == 200
    assert (await client.delete("/config/Threshold/low")).status_code == 200

    records = await trail(client)
    assert [(r["actor"], r["actor_kind"], r["action"], r["target"], r["before"], r["after"]) for r in records] == [
        ("test-all", "api_key", "config.create", "Threshold/low", None, {"limit": 1, "label": "default"}),
        ("test-all", "api_key", "config.update", "Threshold/low", {"limit": 1, "label": "default"},
         {"limit": 2, "label": "tight"}),
        ("test-all", "api_key", "config.delete", "Threshold/low", {"limit": 2, "label": "tight"}, None),
    ]
    ids = [r["id"] for r in records]
    assert ids == sorted(ids)
    assert [r["id"] for r in await trail(client, after_id=ids[0], limit=1)] == [ids[1]]
    assert [r["action"] for r in await trail(client, action="config.delete")] == ["config.delete"]
    assert await trail(client, target="Threshold/other") == []

    def ours(records: list[Any]) -> list[AuditRecorded]:
        return [e for e in (decode(r.value) for r in records if r.key == service.name.encode())
                if isinstance(e, AuditRecorded)]

    published = ours(await read_topic(topics_created, AUDIT.name, until=lambda rs: len(ours(rs)) >= 3))
    assert [(e.audit_id, e.actor, e.actor_kind, e.action, e.target, e.before, e.after) for e in published] == [
        (r["id"], r["actor"], r["actor_kind"], r["action"], r["target"], r["before"], r["after"]) for r in records]
    assert {e.producer for e in published} == {service.name}


async def test_documents_applied_together_are_recorded_one_entry_each(client: httpx.AsyncClient) -> None:
    documents = [{"kind": "Threshold", "name": name, "spec": {"limit": n}} for n, name in enumerate(("a", "b"), 1)]
    assert (await client.post("/config:apply", json=documents)).status_code == 200
    assert (await client.post("/config:plan", json=[documents[0]])).status_code == 200  # a plan changes nothing
    pruned = await client.post("/config:apply", params={"prune": "true"}, json=[documents[0]],
                               headers=auth_headers("configure"))
    assert pruned.status_code == 200
    assert [(r["actor"], r["action"], r["target"]) for r in await trail(client)] == [
        ("test-all", "config.create", "Threshold/a"), ("test-all", "config.create", "Threshold/b"),
        ("test-configure", "config.delete", "Threshold/b")]


async def test_an_operating_action_is_recorded_in_its_own_transaction(
    service: Service[Any], client: httpx.AsyncClient
) -> None:
    assert service.pool is not None
    await service.pool.execute("CREATE TABLE replays (account text PRIMARY KEY, listings int NOT NULL)")
    operator = Principal("night-shift", "api_key", frozenset({"operate"}))

    async def replay(conn: asyncpg.Connection) -> dict[str, Any]:
        assert conn.is_in_transaction()
        await conn.execute("INSERT INTO replays VALUES ('demo', 12)")
        return {"listings": 12}

    async def failing_replay(conn: asyncpg.Connection) -> dict[str, Any]:
        await conn.execute("INSERT INTO replays VALUES ('other', 3)")
        raise RuntimeError("the broker went away")

    result = await audit.act(service, operator, "replay.listings", "account demo", replay, before={"listings": 0})
    assert result == {"listings": 12}
    with pytest.raises(RuntimeError, match="broker went away"):
        await audit.act(service, operator, "replay.listings", "account other", failing_replay)

    records = await trail(client)
    assert [(r["actor"], r["actor_kind"], r["action"], r["target"], r["before"], r["after"]) for r in records] == [
        ("night-shift", "api_key", "replay.listings", "account demo", {"listings": 0}, {"listings": 12})]
    assert [tuple(r) for r in await service.pool.fetch("SELECT account, listings FROM replays")] == [("demo", 12)]


async def test_changes_the_service_makes_itself_are_recorded_as_system(service: Service[Any]) -> None:
    assert service.pool is not None
    async with service.pool.acquire() as conn, conn.transaction():
        ids = await audit.record(conn, service.name, None, [
            audit.Entry(action="import.listings", target="account demo", after={"listings": 4})])
    records = await audit.read(service.pool)
    assert [(r.id, r.actor, r.actor_kind, r.after) for r in records] == [
        (ids[0], SYSTEM.name, "system", {"listings": 4})]
    async with service.pool.acquire() as conn:
        assert await audit.record(conn, service.name, None, []) == []
