"""PostgreSQL target: `postgresql://user@host:port/db` (psycopg 3 for SQLAlchemy, ADBC for rows).

DDL compiled by SQLAlchemy, rows by binary COPY through ADBC (Arrow in, no CSV text on the way),
keys, counts and the load log: one connection, one transaction for the whole run.

団体 are separated by the database itself: each 団体 has a role `ikou_dantai_<code>` (NOLOGIN)
that owns its schemas; ikou connects with a migration login and does every table's DDL, COPY and
read-back under `SET ROLE` of the run's 団体, so even a wrong schema name is refused by PostgreSQL
(no privilege on another 団体's schema; PUBLIC revoked). A 団体's role creates no schema (no CREATE
on the database: it could otherwise take another 団体's schema names first); the login creates the
run's `__next` schema for it (`AUTHORIZATION`) and renames the schemas at the swap, inside the run's
transaction, only after checking that each belongs to the run's role. A schema named for a 団体 and
owned by any other role, or anything ikou did not create in or on its schemas (a view elsewhere on one
of its tables, a foreign key to one), stops the run with one line naming it: the swap would repoint
it and the next run drop it. The login needs CREATEROLE and CREATE on
the database (or is a superuser), and becomes a member of each 団体 role it creates. Measured here for 2.15M rows × 23
columns: ADBC binary COPY 6.6 s, psycopg text COPY 9.1 s (of which 2.6 s writing the CSV),
SQLAlchemy executemany ~7× slower still. Reads come back as Arrow from COPY binary too.
"""
from __future__ import annotations

import functools
import logging
import os
import socket

from pathlib import Path

import polars as pl
import sqlalchemy as sa

from ikou import cancel
from ikou.cancel import checkpoint
from ikou.errors import ConfigError, IsolationError, TargetBusy, TerminalError, TransientError
from ikou.loaders.ddl import SA_TYPES, sa_type
from ikou.loaders.sql import ident, qualified, role_of
from ikou.loaders.targets import (CHECKSUM_METHOD, CHECKSUM_SQL, CUTOVER_COLUMNS, CUTOVER_TABLE, ENDED, PREV,
                                  RUN_TABLE, RUN_TABLE_COLUMNS, LoadPart, LoadRejected, RunRecord, TargetDatabase,
                                  check_counts, check_cutover_change, check_not_cut_over, check_rollback,
                                  cutover_dicts, cutover_row, RUNNING, create_statements, kept_on_load, lease_held,
                                  now, register_target, release_lease, resolve_frame, run_dict, run_row,
                                  sensitive_of, take_lease)
from ikou.schema import TargetSchema

log = logging.getLogger("ikou")

COPY_BATCH_ROWS = 200_000   # rows per COPY batch from staging at most (wider rows, fewer: ikou.staging.batch_rows)
INDEX_BUILD_MEMORY = "512MB"   # maintenance_work_mem while the load builds its keys (SET LOCAL)
# Arrow types that ADBC's binary COPY writes into the DDL's column types (ddl.SA_TYPES)
_ARROW_TYPES = {"text": "string", "integer": "int64", "date": "string"}


class TargetLoginError(ConfigError):
    """The target database refuses the migration login for good (no such database or role, a wrong
    password, a login without CREATEROLE/CREATE): retrying cannot help, the configuration must change."""

    ja = "移行先データベースの接続設定・権限に誤りがあります (移行先は変更なし)"


class SchemaOwnerError(IsolationError):
    """A schema named for the run's 団体 belongs to another role: ikou neither uses nor drops it."""

    ja = "移行先のスキーマを他のロールが所有しています (使用も削除もしません、移行先は変更なし)"


class ForeignObjectError(TerminalError):
    """Something ikou did not create lies in, or depends on, a 団体's schemas: a swap would repoint it
    and the next run drop it, so the run stops before changing anything."""

    ja = "ikou が作成していないオブジェクトが移行先スキーマにあるか依存しています (移行先は変更なし)"


