"""Listing import end to end: the simulator's listings in, AmazonListingObserved on the broker out.

Real broker and PostgreSQL; Amazon is the in-process simulator. Each test imports for an account id of its
own, so the shared database and topics never mix runs.
"""

from __future__ import annotations

import io
import uuid
from decimal import Decimal
from importlib import resources
from typing import Any

import httpx
import pytest

from amazon_gateway.__main__ import import_listings
from amazon_gateway.service import Settings
from contracts import decode, topics
from contracts.events import AmazonListingObserved, CommunicationError
from devstack.testing import auth_headers, eventually, read_topic

pytestmark = pytest.mark.integration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def settings(kit: Any, bootstrap: str, database_url: str) -> Settings:
    return Settings(kafka_bootstrap_servers=bootstrap, database_url=database_url, amazon_api_base_url=kit.SIM_BASE,
                    amazon_lwa_url=f"{kit.SIM_BASE}/auth/o2/token", amazon_retry_base_delay_s=0.01,
                    amazon_retry_max_delay_s=0.05, amazon_max_attempts=3)


def new_account(kit: Any) -> Any:
    return kit.gateway_account(account_id=f"imp-{uuid.uuid4().hex[:10]}")


async def seed(kit: Any, sim: httpx.AsyncClient, n: int) -> dict[str, tuple[int, int]]:
    """n listings in the simulator: sku -> (price, quantity)."""
    listings = {sku: (10 + i, i) for i, sku in enumerate(kit.new_skus(n))}
    for sku, (price, quantity) in listings.items():
        await kit.seed_listing(sim, sku, price=price, quantity=quantity)
    return listings


async def observed_for(bootstrap: str, account_id: str, skus: int) -> list[AmazonListingObserved]:
    def mine(records: list[Any]) -> list[AmazonListingObserved]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, AmazonListingObserved) and e.account_id == account_id]

    records = await read_topic(bootstrap, topics.AMAZON_LISTINGS.name, timeout=60,
                               until=lambda rs: len({e.sku for e in mine(rs)}) >= skus)
    return mine(records)


async def errors_for(bootstrap: str, account_id: str) -> list[CommunicationError]:
    def mine(records: list[Any]) -> list[CommunicationError]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, CommunicationError) and e.account_id == account_id]

    return mine(await read_topic(bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=60,
                                 until=lambda rs: bool(mine(rs))))


async def import_row(db: Any, account_id: str) -> Any:
    return await db.fetchrow("SELECT * FROM amazon_gateway.listing_imports WHERE account_id = $1", account_id)


async def test_cli_imports_every_listing_and_publishes_without_a_gateway(
        topics_created: str, database_url: str, db: Any, sim_http: httpx.AsyncClient, kit: Any) -> None:
    listings = await seed(kit, sim_http, 25)
    account = new_account(kit)
    out, err = Terminal(), io.StringIO()
    status = await import_listings(["--account", account.account_id, "--page-size", "10"],
                                   settings=settings(kit, topics_created, database_url), http=sim_http,
                                   accounts={account.account_id: account}, out=out, err=err)
    assert status == 0, err.getvalue()
    text = out.getvalue()
    assert f"{account.account_id} {kit.US}: imported 25 listings of 25" in text
    assert "25/25" in text and "listings/s" in text  # the progress bar, on a terminal
    assert "wait in the outbox" not in text  # this process published them itself

    events = await observed_for(topics_created, account.account_id, 25)
    assert {e.sku for e in events} == set(listings)
    for e in events:
        price, quantity = listings[e.sku]
        assert e.price is not None and (e.price.amount, e.price.currency) == (Decimal(price), "USD")
        assert (e.quantity, e.marketplace_id, e.product_type, e.source) == (quantity, kit.US, "HOME", "import")
        assert e.asin and e.issues == []
        assert e.status == (["BUYABLE", "DISCOVERABLE"] if quantity else ["DISCOVERABLE"])
    row = await import_row(db, account.account_id)
    assert (row["status"], row["pages"], row["imported"], row["total"], row["next_page_token"]) == (
        "done", 3, 25, 25, None)
    assert len({e.correlation_id for e in events}) == 1 and events[0].correlation_id == row["run_id"]
    stats = (await sim_http.get("/_sim/stats")).json()
    assert stats["operations"]["searchListingsItems"] == {"calls": 3, "200": 3}

    quiet = io.StringIO()  # not a terminal: no bar, only the summary; a finished import starts over
    assert await import_listings(["--account", account.account_id], settings=settings(kit, topics_created,
                                 database_url), http=sim_http, accounts={account.account_id: account},
                                 out=quiet) == 0
    assert quiet.getvalue() == f"{account.account_id} {kit.US}: imported 25 listings of 25\n"
    second = await import_row(db, account.account_id)
    assert second["run_id"] != row["run_id"] and second["pages"] == 2


