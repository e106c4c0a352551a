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
    """The migration flow runs the server holds, newest first."""
    out = []
    for fr in asyncio.run(_flow_runs(dantai, limit)):
        out.append({"run_id": _run_id_of(fr), "dantai": _dantai_of(fr), "flow_run_id": str(fr.id),
                    "flow_run_name": fr.name, "state": fr.state.type.value if fr.state else None,
                    "start": fr.start_time.isoformat() if fr.start_time else None,
                    "end": fr.end_time.isoformat() if fr.end_time else None,
                    "deployment_id": str(fr.deployment_id) if fr.deployment_id else None,
                    "tags": sorted(fr.tags or [])})
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
