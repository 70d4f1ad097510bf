"""`devstack up | down | status | seed`: the whole platform on one machine.

`up` uses KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL when set, and otherwise starts the embedded
broker (Tansu) and PostgreSQL (pgserver); it starts the SP-API simulator unless AMAZON_API_BASE_URL is set and
magento-sim unless COMMERCE_BASE_URL is. State and logs live in `.run/`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx

from devstack import demo, infra
from devstack.processes import SERVICES, ProcessSpec, Supervisor, service_spec, stop_pid, wait_ready
from servicekit import auth
from servicekit.topics import create_topics

RUN_DIR = Path(os.environ.get("DEVSTACK_RUN_DIR", ".run")).resolve()
BROKER_PORT = int(os.environ.get("DEVSTACK_BROKER_PORT", "9092"))
# Shifts every service's HTTP port, to run a second stack beside the first (tests do).
PORT_OFFSET = int(os.environ.get("DEVSTACK_PORT_OFFSET", "0"))
SIMULATOR_PORT = 8110
COMMERCE_SIM_PORT = 8120


def _state_path() -> Path:
    return RUN_DIR / "state.json"


DEMO_KEY = "demo-api-key"
KEYS_FILE = "api-keys.json"
COMMERCE_TOKEN = "magento-sim-token"
COMMERCE_WEBHOOK_SECRET = "magento-sim-webhook-secret"
BUYER_DATA_KEYS = "buyer-data-keys"


def api_keys(run_dir: Path) -> tuple[str, str]:
    """The demo key (every scope; kept in `.run/demo-api-key` across runs) and a fresh key for the simulator's
    notification push (scope `ingest`), written hashed to `.run/api-keys.json`, which every service reads."""
    run_dir.mkdir(parents=True, exist_ok=True)
    demo_file = run_dir / DEMO_KEY
    demo_key = demo_file.read_text().strip() if demo_file.exists() else ""
    if not demo_key.startswith(auth.KEY_PREFIX):
        demo_key = auth.new_key()
        demo_file.write_text(demo_key + "\n")
    os.chmod(demo_file, 0o600)
    push_key = auth.new_key()
    keys_file = run_dir / KEYS_FILE
    keys_file.unlink(missing_ok=True)
    auth.add_key_entry(keys_file, auth.ApiKeyEntry(name="demo", scopes=list(auth.Scope),
                                                   sha256=auth.hash_key(demo_key)))
    auth.add_key_entry(keys_file, auth.ApiKeyEntry(name="amazon-sim-push", scopes=[auth.Scope.INGEST],
                                                   sha256=auth.hash_key(push_key)))
    return demo_key, push_key


def buyer_data_keys(run_dir: Path) -> Path:
    """The key order-import seals buyer data with, in `.run/buyer-data-keys` (owner-only), kept across runs
    as the database is: a new key would leave the stored buyer data unreadable."""
    from order_import.buyers import new_key

    path = run_dir / BUYER_DATA_KEYS
    if not path.exists() or not path.read_text().strip():
        path.unlink(missing_ok=True)
        path.touch(mode=0o600)
        path.write_text(new_key() + "\n")
    os.chmod(path, 0o600)
    return path


def new_secret(run_dir: Path, name: str) -> str:
    """A fresh secret in `.run/<name>`, readable by its owner only: the integration token magento-sim and
    commerce-gateway share, and the secret that signs magento-sim's webhooks."""
    secret = secrets.token_urlsafe(24)
    path = run_dir / name
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret


