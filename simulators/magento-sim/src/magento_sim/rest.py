"""What every REST operation shares: its registration record, searchCriteria parsing, request bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from magento_sim import catalog, model
from magento_sim.core import MagentoError, Simulator

PREFIXES = ("/V1", "/rest/V1", "/rest/{store_code}/V1")
KEY = re.compile(r"searchCriteria\[(\w+)\](?:\[(\d+)\]\[(\w+)\](?:\[(\d+)\]\[(\w+)\])?)?$")
CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
SNAKE = {"filterGroups": "filter_groups", "sortOrders": "sort_orders", "pageSize": "page_size",
         "currentPage": "current_page", "conditionType": "condition_type"}

Handler = Callable[[Simulator, Request, dict[str, Any]], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as in the model
    operation_id: str
    resource: str | None  # the ACL resource a token needs; None: anonymous
    handler: Handler


def criteria(request: Request) -> catalog.Criteria:
    """`searchCriteria[...]` query parameters, camelCase or snake_case, into criteria."""
    params = request.query_params
    if not any(k == "searchCriteria" or k.startswith("searchCriteria[") for k in params):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"})
    groups: dict[int, dict[int, dict[str, str]]] = {}
    sorts: dict[int, dict[str, str]] = {}
    out = catalog.Criteria()
    for key, value in params.multi_items():
        m = KEY.match(key)
        if not m:
            continue
        name = SNAKE.get(m[1], m[1])
        if name == "filter_groups" and m[4] is not None:
            groups.setdefault(int(m[2]), {}).setdefault(int(m[4]), {})[SNAKE.get(m[5], m[5])] = value
        elif name == "sort_orders" and m[2] is not None:
            sorts.setdefault(int(m[2]), {})[m[3]] = value
        elif name in ("page_size", "current_page"):
            try:
                setattr(out, name, int(value))
            except ValueError as exc:
                raise MagentoError(400, 'The "%fieldValue" value\'s type is invalid. The "int" type was expected. '
                                   "Verify and try again.", {"fieldValue": value}) from exc
    for g in sorted(groups):
        group = []
        for f in sorted(groups[g]):
            filt = groups[g][f]
            if "field" not in filt:
                raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "field"})
            condition = filt.get("condition_type") or "eq"
            if condition not in catalog.CONDITIONS:
                raise MagentoError(400, 'Invalid condition type "%fieldValue".', {"fieldValue": condition})
            group.append((filt["field"], filt.get("value", ""), condition))
        out.groups.append(group)
    for s in sorted(sorts):
        direction = sorts[s].get("direction", "ASC").upper()
        out.sort.append((sorts[s].get("field", "entity_id"), "DESC" if direction == "DESC" else "ASC"))
    return out


async def wrapped_body(request: Request, method: str, path: str, key: str) -> dict[str, Any]:
    """The object under `key` of a JSON body, checked against the model (nested `required` left to the handler)."""
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MagentoError(400, "Decoding error: \nSyntax error") from exc
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": key})
    validator = model.request_validator(method, path)
    if validator is not None:
        for error in validator.iter_errors(body):
            if error.validator == "required" and len(error.absolute_path) > 0:
                continue  # Magento fills nested objects it is given partly (a stock_item with only qty)
            where = "/".join(map(str, error.absolute_path))
            raise MagentoError(400, 'The "%fieldName" value is invalid: %fieldValue', {
                "fieldName": where, "fieldValue": error.message})
    return body[key]


def snake(value: Any) -> Any:
    """camelCase keys (as Adobe's tutorials send them) to the snake_case Magento answers in, recursively."""
    if isinstance(value, dict):
        return {CAMEL.sub(r"_\1", k).lower(): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


