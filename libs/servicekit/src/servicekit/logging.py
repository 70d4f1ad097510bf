"""structlog JSON logs; secrets never reach the output."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_SECRET_KEY = re.compile(r"secret|token|password|passwd|authorization|api[_-]?key|credential", re.I)
_SECRET_VALUE = re.compile(
    r"(Atz(?:[ar]|\.sprdt)\|[\w\-|.~+/=]+|amzn1\.oa2-cs\.v1\.[\w]+|Bearer\s+[\w\-.~+/]+=*|://[^:/\s]+:[^@\s]+@"
    r"|sck_[\w\-]{16,}|eyJ[\w\-]+\.eyJ[\w\-]+\.[\w\-]*)"
)
REDACTED = "[redacted]"


def redact_value(value: str) -> str:
    return _SECRET_VALUE.sub(
        lambda m: "://[redacted]@" if m.group(0).startswith("://") else REDACTED, value
    )


def _redact(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_value(value)
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _redact(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v, depth + 1) for v in value]
    return value


def redact_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Values under secret-sounding keys, and secrets found inside any string, at any depth
    (tracebacks included)."""
    for key, value in list(event_dict.items()):
        if _SECRET_KEY.search(key) and key not in ("event",):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(value)
    return event_dict


# Tracebacks as structured data in the line itself (`exception`: type, message, frames), without
# the frames' local variables, which may hold credentials.
render_exceptions = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False, max_frames=30)
)


def configure_logging(service: str, level: str = "INFO") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            render_exceptions,
            redact_secrets,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through stdlib logging: route warnings and errors through the same renderer.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                render_exceptions,
                redact_secrets,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))


def get_logger(**bound: Any) -> Any:
    """A lazy logger: safe at import time, configured by `configure_logging` when it runs."""
    return structlog.get_logger(**bound)


def event_context(event: Any) -> Any:
    """Bind an event's ids to every log line inside the `with` block."""
    return structlog.contextvars.bound_contextvars(
        event_id=str(event.event_id), correlation_id=str(event.correlation_id),
        event_type=event.event_type,
    )
