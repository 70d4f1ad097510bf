"""`python -m magento_sim --port 8111 --token T [--catalog luma|gear] [--multiply N]
[--webhook-url URL --webhook-secret S]`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from magento_sim.app import create_app
from magento_sim.config import CATALOGUES, SimConfig

TOKEN_ENV = "MAGENTO_SIM_TOKEN"
WEBHOOK_SECRET_ENV = "MAGENTO_SIM_WEBHOOK_SECRET"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m magento_sim", description="Adobe Commerce admin REST simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8111)
    p.add_argument("--token", help=f"the integration (bearer) token every /V1 call needs (default: ${TOKEN_ENV}, "
                   "else magento-sim-token)")
    p.add_argument("--catalog", choices=sorted(CATALOGUES), default="luma",
                   help="which sample products: " + "; ".join(f"{k}: {v}" for k, v in CATALOGUES.items()))
    p.add_argument("--multiply", type=int, default=1, help="copies of the sample catalogue (SKU suffix -k)")
    p.add_argument("--sample-data", type=Path, help="the Luma sample data (default: shared/fixtures/...)")
    p.add_argument("--price-scope", choices=["global", "website"], default="website")
    p.add_argument("--webhook-url", help="POST every changed product here")
    p.add_argument("--webhook-secret", help="sign webhooks with HMAC-SHA256 of the body "
                   f"(default: ${WEBHOOK_SECRET_ENV})")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every /V1 call")
    p.add_argument("--seed", type=int, help="seed of the fault RNG")
    return p


def build_config(args: argparse.Namespace, environ: Mapping[str, str]) -> SimConfig:
    config = SimConfig(catalog=args.catalog, multiply=args.multiply, sample_data=args.sample_data,
                       price_scope=args.price_scope, webhook_url=args.webhook_url, latency_ms=args.latency_ms,
                       seed=args.seed)
    token = args.token or environ.get(TOKEN_ENV)
    if token:
        config.token = SecretStr(token)
    secret = args.webhook_secret or environ.get(WEBHOOK_SECRET_ENV)
    if secret:
        config.webhook_secret = SecretStr(secret)
    return config


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    uvicorn.run(create_app(build_config(args, os.environ)), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
