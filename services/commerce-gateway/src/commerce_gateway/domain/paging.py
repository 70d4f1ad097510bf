"""searchCriteria paging: Commerce answers a page past the end with the last page again, so stop on total_count."""

from __future__ import annotations

from datetime import datetime

from commerce_gateway.domain.products import format_commerce_time

MIN_PAGE_SIZE = 1
MAX_PAGE_SIZE = 500


def page_count(total_count: int, page_size: int) -> int:
    return max(0, -(-total_count // page_size))


def is_last(page: int, total_count: int, page_size: int) -> bool:
    return page >= page_count(total_count, page_size)


def search_criteria(*, page: int, page_size: int, sort: tuple[tuple[str, str], ...] = (("entity_id", "ASC"),),
                    filters: tuple[tuple[str, str, str], ...] = ()) -> dict[str, str]:
    """The query parameters of one page: each filter (field, condition, value) its own group (ANDed)."""
    params = {"searchCriteria[pageSize]": str(page_size), "searchCriteria[currentPage]": str(page)}
    for i, (field, direction) in enumerate(sort):
        params[f"searchCriteria[sortOrders][{i}][field]"] = field
        params[f"searchCriteria[sortOrders][{i}][direction]"] = direction
    for g, (field, condition, value) in enumerate(filters):
        prefix = f"searchCriteria[filterGroups][{g}][filters][0]"
        params[f"{prefix}[field]"] = field
        params[f"{prefix}[value]"] = value
        params[f"{prefix}[conditionType]"] = condition
    return params


def updated_since(cursor: datetime, overlap_s: float) -> str:
    """The `updated_at gt` value of an incremental read: the cursor less the overlap window."""
    from datetime import timedelta

    return format_commerce_time(cursor - timedelta(seconds=overlap_s))
