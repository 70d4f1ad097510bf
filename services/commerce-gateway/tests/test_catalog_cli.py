"""`python -m commerce_gateway import-catalog` as an operator runs it, and its progress bar on a terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from commerce_gateway.__main__ import EXIT_USAGE, import_catalog
from commerce_gateway.service import Settings

pytestmark = pytest.mark.integration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_the_command_shows_a_bar_on_a_terminal_and_continues_a_failed_import(
        kit: Any, sim: Any, topics_created: str, database_url: str, pool: asyncpg.Pool) -> None:
    http, faulty = sim
    settings = Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                        commerce_base_url=kit.STORE_URL, commerce_token=SecretStr(kit.SIM_TOKEN),
                        commerce_max_attempts=2, commerce_retry_base_delay_s=0, commerce_retry_max_delay_s=0)
    faulty.fail_page = 3
    out, err = Terminal(), io.StringIO()
    assert await import_catalog(["--page-size", "200"], settings=settings, http=http, out=out, err=err) == 1
    assert "continue from page 3" in err.getvalue() and kit.SIM_TOKEN not in err.getvalue()
    faulty.fail_page = None
    out, err = Terminal(), io.StringIO()
    assert await import_catalog(["--page-size", "200"], settings=settings, http=http, out=out, err=err) == 0
    text = out.getvalue()
    assert "products" in text and "/2046" in text  # the bar: products of total_count
    assert "store default: imported 1897 products of 2046" in text
    assert await pool.fetchval("SELECT status FROM catalog_imports") == "done"


async def test_bad_settings_are_refused_before_anything_is_called(kit: Any, database_url: str) -> None:
    err = io.StringIO()
    s = Settings(database_url=database_url, commerce_base_url=kit.STORE_URL)
    assert await import_catalog([], settings=s, out=io.StringIO(), err=err) == EXIT_USAGE
    assert "COMMERCE_TOKEN" in err.getvalue()
    assert await import_catalog(["--page-size", "50"], settings=s, out=io.StringIO(), err=io.StringIO()) == EXIT_USAGE


def test_the_command_imports_the_catalogue_from_a_simulator_process(
        kit: Any, topics_created: str, database_url: str, tmp_path: Path) -> None:
    testing = pytest.importorskip("magento_sim.testing")
    token_file = tmp_path / "commerce-token"
    token_file.write_text(kit.SIM_TOKEN + "\n")
    with testing.running("--token", kit.SIM_TOKEN) as base:
        env = {**os.environ, "DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": topics_created,
               "COMMERCE_BASE_URL": f"{base}/rest/default", "COMMERCE_TOKEN_FILE": str(token_file)}
        env.pop("COMMERCE_TOKEN", None)
        done = subprocess.run([sys.executable, "-m", "commerce_gateway", "import-catalog", "--restart"],
                              env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "imported 1897 products of 2046" in done.stdout
    assert kit.SIM_TOKEN not in done.stdout + done.stderr
