"""DuckDB file target (the embedded default): `duckdb:///path/to/file.duckdb`.

DuckDB reads the staged Parquet itself and speaks the PostgreSQL DDL that SQLAlchemy compiles; the
diff reads the table where it lies (`duckdb:///file#schema.table`, attached read-only).

A run replaces the 団体's tables in one transaction. DuckDB cannot rename or move schemas, so the
state a run replaces stays in the same schema under `<table>__prev` (renames are catalogue
operations: nothing is copied) until the next success; `rollback` swaps the two sets back. A held run
that never finished (killed after its COMMIT) is dropped instead when the state before it is a
finished run, which stays `__prev` (targets.kept_on_load).
"""
from __future__ import annotations

import os
import re
import socket
import unicodedata
from pathlib import Path

import polars as pl

from ikou.cancel import checkpoint
from ikou.errors import IsolationError, TargetBusy, TerminalError
from ikou.loaders.sql import ident, qualified
from ikou.loaders.targets import (CHECKSUM_METHOD, CHECKSUM_SQL, CUTOVER_COLUMNS, CUTOVER_TABLE, ENDED, PREV,
                                  RUN_TABLE, RUN_TABLE_COLUMNS, LoadPart, LoadRejected, RunRecord, TargetDatabase,
                                  check_counts, check_cutover_change, check_not_cut_over, check_rollback,
                                  cutover_dicts, cutover_row, RUNNING, create_statements, kept_on_load, lease_held,
                                  now, register_target, release_lease, resolve_frame, run_dict, run_row,
                                  sensitive_of, take_lease)


class TargetUnusable(TerminalError):
    """The DuckDB target file cannot be created or opened (a folder not writable, a path that is no file)."""

    ja = "移行先 (DuckDB ファイル) を開けません (移行先は変更なし)"


def _unusable(path: str, exc: BaseException) -> TargetUnusable:
    """A clear target error naming the path, for what the OS or DuckDB said when it would not open."""
    why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TargetUnusable(f"the DuckDB target {path} cannot be opened ({why}): the target's folder must "
                          "exist or be creatable and be writable by this user; fix target.url or the folder's "
                          "permissions (target unchanged)",
                          ja=f"移行先の DuckDB ファイル {path} を開けません ({why})。フォルダーが存在し"
                             "(または作成でき)、このユーザーが書き込めることを確認するか、target.url を直してください "
                             "(移行先は変更なし)")


DUCKDB_MAGIC = b"DUCK"   # bytes 8-11 of every DuckDB database file (after its header's checksum)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_OTHER_FILE = ("check target.url: it must name a DuckDB database, or a file not there yet for the load to create",
               "target.url を確認してください: DuckDB データベースか、まだないファイル (ロードが作成します) を"
               "指定します")


def _refused(path: Path, what: str, what_ja: str, fix: str, fix_ja: str) -> TargetUnusable:
    """The preflight's refusal: the path, what is wrong with it and what to do, in English and Japanese."""
    return TargetUnusable(f"the DuckDB target {path} {what}: {fix} (target unchanged)",
                          ja=f"移行先の DuckDB ファイル {path} {what_ja}。{fix_ja} (移行先は変更なし)")


def _what_file(head: bytes) -> tuple[str, str]:
    """What a file that is no DuckDB database looks like, from its first bytes (English, Japanese)."""
    if not head:
        return "an empty file (0 bytes)", "空のファイル (0 バイト)"
    if head.startswith(_SQLITE_MAGIC):
        return "a SQLite database", "SQLite データベース"
    if b"\x00" not in head:
        return "a text file (a CSV?)", "テキストファイル (CSV など)"
    return "a file of another format", "別の形式のファイル"


def _check_folder(path: Path) -> None:
    """The folder `path` lies in is one this user may write, or the load can create it (DuckDB target._connect
    makes the missing folders): its nearest existing ancestor is a folder this user may write. Creates nothing."""
    folder = existing = path.parent
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        is_dir = existing.is_dir()
    except OSError as exc:
        raise _unusable(str(path), exc) from None
    fix = ("fix the folder's permissions, or give target.url a folder this user may write",
           "フォルダーの権限を直すか、書き込めるフォルダーを target.url に指定してください")
    if not is_dir:
        raise _refused(path, f"cannot be created: {existing} on its path is a file, not a folder",
                       f"を作成できません ({existing} はフォルダーではなくファイルです)",
                       "fix target.url", "target.url を直してください")
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == folder:
            raise _refused(path, f"cannot be written: this user may not write its folder {folder}",
                           f"のフォルダー {folder} にこのユーザーは書き込めません", *fix)
        raise _refused(path, f"cannot be created: its folder {folder} does not exist and this user may not create "
                       f"it in {existing}", f"のフォルダー {folder} がなく、{existing} に作成する権限もありません", *fix)


