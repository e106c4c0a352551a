"""Japanese names beside the physical ones in what a PM reads (report.html, report.xlsx): 業務 and tables
from the 業務 schemas' `ja:` (specs/gyomu/<業務>/schema.yaml), columns from ikou/glossary.csv (every
schema column is in it: tests/ikou/test_glossary.py), and the words the reports use for stages,
severities, control totals and 文字同定 outcomes. A 業務 kept outside the repository (`schema:` a path of the
vendor's) is named from the run's own copy of its schema (`for_run`). A name with no Japanese label (a
vendor's source column, a source name) is shown as it is."""
from __future__ import annotations

import contextlib
import contextvars
import csv
import functools
import json
from pathlib import Path

from ikou import REPO_ROOT

# the one word for records held out of the load (the quarantine): 保留, as the messages and the workbook say
HELD = "保留"

STAGES = {"extract": "抽出", "map": "変換", "moji": "文字同定", "validate": "検証", "load": "投入",
          "diff": "並行稼働比較"}
# the steps before and after the stages a run can fail at (summary.json's error.stage); not in STAGES, whose
# order is that of the pipeline's counts
RUN_STEPS = {"config": "設定の読込み", "plan": "実行計画 (設定・仕様の確認)", "start": "開始",
             "report": "報告書の作成"}
SEVERITIES = {"error": f"エラー ({HELD})", "warning": "警告"}
CONTROL_TOTALS = {"extracted": "抽出", "loaded": "投入", "held": f"{HELD}中", "difference": "差額",
                  "unreadable": "読めない値", "records_held_at_extract": f"抽出時に{HELD} (記録)"}
MOJI = {"mj": "MJ文字", "gaiji": "外字", "decided": "同定済", "unresolved": "未解決", "passthrough": "変換不要",
        "invalid": f"文字でない ({HELD})", "gaiji_unwritable": "うち外字コードのまま (外字・同定済の内数、MJ に符号位置なし)"}
# `gaiji_unwritable` is in `moji.counts` only in summaries written before it left them (a subset of gaiji/decided)


Names = tuple[dict[str, str], dict[str, str], dict[str, str]]
_RUN: contextvars.ContextVar[Names | None] = contextvars.ContextVar("ikou_run_labels", default=None)


def _schema_names(files, gyomu: dict, tables: dict, columns: dict) -> None:
    """Add the `ja:` names of the schema files `files` (unreadable ones skipped: labels are never an error)."""
    import yaml

    for f in files:
        try:
            s = yaml.safe_load(Path(f).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(s, dict):
            continue
        if s.get("gyomu") and s.get("ja"):
            gyomu.setdefault(str(s["gyomu"]), str(s["ja"]))
        for name, t in (s.get("tables") or {}).items() if isinstance(s.get("tables"), dict) else ():
            if isinstance(t, dict) and t.get("ja"):
                tables.setdefault(str(name), str(t["ja"]))
            for c in (t or {}).get("columns") or [] if isinstance(t, dict) else []:
                if isinstance(c, dict) and c.get("name") and c.get("ja"):
                    columns.setdefault(str(c["name"]), str(c["ja"]))


@contextlib.contextmanager
def for_run(run_dir):
    """Within it, names also come from the schemas the run used (its `specs/manifest.json` copies, kind
    `schema`): a 業務 kept outside the repository is then `inkan（印鑑登録）` in its report, not `inkan`. The
    shipped schemas and the glossary still win for the names they give."""
    extra: Names = ({}, {}, {})
    try:
        manifest = json.loads((Path(run_dir) / "specs" / "manifest.json").read_text(encoding="utf-8"))
        files = [Path(run_dir) / "specs" / f["path"] for f in manifest.get("files") or []
                 if isinstance(f, dict) and f.get("kind") == "schema" and isinstance(f.get("path"), str)
                 and ".." not in Path(f["path"]).parts and not Path(f["path"]).is_absolute()]
        _schema_names(files, *extra)
    except (OSError, ValueError, TypeError):
        pass
    shipped = _shipped_names()   # merged once: the labels of a page are looked up thousands of times
    token = _RUN.set(tuple({**r, **s} for s, r in zip(shipped, extra)) if any(extra) else None)
    try:
        yield
    finally:
        _RUN.reset(token)


def _names() -> Names:
    """The shipped names, with those of the run being rendered (`for_run`) where they give none."""
    return _RUN.get() or _shipped_names()


@functools.lru_cache(maxsize=1)
def _shipped_names() -> Names:
    """(業務 → ja, table → ja, column → ja) from the shipped schemas and the glossary; empty when unreadable."""
    gyomu, tables, columns = {}, {}, {}
    _schema_names(sorted((REPO_ROOT / "specs" / "gyomu").glob("*/schema.yaml")), gyomu, tables, columns)
    try:
        with open(REPO_ROOT / "ikou" / "glossary.csv", encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("romaji") and row.get("kanji"):
                    columns[row["romaji"]] = row["kanji"]   # the glossary is the one romanisation of a column
    except OSError:
        pass
    return gyomu, tables, columns


def _with(name, ja: str | None) -> str:
    return f"{name}（{ja}）" if ja and ja != name else ("" if name is None else str(name))


def gyomu(name) -> str:
    """`juki（住民記録）`."""
    return _with(name, _names()[0].get(str(name)))


def table(name) -> str:
    """`juki_kojin_rireki（住民記録 個人履歴）`."""
    return _with(name, _names()[1].get(str(name)))


def column(name) -> str:
    """`seinengappi（生年月日）`; a source column (`KOJIN_NO`) as it is."""
    return _with(name, _names()[2].get(str(name)))


def columns(text) -> str:
    """A comma-separated list of columns, each labelled."""
    if not text:
        return "" if text is None else str(text)
    return ", ".join(column(c.strip()) for c in str(text).split(","))


def tables(text) -> str:
    if not text:
        return "" if text is None else str(text)
    return ", ".join(table(t.strip()) for t in str(text).split(","))


def stage(name) -> str:
    return STAGES.get(name) or RUN_STEPS.get(name) or (name or "")


def severity(name) -> str:
    return SEVERITIES.get(name, name or "")
