import json

import pytest
from pydantic import ValidationError

from conditions import (
    MAX_DEPTH,
    AttributeCondition,
    Combination,
    ConditionError,
    ConditionTree,
    attribute_codes,
    describe,
)

NESTED = Combination(
    aggregator="all",
    value=True,
    conditions=[
        AttributeCondition(attribute="amazon_fba", operator="==", value="Yes"),
        Combination(
            aggregator="any",
            value=False,
            conditions=[
                AttributeCondition(attribute="category_ids", operator="()", value=["4", "5"]),
                AttributeCondition(attribute="price", operator=">=", value="19.99"),
                Combination(conditions=[AttributeCondition(attribute="sku", operator="{}", value="-RENEWED")]),
            ],
        ),
    ],
)


def nested(levels: int) -> dict[str, object]:
    tree: dict[str, object] = {"type": "combination", "conditions": []}
    for _ in range(levels - 1):
        tree = {"type": "combination", "conditions": [tree]}
    return tree


def error_locations(error: ValidationError) -> list[str]:
    return [".".join(str(part) for part in item["loc"]) for item in error.errors()]


def test_a_nested_tree_survives_a_json_round_trip() -> None:
    text = NESTED.model_dump_json()

    assert ConditionTree.model_validate_json(text) == NESTED
    assert Combination.model_validate(json.loads(text)) == NESTED


def test_the_wire_shape_is_tagged_by_type() -> None:
    wire = json.loads(NESTED.model_dump_json())

    assert wire["type"] == "combination"
    assert wire["conditions"][0] == {
        "type": "attribute", "attribute": "amazon_fba", "operator": "==", "value": "Yes",
    }
    assert wire["conditions"][1]["conditions"][2]["type"] == "combination"


def test_defaults_read_if_all_of_these_conditions_are_true() -> None:
    tree = Combination.model_validate({})

    assert (tree.type, tree.aggregator, tree.value, tree.conditions) == ("combination", "all", True, [])


def test_numbers_are_kept_as_text() -> None:
    assert AttributeCondition(attribute="price", operator=">", value=10).value == "10"  # type: ignore[arg-type]
    assert AttributeCondition(attribute="amazon_fba", operator="==", value=True).value == "1"  # type: ignore[arg-type]
    assert AttributeCondition(attribute="category_ids", operator="()", value=[3, 4]).value == ["3", "4"]  # type: ignore[list-item]


def test_nodes_are_frozen() -> None:
    with pytest.raises(ValidationError):
        NESTED.aggregator = "any"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("payload", "location", "message"),
    [
        (
            {"conditions": [{"type": "attribute", "attribute": "price", "operator": ">", "value": "cheap"}]},
            "conditions.0.attribute.value",
            "needs a number",
        ),
        (
            {"conditions": [{"type": "attribute", "attribute": "price", "operator": "<=", "value": ["1"]}]},
            "conditions.0.attribute.value",
            "needs a number",
        ),
        (
            {"conditions": [{"type": "attribute", "attribute": "  ", "operator": "==", "value": "x"}]},
            "conditions.0.attribute.attribute",
            "attribute code must not be empty",
        ),
        (
            {"conditions": [{"type": "combination", "conditions": [
                {"type": "attribute", "attribute": "sku", "operator": "()", "value": []},
            ]}]},
            "conditions.0.combination.conditions.0.attribute.value",
            "needs at least one value",
        ),
        (
            {"conditions": [{"type": "attribute", "attribute": "sku", "operator": "!()", "value": " , "}]},
            "conditions.0.attribute.value",
            "needs at least one value",
        ),
        (
            {"conditions": [{"type": "attribute", "attribute": "sku", "operator": "{}", "value": ""}]},
            "conditions.0.attribute.value",
            "needs a value to look for",
        ),
        (
            {"conditions": [{"type": "attribute", "attribute": "sku", "operator": "==", "value": ["A", "B"]}]},
            "conditions.0.attribute.value",
            r"use '\(\)' for a list",
        ),
        (
            {"conditions": [{"type": "attribute", "attribute": "sku", "operator": "~", "value": "A"}]},
            "conditions.0.attribute.operator",
            "Input should be '=='",
        ),
        (
            {"conditions": [{"type": "rule", "attribute": "sku"}]},
            "conditions.0",
            "does not match any of the expected tags",
        ),
        (
            {"aggregator": "most"},
            "aggregator",
            "Input should be 'all' or 'any'",
        ),
        (
            {"aggregater": "any"},
            "aggregater",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_trees_are_refused_naming_the_field(payload: dict[str, object], location: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        Combination.model_validate(payload)

    assert location in error_locations(caught.value)


def test_value_errors_are_condition_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        AttributeCondition(attribute="price", operator=">", value="abc")

    assert isinstance(caught.value.errors()[0]["ctx"]["error"], ConditionError)
    assert issubclass(ConditionError, ValueError)


def test_nesting_is_limited_to_ten_levels() -> None:
    assert MAX_DEPTH == 10
    Combination.model_validate(nested(MAX_DEPTH))

    with pytest.raises(ValidationError, match="nested deeper than 10 levels") as caught:
        Combination.model_validate(nested(MAX_DEPTH + 1))

    assert error_locations(caught.value) == ["conditions"]


def test_attribute_codes_lists_what_a_caller_must_load() -> None:
    assert attribute_codes(NESTED) == {"amazon_fba", "category_ids", "price", "sku"}
    assert attribute_codes(None) == frozenset()


def test_describe_gives_one_readable_line() -> None:
    flat = Combination(
        conditions=[
            AttributeCondition(attribute="category_ids", operator="==", value="4"),
            AttributeCondition(attribute="amazon_fba", operator="==", value="Yes"),
        ]
    )

    assert describe(flat) == "ALL TRUE: category_ids is 4, amazon_fba is Yes"
    assert describe(NESTED) == (
        "ALL TRUE: amazon_fba is Yes, (ANY FALSE: category_ids is one of [4, 5], "
        "price equals or greater than 19.99, (ALL TRUE: sku contains -RENEWED))"
    )
    assert describe(Combination()) == "ALL TRUE: no conditions"
    assert describe(None) == "no conditions (every product)"
