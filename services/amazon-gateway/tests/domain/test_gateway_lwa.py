import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from amazon_gateway.domain.lwa import (
    TOKEN_URL,
    AccessTokenCache,
    LwaCredentials,
    client_credentials_form,
    refresh_token_form,
    sp_api_host,
)


def credentials(secret="s3cret-client", refresh="Atzr|refresh-token", region="eu"):
    return LwaCredentials(client_id="amzn1.application-oa2-client.x", client_secret=secret, refresh_token=refresh, region=region)


def test_hosts_per_region():
    assert sp_api_host("na") == "sellingpartnerapi-na.amazon.com"
    assert sp_api_host("eu") == "sellingpartnerapi-eu.amazon.com"
    assert sp_api_host("fe", sandbox=True) == "sandbox.sellingpartnerapi-fe.amazon.com"
    assert credentials(region="na").host == "sellingpartnerapi-na.amazon.com"
    assert TOKEN_URL == "https://api.amazon.com/auth/o2/token"


def test_unknown_region_is_refused():
    with pytest.raises(ValidationError):
        credentials(region="us")


def test_refresh_token_form():
    assert refresh_token_form(credentials()) == {
        "grant_type": "refresh_token",
        "refresh_token": "Atzr|refresh-token",
        "client_id": "amzn1.application-oa2-client.x",
        "client_secret": "s3cret-client",
    }


def test_client_credentials_form_joins_scopes():
    form = client_credentials_form(credentials(), ["sellingpartnerapi::notifications", "sellingpartnerapi::migration"])
    assert form["scope"] == "sellingpartnerapi::notifications sellingpartnerapi::migration"
    assert form["grant_type"] == "client_credentials"
    with pytest.raises(ValueError):
        client_credentials_form(credentials(), [])


def test_token_is_refreshed_a_margin_before_expiry():
    cache = AccessTokenCache()
    assert cache.needs_refresh("acct", 0.0)
    cache.store_response("acct", {"access_token": "Atza|one", "token_type": "bearer", "expires_in": 3600}, now=100.0)
    assert cache.get("acct", 100.0) == "Atza|one"
    assert cache.get("acct", 3639.9) == "Atza|one"
    assert cache.needs_refresh("acct", 3640.0)
    assert cache.get("acct", 3640.0) is None
    assert cache.refresh_at("acct") == 3640.0


def test_one_token_per_account_shared_by_all_calls():
    cache = AccessTokenCache(margin_s=30)
    cache.store("a", "Atza|a", 3600, now=0)
    cache.store("b", "Atza|b", 60, now=0)
    assert cache.get("a", 40) == "Atza|a"
    assert cache.get("b", 40) is None
    cache.invalidate("a")
    assert cache.needs_refresh("a", 41)


def test_bad_token_responses_are_refused():
    with pytest.raises(ValueError):
        AccessTokenCache().store_response("a", {"error": "invalid_grant"}, now=0)


def test_stored_token_repr_hides_the_value():
    token = AccessTokenCache().store("a", "Atza|very-secret", 3600, now=0)
    assert "very-secret" not in repr(token) and "very-secret" not in str(token)


def _shown(creds):
    return [
        repr(creds),
        str(creds),
        json.dumps(creds.model_dump(mode="json")),
        creds.model_dump_json(),
        repr(creds.model_dump()),
    ]


secret_text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=6, max_size=40)


@settings(max_examples=100, deadline=None)
@given(client_secret=secret_text, refresh=secret_text)
def test_secrets_never_shown(client_secret, refresh):
    creds = credentials(client_secret, "Atzr|" + refresh)
    shown = _shown(creds)
    public = " ".join(_shown(credentials("-", "-")))
    assume(client_secret not in public and "Atzr|" + refresh not in public)
    for text in shown:
        assert client_secret not in text
        assert "Atzr|" + refresh not in text
    assert creds.client_secret.get_secret_value() == client_secret
