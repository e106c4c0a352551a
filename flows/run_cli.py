"""`ikou run --config CONFIG.yaml` and `ikou demo`: run the migration flow and name its run folder.

Whatever fails, the command prints one line (Japanese and English) naming the stage and what to
fix, then the run folder (with its summary.json) as the last line, and exits 2; tracebacks only
with `--debug`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import traceback
from pathlib import Path

from ikou import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample"
DEMO_CONFIGS = {
    "a": SAMPLE / "demo_vendor_a_all.yaml",      # 住民記録 + 個人住民税 from vendor A's files (default)
    "a-juki": SAMPLE / "demo_vendor_a.yaml",     # 住民記録 only
    "b": SAMPLE / "demo_vendor_b.yaml",          # 住民記録 from vendor B's tables in a database
    "c": SAMPLE / "demo_vendor_c.yaml",          # 住民記録 from vendor C's normalized database (8 tables)
}
DEMO_POSTGRES = os.environ.get("IKOU_DEMO_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# Prefect's temporary server gets 20 s to start by default; on a busy two-core machine (another run, a test
# suite) it took longer, and the run failed before reading anything
EPHEMERAL_STARTUP_SECONDS = "120"
_EPHEMERAL_TIMEOUT = "Timed out while attempting to connect to ephemeral Prefect API server"


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_SECONDS)


class _NoTraceback(logging.Filter):
    """Prefect logs a failed task with its traceback; the command line shows one clear line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def _tracebacks_off() -> None:
    names = ["", *[n for n in logging.Logger.manager.loggerDict if n.startswith("prefect")]]
    for name in names:
        for h in logging.getLogger(name).handlers:
            if not any(isinstance(f, _NoTraceback) for f in h.filters):
                h.addFilter(_NoTraceback())


class PlanRefused(Exception):
    """The run's plan failed before Prefect started (flows.pipeline.checked_plan): its record is in `run_dir`
    (summary.json: status failed, stage plan); the error that failed it is the cause."""

    def __init__(self, run_dir: Path, summary):
        super().__init__(summary.error.message)
        self.run_dir, self.summary = run_dir, summary


class PrefectUnreachable(Exception):
    """The Prefect API could not be reached before the flow began: not the config's failure."""

    ja = "Prefect に接続できません (PREFECT_API_URL を確認してください。未設定なら一時サーバーを使います)"

    def __init__(self, run_dir: Path, cause: BaseException):
        from ikou.errors import one_line

        if _EPHEMERAL_TIMEOUT in str(cause):   # the temporary server did not come up in time (a busy machine)
            self.ja = ("Prefect の一時サーバーが時間内に起動しませんでした (再実行するか、"
                       "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS を大きくするか、ikou server start で常駐"
                       "サーバーを起動して PREFECT_API_URL を設定してください)")
            super().__init__("Prefect's temporary server did not start in time: run again, raise "
                             "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or start a standing server "
                             "(ikou server start) and set PREFECT_API_URL")
        else:
            super().__init__(f"cannot reach the Prefect API ({one_line(cause)}): check PREFECT_API_URL "
                             "(unset, a temporary server is started)")
        self.run_dir = run_dir


def _prefect_unreachable(exc: BaseException) -> bool:
    import httpx

    while exc is not None:
        if (isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) or "Failed to reach API" in str(exc)
                or _EPHEMERAL_TIMEOUT in str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


_API_LOST = False   # the Prefect API was lost at the end of a cancelled run (flows.run_cli.start)


def _prefect_quiet() -> None:
    """At the first cancel: no more retries of Prefect's API, no logs sent to it. A terminal's Ctrl-C reaches
    the whole process group, Prefect's temporary server too; retrying it held the 団体's lock for minutes.
    The settings are read from the live settings object (set at import; the environment is not read again)."""
    if "prefect" not in sys.modules:
        return
    from prefect.context import get_settings_context

    settings = get_settings_context().settings
    settings.client.max_retries = 0
    settings.logging.to_api.enabled = False
    # the logs already queued for the API fail to send: Prefect's worker writes that to stderr only while
    # logging.raiseExceptions (stdlib's switch for handler errors); the run's record and run.log are ours
    logging.raiseExceptions = False


