"""Magento cart-price-rule style condition trees, shared by pricing rules and listing rules."""

from conditions.describe import describe
from conditions.evaluate import matches
from conditions.model import (
    MAX_DEPTH,
    AttributeCondition,
    Combination,
    ConditionError,
    ConditionTree,
    Operator,
    attribute_codes,
    validate_attributes,
)

__all__ = [
    "MAX_DEPTH", "AttributeCondition", "Combination", "ConditionError", "ConditionTree", "Operator",
    "attribute_codes", "describe", "matches", "validate_attributes",
]
