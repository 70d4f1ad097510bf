"""`python -m repricer` runs the service; `config`, `simulate` and `backtest` are tools."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from repricer.service import Settings, build


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "serve"
    if command == "serve":
        build().run()
    elif command == "config":
        from repricer.config import registry
        from servicekit import config_cli

        sys.exit(config_cli.main("python -m repricer config", registry, argv[1:], port=Settings().http_port))
    elif command == "simulate":
        sys.exit(simulate_command(argv[1:]))
    elif command == "backtest":
        sys.exit(backtest_command(argv[1:]))
    else:
        print(f"unknown command {command!r}: serve, config, simulate or backtest", file=sys.stderr)
        sys.exit(2)


def simulate_command(argv: list[str]) -> int:
    from pydantic import ValidationError

    from repricer.domain import PricingError
    from repricer.simulate import SimulationRequest, simulate

    parser = argparse.ArgumentParser(prog="python -m repricer simulate",
                                     description="Price one listing from a YAML or JSON case; changes nothing.")
    parser.add_argument("-f", "--file", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        request = SimulationRequest.model_validate(yaml.safe_load(args.file.read_text()))
        decision = simulate(request)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            print(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return 1
    except PricingError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"price {decision.price.amount} {decision.price.currency}"
          + (f"  (held: {decision.held})" if decision.held else "")
          + ("" if decision.send else "  (not sent)"))
    for step in decision.trace:
        amount = f"  -> {step.price.amount}" if step.price else ""
        print(f"  {step.step:<12} {step.detail}{amount}")
    return 0


def backtest_command(argv: list[str]) -> int:
    from contracts.events import OfferPriceObserved
    from repricer.backtest import CatalogEntry, backtest
    from repricer.config import PricingConfig, registry
    from servicekit.config import ConfigInvalid, parse

    parser = argparse.ArgumentParser(prog="python -m repricer backtest",
                                     description="Replay recorded offer events through a rule set.")
    parser.add_argument("--config", required=True, type=Path, help="pricing.yaml (settings, rules, rates)")
    parser.add_argument("--catalog", required=True, type=Path, help="YAML list of listings with their product")
    parser.add_argument("--offers", required=True, type=Path, help="OfferPriceObserved events, one JSON per line")
    args = parser.parse_args(argv)
    try:
        parsed = parse(registry(), list(yaml.safe_load_all(args.config.read_text())))
    except ConfigInvalid as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    by_kind: dict[str, dict[str, object]] = {"ListingPriceSettings": {}, "PricingRule": {}, "CurrencyRate": {}}
    for (kind, name), spec in parsed.items():
        by_kind[kind][name] = spec
    config = PricingConfig.of(by_kind["ListingPriceSettings"], by_kind["PricingRule"],  # type: ignore[arg-type]
                              by_kind["CurrencyRate"])  # type: ignore[arg-type]
    catalog = [CatalogEntry.model_validate(e) for e in yaml.safe_load(args.catalog.read_text())]
    with args.offers.open() as lines:
        offers = [OfferPriceObserved.model_validate_json(line) for line in lines if line.strip()]
    print(json.dumps(backtest(config, catalog, offers), indent=2))
    return 0


if __name__ == "__main__":
    main()
