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
