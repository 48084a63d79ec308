"""Issue 12, finding 6 (what unauthenticated routes show): quiet health checks with the
details behind an admin key, the API reference served from the package with no inline
script, and security headers on every response."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import STATIC_DIR
from api.security import MAX_HEADERS
from tests.api.apikit import new_key, running_app, settings_for

REPO = Path(__file__).resolve().parents[2]
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.IGNORECASE | re.DOTALL)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def http(data: Path) -> Iterator[TestClient]:
    with running_app(settings_for(data)) as client:
        yield client


def test_healthz_says_only_status_and_version(http: TestClient, data: Path) -> None:
    r = http.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"status", "version"}
    assert body["status"] == "ok"
    assert str(data) not in r.text
    assert str(data.parent) not in r.text


def test_readyz_says_ready_without_counts_or_paths(http: TestClient, data: Path) -> None:
    r = http.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "index": "ok"}}
    assert str(data) not in r.text


def test_admin_health_needs_the_admin_role(http: TestClient, data: Path) -> None:
    assert http.get("/v1/admin/health").status_code == 401
    reader = new_key(http, user="rita", role="reader")
    writer = new_key(http, user="walt", role="writer")
    assert reader.get("/v1/admin/health").status_code == 403
    assert writer.get("/v1/admin/health").status_code == 403
    admin = new_key(http, user="ada", role="admin")
    r = admin.get("/v1/admin/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert set(body["backends"]) == {"index", "database", "embedding", "llm"}
    assert body["backends"]["embedding"]["model"] == "all-MiniLM-L6-v2"
    assert body["warnings"] == []
    assert str(data) in r.text  # the details: where the index and database live


def test_openapi_documents_admin_health_with_a_model(http: TestClient) -> None:
    spec = http.get("/openapi.json").json()
    op = spec["paths"]["/v1/admin/health"]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/AdminHealth"}
    assert {"401", "403"} <= set(op["responses"])
    assert op.get("security"), "the admin route declares its API key schemes"
    health = spec["components"]["schemas"]["Health"]
    assert set(health["properties"]) == {"status", "version"}


ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _csp(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def test_every_response_carries_the_security_headers(http: TestClient) -> None:
    admin = new_key(http, user="ada", role="admin")
    responses = {
        "/": http.get("/"),
        "/docs": http.get("/docs"),
        "/redoc": http.get("/redoc"),
        "/static/app.js": http.get("/static/app.js"),
        "/healthz": http.get("/healthz"),
        "/readyz": http.get("/readyz"),
        "/openapi.json": http.get("/openapi.json"),
        "/metrics": http.get("/metrics"),
        "/v1/me (401)": http.get("/v1/me"),
        "/v1/me": admin.get("/v1/me"),
        "/v1/nope (404)": http.get("/v1/nope"),
        "/v1/search (422)": admin.post("/v1/search", json={}),
        "431": http.get("/healthz", headers={f"X-F{i}": "x" for i in range(MAX_HEADERS + 1)}),
    }
    for name, r in responses.items():
        for header, value in ALWAYS.items():
            assert r.headers.get(header) == value, (name, r.status_code, header)
        html = r.headers.get("content-type", "").startswith("text/html")
        assert ("content-security-policy" in r.headers) == html, name
    for page in ("/", "/docs", "/redoc"):
        csp = _csp(responses[page].headers["content-security-policy"])
        assert csp["script-src"] == ["'self'"], page
        assert csp["default-src"] == ["'self'"], page
        assert csp["frame-ancestors"] == ["'none'"], page
        assert csp["object-src"] == ["'none'"], page
        assert csp["base-uri"] == ["'none'"], page
        assert csp["connect-src"] == ["'self'"], page
    chat = _csp(responses["/"].headers["content-security-policy"])
    assert "'unsafe-inline'" not in chat["script-src"]
    assert "'unsafe-eval'" not in chat["script-src"]
    # Neither the chat page nor Swagger UI needs inline styles; only ReDoc does.
    assert chat["style-src"] == ["'self'"]
    assert _csp(responses["/docs"].headers["content-security-policy"]) == chat
    redoc = _csp(responses["/redoc"].headers["content-security-policy"])
    assert redoc["style-src"] == ["'self'", "'unsafe-inline'"]


def test_a_rate_limited_answer_carries_the_headers_too(data: Path) -> None:
    with running_app(settings_for(data, anonymous_rate_limit_per_minute=1)) as http:
        assert http.get("/healthz").status_code == 200
        r = http.get("/healthz")
        assert r.status_code == 429
        for header, value in ALWAYS.items():
            assert r.headers.get(header) == value


@pytest.mark.parametrize("page", ["index.html", "docs.html", "redoc.html"])
def test_pages_have_no_inline_script_and_load_only_local_files(page: str) -> None:
    html = (STATIC_DIR / page).read_text()
    assert not INLINE_HANDLER.search(html), "inline event handler"
    scripts = SCRIPT_TAG.findall(html)
    assert scripts
    for attrs, body in scripts:
        assert "src=" in attrs, f"inline script in {page}"
        assert not body.strip()
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not re.match(r"^(https?:)?//", url), f"{page} loads {url} from elsewhere"
        if url.startswith(("data:", "#")):
            continue
        assert (STATIC_DIR.parent / url).is_file() or (STATIC_DIR / url).is_file(), url


def test_docs_and_redoc_are_served_from_the_package(http: TestClient) -> None:
    docs = http.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    for url in re.findall(r'(?:src|href)="([^"]+)"', docs.text + http.get("/redoc").text):
        asset = http.get("/" + url)
        assert asset.status_code == 200, url
        assert int(asset.headers["content-length"]) > 100, url
    assert http.get("/openapi.json").status_code == 200


def test_the_package_build_includes_every_static_file() -> None:
    """Every file under api/static matches a package-data pattern of pyproject.toml."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["api"]
    files = [p.relative_to(STATIC_DIR.parent).as_posix() for p in STATIC_DIR.rglob("*")]
    missing = [
        f
        for f in files
        if (STATIC_DIR.parent / f).is_file()
        and not any(fnmatch.fnmatch(f, p) and f.count("/") == p.count("/") for p in patterns)
    ]
    assert not missing, f"not in the wheel: {missing}"
    assert any(f.endswith("swagger-ui-bundle.js") for f in files)
