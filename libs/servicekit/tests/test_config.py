from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field

from devstack.testing import auth_headers
from servicekit import ServiceSettings, config, config_cli
from servicekit import db as servicekit_db
from servicekit.config import ConfigInvalid, ConfigKind, ConfigRegistry, ConfigSpec, Plan
from servicekit.http import protect


class Greeting(ConfigSpec):
    priority: int = Field(ge=1)
    text: str
    audience: str | None = None


class Farewell(ConfigSpec):
    after: str = Field(description="the Greeting this farewell follows")


def greeting_exists(spec: Farewell, specs: config.Specs) -> list[str | tuple[str, str]]:
    return [] if spec.after in specs["Greeting"] else [("after", f"no Greeting named {spec.after!r}")]


def greeting(name: str, priority: int = 1, text: str = "hello", **spec: Any) -> dict[str, Any]:
    return {"kind": "Greeting", "metadata": {"name": name}, "spec": {"priority": priority, "text": text, **spec}}


def farewell(name: str, after: str) -> dict[str, Any]:
    return {"kind": "Farewell", "name": name, "spec": {"after": after}}


@pytest.fixture
def changes() -> list[Plan]:
    return []


@pytest.fixture
def registry(changes: list[Plan]) -> ConfigRegistry:
    async def on_change(conn: asyncpg.Connection, plan: Plan) -> None:
        assert conn.is_in_transaction()
        changes.append(plan)

    return ConfigRegistry(
        ConfigKind("Greeting", Greeting, scope_fields=("audience",)),
        ConfigKind("Farewell", Farewell, validate=greeting_exists),
        on_change=on_change,
    )


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"cfg_{uuid.uuid4().hex[:8]}"
    pool = await servicekit_db.create_pool(database_url, schema)
    await servicekit_db.migrate(pool, schema, None)
    try:
        yield pool
    finally:
        await pool.close()


