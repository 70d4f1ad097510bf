"""Bounds on the texts, integers and collections the pricing configuration and a simulation take.

Each is far beyond what a seller sets and keeps absurd input (a 10,000-character id, a priority
of 2**63, a million websites) out of the pricing and the database.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field

MAX_ID_LENGTH = 200
"""Account, marketplace and seller ids, SKUs and rule names (resource names allow 200 as well)."""
MAX_CODE_LENGTH = 255
"""Commerce attribute and website codes: the width of Commerce's code columns."""
MAX_DESCRIPTION_LENGTH = 2000
MAX_INT = 2**31 - 1
"""Priorities, counts, quantities and sort orders: a PostgreSQL (and Commerce) integer."""
MAX_WEBSITES = 100
MAX_ATTRIBUTES = 10_000
"""Attributes of one product in a simulation."""
MAX_WINDOW = timedelta(days=365)
MIN_WINDOW = timedelta(seconds=1)

CURRENCY = r"^[A-Z]{3}$"
CURRENCY_PAIR = r"^[A-Z]{3}/[A-Z]{3}$"

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
Code = Annotated[str, Field(min_length=1, max_length=MAX_CODE_LENGTH)]
OptionalCode = Annotated[str, Field(max_length=MAX_CODE_LENGTH)]
"""A code that may be left blank."""
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH)]
