"""Dead letters can be sent back to their topic once the cause is fixed, once each."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from devstack.testing import read_topic
from servicekit import dlq


async def test_replay_sends_dead_letters_back_once_without_their_dlq_headers(test_topic, topics_created) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=topics_created)
    await producer.start()
    try:
        letters = [
            dlq.DeadLetter(ConsumerRecord(test_topic.name, 0, i, 0, 0, f"k{i}".encode(), f"v{i}".encode(),
                                          None, 0, 0, [("event_type", b"ProductChanged")]),
                           "invalid", f"reason {i}")
            for i in range(5)
        ]
        await dlq.send(producer, "svc", letters)
    finally:
        await producer.stop()

    assert await dlq.replay(topics_created, test_topic.name, max_messages=3) == 3
    assert await dlq.replay(topics_created, test_topic.name, idle_timeout_s=1) == 2
    assert await dlq.replay(topics_created, test_topic.name, idle_timeout_s=1) == 0
    back = await read_topic(topics_created, test_topic.name, until=lambda rs: len(rs) >= 5)
    assert sorted(r.value for r in back) == [f"v{i}".encode() for i in range(5)]
    assert all(dict(r.headers) == {"event_type": b"ProductChanged"} for r in back)
