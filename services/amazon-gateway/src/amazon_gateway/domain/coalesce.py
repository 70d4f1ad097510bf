"""Newest-wins coalescing of listing updates, and the choice between per-SKU calls and a feed.

Requests are coalesced per listing (account, marketplace, SKU) and per field: price, quantity,
each attribute, and the listing's lifecycle (create or delete). Per field only the request with the
newest `requested_at` is kept (a tie goes to the one that arrived last), whatever the arrival order:
an older request never replaces a newer one, not even one that was already sent.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.events import ListingUpdateKind, ListingUpdateRequested

ListingKey = tuple[str, str, str]

LIFECYCLE = "listing"
PRICE = "price"
QUANTITY = "quantity"
ATTRIBUTE_PREFIX = "attributes."

# Amazon's schema allows 25,000 messages per JSON_LISTINGS_FEED; large feeds are reported to fail
# where smaller ones succeed, so feeds are cut smaller unless told otherwise.
FEED_SCHEMA_MAX_MESSAGES = 25_000
DEFAULT_FEED_MESSAGES = 10_000


def listing_key(request: ListingUpdateRequested) -> ListingKey:
    return (request.account_id, request.marketplace_id, request.sku)


def fields_of(request: ListingUpdateRequested) -> tuple[str, ...]:
    """The fields a request sets; it is coalesced separately on each."""
    match request.kind:
        case ListingUpdateKind.PRICE:
            return (PRICE,)
        case ListingUpdateKind.QUANTITY:
            return (QUANTITY,)
        case ListingUpdateKind.ATTRIBUTES:
            return tuple(ATTRIBUTE_PREFIX + name for name in sorted(request.attributes))
        case ListingUpdateKind.CREATE | ListingUpdateKind.DELETE:
            return (LIFECYCLE,)
    raise ValueError(f"unknown kind {request.kind!r}")


@dataclass(frozen=True, order=True)
class _Stamp:
    requested_at: datetime
    arrival: int


@dataclass(frozen=True)
class _Held:
    stamp: _Stamp
    request: ListingUpdateRequested


@dataclass(frozen=True)
class Superseded:
    """A request that will not be sent because a newer one sets the same fields."""

    request: ListingUpdateRequested
    by: uuid.UUID | None = field(default=None)


@dataclass(frozen=True)
class PendingUpdate:
    """What to send for one listing: per field, the newest request."""

    key: ListingKey
    fields: dict[str, ListingUpdateRequested]
    superseded: tuple[Superseded, ...] = ()

    @property
    def account_id(self) -> str:
        return self.key[0]

    @property
    def marketplace_id(self) -> str:
        return self.key[1]

    @property
    def sku(self) -> str:
        return self.key[2]

    @property
    def requests(self) -> tuple[ListingUpdateRequested, ...]:
        """The requests this update carries, each once, oldest first."""
        unique = {r.event_id: r for r in self.fields.values()}
        return tuple(sorted(unique.values(), key=lambda r: r.requested_at))

    @property
    def request_ids(self) -> tuple[uuid.UUID, ...]:
        return tuple(r.event_id for r in self.requests)

    @property
    def urgent(self) -> bool:
        return any(r.urgent for r in self.fields.values())

    @property
    def lifecycle(self) -> ListingUpdateKind | None:
        request = self.fields.get(LIFECYCLE)
        return None if request is None else request.kind

    @property
    def product_type(self) -> str | None:
        """The product type named by the newest request that names one."""
        named = [r for r in self.requests if r.product_type]
        return named[-1].product_type if named else None


class ListingUpdateCoalescer:
    def __init__(self) -> None:
        self._arrivals = itertools.count()
        self._pending: dict[ListingKey, dict[str, _Held]] = {}
        self._first_arrival: dict[ListingKey, int] = {}
        self._live_fields: dict[uuid.UUID, set[str]] = {}
        self._sent: dict[tuple[ListingKey, str], _Stamp] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, request: ListingUpdateRequested) -> list[Superseded]:
        """Take a request; returns the requests (possibly this one) that it made pointless."""
        stamp = _Stamp(request.requested_at, next(self._arrivals))
        key = listing_key(request)
        slots = self._pending.setdefault(key, {})
        self._first_arrival.setdefault(key, stamp.arrival)
        superseded: list[Superseded] = []
        won: set[str] = set()
        newest_holder: uuid.UUID | None = None
        for name in fields_of(request):
            sent = self._sent.get((key, name))
            held = slots.get(name)
            if sent is not None and stamp < sent:
                continue
            if held is not None and stamp < held.stamp:
                newest_holder = held.request.event_id
                continue
            won.add(name)
            slots[name] = _Held(stamp, request)
            if held is not None:
                remaining = self._live_fields[held.request.event_id]
                remaining.discard(name)
                if not remaining:
                    del self._live_fields[held.request.event_id]
                    superseded.append(Superseded(held.request, request.event_id))
        if won:
            self._live_fields[request.event_id] = won
        else:
            superseded.append(Superseded(request, newest_holder))
            if not slots:
                del self._pending[key]
                del self._first_arrival[key]
        return superseded

    def add_all(self, requests: Iterable[ListingUpdateRequested]) -> list[Superseded]:
        return [s for r in requests for s in self.add(r)]

    def drain(self, max_items: int | None = None) -> list[PendingUpdate]:
        """Remove and return up to `max_items` listings' updates: urgent ones first, then oldest."""
        order = sorted(self._pending, key=lambda k: (not self._is_urgent(k), self._first_arrival[k]))
        if max_items is not None:
            order = order[: max(0, max_items)]
        return [self._take(key) for key in order]

    def _is_urgent(self, key: ListingKey) -> bool:
        return any(h.request.urgent for h in self._pending[key].values())

    def _take(self, key: ListingKey) -> PendingUpdate:
        slots = self._pending.pop(key)
        del self._first_arrival[key]
        for name, held in slots.items():
            self._sent[(key, name)] = held.stamp
            self._live_fields.pop(held.request.event_id, None)
        fields = {name: held.request for name, held in slots.items()}
        lifecycle = fields.get(LIFECYCLE)
        if lifecycle is None or lifecycle.kind is not ListingUpdateKind.DELETE:
            return PendingUpdate(key, fields)
        dropped = {r.event_id: r for name, r in fields.items() if name != LIFECYCLE and r is not lifecycle}
        return PendingUpdate(
            key,
            {LIFECYCLE: lifecycle},
            tuple(Superseded(r, lifecycle.event_id) for r in dropped.values()),
        )

    def plan(
        self,
        backlog_threshold: int,
        *,
        max_items: int | None = None,
        feed_messages: int = DEFAULT_FEED_MESSAGES,
    ) -> Plan:
        """Drain and decide how each listing goes out.

        Urgent listings always go as single calls. The rest go as single calls while there are at
        most `backlog_threshold` of them, else in JSON_LISTINGS_FEEDs of up to `feed_messages`
        messages, one feed per account and marketplace.
        """
        if not 1 <= feed_messages <= FEED_SCHEMA_MAX_MESSAGES:
            raise ValueError(f"a feed holds 1 to {FEED_SCHEMA_MAX_MESSAGES} messages")
        updates = self.drain(max_items)
        return plan_calls(updates, backlog_threshold, feed_messages=feed_messages)


