"""Whether a failed call to Amazon is worth another try, when, and what to report when it is not."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    RETRY = "retry"
    GIVE_UP = "give_up"


_LWA_TRANSIENT = frozenset({"temporarily_unavailable", "server_error"})


def classify(status: int | None, error: str | None) -> Verdict:
    """429, 5xx, timeouts and connection errors are retried; any other 4xx is final.

    `status` is the HTTP status, None when no response arrived (a timeout or connection error,
    named by `error`). Amazon's LWA `temporarily_unavailable` and `server_error` codes are
    transient even when they come with a 4xx.
    """
    if status is None:
        return Verdict.RETRY
    if status == 429 or status >= 500:
        return Verdict.RETRY
    if status >= 400 and error in _LWA_TRANSIENT:
        return Verdict.RETRY
    return Verdict.GIVE_UP


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

    def next_delay(
        self,
        attempt: int,
        status: int | None,
        error: str | None,
        rng: random.Random,
        *,
        retry_after: float | None = None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None when it is time to give up.

        `retry_after` (e.g. what the rate limiter says) is a floor, capped by max_delay.
        """
        if attempt >= self.max_attempts or classify(status, error) is Verdict.GIVE_UP:
            return None
        delay = self.backoff(attempt, rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay


_SECRET_PATTERNS = (
    re.compile(r"Atz(?:[ar]|\.sprdt)\|[^\s\"'&,;]+"),
    re.compile(r"amzn1\.oa2-cs\.v1\.[^\s\"'&,;]+"),
    re.compile(
        r"(?i)((?:client_secret|refresh_token|access_token|x-amz-access-token|authorization)\"?\s*[:=]\s*\"?)"
        r"[^\s\"'&,;]+"
    ),
)
REDACTED = "[redacted]"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove LWA tokens, Restricted Data Tokens, client secrets and the given literal secrets from a message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


def communication_error_fields(
    *,
    operation: str,
    attempts: int,
    status: int | None,
    error_code: str | None = None,
    message: str | None = None,
    secrets: tuple[str, ...] = (),
) -> dict[str, object]:
    """The operation, code, message and attempts of a CommunicationError, with secrets redacted.

    The code is Amazon's error code when the body had one, else the HTTP status, else the
    transport error's name.
    """
    if error_code:
        code = error_code
    elif status is not None:
        code = str(status)
    else:
        code = "no_response"
    text = message or (f"HTTP {status}" if status is not None else "no response")
    return {
        "operation": operation,
        "code": redact(code, secrets),
        "message": redact(text, secrets),
        "attempts": max(1, attempts),
    }
