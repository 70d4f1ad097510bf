"""`python -m commerce_gateway` runs the service; `import-catalog` imports the whole Commerce catalogue."""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import resources
from typing import TextIO

import asyncpg
import httpx
from tqdm import tqdm

from commerce_gateway import catalog
from commerce_gateway.service import SERVICE, Settings, build, make_client
from servicekit import db
from servicekit.logging import configure_logging
from servicekit.outbox import OutboxFlush

EXIT_FAILED = 1  # Commerce failed for good (a CommunicationError was published) or another import holds the lock
EXIT_USAGE = 2  # bad arguments or configuration: nothing was called or written
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "serve"
    if command == "serve":
        build().run()
    elif command == "import-catalog":
        try:
            sys.exit(asyncio.run(import_catalog(argv[1:])))
        except KeyboardInterrupt:
            print("\ninterrupted: every page written so far is kept; run the same command to continue",
                  file=sys.stderr)
            sys.exit(EXIT_INTERRUPTED)
    else:
        print(f"unknown command {command!r}: serve or import-catalog", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m commerce_gateway import-catalog",
        description="Import the whole Commerce catalogue (GET /V1/products) as ProductChanged events, written "
        "through the gateway's outbox: a running gateway publishes them, otherwise this command does. An "
        "interrupted or failed import continues from its next page when run again.")
    parser.add_argument("--page-size", type=int, default=None,
                        help="products per page, 200 to 500 (default CATALOG_PAGE_SIZE, 300)")
    parser.add_argument("--restart", action="store_true", help="start from the first page, forgetting the "
                        "stored position")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (also when stdout is not a terminal)")
    return parser


async def import_catalog(argv: list[str], *, settings: Settings | None = None,
                         http: httpx.AsyncClient | None = None, out: TextIO | None = None,
                         err: TextIO | None = None) -> int:
    """The command; returns its exit status. Tests pass the settings, an HTTP client and the output streams."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    s = settings or Settings()
    if settings is None:
        configure_logging(SERVICE, "WARNING")  # the bar and the summary are the command's output
    page_size = args.page_size or s.catalog_page_size
    if not 200 <= page_size <= 500:
        print("--page-size must be between 200 and 500", file=err)
        return EXIT_USAGE
    if not s.commerce_base_url:
        print("COMMERCE_BASE_URL is not set", file=err)
        return EXIT_USAGE
    try:
        token_ok = bool(s.token().get_secret_value())
    except (ValueError, OSError) as exc:
        print(f"cannot read the Commerce token: {exc if isinstance(exc, ValueError) else type(exc).__name__}",
              file=err)
        return EXIT_USAGE
    if not token_ok:
        print("the Commerce token is empty", file=err)
        return EXIT_USAGE
    owns_http = http is None
    transport = http or httpx.AsyncClient(timeout=s.commerce_timeout_s)
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
    bar = tqdm(desc=f"store {s.commerce_store_code}", unit=" products", file=out, disable=quiet,
               dynamic_ncols=True)

    def show(p: catalog.Progress) -> None:
        if p.total is not None:
            bar.total = p.total
        bar.update(p.imported + p.skipped - bar.n)

    try:
        await db.migrate(pool, schema, resources.files("commerce_gateway") / "migrations")
        await flush.start()
        importer = catalog.CatalogImport(pool=pool, schema=schema, client=make_client(s, transport), producer=SERVICE,
                                         store_code=s.commerce_store_code, currency=s.commerce_base_currency,
                                         page_size=page_size, after_commit=flush)
        try:
            done = await importer.run(restart=args.restart, on_progress=show)
        except catalog.ImportFailed as exc:
            bar.close()
            p = exc.progress
            print(f"store {p.store_code}: import failed after {p.imported} products: {exc}\n"
                  f"A CommunicationError was published; run the same command again to continue from page "
                  f"{p.next_page} (--restart starts over).", file=err)
            status = EXIT_FAILED
        except catalog.ImportBusy as exc:
            bar.close()
            print(f"{exc}; try again when it has finished", file=err)
            status = EXIT_FAILED
        else:
            bar.close()
            line = f"store {done.store_code}: imported {done.imported} products of {done.total}"
            if done.skipped:
                line += f", {done.skipped} not products of their own (configurable, grouped, bundle) or invalid"
            print(line, file=out)
        if not flush.relaying:
            where = flush.problem or "a running commerce-gateway publishes them"
            print(f"{await flush.waiting()} events wait in the outbox ({where})", file=out)
        elif flush.problem:
            print(f"{await flush.waiting()} events wait in the outbox: {flush.problem}", file=err)
    finally:
        await flush.close()
        await pool.close()
        if owns_http:
            await transport.aclose()
    return status


if __name__ == "__main__":
    main()
