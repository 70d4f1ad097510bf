"""One list of processes and one place that starts and stops them, a log file each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES: dict[str, tuple[str, int]] = {
    # name: (python module, HTTP port)
    "catalog-sync": ("catalog_sync", 8101),
    "repricer": ("repricer", 8102),
    "order-import": ("order_import", 8103),
    "reporting": ("reporting", 8104),
    "amazon-gateway": ("amazon_gateway", 8105),
    "commerce-gateway": ("commerce_gateway", 8106),
}


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready_url: str | None = None


def service_spec(name: str, *, bootstrap: str, database_url: str, port: int | None = None,
                 extra_env: dict[str, str] | None = None) -> ProcessSpec:
    module, default_port = SERVICES[name]
    port = port or default_port
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        **(extra_env or {}),
    }
    return ProcessSpec(name, [sys.executable, "-m", module], env, f"http://127.0.0.1:{port}/readyz")


class Supervisor:
    """Starts detached processes, records their pids, and stops them in reverse order."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self.pid_dir = run_dir / "pids"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, spec: ProcessSpec) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(spec.name), "ab") as log:
            proc = subprocess.Popen(
                spec.argv, env={**os.environ, **spec.env}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.record(spec.name, proc.pid)
        return proc

    def record(self, name: str, pid: int) -> None:
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        (self.pid_dir / f"{name}.pid").write_text(str(pid))
        order = self.pid_dir / "order"
        names = order.read_text().split() if order.exists() else []
        if name not in names:
            names.append(name)
        order.write_text("\n".join(names))

    def running(self) -> dict[str, int]:
        out = {}
        order = self.pid_dir / "order"
        for name in order.read_text().split() if order.exists() else []:
            pid_file = self.pid_dir / f"{name}.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text())
                if alive(pid):
                    out[name] = pid
        return out

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        order = self.pid_dir / "order"
        names = order.read_text().split() if order.exists() else []
        stopped = []
        for name in reversed(names):
            pid_file = self.pid_dir / f"{name}.pid"
            if pid_file.exists():
                if stop_pid(int(pid_file.read_text()), timeout):
                    stopped.append(name)
                pid_file.unlink()
        if order.exists():
            order.unlink()
        return stopped


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def stop_pid(pid: int, timeout: float = 15.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`. True if the process was running."""
    if not alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    return True


def wait_ready(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready")
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")
