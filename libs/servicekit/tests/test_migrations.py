from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from servicekit import db as servicekit_db


async def test_migrations_apply_once_in_order_even_when_replicas_start_together(
    database_url, db, tmp_path: Path
) -> None:
    schema = f"mig_{uuid.uuid4().hex[:6]}"
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE things (id int PRIMARY KEY);")
    (tmp_path / "0002_second.sql").write_text("ALTER TABLE things ADD COLUMN name text;")
    pools = [await servicekit_db.create_pool(database_url, schema) for _ in range(3)]
    try:
        results = await asyncio.gather(*(servicekit_db.migrate(p, schema, tmp_path) for p in pools))
        again = await servicekit_db.migrate(pools[0], schema, tmp_path)
    finally:
        for p in pools:
            await p.close()
    applied = [name for result in results for name in result]
    assert sorted(applied) == ["0001_first.sql", "0002_second.sql", "servicekit/0001_runtime.sql",
                               "servicekit/0002_config.sql", "servicekit/0003_audit.sql"]
    assert again == []
    columns = await db.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 "
        "AND table_name = 'things' ORDER BY ordinal_position", schema,
    )
    assert [c["column_name"] for c in columns] == ["id", "name"]


async def test_a_failing_migration_leaves_nothing_half_done(database_url, db, tmp_path: Path) -> None:
    schema = f"mig_{uuid.uuid4().hex[:6]}"
    (tmp_path / "0001_broken.sql").write_text("CREATE TABLE a (id int); CREATE TABLE oops (;")
    pool = await servicekit_db.create_pool(database_url, schema)
    try:
        try:
            await servicekit_db.migrate(pool, schema, tmp_path)
        except Exception as exc:
            error = exc
        else:
            error = None
    finally:
        await pool.close()
    assert error is not None
    tables = {r["table_name"] for r in await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)}
    assert "a" not in tables
    names = {r["name"] for r in await db.fetch(f'SELECT name FROM "{schema}"._migrations')}
    assert names == {"servicekit/0001_runtime.sql", "servicekit/0002_config.sql", "servicekit/0003_audit.sql"}


async def test_inbox_forgets_ids_older_than_the_retention(database_url, db) -> None:
    from servicekit.consumer import prune_inbox

    schema = f"inbox_{uuid.uuid4().hex[:6]}"
    pool = await servicekit_db.create_pool(database_url, schema)
    try:
        await servicekit_db.migrate(pool, schema, None)
        old, new = uuid.uuid4(), uuid.uuid4()
        await pool.execute(
            "INSERT INTO _inbox (event_id, topic, received_at) VALUES "
            "($1, 't', now() - interval '15 days'), ($2, 't', now() - interval '13 days')", old, new)
        pruned = await prune_inbox(pool, 14)
        left = [r["event_id"] for r in await pool.fetch("SELECT event_id FROM _inbox")]
    finally:
        await pool.close()
    assert pruned == 1 and left == [new]
