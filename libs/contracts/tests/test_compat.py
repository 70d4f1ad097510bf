"""The compatibility checker, and the guard that keeps every event's schema compatible."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from contracts import compat, export
from contracts.compat import check_compatibility
from contracts.envelope import Event
from contracts.events import ALL_EVENTS, ProductChanged

# A small event-like schema in the shape pydantic writes: $defs, $ref with siblings, anyOf for
# nullable fields, enums, a map and an array of objects.
BASE: dict[str, Any] = {
    "$defs": {
        "Money": {
            "properties": {
                "amount": {"type": "string", "description": "Decimal as text"},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            },
            "required": ["amount", "currency"],
            "type": "object",
        },
        "Status": {"enum": ["enabled", "disabled"], "type": "string"},
        "Line": {
            "additionalProperties": False,
            "properties": {
                "sku": {"type": "string", "maxLength": 40},
                "quantity": {"type": "integer", "minimum": 0},
            },
            "required": ["sku", "quantity"],
            "type": "object",
        },
    },
    "additionalProperties": False,
    "properties": {
        "event_type": {"const": "Thing", "default": "Thing", "type": "string"},
        "sku": {"type": "string", "minLength": 1, "maxLength": 64, "title": "Sku"},
        "name": {"type": "string"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "status": {"$ref": "#/$defs/Status", "description": "Product status"},
        "price": {"$ref": "#/$defs/Money"},
        "quantity": {"type": "integer", "minimum": 0},
        "weight": {"type": "number"},
        "attributes": {"additionalProperties": {"type": "string"}, "type": "object"},
        "lines": {"items": {"$ref": "#/$defs/Line"}, "type": "array"},
        "happened_at": {"type": "string", "format": "date-time"},
    },
    "required": ["event_type", "sku", "name", "status", "price", "quantity", "lines"],
    "title": "Thing",
    "type": "object",
    "x-schema-version": 1,
}


def changed(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    new = copy.deepcopy(BASE)
    edit(new)
    return new


def props(s: dict[str, Any]) -> dict[str, Any]:
    return s["properties"]


def defs(s: dict[str, Any]) -> dict[str, Any]:
    return s["$defs"]


COMPATIBLE: dict[str, Callable[[dict[str, Any]], object]] = {
    "nothing changed": lambda s: None,
    "descriptions and titles changed": lambda s: (
        props(s)["sku"].update(title="SKU", description="The seller SKU"),
        s.update(title="Renamed", description="new words"),
    ),
    "optional field added": lambda s: props(s).update(colour={"type": "string", "default": "red"}),
    "optional nullable field added": lambda s: props(s).update(
        asin={"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    ),
    "required field added with a default": lambda s: (
        props(s).update(store={"type": "string", "default": "default"}),
        s["required"].append("store"),
    ),
    "required field made optional": lambda s: s["required"].remove("name"),
    "type widened to nullable": lambda s: props(s).update(
        name={"anyOf": [{"type": "string"}, {"type": "null"}]}
    ),
    "integer widened to number": lambda s: props(s)["quantity"].update(type="number"),
    "enum value added": lambda s: defs(s)["Status"]["enum"].append("archived"),
    "maxLength raised": lambda s: props(s)["sku"].update(maxLength=100),
    "maxLength dropped": lambda s: props(s)["sku"].pop("maxLength"),
    "minimum lowered": lambda s: props(s)["quantity"].update(minimum=-10),
    "pattern dropped": lambda s: defs(s)["Money"]["properties"]["currency"].pop("pattern"),
    "format dropped": lambda s: props(s)["happened_at"].pop("format"),
    "additionalProperties false dropped": lambda s: s.pop("additionalProperties"),
    "nested optional field added": lambda s: defs(s)["Line"]["properties"].update(
        note={"type": "string", "default": ""}
    ),
    "$ref replaced by an identical inline schema": lambda s: props(s).update(
        status={"enum": ["enabled", "disabled"], "type": "string"}
    ),
}

INCOMPATIBLE: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "field removed": (
        lambda s: (props(s).pop("name"), s["required"].remove("name")),
        "name: field removed",
    ),
    "optional field removed": (lambda s: props(s).pop("note"), "note: field removed"),
    "nested field removed": (
        lambda s: defs(s)["Line"]["properties"].pop("quantity"),
        "lines[].quantity: field removed",
    ),
    "type changed": (
        lambda s: props(s)["name"].update(type="integer"),
        "name: type changed from string to integer",
    ),
    "type narrowed from nullable": (
        lambda s: props(s).update(note={"type": "string", "default": ""}),
        "note: type narrowed from null|string to string",
    ),
    "number narrowed to integer": (
        lambda s: props(s)["weight"].update(type="integer"),
        "weight: type narrowed from number to integer",
    ),
    "object became string": (
        lambda s: props(s).update(price={"type": "string"}),
        "price: type changed from object to string",
    ),
    "nested type changed through $ref": (
        lambda s: defs(s)["Money"]["properties"]["amount"].update(type="number"),
        "price.amount: type changed from string to number",
    ),
    "array items narrowed": (
        lambda s: defs(s)["Line"]["properties"]["sku"].update(maxLength=20),
        "lines[].sku: maxLength tightened from 40 to 20",
    ),
    "map values changed": (
        lambda s: props(s)["attributes"].update(additionalProperties={"type": "integer"}),
        "attributes.*: type changed from string to integer",
    ),
    "new required field without a default": (
        lambda s: (props(s).update(asin={"type": "string"}), s["required"].append("asin")),
        "asin: new required field without a default",
    ),
    "optional field became required": (
        lambda s: s["required"].append("weight"),
        "weight: optional field became required",
    ),
    "enum value removed": (
        lambda s: defs(s)["Status"]["enum"].remove("disabled"),
        'status: enum value "disabled" removed',
    ),
    "const changed": (
        lambda s: props(s)["event_type"].update(const="Other", default="Other"),
        'event_type: enum value "Thing" removed',
    ),
    "enum added to a free string": (
        lambda s: props(s)["name"].update(enum=["a", "b"]),
        "name: now restricted to",
    ),
    "maxLength lowered": (
        lambda s: props(s)["sku"].update(maxLength=40),
        "sku: maxLength tightened from 64 to 40",
    ),
    "maxLength added": (
        lambda s: props(s)["name"].update(maxLength=255),
        "name: maxLength tightened from none to 255",
    ),
    "minLength raised": (
        lambda s: props(s)["sku"].update(minLength=3),
        "sku: minLength tightened from 1 to 3",
    ),
    "minimum raised": (
        lambda s: props(s)["quantity"].update(minimum=1),
        "quantity: minimum tightened from 0 to 1",
    ),
    "maximum added": (
        lambda s: props(s)["quantity"].update(maximum=1000),
        "quantity: maximum tightened from none to 1000",
    ),
    "exclusiveMinimum added": (
        lambda s: props(s)["weight"].update(exclusiveMinimum=0),
        "weight: exclusiveMinimum tightened from none to 0",
    ),
    "pattern changed": (
        lambda s: defs(s)["Money"]["properties"]["currency"].update(pattern="^[A-Z]{2}$"),
        "price.currency: pattern changed from '^[A-Z]{3}$' to '^[A-Z]{2}$'",
    ),
    "pattern added": (
        lambda s: props(s)["name"].update(pattern="^[a-z]+$"),
        "name: pattern changed from none to '^[a-z]+$'",
    ),
    "format added": (
        lambda s: props(s)["name"].update(format="email"),
        "name: format changed from none to 'email'",
    ),
    "maxItems added": (
        lambda s: props(s)["lines"].update(maxItems=10),
        "lines: maxItems tightened from none to 10",
    ),
    "uniqueItems added": (
        lambda s: props(s)["lines"].update(uniqueItems=True),
        "lines: uniqueItems added",
    ),
    "extra fields no longer allowed": (
        lambda s: defs(s)["Money"].update(additionalProperties=False),
        "price: additionalProperties is now false",
    ),
}


def test_identical_schemas_are_compatible() -> None:
    assert check_compatibility(BASE, copy.deepcopy(BASE)) == []


@pytest.mark.parametrize("name", COMPATIBLE)
def test_compatible_change(name: str) -> None:
    assert check_compatibility(BASE, changed(COMPATIBLE[name])) == []


@pytest.mark.parametrize("name", INCOMPATIBLE)
def test_incompatible_change_is_reported(name: str) -> None:
    edit, expected = INCOMPATIBLE[name]
    problems = check_compatibility(BASE, changed(edit))
    assert any(p.startswith(expected) for p in problems), problems
    assert not compat.is_compatible(BASE, changed(edit))


def test_every_problem_is_reported_not_just_the_first() -> None:
    def many(s: dict[str, Any]) -> None:
        props(s).pop("weight")
        props(s)["sku"]["maxLength"] = 10
        defs(s)["Status"]["enum"] = ["enabled"]

    problems = check_compatibility(BASE, changed(many))
    assert len(problems) == 3, problems


def test_widening_then_narrowing_back_is_caught_in_that_direction_only() -> None:
    wide = changed(COMPATIBLE["type widened to nullable"])
    assert check_compatibility(BASE, wide) == []
    assert check_compatibility(wide, BASE) == ["name: type narrowed from null|string to string"]


def test_type_lists_are_understood_like_anyof() -> None:
    old = {"type": "object", "properties": {"a": {"type": ["string", "null"]}}}
    new = {"type": "object", "properties": {"a": {"anyOf": [{"type": "null"}, {"type": "string"}]}}}
    assert check_compatibility(old, new) == []
    assert check_compatibility(new, {"type": "object", "properties": {"a": {"type": "string"}}})


def test_a_field_accepting_anything_can_take_any_schema_afterwards_only_by_narrowing() -> None:
    old = {"type": "object", "properties": {"a": {}}}
    new = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert check_compatibility(old, new) == ["a: type narrowed from any type to string"]
    assert check_compatibility(new, old) == []


def test_recursive_schemas_terminate() -> None:
    tree = {
        "$defs": {"Node": {"type": "object", "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
        }}},
        "$ref": "#/$defs/Node",
    }
    narrowed = copy.deepcopy(tree)
    narrowed["$defs"]["Node"]["properties"]["name"]["maxLength"] = 5
    assert check_compatibility(tree, tree) == []
    assert check_compatibility(tree, narrowed) == ["name: maxLength tightened from none to 5"]


def test_a_real_event_schema_against_itself_and_a_broken_copy() -> None:
    schema = export.event_schema(ProductChanged)
    assert check_compatibility(schema, copy.deepcopy(schema)) == []
    broken = copy.deepcopy(schema)
    broken["properties"]["quantity"]["minimum"] = 1
    broken["$defs"]["ProductStatus"]["enum"].remove("disabled")
    del broken["properties"]["attributes"]
    assert sorted(check_compatibility(schema, broken)) == [
        "attributes: field removed",
        "quantity: minimum tightened from 0 to 1",
        'status: enum value "disabled" removed',
    ]


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(BASE))
    new.write_text(json.dumps(changed(INCOMPATIBLE["maxLength lowered"][0])))
    assert compat.main([str(old), str(new)]) == 1
    assert "sku: maxLength tightened from 64 to 40" in capsys.readouterr().out
    assert compat.main([str(old), str(old)]) == 0


# ---------------------------------------------------------------- the guard


EVENT_IDS = [cls.__name__ for cls in ALL_EVENTS]


def _report(cls: type[Event], against: str, version: int, problems: list[str]) -> str:
    return (
        f"{cls.__name__} changed incompatibly with {against} (x-schema-version {version}) but "
        f"{cls.__name__}.SCHEMA_VERSION is still {cls.SCHEMA_VERSION}:\n  - "
        + "\n  - ".join(problems)
        + "\nMake the change compatible (add fields with defaults, widen, never remove), or raise "
        "SCHEMA_VERSION and follow 'Changing an event' in libs/contracts/README.md."
    )


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_event_changes_are_compatible_with_the_committed_schema_or_versioned(
    cls: type[Event],
) -> None:
    path = export.SCHEMA_DIR / f"{cls.__name__}.json"
    if not path.exists():
        return  # a new event: nothing was published under an older schema
    old = json.loads(path.read_text(encoding="utf-8"))
    old_version = int(old["x-schema-version"])
    assert cls.SCHEMA_VERSION >= old_version, (
        f"{cls.__name__}.SCHEMA_VERSION went down from {old_version} to {cls.SCHEMA_VERSION}"
    )
    problems = check_compatibility(old, export.event_schema(cls))
    if problems and cls.SCHEMA_VERSION <= old_version:
        pytest.fail(_report(cls, f"libs/contracts/schemas/{path.name}", old_version, problems))


def _git(*args: str, cwd: Path = export.PACKAGE_DIR) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


@cache
def _history() -> dict[str, list[tuple[str, dict[str, Any]]]] | None:
    """Every committed version of every schema file: event name -> [(commit, schema)]."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None:
        return None
    root = Path(top.strip()).resolve()
    folder = export.SCHEMA_DIR.resolve().relative_to(root).as_posix()
    log = _git("log", "--format=%H", "--", folder, cwd=root)
    if log is None:
        return None
    history: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    seen: set[str] = set()
    for commit in log.split():
        listing = _git("ls-tree", f"{commit}:{folder}", cwd=root)
        for line in (listing or "").splitlines():
            meta, name = line.split("\t", 1)  # "<mode> blob <sha>\t<name>"
            blob = meta.split()[2]
            if not name.endswith(".json") or blob in seen:
                continue
            seen.add(blob)
            text = _git("cat-file", "blob", blob, cwd=root)
            if text is not None:
                history.setdefault(name.removesuffix(".json"), []).append(
                    (commit[:12], json.loads(text))
                )
    return history


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_event_stays_compatible_with_every_committed_schema_of_its_version(
    cls: type[Event],
) -> None:
    """Regenerating and committing the files must not launder a break: every schema of this
    SCHEMA_VERSION ever committed must still be satisfied."""
    history = _history()
    if history is None:
        pytest.skip("no git history of libs/contracts/schemas here")
    new = export.event_schema(cls)
    for commit, old in history.get(cls.__name__, []):
        old_version = int(old.get("x-schema-version", 0))
        assert cls.SCHEMA_VERSION >= old_version, (
            f"{cls.__name__}.SCHEMA_VERSION {cls.SCHEMA_VERSION} is below the "
            f"{old_version} committed in {commit}"
        )
        if old_version == cls.SCHEMA_VERSION:
            problems = check_compatibility(old, new)
            if problems:
                where = f"the schema committed in {commit}"
                pytest.fail(_report(cls, where, old_version, problems))
