"""amazon-gateway runs on the shared runtime: it starts, applies the runtime's migrations and is ready."""

from amazon_gateway.service import Settings, build
from devstack.testing import assert_starts_ready


async def test_starts_migrates_and_reports_ready(topics_created, database_url, db) -> None:
    await assert_starts_ready(build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url)), db)
