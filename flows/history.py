"""Run history that lasts: what a flow run leaves on the Prefect server, and `ikou runs list/show`.

Inside a run (flows.migrate): the flow run is named `<団体コード>-<run id>` and tagged `ikou`,
`dantai:<code>`, `rehearsal:<R>` however it was started (`ikou run`, a schedule, a campaign), and
the run's summary (summary.json as JSON) and a link to its report.html become artifacts of the flow
run. The server keeps them after the worker that ran the flow is gone; `ikou runs list` and
`ikou runs show RUN_ID` read them from the server (PREFECT_API_URL), the run folder when it is
reachable from here.
"""
from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from ikou.campaign import FLOW_NAME
from ikou.reports.campaign import BLOCKED, NOT_FINAL, STATUS_JA


def label(dantai: str, run_id: str, rehearsal: str) -> None:
    """Name and tag the current flow run (a no-op outside a flow run; a failure only logs: the run goes on)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    from prefect.client.orchestration import get_client

    tags = sorted({*(ctx.flow_run.tags or []), "ikou", f"dantai:{dantai}", f"rehearsal:{rehearsal}"})
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(ctx.flow_run.id, name=f"{dantai}-{run_id}", tags=tags)
    except Exception as exc:   # noqa: BLE001 - the history's label, never the run's outcome
        from prefect import get_run_logger

        get_run_logger().warning("could not name the flow run %s-%s: %s", dantai, run_id, type(exc).__name__)


def record(summary: dict, run_dir: Path) -> None:
    """The run's summary and a link to its report as artifacts of the flow run."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    key = f"ikou-{summary['dantai']}"
    text = json.dumps(summary, ensure_ascii=False, indent=1)
    create_markdown_artifact(key=f"{key}-summary", markdown=f"```json\n{text}\n```\n",
                             description=f"summary.json (run {summary['run_id']})")
    report = Path(run_dir) / "report.html"
    if report.is_file():
        create_link_artifact(key=f"{key}-report-html", link=report.resolve().as_uri(), link_text="report.html",
                             description=f"移行レポート (run {summary['run_id']}): {report.resolve()}")


# ------------------------------------------------------------------ reading the history


async def _flow_runs(dantai: str | None, limit: int, run_id: str | None = None):
    from prefect import get_client
    from prefect.client.schemas.filters import (FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterName,
                                                FlowRunFilterState, FlowRunFilterStateType, FlowRunFilterTags)
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    # runs, not plans: a schedule's future runs are the deployment's business
    flt = {"state": FlowRunFilterState(type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED]))}
    if dantai:
        flt["tags"] = FlowRunFilterTags(all_=[f"dantai:{dantai}"])
    if run_id:
        flt["name"] = FlowRunFilterName(like_=run_id)
    async with get_client() as client:
        return await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                                           flow_run_filter=FlowRunFilter(**flt),
                                           sort=FlowRunSort.START_TIME_DESC, limit=limit)


def _run_id_of(fr) -> str | None:
    p = fr.parameters or {}
    if p.get("run_id"):
        return p["run_id"]
    dantai = next((t.split(":", 1)[1] for t in fr.tags or [] if t.startswith("dantai:")), None)
    if dantai and fr.name.startswith(f"{dantai}-"):
        return fr.name[len(dantai) + 1:]
    return None


def _dantai_of(fr) -> str | None:
    return next((t.split(":", 1)[1] for t in fr.tags or [] if t.startswith("dantai:")), None)


