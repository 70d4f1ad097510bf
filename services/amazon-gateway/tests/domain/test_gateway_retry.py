import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from amazon_gateway.domain.retry import RetryPolicy, Verdict, classify, communication_error_fields, redact
from contracts.events import CommunicationError


@pytest.mark.parametrize(
    ("status", "error", "verdict"),
    [
        (429, None, Verdict.RETRY),
        (500, None, Verdict.RETRY),
        (503, None, Verdict.RETRY),
        (None, "timeout", Verdict.RETRY),
        (None, "connection_error", Verdict.RETRY),
        (400, None, Verdict.GIVE_UP),
        (401, None, Verdict.GIVE_UP),
        (403, "Unauthorized", Verdict.GIVE_UP),
        (404, None, Verdict.GIVE_UP),
        (400, "invalid_grant", Verdict.GIVE_UP),
        (400, "temporarily_unavailable", Verdict.RETRY),
        (200, None, Verdict.GIVE_UP),
    ],
)
def test_classify(status, error, verdict):
    assert classify(status, error) is verdict


def test_backoff_grows_then_caps():
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=8.0)

    class Top(random.Random):
        def uniform(self, a, b):
            return b

    assert [policy.backoff(n, Top()) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_next_delay_gives_up_after_max_attempts_or_on_a_final_error():
    policy = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=1.0)
    rng = random.Random(1)
    assert policy.next_delay(1, 429, None, rng) is not None
    assert policy.next_delay(2, None, "timeout", rng) is not None
    assert policy.next_delay(3, 503, None, rng) is None
    assert policy.next_delay(1, 400, None, rng) is None


def test_retry_after_is_a_floor_capped_by_max_delay():
    policy = RetryPolicy(max_attempts=5, base_delay=0.0, max_delay=10.0)
    rng = random.Random(2)
    assert policy.next_delay(1, 429, None, rng, retry_after=3.0) == 3.0
    assert policy.next_delay(1, 429, None, rng, retry_after=120.0) == 10.0


def test_same_seed_same_delays():
    policy = RetryPolicy()
    a = [policy.backoff(n, random.Random(7)) for n in range(1, 6)]
    b = [policy.backoff(n, random.Random(7)) for n in range(1, 6)]
    assert a == b


def test_invalid_policies():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=-1)
    with pytest.raises(ValueError):
        RetryPolicy().backoff(0, random.Random())


@settings(max_examples=300, deadline=None)
@given(
    base=st.floats(min_value=0, max_value=100),
    cap=st.floats(min_value=0, max_value=600),
    attempt=st.integers(min_value=1, max_value=5000),
    seed=st.integers(),
)
def test_backoff_stays_within_zero_and_max_delay(base, cap, attempt, seed):
    delay = RetryPolicy(max_attempts=10, base_delay=base, max_delay=cap).backoff(attempt, random.Random(seed))
    assert 0.0 <= delay <= cap


def test_communication_error_fields_fit_the_event():
    fields = communication_error_fields(
        operation="patchListingsItem", attempts=5, status=429, error_code="QuotaExceeded", message="You exceeded your quota"
    )
    event = CommunicationError.new(producer="amazon-gateway", system="amazon", account_id="a", **fields)
    assert (event.operation, event.code, event.message, event.attempts) == (
        "patchListingsItem",
        "QuotaExceeded",
        "You exceeded your quota",
        5,
    )
    assert communication_error_fields(operation="getOrders", attempts=1, status=503)["code"] == "503"
    assert communication_error_fields(operation="getOrders", attempts=0, status=None)["attempts"] == 1


def test_tokens_in_messages_are_redacted():
    text = (
        "bad request grant_type=refresh_token&refresh_token=Atzr|IwEBIabc123&client_secret=shh "
        'header x-amz-access-token: Atza|tok-en_1 {"client_secret": "amzn1.oa2-cs.v1.deadbeef"} '
        "restricted data token Atz.sprdt|AYABePut/6a4O88anSUCA=="
    )
    cleaned = redact(text)
    for secret in ("Atzr|IwEBIabc123", "shh", "Atza|tok-en_1", "amzn1.oa2-cs.v1.deadbeef", "AYABePut"):
        assert secret not in cleaned


secret_text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40)


@settings(max_examples=200, deadline=None)
@given(secret=secret_text, before=st.text(max_size=30), after=st.text(max_size=30), code_has_it=st.booleans())
def test_secrets_never_reach_communication_error_fields(secret, before, after, code_has_it):
    public = CommunicationError.new(
        producer="amazon-gateway", system="amazon", operation="createFeed", code="InvalidInput", message="[redacted]", attempts=3
    ).model_dump_json()
    assume(secret not in public)
    fields = communication_error_fields(
        operation="createFeed",
        attempts=3,
        status=400,
        error_code=f"E{secret}" if code_has_it else "InvalidInput",
        message=f"{before}{secret}{after}",
        secrets=(secret,),
    )
    event = CommunicationError.new(producer="amazon-gateway", system="amazon", **fields)
    assert secret not in event.model_dump_json()
    assert all(secret not in str(v) for v in fields.values())