@register_target
class DuckDBTarget(TargetDatabase):
    schemes = ("duckdb",)

    @property
    def path(self) -> str:
        return self.url.split(":///", 1)[1] if ":///" in self.url else ":memory:"

    def _connect(self, read_only: bool = False):
        import duckdb

        path = self.path
        if path != ":memory:" and not read_only:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _unusable(path, exc) from None
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            if "lock" in first.lower():   # DuckDB lets one process write a file: another run, a rollback, a diff
                raise TargetBusy(f"{path}: the DuckDB target is in use by another process ({first}); "
                                 "wait for that run or rollback to finish") from None
            raise _unusable(path, exc) from None

    def preflight(self, db_schema: str) -> None:
        """At the run's plan, as a server target is asked (targets.preflight): the load will be able to open the
        file for writing. Refused (TargetUnusable), naming the path and the fix: a folder that neither exists nor
        can be created, or that this user cannot write; a path that is a folder; a file that is no DuckDB database
        (a CSV, a SQLite file, an empty file given by mistake) or that this user cannot write. A file another process
        holds is no refusal here: a campaign's other 団体 may be loading into it, and be done by this run's load. Creates and changes nothing: a path not there
        yet is the load's to create (with its folders); an existing file is opened read-only, its cut-over read.
        A file that holds another 団体's schema is refused (IsolationError): one DuckDB file holds one 団体."""
        import duckdb

        if self.path == ":memory:":
            return
        path = Path(self.path)
        try:
            if path.is_dir():
                raise _refused(path, "is a folder, not a file", "はフォルダーです",
                               f"give target.url a file name in it (e.g. {path / 'target.duckdb'})",
                               f"target.url にファイル名を指定してください (例: {path / 'target.duckdb'})")
            if not path.exists():
                _check_folder(path)   # the load creates the file, and the folders it lies in
                return
            if not path.is_file():   # a FIFO, a device: never read
                raise _refused(path, "is not a regular file", "は通常のファイルではありません", *_OTHER_FILE)
            with open(path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as exc:   # a folder on the way this user may not read
            raise _unusable(str(path), exc) from None
        if head[8:12] != DUCKDB_MAGIC:
            en, ja = _what_file(head)
            raise _refused(path, f"is {en}, not a DuckDB database", f"は DuckDB データベースではありません: {ja}",
                           *_OTHER_FILE)
        if not os.access(path, os.R_OK | os.W_OK):
            raise _refused(path, "cannot be written by this user (permissions or a read-only mount)",
                           "にこのユーザーは書き込めません (権限または読み取り専用)",
                           "fix the file's permissions or give target.url a file this user may write",
                           "ファイルの権限を直すか、書き込めるファイルを target.url に指定してください")
        _check_folder(path)   # the write-ahead log (.wal) and the load's lease file are written beside it
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.ConnectionException:
            return   # this process has it open already (a connection of other settings): no other process holds it
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "lock" in first.lower():
                # another process has it open (another 団体's run loading into the same file, a rollback, a CLI):
                # passing, not a mistake in the config; the load meets it (TargetBusy) if it is still there then
                return
            raise _refused(path, f"cannot be opened by DuckDB ({first})", f"を DuckDB で開けません ({first})",
                           "it may be damaged or written by another DuckDB version; restore it, or give target.url "
                           "a new file", "破損しているか別の版の DuckDB で作成された可能性があります。復元するか、"
                           "新しいファイルを target.url に指定してください") from None
        try:
            _cutover(con, db_schema)   # read, as a server target's is at plan
            _refuse_other_dantai(con, path, db_schema, None)   # one file, one 団体: the file is its only guard
        finally:
            con.close()

    def _lease_path(self, db_schema: str) -> Path:
        p = Path(self.path)
        return p.with_name(f".{p.name}.{db_schema}.ikou-lock")

    def _take_lease(self, db_schema: str, run_id: str | None) -> None:
        """Hold the target's lease (targets.take_lease): an exclusive flock on a file beside the target, kept
        open until the run's end is recorded (finish_run); the OS frees it when the process dies. The file
        names its holder (pid, host, run), for the TargetBusy another run meets."""
        import fcntl

        if self.path == ":memory:":
            return
        lock = self._lease_path(db_schema)

        def acquire():
            try:
                lock.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise _unusable(self.path, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise TargetBusy(f"{self.path} ({db_schema}): held by {holder} from its load until its end is "
                                 "recorded; wait for that run or rollback to finish (target unchanged)", run_id=run_id,
                                 ja=f"移行先 {self.path} ({db_schema}) は別の実行が使用中です ({holder})。その終了を"
                                    "待ってから再実行してください (移行先は変更なし)") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}@{socket.gethostname()} run {run_id or '-'}".encode(), 0)

            def release():
                try:
                    os.ftruncate(fd, 0)
                finally:
                    os.close(fd)   # closing frees the flock
            return release

        take_lease(self.url, db_schema, acquire)

    def load_run(self, parts: list[LoadPart], db_schema: str, *, run: RunRecord,
                 max_drop_ratio: float | None = None, runs_dir: Path | None = None) -> dict[str, int]:
        import duckdb
        from sqlalchemy.dialects import postgresql

        # the target is this run's from here until its end is recorded (finish_run) or its process dies
        self._take_lease(db_schema, run.run_id)
        try:
            con = self._connect()
        except BaseException:
            release_lease(self.url, db_schema)
            raise
        committed = False
        # A table's rows have no order; letting DuckDB insert in any order made the 1M-person load of
        # the history table 7.4 s → 4.9 s here (parallel insert, no reordering buffer).
        con.execute("SET preserve_insertion_order = false")
        counts: dict[str, int] = {}
        try:
            con.execute("BEGIN TRANSACTION")
            # again here, in the load's transaction: another 団体's run may have created its schema in this file
            # since this run's plan (a DuckDB file has no roles: whoever opens it reads every 団体 in it)
            _refuse_other_dantai(con, Path(self.path), db_schema, run.dantai_code, run_id=run.run_id)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(db_schema)}")
            names = [n for p in parts for n in p.frames]
            current = _run(con, db_schema, RUN_TABLE)
            # the last guard, under the lease and in the load's transaction: a run that began before the cut-over
            # was declared never loads after it (its flow compares only when it sees the declaration first)
            check_not_cut_over(db_schema, _cutover(con, db_schema), doing="load", run_id=run.run_id)
            check_counts(current["counts"] if current else _counts(con, db_schema, names), parts,
                         max_drop_ratio=max_drop_ratio, db_schema=db_schema, run_id=run.run_id)
            checkpoint("load.begin")
            previous = _run(con, db_schema, RUN_TABLE + PREV)
            keep_previous, replaced = kept_on_load(current, previous, runs_dir, run_id=run.run_id)
            if keep_previous:
                # the run held now never finished and the one before it did: that one stays <table>__prev,
                # this one goes (by name, each table its record names)
                for t in sorted(set(current["counts"]) | {RUN_TABLE}):
                    con.execute(f"DROP TABLE IF EXISTS {qualified(db_schema, t)}")
            else:
                # what this run replaces becomes the previous state: <table>__prev (the older one goes)
                for t in (previous["counts"] if previous else {}):
                    con.execute(f"DROP TABLE IF EXISTS {qualified(db_schema, t + PREV)}")
                con.execute(f"DROP TABLE IF EXISTS {qualified(db_schema, RUN_TABLE + PREV)}")
                held = set(current["counts"]) if current else set(names) & _tables(con, db_schema)
                for t in sorted(held | ({RUN_TABLE} if current else set())):
                    con.execute(f"DROP TABLE IF EXISTS {qualified(db_schema, t + PREV)}")
                    con.execute(f"ALTER TABLE {qualified(db_schema, t)} RENAME TO {ident(t + PREV)}")
            for part in parts:
                for stmt in create_statements(part.schema, db_schema, list(part.frames), postgresql.dialect(),
                                              keys_after=True):
                    con.execute(stmt)   # DuckDB speaks the PostgreSQL DDL
                for name, frame in part.frames.items():
                    counts[name] = _insert(con, part, db_schema, name, resolve_frame(frame))
                    # the key built once over the inserted rows (a duplicate fails here, and the whole
                    # load with it): 1M persons' history 11.8 → 10.3 s against a keyed insert, same process
                    key = part.schema.resolved_table(name).primary_key
                    if key:
                        con.execute(f"ALTER TABLE {qualified(db_schema, name)} ADD PRIMARY KEY "
                                    f"({', '.join(ident(c) for c in key)})")
                    con.execute(f"INSERT INTO {qualified(db_schema, 'ikou_load_log')} VALUES (?, ?, ?, ?)",
                                [run.run_id, name, counts[name], now()])
                    checkpoint(f"load.table.{name}")
            cols = ", ".join(f"{ident(c)} TEXT" for c in RUN_TABLE_COLUMNS)
            con.execute(f"CREATE TABLE {qualified(db_schema, RUN_TABLE)} ({cols})")
            row = run_row(run, counts, replaced, sensitive_of(parts))
            con.execute(f"INSERT INTO {qualified(db_schema, RUN_TABLE)} VALUES ({', '.join('?' * len(row))})", row)
            checkpoint("load.commit")
            con.execute("COMMIT")
            committed = True
            con.execute("CHECKPOINT")
        except (duckdb.ConstraintException, duckdb.TransactionException) as exc:
            _rollback(con)
            # a key added inside the transaction is checked at COMMIT, which then fails as a transaction
            if isinstance(exc, duckdb.TransactionException) and "constraint" not in str(exc).lower():
                raise
            raise LoadRejected(f"DuckDB target {db_schema} refused the load (rolled back): {exc}",
                               run_id=run.run_id) from exc
        except BaseException:   # KeyboardInterrupt too: nothing half-done is committed
            _rollback(con)
            raise
        finally:
            con.close()
            if not committed or run.status != RUNNING:   # a run that ends with its load gives the lease back
                release_lease(self.url, db_schema)
        return counts

    def held_runs(self, db_schema: str) -> dict[str, dict | None]:
        if self.path != ":memory:" and not Path(self.path).is_file():
            return {"current": None, "previous": None}
        con = self._connect(read_only=True)
        try:
            return {"current": _run(con, db_schema, RUN_TABLE), "previous": _run(con, db_schema, RUN_TABLE + PREV)}
        finally:
            con.close()

    def rollback(self, db_schema: str, run_id: str, *, runs_dir: Path | None = None,
                 allow_unfinished: bool = False) -> dict[str, dict | None]:
        # refused while a run holds the target (between its load and its recorded end), as a load is
        ours = lease_held(self.url, db_schema)
        if not ours:
            self._take_lease(db_schema, None)
        try:
            return self._rollback_held(db_schema, run_id, runs_dir=runs_dir, allow_unfinished=allow_unfinished)
        finally:
            if not ours:
                release_lease(self.url, db_schema)

    def _rollback_held(self, db_schema: str, run_id: str, *, runs_dir: Path | None,
                       allow_unfinished: bool) -> dict[str, dict | None]:
        con = self._connect()
        try:
            con.execute("BEGIN TRANSACTION")
            current, previous = _run(con, db_schema, RUN_TABLE), _run(con, db_schema, RUN_TABLE + PREV)
            check_not_cut_over(db_schema, _cutover(con, db_schema), doing="rollback", run_id=run_id)
            check_rollback(db_schema, run_id, current, previous, runs_dir=runs_dir, allow_unfinished=allow_unfinished)
            now_names = sorted(set(current["counts"]) | {RUN_TABLE}) if current else []
            prev_names = sorted(set(previous["counts"]) | {RUN_TABLE})
            for t in now_names:
                con.execute(f"ALTER TABLE {qualified(db_schema, t)} RENAME TO {ident(t + '__swap')}")
            for t in prev_names:
                con.execute(f"ALTER TABLE {qualified(db_schema, t + PREV)} RENAME TO {ident(t)}")
            for t in now_names:
                con.execute(f"ALTER TABLE {qualified(db_schema, t + '__swap')} RENAME TO {ident(t + PREV)}")
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        except BaseException:
            _rollback(con)
            raise
        finally:
            con.close()
        return self.held_runs(db_schema)

    def cutover_events(self, db_schema: str) -> list[dict]:
        if self.path != ":memory:" and not Path(self.path).is_file():
            return []
        con = self._connect(read_only=True)
        try:
            return _cutover(con, db_schema)
        finally:
            con.close()

    def record_cutover(self, db_schema: str, action: str, run_id: str, *, note: str | None = None, by: str = "",
                       runs_dir: Path | None = None) -> list[dict]:
        """`ikou_cutover` stays where it is through loads and rollbacks (they rename the run's own tables only)."""
        if self.path != ":memory:" and not Path(self.path).is_file():   # never creates the file: nothing held
            check_cutover_change(db_schema, action, run_id, None, [], runs_dir=runs_dir)
        ours = lease_held(self.url, db_schema)   # refused while a run holds the target, as a load is
        if not ours:
            self._take_lease(db_schema, run_id)
        try:
            con = self._connect()
            try:
                con.execute("BEGIN TRANSACTION")
                events = _cutover(con, db_schema)
                check_cutover_change(db_schema, action, run_id, _run(con, db_schema, RUN_TABLE), events,
                                     runs_dir=runs_dir)
                cols = ", ".join(f"{ident(c)} TEXT" for c in CUTOVER_COLUMNS)
                con.execute(f"CREATE TABLE IF NOT EXISTS {qualified(db_schema, CUTOVER_TABLE)} ({cols})")
                row = cutover_row(events, action, run_id, note, by)
                con.execute(f"INSERT INTO {qualified(db_schema, CUTOVER_TABLE)} ({', '.join(map(ident, CUTOVER_COLUMNS))})"
                            f" VALUES ({', '.join('?' * len(row))})", row)
                con.execute("COMMIT")
                con.execute("CHECKPOINT")
            except BaseException:
                _rollback(con)
                raise
            finally:
                con.close()
        finally:
            if not ours:
                release_lease(self.url, db_schema)
        return self.cutover_events(db_schema)

    def finish_run(self, db_schema: str, run_id: str, status: str) -> bool:
        if status not in ENDED:
            raise ValueError(f"a run ends {', '.join(ENDED)}, not {status!r}")
        try:
            return self._finish(db_schema, run_id, status)
        finally:
            release_lease(self.url, db_schema, all_of_it=True)   # the run's end is recorded: the target is free

    def _finish(self, db_schema: str, run_id: str, status: str) -> bool:
        if self.path != ":memory:" and not Path(self.path).is_file():
            return False
        con = self._connect()
        try:
            done = False
            for table in (RUN_TABLE, RUN_TABLE + PREV):   # a rollback may have made it the previous state since
                if "status" in _columns(con, db_schema, table):
                    n = con.execute(f"UPDATE {qualified(db_schema, table)} SET status = ?, finished_at = ? "
                                    "WHERE run_id = ?", [status, now(), run_id]).fetchone()[0]
                    done = done or bool(n)
            con.execute("CHECKPOINT")
            return done
        finally:
            con.close()

    def checksums(self, db_schema: str) -> dict:
        out = {"run": None, "method": CHECKSUM_METHOD, "tables": {}}
        if self.path != ":memory:" and not Path(self.path).is_file():
            return out
        con = self._connect(read_only=True)
        try:
            out["run"] = _run(con, db_schema, RUN_TABLE)
            have = _tables(con, db_schema)
            for name in sorted((out["run"] or {}).get("counts", {})):
                if name in have:
                    rows, md5 = con.execute(CHECKSUM_SQL.format(
                        json="CAST(to_json(ikou_row) AS VARCHAR)", table=qualified(db_schema, name))).fetchone()
                    out["tables"][name] = {"rows": int(rows), "md5": md5}
            return out
        finally:
            con.close()

    def read_table(self, db_schema: str, name: str) -> pl.DataFrame:
        con = self._connect(read_only=True)
        try:
            return pl.from_arrow(con.sql(f"SELECT * FROM {qualified(db_schema, name)}").to_arrow_table())
        finally:
            con.close()

    def diff_input(self, db_schema: str, name: str, out: Path) -> str:
        # read where it lies: the diff's DuckDB attaches the file read-only (a Parquet copy measured
        # 4-5 s CPU at 2M rows for nothing)
        ident(db_schema), ident(name)
        return f"{self.url}#{db_schema}.{name}"


