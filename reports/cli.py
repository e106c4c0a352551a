"""`ikou diff` (parallel-run comparison) and `ikou run-report` (a run directory's report.html and report.xlsx).

Exit codes of `ikou diff`: 0 when the comparison ran (differences are findings, not failures);
2 when an input is unusable (missing key column, unreadable file, bad rules file) or when a side
has duplicate keys (reported in the outputs, never collapsed).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ikou.errors import ConfigError, IkouError


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _tolerances(items: list[str]) -> dict[str, tuple[float, float]]:
    """`col=abs` or `col=abs:rel`."""
    out = {}
    for item in items or []:
        col, _, spec = item.partition("=")
        a, _, r = spec.partition(":")
        out[col.strip()] = (float(a or 0), float(r or 0))
    return out


# A column whose name says it holds a name (氏名, カナ, NAME_KANJI, Shimei, SEI/MEI, 姓 …): masked by `ikou diff` by
# default whatever table it comes from, as MYNUMBER_PATTERN is for 個人番号; a legacy export names its columns as
# it likes. Read after NFKC (ｼﾒｲ is シメイ), by words (SEI is a name, SEIBETSU is not) and by parts of words.
# 氏 (the 住民票's own word for the family name), 旧氏 and 通称 (住民票 items, names too) and 本名 are names as
# 姓 and 名 are; 氏 standing apart from other kanji (氏, 氏_漢字, 氏（カナ）), not inside a word (氏名 is matched
# whole). As words only, so that SHIKUCHOSON, SHITEI or JUSHO are not names: SHI, UJI, KYU_UJI, TSUSHO.
# 方書 (KATAGAKI, HOUSHO) holds names too (「鈴木方」, 「鶫荘3号山田方」): the schema marks it sensitive.
NAME_PATTERN = (r"(?i)shimei|simei|seimei|namae|furigana|myoji|kana|name|氏名|名前|姓|フリガナ|ふりがな|カナ|かな|シメイ|セイメイ"
                r"|旧氏|通称|本名|(?<![一-龥々〆ヶ])氏(?![一-龥々〆ヶ])|方書|かたがき|カタガキ|katagaki|housho")
# The other columns a schema marks sensitive, by a legacy export's likely headers (個人番号 is privacy.MYNUMBER_PATTERN):
# 住民票コード (JUMINHYO_CD, JUMINHYO_KODO), 在留カード等番号 (ZAIRYU_CARD_NO)
SENSITIVE_ID_PATTERN = r"(?i)住民票コード|住民票番号|juminhyo_?(?:code|cd|kodo|bango|no)|juki_?(?:code|cd)$|在留カード|zairyu_?card"

NAME_WORDS = {"sei", "mei", "fname", "lname", "fullname", "shi", "uji", "kyuuji", "tsusho", "tsuusho", "tsushomei",
              "tsuushomei", "honmyo", "honmyou"}   # not kyushi: 休止 (KYUSHI_FLAG) is no name
JA_NAME_ONLY = {"名", "名字", "苗字", "氏", "旧氏"}


def is_name_column(name: str) -> bool:
    import re
    import unicodedata

    n = unicodedata.normalize("NFKC", name)
    words = set(re.split(r"[^0-9a-z]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", n).lower()))
    return bool(re.search(NAME_PATTERN, n) or words & NAME_WORDS or n.strip() in JA_NAME_ONLY)


def is_sensitive_header(name: str) -> bool:
    """A legacy export's column whose name says it is sensitive: a name (is_name_column, 方書 included) or another
    identifier a schema marks sensitive (SENSITIVE_ID_PATTERN)."""
    import re
    import unicodedata

    return is_name_column(name) or re.search(SENSITIVE_ID_PATTERN, unicodedata.normalize("NFKC", name)) is not None


def _shipped_sensitive() -> set[str]:
    """Every column a shipped 業務 schema marks sensitive (specs/gyomu/*/schema.yaml), the shipped vendors'
    source columns that feed one (their mappings) and the layout columns marked sensitive: the default of
    `ikou diff --sensitive`, so a target table or a legacy export is masked without the user listing its
    columns."""
    from ikou import REPO_ROOT
    from ikou.extractors.layout import load_layout
    from ikou.mappings.spec import load_mapping
    from ikou.privacy import schema_sensitive_columns

    from ikou.schema import load_schema

    cols = {"kojin_no", "shimei", "shimei_kana"}
    ja = set()   # and their Japanese names (方書, 住民票コード): a legacy export's header may be the 項目名
    for f in sorted((REPO_ROOT / "specs" / "gyomu").glob("*/schema.yaml")):
        cols |= schema_sensitive_columns(f)
        ja |= {c.ja for t in load_schema(f).tables.values() for c in t.columns if c.sensitive}
    fed = set()
    for f in sorted((REPO_ROOT / "specs" / "vendors").glob("*/mappings/*/*.yaml")):
        fed |= {n for c in load_mapping(f).columns if c.target in cols
                for s in c.sources for n in (s, s.rsplit(".", 1)[-1])}
    for f in sorted((REPO_ROOT / "specs" / "vendors").glob("*/layouts/*.yaml")):
        fed |= {c.name for c in load_layout(f).columns if c.sensitive}
    return cols | fed | ja


def _sensitive(args: argparse.Namespace, names: list[str] = (), recorded: set[str] = frozenset()) -> set[str]:
    """The columns to mask, in any case (a legacy export's `SHIMEI` is `shimei`): the shipped ones, every column of
    `names` (the compared tables') that `is_name_column` calls a name, what a compared target table's run recorded
    as sensitive (`recorded`: diff.recorded_sensitive), --schema's and those --sensitive lists. A list only adds:
    a column listed to be masked must not unmask the names beside it; only --reveal shows values."""
    listed = _shipped_sensitive() | set(_split(args.sensitive or "")) | set(recorded)
    if args.schema:
        from ikou.privacy import schema_sensitive_columns
        listed |= schema_sensitive_columns(args.schema)
    folded = {c.casefold() for c in listed}
    found = {n for n in names if n.casefold() in folded or is_sensitive_header(n)}
    return listed | found


def _compared_names(result) -> list[str]:
    """Every column name the diff's outputs can show: keys, compared columns, one-side and duplicate rows."""
    frames = [result.only_left_rows, result.only_right_rows] + [d.get("sample") for d in result.duplicates.values()]
    return list(dict.fromkeys([*result.key, *result.columns,
                               *(n for f in frames if f is not None for n in f.columns)]))


class DiffOutInRunFolder(IkouError):
    """`ikou diff --out` inside a run folder: the run's folder is its record (its diffs, reports and evidence
    pack), and a diff written there would be read as one of the run's own, even another 団体's run."""

    ja = "比較結果の出力先 (--out) が実行フォルダの中です (実行フォルダは実行の記録です。その外のフォルダを指定してください)"


def _run_folder_of(out: Path) -> Path | None:
    """The run folder (or 団体 runs folder) `out` lies in, as given or with links resolved: a folder, or a
    parent of it, holding a summary.json with a `run_id`, or a folder under `runs/<団体コード>/`."""
    import json
    import os
    import re

    for path in (Path(os.path.abspath(out)), Path(out).resolve()):
        for folder in (path, *path.parents):
            if re.fullmatch(r"[0-9]{6}", folder.name) and folder.parent.name == "runs":
                return folder
            try:
                summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(summary, dict) and summary.get("run_id"):
                return folder
    return None


def _run_diff(args: argparse.Namespace) -> int:
    import polars as pl

    from ikou.reports.diff import DiffInputError, compare, recorded_sensitive
    from ikou.reports.report import write_diff_outputs
    try:
        run_folder = _run_folder_of(Path(args.out))
        if run_folder is not None:
            raise DiffOutInRunFolder(f"--out {args.out} lies in the run folder {run_folder}: a run's folder is its "
                                     "record (run-report, signoff and evidence read it), give a folder outside it")
        # a target table's own record of its sensitive columns (its 業務's schema may live outside the repository)
        recorded = recorded_sensitive(args.left) | recorded_sensitive(args.right)
        result = compare(args.left, args.right, key=_split(args.key), rules=args.rules,
                         columns=_split(args.columns) or None, crosswalk=args.crosswalk,
                         numeric=_split(args.numeric), dates=_split(args.dates),
                         tolerance=_tolerances(args.tolerance),
                         explained_sample=args.explained_sample, encoding=args.encoding)
        unknown = sorted({c for r in result.rules for c in r["columns"]} - set(result.columns))
        if unknown:   # a misspelt column would explain nothing, silently
            result.close()
            raise DiffInputError(f"{args.rules}: rule column(s) {unknown} are not compared columns "
                                 f"(compared: {', '.join(result.columns[:40])})")
        sensitive = _sensitive(args, _compared_names(result), recorded)
        summary = write_diff_outputs(result, Path(args.out), sensitive=sensitive,
                                     reveal=args.reveal)
    except (IkouError, OSError, pl.exceptions.PolarsError) as exc:
        from ikou.errors import message_ja, one_line
        print(f"ikou diff: 失敗: {message_ja(exc)} — failed: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"旧 {summary['left_rows']:,} 件 / 新 {summary['right_rows']:,} 件: "
          f"一致キー {summary['matched']:,}, 旧のみ {summary['only_left']:,}, "
          f"新のみ {summary['only_right']:,}, 差異行 {summary['changed_rows']:,} "
          f"→ {Path(args.out) / 'report.html'}")
    dup = summary["duplicates"]
    if dup["left"]["keys"] or dup["right"]["keys"]:
        print(f"ikou diff: エラー / error: duplicate keys on key {args.key}: "
              f"left {dup['left']['keys']} key(s) ({dup['left']['rows']} rows), "
              f"right {dup['right']['keys']} key(s) ({dup['right']['rows']} rows); "
              f"they were left out of the comparison, see duplicates_*.csv in {args.out}",
              file=sys.stderr)
        return 2
    return 0


class PreviousRunError(IkouError):
    """`--previous` names a run the trend must not compare with."""

    ja = "前回のリハーサルとして比較できない実行です"


class NotARunFolder(IkouError):
    """`ikou run-report` of a folder that holds no summary.json, or of none: not a run folder (or a run
    that never wrote its record)."""

    ja = "実行フォルダではありません (summary.json がありません)"


class PurgedRunError(IkouError):
    """The files a report is rendered from are gone (`ikou purge`) while the summary says they held rows:
    a re-render would report no held rows and no unexplained differences, over the true report."""

    ja = "個人データ削除済みの実行のため再作成できません (報告書は作成時のまま保存されています)"


def _held_rows(summary: dict) -> int:
    """Rows the run held or listed (errors and warnings), as its summary counts them."""
    tables = [t for t in (summary.get("tables") or {}).values() if isinstance(t, dict)]
    counted = sum(int(t.get("quarantined") or 0) + int(t.get("warnings") or 0) for t in tables)
    return counted or sum(int(r.get("rows_failed") or 0) for r in summary.get("quarantine_reasons") or []
                          if isinstance(r, dict))


def _check_inputs_kept(args: argparse.Namespace, run_dir: Path, summary: dict) -> None:
    """Refuse to re-render a run `ikou purge` purged (its purged.json) when the summary says the deleted
    files held something the report shows: quarantine.parquet (held and warned rows) and
    diff/<source>/differences.parquet (unexplained cells). Whatever --out says: the masked CSVs purge
    keeps cannot stand in for them (the workbook reads the differences from Parquet only, and a CSV's
    cells are neutralised for Excel), so the report written before the purge stays the record.
    `--quarantine` may name a kept copy of the complete quarantine."""
    import json

    from ikou.errors import ConfigError
    from ikou.reports.reconcile import cell_count

    if args.quarantine and not Path(args.quarantine).is_file():   # else read as an empty quarantine
        raise ConfigError(f"--quarantine {args.quarantine}: not found")
    purged = run_dir / "purged.json"   # how `ikou purge` marks a run it purged (ikou.retention)
    if not purged.is_file():
        return
    missing = []
    if not args.quarantine and not (run_dir / "quarantine.parquet").is_file() and _held_rows(summary):
        missing.append(f"quarantine.parquet ({_held_rows(summary):,} held or warned rows)")
    for source, d in (summary.get("diff") or {}).items():
        n = cell_count(d.get("unexplained_cells")) if isinstance(d, dict) else 0
        if n and not (run_dir / "diff" / source / "differences.parquet").is_file():
            missing.append(f"diff/{source}/differences.parquet ({n:,} unexplained cells)")
    if not missing:
        return
    try:
        when = json.loads(purged.read_text(encoding="utf-8")).get("purged_at") or "(date unknown)"
    except (OSError, ValueError, AttributeError):
        when = "(date unknown)"
    raise PurgedRunError(f"run {summary.get('run_id')}: {'; '.join(missing)} purged on {when}; the report is kept "
                         "as written (report.html, report.xlsx), not re-rendered without them")


def _recorded_sensitive(run_dir: Path, summary: dict) -> set[str]:
    """The columns the run itself masked: specs/manifest.json records them (target and source columns,
    layouts' sensitive columns) with the columns its schemas type as a code, a date, a number or a key (a
    privacy.RunColumns: recorded_run_columns), so a re-rendered report masks what the run's did. A folder without it
    (a run before provenance was kept) falls back to its 業務' schemas, each column in upper case too
    (a source column is often the upper-case spelling of its target)."""
    from ikou import REPO_ROOT
    from ikou.errors import ConfigError
    from ikou.privacy import recorded_run_columns, schema_sensitive_columns
    from ikou.reports.evidence import SPECS

    manifest = run_dir / SPECS / "manifest.json"
    if manifest.is_file():
        import json

        try:
            return recorded_run_columns(json.loads(manifest.read_text(encoding="utf-8")))
        except (ValueError, AttributeError, TypeError):   # not an object, or a list that is no list
            raise ConfigError(f"{manifest}: not readable, the columns to mask are unknown") from None
    cols: set[str] = set()
    for g in summary.get("gyomu") or []:
        schema = REPO_ROOT / "specs" / "gyomu" / g / "schema.yaml"
        if schema.is_file():
            cols |= schema_sensitive_columns(schema)
    return cols | {c.upper() for c in cols}


def _previous(args: argparse.Namespace, run_dir: Path, summary: dict) -> dict | None:
    """The rehearsal the trend compares with: `--previous` when given (an earlier succeeded run of the same
    団体 and 業務), else the one the run itself found (reports.summary.previous_run: same 業務 and target schema)."""
    from ikou.reports.reconcile import load_summary
    from ikou.reports.summary import previous_run

    if not args.previous:
        here = run_dir.resolve()
        if here.name == summary.get("run_id") and here.parent.name == summary.get("dantai"):
            target = summary.get("target") or {}
            return previous_run(here.parent, here.name, gyomu=summary.get("gyomu"), schema=target.get("schema"),
                                url=target.get("url"), mode=summary.get("mode", "load"))
        return None   # not in a runs/<団体>/<run id> tree: no earlier runs to look at
    prev = load_summary(args.previous)
    if prev.get("dantai") != summary.get("dantai"):
        raise PreviousRunError(f"--previous {args.previous}: a run of 団体 {prev.get('dantai')}, not of "
                               f"{summary.get('dantai')} (the trend compares rehearsals of one 団体)")
    if summary.get("gyomu") is not None and sorted(set(prev.get("gyomu") or [])) != sorted(set(summary["gyomu"])):
        raise PreviousRunError(f"--previous {args.previous}: a run of 業務 {', '.join(prev.get('gyomu') or []) or '-'}, "
                               f"not of {', '.join(summary['gyomu'])} (its tables are not this run's)")
    if prev.get("status") != "succeeded":
        raise PreviousRunError(f"--previous {args.previous}: run {prev.get('run_id')} is {prev.get('status')} "
                               "and loaded nothing to compare with; give a succeeded run")
    if prev.get("run_id") == summary.get("run_id"):
        raise PreviousRunError(f"--previous {args.previous}: is run {prev.get('run_id')} itself")
    if str(prev.get("started_at") or "") > str(summary.get("started_at") or "~"):   # ISO times: text order
        raise PreviousRunError(f"--previous {args.previous}: run {prev.get('run_id')} started after "
                               f"{summary.get('run_id')}: a trend compares with an earlier rehearsal")
    return prev


def _diffs(args: argparse.Namespace, run_dir: Path, summary: dict) -> tuple[dict[str, dict], dict[str, Path]]:
    """The run's own diffs (summary.json's `diff`, and a diff/<source>/summary.json of one of its sources:
    `own_diff_names`, as `ikou signoff` reads them; never another folder someone wrote under diff/), and
    `--diff` when given, checked like the run folder (no link, no other 団体's); with the folder of each
    diff kept outside RUN_DIR/diff/ (the workbook reads its unexplained cells there, as the page counts them)."""
    from ikou.context import check_run_input
    from ikou.reports.reconcile import load_summary
    from ikou.reports.signoff import own_diff_names

    diffs = dict(summary.get("diff") or {})
    dirs: dict[str, Path] = {}
    own = own_diff_names(summary)
    for f in sorted(run_dir.glob("diff/*/summary.json")):
        if own is None or f.parent.name in own:
            diffs.setdefault(f.parent.name, load_summary(f))
    if args.diff:
        extra = Path(args.diff)
        folder = extra if extra.is_dir() else extra.parent
        check_run_input(folder, summary.get("dantai") or "", "--diff")
        added = load_summary(extra)
        check_run_input(extra, summary.get("dantai") or "", "--diff", summary=added)
        if (folder / "differences.parquet").exists():   # the cells the workbook copies
            check_run_input(folder / "differences.parquet", summary.get("dantai") or "", "--diff")
        name = folder.name or "diff"
        diffs[name] = added
        dirs[name] = folder
    return diffs, dirs


def _run_report(args: argparse.Namespace) -> int:
    """Re-render a run's report.html and report.xlsx as the run rendered them: its masking, all its
    diffs, its previous rehearsal; the options add to that (or, `--previous`, choose another)."""
    import polars as pl

    from ikou.errors import one_line
    from ikou.quarantine import empty
    from ikou.reports.reconcile import load_summary
    from ikou.reports import labels
    from ikou.reports.report import render_run_report
    from ikou.reports.summary import signoff_max_held_rate
    from ikou.reports.workbook import write_workbook
    try:
        from ikou.context import check_run_folder, check_run_input

        run_dir = Path(args.run_dir)
        check_run_folder(run_dir)   # not a link, not another 団体's run under this 団体's folder
        inside = bool(args.out) and run_dir.resolve() in Path(args.out).resolve().parents
        if args.reveal and (not args.out or inside):   # the run's reports are its record and go into its pack
            raise ConfigError("--reveal writes names and 個人番号: give --out FILE outside the run folder "
                              "(the run's own report.html stays masked)")
        if not run_dir.is_file() and not (run_dir / "summary.json").is_file():
            raise NotARunFolder(f"{run_dir}: " + ("no summary.json (not a run folder, or a run that wrote no record)"
                                                  if run_dir.is_dir() else "no such run folder"))
        summary = load_summary(run_dir)
        if args.quarantine:   # its values go into this run's report and evidence pack
            check_run_input(Path(args.quarantine), summary.get("dantai") or "", "--quarantine")
        _check_inputs_kept(args, run_dir, summary)
        qpath = Path(args.quarantine) if args.quarantine else run_dir / "quarantine.parquet"
        quarantine = pl.read_parquet(qpath) if qpath.is_file() else empty()
        recorded = _recorded_sensitive(run_dir, summary)
        sensitive = recorded | _sensitive(args)
        if getattr(recorded, "coded", None) is not None:   # the run's own column kinds, not the shipped schemas'
            from ikou.privacy import RunColumns

            sensitive = RunColumns(sensitive, coded=recorded.coded - sensitive)
        previous = _previous(args, run_dir, summary)
        diffs, diff_dirs = _diffs(args, run_dir, summary)
        with labels.for_run(run_dir):   # names of a 業務 kept outside the repository: the run's schema copy
            out = render_run_report(summary, quarantine, Path(args.out or run_dir / "report.html"),
                                    diffs=diffs, previous_summary=previous, sensitive=sensitive, reveal=args.reveal,
                                    max_held_rate=signoff_max_held_rate(run_dir), run_dir=run_dir)
            # the workbook beside it, from the same inputs (a PM reads one or the other): the same diffs, blockers
            book = write_workbook(summary, Path(out).with_suffix(".xlsx"), run_dir=run_dir, quarantine=quarantine,
                                  previous=previous, sensitive=sensitive, reveal=args.reveal, diffs=diffs,
                                  diff_dirs=diff_dirs)
    except (IkouError, OSError, pl.exceptions.PolarsError) as exc:   # one line, whatever could not be read
        if getattr(args, "debug", False):
            raise
        from ikou.errors import message_ja
        print(f"ikou run-report: 失敗: {message_ja(exc) if isinstance(exc, IkouError) else 'ファイルを読み書きできません'} "
              f"— failed: {one_line(exc)}", file=sys.stderr)
        return 2
    print(out)
    print(book)
    return 0


def _evidence(args: argparse.Namespace) -> int:
    from ikou.reports.evidence import DEFAULT_PACK, build_pack, generate_key, verify_pack

    if args.paths[0] == "keygen":
        if len(args.paths) != 2:
            raise IkouError("usage: ikou evidence keygen KEY (writes KEY and KEY.pub)")
        key, pub = generate_key(Path(args.paths[1]))
        print(f"署名鍵 / signing key: {key} (本人のみ / keep it private)\n公開鍵 / public key: {pub} "
              "(検証する人に渡す / give it to whoever verifies the packs)")
        return 0
    if args.paths[0] == "verify":
        if len(args.paths) != 2:
            raise IkouError("usage: ikou evidence verify PACK.zip [--public-key KEY.pub]")
        v = verify_pack(Path(args.paths[1]), target_url=args.target_url, check_target=not args.no_target,
                        public_key=args.public_key)
        target = {"checked": "確認済", "not checked": "未確認"}.get(v.target, "未確認")
        print(f"ファイル {v.checked_files} 件のチェックサムを確認 / {v.checked_files} file checksums checked; "
              f"移行先 {target} / target {v.target}; 署名 / signature: {v.signed}")
        for p in v.problems:
            print(f"  NG {p}")
        if not v.ok:
            print(f"ikou: 検証失敗: 証跡パックが記録と一致しません ({len(v.problems)} 件) — verify failed: "
                  f"{v.problems[0]}", file=sys.stderr)
            return 2
        print("証跡パックは記録どおりです / the evidence pack verifies")
        return 0
    if len(args.paths) != 1:
        raise IkouError("usage: ikou evidence RUN_DIR [--out PACK.zip] [--sign-key KEY] | "
                        "ikou evidence verify PACK.zip [--public-key KEY.pub] | ikou evidence keygen KEY")
    run_dir = Path(args.paths[0])
    out = build_pack(run_dir, Path(args.out or run_dir / DEFAULT_PACK), target_url=args.target_url,
                     sign_key=args.sign_key)
    print(out)
    return 0


def _signoff(args: argparse.Namespace) -> int:
    """Record the sign-off (reports.signoff.sign_off: signoff.json, and the pack when there is one), then
    re-render the run's report.html and report.xlsx as `ikou run-report RUN_DIR` does, so that the page the PM
    reads shows the sign-off at once. The pack keeps the report it sealed (a sign-off appends only signoff.json
    to it); the sign-off records no hash of the report, so the order cannot break a verification. A report that
    cannot be refreshed never undoes nor fails the sign-off: it is said (one line, stderr), exit 0."""
    from ikou.reports.signoff import sign_off

    r = sign_off(Path(args.run_dir), by=args.by, role=args.role, override=args.override,
                 pack=Path(args.pack) if args.pack else None, sign_key=args.sign_key,
                 target_url=args.target_url, no_target=args.no_target)
    report, failure = _refresh_report(Path(args.run_dir), debug=getattr(args, "debug", False))
    how = f" (上書き承認 / override: {r['override']})" if r["override"] else ""
    target = ("移行先 確認済 / target holds it" if r["target"]["checked"]
              else "移行先 未確認 / target not checked (--no-target)")
    held = sum(r.get("held", {}).values())
    left = f"; 保留 {held:,} 件は移行されていません / {held:,} held record(s) not migrated" if held else ""
    shown = f"; 報告書 / report: {report}" if failure is None else ""
    print(f"承認を記録しました / signed off: run {r['run_id']} by {r['by']} ({r['role']}){how}; {target}{left}"
          + (f" → {r['pack']}" if r.get("pack") else "") + shown, flush=True)
    if failure is not None:
        import shlex

        (ja, en), again = failure, f"ikou run-report {shlex.quote(str(args.run_dir))}"
        print(f"ikou signoff: 注意: 承認は記録しましたが、報告書 {report} を更新できませんでした ({ja})。"
              f"`{again}` を実行してください — warning: the sign-off is recorded, but {report} could not be "
              f"refreshed ({en}): run `{again}`", file=sys.stderr)
    return 0


def _refresh_report(run_dir: Path, *, debug: bool = False) -> tuple[Path, tuple[str, str] | None]:
    """Re-render RUN_DIR/report.html and report.xlsx after a sign-off: `ikou run-report RUN_DIR` itself (its
    defaults, from its own parser: the run's masking, diffs and previous rehearsal), its path lines kept off the
    terminal. Returns (report.html's path, None), or (its path, (Japanese, English) reason) when it could not be
    refreshed: any failure, even an interruption, for the sign-off is already recorded (with --debug the
    traceback is shown too)."""
    import contextlib
    import io

    from ikou.errors import message_ja, one_line

    report = run_dir / "report.html"
    parser = argparse.ArgumentParser(add_help=False)
    register(parser.add_subparsers(dest="command"))
    run_args = parser.parse_args(["run-report", "RUN_DIR"])   # run-report's own defaults, whatever they become
    run_args.run_dir = str(run_dir)
    run_args.debug = True   # its failure raised, to be told here, not printed as run-report's own
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            rc = _run_report(run_args)
    except (Exception, KeyboardInterrupt) as exc:   # noqa: BLE001 - the sign-off stands whatever went wrong here
        if debug:
            import traceback

            traceback.print_exc()
        if isinstance(exc, KeyboardInterrupt):
            return report, ("中断しました", "interrupted")
        en = one_line(exc)
        return report, (message_ja(exc), en if len(en) <= 200 else en[:200] + "…")
    return report, (None if not rc else ("報告書を作成できませんでした", f"ikou run-report ended with exit code {rc}"))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "diff", help="並行稼働比較: compare two tables on a key",
        description="Compare LEFT (legacy) and RIGHT (new) on a key. A table is a .csv (UTF-8, "
                    "header), a .parquet, or SQLALCHEMY_URL#table (e.g. sqlite:///old.db#t).")
    p.add_argument("left")
    p.add_argument("right")
    p.add_argument("--key", required=True, help="key column(s), comma-separated")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--rules", help="expected-difference rules (YAML)")
    p.add_argument("--columns", help="compare only these columns (comma-separated)")
    p.add_argument("--crosswalk", help="key crosswalk CSV: legacy_<key>,<key> for each key column")
    p.add_argument("--numeric", help="columns compared as numbers (comma-separated)")
    p.add_argument("--dates", help="columns compared as dates (comma-separated)")
    p.add_argument("--tolerance", action="append", metavar="COL=ABS[:REL]",
                   help="numeric tolerance for a column (repeatable)")
    p.add_argument("--explained-sample", type=int, default=100, metavar="N",
                   help="explained cells kept per rule and column in differences.parquet "
                        "(all are counted; unexplained cells are all kept)")
    p.add_argument("--encoding", metavar="ENC",
                   help="文字コード: the legacy application's encoding (cp932, shift_jis, euc_jp or utf-8) of a table "
                        "in a SQL_ASCII PostgreSQL database, whose text is the application's bytes stored unchecked: "
                        "its text columns are read as those bytes and decoded with ENC (as the extract does with the "
                        "layout's encoding); such a table is refused without it. Other sources ignore it")
    p.add_argument("--sensitive", default=None,
                   help="more columns to mask in the outputs, in any case (always masked: every column a 業務 "
                        "schema under specs/gyomu marks sensitive, the shipped vendors' columns that feed one, every "
                        "column whose name says name: SHIMEI, NAME_KANA, 氏名 …, and a target table's columns its "
                        "ikou run recorded as sensitive); only --reveal shows values")
    p.add_argument("--schema", help="target schema YAML: its sensitive columns are masked too")
    p.add_argument("--reveal", action="store_true", help="show sensitive values unmasked")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    p.set_defaults(func=_run_diff)

    r = subparsers.add_parser("run-report", help="移行レポート: render a run directory's report.html and report.xlsx")
    r.add_argument("run_dir")
    r.add_argument("--quarantine", help="quarantine Parquet (default RUN_DIR/quarantine.parquet)")
    r.add_argument("--previous", help="previous rehearsal's run directory or summary.json (a succeeded run of the "
                                      "same 団体; default: the one the run compared with)")
    r.add_argument("--diff", help="another diff's summary.json to include (the run's own diff/*/ always are)")
    r.add_argument("--out", help="output HTML (default RUN_DIR/report.html); the workbook goes beside it (.xlsx)")
    r.add_argument("--sensitive", help="columns masked besides those the run masked (specs/manifest.json)")
    r.add_argument("--schema", help="target schema YAML: its sensitive columns are masked too")
    r.add_argument("--reveal", action="store_true")
    r.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    r.set_defaults(func=_run_report)

    e = subparsers.add_parser(
        "evidence", help="証跡パック: pack a run's evidence (RUN_DIR [--out PACK.zip]), check one (verify PACK.zip) "
                         "or make a signing key (keygen KEY)",
        description="`ikou evidence RUN_DIR --out PACK.zip` packs summary, reports, masked quarantine, "
                    "reconciliation, 同定台帳, the specs used, checksums and the target's table checksums, "
                    "signed with --sign-key (or IKOU_EVIDENCE_KEY); `ikou evidence verify PACK.zip "
                    "--public-key KEY.pub` re-checks them (exit 2 naming what differs); `ikou evidence keygen "
                    "KEY` writes an Ed25519 key pair (KEY, KEY.pub).")
    e.add_argument("paths", nargs="+", metavar="RUN_DIR | verify PACK.zip | keygen KEY")
    e.add_argument("--sign-key", metavar="KEY", help="sign the pack with this key (default: IKOU_EVIDENCE_KEY)")
    e.add_argument("--public-key", metavar="KEY.pub",
                   help="verify: the trusted public key; an unsigned pack or another key's is refused")
    e.add_argument("--out", help="the pack to write (default RUN_DIR/evidence.zip)")
    e.add_argument("--target-url", help="target URL (default: the one the run used; give it when it needs a "
                                        "password)")
    e.add_argument("--no-target", action="store_true", help="verify: check the files only")
    e.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    e.set_defaults(func=_evidence)

    s = subparsers.add_parser("signoff", help="承認: record a sign-off of a run (refused while blockers remain), "
                                               "then re-render its report.html and report.xlsx")
    s.add_argument("run_dir")
    s.add_argument("--by", required=True, help="who signs (name of the reviewer)")
    s.add_argument("--role", required=True, help="role, e.g. PM")
    s.add_argument("--override", metavar="REASON", help="sign although blockers remain; the reason is recorded")
    s.add_argument("--pack", help="evidence pack to add the sign-off to (default RUN_DIR/evidence.zip if present)")
    s.add_argument("--sign-key", metavar="KEY", help="a signed pack is signed again with this key "
                                                     "(default: IKOU_EVIDENCE_KEY)")
    s.add_argument("--target-url", help="target URL (default: the one the run used; give it when it needs a "
                                        "password): the run must be the one the target holds")
    s.add_argument("--no-target", action="store_true",
                   help="sign without reading the target (when it cannot be reached); recorded in the sign-off")
    s.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    s.set_defaults(func=_signoff)
