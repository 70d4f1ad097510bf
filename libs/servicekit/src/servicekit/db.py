"""The asyncpg pool, bound to the service's own schema, and its SQL migrations."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

from servicekit.logging import get_logger

log = get_logger(component="db")


def schema_name(service: str) -> str:
    return service.replace("-", "_")


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 5) -> asyncpg.Pool:
    await ensure_schema(dsn, schema)
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size,
        server_settings={"search_path": schema, "application_name": schema},
    )


async def ensure_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    except asyncpg.UniqueViolationError:
        pass  # created by a replica at the same moment
    finally:
        await conn.close()


def _sql_files(folder: Traversable | None, prefix: str) -> list[tuple[str, str]]:
    if folder is None or not folder.is_dir():
        return []
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f"{prefix}{f.name}", f.read_text()) for f in files]


async def migrate(pool: asyncpg.Pool, schema: str, service_migrations: Traversable | None) -> list[str]:
    """Apply the runtime's and then the service's migrations not applied yet, in name order.

    An advisory lock keeps replicas starting together from racing.
    """
    runtime = resources.files("servicekit") / "migrations"
    pending = _sql_files(runtime, "servicekit/") + _sql_files(service_migrations, "")
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"{schema}.migrations")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS _migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM _migrations")}
            for name, sql in pending:
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO _migrations (name) VALUES ($1)", name)
                applied.append(name)
                log.info("migration_applied", schema=schema, migration=name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"{schema}.migrations")
    return applied
