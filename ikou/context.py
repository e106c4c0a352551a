"""The run context: who (団体), what (業務), which rehearsal, and where its files live.

A run is a folder `runs/<団体コード>/<run id>/` with one sub-folder per stage; the run id sorts by
time. Every path a stage writes comes from here, so a run can never write into another 団体's
folder.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ikou.errors import ConfigError, IsolationError

STAGES = ("extract", "map", "moji", "validate", "load", "report")

# A run id as new_run_id makes it: UTC time stamp, the rehearsal (a config FileName), 4 hex digits.
RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9][A-Za-z0-9_\-]{0,63}-[0-9a-f]{4}")
# What any run folder name must be at least: one plain path component (no separator, no `..`).
_RUN_DIR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")
_DANTAI_DIR_NAME = re.compile(r"[0-9]{6}")


class RunIdError(ConfigError):
    """A run id that is not of the form new_run_id makes."""

    ja = "実行ID (--run-id) の形式が正しくありません"


def new_run_id(rehearsal: str) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{rehearsal}-{secrets.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    """A run id given from outside (`ikou run --run-id`): exactly the form new_run_id makes
    (`20261129T221752Z-R1-749c`), so that it can only name a folder of its own 団体's runs."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise RunIdError(f"--run-id {run_id!r} is not a run id (like 20261129T221752Z-R1-749c: "
                         "YYYYMMDDTHHMMSSZ-<rehearsal>-<4 hex digits>)")
    # its time stamp is what retention and the order of runs go by: a date that is no date broke every
    # later purge, and one in the future was never purged
    try:
        started = dt.datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise RunIdError(f"--run-id {run_id!r}: {run_id[:16]} is not a UTC date and time (YYYYMMDDTHHMMSSZ)",
                         ja=f"実行ID (--run-id) {run_id} の日時 {run_id[:16]} が正しい日時ではありません "
                            "(YYYYMMDDTHHMMSSZ、UTC)") from None
    now = dt.datetime.now(dt.timezone.utc)
    if started > now + RUN_ID_FUTURE_LIMIT:
        raise RunIdError(f"--run-id {run_id!r}: {started.isoformat()} is in the future (now {now:%Y%m%dT%H%M%SZ} "
                         "UTC): a run id starts with the UTC time the run starts (retention goes by it)",
                         ja=f"実行ID (--run-id) {run_id} の日時が未来です (現在 {now:%Y%m%dT%H%M%SZ} UTC)。実行ID は"
                            "実行開始時の UTC 日時で始めてください (保存期間の判定に使います)")
    return run_id


RUN_ID_FUTURE_LIMIT = dt.timedelta(minutes=10)   # clocks of two machines may differ a little; no more


class RunExists(RunIdError):
    """A run id whose folder already holds a run: a run id names one run, and its record is never replaced."""

    ja = "この実行IDの実行はすでにあります (実行の記録は置き換えません。新しい実行には --run-id を省いてください)"


_starting: dict[Path, int] = {}   # run folder → depth: the runs this process is starting (new_run)


def check_new_run(run_dir: Path) -> None:
    """Refuse (RunExists) a run folder that already holds anything, unless this process is starting its run
    in it (new_run). Its summary.json, but also the run.log, staging or specs/ of a run killed before it
    wrote its summary (whose load may have committed under that id): a run id names one run, and a folder
    holding a run's traces is never given to another. `ikou run` claims the folder and writes run.log into
    it before the flow starts; the flow checks again (a worker or a deployment starts it without `ikou run`)
    and takes the folder its own `ikou run` claimed."""
    run_dir = Path(run_dir)
    if run_dir.absolute() in _starting:
        return
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise RunExists(f"run {run_dir.name} of 団体 {run_dir.parent.name} already exists ({run_dir}): a run id "
                        "names one run, and its record is never replaced; leave --run-id out for a new one")


@contextlib.contextmanager
def new_run(run_dir: Path):
    """Claim `run_dir` for the run this process starts, for the block: check_new_run first, then the same
    check from inside the block (the flow's) accepts the folder the block fills."""
    check_new_run(run_dir)
    key = Path(run_dir).absolute()
    _starting[key] = _starting.get(key, 0) + 1
    try:
        yield
    finally:
        _starting[key] -= 1
        if not _starting[key]:
            del _starting[key]


# What a run writes under its 団体's folder besides its own run folder: each must be a real folder there.
DANTAI_FOLDERS = ("_cache", "_cache/extract", "crosswalk", "moji_ledger")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_dantai_folders(runs_dir: Path, code: str, run_id: str | None = None) -> Path:
    """Refuse (IsolationError) a 団体 folder that is not exactly `runs_dir/<code>` once resolved, and a run
    folder, `_cache`, `_cache/extract`, `crosswalk` or `moji_ledger` under it (or a file directly in
    `crosswalk`/`moji_ledger`) that is a symbolic link or resolves outside it: a link there would lead
    this 団体's run, cache, crosswalk or purge into another 団体's tree. Checked before a run writes
    anything (RunContext, `ikou run`); returns the 団体 folder, resolved."""
    runs_dir = Path(runs_dir)
    dantai = runs_dir / code
    expected = runs_dir.resolve() / code
    real = dantai.resolve()
    if dantai.is_symlink() or real != expected:
        raise IsolationError(f"{dantai} resolves to {real}, not {expected}: the 団体's runs folder must be a real "
                             f"folder named {code} in runs_dir (remove the link)")
    for name in ([run_id] if run_id else []) + list(DANTAI_FOLDERS):
        p = dantai / name
        if p.is_symlink() or (p.exists() and not _inside(p.resolve(), expected)):
            raise IsolationError(f"{p} is a symbolic link (to {p.resolve()}): a run folder, _cache, crosswalk or "
                                 f"moji_ledger of 団体 {code} must be a real folder inside {expected} (remove the link)")
    for name in ("crosswalk", "moji_ledger"):
        folder = dantai / name
        if folder.is_dir():
            for f in folder.iterdir():
                if f.is_symlink() or not _inside(f.resolve(), expected):
                    raise IsolationError(f"{f} is a symbolic link (to {f.resolve()}): the 団体's {name} files must "
                                         f"lie in {expected} (remove the link)")
    return expected


