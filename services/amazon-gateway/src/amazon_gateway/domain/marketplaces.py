"""Which marketplaces an account works in, from the Sellers API's marketplace participations. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ParticipationsUnreadable(ValueError):
    """getMarketplaceParticipations answered with something that is not its published shape."""


@dataclass(frozen=True)
class Participation:
    marketplace_id: str
    country_code: str | None
    currency: str | None
    language: str | None
    name: str | None
    participating: bool
    suspended_listings: bool


def read_participations(body: dict[str, Any]) -> list[Participation]:
    """The participations in a getMarketplaceParticipations answer (`{"payload": [...]}`)."""
    payload = body.get("payload")
    if not isinstance(payload, list):
        raise ParticipationsUnreadable("getMarketplaceParticipations: payload is not a list")
    out = []
    for i, entry in enumerate(payload):
        marketplace = entry.get("marketplace") if isinstance(entry, dict) else None
        participation = entry.get("participation") if isinstance(entry, dict) else None
        if not isinstance(marketplace, dict) or not isinstance(marketplace.get("id"), str) or not marketplace["id"]:
            raise ParticipationsUnreadable(f"getMarketplaceParticipations: payload/{i}/marketplace/id is missing")
        if not isinstance(participation, dict) or not isinstance(participation.get("isParticipating"), bool):
            raise ParticipationsUnreadable(
                f"getMarketplaceParticipations: payload/{i}/participation/isParticipating is missing")
        out.append(Participation(
            marketplace_id=marketplace["id"], country_code=marketplace.get("countryCode"),
            currency=marketplace.get("defaultCurrencyCode"), language=marketplace.get("defaultLanguageCode"),
            name=marketplace.get("name"), participating=participation["isParticipating"],
            suspended_listings=bool(participation.get("hasSuspendedListings", False))))
    return out


def marketplaces_to_serve(configured: list[str], participations: list[Participation]) -> tuple[list[str], list[str]]:
    """The marketplaces to work in, and the configured ones Amazon says the seller does not participate in.

    Configured marketplaces narrow the choice (in their order); none configured means every marketplace the
    seller participates in (in Amazon's order). A configured marketplace the seller does not participate in is
    left out: every call there would be refused.
    """
    live = [p.marketplace_id for p in participations if p.participating]
    if not configured:
        return list(dict.fromkeys(live)), []
    live_set = set(live)
    return [m for m in configured if m in live_set], [m for m in configured if m not in live_set]
