"""Bad input goes to the dead-letter topic with its reason; the consumer keeps consuming."""

from __future__ import annotations

import json
import uuid

from contracts import encode
from contracts.events import ProductChanged
from devstack.testing import eventually, publish, read_topic
from samples import product
from servicekit import Tx

TABLE = "CREATE TABLE seen (sku text NOT NULL);"


async def record(tx: Tx, events: list[ProductChanged]) -> None:
    for e in events:
        if e.sku.endswith("-poison"):
            raise ValueError(f"cannot handle {e.sku}")
    await tx.conn.executemany("INSERT INTO seen (sku) VALUES ($1)", [(e.sku,) for e in events])


def _headers(record) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_bad_messages_are_dead_lettered_with_reasons(
    service_factory, test_topic, topics_created, db
) -> None:
    run = uuid.uuid4().hex[:6]
    good = [product(sku=f"{run}-{i}") for i in range(20)]
    no_envelope = json.loads(encode(product(sku=f"{run}-x")))
    del no_envelope["event_id"]
    wrong_type = json.loads(encode(product(sku=f"{run}-y")))
    wrong_type["event_type"] = "ListingChanged"
    bad: dict[str, bytes | None] = {
        "malformed": b"{\"event_id\": ",
        "unknown_type": json.dumps({**json.loads(encode(good[0])), "event_type": "Nope"}).encode(),
        "envelope": json.dumps(no_envelope).encode(),
        "unexpected_type": json.dumps(wrong_type).encode(),
        "invalid": encode(good[1]).replace(b'"quantity":100', b'"quantity":-5'),
        "handler_error": encode(product(sku=f"{run}-poison")),
    }
    messages = [(test_topic.name, f"{run}-bad-{kind}".encode(), value) for kind, value in bad.items()]
    messages[3:3] = [(test_topic.name, test_topic.key(e).encode(), encode(e)) for e in good]

    async with service_factory(test_topic, record, setup_sql=TABLE, handler_max_attempts=2) as svc:
        await publish(topics_created, messages)
        letters = await read_topic(topics_created, test_topic.dlq,
                                   until=lambda rs: len(rs) >= len(bad), timeout=60)
        # the consumer is still consuming after all that
        late = product(sku=f"{run}-late")
        await publish(topics_created, [(test_topic.name, b"late", encode(late))])

        async def late_seen() -> bool:
            return bool(await db.fetchval(f"SELECT count(*) FROM {svc.schema}.seen WHERE sku = $1",
                                          late.sku))

        await eventually(late_seen, what="a valid event after the bad ones")
        handled = {r["sku"] for r in await db.fetch(f"SELECT sku FROM {svc.schema}.seen")}

    by_kind = {_headers(r)["dlq.kind"]: r for r in letters}
    assert set(by_kind) == set(bad)
    for kind, value in bad.items():
        letter = by_kind[kind]
        h = _headers(letter)
        assert letter.value == value, kind
        assert h["dlq.topic"] == test_topic.name and h["dlq.service"] == svc.name
        assert h["dlq.reason"], kind
    assert "not valid JSON" in _headers(by_kind["malformed"])["dlq.reason"]
    assert "'Nope'" in _headers(by_kind["unknown_type"])["dlq.reason"]
    assert "event_id" in _headers(by_kind["envelope"])["dlq.reason"]
    assert "quantity" in _headers(by_kind["invalid"])["dlq.reason"]
    assert "cannot handle" in _headers(by_kind["handler_error"])["dlq.reason"]
    assert _headers(by_kind["handler_error"])["dlq.error_type"] == "ValueError"
    assert handled == {e.sku for e in good} | {late.sku}
