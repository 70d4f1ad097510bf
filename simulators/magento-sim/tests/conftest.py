from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from magento_sim import SimConfig, create_app
from magento_sim.testing import AUTH


class Client:
    """A client of one in-process simulator; `call` sends the integration token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return await self.client.request(method, path, headers=AUTH, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def sim() -> AsyncIterator[Client]:
    app = create_app(SimConfig(seed=3, clock_start="2024-03-06 10:00:00"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        yield Client(client)


ADDRESS = {"firstname": "Jane", "lastname": "Doe", "street": ["1 Main St"], "city": "Austin", "region": "Texas",
           "region_code": "TX", "region_id": 57, "postcode": "78701", "country_id": "US",
           "telephone": "+1 512 555 0100"}


def amazon_order(ext_order_id: str = "112-0000001-0000001", lines: tuple[tuple[str, float, float], ...] = (
        ("24-MB01", 2, 30.5), ("24-MB02", 1, 59)), **fields: object) -> dict:
    """An order body as an integration sends it for an Amazon order: `{"entity": …}` for POST /V1/orders."""
    entity = {
        "ext_order_id": ext_order_id, "customer_email": "buyer@marketplace.amazon.com", "store_id": 1,
        "customer_firstname": "Jane", "customer_lastname": "Doe", "base_grand_total": 0, "grand_total": 0,
        "items": [{"sku": sku, "qty_ordered": qty, "price": price, "ext_order_item_id": f"{ext_order_id}-{n}"}
                  for n, (sku, qty, price) in enumerate(lines)],
        "billing_address": {**ADDRESS, "address_type": "billing"},
        "payment": {"method": "checkmo", "additional_information": ["amazon"]},
        "shipping_amount": 4.99,
        "extension_attributes": {"shipping_assignments": [{"shipping": {
            "address": {**ADDRESS, "address_type": "shipping"}, "method": "flatrate_flatrate"}, "items": []}]},
        **fields,
    }
    return {"entity": entity}


def criteria(*filters: tuple[str, str, str]) -> dict[str, str]:
    """searchCriteria with one filter group per filter (AND)."""
    params = {"searchCriteria": ""}
    for g, (field, value, condition) in enumerate(filters):
        prefix = f"searchCriteria[filter_groups][{g}][filters][0]"
        params.update({f"{prefix}[field]": field, f"{prefix}[value]": value, f"{prefix}[condition_type]": condition})
    return params