def list_runs(dantai: str | None = None, limit: int = 200) -> list[dict]:
    """The migration flow runs the server holds, newest first, each with how it ended (`outcome`): read from its
    run folder when that is reachable from here (its sign-off too), else from the summary the server keeps."""
    out = []
    runs = asyncio.run(_flow_runs(dantai, limit))
    arts = asyncio.run(_artifacts_of([fr.id for fr in runs])) if runs else {}
    for fr in runs:
        row = {"run_id": _run_id_of(fr), "dantai": _dantai_of(fr), "flow_run_id": str(fr.id),
               "flow_run_name": fr.name, "state": fr.state.type.value if fr.state else None,
               "start": fr.start_time.isoformat() if fr.start_time else None,
               "end": fr.end_time.isoformat() if fr.end_time else None,
               "deployment_id": str(fr.deployment_id) if fr.deployment_id else None,
               "tags": sorted(fr.tags or [])}
        mine = arts.get(str(fr.id), [])
        run_dir = _run_folder(_report_of(mine), row["dantai"], row["run_id"])
        if run_dir is not None:
            found = read_run_folder(run_dir)
        else:
            found = _summary_of(mine)
        out.append({**row, **outcome(**found, state=row["state"]),
                    "run_dir": str(run_dir) if run_dir is not None else None})
    return out


# ------------------------------------------------------------------ how each run ended (ikou runs list)

SUMMARY = "summary.json"
SIGNOFF = "signoff.json"
# the status column, Japanese / English; 成功 only when nothing blocks the sign-off (as on the campaign page)
STATUS = {s: f"{ja} / {s}" for s, ja in STATUS_JA.items()}
BLOCKED_SHOWN = f"{BLOCKED} / succeeded, sign-off blocked"
SIGNED = "承認済み / signed off"
SIGNED_OVER = "承認済み（妨げを承知で） / signed off, blockers overridden"
COMPARED = "比較のみ（本番切替済み） / compared only (cut over)"
UNREADABLE = "要約を読めません / summary unreadable"
NO_SUMMARY = "要約なし（実行中か異常終了） / no summary.json"
FAILED_NO_SUMMARY = "失敗（要約なし） / failed (no summary.json)"
MODE = {"load": "投入 / load", "parallel_run": "並行稼働 / parallel run"}


def read_run_folder(run_dir: Path) -> dict:
    """A run folder's summary.json and sign-offs, for `outcome`: the summary None with no reason when there is none
    (a run going on, or one that died before writing it), with the reason when it cannot be read."""
    run_dir = Path(run_dir)
    found = {"summary": None, "summary_error": None, "signoffs": None, "signoff_error": None,
             "summary_from": str(run_dir / SUMMARY)}
    f = run_dir / SUMMARY
    if f.is_file() or f.is_symlink():
        found["summary"], found["summary_error"] = _json_object(f, "summary.json")
    s = run_dir / SIGNOFF
    if s.is_file() or s.is_symlink():
        data, found["signoff_error"] = _json_object(s, "signoff.json")
        if data is not None:
            found["signoffs"] = data.get("signoffs") if isinstance(data.get("signoffs"), list) else None
            if found["signoffs"] is None:
                found["signoff_error"] = "signoff.json: 'signoffs' is not a list"
    elif found["summary"] is not None:
        found["signoffs"] = []   # known: nobody has signed it off
    return found


def _json_object(f: Path, name: str) -> tuple[dict | None, str | None]:
    """(the JSON object in `f`, None) or (None, why not): the kind of error and where, never the file's text. A
    symbolic link is not followed (it may lead into another 団体's folder), as the run folders are not."""
    if f.is_symlink():
        return None, f"{name}: a symbolic link, not followed"
    try:
        data = json.loads(f.read_bytes())
    except (OSError, ValueError) as exc:   # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, f"{name}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
    if not isinstance(data, dict):
        return None, f"{name}: not a JSON object ({type(data).__name__})"
    return data, None


