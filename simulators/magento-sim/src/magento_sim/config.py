"""Settings of one simulator instance, and where the sample data and the published model are found."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr

SAMPLE_DATA_ENV = "MAGENTO_SIM_SAMPLE_DATA"
MODEL_ENV = "MAGENTO_SIM_OPENAPI"
SAMPLE_DATA = Path("fixtures/magento-sample-data")
MODEL = Path("magento-models/commerce-admin-rest-2.4.8.json")


PACKAGED = Path(__file__).parent / "data"
"""Copies shipped with the package: the Luma sample data's fixtures (OSL/AFL, licences beside them) and
Adobe's published 2.4.8 admin REST model, so the simulator runs on a machine with nothing else."""


def shared_file(relative: Path, env: str) -> Path | None:
    """`$env` if set, else the packaged copy, else `shared/<relative>` in this checkout's or an enclosing
    directory."""
    if os.environ.get(env):
        return Path(os.environ[env])
    if (packaged := PACKAGED / relative).exists():
        return packaged
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / relative
        if candidate.exists():
            return candidate
    return None


Catalogue = Literal["luma", "gear"]
CATALOGUES: dict[str, str] = {
    "luma": "every sample product: 147 configurables with 1,847 children, 44 gear products, a bundle, a grouped "
            "product and 6 downloadables (2,046)",
    "gear": "the gear shelf only: the 44 simple bags, fitness products and watches, and the bundle and grouped "
            "product made of them (46)",
}


def select(templates: list[dict[str, Any]], catalogue: Catalogue) -> list[dict[str, Any]]:
    """The sample products of a catalogue (`CATALOGUES`), in their seed order."""
    if catalogue == "luma":
        return templates
    children = {sku for t in templates for sku in t.get("children", ())}
    return [t for t in templates if (t["type_id"] == "simple" and t["sku"] not in children)
            or t["type_id"] in ("bundle", "grouped")]


class SimConfig(BaseModel):
    token: SecretStr = SecretStr("magento-sim-token")
    catalog: Catalogue = Field("luma", description="which sample products are seeded (CATALOGUES)")
    multiply: int = Field(1, ge=1, description="copies of the sample catalogue; copy k > 0 has SKUs ending -k")
    sample_data: Path | None = Field(None, description="the Luma sample data (default: shared/fixtures/...)")
    price_scope: Literal["global", "website"] = "website"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = 5.0
    latency_ms: float = Field(0.0, ge=0, description="added to every /V1 call")
    seed: int | None = None
    clock_start: str | None = Field(None, description="created_at/updated_at of seeded products (default: now)")
