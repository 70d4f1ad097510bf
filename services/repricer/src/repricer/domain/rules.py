"""Pricing rules (spec §11) and their two kinds of action: standard and intelligent (spec §12)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from conditions import AttributeCondition, Combination, matches
from repricer.domain.amounts import HUNDRED, MAX_PERCENT, Amount, Percent
from repricer.domain.item_condition import ItemCondition
from repricer.domain.limits import MAX_CODE_LENGTH, MAX_INT, Code, Description, Id

MAX_CONDITION_NODES = 1000
"""Attribute lines and combinations in one rule's condition tree."""
MAX_CONDITION_VALUES = 10_000
"""Items of one '()' / '!()' list (e.g. SKUs a clearance rule names)."""
MAX_CONDITION_TEXT = 65_535
"""Characters of one condition value, all items of a list together (a Commerce TEXT column)."""


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Direction(StrEnum):
    DECREASE = "decrease"
    INCREASE = "increase"


class Adjustment(StrEnum):
    DECREASE = "decrease"
    INCREASE = "increase"
    MATCH = "match"


class ApplyAs(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"


class CompetitorSource(StrEnum):
    BUY_BOX = "buy_box"
    LOWEST = "lowest"


class VarianceMode(StrEnum):
    ALL = "all"
    MATCHING_ONLY = "matching_only"
    APPLY_VARIANCE = "apply_variance"


def _percent_within_price(
    action: str, apply_as: ApplyAs | None, amount: Decimal | None, field: str = "amount"
) -> None:
    """A percentage decrease takes at most the whole price; an increase at most MAX_PERCENT."""
    if apply_as is not ApplyAs.PERCENT or amount is None:
        return
    if action == Direction.DECREASE and amount > HUNDRED:
        raise ValueError(f"{field}: a decrease cannot exceed 100 %")
    if action == Direction.INCREASE and amount > MAX_PERCENT:
        raise ValueError(f"{field}: an increase cannot exceed {MAX_PERCENT} %")


def _hidden_when_matching(data: object, action_field: str, hidden: tuple[str, ...]) -> object:
    """Matching hides the adjustment's fields: left empty they are dropped; a value given is still
    validated (and then ignored), so nothing the schema refuses is accepted."""
    if isinstance(data, dict) and data.get(action_field, Adjustment.MATCH) == Adjustment.MATCH:
        return {key: value for key, value in data.items() if key not in hidden or value not in (None, "")}
    return data


class StandardAction(_Rule):
    """Decrease or increase the previous result by a percentage or a fixed amount."""

    type: Literal["standard"] = "standard"
    direction: Direction
    apply_as: ApplyAs
    amount: Amount = Field(
        description="25 means 25 % or 25 currency units. Fixed: up to 1,000,000,000; percent: up to 100 "
        "for a decrease, 1000 for an increase; at most 6 decimals"
    )

    @model_validator(mode="after")
    def _bounded(self) -> StandardAction:
        _percent_within_price(self.direction, self.apply_as, self.amount)
        return self


class PriceBound(_Rule):
    """A floor or ceiling: a price attribute, matched or moved by a percentage."""

    source_attribute: Code = Field(description="e.g. 'cost' for a floor, 'msrp' for a ceiling; up to 255 characters")
    action: Adjustment = Adjustment.MATCH
    percent: Percent | None = Field(
        default=None,
        description="Required unless the action is match; up to 100 for a decrease, 1000 for an increase",
    )

    @model_validator(mode="before")
    @classmethod
    def _match_hides_percent(cls, data: object) -> object:
        return _hidden_when_matching(data, "action", ("percent",))

    @model_validator(mode="after")
    def _percent_unless_match(self) -> PriceBound:
        if self.action is Adjustment.MATCH:
            return self
        if self.percent is None:
            raise ValueError("percent: the adjustment amount is required unless the action is match")
        _percent_within_price(self.action, ApplyAs.PERCENT, self.percent, "percent")
        return self


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):  # False == 0 in Python; a boolean is not a percent
        raise ValueError("must be one of 0, 80, 90, 95, 98, not a boolean")
    return value


FeedbackPercent = Annotated[Literal[0, 80, 90, 95, 98], BeforeValidator(_not_a_boolean)]


