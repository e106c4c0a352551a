"""A campaign never has two 団体 load one DuckDB file (a file has no roles: whoever opens it reads every 団体 in it):
refused when the campaign is read, naming both rehearsals, both 団体 and the file, in English and Japanese; by the
configs' target.url or by a rehearsal's target_url. Several rehearsals of one 団体 into one file (other schemas),
and each 団体 in a file of its own, are accepted (団体 999814 / 999822)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ikou.campaign import load_campaign
from ikou.errors import ConfigError, message_ja, one_line
from ikou.sample.campaign import write_run_config

A, B = "999814", "999822"


def _campaign(tmp: Path, urls: dict[str, str], rehearsals: str) -> Path:
    for code, url in urls.items():
        (tmp / code).mkdir(parents=True, exist_ok=True)
        write_run_config(tmp, code, target_url=url, runs_dir=tmp / "runs")
    p = tmp / "campaign.yaml"
    p.write_text(f"spec_version: 1\ncampaign: r3\nrehearsals:\n{rehearsals}", encoding="utf-8")
    return p


def _refusal(p: Path) -> tuple[str, str]:
    with pytest.raises(ConfigError) as e:
        load_campaign(p)
    return one_line(e.value), message_ja(e.value)


@pytest.mark.parametrize("how", ["config", "target_url", "relative_and_absolute"])
def test_two_dantai_loading_one_duckdb_file_are_refused_naming_both(tmp_path, how):
    shared = tmp_path / "targets" / "shared.duckdb"
    if how == "config":
        p = _campaign(tmp_path, {A: f"duckdb:///{shared}", B: f"duckdb:///{shared}"},
                      f"  - config: {A}/run.yaml\n  - config: {B}/run.yaml\n")
    elif how == "target_url":   # each config its own file, one rehearsal overridden onto the other's
        p = _campaign(tmp_path, {A: f"duckdb:///{shared}", B: "duckdb:///t.duckdb"},
                      f"  - config: {A}/run.yaml\n  - config: {B}/run.yaml\n    target_url: duckdb:///{shared}\n")
    else:   # one file, spelt relative to B's config folder
        p = _campaign(tmp_path, {A: f"duckdb:///{shared}", B: "duckdb:///../targets/shared.duckdb"},
                      f"  - config: {A}/run.yaml\n  - config: {B}/run.yaml\n")
    en, ja = _refusal(p)
    assert str(p) in en
    assert f"rehearsals.1 ({B}/run.yaml, 団体 {B}) and rehearsals.0 ({A}/run.yaml, 団体 {A})" in en, en
    assert f"same DuckDB file {shared}" in en and "its own target file" in en, en
    assert B in ja and A in ja and str(shared) in ja and "団体ごとに別の移行先ファイル" in ja, ja


def test_rehearsals_of_one_dantai_into_one_file_and_each_dantai_in_its_own_file_are_accepted(tmp_path):
    shared = tmp_path / "targets" / "a.duckdb"
    p = _campaign(tmp_path, {A: f"duckdb:///{shared}", B: f"duckdb:///{tmp_path / 'targets' / 'b.duckdb'}"},
                  f"  - config: {A}/run.yaml\n  - config: {B}/run.yaml\n")
    second = (tmp_path / A / "run.yaml").read_text(encoding="utf-8").replace("rehearsal: R3", "rehearsal: R4")
    (tmp_path / A / "run4.yaml").write_text(second.replace("target:\n", f"target:\n  schema: dantai_{A}_r4\n"),
                                            encoding="utf-8")
    p.write_text(p.read_text(encoding="utf-8") + f"  - config: {A}/run4.yaml\n    name: r4\n", encoding="utf-8")
    es = load_campaign(p).entries()
    assert [(e.dantai, e.cfg.target_schema) for e in es] == [(A, f"dantai_{A}"), (B, f"dantai_{B}"),
                                                              (A, f"dantai_{A}_r4")]
