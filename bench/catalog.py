"""Benchmark of commerce-gateway's full catalogue import from the Magento simulator.

magento-sim (a subprocess, `--multiply` copies of the Luma catalogue to reach the wanted number of
products) serves `GET /V1/products`; commerce-gateway (a subprocess on the bench stack: its own Tansu
broker and database, the incremental sync and the deletion reconcile off) imports the whole catalogue on
`POST /import/catalog`, one ProductChanged per product through its outbox to commerce.products.v1. Measured, per catalogue size
(each on a fresh stack, so the gateway's peak RSS belongs to that size alone):

* products/s from the first to the last ProductChanged on the topic (counted by a bench consumer;
  the lag comes from the fetches' high watermarks, since Tansu's ListOffsets answers wrong end offsets);
* the wall time from the POST until the last ProductChanged is read;
* the gateway's peak RSS (VmHWM) and RSS samples, and the CPU of the gateway, simulator, broker and
  PostgreSQL during the import;
* two baselines in the same run: a bare httpx client reading the same pages from the same simulator
  (parsed as the gateway parses them), and a bare aiokafka producer publishing the same records.

Writes bench/results/catalog.json (`--quick`: 10,000 products, a smoke run printed and written only
where `--output` says).

    uv run python bench/catalog.py [--products 100000,300000] [--quick] [--keep] [--profile PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition
from stack import Stack, broker_version, exit_on_signal, machine

from commerce_gateway.domain.paging import page_count, search_criteria
from contracts import topics
from devstack import infra
from devstack.processes import ProcessSpec, wait_ready

RESULTS = Path(__file__).resolve().parent / "results" / "catalog.json"
PARTITIONS = 6
SAMPLE_PRODUCTS = 2_046  # products in one copy of the Luma sample catalogue (magento-sim --multiply)
PAGE_SIZE = 300  # the gateway's default CATALOG_PAGE_SIZE
# The import alone: no incremental sync, and no deletion reconcile (which runs after a full import and
# lists every SKU of the catalogue).
GATEWAY_ENV = {"CATALOG_SYNC_ENABLED": "false", "CATALOG_RECONCILE_ENABLED": "false"}
SCRATCH_TOPIC = "bench.catalog-scratch.v1"
RAW_PAGES_SAMPLE = 60  # pages the bare-client baseline reads
STALL_TIMEOUT_S = 120.0
POLL_S = 0.25


def load() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of one process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kib(pid: int, field: str) -> int | None:
    """A `/proc/<pid>/status` memory field (VmRSS, VmHWM) in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuWatch:
    """CPU seconds of named groups of processes between `start()` and `stop()`, as % of one core."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.before: dict[str, float] = {}
        self.t0 = 0.0
        self.busy0 = (0.0, 0.0)

    @staticmethod
    def _sum(pids: list[int]) -> float:
        return sum(c for c in (cpu_seconds(p) for p in pids) if c is not None)

    def start(self) -> None:
        self.before = {name: self._sum(pids) for name, pids in self.groups.items()}
        self.t0 = time.monotonic()
        self.busy0 = machine_busy()

    def stop(self) -> dict[str, float]:
        seconds = time.monotonic() - self.t0
        busy, total = machine_busy()
        out = {f"{name}_cpu_percent": round(100 * (self._sum(pids) - self.before[name]) / seconds, 1)
               for name, pids in self.groups.items()}
        out["machine_busy_percent"] = round(100 * (busy - self.busy0[0]) / max(1.0, total - self.busy0[1]), 1)
        out["watched_s"] = round(seconds, 3)
        return out


def start_sim(stack: Stack, copies: int, token: str) -> tuple[str, int]:
    port = infra.free_port()
    url = f"http://127.0.0.1:{port}"
    spec = ProcessSpec("magento-sim", [sys.executable, "-m", "magento_sim", "--port", str(port), "--token", token,
                                       "--multiply", str(copies), "--seed", "1"],
                       {}, f"{url}/readyz")
    proc = stack.sup.start(spec)
    wait_ready(spec.ready_url or "", timeout=120, proc=proc)
    return url, proc.pid


async def postgres_pids(database_url: str, db_name: str) -> list[int]:
    """Server processes connected to the run's database (the gateway's pool and relay), when local."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                                db_name)
    finally:
        await conn.close()
    return [r["pid"] for r in rows if Path(f"/proc/{r['pid']}").exists()]


