"""Target databases: one class per kind of database, registered by URL scheme.

`TargetDatabase` is what every target does: replace a 団体's whole target with one run's tables,
every 業務 of the run together, in one transaction (`load_run`), keeping the state it replaces
until the next success (`rollback` restores it) and recording which run it holds (the `ikou_run`
table inside the 団体's schema); read a table back (`read_table`) and hand the parallel-run diff a
table it can read without holding it in memory (`diff_input`); record the cut-over (本番切替, the
`ikou_cutover` table: `record_cutover`), after which it refuses every load and rollback (TargetCutOver). Each kind lives in its own module
(`loaders.duckdb_target`, `loaders.postgres_target`) and registers itself with
`@register_target` under its URL schemes; `target_for(url)` picks it, and an unknown scheme is a
ConfigError listing the known ones (the run config checks its target URL this way when it loads).
"""
from __future__ import annotations

import atexit
import datetime as dt
import json
import re
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import polars as pl
from sqlalchemy.schema import CreateTable, DropTable

from ikou.errors import ConfigError, IsolationError, TerminalError
from ikou.loaders.ddl import sa_tables
from ikou.schema import TargetSchema


class LoadRejected(TerminalError):
    """The target refused the rows (key or NOT NULL violation); nothing was changed."""

    ja = "移行先がデータを拒否しました (ロールバック済み)"


class EmptyExportError(TerminalError):
    """The run would empty a loaded table, or shrink it beyond the allowed ratio: nothing was changed."""

    ja = "移行先を空にする (または大きく減らす) ロードを止めました (移行先は変更なし)"


@dataclass(frozen=True)
class RunRecord:
    """Which run a target holds: written into the 団体's schema (`ikou_run`) with the tables' rows.

    `status`: how far the run is. A load on its own is a whole run (`succeeded`); the flow's load step
    loads with RUNNING, since diff and report follow the COMMIT, and the flow records the run's end
    (`finish_run`) once its summary.json is written. A record still RUNNING after its run is gone
    names a run that never finished (killed or crashed between the COMMIT and its summary.json)."""
    run_id: str
    rehearsal: str = ""
    dantai_code: str = ""
    gyomu: tuple[str, ...] = ()
    status: str = "succeeded"


@dataclass
class LoadPart:
    """One 業務 of a run: its schema and its tables (frames or staged Parquet files, or a Future of
    either: a derived table still being computed, which the target waits for when its turn comes).
    `counts`: per source-fed table, what the run did with its records before the load (`extracted`, `held`
    as errors, `rules`: (rule, records) holding most), so that a refused load says why it had no rows."""
    schema: TargetSchema
    frames: dict[str, pl.DataFrame | Path | Future] = field(default_factory=dict)
    counts: dict[str, dict] = field(default_factory=dict)
    # target columns the run's mappings make sensitive beyond the schema's flags (privacy.sensitive_columns: a
    # column filled from 氏名 or 個人番号 by a mapping mistake), recorded with the schema's in ikou_run.sensitive
    sensitive: frozenset[str] = frozenset()


def resolve_frame(frame):
    """The frame or Parquet path itself; for a Future, its result (waiting for it; its error raised)."""
    return frame.result() if isinstance(frame, Future) else frame


RUN_TABLE = "ikou_run"
PREV = "__prev"   # suffix of what the last success replaced (a schema in PostgreSQL, tables in DuckDB)
RUNNING = "running"          # `ikou_run.status` from the COMMIT until the flow records the run's end
ENDED = ("succeeded", "failed", "cancelled")   # a run's end as its summary.json says (`status`)
UNFINISHED = "unfinished"    # outcome(): the load committed, and nothing recorded the run's end


def frame_rows(frame: pl.DataFrame | Path | Future) -> int:
    frame = resolve_frame(frame)
    return frame.height if isinstance(frame, pl.DataFrame) else pl.scan_parquet(frame).select(pl.len()).collect().item()


