"""Input no handler should ever see: refused with a problem naming the parameter, before validation.

- control characters (NUL, C0, DEL) in path and query strings, and in body strings but for tab,
  line feed and carriage return; unpaired surrogates anywhere (PostgreSQL cannot store them);
- integers beyond int64 in an integer parameter or anywhere in a JSON body, and the non-finite
  numbers (`NaN`, `Infinity`, `1e999`) JSON does not have;
- bodies nested deeper than `MAX_DEPTH`.

Domain bounds (page sizes, rates, percents, prices) belong to each parameter's own declaration.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, get_args

from fastapi import Request
from fastapi.routing import APIRoute

from servicekit.problems import FieldError, ProblemError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32
_PARAM_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_BODY_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def _bad_chars(value: str, pattern: re.Pattern[str]) -> str | None:
    if (m := pattern.search(value)) is None:
        return None
    return f"must not contain the control character U+{ord(m.group()):04X}"


def _int_params(route: Any) -> frozenset[tuple[str, str]]:
    """(where, alias) of the route's integer path and query parameters."""
    cached = getattr(route, "_int_params", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    found: set[tuple[str, str]] = set()
    pending = [route.dependant] if isinstance(route, APIRoute) else []
    while pending:
        dependant = pending.pop()
        pending.extend(dependant.dependencies)
        for where, params in (("path", dependant.path_params), ("query", dependant.query_params)):
            for param in params:
                annotation = param.field_info.annotation
                kinds = {annotation, *get_args(annotation)}
                if int in kinds and str not in kinds:
                    found.add((where, param.alias))
    result = frozenset(found)
    route._int_params = result
    return result


def _check_json(value: Any, path: str, errors: list[FieldError], depth: int = 0) -> None:
    if len(errors) >= 20:
        return
    if depth > MAX_DEPTH:
        errors.append(FieldError(field=path, reason=f"nested deeper than {MAX_DEPTH} levels"))
    elif isinstance(value, str):
        if reason := _bad_chars(value, _BODY_FORBIDDEN):
            errors.append(FieldError(field=path, reason=reason))
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            errors.append(FieldError(field=path, reason="integer out of range (beyond 64 bits)"))
    elif isinstance(value, float):
        if not math.isfinite(value):
            errors.append(FieldError(field=path, reason="must be a finite number"))
    elif isinstance(value, dict):
        for key, item in value.items():
            if reason := _bad_chars(key, _BODY_FORBIDDEN):
                errors.append(FieldError(field=f"{path}.{key!r}", reason=f"key {reason}"))
            _check_json(item, f"{path}.{key}", errors, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{path}.{i}", errors, depth + 1)


async def check_input(request: Request) -> None:
    """An app-wide dependency: runs before any parameter is validated or any handler is called."""
    errors: list[FieldError] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and (reason := _bad_chars(value, _PARAM_FORBIDDEN)):
            errors.append(FieldError(field=f"path.{name}", reason=reason))
    for name, value in request.query_params.multi_items():
        if reason := _bad_chars(name, _PARAM_FORBIDDEN):
            errors.append(FieldError(field=f"query.{name!r}", reason=f"name {reason}"))
        elif reason := _bad_chars(value, _PARAM_FORBIDDEN):
            errors.append(FieldError(field=f"query.{name}", reason=reason))
    ints = _int_params(request.scope.get("route"))
    if ints:
        values = [("path", k, v) for k, v in request.path_params.items()]
        values += [("query", k, v) for k, v in request.query_params.multi_items()]
        for where, name, value in values:
            if (where, name) in ints and _INTEGER.fullmatch(str(value)) and \
                    not INT64_MIN <= int(value) <= INT64_MAX:
                errors.append(FieldError(field=f"{where}.{name}", reason="integer out of range (beyond 64 bits)"))
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", "json"):
        body = await request.body()
        if body:
            try:
                # NaN and Infinity parse as floats so that `_check_json` names the field holding them
                document = json.loads(body)
            except RecursionError:
                errors.append(FieldError(field="body", reason=f"nested deeper than {MAX_DEPTH} levels"))
            except (ValueError, UnicodeDecodeError):
                document = None  # not JSON: the route's own parsing says so
            else:
                _check_json(document, "body", errors)
    if errors:
        detail = "; ".join(f"{e.field}: {e.reason}" for e in errors[:5])
        raise ProblemError(422, detail, errors=errors)


# ------------------------------------------------------------------ OpenAPI

PARAM_PATTERN = "^[^\\x00-\\x1F\\x7F]*$"
BODY_PATTERN = "^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]*$"


def _constrain(schema: Any, pattern: str, seen: set[int], components: dict[str, Any]) -> None:
    """Say in a JSON Schema what `check_input` enforces: strings without control characters, integers
    within int64. Referenced components are constrained too."""
    if isinstance(schema, list):
        for item in schema:
            _constrain(item, pattern, seen, components)
        return
    if not isinstance(schema, dict) or id(schema) in seen:
        return
    seen.add(id(schema))
    if isinstance(ref := schema.get("$ref"), str) and ref.startswith("#/components/schemas/"):
        _constrain(components.get(ref.rsplit("/", 1)[-1]), pattern, seen, components)
    kind = schema.get("type")
    if kind == "string" and not ({"pattern", "enum", "const", "format"} & schema.keys()):
        schema["pattern"] = pattern
    elif kind == "integer":
        schema.setdefault("minimum", INT64_MIN)
        schema.setdefault("maximum", INT64_MAX)
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "$defs", "definitions"):
            for sub in value.values() if isinstance(value, dict) else ():
                _constrain(sub, pattern, seen, components)
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "not", "prefixItems"):
            _constrain(value, pattern, seen, components)


def document(schema: dict[str, Any]) -> None:
    """Constrain every parameter and request body of an OpenAPI document, and the components they use."""
    components = schema.get("components", {}).get("schemas", {})
    seen: set[int] = set()
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                _constrain(parameter.get("schema"), PARAM_PATTERN, seen, components)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _constrain(media.get("schema"), BODY_PATTERN, seen, components)
