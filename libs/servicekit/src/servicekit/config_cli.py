"""`python -m <service> config ...`: preview and apply configuration files through the service's API.

    config diff  -f pricing.yaml [--prune]
    config apply -f pricing.yaml [--prune] [--dry-run]
    config get PricingRule [NAME]

Files are YAML or JSON, several documents per file (`---`) or a list in one. Exit codes: 0 done,
1 invalid configuration (the problems are printed) or refused (401/403), 2 the service could not be
reached. The API key is `--token`, else `$SALESCHANNEL_API_KEY`, else the embedded stack's
`.run/demo-api-key` when it exists.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from servicekit.config import ConfigInvalid, ConfigRegistry, Plan, Problem, parse


def main(
    prog: str, registry_factory: Callable[[], ConfigRegistry], argv: Sequence[str] | None = None, *,
    port: int = 8080,
) -> int:
    return asyncio.run(run(prog, registry_factory, argv, port=port))


async def run(
    prog: str, registry_factory: Callable[[], ConfigRegistry], argv: Sequence[str] | None = None, *,
    port: int = 8080, client: httpx.AsyncClient | None = None,
) -> int:
    args = _parser(prog, port).parse_args(argv)
    registry = registry_factory()
    async with contextlib.AsyncExitStack() as stack:
        http = client or await stack.enter_async_context(httpx.AsyncClient(base_url=args.url, timeout=30))
        if args.token or "Authorization" not in http.headers:
            if token := args.token or api_key_from_environment():
                http.headers["Authorization"] = f"Bearer {token}"
        try:
            if args.command == "get":
                return await _get(http, registry, args.kind, args.name)
            return await _apply(http, registry, args.filename, prune=args.prune,
                                dry_run=args.command == "diff" or args.dry_run)
        except httpx.TransportError as exc:
            print(f"cannot reach {http.base_url}: {exc!r}", file=sys.stderr)
            return 2


DEMO_KEY_FILE = Path(".run/demo-api-key")


def api_key_from_environment() -> str | None:
    """`$SALESCHANNEL_API_KEY`, else the key `make up` kept in `.run/demo-api-key`."""
    if key := os.environ.get("SALESCHANNEL_API_KEY"):
        return key.strip()
    with contextlib.suppress(OSError):
        return DEMO_KEY_FILE.read_text().strip() or None
    return None


def _parser(prog: str, port: int) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--token", default=None,
                        help="API key or access token (default: $SALESCHANNEL_API_KEY, else .run/demo-api-key)")
    common.add_argument("--url", default=os.environ.get("SERVICE_URL", f"http://127.0.0.1:{port}"),
                        help="the service's HTTP API (default: $SERVICE_URL or %(default)s)")
    parser = argparse.ArgumentParser(prog=prog, description="Declarative configuration of the service.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("diff", "show what applying the files would change"),
                       ("apply", "show the changes, then apply them")):
        command = commands.add_parser(name, parents=[common], help=text)
        command.add_argument("-f", "--filename", action="append", required=True,
                             help="a YAML or JSON file, or - for stdin; repeatable")
        command.add_argument("--prune", action="store_true",
                             help="delete resources of the files' kinds that the files do not name")
        if name == "apply":
            command.add_argument("--dry-run", action="store_true", help="only show the changes")
    get = commands.add_parser("get", parents=[common], help="print resources as YAML documents")
    get.add_argument("kind")
    get.add_argument("name", nargs="?")
    return parser


async def _apply(
    http: httpx.AsyncClient, registry: ConfigRegistry, filenames: list[str], *, prune: bool, dry_run: bool
) -> int:
    try:
        documents = read_documents(filenames)
        parse(registry, documents)
    except (OSError, yaml.YAMLError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except ConfigInvalid as exc:
        return _invalid(exc.problems)
    body = json.dumps(documents, default=str)
    params = {"prune": "true"} if prune else {}
    headers = {"content-type": "application/json"}

    preview = await http.post("/config:plan", content=body, params=params, headers=headers)
    if preview.is_error:
        return _failed(preview)
    planned = Plan.model_validate(preview.json())
    print(planned.render())
    if dry_run or not planned.changed:
        return 0
    applied = await http.post("/config:apply", content=body, params=params, headers=headers)
    if applied.is_error:
        return _failed(applied)
    print(f"applied: {Plan.model_validate(applied.json()).summary()}")
    return 0


async def _get(http: httpx.AsyncClient, registry: ConfigRegistry, kind: str, name: str | None) -> int:
    if registry.get(kind) is None:
        print(f"unknown kind {kind}; this service accepts {', '.join(registry.kinds)}", file=sys.stderr)
        return 1
    response = await http.get(f"/config/{kind}" + (f"/{name}" if name else ""))
    if response.is_error:
        return _failed(response)
    found = response.json()
    print(yaml.safe_dump_all(found if isinstance(found, list) else [found], sort_keys=False), end="")
    return 0


def read_documents(filenames: Sequence[str]) -> list[Any]:
    documents: list[Any] = []
    for filename in filenames:
        text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
        for document in yaml.safe_load_all(text):
            if isinstance(document, list):
                documents.extend(document)
            elif document is not None:
                documents.append(document)
    return documents


def _invalid(problems: list[Problem]) -> int:
    print("invalid configuration, nothing applied:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _failed(response: httpx.Response) -> int:
    """A problem-details answer: a configuration's problems, or what went wrong."""
    try:
        body = response.json()
        detail, errors = body.get("detail") or body.get("title", ""), body.get("errors") or []
    except (ValueError, AttributeError):
        detail, errors = response.text, []
    if response.status_code == 422 and errors:
        return _invalid([Problem(kind=e.get("kind") or "", name=e.get("name") or "", field=e["field"],
                                 reason=e["reason"]) for e in errors])
    request = response.request
    print(f"{request.method} {request.url}: {response.status_code} {detail}", file=sys.stderr)
    return 1