def check_counts(previous: dict[str, int], parts: list[LoadPart], *, max_drop_ratio: float | None,
                 db_schema: str, run_id: str) -> None:
    """Refuse a run that would empty a table the target holds rows of, or shrink it by more than
    `max_drop_ratio` (source-fed tables; derived ones follow their source), or that leaves out a
    table the target holds (a drop of 100 %): a run replaces the 団体's whole schema, so a run of
    住民記録 alone after one of 住民記録 and 個人住民税 would drop the 個人住民税 tables without a word."""
    loaded = {name for part in parts for name in part.frames}
    left_out = sorted(n for n, rows in previous.items() if rows and n not in loaded)
    if left_out and max_drop_ratio is not None and max_drop_ratio < 1:   # a drop of 100 %
        raise EmptyExportError(
            f"{db_schema}: the target holds {', '.join(f'{n} ({previous[n]} rows)' for n in left_out)}, which this "
            "run does not load: a run replaces the whole schema, so their 業務 must be in the run (config `gyomu` "
            "and sources), the run must go to a schema of its own (target.schema), or thresholds.max_drop_ratio "
            "must allow dropping them (1 or null) (target unchanged)", run_id=run_id,
            ja=f"{db_schema}: 移行先には、この実行でロードしないテーブル "
               f"{', '.join(f'{n} ({previous[n]:,} 行)' for n in left_out)} があります。実行はスキーマ全体を"
               "置き換えるため、次のいずれかを行ってください: その業務をこの実行に含める (設定の gyomu と sources)、"
               "この実行の移行先スキーマを分ける (target.schema)、または thresholds.max_drop_ratio で削除を許可する "
               "(1 または null) (移行先は変更なし)")
    for part in parts:
        for name, frame in part.frames.items():
            if part.schema.tables[name].derive is not None:
                continue
            before, after = int(previous.get(name) or 0), frame_rows(frame)
            if before and not after:
                en, ja = nothing_to_load(f"{db_schema}.{name}", before, part.counts.get(name))
                raise EmptyExportError(en, run_id=run_id, ja=ja)
            if before and max_drop_ratio is not None and after < before * (1 - max_drop_ratio):
                raise EmptyExportError(
                    f"{db_schema}.{name}: {after} rows would replace {before} ({after / before - 1:+.0%}), beyond "
                    f"thresholds.max_drop_ratio {max_drop_ratio:.0%} (target unchanged)", run_id=run_id)


def nothing_to_load(table: str, before: int, counts: dict | None) -> tuple[str, str]:
    """Why a table has no rows to load, in English and Japanese, by cause: nothing was extracted (an export
    that wrote nothing), or every extracted record was held (the rule holding most named, when known): the
    engineer looks at the export in one case, at the quarantine in the other."""
    kept = f"a run with no rows must never empty the target, which holds {before:,} rows of it (unchanged)"
    kept_ja = f"移行先を空にするロードを止めました (移行先の {before:,} 行は変更なし)"
    c = counts or {}
    extracted, held = c.get("extracted"), c.get("held")
    if not isinstance(extracted, int) or not isinstance(held, int):
        return (f"{table}: this run has no rows for a table the target holds {before:,} rows of (nothing extracted, "
                f"or every extracted record held: see summary.json): an export that wrote nothing must never empty "
                f"the target (unchanged)",
                f"{table}: 投入する行が 0 件です (抽出 0 件、またはすべて保留: summary.json を確認)。{kept_ja}")
    if extracted == 0:
        return (f"{table}: 0 rows to load: no record was extracted (an export that wrote nothing?); {kept}",
                f"{table}: 抽出件数が 0 件のため投入 0 件です (空の出力ではないか確認)。{kept_ja}")
    rules = [(str(r), int(n)) for r, n in (c.get("rules") or [])][:1]
    if held >= extracted:
        top_en = f" (top rule {rules[0][0]}: {rules[0][1]:,})" if rules else ""
        top_ja = f" (主な理由 {rules[0][0]} {rules[0][1]:,} 件) " if rules else ""
        return (f"{table}: all {extracted:,} extracted record(s) were held{top_en}: 0 rows to load (see the "
                f"quarantine, not the export); {kept}",
                f"{table}: {extracted:,} 件を抽出し、すべて保留{top_ja}のため投入 0 件です (保留理由を確認)。{kept_ja}")
    return (f"{table}: 0 rows to load: {extracted:,} extracted, {held:,} held; {kept}",
            f"{table}: 投入 0 件です (抽出 {extracted:,} 件、保留 {held:,} 件)。{kept_ja}")