@register_target
class PostgresTarget(TargetDatabase):
    schemes = ("postgresql", "postgres")

    @classmethod
    def normalise_url(cls, url: str) -> str:
        """`postgresql://` means psycopg 3 here (the driver installed), not psycopg2."""
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        if url.startswith("postgres+"):   # SQLAlchemy knows the dialect as postgresql only
            return "postgresql" + url[len("postgres"):]
        return url

    @property
    def adbc_uri(self) -> str:
        """libpq's URI for the SQLAlchemy URL (ikou.config.libpq_uri: each value percent-encoded as libpq reads it)."""
        from ikou.config import libpq_uri

        return libpq_uri(self.url)

    def _connect(self, run_id: str | None = None):
        import adbc_driver_manager as adbc_dm
        import adbc_driver_postgresql.dbapi as adbc

        try:
            return adbc.connect(self.adbc_uri)
        except adbc_dm.OperationalError as exc:
            first = str(exc).splitlines()[0]
            refused = _refused_login(str(exc))
            if refused is not None:   # no retry: a missing database or role, a wrong password stays so
                raise TargetLoginError(f"target database refuses the connection ({refused[0]}): {first}; fix the "
                                       "target URL (database, user, password) or create them (target unchanged)",
                                       run_id=run_id, ja=f"移行先データベースに接続できません ({refused[1]})。移行先の URL "
                                       "(データベース名・ユーザー・パスワード) を直すか、作成してから再実行してください "
                                       "(移行先は変更なし)") from None
            u = sa.engine.make_url(self.url)   # host and port only: never the password
            where = f"{u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"
            raise TransientError(f"target database unreachable: {first}", run_id=run_id,
                                 ja=f"移行先データベース {where} に接続できません (一時的な障害の可能性。停止中・アドレスや"
                                    "ポートの誤りなら設定の target.url を確認)") from exc

    def _take_lease(self, db_schema: str, run_id: str | None) -> None:
        """Hold the target's lease (targets.take_lease): a session-level advisory lock on `ikou:<schema>`, on a
        connection of its own kept until the run's end is recorded (finish_run); the server frees it when the
        process dies. Its application_name names the run, for the TargetBusy another run meets."""

        def acquire():
            conn = self._connect(run_id)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('application_name', $1, false)",
                                (f"ikou {run_id or 'load'} pid {os.getpid()}@{socket.gethostname()}"[:63],))
                    cur.execute("SELECT pg_try_advisory_lock(hashtext($1))", (f"ikou:{db_schema}",))
                    got = cur.fetchone()[0]
                    holder = None if got else _lock_holder(cur, db_schema)
                conn.commit()   # the lock is the session's: no transaction stays open for the run
            except BaseException:
                conn.close()
                raise
            if not got:
                conn.close()
                raise _busy(db_schema, holder, run_id)

            def release():
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT pg_advisory_unlock(hashtext($1))", (f"ikou:{db_schema}",))
                    conn.commit()
                finally:
                    conn.close()
            return release

        take_lease(self.url, db_schema, acquire)

    def load_run(self, parts: list[LoadPart], db_schema: str, *, run: RunRecord,
                 max_drop_ratio: float | None = None, runs_dir: Path | None = None) -> dict[str, int]:
        """One transaction: the run's tables are built in `<schema>__next` by the 団体's role, then the
        schemas are renamed (current → `__prev`, next → current): every 業務 becomes visible at COMMIT
        together, and a crash or a cancel anywhere before it leaves the target as it was. A current
        schema holding a run that never finished, when `__prev` holds a finished one, is dropped
        instead and `__prev` stays (targets.kept_on_load)."""
        import adbc_driver_manager as adbc_dm
        from sqlalchemy.dialects import postgresql

        dialect = postgresql.dialect()
        # the run's own 団体 decides the role, not the schema name: a run pointed at another 団体's
        # schema acts as its own role there, and PostgreSQL refuses it
        role = f"ikou_dantai_{run.dantai_code}" if run.dantai_code else role_of(db_schema)
        # the login creates and renames schemas for the run's role only when they are named for it; a
        # run pointed at another 団体's schema does everything as its own role, and PostgreSQL refuses
        ours = role_of(db_schema) == role
        nxt, prev = db_schema + "__next", db_schema + PREV
        counts: dict[str, int] = {}
        # the target is this run's from here until its end is recorded (finish_run) or its process dies: a
        # run from another runs folder is refused (TargetBusy), never loads between this COMMIT and the end
        self._take_lease(db_schema, run.run_id)
        try:
            conn = self._connect(run.run_id)
        except BaseException:
            release_lease(self.url, db_schema)
            raise
        committed = False
        try:
            with conn.cursor() as cur:
                # the COPY's session names its run, as the lease's does: an operator's pg_stat_activity finds it
                cur.execute("SELECT set_config('application_name', $1, false)",
                            (f"ikou {run.run_id} load pid {os.getpid()}"[:63],))
                # a refused row's DETAIL ("Failing row contains (…, 氏名, 個人番号 …)") goes to the server's log as
                # well as to us (we drop it): terse leaves it out of the log, where the login may set it
                cur.execute("SELECT set_config('log_error_verbosity', 'terse', false) FROM pg_roles "
                            "WHERE rolname = session_user AND rolsuper")
                try:
                    _ensure_role(cur, role, [db_schema, prev, nxt], run_id=run.run_id)
                except adbc_dm.ProgrammingError as exc:
                    if getattr(exc, "sqlstate", None) != "42501":   # insufficient_privilege
                        raise
                    raise _login_lacks_rights(role, run.run_id) from None
                # roles and grants commit on their own, before the run's transaction: a GRANT ON DATABASE
                # held uncommitted through a long load made the next 団体's grant fail ("tuple concurrently
                # updated") when a campaign loads several 団体 at once
                conn.commit()
                cur.execute(f"SET ROLE {ident(role)}")   # from here on, everything as the 団体's role
                current = _run(cur, db_schema, RUN_TABLE)
                # the last guard, under the lease and in the load's transaction: a run that began before the
                # cut-over was declared never loads after it (its flow compares only when it sees it first)
                cutover = _cutover(cur, db_schema)
                check_not_cut_over(db_schema, cutover, doing="load", run_id=run.run_id)
                names = [n for p in parts for n in p.frames]
                check_counts(current["counts"] if current else _counts(cur, db_schema, names), parts,
                             max_drop_ratio=max_drop_ratio, db_schema=db_schema, run_id=run.run_id)
                keep_previous, replaced = kept_on_load(current, _run(cur, prev, RUN_TABLE), runs_dir,
                                                       run_id=run.run_id)
                # before the long part: the swap moves the current schema aside and drops the one before
                for s in (db_schema, prev, nxt):
                    _check_foreign_objects(cur, s, run.run_id, frozenset(names))
                if _schema_exists(cur, nxt):   # never left by a run (it builds it in its transaction)
                    _drop_schema(cur, nxt)
                if ours:   # the 団体's role cannot create schemas: the login creates it, owned by the role
                    cur.execute("RESET ROLE")
                    cur.execute(f"CREATE SCHEMA {ident(nxt)} AUTHORIZATION {ident(role)}")
                    cur.execute(f"SET ROLE {ident(role)}")
                else:
                    cur.execute(f"CREATE SCHEMA {ident(nxt)}")   # refused by PostgreSQL: no CREATE on the database
                cur.execute(f"REVOKE ALL ON SCHEMA {ident(nxt)} FROM PUBLIC")
                checkpoint("load.begin")
                log = (qualified(db_schema, "ikou_load_log")
                       if _schema_exists(cur, db_schema) and "ikou_load_log" in _tables(cur, db_schema) else None)
                byte_order = _orders_by_code_point(cur)
                for part in parts:
                    for stmt in create_statements(part.schema, nxt, list(part.frames), dialect, keys_after=True):
                        cur.execute(stmt)
                    if byte_order:
                        for stmt in _key_collation(part.schema, nxt, list(part.frames)):
                            cur.execute(stmt)
                # every table's rows first (a derived table may still be computed on the load step's
                # thread while the tables before it are written: resolve_frame waits for it), then
                # the keys, each built once over its whole table, in this transaction: a duplicate
                # fails the whole load there (LoadRejected below)
                for part in parts:
                    for name, frame in part.frames.items():
                        counts[name] = _ingest(cur, part.schema, nxt, name, resolve_frame(frame))
                        checkpoint(f"load.table.{name}")
                # the index builds sort in memory (64 MB by default: an external sort on disk for the
                # history table's key); for this transaction only
                cur.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
                for part in parts:
                    for name in part.frames:
                        cur.execute(_primary_key(part.schema, nxt, name))
                        cur.execute(f"INSERT INTO {qualified(nxt, 'ikou_load_log')} VALUES ($1, $2, $3, $4)",
                                    (run.run_id, name, counts[name], now()))
                cur.execute(f"CREATE TABLE {qualified(nxt, RUN_TABLE)} ("
                            + ", ".join(f"{ident(c)} text" for c in RUN_TABLE_COLUMNS) + ")")
                row = run_row(run, counts, replaced, sensitive_of(parts))
                cur.execute(f"INSERT INTO {qualified(nxt, RUN_TABLE)} VALUES "
                            f"({', '.join(f'${i + 1}' for i in range(len(row)))})", row)
                if log is not None:   # the load history travels with the target
                    cur.execute(f"INSERT INTO {qualified(nxt, 'ikou_load_log')} SELECT * FROM {log}")
                if cutover:   # so does the cut-over record (declarations withdrawn before this load)
                    _copy_cutover(cur, db_schema, nxt)
                checkpoint("load.swap")
                for s in (db_schema, prev):   # again: nothing may have been attached during the load
                    _check_foreign_objects(cur, s, run.run_id, frozenset(names))

                def swap():
                    if keep_previous:
                        # the run held now never finished and __prev holds a finished one: that one stays the
                        # previous state, the unfinished one goes (its tables by name, no CASCADE)
                        _drop_schema(cur, db_schema)
                        _swap(cur, role, [(nxt, db_schema)], run_id=run.run_id)
                    else:
                        if _schema_exists(cur, prev):
                            _drop_schema(cur, prev)
                        # renaming a schema takes CREATE on the database, which only the login has
                        _swap(cur, role, [(db_schema, prev), (nxt, db_schema)], run_id=run.run_id)

                # a reader's open transaction on the tables dropped would make the swap wait for ever
                _waiting_for_readers(cur, self._connect, run.run_id, swap)
                checkpoint("load.commit")
            conn.commit()
            committed = True
        except _ReadersHold as exc:
            _rollback(conn)
            with conn.cursor() as cur:
                raise _readers_hold(cur, (db_schema, prev), exc.holders, run.run_id) from None
        except adbc_dm.IntegrityError as exc:
            _rollback(conn)
            # first line only, and the cause cut off: PostgreSQL's DETAIL ("Failing row contains (…)")
            # holds the row itself, names and 個人番号 included, and would reach the logs
            detail = str(exc).split("ERROR:", 1)[-1].strip().splitlines()[0]
            raise LoadRejected(f"PostgreSQL target {db_schema} refused the load (rolled back): {detail}",
                               run_id=run.run_id) from None
        except adbc_dm.OperationalError as exc:
            _rollback(conn)
            if cancel.requested() or "canceling statement due to user request" in str(exc):
                raise KeyboardInterrupt(cancel.requested() or "cancelled") from None   # a cancel, never retried
            raise TransientError(f"target database unreachable: {str(exc).splitlines()[0]}",
                                 run_id=run.run_id) from exc
        except BaseException:
            _rollback(conn)
            raise
        finally:
            conn.close()
            if not committed or run.status != RUNNING:   # a run that ends with its load gives the lease back
                release_lease(self.url, db_schema)
        return counts

    def held_runs(self, db_schema: str) -> dict[str, dict | None]:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", (role_of(db_schema),))
                if cur.fetchone() is None:
                    return {"current": None, "previous": None}
                cur.execute(f"SET ROLE {ident(role_of(db_schema))}")
                return {"current": _run(cur, db_schema, RUN_TABLE), "previous": _run(cur, db_schema + PREV, RUN_TABLE)}
        finally:
            conn.close()

    def rollback(self, db_schema: str, run_id: str, *, runs_dir: Path | None = None,
                 allow_unfinished: bool = False) -> dict[str, dict | None]:

        prev, swap = db_schema + PREV, db_schema + "__swap"
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", (role_of(db_schema),))
                if cur.fetchone() is None:   # never loaded: no role, nothing to go back to
                    check_rollback(db_schema, run_id, None, None)
                role = role_of(db_schema)
                if not lease_held(self.url, db_schema):   # this process's own run holds it: nothing else can
                    _lock_schema(cur, db_schema, run_id=run_id)
                for s in (db_schema, prev, swap):   # before reading a run record out of any of them
                    _check_owner(cur, s, role, run_id=run_id)
                cur.execute(f"SET ROLE {ident(role)}")
                current, previous = _run(cur, db_schema, RUN_TABLE), _run(cur, prev, RUN_TABLE)
                cutover = _cutover(cur, db_schema)
                check_not_cut_over(db_schema, cutover, doing="rollback", run_id=run_id)
                check_rollback(db_schema, run_id, current, previous, runs_dir=runs_dir,
                               allow_unfinished=allow_unfinished)
                for s in (db_schema, prev):   # the swap would repoint whatever depends on them
                    _check_foreign_objects(cur, s, run_id)
                if cutover:   # the cut-over record stays with the current schema (withdrawn declarations)
                    _copy_cutover(cur, db_schema, prev)
                _swap(cur, role, [(db_schema, swap), (prev, db_schema), (swap, prev)], run_id=run_id)
            conn.commit()
        except BaseException:
            _rollback(conn)
            raise
        finally:
            conn.close()
        return self.held_runs(db_schema)

    def cutover_events(self, db_schema: str) -> list[dict]:
        """Read as the 団体's role, like every read-back."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", (role_of(db_schema),))
                if cur.fetchone() is None:
                    return []
                cur.execute(f"SET ROLE {ident(role_of(db_schema))}")
                return _cutover(cur, db_schema)
        finally:
            conn.close()

    def record_cutover(self, db_schema: str, action: str, run_id: str, *, note: str | None = None, by: str = "",
                       runs_dir: Path | None = None) -> list[dict]:
        """As the 団体's role, in its current schema (a load copies the record into the schema it swaps in, and a
        rollback, once withdrawn, takes it along), under the schema's lock: refused while a run holds the target
        (its lease, from its load until its end is recorded) and while a rollback swaps it."""
        conn = self._connect(run_id)
        try:
            with conn.cursor() as cur:
                role = role_of(db_schema)
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", (role,))
                if cur.fetchone() is None:   # never loaded: no role, nothing held
                    check_cutover_change(db_schema, action, run_id, None, [], runs_dir=runs_dir)
                if not lease_held(self.url, db_schema):
                    _lock_schema(cur, db_schema, run_id=run_id)
                _check_owner(cur, db_schema, role, run_id=run_id)
                cur.execute(f"SET ROLE {ident(role)}")
                current = _run(cur, db_schema, RUN_TABLE) if _schema_exists(cur, db_schema) else None
                events = _cutover(cur, db_schema) if current is not None else []
                check_cutover_change(db_schema, action, run_id, current, events, runs_dir=runs_dir)
                cur.execute(f"CREATE TABLE IF NOT EXISTS {qualified(db_schema, CUTOVER_TABLE)} ("
                            + ", ".join(f"{ident(c)} text" for c in CUTOVER_COLUMNS) + ")")
                row = cutover_row(events, action, run_id, note, by)
                cur.execute(f"INSERT INTO {qualified(db_schema, CUTOVER_TABLE)} "
                            f"({', '.join(ident(c) for c in CUTOVER_COLUMNS)}) "
                            f"VALUES ({', '.join(f'${i + 1}' for i in range(len(row)))})", row)
            conn.commit()
        except BaseException:
            _rollback(conn)
            raise
        finally:
            conn.close()
        return self.cutover_events(db_schema)

    def finish_run(self, db_schema: str, run_id: str, status: str) -> bool:
        """As the 団体's role, like every write to its schemas; the record in the current schema, or in
        `__prev` when a rollback has made it the previous state since."""
        if status not in ENDED:
            raise ValueError(f"a run ends {', '.join(ENDED)}, not {status!r}")
        try:
            conn = self._connect(run_id)
        except BaseException:
            release_lease(self.url, db_schema, all_of_it=True)
            raise
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", (role_of(db_schema),))
                if cur.fetchone() is None:
                    return False
                cur.execute(f"SET ROLE {ident(role_of(db_schema))}")
                done = False
                for schema in (db_schema, db_schema + PREV):
                    if "status" in _columns(cur, schema, RUN_TABLE):
                        cur.execute(f"UPDATE {qualified(schema, RUN_TABLE)} SET status = $1, finished_at = $2 "
                                    "WHERE run_id = $3 RETURNING run_id", (status, now(), run_id))
                        done = bool(cur.fetchall()) or done
            conn.commit()
            return done
        except BaseException:
            _rollback(conn)
            raise
        finally:
            conn.close()
            release_lease(self.url, db_schema, all_of_it=True)   # the run's end is recorded: the target is free

    def checksums(self, db_schema: str) -> dict:
        """Computed by PostgreSQL as the 団体's role (SET ROLE), like every read-back."""
        out = {"run": None, "method": CHECKSUM_METHOD, "tables": {}}
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", (role_of(db_schema),))
                if cur.fetchone() is None:
                    return out
                cur.execute(f"SET ROLE {ident(role_of(db_schema))}")
                out["run"] = _run(cur, db_schema, RUN_TABLE)
                have = _tables(cur, db_schema)
                for name in sorted((out["run"] or {}).get("counts", {})):
                    if name in have:
                        cur.execute(CHECKSUM_SQL.format(json="to_jsonb(ikou_row)::text",
                                                        table=qualified(db_schema, name)))
                        rows, md5 = cur.fetchone()
                        out["tables"][name] = {"rows": int(rows), "md5": md5}
            return out
        finally:
            conn.close()

    def read_table(self, db_schema: str, name: str) -> pl.DataFrame:
        """Arrow straight from COPY binary (~10x the DBAPI row path here), as the 団体's role."""
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"SET ROLE {ident(role_of(db_schema))}")
            select, numeric = _select_numeric_as_text(cur, db_schema, name)
            cur.execute(select)
            frame = pl.from_arrow(cur.fetch_arrow_table())
        # NUMERIC came as its exact text: as the declared DECIMAL(p, s), what DuckDB's read_table gives
        return frame.with_columns(pl.col(c).cast(pl.Decimal(p, s)) for c, (p, s) in numeric.items() if p is not None)

    def diff_input(self, db_schema: str, name: str, out: Path) -> Path:
        """The table streamed to Parquet at `out`, Arrow batch by batch from COPY binary through ADBC,
        every column as text exactly as `read_table` + Polars' cast would write it."""
        import adbc_driver_postgresql.dbapi as adbc

        from ikou.staging import sink_batches

        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with adbc.connect(self.adbc_uri) as conn, conn.cursor() as cur:
            cur.execute(f"SET ROLE {ident(role_of(db_schema))}")   # read back as the 団体, like the load
            # ~16 MB batches (ADBC's default gives ~60k rows each: row groups too small, 10.2 → 7 s at 2M rows)
            cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(16 << 20)})
            cur.execute(_select_numeric_as_text(cur, db_schema, name)[0])
            reader = cur.fetch_record_batch()
            sink_batches((pl.from_arrow(b).cast(pl.String) for b in reader),
                         pl.Schema({f.name: pl.String for f in reader.schema}), out)
        return out


