from decimal import Decimal

from devstack.demo import COMMERCE_CATALOG, DemoProduct, commerce_products, sample_products
from magento_sim.testing import running

TOKEN = "demo-test-token"


def test_the_demo_store_is_the_luma_gear_shelf_that_magento_sim_sells() -> None:
    products = sample_products()
    assert len(products) == 44
    by_sku = {p.sku: p for p in products}
    assert len(by_sku) == len(products)
    assert by_sku["24-MB01"] == DemoProduct("24-MB01", "Joust Duffle Bag", Decimal("34"), 100)
    # what devstack lists on the SP-API simulator is what magento-sim's demo catalogue sells, and nothing else:
    # its bundle and grouped product are containers, which commerce-gateway emits no product for
    with running("--catalog", COMMERCE_CATALOG, "--token", TOKEN) as commerce:
        sold = commerce_products(commerce, TOKEN, page_size=20)
    assert sorted(sold, key=lambda p: p.sku) == sorted(products, key=lambda p: p.sku)