class RollbackRefused(ConfigError):
    """A rollback the target cannot make (it does not hold the run as its previous state): nothing changed."""

    ja = "その実行には戻せません (移行先が直前の状態として保持していません。移行先は変更なし)"


class UnfinishedRunRefused(RollbackRefused):
    """A rollback to a run that did not finish successfully (killed after its load committed, failed or
    cancelled after it): refused unless asked for explicitly (`--allow-unfinished`)."""

    ja = ("正常に終了していない実行 (summary.json がない、または成功していない) には戻しません "
          "(--allow-unfinished を指定した場合のみ。移行先は変更なし)")


def outcome(record: dict | None, runs_dir: Path | None = None) -> str | None:
    """How the run a target record names ended: "succeeded", "failed" or "cancelled" (its summary.json's
    status, which the flow records in the target at its end: `finish_run`), UNFINISHED when its load
    committed and nothing says it ended (killed or crashed during diff/report: no summary.json), or None
    when that cannot be told (a record from before ikou kept runs' ends, and no runs folder to look in).

    `runs_dir` (the 団体's runs folder, runs/<団体>) is looked in when the target does not say: the run's
    summary.json is its record (the target's mark may be missing: the process killed between writing
    summary.json and marking the target, or the target unreachable then)."""
    if record is None:
        return None
    status = record.get("status")
    if status in ENDED:
        return status
    if runs_dir is not None and (status == RUNNING or status is None) and _RUN_FOLDER.fullmatch(str(record["run_id"])):
        ended = _summary_status(Path(runs_dir) / str(record["run_id"]))
        if ended is not None:
            return ended
        return UNFINISHED
    return UNFINISHED if status == RUNNING else None


_RUN_FOLDER = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]*")   # a run id read from the target names a folder, never a path


