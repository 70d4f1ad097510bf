"""Amazon's published models (vendored in `amazon_models/`) as jsonschema validators."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

LISTINGS = "listingsItems_2021-08-01.json"
FEEDS = "feeds_2021-06-30.json"
SELLERS = "sellers.json"
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
