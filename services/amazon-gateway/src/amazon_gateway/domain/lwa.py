"""Login with Amazon: credentials that never show their secrets, and when to refresh the access token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Region = Literal["na", "eu", "fe"]

TOKEN_URL = "https://api.amazon.com/auth/o2/token"

SP_API_HOSTS: dict[str, str] = {
    "na": "sellingpartnerapi-na.amazon.com",
    "eu": "sellingpartnerapi-eu.amazon.com",
    "fe": "sellingpartnerapi-fe.amazon.com",
}

AWS_REGIONS: dict[str, str] = {"na": "us-east-1", "eu": "eu-west-1", "fe": "us-west-2"}


def sp_api_host(region: Region, *, sandbox: bool = False) -> str:
    host = SP_API_HOSTS[region]
    return f"sandbox.{host}" if sandbox else host


class LwaCredentials(BaseModel):
    """An SP-API application's LWA credentials for one seller account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1, description="LWA client id of the application")
    client_secret: SecretStr = Field(description="LWA client secret; never logged")
    refresh_token: SecretStr = Field(description="Seller's refresh token (Atzr|...); never logged")
    region: Region = Field(description="SP-API region: na, eu or fe")

    @property
    def host(self) -> str:
        return sp_api_host(self.region)

    def secrets(self) -> tuple[str, ...]:
        """The secret values, for redacting them from error messages."""
        return (self.client_secret.get_secret_value(), self.refresh_token.get_secret_value())


def refresh_token_form(credentials: LwaCredentials) -> dict[str, str]:
    """Form fields of the refresh_token grant sent to TOKEN_URL."""
    return {
        "grant_type": "refresh_token",
        "refresh_token": credentials.refresh_token.get_secret_value(),
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret.get_secret_value(),
    }


def client_credentials_form(credentials: LwaCredentials, scopes: list[str]) -> dict[str, str]:
    """Form fields of the client_credentials grant for grantless operations."""
    if not scopes:
        raise ValueError("a grantless token needs at least one scope")
    return {
        "grant_type": "client_credentials",
        "scope": " ".join(scopes),
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret.get_secret_value(),
    }


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float

    def __repr__(self) -> str:
        return f"AccessToken(value='**********', expires_at={self.expires_at!r})"

    __str__ = __repr__


class AccessTokenCache:
    """One access token per account, shared by every call of that account.

    Times are seconds on the caller's clock. A token is used until `margin_s` before it expires;
    after that `needs_refresh` says so and `get` returns None.
    """

    def __init__(self, margin_s: float = 60.0) -> None:
        if margin_s < 0:
            raise ValueError("margin must not be negative")
        self._margin = margin_s
        self._tokens: dict[str, AccessToken] = {}

    def store(self, account_id: str, access_token: str, expires_in_s: float, now: float) -> AccessToken:
        token = AccessToken(access_token, now + expires_in_s)
        self._tokens[account_id] = token
        return token

    def store_response(self, account_id: str, response: dict[str, object], now: float) -> AccessToken:
        """Store the body of a successful LWA token response."""
        value = response.get("access_token")
        expires_in = response.get("expires_in", 3600)
        if not isinstance(value, str) or not value or not isinstance(expires_in, int | float):
            raise ValueError("LWA response has no usable access_token/expires_in")
        return self.store(account_id, value, float(expires_in), now)

    def needs_refresh(self, account_id: str, now: float) -> bool:
        token = self._tokens.get(account_id)
        return token is None or now >= token.expires_at - self._margin

    def refresh_at(self, account_id: str) -> float | None:
        """When the account's token should be refreshed, None when there is none."""
        token = self._tokens.get(account_id)
        return None if token is None else token.expires_at - self._margin

    def get(self, account_id: str, now: float) -> str | None:
        if self.needs_refresh(account_id, now):
            return None
        return self._tokens[account_id].value

    def invalidate(self, account_id: str) -> None:
        """Forget the token, e.g. after Amazon answered 401/403 with it."""
        self._tokens.pop(account_id, None)