def _select_numeric_as_text(cur, db_schema: str, name: str) -> tuple[str, dict[str, tuple[int | None, int | None]]]:
    """SELECT of every column of the table, NUMERIC ones as `::text`, and those columns' (precision, scale).

    ADBC hands NUMERIC over as an opaque Arrow extension type that Polars cannot cast ("cannot cast
    extension types to String"): PostgreSQL's own text of a NUMERIC is its exact value ('0.0001',
    '12.50'), so the server writes it."""
    cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
                "CASE WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod >= 4 "
                "THEN ((a.atttypmod - 4) >> 16) & 65535 END, "
                "CASE WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod >= 4 THEN (a.atttypmod - 4) & 65535 END "
                "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 "
                "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (db_schema, name))
    cols = cur.fetchall()
    numeric = {c: (p, s) for c, kind, p, s in cols if kind.startswith("numeric")}
    listed = ", ".join(f"{ident(c)}::text AS {ident(c)}" if c in numeric else ident(c) for c, *_ in cols)
    return f"SELECT {listed or '*'} FROM {qualified(db_schema, name)}", numeric


def _primary_key(schema: TargetSchema, db_schema: str, name: str) -> str:
    """ALTER TABLE … ADD PRIMARY KEY after the rows are in: a duplicate still fails the whole load."""
    cols = ", ".join(ident(c) for c in schema.resolved_table(name).primary_key)
    return f"ALTER TABLE {qualified(db_schema, name)} ADD CONSTRAINT {ident(name + '_pkey')} PRIMARY KEY ({cols})"