def _summary_status(run_dir: Path) -> str | None:
    """The status a run's summary.json records (None: no summary.json, or one that cannot be read)."""
    try:
        status = json.loads((run_dir / "summary.json").read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return None
    return status if status in ENDED else None


def finished(record: dict | None, runs_dir: Path | None = None) -> bool:
    """Whether a record names a run that finished successfully, as far as can be told (a record from
    before ikou kept runs' ends counts as finished: rollback and the previous state behave as then)."""
    return record is not None and outcome(record, runs_dir) in ("succeeded", None)


def shown(record: dict | None, runs_dir: Path | None = None) -> str:
    """A held run for a message: `ID (succeeded)`, `ID (unfinished: …)`, or "no run"."""
    if record is None:
        return "no run"
    o = outcome(record, runs_dir)
    what = {UNFINISHED: "unfinished: its load committed and " + ("no summary.json records its end" if runs_dir else
                                                                "the target has no record of its end"),
            "failed": "failed after its load committed", "cancelled": "cancelled after its load committed",
            None: "end not recorded: loaded by an earlier ikou"}.get(o, o)
    return f"{record['run_id']} ({what})"


def kept_on_load(current: dict | None, previous: dict | None, runs_dir: Path | None = None, *,
                 run_id: str | None = None) -> tuple[bool, dict | None]:
    """What a load does with the state it replaces: (keep the previous state as it is, `replaced`).

    The state a load replaces becomes the previous one (what `ikou rollback` restores), except when the
    run the target holds never finished successfully (killed after its COMMIT, or failed or cancelled
    after it) while the state before it is a finished run: that finished run, the last a PM may have
    signed off, stays the previous state and the unfinished one goes. `replaced` (recorded with the new
    run, in `ikou_run.replaced`) names the run the load replaced, its outcome and whether it was kept.
    A target already holding `run_id` itself (a load retried after its COMMIT went through unseen) is
    loaded over, the previous state left as it is."""
    if current is None:
        return False, None
    if run_id is not None and current["run_id"] == run_id:
        return True, current.get("replaced")
    o = outcome(current, runs_dir)
    keep = not finished(current, runs_dir) and finished(previous, runs_dir)
    return keep, {"run_id": current["run_id"], "status": o, "kept_as_previous": not keep}


def check_rollback(db_schema: str, run_id: str, current: dict | None, previous: dict | None, *,
                   runs_dir: Path | None = None, allow_unfinished: bool = False) -> None:
    """A rollback goes to the previous state only, and only when it holds `run_id`; and only to a run that
    finished successfully, unless `allow_unfinished` (a run killed after its load committed has no
    summary.json: nothing records what it loaded against the legacy data, and it was never signed off).
    `runs_dir` (runs/<団体>) is where the runs' summary.json are, when known."""
    if previous is None or previous["run_id"] != run_id:
        raise RollbackRefused(f"{db_schema} cannot go back to run {run_id}: it holds {shown(current, runs_dir)}, "
                              f"and before it {shown(previous, runs_dir) if previous else 'nothing'}, kept until the "
                              "next success (target unchanged)")
    if not allow_unfinished and not finished(previous, runs_dir):
        raise UnfinishedRunRefused(
            f"{db_schema} will not go back to run {shown(previous, runs_dir)}: it did not finish successfully, so no "
            "summary.json records it as a run to sign off; give --allow-unfinished to restore it anyway "
            "(target unchanged)")


# 本番切替 (cut-over): the run a target holds declared the one the 団体 went live on. Recorded in the target itself
# (`ikou_cutover` in the 団体's schema, written as its role), so that every runs folder and campaign worker sees it:
# one row per declaration or withdrawal, never updated nor deleted (a withdrawal is a row of its own). The
# declaration in force is the last row when it declares. A cut-over target loads nothing (a scheduled run
# compares only: 並行稼働) and is never rolled back.
CUTOVER_TABLE = "ikou_cutover"
CUTOVER_COLUMNS = ("seq", "run_id", "action", "at", "note", "by")   # seq: 1, 2, … in the order written
DECLARED, WITHDRAWN = "declared", "withdrawn"


class CutoverRefused(ConfigError):
    """A declaration or withdrawal of the cut-over the target's state does not allow: nothing changed."""

    ja = "本番切替の宣言・取消はできません (移行先は変更なし)"


class TargetCutOver(TerminalError):
    """The target is cut over (本番切替済み): no run loads into it and no rollback swaps it (the rows users
    changed since would be lost). Terminal: retrying cannot help until the declaration is withdrawn."""

    ja = "移行先は本番切替済みです (投入・ロールバックはしません。移行先は変更なし)"


def cutover_dicts(rows, names: list[str] | tuple[str, ...] = CUTOVER_COLUMNS) -> list[dict]:
    """The events of `ikou_cutover` from its rows and the names of the columns read, oldest first (by `seq`)."""
    events = [{c: None for c in CUTOVER_COLUMNS} | {n: v for n, v in zip(names, row) if n in CUTOVER_COLUMNS}
              for row in rows]
    return sorted(events, key=lambda e: int(e["seq"]) if str(e["seq"] or "").isdigit() else 0)


def in_force(events: list[dict]) -> dict | None:
    """The declaration in force ({run_id, at, note, by}), or None (never declared, or withdrawn since)."""
    last = events[-1] if events else None
    return dict(last) if last and last.get("action") == DECLARED else None


def check_not_cut_over(db_schema: str, events: list[dict], *, doing: str, run_id: str | None = None) -> None:
    """Refuse `doing` ("load", "rollback") on a cut-over target (TargetCutOver, in Japanese and English)."""
    cut = in_force(events)
    if cut is None:
        return
    what_ja = {"load": "投入", "rollback": "ロールバック"}.get(doing, doing)
    raise TargetCutOver(
        f"{db_schema} is cut over to run {cut['run_id']} (declared {cut['at']}): ikou neither loads into it nor rolls it "
        f"back, since users' changes since the cut-over would be lost; an `ikou run` compares only (parallel run). "
        f"A mistaken declaration is withdrawn with `ikou cutover --withdraw --run-id {cut['run_id']}` "
        f"(target unchanged; refused: {doing})", run_id=run_id,
        ja=f"{db_schema} は実行 {cut['run_id']} で本番切替済みです ({cut['at']} に宣言)。切替後の利用者の更新が失われるため、"
           f"{what_ja}はしません (ikou run は比較のみ行います: 並行稼働)。宣言の誤りは ikou cutover --withdraw "
           f"--run-id {cut['run_id']} で取り消せます (移行先は変更なし)")


def check_cutover_change(db_schema: str, action: str, run_id: str, current: dict | None, events: list[dict], *,
                         runs_dir: Path | None = None) -> None:
    """A declaration names the run the target holds now (`run_id`, a guard against declaring the wrong one), which
    finished successfully (its summary.json, or the target's record of its end, says `succeeded`), and is refused
    while one is in force; a withdrawal names the declaration in force. Read inside the writing transaction."""
    cut = in_force(events)
    if action == WITHDRAWN:
        if cut is None:
            raise CutoverRefused(f"{db_schema} is not cut over: nothing to withdraw (target unchanged)",
                                 ja=f"{db_schema} は本番切替されていません。取り消す宣言はありません (移行先は変更なし)")
        if cut["run_id"] != run_id:
            raise CutoverRefused(f"{db_schema} is cut over to run {cut['run_id']}, not {run_id}: --run-id must name the "
                                 "declaration withdrawn (target unchanged)",
                                 ja=f"{db_schema} の本番切替は実行 {cut['run_id']} です ({run_id} ではありません)。"
                                    "--run-id には取り消す宣言の実行を指定してください (移行先は変更なし)")
        return
    if action != DECLARED:
        raise ValueError(f"a cut-over is {DECLARED} or {WITHDRAWN}, not {action!r}")
    if cut is not None:
        raise CutoverRefused(f"{db_schema} is cut over to run {cut['run_id']} already (declared {cut['at']}); withdraw "
                             "it first (`ikou cutover --withdraw`) (target unchanged)",
                             ja=f"{db_schema} は実行 {cut['run_id']} で本番切替済みです ({cut['at']})。先に "
                                "ikou cutover --withdraw で取り消してください (移行先は変更なし)")
    if current is None:
        raise CutoverRefused(f"{db_schema} holds no run: nothing to cut over to (load a run first) (target unchanged)",
                             ja=f"{db_schema} は実行を保持していません。本番切替する実行がありません (移行先は変更なし)")
    if current["run_id"] != run_id:
        raise CutoverRefused(f"{db_schema} holds run {current['run_id']}, not {run_id}: a cut-over declares the run the "
                             "target holds now, named by --run-id (target unchanged)",
                             ja=f"{db_schema} が保持する実行は {current['run_id']} です ({run_id} ではありません)。"
                                "本番切替は移行先が現在保持する実行を --run-id で指定して宣言します (移行先は変更なし)")
    if outcome(current, runs_dir) != "succeeded":
        hint = "" if runs_dir else "; give --config to read its summary.json if the target lacks its end"
        raise CutoverRefused(f"{db_schema} holds run {shown(current, runs_dir)}: only a run that finished successfully "
                             f"is cut over to{hint} (target unchanged)",
                             ja=f"{db_schema} が保持する実行 {current['run_id']} は正常に終了していません "
                                "(summary.json が成功を記録した実行のみ本番切替できます。移行先は変更なし)")


def cutover_row(events: list[dict], action: str, run_id: str, note: str | None, by: str) -> list:
    """The row of a new event, after `events` (those the table holds, read in the same transaction)."""
    return [str(len(events) + 1), run_id, action, now(), note or "", by]


def sensitive_of(parts: list[LoadPart]) -> dict[str, list[str]]:
    """{table: [column, …]} of every loaded table's columns its TargetSchema marks sensitive (and those the run's
    mappings make sensitive, `LoadPart.sensitive`): recorded with the
    run (`ikou_run.sensitive`), so that `ikou diff` of a target table masks them even when its 業務's schema
    lives outside the repository and the user gives no --schema."""
    return {name: cols for part in parts for name in part.frames
            if (cols := sorted(set(_sensitive_columns(part.schema, name))
                               | {c.name for c in part.schema.resolved_table(name).columns if c.name in part.sensitive}))}


def _sensitive_columns(schema: TargetSchema, name: str) -> list[str]:
    """A table's sensitive columns; for a derived table also each aggregate that carries a sensitive column's
    value (first/min/max of 氏名 is a name), though the schema gives the aggregate no flag of its own."""
    table = schema.resolved_table(name)
    cols = {c.name for c in table.columns if c.sensitive}
    d = schema.tables[name].derive
    if d is not None:   # what the source table holds as sensitive stays so in what is derived from it
        source = set(_sensitive_columns(schema, d.from_))
        cols |= {c.name for c in table.columns if c.name in source} if d.op == "latest" else set(d.key) & source
        cols |= {a.name for a in d.aggregates if a.agg in ("first", "min", "max") and a.from_ in source}
    return sorted(cols)


def run_row(run: RunRecord, counts: dict[str, int], replaced: dict | None = None,
            sensitive: dict[str, list[str]] | None = None) -> list:
    return [run.run_id, run.rehearsal, run.dantai_code, ",".join(run.gyomu), now(),
            json.dumps(counts, ensure_ascii=False, sort_keys=True), run.status,
            None if run.status == RUNNING else now(),
            json.dumps(replaced, ensure_ascii=False, sort_keys=True) if replaced else None,
            json.dumps(sensitive or {}, ensure_ascii=False, sort_keys=True)]


# `status`, `finished_at`, `replaced` and `sensitive` came later: a record an earlier ikou wrote has the first six only
RUN_TABLE_COLUMNS = ("run_id", "rehearsal", "dantai_code", "gyomu", "loaded_at", "counts", "status", "finished_at",
                     "replaced", "sensitive")


def run_dict(row, names: list[str] | tuple[str, ...] = RUN_TABLE_COLUMNS) -> dict | None:
    """A run record from its row and the names of the columns it was read with (missing ones are None)."""
    if row is None:
        return None
    d = {c: None for c in RUN_TABLE_COLUMNS} | {n: v for n, v in zip(names, row) if n in RUN_TABLE_COLUMNS}
    d["counts"] = json.loads(d["counts"] or "{}")
    d["replaced"] = json.loads(d["replaced"]) if d["replaced"] else None
    d["sensitive"] = json.loads(d["sensitive"]) if d["sensitive"] else None   # None: not recorded (an earlier ikou)
    return d


def check_isolation(db_schema: str, dantai_code: str, run_id: str) -> None:
    """A 団体's data goes only to `dantai_<code>` (or `dantai_<code>_<suffix>`, e.g. a rehearsal copy)."""
    own = f"dantai_{dantai_code}"
    if db_schema != own and not db_schema.startswith(own + "_"):
        raise IsolationError(f"target schema {db_schema!r} does not belong to 団体 {dantai_code} (expected {own})",
                             run_id=run_id)


class TargetDatabase(ABC):
    """One kind of target database, bound to one URL."""

    schemes: ClassVar[tuple[str, ...]] = ()   # URL schemes it serves, without the driver (`postgresql`)

    def __init__(self, url: str):
        self.url = self.normalise_url(url)

    @classmethod
    def normalise_url(cls, url: str) -> str:
        """The URL as this target's drivers want it."""
        return url

    @abstractmethod
    def load_run(self, parts: list[LoadPart], db_schema: str, *, run: RunRecord,
                 max_drop_ratio: float | None = None, runs_dir: Path | None = None) -> dict[str, int]:
        """Make `db_schema` hold this run's tables (every part) and nothing else, in one transaction;
        the state replaced is kept until the next success, unless it is a run that never finished
        while the state before it is a finished one, which then stays (kept_on_load; `runs_dir`, the
        団体's runs folder, tells a run's end where the target does not). Refuse (EmptyExportError,
        nothing changed) a run that would empty or shrink a table beyond `max_drop_ratio`
        (check_counts). A frame may be a Parquet path, streamed so that memory does not grow with the
        table. Returns the rows now in each table."""

    def load_tables(self, frames: dict[str, pl.DataFrame | Path], schema: TargetSchema, db_schema: str, *,
                    run_id: str) -> dict[str, int]:
        """One 業務's tables as a run of their own (see `load_run`)."""
        return self.load_run([LoadPart(schema, dict(frames))], db_schema, run=RunRecord(run_id))

    @abstractmethod
    def held_runs(self, db_schema: str) -> dict[str, dict | None]:
        """{"current": run record, "previous": run record} of the 団体's target (None where absent)."""

    @abstractmethod
    def rollback(self, db_schema: str, run_id: str, *, runs_dir: Path | None = None,
                 allow_unfinished: bool = False) -> dict[str, dict | None]:
        """Make the previous state (which must hold `run_id`, a run that finished successfully unless
        `allow_unfinished`: check_rollback) current again, in one transaction; the state it replaces
        becomes the previous one. Returns held_runs() after."""

    def cutover_events(self, db_schema: str) -> list[dict]:
        """The target's cut-over record (`ikou_cutover`), oldest first ([] when none: a plug-in target that keeps
        none is never cut over)."""
        return []

    def preflight(self, db_schema: str) -> None:
        """Asked at the run's plan, before a record is read: raise now what the load would meet only after
        extract, map and validate. Changes nothing. A server target is asked for its cut-over record (a wrong
        port, a stopped server, a refused login fail here); a file target overrides it (duckdb_target)."""
        self.cutover_events(db_schema)

    def record_cutover(self, db_schema: str, action: str, run_id: str, *, note: str | None = None, by: str = "",
                       runs_dir: Path | None = None) -> list[dict]:
        """Declare (DECLARED) the run the target holds the one cut over to, or withdraw (WITHDRAWN) the declaration
        in force, as a row of `ikou_cutover`, in one transaction under the target's lease (refused while a run
        holds it), checked there (check_cutover_change). Returns the events after."""
        raise TerminalError(f"{type(self).__name__} cannot record a cut-over (ikou_cutover)",
                            ja=f"{type(self).__name__} は本番切替を記録できません")

    def finish_run(self, db_schema: str, run_id: str, status: str) -> bool:
        """Record the end of a run the target holds (its summary.json's status, `ENDED`) in its
        `ikou_run` record, current or previous; False when no record of the target names it. A target
        kind that does not keep runs' ends (a plug-in target need not) returns False: its runs'
        summary.json tell them, where the runs folder is known (outcome)."""
        return False

    def checksums(self, db_schema: str) -> dict:
        """What the target holds now, as the database itself computes it: {"run": the run record it
        holds (None if none), "method": CHECKSUM_METHOD, "tables": {table: {"rows", "md5"}}} for every
        table of that run (the evidence pack records it; `ikou evidence verify` recomputes it).
        A target kind that cannot says so (a plug-in target need not)."""
        raise TerminalError(f"{type(self).__name__} cannot compute table checksums (needed for an evidence pack)")

    @abstractmethod
    def read_table(self, db_schema: str, name: str) -> pl.DataFrame:
        """A loaded table, whole (for tests and small tables)."""

    @abstractmethod
    def diff_input(self, db_schema: str, name: str, out: Path) -> str | Path:
        """A loaded table as the parallel-run diff reads it (reports.diff.read_table), never whole in
        memory: a `URL#schema.table` it reads in place, or a Parquet file written at `out`."""


TARGETS: dict[str, type[TargetDatabase]] = {}   # URL scheme → its class


def register_target(cls: type[TargetDatabase]) -> type[TargetDatabase]:
    """Class decorator: serve `cls.schemes` with `cls`."""
    if not cls.schemes:
        raise ValueError(f"{cls.__name__} declares no URL schemes")
    for scheme in cls.schemes:
        if TARGETS.get(scheme, cls) is not cls:
            raise ValueError(f"URL scheme {scheme!r} is served by {TARGETS[scheme].__name__} already")
        TARGETS[scheme] = cls
    return cls


def url_scheme(url: str) -> str:
    """`postgresql+psycopg://…` → `postgresql`; '' when the text is not a URL."""
    return url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""


def target_for(url: str) -> TargetDatabase:
    """The target database for `url`. The message never repeats the URL (it may hold a password)."""
    cls = TARGETS.get(url_scheme(url))
    if cls is None:
        scheme = url_scheme(url)
        what = f"URL scheme {scheme!r}" if scheme else "a text that is not a URL (scheme://…)"
        raise ConfigError(f"no target database for {what}; known schemes: {sorted(TARGETS)}")
    return cls(url)


# What the SQL targets share: the DDL (compiled by SQLAlchemy) and the load log's time stamp.

def create_statements(schema: TargetSchema, db_schema: str, names: list[str], dialect, *,
                      keys_after: bool = False) -> list[str]:
    """DROP/CREATE for each table (CREATE IF NOT EXISTS for the load log). With keys_after, primary
    keys are left out, for the target to add once the rows are in."""
    tables = sa_tables(schema, db_schema, names)
    stmts = []
    for t in tables.values():
        if t.name == "ikou_load_log":
            stmts.append(str(CreateTable(t, if_not_exists=True).compile(dialect=dialect)))
        else:
            stmts.append(str(DropTable(t, if_exists=True).compile(dialect=dialect)))
            create = CreateTable(t, include_foreign_key_constraints=[])
            sql = str(create.compile(dialect=dialect))
            if keys_after and t.primary_key.columns:
                sql = re.sub(r",\s*PRIMARY KEY \([^)]*\)", "", sql)
            stmts.append(sql)
    return stmts


# One SQL statement per table, the same in DuckDB and PostgreSQL but for the row's JSON (`{json}`):
# the MD5 of each row's JSON text (column names and values, NULL distinct from ''), then the MD5 of
# those, ordered, joined: independent of physical order, changed by any byte of any row.
CHECKSUM_METHOD = "md5(string_agg(md5(row as JSON text) ORDER BY it)), computed by the target database"
CHECKSUM_SQL = ("SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) "
                "FROM (SELECT md5({json}) AS h FROM {table} AS ikou_row) AS ikou_rows")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# The lease a run holds on its target from its load until its end is recorded (finish_run), or its process
# dies: without it, a run from another runs folder could load between this run's COMMIT and its
# summary.json and drop it as "unfinished". One per (target, schema) in a process, re-entrant: a load
# retried, a rollback or a second load in the same process goes on under it. Each target kind takes it
# its own way (a PostgreSQL session-level advisory lock, a file lock beside a DuckDB file): `acquire()`
# returns the function that releases it, or raises TargetBusy naming the holder.
_LEASES: dict[tuple[str, str], list] = {}   # (url, schema) → [release, times taken]
_LEASES_LOCK = threading.Lock()


def lease_held(url: str, db_schema: str) -> bool:
    """Whether this process holds the lease on the target (its own run: no other lock needed)."""
    with _LEASES_LOCK:
        return (url, db_schema) in _LEASES


def take_lease(url: str, db_schema: str, acquire) -> None:
    """Hold the target's lease (`acquire()` when this process does not hold it yet)."""
    with _LEASES_LOCK:
        held = _LEASES.get((url, db_schema))
        if held is not None:
            held[1] += 1
            return
        _LEASES[(url, db_schema)] = [acquire(), 1]


def release_lease(url: str, db_schema: str, *, all_of_it: bool = False) -> None:
    """Give back one taking of the lease (a load that did not commit), or all of it (the run's end is
    recorded); released once nothing in the process holds it. Never raises."""
    with _LEASES_LOCK:
        held = _LEASES.get((url, db_schema))
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0 and not all_of_it:
            return
        del _LEASES[(url, db_schema)]
    try:
        held[0]()
    except Exception:  # noqa: BLE001 - a lost connection or a closed file frees it as well
        pass


def _release_all_leases() -> None:
    """At exit: each lease given back in order (the OS or server would free it, but a driver's connection
    left to the garbage collector complains while the interpreter shuts down)."""
    for url, db_schema in list(_LEASES):
        release_lease(url, db_schema, all_of_it=True)


atexit.register(_release_all_leases)
