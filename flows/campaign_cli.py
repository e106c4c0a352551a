"""`ikou deploy`, `ikou campaign run|retry|report|pause|resume|remove`, `ikou runs list|show` (and `ikou
server|worker start`).

They talk to the standing Prefect server named by PREFECT_API_URL (`ikou runs list --runs-dir` reads a runs
folder instead, with no server). `ikou campaign run` prints one
line per 団体 and the campaign folder as the last line; it exits 0 when every 団体 succeeded, 2
otherwise (with one line in Japanese and English naming the failed 団体, or those still running when
`--timeout` ended the wait). Each command takes `--debug` (a traceback instead of the one line).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ikou.errors import NotFound, UsageError


# what each command could not do, for the Japanese half of its one line (not every command runs a campaign)
_WHAT_JA = {"_deploy": "デプロイメントを登録できません", "_campaign_run": "キャンペーンを実行できません",
            "_campaign_retry": "キャンペーンを再実行できません", "_runs_list": "実行履歴を読めません",
            "_runs_show": "実行の記録を読めません", "_campaign_pause": "スケジュールを一時停止できません",
            "_campaign_resume": "スケジュールを再開できません", "_campaign_remove": "デプロイメントを削除できません",
            "_campaign_report": "キャンペーンの報告を作れません"}


def _server_errors(fn):
    """A server that does not answer, or refuses a request (or a Prefect model refusing a value: pydantic's
    ValidationError), ends the command with one line, not a traceback; its Japanese half says what the
    command could not do and whether the server was unreachable."""
    import functools

    @functools.wraps(fn)
    def wrapped(args):
        import httpx
        from prefect.exceptions import PrefectException
        from pydantic import ValidationError

        from ikou.flows.campaign import CampaignError

        try:
            return fn(args)
        except (httpx.HTTPError, PrefectException, OSError, ValidationError) as exc:
            if getattr(args, "debug", False) or os.environ.get("IKOU_DEBUG"):
                raise
            if isinstance(exc, ValidationError):
                errs = exc.errors()
                first = f"{exc.title}: " + "; ".join(f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}"
                                                     for e in errs[:3])
            else:
                first = (str(exc).strip().splitlines() or [""])[0]
            url = os.environ.get("PREFECT_API_URL")
            if isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError)):
                why = "サーバーに接続できません。ikou server start で起動しているか、PREFECT_API_URL を確認してください"
            elif isinstance(exc, OSError):
                why = "ファイルまたはネットワークの操作に失敗しました (理由は英語の説明を参照)"
            else:
                why = "サーバーが要求を受け付けません (理由は英語の説明を参照)"
            raise CampaignError(f"Prefect server at {url}: {type(exc).__name__}: {first[:300]}",
                                ja=f"{_WHAT_JA.get(fn.__name__, '要求を実行できません')} (Prefect サーバー {url}): "
                                   f"{why}") from None
    return wrapped


def _need_server() -> None:
    """A standing Prefect server is where deployments, schedules and runs live; no config file is involved."""
    if not os.environ.get("PREFECT_API_URL"):
        from ikou.flows.campaign import CampaignError

        raise CampaignError("no Prefect server: start one (ikou server start) and set PREFECT_API_URL="
                            "http://HOST:4200/api",
                            ja="Prefect サーバーが指定されていません (ikou server start で起動し、PREFECT_API_URL="
                               "http://HOST:4200/api を設定してください)")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@_server_errors
def _deploy(args) -> int:
    from ikou.campaign import load_campaign
    from ikou.flows import campaign as C

    _need_server()
    spec = load_campaign(args.campaign)
    r = C.deploy(spec)
    print(f"配置しました / deployed {len(r['deployed'])} deployment(s) of campaign {spec.campaign}"
          + (f"; removed {', '.join(r['removed'])}" if r["removed"] else ""))
    for name in r["deployed"]:
        print(f"  {name}")
    return 0


def _report(folder: Path, record: dict) -> int:
    for r in record["runs"]:
        c = r.get("counts") or {}
        shown = {k: "—" if c.get(k) is None else c.get(k) for k in ("loaded", "quarantined")}   # None: not known
        line = f"  {r['dantai']} {r['status']:<9} loaded={shown['loaded']} quarantined={shown['quarantined']}"
        if r.get("error"):
            line += f" — {r['error'].get('stage') or '-'}: {r['error'].get('message')}"
        outcome = r.get("outcome") or {}
        if outcome.get("en") and r.get("summary") is None:   # a crash: what the target holds now
            line += f" ({outcome.get('ja')} / {outcome['en']})"
        print(line)
    running = [r["dantai"] for r in record["runs"] if r["status"] == "running"]
    failed = [r["dantai"] for r in record["runs"] if r["status"] not in ("succeeded", "running", "no_run")]
    none = [r["dantai"] for r in record["runs"] if r["status"] == "no_run"]   # campaign report: nothing ran
    if none:
        print(f"ikou: 期間内に実行のない団体: {len(none)} 件 ({', '.join(none)}) — no run in the window: "
              f"{len(none)} deployment(s) ({', '.join(none)})", file=sys.stderr, flush=True)
    if running:   # the wait ended, the runs did not: retrying them now would run them twice
        also_ja = f"、{len(failed)} 件が失敗 ({', '.join(failed)})" if failed else ""
        also_en = f"; {len(failed)} failed ({', '.join(failed)})" if failed else ""
        print(f"ikou: キャンペーン実行中: {len(running)} 件が待ち時間内に終わっていません ({', '.join(running)}){also_ja}。"
              "ikou runs list で確認し、終わってから ikou campaign retry (記録を更新し、失敗分だけ再実行) — "
              f"campaign still running: {len(running)} run(s) not finished when the wait ended "
              f"({', '.join(running)}){also_en}; check them with ikou runs list, and once they have finished "
              "run ikou campaign retry (it updates campaign.json and re-runs only the failed ones)",
              file=sys.stderr, flush=True)
    elif failed:
        names = ", ".join(failed)
        print(f"ikou: キャンペーン未完了: {len(failed)} 団体が失敗 ({names})。原因を直して ikou campaign retry — "
              f"campaign incomplete: {len(failed)} run(s) did not succeed ({names}); fix them and run "
              "ikou campaign retry",
              file=sys.stderr, flush=True)
    print(folder, flush=True)
    return 2 if running or failed or none else 0


@_server_errors
def _campaign_run(args) -> int:
    from ikou.campaign import load_campaign
    from ikou.flows import campaign as C

    _need_server()
    spec = load_campaign(args.campaign)
    only = {c.strip() for c in args.dantai.split(",") if c.strip()} if args.dantai is not None else None
    folder, record = C.run(spec, spec_path=Path(args.campaign), timeout=args.timeout, only=only)
    return _report(folder, record)


@_server_errors
def _campaign_retry(args) -> int:
    from ikou.campaign import load_campaign
    from ikou.flows import campaign as C

    _need_server()
    spec = load_campaign(args.campaign)
    folder, record = C.retry(spec, campaign_id=args.id, timeout=args.timeout)
    return _report(folder, record)


@_server_errors
def _campaign_report(args) -> int:
    from ikou.campaign import load_campaign
    from ikou.flows import campaign as C

    _need_server()
    spec = load_campaign(args.campaign)
    since = C.parse_since(args.since) if args.since is not None else None
    folder, record = C.server_report(spec, spec_path=Path(args.campaign), since=since, only=_only(args))
    return _report(folder, record)


def _only(args) -> set[str] | None:
    return {c.strip() for c in args.dantai.split(",") if c.strip()} if args.dantai is not None else None


def _pause_or_resume(args, paused: bool) -> int:
    from ikou.campaign import load_campaign
    from ikou.flows import campaign as C

    _need_server()
    spec = load_campaign(args.campaign)
    rows = (C.pause if paused else C.resume)(spec, _only(args))
    scope = f" ({args.dantai})" if args.dantai else ""
    if not rows:
        print(f"キャンペーン {spec.campaign}{scope} のデプロイメントはサーバーにありません (ikou deploy で登録) — "
              f"no deployment of campaign {spec.campaign}{scope} on the server (ikou deploy registers them)")
        return 0
    changed = sum(r["changed"] for r in rows)
    verb_ja, verb = ("一時停止しました", "paused") if paused else ("再開しました", "resumed")
    print(f"スケジュールを{verb_ja}: {changed} 件 (既に{'停止中' if paused else '稼働中'} {len(rows) - changed} 件) — "
          f"{verb} the schedules of {changed} deployment(s) of campaign {spec.campaign}{scope}"
          f" ({len(rows) - changed} already {verb})")
    for r in rows:
        state = verb if r["changed"] else f"already {verb}"
        print(f"  {r['deployment']}  {state}" + ("" if r["schedules"] else " (no schedule: runs only by hand)"))
    return 0


@_server_errors
def _campaign_pause(args) -> int:
    return _pause_or_resume(args, True)


@_server_errors
def _campaign_resume(args) -> int:
    return _pause_or_resume(args, False)


@_server_errors
def _campaign_remove(args) -> int:
    from ikou.campaign import load_campaign
    from ikou.flows import campaign as C

    _need_server()
    spec = load_campaign(args.campaign)
    removed = C.remove(spec, _only(args))
    scope = f" ({args.dantai})" if args.dantai else ""
    if not removed:
        print(f"削除するものはありません: キャンペーン {spec.campaign}{scope} のデプロイメントはサーバーにありません — "
              f"nothing to remove: no deployment of campaign {spec.campaign}{scope} on the server")
        return 0
    print(f"デプロイメントを削除しました: {len(removed)} 件 (実行履歴とキャンペーンフォルダは残ります) — removed "
          f"{len(removed)} deployment(s) of campaign {spec.campaign}{scope} (the history of past runs stays on the "
          "server, the campaign folders on disk)")
    for name in removed:
        print(f"  {name}")
    return 0


@_server_errors
def _runs_list(args) -> int:
    from ikou.checkdigit import is_valid_dantai_code
    from ikou.flows import history

    if args.runs_dir is None:
        _need_server()
    if args.dantai and not is_valid_dantai_code(args.dantai):
        raise UsageError(f"--dantai {args.dantai!r} is not a 団体コード (6 digits with check digit)",
                         ja=f"--dantai {args.dantai} は団体コードではありません (検査数字付きの 6 桁を指定してください)")
    if args.runs_dir is not None:
        if not Path(args.runs_dir).is_dir():
            raise NotFound(f"--runs-dir {args.runs_dir}: no such folder",
                           ja=f"--runs-dir {args.runs_dir} のフォルダがありません (実行フォルダの親 runs_dir を指定してください)")
        rows = history.list_run_folders(Path(args.runs_dir), args.dantai, limit=args.limit)
    else:
        rows = history.list_runs(args.dantai, limit=args.limit)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    server = args.runs_dir is None
    table = [("run id", "団体", "状態 / status", "承認の妨げ / blockers", "保留 / held", "方式 / mode", "開始 / start")
             + (("state", "flow run") if server else ())]
    for r in rows:
        table.append((r["run_id"] or "-", r["dantai"] or "-", r["status_shown"] or "—", _count(r["sign_off_blockers"]),
                      _count(r["held"]), r["mode_shown"] or "—", r["start"] or "-")
                     + ((r["state"] or "-", r["flow_run_id"]) if server else ()))
    widths = [max(_width(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(_pad(v, w) for v, w in zip(row, widths)).rstrip())
    for r in rows:   # an unreadable summary or sign-off is said, with where and why, never taken for a count of 0
        for why in (r.get("summary_error"), r.get("signoff_error")):
            if why:
                print(f"ikou: 実行 {r['run_id'] or r.get('run_dir')} ({r['dantai']}) の記録を読めません / cannot read the "
                      f"record of run {r['run_id'] or r.get('run_dir')}: {why}"
                      + (f" ({r['run_dir']})" if r.get("run_dir") else ""))
    return 0


def _count(n) -> str:
    """A count as the list shows it: — when it is not known (no summary, or one that cannot be read)."""
    return "—" if n is None else str(n)


def _width(text: str) -> int:
    """Columns a text takes in a terminal: 2 for each full-width (漢字, かな) character."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


