"""The SQS queue Amazon delivers notifications to, read with long polling.

Up to 10 messages per receive; the batch is processed (one transaction) and only then deleted, so
a crash in between redelivers it and the NotificationId dedup makes the copy a no-op. A message
that cannot be read is kept in PostgreSQL by the processor and deleted here like any other, so it
never loops. When the database or the queue fails, the reader waits and tries again: the messages
become visible again after the queue's visibility timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiobotocore.session import get_session

from servicekit.logging import get_logger

log = get_logger(component="sqs")

MAX_MESSAGES = 10  # SQS's maximum per ReceiveMessage


@dataclass(frozen=True)
class QueueSettings:
    queue_url: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    wait_s: int = 20
    visibility_timeout_s: int = 60
    retry_delay_s: float = 1.0


Process = Callable[[Sequence[bytes], str], Awaitable[Any]]


class SqsReader:
    def __init__(self, settings: QueueSettings, process: Process) -> None:
        self.settings = settings
        self.process = process
        self.received = 0
        self.deleted = 0

    def client(self) -> Any:
        s = self.settings
        return get_session().create_client(
            "sqs", region_name=s.region, endpoint_url=s.endpoint_url,
            aws_access_key_id=s.access_key_id, aws_secret_access_key=s.secret_access_key)

    async def run(self) -> None:
        """Read for the service's lifetime; neither the queue nor the database failing stops it."""
        while True:
            try:
                async with self.client() as sqs:
                    while True:
                        await self.poll_once(sqs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sqs_read_failed", queue_url=self.settings.queue_url, error=repr(exc))
                await asyncio.sleep(self.settings.retry_delay_s)

    async def poll_once(self, sqs: Any) -> int:
        """One long poll: receive, process (committed), delete. Returns the messages handled."""
        s = self.settings
        answer = await sqs.receive_message(QueueUrl=s.queue_url, MaxNumberOfMessages=MAX_MESSAGES,
                                           WaitTimeSeconds=s.wait_s, VisibilityTimeout=s.visibility_timeout_s)
        messages = answer.get("Messages") or []
        if not messages:
            return 0
        self.received += len(messages)
        await self.process([m["Body"].encode() for m in messages], "sqs")
        result = await sqs.delete_message_batch(QueueUrl=s.queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        failed = result.get("Failed") or []
        if failed:  # they come back after the visibility timeout and are then duplicates
            log.warning("sqs_delete_failed", count=len(failed), codes=sorted({f.get("Code") for f in failed}))
        self.deleted += len(messages) - len(failed)
        return len(messages)
