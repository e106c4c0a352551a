"""A rehearsal campaign as a declarative file: which run configs are deployed, when each runs, and how
many run (or load) at once. Parsed like every spec (`extra="forbid"`, errors name the file and key);
Prefect is imported only for its cron model (flows.campaign turns the file into deployments).

```yaml
spec_version: 1
campaign: r3-wave1                       # names the deployments (<campaign>.<団体>.<業務>) and the folders
work_pool: {name: ikou, concurrency_limit: 4}   # at most 4 flow runs of the pool at once, across workers
limits: {target_loads: 2}                # global concurrency limit on target loads (null: none)
schedule: {cron: "0 2 * * 6", timezone: Asia/Tokyo}   # default for every rehearsal: R3 every Saturday 02:00
out: ../campaigns                        # campaign folders (campaign.json, campaign.html)
rehearsals:
  - config: configs/011002.yaml          # one run config = one 団体 × its 業務 × rehearsal
  - config: configs/012025.yaml
    schedule: {interval_seconds: 3600, anchor: "2026-12-05T02:00:00+09:00"}
    target_url: postgresql://…           # overrides the config's target (a flow parameter: no password)
```

Reading the file checks what a deploy or a run would otherwise find out late: every run config with
its target URL override and its mappings (the plan a run makes), every cron expression (by Prefect's
own model), and no two rehearsals loading one target.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import (Discriminator, Field, PrivateAttr, Tag, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from ikou.config import FileName, RunConfig, _resolve, load_config, with_target_url
from ikou.errors import ConfigError, IsolationError, message_ja
from ikou.spec import SpecProblem, StrictModel, load_spec, spec_version_field

FLOW_NAME = "ikou-migration"                 # the migration flow's name (flows.migrate)
ENTRYPOINT = "ikou.flows.migrate:migration_flow"
LOAD_LIMIT = "ikou-target-load"              # the global concurrency limit around target loads
LOAD_LIMIT_ENV = "IKOU_LOAD_CONCURRENCY"     # set in a deployment's environment when the limit is configured
_CRON_FIELD = re.compile(r"[0-9A-Za-z*,/\-]+")   # the characters; Prefect's cron model checks the values
PoolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")]


class CronSchedule(StrictModel):
    cron: str = Field(description="cron expression, e.g. '0 2 * * 6' (Saturday 02:00)")
    timezone: str = Field("Asia/Tokyo", description="IANA time zone of the cron expression")

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, v: str) -> str:
        fields = v.split()
        if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
            raise ValueError(f"cron {v!r} must have 5 fields (minute hour day month weekday) of digits, "
                             "names, * , - /")
        # the field values too ("0 25 * * *"), by the model `ikou deploy` builds: checked here, a bad
        # expression never reaches the server halfway through a deploy
        from prefect.client.schemas.schedules import CronSchedule as PrefectCron

        try:
            PrefectCron(cron=v)
        except ValidationError:
            raise ValueError(f"cron {v!r} is not a valid cron expression (minute 0-59, hour 0-23, day 1-31, "
                             "month 1-12, weekday 0-7)") from None
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {v!r} is not an IANA time zone (e.g. Asia/Tokyo)") from None
        return v


class IntervalSchedule(StrictModel):
    interval_seconds: int = Field(ge=1, description="a run every this many seconds")
    anchor: dt.datetime | None = Field(None, description="the first run (with its UTC offset); default: now")

    @field_validator("anchor")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("anchor needs a UTC offset, e.g. 2026-12-05T02:00:00+09:00")
        return v


def _schedule_kind(v: object) -> str:
    """Which schedule a mapping is (by its `cron` key), so an error names only that kind's fields."""
    if isinstance(v, dict):
        return "CronSchedule" if "cron" in v else "IntervalSchedule"
    return type(v).__name__


Schedule = Annotated[Union[Annotated[CronSchedule, Tag("CronSchedule")],
                           Annotated[IntervalSchedule, Tag("IntervalSchedule")]], Discriminator(_schedule_kind)]


