from contracts import ALL_EVENTS, ALL_TOPICS, topic_for
from contracts.topics import PRODUCTS
from samples import product


def test_every_event_has_exactly_one_topic() -> None:
    owners = {e: [t.name for t in ALL_TOPICS if e in t.event_types] for e in ALL_EVENTS}
    assert all(len(names) == 1 for names in owners.values()), owners


def test_topic_names_are_versioned_and_unique() -> None:
    names = [t.name for t in ALL_TOPICS]
    assert len(set(names)) == len(names)
    assert all(n.endswith(".v1") for n in names)
    assert all(t.dlq == f"{t.name}.dlq" for t in ALL_TOPICS)


def test_keys_put_one_product_on_one_partition() -> None:
    a, b = product(sku="X", quantity=1), product(sku="X", quantity=2)
    assert topic_for(a) is PRODUCTS
    assert PRODUCTS.key(a) == PRODUCTS.key(b) == "default|X"