class FailAfter(httpx.AsyncBaseTransport):
    """Forwards to the simulator; once `pages` searches have been answered, switches on the simulator's
    server-error fault for searchListingsItems, so Amazon itself starts failing mid-import."""

    def __init__(self, inner: httpx.AsyncBaseTransport, pages: int) -> None:
        self.inner, self.pages, self.searches = inner, pages, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/listings/") and \
                request.url.path.count("/") == 4:
            self.searches += 1
            if self.searches == self.pages + 1:
                fault = httpx.Request("POST", "http://sim.test/_sim/faults", json={
                    "error_rate": 1.0, "error_statuses": [503], "operations": ["searchListingsItems"]})
                assert (await self.inner.handle_async_request(fault)).status_code == 200
        return await self.inner.handle_async_request(request)


async def test_failed_import_reports_and_resumes_after_the_last_written_page(
        topics_created: str, database_url: str, db: Any, sim_http: httpx.AsyncClient, kit: Any) -> None:
    listings = await seed(kit, sim_http, 25)
    # The failed attempts use up the simulator's search quota; throttling and its recovery are the client
    # tests' subject, resuming is this one's.
    await sim_http.post("/_sim/ratelimits", json={"enabled": False})
    account = new_account(kit)
    args = ["--account", account.account_id, "--marketplace", kit.US, "--page-size", "10"]
    s = settings(kit, topics_created, database_url)
    failing = httpx.AsyncClient(transport=FailAfter(sim_http._transport, pages=2), base_url=kit.SIM_BASE)
    err = io.StringIO()
    async with failing:
        status = await import_listings(args, settings=s, http=failing, accounts={account.account_id: account},
                                       out=io.StringIO(), err=err)
    assert status == 1
    message = err.getvalue()
    assert "import failed after 20 listings" in message and "searchListingsItems failed after 3 attempt(s)" in message
    assert "ServiceUnavailable" in message and "continue from page 3" in message
    assert kit.REFRESH_TOKEN not in message and kit.CLIENT_SECRET not in message
    row = await import_row(db, account.account_id)
    assert (row["status"], row["pages"], row["imported"]) == ("failed", 2, 20)
    assert row["next_page_token"] and row["last_error"].startswith("ServiceUnavailable")
    (error,) = await errors_for(topics_created, account.account_id)
    assert (error.system, error.operation, error.code, error.attempts, error.marketplace_id) == (
        "amazon", "searchListingsItems", "ServiceUnavailable", 3, kit.US)
    assert error.correlation_id == row["run_id"]

    await sim_http.delete("/_sim/faults")
    before = (await sim_http.get("/_sim/stats")).json()["operations"]["searchListingsItems"].get("200", 0)
    out = io.StringIO()
    assert await import_listings(args, settings=s, http=sim_http, accounts={account.account_id: account},
                                 out=out) == 0
    assert out.getvalue() == f"{account.account_id} {kit.US}: imported 25 listings of 25\n"
    after = (await sim_http.get("/_sim/stats")).json()["operations"]["searchListingsItems"]["200"]
    assert after - before == 1  # only the third page was asked for again
    done = await import_row(db, account.account_id)
    assert (done["status"], done["pages"], done["imported"], done["run_id"]) == ("done", 3, 25, row["run_id"])
    events = await observed_for(topics_created, account.account_id, 25)
    assert {e.sku for e in events} == set(listings)


async def test_with_a_gateway_running_its_relay_publishes_the_import(
        gateway_factory: Any, database_url: str, sim_http: httpx.AsyncClient, kit: Any) -> None:
    listings = await seed(kit, sim_http, 4)
    account = new_account(kit)
    gateway = await gateway_factory(accounts=[account])
    await eventually(lambda: _leading(gateway), what="the gateway's relay leads")
    out = io.StringIO()
    status = await import_listings(["--account", account.account_id], settings=settings(
        kit, gateway.bootstrap, database_url), http=sim_http, accounts={account.account_id: account}, out=out)
    assert status == 0
    assert "(a running amazon-gateway publishes them)" in out.getvalue()
    events = await observed_for(gateway.bootstrap, account.account_id, 4)
    assert {e.sku for e in events} == set(listings)