class WorkPool(StrictModel):
    name: PoolName = "ikou"
    concurrency_limit: int | None = Field(None, ge=1, description="flow runs of the pool at once (all workers)")


class Limits(StrictModel):
    target_loads: int | None = Field(None, ge=1, description=(
        f"target loads at once across the campaign (Prefect global concurrency limit {LOAD_LIMIT!r}); null: none"))


class Parallel(StrictModel):
    """Independent stages of one run as concurrent Prefect tasks (opt-in; results are the same)."""
    task_runner: Literal["threads", "dask"] = "threads"
    max_workers: int = Field(4, ge=1, le=64, description="threads (task_runner: threads)")
    dask_address: str | None = Field(None, description="scheduler address of a Dask cluster (tcp://host:8786); "
                                                       "none: a temporary local cluster per run")

    @model_validator(mode="after")
    def _address_for_dask(self) -> "Parallel":
        if self.dask_address and self.task_runner != "dask":
            raise ValueError("dask_address needs task_runner: dask")
        return self


class Rehearsal(StrictModel):
    config: Path = Field(description="run config (one 団体 × its 業務 × rehearsal)")
    name: FileName | None = Field(None, description="deployment name suffix (default <団体コード>.<業務>)")
    schedule: Schedule | None = Field(None, description="overrides the campaign's schedule")
    unscheduled: bool = Field(False, description="no schedule: runs only when a campaign starts it")
    target_url: str | None = Field(None, description="overrides the config's target URL; without a password (it is "
                                                     "stored in the server's deployment parameters): the worker "
                                                     "gives it (PGPASSWORD, ~/.pgpass, a pg_service.conf service)")

    _resolve_config = field_validator("config", mode="before")(classmethod(lambda cls, v, info: _resolve(v, info)))


