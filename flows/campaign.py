"""Rehearsal campaigns on a standing Prefect server: deployments as data, one flow run per 団体 × 業務.

`deploy(campaign)` turns the campaign file into the server's state: the work pool (and its
concurrency limit), the global concurrency limit on target loads, one deployment of the migration
flow per run config (schedule, parameters, tags `ikou`, `campaign:<name>`, `dantai:<code>`); a
deployment of this campaign that the file no longer lists is deleted. A schedule or deployment an operator
paused (Prefect UI/CLI) stays paused; `run(..., only=)` deploys only those 団体. `run(campaign)` starts every
rehearsal through its deployment (`run_deployment(timeout=0)`: workers run them), waits for all of
them, and writes the campaign folder (reports.campaign). One 団体 failing never stops the others;
`retry` first brings the record up to date (a wait that timed out leaves runs that go on without
the command), refuses while any of them has not finished, and re-runs only those that failed or
were cancelled, in the same campaign folder. `server_report(campaign)` writes the same folder for
runs the campaign's schedules fired: the latest flow run of each deployment (started since `since`),
read from the server, starting nothing.
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


class CampaignBusy(CampaignError):
    """A retry while earlier runs of the campaign are still queued or running would run them twice."""

    ja = "まだ終わっていないリハーサルがあります (終わってから再実行してください)"


RETRIED = ("failed", "cancelled")   # the statuses `retry` re-runs (a crashed run is `failed`)


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


def _checked_schedules(entries: list[Entry]) -> dict[str, list]:
    """Every entry's Prefect schedules, built before anything is created on the server: a value
    Prefect refuses stops the deploy whole, naming the entry, instead of after half the deployments."""
    from pydantic import ValidationError

    out = {}
    for i, e in enumerate(entries):
        try:
            out[e.deployment] = _schedules(e)
        except ValidationError as exc:
            first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
            raise ConfigError(f"rehearsals.{i} ({e.deployment}): schedule: {exc.title} "
                              f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return out


def _kept(new: list, before) -> list:
    """The file's schedules with the state an operator gave them on the server: a redeploy (every
    `campaign run`) must not resume a schedule paused in the Prefect UI or CLI. A schedule the file
    changed keeps the deployment's state too: paused if every schedule it had was paused."""
    if before is None or not before.schedules:
        return new
    all_paused = not any(s.active for s in before.schedules)
    out = []
    for n in new:
        same = next((s for s in before.schedules if s.schedule == n.schedule), None)
        active = same.active if same is not None else not all_paused
        out.append(n if active == n.active else n.model_copy(update={"active": active}))
    return out


async def _deploy(campaign: Campaign, only: set[str] | None = None) -> dict:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
    from prefect.client.schemas.sorting import DeploymentSort

    entries = campaign.entries()
    schedules = _checked_schedules(entries)   # every entry checked, even those `only` leaves out
    entries = [e for e in entries if only is None or e.dantai in only]
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
        prior = {d.name: d for d in existing}
        wanted = {e.deployment for e in entries}
        dropped = [d for d in existing if d.name not in wanted] if only is None else []
        # a deployment the file no longer lists goes, but never under a run a worker has taken or will take at
        # once (its run would lose its deployment midway): refused before anything changes, as `campaign remove`
        await _refuse_busy(client, campaign, dropped, "deploy",
                           "nothing was deployed or removed", "何も登録・削除していません")
        for e in entries:
            before = prior.get(e.deployment)   # its paused state and schedules' active state are kept
            await client.create_deployment(
                flow_id=flow_id, name=e.deployment,
                entrypoint=PARALLEL_ENTRYPOINT if campaign.parallel else ENTRYPOINT, work_pool_name=campaign.work_pool.name,
                parameters=e.parameters(), schedules=_kept(schedules[e.deployment], before), tags=_tags(campaign, e),
                # one run of a 団体's rehearsal at a time: a target holds one whole run
                concurrency_limit=1, job_variables={"env": env} if env else {},
                description=f"{e.cfg.dantai.code} {e.cfg.dantai.name} {'+'.join(e.cfg.gyomu)} {e.cfg.rehearsal}",
                enforce_parameter_schema=False, paused=bool(before is not None and before.paused))
        removed = []
        for d in dropped:   # a partial deploy (`only`) leaves the other 団体' deployments alone
            await client.delete_deployment(d.id)
            removed.append(d.name)
    return {"deployed": sorted(wanted), "removed": sorted(removed)}