def _orders_by_code_point(cur) -> bool:
    """Whether the database's default collation orders text by code point (C, POSIX, C.UTF-8), as
    the "C" collation does: then the key columns can be "C" without changing any comparison."""
    cur.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
    return cur.fetchone()[0].lower().replace("-", "") in ("c", "posix", "c.utf8")


def _key_collation(schema: TargetSchema, db_schema: str, names: list[str]) -> list[str]:
    """The text columns of each table's primary key as COLLATE "C" (the tables are still empty).

    Only where the database's own collation already orders by code point (_orders_by_code_point):
    equality and order stay what they were, but PostgreSQL compares the keys byte by byte with
    abbreviated keys instead of calling strcoll, so building the history table's key took half
    the time (2.15M rows: 3.6 s against 7.3 s, same run)."""
    out = []
    for name in names:
        t = schema.resolved_table(name)
        text = {c.name for c in t.columns if c.type in ("text", "date")}
        for col in (k for k in t.primary_key if k in text):
            out.append(f'ALTER TABLE {qualified(db_schema, name)} ALTER COLUMN {ident(col)} TYPE text COLLATE "C"')
    return out


_ROLE_SETUP_LOCK = 0x696B6F75   # "ikou": pg_advisory_xact_lock key of the role set-up


def _ensure_role(cur, role: str, own: list[str], *, run_id: str | None = None) -> None:
    """The 団体's role (NOLOGIN): owns its schemas but creates none (no CREATE on the database: a 団体's
    role could otherwise create another 団体's schemas first and block its loads); the migration login
    may act as it (SET ROLE). A CREATE ON DATABASE an earlier ikou granted to 団体 roles is taken back
    from every one of them here. Schemas of this 団体 owned by the login (loaded before roles existed)
    are handed to it, with their tables; one owned by any other role stops the run (SchemaOwnerError).
    Concurrent loads of different 団体 take turns here (a transaction-level advisory lock; the caller
    commits right after)."""
    cur.execute(f"SELECT pg_advisory_xact_lock({_ROLE_SETUP_LOCK})")
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", (role,))
    if cur.fetchone() is None:
        cur.execute(f"CREATE ROLE {ident(role)} NOLOGIN")
    cur.execute("SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user")
    database, superuser = cur.fetchone()
    cur.execute("SELECT DISTINCT r.rolname FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a "
                "JOIN pg_roles r ON r.oid = a.grantee WHERE d.datname = current_database() "
                "AND a.privilege_type = 'CREATE' AND r.rolname ~ '^ikou_dantai_[0-9]{6}$' ORDER BY 1")
    for (granted,) in cur.fetchall():
        cur.execute(f"REVOKE CREATE ON DATABASE {ident(database)} FROM {ident(granted)}")
    cur.execute("SELECT has_database_privilege($1, $2, 'CREATE')", (role, database))
    if cur.fetchone()[0]:   # through PUBLIC, a role it is a member of, or a grant this login cannot revoke
        raise IsolationError(f"role {role} can still create schemas in database {database} (CREATE through "
                             "PUBLIC, a role it belongs to, or another grantor): an administrator must revoke it, "
                             "then run again (target unchanged)", run_id=run_id)
    if not superuser:
        cur.execute(f"GRANT {ident(role)} TO CURRENT_USER")
    for schema in own:
        if role_of(schema) != role:
            continue   # never another 団体's schema
        if _check_owner(cur, schema, role, run_id=run_id, login_may_own=True) == "login":
            cur.execute(f"ALTER SCHEMA {ident(schema)} OWNER TO {ident(role)}")
            for t in sorted(_tables(cur, schema)):
                cur.execute(f"ALTER TABLE {qualified(schema, t)} OWNER TO {ident(role)}")