class Campaign(StrictModel):
    spec_version: Literal[1] = spec_version_field()
    campaign: FileName = Field(description="campaign name: deployments <campaign>.<団体>.<業務>, folders out/<campaign>/")
    work_pool: WorkPool = WorkPool()
    limits: Limits = Limits()
    schedule: Schedule | None = Field(None, description="default schedule of every rehearsal (none: run on demand)")
    parallel: Parallel | None = Field(None, description="run independent stages of a run concurrently (opt-in)")
    out: Path = Field(Path("campaigns"), validate_default=True,
                      description="campaign folders: out/<campaign>/<campaign id>/ (relative to this file)")
    rehearsals: list[Rehearsal] = Field(min_length=1)

    _resolve_out = field_validator("out", mode="before")(classmethod(lambda cls, v, info: _resolve(v, info)))
    _cfgs: list[RunConfig] = PrivateAttr(default_factory=list)   # as checked, target_url applied

    @model_validator(mode="after")
    def _configs(self, info: ValidationInfo) -> "Campaign":
        """Every run config must itself be valid as a run would use it (target_url applied, mappings and
        schemas read), each deployment name given once, and each target (database + schema) loaded by
        one rehearsal only: two runs into one target replace each other's load."""
        seen: dict[str, int] = {}
        targets: dict[tuple, int] = {}
        files: dict[str, int] = {}   # DuckDB target file → the first rehearsal loading it
        cfgs = []
        for i, r in enumerate(self.rehearsals):
            cfg = run_config(r, where=f"rehearsals.{i}")
            name = deployment_name(self.campaign, r, cfg)
            if name in seen:
                raise SpecProblem(f"rehearsals.{i} and rehearsals.{seen[name]} are both deployment {name!r}: "
                                  "give one of them a `name:`", key=f"rehearsals.{i}",
                                  ja=f"rehearsals.{seen[name]} と同じデプロイメント名 {name!r} になります。"
                                     "どちらかに name: を付けてください")
            seen[name] = i
            key = _target_key(cfg)
            if key is not None and key in targets:
                j = targets[key]
                base = Path((info.context or {}).get("path") or ".").resolve().parent
                shown = [os.path.relpath(self.rehearsals[k].config, base) for k in (i, j)]
                raise SpecProblem(f"rehearsals.{i} ({shown[0]}) and rehearsals.{j} ({shown[1]}), both 団体 "
                                  f"{cfg.dantai.code}, load the same target (schema "
                                  f"{cfg.target_schema} in the same database): their runs would replace each "
                                  "other's load; remove one, or give one its own target_url or target.schema",
                                  key=f"rehearsals.{i}",
                                  ja=f"rehearsals.{j} ({shown[1]}) と同じ移行先 (同じデータベースのスキーマ "
                                     f"{cfg.target_schema}) に投入します (どちらも団体 {cfg.dantai.code})。互いの投入を置き換えて"
                                     "しまうため、どちらかを外すか、別の target_url または target.schema にしてください")
            if key is not None:
                targets[key] = i
            # one DuckDB file holds one 団体: a file has no roles, whoever opens it reads every 団体 in it
            # (several 業務 or rehearsals of one 団体 into one file stay allowed)
            file = key[3] if key is not None and len(key) == 5 and key[0] == "duckdb" else None
            j = files.get(file) if file is not None else None
            other = cfgs[j].dantai.code if j is not None else None
            if other is not None and other != cfg.dantai.code:
                base = Path((info.context or {}).get("path") or ".").resolve().parent
                shown = [os.path.relpath(self.rehearsals[k].config, base) for k in (i, j)]
                raise SpecProblem(f"rehearsals.{i} ({shown[0]}, 団体 {cfg.dantai.code}) and rehearsals.{j} "
                                  f"({shown[1]}, 団体 {other}) load the same DuckDB file {file}: a DuckDB file has "
                                  "no roles and whoever opens it reads every 団体 in it; give each 団体 its own "
                                  "target file (its config's target.url or the rehearsal's target_url)",
                                  key=f"rehearsals.{i}",
                                  ja=f"rehearsals.{i} ({shown[0]}、団体 {cfg.dantai.code}) と rehearsals.{j} ({shown[1]}、"
                                     f"団体 {other}) が同じ DuckDB ファイル {file} に投入します。DuckDB ファイルには権限 "
                                     "(ロール) がなく、開ける人は中のすべての団体のデータを読めます。団体ごとに別の移行先"
                                     "ファイルを (設定の target.url または target_url で) 指定してください")
            if file is not None:
                files.setdefault(file, i)
            # after the entry's other checks, none of whose messages repeats the URL
            if r.target_url and url_has_password(r.target_url):
                raise SpecProblem(
                    f"rehearsals.{i}.target_url holds a password: a campaign's target_url is stored in the Prefect "
                    "server's deployment parameters (its database, UI and API show it); write the URL without it "
                    "and give the password on the worker (PGPASSWORD, ~/.pgpass or a pg_service.conf service)",
                    key=f"rehearsals.{i}.target_url",
                    ja="target_url にパスワードが書かれています。キャンペーンの target_url は Prefect サーバーのデプロイメントの"
                       "パラメータとして保存され、サーバーのデータベース・画面・API に表示されます。パスワードを除いた URL を"
                       "書き、パスワードはワーカー側で PGPASSWORD・~/.pgpass・サービスファイル (pg_service.conf) で"
                       "与えてください")
            cfgs.append(cfg)
        self._cfgs = cfgs
        return self

    def entries(self) -> list["Entry"]:
        """The rehearsals with their run configs (as checked when the file was read), in file order."""
        cfgs = self._cfgs or [run_config(r, where=f"rehearsals.{i}") for i, r in enumerate(self.rehearsals)]
        return [Entry(rehearsal=r, cfg=cfg, deployment=deployment_name(self.campaign, r, cfg),
                      schedule=None if r.unscheduled else (r.schedule or self.schedule))
                for r, cfg in zip(self.rehearsals, cfgs)]