def deploy(campaign: Campaign, only: set[str] | None = None) -> dict:
    """Register the campaign's deployments (and pool, limits); remove those the file no longer lists.
    `only` (団体 codes): register only theirs and remove nothing. Paused schedules and deployments stay paused.
    Refused, changing nothing, while a deployment it would remove has a run a worker has taken, one started by hand
    and still waiting, or a late scheduled one (CampaignBusy)."""
    return asyncio.run(_deploy(campaign, only))


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


def _meta(e: Entry) -> dict:
    return {"deployment": e.deployment, "dantai": e.dantai, "dantai_name": e.cfg.dantai.name,
            "gyomu": list(e.cfg.gyomu), "rehearsal": e.cfg.rehearsal}


def _run_dir(e: Entry, run_id: str) -> Path:
    return e.cfg.runs_dir / e.dantai / run_id


def _target_holds(cfg, run_id: str) -> bool | None:
    """Whether the 団体's target holds `run_id` now (its ikou_run, read only); None: not known."""
    if cfg is None:
        return None
    try:
        from ikou.loaders import held_runs

        current = held_runs(cfg.target.url, cfg.target_schema)["current"]
    except Exception:   # noqa: BLE001 - a target that cannot be read: the record says "not known"
        return None
    return bool(current) and current.get("run_id") == run_id


def _record(meta: dict, run_id: str, flow_run_id: str, run_dir: Path | None, fr, cfg=None) -> dict:
    """One run's record from its summary.json (when it left one) and its flow run's state on the server;
    for a run that did not succeed, also whether the target holds it (a crash after the COMMIT does)."""
    f = run_dir / "summary.json" if run_dir else None
    summary = json.loads(f.read_text(encoding="utf-8")) if f is not None and f.is_file() else None
    state = fr.state if fr is not None else None
    kind = state.type.value if state else "UNKNOWN"
    status = (summary or {}).get("status")
    holds = (_target_holds(cfg, run_id) if kind not in report.NOT_FINAL and status != "succeeded"
             and (kind != "COMPLETED" or status) else None)
    return report.run_record(**meta, run_id=run_id, run_dir=run_dir, flow_run_id=flow_run_id,
                             flow_run_url=_ui_url(flow_run_id), state=kind,
                             state_message=(state.message if state else None), summary=summary,
                             target_holds_run=holds)


def _results(campaign: Campaign, started: list[dict], runs: dict) -> list[dict]:
    return [_record(_meta(s["entry"]), s["run_id"], s["flow_run_id"], _run_dir(s["entry"], s["run_id"]),
                    runs.get(s["flow_run_id"]), s["entry"].cfg) for s in started]


def _pending(s: dict) -> dict:
    e: Entry = s["entry"]
    return report.pending_record(**_meta(e), run_id=s["run_id"], flow_run_id=s["flow_run_id"],
                                 run_dir=_run_dir(e, s["run_id"]))


def refresh(campaign: Campaign, record: dict) -> None:
    """Bring every attempt the record still shows as running up to date, from its flow run on the server
    and its summary.json: a `campaign run --timeout` ends the wait, not the runs, which go on and finish
    after the command; each entry shows its latest attempt."""
    entries = {e.deployment: e for e in campaign.entries()}
    stale = [(r, a) for r in record["runs"] for a in (r.get("attempts") or []) if a.get("status") == "running"]
    if not stale:
        return
    runs = asyncio.run(_states([a["flow_run_id"] for _, a in stale]))
    for r, a in stale:
        e = entries.get(r["deployment"])
        # the run folder: from the campaign file, else beside the entry's (a rehearsal the file dropped)
        run_dir = (_run_dir(e, a["run_id"]) if e is not None else
                   Path(r["run_dir"]).parent / a["run_id"] if r.get("run_dir") else None)
        meta = {k: r.get(k) for k in ("deployment", "dantai", "dantai_name", "gyomu", "rehearsal")}
        new = _record(meta, a["run_id"], a["flow_run_id"], run_dir, runs.get(a["flow_run_id"]),
                      e.cfg if e is not None else None)
        a.update(new["attempts"][0])
        if a["run_id"] == r["run_id"]:
            attempts = r["attempts"]
            r.clear()
            r.update({**new, "attempts": attempts})


