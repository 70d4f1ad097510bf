"""Buyer personal data, sealed at rest and erased after the order is settled.

Each order's buyer data (email, name, shipping address) is one row of `order_buyers`, sealed with
AES-256-GCM under the first key of BUYER_DATA_KEYS; the row names the key that sealed it, so every
key in the list opens what it sealed (rotation: put a new key first, run `buyer-keys rotate`, then
drop the old key). The Amazon order id is bound into each seal, so a sealed value copied onto
another order's row does not open. Once the order is shipped or cancelled (`settle`), the data is
kept BUYER_DATA_RETENTION_DAYS more; `purge` then erases it, leaving a row without data so that a
replayed order cannot bring it back.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.events import Address
from servicekit import ServiceSettings, db
from servicekit.logging import get_logger

log = get_logger(component="buyers")

SCHEMA = db.schema_name("order-import")
KEY_BYTES = 32
NONCE_BYTES = 12
_SEAL_CONTEXT = b"order-import/buyer-data/v1\x00"
_KEY_ID_CONTEXT = b"order-import/buyer-data-key-id\x00"
_HIDDEN = "<hidden>"


class BuyerData(BaseModel):
    """What creating the Commerce order needs to know about the buyer; never shown in a repr."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    email: str | None = None
    name: str | None = None
    address: Address | None = None

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        return [(name, None if getattr(self, name) is None else _Hidden()) for name in type(self).model_fields]

    def __repr__(self) -> str:
        return f"BuyerData({', '.join(f'{name}={value!r}' for name, value in self.__repr_args__())})"

    def __str__(self) -> str:
        return repr(self)


class _Hidden:
    def __repr__(self) -> str:
        return _HIDDEN


# ---------------------------------------------------------------- errors


class BuyerDataError(Exception):
    """Buyer data cannot be sealed or opened; the message names keys and orders, never the data."""


class BuyerKeyMissing(BuyerDataError):
    pass


class BuyerKeyInvalid(BuyerDataError):
    pass


class BuyerDataUnreadable(BuyerDataError):
    def __init__(self, message: str, *, amazon_order_id: str, key_id: str) -> None:
        super().__init__(message)
        self.amazon_order_id = amazon_order_id
        self.key_id = key_id


# ---------------------------------------------------------------- keys


def new_key() -> str:
    """A fresh key as BUYER_DATA_KEYS takes it: 32 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8)).decode()


def key_id(key: bytes) -> str:
    """A short name for a key, safe to store and print: it tells nothing about the key."""
    return hashlib.sha256(_KEY_ID_CONTEXT + key).hexdigest()[:16]


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise BuyerKeyInvalid(
            f"{where} is not a buyer data key (32 bytes in URL-safe base64, as "
            "`python -m order_import buyer-keys new` prints)"
        )
    return raw


class Keyring:
    """The keys in order: the first seals, every one opens what it sealed."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise BuyerKeyMissing("a keyring needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for key in keys:
            self._ciphers.setdefault(key_id(key), AESGCM(key))
        self.current_id = key_id(keys[0])
        self._current = self._ciphers[self.current_id]

    @classmethod
    def parse(cls, texts: Sequence[str], setting: str) -> Keyring:
        return cls([_decode_key(text, f"{setting} key {n}") for n, text in enumerate(texts, 1)])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_id!r}, ids={list(self.ids)!r})"

    def seal(self, amazon_order_id: str, data: BuyerData) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        plain = data.model_dump_json(exclude_none=True).encode()
        return self.current_id, nonce + self._current.encrypt(nonce, plain, _aad(amazon_order_id))

    def open(self, amazon_order_id: str, sealed_by: str, sealed: bytes) -> BuyerData:
        cipher = self._ciphers.get(sealed_by)
        if cipher is None:
            raise BuyerDataUnreadable(
                f"buyer data of order {amazon_order_id} is sealed with key {sealed_by}, which is not among "
                f"the configured buyer data keys ({', '.join(self.ids)}): add that key to BUYER_DATA_KEYS",
                amazon_order_id=amazon_order_id, key_id=sealed_by,
            )
        try:
            plain = cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(amazon_order_id))
            return BuyerData.model_validate_json(plain)
        except (InvalidTag, ValueError, ValidationError):
            pass
        # Raised outside the handler: no chained cause, nothing of the row in a traceback.
        raise BuyerDataUnreadable(
            f"buyer data of order {amazon_order_id} does not open with key {sealed_by}: "
            "the row was altered or belongs to another order",
            amazon_order_id=amazon_order_id, key_id=sealed_by,
        )


