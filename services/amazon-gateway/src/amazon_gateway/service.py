"""amazon-gateway: the platform's only SP-API client.

Outbound listings: ListingUpdateRequested in (stored in `pending_updates`), sent to Amazon by a
background sender, ListingUpdateResult or CommunicationError out. `POST /replay` puts failed
rows back to pending.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import httpx
from fastapi import APIRouter, Query
from pydantic import Field, SecretStr

from amazon_gateway import listing_import, marketplaces, notifications, orders_in, orders_out, outbound
from amazon_gateway.accounts import AmazonAccount, load_accounts
from amazon_gateway.client import SpApiClient
from amazon_gateway.domain.orders import ORDER_USAGE_PLANS
from amazon_gateway.domain.rate_limit import PUBLISHED_USAGE_PLANS, RateLimits
from amazon_gateway.domain.retry import RetryPolicy
from contracts import topics
from servicekit import Service, ServiceSettings, audit
from servicekit.auth import Principal, Scope, requires

SERVICE = "amazon-gateway"


class Settings(ServiceSettings):
    http_port: int = 8105
    amazon_accounts: SecretStr | None = Field(
        default=None, description="JSON list of {account_id, seller_id, region, client_id, client_secret, "
        "refresh_token, marketplace_ids}")
    amazon_accounts_file: str | None = Field(default=None, description="Path of a file holding that JSON")
    amazon_api_base_url: str | None = Field(
        default=None, description="SP-API base URL for every region (a simulator); default the regional host")
    amazon_lwa_url: str | None = Field(default=None, description="LWA token URL; default Amazon's")
    amazon_timeout_s: float = Field(default=30.0, gt=0)
    amazon_max_attempts: int = Field(default=5, ge=1)
    amazon_retry_base_delay_s: float = Field(default=0.5, ge=0)
    amazon_retry_max_delay_s: float = Field(default=30.0, ge=0)
    sender_batch_size: int = Field(default=200, ge=1)
    sender_concurrency: int = Field(default=8, ge=1)
    sender_idle_s: float = Field(default=0.25, gt=0)
    verify_attempts: int = Field(default=3, ge=1, description="Sends per update while Amazon accepts but "
                                 "getListingsItem shows it unapplied")
    verify_delay_s: float = Field(default=1.0, ge=0, description="Wait between a write and its check")
    feed_backlog_threshold: int = Field(default=200, ge=0, description="Listings waiting beyond which non-urgent "
                                        "updates go as a JSON_LISTINGS_FEED instead of one call each")
    feed_messages: int = Field(default=10_000, ge=1, le=25_000, description="Messages per feed")
    feed_linger_s: float = Field(default=2.0, ge=0, description="Quiet time a growing backlog waits for before "
                                 "it becomes a feed, so one burst makes one feed")
    feed_max_wait_s: float = Field(default=30.0, ge=0, description="Longest a backlog waits for a burst to end")
    feed_max_open: int = Field(default=5, ge=1, description="Feeds in flight at once (Amazon allows 5 per 5 min)")
    feed_poll_s: float = Field(default=30.0, gt=0, description="First wait before getFeed; it grows by half each time")
    feed_poll_max_s: float = Field(default=300.0, gt=0, description="Longest wait between getFeed calls")
    sender_lease_s: float = Field(default=60.0, gt=0, description="A claim not renewed this long (its sender "
                                  "died) is taken back: rows go back to pending, feeds are adopted")
    notifications_sqs_queue_url: str | None = Field(
        default=None, description="SQS queue Amazon delivers notifications to; unset: push (POST /notifications) only")
    notifications_sqs_region: str = Field(default="us-east-1", description="AWS region of that queue")
    notifications_sqs_endpoint_url: str | None = Field(
        default=None, description="SQS endpoint; default AWS's (set for an SQS-compatible server)")
    notifications_sqs_access_key_id: str | None = Field(
        default=None, description="AWS key id; unset: the AWS default credential chain")
    notifications_sqs_secret_access_key: SecretStr | None = None
    notifications_sqs_wait_s: int = Field(default=20, ge=0, le=20, description="Long-poll wait per receive")
    notifications_sqs_visibility_timeout_s: int = Field(
        default=60, ge=0, description="How long a received message stays hidden before it is delivered again")

    marketplaces_refresh_s: float = Field(default=3600.0, gt=0, description="Seconds between reads of each "
                                          "account's marketplaces from the Sellers API")
    marketplaces_retry_s: float = Field(default=60.0, gt=0, description="Wait before reading them again after a "
                                        "failed read")

    order_poll_enabled: bool = Field(default=True, description="Poll getOrders (the backup for ORDER_CHANGE)")
    order_poll_interval_s: float = Field(default=120.0, gt=0, description="Seconds between polls of every account")
    order_poll_overlap_s: float = Field(default=600.0, ge=0, description="Each poll re-reads this far before the "
                                        "cursor, for orders whose LastUpdateDate Amazon wrote late")
    order_first_lookback_s: float = Field(default=86400.0, ge=0, description="How far back an account's first "
                                          "poll reaches")
    order_max_lookback_s: float = Field(default=30 * 86400.0, gt=0, description="Furthest back any poll reaches")
    order_page_size: int = Field(default=100, ge=1, le=100, description="getOrders MaxResultsPerPage")
    order_action_batch_size: int = Field(default=100, ge=1, description="Confirmations per batch, orders per "
                                         "cancellation feed")
    order_action_idle_s: float = Field(default=0.5, gt=0)
    order_feed_check_s: float = Field(default=30.0, gt=0, description="Wait between looks at a cancellation feed")
    order_action_lease_s: float = Field(default=300.0, gt=0, description="A claim on order actions not recorded "
                                        "this long (its sender died) is taken back and the actions sent again")

    def accounts(self) -> dict[str, AmazonAccount]:
        inline = self.amazon_accounts.get_secret_value() if self.amazon_accounts else None
        return load_accounts(inline, self.amazon_accounts_file)


def build(
    settings: Settings | None = None, *, http: httpx.AsyncClient | None = None,
    accounts: dict[str, AmazonAccount] | None = None,
) -> Service[Settings]:
    s = settings or Settings()
    service = Service(SERVICE, s, migrations=resources.files("amazon_gateway") / "migrations")
    owns_http = http is None
    transport = http or httpx.AsyncClient(timeout=s.amazon_timeout_s)
    client = SpApiClient(
        accounts if accounts is not None else s.accounts(), http=transport,
        api_base_url=s.amazon_api_base_url, lwa_url=s.amazon_lwa_url,
        retry=RetryPolicy(s.amazon_max_attempts, s.amazon_retry_base_delay_s, s.amazon_retry_max_delay_s),
        limits=RateLimits({**PUBLISHED_USAGE_PLANS, **ORDER_USAGE_PLANS}))

    async def send() -> None:
        assert service.pool is not None
        sender = outbound.Sender(
            pool=service.pool, schema=service.schema, producer=SERVICE, client=client,
            batch_size=s.sender_batch_size, concurrency=s.sender_concurrency,
            verify_attempts=s.verify_attempts, verify_delay_s=s.verify_delay_s, idle_s=s.sender_idle_s,
            backlog_threshold=s.feed_backlog_threshold, feed_messages=s.feed_messages, feed_linger_s=s.feed_linger_s,
            feed_max_wait_s=s.feed_max_wait_s, max_open_feeds=s.feed_max_open, feed_poll_s=s.feed_poll_s,
            feed_poll_max_s=s.feed_poll_max_s, lease_s=s.sender_lease_s)
        try:
            await sender.run()
        finally:
            if owns_http:
                await transport.aclose()

    service.subscribe(topics.LISTING_UPDATES, outbound.on_listing_updates)
    service.background("listing-sender", send)
    service.include_router(_admin(service))
    listing_import.attach(service, client)
    notifications.attach(service, client)
    orders_in.attach(service, client)
    orders_out.attach(service, client)
    marketplaces.attach(service, client)
    service.client = client  # type: ignore[attr-defined]
    return service


def _admin(service: Service[Settings]) -> APIRouter:
    router = APIRouter(tags=["admin"])
    Account = Query(None, min_length=1, max_length=200, description="Only this account; every account if unset")

    @router.post("/replay")
    async def replay(account_id: str | None = Account, caller: Principal = requires(Scope.OPERATE)) -> dict[str, int]:
        """Put failed listing updates back to pending, optionally for one account only."""
        async def work(conn: Any) -> dict[str, Any]:
            return {"replayed": await outbound.replay_failed(conn, account_id)}
        return await audit.act(service, caller, "replay.listing_updates", f"account {account_id or '*'}", work)

    @router.post("/replay/orders")
    async def replay_orders(account_id: str | None = Account,
                            caller: Principal = requires(Scope.OPERATE)) -> dict[str, int]:
        """Put failed shipment confirmations and cancellations back to work, optionally for one account only."""
        async def work(conn: Any) -> dict[str, Any]:
            return {"replayed": await orders_out.replay_failed(conn, account_id)}
        return await audit.act(service, caller, "replay.order_actions", f"account {account_id or '*'}", work)

    return router
