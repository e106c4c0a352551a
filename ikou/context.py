"""The run context: who (団体), what (業務), which rehearsal, and where its files live.

A run is a folder `runs/<団体コード>/<run id>/` with one sub-folder per stage; the run id sorts by
time. Every path a stage writes comes from here, so a run can never write into another 団体's
folder.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ikou.errors import IsolationError

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
    timings: dict[str, float] = field(default_factory=dict)

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

    def guard_path(self, path: Path) -> Path:
        """Refuse a path inside another 団体's run folder."""
        p = Path(path).resolve()
        root = self.runs_dir.resolve()
        if root in p.parents:
            rel = p.relative_to(root)
            if rel.parts and rel.parts[0] != self.dantai_code:
                raise IsolationError(
                    f"run for 団体 {self.dantai_code} refused to touch {p} (団体 {rel.parts[0]})",
                    run_id=self.run_id,
                )
        return p
