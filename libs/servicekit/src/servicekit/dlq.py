"""Dead-letter routing: the original message, unchanged, with the reason in its headers."""

from __future__ import annotations

import asyncio
import traceback
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from servicekit import metrics
from servicekit.logging import get_logger

log = get_logger(component="dlq")

REASON = "dlq.reason"
KIND = "dlq.kind"


@dataclass(frozen=True)
class DeadLetter:
    record: ConsumerRecord
    kind: str
    reason: str
    error: BaseException | None = None


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


def dlq_headers(letter: DeadLetter, service: str) -> list[tuple[str, bytes]]:
    r = letter.record
    out = [(k, v) for k, v in (r.headers or ()) if not k.startswith("dlq.")]
    out += [
        (REASON, letter.reason[:2000].encode()),
        (KIND, letter.kind.encode()),
        ("dlq.service", service.encode()),
        ("dlq.topic", r.topic.encode()),
        ("dlq.partition", str(r.partition).encode()),
        ("dlq.offset", str(r.offset).encode()),
    ]
    if letter.error is not None:
        out.append(("dlq.error_type", type(letter.error).__name__.encode()))
        trace = "".join(traceback.format_exception(letter.error, limit=5))
        out.append(("dlq.trace", trace[-4000:].encode()))
    return out


async def send(producer: AIOKafkaProducer, service: str, letters: list[DeadLetter]) -> None:
    """Publish dead letters and wait for the broker's acks; raises if any is not stored."""
    if not letters:
        return
    futures = []
    for letter in letters:
        r = letter.record
        futures.append(
            await producer.send(
                dlq_topic(r.topic), value=r.value, key=r.key, headers=dlq_headers(letter, service)
            )
        )
        log.warning(
            "dead_lettered", topic=r.topic, partition=r.partition, offset=r.offset,
            kind=letter.kind, reason=letter.reason,
        )
        metrics.MESSAGES_DEAD_LETTERED.labels(service, r.topic).inc()
    await asyncio.gather(*futures)


async def replay(bootstrap: str, topic: str, *, max_messages: int | None = None,
                 idle_timeout_s: float = 2.0) -> int:
    """Publish `<topic>.dlq`'s messages back to `topic`, unchanged but for the dlq.* headers.

    Progress is kept by the consumer group `dlq-replay.<topic>`, committed after the broker
    acknowledged the republished messages, so running it again only replays newer dead letters.
    For after a fix is deployed: a message that still fails is dead-lettered again.
    """
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        dlq_topic(topic), bootstrap_servers=bootstrap, group_id=f"dlq-replay.{topic}",
        enable_auto_commit=False, auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        while max_messages is None or replayed < max_messages:
            limit = 500 if max_messages is None else min(500, max_messages - replayed)
            batch = await consumer.getmany(timeout_ms=int(idle_timeout_s * 1000), max_records=limit)
            records = [r for part in batch.values() for r in part]
            if not records:
                break
            futures = []
            for r in records:
                kept = [(k, v) for k, v in (r.headers or ()) if not k.startswith("dlq.")]
                futures.append(await producer.send(topic, value=r.value, key=r.key, headers=kept))
            await asyncio.gather(*futures)
            offsets = {tp: part[-1].offset + 1 for tp, part in batch.items() if part}
            await consumer.commit(offsets)
            replayed += len(records)
    finally:
        await consumer.stop()
        await producer.stop()
    return replayed


def main() -> None:
    import argparse
    import os

    parser = argparse.ArgumentParser(
        prog="python -m servicekit.dlq", description="Replay a topic's dead letters to it.")
    parser.add_argument("command", choices=["replay"])
    parser.add_argument("--topic", required=True, help="the source topic, e.g. commerce.products.v1")
    parser.add_argument("--max", type=int, default=None, help="replay at most this many")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    args = parser.parse_args()
    n = asyncio.run(replay(args.bootstrap, args.topic, max_messages=args.max))
    print(f"replayed {n} message(s) from {dlq_topic(args.topic)} to {args.topic}")


if __name__ == "__main__":
    main()
