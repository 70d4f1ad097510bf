"""Adobe's published OpenAPI description of the Commerce 2.4.8 admin REST API: request and response validators."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from magento_sim.config import MODEL, MODEL_ENV, shared_file

URI = "urn:commerce-admin-rest-2.4.8"


@functools.cache
def document() -> dict[str, Any] | None:
    path = shared_file(MODEL, MODEL_ENV)
    return json.loads(path.read_text()) if path and path.exists() else None


@functools.cache
def _registry() -> Registry:
    doc = document()
    assert doc is not None, f"the Commerce OpenAPI model is missing (set ${MODEL_ENV})"
    return Registry().with_resource(URI, Resource.from_contents(doc, default_specification=DRAFT4))


def validator(schema: dict[str, Any]) -> Draft4Validator:
    """A validator for a schema of the document, its `$ref`s resolved against the whole document."""
    absolute = json.loads(json.dumps(schema).replace('"#/components/', f'"{URI}#/components/'))
    return Draft4Validator(absolute, registry=_registry())


def operation(method: str, path: str) -> dict[str, Any]:
    doc = document()
    assert doc is not None
    return doc["paths"][path][method.lower()]


@functools.cache
def response_validator(method: str, path: str, status: int) -> Draft4Validator:
    responses = operation(method, path)["responses"]
    response = responses.get(str(status)) or responses["default"]
    return validator(response["content"]["application/json"]["schema"])


@functools.cache
def request_validator(method: str, path: str) -> Draft4Validator | None:
    if document() is None:
        return None
    body = operation(method, path).get("requestBody")
    if not body:
        return None
    if "$ref" in body:
        body = document()["components"]["requestBodies"][body["$ref"].rsplit("/", 1)[1]]  # type: ignore[index]
    return validator(body["content"]["application/json"]["schema"])


def problems(v: Draft4Validator, body: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(body)]


@functools.cache
def _templates() -> tuple[tuple[str, re.Pattern[str]], ...]:
    doc = document()
    assert doc is not None
    found = []
    for path in doc["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
        found.append((path, re.compile(f"^{pattern}$")))
    # a literal segment beats a parameter (`/V1/orders/create` is not `/V1/orders/{id}`)
    return tuple(sorted(found, key=lambda t: (t[0].count("{"), -len(t[0]))))


def match(method: str, url_path: str) -> str | None:
    """The model path of a request, e.g. `/rest/default/V1/products/MH01` -> `/V1/products/{sku}`; None if unknown."""
    tail = re.sub(r"^/rest/[^/]+(?=/V1/)", "", url_path)
    for path, pattern in _templates():
        if pattern.match(tail) and method.lower() in document()["paths"][path]:  # type: ignore[index]
            return path
    return None


_INDEX = re.compile(r"\[\d+\]")


def query_problems(method: str, path: str, params: Iterable[tuple[str, str]]) -> list[str]:
    """Query parameters the operation does not declare (list indexes compared as `[0]`, as the model writes them).

    `fields` (a partial response) is accepted everywhere: Commerce applies it to every REST operation.
    """
    declared = {p["name"] for p in operation(method, path).get("parameters", []) if p.get("in") == "query"}
    declared.add("fields")
    return [f"query parameter {name!r} is not declared by {method} {path}"
            for name, _ in params if _INDEX.sub("[0]", name) not in declared]