def unfinished(record: dict) -> list[dict]:
    """The entries with an attempt not final yet (scheduled, pending, running): a retry would run them twice."""
    return [r for r in record["runs"] if any(a.get("status") == "running" for a in (r.get("attempts") or [r]))]


def check_only(campaign: Campaign, only: set[str] | None, *, nothing: str = "nothing was started",
               nothing_ja: str = "何も開始していません") -> None:
    """`--dantai` may only name 団体 of the campaign: a typo would start nothing and leave an empty campaign
    (or pause, resume, remove nothing while saying it did)."""
    if only is None:
        return
    known = {e.dantai for e in campaign.entries()}
    unknown = sorted(only - known) or (["(none)"] if not only else [])
    if unknown:
        listed = ", ".join(sorted(known)[:10]) + (" …" if len(known) > 10 else "")
        raise ConfigError(f"--dantai {','.join(unknown)}: not a 団体 of campaign {campaign.campaign} "
                          f"(its 団体: {listed}); {nothing}",
                          ja=f"--dantai {','.join(unknown)} はキャンペーン {campaign.campaign} の団体ではありません "
                             f"(団体: {listed})。{nothing_ja}")


def _campaign_dir(campaign: Campaign, campaign_id: str) -> Path:
    return Path(campaign.out) / campaign.campaign / campaign_id


def run(campaign: Campaign, *, spec_path: Path, timeout: float | None = None,
        only: set[str] | None = None) -> tuple[Path, dict]:
    """Deploy, start every rehearsal, wait, write campaign.json/.html; return (folder, record)."""
    check_only(campaign, only)
    deploy(campaign, only)
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
    record["source"] = "run"   # started by hand (`campaign report` writes "schedule")
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
    """Re-run, in the same campaign folder, the rehearsals that failed or were cancelled (and any the file
    added), once the record is brought up to date and every earlier run has finished."""
    base = Path(campaign.out) / campaign.campaign
    folder = base / campaign_id if campaign_id else report.latest_campaign(base)
    if folder is None or not (folder / "campaign.json").is_file():
        raise ConfigError(f"no campaign to retry under {base}" + (f" with id {campaign_id}" if campaign_id else ""))
    record = json.loads((folder / "campaign.json").read_text(encoding="utf-8"))
    refresh(campaign, record)
    report.finish(record)
    report.write(folder, record)   # corrected even when the retry is refused below
    busy = unfinished(record)
    if busy:
        codes = ", ".join(r["dantai"] for r in busy)
        raise CampaignBusy(f"campaign {record['campaign']} {record['campaign_id']}: {len(busy)} rehearsal(s) not "
                           f"finished yet ({codes}); retrying now would run them twice: wait until they finish "
                           "(ikou runs list --dantai CODE), then ikou campaign retry")
    deploy(campaign)
    by = {r["deployment"]: r for r in record["runs"]}
    todo = [e for e in campaign.entries() if e.deployment not in by or by[e.deployment]["status"] in RETRIED]
    started = _start(campaign, todo, record["campaign_id"]) if todo else []
    runs = wait([s["flow_run_id"] for s in started], timeout=timeout) if started else {}
    report.merge_retry(record, _results(campaign, started, runs))
    report.finish(record)
    report.write(folder, record)
    return folder, record


# ---- pause, resume, remove: an operator's hold on a campaign's schedules, and its end on the server ----

