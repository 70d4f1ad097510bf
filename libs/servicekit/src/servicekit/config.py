"""Configuration as resources: declared kinds, validated as a whole, planned and applied as one change.

A document names a kind, a name and a spec (`name:` may stand in for `metadata.name`):

    kind: PricingRule
    metadata: {name: clearance}
    spec: {priority: 1, ...}

A service declares each kind with the pydantic model of its spec. `plan` compares documents with
the stored resources; `apply` writes the difference in one transaction (the same documents twice
change nothing), records it in `_config_history`, notifies `config_<schema>` with each changed
kind and calls the registry's `on_change` hook inside the transaction. Invalid configuration
changes nothing and raises `ConfigInvalid`.
"""

# No `from __future__ import annotations`: FastAPI reads the per-kind routes' annotations at runtime.

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from servicekit import audit
from servicekit.auth import Principal, Scope, requires
from servicekit.problems import FieldError, ProblemError, problem_response

if TYPE_CHECKING:
    from servicekit.app import Service

Specs = Mapping[str, Mapping[str, BaseModel]]
"""kind -> name -> spec: the whole configuration as it would be after a change."""

Validator = Callable[[Any, Specs], list[str | tuple[str, str]]]
"""(spec, all resources) -> problems, each a reason or a (field within spec, reason) pair."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_KIND = re.compile(r"[A-Z][A-Za-z0-9]*")
_DOCUMENT_KEYS = {"kind", "metadata", "name", "spec"}
_METADATA_KEYS = {"name", "revision", "updated_at"}  # the last two are read-only, ignored on input
_UNSET: Any = object()


def channel(schema: str) -> str:
    """The channel `apply` notifies, with the changed kind as payload."""
    return f"config_{schema}"


class ConfigSpec(BaseModel):
    """A convenient base for spec models: unknown fields are errors, loaded specs immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ConfigKind:
    kind: str
    model: type[BaseModel]
    scope_fields: tuple[str, ...] = ()
    """Spec fields `load(..., scope=...)` filters on; a spec leaving one null applies to every value."""
    validate: Validator | None = None

    def __post_init__(self) -> None:
        if not _KIND.fullmatch(self.kind):
            raise ValueError(f"kind {self.kind!r} must be CamelCase letters and digits")
        if unknown := set(self.scope_fields) - set(self.model.model_fields):
            raise ValueError(f"{self.kind}: scope fields {sorted(unknown)} are not fields of the spec")


class Change(BaseModel):
    kind: str
    name: str
    revision: int = Field(description="The revision once applied; for a delete, the last one.")
    diff: list[str] = Field(default=[], description="One line per changed field: `spec.priority: 2 -> 1`.")
    spec: dict[str, Any] | None = Field(default=None, description="The new spec; null for a delete.")
    before: dict[str, Any] | None = Field(default=None, exclude=True)


class Plan(BaseModel):
    creates: list[Change] = []
    updates: list[Change] = []
    deletes: list[Change] = []
    unchanged: list[Change] = []

    @property
    def changed(self) -> bool:
        return bool(self.creates or self.updates or self.deletes)

    @property
    def kinds_changed(self) -> set[str]:
        return {c.kind for c in (*self.creates, *self.updates, *self.deletes)}

    def summary(self) -> str:
        return (f"{len(self.creates)} to create, {len(self.updates)} to update, "
                f"{len(self.deletes)} to delete, {len(self.unchanged)} unchanged")

    def render(self) -> str:
        lines = []
        for mark, changes in (("+", self.creates), ("~", self.updates), ("-", self.deletes)):
            for change in changes:
                lines.append(f"{mark} {change.kind}/{change.name}")
                lines.extend(f"    {line}" for line in change.diff)
        return "\n".join([*lines, self.summary()])


class Problem(BaseModel):
    kind: str
    name: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind or '?'}/{self.name or '?'}: {self.field}: {self.reason}"


class ConfigInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


class Metadata(BaseModel):
    name: str
    revision: int
    updated_at: datetime


class Resource(BaseModel):
    """A stored resource, in the shape of the documents that configure it."""

    kind: str
    metadata: Metadata
    spec: dict[str, Any]


OnChange = Callable[[asyncpg.Connection, Plan], Awaitable[None]]


