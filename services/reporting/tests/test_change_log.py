import pytest

from contracts.events import FieldChange
from reporting.domain import change_log_row


@pytest.mark.parametrize(
    ("field", "new", "action", "comment"),
    [
        ("price", "31.00", "Pricing", "Updated to 31.00"),
        ("quantity", "0", "Quantity", "Updated to 0"),
        ("status", "Ineligible", "Status", "Updated to Ineligible"),
        ("handling_time", "2", "Handling Time", "Updated to 2"),
        ("asin", None, "Match", "Cleared"),
    ],
)
def test_change_log_rows_read_like_the_listing_changes_log(field, new, action, comment) -> None:
    row = change_log_row(FieldChange(field=field, old="x", new=new))
    assert (row.listing_action, row.comment, row.old_value, row.new_value) == (action, comment, "x", new)