async def _leading(gateway: Any) -> bool:
    return bool(gateway.service.relay and gateway.service.relay.is_leader)


async def test_admin_endpoint_runs_the_import_in_the_background(
        gateway_factory: Any, sim_http: httpx.AsyncClient, kit: Any) -> None:
    listings = await seed(kit, sim_http, 7)
    account = new_account(kit)
    gateway = await gateway_factory(accounts=[account])
    async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(app=gateway.service.asgi()),
                                 base_url="http://gw") as admin:
        r = await admin.post("/import/listings", params={"account_id": account.account_id})
        assert r.status_code == 202 and r.json() == {"queued": [kit.US], "account_id": account.account_id,
                                                   "source": "search"}

        async def finished() -> bool:
            rows = (await admin.get("/import/listings", params={"account_id": account.account_id})).json()
            return bool(rows) and rows[0]["status"] == "done"

        await eventually(finished, what="the import finished")
        (state,) = (await admin.get("/import/listings", params={"account_id": account.account_id})).json()
        assert (state["imported"], state["total"], state["unreachable"], state["resumable"]) == (7, 7, 0, False)
        r = await admin.post("/import/listings", params={"account_id": "nobody"})
        assert r.status_code == 404 and "no credentials configured" in r.json()["detail"]
        assert r.json()["errors"][0]["field"] == "query.account_id"
        r = await admin.post("/import/listings", params={"account_id": account.account_id,
                                                         "marketplace_id": "A1PA6795UKMFR9"})
        assert r.status_code == 404 and "not configured for marketplace" in r.json()["detail"]
        assert r.json()["errors"][0]["field"] == "query.marketplace_id"
        audit = (await admin.get("/audit", params={"action": "import.listings",
                                                   "target": f"account {account.account_id}"})).json()
        assert [(a["actor"], a["after"]["queued"]) for a in audit] == [("test-all", [kit.US])]
    events = await observed_for(gateway.bootstrap, account.account_id, 7)
    assert {e.sku for e in events} == set(listings)


async def test_bad_arguments_change_nothing(database_url: str, sim_http: httpx.AsyncClient, kit: Any) -> None:
    account = new_account(kit)
    s = settings(kit, "127.0.0.1:1", database_url)
    for args, says in ((["--account", "nobody"], "no credentials configured for account 'nobody'"),
                       (["--account", account.account_id, "--page-size", "21"], "--page-size must be between 1"),
                       (["--account", account.account_id, "--marketplace", "A1PA6795UKMFR9"],
                        "not configured for marketplace")):
        err = io.StringIO()
        assert await import_listings(args, settings=s, http=sim_http, accounts={account.account_id: account},
                                     out=io.StringIO(), err=err) == 2
        assert says in err.getvalue()
    assert "searchListingsItems" not in (await sim_http.get("/_sim/stats")).json()["operations"]


# ---------------------------------------------------------------- the merchant listings report


async def test_cli_imports_through_the_merchant_listings_report(
        topics_created: str, database_url: str, db: Any, sim_http: httpx.AsyncClient, kit: Any) -> None:
    listings = await seed(kit, sim_http, 30)
    account = new_account(kit)
    out = io.StringIO()
    status = await import_listings(["--account", account.account_id, "--source", "report", "--report-poll", "0.2"],
                                   settings=settings(kit, topics_created, database_url), http=sim_http,
                                   accounts={account.account_id: account}, out=out, err=io.StringIO())
    assert status == 0
    assert out.getvalue() == f"{account.account_id} {kit.US}: imported 30 listings of 30\n"
    row = await import_row(db, account.account_id)
    assert (row["status"], row["source"], row["imported"], row["total"]) == ("done", "report", 30, 30)
    assert row["report_id"]
    events = await observed_for(topics_created, account.account_id, 30)
    assert {e.sku for e in events} == set(listings)
    for e in events:
        price, quantity = listings[e.sku]
        assert e.price is not None and (e.price.amount, e.price.currency) == (Decimal(price), "USD")
        assert (e.quantity, e.source, e.issues) == (quantity, "report", None)
    stats = (await sim_http.get("/_sim/stats")).json()["operations"]
    assert stats["createReport"] == {"calls": 1, "202": 1} and stats["getReportDocument"]["200"] == 1
    assert "searchListingsItems" not in stats


