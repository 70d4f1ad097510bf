"""Integration tests are those that use the broker or the database fixtures."""

import pytest

_REAL = {"kafka_bootstrap", "topics_created", "database_url", "postgres_server_url", "db"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _REAL & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
