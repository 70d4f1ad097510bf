"""An account's marketplaces from getMarketplaceParticipations: pure rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amazon_gateway.domain.marketplaces import (
    Participation,
    ParticipationsUnreadable,
    marketplaces_to_serve,
    read_participations,
)

US, CA, MX = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"


def entry(marketplace_id: str, participating: bool = True, suspended: bool = False) -> dict[str, object]:
    return {"marketplace": {"id": marketplace_id, "name": "Amazon", "countryCode": "US", "defaultCurrencyCode": "USD",
                            "defaultLanguageCode": "en_US", "domainName": "www.amazon.com"},
            "participation": {"isParticipating": participating, "hasSuspendedListings": suspended},
            "storeName": "Store"}


def p(marketplace_id: str, participating: bool = True) -> Participation:
    return Participation(marketplace_id, None, None, None, None, participating, False)


def test_reads_amazons_shape() -> None:
    [us, ca] = read_participations({"payload": [entry(US), entry(CA, participating=False, suspended=True)]})
    assert (us.marketplace_id, us.currency, us.participating, us.suspended_listings) == (US, "USD", True, False)
    assert (ca.participating, ca.suspended_listings) == (False, True)


@pytest.mark.parametrize(("body", "field"), [
    ({}, "payload"),
    ({"payload": [{"participation": {"isParticipating": True}}]}, "payload/0/marketplace/id"),
    ({"payload": [{"marketplace": {"id": US}, "participation": {}}]}, "payload/0/participation/isParticipating"),
    ({"payload": [entry(US), "x"]}, "payload/1/marketplace/id"),
])
def test_an_answer_out_of_shape_names_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ParticipationsUnreadable, match=field):
        read_participations(body)


def test_none_configured_means_every_participating_marketplace() -> None:
    assert marketplaces_to_serve([], [p(US), p(CA, participating=False), p(MX)]) == ([US, MX], [])


def test_configured_ones_narrow_and_those_not_participating_are_left_out() -> None:
    assert marketplaces_to_serve([MX, CA, US], [p(US), p(CA, participating=False), p(MX)]) == ([MX, US], [CA])


ids = st.sampled_from([US, CA, MX, "A1F83G8C2ARO7P", "A1PA6795UKMFR9"])


@given(configured=st.lists(ids, unique=True), reported=st.lists(st.tuples(ids, st.booleans())))
def test_served_marketplaces_are_always_participating_and_configured_ones_are_never_lost(configured, reported) -> None:
    participations = [p(m, ok) for m, ok in reported]
    served, refused = marketplaces_to_serve(configured, participations)
    live = {m for m, ok in reported if ok}
    assert set(served) <= live and len(served) == len(set(served))
    if configured:
        assert served == [m for m in configured if m in live]  # in the configured order
        assert refused == [m for m in configured if m not in live]
    else:
        assert set(served) == live and refused == []