def start(config: Path, *, run_id: str | None = None, target_url: str | None = None, debug: bool = False,
          keep_stages: bool = False, evidence: bool = False,
          verbose: bool = False, progress: bool = True):
    """Run the flow for `config`; return (its final Prefect state, the run folder). Logs go to the run
    folder's run.log (and the terminal with `verbose`); progress lines show on a terminal (flows.terminal).
    A spec error (or an unreadable evidence key) is refused before Prefect starts: PlanRefused, with the
    run's record written. A cancel before the flow began leaves its record too (stage plan): state None."""
    global _API_LOST
    _quiet_prefect()
    from ikou import cancel

    cancel.install()   # from the first moment: a scheduler's SIGTERM right after launch ends in one line
    cancel.on_request(_prefect_quiet)
    from ikou.config import load_config, with_target_url
    from ikou.context import check_run_id, new_run, new_run_id

    if run_id is not None:   # a folder name under the 団体's runs: never a path of its own
        check_run_id(run_id)
    cfg = load_config(config)
    if target_url:   # as the flow applies it: a URL refused here is the config's failure, before Prefect
        cfg = with_target_url(cfg, target_url)
    run_id = run_id or new_run_id(cfg.rehearsal)
    # before anything is written (run.log, the flow's folders): the 団体's folder, this run's folder,
    # _cache, crosswalk and moji_ledger are real folders inside runs_dir/<団体>, and every spec file the
    # run reads names no other 団体
    from ikou.context import RunContext

    ctx = RunContext(dantai_code=cfg.dantai.code, run_id=run_id, runs_dir=cfg.runs_dir,
                     rehearsal=cfg.rehearsal, dantai_name=cfg.dantai.name)
    run_dir = ctx.run_dir
    from ikou.runlock import dantai_lock

    # a run id names one run: a folder holding anything is refused, and the flow takes the one claimed here
    # (ikou.context.new_run); one run of a 団体 at a time, refused before anything is written or Prefect starts
    # (the flow takes the lock again); the plan checked before Prefect starts (the flow checks it again)
    began = False   # run.log opened, the flow called: from then on a failure is this run's, never the config's
    try:
        with new_run(run_dir), dantai_lock(ctx.dantai_dir, run_id):
            try:   # the plan check and Prefect's import take a second or two: a cancel there is recorded (stage plan)
                cancel.checkpoint("plan")
                if evidence or cfg.evidence:
                    _check_evidence_key(cfg, ctx)
                _check_plan(cfg, ctx)
                from ikou.flows import terminal
                from ikou.flows.migrate import hand_over, migration_flow
            except KeyboardInterrupt:
                _cancelled_record(cfg, run_dir, "plan", "cancelled before the flow started; nothing was read or loaded",
                                  "開始前に中断しました (何も読み込み・投入していません)")
                return None, run_dir

            began = True
            with terminal.logs_to(run_dir, verbose=verbose):
                if debug:
                    os.environ["IKOU_DEBUG"] = "1"
                else:
                    _tracebacks_off()
                try:
                    with terminal.shown(progress):
                        cancel.checkpoint("start")   # Prefect's server may take seconds to start: a cancel there too
                        # a password in --target-url never becomes a flow parameter (Prefect stores and shows them)
                        state = migration_flow(config_path=str(Path(config).resolve()), run_id=run_id,
                                               target_url=hand_over(target_url), keep_stages=keep_stages,
                                               return_state=True)
                except KeyboardInterrupt:   # before or after the flow's own handling: nothing was loaded by this run
                    state = None
                except Exception as exc:   # noqa: BLE001 - see below
                    # a terminal's Ctrl-C (or `timeout`, systemd) signals the whole process group: Prefect's temporary
                    # server stops with the run, and reporting the flow's end to it fails later. The run was cancelled
                    # (its folder says so), not a config failure
                    _API_LOST = _prefect_unreachable(exc)
                    if not cancel.requested():
                        if _prefect_unreachable(exc) and not (run_dir / "summary.json").exists():
                            raise PrefectUnreachable(run_dir, exc) from exc
                        raise
                    state = None
    except (PlanRefused, PrefectUnreachable):
        raise
    except Exception as exc:
        if not began:
            raise
        raise RunBroken(run_dir, exc) from exc
    return state, run_dir


class RunBroken(Exception):
    """A failure once the run had begun (run.log open, the flow called) that the flow did not record: closing
    run.log on a full disk, Prefect's API lost after the flow. The run's own (its folder `run_dir`), never
    the config's: no second run folder is made for it."""

    def __init__(self, run_dir: Path, cause: BaseException):
        super().__init__(str(cause))
        self.run_dir = run_dir


def _check_evidence_key(cfg, ctx) -> None:
    """A run that asks for its evidence pack (--evidence, `evidence: true`) is refused at plan when the signing
    key (IKOU_EVIDENCE_KEY) cannot be read: found only after the load, the migration was done but its pack not."""
    from ikou.flows import pipeline as P
    from ikou.reports.evidence import load_signing_key
    from ikou.reports.summary import now

    started = now()
    try:
        load_signing_key()
    except Exception as exc:   # noqa: BLE001 - recorded as a plan failure, one line
        summary = P.record(cfg, ctx, [], [], started=started, status="failed", error=P.run_error("plan", exc))
        raise PlanRefused(ctx.run_dir, summary) from exc


def _check_plan(cfg, ctx) -> None:
    """The flow's plan (flows.pipeline.checked_plan), before Prefect starts: a mapping with an unknown op, a
    schema the mapping does not fit, a rule naming a column the schema lacks … end here with the record the
    flow would write (stage plan), raised as PlanRefused. A spec file in another 団体's tree (IsolationError)
    is refused as the config is: no record beyond summary.json, and no copy of that file."""
    from ikou.errors import IsolationError
    from ikou.flows import pipeline as P
    from ikou.reports.summary import now

    started = now()
    try:
        P.checked_plan(cfg)
    except IsolationError:
        raise
    except Exception as exc:   # noqa: BLE001 - every spec error ends with the run's record and one line
        summary = P.record(cfg, ctx, [], [], started=started, status="failed", error=P.run_error("plan", exc))
        raise PlanRefused(ctx.run_dir, summary) from exc


def run_config(config: Path, *, run_id: str | None = None, target_url: str | None = None) -> dict:
    """Run the flow; return its summary, or raise the error that failed it."""
    try:
        state, _ = start(config, run_id=run_id, target_url=target_url)
    except PlanRefused as refused:
        raise refused.__cause__ from None
    return state.result()


