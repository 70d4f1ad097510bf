import json
import logging

import structlog

from servicekit.logging import REDACTED, configure_logging, redact_secrets, redact_value


def test_secret_keys_and_values_are_redacted() -> None:
    out = redact_secrets(None, "info", {
        "event": "token_refreshed",
        "refresh_token": "Atzr|IwEBIA-secret",
        "client_secret": "amzn1.oa2-cs.v1.abcdef",
        "authorization": "Bearer abc.def",
        "detail": "POST failed with Atzr|IwEBIA-secret inside and amzn1.oa2-cs.v1.zzz too",
        "dsn": "postgresql://app:hunter2@db:5432/x",
        "sku": "24-MB01",
    })
    assert out["refresh_token"] == out["client_secret"] == out["authorization"] == REDACTED
    assert "Atzr" not in out["detail"] and "amzn1.oa2-cs" not in out["detail"]
    assert "hunter2" not in out["dsn"]
    assert out["sku"] == "24-MB01" and out["event"] == "token_refreshed"


def test_amazon_access_and_restricted_data_tokens_in_text() -> None:
    text = redact_value("getOrders with Atza|IwEBIJ-access/x+y= and Atz.sprdt|AYABeP-ut/6a4O88=, then Atzr|IwE-r")
    assert "Atz" not in text and "IwEB" not in text and "AYABe" not in text
    assert text.count(REDACTED) == 3 and text.startswith("getOrders with ")


def test_bearer_tokens_in_text() -> None:
    assert "abc123" not in redact_value("Authorization: Bearer abc123")


def test_logs_are_json_lines_with_bound_context(capsys) -> None:
    configure_logging("test-svc", "INFO")
    try:
        with structlog.contextvars.bound_contextvars(event_id="e-1", correlation_id="c-1"):
            structlog.get_logger().info("handled", lwa_refresh_token="Atzr|x")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
        structlog.contextvars.clear_contextvars()
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == "handled" and line["service"] == "test-svc"
    assert line["event_id"] == "e-1" and line["correlation_id"] == "c-1"
    assert line["lwa_refresh_token"] == REDACTED
