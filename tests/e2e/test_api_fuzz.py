"""Every service's HTTP API under a property-based fuzzer (schemathesis, every check), on the real
stack: each service a process of its own against a broker and PostgreSQL, amazon-gateway against
the SP-API simulator.

With a token: no 5xx, no answer outside the documented schema (status, content type, body,
headers), schema-valid input accepted and invalid input refused. Without one: every request is
refused, and the configuration and audit trail of every service are unchanged."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack import demo, infra
from devstack.processes import SERVICES, ProcessSpec, Supervisor, service_spec, wait_ready
from devstack.testing import TEST_KEYS, with_database
from order_import.buyers import new_key
from servicekit.topics import create_topics

HERE = Path(__file__).parent
SCHEMATHESIS = Path(sys.executable).parent / "st"
FUZZ_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def stack(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Every service and the simulator as processes, with a broker and a database of their own (so the
    fuzzer's writes and consumer offsets touch no other test)."""
    run_dir = tmp_path_factory.mktemp("fuzz-stack")
    sup = Supervisor(run_dir)
    broker_port = infra.free_port()
    sup.start(ProcessSpec("broker", infra.tansu_argv(broker_port)))
    infra.wait_for_port("127.0.0.1", broker_port)
    bootstrap = f"127.0.0.1:{broker_port}"
    asyncio.run(create_topics(bootstrap, partitions=2))
    database = f"fuzz_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(postgres_server_url, f'CREATE DATABASE "{database}"'))
    database_url = with_database(postgres_server_url, database)

    sim_port = infra.free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    (run_dir / "sim.json").write_text(json.dumps(demo.simulator_config()))
    specs = [ProcessSpec("amazon-sim", [sys.executable, "-m", "amazon_sim", "--port", str(sim_port),
                                        "--config", str(run_dir / "sim.json")], ready_url=f"{sim_url}/readyz")]
    gateway_env = {"AMAZON_API_BASE_URL": sim_url, "AMAZON_LWA_URL": f"{sim_url}/auth/o2/token",
                   "AMAZON_ACCOUNTS": json.dumps(demo.gateway_accounts())}
    urls = {}
    for name in SERVICES:
        port = infra.free_port()
        urls[name] = f"http://127.0.0.1:{port}"
        extra = {"amazon-gateway": gateway_env, "order-import": {"BUYER_DATA_KEYS": new_key()}}.get(name)
        specs.append(service_spec(name, bootstrap=bootstrap, database_url=database_url, port=port, extra_env=extra))
    try:
        procs = [(spec, sup.start(spec)) for spec in specs]
        for spec, proc in procs:
            wait_ready(spec.ready_url or "", timeout=90, proc=proc)
        demo.apply_demo_pricing(urls["repricer"], TEST_KEYS["all"])
        yield {"database_url": database_url, "logs": str(sup.log_dir), **urls}
    finally:
        sup.stop_all()
        asyncio.run(_admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def fuzz(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The fuzzer's run over one service; its exit code is 0 only when no check failed."""
    return subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(HERE / "schemathesis.toml"), "run", f"{url}/openapi.json",
         "--seed", os.environ.get("FUZZ_SEED", "20261207"), "--no-color", *args],
        capture_output=True, text=True, timeout=FUZZ_TIMEOUT_S)


async def configuration(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every service's configuration resources and audit trail, as stored."""
    conn = await asyncpg.connect(database_url)
    try:
        state = {}
        for name in SERVICES:
            schema = name.replace("-", "_")
            state[f"{name}/config"] = [tuple(r) for r in await conn.fetch(
                f"SELECT kind, name, revision, spec::text FROM {schema}._config ORDER BY kind, name")]
            state[f"{name}/audit"] = [tuple(r) for r in await conn.fetch(
                f"SELECT id, action, target FROM {schema}._audit ORDER BY id")]
        return state
    finally:
        await conn.close()


@pytest.mark.parametrize("service", list(SERVICES))
def test_fuzzing_finds_no_server_error_and_no_answer_outside_the_schema(stack: dict[str, str], service: str) -> None:
    result = fuzz(stack[service], "-H", f"Authorization: Bearer {TEST_KEYS['all']}")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "generated" in result.stdout and " passed" in result.stdout, result.stdout[-5000:]


def test_without_a_token_every_request_is_refused_and_nothing_changes(stack: dict[str, str]) -> None:
    before = asyncio.run(configuration(stack["database_url"]))
    assert before["repricer/config"], "the demo pricing should be there to be protected"
    for service in SERVICES:
        result = fuzz(stack[service], "--max-examples", "10")
        assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert asyncio.run(configuration(stack["database_url"])) == before


def test_no_key_appears_in_any_log_line(stack: dict[str, str]) -> None:
    """After every fuzz run (each request carried a key), no service or simulator log holds one."""
    logs = {path.name: path.read_text(errors="replace") for path in Path(stack["logs"]).glob("*.log")}
    assert set(logs) >= {f"{name}.log" for name in SERVICES}
    assert all(logs[f"{name}.log"] for name in SERVICES), "a service log is empty: nothing was checked"
    for name, text in logs.items():
        for key in TEST_KEYS.values():
            assert key not in text, f"an API key is in {name}"