def _check_owner(cur, schema: str, role: str, *, run_id: str | None, login_may_own: bool = False) -> str | None:
    """None when `schema` does not exist, "role" when `role` owns it, "login" when the login does (and
    `login_may_own`); a schema owned by any other role is refused, never used nor dropped. As the login
    (not under SET ROLE): current_user is the login."""
    cur.execute("SELECT n.nspowner::regrole::text, current_user::text FROM pg_namespace n WHERE n.nspname = $1",
                (schema,))
    row = cur.fetchone()
    if row is None:
        return None
    owner, login = row
    if owner == role:
        return "role"
    if login_may_own and owner == login:
        return "login"
    raise SchemaOwnerError(f"schema {schema} is owned by {owner}, not by {role}"
                           + (f" nor by the migration login {login}" if login_may_own else "")
                           + ": ikou neither uses nor drops it; an administrator must drop it or give it to "
                           f"{role} (ALTER SCHEMA … OWNER TO), then run again (target unchanged)", run_id=run_id)


def _swap(cur, role: str, renames: list[tuple[str, str]], *, run_id: str | None) -> None:
    """The schema renames of a swap, in order, as the login (renaming a schema takes CREATE on the
    database, which 団体 roles do not have), each schema checked first to belong to the run's role; one
    that does not exist is left out (a first load has no current schema). The session returns to the
    団体's role after."""
    cur.execute("RESET ROLE")
    for old, new in renames:
        if role_of(old) != role or role_of(new) != role:   # never another 団体's schema (refused before:
            raise IsolationError(f"refused renaming {old} to {new} as {role}", run_id=run_id)   # a safeguard)
        if _check_owner(cur, old, role, run_id=run_id) is not None:
            cur.execute(f"ALTER SCHEMA {ident(old)} RENAME TO {ident(new)}")
    cur.execute(f"SET ROLE {ident(role)}")


