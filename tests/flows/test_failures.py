"""Every failure after the config is read ends cleanly: summary.json (status failed, the stage, one line
that says what to fix), the one line in Japanese and English on the terminal, exit 2, no traceback
(unless --debug). Run through the real command line, against the session's Prefect server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ikou import REPO_ROOT
from tests.flows.conftest import vendor_a_source, write_config

pytestmark = pytest.mark.usefixtures("prefect_harness")
MAPPING = REPO_ROOT / "specs" / "vendors" / "vendor_a" / "mappings" / "juki" / "jumin.yaml"


def _ikou(cfg: Path, *extra: str) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run([sys.executable, "-m", "ikou.flows.cli", "run", "--config", str(cfg), *extra],
                          cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=300, check=False)


def _mapping_with(tmp_path: Path, change) -> Path:
    spec = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    for key in ("schema", "layout"):
        spec[key] = str((MAPPING.parent / spec[key]).resolve())
    for c in spec["columns"]:
        if c.get("table") and not str(c["table"]).startswith("standard:"):
            c["table"] = str((MAPPING.parent / c["table"]).resolve())
    change(spec)
    out = tmp_path / "mapping.yaml"
    out.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def _set_op(spec, op: str) -> None:
    spec["columns"][3]["op"] = op


def _extra_column(spec) -> None:
    spec["columns"].append({"target": "no_such_column", "op": "text", "from": spec["columns"][0]["from"]})


def _config(tmp_path: Path, case: str) -> Path:
    duck = f"duckdb:///{tmp_path / 't.duckdb'}"
    if case == "bad_target_url":
        return write_config(tmp_path, source=vendor_a_source(), target_url=f"sqlite:///{tmp_path / 'x.db'}")
    if case == "missing_file":
        return write_config(tmp_path, source=vendor_a_source(path=tmp_path / "NO_SUCH.csv"), target_url=duck)
    if case == "gaiji_table_unknown_mj":   # found at plan, before a record is read (flows.pipeline)
        gaiji = tmp_path / "gaiji.csv"
        gaiji.write_text("code,mj\nU+E000,MJ999999\n", encoding="utf-8")
        return write_config(tmp_path, source=vendor_a_source(gaiji=gaiji), target_url=duck)
    if case == "unreachable_database":
        return write_config(tmp_path, source=vendor_a_source(),
                            target_url="postgresql://postgres@127.0.0.1:9/test")
    source = vendor_a_source().replace(str(MAPPING), str(_mapping_with(
        tmp_path, (lambda s: _set_op(s, "no_such_op")) if case == "unknown_op" else _extra_column)))
    return write_config(tmp_path, source=source, target_url=duck)


CASES = {   # case: (stage, words the message must hold)
    "bad_target_url": ("config", ["target.url", "sqlite"]),
    "unknown_op": ("plan", ["no_such_op", "mapping.yaml"]),
    "missing_file": ("extract", ["NO_SUCH.csv", "not found"]),
    "unreachable_database": ("plan", ["unreachable"]),   # asked before extraction, not found after it
    "gaiji_table_unknown_mj": ("plan", ["MJ999999"]),
    "schema_mapping_mismatch": ("plan", ["no_such_column", "mapping.yaml"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_failed_run_leaves_summary_json_and_one_line_without_traceback(tmp_path, case):
    stage, words = CASES[case]
    proc = _ikou(_config(tmp_path, case))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    run_dir = Path(proc.stdout.rstrip("\n").splitlines()[-1])
    assert run_dir.parent == tmp_path / "runs" / "999997"
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed" and summary["error"]["stage"] == stage
    assert all(w in summary["error"]["message"] for w in words), summary["error"]
    assert summary["sign_off_blockers"]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ikou: 失敗")]
    assert f"({stage})" in line and summary["error"]["message_ja"] in line and f"failed at {stage}: " in line


def _refused_file(tmp_path: Path, case: str) -> Path:
    if case == "missing_file":
        return tmp_path / "NO_SUCH.csv"
    path = tmp_path / f"{case.upper()}.csv"
    sample = (REPO_ROOT / "data" / "sample" / "vendor_a" / "JUMIN.csv").read_bytes()
    path.write_bytes(b"" if case == "empty_file" else b"\xef\xbb\xbf" + sample[:2000].rsplit(b"\n", 1)[0] + b"\n")
    return path


REFUSED_JA = {   # case: what the Japanese half must say besides the source and the file: what is wrong, what to do
    "bom_on_a_cp932_source": ["UTF-8 の BOM", "cp932", "エンコーディング指定 (encoding) を確認してください"],
    "empty_file": ["が空です (0 バイト)", "エクスポート (出力) をやり直してください"],
    "missing_file": ["がありません", "出力先を確認してください"],
}


@pytest.mark.parametrize("case", sorted(REFUSED_JA))
def test_a_refused_source_file_is_named_with_its_remedy_in_the_japanese_half_too(tmp_path, case):
    """The one line, summary.json and report.html's 失敗の理由 say in Japanese which source and file was refused and
    what to fix, not only the kind's generic sentence."""
    import html

    path = _refused_file(tmp_path, case)
    duck = f"duckdb:///{tmp_path / 't.duckdb'}"
    proc = _ikou(write_config(tmp_path, source=vendor_a_source(path=path), target_url=duck))
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    run_dir = Path(proc.stdout.rstrip("\n").splitlines()[-1])
    error = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["error"]
    ja = error["message_ja"]
    assert error["stage"] == "extract" and ja.startswith("vendor_a_jumin: ") and path.name in ja, ja
    assert all(w in ja for w in REFUSED_JA[case]) and "\n" not in ja, ja
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ikou: 失敗")]
    assert line.startswith(f"ikou: 失敗 (extract): {ja} — failed at extract: "), line
    report = html.unescape((run_dir / "report.html").read_text(encoding="utf-8"))
    failure = report[report.index('id="failure"'):]
    assert ja in failure[:failure.index("</div>")]


