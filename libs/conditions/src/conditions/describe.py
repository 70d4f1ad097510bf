"""One-line, human-readable text of a condition tree, for traces and logs."""

from __future__ import annotations

from conditions.model import AttributeCondition, Combination

OPERATOR_NAMES: dict[str, str] = {
    "==": "is",
    "!=": "is not",
    ">=": "equals or greater than",
    "<=": "equals or less than",
    ">": "greater than",
    "<": "less than",
    "{}": "contains",
    "!{}": "does not contain",
    "()": "is one of",
    "!()": "is not one of",
}


def describe(tree: Combination | None) -> str:
    """E.g. "ALL TRUE: category_ids is 4, amazon_fba is Yes"; nested combinations in parentheses."""
    if tree is None:
        return "no conditions (every product)"
    return _combination(tree)


def _combination(node: Combination) -> str:
    head = f"{node.aggregator.upper()} {'TRUE' if node.value else 'FALSE'}"
    if not node.conditions:
        return f"{head}: no conditions"
    return f"{head}: " + ", ".join(_node(child) for child in node.conditions)


def _node(node: Combination | AttributeCondition) -> str:
    if isinstance(node, Combination):
        return f"({_combination(node)})"
    value = f"[{', '.join(node.value)}]" if isinstance(node.value, list) else node.value
    return f"{node.attribute} {OPERATOR_NAMES[node.operator]} {value}"