# Every object that depends on something in one schema (its tables, columns, types, functions,
# constraints, or the schema itself: what lies directly in it), as PostgreSQL records it in pg_depend,
# but a thing's internal parts (deptype i: a table's row type, TOAST table, its key's index). For each:
# its name (a view for its rewrite rule, the table for a column, constraint, trigger or policy), its
# kind, what in the schema it depends on (NULL: it lies in the schema), whether it is a plain table
# lying in the schema (ikou's kind of object) and whether it is a constraint of a table in the schema
# on nothing outside it (part of the table: a key, NOT NULL, a foreign key inside the schema).
_DEPENDENTS_SQL = """
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = $1),
inside AS (
  SELECT 'pg_class'::regclass AS cls, c.oid FROM pg_class c JOIN ns ON c.relnamespace = ns.oid
  UNION ALL SELECT 'pg_type'::regclass, t.oid FROM pg_type t JOIN ns ON t.typnamespace = ns.oid
  UNION ALL SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p JOIN ns ON p.pronamespace = ns.oid
  UNION ALL SELECT 'pg_constraint'::regclass, k.oid FROM pg_constraint k JOIN ns ON k.connamespace = ns.oid
  UNION ALL SELECT 'pg_namespace'::regclass, ns.oid FROM ns),
dep AS (
  SELECT d.classid, d.objid, d.refclassid, d.refobjid,
         CASE d.classid
           WHEN 'pg_class'::regclass THEN d.objid
           WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = d.objid)
           WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = d.objid)
           WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = d.objid)
           WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = d.objid)
           WHEN 'pg_constraint'::regclass THEN (SELECT nullif(conrelid, 0) FROM pg_constraint WHERE oid = d.objid)
         END AS rel,
         CASE d.refclassid
           WHEN 'pg_class'::regclass
             THEN coalesce((SELECT indrelid FROM pg_index WHERE indexrelid = d.refobjid), d.refobjid)
           WHEN 'pg_constraint'::regclass THEN (SELECT nullif(conrelid, 0) FROM pg_constraint WHERE oid = d.refobjid)
         END AS refrel
  FROM pg_depend d JOIN inside i ON d.refclassid = i.cls AND d.refobjid = i.oid
  WHERE d.deptype <> 'i')
SELECT DISTINCT
  coalesce(r.identity, o.identity),
  CASE WHEN dep.classid = 'pg_rewrite'::regclass AND r.type IS NOT NULL THEN r.type
       WHEN dep.classid = 'pg_constraint'::regclass AND k.contype = 'f' THEN 'foreign key ' || k.conname
       ELSE o.type END,
  CASE WHEN dep.refclassid <> 'pg_namespace'::regclass THEN coalesce(rr.identity, ro.identity) END,
  coalesce(dep.refclassid = 'pg_namespace'::regclass AND c.relkind = 'r', false),
  coalesce(dep.classid = 'pg_constraint'::regclass
           AND k.conrelid IN (SELECT oid FROM inside WHERE cls = 'pg_class'::regclass)
           AND (k.contype <> 'f' OR k.confrelid IN (SELECT oid FROM inside WHERE cls = 'pg_class'::regclass)), false),
  c.relname
FROM dep
CROSS JOIN LATERAL pg_identify_object(dep.classid, dep.objid, 0) o
LEFT JOIN LATERAL pg_identify_object('pg_class'::regclass, dep.rel, 0) r ON dep.rel IS NOT NULL
LEFT JOIN LATERAL pg_identify_object(dep.refclassid, dep.refobjid, 0) ro ON true
LEFT JOIN LATERAL pg_identify_object('pg_class'::regclass, dep.refrel, 0) rr ON dep.refrel IS NOT NULL
LEFT JOIN pg_constraint k ON dep.classid = 'pg_constraint'::regclass AND k.oid = dep.objid
LEFT JOIN pg_class c ON dep.classid = 'pg_class'::regclass AND c.oid = dep.objid
ORDER BY 1, 2, 3
"""


def _foreign_objects(cur, schema: str, loading: frozenset[str] = frozenset()) -> list[str]:
    """What in or on `schema` ikou did not create, one "name (kind[ on what])" each: anything outside
    it that depends on what is in it (a view, a foreign key, a column of its row type, a function), and
    anything in it but the tables ikou loaded there (those its run record names, with the run record
    and the load log; where a schema has no run record, from before ikou recorded runs, the tables a
    業務 schema defines, or this run loads) and
    their own parts (keys, constraints on the schema's own tables)."""
    run = _run(cur, schema, RUN_TABLE) if _schema_exists(cur, schema) else None
    known = ((set(run["counts"]) if run is not None else _standard_tables() | loading)
             | {RUN_TABLE, "ikou_load_log", CUTOVER_TABLE})
    cur.execute(_DEPENDENTS_SQL, (schema,))
    found: dict[tuple[str, str], set[str]] = {}   # (name, kind) → what in the schema it depends on
    for name, kind, on, plain_table, table_part, relname in cur.fetchall():
        if not (table_part or (plain_table and (known is None or relname in known))):
            found.setdefault((name, kind), set()).update([on] if on and on != name else [])
    return [f"{name} ({kind}" + (f" on {', '.join(sorted(on))})" if on else ")")
            for (name, kind), on in sorted(found.items())]


@functools.lru_cache(maxsize=1)
def _standard_tables() -> frozenset[str]:
    """Every table a 業務 schema under specs/gyomu defines: what ikou may have loaded into a schema that
    holds no run record (from before runs were recorded). Any other table there is not ikou's."""
    from ikou import REPO_ROOT
    from ikou.schema import load_schema

    return frozenset(t for f in sorted((REPO_ROOT / "specs" / "gyomu").glob("*/schema.yaml"))
                     for t in load_schema(f).tables)


def _check_foreign_objects(cur, schema: str, run_id: str | None, loading: frozenset[str] = frozenset()) -> None:
    """Refuse (ForeignObjectError, one line) when anything ikou did not create lies in `schema` or
    depends on it: renaming the schema aside would silently repoint it, dropping it would drop it."""
    found = _foreign_objects(cur, schema, loading)
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ForeignObjectError(
            f"{schema}: {shown}: not created by ikou, which replaces this schema at each run (the current one is "
            "renamed aside, the one before dropped) and neither repoints nor drops what it did not create; an "
            "administrator must drop it or detach it from this schema, then run again (target unchanged)",
            run_id=run_id)


def _drop_schema(cur, schema: str) -> None:
    """Drop one of the 団体's schemas, checked by _check_foreign_objects to hold ikou's tables only: the
    tables by name, then the schema, neither with CASCADE (PostgreSQL refuses if anything else appeared)."""
    cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1", (schema,))
    tables = [r[0] for r in cur.fetchall()]
    if tables:
        cur.execute("DROP TABLE " + ", ".join(qualified(schema, t) for t in tables))
    cur.execute(f"DROP SCHEMA {ident(schema)}")


def _schema_exists(cur, name: str) -> bool:
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = $1", (name,))
    return cur.fetchone() is not None


def _tables(cur, db_schema: str) -> set[str]:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = $1", (db_schema,))
    return {r[0] for r in cur.fetchall()}


