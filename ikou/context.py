"""The run context: who (団体), what (業務), which rehearsal, and where its files live.

A run is a folder `runs/<団体コード>/<run id>/` with one sub-folder per stage; the run id sorts by
time. Every path a stage writes comes from here, so a run can never write into another 団体's
folder.
"""
from __future__ import annotations

import datetime as dt
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
    return run_id


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
