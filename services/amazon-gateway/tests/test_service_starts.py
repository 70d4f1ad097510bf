"""amazon-gateway runs on the shared runtime: it starts, applies the runtime's migrations and is ready."""

from amazon_gateway.service import Settings, build


async def test_starts_migrates_and_reports_ready(topics_created, database_url, db) -> None:
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url))
    await service.start()
    try:
        checks = await service.ready()
    finally:
        await service.stop()
    assert checks == {"started": True, "database": True, "broker": True, "outbox": True}
    tables = {r["table_name"] for r in await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", service.schema)}
    assert {"_inbox", "_outbox", "_migrations"} <= tables
