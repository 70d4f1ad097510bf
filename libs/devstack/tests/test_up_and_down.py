"""The README's first command: `devstack up` starts every service and both simulators, has commerce-gateway import
magento-sim's catalogue and seeds the demo; `devstack seed` does that again; `devstack down` stops all of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal

import httpx

from devstack.demo import sample_products
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
        assert f"http://127.0.0.1:{8120 + offset}" in up.stdout
        assert "magento-sim sells 44 products" in up.stdout
        assert "commerce-gateway imported 44 products as ProductChanged (2 containers skipped" in up.stdout
        assert "applied to the repricer" in up.stdout
        assert "44 demo listings on the simulator" in up.stdout
        for secret in ("magento-sim-token", "magento-sim-webhook-secret"):
            assert (tmp_path / secret).read_text().strip() not in up.stdout
            assert (tmp_path / secret).stat().st_mode & 0o077 == 0
        # the demo key: printed, kept with owner-only access, and the only way in
        key = (tmp_path / "demo-api-key").read_text().strip()
        assert key in up.stdout and (tmp_path / "demo-api-key").stat().st_mode & 0o077 == 0
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"http://127.0.0.1:{SERVICES['reporting'][1] + offset}/listings/summary",
                         timeout=5).status_code == 401
        pids = [int(p.read_text()) for p in (tmp_path / "pids").glob("*.pid")]
        assert len(pids) == len(SERVICES) + 2  # and the SP-API and Commerce simulators
        status = devstack("status", env=env)
        assert status.returncode == 0 and "magento-sim       running pid" in status.stdout, status.stdout
        commerce_gateway = f"http://127.0.0.1:{SERVICES['commerce-gateway'][1] + offset}"
        imported = httpx.get(f"{commerce_gateway}/import/catalog", headers=auth, timeout=5).json()
        assert (imported["status"], imported["imported"], imported["skipped"], imported["total"]) == ("done", 44, 2, 46)

        # the whole way round: magento-sim -> commerce-gateway -> product -> catalog-sync; the simulator's market
        # -> notifications pushed to amazon-gateway -> OfferPriceObserved; the listing import -> the listing's ASIN;
        # the repricer (demo pricing: follow the Buy Box, never below Commerce's cost + 5 %) -> amazon-gateway ->
        # the simulator's listing
        repricer = f"http://127.0.0.1:{SERVICES['repricer'][1] + offset}/prices/demo-seller/ATVPDKIKX0DER"
        deadline = time.monotonic() + 90
        followed = None
        while followed is None:
            assert time.monotonic() < deadline, "no competitor-based price reached the simulator"
            for product in sample_products():
                decision = httpx.get(f"{repricer}/{product.sku}", timeout=5, headers=auth)
                if decision.status_code != 200 or decision.json()["decision"]["competitor"]["price"] is None:
                    continue
                listing = httpx.get(f"http://127.0.0.1:{8110 + offset}/_sim/listings/A1DEMOSELLER/{product.sku}",
                                    timeout=5).json()
                if Decimal(listing["prices"]["ATVPDKIKX0DER"]) == Decimal(decision.json()["price"]["amount"]):
                    followed = product.sku, decision.json()["decision"]
                    break
            time.sleep(0.5)
        sku, decided = followed
        commerce = httpx.get(f"http://127.0.0.1:{8120 + offset}/_sim/products/{sku}", timeout=5).json()
        cost = Decimal(next(a["value"] for a in commerce["custom_attributes"] if a["attribute_code"] == "cost"))
        assert abs(Decimal(decided["floor"]["amount"]) - cost * Decimal("1.05")) <= Decimal("0.005"), (sku, decided)
        gateway = f"http://127.0.0.1:{SERVICES['amazon-gateway'][1] + offset}"
        while (imported := httpx.get(f"{gateway}/import/listings", params={"account_id": "demo-seller"},
                                     timeout=5, headers=auth).json())[0]["status"] != "done":
            assert time.monotonic() < deadline, imported
            time.sleep(0.5)
        assert [(p["marketplace_id"], p["imported"]) for p in imported] == [("ATVPDKIKX0DER", 44)]
        assert all((tmp_path / "logs" / f"{name}.log").exists() for name in SERVICES)

        # a product changed in Commerce: magento-sim's signed webhook -> commerce-gateway -> catalog-sync -> reporting
        changed = httpx.patch(f"http://127.0.0.1:{8120 + offset}/_sim/products/24-WB04", json={"qty": 42}, timeout=5)
        assert changed.status_code == 200, changed.text
        listing = f"http://127.0.0.1:{SERVICES['reporting'][1] + offset}/listings/demo-seller/ATVPDKIKX0DER/24-WB04"
        deadline = time.monotonic() + 30  # well inside the incremental sync's 300 s
        while httpx.get(listing, headers=auth, timeout=5).json()["quantity"] != 42:
            assert time.monotonic() < deadline, "the change did not reach the listing"
            time.sleep(0.3)

        # an order on "Amazon": amazon-gateway -> order-import (the demo's OrderSettings) -> commerce-gateway ->
        # magento-sim; shipped there: commerce-gateway -> order-import -> amazon-gateway -> Shipped on "Amazon"
        assert "1 OrderSettings from services/order-import/examples/orders.yaml applied" in up.stdout
        simulator, magento = f"http://127.0.0.1:{8110 + offset}", f"http://127.0.0.1:{8120 + offset}"
        placed = httpx.post(f"{simulator}/_sim/orders", timeout=5, json={
            "sellerId": "A1DEMOSELLER", "lines": [{"sku": "24-MB01", "quantity": 1}], "orderStatus": "Unshipped"})
        assert placed.status_code == 201, placed.text
        amazon_order = placed.json()["AmazonOrderId"]
        deadline = time.monotonic() + 150  # the ORDER_CHANGE push, else amazon-gateway's poll every 120 s
        while not (created := httpx.get(f"{magento}/_sim/orders", params={"ext_order_id": amazon_order},
                                        timeout=5).json()):
            assert time.monotonic() < deadline, "the Amazon order did not reach Commerce"
            time.sleep(0.5)
        (order,) = created
        assert (order["increment_id"], order["state"]) == (amazon_order, "processing")  # Amazon's number, invoiced
        shipped = httpx.post(f"{magento}/_sim/orders/{order['entity_id']}/ship", timeout=5)
        assert shipped.status_code == 200, shipped.text
        tracking = shipped.json()["tracks"][0]["track_number"]
        deadline = time.monotonic() + 60
        while (on_amazon := httpx.get(f"{simulator}/_sim/orders/{amazon_order}", timeout=5).json())[
                "OrderStatus"] != "Shipped":
            assert time.monotonic() < deadline, f"the shipment did not reach Amazon: {on_amazon['OrderStatus']}"
            time.sleep(0.5)
        assert [(s["carrierCode"], s["trackingNumber"]) for s in on_amazon["Shipments"]] == [("UPS", tracking)]

        # `devstack seed` runs the seeding again: a new catalogue import from the start
        first_run = httpx.get(f"{commerce_gateway}/import/catalog", headers=auth, timeout=5).json()["run_id"]
        again = devstack("seed", env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "commerce-gateway imported 44 products" in again.stdout
        rerun = httpx.get(f"{commerce_gateway}/import/catalog", headers=auth, timeout=5).json()
        assert rerun["run_id"] != first_run and rerun["status"] == "done"
    finally:
        down = devstack("down", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(alive(pid) for pid in pids)
    assert "catalog-sync" in down.stdout
