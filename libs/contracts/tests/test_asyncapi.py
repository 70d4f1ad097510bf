"""The committed AsyncAPI document covers every topic, dead-letter topic, event and service."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from contracts import encode, export
from contracts.events import ALL_EVENTS
from contracts.topics import ALL_TOPICS, TOPIC_FOR_EVENT

SERVICES_DIR = export.PACKAGE_DIR.parents[1] / "services"
EVENT_IDS = [cls.__name__ for cls in ALL_EVENTS]


@cache
def document() -> dict[str, Any]:
    return yaml.safe_load(export.ASYNCAPI_PATH.read_text(encoding="utf-8"))


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def operations() -> dict[str, dict[str, Any]]:
    return document()["operations"]


def ops_of(service: str, action: str, channel: str) -> list[dict[str, Any]]:
    return [op for op in operations().values()
            if op["x-service"] == service and op["action"] == action
            and op["channel"]["$ref"] == f"#/channels/{channel}"]


def test_document_parses_and_is_asyncapi_3() -> None:
    doc = document()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert export.ASYNCAPI_PATH.read_text(encoding="utf-8") == export.render_yaml(
        export.asyncapi_document()
    ), "asyncapi.yaml is out of date: run `make schemas`"


def test_every_ref_resolves() -> None:
    found = list(refs(document()))
    assert found
    for ref in found:
        resolve(ref)


@pytest.mark.parametrize("topic", ALL_TOPICS, ids=[t.name for t in ALL_TOPICS])
def test_a_channel_for_every_topic_and_its_dead_letter_topic(topic: Any) -> None:
    channels = {c["address"]: c for c in document()["channels"].values()}
    assert set(channels[topic.name]["messages"]) == topic.event_type_names
    assert set(channels[topic.dlq]["messages"]) == {"DeadLetter"}


def test_no_channel_without_a_topic() -> None:
    addresses = {c["address"] for c in document()["channels"].values()}
    assert addresses == {n for t in ALL_TOPICS for n in (t.name, t.dlq)}


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_every_event_is_a_message_with_its_payload_schema_and_key(cls: Any) -> None:
    name = cls.__name__
    message = document()["components"]["messages"][name]
    payload = resolve(message["payload"]["$ref"])
    assert payload["title"] == name
    assert payload["x-schema-version"] == cls.SCHEMA_VERSION
    assert payload["properties"]["event_type"]["const"] == name
    assert message["bindings"]["kafka"]["key"] == {
        "type": "string", "description": TOPIC_FOR_EVENT[cls].key_description,
    }
    assert message["contentType"] == "application/json"


@cache
def _samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "contracts_schema_samples", Path(__file__).with_name("test_schemas.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_encoded_events_validate_against_the_asyncapi_payload(cls: Any) -> None:
    samples = _samples()
    root = {"components": document()["components"], "$ref": f"#/components/schemas/{cls.__name__}"}
    validator = jsonschema.Draft202012Validator(root, format_checker=samples.FORMATS)
    for variant in (samples.FULL, samples.MINIMAL):
        instance = json.loads(encode(variant[cls]()))
        assert [e.message for e in validator.iter_errors(instance)] == []


def test_dead_letters_are_the_original_bytes_with_every_dlq_header_described() -> None:
    message = document()["components"]["messages"]["DeadLetter"]
    assert message["payload"]["type"] == "string"
    assert message["payload"]["format"] == "binary"
    headers = resolve(message["headers"]["$ref"])
    assert set(headers["properties"]) >= {
        "dlq.reason", "dlq.kind", "dlq.service", "dlq.topic", "dlq.partition", "dlq.offset",
        "dlq.error_type", "dlq.trace",
    }
    assert all(p["description"] for p in headers["properties"].values())


def test_operations_reference_messages_of_their_own_channel() -> None:
    for op_id, op in operations().items():
        channel = op["channel"]["$ref"]
        assert op["action"] in ("send", "receive"), op_id
        assert op["messages"], op_id
        for msg in op["messages"]:
            assert msg["$ref"].startswith(channel + "/messages/"), (op_id, msg)


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=EVENT_IDS)
def test_operations_follow_the_routes(cls: Any) -> None:
    topic = TOPIC_FOR_EVENT[cls]
    route = export.ROUTES[cls.__name__]
    ref = f"#/channels/{topic.name}/messages/{cls.__name__}"
    for action, services in (("send", route.producers), ("receive", route.consumers)):
        for service in services:
            ops = ops_of(service, action, topic.name)
            assert ops and any(m["$ref"] == ref for op in ops for m in op["messages"]), (
                f"{service} should {action} {cls.__name__} on {topic.name}"
            )
    senders = {op["x-service"] for op in operations().values() if op["action"] == "send"
               and any(m["$ref"] == ref for m in op["messages"])}
    assert senders == set(route.producers)
    for service in route.consumers:
        assert ops_of(service, "send", topic.dlq), f"{service} should dead-letter to {topic.dlq}"


def test_every_service_in_services_appears_in_some_operation() -> None:
    services = sorted(p.name for p in SERVICES_DIR.iterdir() if (p / "pyproject.toml").exists())
    assert services, f"no services found in {SERVICES_DIR}"
    assert sorted(export.SERVICES) == services
    in_operations = {op["x-service"] for op in operations().values()}
    assert set(services) <= in_operations
    for op in operations().values():
        assert op["tags"] == [{"name": op["x-service"]}]


def test_routes_cover_every_event_and_name_only_known_services() -> None:
    export.check_routes()
    assert set(export.ROUTES) == {cls.__name__ for cls in ALL_EVENTS}
