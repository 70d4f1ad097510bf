import pytest

from conditions import AttributeCondition, Combination, ConditionError, matches

YES = AttributeCondition(attribute="flag", operator="==", value="1")
IN_4 = AttributeCondition(attribute="category_ids", operator="==", value="4")


@pytest.mark.parametrize(
    ("aggregator", "value", "expected"),
    [
        # children outcomes are (True, False) for the product below
        ("all", True, False),
        ("all", False, False),
        ("any", True, True),
        ("any", False, True),
    ],
)
def test_aggregator_and_value_over_mixed_children(aggregator: str, value: bool, expected: bool) -> None:
    tree = Combination(aggregator=aggregator, value=value, conditions=[YES, IN_4])  # type: ignore[arg-type]

    assert matches(tree, {"flag": "1", "category_ids": ["3"]}) is expected


@pytest.mark.parametrize(
    ("aggregator", "value", "both_true", "both_false"),
    [
        ("all", True, True, False),
        ("all", False, False, True),
        ("any", True, True, False),
        ("any", False, False, True),
    ],
)
def test_aggregator_and_value_over_uniform_children(
    aggregator: str, value: bool, both_true: bool, both_false: bool
) -> None:
    tree = Combination(aggregator=aggregator, value=value, conditions=[YES, IN_4])  # type: ignore[arg-type]

    assert matches(tree, {"flag": "1", "category_ids": ["4"]}) is both_true
    assert matches(tree, {"flag": "0", "category_ids": ["3"]}) is both_false


def test_nested_combination_is_one_child_of_its_parent() -> None:
    fba_outside_4 = Combination(
        conditions=[YES, Combination(aggregator="any", value=False, conditions=[IN_4])]
    )

    assert matches(fba_outside_4, {"flag": "1", "category_ids": ["3"]})
    assert not matches(fba_outside_4, {"flag": "1", "category_ids": ["4"]})
    assert not matches(fba_outside_4, {"flag": "0", "category_ids": ["3"]})


def test_an_empty_nested_combination_is_true_whatever_its_aggregator() -> None:
    for aggregator in ("all", "any"):
        for value in (True, False):
            empty = Combination(aggregator=aggregator, value=value)  # type: ignore[arg-type]
            assert matches(Combination(conditions=[empty]), {})
            assert not matches(Combination(value=False, conditions=[empty]), {})


def test_something_other_than_a_tree_is_refused() -> None:
    with pytest.raises(ConditionError):
        matches(YES, {})  # type: ignore[arg-type]
