"""Rehearsal campaigns on a standing Prefect server: deployments as data, one flow run per 団体 × 業務.

`deploy(campaign)` turns the campaign file into the server's state: the work pool (and its
concurrency limit), the global concurrency limit on target loads, one deployment of the migration
flow per run config (schedule, parameters, tags `ikou`, `campaign:<name>`, `dantai:<code>`); a
deployment of this campaign that the file no longer lists is deleted. `run(campaign)` starts every
rehearsal through its deployment (`run_deployment(timeout=0)`: workers run them), waits for all of
them, and writes the campaign folder (reports.campaign). One 団体 failing never stops the others;
`retry` re-runs only those that did not succeed, in the same campaign folder.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path

from ikou.campaign import (ENTRYPOINT, FLOW_NAME, LOAD_LIMIT, LOAD_LIMIT_ENV, Campaign, CronSchedule, Entry,
                           new_campaign_id)
from ikou.context import new_run_id
from ikou.errors import ConfigError, IkouError
from ikou.reports import campaign as report

PARALLEL_ENTRYPOINT = "ikou.flows.parallel:migration_flow"   # the same flow with the configured task runner


class CampaignError(IkouError):
    """The campaign could not be started or followed (server unreachable, deployment missing …)."""

    ja = "Prefect サーバーでキャンペーンを実行できません"


def _tags(campaign: Campaign, e: Entry) -> list[str]:
    return ["ikou", f"campaign:{campaign.campaign}", f"dantai:{e.dantai}"]


def _schedules(e: Entry):
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule as PCron
    from prefect.client.schemas.schedules import IntervalSchedule as PInterval

    if e.schedule is None:
        return []
    if isinstance(e.schedule, CronSchedule):
        s = PCron(cron=e.schedule.cron, timezone=e.schedule.timezone)
    else:
        anchor = e.schedule.anchor or dt.datetime.now(dt.timezone.utc)
        s = PInterval(interval=dt.timedelta(seconds=e.schedule.interval_seconds), anchor_date=anchor)
    return [DeploymentScheduleCreate(schedule=s, active=True)]


def job_env(campaign: Campaign) -> dict[str, str]:
    """The environment each flow run of the campaign gets from its deployment (the process worker sets it)."""
    env = {}
    if campaign.limits.target_loads:
        env[LOAD_LIMIT_ENV] = LOAD_LIMIT
    if campaign.parallel:
        from ikou.flows import parallel

        env[parallel.MODE_ENV] = campaign.parallel.task_runner
        env[parallel.WORKERS_ENV] = str(campaign.parallel.max_workers)
        if campaign.parallel.dask_address:
            env[parallel.DASK_ADDRESS_ENV] = campaign.parallel.dask_address
    return env


async def _ensure_pool(client, campaign: Campaign) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    pool = campaign.work_pool
    try:
        existing = await client.read_work_pool(pool.name)
    except ObjectNotFound:
        try:
            await client.create_work_pool(WorkPoolCreate(
                name=pool.name, type="process", concurrency_limit=pool.concurrency_limit,
                base_job_template=ProcessWorker.get_default_base_job_template()))
            return
        except ObjectAlreadyExists:   # a worker starting at the same moment created it
            existing = await client.read_work_pool(pool.name)
    if existing.type != "process":
        raise CampaignError(f"work pool {pool.name!r} is of type {existing.type!r}, not process")
    if existing.concurrency_limit != pool.concurrency_limit:
        await client.update_work_pool(pool.name, WorkPoolUpdate(concurrency_limit=pool.concurrency_limit))


async def _ensure_load_limit(client, limit: int | None) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    try:
        existing = await client.read_global_concurrency_limit_by_name(LOAD_LIMIT)
    except ObjectNotFound:
        existing = None
    if limit is None:
        return   # a limit other campaigns may still use is left alone; this campaign's runs do not ask for it
    if existing is None:
        await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=LOAD_LIMIT, limit=limit))
    elif existing.limit != limit or not existing.active:
        await client.update_global_concurrency_limit(LOAD_LIMIT, GlobalConcurrencyLimitUpdate(limit=limit,
                                                                                               active=True))


async def _deploy(campaign: Campaign) -> dict:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
    from prefect.client.schemas.sorting import DeploymentSort

    entries = campaign.entries()
    env = job_env(campaign)
    async with get_client() as client:
        await _ensure_pool(client, campaign)
        await _ensure_load_limit(client, campaign.limits.target_loads)
        flow_id = await client.create_flow_from_name(FLOW_NAME)
        tag = f"campaign:{campaign.campaign}"
        existing, page = [], None
        while page is None or len(page) == 200:   # the server answers at most 200 at a time
            page = await client.read_deployments(deployment_filter=DeploymentFilter(
                tags=DeploymentFilterTags(all_=[tag])), limit=200, offset=len(existing), sort=DeploymentSort.NAME_ASC)
            existing += page
        names = set()
        for e in entries:
            await client.create_deployment(
                flow_id=flow_id, name=e.deployment,
                entrypoint=PARALLEL_ENTRYPOINT if campaign.parallel else ENTRYPOINT, work_pool_name=campaign.work_pool.name,
                parameters=e.parameters(), schedules=_schedules(e), tags=_tags(campaign, e),
                # one run of a 団体's rehearsal at a time: a target holds one whole run
                concurrency_limit=1, job_variables={"env": env} if env else {},
                description=f"{e.cfg.dantai.code} {e.cfg.dantai.name} {'+'.join(e.cfg.gyomu)} {e.cfg.rehearsal}",
                enforce_parameter_schema=False, paused=False)
            names.add(e.deployment)
        removed = []
        for d in existing:
            if d.name not in names:
                await client.delete_deployment(d.id)
                removed.append(d.name)
    return {"deployed": sorted(names), "removed": sorted(removed)}


def deploy(campaign: Campaign) -> dict:
    """Register the campaign's deployments (and pool, limits); remove those the file no longer lists."""
    return asyncio.run(_deploy(campaign))


