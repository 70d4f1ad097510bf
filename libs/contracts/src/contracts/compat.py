"""Is a new JSON Schema of an event backward compatible with the old one?

Backward compatible means: every message valid under the old schema is still valid under the
new one and still carries every field the old one described, so a consumer built on the new
schema can read everything already on the topic and everything not-yet-upgraded producers still
send. Breaking changes:

- a field removed;
- a field's type changed or narrowed (string -> integer, string|null -> string, number -> integer);
- a new required field without a default, or an optional field that became required;
- an enum value removed (or a const changed, or an enum added where any value was accepted);
- a constraint tightened or added: maxLength/maxItems/maximum lowered, minLength/minItems/minimum
  raised, pattern or format changed, multipleOf changed, uniqueItems added...;
- additionalProperties narrowed so that extra fields or map values old messages have are rejected.

Descriptions, titles, examples and defaults of optional fields are documentation: changing them
is compatible. `check_compatibility(old, new)` returns the problems as sentences, empty when the
change is compatible.

    python -m contracts.compat OLD.json NEW.json   # prints the problems, exit 1 if any
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
ANY = frozenset(JSON_TYPES)

_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_OBJECT_KEYS = ("properties", "additionalProperties", "required", "patternProperties",
                "minProperties", "maxProperties")
_ARRAY_KEYS = ("items", "prefixItems", "minItems", "maxItems", "uniqueItems")


def check_compatibility(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Problems that make `new` reject or lose what `old` allowed; empty if compatible."""
    return _Checker(old, new).compare(old, new, "", frozenset())