class Entry:
    """One rehearsal of a campaign: its config, deployment name and effective schedule."""

    def __init__(self, rehearsal: Rehearsal, cfg: RunConfig, deployment: str, schedule: Schedule | None):
        self.rehearsal, self.cfg, self.deployment, self.schedule = rehearsal, cfg, deployment, schedule

    @property
    def dantai(self) -> str:
        return self.cfg.dantai.code

    def parameters(self) -> dict:
        p: dict = {"config_path": str(Path(self.rehearsal.config).resolve())}
        if self.rehearsal.target_url:
            p["target_url"] = self.rehearsal.target_url
        return p


def run_config(r: Rehearsal, *, where: str) -> RunConfig:
    """The run config of a rehearsal as its flow run will see it: the file, its `target_url` applied as
    the flow applies the parameter, and its plan (mappings, schemas, 業務) read, so a missing mapping or a
    URL no target serves fails when the campaign is read, not in a worker. Errors raise ValueError
    naming `where` (the entry)."""
    from ikou.flows.pipeline import plan   # no Prefect in it; the same checks a run makes first

    try:
        cfg = load_config(r.config)
    except ConfigError as exc:
        raise SpecProblem(f"{where}.config: {exc}", key=f"{where}.config", ja=message_ja(exc)) from None
    if r.target_url:
        try:
            cfg = with_target_url(cfg, r.target_url, origin=f"{where}.target_url")
        except ConfigError as exc:
            raise SpecProblem(str(exc), key=f"{where}.target_url", ja=message_ja(exc)) from None
    from ikou.reports.evidence import spec_files

    try:
        spec_files(cfg, plan(cfg))   # and no spec file of the plan lies in another 団体's tree
    except (ConfigError, IsolationError) as exc:
        raise SpecProblem(f"{where}.config: {r.config}: {exc}", key=f"{where}.config",
                          ja=f"{r.config}: {message_ja(exc)}") from None
    return cfg


def url_has_password(url: str) -> bool:
    """Whether a database URL carries a password: in its user part (user:secret@host) or as a query value
    (?password=…, which libpq reads too). An empty password is none."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError:   # not a URL SQLAlchemy reads: look at its user part by hand
        return bool(re.match(r"^[^:/?#]+://[^/?#@]*:[^/?#@]+@", url))
    return bool(u.password) or any(k.lower() in ("password", "passwd", "sslpassword") and v for k, v in u.query.items())


_DEFAULT_PORTS = {"postgresql": 5432}


def _target_key(cfg: RunConfig) -> tuple | None:
    """What identifies the target a run loads: database (backend, host, port, database or file) and
    schema; the user, password and driver do not change which data is replaced. None: a fresh
    in-memory database per run."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = cfg.target.url
    try:
        u = make_url(url)
    except ArgumentError:
        return (url, cfg.target_schema)
    backend, db = u.get_backend_name(), u.database or ""
    if backend in ("duckdb", "sqlite"):
        if not db or db.startswith(":memory:"):
            return None
        db = os.path.realpath(db)
    return (backend, _host_key(u.host), u.port or _DEFAULT_PORTS.get(backend), db, cfg.target_schema)


_LOOPBACK_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _host_key(host: str | None) -> str:
    """One spelling per host: case and a trailing dot dropped, IP literals (also in brackets) in their
    canonical form, and every name of this machine's loopback (localhost, 127.0.0.0/8, ::1, none: the
    local socket) one key. No name lookups: two different names of one remote server are not told apart."""
    import ipaddress

    h = (host or "").strip().lower().rstrip(".")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    h = h.split("%", 1)[0] if ":" in h else h   # an IPv6 zone id (fe80::1%eth0)
    if h in _LOOPBACK_NAMES or h.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return h
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    return "loopback" if ip.is_loopback else str(ip)


def deployment_name(campaign: str, r: Rehearsal, cfg: RunConfig) -> str:
    return f"{campaign}.{r.name or cfg.dantai.code + '.' + '+'.join(cfg.gyomu)}"


def load_campaign(path: Path | str) -> Campaign:
    return load_spec(path, Campaign)


def new_campaign_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


CAMPAIGN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
