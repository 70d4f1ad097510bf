"""Marketplace ids, countries and currencies (spec §4)."""

from __future__ import annotations

from typing import NamedTuple


class Marketplace(NamedTuple):
    id: str
    name: str
    country: str
    currency: str
    language: str
    domain: str


_ROWS = [
    ("A2EUQ1WTGCTBG2", "Amazon.ca", "CA", "CAD", "en_CA", "www.amazon.ca"),
    ("ATVPDKIKX0DER", "Amazon.com", "US", "USD", "en_US", "www.amazon.com"),
    ("A1AM78C64UM0Y8", "Amazon.com.mx", "MX", "MXN", "es_MX", "www.amazon.com.mx"),
    ("A2Q3Y263D00KWC", "Amazon.com.br", "BR", "BRL", "pt_BR", "www.amazon.com.br"),
    ("A28R8C7NBKEWEA", "Amazon.ie", "IE", "EUR", "en_IE", "www.amazon.ie"),
    ("A1RKKUPIHCS9HS", "Amazon.es", "ES", "EUR", "es_ES", "www.amazon.es"),
    ("A1F83G8C2ARO7P", "Amazon.co.uk", "GB", "GBP", "en_GB", "www.amazon.co.uk"),
    ("A13V1IB3VIYZZH", "Amazon.fr", "FR", "EUR", "fr_FR", "www.amazon.fr"),
    ("AMEN7PMS3EDWL", "Amazon.com.be", "BE", "EUR", "fr_BE", "www.amazon.com.be"),
    ("A1805IZSGTT6HS", "Amazon.nl", "NL", "EUR", "nl_NL", "www.amazon.nl"),
    ("A1PA6795UKMFR9", "Amazon.de", "DE", "EUR", "de_DE", "www.amazon.de"),
    ("APJ6JRA9NG5V4", "Amazon.it", "IT", "EUR", "it_IT", "www.amazon.it"),
    ("A2NODRKZP88ZB9", "Amazon.se", "SE", "SEK", "sv_SE", "www.amazon.se"),
    ("AE08WJ6YKNBMC", "Amazon.co.za", "ZA", "ZAR", "en_ZA", "www.amazon.co.za"),
    ("A1C3SOZRARQ6R3", "Amazon.pl", "PL", "PLN", "pl_PL", "www.amazon.pl"),
    ("ARBP9OOSHTCHU", "Amazon.eg", "EG", "EGP", "ar_EG", "www.amazon.eg"),
    ("A33AVAJ2PDY3EV", "Amazon.com.tr", "TR", "TRY", "tr_TR", "www.amazon.com.tr"),
    ("A17E79C6D8DWNP", "Amazon.sa", "SA", "SAR", "ar_SA", "www.amazon.sa"),
    ("A2VIGQ35RCS4UG", "Amazon.ae", "AE", "AED", "ar_AE", "www.amazon.ae"),
    ("A21TJRUUN4KGV", "Amazon.in", "IN", "INR", "en_IN", "www.amazon.in"),
    ("A19VAU5U5O7RUS", "Amazon.sg", "SG", "SGD", "en_SG", "www.amazon.sg"),
    ("A39IBJ37TRP1C6", "Amazon.com.au", "AU", "AUD", "en_AU", "www.amazon.com.au"),
    ("A1VC38T7YXB528", "Amazon.co.jp", "JP", "JPY", "ja_JP", "www.amazon.co.jp"),
]

MARKETPLACES: dict[str, Marketplace] = {row[0]: Marketplace(*row) for row in _ROWS}
