"""`fields=` partial responses, as Magento's `Webapi\\Rest\\Response\\FieldsFilter` reads and applies them.

`fields=items[sku,extension_attributes[website_ids]],total_count` keeps those keys; a list is filtered item by
item; `custom_attributes[upc]` keeps the attributes of those codes. A filter with another character than
letters, digits, `_`, `[`, `]` and `,`, or with an unclosed bracket, answers an empty list, as Magento does.
"""

from __future__ import annotations

import re
from typing import Any

Tree = dict[str, Any]  # key -> 1 (keep whole) or a subtree
_ALLOWED = re.compile(r"^[\w\[\],]+$")


def parse(text: str) -> Tree | None:
    """The filter as a tree; None when Magento would refuse it."""
    if not _ALLOWED.match(text):
        return None
    current: Tree = {}
    stack: list[Tree] = []
    parents: list[str | None] = []
    name: str | None = None
    start: int | None = None
    for position, char in enumerate(text):
        if char in "[],":
            if start is not None:
                name = text[start:position]
                current[name] = 1
            start = None
        if char == "[":
            parents.append(name)
            stack.append(current)
            current = {}
        elif char == "]":
            if not stack:
                return None
            inner, current = current, stack.pop()
            parent = parents.pop()
            if parent is not None:
                current[parent] = inner
        elif char != "," and start is None:
            start = position
    if stack:
        return None
    if start is not None:
        current[text[start:]] = 1
    return current


def apply(value: Any, tree: Tree) -> Any:
    if isinstance(value, list):
        return [_keep(item, tree) if isinstance(item, dict) else item for item in value]
    return _keep(value, tree) if isinstance(value, dict) else value


def _keep(record: dict[str, Any], tree: Tree) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key not in tree:
            continue
        wanted = tree[key]
        if key == "custom_attributes" and isinstance(wanted, dict) and isinstance(value, list):
            out[key] = _attributes(value, wanted)
        elif isinstance(wanted, dict) and isinstance(value, dict | list):
            out[key] = apply(value, wanted)
        else:
            out[key] = value
    return out


def _attributes(attributes: list[Any], wanted: Tree) -> list[dict[str, Any]]:
    out = []
    for attribute in attributes:
        if not isinstance(attribute, dict):
            continue
        if attribute.get("attribute_code") in wanted:
            out.append({"attribute_code": attribute.get("attribute_code"), "value": attribute.get("value")})
            continue
        kept = {k: attribute.get(k) for k in ("attribute_code", "value") if k in wanted}
        if kept:
            out.append(kept)
    return out


def filtered(body: Any, text: str | None) -> Any:
    """The body as `fields=text` leaves it (no or an empty `fields`: all of it)."""
    if not text:
        return body
    tree = parse(text)
    return [] if tree is None else apply(body, tree)
