"""Shipping addresses as Commerce should keep them: "Escondido, californiA 92025-1501" -> "Escondido, CA 92025".

US states and Canadian provinces (and territories) by name or code to their two-letter code, ZIP+4 cut to the ZIP,
Canadian postal codes as "A1A 1A1", runs of whitespace collapsed, all-lower or all-upper words capitalised, and
special characters stripped from names. A region that names no state or province of its country is an address
problem: the order waits until someone corrects it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from contracts.events import Address

US_STATES: dict[str, str] = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA", "colorado": "CO",
    "connecticut": "CT", "delaware": "DE", "district of columbia": "DC", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI",
    "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
    "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN", "texas": "TX",
    "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA", "west virginia": "WV",
    "wisconsin": "WI", "wyoming": "WY", "american samoa": "AS", "guam": "GU", "northern mariana islands": "MP",
    "puerto rico": "PR", "u.s. virgin islands": "VI", "us virgin islands": "VI", "virgin islands": "VI",
    "armed forces americas": "AA", "armed forces europe": "AE", "armed forces pacific": "AP",
    "washington dc": "DC", "washington d.c.": "DC",
}
CA_PROVINCES: dict[str, str] = {
    "alberta": "AB", "british columbia": "BC", "manitoba": "MB", "new brunswick": "NB",
    "newfoundland and labrador": "NL", "newfoundland": "NL", "nova scotia": "NS", "ontario": "ON",
    "prince edward island": "PE", "quebec": "QC", "québec": "QC", "saskatchewan": "SK",
    "northwest territories": "NT", "nunavut": "NU", "yukon": "YT",
}
REGIONS: dict[str, dict[str, str]] = {"US": US_STATES, "CA": CA_PROVINCES}

_SPACES = re.compile(r"\s+")
_NOT_NAME = re.compile(r"[^\w\s'.\-]|_", re.UNICODE)
_ZIP = re.compile(r"^(\d{5})(?:[\s-]?\d{4})?$")
_CA_POSTAL = re.compile(r"^([A-Z]\d[A-Z])\s*(\d[A-Z]\d)$")


class AddressProblem(ValueError):
    """An address Commerce cannot take as it is; the message names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def clean(text: str | None) -> str | None:
    """Whitespace collapsed and trimmed; None for nothing left."""
    if text is None:
        return None
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()
    return text or None


def _capitalised(text: str) -> str:
    """Words written all in one case ("ESCONDIDO", "san diego") capitalised; mixed case kept ("McAllen")."""
    return " ".join(w.capitalize() if (w.islower() or w.isupper()) else w for w in text.split(" "))


def person_name(name: str | None) -> str | None:
    """A buyer or recipient name without special characters (letters, digits, spaces, ' . - stay)."""
    cleaned = clean(name)
    return clean(_NOT_NAME.sub(" ", cleaned)) if cleaned else None


def region_code(country: str | None, region: str | None) -> str | None:
    """The two-letter code of a US state or Canadian province named by code or name (any case, any spacing);
    other countries' regions cleaned and kept. Raises AddressProblem for a US or Canadian region that is none."""
    region = clean(region)
    if region is None:
        return None
    table = REGIONS.get(country or "")
    if table is None:
        return _capitalised(region)
    wanted = region.lower()
    if wanted.rstrip(".").upper() in table.values():
        return wanted.rstrip(".").upper()
    code = table.get(wanted) or table.get(wanted.rstrip("."))
    if code is None:
        kind = "state" if country == "US" else "province or territory"
        raise AddressProblem("region", f"names no {country} {kind}")
    return code


def postal_code(country: str | None, code: str | None) -> str | None:
    code = clean(code)
    if code is None:
        return None
    if country == "US" and (m := _ZIP.match(code)):
        return m.group(1)
    if country == "CA" and (m := _CA_POSTAL.match(code.upper())):
        return f"{m.group(1)} {m.group(2)}"
    return code.upper() if country in ("CA", "GB", "NL", "IE") else code


@dataclass(frozen=True)
class Normalised:
    address: Address
    problem: AddressProblem | None = None


def normalise(address: Address) -> Normalised:
    """The address cleaned; with the problem (and the region as given) when its region is not one of its country."""
    country = (clean(address.country_code) or "").upper() or None
    problem: AddressProblem | None = None
    try:
        region = region_code(country, address.region)
    except AddressProblem as exc:
        problem, region = exc, clean(address.region)
    city = clean(address.city)
    return Normalised(Address(
        name=person_name(address.name),
        line1=clean(address.line1),
        line2=clean(address.line2),
        city=_capitalised(city) if city else None,
        region=region,
        postal_code=postal_code(country, address.postal_code),
        country_code=country,
        phone=clean(address.phone),
    ), problem)


def one_line(address: Address) -> str:
    """ "Escondido, CA 92025": city, region and postal code as a label prints them."""
    tail = " ".join(p for p in (address.region, address.postal_code) if p)
    return ", ".join(p for p in (address.city, tail) if p)
