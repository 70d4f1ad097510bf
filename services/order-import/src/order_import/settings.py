"""OrderSettings as a configuration resource: one per Amazon store, over HTTP (`/config/OrderSettings`) and as
YAML (`python -m order_import config apply -f orders.yaml`), every change diffed and audited by servicekit.config.

    kind: OrderSettings
    metadata: {name: demo-seller.us}
    spec: {account_id: demo-seller, marketplace_id: ATVPDKIKX0DER, integration_date: "2026-12-01T00:00:00Z",
           store_code: default, customer_creation: build, order_number_source: amazon}

An applied change makes every waiting or blocked order of the changed stores due for a new decision at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from order_import.domain.settings import OrderSettings as OrderSettingsModel
from servicekit.config import ConfigKind, ConfigRegistry, ConfigSpec, Plan, Specs, load

KIND = "OrderSettings"


class OrderSettings(OrderSettingsModel, ConfigSpec):
    """Order settings of one Amazon store (account and marketplace), spec section 13."""


def _one_per_store(spec: Any, specs: Specs) -> list[str | tuple[str, str]]:
    same = [s for s in specs.get(KIND, {}).values() if s.store == spec.store]  # type: ignore[attr-defined]
    return [("marketplace_id", f"{spec.account_id}/{spec.marketplace_id} has {len(same)} OrderSettings; "
             "one store takes one")] if len(same) > 1 else []


async def _settings_changed(conn: asyncpg.Connection, plan: Plan) -> None:
    """Orders of the changed stores that wait or are blocked are decided again now (import switched on, an
    integration date moved, a store configured for the first time)."""
    stores = sorted({(spec["account_id"], spec["marketplace_id"])
                     for c in (*plan.creates, *plan.updates, *plan.deletes) if c.kind == KIND
                     for spec in (c.spec, c.before) if spec})
    if stores:
        await conn.execute(
            "UPDATE orders o SET next_attempt_at = now() FROM unnest($1::text[], $2::text[]) AS s(a, m) "
            "WHERE o.import_state IN ('waiting', 'blocked') AND o.account_id = s.a AND o.marketplace_id = s.m",
            [a for a, _ in stores], [m for _, m in stores])


def registry() -> ConfigRegistry:
    return ConfigRegistry(ConfigKind(KIND, OrderSettings, validate=_one_per_store), on_change=_settings_changed)


async def store_settings(conn: asyncpg.Connection | asyncpg.Pool, reg: ConfigRegistry
                         ) -> Mapping[tuple[str, str], OrderSettingsModel]:
    """Every store's settings, by (account_id, marketplace_id), as stored now."""
    return {s.store: s for s in (await load(conn, reg, KIND)).values()}
