"""The record of a run as a typed model: rendered to `summary.json` and read by the report.

Built by `reports.summary.build_summary` from the stages' results; the JSON keys are the contract
with the report, the Prefect artifacts, scripts and PMs (unchanged from the untyped dict it replaces).
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["succeeded", "failed", "cancelled"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TableCounts(_Model):
    """A table fed by sources: records at each stage boundary (must balance: extracted = loaded + quarantined;
    in a parallel run, which loads nothing, extracted = validated + quarantined)."""
    extracted: int = 0
    mapped: int = 0
    sources: list[str] = []
    quarantined: int = 0
    quarantined_by_stage: dict[str, int] = {}
    warnings: int = 0
    validated: int = 0
    loaded: int = 0
    # records held at extract whose key could not be read (a field count gone wrong inside the key):
    # the validation cannot hold the rest of their person's history with them, so a PM must look
    held_without_key: int = 0


class DerivedCounts(_Model):
    """A table the schema derives from another (現在の個人, 世帯)."""
    derived: Literal[True] = True
    from_: str = Field(alias="from")
    loaded: int = 0


class StageStats(_Model):
    rows: int = 0
    seconds: float = 0.0
    peak_rss_mb: float | None = None


class SourceStats(_Model):
    origin: str
    rows: int
    quarantined: int
    sha256: str | None = None
    seconds: float = 0.0
    # layout columns no mapping line reads and the mapping does not declare `not_migrated` (names only, never
    # values): what the run left behind without anyone deciding so (flows.pipeline.unread_columns)
    unread_columns: list[str] = []
    not_migrated: dict[str, str] = {}   # column → reason, as the mapping declares them
    # key columns a vendor table holds as numbers, not read through op zero_pad: their leading zeros are gone
    # (flows.pipeline.numeric_keys)
    numeric_keys: list[str] = []
    # text columns of a single-byte character set (latin1 …) in a database whose layout names a Japanese encoding:
    # read as bytes and decoded with the layout's (a vendor stored Shift_JIS bytes there; extractors.database)
    byte_columns: list[str] = []
    # a file whose layout declares record_types: its records per type (header, data, trailer, undeclared); `rows`
    # counts the data records and those of an undeclared type (held), never the header and trailer
    record_types: dict[str, int] = {}
    # a multi-table source (a normalized vendor database): the rows read of each legacy table. `rows` is their sum,
    # while the records it maps (and the diff compares) are the persons the tables combine into
    tables: dict[str, int] = {}
    # a multi-table database source: the one snapshot all its tables were read in (extractors.database
    # .consistent_snapshot; PostgreSQL names its id), None for a file or a file database
    snapshot: str | None = None
    # the encoding every record that did not decode in the declared one reads in (extractors.checks.likely_encoding:
    # shift_jis_2004 for a Shift_JIS-2004 export declared cp932), None when there is none: a sign-off blocker, since
    # the records that did decode may hold other characters (reports.summary.likely_encoding_lines)
    likely_encoding: str | None = None


UNRESOLVED_LISTED = 200   # unresolved characters listed in summary.json: 10,800 made it 1.7 MB


class MojiSummary(_Model):
    """Outcomes per status (`counts`, exact) and the unresolved characters (source, column, char,
    codepoints, occurrences): the first UNRESOLVED_LISTED by occurrences then code point, with how many
    distinct characters and (source, column, char) entries there are and how many are left out; the
    whole list is in `unresolved_file` (a CSV beside summary.json, kept by `ikou purge`). A summary
    written before the list was bounded lists them all and has none of these fields."""
    counts: dict[str, int] = {}
    unresolved_chars: int | None = None     # distinct unresolved characters, whatever their source and column
    unresolved_entries: int | None = None   # (source, column, char) entries: len(unresolved) + unresolved_omitted
    unresolved_omitted: int = 0
    # 外字 loaded as their private-use code (an MJ glyph without a code point): a subset of counts["gaiji"]
    gaiji_unwritable: int = 0
    unresolved_file: str | None = None      # the whole list, relative to the run folder
    unresolved: list[dict[str, Any]] = []
    decision_changes: list[dict[str, Any]] = []


VANISHED_LISTED = 100   # vanished persons' keys listed in summary.json and report.html (vanished.csv holds all)


class PersonsSummary(_Model):
    """The persons a run saw (loaded or held): their keys (the 業務's person key, 宛名番号) in `file`, a Parquet of
    the distinct keys in the run folder, and against the previous rehearsal of the same target (the one the fall
    check compares with) the persons that vanished (in neither this run's loaded nor its held records) and those
    that are new. `compared` False when the previous run kept no keys file (`not_compared` says why: a run from
    before the file, or purged): its vanished persons are unknown, not 0."""
    columns: list[str] = []            # the person key column(s) of the 業務 (atena_no)
    file: str | None = None            # relative to the run folder
    count: int = 0                     # distinct persons, loaded or held
    held_without_key: int = 0          # records held whose person key could not be read: in no count
    previous_run: str | None = None
    previous_rehearsal: str | None = None
    compared: bool | None = None       # None: no previous rehearsal
    not_compared: str | None = None
    previous_count: int | None = None
    vanished: int | None = None
    new: int | None = None
    vanished_rate: float | None = None  # vanished ÷ the previous run's persons
    vanished_listed: list[str] = []     # the first VANISHED_LISTED, as record keys (atena_no=…), in key order
    vanished_file: str | None = None    # every one (vanished.csv)
    # loaded in both rehearsals with rows not the same (a digest of each person's loaded rows; None: the previous
    # run kept no digests): an in-place change of a name or an address between exports
    changed: int | None = None
    changed_listed: list[str] = []      # the first VANISHED_LISTED, as record keys, in key order
    changed_file: str | None = None     # every one (changed.csv)


class RunError(_Model):
    """Why a run did not succeed: the stage it was in and one line that says what to fix."""
    kind: str
    stage: str | None = None
    message: str
    message_ja: str | None = None


def after_commit(error: RunError | None) -> RunError | None:
    """A failure once the load committed, told as a cancel there is (flows.migrate.cancelled_error): the target
    holds this run, its diff/report did not finish, and `ikou rollback` can restore the previous state."""
    from ikou.errors import COMMITTED, COMMITTED_JA, ROLLBACK_HINT, ROLLBACK_HINT_JA

    if error is None or COMMITTED_JA in (error.message_ja or "") or "the target holds this run" in error.message:
        return error
    return error.model_copy(update={
        "message": f"{error.message} (after the load committed: {COMMITTED}; {ROLLBACK_HINT})",
        "message_ja": f"{error.message_ja or ''} ({COMMITTED_JA}。{ROLLBACK_HINT_JA})"})


# summaries whose write failed (a full disk), by path: `ikou run`, in the same process, still names the run's stage
UNWRITTEN: dict[str, "RunSummary"] = {}


class RunSummary(_Model):
    dantai: str
    dantai_name: str = ""
    run_id: str
    rehearsal: str
    gyomu: list[str] = []
    status: Status = "succeeded"
    started_at: str
    finished_at: str
    target: dict[str, Any] = {}
    tables: dict[str, TableCounts | DerivedCounts] = {}
    sources: dict[str, SourceStats] = {}
    stages: dict[str, StageStats] = {}
    rules: list[dict[str, Any]] = []
    quarantine_reasons: list[dict[str, Any]] = []
    moji: MojiSummary = MojiSummary()
    sign_off_blockers: list[str] = []
    diff: dict[str, dict[str, Any]] = {}
    control_totals: dict[str, dict[str, dict[str, int]]] | None = None
    # per multi-table source: each vendor table's rows (extracted = used + quarantined + not migrated +
    # reference), the joins' unmatched rows, lookups, history, and the crosswalks (kept / issued numbers)
    combined: dict[str, dict[str, Any]] = {}
    error: RunError | None = None
    # how the run treated its target: "load" (it replaced the target's run) or "parallel_run" (the target is cut
    # over, 本番切替済み: nothing loaded, the legacy data compared with what the target holds, 並行稼働), and for
    # a parallel run the declaration in force (`cutover`: run_id, at)
    mode: Literal["load", "parallel_run"] = "load"
    cutover: dict[str, Any] | None = None
    # the persons the run saw, and those that vanished since the previous rehearsal (reports.summary.persons_seen)
    persons: PersonsSummary | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready dict (aliases, no empty optional sections): what summary.json holds."""
        data = self.model_dump(mode="json", by_alias=True)
        for key in ("control_totals", "error", "cutover", "persons"):
            if data.get(key) is None:
                data.pop(key, None)
        if not data.get("combined"):
            data.pop("combined", None)
        for s in data["stages"].values():
            if s.get("peak_rss_mb") is None:
                s.pop("peak_rss_mb", None)
        moji = data["moji"]
        if moji.get("unresolved_entries") is None:   # no 文字同定 outcomes: no list was made
            for key in ("unresolved_chars", "unresolved_entries", "unresolved_omitted"):
                moji.pop(key, None)
        if moji.get("unresolved_file") is None:
            moji.pop("unresolved_file", None)
        return data

    def write(self, path: Path) -> None:
        """summary.json whole or not at all: written beside it, then renamed over it. A full disk (ENOSPC) used to
        leave it 0 bytes; now it keeps the previous content, or none, and the error is raised."""
        try:
            write_atomic(path, json.dumps(self.as_dict(), ensure_ascii=False, indent=2))
        except OSError:
            UNWRITTEN[str(Path(path).absolute())] = self
            raise
        UNWRITTEN.pop(str(Path(path).absolute()), None)


def write_replacing(path: Path, write) -> Path:
    """An output file written whole or not at all: `write(tmp)` writes a temporary file in the same folder, which
    then replaces `path` (os.replace, one step on the same file system). On any failure (a full disk, a read-only
    folder, an error while the cells stream out) the temporary file is removed and `path` is left as it was, so a
    half-written file never lies under the final name for a reader to take as the record; an OSError names `path`
    (the temporary's name would mean nothing to the operator)."""
    path = Path(path)
    # a fresh name the writer creates itself (with the folder's usual permissions, not mkstemp's 0600)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{secrets.token_hex(4)}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        # a failed write names no file (only an open does): the file it was for is named, the line says which
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_atomic(path: Path, text: str) -> None:
    """`text` into `path` through `write_replacing`, synced to disk before the rename."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    write_replacing(path, write)
