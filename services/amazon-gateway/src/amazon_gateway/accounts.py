"""Seller accounts from the environment: `AMAZON_ACCOUNTS` (JSON) or `AMAZON_ACCOUNTS_FILE` (a mounted secret)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter

from amazon_gateway.domain.lwa import LwaCredentials, Region


class AmazonAccount(BaseModel):
    """One seller authorization; its secrets are SecretStr, so never printed or logged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str = Field(min_length=1)
    seller_id: str = Field(min_length=1)
    region: Region
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    refresh_token: SecretStr
    marketplace_ids: list[str] = Field(default_factory=list)
    pii_role: bool = Field(default=False, description="The app holds Amazon's restricted role for buyer and "
                           "address data; without it orders carry no buyer PII")

    @property
    def credentials(self) -> LwaCredentials:
        return LwaCredentials(client_id=self.client_id, client_secret=self.client_secret,
                              refresh_token=self.refresh_token, region=self.region)


_ACCOUNTS = TypeAdapter(list[AmazonAccount])


def parse_accounts(text: str) -> dict[str, AmazonAccount]:
    accounts = _ACCOUNTS.validate_python(json.loads(text))
    return {a.account_id: a for a in accounts}


def load_accounts(inline: str | None, file: str | None) -> dict[str, AmazonAccount]:
    """Inline JSON wins over the file; neither means no accounts."""
    if inline:
        return parse_accounts(inline)
    if file:
        return parse_accounts(Path(file).read_text())
    return {}