BUSY = ("RUNNING", "PENDING", "CANCELLING", "PAUSED")   # a flow run a worker has taken (or is ending)


async def _campaign_deployments(client, campaign: Campaign, only: set[str] | None) -> list:
    """The server's deployments of the campaign (tag `campaign:<name>`, also those the file no longer lists),
    only those of the 団体 in `only` when given."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
    from prefect.client.schemas.sorting import DeploymentSort

    found, page = [], None
    while page is None or len(page) == 200:   # the server answers at most 200 at a time
        page = await client.read_deployments(deployment_filter=DeploymentFilter(
            tags=DeploymentFilterTags(all_=[f"campaign:{campaign.campaign}"])), limit=200, offset=len(found),
            sort=DeploymentSort.NAME_ASC)
        found += page
    return [d for d in found if only is None or any(f"dantai:{c}" in (d.tags or []) for c in only)]


def _is_paused(d) -> bool:
    return bool(d.paused) and not any(s.active for s in d.schedules or [])


def _is_active(d) -> bool:
    return not d.paused and all(s.active for s in d.schedules or [])


async def _set_paused(campaign: Campaign, only: set[str] | None, paused: bool) -> list[dict]:
    from prefect import get_client

    out = []
    async with get_client() as client:
        for d in await _campaign_deployments(client, campaign, only):
            done = _is_paused(d) if paused else _is_active(d)
            if not done:
                # the schedules first (what the UI shows per schedule), then the deployment: pausing it makes
                # the scheduler skip it and deletes its auto-scheduled runs still waiting (late ones too);
                # runs a worker has taken, and runs started by hand, are left alone
                for s in d.schedules or []:
                    if s.active == paused:
                        await client.update_deployment_schedule(d.id, s.id, active=not paused)
                await (client.pause_deployment(d.id) if paused else client.resume_deployment(d.id))
            out.append({"deployment": d.name, "changed": not done, "schedules": len(d.schedules or [])})
    return out


def pause(campaign: Campaign, only: set[str] | None = None) -> list[dict]:
    """Stop the schedules of the campaign's deployments (only those of the 団体 in `only`): each schedule
    inactive and the deployment paused. Runs already taken by a worker go on; `campaign run` still starts
    runs by hand. Idempotent: one {deployment, changed, schedules} per deployment found on the server."""
    check_only(campaign, only, nothing="nothing was paused", nothing_ja="何も一時停止していません")
    return asyncio.run(_set_paused(campaign, only, True))


def resume(campaign: Campaign, only: set[str] | None = None) -> list[dict]:
    """Start the schedules of the campaign's deployments again (the reverse of `pause`). Idempotent."""
    check_only(campaign, only, nothing="nothing was resumed", nothing_ja="何も再開していません")
    return asyncio.run(_set_paused(campaign, only, False))


async def _busy_runs(client, deployments: list) -> list:
    """Flow runs of these deployments a removal would break: taken by a worker (running, pending, cancelling,
    paused), started by hand and still waiting (a `campaign run` follows it), or scheduled and already late
    (a worker may take it at any moment). Future auto-scheduled runs are not: the server deletes them."""
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                FlowRunFilterState, FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    if not deployments:
        return []
    now = dt.datetime.now(dt.timezone.utc)
    types = [StateType(t) for t in (*BUSY, "SCHEDULED")]
    runs, page = [], None
    while page is None or len(page) == 200:
        page = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id for d in deployments])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=types))),
            limit=200, offset=len(runs), sort=FlowRunSort.ID_DESC)
        runs += page
    busy = []
    for r in runs:
        if r.state_type is not None and r.state_type.value == "SCHEDULED" and r.auto_scheduled:
            start = r.next_scheduled_start_time or r.expected_start_time
            if start is None or start > now:
                continue
        busy.append(r)
    return busy


