"""Amazon's published models (vendored in `amazon_models/`) as jsonschema validators."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

LISTINGS = "listingsItems_2021-08-01.json"
FEEDS = "feeds_2021-06-30.json"
SELLERS = "sellers.json"
ORDERS = "ordersV0.json"
TOKENS = "tokens_2021-03-01.json"
REPORTS = "reports_2021-06-30.json"
FEED_SCHEMA = "listings-feed-schema-v2.json"
FEED_MESSAGE_SCHEMA = "listings-feed-message-schema-v2.json"
FEED_REPORT_SCHEMA = "listings-feed-processing-report-schema-v2.json"


@cache
def load(name: str) -> dict[str, Any]:
    return json.loads(resources.files("amazon_sim").joinpath("amazon_models", name).read_text("utf-8"))


@cache
def definition_validator(model: str, definition: str) -> Draft7Validator:
    """A validator for `#/definitions/<definition>` of a Swagger 2.0 model (refs resolve in the same document)."""
    doc = load(model)
    schema = {"definitions": doc["definitions"], "allOf": [{"$ref": f"#/definitions/{definition}"}]}
    return Draft7Validator(schema)


@cache
def schema_validator(name: str) -> Draft7Validator:
    return Draft7Validator(load(name))


def response_validator(model: str, operation_id: str, status: int) -> Draft7Validator:
    """The validator for the response schema an operation declares for `status`."""
    doc = load(model)
    for item in doc["paths"].values():
        for method, op in item.items():
            if method == "parameters" or op.get("operationId") != operation_id:
                continue
            schema = op["responses"][str(status)]["schema"]
            return definition_validator(model, schema["$ref"].rsplit("/", 1)[1])
    raise KeyError(operation_id)


def first_error(validator: Draft7Validator, instance: Any) -> str | None:
    """A one-line description naming the offending field, or None when `instance` is valid."""
    error = best_match(validator.iter_errors(instance))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where or '(body)'}: {error.message}"


# --- operations by method and path, for checking recorded traffic ---------------------------------------------

@cache
def api_models() -> tuple[str, ...]:
    """Every vendored SP-API model (a Swagger document with `paths`), by file name."""
    folder = resources.files("amazon_sim").joinpath("amazon_models")
    names = sorted(f.name for f in folder.iterdir() if f.name.endswith(".json"))
    return tuple(n for n in names if "paths" in load(n))


@cache
def _routes() -> tuple[tuple[re.Pattern[str], int, str, str, str], ...]:
    """(path pattern, template parameter count, method, model, operationId), literal paths before templated ones."""
    routes = []
    for model in api_models():
        doc = load(model)
        base = (doc.get("basePath") or "").rstrip("/")
        for template, item in doc["paths"].items():
            pattern = re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(base + template)))
            for method, op in item.items():
                if isinstance(op, dict) and "operationId" in op:
                    routes.append((pattern, template.count("{"), method.upper(), model, op["operationId"]))
    return tuple(sorted(routes, key=lambda r: r[1]))


def operation_at(method: str, path: str) -> tuple[str, str] | None:
    """The (model, operationId) a request's method and URL path belong to, or None when no model has it."""
    for pattern, _, verb, model, operation_id in _routes():
        if verb == method.upper() and pattern.fullmatch(path):
            return model, operation_id
    return None


def _operation(model: str, operation_id: str) -> dict[str, Any]:
    for item in load(model)["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op
    raise KeyError(operation_id)


def _validator_for(model: str, schema: dict[str, Any]) -> Draft7Validator:
    return Draft7Validator({"definitions": load(model).get("definitions", {}), "allOf": [schema]})


def request_body_validator(model: str, operation_id: str) -> Draft7Validator | None:
    """The validator of the operation's `in: body` parameter, or None when it takes no body."""
    for param in _operation(model, operation_id).get("parameters", []):
        if param.get("in") == "body":
            return _validator_for(model, param["schema"])
    return None


def declared_response_validator(model: str, operation_id: str, status: int) -> Draft7Validator | None:
    """The validator of the body the operation declares for `status`; KeyError when the status is not declared,
    None when it is declared without a body."""
    response = _operation(model, operation_id)["responses"][str(status)]
    schema = response.get("schema")
    return None if schema is None else _validator_for(model, schema)