@dataclass(frozen=True)
class SingleCall:
    """One Listings Items API call for one SKU."""

    update: PendingUpdate

    @property
    def operation(self) -> str:
        match self.update.lifecycle:
            case ListingUpdateKind.CREATE:
                return "putListingsItem"
            case ListingUpdateKind.DELETE:
                return "deleteListingsItem"
        return "patchListingsItem"

    @property
    def request_ids(self) -> tuple[uuid.UUID, ...]:
        return self.update.request_ids


@dataclass(frozen=True)
class FeedCall:
    """One JSON_LISTINGS_FEED for one account and marketplace."""

    account_id: str
    marketplace_id: str
    updates: tuple[PendingUpdate, ...]

    @property
    def request_ids(self) -> tuple[uuid.UUID, ...]:
        return tuple(i for u in self.updates for i in u.request_ids)


@dataclass(frozen=True)
class Plan:
    calls: tuple[SingleCall, ...]
    feeds: tuple[FeedCall, ...]

    @property
    def superseded(self) -> tuple[Superseded, ...]:
        updates = [c.update for c in self.calls] + [u for f in self.feeds for u in f.updates]
        return tuple(s for u in updates for s in u.superseded)


def plan_calls(
    updates: list[PendingUpdate], backlog_threshold: int, *, feed_messages: int = DEFAULT_FEED_MESSAGES
) -> Plan:
    urgent = [u for u in updates if u.urgent]
    backlog = [u for u in updates if not u.urgent]
    if len(backlog) <= backlog_threshold:
        return Plan(tuple(SingleCall(u) for u in urgent + backlog), ())
    groups: dict[tuple[str, str], list[PendingUpdate]] = {}
    for update in backlog:
        groups.setdefault((update.account_id, update.marketplace_id), []).append(update)
    feeds = tuple(
        FeedCall(account, marketplace, tuple(group[i : i + feed_messages]))
        for (account, marketplace), group in groups.items()
        for i in range(0, len(group), feed_messages)
    )
    return Plan(tuple(SingleCall(u) for u in urgent), feeds)


@dataclass(frozen=True)
class Candidate:
    """A listing with requests waiting: whether any is urgent, how long the oldest waited, how long since the newest."""

    key: ListingKey
    urgent: bool
    age_s: float
    quiet_s: float


def choose_keys(candidates: Sequence[Candidate], *, batch_size: int, backlog_threshold: int, linger_s: float,
                max_wait_s: float, feeds_open: bool) -> list[ListingKey]:
    """Which candidate listings to claim now (candidates come urgent first, then oldest first).

    A backlog up to the threshold goes out as single calls, `batch_size` listings at a time. A
    larger one goes to a feed, but only once it has stopped growing for `linger_s` (a burst is
    still arriving otherwise, and one feed beats several) or its oldest row has waited
    `max_wait_s`; until then, and while no feed may be opened, only the urgent listings are taken.
    """
    backlog = [c for c in candidates if not c.urgent]
    urgent = [c.key for c in candidates if c.urgent]
    if len(backlog) <= backlog_threshold:
        return [c.key for c in candidates][: max(batch_size, len(urgent))]
    settled = min(c.quiet_s for c in backlog) >= linger_s or max(c.age_s for c in backlog) >= max_wait_s
    if feeds_open and settled:
        return [c.key for c in candidates]
    return urgent
