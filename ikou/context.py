"""The run context: who (団体), what (業務), which rehearsal, and where its files live.

A run is a folder `runs/<団体コード>/<run id>/` with one sub-folder per stage; the run id sorts by
time. Every path a stage writes comes from here, so a run can never write into another 団体's
folder.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

STAGES = ("extract", "map", "moji", "validate", "load", "report")


def new_run_id(rehearsal: str) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{rehearsal}-{secrets.token_hex(2)}"


@dataclass
class RunContext:
    dantai_code: str
    run_id: str
    runs_dir: Path
    rehearsal: str = "R1"
    dantai_name: str = ""

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