def _start(campaign: Campaign, entries: list[Entry], campaign_id: str) -> list[dict]:
    """One flow run per rehearsal through its deployment; workers pick them up."""
    from prefect.deployments import run_deployment

    started = []
    for e in entries:
        run_id = new_run_id(e.cfg.rehearsal)
        fr = run_deployment(f"{FLOW_NAME}/{e.deployment}", parameters={**e.parameters(), "run_id": run_id},
                            timeout=0, flow_run_name=f"{e.dantai}-{run_id}", as_subflow=False,
                            tags=[*_tags(campaign, e), f"campaign-id:{campaign_id}"])
        started.append({"entry": e, "run_id": run_id, "flow_run_id": str(fr.id)})
    return started


async def _states(ids: list[str]) -> dict[str, object]:
    from uuid import UUID

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    out = {}
    async with get_client() as client:
        for i in range(0, len(ids), 200):   # the server answers at most 200 at a time
            chunk = [UUID(x) for x in ids[i:i + 200]]
            for r in await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=chunk)),
                                                 limit=200, sort=FlowRunSort.ID_DESC):
                out[str(r.id)] = r
    return out


def wait(ids: list[str], *, timeout: float | None = None, poll: float = 2.0) -> dict[str, object]:
    """Flow runs by id once all are final (or when `timeout` seconds have passed)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        runs = asyncio.run(_states(ids))
        if all(r.state and r.state.is_final() for r in runs.values()) and len(runs) == len(ids):
            return runs
        if deadline is not None and time.monotonic() > deadline:
            return runs
        time.sleep(poll)


def _ui_url(flow_run_id: str) -> str | None:
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else None


def _results(campaign: Campaign, started: list[dict], runs: dict) -> list[dict]:
    out = []
    for s in started:
        e: Entry = s["entry"]
        fr = runs.get(s["flow_run_id"])
        run_dir = e.cfg.runs_dir / e.dantai / s["run_id"]
        f = run_dir / "summary.json"
        summary = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None
        state = fr.state if fr is not None else None
        out.append(report.run_record(
            deployment=e.deployment, dantai=e.dantai, dantai_name=e.cfg.dantai.name, gyomu=list(e.cfg.gyomu),
            rehearsal=e.cfg.rehearsal, run_id=s["run_id"], run_dir=run_dir, flow_run_id=s["flow_run_id"],
            flow_run_url=_ui_url(s["flow_run_id"]),
            state=state.type.value if state else "UNKNOWN", state_message=(state.message if state else None),
            summary=summary))
    return out


def _pending(s: dict) -> dict:
    e: Entry = s["entry"]
    return report.pending_record(deployment=e.deployment, dantai=e.dantai, dantai_name=e.cfg.dantai.name,
                                 gyomu=list(e.cfg.gyomu), rehearsal=e.cfg.rehearsal, run_id=s["run_id"],
                                 flow_run_id=s["flow_run_id"])


def _campaign_dir(campaign: Campaign, campaign_id: str) -> Path:
    return Path(campaign.out) / campaign.campaign / campaign_id


def run(campaign: Campaign, *, spec_path: Path, timeout: float | None = None,
        only: set[str] | None = None) -> tuple[Path, dict]:
    """Deploy, start every rehearsal, wait, write campaign.json/.html; return (folder, record)."""
    deploy(campaign)
    campaign_id = new_campaign_id()
    folder = _campaign_dir(campaign, campaign_id)
    while folder.exists():   # two campaigns in one second
        time.sleep(1)
        campaign_id = new_campaign_id()
        folder = _campaign_dir(campaign, campaign_id)
    entries = [e for e in campaign.entries() if only is None or e.dantai in only]
    record = report.new_record(campaign.campaign, campaign_id, spec=spec_path,
                               limits={"work_pool": campaign.work_pool.concurrency_limit,
                                       "target_loads": campaign.limits.target_loads},
                               previous=report.previous_campaign(folder))
    started = _start(campaign, entries, campaign_id)
    record["runs"] = [_pending(s) for s in started]
    report.finish(record)
    report.write(folder, record)   # the campaign is on disk while it runs
    runs = wait([s["flow_run_id"] for s in started], timeout=timeout)
    record["runs"] = _results(campaign, started, runs)
    report.finish(record)
    report.write(folder, record)
    return folder, record


def retry(campaign: Campaign, *, campaign_id: str | None = None, timeout: float | None = None) -> tuple[Path, dict]:
    """Re-run, in the same campaign folder, the rehearsals that did not succeed (and any the file added)."""
    base = Path(campaign.out) / campaign.campaign
    folder = base / campaign_id if campaign_id else report.latest_campaign(base)
    if folder is None or not (folder / "campaign.json").is_file():
        raise ConfigError(f"no campaign to retry under {base}" + (f" with id {campaign_id}" if campaign_id else ""))
    record = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    deploy(campaign)
    done = {r["deployment"] for r in record["runs"] if r["status"] == "succeeded"}
    todo = [e for e in campaign.entries() if e.deployment not in done]
    started = _start(campaign, todo, record["campaign_id"]) if todo else []
    runs = wait([s["flow_run_id"] for s in started], timeout=timeout) if started else {}
    report.merge_retry(record, _results(campaign, started, runs))
    report.finish(record)
    report.write(folder, record)
    return folder, record
