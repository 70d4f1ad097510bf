"""Who may call a service's HTTP API, and for what.

Every endpoint but `/healthz`, `/readyz`, `/metrics` (and the OpenAPI document and docs) needs a
bearer token and declares the scope it needs:

- `read`: every GET of state, reports and configuration;
- `configure`: changing configuration;
- `operate`: operating actions (replays, imports, manual listing and order actions);
- `ingest`: senders of inbound webhooks (Amazon notifications pushed over HTTP, Commerce webhooks).

Tokens are API keys or OIDC access tokens:

- API keys (the embedded default): `API_KEYS` (JSON) or `API_KEYS_FILE` (a mounted secret, JSON or
  YAML, re-read when it changes) list `{name, scopes, sha256}`; only the SHA-256 of each key is
  stored (keys are 256-bit random, so a fast hash is enough), and a presented key's hash is
  compared with every stored one in constant time. `python -m servicekit.keys new-key` makes one.
- OIDC: with `OIDC_ISSUER` set, a JWT is verified against the issuer's JWKS (discovered, or
  `OIDC_JWKS_URL`) with PyJWT: signature, `exp`, `iss` and, if set, `OIDC_AUDIENCE`. Scopes come
  from the `OIDC_SCOPES_CLAIM` claim (`scope` by default; a space-separated string or a list), each
  optionally prefixed with `OIDC_SCOPE_PREFIX`; the caller is named by `OIDC_NAME_CLAIM` (`sub`).

No configured key and no issuer means every protected request is refused: there is no open mode.

A sender that cannot hold a token (a Commerce webhook) authenticates a route with `signed(header, secret)`
instead: the hex HMAC-SHA256 of the raw body with a shared secret, in a header; `check_routes` accepts
such a route, and the OpenAPI document shows the header as an `apiKey` scheme.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import jwt
import yaml
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from servicekit.inputs import check_input
from servicekit.logging import get_logger
from servicekit.problems import ProblemError

log = get_logger(component="auth")

KEY_PREFIX = "sck_"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect",
                          "/redoc"})


class Scope(StrEnum):
    READ = "read"
    CONFIGURE = "configure"
    OPERATE = "operate"
    INGEST = "ingest"


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a key's name or a token's subject."""

    name: str
    kind: str  # "api_key", "oidc" or "system"
    scopes: frozenset[str] = frozenset()


SYSTEM = Principal("system", "system", frozenset(ALL_SCOPES))
"""Changes made by the service itself (not through its API)."""


