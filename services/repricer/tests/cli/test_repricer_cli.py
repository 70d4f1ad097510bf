"""The repricer's commands: simulate and backtest from files, config apply with a diff preview."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import yaml

from devstack.testing import auth_headers
from repricer.config import registry
from repricer.service import Settings, build
from servicekit import config_cli

EXAMPLES = Path(__file__).parents[2] / "examples"


def repricer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repricer", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_simulate_prints_the_price_and_its_trace() -> None:
    out = repricer("simulate", "-f", str(EXAMPLES / "simulate-case.yaml"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "price 31.98 USD"
    assert "Buy Box: seller A2RIVAL" in out.stdout and "floor" in out.stdout


def test_simulate_refuses_a_bad_case_naming_the_field(tmp_path: Path) -> None:
    case = yaml.safe_load((EXAMPLES / "simulate-case.yaml").read_text())
    case["rules"][0]["action"]["amount"] = "abc"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(case))
    out = repricer("simulate", "-f", str(bad))
    assert out.returncode == 1
    assert "rules.0.action" in out.stderr and "amount" in out.stderr


def test_backtest_reports_prices_and_buy_box_share() -> None:
    out = repricer("backtest", "--config", str(EXAMPLES / "pricing.yaml"), "--catalog",
                   str(EXAMPLES / "catalog.yaml"), "--offers", str(EXAMPLES / "offers.jsonl"))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    listing = report["listings"][0]
    assert listing["observations"] == 12
    assert 0 < report["buy_box_share"] <= 1
    assert listing["min_price"] >= "21.00"  # never under the floor, cost 20 + 5 %


async def test_config_apply_previews_applies_once_and_refuses_invalid(topics_created, database_url, capsys,
                                                                      tmp_path: Path) -> None:
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url))
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(service.asgi()), base_url="http://r") as client:
            # the example, under names and an account of this test's own (the session's database is shared)
            run = uuid.uuid4().hex[:6]
            # (currency rates are one per currency pair for everybody: leave the example's out)
            docs = [d for d in yaml.safe_load_all((EXAMPLES / "pricing.yaml").read_text()) if d["kind"] != "CurrencyRate"]
            for doc in docs:
                doc["metadata"]["name"] += f"-{run}"
                if "account_id" in doc["spec"]:
                    doc["spec"]["account_id"] = f"cli-{run}"
            pricing = str(tmp_path / "pricing.yaml")
            Path(pricing).write_text(yaml.safe_dump_all(docs))
            dry = await config_cli.run("repricer config", registry, ["apply", "-f", pricing, "--dry-run"],
                                       client=client)
            dry_out = capsys.readouterr().out
            first = await config_cli.run("repricer config", registry, ["apply", "-f", pricing], client=client)
            first_out = capsys.readouterr().out
            again = await config_cli.run("repricer config", registry, ["apply", "-f", pricing], client=client)
            again_out = capsys.readouterr().out
            broken = tmp_path / "broken.yaml"
            broken.write_text(yaml.safe_dump({"kind": "PricingRule", "metadata": {"name": "oops"},
                                              "spec": {"account_id": f"cli-{run}", "discard_subsequent": True, "action": {
                                                  "type": "standard", "direction": "decrease",
                                                  "apply_as": "percent", "amount": "5"}}}))
            refused = await config_cli.run("repricer config", registry, ["apply", "-f", str(broken)], client=client)
            refused_err = capsys.readouterr().err
            rules = (await client.get("/config/PricingRule")).json()
    finally:
        await service.stop()
    assert (dry, first, again, refused) == (0, 0, 0, 1)
    assert "clearance" in dry_out and "follow-the-buy-box" in dry_out
    assert "clearance" in first_out
    assert "0 to create, 0 to update, 0 to delete, 3 unchanged" in again_out
    assert "priority" in refused_err
    mine = sorted(r["metadata"]["name"] for r in rules if r["metadata"]["name"].endswith(run))
    assert mine == [f"clearance-{run}", f"follow-the-buy-box-{run}"]
