"""The audit trail: who changed which configuration or took which operating action, when, and what
it changed. Each record is written in the transaction of the change itself (`_audit`) and emitted as
`AuditRecorded` through the outbox, so the trail and the change commit or fail together."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel

from contracts.events import AuditRecorded
from servicekit import outbox
from servicekit.auth import SYSTEM, Principal, Scope, requires
from servicekit.problems import ProblemError

if TYPE_CHECKING:
    from servicekit.app import Service


class Entry(BaseModel):
    action: str
    target: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditRecord(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    target: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


async def record(
    conn: asyncpg.Connection, producer: str, actor: Principal | None, entries: Sequence[Entry]
) -> list[int]:
    """Write entries inside the caller's transaction, with their `AuditRecorded` events."""
    if not entries:
        return []
    actor = actor or SYSTEM
    rows = await conn.fetch(
        "INSERT INTO _audit (actor, actor_kind, action, target, before, after) "
        "SELECT $1, $2, a, t, b::jsonb, f::jsonb FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) "
        "WITH ORDINALITY AS x(a, t, b, f, n) ORDER BY n RETURNING id",
        actor.name, actor.kind, [e.action for e in entries], [e.target for e in entries],
        [None if e.before is None else json.dumps(e.before) for e in entries],
        [None if e.after is None else json.dumps(e.after) for e in entries])
    ids = [r["id"] for r in rows]
    schema = await conn.fetchval("SELECT current_schema()")
    await outbox.write(conn, schema, [
        AuditRecorded.new(producer=producer, audit_id=audit_id, actor=actor.name, actor_kind=actor.kind,  # type: ignore[arg-type]
                          action=e.action, target=e.target, before=e.before, after=e.after)
        for audit_id, e in zip(ids, entries, strict=True)])
    return ids


async def act(
    service: Service[Any], caller: Principal, action: str, target: str,
    work: Callable[[asyncpg.Connection], Awaitable[dict[str, Any]]], *, before: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run an operating action and record it, in one transaction: `work(conn)` returns what it did."""
    if service.pool is None:
        raise ProblemError(503, "the service has not started")
    async with service.pool.acquire() as conn, conn.transaction():
        result = await work(conn)
        await record(conn, service.name, caller, [Entry(action=action, target=target, before=before, after=result)])
    return result


async def read(
    conn: asyncpg.Connection | asyncpg.Pool, *, after_id: int = 0, limit: int = 100,
    target: str | None = None, action: str | None = None,
) -> list[AuditRecord]:
    rows = await conn.fetch(
        "SELECT id, at, actor, actor_kind, action, target, before::text AS before, after::text AS after "
        "FROM _audit WHERE id > $1 AND ($2::text IS NULL OR target = $2) AND ($3::text IS NULL OR action = $3) "
        "ORDER BY id LIMIT $4", after_id, target, action, limit)
    return [AuditRecord(**{**dict(r), "before": json.loads(r["before"]) if r["before"] else None,
                           "after": json.loads(r["after"]) if r["after"] else None}) for r in rows]


def router(service: Service[Any]) -> APIRouter:
    api = APIRouter(tags=["audit"])

    @api.get("/audit", response_model=list[AuditRecord], dependencies=[requires(Scope.READ)])
    async def audit_trail(
        after_id: int = Query(0, ge=0, le=2**62, description="Keyset paging: the last id of the previous page"),
        limit: int = Query(100, ge=1, le=1000),
        target: str | None = Query(None, max_length=400, description="e.g. PricingRule/clearance"),
        action: str | None = Query(None, max_length=100, description="e.g. config.update"),
    ) -> list[AuditRecord]:
        """Configuration changes and operating actions of this service, oldest first."""
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        return await read(service.pool, after_id=after_id, limit=limit, target=target, action=action)

    return api


