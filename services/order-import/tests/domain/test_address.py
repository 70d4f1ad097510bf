"""Address normalisation as the spec's example: "Escondido, californiA 92025-1501" -> "Escondido, CA 92025"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.events import Address
from order_import.domain.address import CA_PROVINCES, US_STATES, normalise, one_line, person_name


def test_the_spec_example() -> None:
    result = normalise(Address(city="Escondido", region="californiA", postal_code="92025-1501", country_code="US"))
    assert result.problem is None
    assert one_line(result.address) == "Escondido, CA 92025"


@pytest.mark.parametrize(("given", "expected"), [
    ({"city": "  san   DIEGO ", "region": " ca ", "postal_code": "92101 1234", "country_code": "us"},
     ("San Diego", "CA", "92101", "US")),
    ({"city": "McAllen", "region": "Texas", "postal_code": "78501", "country_code": "US"},
     ("McAllen", "TX", "78501", "US")),
    ({"city": "TORONTO", "region": "ontario", "postal_code": "m5v3l9", "country_code": "CA"},
     ("Toronto", "ON", "M5V 3L9", "CA")),
    ({"city": "Montréal", "region": "Québec", "postal_code": "H2X 1Y4", "country_code": "CA"},
     ("Montréal", "QC", "H2X 1Y4", "CA")),
    ({"city": "Berlin", "region": "berlin", "postal_code": "10115", "country_code": "DE"},
     ("Berlin", "Berlin", "10115", "DE")),
])
def test_states_provinces_postal_codes_and_case(given, expected) -> None:
    a = normalise(Address(**given)).address
    assert (a.city, a.region, a.postal_code, a.country_code) == expected


def test_a_region_that_is_no_state_is_an_address_problem_naming_the_region() -> None:
    result = normalise(Address(city="Escondido", region="Kalifornia", postal_code="92025", country_code="US"))
    assert result.problem is not None and result.problem.field == "region"
    assert str(result.problem) == "region: names no US state"  # the value stays in the sealed buyer data only
    assert result.address.region == "Kalifornia"


def test_special_characters_are_stripped_from_names() -> None:
    assert person_name("  Jane  <Doe>!! ") == "Jane Doe"
    assert person_name("Zoë O'Brien-Smith Jr.") == "Zoë O'Brien-Smith Jr."
    assert person_name("@#$") is None
    assert normalise(Address(name="J*a_ne \u00a0Doe", country_code="US")).address.name == "J a ne Doe"


@given(st.sampled_from(sorted(US_STATES.items())), st.sampled_from(["lower", "upper", "title", "spaced"]))
def test_every_state_by_name_in_any_case_becomes_its_code(item, style) -> None:
    name, code = item
    written = {"lower": name.lower(), "upper": name.upper(), "title": name.title(),
               "spaced": "  " + name.replace(" ", "   ") + " "}[style]
    assert normalise(Address(region=written, country_code="US")).address.region == code


@given(st.sampled_from(sorted(CA_PROVINCES.items())))
def test_every_province_by_name_or_code_becomes_its_code(item) -> None:
    name, code = item
    assert normalise(Address(region=name.upper(), country_code="CA")).address.region == code
    assert normalise(Address(region=code.lower(), country_code="CA")).address.region == code


@given(st.builds(Address, name=st.text(max_size=20), line1=st.text(max_size=20), city=st.text(max_size=20),
                 region=st.sampled_from([None, "ca", "Texas", "Bavaria", "ny"]),
                 postal_code=st.from_regex(r"\d{5}(-\d{4})?", fullmatch=True),
                 country_code=st.sampled_from(["US", "us", "DE"])))
def test_normalising_twice_changes_nothing_more(address) -> None:
    once = normalise(address).address
    assert normalise(once).address == once