# ---------------------------------------------------------------- the topic


class ProductReader:
    """Reads commerce.products.v1 from the start (nothing else writes it in this stack) and counts the
    ProductChanged; keeps the records for the producer baseline. Where a partition ends comes from each
    fetch's high watermark (Tansu's ListOffsets answers the same, wrong, end offset for every partition)."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-catalog-reader",
                                         enable_auto_commit=False, fetch_max_wait_ms=50,
                                         max_partition_fetch_bytes=4 * 1024 * 1024)
        self.tps = [TopicPartition(topics.PRODUCTS.name, p) for p in range(PARTITIONS)]
        self.count = 0
        self.other = 0
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None
        self.first_ts: float | None = None  # record CreateTime (the relay's producer), seconds
        self.last_ts: float | None = None
        self.records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.assign(self.tps)
        await self.consumer.seek_to_beginning(*self.tps)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            got = await self.consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in got.values():
                for r in records:
                    headers = list(r.headers)
                    if (b"ProductChanged",) != tuple(v for k, v in headers if k == "event_type"):
                        self.other += 1
                        continue
                    self.count += 1
                    ts = r.timestamp / 1000
                    if self.first_arrival is None:
                        self.first_arrival = now
                    self.last_arrival = now
                    self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
                    self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
                    self.records.append((r.key, r.value, headers))

    async def lag(self) -> int | None:
        """Records on the topic not read yet; None until every partition has reported a high watermark."""
        total = 0
        for tp in self.tps:
            hw = self.consumer.highwater(tp)
            if hw is None:
                return None
            total += max(0, hw - await self.consumer.position(tp))
        return total

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.consumer.stop()


# ---------------------------------------------------------------- baselines


async def raw_pages(sim_url: str, token: str, total: int, sample: int) -> dict[str, Any]:
    """Pages as the import reads them (page size, entity_id order), by one bare httpx client one after
    another, each parsed as the gateway parses it (json, numbers as Decimal). At most `sample` pages spread
    evenly over the catalogue, first and last included: each page costs about the same, and reading them all
    would double the run at 300,000."""
    pages = page_count(total, PAGE_SIZE)
    step = max(1, -(-pages // sample))
    wanted = sorted({*range(1, pages + 1, step), pages})
    items = 0
    size = 0
    async with httpx.AsyncClient(base_url=sim_url, timeout=120,
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}) as http:
        t0 = time.monotonic()
        for page in wanted:
            r = await http.get("/rest/default/V1/products", params=search_criteria(page=page, page_size=PAGE_SIZE))
            r.raise_for_status()
            size += len(r.content)
            items += len(json.loads(r.content, parse_float=Decimal)["items"])
        seconds = time.monotonic() - t0
    return {"pages_total": pages, "pages_read": len(wanted), "products_read": items, "seconds": round(seconds, 3),
            "ms_per_page": round(1000 * seconds / len(wanted), 1), "products_per_s": round(items / seconds, 1),
            "mean_page_kib": round(size / len(wanted) / 1024, 1)}


async def raw_produce(bootstrap: str, records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
                      ) -> dict[str, Any]:
    """The same records (key, value, headers) published by one bare aiokafka producer to a scratch topic,
    with the relay's producer settings (acks=all, linger 5 ms, 256 KiB batches); waits for every ack."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-catalog-raw")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(SCRATCH_TOPIC, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024,
                                client_id="bench-catalog-raw")
    await producer.start()
    try:
        t0 = time.monotonic()
        futures = [await producer.send(SCRATCH_TOPIC, v, key=k, headers=h) for k, v, h in records]
        await asyncio.gather(*futures)
        seconds = time.monotonic() - t0
    finally:
        await producer.stop()
    return {"events": len(records), "seconds": round(seconds, 3),
            "events_per_s": round(len(records) / seconds, 1),
            "mean_value_bytes": round(sum(len(v) for _, v, _ in records) / max(1, len(records)))}