def _insert(con, part: LoadPart, db_schema: str, name: str, frame) -> int:
    declared = [c.name for c in part.schema.resolved_table(name).columns]
    cols = ", ".join(ident(c) for c in declared)
    if isinstance(frame, (str, Path)):
        con.execute(f"INSERT INTO {qualified(db_schema, name)} SELECT {cols} FROM read_parquet(?)", [str(frame)])
    else:
        data = frame.select(declared).to_arrow()  # noqa: F841 (read by DuckDB below)
        con.execute(f"INSERT INTO {qualified(db_schema, name)} SELECT * FROM data")
    return con.execute(f"SELECT count(*) FROM {qualified(db_schema, name)}").fetchone()[0]


def _tables(con, db_schema: str) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                                      [db_schema]).fetchall()}


def _columns(con, db_schema: str, table: str) -> list[str]:
    """The columns of a table, in order ([] when there is no such table)."""
    return [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                      "AND table_name = ? ORDER BY ordinal_position", [db_schema, table]).fetchall()]


def _run(con, db_schema: str, table: str) -> dict | None:
    """The run record in `table` (`ikou_run` or its `__prev`), whatever columns its ikou wrote."""
    names = [c for c in _columns(con, db_schema, table) if c in RUN_TABLE_COLUMNS]
    if not names:
        return None
    cols = ", ".join(ident(c) for c in names)
    return run_dict(con.execute(f"SELECT {cols} FROM {qualified(db_schema, table)} LIMIT 1").fetchone(), names)


