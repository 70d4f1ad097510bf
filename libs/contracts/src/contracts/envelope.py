"""The envelope every event carries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event: the envelope fields, then the event's own fields at the same level.

    Readers are tolerant: fields they do not know are ignored, so adding an optional field is a
    compatible change that producers may deploy before consumers.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: uuid.UUID = Field(
        default_factory=uuid.uuid4, description="Unique id; consumers deduplicate on it"
    )
    event_type: str = Field(description="The event's name, e.g. 'ProductChanged'")
    schema_version: int = Field(description="Version of this event type's schema", ge=1)
    occurred_at: AwareDatetime = Field(
        default_factory=utc_now, description="When it happened, in UTC"
    )
    producer: str = Field(description="The service that emitted it, e.g. 'catalog-sync'", min_length=1)
    correlation_id: uuid.UUID = Field(
        description="Id shared by every event of one business flow (the first event's id)"
    )
    causation_id: uuid.UUID | None = Field(
        default=None, description="event_id of the event that caused this one, if any"
    )

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > cls.SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {value} is newer than the supported {cls.SCHEMA_VERSION}"
            )
        return value

    @classmethod
    def new(cls, *, producer: str, caused_by: Event | None = None, **fields: Any) -> Self:
        """Create an event, continuing the correlation of `caused_by` when given."""
        event_id = fields.pop("event_id", None) or uuid.uuid4()
        if caused_by is not None:
            envelope = {
                "correlation_id": caused_by.correlation_id,
                "causation_id": caused_by.event_id,
            }
        else:
            envelope = {"correlation_id": event_id}
        return cls(
            event_id=event_id,
            event_type=cls.__name__,
            schema_version=cls.SCHEMA_VERSION,
            producer=producer,
            **envelope,
            **fields,
        )


class ListingScoped(BaseModel):
    """Fields of events about one listing: all of one listing's events share a partition."""

    account_id: str = Field(description="Seller account id in this platform", min_length=1)
    marketplace_id: str = Field(description="Amazon marketplace id, e.g. ATVPDKIKX0DER", min_length=1)
    sku: str = Field(description="Amazon seller SKU", min_length=1, max_length=40)


class AccountScoped(BaseModel):
    account_id: str = Field(description="Seller account id in this platform", min_length=1)
    marketplace_id: str = Field(description="Amazon marketplace id", min_length=1)
