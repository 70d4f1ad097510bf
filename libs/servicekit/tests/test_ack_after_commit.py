"""Offsets are committed only after the transaction: killing the consumer between the two
redelivers the batch, and the inbox makes the redelivery a no-op."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from contracts import encode
from devstack.testing import eventually, publish
from samples import product


async def test_kill_between_commit_and_ack_loses_and_duplicates_nothing(
    test_topic, topics_created, database_url, db, tmp_path
) -> None:
    name = f"crash-{uuid.uuid4().hex[:6]}"
    schema = name.replace("-", "_")
    await db.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".seen (event_id uuid NOT NULL)')
    events = [product(sku=f"{name}-{i}") for i in range(200)]
    await publish(topics_created, [(test_topic.name, test_topic.key(e).encode(), encode(e)) for e in events])

    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": topics_created, "DATABASE_URL": database_url,
           "TEST_TOPIC": test_topic.name, "TEST_SERVICE": name,
           "POSITIONS_FILE": str(tmp_path / "positions")}
    app = str(Path(__file__).with_name("crash_app.py"))
    crashed = subprocess.run([sys.executable, app], env={**env, "CRASH_AFTER_COMMIT": "1"},
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9, crashed.stdout + crashed.stderr
    committed_before_crash = await db.fetchval(f'SELECT count(*) FROM "{schema}".seen')
    assert 0 < committed_before_crash < len(events)

    survivor = subprocess.Popen([sys.executable, app], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        async def all_seen() -> bool:
            return await db.fetchval(f'SELECT count(*) FROM "{schema}".seen') >= len(events)

        await eventually(all_seen, timeout=60, what="every event after the restart")
        inbox_hits = await db.fetchval(f'SELECT count(*) FROM "{schema}"._inbox')
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)

    rows = await db.fetch(f'SELECT event_id FROM "{schema}".seen')
    assert sorted(r["event_id"] for r in rows) == sorted(e.event_id for e in events)
    assert inbox_hits == len(events)
    # the batch whose transaction committed before the kill was delivered again after it
    died_with = {w for w in crashed.stdout.split() if re.fullmatch(r"\d+:\d+", w)}
    assert died_with and died_with <= set((tmp_path / "positions").read_text().split())
