"""A 業務 kept outside the repository gets its Japanese names in the run's report from the schema copy the run
kept (specs/manifest.json), as a shipped 業務 does from specs/gyomu; the shipped names still win."""
from __future__ import annotations

import json

from ikou.reports import labels

SCHEMA = """\
spec_version: 1
gyomu: inkan
ja: 印鑑登録
tables:
  inkan_toroku:
    ja: 印鑑登録原票
    primary_key: [atena_no]
    columns:
      - {name: atena_no, ja: 宛名番号もどき, type: text}
      - {name: toroku_date, ja: 登録年月日, type: date}
"""


def run_with_schema(tmp_path):
    run = tmp_path / "run"
    (run / "specs" / "external" / "abc").mkdir(parents=True)
    (run / "specs" / "external" / "abc" / "schema.yaml").write_text(SCHEMA, encoding="utf-8")
    (run / "specs" / "manifest.json").write_text(json.dumps({"files": [
        {"kind": "schema", "path": "external/abc/schema.yaml"},
        {"kind": "schema", "path": "../../../etc/passwd"}]}), encoding="utf-8")   # never read outside the copy
    return run


def test_an_outside_gyomu_is_named_from_the_runs_schema_copy(tmp_path):
    run = run_with_schema(tmp_path)
    assert labels.gyomu("inkan") == "inkan"
    with labels.for_run(run):
        assert labels.gyomu("inkan") == "inkan（印鑑登録）"
        assert labels.table("inkan_toroku") == "inkan_toroku（印鑑登録原票）"
        assert labels.column("toroku_date") == "toroku_date（登録年月日）"
        assert labels.column("atena_no") == "atena_no（宛名番号）"   # the glossary's name wins
        assert labels.gyomu("juki") == "juki（住民記録）"
    assert labels.table("inkan_toroku") == "inkan_toroku"            # only within the run's rendering


def test_a_run_folder_without_a_schema_copy_changes_nothing(tmp_path):
    with labels.for_run(tmp_path / "nothing-here"):
        assert labels.gyomu("inkan") == "inkan"
        assert labels.gyomu("juki") == "juki（住民記録）"
