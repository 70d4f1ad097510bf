"""Create every registered topic and its dead-letter topic: `python -m servicekit.topics create`."""

from __future__ import annotations

import argparse
import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts import ALL_TOPICS


def all_topic_names() -> list[str]:
    return [n for t in ALL_TOPICS for n in (t.name, t.dlq)]


async def create_topics(bootstrap: str, partitions: int = 6, replication: int = 1) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="topics-init")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in all_topic_names() if n not in existing]
        if wanted:
            try:
                await admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=replication) for n in wanted]
                )
            except TopicAlreadyExistsError:
                pass
        return wanted
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m servicekit.topics")
    parser.add_argument("command", choices=["create", "list"])
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--partitions", type=int, default=int(os.environ.get("TOPIC_PARTITIONS", "6")))
    parser.add_argument("--replication", type=int, default=1)
    args = parser.parse_args()
    if args.command == "list":
        print("\n".join(all_topic_names()))
        return
    created = asyncio.run(create_topics(args.bootstrap, args.partitions, args.replication))
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))


if __name__ == "__main__":
    main()