async def test_report_import_resumes_without_a_new_report_and_writes_each_row_once(
        topics_created: str, database_url: str, db: Any, sim_http: httpx.AsyncClient, kit: Any) -> None:
    from amazon_gateway import listing_import as li
    from amazon_gateway.client import SpApiClient
    from amazon_gateway.domain.retry import RetryPolicy
    from servicekit import db as servicekit_db

    await sim_http.post("/_sim/ratelimits", json={"enabled": False})
    listings = await seed(kit, sim_http, 12)
    account = new_account(kit)
    client = SpApiClient({account.account_id: account}, http=sim_http, api_base_url=kit.SIM_BASE,
                         lwa_url=f"{kit.SIM_BASE}/auth/o2/token", retry=RetryPolicy(2, 0.01, 0.02))
    pool = await servicekit_db.create_pool(database_url, "amazon_gateway")
    await servicekit_db.migrate(pool, "amazon_gateway", resources.files("amazon_gateway") / "migrations")
    try:
        await sim_http.post("/_sim/faults", json={"error_rate": 1.0, "error_statuses": [500],
                                                  "operations": ["getReportDocument"]})
        importer = li.ListingImport(pool=pool, schema="amazon_gateway", client=client, producer="test",
                                    source="report", report_poll_s=0.2, report_chunk=5)
        with pytest.raises(li.ImportFailed) as failed:
            await importer.run(account.account_id, kit.US)
        assert failed.value.fields["operation"] == "getReportDocument"
        first = await import_row(db, account.account_id)
        assert (first["status"], first["imported"]) == ("failed", 0) and first["report_id"]
        await sim_http.delete("/_sim/faults")

        chunks = 0

        async def crash_after_first_chunk() -> None:
            nonlocal chunks
            chunks += 1
            if chunks == 1:
                raise ConnectionError("the process dies here")

        crashing = li.ListingImport(pool=pool, schema="amazon_gateway", client=client, producer="test",
                                    source="report", report_poll_s=0.2, report_chunk=5,
                                    after_commit=crash_after_first_chunk)
        with pytest.raises(ConnectionError):
            await crashing.run(account.account_id, kit.US)
        middle = await import_row(db, account.account_id)
        assert (middle["status"], middle["imported"], middle["report_id"]) == ("running", 5, first["report_id"])

        done = await importer.run(account.account_id, kit.US)
        assert (done.status, done.imported, done.total, done.pages, done.report_id) == (
            "done", 12, 12, 3, first["report_id"])
        stats = (await sim_http.get("/_sim/stats")).json()["operations"]
        assert stats["createReport"]["202"] == 1  # the report was requested once for the whole import
        written = await db.fetch(
            "SELECT payload FROM amazon_gateway._outbox WHERE event_type = 'AmazonListingObserved' "
            "AND correlation_id = $1", first["run_id"])
        skus = [decode(r["payload"]).sku for r in written]  # type: ignore[attr-defined]
        assert sorted(skus) == sorted(listings)  # each row once, across the failure, the crash and the resume
    finally:
        await pool.close()


async def test_a_report_amazon_cannot_build_fails_and_the_next_run_asks_again(
        topics_created: str, database_url: str, db: Any, sim_http: httpx.AsyncClient, kit: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from amazon_gateway import listing_import as li

    await seed(kit, sim_http, 2)
    account = new_account(kit)
    args = ["--account", account.account_id, "--source", "report", "--report-poll", "0.2"]
    s = settings(kit, topics_created, database_url)
    monkeypatch.setattr(li, "REPORT_TYPE", "GET_FLAT_FILE_OPEN_LISTINGS_DATA")  # one the simulator fails
    err = io.StringIO()
    assert await import_listings(args, settings=s, http=sim_http, accounts={account.account_id: account},
                                 out=io.StringIO(), err=err) == 1
    assert "getReport failed after 1 attempt(s): FATAL" in err.getvalue()
    assert "continue from a new report" in err.getvalue()
    row = await import_row(db, account.account_id)
    assert (row["status"], row["report_id"]) == ("failed", None)
    (error,) = await errors_for(topics_created, account.account_id)
    assert (error.operation, error.code) == ("getReport", "FATAL")
    monkeypatch.undo()
    assert await import_listings(args, settings=s, http=sim_http, accounts={account.account_id: account},
                                 out=io.StringIO()) == 0
    stats = (await sim_http.get("/_sim/stats")).json()["operations"]
    assert stats["createReport"]["202"] == 2
