"""The condition tree of a Magento cart price rule: combinations of product attribute lines."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator

MAX_DEPTH = 10

Operator = Literal["==", "!=", ">=", "<=", ">", "<", "{}", "!{}", "()", "!()"]

NUMERIC_OPERATORS: frozenset[str] = frozenset({">=", "<=", ">", "<"})
LIST_OPERATORS: frozenset[str] = frozenset({"()", "!()"})
CONTAINS_OPERATORS: frozenset[str] = frozenset({"{}", "!{}"})
NEGATED_OPERATORS: dict[str, str] = {"!=": "==", "!{}": "{}", "!()": "()"}

# PHP's is_numeric, which Magento relies on: optional sign, digits with an optional fraction, exponent.
_NUMERIC = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


class ConditionError(ValueError):
    """A condition tree that cannot be evaluated: bad operator/value pair, empty code, too deep."""


def parse_number(text: str) -> Decimal | None:
    """The number a condition value or attribute text stands for, or None when it is not one."""
    if not _NUMERIC.fullmatch(text):
        return None
    return Decimal(text.strip())


def listed_values(value: str | list[str]) -> list[str]:
    """The items of a list operand: a list as given, or comma-separated text; blanks dropped."""
    items = value if isinstance(value, list) else value.split(",")
    return [item.strip() for item in items if item.strip()]


def _as_text(value: object) -> object:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return value


class AttributeCondition(BaseModel):
    """One *Product Attribute* line: `<attribute> <operator> <value>`, e.g. `category_ids == "4"`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["attribute"] = "attribute"
    attribute: str = Field(description="Attribute code, e.g. 'category_ids', 'amazon_fba', 'price', 'sku'")
    operator: Operator = Field(
        description="'==' is, '!=' is not, '>=' '<=' '>' '<' numeric comparisons, "
        "'{}' contains, '!{}' does not contain, '()' is one of, '!()' is not one of"
    )
    value: str | list[str] = Field(
        description="Text as Magento keeps it; '()' and '!()' take a list or comma-separated text"
    )

    @field_validator("attribute")
    @classmethod
    def _attribute_code(cls, code: str) -> str:
        code = code.strip()
        if not code:
            raise ConditionError("attribute code must not be empty")
        return code

    @field_validator("value", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return [_as_text(item) for item in value]
        return _as_text(value)

    @field_validator("value")
    @classmethod
    def _value_fits_operator(cls, value: str | list[str], info: ValidationInfo) -> str | list[str]:
        operator = info.data.get("operator")
        if operator is None:
            return value
        if operator in NUMERIC_OPERATORS:
            if isinstance(value, list) or parse_number(value) is None:
                raise ConditionError(f"operator {operator!r} needs a number, got {value!r}")
        elif operator in LIST_OPERATORS:
            if not listed_values(value):
                raise ConditionError(f"operator {operator!r} needs at least one value")
        elif operator in CONTAINS_OPERATORS:
            if not (listed_values(value) if isinstance(value, list) else value):
                raise ConditionError(f"operator {operator!r} needs a value to look for")
        elif isinstance(value, list):
            raise ConditionError(f"operator {operator!r} takes one value; use '()' for a list")
        return value


def _node_type(node: Any) -> str:
    """`type` when given; otherwise a node naming an attribute is a line, else a combination."""
    if isinstance(node, dict):
        return node.get("type") or ("attribute" if "attribute" in node else "combination")
    return getattr(node, "type", "combination")


class Combination(BaseModel):
    """A *Conditions Combination*: "If ALL|ANY of these conditions are TRUE|FALSE"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["combination"] = "combination"
    aggregator: Literal["all", "any"] = Field(default="all", description="ALL or ANY of the children")
    value: bool = Field(default=True, strict=True, description="Whether the children must be TRUE or FALSE")
    conditions: list[Annotated[
        Annotated[Combination, Tag("combination")] | Annotated[AttributeCondition, Tag("attribute")],
        Discriminator(_node_type),
    ]] = Field(
        default=[], description="Nested combinations and attribute lines"
    )

    @field_validator("conditions")
    @classmethod
    def _not_too_deep(
        cls, conditions: list[Combination | AttributeCondition]
    ) -> list[Combination | AttributeCondition]:
        if 1 + max((depth(child) for child in conditions), default=0) > MAX_DEPTH:
            raise ConditionError(f"combinations are nested deeper than {MAX_DEPTH} levels")
        return conditions


ConditionTree = Combination


def depth(node: Combination | AttributeCondition) -> int:
    """Levels of combinations from this node down: an attribute line is 0, a flat combination 1."""
    if isinstance(node, AttributeCondition):
        return 0
    return 1 + max((depth(child) for child in node.conditions), default=0)


def attribute_codes(tree: Combination | None) -> frozenset[str]:
    """Every attribute code the tree reads: what a caller must load for `matches`."""
    if tree is None:
        return frozenset()
    codes: set[str] = set()
    for _, condition in _attribute_lines(tree, "conditions"):
        codes.add(condition.attribute)
    return frozenset(codes)


def validate_attributes(tree: Combination | None, allowed: set[str] | frozenset[str]) -> list[str]:
    """Problems, one per line that uses an attribute code outside `allowed` (spec §4: only
    attributes with "Use for Promo Rule Conditions = Yes"); empty when the tree is acceptable."""
    if tree is None:
        return []
    return [
        f"{path}.attribute: {condition.attribute!r} cannot be used in rule conditions"
        " (not a promo rule attribute)"
        for path, condition in _attribute_lines(tree, "conditions")
        if condition.attribute not in allowed
    ]


def _attribute_lines(node: Combination, path: str) -> list[tuple[str, AttributeCondition]]:
    lines: list[tuple[str, AttributeCondition]] = []
    for index, child in enumerate(node.conditions):
        child_path = f"{path}.{index}"
        if isinstance(child, AttributeCondition):
            lines.append((child_path, child))
        else:
            lines.extend(_attribute_lines(child, f"{child_path}.conditions"))
    return lines