class ConfigRegistry:
    """The kinds a service accepts; `on_change` runs inside every transaction that changes one."""

    def __init__(self, *kinds: ConfigKind, on_change: OnChange | None = None, producer: str = "config") -> None:
        self._kinds: dict[str, ConfigKind] = {}
        self.on_change = on_change
        self.producer = producer
        """The service named as the producer of audit events; `config_router` sets it."""
        for kind in kinds:
            self.register(kind)

    def register(self, kind: ConfigKind) -> ConfigKind:
        if kind.kind in self._kinds:
            raise ValueError(f"kind {kind.kind} is registered twice")
        self._kinds[kind.kind] = kind
        return kind

    def __getitem__(self, kind: str) -> ConfigKind:
        return self._kinds[kind]

    def get(self, kind: object) -> ConfigKind | None:
        return self._kinds.get(kind) if isinstance(kind, str) else None

    def __iter__(self) -> Iterator[ConfigKind]:
        return iter(self._kinds.values())

    @property
    def kinds(self) -> list[str]:
        return list(self._kinds)


# ------------------------------------------------------------------ documents


def parse(registry: ConfigRegistry, documents: Iterable[Any]) -> dict[tuple[str, str], BaseModel]:
    """Validate documents on their own (no database): (kind, name) -> spec, in document order."""
    parsed: dict[tuple[str, str], BaseModel] = {}
    problems: list[Problem] = []
    for number, document in enumerate(documents, 1):
        kind, name, spec, found = _parse_document(registry, document, number)
        problems += found
        if spec is None:
            continue
        if (kind, name) in parsed:
            problems.append(Problem(kind=kind, name=name, field="metadata.name",
                                    reason=f"document {number} repeats an earlier document's name"))
        parsed[kind, name] = spec
    if problems:
        raise ConfigInvalid(problems)
    return parsed


def _parse_document(
    registry: ConfigRegistry, document: Any, number: int
) -> tuple[str, str, BaseModel | None, list[Problem]]:
    if not isinstance(document, dict):
        return "", "", None, [Problem(kind="", name="", field="document",
                                      reason=f"document {number} is not a mapping")]
    metadata = document.get("metadata", {})
    name = document.get("name", metadata.get("name") if isinstance(metadata, dict) else None)
    kind = document.get("kind")
    problems: list[Problem] = []

    def problem(field: str, reason: str) -> None:
        problems.append(Problem(kind=str(kind or ""), name=str(name or ""), field=field, reason=reason))

    for key in sorted(document.keys() - _DOCUMENT_KEYS, key=str):
        problem(str(key), "unknown field (a document has kind, metadata.name or name, and spec)")
    if not isinstance(metadata, dict):
        problem("metadata", "must be a mapping")
    else:
        for key in sorted(metadata.keys() - _METADATA_KEYS, key=str):
            problem(f"metadata.{key}", "unknown field")
        if "name" in metadata and "name" in document and metadata["name"] != document["name"]:
            problem("name", "differs from metadata.name")
    if name is None:
        problem("metadata.name", f"required (document {number})")
    elif not isinstance(name, str) or not _NAME.fullmatch(name):
        problem("metadata.name", "must be 1 to 200 letters, digits, '.', '_' or '-', "
                                 "starting with a letter or digit")
    config_kind = registry.get(kind)
    if config_kind is None:
        problem("kind", f"required (document {number})" if kind is None
                else f"unknown kind; this service accepts {', '.join(registry.kinds) or 'none'}")
        return str(kind or ""), str(name or ""), None, problems
    try:
        spec = config_kind.model.model_validate(document.get("spec", {}))
    except ValidationError as exc:
        problems += _problems(config_kind.kind, str(name or ""), exc)
        return config_kind.kind, str(name or ""), None, problems
    return config_kind.kind, str(name or ""), (None if problems else spec), problems


def _problems(kind: str, name: str, exc: ValidationError) -> list[Problem]:
    return [Problem(kind=kind, name=name, field=".".join(["spec", *map(str, e["loc"])]), reason=e["msg"])
            for e in exc.errors(include_url=False)]


