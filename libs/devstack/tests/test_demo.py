from decimal import Decimal

import httpx

from amazon_gateway.accounts import AmazonAccount
from amazon_gateway.client import SpApiClient
from amazon_gateway.domain import orders
from amazon_gateway.domain.rate_limit import PUBLISHED_USAGE_PLANS, RateLimits
from amazon_sim import SimConfig, create_app
from devstack.demo import (
    COMMERCE_CATALOG,
    DEMO_MARKETPLACE,
    DEMO_SELLER,
    DemoProduct,
    commerce_products,
    gateway_accounts,
    sample_products,
    simulator_config,
)
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


async def test_demo_orders_carry_the_buyers_name_and_address_for_commerce() -> None:
    """The demo seller's app has the restricted role on the simulator and the gateway reads with it: an order's
    OrderPlaced holds the name, address and e-mail an import into Commerce needs."""
    (account,) = [AmazonAccount.model_validate(a) for a in gateway_accounts()]
    assert account.pii_role
    base = "http://sim.test"
    app = create_app(SimConfig.model_validate(simulator_config()), background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as http:
        product = sample_products()[0]
        r = await http.put(f"/_sim/listings/{DEMO_SELLER}/{product.sku}", json={"productType": "PRODUCT", "attributes": {
            "purchasable_offer": [{"marketplace_id": DEMO_MARKETPLACE, "currency": "USD",
                                   "our_price": [{"schedule": [{"value_with_tax": float(product.price)}]}]}],
            "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5}]}})
        assert r.status_code == 200, r.text
        r = await http.post("/_sim/orders", json={"sellerId": DEMO_SELLER, "orderStatus": "Unshipped",
                                                  "lines": [{"sku": product.sku, "quantity": 1}]})
        assert r.status_code == 201, r.text
        client = SpApiClient({account.account_id: account}, http=http, api_base_url=base,
                             lwa_url=f"{base}/auth/o2/token",
                             limits=RateLimits({**PUBLISHED_USAGE_PLANS, **orders.ORDER_USAGE_PLANS}))
        token, _ = await client.create_restricted_data_token(account.account_id, orders.PII_RESOURCES)
        (order,) = (await client.get_orders(account.account_id, DEMO_MARKETPLACE,
                                            last_updated_after="2020-01-01T00:00:00Z", rdt=token))["Orders"]
        items = await client.get_order_items(account.account_id, order["AmazonOrderId"])
    placed = orders.order_placed(order, items, account_id=account.account_id, marketplace_id=DEMO_MARKETPLACE,
                                 producer="demo", buyer_data=account.pii_role)
    address = placed.shipping_address
    assert placed.buyer_email and address is not None and address.name and address.line1 and address.postal_code