async def _refuse_busy(client, campaign: Campaign, deployments: list, command: str, nothing: str,
                       nothing_ja: str) -> None:
    """CampaignBusy, naming the runs (at most five), when any of `deployments` has a run `_busy_runs` finds."""
    busy = await _busy_runs(client, deployments)
    if not busy:
        return
    names = {d.id: d.name for d in deployments}
    shown = "; ".join(f"{names.get(r.deployment_id, r.deployment_id)}: flow run {r.name} ({r.id}) "
                      f"{r.state_type.value}" for r in busy[:5]) + (" …" if len(busy) > 5 else "")
    raise CampaignBusy(
        f"campaign {campaign.campaign}: {len(busy)} flow run(s) not finished ({shown}); {nothing}: "
        f"wait until they finish (ikou runs list) or cancel them, then ikou {command} again "
        "(ikou campaign pause first stops new scheduled runs)",
        ja=f"キャンペーン {campaign.campaign} に終わっていない実行が {len(busy)} 件あります "
           f"({'; '.join(f'{names.get(r.deployment_id, r.deployment_id)}: {r.name}' for r in busy[:5])})。"
           f"{nothing_ja}。終わるのを待つか取り消してから、もう一度 ikou {command} を実行してください")


async def _remove(campaign: Campaign, only: set[str] | None) -> list[str]:
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        deployments = await _campaign_deployments(client, campaign, only)
        await _refuse_busy(client, campaign, deployments, "campaign remove", "nothing was removed", "何も削除していません")
        removed = []
        for d in deployments:
            try:
                await client.delete_deployment(d.id)
            except ObjectNotFound:   # removed by someone else meanwhile: gone all the same
                pass
            removed.append(d.name)
    return removed


def remove(campaign: Campaign, only: set[str] | None = None) -> list[str]:
    """Delete the campaign's deployments (only those of the 団体 in `only`) from the server; their names.
    Refused, removing nothing, while any of them has a flow run a worker has taken, one started by hand and
    still waiting, or a late scheduled one. The history of past runs stays on the server, the campaign
    folders stay on disk; `ikou deploy` registers them again."""
    check_only(campaign, only, nothing="nothing was removed", nothing_ja="何も削除していません")
    return asyncio.run(_remove(campaign, only))


# ---- report: the campaign folder of the runs the schedules fired (no run started here) ----

NO_RUN = "no_run"   # a deployment with no flow run started in the window


def parse_since(text: str) -> dt.datetime:
    """`--since`: an ISO date (its midnight) or date-time; without an offset, in this machine's time zone."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since {text!r}: not an ISO date or date-time (2026-12-05 or 2026-12-05T02:00+09:00)",
                          ja=f"--since {text} は ISO 形式の日付・日時ではありません "
                             "(2026-12-05 や 2026-12-05T02:00+09:00 の形で指定してください)") from None
    return when if when.tzinfo else when.astimezone()


async def _latest_runs(campaign: Campaign, only: set[str] | None, since: dt.datetime | None) -> list[tuple]:
    """(deployment, its latest flow run started since `since`, or None) for each deployment of the campaign on
    the server. Started: a run that has a start time (a schedule's coming runs, and runs still waiting for a
    worker, have none)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                FlowRunFilterStartTime)
    from prefect.client.schemas.sorting import FlowRunSort

    out = []
    async with get_client() as client:
        for d in await _campaign_deployments(client, campaign, only):
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[d.id])),
                flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(is_null_=False, after_=since)),
                sort=FlowRunSort.START_TIME_DESC, limit=1)
            out.append((d, runs[0] if runs else None))
    return out


def _deployment_meta(d, e: Entry | None) -> dict:
    """A deployment's entry as the record shows it; one the file no longer lists, from its tags."""
    if e is not None:
        return _meta(e)
    code = next((t.split(":", 1)[1] for t in d.tags or [] if t.startswith("dantai:")), "")
    return {"deployment": d.name, "dantai": code, "dantai_name": "", "gyomu": [], "rehearsal": ""}


def _no_run(meta: dict) -> dict:
    """A deployment with no run in the window: listed, never dropped, its counts not known."""
    r = report.pending_record(**meta, run_id=None, flow_run_id=None)
    r.update(state=None, status=NO_RUN, counts={k: None for k in ("extracted", "quarantined", "loaded", "warnings")},
             attempts=[], outcome=None, target_holds_run=None, unexplained_differences=None, unresolved_gaiji=None)
    return r


