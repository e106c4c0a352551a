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
               state_message: str | None, summary: dict | None) -> dict:
    """One 団体 × 業務 run of the campaign, from its summary.json (None: the run left none). A run not
    finished (a wait that timed out) is `running`, not failed: it has no error, it may still succeed."""
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
    counts = _counts(s)
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
                  "cancelled": "実行が中止されました (要約 summary.json なし) / the run was cancelled (no summary.json)"}[status]]
                if status in ("failed", "cancelled") else [])),
            "report": str(report) if report is not None and report.is_file() else None,
            "summary": str(run_dir / "summary.json") if summary is not None and run_dir else None,
            "attempts": [{"run_id": run_id, "flow_run_id": flow_run_id, "status": status,
                          "error": (error or {}).get("message")}]}


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


def _trend(record: dict) -> None:
    prev_dir = record.get("previous")
    prev = {}
    if prev_dir and (Path(prev_dir) / "campaign.json").is_file():
        old = json.loads((Path(prev_dir) / "campaign.json").read_text(encoding="utf-8"))
        prev = {r["deployment"]: r for r in old.get("runs", [])}
        record["previous_id"] = old.get("campaign_id")
    for r in record["runs"]:
        p = prev.get(r["deployment"])
        r["trend"] = None if p is None else {
            "status": p.get("status"), "run_id": p.get("run_id"),
            "loaded": (p.get("counts") or {}).get("loaded"), "quarantine_rate": p.get("quarantine_rate"),
            "unexplained_differences": p.get("unexplained_differences"),
            "unresolved_gaiji": p.get("unresolved_gaiji"),
            "sign_off_blockers": len(p.get("sign_off_blockers") or [])}


def finish(record: dict) -> None:
    """Totals, status, trend: the campaign as it stands now."""
    runs = record["runs"]
    n = {s: sum(1 for r in runs if r["status"] == s) for s in ("succeeded", "failed", "cancelled", "running")}
    record["totals"] = {"runs": len(runs), **n, "dantai": len({r["dantai"] for r in runs}),
                        "loaded": sum((r.get("counts") or {}).get("loaded", 0) for r in runs if r["status"] == "succeeded"),
                        "sign_off_blockers": sum(len(r.get("sign_off_blockers") or []) for r in runs)}
    record["status"] = ("complete" if n["succeeded"] == len(runs) else "running" if n["running"] else "incomplete")
    record["finished_at"] = None if n["running"] else _now()
    _trend(record)


def render_html(record: dict, folder: Path) -> str:
    from ikou.reports.report import _env

    def rel(p: str | None) -> str | None:
        return os.path.relpath(p, folder).replace(os.sep, "/") if p else None

    rows = [{**r, "report_href": rel(r.get("report"))} for r in record["runs"]]
    return _env().get_template(TEMPLATE).render(c=record, rows=rows, masked=True)


def write(folder: Path, record: dict) -> None:
    """campaign.json and campaign.html, each replaced whole (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("campaign.json", json.dumps(record, ensure_ascii=False, indent=2)),
                       ("campaign.html", render_html(record, folder))):
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(folder / name)
