"""searchCriteria: every condition type, OR inside a group, AND across groups, sorting, paging past the end."""

from __future__ import annotations

import pytest

from .conftest import Client


def criteria(*groups: list[tuple[str, str, str]], sort: list[tuple[str, str]] = (),  # type: ignore[assignment]
             size: int | None = None, page: int | None = None) -> dict[str, str]:
    params: dict[str, str] = {}
    for g, group in enumerate(groups):
        for f, (field, value, condition) in enumerate(group):
            prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
            params[f"{prefix}[field]"] = field
            params[f"{prefix}[value]"] = value
            params[f"{prefix}[condition_type]"] = condition
    for s, (field, direction) in enumerate(sort):
        params[f"searchCriteria[sortOrders][{s}][field]"] = field
        params[f"searchCriteria[sortOrders][{s}][direction]"] = direction
    if size is not None:
        params["searchCriteria[pageSize]"] = str(size)
    if page is not None:
        params["searchCriteria[currentPage]"] = str(page)
    return params or {"searchCriteria": ""}


async def skus(sim: Client, params: dict[str, str]) -> list[str]:
    r = await sim.call("GET", "/V1/products", params=params)
    assert r.status_code == 200, r.text
    return [i["sku"] for i in r.json()["items"]]


@pytest.mark.parametrize(("condition", "value", "expected"), [
    ("eq", "24-MB01", {"24-MB01"}),
    ("neq", "24-MB01", {"24-MB04", "24-MB03", "24-MB05", "24-MB06", "24-MB02"}),
    ("like", "24-MB0%", {"24-MB01", "24-MB02", "24-MB03", "24-MB04", "24-MB05", "24-MB06"}),
    ("in", "24-MB01,24-MB02,NOPE", {"24-MB01", "24-MB02"}),
    ("nin", "24-MB01,24-MB02", {"24-MB03", "24-MB04", "24-MB05", "24-MB06"}),
])
async def test_sku_conditions(sim: Client, condition: str, value: str, expected: set[str]) -> None:
    bags = ("sku", "24-MB0%", "like")
    assert set(await skus(sim, criteria([bags], [("sku", value, condition)]))) == expected


@pytest.mark.parametrize(("condition", "value", "expected"), [
    ("gt", "60", {"MH02", "MH03"}), ("gteq", "60", {"MH02", "MH03", "MH04"}),
    ("lt", "52", {"MH06"}), ("lteq", "52", {"MH01", "MH05", "MH06"}),
    ("from", "63", {"MH02", "MH03"}), ("to", "9", set()),
])
async def test_numeric_conditions_compare_numbers(sim: Client, condition: str, value: str, expected: set[str]) -> None:
    parents = [("sku", "MH01,MH02,MH03,MH04,MH05,MH06", "in")]  # 52, 70, 63, 60, 52, 42 in the sample data
    assert set(await skus(sim, criteria(parents, [("price", value, condition)]))) == expected


async def test_null_and_notnull_on_a_custom_attribute(sim: Client) -> None:
    with_special = set(await skus(sim, criteria([("special_price", "", "notnull")])))
    assert "24-WB05" in with_special and len(with_special) == 6
    gear = [("sku", "24-MB0%", "like")]
    without = set(await skus(sim, criteria(gear, [("special_price", "", "null")])))
    assert without and not without & with_special


async def test_filters_in_a_group_are_ored_and_groups_anded(sim: Client) -> None:
    either = [("sku", "24-MB01", "eq"), ("sku", "24-MB02", "eq")]
    assert sorted(await skus(sim, criteria(either))) == ["24-MB01", "24-MB02"]
    assert await skus(sim, criteria(either, [("price", "34", "eq")])) == ["24-MB01"]


async def test_sorting_by_several_fields(sim: Client) -> None:
    parents = [("sku", "MH01,MH02,MH03,MH04,MH05,MH06", "in")]
    assert await skus(sim, criteria(parents, sort=[("price", "DESC"), ("sku", "ASC")])) == [
        "MH02", "MH03", "MH04", "MH01", "MH05", "MH06"]
    assert await skus(sim, criteria(parents, sort=[("price", "ASC"), ("sku", "DESC")])) == [
        "MH06", "MH05", "MH01", "MH04", "MH03", "MH02"]


