"""Order settings of one Amazon store (account and marketplace): spec section 13."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"


class CustomerCreation(StrEnum):
    GUEST = "guest"
    BUILD = "build"


class NumberSource(StrEnum):
    COMMERCE = "commerce"
    AMAZON = "amazon"


class StatusMapping(StrEnum):
    DEFAULT = "default"
    CUSTOM = "custom"


DEFAULT_STATUS = "pending"
FBA_STATUS = "complete"


class OrderSettings(BaseModel):
    """How one Amazon store's orders become Commerce orders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str = Field(pattern=_ID, description="The seller account of the store")
    marketplace_id: str = Field(pattern=_ID, description="The Amazon marketplace of the store, e.g. ATVPDKIKX0DER")
    integration_date: AwareDatetime = Field(
        description="Orders placed before it are never imported (they are shown, skipped with a note)")
    import_enabled: bool = Field(
        default=True, strict=True,
        description="Import Amazon Orders; false: view only (orders are shown and managed in Seller Central)")
    store_code: str = Field(default="default", pattern=r"^[a-z0-9_]{1,32}$",
                            description="Commerce store view the orders are imported into")
    customer_creation: CustomerCreation = Field(
        default=CustomerCreation.GUEST,
        description="guest: guest orders; build: find or create the buyer's customer account (never twice)")
    order_number_source: NumberSource = Field(
        default=NumberSource.COMMERCE,
        description="commerce: Commerce numbers the order; amazon: the Amazon order id is the order number")
    reserve_quantity: bool = Field(
        default=True, strict=True,
        description="Pending Orders: hold back the quantities of merchant-fulfilled orders Commerce has no order "
                    "for yet (Reserve Quantity); false: Do Not Reserve Quantity")
    order_status: StatusMapping = Field(
        default=StatusMapping.DEFAULT,
        description="default: Commerce's default status (pending); custom: processing_status")
    processing_status: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description="The Commerce status of imported orders when order_status is custom, e.g. processing")

    @model_validator(mode="after")
    def _custom_needs_status(self) -> OrderSettings:
        if self.order_status is StatusMapping.CUSTOM and self.processing_status is None:
            raise ValueError("processing_status is required when order_status is custom")
        return self

    @property
    def store(self) -> tuple[str, str]:
        return self.account_id, self.marketplace_id

    def commerce_status(self) -> str:
        return self.processing_status if self.order_status is StatusMapping.CUSTOM and self.processing_status \
            else DEFAULT_STATUS

    def before_integration(self, purchase_date: datetime) -> bool:
        return purchase_date < self.integration_date
