from decimal import Decimal

from contracts import decode, encode
from devstack.demo import sample_products


def test_the_demo_store_is_the_luma_sample_catalog() -> None:
    products = list(sample_products())
    assert len(products) == 44
    by_sku = {p.sku: p for p in products}
    assert len(by_sku) == len(products)
    bag = by_sku["24-MB01"]
    assert (bag.name, bag.price.amount, bag.price.currency, bag.quantity) == (
        "Joust Duffle Bag", Decimal("34"), "USD", 100)
    assert all(decode(encode(p)) == p for p in products)
