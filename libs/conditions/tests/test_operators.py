from decimal import Decimal

import pytest

from conditions import AttributeCondition, Combination, matches


def holds(attribute: str, operator: str, value: str | list[str], product: dict[str, object]) -> bool:
    condition = AttributeCondition(attribute=attribute, operator=operator, value=value)  # type: ignore[arg-type]
    return matches(Combination(conditions=[condition]), product)


@pytest.mark.parametrize(
    ("operator", "value", "actual", "expected"),
    [
        ("==", "ABC-1", "abc-1", True),
        ("==", "ABC", "ABC-1", False),
        ("==", "10", 10, True),
        ("==", "10", Decimal("10.00"), True),
        ("==", "10.0", "10", True),
        ("==", "7", "007", False),
        ("==", "007", "007", True),
        ("!=", "ABC", "abc", False),
        ("!=", "ABC", "ABD", True),
        ("!=", "10", "10.00", False),
        ("{}", "blue", "Dark BLUE shirt", True),
        ("{}", "red", "Dark blue shirt", False),
        ("{}", ["red", "blue"], "Dark blue shirt", True),
        ("!{}", "blue", "Dark BLUE shirt", False),
        ("!{}", "red", "Dark blue shirt", True),
        ("()", "A, B ,C", "b", True),
        ("()", ["A", "B"], "C", False),
        ("()", "5,10", 10, True),
        ("!()", "A,B", "C", True),
        ("!()", ["A", "B"], "A", False),
    ],
)
def test_text_operators_on_a_single_value(operator: str, value: str, actual: object, expected: bool) -> None:
    assert holds("sku", operator, value, {"sku": actual}) is expected


@pytest.mark.parametrize(
    ("operator", "value", "actual", "expected"),
    [
        (">", "10", "10.01", True),
        (">", "10", 10, False),
        (">=", "10", 10, True),
        (">=", "10", Decimal("9.99"), False),
        ("<", "10", Decimal("9.99"), True),
        ("<", "10", "10", False),
        ("<=", "10", "10.00", True),
        ("<=", "10", 11, False),
        ("<=", "-1", -2, True),
        (">", "1e2", "101", True),
        (">", "1.5", 1.75, True),
        (">", "10", "abc", False),
        ("<", "10", "abc", False),
        (">=", "10", "", False),
        (">", "0", ["5"], False),
        ("<", "10", ["5"], False),
    ],
)
def test_numeric_operators_compare_as_decimals(operator: str, value: str, actual: object, expected: bool) -> None:
    assert holds("price", operator, value, {"price": actual}) is expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("==", "4", True),
        ("==", "5", False),
        ("!=", "4", False),
        ("!=", "5", True),
        ("{}", "4", True),
        ("{}", ["5", "4"], True),
        ("{}", "5", False),
        ("!{}", "4", False),
        ("!{}", "5", True),
        ("()", "5,4", True),
        ("()", ["5", "6"], False),
        ("!()", "5,6", True),
        ("!()", ["6", "3"], False),
    ],
)
def test_operators_on_a_multi_valued_attribute(operator: str, value: str, expected: bool) -> None:
    assert holds("category_ids", operator, value, {"category_ids": ["3", "4"]}) is expected


def test_is_on_a_multi_valued_attribute_does_not_split_its_value() -> None:
    assert not holds("category_ids", "==", "3,4", {"category_ids": ["3", "4"]})


def test_contains_on_a_multi_valued_attribute_matches_whole_items_only() -> None:
    assert not holds("category_ids", "{}", "1", {"category_ids": ["10", "11"]})


def test_an_empty_multi_valued_attribute_is_in_no_category() -> None:
    assert not holds("category_ids", "==", "4", {"category_ids": []})
    assert holds("category_ids", "!=", "4", {"category_ids": []})
    assert not holds("category_ids", "()", "4", {"category_ids": []})
    assert holds("category_ids", "!()", "4", {"category_ids": []})


@pytest.mark.parametrize("product", [{}, {"color": None}], ids=["absent", "none"])
@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("==", "red", False),
        ("!=", "red", True),
        (">=", "0", False),
        ("<=", "0", False),
        (">", "0", False),
        ("<", "0", False),
        ("{}", "red", False),
        ("!{}", "red", True),
        ("()", "red,blue", False),
        ("!()", "red,blue", True),
    ],
)
def test_a_missing_attribute_satisfies_only_negative_operators(
    product: dict[str, object], operator: str, value: str, expected: bool
) -> None:
    assert holds("color", operator, value, product) is expected


@pytest.mark.parametrize(
    ("value", "actual", "expected"),
    [
        ("Yes", True, True),
        ("yes", True, True),
        ("1", True, True),
        ("No", True, False),
        ("No", False, True),
        ("0", False, True),
        ("Yes", False, False),
        ("Yes", "1", True),
        ("Yes", 1, True),
        ("No", "0", True),
        ("No", 1, False),
        ("Yes", "Yes", True),
        ("maybe", True, False),
    ],
)
def test_yes_no_flags_compare_against_1_0_and_yes_no(value: str, actual: object, expected: bool) -> None:
    assert holds("amazon_fba", "==", value, {"amazon_fba": actual}) is expected
    assert holds("amazon_fba", "!=", value, {"amazon_fba": actual}) is not expected


def test_a_flag_is_one_of_yes_no_text() -> None:
    assert holds("amazon_fba", "()", "Yes", {"amazon_fba": True})
    assert not holds("amazon_fba", "()", "No", {"amazon_fba": True})


def test_a_flag_compares_as_1_or_0_numerically() -> None:
    assert holds("amazon_fba", ">=", "1", {"amazon_fba": True})
    assert holds("amazon_fba", "<", "1", {"amazon_fba": False})