@_server_errors
def _runs_show(args) -> int:
    from ikou.flows import history

    _need_server()
    r = history.show_run(args.run_id)
    if r is None:
        url = os.environ["PREFECT_API_URL"]
        raise NotFound(f"no run {args.run_id!r} on the Prefect server at {url}",
                       ja=f"実行 {args.run_id} は Prefect サーバー {url} にありません (ikou runs list で実行 ID を確認してください)")
    if args.json:
        print(json.dumps(r, ensure_ascii=False, indent=1))
        return 0
    s = r.get("summary") or {}
    print(f"run {r['run_id']}  団体 {r['dantai']}  state {r['state']}  ({r['start']} → {r['end']})")
    print(f"  flow run {r['flow_run_id']} ({r['flow_run_name']})")
    if s:
        print(f"  status {s.get('status')}  rehearsal {s.get('rehearsal')}  業務 {'+'.join(s.get('gyomu') or [])}")
        for t, c in (s.get("tables") or {}).items():
            print(f"  {t:<22} " + " ".join(f"{k}={c[k]}" for k in ("extracted", "quarantined", "loaded") if k in c))
        if s.get("error"):
            e = s["error"]
            print(f"  失敗 ({e.get('stage')}): {e.get('message_ja')} — failed: {e.get('message')}")
        for b in s.get("sign_off_blockers") or []:
            print(f"  sign-off blocker: {b}")
    print(f"  report: {r.get('report') or '-'}")
    print("  artifacts: " + ", ".join(a["key"] or "-" for a in r["artifacts"]))
    return 0


