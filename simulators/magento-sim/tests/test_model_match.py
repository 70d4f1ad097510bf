"""Finding the published model's operation of a request, and the query parameters it does not declare."""

from __future__ import annotations

import pytest

from magento_sim import model


@pytest.mark.parametrize(("method", "url", "expected"), [
    ("GET", "/rest/default/V1/products", "/V1/products"),
    ("GET", "/rest/default/V1/products/MH01-XS-Black", "/V1/products/{sku}"),
    ("PUT", "/rest/all/V1/products/24-MB01", "/V1/products/{sku}"),
    ("PUT", "/rest/default/V1/orders/create", "/V1/orders/create"),
    ("GET", "/rest/default/V1/orders/12", "/V1/orders/{id}"),
    ("POST", "/rest/default/V1/order/12/ship", "/V1/order/{orderId}/ship"),
    ("GET", "/rest/default/V1/customers/search", "/V1/customers/search"),
    ("GET", "/V1/store/storeViews", "/V1/store/storeViews"),
    ("GET", "/rest/default/V1/no/such/thing", None),
    ("PATCH", "/rest/default/V1/products/MH01", None),
])
def test_a_request_is_matched_to_its_operation(method: str, url: str, expected: str | None) -> None:
    assert model.match(method, url) == expected


def test_query_parameters_are_checked_by_name_with_any_list_index() -> None:
    ok = [("searchCriteria[filterGroups][3][filters][1][field]", "sku"),
          ("searchCriteria[sortOrders][1][direction]", "ASC"), ("searchCriteria[pageSize]", "10"),
          ("fields", "items[sku],total_count")]
    assert model.query_problems("GET", "/V1/products", ok) == []
    bad = [("searchCriteria[filter_groups][0][filters][0][field]", "sku"), ("limit", "10")]
    assert len(model.query_problems("GET", "/V1/products", bad)) == 2