def check_run_folder(run_dir: Path) -> Path:
    """A run folder named on the command line (`run-report`, `evidence`, `signoff`): refused
    (IsolationError) when it is a symbolic link, when it is reached through a link into another 団体's
    folder, or when its summary.json names another 団体 than the folder holding it."""
    given = Path(run_dir)
    absolute = Path(os.path.abspath(given))
    real = given.resolve()
    if given.is_symlink() or absolute.name != real.name:
        raise IsolationError(f"{given} is a symbolic link (to {real}): give the run folder itself")
    folders = {absolute.parent.name, real.parent.name}
    codes = {f for f in folders if _DANTAI_DIR_NAME.fullmatch(f)}
    if len(folders) > 1 and codes:
        raise IsolationError(f"{given} lies in 団体 {real.parent.name}'s folder ({real}), reached through a link "
                             f"from {absolute.parent}: give the run folder itself")
    try:
        summary = json.loads((real / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    dantai = str(summary.get("dantai") or "") if isinstance(summary, dict) else ""
    if dantai and codes and codes != {dantai}:
        raise IsolationError(f"{given}: its summary.json names 団体 {dantai}, but it lies in the folder of 団体 "
                             f"{real.parent.name}: refused (a run of one 団体 is never reported, packed or signed "
                             "off as another's)")
    return real


def _names_other_dantai(part: str, own: str) -> str | None:
    """The 団体コード a path component names other than `own` (a run id's time stamp is not one)."""
    from ikou.config import _embedded_dantai, other_dantai

    return other_dantai(part, own) or (None if RUN_ID.fullmatch(part) else _embedded_dantai(part, own))


_DATE_FOLDER = re.compile(r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])?")   # YYYYMM, YYYYMMDD


def check_run_input(path: Path, dantai: str, what: str, *, summary: dict | None = None) -> Path:
    """A file a run's report is given besides the run's own (`run-report --diff`, `--quarantine`): refused
    (IsolationError) when it, or the folder holding it, is a symbolic link, when its path (as given or with
    links resolved) lies in another 団体's folder or names another 団体, or when its `summary` (a diff's
    summary.json) names another 団体 (its target schema `dantai_<code>`): its cells would go into this 団体's
    report.xlsx and evidence pack. Returns the path resolved."""
    given = Path(path)
    for p in (given, given.parent):
        if p.is_symlink():
            raise IsolationError(f"{what} {given}: {p} is a symbolic link (to {p.resolve()}): give the file itself")
    for p in (Path(os.path.abspath(given)), given.resolve()):
        parts = p.parts
        for i, part in enumerate(parts):
            after = parts[i + 1] if i + 1 < len(parts) else ""
            if _DATE_FOLDER.fullmatch(part) and not RUN_ID.fullmatch(after):
                continue   # 202410: a month's folder, a valid 団体コード too; another 団体's runs/<code>/<run id> is not skipped
            code = _names_other_dantai(part, str(dantai))
            if code:
                raise IsolationError(f"{what} {given} lies in, or names, another 団体's folder ({part}: 団体 {code}): "
                                     f"refused (a report of 団体 {dantai} shows only its own data)")
    if isinstance(summary, dict):
        from ikou.config import other_dantai

        named = [str(summary.get(k) or "") for k in ("dantai", "left", "right", "table", "schema")]
        for word in (w for text in named for w in re.split(r"[^0-9A-Za-z_]+", text) if w):
            code = other_dantai(word, str(dantai))
            if code:
                raise IsolationError(f"{what} {given}: its summary names 団体 {code} ({word}): refused (a report of "
                                     f"団体 {dantai} shows only its own data)")
    return given.resolve()


@dataclass
class RunContext:
    dantai_code: str
    run_id: str
    runs_dir: Path
    rehearsal: str = "R1"
    dantai_name: str = ""

    def __post_init__(self) -> None:
        """The 団体コード and run id become folder names: each must be one plain path component."""
        if not _DANTAI_DIR_NAME.fullmatch(str(self.dantai_code)):
            raise IsolationError(f"refused 団体コード {self.dantai_code!r} as a run folder name")
        if not _RUN_DIR_NAME.fullmatch(str(self.run_id)):
            raise IsolationError(f"refused run id {self.run_id!r} as a run folder name (letters, digits, _ and -)")
        self.runs_dir = Path(self.runs_dir)
        check_dantai_folders(self.runs_dir, self.dantai_code, self.run_id)

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / self.dantai_code / self.run_id

    @property
    def dantai_dir(self) -> Path:
        return self.runs_dir / self.dantai_code

    def stage_dir(self, stage: str) -> Path:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        d = self.run_dir / stage
        d.mkdir(parents=True, exist_ok=True)
        return d