def prepare_demo_legacy_db(config: Path) -> None:
    """Vendor B's tables live in a database: build the demo's legacy DuckDB from the sample CSV."""
    from ikou.config import load_config
    from ikou.sample.legacy_db import install_vendor_table

    cfg = load_config(config)
    for s in cfg.sources:
        if s.kind == "database":
            if s.url.startswith("duckdb:///"):   # a fresh clone has no runs/legacy folder yet
                Path(s.url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
            if s.table is None:   # vendor C: the mapping names its tables
                from ikou.sample.legacy_db import install_vendor_c
                install_vendor_c(SAMPLE / "vendor_c", s.url, schema=s.schema_)
                continue
            csv = SAMPLE / "vendor_b" / f"{s.table}.csv"
            install_vendor_table(csv, s.url, s.table, schema=s.schema_)


def _legacy_on_postgres(config: Path) -> Path:
    """The demo config with its legacy database on PostgreSQL (schema legacy_vendor_c) when reachable:
    written to runs/legacy/ with absolute paths. Otherwise the config itself (a DuckDB file)."""
    import sqlalchemy as sa
    import yaml

    from ikou.config import load_config

    engine = sa.create_engine(DEMO_POSTGRES)
    try:
        with engine.connect():
            pass
    except Exception:   # noqa: BLE001 - not reachable: the DuckDB file it is
        return config
    finally:
        engine.dispose()
    cfg = load_config(config)
    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    for raw, s in zip(doc["sources"], cfg.sources):
        raw.update(url=DEMO_POSTGRES, schema="legacy_vendor_c", mapping=str(s.mapping),
                   **({"gaiji_table": str(s.gaiji_table)} if s.gaiji_table else {}))
    doc.update(runs_dir=str(cfg.runs_dir), inbox=[str(config.parent)], target={"url": cfg.target.url})
    out = cfg.runs_dir / "legacy" / f"{config.stem}_postgres.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    print(f"legacy database: PostgreSQL {DEMO_POSTGRES.split('@')[-1]} (schema legacy_vendor_c)", flush=True)
    return out


def _note(run_dir: Path, **notes) -> None:
    from ikou.flows.migrate import note_in_summary

    note_in_summary(run_dir, **notes)


def _print_result(summary: dict, run_dir: Path, *, last: bool = True) -> None:
    """Counts per table, then the run folder as the very last line (scripts read it): Prefect's
    notice that it stops its temporary server, logged at exit, must not come after it."""
    logging.getLogger("prefect").setLevel(logging.WARNING)
    parallel = summary.get("mode") == "parallel_run"
    for t, c in summary.get("tables", {}).items():
        if c.get("derived"):
            print(f"  {t:<22} derived   loaded={c['loaded']}")
        elif parallel:   # nothing loaded by design: what was validated, compared with the live target
            print(f"  {t:<22} extracted={c['extracted']} quarantined={c['quarantined']} validated={c['validated']} "
                  f"loaded=0 (not loaded: target cut over) warnings={c['warnings']}")
        else:
            print(f"  {t:<22} extracted={c['extracted']} quarantined={c['quarantined']} loaded={c['loaded']} "
                  f"warnings={c['warnings']}")
    for src, c in summary.get("combined", {}).items():   # a multi-table source: joins and crosswalks
        for j in c.get("joins", []):
            print(f"  {src}: join {j['table']} ({j['how']}): unmatched rows {j['unmatched_table_rows']}"
                  + (f", unmatched records {j['unmatched_records']}" if "unmatched_records" in j else ""))
        for name, x in c.get("crosswalks", {}).items():
            if "crosswalk" in x:
                print(f"  {src}: crosswalk {name}: kept {x['kept']}, issued {x['issued']}, total {x['held_total']}")
    print(verdict_line(summary), flush=True)
    if last:
        print(run_dir, flush=True)


def verdict_line(summary: dict) -> str:
    """The one line a finished run prints, Japanese and English: whether anything stops a PM signing it off (the
    first blocker named; all of them in report.html and summary.json `sign_off_blockers`). The exit code stays 0:
    the run did what it was asked; a scheduler reads the blockers from summary.json."""
    blockers = summary.get("sign_off_blockers") or []
    if summary.get("mode") == "parallel_run":   # 並行稼働: the comparison is the result, the target untouched
        cut = (summary.get("cutover") or {}).get("run_id") or "-"
        found = (f"差異・妨げ {len(blockers)} 件: report.html / {len(blockers)} finding(s): report.html" if blockers
                 else "差異・妨げ なし / no findings")
        return (f"ikou: 完了 切替済みのため投入せず比較のみ (本番切替 {cut}) / done: target cut over: compared, not "
                f"loaded (cut over to {cut}); {found}")
    if not blockers:
        return "ikou: 完了 承認の妨げ なし / done: no sign-off blockers"
    more = f" (ほか {len(blockers) - 1} 件 / {len(blockers) - 1} more: report.html)" if len(blockers) > 1 else ""
    return (f"ikou: 完了 承認の妨げ {len(blockers)} 件 / done with {len(blockers)} sign-off blocker(s): "
            f"{blockers[0]}{more}")


def failure_line(error: dict | None, fallback: str) -> str:
    """The one line a failed run prints: stage, Japanese, English."""
    if not error:
        return f"ikou: 失敗しました — failed: {fallback}"
    return (f"ikou: 失敗 ({error.get('stage') or '-'}): {error.get('message_ja') or ''} — "
            f"failed at {error.get('stage') or '-'}: {error['message']}")


def execute(config: Path, *, run_id=None, target_url=None, debug: bool = False, evidence: bool = False,
            verbose: bool = False, quiet: bool = False, keep_stages: bool = False) -> int:
    """Run one config end to end as the command line does; return the exit code."""
    from ikou.errors import message_ja, one_line

    try:   # a bad --run-id is refused by start() before anything is read, and leaves no record (below)
        state, run_dir = start(config, run_id=run_id, target_url=target_url, debug=debug, verbose=verbose,
                               progress=not quiet, keep_stages=keep_stages, evidence=evidence)
    except KeyboardInterrupt:   # before the run had a folder (reading the config): nothing to record
        print("ikou: 中断 (plan): 開始前に中断しました (何も読み込み・投入していません。summary.json は書いていません) — "
              "cancelled at plan: before the run started; nothing was read or loaded (no summary.json written)",
              file=sys.stderr, flush=True)
        return 130
    except PlanRefused as refused:   # a spec error, recorded in the run folder before Prefect started
        if debug:
            traceback.print_exception(refused.__cause__)
        print(failure_line(refused.summary.error.model_dump(), str(refused)), file=sys.stderr, flush=True)
        print(refused.run_dir, flush=True)
        return 2
    except PrefectUnreachable as exc:   # the config is fine: Prefect's API is not there
        if debug:
            traceback.print_exc()
        _failure_record(Path(config), exc.run_dir, "prefect", type(exc.__cause__).__name__, str(exc), exc.ja)
        print(f"ikou: 失敗 (prefect): {exc.ja} — failed at prefect: {exc}", file=sys.stderr, flush=True)
        print(exc.run_dir, flush=True)
        return 2
    except RunBroken as broken:   # the run had begun: its own folder tells it, no other is made
        if debug:
            traceback.print_exception(broken.__cause__)
        return _broken_run(Path(config), broken.run_dir, broken.__cause__)
    except Exception as exc:   # noqa: BLE001 - the config itself failed: no run has started
        if debug:
            traceback.print_exc()
        from ikou.context import RunExists
        from ikou.runlock import RunInProgress

        # another run of the 団体 is going, or the run id names a run already: this one never started, and
        # writes nothing beside the other one, nor into its folder
        run_dir = (None if isinstance(exc, (RunInProgress, RunExists))
                   else _config_failure_record(Path(config), exc, run_id))
        note = "" if run_dir is not None else " (summary.json は書いていません — no summary.json written)"
        print(f"ikou: 失敗 (config): {message_ja(exc)} — failed at config: {one_line(exc)}{note}", file=sys.stderr,
              flush=True)
        if run_dir is not None:
            print(run_dir, flush=True)
        return 2
    from ikou import cancel

    f = run_dir / "summary.json"
    if state is None and not f.is_file() and not _unwritten(run_dir):   # cancelled before the flow wrote anything
        with contextlib.suppress(OSError):   # a full disk: told below
            _cancelled_before_start_record(Path(config), run_dir, target_url)
    summary = _summary_of(run_dir)
    if summary is None:   # the run's record could not be written (a full disk) or read: what this process knows
        failure = state.result(raise_on_failure=False) if state is not None and state.is_failed() else None
        return _unrecorded(Path(config), run_dir, failure if isinstance(failure, BaseException) else None,
                           cancelled=state is None or state.is_cancelled())
    # a cancel that came once the run's record said succeeded (summary.json, the target's end, report): the run
    # is done and stands so, one verdict (summary.json, the target, exit 0); the cancel is named, not hidden
    late_cancel = cancel.requested() is not None and summary.get("status") == "succeeded"
    if late_cancel:
        print(f"ikou: 中断要求 ({cancel.requested()}) は実行の記録の後に届きました (移行は完了しています) — the cancel "
              "came after the run was recorded: it stands as succeeded", file=sys.stderr, flush=True)
    elif state is None or state.is_cancelled() or summary.get("status") == "cancelled":
        logging.getLogger("prefect").setLevel(logging.WARNING)
        err = summary.get("error") or {}
        if _API_LOST:   # Prefect's client may have written half a line: ours starts a fresh one
            print(file=sys.stderr, flush=True)
        print(f"ikou: 中断 ({err.get('stage') or '-'}): {err.get('message_ja') or '中断しました'} — "
              f"cancelled at {err.get('stage') or '-'}: {err.get('message') or 'cancelled'}", file=sys.stderr,
              flush=True)
        print(run_dir, flush=True)
        return 130
    if not late_cancel and (state.is_failed() or summary.get("status") != "succeeded"):
        if debug:
            exc = state.result(raise_on_failure=False)
            if isinstance(exc, BaseException):
                traceback.print_exception(exc)
        logging.getLogger("prefect").setLevel(logging.WARNING)
        print(failure_line(summary.get("error"), state.message or "see summary.json"), file=sys.stderr, flush=True)
        print(run_dir, flush=True)
        return 2
    if late_cancel and (evidence or _config_asks_evidence(config)):
        _note(run_dir, evidence_error="cancelled before the evidence pack was written")
    elif evidence or _config_asks_evidence(config):
        try:
            from ikou.reports.evidence import DEFAULT_PACK, build_pack

            from ikou.config import load_config, with_target_url

            # the run folder records the target's URL without its password: connect with the real one
            cfg = load_config(config)
            url = (with_target_url(cfg, target_url) if target_url else cfg).target.url
            pack = build_pack(run_dir, run_dir / DEFAULT_PACK, target_url=url)
        except Exception as exc:   # noqa: BLE001 - the run is loaded; the pack it asked for is not
            # the migration stands (summary.json succeeded, the target holds it): only the pack failed, recorded
            # as evidence_error; exit 2 all the same (what was asked for is missing): `ikou evidence` makes it later
            _note(run_dir, evidence_error=one_line(exc))
            _print_result(summary, run_dir, last=False)
            print(f"ikou: 移行は完了、証跡パックのみ失敗 (evidence): {message_ja(exc)} — the migration completed; only "
                  f"the evidence pack failed: {one_line(exc)} (summary.json evidence_error)",
                  file=sys.stderr, flush=True)
            print(run_dir, flush=True)
            return 2
        print(f"  証跡パック / evidence pack: {pack}")
    _print_result(summary, run_dir)
    return 0


def _summary_of(run_dir: Path) -> dict | None:
    """The run's summary.json, or None when it is missing or unreadable (a full disk left none, or an older
    ikou's write left it empty)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def _unwritten(run_dir: Path):
    """The summary this process could not write into `run_dir` (ikou.summary.UNWRITTEN), if any."""
    from ikou.summary import UNWRITTEN

    return UNWRITTEN.get(str((run_dir / "summary.json").absolute()))


_STAGE_IN_LOG = re.compile(r"run (?:failed|cancelled|stopped) at (\w+)")


def _stage_in_log(run_dir: Path) -> str | None:
    """The stage run.log names for the run's end (flows.migrate logs it before the record), if it got there."""
    try:
        found = _STAGE_IN_LOG.findall((run_dir / "run.log").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return found[-1] if found else None


def _broken_run(config: Path, run_dir: Path, exc: BaseException) -> int:
    """A failure after the run began that the flow did not record (RunBroken): told as this run's, from its
    record when there is one; the run folder last."""
    from ikou import cancel
    from ikou.errors import message_ja, one_line

    summary = _summary_of(run_dir)
    if summary is None:
        return _unrecorded(config, run_dir, exc)
    err = summary.get("error") or {}
    if summary.get("status") == "cancelled" or (cancel.requested() and summary.get("status") != "succeeded"):
        print(f"ikou: 中断 ({err.get('stage') or '-'}): {err.get('message_ja') or '中断しました'} — "
              f"cancelled at {err.get('stage') or '-'}: {err.get('message') or 'cancelled'}", file=sys.stderr,
              flush=True)
        print(run_dir, flush=True)
        return 130
    if summary.get("status") == "succeeded":   # recorded whole: it stands; what failed after is named
        _print_result(summary, run_dir, last=False)
        print(f"ikou: 実行の記録の後にエラー (移行は完了しています): {message_ja(exc)} — an error after the run was "
              f"recorded (it stands as succeeded): {one_line(exc)}", file=sys.stderr, flush=True)
        print(run_dir, flush=True)
        return 0
    print(failure_line(err, one_line(exc)), file=sys.stderr, flush=True)
    print(run_dir, flush=True)
    return 2


def _unrecorded(config: Path, run_dir: Path, exc: BaseException | None, *, cancelled: bool = False) -> int:
    """The run's summary.json cannot be read (a full disk let none be written): the one line from what this
    process knows (the summary it could not write, else the stage run.log names and the error), a record written
    again when the disk allows it, else said so; the run folder last."""
    from ikou.errors import message_ja, one_line

    kept = _unwritten(run_dir)
    if kept is not None and kept.error is not None:
        error, status = kept.error.model_dump(), kept.status
    else:
        stage = _stage_in_log(run_dir) or "unknown"
        if exc is not None:
            error = {"stage": stage, "kind": type(exc).__name__, "message": one_line(exc),
                     "message_ja": message_ja(exc)}
        else:
            error = {"stage": stage, "kind": "Cancelled" if cancelled else "RecordMissing",
                     "message": ("cancelled; " if cancelled else "") + "the run's record (summary.json) is missing: "
                                "check the target with `ikou rollback --list` and see run.log",
                     "message_ja": ("中断しました。" if cancelled else "") + "実行の記録 (summary.json) がありません "
                                   "(ikou rollback --list で移行先を、run.log を確認)"}
        status = "cancelled" if cancelled else "failed"
    note = ""
    try:
        if kept is not None:
            kept.write(run_dir / "summary.json")
        elif cancelled:
            from ikou.config import load_config

            _cancelled_record(load_config(config), run_dir, error["stage"], error["message"], error["message_ja"])
        else:
            _failure_record(config, run_dir, error["stage"], error["kind"], error["message"], error["message_ja"])
    except Exception as werr:   # noqa: BLE001 - the line below says so
        note = (f" (summary.json を書けませんでした: {message_ja(werr)} — summary.json could not be written: "
                f"{one_line(werr)})")
    if status == "cancelled":
        print(f"ikou: 中断 ({error.get('stage') or '-'}): {error.get('message_ja') or '中断しました'} — cancelled at "
              f"{error.get('stage') or '-'}: {error.get('message') or 'cancelled'}{note}", file=sys.stderr, flush=True)
        print(run_dir, flush=True)
        return 130
    print(failure_line(error, "see run.log") + note, file=sys.stderr, flush=True)
    print(run_dir, flush=True)
    return 2


def _config_asks_evidence(config: Path) -> bool:
    from ikou.config import load_config

    return load_config(config).evidence


def _cancelled_before_start_record(config: Path, run_dir: Path, target_url: str | None = None) -> None:
    """A cancel (Ctrl-C, SIGTERM) the flow did not record leaves summary.json too (status cancelled): the run
    folder is the record whatever stopped the run. "Nothing was read or loaded" (stage start) only when that is
    so: the folder holds nothing but run.log and the target does not name this run. Otherwise the run got
    further than its record says (a signal broke the writing of it): say so, and where to look."""
    from ikou.config import load_config, with_target_url

    cfg = load_config(config)
    if target_url:
        cfg = with_target_url(cfg, target_url)
    if _target_names(cfg, run_dir.name):
        _cancelled_record(cfg, run_dir, "unknown",
                          "cancelled; the target holds this run, but its record was not finished: check it with "
                          "`ikou rollback --list`",
                          "中断しました (移行先にはこの実行のデータが反映済み。記録は未完了: ikou rollback --list で確認)")
    elif run_dir.is_dir() and any(p.name != "run.log" for p in run_dir.iterdir()):
        _cancelled_record(cfg, run_dir, "unknown",
                          "cancelled; the run had begun (its folder holds stage output) and how far it got is "
                          "unknown: check the target with `ikou rollback --list`",
                          "中断しました (処理は開始済み。どこまで進んだか不明: ikou rollback --list で移行先を確認)")
    else:
        _cancelled_record(cfg, run_dir, "start", "cancelled before the flow started; nothing was read or loaded",
                          "開始前に中断しました (何も読み込み・投入していません)")


def _target_names(cfg, run_id: str) -> bool:
    """Whether the target holds `run_id` (read only; unreadable: not known to)."""
    try:
        from ikou.loaders import held_runs

        current = held_runs(cfg.target.url, cfg.target_schema)["current"]
    except Exception:   # noqa: BLE001 - a target that cannot be read (or does not exist) names no run
        return False
    return bool(current) and current.get("run_id") == run_id


def _cancelled_record(cfg, run_dir: Path, stage: str, message: str, message_ja: str) -> None:
    from ikou.reports.summary import now
    from ikou.summary import RunError, RunSummary

    error = RunError(kind="Cancelled", stage=stage, message=message, message_ja=message_ja)
    run_dir.mkdir(parents=True, exist_ok=True)
    RunSummary(dantai=cfg.dantai.code, dantai_name=cfg.dantai.name, run_id=run_dir.name, rehearsal=cfg.rehearsal,
               gyomu=list(cfg.gyomu), status="cancelled", started_at=now(), finished_at=now(), error=error,
               sign_off_blockers=["run cancelled"]).write(run_dir / "summary.json")


def _failure_record(config: Path, run_dir: Path, stage: str, kind: str, message: str, message_ja: str) -> None:
    """summary.json (status failed) of a run that failed before its flow began, for a reason not its config's."""
    from ikou.config import load_config
    from ikou.reports.summary import now
    from ikou.summary import RunError, RunSummary

    cfg = load_config(config)
    error = RunError(kind=kind, stage=stage, message=message, message_ja=message_ja)
    run_dir.mkdir(parents=True, exist_ok=True)
    RunSummary(dantai=cfg.dantai.code, dantai_name=cfg.dantai.name, run_id=run_dir.name, rehearsal=cfg.rehearsal,
               gyomu=list(cfg.gyomu), status="failed", started_at=now(), finished_at=now(), error=error,
               sign_off_blockers=[f"run failed: {kind}"]).write(run_dir / "summary.json")


def _config_failure_record(config: Path, exc: BaseException, run_id: str | None) -> Path | None:
    """A config that does not validate still leaves summary.json (status failed, stage config) when
    its 団体コード can be read and its runs folder (and the run id given) pass the checks a valid config's
    do: the run folder is the record, whatever failed. Otherwise nothing is written (None): a config
    refused for pointing into another 団体's tree must not write there either."""
    import re

    from ikou.checkdigit import is_valid_dantai_code
    from ikou.config import has_control_character, path_names_dantai
    from ikou.context import RUN_ID, check_dantai_folders, new_run_id
    from ikou.errors import message_ja, one_line
    from ikou.reports.summary import now
    from ikou.spec import read_yaml
    from ikou.summary import RunError, RunSummary

    try:
        raw = read_yaml(config)
        dantai = raw.get("dantai") or {}
        code = str(dantai.get("code", ""))
        if not is_valid_dantai_code(code):
            return None
        if has_control_character(str(raw.get("runs_dir") or "")):
            return None   # RunConfig refuses it too: no folder named with a line break
        runs_dir = Path(str(raw.get("runs_dir") or "runs"))
        runs_dir = (runs_dir if runs_dir.is_absolute() else (config.resolve().parent / runs_dir)).resolve()
        if path_names_dantai(runs_dir, code):
            return None   # RunConfig refuses it too: another 団体's tree, or its code in a folder's name
        if run_id is not None and not RUN_ID.fullmatch(run_id):
            return None
        rehearsal = str(raw.get("rehearsal") or "R0")
        rehearsal = rehearsal if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", rehearsal) else "R0"
        run_id = run_id or new_run_id(rehearsal)
        check_dantai_folders(runs_dir, code, run_id)   # no record through a link into another 団体's folder
        run_dir = runs_dir / code / run_id
        if (run_dir / "summary.json").exists():   # another run's record (a reused --run-id): never replaced
            return None
        run_dir.mkdir(parents=True, exist_ok=True)
        error = RunError(kind=type(exc).__name__, stage="config", message=one_line(exc), message_ja=message_ja(exc))
        RunSummary(dantai=code, dantai_name=str(dantai.get("name") or ""), run_id=run_id, rehearsal=rehearsal,
                   status="failed", started_at=now(), finished_at=now(), error=error,
                   sign_off_blockers=[f"run failed: {error.kind}"]).write(run_dir / "summary.json")
        return run_dir
    except Exception:   # noqa: BLE001 - the one line above is the record then
        return None


def _run(args) -> int:
    return execute(Path(args.config), run_id=args.run_id, target_url=args.target_url, debug=args.debug,
                   evidence=args.evidence, verbose=args.verbose, quiet=args.quiet, keep_stages=args.keep_stages)


def _demo(args) -> int:
    config = DEMO_CONFIGS[args.vendor]
    if args.vendor == "c":
        config = _legacy_on_postgres(config)
    prepare_demo_legacy_db(config)
    return execute(config, target_url=args.target_url, debug=args.debug, verbose=args.verbose, quiet=args.quiet)


def _purge(args) -> int:
    import datetime as dt

    from ikou.checkdigit import is_valid_dantai_code
    from ikou.config import load_config
    from ikou.errors import ConfigError
    from ikou.retention import purge

    if not is_valid_dantai_code(args.dantai):
        raise ConfigError(f"--dantai {args.dantai!r} is not a 団体コード (6 digits with check digit)")
    if args.config:   # as rollback: the config must be this 団体's own (its runs folder is the one purged)
        cfg = load_config(args.config)
        if cfg.dantai.code != args.dantai:
            raise ConfigError(f"{args.config} is the config of 団体 {cfg.dantai.code}, not {args.dantai}")
        runs_dir = cfg.runs_dir
    else:
        runs_dir = Path(args.runs_dir)
    try:
        before = dt.date.fromisoformat(args.before)
    except ValueError:
        raise ConfigError(f"--before {args.before!r} is not a date (YYYY-MM-DD)") from None
    r = purge(runs_dir / args.dantai, before)
    print(f"個人データを含む中間ファイルを削除しました / purged: {len(r['runs'])} run(s), {r['files']} file(s), "
          f"{r['bytes'] / 1e6:.1f} MB, {r['cache_entries']} cache entr(ies) before {r['before']}")
    for run_id, reason in sorted((r.get("skipped") or {}).items()):
        print(f"対象外 / skipped: {run_id}: {reason}")
    if r.get("cache_skipped"):
        print(f"抽出キャッシュは対象外 / extract cache skipped: {r['cache_skipped']}")
    return 0


def _target_of(args):
    """(URL, schema) of a 団体's target: from --config, or --target-url (+ --schema)."""
    from ikou.checkdigit import is_valid_dantai_code
    from ikou.config import load_config, with_target_url
    from ikou.errors import ConfigError

    if not is_valid_dantai_code(args.dantai):
        raise ConfigError(f"--dantai {args.dantai!r} is not a 団体コード (6 digits with check digit)")
    if args.config:
        cfg = load_config(args.config)
        if args.target_url:
            cfg = with_target_url(cfg, args.target_url)
        if cfg.dantai.code != args.dantai:
            raise ConfigError(f"{args.config} is the config of 団体 {cfg.dantai.code}, not {args.dantai}")
        return cfg.target.url, cfg.target_schema
    if not args.target_url:
        raise ConfigError("give --config CONFIG.yaml or --target-url URL")
    from ikou.loaders.sql import role_of

    schema = args.schema or f"dantai_{args.dantai}"
    if role_of(schema) != f"ikou_dantai_{args.dantai}":
        raise ConfigError(f"--schema {schema!r} is not a schema of 団体 {args.dantai}")
    return args.target_url, schema


def _rollback(args) -> int:
    url, schema = _target_of(args)
    if args.list:
        return _rollback_list(args, url, schema)
    with _rollback_lock(args):
        return _rollback_locked(args, url, schema)


def _rollback_list(args, url: str, schema: str) -> int:
    """The runs the target holds (what it holds now, and the previous state `--to` may restore), with how
    each ended; read only."""
    from ikou.config import load_config
    from ikou.loaders import held_runs
    from ikou.loaders.targets import shown

    runs_dir = Path(load_config(args.config).runs_dir) / args.dantai if args.config else None
    held = held_runs(url, schema)
    print(f"{schema}: 現在 / current: {shown(held['current'], runs_dir)}")
    print(f"{schema}: 前の状態 (--to で戻せる) / previous (what --to restores): {shown(held['previous'], runs_dir)}")
    from ikou.loaders import cutover

    cut = cutover(url, schema)
    if cut is not None:   # a cut-over target is never rolled back: said where the way back is listed
        print(f"{schema}: 本番切替済み (ロールバック不可) / cut over (no rollback): run {cut['run_id']} at {cut['at']}")
    return 0


def _rollback_lock(args):
    """A rollback waits for no run: it is refused while a run of the 団体 holds its runs folder (known when
    a --config names it; PostgreSQL also serialises the swap itself, loaders.postgres_target)."""
    import contextlib

    if not getattr(args, "config", None):
        return contextlib.nullcontext()
    from ikou.config import load_config
    from ikou.runlock import dantai_lock

    cfg = load_config(args.config)
    return dantai_lock(Path(cfg.runs_dir) / cfg.dantai.code, f"rollback to {args.to}")


def _rollback_locked(args, url: str, schema: str) -> int:
    from ikou.config import load_config
    from ikou.loaders import held_runs, rollback
    from ikou.loaders.targets import check_rollback, shown

    # read first, without creating anything: a target (file, role, schema) that holds no run, or not
    # `--to` as its previous state, or a run that did not finish (unless --allow-unfinished), is refused in
    # one line before a rollback opens it for writing; the runs' summary.json are looked for with --config
    runs_dir = Path(load_config(args.config).runs_dir) / args.dantai if args.config else None
    before = held_runs(url, schema)
    from ikou.loaders import cutover_events
    from ikou.loaders.targets import check_not_cut_over

    # a cut-over target is live: going back would lose what users changed since (the target checks it again)
    check_not_cut_over(schema, cutover_events(url, schema), doing="rollback", run_id=args.to)
    check_rollback(schema, args.to, before["current"], before["previous"], runs_dir=runs_dir,
                   allow_unfinished=args.allow_unfinished)
    held = rollback(url, schema, args.to, runs_dir=runs_dir, allow_unfinished=args.allow_unfinished)
    print(f"{schema}: 実行 {held['current']['run_id']} の状態に戻しました / now holds run "
          f"{shown(held['current'], runs_dir)} (the run it replaced, "
          f"{held['previous']['run_id'] if held['previous'] else '-'}, is kept as previous)")
    return 0


CUTOVER_HISTORY = "cutover_history.jsonl"   # in runs/<団体>/: each declaration and withdrawal made from there
NOTE_MAX_CHARS = 200


def _cutover(args) -> int:
    """`ikou cutover`: declare the run the target holds the one cut over to (本番切替), list the record, or
    withdraw a mistaken declaration; each a row of the target's `ikou_cutover` (loaders.declare_cutover)."""
    url, schema = _target_of(args)
    if args.list:
        return _cutover_list(url, schema)
    from ikou.errors import UsageError
    from ikou.privacy import check_free_text

    if not args.run_id:
        raise UsageError("--run-id RUN is required: the run the target holds (declare) or the declaration in force "
                         "(withdraw), a guard against naming the wrong one; `ikou cutover --list` shows them",
                         ja="--run-id で実行を指定してください (宣言: 移行先が保持する実行、取消: 宣言中の実行)。"
                            "誤った実行を指定しないための確認です (ikou cutover --list で確認できます)")
    note = args.note
    if note is not None and ("\n" in note or "\r" in note or len(note) > NOTE_MAX_CHARS):
        raise UsageError(f"--note must be one line of at most {NOTE_MAX_CHARS} characters",
                         ja=f"--note は {NOTE_MAX_CHARS} 文字以内の1行にしてください")
    check_free_text(note, "--note")   # never a 個人番号: the note is kept in the target and shown by --list
    runs_dir = _runs_dir_of(args)
    with _cutover_lock(args):
        from ikou.loaders import declare_cutover, withdraw_cutover

        if args.withdraw:
            events = withdraw_cutover(url, schema, args.run_id, note=note, by=_who())
            print(f"{schema}: 本番切替の宣言 (実行 {args.run_id}) を取り消しました (記録済み) / cut-over to run "
                  f"{args.run_id} withdrawn (recorded): runs load into the target again")
        else:
            events = declare_cutover(url, schema, args.run_id, note=note, by=_who(), runs_dir=runs_dir)
            print(f"{schema}: 実行 {args.run_id} で本番切替を宣言しました。以後 ikou run は投入せず比較のみ、"
                  f"ロールバック不可 / cut over to run {args.run_id}: from now on `ikou run` compares only (parallel "
                  "run) and the target is never rolled back")
        _cutover_history(runs_dir, schema, events[-1])
    return 0


def _cutover_list(url: str, schema: str) -> int:
    """The target's cut-over record, oldest first, and the declaration in force (read only)."""
    from ikou.loaders import cutover_events
    from ikou.loaders.targets import in_force

    events = cutover_events(url, schema)
    for e in events:
        what = "宣言 / declared" if e["action"] == "declared" else "取消 / withdrawn"
        print(f"{schema}: {e['at']} {what}: run {e['run_id']}" + (f" by {e['by']}" if e.get("by") else "")
              + (f" ({e['note']})" if e.get("note") else ""))
    cut = in_force(events)
    print(f"{schema}: " + (f"本番切替済み / cut over: run {cut['run_id']} at {cut['at']} (ikou run compares only)" if cut
                           else "本番切替なし / not cut over (ikou run loads)"))
    return 0


def _runs_dir_of(args) -> Path | None:
    from ikou.config import load_config

    return Path(load_config(args.config).runs_dir) / args.dantai if args.config else None


def _cutover_lock(args):
    """As a rollback: refused while a run of the 団体 holds its runs folder (known with --config); the target's
    own lease refuses it while any run holds the target, from whatever runs folder."""
    import contextlib

    if not getattr(args, "config", None):
        return contextlib.nullcontext()
    from ikou.config import load_config
    from ikou.runlock import dantai_lock

    cfg = load_config(args.config)
    return dantai_lock(Path(cfg.runs_dir) / cfg.dantai.code, f"cutover {args.run_id}")


def _who() -> str:
    """Who records a cut-over event: the OS login and host (the staff member's account, never a resident's data)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:   # noqa: BLE001 - no login name (a container): the host alone
        user = "?"
    return f"{user}@{socket.gethostname()}"


def _cutover_history(runs_dir: Path | None, schema: str, event: dict) -> None:
    """The event also in the runs folder's history (runs/<団体>/cutover_history.jsonl), when the command knows
    the folder (--config) and it exists as a folder of its own; the target's record is the one that counts."""
    if runs_dir is None or not runs_dir.is_dir() or runs_dir.is_symlink():
        return
    line = json.dumps({"schema": schema, **{k: event.get(k) for k in ("seq", "action", "run_id", "at", "by", "note")}},
                      ensure_ascii=False)
    with open(runs_dir / CUTOVER_HISTORY, "a", encoding="utf-8") as f:
        f.write(line + "\n")


EXIT_CODES = """exit codes (終了コード):
  0    done, with or without sign-off blockers (summary.json sign_off_blockers) / 完了 (承認の妨げがあっても)
  2    failed or refused (config, plan, a stage, another run of the 団体 in progress, a bad option); also when
       the migration completed and only its evidence pack failed (summary.json evidence_error)
       / 失敗・拒否 (証跡パックのみの失敗も)
  130  cancelled (Ctrl-C, SIGTERM): summary.json status cancelled / 中断
the run folder (with summary.json) is the last line of stdout whenever one was written"""


def _terminal_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress lines (none either when not on a terminal)")
    p.add_argument("--verbose", action="store_true",
                   help="Prefect's and ikou's logs on the terminal too (always in RUN_DIR/run.log)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a migration (one 団体 × 業務 × rehearsal) from a config file",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES)
    p.add_argument("--config", required=True, help="run configuration YAML")
    p.add_argument("--run-id", default=None,
                   help="the new run's id, of the form 20261129T221752Z-R1-749c, not used before (default: new, "
                        "time-sorted)")
    p.add_argument("--target-url", default=None, help="override the config's target database URL")
    p.add_argument("--debug", action="store_true", help="show tracebacks of failures")
    p.add_argument("--evidence", action="store_true",
                   help="after a successful run, write its evidence pack RUN_DIR/evidence.zip (as `evidence: true`)")
    p.add_argument("--keep-stages", action="store_true",
                   help="also write the mapped rows (RUN_DIR/map/) the one pass keeps in memory, for an audit or "
                        "debugging (as `keep_stages: true`)")
    _terminal_options(p)
    p.set_defaults(func=_run)
    d = sub.add_parser("demo", help="migrate the sample 団体 (架空市) end to end into DuckDB",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES)
    d.add_argument("--vendor", choices=sorted(DEMO_CONFIGS), default="a",
                   help="a: vendor A's 中間標準レイアウト files, 住民記録 + 個人住民税 (default); "
                        "a-juki: 住民記録 only; b: vendor B's tables in a database; "
                        "c: vendor C's normalized database (PostgreSQL when reachable, else DuckDB)")
    d.add_argument("--target-url", default=None, help="override the target (e.g. postgresql://…)")
    d.add_argument("--debug", action="store_true", help="show tracebacks of failures")
    _terminal_options(d)
    d.set_defaults(func=_demo)
    g = sub.add_parser("purge", help="delete the personal-data staging of a 団体's runs before a date "
                                     "(summaries, reports and masked CSV are kept)")
    g.add_argument("--dantai", required=True, help="団体コード")
    g.add_argument("--before", required=True, help="YYYY-MM-DD: runs started before this day")
    g.add_argument("--runs-dir", default="runs", help="runs folder (default: runs)")
    g.add_argument("--config", default=None, help="take the runs folder from this run config")
    g.set_defaults(func=_purge)
    r = sub.add_parser("rollback", help="restore a 団体's target to the run it held before the last one")
    r.add_argument("--dantai", required=True, help="団体コード")
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--to", metavar="RUN_ID", help="the run the target held before (its previous state)")
    which.add_argument("--list", action="store_true", help="show the runs the target holds (current and previous) "
                                                           "and how each ended; changes nothing")
    r.add_argument("--config", default=None, help="the 団体's run config (target URL and schema)")
    r.add_argument("--target-url", default=None, help="target URL (instead of, or overriding, the config's)")
    r.add_argument("--schema", default=None, help="target schema (default dantai_<団体コード>)")
    r.add_argument("--allow-unfinished", action="store_true",
                   help="also go back to a run that did not finish successfully (killed after its load committed: "
                        "no summary.json; or failed/cancelled after it), which is refused otherwise")
    r.set_defaults(func=_rollback)
    c = sub.add_parser("cutover", help="declare the run a 団体's target holds the one cut over to (本番切替): from then "
                                       "on `ikou run` compares only (並行稼働) and no rollback is made; --list, --withdraw",
                       description="本番切替: declare that the run the target holds now is the one the 団体 went live on. "
                                   "From then on `ikou run` for this target does not load: it extracts, maps, "
                                   "identifies and validates, then compares with the live target (parallel run, "
                                   "summary.json mode parallel_run); `ikou rollback` and every load are refused. "
                                   "Recorded in the target (table ikou_cutover), so every runs folder and campaign "
                                   "worker sees it.")
    c.add_argument("--dantai", required=True, help="団体コード")
    what = c.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="show the target's cut-over record; changes nothing")
    what.add_argument("--withdraw", action="store_true",
                      help="withdraw the declaration in force (named by --run-id), recorded as such")
    c.add_argument("--run-id", default=None, metavar="RUN_ID",
                   help="required to declare or withdraw: the run the target holds now (`ikou rollback --list`), a "
                        "guard against declaring the wrong one; for --withdraw, the run the declaration names")
    c.add_argument("--note", default=None, help="a short note kept with the record (one line; no personal data)")
    c.add_argument("--config", default=None, help="the 団体's run config (target URL and schema, runs folder)")
    c.add_argument("--target-url", default=None, help="target URL (instead of, or overriding, the config's)")
    c.add_argument("--schema", default=None, help="target schema (default dantai_<団体コード>)")
    c.set_defaults(func=_cutover)