async def stored(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    rows = await pool.fetch("SELECT kind, name, spec::text, revision, updated_at FROM _config ORDER BY kind, name")
    return [tuple(r) for r in rows]


async def test_plan_then_apply_creates_updates_and_leaves_the_rest(pool, registry, changes) -> None:
    async with pool.acquire() as conn:
        first = await config.apply(conn, registry, [greeting("morning", 1), greeting("evening", 2)])
        preview = await config.plan(conn, registry, [greeting("morning", 1), greeting("evening", 3, "good evening"),
                                                     greeting("night", 4)])
        applied = await config.apply(conn, registry, [greeting("morning", 1), greeting("evening", 3, "good evening"),
                                                      greeting("night", 4)])

    assert [c.name for c in first.creates] == ["morning", "evening"]
    assert first.creates[0].diff == ['spec.priority: 1', 'spec.text: "hello"', "spec.audience: null"]
    assert [c.name for c in preview.creates] == ["night"]
    assert [(c.name, c.revision, c.diff) for c in preview.updates] == [
        ("evening", 2, ["spec.priority: 2 -> 3", 'spec.text: "hello" -> "good evening"'])]
    assert [c.name for c in preview.unchanged] == ["morning"] and preview.deletes == []
    assert applied == preview
    assert "~ Greeting/evening\n    spec.priority: 2 -> 3" in applied.render()
    assert changes == [first, applied]
    revisions = {name: revision for _, name, _, revision, _ in await stored(pool)}
    assert revisions == {"morning": 1, "evening": 2, "night": 1}
    history = await pool.fetch("SELECT name, revision, action FROM _config_history ORDER BY id")
    assert [tuple(r) for r in history] == [
        ("morning", 1, "create"), ("evening", 1, "create"), ("night", 1, "create"), ("evening", 2, "update")]


async def test_applying_the_same_documents_again_changes_nothing(pool, registry, changes) -> None:
    documents = [greeting("morning", 1), farewell("bye", after="morning")]
    async with pool.acquire() as conn:
        await config.apply(conn, registry, documents)
        before = await stored(pool)
        again = await config.apply(conn, registry, documents)
    assert not again.changed and [c.name for c in again.unchanged] == ["morning", "bye"]
    assert await stored(pool) == before
    assert len(changes) == 1


async def test_an_invalid_third_document_applies_nothing(pool, registry, changes) -> None:
    async with pool.acquire() as conn:
        await config.apply(conn, registry, [greeting("morning", 1)])
        before = await stored(pool)
        with pytest.raises(ConfigInvalid) as raised:
            await config.apply(conn, registry, [greeting("morning", 5), greeting("evening", 2), greeting("bad", 0)])
    assert [p.model_dump() for p in raised.value.problems] == [
        {"kind": "Greeting", "name": "bad", "field": "spec.priority", "reason": "Input should be greater than or equal to 1"}]
    assert "Greeting/bad: spec.priority: Input should be greater than or equal to 1" in str(raised.value)
    assert await stored(pool) == before
    assert len(changes) == 1


async def test_unknown_kinds_missing_names_and_unknown_fields_are_all_reported(registry) -> None:
    with pytest.raises(ConfigInvalid) as raised:
        config.parse(registry, [
            {"kind": "Salutation", "name": "x", "spec": {}},
            {"kind": "Greeting", "spec": {"priority": 1, "text": "hi"}},
            greeting("typo", prioirty=2),
            greeting("twice"), greeting("twice"),
            "not a mapping",
        ])
    assert [(p.kind, p.name, p.field) for p in raised.value.problems] == [
        ("Salutation", "x", "kind"),
        ("Greeting", "", "metadata.name"),
        ("Greeting", "typo", "spec.prioirty"),
        ("Greeting", "twice", "metadata.name"),
        ("", "", "document"),
    ]
    assert "this service accepts Greeting, Farewell" in raised.value.problems[0].reason


async def test_cross_resource_checks_see_the_configuration_as_it_would_be(pool, registry) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(ConfigInvalid) as raised:
            await config.apply(conn, registry, [farewell("bye", after="morning")])
        assert [str(p) for p in raised.value.problems] == ["Farewell/bye: spec.after: no Greeting named 'morning'"]

        await config.apply(conn, registry, [greeting("morning"), farewell("bye", after="morning")])
        with pytest.raises(ConfigInvalid, match=r"Farewell/bye: spec\.after"):
            await config.delete(conn, registry, "Greeting", "morning")
        with pytest.raises(ConfigInvalid, match=r"Farewell/bye: spec\.after"):
            await config.apply(conn, registry, [greeting("evening")], prune=True)
    assert [name for _, name, *_ in await stored(pool)] == ["bye", "morning"]


async def test_prune_deletes_what_the_documents_of_a_kind_leave_out(pool, registry) -> None:
    async with pool.acquire() as conn:
        await config.apply(conn, registry, [greeting("morning", 1), greeting("evening", 2),
                                            farewell("bye", after="morning")])
        kept = await config.plan(conn, registry, [greeting("morning", 1)])
        pruned = await config.apply(conn, registry, [greeting("morning", 1)], prune=True)
    assert kept.deletes == []
    assert [(c.kind, c.name, c.revision) for c in pruned.deletes] == [("Greeting", "evening", 1)]
    assert "- Greeting/evening" in pruned.render()
    assert [(kind, name) for kind, name, *_ in await stored(pool)] == [("Farewell", "bye"), ("Greeting", "morning")]


async def test_load_filters_by_scope_and_listeners_hear_of_changes(pool, registry) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    async with pool.acquire() as listener:
        schema = await listener.fetchval("SELECT current_schema()")
        notified = lambda *args: heard.put_nowait(args[-1])  # noqa: E731
        await listener.add_listener(config.channel(schema), notified)
        async with pool.acquire() as conn:
            await config.apply(conn, registry, [greeting("everyone", 1), greeting("us", 2, audience="us"),
                                                greeting("de", 3, audience="de")])
            assert await asyncio.wait_for(heard.get(), 5) == "Greeting"
            assert sorted(await config.load(conn, registry, "Greeting")) == ["de", "everyone", "us"]
            us = await config.load(conn, registry, "Greeting", scope={"audience": "us"})
            with pytest.raises(ValueError, match="not scope fields"):
                await config.load(conn, registry, "Greeting", scope={"text": "hi"})
        await listener.remove_listener(config.channel(schema), notified)
    assert {name: spec.priority for name, spec in us.items()} == {"everyone": 1, "us": 2}
    assert isinstance(us["us"], Greeting)


# ------------------------------------------------------------------ HTTP and CLI


@pytest.fixture
async def client(pool, registry) -> AsyncIterator[httpx.AsyncClient]:
    app = protect(FastAPI(), ServiceSettings())
    app.include_router(config.config_router(SimpleNamespace(pool=pool), registry))
    async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        yield client


async def test_http_put_get_list_delete(client) -> None:
    put = await client.put("/config/Greeting/morning", json={"priority": 2, "text": "hi"})
    assert put.status_code == 200, put.text
    assert put.json()["metadata"]["revision"] == 1 and put.json()["spec"]["priority"] == 2
    assert (await client.put("/config/Greeting/morning", json={"priority": 3, "text": "hi"})).json()["metadata"][
        "revision"] == 2
    assert (await client.get("/config/Greeting/morning")).json()["spec"]["priority"] == 3
    assert [r["metadata"]["name"] for r in (await client.get("/config/Greeting")).json()] == ["morning"]
    deleted = await client.delete("/config/Greeting/morning")
    assert deleted.status_code == 200 and deleted.json()["deletes"][0]["name"] == "morning"
    assert (await client.get("/config/Greeting/morning")).status_code == 404
    assert (await client.delete("/config/Greeting/morning")).status_code == 404
    assert (await client.get("/config/Salutation")).status_code == 404


async def test_http_answers_invalid_input_with_the_field_and_reason(client) -> None:
    bad = await client.put("/config/Greeting/morning", json={"priority": 0, "text": "hi", "colour": "red"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["status"] == 422 and bad.json()["type"] == "urn:saleschannel:problem:validation"
    assert bad.json()["errors"] == [
        {"kind": "Greeting", "name": "morning", "field": "spec.priority",
         "reason": "Input should be greater than or equal to 1"},
        {"kind": "Greeting", "name": "morning", "field": "spec.colour", "reason": "Extra inputs are not permitted"},
    ]
    orphan = await client.put("/config/Farewell/bye", json={"after": "nobody"})
    assert orphan.status_code == 422
    assert orphan.json()["errors"] == [
        {"kind": "Farewell", "name": "bye", "field": "spec.after", "reason": "no Greeting named 'nobody'"}]
    bad_name = await client.put("/config/Greeting/bad name!", json={"priority": 1, "text": "hi"})
    assert bad_name.status_code == 422 and bad_name.json()["errors"][0]["field"] == "metadata.name"
    assert (await client.get("/config/Greeting")).json() == []


async def test_http_plan_and_apply_documents(client) -> None:
    documents = [greeting("morning", 1), greeting("evening", 2)]
    preview = await client.post("/config:plan", json=documents)
    assert preview.status_code == 200 and len(preview.json()["creates"]) == 2
    assert (await client.get("/config/Greeting")).json() == []
    assert len((await client.post("/config:apply", json=documents)).json()["creates"]) == 2
    pruned = await client.post("/config:apply", params={"prune": "true"}, json=[greeting("morning", 1)])
    assert [c["name"] for c in pruned.json()["deletes"]] == ["evening"]
    invalid = await client.post("/config:apply", json=[{"kind": "Salutation", "name": "x"}])
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "kind"


async def test_openapi_documents_each_kinds_spec(client) -> None:
    schema = (await client.get("/openapi.json")).json()
    put = schema["paths"]["/config/Greeting/{name}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/Greeting")
    assert "422" in put["responses"] and {"/config:plan", "/config:apply", "/config/Farewell"} <= set(schema["paths"])


async def test_cli_previews_then_applies_and_rejects_invalid_files(client, registry, tmp_path: Path, capsys) -> None:
    def cli(*argv: str) -> Any:
        return config_cli.run("python -m toy config", lambda: registry, argv, client=client)

    first = tmp_path / "greetings.yaml"
    first.write_text("kind: Greeting\nmetadata: {name: morning}\nspec: {priority: 1, text: hi}\n---\n"
                     "kind: Greeting\nname: evening\nspec:\n  priority: 2\n  text: good evening\n")
    assert await cli("apply", "-f", str(first)) == 0
    assert "applied: 2 to create" in capsys.readouterr().out

    first.write_text(first.read_text().replace("priority: 2", "priority: 3"))
    assert await cli("diff", "-f", str(first)) == 0
    out = capsys.readouterr().out
    assert "~ Greeting/evening\n    spec.priority: 2 -> 3" in out and "applied" not in out
    assert await cli("apply", "--dry-run", "-f", str(first)) == 0
    assert (await client.get("/config/Greeting/evening")).json()["spec"]["priority"] == 2

    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("- kind: Greeting\n  name: late\n  spec: {priority: 0, text: x}\n")
    assert await cli("apply", "-f", str(invalid)) == 1
    assert "Greeting/late: spec.priority: Input should be greater than or equal to 1" in capsys.readouterr().err

    orphan = tmp_path / "orphan.yaml"
    orphan.write_text("kind: Farewell\nname: bye\nspec: {after: nobody}\n")
    assert await cli("apply", "-f", str(orphan)) == 1
    assert "Farewell/bye: spec.after: no Greeting named 'nobody'" in capsys.readouterr().err

    assert await cli("get", "Greeting", "morning") == 0
    out = capsys.readouterr().out
    assert "kind: Greeting" in out and "name: morning" in out
    assert await cli("get", "Salutation") == 1
