"""`python -m amazon_sim --port 8110 [--config sim.json]` runs the simulator."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from amazon_sim.app import create_app
from amazon_sim.config import SimConfig
from amazon_sim.notifications import start_local_sqs

PUSH_TOKEN_ENV = "AMAZON_SIM_PUSH_TOKEN"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m amazon_sim", description="SP-API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8110)
    parser.add_argument("--config", type=Path, help="JSON file with a SimConfig (accounts, timings, seed)")
    parser.add_argument("--seed", type=int, help="seed for the fault RNG and, unless the config sets one, the market")
    parser.add_argument("--no-rate-limits", action="store_true", help="serve every call without throttling")
    parser.add_argument("--market-asins", type=int, help="listings that get a market of generated competitors")
    parser.add_argument("--market-tick", type=float, help="seconds between competitor moves")
    parser.add_argument("--push-url", help="POST every notification here (e.g. amazon-gateway's /notifications)")
    parser.add_argument("--push-token", metavar="TOKEN", help="every push carries `Authorization: Bearer TOKEN` "
                        f"(default: ${PUSH_TOKEN_ENV}, else the config's push_token)")
    parser.add_argument("--sqs-queue-url", help="send every notification to this SQS queue")
    parser.add_argument("--sqs-endpoint-url", help="SQS endpoint of that queue (an SQS-compatible server)")
    parser.add_argument("--local-sqs-port", type=int, help="start a local SQS-compatible server on this port with a "
                        "queue for the notifications (its URL is printed), instead of --sqs-queue-url")
    return parser


def build_config(args: argparse.Namespace, environ: Mapping[str, str]) -> SimConfig:
    """The config file (or the defaults) with the command line's settings over it."""
    config = SimConfig.model_validate(json.loads(args.config.read_text())) if args.config else SimConfig()
    if args.seed is not None:
        config.seed = args.seed
        if config.market.seed is None:
            config.market.seed = args.seed  # one seed makes the whole run repeatable
    if args.no_rate_limits:
        config.rate_limits_enabled = False
    if args.market_asins is not None:
        config.market.asins = args.market_asins
    if args.market_tick is not None:
        config.market.tick_seconds = args.market_tick
    for option in ("push_url", "sqs_queue_url", "sqs_endpoint_url"):
        if getattr(args, option):
            setattr(config.notifications, option, getattr(args, option))
    token = args.push_token or environ.get(PUSH_TOKEN_ENV)
    if token:
        config.notifications.push_token = SecretStr(token)
    return config


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    config = build_config(args, os.environ)
    if args.local_sqs_port:
        _server, queue_url = start_local_sqs(args.host, args.local_sqs_port)
        config.notifications.sqs_queue_url = queue_url
        config.notifications.sqs_endpoint_url = f"http://{args.host}:{args.local_sqs_port}"
        config.notifications.aws_access_key_id = config.notifications.aws_secret_access_key = "local"
        print(f"notifications queue: {queue_url} (endpoint {config.notifications.sqs_endpoint_url})", flush=True)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
