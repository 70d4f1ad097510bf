"""Amazon item conditions: our listing's, a competitor offer's, and the order they are walked in."""

from __future__ import annotations

from enum import StrEnum
from functools import cache, lru_cache


class ItemCondition(StrEnum):
    """Amazon `condition_type` values a listing can carry."""

    NEW = "new_new"
    REFURBISHED = "refurbished_refurbished"
    USED_LIKE_NEW = "used_like_new"
    USED_VERY_GOOD = "used_very_good"
    USED_GOOD = "used_good"
    USED_ACCEPTABLE = "used_acceptable"
    COLLECTIBLE_LIKE_NEW = "collectible_like_new"
    COLLECTIBLE_VERY_GOOD = "collectible_very_good"
    COLLECTIBLE_GOOD = "collectible_good"
    COLLECTIBLE_ACCEPTABLE = "collectible_acceptable"
    CLUB = "club_club"

    @property
    def family(self) -> str:
        return self.value.split("_", 1)[0]

    @property
    def is_collectible(self) -> bool:
        return self.family == "collectible"


FALLBACK_ORDER: tuple[ItemCondition, ...] = tuple(ItemCondition)
"""New, Refurbished, then Used and Collectible from Like New down to Acceptable, then Club."""

_GRADES = {
    "like_new": "like_new",
    "mint": "like_new",
    "very_good": "very_good",
    "good": "good",
    "acceptable": "acceptable",
    "poor": "acceptable",
}


def _token(text: str) -> str:
    return text.strip().lower().replace(" ", "_").replace("-", "_").replace(";", "")


@lru_cache(maxsize=4096)
def offer_condition(condition: str, sub_condition: str | None = None) -> ItemCondition | None:
    """The condition of an offer as the notifications report it ('used' + 'very_good', or
    'used_very_good'); None when it is not one we know. A Used or Collectible offer without
    a known grade counts as Acceptable, the lowest grade. Offer sets repeat a handful of
    spellings, so answers are remembered."""
    token = _token(condition)
    if token in ItemCondition._value2member_map_:
        return ItemCondition(token)
    family = token.split("_", 1)[0]
    grade = token.split("_", 1)[1] if "_" in token else _token(sub_condition or "")
    if family == "new":
        return ItemCondition.NEW
    if family == "refurbished":
        return ItemCondition.REFURBISHED
    if family == "club":
        return ItemCondition.CLUB
    if family in ("used", "collectible"):
        return ItemCondition(f"{family}_{_GRADES.get(grade, 'acceptable')}")
    return None


def fallback_walk(own: ItemCondition) -> list[list[ItemCondition]]:
    """Groups of conditions to try, in order, when no competitor shares ours: first the other
    grades of our own family (Used or Collectible) together, then each condition on its own
    from New down."""
    family = [c for c in FALLBACK_ORDER if c.family == own.family and c is not own]
    groups: list[list[ItemCondition]] = []
    if own.family in ("used", "collectible") and family:
        groups.append(family)
    tried = {own, *(family if groups else [])}
    groups.extend([c] for c in FALLBACK_ORDER if c not in tried)
    return groups


@cache
def fallback_groups(own: ItemCondition) -> tuple[tuple[ItemCondition, ...], ...]:
    """`fallback_walk` worked out once per condition, for the pricing of every listing."""
    return tuple(tuple(group) for group in fallback_walk(own))
