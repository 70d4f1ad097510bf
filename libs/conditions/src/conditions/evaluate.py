"""Whether a product's attributes satisfy a condition tree, after Magento's
AbstractCondition::validateAttribute and Combine::validate."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from conditions.model import (
    NEGATED_OPERATORS,
    NUMERIC_OPERATORS,
    AttributeCondition,
    Combination,
    ConditionError,
    listed_values,
    parse_number,
)

_LEADING_ZERO = re.compile(r"\s*0\d+\s*")
_FLAGS = {"1": True, "yes": True, "true": True, "0": False, "no": False, "false": False}
_MULTI_VALUED = (list, tuple, set, frozenset)


def matches(tree: Combination | None, attributes: Mapping[str, object]) -> bool:
    """True when the product described by `attributes` satisfies `tree`; no tree matches every product."""
    if tree is None:
        return True
    if not isinstance(tree, Combination):
        raise ConditionError(f"a condition tree is a Combination, got {type(tree).__name__}")
    return _combination(tree, attributes)


def _combination(node: Combination, attributes: Mapping[str, object]) -> bool:
    if not node.conditions:
        return True
    outcomes = (_node(child, attributes) is node.value for child in node.conditions)
    return all(outcomes) if node.aggregator == "all" else any(outcomes)


def _node(node: Combination | AttributeCondition, attributes: Mapping[str, object]) -> bool:
    if isinstance(node, Combination):
        return _combination(node, attributes)
    return _attribute(node, attributes.get(node.attribute))


def _attribute(condition: AttributeCondition, actual: object) -> bool:
    operator = NEGATED_OPERATORS.get(condition.operator, condition.operator)
    negated = operator != condition.operator
    if actual is None:
        return negated
    if operator in NUMERIC_OPERATORS:
        return _compare(operator, actual, condition.value)
    if operator == "==":
        outcome = _is(actual, condition.value)
    elif operator == "{}":
        outcome = _contains(actual, condition.value)
    else:
        outcome = _is_one_of(actual, listed_values(condition.value))
    return outcome is not negated


def _is(actual: object, expected: str | list[str]) -> bool:
    if isinstance(expected, list):
        return _is_one_of(actual, listed_values(expected))
    if isinstance(actual, _MULTI_VALUED):
        return any(_equal(item, expected) for item in actual)
    return _equal(actual, expected)


def _contains(actual: object, expected: str | list[str]) -> bool:
    wanted = listed_values(expected) if isinstance(expected, list) else [expected]
    if isinstance(actual, _MULTI_VALUED):
        return any(_equal(item, text) for item in actual for text in wanted)
    haystack = _text(actual).casefold()
    return any(text.casefold() in haystack for text in wanted)


def _is_one_of(actual: object, wanted: list[str]) -> bool:
    items = actual if isinstance(actual, _MULTI_VALUED) else [actual]
    return any(_equal(item, text) for item in items for text in wanted)


def _compare(operator: str, actual: object, expected: str | list[str]) -> bool:
    if isinstance(actual, _MULTI_VALUED) or isinstance(expected, list):
        return False
    left, right = _number(actual), parse_number(expected)
    if left is None or right is None:
        return False
    if operator == ">=":
        return left >= right
    if operator == "<=":
        return left <= right
    if operator == ">":
        return left > right
    return left < right


def _equal(actual: object, expected: str) -> bool:
    """Magento's strict _compareValues: numerically when both are numbers (unless either has a
    leading zero, like '007'), else case-insensitive text; a yes/no flag also matches Yes/No text."""
    if isinstance(actual, bool):
        return _FLAGS.get(expected.strip().casefold()) is actual
    text = _text(actual)
    left, right = _number(actual), parse_number(expected)
    if left is not None and right is not None and not (
        _LEADING_ZERO.fullmatch(text) or _LEADING_ZERO.fullmatch(expected)
    ):
        return left == right
    if text.casefold() == expected.casefold():
        return True
    flag = _FLAGS.get(expected.strip().casefold())
    return flag is not None and text.strip() in ("0", "1") and (text.strip() == "1") is flag


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal | float):
        number = Decimal(str(value))
        return number if number.is_finite() else None
    if isinstance(value, str):
        return parse_number(value)
    return None


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