# ---------------------------------------------------------------- one import


async def wait_import_done(gw: httpx.AsyncClient, reader: ProductReader, rss: list[tuple[float, int]],
                           gateway_pid: int, sim_pid: int, t0: float) -> dict[str, Any]:
    """Poll the import's progress (and sample the gateway's RSS) until it is done; then wait until the
    reader has every ProductChanged it wrote and no lag. Before its first page the import reads every
    configurable product (the parents pass), which shows only as simulator CPU."""
    state: dict[str, Any] = {}
    seen, stalled_since = -1, time.monotonic()
    while True:
        r = await gw.get("/import/catalog")
        if r.status_code == 200:
            state = r.json()
        if (kib := status_kib(gateway_pid, "VmRSS")) is not None:
            rss.append((round(time.time() - t0, 2), kib))
        if state.get("status") == "failed":
            raise RuntimeError(f"the import failed: {state.get('last_error')}")
        lag = await reader.lag()
        if state.get("status") == "done" and reader.count >= state["imported"] and lag == 0:
            return state
        progress = reader.count + int(state.get("imported") or 0) + int(cpu_seconds(sim_pid) or 0)
        if progress > seen:
            seen, stalled_since = progress, time.monotonic()
        elif time.monotonic() - stalled_since > STALL_TIMEOUT_S:
            raise TimeoutError(f"no progress for {STALL_TIMEOUT_S:.0f}s: import {state}, read {reader.count}, "
                               f"lag {lag}")
        await asyncio.sleep(POLL_S)