def _aad(amazon_order_id: str) -> bytes:
    return _SEAL_CONTEXT + amazon_order_id.encode()


# ---------------------------------------------------------------- settings


class BuyerDataSettings(BaseSettings):
    """Keys and retention; a service's Settings may inherit it beside ServiceSettings."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    buyer_data_keys: SecretStr | None = Field(
        default=None, description="Comma-separated keys; the first seals, all open (rotation)")
    buyer_data_keys_file: str | None = Field(
        default=None, description="A mounted file with the same keys, one a line, the sealing key first")
    buyer_data_retention_days: float = Field(
        default=30, ge=0, description="Days buyer data is kept after the order is shipped or cancelled")
    buyer_data_purge_interval_s: float = Field(default=3600, gt=0)

    def keyring(self) -> Keyring:
        inline = self.buyer_data_keys.get_secret_value().strip() if self.buyer_data_keys else ""
        if inline and self.buyer_data_keys_file:
            raise BuyerKeyInvalid("set BUYER_DATA_KEYS or BUYER_DATA_KEYS_FILE, not both")
        if inline:
            return Keyring.parse([k.strip() for k in inline.split(",") if k.strip()], "BUYER_DATA_KEYS")
        if self.buyer_data_keys_file:
            path = Path(self.buyer_data_keys_file)
            try:
                lines = path.read_text().splitlines()
            except OSError as exc:
                raise BuyerKeyMissing(f"BUYER_DATA_KEYS_FILE {path} cannot be read: {exc.strerror}") from None
            keys = [s for line in lines if (s := line.strip()) and not s.startswith("#")]
            if keys:
                return Keyring.parse(keys, "BUYER_DATA_KEYS_FILE")
            raise BuyerKeyMissing(f"BUYER_DATA_KEYS_FILE {path} holds no key")
        raise BuyerKeyMissing(
            "no buyer data key: set BUYER_DATA_KEYS (or BUYER_DATA_KEYS_FILE) to a key from "
            "`python -m order_import buyer-keys new`; order-import keeps no buyer data unsealed"
        )


# ---------------------------------------------------------------- the vault


_STORE = """
INSERT INTO order_buyers (amazon_order_id, key_id, sealed, stored_at)
SELECT id, $1, sealed, now() FROM unnest($2::text[], $3::bytea[]) AS s(id, sealed)
ON CONFLICT (amazon_order_id) DO UPDATE
   SET key_id = EXCLUDED.key_id, sealed = EXCLUDED.sealed, stored_at = EXCLUDED.stored_at
 WHERE order_buyers.purge_after IS NULL OR order_buyers.purge_after > now()
"""

_LOAD = """
SELECT amazon_order_id, key_id, sealed FROM order_buyers
 WHERE amazon_order_id = ANY($1::text[]) AND sealed IS NOT NULL
   AND (purge_after IS NULL OR purge_after > now())
"""

_SETTLE = """
INSERT INTO order_buyers (amazon_order_id, settled_at, purge_after) VALUES ($1, $2, $3)
ON CONFLICT (amazon_order_id) DO UPDATE
   SET settled_at = LEAST(order_buyers.settled_at, EXCLUDED.settled_at),
       purge_after = LEAST(order_buyers.purge_after, EXCLUDED.purge_after)