def _debug_flag(p) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks of failures")


def register(sub) -> None:
    from ikou.flows import server

    server.register(sub)
    d = sub.add_parser("deploy", help="register a campaign's deployments on the Prefect server (and remove those "
                                      "the file no longer lists)")
    d.add_argument("campaign", help="campaign YAML")
    _debug_flag(d)
    d.set_defaults(func=_deploy)
    c = sub.add_parser("campaign", help="rehearsal campaigns: one flow run per 団体 × 業務, run by workers")
    csub = c.add_subparsers(dest="campaign_command", required=True)
    r = csub.add_parser("run", help="start every rehearsal of the campaign, wait, write campaign.json/.html")
    r.add_argument("campaign", help="campaign YAML")
    r.add_argument("--dantai", default=None, help="only these 団体 (comma-separated codes)")
    r.add_argument("--timeout", type=float, default=None, help="stop waiting after this many seconds (the runs go "
                   "on: ikou campaign retry, once they have finished, updates the record)")
    _debug_flag(r)
    r.set_defaults(func=_campaign_run)
    t = csub.add_parser("retry", help="update the last campaign's record from the server, then re-run the "
                                      "rehearsals that failed or were cancelled (refused while any is still running)")
    t.add_argument("campaign", help="campaign YAML")
    t.add_argument("--id", default=None, help="campaign id (default: the latest)")
    t.add_argument("--timeout", type=float, default=None, help="stop waiting after this many seconds")
    _debug_flag(t)
    t.set_defaults(func=_campaign_retry)
    rp = csub.add_parser("report", help="write the campaign folder (campaign.json/.html) of the latest run of each "
                                        "deployment on the server, e.g. a wave its schedules ran (starts nothing)")
    rp.add_argument("campaign", help="campaign YAML")
    rp.add_argument("--since", default=None, help="only runs started since this ISO date or date-time (no offset: "
                    "this machine's time zone); default: the latest run whenever it started")
    rp.add_argument("--dantai", default=None, help="only these 団体 (comma-separated codes)")
    _debug_flag(rp)
    rp.set_defaults(func=_campaign_report)
    for name, fn, what in (
            ("pause", _campaign_pause, "stop the schedules of the campaign's deployments (runs already taken by a "
                                       "worker go on; campaign run still runs them by hand)"),
            ("resume", _campaign_resume, "start the schedules of the campaign's deployments again"),
            ("remove", _campaign_remove, "delete the campaign's deployments from the server (refused while one "
                                         "of them has a run not finished; the run history and campaign folders "
                                         "stay)")):
        x = csub.add_parser(name, help=what)
        x.add_argument("campaign", help="campaign YAML")
        x.add_argument("--dantai", default=None, help="only these 団体 (comma-separated codes)")
        _debug_flag(x)
        x.set_defaults(func=fn)
    u = sub.add_parser("runs", help="run history on the Prefect server")
    usub = u.add_subparsers(dest="runs_command", required=True)
    ul = usub.add_parser("list", help="migration runs, newest first: status (succeeded, with sign-off blockers, "
                                      "failed, signed off), blockers, held records, mode (load or parallel run)")
    ul.add_argument("--dantai", default=None, help="団体コード")
    ul.add_argument("--limit", type=int, default=200)
    ul.add_argument("--json", action="store_true")
    ul.add_argument("--runs-dir", default=None, help="read the run folders in this runs folder (runs_dir) instead of "
                                                     "the Prefect server: no server needed")
    _debug_flag(ul)
    ul.set_defaults(func=_runs_list)
    us = usub.add_parser("show", help="one run: state, counts, report, artifacts")
    us.add_argument("run_id")
    us.add_argument("--json", action="store_true")
    _debug_flag(us)
    us.set_defaults(func=_runs_show)