def start_profile(pid: int, path: Path) -> subprocess.Popen[bytes]:
    """py-spy on the gateway while the import runs (py-spy must be on PATH, e.g.
    `uv run --with py-spy python bench/catalog.py --profile /tmp/catalog.txt`)."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--profile needs py-spy on PATH: uv run --with py-spy python bench/catalog.py ...")
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(path.suffix, "raw")
    return subprocess.Popen([exe, "record", "--nonblocking", "--rate", "100", "--format", fmt,
                             "--output", str(path), "--pid", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def measure(stack: Stack, sim_url: str, sim_pid: int, token: str, profile: Path | None) -> dict[str, Any]:
    gateway_pid = stack.processes["commerce-gateway"].pid
    assert stack.broker is not None
    reader = ProductReader(stack.bootstrap)
    await reader.start()
    pg = await postgres_pids(stack.database_url, stack.db_name)
    watch = CpuWatch({"gateway": [gateway_pid], "simulator": [sim_pid], "broker": [stack.broker.pid],
                      "postgres": pg})
    rss: list[tuple[float, int]] = []
    rss_before = status_kib(gateway_pid, "VmRSS")
    spy = start_profile(gateway_pid, profile) if profile else None
    try:
        async with httpx.AsyncClient(base_url=stack.http("commerce-gateway"), timeout=60,
                                     headers=stack.auth_headers) as gw:
            load_before = load()
            watch.start()
            t0 = time.time()
            r = await gw.post("/import/catalog")
            r.raise_for_status()
            state = await wait_import_done(gw, reader, rss, gateway_pid, sim_pid, t0)
            cpu = watch.stop()
            load_end = load()
    finally:
        if spy is not None:
            stop_profile(spy)
    await reader.stop()
    hwm = status_kib(gateway_pid, "VmHWM")
    assert reader.first_ts is not None and reader.last_ts is not None
    assert reader.first_arrival is not None and reader.last_arrival is not None
    n = reader.count
    on_topic_s = reader.last_ts - reader.first_ts
    started = datetime.fromisoformat(state["started_at"]).timestamp()
    finished = datetime.fromisoformat(state["finished_at"]).timestamp()
    result: dict[str, Any] = {
        "catalogue_products": state["total"],
        "product_changed": n,
        "containers_skipped": state["skipped"],
        "pages": state["pages"],
        "imported_matches_topic": n == state["imported"],
        "other_records_on_topic": reader.other,
        "seconds_first_to_last_on_topic": round(on_topic_s, 3),
        "products_per_s": round(n / on_topic_s, 1),
        "catalogue_products_per_s": round(state["total"] / on_topic_s, 1),
        "wall_s": round(reader.last_arrival - t0, 3),
        "wall_products_per_s": round(n / (reader.last_arrival - t0), 1),
        "post_to_first_on_topic_s": round(reader.first_arrival - t0, 3),
        "import_written_s": round(finished - started, 3),
        "last_written_to_last_on_topic_s": round(reader.last_ts - finished, 3),
        "gateway_rss_before_mib": round((rss_before or 0) / 1024, 1),
        "gateway_peak_rss_mib": round((hwm or 0) / 1024, 1),
        "gateway_rss_samples_max_mib": round(max(k for _, k in rss) / 1024, 1) if rss else None,
        "gateway_rss_at_end_mib": round(rss[-1][1] / 1024, 1) if rss else None,
        "gateway_rss_samples_mib": [[t, round(k / 1024, 1)] for t, k in rss[:: max(1, len(rss) // 20)]],
        **cpu,
        # CPU the gateway spent per product: what another process's load on the machine changes least.
        "gateway_cpu_us_per_product": round(cpu["gateway_cpu_percent"] / 100 * cpu["watched_s"] / max(1, n) * 1e6,
                                            1),
        "simulator_cpu_us_per_product": round(cpu["simulator_cpu_percent"] / 100 * cpu["watched_s"]
                                              / max(1, state["total"]) * 1e6, 1),
        "postgres_processes_watched": len(pg),
        "load_1m_before": load_before,
        "load_1m_at_end": load_end,
    }
    # Baselines, after the import, on the same simulator and broker.
    before = cpu_seconds(sim_pid) or 0.0
    t = time.monotonic()
    pages = await raw_pages(sim_url, token, state["total"], RAW_PAGES_SAMPLE)
    pages["simulator_cpu_percent"] = round(100 * ((cpu_seconds(sim_pid) or 0.0) - before) / (time.monotonic() - t), 1)
    produce = await raw_produce(stack.bootstrap, reader.records)
    reader.records.clear()
    result["baseline_raw_pages"] = pages
    result["baseline_raw_produce"] = produce
    result["ratio_to_raw_pages"] = round(result["catalogue_products_per_s"] / pages["products_per_s"], 3)
    result["ratio_to_raw_produce"] = round(result["products_per_s"] / produce["events_per_s"], 3)
    return result


def run_one(products: int, args: argparse.Namespace) -> dict[str, Any]:
    copies = max(1, math.ceil(products / SAMPLE_PRODUCTS))
    stack = Stack("catalog", partitions=PARTITIONS)
    ok = False
    try:
        token = secrets.token_urlsafe(24)
        token_file = stack.run_dir / "commerce-token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        t = time.monotonic()
        sim_url, sim_pid = start_sim(stack, copies, token)
        sim_ready_s = time.monotonic() - t
        env = {"COMMERCE_BASE_URL": f"{sim_url}/rest/default", "COMMERCE_TOKEN_FILE": str(token_file), **GATEWAY_ENV}
        stack.start(("commerce-gateway",), extra_env=env)
        print(f"import: {copies} copies of the sample catalogue ({copies * SAMPLE_PRODUCTS} products) ...",
              flush=True)
        profile = None
        if args.profile is not None:
            profile = args.profile.with_name(f"{args.profile.stem}-{products}{args.profile.suffix}")
        measured = asyncio.run(measure(stack, sim_url, sim_pid, token, profile))
        measured = {"requested_products": products, "simulator_copies": copies,
                    "simulator_ready_s": round(sim_ready_s, 2), **measured,
                    "postgres_source": stack.pg_source, "run_id": stack.run_id}
        if profile is not None:
            measured["profile"] = str(profile)
        m = measured
        print(f"  {m['product_changed']} ProductChanged of {m['catalogue_products']} products: "
              f"{m['products_per_s']:.0f}/s on the topic, wall {m['wall_s']:.1f} s, gateway peak RSS "
              f"{m['gateway_peak_rss_mib']} MiB, gateway CPU {m['gateway_cpu_percent']} % "
              f"({m['gateway_cpu_us_per_product']} us/product), simulator CPU "
              f"{m['simulator_cpu_percent']} %\n"
              f"  baselines: raw pages {m['baseline_raw_pages']['products_per_s']:.0f} products/s, "
              f"raw produce {m['baseline_raw_produce']['events_per_s']:.0f} events/s", flush=True)
        ok = m["imported_matches_topic"]
        return measured
    finally:
        stack.close(ok, args.keep)


def summary(runs: list[dict[str, Any]], sizes: list[int], host: dict[str, object],
            args: argparse.Namespace) -> dict[str, Any]:
    peaks = [r["gateway_peak_rss_mib"] for r in runs]
    return {
        "name": "catalog",
        "description": "commerce-gateway's full catalogue import from magento-sim (--multiply) to "
                       "ProductChanged on commerce.products.v1, through its outbox",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": host,
        "broker": broker_version(),
        "parameters": {"products": sizes, "page_size": PAGE_SIZE, "partitions": PARTITIONS,
                       "gateway_settings": GATEWAY_ENV, "simulator": "--multiply N, no latency, no faults",
                       "profiled": args.profile is not None},
        "runs": runs,
        "peak_rss_growth_mib": round(max(peaks) - min(peaks), 1) if len(peaks) > 1 else None,
        "targets": {
            "products_per_s_at_least_5000": all(r["products_per_s"] >= 5000 for r in runs),
            "rss_flat": (max(peaks) - min(peaks) <= 0.1 * min(peaks)) if len(peaks) > 1 else None,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", default=None,
                        help="catalogue sizes, comma-separated (default 100000,300000); each rounds up to whole "
                             "copies of the 2,046-product sample catalogue")
    parser.add_argument("--quick", action="store_true", help="smoke run: one catalogue of 10,000 products")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (logs) afterwards")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy the gateway during each import (PATH gets -<size> before its suffix; "
                             ".svg flamegraph, .json speedscope, else raw); needs py-spy on PATH")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    spec = args.products or ("10000" if args.quick else "100000,300000")
    try:
        sizes = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        parser.error("--products takes whole numbers, comma-separated")
    if not sizes or min(sizes) < 1:
        parser.error("--products must be positive")
    output = args.output if args.output or args.quick else RESULTS

    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    started = time.monotonic()
    host = machine()
    runs: list[dict[str, Any]] = []
    for n in sizes:
        runs.append(run_one(n, args))
        result = summary(runs, sizes, host, args)
        if output is not None:  # after each size, so a long run keeps what it measured
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(result, indent=2) + "\n")
    if output is None:
        print(json.dumps(result, indent=2))
    print(f"\ncatalog benchmark ({host['nproc']} cpu): "
          + "; ".join(f"{r['catalogue_products']} products {r['products_per_s']:.0f}/s, peak RSS "
                      f"{r['gateway_peak_rss_mib']} MiB" for r in runs)
          + f"\n  written to {output} (run took {time.monotonic() - started:.0f}s)", flush=True)
    return 0 if all(r["imported_matches_topic"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
