"""The record of a rehearsal campaign: `campaign.json` and `campaign.html` in the campaign folder.

One entry per 団体 × 業務 run: status, counts, quarantine rate, unexplained differences, unresolved 外字,
sign-off blockers, the trend against the previous campaign and a link to the run's report. Built
from each run's summary.json (the record of a run) and, when a run left none (it crashed, or its
config did not load), from the flow run's final state. No Prefect here (flows.campaign drives it).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from ikou.campaign import CAMPAIGN_ID

TEMPLATE = "campaign.html.j2"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_record(name: str, campaign_id: str, *, spec: Path, limits: dict, previous: Path | None) -> dict:
    return {"campaign": name, "campaign_id": campaign_id, "spec": str(Path(spec).resolve()), "status": "running",
            "started_at": _now(), "finished_at": None, "limits": limits,
            "previous": str(previous) if previous else None, "previous_id": previous.name if previous else None,
            "totals": {}, "runs": []}


def pending_record(*, deployment: str, dantai: str, dantai_name: str, gyomu: list[str], rehearsal: str,
                   run_id: str, flow_run_id: str, run_dir: Path | None = None) -> dict:
    """A run started and not finished yet (what campaign.json shows while the campaign runs); its run
    folder is where a later refresh finds its summary.json."""
    return {"deployment": deployment, "dantai": dantai, "dantai_name": dantai_name, "gyomu": gyomu,
            "rehearsal": rehearsal, "run_id": run_id, "run_dir": str(run_dir) if run_dir else None,
            "flow_run_id": flow_run_id,
            "flow_run_url": None, "state": "SCHEDULED", "status": "running", "error": None,
            "counts": {"extracted": 0, "quarantined": 0, "loaded": 0, "warnings": 0}, "quarantine_rate": None,
            "unexplained_differences": 0, "unresolved_gaiji": 0, "sign_off_blockers": [], "report": None,
            "summary": None, "trend": None,
            "attempts": [{"run_id": run_id, "flow_run_id": flow_run_id, "status": "running", "error": None}]}


def _counts(summary: dict) -> dict:
    tables = [c for c in (summary.get("tables") or {}).values() if not c.get("derived")]
    return {k: sum(int(c.get(k) or 0) for c in tables) for k in ("extracted", "quarantined", "loaded", "warnings")}


def _unexplained(summary: dict) -> int:
    n = 0
    for d in (summary.get("diff") or {}).values():
        u = d.get("unexplained_cells") or 0
        n += sum(u.values()) if isinstance(u, dict) else int(u)
    return n


# flow run states that are not final: the run is queued or going on (CANCELLING may still be loading)
NOT_FINAL = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING")


def run_record(*, deployment: str, dantai: str, dantai_name: str, gyomu: list[str], rehearsal: str, run_id: str,
               run_dir: Path | None, flow_run_id: str, flow_run_url: str | None, state: str,
               state_message: str | None, summary: dict | None, target_holds_run: bool | None = None) -> dict:
    """One 団体 × 業務 run of the campaign, from its summary.json (None: the run left none). A run not
    finished (a wait that timed out) is `running`, not failed: it has no error, it may still succeed.
    `target_holds_run` (read from the target's ikou_run; None: not known) tells a PM what a failed run
    left in the target: a crash after the COMMIT leaves the target holding a run with no record."""
    s = summary or {}
    status = s.get("status") or ("succeeded" if state == "COMPLETED" else
                                 "cancelled" if state == "CANCELLED" else
                                 "running" if state in NOT_FINAL else "failed")
    if state == "CRASHED" and status == "succeeded":
        status = "failed"
    error = s.get("error")
    if status not in ("succeeded", "running") and not error:
        error = {"kind": state, "stage": None, "message": state_message or f"flow run ended {state}",
                 "message_ja": "フロー実行が要約 (summary.json) を残さずに終了しました"}
    outcome = _outcome(status, summary, target_holds_run)
    if outcome and summary is None:
        error["message_ja"] = outcome["ja"]   # the crash and what the target now holds, not only "no summary"
    # no summary.json: nothing tells how much it read or loaded; never 0 as if nothing happened
    counts = _counts(s) if summary is not None or status in ("succeeded", "running") else {
        k: None for k in ("extracted", "quarantined", "loaded", "warnings")}
    moji = (s.get("moji") or {}).get("counts") or {}
    report = run_dir / "report.html" if run_dir else None
    return {"deployment": deployment, "dantai": dantai, "dantai_name": dantai_name, "gyomu": gyomu,
            "rehearsal": rehearsal, "run_id": run_id, "run_dir": str(run_dir) if run_dir else None,
            "flow_run_id": flow_run_id,
            "flow_run_url": flow_run_url, "state": state, "status": status,
            "error": {k: error.get(k) for k in ("kind", "stage", "message", "message_ja")} if error else None,
            "counts": counts,
            "quarantine_rate": (counts["quarantined"] / counts["extracted"]) if counts["extracted"] else None,
            "unexplained_differences": _unexplained(s), "unresolved_gaiji": int(moji.get("unresolved") or 0),
            "sign_off_blockers": list(s.get("sign_off_blockers") or (
                [{"failed": "実行が失敗しました (要約 summary.json なし) / the run failed (no summary.json)",
                  "cancelled": "実行が中止されました (要約 summary.json なし) / the run was cancelled (no summary.json)"}[status]
                 + (f"。{outcome['ja']} / {outcome['en']}" if target_holds_run else "")]
                if status in ("failed", "cancelled") else [])),
            "target_holds_run": target_holds_run, "outcome": outcome,
            "report": str(report) if report is not None and report.is_file() else None,
            "summary": str(run_dir / "summary.json") if summary is not None and run_dir else None,
            "attempts": [{"run_id": run_id, "flow_run_id": flow_run_id, "status": status,
                          "error": (error or {}).get("message")}]}


def _outcome(status: str, summary: dict | None, holds: bool | None) -> dict | None:
    """What a run that did not succeed left in the target, in words (JP + EN); None for other runs."""
    if status not in ("failed", "cancelled"):
        return None
    loaded = sum(int(c.get("loaded") or 0) for c in ((summary or {}).get("tables") or {}).values()
                 if not c.get("derived"))
    how_ja, how_en = (("記録を残さずに異常終了しました", "the run crashed without a record (no summary.json)")
                      if status == "failed" else
                      ("記録を残さずに中止されました", "the run was cancelled without a record (no summary.json)"))
    if holds is True:
        if summary is not None:
            return {"target": "this_run", "ja": "移行先はこの実行を保持しています", "en": "the target holds this run"}
        return {"target": "this_run", "ja": f"{how_ja}。移行先はこの未完了の実行を保持しています (ikou rollback --list で確認)",
                "en": f"{how_en}; the target holds this unfinished run (ikou rollback --list)"}
    if holds is False or (summary is not None and not loaded):
        ja, en = "変更なし（前回の実行を保持）", "unchanged (target kept the previous run)"
        if summary is None:
            ja, en = f"{how_ja}。移行先は{ja}", f"{how_en}; target {en}"
        return {"target": "unchanged", "ja": ja, "en": en}
    if summary is None:
        return {"target": None, "ja": f"{how_ja}。移行先の状態は不明です (ikou rollback --list で確認)",
                "en": f"{how_en}; what the target holds is not known (ikou rollback --list)"}
    return None


def merge_retry(record: dict, results: list[dict]) -> None:
    """Replace the entries that were re-run (keeping their earlier attempts); append new ones."""
    by = {r["deployment"]: i for i, r in enumerate(record["runs"])}
    for r in results:
        i = by.get(r["deployment"])
        if i is None:
            record["runs"].append(r)
        else:
            r["attempts"] = [*record["runs"][i].get("attempts", []), *r["attempts"]]
            record["runs"][i] = r


def _has_runs(folder: Path) -> bool:
    try:
        return bool(json.loads((folder / "campaign.json").read_text(encoding="utf-8")).get("runs"))
    except (OSError, ValueError):
        return False


def latest_campaign(base: Path, *, before: str | None = None) -> Path | None:
    """The newest campaign folder under `base` that ran something: a campaign of no run is neither what
    a retry means nor a previous campaign to compare with (its trend would be blank)."""
    if not base.is_dir():
        return None
    ids = sorted(p.name for p in base.iterdir() if CAMPAIGN_ID.match(p.name) and (p / "campaign.json").is_file()
                 and (before is None or p.name < before))
    return next((base / i for i in reversed(ids) if _has_runs(base / i)), None)


def previous_campaign(folder: Path) -> Path | None:
    return latest_campaign(folder.parent, before=folder.name)


def _earlier(prev_dir: Path):
    """The campaign records from `prev_dir` back to the first, newest first, read one at a time."""
    base = prev_dir.parent
    if not base.is_dir():
        return
    for i in sorted((p.name for p in base.iterdir() if CAMPAIGN_ID.match(p.name) and p.name <= prev_dir.name),
                    reverse=True):
        try:
            yield json.loads((base / i / "campaign.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue


def _trend(record: dict) -> None:
    """Each run against its deployment's newest earlier run: walked back campaign by campaign, so a 団体
    a partial (`--dantai`) campaign left out is compared with its own last rehearsal, not shown as 初回."""
    prev_dir = record.get("previous")
    wanted, prev = {r["deployment"] for r in record["runs"]}, {}
    for n, old in enumerate(_earlier(Path(prev_dir)) if prev_dir else ()):
        if n == 0:
            record["previous_id"] = old.get("campaign_id")
        for p in old.get("runs") or []:
            # a run still `running` in a record never refreshed tells nothing: look further back
            # (nor does a deployment a server report found no run of)
            if p.get("deployment") in wanted - prev.keys() and p.get("status") not in ("running", "no_run"):
                prev[p["deployment"]] = {**p, "campaign_id": old.get("campaign_id")}
        if wanted <= prev.keys():
            break
    for r in record["runs"]:
        p = prev.get(r["deployment"])
        kept = ((p or {}).get("outcome") or {}).get("target")
        # a run that did not succeed counts what it loaded only when the target holds it
        shows = (p or {}).get("status") == "succeeded" or kept == "this_run"
        r["trend"] = None if p is None else {
            "campaign_id": p.get("campaign_id"), "status": p.get("status"), "run_id": p.get("run_id"),
            # a failed run that left the target unchanged loaded nothing: its 0 is not what the target held
            "loaded": (p.get("counts") or {}).get("loaded") if shows else None,
            "target_unchanged": kept == "unchanged", "quarantine_rate": p.get("quarantine_rate"),
            "unexplained_differences": p.get("unexplained_differences"),
            "unresolved_gaiji": p.get("unresolved_gaiji"),
            "sign_off_blockers": len(p.get("sign_off_blockers") or [])}


def finish(record: dict) -> None:
    """Totals, status, trend: the campaign as it stands now."""
    runs = record["runs"]
    n = {s: sum(1 for r in runs if r["status"] == s)
         for s in ("succeeded", "failed", "cancelled", "running", "no_run")}   # no_run: `campaign report` only
    record["totals"] = {"runs": len(runs), **n, "dantai": len({r["dantai"] for r in runs}),
                        "loaded": sum((r.get("counts") or {}).get("loaded", 0) for r in runs if r["status"] == "succeeded"),
                        "sign_off_blockers": sum(len(r.get("sign_off_blockers") or []) for r in runs)}
    record["status"] = ("complete" if n["succeeded"] == len(runs) else "running" if n["running"] else "incomplete")
    record["finished_at"] = None if n["running"] else _now()
    _trend(record)


STATUS_JA = {"succeeded": "成功", "failed": "失敗", "cancelled": "中断", "running": "実行中",
             "no_run": "実行なし（期間内）"}   # no_run: a server report (`campaign report`) found no run of it
BLOCKED = "成功（承認の妨げあり）"   # ran to the end, but `ikou signoff` refuses it: not the green 成功 a PM scans past


def shown_status(run: dict) -> str:
    """A run's 状態 as the campaign page shows it: 成功 only when nothing blocks its sign-off."""
    if run.get("status") == "succeeded" and run.get("sign_off_blockers"):
        return BLOCKED
    return STATUS_JA.get(run.get("status"), run.get("status") or "")


def render_html(record: dict, folder: Path) -> str:
    from ikou.reports.report import _env

    def rel(p: str | None) -> str | None:
        return os.path.relpath(p, folder).replace(os.sep, "/") if p else None

    rows = [{**r, "report_href": rel(r.get("report")), "shown_status": shown_status(r),
             "run_id": r.get("run_id") or "—", "flow_run_id": r.get("flow_run_id") or "—",
             "clean": r.get("status") == "succeeded" and not r.get("sign_off_blockers")} for r in record["runs"]]
    blocked = sum(1 for r in rows if r["shown_status"] == BLOCKED)
    return _env().get_template(TEMPLATE).render(c=record, rows=rows, masked=True, blocked=blocked)


def write(folder: Path, record: dict) -> None:
    """campaign.json and campaign.html, each replaced whole (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("campaign.json", json.dumps(record, ensure_ascii=False, indent=2)),
                       ("campaign.html", render_html(record, folder))):
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(folder / name)
