"""GET /v1/corpus/report: the data card of the caller's tenant, for its admins only."""

from __future__ import annotations

from pathlib import Path

from tests.api.apikit import STORAGE_MD, new_key, running_app, settings_for


def test_the_report_is_the_admins_tenants_only(tmp_path: Path) -> None:
    with running_app(settings_for(tmp_path / "data", rate_limit_per_minute=0)) as http:
        ann = new_key(http, user="ann", tenant="acme", role="writer")
        ann.upload("storage.md", STORAGE_MD)
        acme = new_key(http, user="root", tenant="acme", role="admin")
        globex = new_key(http, user="groot", tenant="globex", role="admin")
        reader = new_key(http, user="rita", tenant="acme", role="reader")

        r = acme.get("/v1/corpus/report")
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["documents"], report["indexed"], report["chunks"]) == (1, 1, 1)
        assert set(report["by_tenant"]) == {"acme"}
        assert set(report["by_type"]) == {"md"}
        assert report["tokens"] > 0

        other = globex.get("/v1/corpus/report").json()
        assert (other["documents"], other["by_tenant"]) == (0, {})

        denied = reader.get("/v1/corpus/report")
        assert denied.status_code == 403
        assert "needs the admin role" in denied.json()["error"]["message"]
        assert http.get("/v1/corpus/report").status_code == 401
