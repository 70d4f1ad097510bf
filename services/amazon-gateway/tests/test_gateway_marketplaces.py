"""Accounts' marketplaces read from the simulator's Sellers API, over the real broker and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from contracts import decode
from contracts.events import CommunicationError
from contracts.topics import COMMUNICATION_ERRORS
from devstack.testing import auth_headers, eventually, read_topic

US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"


async def accounts(gateway: Any) -> dict[str, Any]:
    from httpx import ASGITransport, AsyncClient

    async with AsyncClient(headers=auth_headers(), transport=ASGITransport(app=gateway.service.asgi()), base_url="http://gw") as http:
        return {a["account_id"]: a for a in (await http.get("/accounts")).json()}


async def test_marketplaces_come_from_the_sellers_api_narrowed_by_configuration(gateway_factory, kit, sim_http) -> None:
    seller = f"A1MP{uuid.uuid4().hex[:8].upper()}"
    assert (await sim_http.post("/_sim/accounts", json={
        "client_id": kit.CLIENT_ID, "client_secret": kit.CLIENT_SECRET, "refresh_token": f"Atzr|{seller}",
        "seller_id": seller, "marketplaces": [US, CA]})).status_code == 201
    every = kit.gateway_account(account_id=f"all-{seller}", seller_id=seller, refresh_token=f"Atzr|{seller}",
                                marketplace_ids=[])
    narrowed = kit.gateway_account(account_id=f"us-{seller}", seller_id=seller, refresh_token=f"Atzr|{seller}",
                                   marketplace_ids=[US, "A1F83G8C2ARO7P"])
    gateway = await gateway_factory(accounts=[every, narrowed])
    client = gateway.service.client

    async def discovered() -> bool:
        return bool(client.accounts[every.account_id].marketplace_ids)

    await eventually(discovered, timeout=30)
    await eventually(lambda: _served(gateway, narrowed.account_id, [US]), timeout=30)
    assert client.accounts[every.account_id].marketplace_ids == [US, CA]
    listed = await accounts(gateway)
    assert listed[every.account_id]["marketplace_ids"] == [US, CA]
    assert [(m["marketplace_id"], m["currency"], m["served"]) for m in listed[every.account_id]["marketplaces"]] == [
        (CA, "CAD", True), (US, "USD", True)]
    assert listed[narrowed.account_id]["configured_marketplace_ids"] == [US, "A1F83G8C2ARO7P"]
    assert listed[narrowed.account_id]["marketplace_ids"] == [US]  # the seller is not on Amazon.co.uk
    assert kit.CLIENT_SECRET not in str(listed) and "Atzr|" not in str(listed)
    # notifications now know the account's marketplaces
    assert gateway.service.notifications.sellers is not None


async def _served(gateway: Any, account_id: str, expected: list[str]) -> bool:
    return gateway.service.client.accounts[account_id].marketplace_ids == expected


async def test_a_failed_read_is_a_communication_error_and_the_configured_marketplaces_stay(
        gateway_factory, kit, sim_http, topics_created) -> None:
    account = kit.gateway_account(account_id=f"mp-fail-{uuid.uuid4().hex[:8]}", marketplace_ids=[US])
    await sim_http.post("/_sim/faults", json={"error_rate": 1.0, "error_statuses": [503],
                                              "operations": ["getMarketplaceParticipations"]})
    try:
        gateway = await gateway_factory(accounts=[account], amazon_max_attempts=2, marketplaces_retry_s=0.2)
        records = await read_topic(topics_created, COMMUNICATION_ERRORS.name, until=lambda rs: any(
            account.account_id in r.value.decode() for r in rs), timeout=30)
        errors = [e for e in (decode(r.value) for r in records)
                  if isinstance(e, CommunicationError) and e.account_id == account.account_id]
        assert errors[0].operation == "getMarketplaceParticipations" and errors[0].attempts == 2
        assert kit.CLIENT_SECRET not in errors[0].message
        assert gateway.service.client.accounts[account.account_id].marketplace_ids == [US]
    finally:
        await sim_http.delete("/_sim/faults")
    # Amazon answers again: the next round reads the marketplaces
    await eventually(lambda: _listed(gateway, account.account_id), timeout=30)


async def _listed(gateway: Any, account_id: str) -> bool:
    return bool((await accounts(gateway))[account_id]["marketplaces"])
