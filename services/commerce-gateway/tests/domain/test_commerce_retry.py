"""Retry policy, paging and error messages: pure."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from commerce_gateway.domain import paging
from commerce_gateway.domain.retry import RetryPolicy, communication_error_fields, error_message, retryable


@pytest.mark.parametrize(("status", "expected"), [(None, True), (429, True), (500, True), (503, True),
                                                   (400, False), (401, False), (404, False)])
def test_what_is_retried(status: int | None, expected: bool) -> None:
    assert retryable(status) is expected


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    policy, rng = RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=4.0), random.Random(7)
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0)):
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays) and max(delays) > ceiling / 2


def test_gives_up_when_attempts_run_out_or_the_error_is_final() -> None:
    policy, rng = RetryPolicy(max_attempts=3), random.Random(1)
    assert policy.next_delay(1, 503, rng) is not None and policy.next_delay(3, 503, rng) is None
    assert policy.next_delay(1, 400, rng) is None
    assert policy.next_delay(1, 429, rng, retry_after=2.0) >= 2.0


def test_magento_error_message_is_kept_with_its_parameters() -> None:
    body = {"message": 'The "%fieldName" value is invalid: %1', "parameters": {"fieldName": "pageSize", "1": "x"}}
    assert error_message(body) == 'The "pageSize" value is invalid: x'
    assert error_message({"message": "No such entity with %1 = %2", "parameters": ["sku", "X"]}) == \
        "No such entity with sku = X"
    assert error_message({"message": '"%fieldName" is required.', "parameters": [{"fieldName": "sku"}]}) == \
        '"sku" is required.'
    assert error_message("nope") is None


def test_the_token_never_reaches_an_error() -> None:
    fields = communication_error_fields(operation="GET /V1/products", attempts=3, status=401,
                                        message="token s3cr3t-token rejected; Bearer s3cr3t-token",
                                        secrets=("s3cr3t-token",))
    assert "s3cr3t-token" not in str(fields) and fields["code"] == "401"


def test_paging_stops_on_total_count() -> None:
    assert paging.page_count(0, 300) == 0 and paging.page_count(300, 300) == 1 and paging.page_count(301, 300) == 2
    assert paging.is_last(2, 301, 300) and not paging.is_last(1, 301, 300)
    params = paging.search_criteria(page=2, page_size=300, filters=(("updated_at", "gt", "2024-01-01 00:00:00"),))
    assert params["searchCriteria[currentPage]"] == "2"
    assert params["searchCriteria[sortOrders][0][field]"] == "entity_id"
    assert params["searchCriteria[filterGroups][0][filters][0][conditionType]"] == "gt"
    assert paging.updated_since(datetime(2024, 1, 1, 0, 5, tzinfo=UTC), 300) == "2024-01-01 00:00:00"
