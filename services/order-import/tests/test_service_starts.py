"""order-import runs on the shared runtime: it starts, applies the runtime's migrations and is ready."""

from devstack.testing import assert_starts_ready
from order_import.buyers import new_key
from order_import.service import Settings, build


async def test_starts_migrates_and_reports_ready(topics_created, database_url, db) -> None:
    await assert_starts_ready(build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                                             buyer_data_keys=new_key())), db)