async def test_paging_and_the_last_page_again_past_the_end(sim: Client) -> None:
    parents = [("sku", "MH0%", "like"), ("type_id", "configurable", "eq")]
    everything = [("type_id", "configurable", "eq")], [("sku", "MH0%", "like")]
    pages = [await skus(sim, criteria(*everything, sort=[("entity_id", "ASC")], size=4, page=p)) for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [4, 4, 1] and len({s for p in pages for s in p}) == 9
    r = await sim.call("GET", "/V1/products", params=criteria(*everything, sort=[("entity_id", "ASC")], size=4,
                                                              page=7))
    assert [i["sku"] for i in r.json()["items"]] == pages[2] and r.json()["total_count"] == 9
    assert r.json()["search_criteria"]["current_page"] == 7 and r.json()["search_criteria"]["page_size"] == 4
    assert parents


async def test_updated_at_filters_find_what_changed(sim: Client) -> None:
    since = "2024-03-06 10:00:00"
    assert await skus(sim, criteria([("updated_at", since, "gt")])) == []
    r = await sim.call("PUT", "/V1/products/24-MB01", json={"product": {"price": 30}})
    assert r.status_code == 200 and r.json()["updated_at"] > since
    assert await skus(sim, criteria([("updated_at", since, "gt")])) == ["24-MB01"]
    assert len(await skus(sim, criteria([("updated_at", since, "gteq")]))) == 2046


async def test_an_unknown_condition_type_is_a_400(sim: Client) -> None:
    r = await sim.call("GET", "/V1/products", params=criteria([("sku", "x", "regexp")]))
    assert r.status_code == 400 and r.json()["parameters"] == [{"fieldValue": "regexp"}]


async def test_finset_and_camel_case_keys(sim: Client) -> None:
    r = await sim.call("GET", "/V1/products", params={
        "searchCriteria[filterGroups][0][filters][0][field]": "sku",
        "searchCriteria[filterGroups][0][filters][0][value]": "24-MB01",
        "searchCriteria[filterGroups][0][filters][0][conditionType]": "eq"})
    assert [i["sku"] for i in r.json()["items"]] == ["24-MB01"]
    assert r.json()["search_criteria"]["filter_groups"][0]["filters"][0]["condition_type"] == "eq"
    assert await skus(sim, criteria([("sku", "24-MB01", "eq")], [("website_id", "2", "finset")])) == ["24-MB01"]
    assert await skus(sim, criteria([("sku", "24-MB01", "eq")], [("website_id", "3", "nfinset")])) == ["24-MB01"]


@pytest.mark.parametrize("page_size,page", [(300, 1), (300, 4), (7, 299), (500, 99), (2046, 1)])
def test_full_catalogue_pages_in_id_order_are_the_generic_selection(page_size: int, page: int) -> None:
    """The sliced path for unfiltered entity_id pages answers exactly what filtering and sorting would,
    past the end included (the last page again)."""
    from magento_sim import SimConfig, create_app
    from magento_sim.catalog import Criteria, select

    catalog = create_app(SimConfig(multiply=2)).state.sim.catalog
    for sort in ([], [("entity_id", "ASC")]):
        criteria = Criteria(sort=sort, page_size=page_size, current_page=page)
        fast, total = catalog.search(criteria, None)
        slow, slow_total = select(catalog.by_id.values(), criteria, lambda p, n: catalog.value(p, n, None))
        assert total == slow_total == 2 * 2046
        assert [p.id for p in fast] == [p.id for p in slow] and fast


@pytest.mark.parametrize("type_id,page_size,page", [("configurable", 300, 1), ("configurable", 7, 3),
                                                     ("Configurable", 100, 99), ("simple", 500, 4),
                                                     ("bundle", 10, 1), ("nothing", 10, 2)])
def test_pages_of_one_type_in_id_order_are_the_generic_selection(type_id: str, page_size: int, page: int) -> None:
    """The path for `type_id eq` pages in entity_id order (the configurable parents) answers exactly what the
    generic filter would, whatever the case of the type, past the end included; a created product and a
    changed type count at once."""
    from magento_sim import SimConfig, create_app
    from magento_sim.catalog import Criteria, select

    catalog = create_app(SimConfig(multiply=2)).state.sim.catalog
    catalog.save({"sku": "made-later", "name": "Made later", "type_id": "configurable"}, None, None)
    catalog.save({"type_id": "bundle"}, "24-MB01", None)
    for sort in ([], [("entity_id", "ASC")]):
        criteria = Criteria(groups=[[("type_id", type_id, "eq")]], sort=sort, page_size=page_size,
                            current_page=page)
        fast, total = catalog.search(criteria, None)
        slow, slow_total = select(catalog.by_id.values(), criteria, lambda p, n: catalog.value(p, n, None))
        assert total == slow_total
        assert [p.id for p in fast] == [p.id for p in slow]
        assert (total > 0) == (type_id != "nothing")


def test_an_answer_is_the_json_starlette_would_write() -> None:
    """Answers are rendered by pydantic-core: byte for byte what JSONResponse writes, for a whole catalogue
    page, the store structure and text beyond ASCII."""
    from fastapi.responses import JSONResponse

    from magento_sim import SimConfig, create_app, stores
    from magento_sim.catalog import Criteria
    from magento_sim.core import Answer

    sim = create_app(SimConfig(multiply=1)).state.sim
    page, total = sim.catalog.search(Criteria(page_size=2046, current_page=1), 1)
    bodies = [{"items": [sim.catalog.render(p, 1) for p in page], "total_count": total},
              stores.VIEWS, {"message": "Ünïcødé “quoted” \\ / \n\t\u2028 \x01", "parameters": [1, 2.5, None, True]}]
    for body in bodies:
        assert Answer(body).body == JSONResponse(body).body