def outcome(summary: dict | None, *, summary_error: str | None = None, signoffs: list | None = None,
            signoff_error: str | None = None, summary_from: str | None = None, state: str | None = None) -> dict:
    """What `ikou runs list` shows of a run: its status (`status_shown` in Japanese and English: failed, succeeded,
    succeeded with sign-off blockers, compared only (a parallel run), signed off), its sign-off blockers and held
    records (counts) and its mode, from its summary and sign-offs; `state`: the Prefect state, for a run that
    left no summary. Unknown counts are None, never 0."""
    out = {"status": None, "status_shown": None, "sign_off_blockers": None, "held": None, "mode": None,
           "mode_shown": None, "signed_off": None, "summary_error": summary_error, "signoff_error": signoff_error,
           "summary_from": summary_from}
    if summary_error:
        return {**out, "status": "unreadable", "status_shown": UNREADABLE}
    if summary is None:
        if state in NOT_FINAL:
            return {**out, "status": "running", "status_shown": STATUS["running"]}
        if state in ("FAILED", "CRASHED"):
            return {**out, "status": "failed", "status_shown": FAILED_NO_SUMMARY}
        if state == "CANCELLED":
            return {**out, "status": "cancelled", "status_shown": STATUS["cancelled"]}
        return {**out, "status": "no_summary", "status_shown": NO_SUMMARY}
    status = summary.get("status")
    if state == "CRASHED" and status == "succeeded":   # the process died after its summary: as the campaign says
        status = "failed"
    blockers = summary.get("sign_off_blockers")
    tables = [t for t in (summary.get("tables") or {}).values() if isinstance(t, dict) and not t.get("derived")]
    mode = summary.get("mode") or "load"
    signed = [s for s in signoffs if isinstance(s, dict)] if signoffs is not None else None
    out.update(status=status, sign_off_blockers=len(blockers) if isinstance(blockers, list) else None,
               held=sum(int(t.get("quarantined") or 0) for t in tables) if tables else None,
               mode=mode, mode_shown=MODE.get(mode, mode), signed_off=bool(signed) if signed is not None else None)
    if status != "succeeded":
        shown = STATUS.get(status) or f"不明 / unknown status ({status})"
    elif mode == "parallel_run":
        shown = COMPARED
    elif signed:
        out["status"] = "signed_off"
        shown = SIGNED_OVER if signed[-1].get("override") else SIGNED
    elif out["sign_off_blockers"]:
        out["status"] = "blocked"
        shown = BLOCKED_SHOWN
    else:
        shown = STATUS["succeeded"]
    return {**out, "status_shown": shown}


def list_run_folders(runs_dir: Path, dantai: str | None = None, limit: int = 200) -> list[dict]:
    """The runs a runs folder holds (`runs_dir/<団体コード>/<run id>`), newest first, without a Prefect server. A
    symbolic link is not followed (it may lead into another 団体's tree): it is listed as such."""
    from ikou.checkdigit import is_valid_dantai_code
    from ikou.context import RUN_ID

    runs_dir = Path(runs_dir)
    found = []
    for d in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        if not is_valid_dantai_code(d.name) or (dantai and d.name != dantai):
            continue
        if d.is_symlink() or not d.is_dir():
            found.append((d.name, "", d, "symlink"))
            continue
        for r in d.iterdir():
            if RUN_ID.fullmatch(r.name):
                found.append((d.name, r.name, r, "symlink" if r.is_symlink() else None))
    found.sort(key=lambda x: (x[1][:16], x[0], x[1]), reverse=True)   # run ids start with their UTC time
    out = []
    for code, run_id, path, link in found[:limit]:
        if link:
            read = {"summary": None, "summary_error": f"{path} is a symbolic link: not followed",
                    "summary_from": str(path)}
        else:
            read = read_run_folder(path)
        s = read.get("summary") or {}
        out.append({"run_id": run_id or None, "dantai": code, "flow_run_id": None, "flow_run_name": None,
                    "state": None, "start": s.get("started_at"), "end": s.get("finished_at"),
                    **outcome(**read), "run_dir": str(path)})
    return out


def _report_of(arts: list) -> str | None:
    link = next((a.data for a in arts if a.key and a.key.endswith("-report-html")), None)
    m = re.search(r"\((file://[^)]+)\)", link or "")   # a link artifact's data is [text](uri)
    return m.group(1) if m else link