def is_compatible(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return not check_compatibility(old, new)


class _Checker:
    def __init__(self, old_root: Mapping[str, Any], new_root: Mapping[str, Any]) -> None:
        self.old_root = old_root
        self.new_root = new_root

    # ------------------------------------------------------------ structure

    def compare(self, old: Any, new: Any, path: str, seen: frozenset[tuple[str, str]]) -> list[str]:
        old_ref, new_ref = _ref_of(old), _ref_of(new)
        if old_ref and new_ref:
            if (old_ref, new_ref) in seen:  # recursive schema: this pair is already being compared
                return []
            seen = seen | {(old_ref, new_ref)}
        old_branches = _branches(_resolve(old, self.old_root), self.old_root)
        new_branches = _branches(_resolve(new, self.new_root), self.new_root)
        if any(_accepts_everything(b) for b in new_branches):
            return []

        problems: list[str] = []
        old_types = frozenset().union(*(_types(b) for b in old_branches))
        new_types = frozenset().union(*(_types(b) for b in new_branches))
        if not _covers(new_types, old_types):
            how = "narrowed" if _covers(old_types, new_types) else "changed"
            problems.append(f"{_where(path)}: type {how} from {_fmt_types(old_types)} to "
                            f"{_fmt_types(new_types)}")
        for branch in old_branches:
            candidates = [b for b in new_branches if _covers(_types(b), _types(branch))]
            if not candidates:
                continue  # reported as a type change above
            results = [self._branch(branch, c, path, seen) for c in candidates]
            best: list[str] = min(results, key=len)
            problems.extend(best)
        return _unique(problems)

    def _branch(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str,
                seen: frozenset[tuple[str, str]]) -> list[str]:
        where = _where(path)
        problems = self._values(old, new, where)
        problems += _constraints(old, new, where)
        if "object" in _types(old) or any(k in s for s in (old, new) for k in _OBJECT_KEYS):
            problems += self._object(old, new, path, seen)
        if "items" in new:
            problems += self.compare(old.get("items", {}), new["items"], f"{path}[]", seen)
        return problems

    def _values(self, old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> list[str]:
        old_values, new_values = _allowed_values(old), _allowed_values(new)
        if new_values is None:
            return []
        if old_values is None:
            return [f"{where}: now restricted to {_fmt_values(new_values)}, any value was accepted"]
        removed = [v for v in old_values if not _contains(new_values, v)]
        if not removed:
            return []
        noun = "value" if len(removed) == 1 else "values"
        return [f"{where}: enum {noun} {_fmt_values(removed)} removed"]

    def _object(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str,
                seen: frozenset[tuple[str, str]]) -> list[str]:
        problems: list[str] = []
        old_props: Mapping[str, Any] = old.get("properties", {})
        new_props: Mapping[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        new_extra = new.get("additionalProperties", True)

        for name, old_prop in old_props.items():
            sub = _join(path, name)
            if name not in new_props:
                problems.append(f"{_where(sub)}: field removed")
                continue
            problems += self.compare(old_prop, new_props[name], sub, seen)

        for name in sorted(new_required - old_required):
            prop = new_props.get(name, {})
            if _has_default(_resolve(prop, self.new_root)):
                continue
            if name in old_props:
                problems.append(f"{_where(_join(path, name))}: optional field became required "
                                "(old messages may lack it)")
            else:
                problems.append(
                    f"{_where(_join(path, name))}: new required field without a default"
                )

        # Fields the old schema did not name: old messages may carry them if it let extra ones in.
        old_extra = old.get("additionalProperties", True)
        if old_extra is not False:
            if new_extra is False:
                problems.append(f"{_where(path)}: additionalProperties is now false, so old "
                                "messages with extra fields are rejected")
            elif new_extra is not True and new_extra != {}:
                old_extra_schema = {} if old_extra is True else old_extra
                problems += self.compare(old_extra_schema, new_extra, _join(path, "*"), seen)
        return problems


def _resolve(node: Any, root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local `$ref`s (keeping sibling keywords) and merge `allOf`s into one dict."""
    if node is True:
        return {}
    if node is False:
        return {"not": {}}
    if not isinstance(node, Mapping):
        return {}
    hops = 0
    while "$ref" in node:
        target = _pointer(root, node["$ref"])
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **siblings}
        hops += 1
        if hops > 50:
            raise ValueError(f"$ref loop at {node.get('$ref')}")
    if "allOf" in node:
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            for key, value in _resolve(part, root).items():
                if key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                elif key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                else:
                    merged.setdefault(key, value)
        node = merged
    return dict(node)


# ---------------------------------------------------------------- helpers


def _branches(node: Mapping[str, Any], root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The alternatives a schema accepts: anyOf/oneOf flattened, a list of types split."""
    for key in ("anyOf", "oneOf"):
        if key in node:
            out: list[Mapping[str, Any]] = []
            shared = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            for sub in node[key]:
                out += _branches({**shared, **_resolve(sub, root)}, root)
            return out
    kind = node.get("type")
    if isinstance(kind, list):
        return [{**node, "type": t} for t in kind]
    return [node]


def _is_constraint_free(node: Mapping[str, Any]) -> bool:
    return all(k in _DOC_KEYS for k in node)


_DOC_KEYS = frozenset({"title", "description", "default", "examples", "$comment", "deprecated",
                       "readOnly", "writeOnly", "x-schema-version", "$schema", "$id", "$defs",
                       "definitions"})


def _accepts_everything(node: Mapping[str, Any]) -> bool:
    return _is_constraint_free(node)


def _types(node: Mapping[str, Any]) -> frozenset[str]:
    if node.get("not") == {}:
        return frozenset()
    kind = node.get("type")
    if isinstance(kind, str):
        return frozenset({kind})
    values = _allowed_values(node)
    if values is not None:
        return frozenset(_json_type(v) for v in values)
    if any(k in node for k in _OBJECT_KEYS):
        return frozenset({"object"})
    if any(k in node for k in _ARRAY_KEYS):
        return frozenset({"array"})
    return ANY


def _covers(new: frozenset[str], old: frozenset[str]) -> bool:
    """Does a schema accepting types `new` accept every value of types `old`?"""
    return all(t in new or (t == "integer" and "number" in new) for t in old)


def _allowed_values(node: Mapping[str, Any]) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    if "enum" in node:
        return list(node["enum"])
    return None


def _contains(values: list[Any], value: Any) -> bool:
    return any(_same(v, value) for v in values)


def _same(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a == b) or (
        isinstance(a, int | float) and isinstance(b, int | float)
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _has_default(node: Mapping[str, Any]) -> bool:
    return "default" in node


def _constraints(old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or _num(new[key]) < _num(old[key])):
            was = f"{old[key]!r}" if key in old else "none"
            problems.append(f"{where}: {key} tightened from {was} to {new[key]!r}")
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or _num(new[key]) > _num(old[key])):
            was = f"{old[key]!r}" if key in old else "none"
            problems.append(f"{where}: {key} tightened from {was} to {new[key]!r}")
    for key in ("pattern", "format"):
        if key in new and old.get(key) != new[key]:
            was = f"{old[key]!r}" if key in old else "none"
            problems.append(f"{where}: {key} changed from {was} to {new[key]!r}")
    if "multipleOf" in new:
        step = _num(new["multipleOf"])
        if "multipleOf" not in old or _num(old["multipleOf"]) % step:
            was = f"{old['multipleOf']!r}" if "multipleOf" in old else "none"
            problems.append(f"{where}: multipleOf changed from {was} to {new['multipleOf']!r}")
    if new.get("uniqueItems") and not old.get("uniqueItems"):
        problems.append(f"{where}: uniqueItems added")
    return problems


def _num(value: Any) -> float:
    return float(value)


def _pointer(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    if not isinstance(node, Mapping):
        raise TypeError(f"$ref {ref!r} does not point at a schema")
    return node


def _ref_of(node: Any) -> str | None:
    return node.get("$ref") if isinstance(node, Mapping) else None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _where(path: str) -> str:
    return path or "(root)"


def _fmt_types(types: frozenset[str]) -> str:
    if types == ANY:
        return "any type"
    if not types:
        return "nothing"
    return "|".join(sorted(types))


def _fmt_values(values: list[Any]) -> str:
    return ", ".join(json.dumps(v) for v in values)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m contracts.compat OLD.json NEW.json", file=sys.stderr)
        return 2
    old, new = (json.loads(Path(a).read_text(encoding="utf-8")) for a in args)
    problems = check_compatibility(old, new)
    for p in problems:
        print(p)
    if not problems:
        print("compatible")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
