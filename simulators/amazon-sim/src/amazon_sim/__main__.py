"""`python -m amazon_sim --port 8110 [--config sim.json]` runs the simulator."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn

from amazon_sim.app import create_app
from amazon_sim.config import SimConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m amazon_sim", description="SP-API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8110)
    parser.add_argument("--config", type=Path, help="JSON file with a SimConfig (accounts, timings, seed)")
    parser.add_argument("--seed", type=int, help="seed for the fault RNG")
    parser.add_argument("--no-rate-limits", action="store_true", help="serve every call without throttling")
    args = parser.parse_args(argv)
    config = SimConfig.model_validate(json.loads(args.config.read_text())) if args.config else SimConfig()
    if args.seed is not None:
        config.seed = args.seed
    if args.no_rate_limits:
        config.rate_limits_enabled = False
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
