"""The run configuration: one 団体 × 業務 × rehearsal, as a YAML file checked by a schema.

Relative paths in the file resolve against the file's own directory, so a config can travel
with its data. Nothing in it reaches SQL or the file system unchecked: names that become file or
SQL names match strict patterns, the target schema is `dantai_<this code>` (a declared suffix at
most), source files must lie in the 団体's inbox (`inbox:`, default the config's folder; symlinks
resolved; under IKOU_INBOX_ROOTS when the operator sets it), and no path or database name may point at
another 団体's data (codes NFKC-folded: full-width digits count). A database URL carries only its
dialect's allow-listed query parameters, and no path, name or URL a control character.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, StringConstraints, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ikou.checkdigit import is_valid_dantai_code
from ikou.errors import ConfigError, IsolationError
from ikou.spec import SpecProblem, StrictModel, load_spec, spec_version_field


# Names that become file names (source, rehearsal) or SQL identifiers (tables, schemas, 業務).
FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")]
SqlName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
GyomuName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=80)]   # kana.not_fullwidth
TARGET_SCHEMA = re.compile(r"dantai_(?P<code>[0-9]{6})(?:_[a-z0-9]{1,16})?")
_DANTAI_NAME = re.compile(r"(?:dantai_)?(?P<code>[0-9]{6})")
# C0 and C1 control characters, DEL and the Unicode line/paragraph separators: never in a path, name or URL
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control_character(text: str) -> bool:
    """Whether `text` holds a character no path, name or URL of a config may hold (`_CONTROL`)."""
    return bool(_CONTROL.search(text))


def other_dantai(name: str, own: str) -> str | None:
    """The 団体コード that `name` (a path component, schema or table name) names, if not `own`.
    NFKC-folded first: a folder `９９９７９２` (full-width digits) names 団体 999792 as much as `999792` does."""
    name = unicodedata.normalize("NFKC", name)
    for part in re.split(r"[._\-]", name) + [name]:
        m = _DANTAI_NAME.fullmatch(part) or re.match(r"dantai_([0-9]{6})", part)
        code = m.group(1) if m else None
        if code and code != own and is_valid_dantai_code(code):
            return code
    return None


def _url_words(url: str) -> list[str]:
    """Every name a database URL points at, for the 団体 check: the database or file path, and the
    schemas a query can set (`search_path`, libpq's `options=-csearch_path=…`, `currentSchema`, `schema`,
    `database`, `dbname`), percent-decoded and split. Not the host, the port or other parameters: a
    `statement_timeout=200000` names no 団体."""
    from urllib.parse import parse_qsl, unquote

    rest = url.split("://", 1)[-1]
    path, _, query = rest.partition("?")
    path = path.split("@", 1)[-1]
    path = path.partition("/")[2] if "/" in path else ""   # after host[:port]; a file URL's path is all here
    # NFKC-folded before the split: full-width digits (`９９９７９２`) would otherwise be split away as separators
    texts = [unicodedata.normalize("NFKC", unquote(unquote(path)))]
    for key, value in parse_qsl(query, keep_blank_values=True):
        value = unicodedata.normalize("NFKC", unquote(value))
        if key.lower() in ("search_path", "currentschema", "schema", "database", "dbname"):
            texts.append(value)
        elif key.lower() == "options":
            # PostgreSQL reads setting names in any case: -c SEARCH_PATH=… sets the same thing
            texts += re.findall(r"(?i)search_path\s*=\s*([^\s]+)", value)
    return [w for t in texts for w in re.split(r"[^0-9A-Za-z_]+", t) if w]


# The query parameters a database URL may carry, per dialect: an ALLOW-list, since every other key reaches
# the driver as written, and several run SQL or read files the config names (pymysql's `init_command`,
# `read_default_file`/`read_default_group` (a my.cnf, which may set `init-command` and `database`),
# `local_infile`, `client_flag`; libpq's `service` (pg_service.conf picks the database) and `options` beyond
# the settings below). Only connection, TLS and timeout settings, which name no data, are let through.
_URL_PARAMETERS: dict[str, frozenset[str]] = {
    "mysql": frozenset({"charset", "password", "connect_timeout", "read_timeout", "write_timeout", "ssl_ca", "ssl_capath",
                        "ssl_cert", "ssl_key", "ssl_cipher", "ssl_check_hostname", "ssl_verify_cert",
                        "ssl_verify_identity", "ssl_disabled"}),
    "postgresql": frozenset({"sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslcrldir", "sslpassword",
                             "sslsni", "sslcompression", "sslcertmode", "ssl_min_protocol_version",
                             "ssl_max_protocol_version", "gssencmode", "channel_binding", "require_auth",
                             "krbsrvname", "connect_timeout", "application_name", "target_session_attrs",
                             "load_balance_hosts", "keepalives", "keepalives_idle", "keepalives_interval",
                             "keepalives_count", "tcp_user_timeout", "password", "passfile", "host", "hostaddr",
                             "port", "options"}),
    "duckdb": frozenset({"access_mode", "threads", "memory_limit"}),
    "sqlite": frozenset({"timeout"}),
}
_URL_PARAMETERS["mariadb"] = _URL_PARAMETERS["mysql"]
# libpq `options=-c name=value`: the session settings a URL may set; not role, session_authorization or any
# other that changes whose rights or which data the session has (search_path is checked for 団体 codes)
_PG_OPTION_SETTINGS = frozenset({"search_path", "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
                                 "idle_session_timeout", "work_mem", "maintenance_work_mem",
                                 "default_transaction_read_only"})


def _url_query(url: str) -> tuple[str, list[tuple[str, str]]]:
    """(backend name, [(key, value)…]) of a database URL, as SQLAlchemy hands them to the driver
    (percent-decoded; a key given twice is there twice)."""
    from urllib.parse import parse_qsl

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
        backend = u.get_backend_name()
        pairs = [(k, x) for k, v in u.query.items() for x in (v if isinstance(v, tuple) else (v,))]
    except (ArgumentError, ValueError):   # not a URL SQLAlchemy reads: its query by hand (it fails later anyway)
        backend = url.split("://", 1)[0].split("+", 1)[0]
        pairs = parse_qsl(url.partition("?")[2], keep_blank_values=True)
    backend = backend.lower()
    return ("postgresql" if backend == "postgres" else backend), pairs


def url_parameter_problem(url: str, *, target: bool = False) -> tuple[str, str] | None:
    """(English, Japanese) why a database URL's query may not be used, or None: a key not on its dialect's
    allow-list, a libpq `options` setting other than the harmless ones, or a control character in a value.
    `target`: a DuckDB target takes no parameter at all (its file name is everything after `:///`).
    Names the key only, never the value (it may be a password)."""
    backend, pairs = _url_query(url)
    allowed = frozenset() if target and backend == "duckdb" else _URL_PARAMETERS.get(backend, frozenset())
    for key, value in pairs:
        if key.lower() not in allowed:
            shown = ", ".join(sorted(allowed)) or "none"
            shown_ja = ", ".join(sorted(allowed)) or "なし"
            return (f"the URL parameter {key!r} is not allowed: it could run SQL, read a settings file or choose "
                    f"the database or session outside the config's checks (allowed for {backend}: {shown})",
                    f"接続 URL のパラメータ {key} は使えません (SQL の実行や設定ファイルの読込み、設定の検査を経ない"
                    f"データベース・セッションの変更につながるため)。{backend} で使えるパラメータ: {shown_ja}")
        if _CONTROL.search(value):
            return (f"the URL parameter {key!r} holds a control character (line break, tab …)",
                    f"接続 URL のパラメータ {key} の値に制御文字 (改行・タブなど) があります。取り除いてください")
        if backend == "postgresql" and key.lower() == "options":
            bad = _pg_options_problem(value)
            if bad:
                return (f"the URL parameter 'options' sets {bad!r}: only -c with "
                        f"{', '.join(sorted(_PG_OPTION_SETTINGS))} is allowed",
                        f"接続 URL の options の {bad} は使えません (ロールの切替えなど設定の検査を経ないセッションの変更に"
                        f"つながるため)。-c で指定できるのは {', '.join(sorted(_PG_OPTION_SETTINGS))} だけです")
    return None


def _pg_options_problem(value: str) -> str | None:
    """The first part of a libpq `options` value that is not `-c <allowed setting>=…` (or `--setting=…`),
    or None. libpq splits the value at blanks not escaped by a backslash; setting names are read in any case."""
    tokens = [t for t in re.split(r"(?<!\\)\s+", value.strip()) if t]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "-c" and i + 1 < len(tokens):
            assignment, i = tokens[i + 1], i + 2
        elif token.startswith("-c") and len(token) > 2:
            assignment, i = token[2:], i + 1
        elif token.startswith("--") and len(token) > 2:
            assignment, i = token[2:], i + 1
        else:
            return token
        name = assignment.split("=", 1)[0]
        if "=" not in assignment or name.lower().replace("-", "_") not in _PG_OPTION_SETTINGS:
            return name
    return None


def libpq_uri(url) -> str:
    """A PostgreSQL URL (text or SQLAlchemy URL) as libpq (ADBC) is to read it: every part percent-encoded, so
    each value reaches libpq as the URL meant it. SQLAlchemy's `render_as_string` writes a space in a query value
    as `+`, which libpq keeps as a `+`: `options=-c%20statement_timeout%3D5000` reached the server as
    `-c+statement_timeout=5000` ("unrecognized configuration parameter", reported as an unreachable target), and
    it leaves a space, `%` or `@` of a password or database name unencoded."""
    from urllib.parse import quote

    from sqlalchemy.engine import URL, make_url

    u = url if isinstance(url, URL) else make_url(url)
    netloc = ""
    if u.username is not None:
        netloc = quote(u.username, safe="")
        if u.password is not None:
            netloc += ":" + quote(str(u.password), safe="")
        netloc += "@"
    if u.host:
        netloc += f"[{u.host}]" if ":" in u.host else quote(u.host, safe="")
    if u.port is not None:
        netloc += f":{u.port}"
    path = "/" + quote(u.database, safe="") if u.database else ""
    pairs = [(k, x) for k, v in u.query.items() for x in (v if isinstance(v, tuple) else (v,))]
    query = "&".join(f"{quote(k, safe='')}={quote(x, safe='')}" for k, x in pairs)
    return f"postgresql://{netloc}{path}" + (f"?{query}" if query else "")


# a file-backed database URL: scheme (+ driver), the file (relative, or absolute after a fourth /)
_FILE_DB_URL = re.compile(r"^(duckdb|sqlite)(\+\w+)?:///([^?]+)")


def target_url_problem(url: str, own: str) -> str | None:
    """Why a target URL may not serve 団体 `own`: it names another 団体 (its database, file path or
    a query value such as a search path), or None. Checked for the config's own URL and for one given
    later (`--target-url`, a campaign's `target_url`)."""
    code = _target_url_dantai(url, own)
    if code:
        return (f"target.url names 団体 {code} (its database, file or search path): a run for {own} "
                "writes only its own target")
    return None


def target_url_problem_ja(url: str, own: str) -> str | None:
    """`target_url_problem` in Japanese: what is wrong and what to do."""
    code = _target_url_dantai(url, own)
    if code:
        return (f"target.url が他の団体 {code} のデータベース・ファイル・search_path を指しています。団体 {own} の"
                "実行は自団体の移行先にだけ書き込みます: この団体の移行先を指定してください")
    return None


def _target_url_dantai(url: str, own: str) -> str | None:
    words = _url_words(url)
    local = _local_database(url)
    if local is not None:   # the file as it really lies: a symlink may lead into another 団体's folder
        words += [w for part in local.resolve().parts
                  for w in re.split(r"[^0-9A-Za-z_]+", unicodedata.normalize("NFKC", part)) if w]
    return next((c for word in words if (c := other_dantai(word, own) or _embedded_dantai(word, own))), None)


def _embedded_dantai(word: str, own: str) -> str | None:
    """A 団体コード written into a name (`t999610`, `db999610`, `dantai999610`): six digits with a valid
    check digit, not part of a longer number. For a target, where a name carrying another 団体's code is
    never right. NFKC-folded first, as in `other_dantai` (`ｘ９９９７９２`)."""
    word = unicodedata.normalize("NFKC", word)
    for m in re.finditer(r"(?<![0-9])([0-9]{6})(?![0-9])", word):
        if m.group(1) != own and is_valid_dantai_code(m.group(1)):
            return m.group(1)
    return None


def path_names_dantai(path: Path | str, own: str, *, spec: bool = False) -> tuple[str, str] | None:
    """(the path component, the 団体コード) when `path`, symlinks resolved, lies in another 団体's tree or
    carries another 団体's code in a name (`in_999814`, `inbox999814x`, `JUMIN_999814.csv`); else None.

    `spec`: a spec file (mapping, layout, code table, schema, rules). One of the repository's own is never
    another 団体's, whatever folder the checkout lies in (a folder named like a date, `202401`, is also a
    valid 団体コード); only the part of its path inside the repository is read."""
    resolved = Path(path).resolve()
    if spec:
        from ikou import REPO_ROOT

        root = Path(REPO_ROOT).resolve()
        if root in resolved.parents:
            resolved = resolved.relative_to(root)
    for part in resolved.parts:
        code = other_dantai(part, own) or _embedded_dantai(part, own)
        if code:
            return part, code
    return None


def _local_database(url: str) -> Path | None:
    """The file of a file-backed database URL (duckdb:///…, sqlite:///…), else None."""
    m = _FILE_DB_URL.match(url)
    return Path(m.group(3)) if m and not m.group(3).startswith(":memory:") else None


def _inside(path: Path, roots: list[Path]) -> bool:
    p = Path(path).resolve()
    return any(p == r or r in p.parents for r in roots)


def _operator_inbox_roots() -> list[Path] | None:
    """The folders the operator lets any config's inbox lie in (IKOU_INBOX_ROOTS, os.pathsep-separated,
    symlinks resolved), or None when unset: a config declares its own `inbox:`, so only a setting outside
    the config can keep a hostile one from declaring `/`."""
    value = os.environ.get("IKOU_INBOX_ROOTS", "")
    roots = [Path(p).resolve() for p in value.split(os.pathsep) if p.strip()]
    return roots or None


def _strings(value: object, where: str = "") -> list[tuple[str, str]]:
    """(key path, string) of every string in a config's raw data (`sources.0.path`, `inbox.1`)."""
    if isinstance(value, str):
        return [(where or "(top level)", value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _strings(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _strings(v, f"{where}.{i}" if where else str(i))]
    return []


_SQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")   # = SqlName's pattern


def _plain_text_problem(data: dict) -> SpecProblem | None:
    """A string of the raw config that no path or name may be, named by its key: a control character
    (a line break would split log and summary lines; NUL makes the OS call fail), a path component over
    255 bytes or a path over 4095 (the file system's ENAMETOOLONG, otherwise an "unexpected error");
    a vendor table or schema that is no plain SQL name, with the fix in Japanese (pydantic says it only in
    English, as a regex)."""
    for where, value in _strings(data):
        if _CONTROL.search(value):
            return SpecProblem(f"{where} holds a control character (line break, tab, NUL …): not allowed in a "
                               "config's paths and names", key=where,
                               ja=f"{where} に制御文字 (改行・タブ・NUL など) があります。設定のパスや名前には使えません。"
                                  "取り除いてください")
        path = value.partition("?")[0] if where.endswith("url") else value   # a URL's query is no path
        if len(path.encode("utf-8")) > 4095 or any(len(c.encode("utf-8")) > 255 for c in path.split("/")):
            return SpecProblem(f"{where} is too long for a path (a name over 255 bytes or a path over 4095)",
                               key=where, ja=f"{where} はパスとして長すぎます (1つの名前が 255 バイト、全体が 4095 バイトを"
                                             "超えています)。短い名前にしてください")
    for i, source in enumerate(data.get("sources") or []):
        for key in ("table", "schema"):
            name = source.get(key) if isinstance(source, dict) else None
            if isinstance(name, str) and not _SQL_NAME.fullmatch(name):
                return SpecProblem(f"sources.{i}.{key} {name!r} is not a plain SQL name (ASCII letters, digits and "
                                   "_, not starting with a digit, at most 63): for a table named in Japanese, create "
                                   "a view with a plain name (CREATE VIEW jumin AS SELECT * FROM `住民`) and name it",
                                   key=f"sources.{i}.{key}",
                                   ja=("表名" if key == "table" else "スキーマ名") + f" {name!r} は使えません。表名・スキーマ名"
                                      "は英数字と _ のみ使えます (先頭は数字以外、63 文字まで)。日本語名の表はビューを作成して"
                                      "指定してください (例: CREATE VIEW jumin AS SELECT * FROM `住民`)")
    return None


def _resolve(value: str | Path | None, info: ValidationInfo) -> Path | None:
    if value is None:
        return None
    p = Path(value)
    base = (info.context or {}).get("path")
    if not p.is_absolute() and base is not None:
        p = (Path(base).parent / p).resolve()
    return p


class Dantai(StrictModel):
    code: str = Field(description="団体コード (6 digits with check digit)")
    name: str = Field(description="団体名")

    @field_validator("code")
    @classmethod
    def _check(cls, v: str) -> str:
        if not is_valid_dantai_code(v):
            raise ValueError(f"団体コード {v!r} is not 6 digits with a valid check digit")
        return v


class FileSource(StrictModel):
    """A legacy file described by a layout (中間標準レイアウト CSV, fixed width …)."""

    name: FileName = Field(description="source table name, unique in the run")
    kind: Literal["file"]
    layout: Path | None = Field(None, description="overrides the mapping's layout")
    path: Path
    encoding: str | None = Field(None, description="overrides the layout's encoding")
    gaiji_table: Path | None = Field(None, description="団体's 外字 table: code,mj")
    gaiji_font: Path | None = Field(None, description="the vendor's 外字 font (EUDC.TTE …): unresolved 外字 "
                                    "get MJ candidates ranked by picture in the 同定台帳")
    mapping: Path

    _resolve_paths = field_validator("layout", "path", "gaiji_table", "gaiji_font", "mapping", mode="before")(
        classmethod(lambda cls, v, info: _resolve(v, info))
    )


class DatabaseSource(StrictModel):
    """A vendor table read live through SQLAlchemy."""

    name: FileName
    kind: Literal["database"]
    url: str = Field(description="SQLAlchemy URL of the legacy database")
    table: SqlName | None = Field(None, description="the vendor table; none when the mapping names its tables "
                                                    "(a multi-table source: `tables:` in the mapping)")
    schema_: SqlName | None = Field(None, alias="schema", description="the schema this source may read")
    gaiji_table: Path | None = None
    gaiji_font: Path | None = None
    mapping: Path

    _resolve_paths = field_validator("gaiji_table", "gaiji_font", "mapping", mode="before")(
        classmethod(lambda cls, v, info: _resolve(v, info))
    )

    @field_validator("url", mode="before")
    @classmethod
    def _relative_sqlite_like(cls, v: str, info: ValidationInfo) -> str:
        # duckdb:///relative/path.duckdb → relative to the config file, like every other path.
        m = _FILE_DB_URL.match(v)
        if m and not m.group(3).startswith((":memory:", "/")):
            return f"{m.group(1)}{m.group(2) or ''}:///{_resolve(m.group(3), info)}{v[m.end():]}"   # + its query
        return v


class Target(StrictModel):
    url: str = Field(description="SQLAlchemy URL of a registered target database (loaders.targets): "
                                 "duckdb:///path (default) or postgresql://…")
    schema_: str | None = Field(None, alias="schema", description="default: dantai_<団体コード>")

    @field_validator("url", mode="before")
    @classmethod
    def _relative(cls, v: str, info: ValidationInfo) -> str:
        return DatabaseSource._relative_sqlite_like(v, info)

    @field_validator("url")
    @classmethod
    def _registered(cls, v: str) -> str:
        from ikou.loaders.targets import target_for

        try:
            target_for(v)
        except ConfigError as exc:
            raise PydanticCustomError("target_database", str(exc)) from None
        return v


class Thresholds(StrictModel):
    max_quarantine_rate: float = Field(0.05, ge=0, le=1, description="per target table")
    signoff_max_held_rate: float = Field(0.05, ge=0, le=1, description=(
        "per target table, as max_quarantine_rate (records held as errors ÷ records extracted): a higher rate "
        "is a sign-off blocker (count, rate, top rules), so `ikou signoff` needs --override with a reason even "
        "when max_quarantine_rate was raised to let the run finish"))
    signoff_max_fall_rate: float = Field(0.01, ge=0, le=1, description=(
        "records extracted, persons and households against the previous rehearsal of the same target: a fall by "
        "more than this rate is a sign-off blocker (a partial export loads cleanly; only the previous run shows "
        "it), smaller falls are shown as 減少（上限内）"))
    signoff_max_warning_rate: float = Field(0.5, ge=0, le=1, description=(
        "per target table and warning rule: a warning on more than this share of the records extracted is a "
        "sign-off blocker (a warning on nearly every record is a layout or mapping mistake: columns swapped, "
        "fixed widths off), unless the rule is listed in signoff_expected_warnings"))
    signoff_expected_warnings: dict[RuleId, str] = Field({}, description=(
        "warning rule id → why it is expected on most records of this 団体 (e.g. checkdigit.atena_no: numbers "
        "issued without a check digit): left out of signoff_max_warning_rate"))
    max_drop_ratio: float | None = Field(0.5, ge=0, le=1, description=(
        "a table may shrink by at most this share of the rows the target holds (a run with no rows for a "
        "loaded table is always refused); null: no limit"))


class RunConfig(StrictModel):
    spec_version: Literal[1] = spec_version_field("config_version")
    dantai: Dantai
    gyomu: list[GyomuName] = Field(description="業務 ids, e.g. [juki, kojin_juminzei]")
    rehearsal: FileName = Field(description="rehearsal label, e.g. R1")
    sources: list[Annotated[FileSource | DatabaseSource, Field(discriminator="kind")]]
    target: Target
    runs_dir: Path = Path("runs")
    inbox: list[Path] = Field([], description="folders the 団体's source files may come from (default: the "
                                             "config's own folder)")
    thresholds: Thresholds = Thresholds()
    reveal_personal: bool = Field(False, description="show 個人番号/氏名 unmasked in reports")
    retention_days: int | None = Field(None, ge=0, description="after each run, delete the personal-data staging "
                                                               "(Parquet) of this 団体's runs older than this")
    keep_stages: bool = Field(False, description="also write the mapped rows (RUN_DIR/map/), which the one pass "
                                                 "(map → 文字同定 → row-local checks) keeps in memory: for an audit "
                                                 "or a debugging session, as `ikou run --keep-stages` does")
    evidence: bool = Field(False, description="`ikou run` writes the evidence pack (RUN_DIR/evidence.zip) after "
                                              "a successful run, as `ikou run --evidence` does")
    _source_path: Path | None = PrivateAttr(None)   # the file it was read from (load_config)

    _resolve_runs = field_validator("runs_dir", mode="before")(
        classmethod(lambda cls, v, info: _resolve(v, info))
    )

    @field_validator("inbox", mode="before")
    @classmethod
    def _resolve_inbox(cls, v, info: ValidationInfo):
        return [_resolve(x, info) for x in (v or [])]

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, data):
        """Before any path is resolved (NUL, ENAMETOOLONG) or pattern checked: see `_plain_text_problem`."""
        problem = _plain_text_problem(data) if isinstance(data, dict) else None
        if problem:
            raise problem
        return data

    @model_validator(mode="after")
    def _confined(self, info: ValidationInfo) -> "RunConfig":
        """Paths and names of this config stay within this 団体 (IsolationError-worthy, caught at load)."""
        own = self.dantai.code
        base = (info.context or {}).get("path")
        roots = [p.resolve() for p in self.inbox] or ([Path(base).resolve().parent] if base else [])
        schema = self.target.schema_
        if schema is not None:
            m = TARGET_SCHEMA.fullmatch(schema)
            if not m or m.group("code") != own:
                raise SpecProblem(f"target.schema {schema!r} must be dantai_{own} (optionally dantai_{own}_<suffix>: "
                                  "lower-case letters and digits)", key="target.schema",
                                  ja=f"移行先のスキーマ名 {schema!r} は使えません。dantai_{own} (または dantai_{own}_ に英小文字・"
                                     f"数字の接尾辞を付けた名前) にしてください。省略すると dantai_{own} です")
            # the suffix is checked as the URL's words are: another 団体's code there (dantai_999741_999750)
            # would show in schema listings, rollback output and a campaign's same-target comparison
            suffix = schema[len(f"dantai_{own}_"):] if len(schema) > len(f"dantai_{own}") else ""
            code = (other_dantai(suffix, own) or _embedded_dantai(suffix, own)) if suffix else None
            if code:
                raise SpecProblem(f"target.schema {schema!r} names 団体 {code} in its suffix: a run for {own} "
                                  "writes only its own schema", key="target.schema",
                                  ja=f"移行先のスキーマ名 {schema!r} の接尾辞に他の団体 {code} のコードがあります。"
                                     "他団体のコードを含まない接尾辞にしてください")
        problem = target_url_problem(self.target.url, own)
        if problem:
            raise SpecProblem(problem, key="target.url", ja=target_url_problem_ja(self.target.url, own))
        refused = url_parameter_problem(self.target.url, target=True)
        if refused:
            raise SpecProblem(f"target.url: {refused[0]}", key="target.url", ja=refused[1])
        operator_roots = _operator_inbox_roots()
        for where, root in ([(f"inbox.{i}", p) for i, p in enumerate(self.inbox)] or [("inbox", r) for r in roots]):
            if operator_roots is not None and not _inside(root, operator_roots):
                shown = ", ".join(map(str, operator_roots))
                raise SpecProblem(f"{where} {root} is not under the inbox roots the operator allows "
                                  f"(IKOU_INBOX_ROOTS: {shown})", key=where if self.inbox else "inbox",
                                  ja=f"受け入れフォルダ {root} は運用者が許可した受け入れフォルダ (IKOU_INBOX_ROOTS: {shown}) の"
                                     "外にあります。その下のフォルダを inbox: に書いてください")
        # runs_dir too, inside a word (`x999792`): its run folders hold the personal-data staging
        for where, path in [("runs_dir", self.runs_dir), *[(f"inbox.{i}", p) for i, p in enumerate(self.inbox)]]:
            for part in Path(path).resolve().parts:
                if other_dantai(part, own) or _embedded_dantai(part, own):
                    raise SpecProblem(f"{where} {path} lies in another 団体's tree ({part})", key=where,
                                      ja=f"{path} は他の団体のフォルダ ({part}) の中です。団体 {own} のフォルダを指定して"
                                         "ください")
        dantai_dir = Path(self.runs_dir) / own   # a link there would write this 団体's runs into another folder
        if dantai_dir.is_symlink() or dantai_dir.resolve() != Path(self.runs_dir).resolve() / own:
            raise SpecProblem(f"runs_dir: {dantai_dir} resolves to {dantai_dir.resolve()}, not "
                              f"{Path(self.runs_dir).resolve() / own}: the 団体's runs folder must be a real folder",
                              key="runs_dir", ja=f"団体の実行フォルダ {dantai_dir} がリンクで {dantai_dir.resolve()} を"
                                                 "指しています。リンクではない実際のフォルダにしてください")
        for i, s in enumerate(self.sources):
            # the 団体's data (source file, 外字 table, 外字 font): in its inbox, and in no other 団体's tree;
            # the specs (mapping, layout): in no other 団体's tree, whatever the source kind
            data = (("path",) if s.kind == "file" else ()) + ("gaiji_table", "gaiji_font")
            for key in (*data, "layout", "mapping"):
                p = getattr(s, key, None)
                if p is None:
                    continue
                if key in data and roots and not _inside(p, roots):
                    raise SpecProblem(f"sources.{i}.{key} {p} is outside the 団体's inbox "
                                      f"({', '.join(map(str, roots))}): declare the folder under `inbox:`",
                                      key=f"sources.{i}.{key}", ja=_outside_inbox_ja(p, roots))
                found = path_names_dantai(p, own, spec=key in ("layout", "mapping"))
                if found:
                    raise SpecProblem(f"sources.{i}.{key} {p} lies in another 団体's tree ({found[0]}: 団体 {found[1]})",
                                      key=f"sources.{i}.{key}", ja=_other_tree_ja(p, found, own))
            if s.kind == "database":
                for key, name in (("schema", s.schema_), ("table", s.table)):
                    code = (other_dantai(name, own) or _embedded_dantai(name, own)) if name else None
                    if code:
                        raise SpecProblem(f"sources.{i}.{key} {name!r} belongs to 団体 {code}: a run for {own} "
                                          "reads only its own data", key=f"sources.{i}.{key}",
                                          ja=f"{name!r} は他の団体 {code} のものです。団体 {own} の実行は自団体のデータ"
                                             "だけを読みます: この団体の表・スキーマを指定してください")
                code = next((c for word in _url_words(s.url) if (c := other_dantai(word, own)
                                                                 or _embedded_dantai(word, own))), None)
                if code:
                    raise SpecProblem(f"sources.{i}.url names 団体 {code} (its database, schema, search path or file): "
                                      f"a run for {own} reads only its own data", key=f"sources.{i}.url",
                                      ja=f"url が他の団体 {code} のデータベース・スキーマ・search_path・ファイルを指して"
                                         f"います。団体 {own} の実行は自団体のデータだけを読みます: この団体の旧システムを"
                                         "指定してください")
                refused = url_parameter_problem(s.url)
                if refused:
                    raise SpecProblem(f"sources.{i}.url: {refused[0]}", key=f"sources.{i}.url", ja=refused[1])
                local = _local_database(s.url)
                if local is not None and roots and not _inside(local, roots):
                    raise SpecProblem(f"sources.{i}.url {local} is outside the 団体's inbox "
                                      f"({', '.join(map(str, roots))}): declare the folder under `inbox:`",
                                      key=f"sources.{i}.url", ja=_outside_inbox_ja(local, roots))
                found = path_names_dantai(local, own) if local is not None else None
                if found:
                    raise SpecProblem(f"sources.{i}.url {local} lies in another 団体's tree ({found[0]}: 団体 {found[1]})",
                                      key=f"sources.{i}.url", ja=_other_tree_ja(local, found, own))
        return self

    @model_validator(mode="after")
    def _unique_sources(self) -> "RunConfig":
        names = [s.name for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SpecProblem(f"source names must be unique: {sorted(dup)}", key="sources",
                              ja=f"ソース名 (name) {sorted(dup)} が重複しています。ソースごとに別の名前を付けてください")
        return self

    @property
    def source_path(self) -> Path | None:
        """The config file this was read from (its copy goes into the run's evidence)."""
        return self._source_path

    @property
    def target_schema(self) -> str:
        return self.target.schema_ or f"dantai_{self.dantai.code}"


def _outside_inbox_ja(p: Path, roots: list[Path]) -> str:
    return (f"{p} (.. やシンボリックリンクをたどった先) は団体の受け入れフォルダ ({', '.join(map(str, roots))}) の外に"
            "あります。ファイルを受け入れフォルダに置くか、そのフォルダを inbox: に書いてください")


def _other_tree_ja(p: Path, found: tuple[str, str], own: str) -> str:
    return (f"{p} は他の団体 {found[1]} のフォルダ・名前 ({found[0]}) にあります。団体 {own} の実行は自団体の"
            "ファイルだけを読みます: この団体のファイルを指定してください")


def load_config(path: Path | str) -> RunConfig:
    """The run config at `path`, checked; a folder or a missing file is named as such, in both languages."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder, not a run config file (give the YAML file itself to --config)",
                          ja=f"{p} はフォルダです。実行設定ファイル (YAML) そのものを --config に指定してください")
    if not p.exists():
        raise ConfigError(f"{p}: file not found",
                          ja=f"実行設定ファイル {p} がありません。--config のパスを確認してください")
    cfg = load_spec(path, RunConfig)
    cfg._source_path = Path(path).resolve()
    return cfg


def with_target_url(cfg: RunConfig, url: str, *, origin: str = "--target-url") -> RunConfig:
    """`cfg` with its target URL replaced (`ikou run --target-url`), checked as the file's own URL is
    (`model_copy` alone would skip the check); `origin` names where the URL came from."""
    if _CONTROL.search(url):
        raise ConfigError(f"{origin}: the target URL holds a control character (line break, tab, NUL …)",
                          ja=f"{origin} の移行先 URL に制御文字 (改行・タブ・NUL など) があります。取り除いてください")
    try:
        target = Target.model_validate({"url": url, "schema": cfg.target.schema_})
    except ValidationError as exc:
        problems = "; ".join(f"target.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{origin}: {problems}",
                          ja=f"{origin} の移行先 URL は使えません (postgresql://… または duckdb:///… の形式か、英語の説明を"
                             "参照してください)") from None
    problem = target_url_problem(target.url, cfg.dantai.code)
    if problem:
        raise IsolationError(f"{origin}: {problem}",
                             ja=f"{origin}: {target_url_problem_ja(target.url, cfg.dantai.code)}")
    refused = url_parameter_problem(target.url, target=True)
    if refused:
        raise ConfigError(f"{origin}: {refused[0]}", ja=f"{origin}: {refused[1]}")
    return cfg.model_copy(update={"target": target})
