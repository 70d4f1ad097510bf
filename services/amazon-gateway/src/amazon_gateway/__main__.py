"""`python -m amazon_gateway` runs the service; `import-listings` imports a seller's existing listings."""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import resources
from typing import TextIO

import asyncpg
import httpx
from pydantic import ValidationError
from tqdm import tqdm

from amazon_gateway import listing_import as li
from amazon_gateway.accounts import AmazonAccount
from amazon_gateway.client import SpApiClient
from amazon_gateway.domain.retry import RetryPolicy
from amazon_gateway.service import SERVICE, Settings, build
from servicekit import db
from servicekit.logging import configure_logging
from servicekit.outbox import OutboxFlush

EXIT_FAILED = 1  # Amazon failed for good (a CommunicationError was published) or another import holds the lock
EXIT_USAGE = 2  # bad arguments or configuration: nothing was called or written
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "serve"
    if command == "serve":
        build().run()
    elif command == "import-listings":
        try:
            sys.exit(asyncio.run(import_listings(argv[1:])))
        except KeyboardInterrupt:
            print("\ninterrupted: every page written so far is kept; run the same command to continue",
                  file=sys.stderr)
            sys.exit(EXIT_INTERRUPTED)
    else:
        print(f"unknown command {command!r}: serve or import-listings", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m amazon_gateway import-listings",
        description="Import the seller's existing Amazon listings (searchListingsItems) as AmazonListingObserved "
        "events. Written through the gateway's outbox: a running gateway publishes them, otherwise this command "
        "does. An interrupted or failed import continues from its last written page when run again.")
    parser.add_argument("--account", required=True, help="account_id from AMAZON_ACCOUNTS / AMAZON_ACCOUNTS_FILE")
    parser.add_argument("--marketplace", help="marketplace id; default every marketplace of the account")
    parser.add_argument("--source", choices=("search", "report"), default="search",
                        help="search: searchListingsItems, 20 listings a call, at most the first 1000 SKUs "
                        "(default); report: one GET_MERCHANT_LISTINGS_ALL_DATA report, any catalogue size, "
                        "minutes of waiting for Amazon to build it, no product types or issues")
    parser.add_argument("--page-size", type=int, default=20, help="listings per call, 1 to 20 (default 20)")
    parser.add_argument("--report-poll", type=float, default=15.0, metavar="SECONDS",
                        help="first wait between report status checks; doubles up to 2 minutes (default 15)")
    parser.add_argument("--restart", action="store_true", help="start from the first page, forgetting the "
                        "stored position")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (also when stdout is not a terminal)")
    return parser


async def import_listings(
    argv: list[str], *, settings: Settings | None = None, http: httpx.AsyncClient | None = None,
    accounts: dict[str, AmazonAccount] | None = None, out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """The command; returns its exit status. Tests pass the settings, an HTTP client and the output streams."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not 1 <= args.page_size <= li.MAX_PAGE_SIZE:
        print(f"--page-size must be between 1 and {li.MAX_PAGE_SIZE}", file=err)
        return EXIT_USAGE
    s = settings or Settings()
    if settings is None:
        configure_logging(SERVICE, "WARNING")  # the bar and the summary are the command's output
    try:
        configured = accounts if accounts is not None else s.accounts()
    except ValidationError as exc:  # named by field only: the input holds secrets
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        print(f"invalid accounts: {where}", file=err)
        return EXIT_USAGE
    except (ValueError, OSError) as exc:
        print(f"cannot read the accounts: {type(exc).__name__}", file=err)
        return EXIT_USAGE
    owns_http = http is None
    transport = http or httpx.AsyncClient(timeout=s.amazon_timeout_s)
    client = SpApiClient(configured, http=transport, api_base_url=s.amazon_api_base_url, lwa_url=s.amazon_lwa_url,
                         retry=RetryPolicy(s.amazon_max_attempts, s.amazon_retry_base_delay_s,
                                           s.amazon_retry_max_delay_s))
    try:
        marketplaces = li.marketplaces_to_import(client, args.account, args.marketplace)
    except ValueError as exc:
        print(str(exc), file=err)
        return EXIT_USAGE

    dsn = s.database_url.get_secret_value()
    schema = db.schema_name(SERVICE)
    try:
        pool = await db.create_pool(dsn, schema, min_size=1, max_size=3)
    except (OSError, asyncpg.PostgresError) as exc:  # the DSN may hold a password: not printed
        if owns_http:
            await transport.aclose()
        print(f"cannot reach the gateway's PostgreSQL (DATABASE_URL): {type(exc).__name__}", file=err)
        return EXIT_USAGE
    flush = OutboxFlush(dsn=dsn, schema=schema, bootstrap=s.kafka_bootstrap_servers, service=SERVICE)
    quiet = args.quiet or not out.isatty()
    status = 0
    try:
        await db.migrate(pool, schema, resources.files("amazon_gateway") / "migrations")
        await flush.start()
        importer = li.ListingImport(pool=pool, schema=schema, client=client, producer=SERVICE,
                                    page_size=args.page_size, after_commit=flush, source=args.source,
                                    report_poll_s=args.report_poll)
        for marketplace_id in marketplaces:
            bar = tqdm(desc=f"{args.account} {marketplace_id}", unit=" listings", file=out, disable=quiet,
                       dynamic_ncols=True)

            def show(p: li.Progress, bar: tqdm = bar) -> None:
                if p.total is not None:
                    bar.total = p.total if p.source == "report" else min(p.total, li.SEARCH_PAGEABLE)
                bar.update(p.imported + p.skipped - bar.n)

            try:
                done = await importer.run(args.account, marketplace_id, restart=args.restart, on_progress=show)
            except li.ImportFailed as exc:
                bar.close()
                p = exc.progress
                where = f"page {p.pages + 1}" if p.source == "search" else (
                    f"row {p.rows_done + 1} of the same report" if p.report_id else "a new report")
                print(f"{args.account} {marketplace_id}: import failed after {p.imported} listings: {exc}\n"
                      f"A CommunicationError was published; run the same command again to continue from {where} "
                      "(--restart starts over).", file=err)
                status = EXIT_FAILED
                continue
            except li.ImportBusy as exc:
                bar.close()
                print(f"{exc}; try again when it has finished", file=err)
                status = EXIT_FAILED
                continue
            bar.close()
            print(_summary(done), file=out)
        if not flush.relaying:
            waiting = await flush.waiting()
            where = flush.problem or "a running amazon-gateway publishes them"
            print(f"{waiting} events wait in the outbox ({where})", file=out)
        elif flush.problem:
            print(f"{await flush.waiting()} events wait in the outbox: {flush.problem}", file=err)
    finally:
        await flush.close()
        await pool.close()
        if owns_http:
            await transport.aclose()
    return status


def _summary(p: li.Progress) -> str:
    line = f"{p.account_id} {p.marketplace_id}: imported {p.imported} listings"
    if p.total is not None:
        line += f" of {p.total}"
    if p.skipped:
        line += f", {p.skipped} skipped (see the log)"
    if p.unreachable:
        line += (f"; {p.unreachable} more are beyond the 1000 listings searchListingsItems can page through "
                 "and were not imported (--source report imports them all)")
    return line


if __name__ == "__main__":
    main()
