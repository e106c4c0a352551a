"""An evidence pack never holds the target's password: neither `user:PASSWORD@` nor a `password=`
query parameter, in the recorded target URL or in the copy of the run config."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ikou.reports import evidence
from ikou.reports.evidence import hide_password, snapshot_specs


@pytest.mark.parametrize("url, shown", [
    ("postgresql://ikou:S3cretPW@db.example:5432/mig", "postgresql://ikou:***@db.example:5432/mig"),
    ("postgresql://postgres@127.0.0.1:5432/test?password=S3cretPW&sslmode=disable",
     "postgresql://postgres@127.0.0.1:5432/test?password=***&sslmode=disable"),
    ("postgresql://db.example/mig?sslmode=require&PASSWORD=S3cretPW", "postgresql://db.example/mig?sslmode=require&PASSWORD=***"),
    ("postgresql://db.example/mig?sslpassword=S3cretPW", "postgresql://db.example/mig?sslpassword=***"),
    ("postgresql://db.example/mig?password=S3c,r}etPW#x", "postgresql://db.example/mig?password=***#x"),
    ("postgresql://db.example/mig?passwordless=1", "postgresql://db.example/mig?passwordless=1"),
    ("duckdb:////srv/ikou/target.duckdb", "duckdb:////srv/ikou/target.duckdb"),
])
def test_a_target_url_in_the_pack_hides_its_password(url, shown):
    assert hide_password(url) == shown and "S3c" not in hide_password(url)


@pytest.mark.parametrize("line, password", [
    ("target: {url: 'postgresql://postgres@127.0.0.1:5432/test?password=S3cretPW&sslmode=disable'}\n", "S3cretPW"),
    ('target: {url: "postgresql://postgres@h/test?password=S3cret,PW}"}\n', "S3cret,PW}"),
    ("target: {url: postgresql://postgres@h/test?password=S3cretPW}\n", "S3cretPW"),
    ("target: {url: postgresql://postgres@h/test?password=S3cretPW, schema: dantai_999997}\n", "S3cretPW"),
    ("target:\n  url: postgresql://postgres@h/test?password=S3cretPW\n  schema: dantai_999997\n", "S3cretPW"),
])
def test_the_config_copy_in_the_pack_hides_a_password_query_parameter(tmp_path, monkeypatch, line, password):
    config = tmp_path / "run.yaml"
    config.write_text(f"spec_version: 1\n{line}gyomu: [juki]\n", encoding="utf-8")
    url = "postgresql://postgres@h/test?password=S3cretPW"
    cfg = SimpleNamespace(target=SimpleNamespace(url=url), target_schema="dantai_999997", reveal_personal=False)
    monkeypatch.setattr(evidence, "spec_files", lambda cfg, plans: [("config", config)])
    base = snapshot_specs(cfg, [], tmp_path / "run", sensitive=set())
    manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    (copy,) = [f for f in manifest["files"] if f["kind"] == "config"]
    text = (base / copy["path"]).read_text(encoding="utf-8")
    assert "S3c" not in text and "password=***" in text and copy.get("redacted") is True
    assert "S3c" not in json.dumps(manifest) and manifest["target"]["url"].endswith("password=***")
    assert text == config.read_text(encoding="utf-8").replace(password, "***")   # only the password is changed