def _columns(cur, db_schema: str, table: str) -> list[str]:
    """The columns of a table, in order ([] when there is no such table)."""
    cur.execute("SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 "
                "AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (db_schema, table))
    return [r[0] for r in cur.fetchall()]


def _run(cur, db_schema: str, table: str) -> dict | None:
    """The run record in `db_schema.table`, whatever columns its ikou wrote (None: no record there)."""
    names = [c for c in _columns(cur, db_schema, table) if c in RUN_TABLE_COLUMNS]
    if not names:
        return None
    cols = ", ".join(ident(c) for c in names)
    cur.execute(f"SELECT {cols} FROM {qualified(db_schema, table)} LIMIT 1")
    return run_dict(cur.fetchone(), names)


def _cutover(cur, db_schema: str) -> list[dict]:
    """The cut-over record of `db_schema`, oldest first ([] when it has none)."""
    names = [c for c in _columns(cur, db_schema, CUTOVER_TABLE) if c in CUTOVER_COLUMNS]
    if not names:
        return []
    cur.execute(f"SELECT {', '.join(ident(c) for c in names)} FROM {qualified(db_schema, CUTOVER_TABLE)}")
    return cutover_dicts(cur.fetchall(), names)


def _copy_cutover(cur, source: str, dest: str) -> None:
    """The cut-over record of `source` in place of `dest`'s (as the 団体's role, in the caller's transaction)."""
    cur.execute(f"DROP TABLE IF EXISTS {qualified(dest, CUTOVER_TABLE)}")
    cols = ", ".join(ident(c) for c in _columns(cur, source, CUTOVER_TABLE) if c in CUTOVER_COLUMNS)
    cur.execute(f"CREATE TABLE {qualified(dest, CUTOVER_TABLE)} ("
                + ", ".join(f"{ident(c)} text" for c in CUTOVER_COLUMNS) + ")")
    cur.execute(f"INSERT INTO {qualified(dest, CUTOVER_TABLE)} ({cols}) "
                f"SELECT {cols} FROM {qualified(source, CUTOVER_TABLE)}")


def _counts(cur, db_schema: str, names: list[str]) -> dict[str, int]:
    """Rows of the tables a target loaded before it recorded its run (ikou_run)."""
    out = {}
    for n in sorted(set(names) & _tables(cur, db_schema)):
        cur.execute(f"SELECT count(*) FROM {qualified(db_schema, n)}")
        out[n] = cur.fetchone()[0]
    return out


def _rollback(conn) -> None:
    """Roll back, keeping the error that got us here (a lost connection cannot roll back)."""
    try:
        conn.rollback()
    except Exception:  # noqa: BLE001 - the server rolls back an unfinished transaction itself
        pass


def _ingest(cur, schema: TargetSchema, db_schema: str, name: str, frame) -> int:
    """Rows of one table into its (empty, key-less) target table by binary COPY, batch by batch;
    returns the rows written (the table was created empty in this transaction: its row count).

    A decimal column has no Arrow type that keeps each value's own scale ('12.50' stays 12.50 in
    NUMERIC), so a table with one goes through a temporary all-text table and a cast on the server.
    No shipped schema has one; where one does, it costs: 1M rows × 6 columns, one of them decimal,
    loaded in 4.85 s against 2.45 s for the same table with that column an integer (best of 3 each,
    same process, 2026-11-29, loaded machine).
    """
    import pyarrow as pa

    cols = schema.resolved_table(name).columns
    declared = [c.name for c in cols]
    direct = all(c.type in _ARROW_TYPES for c in cols)
    arrow = pa.schema([(c.name, pa.type_for_alias(_ARROW_TYPES[c.type] if direct else "string")) for c in cols])
    reader = pa.RecordBatchReader.from_batches(
        arrow, (pa.RecordBatch.from_arrays([b.column(n).cast(arrow.field(n).type) for n in declared], schema=arrow)
                for b in _arrow_batches(frame, declared)))
    if direct:
        rows = cur.adbc_ingest(name, reader, mode="append", db_schema_name=db_schema)
    else:
        temp = f"ikou_ingest_{name}"
        cur.adbc_ingest(temp, reader, mode="create", temporary=True)
        names = ", ".join(ident(n) for n in declared)
        from sqlalchemy.dialects import postgresql

        # each column's own DDL type (NUMERIC(p, s)): the value lands as the table declares it
        casts = ", ".join(f"{ident(c.name)}::{sa_type(c).compile(dialect=postgresql.dialect())}" for c in cols)
        cur.execute(f"INSERT INTO {qualified(db_schema, name)} ({names}) SELECT {casts} FROM {ident(temp)}")
        rows = cur.rowcount
        cur.execute(f"DROP TABLE {ident(temp)}")
    if rows is None or rows < 0:   # a driver that does not say: ask the table
        cur.execute(f"SELECT count(*) FROM {qualified(db_schema, name)}")
        rows = cur.fetchone()[0]
    return int(rows)


def _arrow_batches(frame: pl.DataFrame | Path, columns: list[str]):
    """Bounded Arrow batches of a frame, or of a Parquet file read batch by batch, one batch ahead
    on a thread of its own (the Parquet decode of the next batch overlaps the COPY of this one)."""
    if isinstance(frame, (str, Path)):
        import pyarrow.parquet as pq

        from ikou.staging import batch_rows

        size = batch_rows(frame, COPY_BATCH_ROWS, columns)
        yield from _read_ahead(pq.ParquetFile(frame).iter_batches(batch_size=size, columns=columns))
    else:   # in memory already: the batches are slices of it
        yield from frame.select(columns).to_arrow().to_batches(max_chunksize=COPY_BATCH_ROWS)


def _read_ahead(batches, depth: int = 1):
    """The items of `batches`, produced up to `depth` ahead of the consumer on a thread; its error
    is raised here, and a consumer that stops early stops it (memory: depth + 2 batches)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False   # the consumer has gone

    def produce():
        try:
            for b in batches:
                if not put(b):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)

    t = threading.Thread(target=produce, name="ikou-copy-read-ahead", daemon=True)
    t.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join()


def _lock_schema(cur, db_schema: str, *, run_id: str | None) -> None:
    """One load or rollback of a target schema at a time, whoever starts it (another machine, another runs
    folder): a transaction-level advisory lock on the schema's name, taken without waiting. Two swaps
    interleaved could leave `__prev` holding neither run; the second is refused (TargetBusy, transient:
    the load retries once) and the first completes whole."""
    cur.execute("SELECT pg_try_advisory_xact_lock(hashtext($1))", (f"ikou:{db_schema}",))
    if not cur.fetchone()[0]:
        raise _busy(db_schema, _lock_holder(cur, db_schema), run_id)


def _lock_holder(cur, db_schema: str) -> str | None:
    """Who holds the target's lock (`ikou:<schema>`, a run's lease or a rollback): "pid N (application_name)"."""
    cur.execute("SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "CROSS JOIN (SELECT hashtext($1)::bigint AS k) h WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.objsubid = 1 AND l.classid::bigint = ((h.k >> 32) & 4294967295) "
                "AND l.objid::bigint = (h.k & 4294967295) LIMIT 1", (f"ikou:{db_schema}",))
    row = cur.fetchone()
    return None if row is None else f"pid {row[0]}" + (f" ({row[1]})" if row[1] else "")


def _busy(db_schema: str, holder: str | None, run_id: str | None) -> TargetBusy:
    """The refusal a second load or rollback of a target meets while another run holds it."""
    who = holder or "another session"
    return TargetBusy(f"target schema {db_schema}: another load or rollback of it is in progress (held by {who}: a "
                      "run holds its target from its load until its end is recorded); wait for it to finish "
                      "(target unchanged)",
                      run_id=run_id,
                      ja=f"移行先 {db_schema} は別の実行またはロールバックが使用中です ({who})。その終了を待ってから"
                         "再実行してください (移行先は変更なし)")


def _login_lacks_rights(role: str, run_id: str | None) -> TargetLoginError:
    """The set-up of the 団体's role was refused (permission denied): what the migration login needs."""
    return TargetLoginError(
        f"the target login may not set up the 団体's role {role} (permission denied): the migration login needs "
        "CREATEROLE and CREATE on the database (ALTER ROLE … CREATEROLE; GRANT CREATE ON DATABASE …), or must be a "
        "superuser (target unchanged)", run_id=run_id,
        ja=f"移行先のログインユーザーには団体ロール {role} を作成・設定する権限がありません。移行用ログインには "
           "CREATEROLE とデータベースの CREATE 権限が必要です (ALTER ROLE … CREATEROLE; GRANT CREATE ON DATABASE …)。"
           "またはスーパーユーザーで実行してください (移行先は変更なし)")


