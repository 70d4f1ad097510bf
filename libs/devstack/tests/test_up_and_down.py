"""The README's first command: `devstack up` starts every service and seeds the demo store;
`devstack down` stops all of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal

import httpx

from devstack.infra import free_port
from devstack.processes import SERVICES, alive


def devstack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack", *args], env=env, capture_output=True,
                          text=True, timeout=240)


def test_up_starts_everything_seeds_the_store_and_down_stops_it(topics_created, database_url, tmp_path) -> None:
    offset = free_port() % 1000 + 20000
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": topics_created, "DATABASE_URL": database_url,
           "DEVSTACK_RUN_DIR": str(tmp_path), "DEVSTACK_PORT_OFFSET": str(offset)}
    up = devstack("up", env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        for name, (_, port) in SERVICES.items():
            assert f"http://127.0.0.1:{port + offset}" in up.stdout
            ready = httpx.get(f"http://127.0.0.1:{port + offset}/readyz", timeout=5)
            assert ready.status_code == 200, (name, ready.text)
        assert "44 Luma sample products published" in up.stdout
        assert "applied to the repricer" in up.stdout
        assert "44 demo listings on the simulator" in up.stdout
        # the demo key: printed, kept with owner-only access, and the only way in
        key = (tmp_path / "demo-api-key").read_text().strip()
        assert key in up.stdout and (tmp_path / "demo-api-key").stat().st_mode & 0o077 == 0
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"http://127.0.0.1:{SERVICES['reporting'][1] + offset}/listings/summary",
                         timeout=5).status_code == 401
        pids = [int(p.read_text()) for p in (tmp_path / "pids").glob("*.pid")]
        assert len(pids) == len(SERVICES) + 1  # and the SP-API simulator

        # the whole way round: product -> catalog-sync; the simulator's market -> notifications pushed to
        # amazon-gateway -> OfferPriceObserved; the listing import -> the listing's ASIN; the repricer (demo
        # pricing: follow the Buy Box, floor price + 5 %) -> amazon-gateway -> the simulator's listing
        sim = f"http://127.0.0.1:{8110 + offset}/_sim/listings/A1DEMOSELLER/24-MB01"
        decided = f"http://127.0.0.1:{SERVICES['repricer'][1] + offset}/prices/demo-seller/ATVPDKIKX0DER/24-MB01"
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, "no competitor-based price reached the simulator"
            price = Decimal(httpx.get(sim, timeout=5).json()["prices"].get("ATVPDKIKX0DER") or 0)
            decision = httpx.get(decided, timeout=5, headers=auth)
            if price >= Decimal("35.70") and decision.status_code == 200 and decision.json()["decision"]["competitor"]:
                break
            time.sleep(0.5)
        assert decision.json()["decision"]["floor"]["amount"] == "35.70"
        gateway = f"http://127.0.0.1:{SERVICES['amazon-gateway'][1] + offset}"
        while (imported := httpx.get(f"{gateway}/import/listings", params={"account_id": "demo-seller"},
                                     timeout=5, headers=auth).json())[0]["status"] != "done":
            assert time.monotonic() < deadline, imported
            time.sleep(0.5)
        assert [(p["marketplace_id"], p["imported"]) for p in imported] == [("ATVPDKIKX0DER", 44)]
        assert all((tmp_path / "logs" / f"{name}.log").exists() for name in SERVICES)
    finally:
        down = devstack("down", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(alive(pid) for pid in pids)
    assert "catalog-sync" in down.stdout
