"""Whether a failed call to Commerce is worth another try, when, and what to report when it is not."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any


def retryable(status: int | None) -> bool:
    """429, 5xx, timeouts and connection errors (no status) are retried; any other 4xx is final."""
    return status is None or status == 429 or status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(attempt-1))] after attempt `attempt`."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        return rng.uniform(0.0, ceiling)

    def next_delay(self, attempt: int, status: int | None, rng: random.Random,
                   retry_after: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when it is time to give up.

        A `Retry-After` the server sent is a floor, capped by max_delay.
        """
        if attempt >= self.max_attempts or not retryable(status):
            return None
        delay = self.backoff(attempt, rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay


_PLACEHOLDER = re.compile(r"%(\w+)")


def error_message(body: Any) -> str | None:
    """Commerce's `error-response` message with its `%1` / `%fieldName` placeholders filled from `parameters`."""
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return None
    message: str = body["message"]
    parameters = body.get("parameters")
    if isinstance(parameters, list):  # Commerce's positional list, or the model's list of named objects
        named = {str(i + 1): v for i, v in enumerate(parameters)}
        for item in parameters:
            if isinstance(item, dict):
                named.update({str(k): v for k, v in item.items()})
    elif isinstance(parameters, dict):
        named = {str(k): v for k, v in parameters.items()}
    else:
        named = {}
    return _PLACEHOLDER.sub(lambda m: str(named[m.group(1)]) if m.group(1) in named and not isinstance(
        named[m.group(1)], dict | list) else m.group(0), message)


REDACTED = "[redacted]"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return re.sub(r"(?i)(bearer\s+)\S+", lambda m: m.group(1) + REDACTED, text)


def communication_error_fields(*, operation: str, attempts: int, status: int | None, message: str | None,
                               transport_error: str | None = None, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """The operation, code, message and attempts of a CommunicationError, with secrets removed.

    The code is the HTTP status, else the transport error's name.
    """
    code = str(status) if status is not None else (transport_error or "no_response")
    text = message or (f"HTTP {status}" if status is not None else "no response")
    return {"operation": operation, "code": redact(code, secrets), "message": redact(text, secrets)[:2000],
            "attempts": max(1, attempts)}