class ApiKeyEntry(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def parse_keys(text: str, source: str) -> list[ApiKeyEntry]:
    """Key entries from JSON or YAML: a list of entries, or `{"keys": [...]}`."""
    try:
        raw = yaml.safe_load(text) if text.strip() else []
        if isinstance(raw, dict):
            raw = raw.get("keys", [])
        if not isinstance(raw, list):
            raise ValueError("expected a list of {name, scopes, sha256}")
        entries = [ApiKeyEntry.model_validate(item) for item in raw]
    except (yaml.YAMLError, ValidationError, ValueError) as exc:
        raise ValueError(f"{source}: invalid API keys: {exc}") from None
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: API key names must be unique")
    return entries


class ApiKeys:
    """Hashed API keys from the environment and an optional file, which is re-read when it changes."""

    def __init__(self, inline: str | None = None, path: Path | None = None, *, recheck_s: float = 5.0) -> None:
        self._inline = parse_keys(inline, "API_KEYS") if inline else []
        self._path = path
        self._recheck_s = recheck_s
        self._file: list[ApiKeyEntry] = []
        self._stamp: tuple[float, int] | None = None
        self._checked = 0.0
        self.comparisons = 0  # how many digests were compared: every key, whatever matches
        self._reload(force=True)

    @property
    def entries(self) -> list[ApiKeyEntry]:
        return [*self._inline, *self._file]

    def _reload(self, force: bool = False) -> None:
        if self._path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < self._recheck_s:
            return
        self._checked = now
        try:
            stat = self._path.stat()
        except OSError as exc:
            if force:
                raise ValueError(f"API_KEYS_FILE {self._path}: {exc.strerror}") from None
            return
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            self._file = parse_keys(self._path.read_text(), str(self._path))
            self._stamp = stamp
        except (OSError, ValueError) as exc:
            if force:
                raise ValueError(str(exc)) from None
            log.error("api_keys_reload_failed", path=str(self._path), error=str(exc))

    def verify(self, key: str) -> ApiKeyEntry | None:
        """The entry whose hash matches, comparing against every entry in constant time each."""
        self._reload()
        digest = hash_key(key).encode()
        found = None
        for entry in self.entries:
            self.comparisons += 1
            if hmac.compare_digest(digest, entry.sha256.encode()) and found is None:
                found = entry
        return found


@dataclass
class OidcSettings:
    issuer: str
    audience: str | None = None
    jwks_url: str | None = None
    scopes_claim: str = "scope"
    scope_prefix: str = ""
    name_claim: str = "sub"
    algorithms: Sequence[str] = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
    leeway_s: int = 30


class OidcVerifier:
    """Access tokens of one issuer, verified against its JWKS (keys cached, refetched on an unknown kid)."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._jwks: jwt.PyJWKClient | None = None

    def _client(self) -> jwt.PyJWKClient:
        if self._jwks is None:
            url = self.settings.jwks_url
            if not url:
                discovery = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
                url = httpx.get(discovery, timeout=10).raise_for_status().json()["jwks_uri"]
            self._jwks = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=10)
        return self._jwks

    def verify(self, token: str) -> Principal:
        s = self.settings
        key = self._client().get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, key.key, algorithms=list(s.algorithms), issuer=s.issuer, audience=s.audience,
            leeway=s.leeway_s, options={"require": ["exp", "iss"], "verify_aud": s.audience is not None},
        )
        raw = claims.get(s.scopes_claim, [])
        values = raw.split() if isinstance(raw, str) else [str(v) for v in raw] if isinstance(raw, list) else []
        scopes = frozenset(v[len(s.scope_prefix):] for v in values if v.startswith(s.scope_prefix)) & ALL_SCOPES
        name = str(claims.get(s.name_claim) or claims.get("sub") or "unknown")
        return Principal(name, "oidc", scopes)


@dataclass
class Authenticator:
    keys: ApiKeys = field(default_factory=ApiKeys)
    oidc: OidcVerifier | None = None

    async def authenticate(self, token: str) -> Principal:
        if self.oidc is not None and token.count(".") == 2 and not token.startswith(KEY_PREFIX):
            try:
                return await asyncio.to_thread(self.oidc.verify, token)
            except (jwt.PyJWTError, httpx.HTTPError, KeyError, ValueError) as exc:
                raise _unauthorized(f"invalid token: {type(exc).__name__}") from None
        entry = self.keys.verify(token)
        if entry is None:
            raise _unauthorized("invalid token")
        return Principal(entry.name, "api_key", frozenset(entry.scopes))

    @classmethod
    def from_settings(cls, settings: Any) -> Authenticator:
        inline = settings.api_keys.get_secret_value() if settings.api_keys else None
        keys = ApiKeys(inline, Path(settings.api_keys_file) if settings.api_keys_file else None)
        oidc = None
        if settings.oidc_issuer:
            oidc = OidcVerifier(OidcSettings(
                issuer=settings.oidc_issuer, audience=settings.oidc_audience, jwks_url=settings.oidc_jwks_url,
                scopes_claim=settings.oidc_scopes_claim, scope_prefix=settings.oidc_scope_prefix,
                name_claim=settings.oidc_name_claim))
        if not keys.entries and oidc is None:
            log.warning("auth_no_credentials", reason="no API key and no OIDC issuer configured: "
                        "every protected request will be refused")
        return cls(keys, oidc)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="saleschannel"'})


_bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="An API key (`sck_...`) or an OIDC access token")


def requires(scope: Scope) -> Any:
    """A dependency: the caller, authenticated and holding `scope` (401 / 403 otherwise), whose request
    carries nothing `servicekit.inputs` refuses (422).

    Use as `dependencies=[requires(Scope.READ)]` on a route, or as a parameter default
    (`caller: Principal = requires(Scope.CONFIGURE)`) where the handler records who acted."""

    async def caller(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
        if credentials is None or not credentials.credentials:
            raise _unauthorized("a bearer token is required")
        if authenticator is None:
            raise _unauthorized("no credentials are configured")
        principal = await authenticator.authenticate(credentials.credentials)
        if scope not in principal.scopes:
            raise ProblemError(403, f"{principal.name} lacks the scope {scope.value!r}")
        request.state.principal = principal
        await check_input(request)
        return principal

    caller.scope = scope  # type: ignore[attr-defined]
    caller.__name__ = f"requires_{scope.value}"
    return Depends(caller)


def signed(header: str, secret: Callable[[], bytes], *, scheme_name: str, description: str = "") -> Any:
    """A dependency for a route whose sender signs instead of holding a token: `header` carries the hex
    HMAC-SHA256 of the raw body keyed with `secret()`, compared in constant time (401 when missing or
    different). The caller is a `signature` principal with the `ingest` scope; the input is checked as
    for `requires`. Use as `dependencies=[signed(...)]`."""
    scheme = APIKeyHeader(name=header, auto_error=False, scheme_name=scheme_name,
                          description=description or "Hex HMAC-SHA256 of the raw body with the shared secret")

    async def sender(request: Request, presented: str | None = Depends(scheme)) -> Principal:
        if not presented:
            raise ProblemError(401, f"the {header} header is required")
        expected = hmac.new(secret(), await request.body(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(presented.strip().lower().encode(), expected.encode()):
            raise ProblemError(401, f"the {header} header does not match the body")
        principal = Principal(scheme_name, "signature", frozenset({Scope.INGEST}))
        request.state.principal = principal
        await check_input(request)
        return principal

    sender.signed_by = header  # type: ignore[attr-defined]
    sender.__name__ = f"signed_{scheme_name}"
    return Depends(sender)


def _declared(route: APIRoute, marker: str) -> Any:
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if (value := getattr(dependant.call, marker, None)) is not None:
            return value
        pending.extend(dependant.dependencies)
    return None


def route_scope(route: APIRoute) -> str | None:
    """The scope a route declared through `requires`, if any."""
    scope = _declared(route, "scope")
    return None if scope is None else str(scope)


def route_signature(route: APIRoute) -> str | None:
    """The header a route declared through `signed`, if any."""
    return _declared(route, "signed_by")  # type: ignore[no-any-return]


def api_routes(routes: Iterable[Any]) -> list[APIRoute]:
    """Every APIRoute, those of included routers too."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (included := getattr(route, "original_router", None)) is not None:
            found += api_routes(included.routes)
    return found


def check_routes(routes: Iterable[Any], public: Iterable[str] = PUBLIC_PATHS) -> None:
    """Refuse to serve a route that is neither public, scoped nor signed: a new endpoint must say who may call it."""
    public = set(public)
    unscoped = [f"{sorted(r.methods)} {r.path}" for r in api_routes(routes)
                if r.path not in public and route_scope(r) is None and route_signature(r) is None]
    if unscoped:
        raise RuntimeError("routes without a scope (use servicekit.auth.requires, or signed for a signing "
                           f"sender): {', '.join(unscoped)}")


# ------------------------------------------------------------------ CLI


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m servicekit.keys", description="API keys for the services")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("new-key", help="make a key: prints it once, and the entry to add to API_KEYS_FILE")
    make.add_argument("--name", required=True)
    make.add_argument("--scopes", default=",".join(s.value for s in Scope),
                      help="comma-separated: read, configure, operate, ingest (default: all)")
    make.add_argument("--file", type=Path, help="add the entry to this keys file (JSON), creating it if needed")
    args = parser.parse_args(argv)
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    try:
        entry = ApiKeyEntry(name=args.name, scopes=scopes, sha256="0" * 64)  # type: ignore[arg-type]
    except ValidationError as exc:
        print(f"invalid: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    key = new_key()
    entry = entry.model_copy(update={"sha256": hash_key(key)})
    if args.file:
        existing = parse_keys(args.file.read_text(), str(args.file)) if args.file.exists() else []
        if any(e.name == entry.name for e in existing):
            print(f"{args.file} already has a key named {entry.name}", file=sys.stderr)
            return 2
        add_key_entry(args.file, entry)
    out(key)
    if not args.file:
        out(json.dumps(entry.model_dump(mode="json")))
    return 0


def add_key_entry(path: Path, entry: ApiKeyEntry) -> None:
    existing = parse_keys(path.read_text(), str(path)) if path.exists() else []
    data = [e.model_dump(mode="json") for e in [*existing, entry]]
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)