"""

_PURGE = """
WITH due AS (
    SELECT amazon_order_id FROM order_buyers
     WHERE sealed IS NOT NULL AND purge_after <= now()
     ORDER BY purge_after LIMIT $1 FOR UPDATE SKIP LOCKED
)
UPDATE order_buyers b SET key_id = NULL, sealed = NULL, purged_at = now()
  FROM due WHERE b.amazon_order_id = due.amazon_order_id
"""


@dataclass(repr=False)
class BuyerVault:
    """Stores, opens, settles and purges each order's sealed buyer data in `order_buyers`."""

    keyring: Keyring
    retention: timedelta = timedelta(days=30)
    purge_interval_s: float = 3600
    purge_batch: int = 1000

    @classmethod
    def from_settings(cls, settings: BuyerDataSettings) -> BuyerVault:
        """Refuses (BuyerKeyMissing / BuyerKeyInvalid) without a usable key: no key, no buyer data."""
        return cls(settings.keyring(), timedelta(days=settings.buyer_data_retention_days),
                   settings.buyer_data_purge_interval_s)

    def __repr__(self) -> str:
        return f"BuyerVault({self.keyring!r}, retention={self.retention})"

    async def store(self, conn: asyncpg.Connection, amazon_order_id: str, data: BuyerData) -> None:
        """Upsert, sealed with the current key. Past the order's purge date nothing is stored."""
        await self.store_many(conn, {amazon_order_id: data})

    async def store_many(self, conn: asyncpg.Connection, data: Mapping[str, BuyerData]) -> None:
        """`store` for a batch of orders in one statement."""
        if not data:
            return
        ids = list(data)
        sealed = [self.keyring.seal(order_id, data[order_id])[1] for order_id in ids]
        await conn.execute(_STORE, self.keyring.current_id, ids, sealed)

    async def load(self, conn: asyncpg.Connection, amazon_order_id: str) -> BuyerData | None:
        """The order's buyer data; None when never stored, purged or due for purging."""
        return (await self.load_many(conn, [amazon_order_id])).get(amazon_order_id)

    async def load_many(self, conn: asyncpg.Connection, amazon_order_ids: Sequence[str]) -> dict[str, BuyerData]:
        """`load` for a page of orders: those with buyer data, by Amazon order id."""
        rows = await conn.fetch(_LOAD, list(amazon_order_ids))
        return {r["amazon_order_id"]: self.keyring.open(r["amazon_order_id"], r["key_id"], r["sealed"])
                for r in rows}

    async def settle(self, conn: asyncpg.Connection, amazon_order_id: str, at: datetime) -> None:
        """The order was shipped or cancelled at `at`: purge its data after the retention.

        The earliest settlement counts, so repeating it (or settling again later) changes nothing.
        """
        await conn.execute(_SETTLE, amazon_order_id, at, at + self.retention)

    async def purge(self, pool: asyncpg.Pool) -> int:
        """Erase the buyer data whose purge date has passed; returns how many orders'."""
        return await purge_due(pool, self.purge_batch)


async def purge_due(pool: asyncpg.Pool, batch: int = 1000) -> int:
    total = 0
    while True:
        async with pool.acquire() as conn:
            status = await conn.execute(_PURGE, batch)
        erased = int(status.rsplit(" ", 1)[-1])
        total += erased
        if erased < batch:
            return total


async def run_purge_forever(pool: asyncpg.Pool, interval_s: float, batch: int = 1000) -> None:
    """The purge every `interval_s` seconds for the service's lifetime; a failed round is retried."""
    while True:
        try:
            if erased := await purge_due(pool, batch):
                log.info("buyer_data_purged", orders=erased)
        except Exception as exc:  # the next round tries again
            log.warning("buyer_data_purge_failed", error=type(exc).__name__)
        await asyncio.sleep(interval_s)


# ---------------------------------------------------------------- rotation