def _refused_login(message: str) -> tuple[str, str] | None:
    """Why the server refuses the login for good, (English, Japanese), read from libpq's message (the
    connect error carries no SQLSTATE): 3D000 no such database, 28000 no such role or no pg_hba entry,
    28P01 a wrong password. None: anything else (refused, timed out: may pass on retry)."""
    m = message.lower()
    if "database" in m and "does not exist" in m:
        return "3D000 the database does not exist", "データベースが存在しません"
    if "role" in m and "does not exist" in m:
        return "28000 the login role does not exist", "ログインユーザーが存在しません"
    if "password authentication failed" in m or "no password supplied" in m:
        return "28P01 the password is wrong or missing", "パスワードが誤っているか指定されていません"
    if "no pg_hba.conf entry" in m:
        return "28000 pg_hba.conf has no entry for this login", "pg_hba.conf にこのログインの許可がありません"
    return None


def lock_timeout_seconds() -> float:
    """How long a load waits for a reader of the tables it replaces (IKOU_LOCK_TIMEOUT_SECONDS, 60 s)."""
    try:
        return max(float(os.environ.get("IKOU_LOCK_TIMEOUT_SECONDS", "60")), 0.1)
    except ValueError:
        return 60.0


_LOCK_NOTICE_SECONDS = 2.0   # a wait longer than this is logged, naming who it waits for


class _ReadersHold(Exception):
    """The swap's lock timeout ran out (turned into TargetBusy by load_run once rolled back)."""

    def __init__(self, holders: str | None):
        super().__init__(holders or "")
        self.holders = holders


def _waiting_for_readers(cur, connect, run_id: str | None, action) -> None:
    """`action` (the swap's DROPs and renames) under a lock timeout (lock_timeout_seconds()): a session holding
    the replaced tables (an analyst's open transaction) would otherwise stall the load for ever without a word.
    A watcher on a connection of its own logs, once the wait has lasted a moment, who the load waits for
    (pg_blocking_pids); when the time runs out, _ReadersHold (load_run rolls back and refuses: TargetBusy)."""
    import threading

    import adbc_driver_manager as adbc_dm

    limit = lock_timeout_seconds()
    cur.execute("SELECT pg_backend_pid()")
    me = cur.fetchone()[0]
    seen: list[str] = []

    def notice() -> None:
        try:
            c = connect(run_id)
            try:
                with c.cursor() as wc:
                    wc.execute("SELECT a.pid, coalesce(a.application_name, '') FROM pg_stat_activity a "
                               "WHERE a.pid = ANY(pg_blocking_pids($1::int)) ORDER BY 1", (me,))
                    rows = wc.fetchall()
            finally:
                c.close()
        except Exception:  # noqa: BLE001 - an aid for the log only
            return
        if rows:
            seen.append(_named(rows))
            log.warning("load: waiting up to %.0f s for %s, which holds tables this load replaces (an open "
                        "transaction reading them?)", limit, seen[-1])

    watcher = threading.Timer(min(_LOCK_NOTICE_SECONDS, limit / 2), notice)
    watcher.daemon = True
    cur.execute(f"SET LOCAL lock_timeout = '{int(limit * 1000)}ms'")
    watcher.start()
    try:
        action()
    except adbc_dm.Error as exc:
        if getattr(exc, "sqlstate", None) != "55P03":   # lock_not_available
            raise
        raise _ReadersHold(seen[-1] if seen else None) from None
    finally:
        watcher.cancel()
        watcher.join()


def _readers_hold(cur, schemas: tuple[str, ...], holders: str | None, run_id: str | None) -> TargetBusy:
    """The refusal of a load that waited lock_timeout_seconds() for sessions holding the tables it replaces."""
    limit = lock_timeout_seconds()
    holders = holders or _lock_holders(cur, schemas) or "another session"
    return TargetBusy(f"{', '.join(schemas)}: the load waited {limit:.0f} s for {holders}, which holds tables it "
                      "replaces (an open transaction reading them?), and was rolled back; end that session or its "
                      "transaction, then run again (target unchanged; IKOU_LOCK_TIMEOUT_SECONDS sets the wait)",
                      run_id=run_id,
                      ja=f"移行先のテーブルを他のセッション ({holders}) が使用中のため、{limit:.0f} 秒待ってロードを"
                         "取り消しました。そのセッションまたはトランザクションを終了してから再実行してください (移行先は変更なし)")


def _named(rows) -> str:
    return ", ".join(f"pid {pid}" + (f" ({app})" if app else "") for pid, app in list(rows)[:5])


def _lock_holders(cur, schemas: tuple[str, ...]) -> str:
    """The other sessions holding a lock on a table of `schemas`, or on the schemas themselves (those a DROP
    or rename there waits for, as pg_blocking_pids would name them): "pid N (application_name), …"."""
    cur.execute("SELECT DISTINCT l.pid, coalesce(a.application_name, '') FROM pg_locks l "
                "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
                "LEFT JOIN pg_class c ON l.locktype = 'relation' AND c.oid = l.relation "
                "LEFT JOIN pg_namespace n ON n.oid = coalesce(c.relnamespace, "
                "CASE WHEN l.locktype = 'object' AND l.classid = 'pg_namespace'::regclass THEN l.objid END) "
                "WHERE l.granted AND l.pid <> pg_backend_pid() AND n.nspname = ANY($1) ORDER BY 1",
                (list(schemas),))
    return _named(cur.fetchall())
