"""The outbox backlog count: exact, and cheap however many relayed rows wait for a vacuum."""

from __future__ import annotations

import time
import uuid

from servicekit import db
from servicekit.outbox import BACKLOG

INSERT = ("INSERT INTO _outbox (topic, key, event_id, event_type, correlation_id, payload) "
          "SELECT 't', 'k', gen_random_uuid(), 'E', gen_random_uuid(), $1 FROM generate_series(1, $2)")


async def _relay_rounds(conn, count_sql: str, rounds: int) -> float:
    """Rows written, relayed oldest first and deleted by id, then counted, as the relay does;
    the mean time of the last counts."""
    spent = []
    for _ in range(rounds):
        await conn.execute(INSERT, b"x" * 1000, 1500)
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM _outbox ORDER BY id LIMIT 2000")]
        await conn.execute("DELETE FROM _outbox WHERE id = ANY($1::bigint[])", ids)
        started = time.perf_counter()
        assert await conn.fetchval(count_sql) == 0
        spent.append(time.perf_counter() - started)
    return sum(spent[-10:]) / 10


async def test_backlog_counts_every_waiting_row_and_skips_relayed_ones(database_url) -> None:
    schema = f"backlog_{uuid.uuid4().hex[:8]}"
    pool = await db.create_pool(database_url, schema)
    try:
        await db.migrate(pool, schema, None)
        async with pool.acquire() as conn:
            await conn.execute("ALTER TABLE _outbox SET (autovacuum_enabled = false)")
            assert await conn.fetchval(BACKLOG) == 0
            by_key = await _relay_rounds(conn, BACKLOG, 80)
            plain = await _relay_rounds(conn, "SELECT count(*) FROM _outbox", 80)
            await conn.execute(INSERT, b"x", 321)
            assert await conn.fetchval(BACKLOG) == await conn.fetchval("SELECT count(*) FROM _outbox") == 321
            assert by_key < plain / 2, (by_key, plain)
    finally:
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pool.close()