def _run_folder(report: str | None, dantai: str | None, run_id: str | None) -> Path | None:
    """The run folder of a report link, when it is reachable from here and is the run's own folder
    (…/<団体>/<run id>/report.html): a link is not trusted to name any other file."""
    if not report or not report.startswith("file://") or not dantai or not run_id:
        return None
    from urllib.parse import unquote, urlparse

    folder = Path(unquote(urlparse(report).path)).parent
    if folder.name != run_id or folder.parent.name != dantai or folder.is_symlink() or not folder.is_dir():
        return None
    return folder


def _summary_of(arts: list) -> dict:
    """The summary the server keeps (the flow run's summary artifact), for a run whose folder is not reachable."""
    art = next((a for a in arts if a.key and a.key.endswith("-summary") and isinstance(a.data, str)), None)
    if art is None:
        return {"summary": None, "summary_from": None}
    body = art.data.strip().removeprefix("```json").removesuffix("```")
    try:
        summary = json.loads(body)
    except ValueError as exc:
        return {"summary": None, "summary_error": f"summary artifact {art.key}: {type(exc).__name__}: {exc}"[:240],
                "summary_from": "server"}
    if not isinstance(summary, dict):
        return {"summary": None, "summary_error": f"summary artifact {art.key}: not a JSON object",
                "summary_from": "server"}
    return {"summary": summary, "summary_from": "server"}


async def _artifacts_of(flow_run_ids) -> dict[str, list]:
    """The artifacts of several flow runs, by flow run id, page by page."""
    from prefect import get_client
    from prefect.client.schemas.objects import Artifact

    out: dict[str, list] = {}
    ids = [str(i) for i in flow_run_ids]
    async with get_client() as client:
        for start in range(0, len(ids), 50):
            offset = 0
            while True:   # posted by hand, as `_artifacts` (below) says why
                r = await client.request("POST", "/artifacts/filter", json={
                    "artifacts": {"flow_run_id": {"any_": ids[start:start + 50]}}, "limit": 200, "offset": offset,
                    "sort": "ID_DESC"})
                page = Artifact.model_validate_list(r.json())
                for a in page:
                    out.setdefault(str(a.flow_run_id), []).append(a)
                if len(page) < 200:
                    break
                offset += 200
    return out


async def _artifacts(flow_run_id):
    from prefect import get_client
    from prefect.client.schemas.objects import Artifact

    # Posted by hand: the client sends null for the filters it was not given, which this server (prefect
    # 3.8.8 with fastapi<0.155) refuses (422) — the reason `/artifacts/filter` seemed to answer [].
    async with get_client() as client:
        r = await client.request("POST", "/artifacts/filter", json={
            "artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 200, "offset": 0,
            "sort": "ID_DESC"})
    return Artifact.model_validate_list(r.json())


def show_run(run_id: str) -> dict | None:
    """One run from the server: its flow run, state, artifacts (summary, report link, counts)."""
    runs = [fr for fr in asyncio.run(_flow_runs(None, 50, run_id=run_id)) if _run_id_of(fr) == run_id]
    if not runs:
        return None
    fr = runs[0]
    arts = asyncio.run(_artifacts(fr.id))
    summary = None
    artifacts = []
    for a in arts:
        artifacts.append({"key": a.key, "type": a.type, "description": a.description})
        if a.key and a.key.endswith("-summary") and isinstance(a.data, str):
            body = a.data.strip().removeprefix("```json").removesuffix("```")
            try:
                summary = json.loads(body)
            except ValueError:
                pass
    link = next((a.data for a in arts if a.key and a.key.endswith("-report-html")), None)
    m = re.search(r"\((file://[^)]+)\)", link or "")   # a link artifact's data is [text](uri)
    report = m.group(1) if m else link
    return {"run_id": run_id, "dantai": _dantai_of(fr), "flow_run_id": str(fr.id), "flow_run_name": fr.name,
            "state": fr.state.type.value if fr.state else None, "state_message": fr.state.message if fr.state else None,
            "start": fr.start_time.isoformat() if fr.start_time else None,
            "end": fr.end_time.isoformat() if fr.end_time else None, "parameters": fr.parameters,
            "report": report, "artifacts": artifacts, "summary": summary}