def _cutover(con, db_schema: str) -> list[dict]:
    """The cut-over record of the target, oldest first ([] when it has none)."""
    names = [c for c in _columns(con, db_schema, CUTOVER_TABLE) if c in CUTOVER_COLUMNS]
    if not names:
        return []
    cols = ", ".join(ident(c) for c in names)
    rows = con.execute(f"SELECT {cols} FROM {qualified(db_schema, CUTOVER_TABLE)}").fetchall()
    return cutover_dicts(rows, names)


# a 団体's schema (config.TARGET_SCHEMA: dantai_<code>, dantai_<code>_<suffix>) and what ikou makes of it in a
# target (`__prev`, `__next`, `__swap`): the code is the six digits after `dantai_`. ikou's own bookkeeping tables
# (ikou_run, ikou_load_log, ikou_cutover) lie in the 団体's schema; `main` and the catalogues name no 団体.
_DANTAI_SCHEMA = re.compile(r"dantai_([0-9]{6})(?![0-9])")


def _schema_dantai(name: str) -> str | None:
    """The 団体コード a schema name belongs to (NFKC-folded, case-insensitive), or None."""
    m = _DANTAI_SCHEMA.match(unicodedata.normalize("NFKC", name).lower())
    return m.group(1) if m else None


def _refuse_other_dantai(con, path: Path, db_schema: str, own: str | None, *, run_id: str | None = None) -> None:
    """One DuckDB file holds one 団体 (its schemas, with their suffixes and `__prev` variants; several 業務 of it):
    a file with no roles has no other guard. Refused (IsolationError), naming the file and the other 団体コード (a
    code is no personal data) and the fix, when the file holds a schema of a 団体 other than the one `db_schema`
    (else `own`) belongs to. Reads the catalogue only."""
    own = _schema_dantai(db_schema) or own or None
    if path == Path(":memory:") or not own:
        return
    rows = con.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()").fetchall()
    others = sorted({code for (name,) in rows if (code := _schema_dantai(name)) and code != own})
    if not others:
        return
    codes = ", ".join(others)
    raise IsolationError(
        f"the DuckDB target {path} holds another 団体's data (団体 {codes}): a DuckDB file has no roles and whoever "
        f"opens it reads every 団体 in it; give each 団体 its own target file (set target.url of 団体 {own} to a file "
        "of its own) (target unchanged)", run_id=run_id,
        ja=f"移行先の DuckDB ファイル {path} には他の団体 ({codes}) のデータがあります。DuckDB ファイルには権限 (ロール) "
           f"がなく、開ける人は中のすべての団体のデータを読めるため、1 ファイルには 1 団体だけを入れます。団体ごとに別の"
           f"移行先ファイルを target.url に指定してください (団体 {own} 用のファイル) (移行先は変更なし)")


def _counts(con, db_schema: str, names: list[str]) -> dict[str, int]:
    """Rows of the tables a target loaded before it recorded its run (ikou_run)."""
    have = _tables(con, db_schema)
    return {n: con.execute(f"SELECT count(*) FROM {qualified(db_schema, n)}").fetchone()[0] for n in names if n in have}


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - no transaction open, or the connection is gone: nothing was committed
        pass
