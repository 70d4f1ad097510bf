"""Settings of one simulator instance, and where the sample data and the published model are found."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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


class SimConfig(BaseModel):
    token: SecretStr = SecretStr("magento-sim-token")
    multiply: int = Field(1, ge=1, description="copies of the sample catalogue; copy k > 0 has SKUs ending -k")
    sample_data: Path | None = Field(None, description="the Luma sample data (default: shared/fixtures/...)")
    price_scope: Literal["global", "website"] = "website"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = 5.0
    latency_ms: float = Field(0.0, ge=0, description="added to every /V1 call")
    seed: int | None = None
    clock_start: str | None = Field(None, description="created_at/updated_at of seeded products (default: now)")