def _diff(old: Any, new: Any, path: str = "spec") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [*old, *(k for k in new if k not in old)]
        return [line for k in keys for line in _diff(old.get(k, _UNSET), new.get(k, _UNSET), f"{path}.{k}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (a, b) in enumerate(zip(old, new, strict=True))
                for line in _diff(a, b, f"{path}.{i}")]
    return [] if old == new else [f"{path}: {_show(old)} -> {_show(new)}"]


def _show(value: Any) -> str:
    return "(unset)" if value is _UNSET else json.dumps(value, ensure_ascii=False)


# ------------------------------------------------------------------ plan and apply


async def plan(
    conn: asyncpg.Connection, registry: ConfigRegistry, documents: Iterable[Any], *, prune: bool = False
) -> Plan:
    """What `apply` would do. With `prune`, stored resources of the documents' kinds that no
    document names are deleted."""
    desired = parse(registry, documents)
    return await _compute(conn, registry, desired, _pruning(desired, prune))


async def apply(
    conn: asyncpg.Connection, registry: ConfigRegistry, documents: Iterable[Any], *, prune: bool = False,
    actor: Principal | None = None,
) -> Plan:
    """Write what differs; each change is audited under `actor` (the service itself when None)."""
    desired = parse(registry, documents)
    return await _commit(conn, registry, desired, _pruning(desired, prune), actor)


async def delete(
    conn: asyncpg.Connection, registry: ConfigRegistry, kind: str, name: str, *, actor: Principal | None = None,
) -> Plan:
    """Delete one resource (if the rest stays valid); the plan's `deletes` is empty if it was absent."""
    if kind not in registry.kinds:
        raise KeyError(kind)
    return await _commit(conn, registry, {}, lambda k, n: (k, n) == (kind, name), actor)


async def load(
    conn: asyncpg.Connection | asyncpg.Pool, registry: ConfigRegistry, kind: str, *,
    scope: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The specs of one kind by name; with `scope`, those whose scope fields equal it or are null."""
    config_kind = registry[kind]
    scope = scope or {}
    if unknown := set(scope) - set(config_kind.scope_fields):
        raise ValueError(f"{kind}: {sorted(unknown)} are not scope fields")
    rows = await conn.fetch(
        "SELECT name, spec::text AS spec FROM _config WHERE kind = $1 ORDER BY name", kind)
    specs: dict[str, Any] = {}
    for row in rows:
        try:
            spec = config_kind.model.model_validate_json(row["spec"])
        except ValidationError as exc:
            raise ConfigInvalid(_problems(kind, row["name"], exc)) from exc
        if all(getattr(spec, f) in (None, v) for f, v in scope.items()):
            specs[row["name"]] = spec
    return specs


async def resources(
    conn: asyncpg.Connection | asyncpg.Pool, kind: str, name: str | None = None
) -> list[Resource]:
    rows = await conn.fetch(
        "SELECT kind, name, spec::text AS spec, revision, updated_at FROM _config "
        "WHERE kind = $1 AND ($2::text IS NULL OR name = $2) ORDER BY name", kind, name)
    return [Resource(kind=r["kind"], spec=json.loads(r["spec"]), metadata=Metadata(
        name=r["name"], revision=r["revision"], updated_at=r["updated_at"])) for r in rows]


def _pruning(desired: Mapping[tuple[str, str], BaseModel], prune: bool) -> Callable[[str, str], bool]:
    kinds = {kind for kind, _ in desired}
    return lambda kind, name: prune and kind in kinds and (kind, name) not in desired


async def _commit(
    conn: asyncpg.Connection, registry: ConfigRegistry, desired: Mapping[tuple[str, str], BaseModel],
    drop: Callable[[str, str], bool], actor: Principal | None,
) -> Plan:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '._config'))")
        result = await _compute(conn, registry, desired, drop)
        if result.changed:
            await _write(conn, result)
            await audit.record(conn, registry.producer, actor, [
                audit.Entry(action=f"config.{action}", target=f"{c.kind}/{c.name}", before=c.before, after=c.spec)
                for action, changes in (("create", result.creates), ("update", result.updates),
                                        ("delete", result.deletes))
                for c in changes])
            if registry.on_change is not None:
                await registry.on_change(conn, result)
    return result


async def _compute(
    conn: asyncpg.Connection, registry: ConfigRegistry, desired: Mapping[tuple[str, str], BaseModel],
    drop: Callable[[str, str], bool],
) -> Plan:
    rows = await conn.fetch(
        "SELECT kind, name, spec::text AS spec, revision FROM _config WHERE kind = ANY($1::text[]) "
        "ORDER BY kind, name", registry.kinds)
    stored = {(r["kind"], r["name"]): (json.loads(r["spec"]), r["revision"]) for r in rows}
    after: dict[str, dict[str, BaseModel]] = {kind: {} for kind in registry.kinds}
    problems: list[Problem] = []
    result = Plan()

    for (kind, name), (raw, revision) in stored.items():
        if (kind, name) in desired:
            continue
        if drop(kind, name):
            result.deletes.append(Change(kind=kind, name=name, revision=revision, before=raw))
            continue
        try:
            after[kind][name] = registry[kind].model.model_validate(raw)
        except ValidationError as exc:  # stored before the model changed; it has to be fixed too
            problems += _problems(kind, name, exc)

    for (kind, name), spec in desired.items():
        after[kind][name] = spec
        new = spec.model_dump(mode="json")
        if (kind, name) not in stored:
            diff = [f"spec.{field}: {_show(value)}" for field, value in new.items()]
            result.creates.append(Change(kind=kind, name=name, revision=1, diff=diff, spec=new))
            continue
        raw, revision = stored[kind, name]
        if diff := _diff(_normalized(registry[kind].model, raw), new):
            result.updates.append(Change(kind=kind, name=name, revision=revision + 1, diff=diff, spec=new,
                                         before=raw))
        else:
            result.unchanged.append(Change(kind=kind, name=name, revision=revision, spec=new))

    for config_kind in registry:
        if config_kind.validate is None:
            continue
        for name, spec in after[config_kind.kind].items():
            for found in config_kind.validate(spec, after):
                field, reason = found if isinstance(found, tuple) else ("", found)
                problems.append(Problem(kind=config_kind.kind, name=name,
                                        field=f"spec.{field}" if field else "spec", reason=reason))
    if problems:
        raise ConfigInvalid(problems)
    return result


def _normalized(model: type[BaseModel], raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return model.model_validate(raw).model_dump(mode="json")
    except ValidationError:
        return raw


async def _write(conn: asyncpg.Connection, result: Plan) -> None:
    upserts = [*result.creates, *result.updates]
    if upserts:
        await conn.execute(
            "INSERT INTO _config (kind, name, spec, revision) SELECT k, n, s::jsonb, r "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS t(k, n, s, r) "
            "ON CONFLICT (kind, name) DO UPDATE "
            "SET spec = EXCLUDED.spec, revision = EXCLUDED.revision, updated_at = now()",
            [c.kind for c in upserts], [c.name for c in upserts],
            [json.dumps(c.spec) for c in upserts], [c.revision for c in upserts])
    if result.deletes:
        await conn.execute(
            "DELETE FROM _config c USING unnest($1::text[], $2::text[]) AS d(k, n) "
            "WHERE c.kind = d.k AND c.name = d.n",
            [c.kind for c in result.deletes], [c.name for c in result.deletes])
    history = [(c, action) for action, changes in
               (("create", result.creates), ("update", result.updates), ("delete", result.deletes))
               for c in changes]
    await conn.execute(
        "INSERT INTO _config_history (kind, name, revision, action, spec) SELECT k, n, r, a, s::jsonb "
        "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) AS t(k, n, r, a, s)",
        [c.kind for c, _ in history], [c.name for c, _ in history], [c.revision for c, _ in history],
        [a for _, a in history], [None if c.spec is None else json.dumps(c.spec) for c, _ in history])
    for kind in sorted(result.kinds_changed):
        await conn.execute("SELECT pg_notify('config_' || current_schema(), $1)", kind)


# ------------------------------------------------------------------ HTTP


class _ProblemRoute(APIRoute):
    """Answers invalid configuration with a 422 problem whose errors carry kind, name and field."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        kind = getattr(self.endpoint, "config_kind", "")

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ConfigInvalid as exc:
                problems = exc.problems
            except RequestValidationError as exc:
                name = request.path_params.get("name", "")
                problems = [Problem(kind=kind, name=name, field=_request_field(e["loc"], kind),
                                    reason=e["msg"]) for e in exc.errors()]
            return problem_response(
                422, "; ".join(map(str, problems[:5])), instance=request.url.path, errors=[
                    FieldError(field=p.field, reason=p.reason, kind=p.kind or None, name=p.name or None)
                    for p in problems])

        return route


def _request_field(loc: tuple[Any, ...], kind: str) -> str:
    where, *rest = loc
    prefix = {"body": "spec" if kind else "body", "path": "metadata"}.get(where)
    return ".".join(map(str, [prefix, *rest] if prefix else rest))


_INVALID: dict[int | str, dict[str, Any]] = {422: {"description": "Invalid configuration: each error names kind, "
                                                         "name and field"}}


def config_router(service: "Service[Any]", registry: ConfigRegistry) -> APIRouter:
    """`/config/<Kind>[/<name>]` for each kind, and `/config:plan`, `/config:apply` for documents.
    Reading and planning need the `read` scope, changing needs `configure`; every change is audited."""
    router = APIRouter(tags=["config"], route_class=_ProblemRoute)
    registry.producer = getattr(service, "name", registry.producer)

    def pool() -> asyncpg.Pool:
        if service.pool is None:
            raise ProblemError(503, "the service has not started")
        return service.pool

    @router.post("/config:plan", response_model=Plan, responses=_INVALID, dependencies=[requires(Scope.READ)])
    async def plan_documents(documents: list[dict[str, Any]] = Body(max_length=MAX_DOCUMENTS),
                             prune: bool = False) -> Plan:
        """What applying these documents would change, field by field. Changes nothing."""
        async with pool().acquire() as conn:
            return await plan(conn, registry, documents, prune=prune)

    @router.post("/config:apply", response_model=Plan, responses=_INVALID)
    async def apply_documents(documents: list[dict[str, Any]] = Body(max_length=MAX_DOCUMENTS),
                              prune: bool = False, caller: Principal = requires(Scope.CONFIGURE)) -> Plan:
        """Apply every document or, if any is invalid, none. `prune` deletes the resources of the
        documents' kinds that they do not name."""
        async with pool().acquire() as conn:
            return await apply(conn, registry, documents, prune=prune, actor=caller)

    for config_kind in registry:
        _kind_routes(router, registry, config_kind, pool)
    return router


MAX_DOCUMENTS = 10_000
_Name = Annotated[str, Path(min_length=1, max_length=200, pattern=f"^{_NAME.pattern}$")]


def _kind_routes(
    router: APIRouter, registry: ConfigRegistry, config_kind: ConfigKind, pool: Callable[[], asyncpg.Pool]
) -> None:
    kind, spec_model = config_kind.kind, config_kind.model

    async def get_one(name: _Name) -> Resource:
        found = await resources(pool(), kind, name)
        if not found:
            raise ProblemError(404, f"{kind}/{name} not found")
        return found[0]

    async def list_all() -> list[Resource]:
        return await resources(pool(), kind)

    async def put(name: _Name, spec: spec_model, caller: Principal = requires(Scope.CONFIGURE)) -> Resource:  # type: ignore[valid-type]
        document = {"kind": kind, "metadata": {"name": name}, "spec": spec.model_dump(mode="json")}
        async with pool().acquire() as conn:
            await apply(conn, registry, [document], actor=caller)
        return await get_one(name)

    async def remove(name: _Name, caller: Principal = requires(Scope.CONFIGURE)) -> Plan:
        async with pool().acquire() as conn:
            result = await delete(conn, registry, kind, name, actor=caller)
        if not result.deletes:
            raise ProblemError(404, f"{kind}/{name} not found")
        return result

    put.config_kind = remove.config_kind = kind  # type: ignore[attr-defined]
    path = f"/config/{kind}"
    read = [requires(Scope.READ)]
    router.add_api_route(path, list_all, methods=["GET"], response_model=list[Resource], dependencies=read,
                         summary=f"List {kind} resources", name=f"list_{kind}")
    router.add_api_route(f"{path}/{{name}}", get_one, methods=["GET"], response_model=Resource, dependencies=read,
                         summary=f"Get a {kind}", name=f"get_{kind}")
    router.add_api_route(f"{path}/{{name}}", put, methods=["PUT"], response_model=Resource,
                         responses=_INVALID, summary=f"Create or replace a {kind}; the body is its spec",
                         name=f"put_{kind}")
    router.add_api_route(f"{path}/{{name}}", remove, methods=["DELETE"], response_model=Plan,
                         responses=_INVALID, summary=f"Delete a {kind}", name=f"delete_{kind}")
