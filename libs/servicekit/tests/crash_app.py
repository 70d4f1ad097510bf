"""A service that SIGKILLs itself after its first batch's transaction committed, before the ack.

Run by test_ack_after_commit.py as a separate process.
"""

import asyncio
import os
import signal
import sys

from contracts import Topic
from contracts.events import ProductChanged
from contracts.topics import product_key
from servicekit import Service, ServiceSettings, Tx


async def record(tx: Tx, events: list[ProductChanged]) -> None:
    await tx.conn.executemany("INSERT INTO seen (event_id) VALUES ($1)", [(e.event_id,) for e in events])


def positions(records) -> str:
    return "".join(f"{r.partition}:{r.offset}\n" for r in records)


def kill_self(records) -> None:
    sys.stdout.write(positions(records))
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def note_positions(records) -> None:
    with open(os.environ["POSITIONS_FILE"], "a") as f:
        f.write(positions(records))


async def main() -> None:
    topic = Topic(os.environ["TEST_TOPIC"], "store_code|sku", product_key, (ProductChanged,))
    service = Service(os.environ["TEST_SERVICE"], ServiceSettings(consumer_max_records=50))
    service.subscribe(topic, record)
    if os.environ.get("CRASH_AFTER_COMMIT") == "1":
        service.on_committed = kill_self
    else:
        service.on_committed = note_positions
    await service.start()
    await asyncio.Event().wait()


asyncio.run(main())
