"""Simulator configuration: seller accounts and timings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from amazon_sim.market import MarketSettings
from amazon_sim.marketplaces import MARKETPLACES
from amazon_sim.notifications import NotificationSettings


class Account(BaseModel):
    """One selling partner authorization: the LWA app credentials plus the seller's refresh token."""

    client_id: str
    client_secret: str
    refresh_token: str
    seller_id: str
    marketplaces: list[str] = Field(default_factory=lambda: ["ATVPDKIKX0DER"])
    store_name: str = "Simulated Store"
    # The app holds Amazon's restricted role for buyer PII: Restricted Data Tokens are granted to it.
    pii_role: bool = True

    def model_post_init(self, _context: object) -> None:
        unknown = [m for m in self.marketplaces if m not in MARKETPLACES]
        if unknown:
            raise ValueError(f"unknown marketplace ids: {unknown}")


DEFAULT_ACCOUNT = Account(
    client_id="amzn1.application-oa2-client.sim",
    client_secret="sim-secret",
    refresh_token="Atzr|sim-refresh-token",
    seller_id="A1SIMSELLER0001",
    marketplaces=["ATVPDKIKX0DER"],
)


class SimConfig(BaseModel):
    accounts: list[Account] = Field(default_factory=lambda: [DEFAULT_ACCOUNT.model_copy()])
    token_ttl_seconds: int = 3600
    # A feed waits this long IN_QUEUE, then this long IN_PROGRESS, then is applied and DONE.
    feed_queue_seconds: float = 0.5
    feed_processing_seconds: float = 0.5
    rate_limits_enabled: bool = True
    # Buyers place this many orders a minute against the sellers' listings (0: only orders made on demand);
    # a new order is Pending this long, and an Amazon-fulfilled one ships this long after payment.
    orders_per_minute: float = Field(0.0, ge=0)
    order_pending_seconds: float = Field(5.0, ge=0)
    afn_ship_seconds: float = Field(60.0, ge=0)
    # Competitor offers, their moves and the Buy Box; where notifications go (SQS and/or an HTTP push URL).
    market: MarketSettings = Field(default_factory=MarketSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    seed: int | None = None
