"""Helpers for tests that drive amazon-gateway over the real broker."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contracts import decode, topics
from contracts.envelope import Event
from contracts.events import ListingUpdateResult
from devstack.testing import read_topic


async def listing_results(
    bootstrap: str, requests: Iterable[Event | str], timeout: float = 90
) -> list[ListingUpdateResult]:
    """The ListingUpdateResult of each request (events or their ids), once every one has its result.

    A result the relay published twice (at least once delivery) is counted once, by its event id.
    """
    wanted = {r if isinstance(r, str) else str(r.event_id) for r in requests}

    def mine(records: list[Any]) -> list[ListingUpdateResult]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, ListingUpdateResult) and e.request_event_id in wanted]

    records = await read_topic(bootstrap, topics.LISTING_UPDATE_RESULTS.name, timeout=timeout,
                               until=lambda rs: {e.request_event_id for e in mine(rs)} == wanted)
    return list({e.event_id: e for e in mine(records)}.values())