class IntelligentAction(_Rule):
    """Price against the Buy Box or the lowest competitor, kept between a floor and a ceiling."""

    type: Literal["intelligent"] = "intelligent"
    competitor_source: CompetitorSource
    min_feedback_percent: FeedbackPercent = Field(default=0, description="Lowest price only; 0 = all")
    min_feedback_count: int = Field(default=0, strict=True, ge=0, le=MAX_INT,
                                    description="Lowest price only (0 to 2^31-1)")
    variance_mode: VarianceMode = VarianceMode.ALL
    condition_variances: dict[ItemCondition, Percent] = Field(
        default={},
        description="Apply Variance: % per condition, 1 to 100 (collectibles up to 1000); New is fixed at 100",
    )
    adjustment: Adjustment = Adjustment.MATCH
    apply_as: ApplyAs | None = Field(default=None, description="Required unless matching")
    amount: Amount | None = Field(
        default=None,
        description="Required unless matching. Fixed: up to 1,000,000,000; percent: up to 100 for a decrease, "
        "1000 for an increase; at most 6 decimals",
    )
    floor: PriceBound
    ceiling: PriceBound | None = None

    @field_validator("condition_variances")
    @classmethod
    def _variances(cls, variances: dict[ItemCondition, Decimal]) -> dict[ItemCondition, Decimal]:
        for condition, percent in variances.items():
            if condition is ItemCondition.NEW and percent != HUNDRED:
                raise ValueError("the New condition variance is fixed at 100")
            if percent < 1 or (percent > HUNDRED and not condition.is_collectible):
                raise ValueError(f"{condition.value}: variance must be 1-100 (collectibles may exceed 100)")
        return variances

    @model_validator(mode="before")
    @classmethod
    def _match_hides_amount(cls, data: object) -> object:
        return _hidden_when_matching(data, "adjustment", ("apply_as", "amount"))

    @model_validator(mode="after")
    def _amount_unless_match(self) -> IntelligentAction:
        if self.adjustment is Adjustment.MATCH:
            return self
        if self.apply_as is None:
            raise ValueError("apply_as: required unless the price action is match")
        if self.amount is None:
            raise ValueError("amount: required unless the price action is match")
        _percent_within_price(self.adjustment, self.apply_as, self.amount)
        return self

    def variance(self, condition: ItemCondition) -> Decimal:
        return self.condition_variances.get(condition, HUNDRED)


RuleAction = Annotated[StandardAction | IntelligentAction, Field(discriminator="type")]


class PricingRule(_Rule):
    name: Id = Field(description="Up to 200 characters")
    description: Description = Field(default="", description="Up to 2000 characters")
    active: bool = Field(default=True, strict=True)
    from_date: date | None = None
    to_date: date | None = None
    discard_subsequent: bool = Field(default=False, strict=True, description="Stop after this rule when it applies")
    priority: int | None = Field(
        default=None, strict=True, ge=1, le=MAX_INT, validate_default=True,
        description="1 is the highest and applies first (1 to 2^31-1)",
    )
    conditions: Combination | None = Field(
        default=None,
        description="Empty: every product. At most 1000 lines and combinations; a value at most 65,535 "
        "characters, a list at most 10,000 items; attribute codes up to 255 characters",
    )
    action: RuleAction

    @field_validator("priority")
    @classmethod
    def _priority_for_discard(cls, priority: int | None, info: ValidationInfo) -> int | None:
        if priority is None and info.data.get("discard_subsequent"):
            raise ValueError("priority is required when discard_subsequent is set")
        return priority

    @field_validator("conditions")
    @classmethod
    def _conditions_within_limits(cls, tree: Combination | None) -> Combination | None:
        if tree is None:
            return None
        for count, (where, node) in enumerate(_nodes(tree, "conditions"), start=1):
            if count > MAX_CONDITION_NODES:
                raise ValueError(f"more than {MAX_CONDITION_NODES} conditions in one rule")
            if isinstance(node, AttributeCondition):
                _check_line(node, where)
        return tree

    @model_validator(mode="after")
    def _dates_in_order(self) -> PricingRule:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValueError("to_date: must not be before from_date")
        return self

    def in_effect(self, now: datetime) -> bool:
        today = now.date()
        return (
            self.active
            and (self.from_date is None or self.from_date <= today)
            and (self.to_date is None or today <= self.to_date)
        )

    def applies_to(self, attributes: dict[str, object], now: datetime) -> bool:
        return self.in_effect(now) and matches(self.conditions, attributes)


def in_priority_order(rules: list[PricingRule]) -> list[PricingRule]:
    """Ascending priority (1 first); rules without a priority after all others, in given order."""
    return sorted(rules, key=lambda r: (r.priority is None, r.priority or 0))


def _nodes(node: Combination, path: str) -> Iterator[tuple[str, Combination | AttributeCondition]]:
    for index, child in enumerate(node.conditions):
        where = f"{path}.{index}"
        yield where, child
        if isinstance(child, Combination):
            yield from _nodes(child, f"{where}.conditions")


def _check_line(line: AttributeCondition, where: str) -> None:
    if len(line.attribute) > MAX_CODE_LENGTH:
        raise ValueError(f"{where}.attribute: at most {MAX_CODE_LENGTH} characters")
    values = line.value if isinstance(line.value, list) else [line.value]
    if len(values) > MAX_CONDITION_VALUES:
        raise ValueError(f"{where}.value: at most {MAX_CONDITION_VALUES} items")
    if sum(len(value) for value in values) > MAX_CONDITION_TEXT:
        raise ValueError(f"{where}.value: at most {MAX_CONDITION_TEXT} characters")
