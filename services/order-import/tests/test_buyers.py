"""Buyer data: sealed at rest (unreadable in the database without the key), rotatable, purged after
the retention, and never shown in a repr or an error."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from contracts.events import Address
from order_import.buyers import (
    BuyerData,
    BuyerDataSettings,
    BuyerDataUnreadable,
    BuyerKeyInvalid,
    BuyerKeyMissing,
    BuyerVault,
    Keyring,
    key_id,
    keys_command,
    new_key,
    purge_due,
    rotate,
    run_purge_forever,
)
from servicekit import db as servicekit_db

SCHEMA = "order_import"
EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"
STREET = "12 Analytical Engine Road"
ADA = BuyerData(email=EMAIL, name=NAME, address=Address(
    name=NAME, line1=STREET, city="Marylebone", postal_code="NW1 5LR", country_code="GB", phone="+44 20 7946 0000"))


def vault(*keys: str, retention_days: float = 30) -> BuyerVault:
    return BuyerVault.from_settings(BuyerDataSettings(
        buyer_data_keys=SecretStr(",".join(keys)), buyer_data_retention_days=retention_days))


def keyring(*keys: str) -> Keyring:
    return BuyerDataSettings(buyer_data_keys=SecretStr(",".join(keys))).keyring()


def raw(key: str) -> bytes:
    return base64.urlsafe_b64decode(key)


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await servicekit_db.create_pool(database_url, SCHEMA, min_size=1, max_size=4)
    await servicekit_db.migrate(p, SCHEMA, resources.files("order_import") / "migrations")
    yield p
    await p.close()


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as c:
        await c.execute("TRUNCATE order_buyers")
        yield c


async def test_round_trip(conn: asyncpg.Connection) -> None:
    v = vault(new_key())
    await v.store(conn, "111-0000001-0000001", ADA)
    await v.store(conn, "111-0000001-0000002", BuyerData(email="only@example.com"))

    assert await v.load(conn, "111-0000001-0000001") == ADA
    assert await v.load(conn, "111-0000001-0000002") == BuyerData(email="only@example.com")
    assert await v.load(conn, "111-0000001-0000003") is None
    assert await v.load_many(conn, ["111-0000001-0000001", "111-0000001-0000003"]) == {"111-0000001-0000001": ADA}


async def test_store_replaces_the_data(conn: asyncpg.Connection) -> None:
    v = vault(new_key())
    edited = ADA.model_copy(update={"address": ADA.address.model_copy(update={"line1": "1 New Street"})})
    await v.store(conn, "111-0000002-0000001", ADA)
    await v.store(conn, "111-0000002-0000001", edited)

    assert await v.load(conn, "111-0000002-0000001") == edited


async def test_the_database_holds_no_plaintext_and_is_unreadable_without_the_key(conn: asyncpg.Connection) -> None:
    key = new_key()
    await vault(key).store(conn, "111-0000003-0000001", ADA)

    row = await conn.fetchrow("SELECT *, order_buyers::text AS whole FROM order_buyers")
    assert row["key_id"] == key_id(raw(key))
    for secret in (EMAIL, NAME, STREET, "Marylebone", "NW1 5LR", "7946", key):
        assert secret not in row["whole"]
        assert secret.encode() not in row["sealed"]
        assert secret.lower().encode() not in bytes(row["sealed"]).lower()

    with pytest.raises(BuyerDataUnreadable) as caught:
        await vault(new_key()).load(conn, "111-0000003-0000001")
    message = str(caught.value)
    assert key_id(raw(key)) in message and "111-0000003-0000001" in message
    assert not any(secret in message for secret in (EMAIL, NAME, STREET, key))
    assert caught.value.key_id == key_id(raw(key))


async def test_a_sealed_value_opens_only_on_its_own_unaltered_row(conn: asyncpg.Connection) -> None:
    v = vault(new_key())
    await v.store(conn, "111-0000004-0000001", ADA)
    await v.store(conn, "111-0000004-0000002", BuyerData(name="Someone Else"))
    await conn.execute("UPDATE order_buyers SET sealed = (SELECT sealed FROM order_buyers "
                       "WHERE amazon_order_id = '111-0000004-0000001') WHERE amazon_order_id = '111-0000004-0000002'")
    await conn.execute("UPDATE order_buyers SET sealed = set_byte(sealed, 20, get_byte(sealed, 20) # 1) "
                       "WHERE amazon_order_id = '111-0000004-0000001'")

    for order_id in ("111-0000004-0000001", "111-0000004-0000002"):
        with pytest.raises(BuyerDataUnreadable, match="does not open") as caught:
            await v.load(conn, order_id)
        assert caught.value.__cause__ is None and caught.value.__context__ is None
        assert NAME not in str(caught.value)


async def test_rotation(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    old, new = new_key(), new_key()
    for n in range(7):
        await vault(old).store(conn, f"111-0000005-{n:07}", BuyerData(name=f"Buyer {n}"))
    rotated = vault(new, old)
    await rotated.store(conn, "111-0000005-0000100", BuyerData(name="Buyer 100"))
    assert await rotated.load(conn, "111-0000005-0000003") == BuyerData(name="Buyer 3")

    report = await rotate(pool, keyring(new, old), batch=3)
    assert (report.resealed, report.current, report.unreadable) == (7, 8, {})
    only_new = vault(new)
    assert await only_new.load_many(conn, [f"111-0000005-{n:07}" for n in (*range(7), 100)]) == {
        f"111-0000005-{n:07}": BuyerData(name=f"Buyer {n}") for n in (*range(7), 100)}
    assert {r["key_id"] for r in await conn.fetch("SELECT key_id FROM order_buyers")} == {key_id(raw(new))}

    again = await rotate(pool, keyring(new, old), batch=3)
    assert (again.resealed, again.current, again.unreadable) == (0, 8, {})


async def test_rotation_counts_rows_it_cannot_open_and_leaves_them(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    lost, new = new_key(), new_key()
    await vault(lost).store(conn, "111-0000006-0000001", ADA)
    await vault(new).store(conn, "111-0000006-0000002", ADA)

    report = await rotate(pool, keyring(new))
    assert (report.resealed, report.current, report.unreadable) == (0, 1, {key_id(raw(lost)): 1})
    assert await vault(lost).load(conn, "111-0000006-0000001") == ADA


async def test_rotate_command(
    pool: asyncpg.Pool, conn: asyncpg.Connection, database_url: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = new_key(), new_key()
    await vault(old).store(conn, "111-0000007-0000001", ADA)
    await vault(old).store(conn, "111-0000007-0000002", ADA)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BUYER_DATA_KEYS", f"{new},{old}")

    assert await asyncio.to_thread(keys_command, ["rotate"]) == 0
    first = capsys.readouterr().out
    assert await asyncio.to_thread(keys_command, ["rotate"]) == 0
    second = capsys.readouterr().out

    assert f"resealed 2 orders' buyer data with key {key_id(raw(new))}; 2 sealed with it" in first
    assert "resealed 0 orders' buyer data" in second
    assert await vault(new).load(conn, "111-0000007-0000002") == ADA


def test_new_key_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert keys_command(["new"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert len(raw(key)) == 32
    assert err.strip() == f"key id {key_id(raw(key))}"
    assert keyring(key).current_id == key_id(raw(key))


async def test_purge_erases_exactly_what_is_due(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    v = vault(new_key())
    now = datetime.now(UTC)
    for order_id in ("due", "kept", "open", "again"):
        await v.store(conn, order_id, ADA)
    await v.settle(conn, "due", now - timedelta(days=31))
    await v.settle(conn, "kept", now - timedelta(days=29))
    await v.settle(conn, "again", now - timedelta(days=45))
    await v.settle(conn, "never-stored", now - timedelta(days=40))

    assert await v.purge(pool) == 2
    assert await v.load(conn, "due") is None
    assert await v.load(conn, "again") is None
    assert await v.load(conn, "kept") == ADA
    assert await v.load(conn, "open") == ADA
    assert await conn.fetchval("SELECT count(*) FROM order_buyers WHERE sealed IS NOT NULL") == 2
    assert await v.purge(pool) == 0

    await v.store(conn, "due", ADA)  # a replayed order does not bring the data back
    await v.store(conn, "never-stored", ADA)
    assert await v.load(conn, "due") is None
    assert await v.load(conn, "never-stored") is None
    assert await conn.fetchval("SELECT count(*) FROM order_buyers WHERE sealed IS NOT NULL") == 2


async def test_purge_in_batches(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    v = vault(new_key(), retention_days=0)
    at = datetime.now(UTC) - timedelta(minutes=1)
    await v.store_many(conn, {f"batch-{n}": BuyerData(name=f"Buyer {n}") for n in range(25)})
    for n in range(20):
        await v.settle(conn, f"batch-{n}", at)

    assert await purge_due(pool, batch=7) == 20
    assert len(await v.load_many(conn, [f"batch-{n}" for n in range(25)])) == 5


async def test_data_past_its_purge_date_is_not_loaded_before_the_purge_runs(conn: asyncpg.Connection) -> None:
    v = vault(new_key())
    await v.store(conn, "late", ADA)
    await v.settle(conn, "late", datetime.now(UTC) - timedelta(days=30, minutes=1))

    assert await v.load(conn, "late") is None
    assert await conn.fetchval("SELECT sealed IS NOT NULL FROM order_buyers WHERE amazon_order_id = 'late'")


async def test_settle_is_idempotent_and_the_earliest_settlement_counts(conn: asyncpg.Connection) -> None:
    v = vault(new_key(), retention_days=10)
    shipped = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    await v.store(conn, "settled", ADA)
    await v.settle(conn, "settled", shipped)
    await v.settle(conn, "settled", shipped)
    await v.settle(conn, "settled", shipped + timedelta(days=3))
    await v.store(conn, "settled", ADA)

    row = await conn.fetchrow("SELECT settled_at, purge_after FROM order_buyers WHERE amazon_order_id = 'settled'")
    assert (row["settled_at"], row["purge_after"]) == (shipped, shipped + timedelta(days=10))


async def test_the_purge_loop_erases_what_is_due(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    v = vault(new_key(), retention_days=0)
    await v.store(conn, "looped", ADA)
    await v.settle(conn, "looped", datetime.now(UTC) - timedelta(seconds=1))
    purged = "SELECT purged_at IS NOT NULL FROM order_buyers WHERE amazon_order_id = 'looped'"

    task = asyncio.create_task(run_purge_forever(pool, 3600))
    try:
        async with asyncio.timeout(10):
            while not await conn.fetchval(purged):
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
    assert await conn.fetchval("SELECT sealed FROM order_buyers WHERE amazon_order_id = 'looped'") is None


def test_reprs_show_no_buyer_data() -> None:
    key = new_key()
    v = vault(key)
    for text in (repr(ADA), str(ADA), f"{ADA}", repr([ADA]), repr({"buyer": ADA})):
        assert not any(secret in text for secret in (EMAIL, NAME, STREET, "Marylebone")), text
    assert repr(ADA) == "BuyerData(email=<hidden>, name=<hidden>, address=<hidden>)"
    assert repr(BuyerData(name=NAME)) == "BuyerData(email=None, name=<hidden>, address=None)"
    assert key not in repr(v) and key_id(raw(key)) in repr(v)

    with pytest.raises(ValidationError) as caught:
        BuyerData.model_validate({"email": EMAIL, "name": {"first": NAME}})
    assert NAME not in str(caught.value) and "name" in str(caught.value)


def test_no_key_no_buyer_data(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUYER_DATA_KEYS", raising=False)
    monkeypatch.delenv("BUYER_DATA_KEYS_FILE", raising=False)
    with pytest.raises(BuyerKeyMissing, match="BUYER_DATA_KEYS"):
        BuyerVault.from_settings(BuyerDataSettings())

    empty = tmp_path / "empty"
    empty.write_text("# no key yet\n\n")
    with pytest.raises(BuyerKeyMissing, match=r"BUYER_DATA_KEYS_FILE .* holds no key"):
        BuyerDataSettings(buyer_data_keys_file=str(empty)).keyring()
    with pytest.raises(BuyerKeyMissing, match="cannot be read"):
        BuyerDataSettings(buyer_data_keys_file=str(tmp_path / "absent")).keyring()


def test_keys_from_the_environment_or_a_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = new_key(), new_key()
    monkeypatch.setenv("BUYER_DATA_KEYS", f" {first} , {second} ")
    monkeypatch.setenv("BUYER_DATA_RETENTION_DAYS", "45")
    from_env = BuyerVault.from_settings(BuyerDataSettings())
    assert from_env.keyring.ids == (key_id(raw(first)), key_id(raw(second)))
    assert from_env.retention == timedelta(days=45)

    keys_file = tmp_path / "buyer-keys"
    keys_file.write_text(f"# newest first\n{second}\n\n{first}\n")
    monkeypatch.setenv("BUYER_DATA_KEYS_FILE", str(keys_file))
    with pytest.raises(BuyerKeyInvalid, match="not both"):
        BuyerDataSettings().keyring()
    monkeypatch.delenv("BUYER_DATA_KEYS")
    assert BuyerDataSettings().keyring().ids == (key_id(raw(second)), key_id(raw(first)))


def test_a_malformed_key_is_named_by_its_position_not_shown() -> None:
    good = new_key()
    for bad in ("not-a-key", base64.urlsafe_b64encode(b"x" * 16).decode(), "é" * 44):
        with pytest.raises(BuyerKeyInvalid, match="BUYER_DATA_KEYS key 2 is not a buyer data key") as caught:
            keyring(good, bad)
        assert bad not in str(caught.value) and good not in str(caught.value)


texts = st.text(st.characters(codec="utf-8"), max_size=80)
buyers = st.builds(
    BuyerData, email=st.none() | texts, name=st.none() | texts,
    address=st.none() | st.builds(Address, **{f: st.none() | texts for f in Address.model_fields}),
)
ROUND_TRIP = keyring(new_key())


@given(buyers, texts.filter(bool))
def test_any_buyer_data_survives_sealing(data: BuyerData, order_id: str) -> None:
    sealed_by, sealed = ROUND_TRIP.seal(order_id, data)
    assert ROUND_TRIP.open(order_id, sealed_by, sealed) == data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=buyers)
def test_any_buyer_data_survives_the_database(data: BuyerData, database_url: str, pool: asyncpg.Pool) -> None:
    async def round_trip() -> BuyerData | None:
        v = BuyerVault(ROUND_TRIP)
        c = await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})
        try:
            async with c.transaction():
                await v.store(c, "hypothesis", data)
                loaded = await v.load(c, "hypothesis")
                await c.execute("DELETE FROM order_buyers WHERE amazon_order_id = 'hypothesis'")
                return loaded
        finally:
            await c.close()

    assert asyncio.run(round_trip()) == data