def test_debug_shows_the_traceback(tmp_path):
    proc = _ikou(_config(tmp_path, "missing_file"), "--debug")
    assert proc.returncode == 2 and "Traceback" in proc.stdout + proc.stderr


def test_an_export_with_no_records_fails_before_load_and_leaves_the_target(tmp_path):
    """A file with no records (here: one blank line) where the previous rehearsal loaded rows: the run
    fails at load, nothing is replaced, and the target still holds the previous run."""
    from ikou.flows.migrate import migration_flow
    from ikou.loaders import held_runs, read_table

    target = f"duckdb:///{tmp_path / 't.duckdb'}"
    first = migration_flow(config_path=str(write_config(tmp_path, source=vendor_a_source(), target_url=target)))
    empty = tmp_path / "EMPTY.csv"
    empty.write_bytes(b"\r\n")
    cfg = write_config(tmp_path, source=vendor_a_source(path=empty), target_url=target, rehearsal="R2")
    proc = _ikou(cfg)
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    summary = json.loads((Path(proc.stdout.rstrip().splitlines()[-1]) / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed" and summary["error"]["stage"] == "load"
    assert summary["error"]["kind"] == "EmptyExportError" and "never empty" in summary["error"]["message"]
    assert held_runs(target, "dantai_999997")["current"]["run_id"] == first["run_id"]
    assert read_table(target, "dantai_999997", "juki_kojin_rireki").height == first["tables"]["juki_kojin_rireki"]["loaded"]


def test_an_export_with_no_records_on_a_fresh_target_blocks_the_sign_off(tmp_path):
    """No drop guard applies to a target never loaded: the run may succeed, but the empty source is a
    sign-off blocker, since an export that came out empty looks exactly like this."""
    from ikou.flows.migrate import migration_flow

    empty = tmp_path / "EMPTY.csv"
    empty.write_bytes(b"\r\n")
    cfg = write_config(tmp_path, source=vendor_a_source(path=empty), target_url=f"duckdb:///{tmp_path / 't.duckdb'}")
    summary = migration_flow(config_path=str(cfg))
    assert summary["status"] == "succeeded" and summary["sources"]["vendor_a_jumin"]["rows"] == 0
    assert [b for b in summary["sign_off_blockers"] if b.startswith("vendor_a_jumin:") and "0 件" in b]


def test_a_failed_run_names_its_failure_first_among_the_blockers(tmp_path):
    proc = _ikou(_config(tmp_path, "gaiji_table_unknown_mj"))
    summary = json.loads((Path(proc.stdout.rstrip().splitlines()[-1]) / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed" and summary["sign_off_blockers"][0].startswith("実行が失敗しました")
    assert not [b for b in summary["sign_off_blockers"] if "管理合計" in b]