def up(seed: bool) -> int:
    sup = Supervisor(RUN_DIR)
    if sup.running():
        print(f"already running: {', '.join(sup.running())} (make down first)")
        return 1
    state: dict[str, Any] = {}

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        if infra.port_open("127.0.0.1", BROKER_PORT):
            print(f"port {BROKER_PORT} is taken; set DEVSTACK_BROKER_PORT or KAFKA_BOOTSTRAP_SERVERS")
            return 1
        proc = sup.start(ProcessSpec("broker", infra.tansu_argv(BROKER_PORT)))
        infra.wait_for_port("127.0.0.1", BROKER_PORT)
        bootstrap = f"127.0.0.1:{BROKER_PORT}"
        print(f"broker      tansu (embedded, in memory) at {bootstrap}  pid {proc.pid}")
    else:
        print(f"broker      {bootstrap} (KAFKA_BOOTSTRAP_SERVERS)")
        state["external_broker"] = "1"

    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        data_dir = RUN_DIR / "pgdata"
        database_url = infra.start_embedded_postgres(data_dir)
        state["pgdata"] = str(data_dir)
        print(f"postgresql  embedded (pgserver) in {data_dir}")
    else:
        print("postgresql  DATABASE_URL")
    state["bootstrap"] = bootstrap
    _state_path().write_text(json.dumps(state))

    created = asyncio.run(create_topics(bootstrap, partitions=int(os.environ.get("TOPIC_PARTITIONS", "6"))))
    print(f"topics      {len(created)} created")

    demo_key, push_key = api_keys(RUN_DIR)
    auth_env = {"API_KEYS_FILE": str(RUN_DIR / KEYS_FILE)}
    started = []
    gateway_env: dict[str, str] = {}
    simulator_url = None
    if not os.environ.get("AMAZON_API_BASE_URL"):
        # No real Amazon configured: the SP-API simulator stands in, with the demo seller.
        sim_port = SIMULATOR_PORT + PORT_OFFSET
        simulator_url = f"http://127.0.0.1:{sim_port}"
        config = RUN_DIR / "amazon-sim.json"
        config.write_text(json.dumps(demo.simulator_config(orders_per_minute=demo.ORDERS_PER_MINUTE)))
        # A market of generated competitors on every demo listing, its notifications pushed to the gateway
        # as Amazon would deliver them through SQS.
        gateway_url = f"http://127.0.0.1:{SERVICES['amazon-gateway'][1] + PORT_OFFSET}"
        sim = ProcessSpec("amazon-sim", [sys.executable, "-m", "amazon_sim", "--port", str(sim_port),
                                         "--config", str(config), "--market-asins", str(demo.MARKET_ASINS),
                                         "--market-tick", str(demo.MARKET_TICK_S),
                                         "--push-url", f"{gateway_url}/notifications"],
                          env={"AMAZON_SIM_PUSH_TOKEN": push_key}, ready_url=f"{simulator_url}/readyz")
        started.append((sim, sup.start(sim)))
        gateway_env = {"AMAZON_API_BASE_URL": simulator_url, "AMAZON_LWA_URL": f"{simulator_url}/auth/o2/token",
                       "AMAZON_ACCOUNTS": json.dumps(demo.gateway_accounts())}
    urls = {name: f"http://127.0.0.1:{port + PORT_OFFSET}" for name, (_, port) in SERVICES.items()}
    commerce_env: dict[str, str] = {}
    if not os.environ.get("COMMERCE_BASE_URL"):
        # No real Commerce configured: magento-sim stands in with the Luma gear shelf; commerce-gateway reads it
        # and takes its signed webhooks, so a product changed in the simulator reaches its listings at once.
        urls["magento-sim"] = f"http://127.0.0.1:{COMMERCE_SIM_PORT + PORT_OFFSET}"
        webhook_url = f"{urls['commerce-gateway']}/webhooks/commerce"
        commerce = ProcessSpec("magento-sim", [sys.executable, "-m", "magento_sim",
                                               "--port", str(COMMERCE_SIM_PORT + PORT_OFFSET),
                                               "--catalog", demo.COMMERCE_CATALOG, "--webhook-url", webhook_url],
                               env={"MAGENTO_SIM_TOKEN": new_secret(RUN_DIR, COMMERCE_TOKEN),
                                    "MAGENTO_SIM_WEBHOOK_SECRET": new_secret(RUN_DIR, COMMERCE_WEBHOOK_SECRET)},
                               ready_url=f"{urls['magento-sim']}/readyz")
        started.append((commerce, sup.start(commerce)))
        commerce_env = {"COMMERCE_BASE_URL": f"{urls['magento-sim']}/rest/{demo.COMMERCE_STORE}",
                        "COMMERCE_TOKEN_FILE": str(RUN_DIR / COMMERCE_TOKEN),
                        "COMMERCE_WEBHOOK_SECRET_FILE": str(RUN_DIR / COMMERCE_WEBHOOK_SECRET)}
    if simulator_url:
        urls["amazon-sim"] = simulator_url
    state["urls"] = urls
    _state_path().write_text(json.dumps(state))
    for name in SERVICES:
        extra = {"amazon-gateway": gateway_env, "commerce-gateway": commerce_env,
                 "order-import": {"BUYER_DATA_KEYS_FILE": str(buyer_data_keys(RUN_DIR))}}.get(name, {})
        spec = service_spec(name, bootstrap=bootstrap, database_url=database_url,
                            port=SERVICES[name][1] + PORT_OFFSET, extra_env={**auth_env, **extra})
        started.append((spec, sup.start(spec)))
    for spec, proc in started:
        try:
            wait_ready(spec.ready_url or "", timeout=90, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            print(f"{spec.name} did not become ready: {exc}\n  see {sup.log_path(spec.name)}")
            return 1
    print("\nservices (each serves /healthz, /readyz, /metrics, /docs):")
    for name in SERVICES:
        print(f"  {name:<17} {urls[name]}")
    if "magento-sim" in urls:
        print(f"  {'magento-sim':<17} {urls['magento-sim']}  (Commerce 2.4.8 REST simulator, the Luma "
              f"{demo.COMMERCE_CATALOG} shelf; token in {RUN_DIR / COMMERCE_TOKEN}; state at /_sim;\n"
              f"  {'':<17} webhooks signed to {urls['commerce-gateway']}/webhooks/commerce)")
    if simulator_url:
        print(f"  {'amazon-sim':<17} {simulator_url}  (SP-API simulator; state at /_sim/listings/"
              f"{demo.DEMO_SELLER})")
    print(f"\nlogs        {sup.log_dir}/<name>.log")
    print(f"api key     {demo_key}  (every scope; kept in {RUN_DIR / DEMO_KEY})\n"
          f"            export SALESCHANNEL_API_KEY=$(cat {RUN_DIR / DEMO_KEY}); "
          'curl -H "Authorization: Bearer $SALESCHANNEL_API_KEY" ...')
    if seed:
        try:
            seed_demo(urls, demo_key)
        except (httpx.HTTPError, RuntimeError, TimeoutError) as exc:
            print(f"seeding the demo failed: {exc}\n  see {sup.log_dir}/<name>.log")
            return 1
    print("stop with   make down")
    return 0


def down() -> int:
    sup = Supervisor(RUN_DIR)
    stopped = sup.stop_all()
    state = json.loads(_state_path().read_text()) if _state_path().exists() else {}
    if pgdata := state.get("pgdata"):
        infra.stop_embedded_postgres(Path(pgdata))
        stopped.append("postgresql")
        if not state.get("external_broker"):
            # The embedded broker kept every message in memory and they are gone: a database
            # left behind would hold inboxes, outboxes and read models of a history no topic has.
            shutil.rmtree(pgdata, ignore_errors=True)
    if _state_path().exists():
        _state_path().unlink()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def status() -> int:
    sup = Supervisor(RUN_DIR)
    running = sup.running()
    for name in ["broker", "amazon-sim", "magento-sim", *SERVICES]:
        print(f"{name:<17} {'running pid ' + str(running[name]) if name in running else 'stopped'}")
    return 0


def seed_demo(urls: dict[str, str], demo_key: str, *, again: bool = False) -> None:
    """Everything that seeds the demo, each step safe to repeat: the demo seller's Amazon listings (the products
    magento-sim sells), the demo pricing, the demo store's order settings, commerce-gateway's catalogue import and
    amazon-gateway's listing import."""
    products = None
    if "magento-sim" in urls:
        products = demo.commerce_products(urls["magento-sim"], (RUN_DIR / COMMERCE_TOKEN).read_text().strip())
        print(f"commerce    magento-sim sells {len(products)} products (Luma {demo.COMMERCE_CATALOG} shelf) at "
              f"{urls['magento-sim']}/rest/{demo.COMMERCE_STORE}/V1/products")
    if "amazon-sim" in urls:
        print(f"amazon      {demo.seed_simulator(urls['amazon-sim'], products)} demo listings on the simulator, each "
              f"with a market of competitors moving every {demo.MARKET_TICK_S:g} s")
    if demo.DEMO_PRICING.exists():
        docs = demo.apply_demo_pricing(urls["repricer"], demo_key)
        print(f"pricing     {docs} resources from {demo.DEMO_PRICING} applied to the repricer")
    if demo.DEMO_ORDER_SETTINGS.exists():
        docs = demo.apply_demo_order_settings(urls["order-import"], demo_key)
        print(f"orders      {docs} OrderSettings from {demo.DEMO_ORDER_SETTINGS} applied to order-import")
    imported = demo.import_catalog(urls["commerce-gateway"], demo_key, restart=again)
    if imported["status"] != "done":
        raise RuntimeError(f"the catalogue import failed: {imported['last_error']} (see {urls['commerce-gateway']}"
                           "/import/catalog)")
    print(f"catalogue   commerce-gateway imported {imported['imported']} products as ProductChanged "
          f"({imported['skipped']} containers skipped; GET {urls['commerce-gateway']}/import/catalog); listings "
          f"appear at {urls['reporting']}/listings")
    if "amazon-sim" in urls:
        queued = demo.start_listing_import(urls["amazon-gateway"], demo_key)
        print(f"import      the demo seller's Amazon listings ({', '.join(queued)}) imported by amazon-gateway, "
              "so catalog-sync learns their ASINs and the repricer follows their markets")


def seed_only() -> int:
    state = json.loads(_state_path().read_text()) if _state_path().exists() else {}
    if not state.get("urls") or not Supervisor(RUN_DIR).running():
        print("nothing running: make up first")
        return 1
    try:
        seed_demo(state["urls"], (RUN_DIR / DEMO_KEY).read_text().strip(), again=True)
    except (httpx.HTTPError, RuntimeError, TimeoutError) as exc:
        print(f"seeding the demo failed: {exc}\n  see {RUN_DIR / 'logs'}/<name>.log")
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start broker, database, topics, every service; seed the demo")
    p_up.add_argument("--no-seed", action="store_true")
    sub.add_parser("down", help="stop everything up started")
    sub.add_parser("status", help="what is running")
    sub.add_parser("seed", help="seed the demo again: Amazon listings, pricing, the catalogue and listing imports")
    args = parser.parse_args(argv)
    if args.command == "up":
        code = up(seed=not args.no_seed)
        if code:
            down()
    elif args.command == "down":
        code = down()
    elif args.command == "status":
        code = status()
    else:
        code = seed_only()
    sys.exit(code)


__all__ = ["main", "stop_pid"]
