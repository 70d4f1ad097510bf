"""API keys without I/O: parsing, constant-time verification, the keys file, the `new-key` CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicekit import auth
from servicekit.auth import ApiKeys, hash_key, parse_keys


def entry(name: str, key: str, scopes: tuple[str, ...] = ("read",)) -> dict[str, Any]:
    return {"name": name, "scopes": list(scopes), "sha256": hash_key(key)}


def keys_json(**keys: str) -> str:
    return json.dumps([entry(name, key) for name, key in keys.items()])


# ------------------------------------------------------------------ parsing


def test_parse_keys_accepts_a_list_or_a_keys_mapping_in_json_or_yaml() -> None:
    listed = parse_keys(keys_json(ci="sck_a"), "API_KEYS")
    mapped = parse_keys(f"keys:\n  - name: ci\n    scopes: [read, operate]\n    sha256: {hash_key('sck_a')}\n", "f.yaml")
    assert [(e.name, e.scopes) for e in listed] == [("ci", ["read"])]
    assert [(e.name, [s.value for s in e.scopes]) for e in mapped] == [("ci", ["read", "operate"])]
    assert parse_keys("", "API_KEYS") == []


@pytest.mark.parametrize(("text", "names"), [
    (json.dumps([{"name": "ci", "scopes": ["read"], "sha256": "not-a-hash"}]), ("sha256", "pattern")),
    (json.dumps([{"name": "ci", "scopes": ["admin"], "sha256": "0" * 64}]), ("scopes", "read", "configure")),
    (json.dumps([{"name": "ci", "scopes": [], "sha256": "0" * 64}]), ("scopes",)),
    (keys_json(ci="sck_a")[:-1] + ", " + json.dumps(entry("ci", "sck_b")) + "]", ("unique",)),
    ('"sck_plain_key"', ("expected a list",)),
    ("keys: 5", ("expected a list",)),
    ("[unclosed", ("invalid API keys",)),
])
def test_parse_keys_names_the_problem_and_the_source(text: str, names: tuple[str, ...]) -> None:
    with pytest.raises(ValueError) as raised:
        parse_keys(text, "/run/secrets/keys.json")
    message = str(raised.value)
    assert message.startswith("/run/secrets/keys.json: ")
    for name in names:
        assert name in message


# ------------------------------------------------------------------ verification


@pytest.mark.parametrize("presented", ["sck_first", "sck_middle", "sck_last", "sck_nobody", ""])
def test_verify_compares_against_every_entry_whatever_matches(presented: str) -> None:
    keys = ApiKeys(keys_json(first="sck_first", middle="sck_middle", last="sck_last"))
    found = keys.verify(presented)
    assert (found.name if found else None) == {"sck_first": "first", "sck_middle": "middle",
                                               "sck_last": "last"}.get(presented)
    assert keys.comparisons == 3
    keys.verify(presented)
    assert keys.comparisons == 6


def test_digests_are_compared_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    original = auth.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    keys = ApiKeys(keys_json(one="sck_one", two="sck_two"))
    assert keys.verify("sck_one").name == "one"  # type: ignore[union-attr]
    assert len(compared) == 2
    assert {b for _, b in compared} == {hash_key("sck_one").encode(), hash_key("sck_two").encode()}
    assert all(a == hash_key("sck_one").encode() for a, _ in compared)


def test_inline_keys_come_before_the_file_and_both_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(keys_json(mounted="sck_mounted"))
    keys = ApiKeys(keys_json(inline="sck_inline"), path)
    assert [e.name for e in keys.entries] == ["inline", "mounted"]
    assert keys.verify("sck_mounted").name == "mounted"  # type: ignore[union-attr]
    assert keys.verify("sck_inline").name == "inline"  # type: ignore[union-attr]


def test_the_keys_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(keys_json(old="sck_old"))
    keys = ApiKeys(path=path, recheck_s=0)
    assert keys.verify("sck_old").name == "old"  # type: ignore[union-attr]

    path.write_text(keys_json(new="sck_new", other="sck_other"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert keys.verify("sck_old") is None
    assert keys.verify("sck_new").name == "new"  # type: ignore[union-attr]

    # A broken file keeps the keys last read (the error is logged); a missing one at start is refused.
    path.write_text("[not json")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert keys.verify("sck_new").name == "new"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"absent\.json"):
        ApiKeys(path=tmp_path / "absent.json")


def test_the_keys_file_is_not_read_again_before_the_recheck_interval(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(keys_json(old="sck_old"))
    keys = ApiKeys(path=path, recheck_s=3600)
    path.write_text(keys_json(new="sck_new", other="sck_other"))
    assert keys.verify("sck_old").name == "old"  # type: ignore[union-attr]
    assert keys.verify("sck_new") is None


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
keys_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)


@given(st.dictionaries(keys_text, names, min_size=1, max_size=8, dict_class=dict).filter(
    lambda d: len(set(d.values())) == len(d)), keys_text)
def test_verify_returns_exactly_the_entry_of_the_key(by_key: dict[str, str], other: str) -> None:
    keys = ApiKeys(json.dumps([entry(name, key) for key, name in by_key.items()]))
    for key, name in by_key.items():
        before = keys.comparisons
        found = keys.verify(key)
        assert found is not None and found.name == name and found.sha256 == hash_key(key)
        assert keys.comparisons - before == len(by_key)
    if other not in by_key:
        assert keys.verify(other) is None


# ------------------------------------------------------------------ authenticator and routes


async def test_no_keys_and_no_issuer_refuses_every_token() -> None:
    authenticator = auth.Authenticator(ApiKeys())
    with pytest.raises(auth.ProblemError) as raised:
        await authenticator.authenticate("sck_anything")
    assert raised.value.status == 401 and raised.value.headers == {"WWW-Authenticate": 'Bearer realm="saleschannel"'}


async def test_a_key_authenticates_as_its_name_with_its_scopes() -> None:
    authenticator = auth.Authenticator(ApiKeys(json.dumps([entry("ops", "sck_ops", ("read", "operate"))])))
    principal = await authenticator.authenticate("sck_ops")
    assert principal == auth.Principal("ops", "api_key", frozenset({"read", "operate"}))


def test_check_routes_names_every_unscoped_route() -> None:
    from fastapi import APIRouter, FastAPI

    app = FastAPI()
    inner = APIRouter()

    @inner.get("/scoped", dependencies=[auth.requires(auth.Scope.READ)])
    async def scoped() -> None: ...

    @inner.post("/open")
    async def open_route() -> None: ...

    @app.get("/healthz")
    async def healthz() -> None: ...

    app.include_router(inner)
    with pytest.raises(RuntimeError) as raised:
        auth.check_routes(app.routes)
    assert "['POST'] /open" in str(raised.value)
    assert "/scoped" not in str(raised.value) and "/healthz" not in str(raised.value)


# ------------------------------------------------------------------ new-key CLI


def test_new_key_adds_its_hash_to_the_file_and_prints_the_key_once(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    printed: list[str] = []
    assert auth.main(["new-key", "--name", "ci", "--scopes", "read,operate", "--file", str(path)], out=printed.append) == 0
    assert auth.main(["new-key", "--name", "importer", "--scopes", "ingest", "--file", str(path)], out=printed.append) == 0
    first, second = printed
    assert first.startswith("sck_") and second.startswith("sck_") and first != second
    stored = json.loads(path.read_text())
    assert stored == [{"name": "ci", "scopes": ["read", "operate"], "sha256": hash_key(first)},
                      {"name": "importer", "scopes": ["ingest"], "sha256": hash_key(second)}]
    assert first not in path.read_text() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert ApiKeys(path=path).verify(first).name == "ci"  # type: ignore[union-attr]


def test_new_key_without_a_file_prints_the_key_and_its_entry() -> None:
    printed: list[str] = []
    assert auth.main(["new-key", "--name", "ci"], out=printed.append) == 0
    key, line = printed
    assert json.loads(line) == {"name": "ci", "scopes": ["read", "configure", "operate", "ingest"],
                                "sha256": hash_key(key)}


def test_new_key_refuses_a_duplicate_name_and_an_unknown_scope(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.json"
    printed: list[str] = []
    assert auth.main(["new-key", "--name", "ci", "--file", str(path)], out=printed.append) == 0
    before = path.read_text()
    assert auth.main(["new-key", "--name", "ci", "--file", str(path)], out=printed.append) == 2
    assert "already has a key named ci" in capsys.readouterr().err
    assert auth.main(["new-key", "--name", "other", "--scopes", "read,admin", "--file", str(path)],
                     out=printed.append) == 2
    assert "scopes" in capsys.readouterr().err
    assert path.read_text() == before and len(printed) == 1
