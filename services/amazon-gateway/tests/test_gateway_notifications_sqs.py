"""The SQS reader against a local SQS-compatible server (moto): batches of 10, delete only after processing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence

import pytest
from aiobotocore.session import get_session

from amazon_gateway.sqs import QueueSettings, SqsReader
from amazon_sim.testing import LOCAL_AWS, local_sqs_server

AWS = LOCAL_AWS


@pytest.fixture(scope="module")
def sqs_endpoint() -> Iterator[str]:
    with local_sqs_server() as url:
        yield url


async def new_queue(endpoint: str, *bodies: str) -> str:
    async with get_session().create_client("sqs", endpoint_url=endpoint, **AWS) as sqs:
        url = (await sqs.create_queue(QueueName=f"r-{uuid.uuid4().hex[:10]}"))["QueueUrl"]
        for body in bodies:
            await sqs.send_message(QueueUrl=url, MessageBody=body)
    return url


async def left_in(endpoint: str, url: str) -> int:
    async with get_session().create_client("sqs", endpoint_url=endpoint, **AWS) as sqs:
        attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]))["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def settings(endpoint: str, url: str, visibility: int = 1) -> QueueSettings:
    return QueueSettings(queue_url=url, endpoint_url=endpoint, access_key_id="testing", secret_access_key="testing",
                         wait_s=1, visibility_timeout_s=visibility, retry_delay_s=0.05)


async def test_batches_of_at_most_ten_are_processed_then_deleted(sqs_endpoint: str) -> None:
    url = await new_queue(sqs_endpoint, *(f"m{i}" for i in range(23)))
    batches: list[list[bytes]] = []

    async def process(bodies: Sequence[bytes], source: str) -> None:
        assert source == "sqs"
        batches.append(list(bodies))

    reader = SqsReader(settings(sqs_endpoint, url, visibility=30), process)
    async with reader.client() as sqs:
        while sum(map(len, batches)) < 23:
            await reader.poll_once(sqs)
    assert all(1 <= len(b) <= 10 for b in batches)
    assert sorted(b for batch in batches for b in batch) == sorted(f"m{i}".encode() for i in range(23))
    assert reader.deleted == 23 and await left_in(sqs_endpoint, url) == 0


async def test_a_batch_that_fails_to_commit_is_not_deleted_and_comes_back(sqs_endpoint: str) -> None:
    url = await new_queue(sqs_endpoint, "only")
    calls: list[list[bytes]] = []

    async def process(bodies: Sequence[bytes], source: str) -> None:
        calls.append(list(bodies))
        if len(calls) == 1:
            raise ConnectionError("database unavailable")

    reader = SqsReader(settings(sqs_endpoint, url, visibility=1), process)
    task = asyncio.create_task(reader.run())
    try:
        async with asyncio.timeout(30):
            while reader.deleted < 1:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert calls == [[b"only"], [b"only"]]  # redelivered after the visibility timeout, then deleted
    assert await left_in(sqs_endpoint, url) == 0


async def test_reader_survives_a_queue_that_does_not_answer(sqs_endpoint: str) -> None:
    async def process(bodies: Sequence[bytes], source: str) -> None:
        raise AssertionError("a queue that does not exist delivers nothing")

    reader = SqsReader(settings(sqs_endpoint, f"{sqs_endpoint}/123456789012/no-such-queue"), process)
    task = asyncio.create_task(reader.run())
    await asyncio.sleep(0.5)
    assert not task.done()  # it logs and retries instead of dying
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