def _iso(t) -> str | None:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


def server_report(campaign: Campaign, *, spec_path: Path, since: dt.datetime | None = None,
                  only: set[str] | None = None) -> tuple[Path, dict]:
    """The campaign folder (campaign.json/.html, trend against the previous folder) of the latest flow run of each
    of the campaign's deployments on the server, started since `since` (default: whenever): what the schedules
    ran. Starts nothing. The record says `source: schedule` and its window; a deployment with no run in the
    window is listed `no_run`; a run not finished is `running`, and a later report of the same runs updates
    the same folder."""
    from ikou.flows.history import _run_id_of

    check_only(campaign, only, nothing="nothing was reported", nothing_ja="何も出力していません")
    found = asyncio.run(_latest_runs(campaign, only, since))
    if not found:   # an empty campaign folder would read as a wave that ran nothing
        scope = f" ({','.join(sorted(only))})" if only else ""
        raise CampaignError(f"no deployment of campaign {campaign.campaign}{scope} on the server (ikou deploy "
                            "registers them); nothing was reported",
                            ja=f"キャンペーン {campaign.campaign}{scope} のデプロイメントはサーバーにありません "
                               "(ikou deploy で登録してください)。何も出力していません")
    entries = {e.deployment: e for e in campaign.entries()}
    runs = []
    for d, fr in found:
        e = entries.get(d.name)
        meta = _deployment_meta(d, e)
        if fr is None:
            runs.append(_no_run(meta))
            continue
        run_id = _run_id_of(fr)
        run_dir = _run_dir(e, run_id) if e is not None and run_id else None
        runs.append(_record(meta, run_id, str(fr.id), run_dir, fr, e.cfg if e is not None else None))
    window = {"since": _iso(since), "until": _iso(dt.datetime.now(dt.timezone.utc))}
    base = Path(campaign.out) / campaign.campaign
    ids = sorted(r["flow_run_id"] for r in runs if r["flow_run_id"])
    folder = _same_report(base, ids, window["since"])
    if folder is None:
        campaign_id = new_campaign_id()
        folder = base / campaign_id
        while folder.exists():   # two campaigns in one second
            time.sleep(1)
            campaign_id = new_campaign_id()
            folder = base / campaign_id
    record = report.new_record(campaign.campaign, folder.name, spec=spec_path,
                               limits={"work_pool": campaign.work_pool.concurrency_limit,
                                       "target_loads": campaign.limits.target_loads},
                               previous=report.previous_campaign(folder))
    starts = [fr.start_time for _, fr in found if fr is not None and fr.start_time]
    ends = [fr.end_time for _, fr in found if fr is not None and fr.end_time]
    record.update(source="schedule", window=window, reported_at=window["until"],
                  started_at=_iso(min(starts, default=None)))
    record["runs"] = runs
    report.finish(record)
    if record["finished_at"] is not None:   # when the last run ended, not when this report was written
        record["finished_at"] = _iso(max(ends, default=None)) or record["finished_at"]
    report.write(folder, record)
    return folder, record


def _same_report(base: Path, flow_run_ids: list[str], since: str | None) -> Path | None:
    """The newest campaign folder when it is a report of these very flow runs (and window): a later
    `campaign report` brings it up to date instead of writing a copy the trend would compare with."""
    if not flow_run_ids or not base.is_dir():
        return None
    from ikou.campaign import CAMPAIGN_ID

    ids = sorted(p.name for p in base.iterdir() if CAMPAIGN_ID.match(p.name) and (p / "campaign.json").is_file())
    if not ids:
        return None
    try:
        old = json.loads((base / ids[-1] / "campaign.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = (old.get("source") == "schedule" and (old.get("window") or {}).get("since") == since
            and sorted(r["flow_run_id"] for r in old.get("runs") or [] if r.get("flow_run_id")) == flow_run_ids)
    return base / ids[-1] if same else None
