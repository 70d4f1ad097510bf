"""Bytes on the wire <-> events, with errors that say what is wrong."""

from __future__ import annotations

import json
from collections.abc import Collection

from pydantic import ValidationError

from contracts.envelope import Event
from contracts.events import EVENTS_BY_TYPE

ENVELOPE_FIELDS = ("event_id", "event_type", "schema_version", "occurred_at", "producer",
                   "correlation_id")


_ENVELOPE = frozenset(ENVELOPE_FIELDS)


class InvalidEvent(ValueError):
    """A message that is not a valid event; `reason` is fit for a dead-letter header."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def encode(event: Event) -> bytes:
    """The event's JSON, as `model_dump_json` writes it, straight from pydantic-core as bytes."""
    return event.__pydantic_serializer__.to_json(event)


def decode(raw: bytes | None, expected: Collection[str] | None = None) -> Event:
    """Parse one message. `expected` limits the event types accepted (a topic's types)."""
    if raw is None:
        raise InvalidEvent("empty", "message has no value")
    if expected is not None and len(expected) == 1:
        # The common case, parsed straight from bytes; on any failure the slow path below
        # works out exactly what is wrong.
        (only,) = expected
        cls = EVENTS_BY_TYPE.get(only)
        if cls is not None:
            try:
                event = cls.model_validate_json(raw)
            except ValidationError:
                pass
            else:
                # Envelope fields with defaults (event_id, occurred_at...) must still be on the wire.
                if _ENVELOPE.issubset(event.model_fields_set):
                    return event
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent("malformed", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEvent("malformed", f"expected a JSON object, got {type(data).__name__}")
    missing = [f for f in ENVELOPE_FIELDS if f not in data]
    if missing:
        raise InvalidEvent("envelope", f"missing envelope field(s): {', '.join(missing)}")
    event_type = data["event_type"]
    cls = EVENTS_BY_TYPE.get(event_type) if isinstance(event_type, str) else None
    if cls is None:
        raise InvalidEvent("unknown_type", f"unknown event_type {event_type!r}")
    if expected is not None and event_type not in expected:
        raise InvalidEvent(
            "unexpected_type",
            f"event_type {event_type!r} does not belong on this topic "
            f"(expected {', '.join(sorted(expected))})",
        )
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent("invalid", _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