@dataclass
class Rotation:
    resealed: int = 0
    current: int = 0
    unreadable: dict[str, int] = field(default_factory=dict)

    def render(self, key: str) -> str:
        text = f"resealed {self.resealed} orders' buyer data with key {key}; {self.current} sealed with it in all"
        for sealed_by, count in sorted(self.unreadable.items()):
            text += f"\nunreadable: {count} sealed with key {sealed_by} (not configured, or the rows were altered)"
        return text


_ROTATE_BATCH = """
SELECT amazon_order_id, key_id, sealed FROM order_buyers
 WHERE sealed IS NOT NULL AND key_id <> $1 AND amazon_order_id > $2
 ORDER BY amazon_order_id LIMIT $3 FOR UPDATE
"""

_RESEAL = """
UPDATE order_buyers b SET key_id = $1, sealed = r.sealed
  FROM unnest($2::text[], $3::text[], $4::bytea[]) AS r(id, was, sealed)
 WHERE b.amazon_order_id = r.id AND b.key_id = r.was
"""


async def rotate(pool: asyncpg.Pool, keyring: Keyring, batch: int = 500) -> Rotation:
    """Reseal every row not sealed with the current key, a batch per transaction; running it again is harmless."""
    report = Rotation()
    after = ""
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_ROTATE_BATCH, keyring.current_id, after, batch)
            ids: list[str] = []
            was: list[str] = []
            sealed: list[bytes] = []
            for r in rows:
                order_id = r["amazon_order_id"]
                try:
                    data = keyring.open(order_id, r["key_id"], r["sealed"])
                except BuyerDataUnreadable:
                    report.unreadable[r["key_id"]] = report.unreadable.get(r["key_id"], 0) + 1
                    continue
                ids.append(order_id)
                was.append(r["key_id"])
                sealed.append(keyring.seal(order_id, data)[1])
            if ids:
                status = await conn.execute(_RESEAL, keyring.current_id, ids, was, sealed)
                report.resealed += int(status.rsplit(" ", 1)[-1])
        if len(rows) < batch:
            break
        after = rows[-1]["amazon_order_id"]
    report.current = await pool.fetchval(
        "SELECT count(*) FROM order_buyers WHERE sealed IS NOT NULL AND key_id = $1", keyring.current_id)
    log.info("buyer_data_rotated", key=keyring.current_id, resealed=report.resealed,
             unreadable=sum(report.unreadable.values()))
    return report


# ---------------------------------------------------------------- `python -m order_import buyer-keys`


def keys_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m order_import buyer-keys",
                                     description="Keys that seal buyer data at rest.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("new", help="print a new key (put it first in BUYER_DATA_KEYS, keep the old ones after it)")
    rotation = commands.add_parser(
        "rotate", help="reseal every order's buyer data with the first key of BUYER_DATA_KEYS (uses DATABASE_URL)")
    rotation.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    if args.command == "new":
        key = new_key()
        print(key)
        print(f"key id {key_id(base64.urlsafe_b64decode(key))}", file=sys.stderr)
        return 0
    try:
        keyring = BuyerDataSettings().keyring()
    except BuyerDataError as exc:
        print(exc, file=sys.stderr)
        return 1
    return asyncio.run(_rotate_command(keyring, args.batch_size))


async def _rotate_command(keyring: Keyring, batch: int) -> int:
    dsn = ServiceSettings().database_url.get_secret_value()
    try:
        pool = await db.create_pool(dsn, SCHEMA)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"cannot reach the database (DATABASE_URL): {type(exc).__name__}", file=sys.stderr)
        return 2
    try:
        report = await rotate(pool, keyring, batch)
    except asyncpg.UndefinedTableError:
        print("no order_buyers table: order-import has not migrated this database yet", file=sys.stderr)
        return 2
    finally:
        await pool.close()
    print(report.render(keyring.current_id))
    return 1 if report.unreadable else 0
