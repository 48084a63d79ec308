"""API keys: stored hashed, revocable, mapped to a principal and role; dev mode; first admin."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from api.app import STATIC_DIR, create_app
from api.auth import ApiKeyRow, KeyStore, bootstrap_admin, has_role, hash_key, require_role
from core import (
    AuthenticationError,
    ConfigError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    Principal,
    Settings,
    make_engine,
)
from tests.api.apikit import KEY_PATTERN, Client, new_key, running_app, settings_for


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    engine = make_engine(Settings(data_dir=tmp_path))
    keys = KeyStore(engine)
    keys.create_schema()
    yield keys
    engine.dispose()


def test_keys_are_random_shown_once_and_stored_hashed(store: KeyStore) -> None:
    info, secret = store.create(user="ann", groups=["finance", "group:ops"], tenant="acme")
    other, secret2 = store.create(user="ann")
    assert KEY_PATTERN.fullmatch(secret)
    assert secret != secret2
    assert info.prefix == secret[:11]
    with store._session() as s:
        rows = list(s.scalars(select(ApiKeyRow)))
    stored = " ".join(f"{r.key_sha256} {r.prefix} {r.name}" for r in rows)
    assert secret not in stored
    assert secret[11:] not in stored  # only the visible prefix, never the rest
    assert {r.key_sha256 for r in rows} == {hash_key(secret), hash_key(secret2)}
    caller = store.authenticate(secret)
    assert caller.principal == Principal(
        user="ann", groups=("finance", "ops"), tenant="acme", role="reader"
    )
    assert caller.key_id == info.key_id
    assert store.authenticate(secret2).key_id == other.key_id


@pytest.mark.parametrize(
    "presented", ["", "dw_", "dw_wrong", "Bearer dw_x", "x" * 300, "dw_" + "A" * 43]
)
def test_unknown_keys_are_refused(store: KeyStore, presented: str) -> None:
    store.create(user="ann")
    with pytest.raises(AuthenticationError):
        store.authenticate(presented)


def test_revoked_keys_are_refused(store: KeyStore) -> None:
    info, secret = store.create(user="ann", role="admin")
    assert store.count_active() == 1
    store.revoke(info.prefix)  # by visible prefix
    with pytest.raises(AuthenticationError, match=r"^invalid API key$"):  # as for unknown keys
        store.authenticate(secret)
    assert store.count_active() == 0
    assert store.list() == []
    assert store.list(include_revoked=True)[0].revoked_at is not None
    store.revoke(info.key_id)  # idempotent
    with pytest.raises(NotFoundError):
        store.revoke("no-such-key")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"user": "ann", "role": "root"}, "role"),
        ({"user": " "}, "user"),
        ({"user": "ann", "groups": [""]}, "group"),
        ({"user": "ann", "tenant": "a\nb"}, "tenant"),
    ],
)
def test_invalid_keys_are_not_created(
    store: KeyStore, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        store.create(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("role", "needed", "allowed"),
    [
        ("reader", "reader", True),
        ("reader", "writer", False),
        ("writer", "writer", True),
        ("writer", "admin", False),
        ("admin", "reader", True),
        ("admin", "admin", True),
    ],
)
def test_roles_are_ordered(role: str, needed: str, allowed: bool) -> None:
    p = Principal(user="u", role=role)  # type: ignore[arg-type]
    assert has_role(p, needed) is allowed  # type: ignore[arg-type]
    if allowed:
        require_role(p, needed, "this")  # type: ignore[arg-type]
    else:
        with pytest.raises(PermissionDeniedError, match=f"needs the {needed} role"):
            require_role(p, needed, "this")  # type: ignore[arg-type]


def test_the_first_start_creates_one_admin_key_and_prints_it(
    store: KeyStore, tmp_path: Path
) -> None:
    out = io.StringIO()
    settings = Settings(data_dir=tmp_path)
    secret = bootstrap_admin(store, settings, out)
    assert secret is not None
    assert secret in out.getvalue()
    assert "┏" in out.getvalue()  # boxed, so it stands out in the log
    assert store.authenticate(secret).principal.role == "admin"
    again = io.StringIO()
    assert bootstrap_admin(store, settings, again) is None  # a key exists: nothing printed
    assert again.getvalue() == ""


def test_no_first_admin_in_dev_mode(store: KeyStore, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api={"dev_mode": True})
    assert bootstrap_admin(store, settings, io.StringIO()) is None
    assert store.count_active() == 0


def test_dev_mode_is_refused_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        create_app(Settings(data_dir=tmp_path, api={"dev_mode": True, "host": "0.0.0.0"}))


def test_dev_mode_serves_without_keys_as_the_dev_user(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", dev_mode=True)
    with running_app(settings) as http:
        me = http.get("/v1/me")
        assert me.status_code == 200
        assert me.json() == {
            "user": "dev",
            "groups": [],
            "tenant": "default",
            "role": "admin",
            "key_id": None,
            "key_prefix": None,
        }
        # A key presented in dev mode is still checked.
        bad = http.get("/v1/me", headers={"Authorization": "Bearer dw_nope"})
        assert bad.status_code == 401
        ann = new_key(http, user="ann", role="reader")
        assert ann.get("/v1/me").json()["user"] == "ann"


def test_every_v1_route_needs_a_key(tmp_path: Path) -> None:
    with running_app(settings_for(tmp_path / "data")) as http:
        spec = http.get("/openapi.json").json()
        open_paths = {"/healthz", "/readyz", "/metrics"}
        checked = 0
        for path, ops in spec["paths"].items():
            if path in open_paths:
                continue
            for method in ops:
                url = path.replace("{", "").replace("}", "")
                r = http.request(method.upper(), url)
                assert r.status_code in (401, 422), (method, path, r.text)
                if r.status_code == 401:
                    assert r.json()["error"]["code"] == "unauthenticated"
                    assert r.headers["www-authenticate"] == "Bearer"
                checked += 1
        assert checked >= 15
        for path in open_paths | {"/openapi.json", "/docs"}:
            assert http.get(path).status_code == 200, path
        if STATIC_DIR.is_dir():  # the chat page, once it exists
            page = http.get("/")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")


def test_me_with_bearer_or_x_api_key(tmp_path: Path) -> None:
    with running_app(settings_for(tmp_path / "data")) as http:
        ann = new_key(http, user="ann", groups=["finance"], tenant="acme", role="writer")
        by_bearer = ann.get("/v1/me")
        by_header = http.get("/v1/me", headers={"X-API-Key": ann.key})
        assert by_bearer.status_code == by_header.status_code == 200
        assert by_bearer.json() == by_header.json()
        assert by_bearer.json() == {
            "user": "ann",
            "groups": ["finance"],
            "tenant": "acme",
            "role": "writer",
            "key_id": ann.key_id,
            "key_prefix": ann.key[:11],
        }
        wrong = http.get("/v1/me", headers={"Authorization": "Bearer dw_invalid"})
        assert wrong.status_code == 401
        assert wrong.json() == {"error": {"code": "unauthenticated", "message": "invalid API key"}}


def test_roles_gate_the_routes(tmp_path: Path) -> None:
    sync = tmp_path / "sync"
    (sync / "docs").mkdir(parents=True)
    (sync / "docs" / "a.md").write_text("# A\n\nThe capybara report lives here for syncing.\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    with running_app(settings_for(tmp_path / "data")) as http:
        reader = new_key(http, user="r", role="reader")
        writer = new_key(http, user="w", role="writer")
        admin = new_key(http, user="a", role="admin")
        files = {"file": ("x.md", b"# X\n\nSome text about ocelots in a report.\n")}
        r = reader.post("/v1/documents", files=files)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "permission_denied"
        up = writer.post("/v1/documents", files=files)
        assert up.status_code == 202
        assert up.headers["location"] == f"/v1/jobs/{up.json()['job_id']}"
        assert writer.post("/v1/ingest", json={"path": str(sync)}).status_code == 403
        assert reader.get("/v1/keys").status_code == 403
        assert writer.post("/v1/keys", json={"user": "x"}).status_code == 403
        r = admin.post("/v1/ingest", json={"path": str(outside)})
        assert r.status_code == 403
        assert "allowed_roots" in r.json()["error"]["message"]
        r = admin.post("/v1/ingest", json={"path": str(sync / ".." / "outside")})
        assert r.status_code == 403  # resolved before the check
        job = admin.post("/v1/ingest", json={"path": str(sync), "acl": ["group:ops"]})
        assert job.status_code == 202, job.text
        done = admin.wait_job(job.json()["job_id"])
        assert done["status"] == "done"
        assert done["counts"]["indexed"] == 1
        assert done["total"] == 1
        assert done["progress"] == 1.0
        # the writer's job is its own; the admin may look at it, the reader may not
        job_id = up.json()["job_id"]
        assert writer.wait_job(job_id)["status"] == "done"
        assert admin.get(f"/v1/jobs/{job_id}").status_code == 200
        assert reader.get(f"/v1/jobs/{job_id}").status_code == 404
        # keys through the API: created in the admin's tenant, the secret once
        created = admin.post("/v1/keys", json={"user": "newbie", "role": "reader"})
        assert created.status_code == 201
        newbie = Client(http, created.json()["key"])
        assert newbie.get("/v1/me").json()["tenant"] == "default"
        listed = admin.get("/v1/keys").json()
        assert all("key" not in k for k in listed)
        assert admin.delete(f"/v1/keys/{created.json()['key_id']}").status_code == 204
        assert newbie.get("/v1/me").status_code == 401


def test_cli_keys_create_list_revoke(tmp_path: Path, clean_env: Path) -> None:
    import json

    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--user",
            "ann",
            "--group",
            "finance",
            "--tenant",
            "acme",
            "--role",
            "writer",
            "--name",
            "laptop",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    record = json.loads(made.stdout)
    assert KEY_PATTERN.fullmatch(record["key"])
    assert record["groups"] == ["finance"]
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0
    keys = json.loads(listed.stdout)
    assert [k["key_id"] for k in keys] == [record["key_id"]]
    assert record["key"] not in listed.stdout
    revoked = runner.invoke(app, ["keys", "revoke", record["key_id"]])
    assert revoked.exit_code == 0
    assert json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout) == []
    missing = runner.invoke(app, ["keys", "revoke", "nope"])
    assert missing.exit_code == 1
