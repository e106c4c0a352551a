"""Evidence of a run that a PM can hand in: what was migrated, with what, and what the target holds.

Every run keeps, in its folder, the exact specs it read (`specs/`: the config, layouts, mappings,
schemas, rules, code tables and 外字 tables, each with its SHA-256 in `specs/manifest.json`) and the
software it ran (`environment.json`: ikou's version and git commit, Python, dependency versions).
`ikou evidence RUN_DIR --out PACK.zip` packs them with the summary, the reports, the quarantine
(masked), the reconciliation (diff summaries and findings), the 同定台帳 snapshot, the input files'
checksums and, computed by the target database itself, the row count and MD5 of every table the
target holds for this run (`target.json`); `manifest.json` holds the SHA-256 of every other file
of the pack. `ikou evidence verify PACK.zip` re-checks every checksum and, when the target is
reachable, that it still holds this run with the same rows.

Checksums show a changed byte, but whoever changes a file can write a new manifest too. A pack is
therefore signed when a key is given (`--sign-key KEY`, or IKOU_EVIDENCE_KEY): `manifest.sig` holds
an Ed25519 signature of manifest.json and the signer's public key. `ikou evidence keygen KEY` makes
a key pair; the 団体 or the PM keeps KEY.pub, and `ikou evidence verify PACK --public-key KEY.pub`
then refuses a pack that is unsigned, signed by another key, or changed after signing.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import base64
import json
import os
import platform
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import polars as pl

from ikou import REPO_ROOT
from ikou.errors import IkouError, TerminalError, TransientError

PACK_VERSION = 1
SPECS = "specs"                       # the run folder's copy of the specs it read
ENVIRONMENT = "environment.json"
SIGNOFF = "signoff.json"
SIGNATURE = "manifest.sig"            # Ed25519 signature of manifest.json, when the pack is signed
KEY_ENV = "IKOU_EVIDENCE_KEY"         # the signing key's path when no --sign-key is given
DEFAULT_PACK = "evidence.zip"         # RUN_DIR/evidence.zip: where `ikou run --evidence` writes it
# A password in a URL (or in a config's text), as `user:PASSWORD@` (groups 1-3) or as a `password=` or
# `sslpassword=` query parameter of libpq/SQLAlchemy (groups 4-5); hide_password keeps all but the password. The query
# value ends at `&`, `#`, a quote, white space, or at `,` `}` `]` closing a YAML flow mapping.
_PASSWORD = re.compile(r"(://[^/@\s:]+:)([^@\s/]+)(@)"
                       r"|((?<=[?&;])(?:ssl)?password=)([^&#'\"\s]+?)(?=[&#'\"\s]|[,}\]]*(?:\s|$)|$)", re.IGNORECASE)


def _hidden(m: re.Match) -> str:
    if m.group(1) is not None:
        return f"{m.group(1)}***{m.group(3)}"
    return f"{m.group(4)}***"


class EvidenceError(TerminalError):
    """The pack cannot be built (the target no longer holds the run, files missing)."""

    ja = "証跡パックを作成できません"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    from ikou.staging import sha256_file

    return sha256_file(path)


def hide_password(url: str) -> str:
    return _PASSWORD.sub(_hidden, url)


# ---------------------------------------------------------------- at the end of every run

def spec_files(cfg, plans) -> list[tuple[str, Path]]:
    """(kind, path) of every spec file the run read, each once, in a stable order: the layouts of a
    multi-table source (`tables:`) too. A file that lies in another 団体's tree (or names another 団体's
    code), symlinks resolved, is refused (IsolationError), never listed and so never copied into specs/."""
    from ikou.config import path_names_dantai
    from ikou.errors import IsolationError

    out: list[tuple[str, Path]] = []
    config = getattr(cfg, "source_path", None)
    if config is not None:
        out.append(("config", config))
    for p in plans:
        s, m, schema = p.source, p.mapping, p.schema
        out.append(("mapping", Path(s.mapping)))
        layout = getattr(s, "layout", None) or m.layout
        if layout is not None:
            out.append(("layout", Path(layout)))
        out += [("layout", Path(t.layout)) for t in (getattr(m, "tables", None) or {}).values()]
        out += [("code_table", Path(c.table)) for c in m.columns
                if c.table and not str(c.table).startswith("standard:")]
        if s.gaiji_table is not None:
            out.append(("gaiji_table", Path(s.gaiji_table)))
        out.append(("schema", Path(m.schema_)))
        if schema.rules is not None:
            out.append(("rules", Path(schema.rules)))
        out += [("code_table", Path(ref.path)) for ref in schema.code_tables.values()]
    seen: set[Path] = set()
    unique = []
    own = cfg.dantai.code
    for kind, path in out:
        found = path_names_dantai(path, own, spec=kind not in ("config", "gaiji_table"))
        if found:
            raise IsolationError(f"{kind} {path} lies in another 団体's tree ({found[0]}: 団体 {found[1]}): a run "
                                 f"for {own} reads and keeps only its own files")
        path = path.resolve()
        if path not in seen and path.is_file():
            seen.add(path)
            unique.append((kind, path))
    return unique


def _stored_name(path: Path) -> str:
    """Where a spec file goes in the snapshot: its path in the repository, else external/<digest>/<name>."""
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return f"external/{hashlib.sha256(str(path).encode()).hexdigest()[:12]}/{path.name}"


def snapshot_specs(cfg, plans, run_dir: Path, *, sensitive: set[str]) -> Path:
    """Copy every spec file the run read into RUN_DIR/specs/, with its SHA-256 (specs/manifest.json).

    A password in a URL of the config is replaced by *** in the copy (`redacted: true`). The manifest
    also records the target (URL without password, schema) and the columns masked in human-facing
    outputs, with the columns the run's schemas type as a code, a date, a number or a key (`coded_columns`, when
    `sensitive` carries them: privacy.RunColumns), so that the pack can be built and masked from the run folder
    alone as the run masked (privacy.recorded_run_columns)."""
    base = Path(run_dir) / SPECS
    if base.exists():
        shutil.rmtree(base)
    files = []
    for kind, path in spec_files(cfg, plans):
        name = _stored_name(path)
        data = path.read_bytes()
        redacted = False
        if kind == "config":
            text = data.decode("utf-8", errors="surrogateescape")
            hidden = hide_password(text)
            redacted = hidden != text
            data = hidden.encode("utf-8", errors="surrogateescape")
        dest = base / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        files.append({"kind": kind, "path": name, "origin": str(path), "sha256": sha256_bytes(data),
                      "bytes": len(data), **({"redacted": True} if redacted else {})})
    manifest = {"files": files, "target": {"url": hide_password(cfg.target.url), "schema": cfg.target_schema},
                "sensitive_columns": sorted(sensitive), "reveal_personal": bool(cfg.reveal_personal)}
    if getattr(sensitive, "coded", None) is not None:   # a run's own kinds (a plain set: none to record)
        manifest["coded_columns"] = sorted(sensitive.coded)
    base.mkdir(parents=True, exist_ok=True)
    (base / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return base


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def environment() -> dict:
    """ikou's version and git commit, Python and the versions of ikou's dependencies."""
    deps = {}
    for req in metadata.requires("ikou") or []:
        if "extra ==" in req:
            continue
        name = re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0]
        try:
            deps[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            deps[name] = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"ikou_version": metadata.version("ikou"), "git_commit": _git("rev-parse", "HEAD"),
            "git_dirty": bool(status) if status is not None else None,
            "python": platform.python_version(), "platform": platform.platform(), "dependencies": deps}


def write_provenance(cfg, plans, run_dir: Path, *, sensitive: set[str]) -> None:
    """What every run leaves for its evidence: the specs it read and the software it ran."""
    snapshot_specs(cfg, plans, run_dir, sensitive=sensitive)
    (Path(run_dir) / ENVIRONMENT).write_text(json.dumps(environment(), ensure_ascii=False, indent=2),
                                             encoding="utf-8")


# ---------------------------------------------------------------- the pack

def _masked_quarantine(run_dir: Path, sensitive: set[str]) -> bytes | None:
    """The quarantine as CSV, masked (個人番号 and names) whatever the run's reveal_personal said, and with
    formula-like cells neutralised: whoever receives the pack opens it in Excel (reports.csvsafe)."""
    from ikou.privacy import mask_long
    from ikou.reports.csvsafe import safe_for_csv
    from ikou.reports.summary import outcome_first

    f = run_dir / "quarantine.parquet"
    if f.is_file():   # as the run folder's quarantine.csv: what became of each record first, a BOM for Excel
        buf = io.BytesIO()
        safe_for_csv(outcome_first(mask_long(pl.read_parquet(f), sensitive, value_cols=("value",)))).write_csv(
            buf, include_bom=True)
        return buf.getvalue()
    csv = run_dir / "quarantine.csv"   # after `ikou purge` only the CSV is left (masked unless revealed)
    if not csv.is_file():
        return None
    # a run before the CSV was neutralised wrote it raw; neutralising twice changes nothing (`'=` stays)
    try:
        kept = pl.read_csv(csv, infer_schema=False)
    except pl.exceptions.NoDataError:   # an empty file: nothing to neutralise
        return csv.read_bytes()
    buf = io.BytesIO()
    safe_for_csv(kept).write_csv(buf, include_bom=True)
    return buf.getvalue()


def _run_files(run_dir: Path, summary: dict | None = None) -> dict[str, Path]:
    """Files of the run folder that go into the pack as they are (never a Parquet staging file); of diff/, only
    the run's own diffs (`own_diff_names` of its `summary`), not a folder someone else wrote there."""
    from ikou.reports.signoff import own_diff_names

    own = own_diff_names(summary) if isinstance(summary, dict) else None   # None: every folder
    out: dict[str, Path] = {}
    for name in ("summary.json", "report.html", "report.xlsx", "vanished.csv", "changed.csv", ENVIRONMENT, SIGNOFF):
        if (run_dir / name).is_file():
            out[name] = run_dir / name
    for pattern in ("diff/*/*.json", "diff/*/*.yaml", "diff/*/*.csv", "diff/*/report.html",
                    "moji/ledger/*.csv", "moji/*.csv", f"{SPECS}/**/*"):
        for f in sorted(run_dir.glob(pattern)):
            if f.is_file() and (own is None or not pattern.startswith("diff/") or f.parent.name in own):
                out[f.relative_to(run_dir).as_posix()] = f
    return out


def target_state(url: str, db_schema: str) -> dict:
    from ikou.loaders import checksums

    return checksums(url, db_schema)


def rows_unlike_the_run(state: dict) -> list[str]:
    """Tables whose rows differ from what the run that loaded them recorded (`ikou_run`'s counts):
    the target was changed after the load (rows deleted or added by hand), so it no longer holds the
    run the record names, whatever its run id says."""
    counts = (state.get("run") or {}).get("counts") or {}
    tables = state.get("tables") or {}
    out = []
    for name, n in sorted(counts.items()):
        have = (tables.get(name) or {}).get("rows")
        if have is None:
            out.append(f"{name}: missing (the run loaded {n:,} rows)")
        elif int(have) != int(n):
            out.append(f"{name}: {int(have):,} rows, the run loaded {int(n):,}")
    return out


def build_pack(run_dir: Path, out: Path, *, target_url: str | None = None,
               sign_key: Path | str | None = None) -> Path:
    """Write the evidence pack of `run_dir` to `out` (a zip); the target must still hold this run.
    Signed with the key at `sign_key` (else IKOU_EVIDENCE_KEY) when there is one."""
    from ikou.context import check_run_folder

    run_dir = Path(run_dir)
    check_run_folder(run_dir)   # not a link, not another 団体's run under this 団体's folder
    key = load_signing_key(sign_key)   # a bad key stops here, before the target is read
    summary_file = run_dir / "summary.json"
    specs_manifest = run_dir / SPECS / "manifest.json"
    if not summary_file.is_file():
        raise EvidenceError(f"{run_dir}: no summary.json (not a run folder)")
    if not specs_manifest.is_file():
        raise EvidenceError(f"{run_dir}: no specs/manifest.json (the run kept no copy of its specs)")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    specs = json.loads(specs_manifest.read_text(encoding="utf-8"))
    url = target_url or specs["target"]["url"]
    db_schema = specs["target"]["schema"]
    state = target_state(url, db_schema)
    held = (state.get("run") or {}).get("run_id")
    if summary.get("status") == "succeeded" and held != summary["run_id"]:
        raise EvidenceError(f"target {db_schema} holds run {held or '(none)'}, not {summary['run_id']}: the pack "
                            "must record the tables this run loaded (build it before the next run, or roll back)")
    changed = rows_unlike_the_run(state) if summary.get("status") == "succeeded" else []
    if changed:
        raise EvidenceError(f"target {db_schema} was changed after run {summary['run_id']} loaded it: "
                            + "; ".join(changed))
    if summary.get("status") != "succeeded":
        state = {**state, "note": f"run {summary.get('status')}: the target does not hold this run"}
    files: dict[str, bytes] = {n: p.read_bytes() for n, p in _run_files(run_dir, summary).items()}
    from ikou.privacy import recorded_run_columns

    q = _masked_quarantine(run_dir, recorded_run_columns(specs))
    if q is not None:
        files["quarantine.csv"] = q
    inputs = {name: {k: s.get(k) for k in ("origin", "rows", "quarantined", "sha256")}
              for name, s in (summary.get("sources") or {}).items()}
    files["inputs.json"] = json.dumps(inputs, ensure_ascii=False, indent=2).encode()
    files["target.json"] = json.dumps({"url": hide_password(url), "schema": db_schema, **state},
                                      ensure_ascii=False, indent=2).encode()
    write_zip(out, files, run_id=summary["run_id"], dantai=summary["dantai"], sign_key=key)
    return Path(out)


def write_zip(out: Path, files: dict[str, bytes], *, run_id: str, dantai: str, sign_key=None) -> None:
    """The pack: `files` plus manifest.json (SHA-256 and size of each), signed into manifest.sig when
    `sign_key` (an Ed25519 private key: `load_signing_key`) is given; written to a temporary file and
    moved into place."""
    manifest = {"pack_version": PACK_VERSION, "dantai": dantai, "run_id": run_id,
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "files": {n: {"sha256": sha256_bytes(b), "bytes": len(b)} for n, b in sorted(files.items())}}
    raw = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", raw)
        if sign_key is not None:
            z.writestr(SIGNATURE, json.dumps(_signature(sign_key, raw), indent=2))
        for name, data in sorted(files.items()):
            z.writestr(name, data)
    tmp.replace(out)


def read_pack(pack: Path) -> tuple[dict, dict[str, bytes]]:
    """(manifest, every other file) of a pack; the signature, if any, is read by `pack_signature`."""
    files = _zip_files(pack)
    files.pop(SIGNATURE, None)
    try:
        manifest = json.loads(files.pop("manifest.json"))
    except ValueError:
        raise BadPack(f"{pack}: manifest.json is not readable") from None
    if not isinstance(manifest, dict):
        raise BadPack(f"{pack}: manifest.json is not a manifest")
    bad = _malformed_manifest_key(manifest)
    if bad:
        key, en, ja = bad
        raise BadPack(f"{pack}: manifest.json is malformed: {key} {en}",
                      ja=f"証跡パック {pack} の manifest.json の形式が正しくありません: {key} が{ja}")
    return manifest, files


def _malformed_manifest_key(manifest: dict) -> tuple[str, str, str] | None:
    """(key, what is wrong in English, in Japanese) of the first key of the manifest that is not as
    `write_zip` writes it (and the checks read it): a hand-made manifest is refused by name, not left
    to fail inside a check."""
    for k in ("run_id", "dantai"):
        if k in manifest and not isinstance(manifest[k], str):
            return k, "is not a string", "文字列ではありません"
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        return "files", "is missing or not a mapping of file name to checksum", "ないか、ファイル名とチェックサムの対応ではありません"
    for name, entry in listed.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            return f"files.{name}", "is not an entry with a sha256 string", "sha256 (文字列) を持つ項目ではありません"
        if "bytes" in entry and (not isinstance(entry["bytes"], int) or isinstance(entry["bytes"], bool)):
            return f"files.{name}.bytes", "is not an integer", "整数ではありません"
    return None


def pack_signature(pack: Path) -> tuple[bytes, dict | None]:
    """manifest.json as stored, and manifest.sig (None when the pack is not signed)."""
    files = _zip_files(pack)
    sig = files.get(SIGNATURE)
    try:
        return files["manifest.json"], (json.loads(sig) if sig is not None else None)
    except ValueError:
        raise EvidenceError(f"{pack}: {SIGNATURE} is not readable") from None


class BadPack(EvidenceError):
    """The file is not an evidence pack that can be trusted to mean one thing (unreadable, a member
    named twice, a member outside the pack's folder)."""

    ja = "証跡パックを読めません (形式が正しくありません)"


def _plain_name(name: str) -> bool:
    """A member name that is a plain relative path: no root, drive or backslash, no `.`/`..`/empty part
    (a directory entry's trailing `/` aside)."""
    parts = (name[:-1] if name.endswith("/") else name).split("/")
    return (bool(name) and "\\" not in name and not name.startswith("/") and ":" not in parts[0]
            and all(p not in ("", ".", "..") for p in parts))


def _zip_files(pack: Path) -> dict[str, bytes]:
    """Every member of the pack by name. A name stored twice is refused: a dict (or an unzip tool) keeps
    one of them, so the manifest would check one copy while a reader may see the other."""
    try:
        with zipfile.ZipFile(pack) as z:
            infos = z.infolist()
            seen: set[str] = set()
            for i in infos:
                if not _plain_name(i.filename):
                    raise BadPack(f"{pack}: member {i.filename!r} is not a plain relative path, not reading it")
                if i.filename in seen:
                    raise BadPack(f"{pack}: member {i.filename!r} is stored more than once (a pack holds "
                                  "each file once)")
                seen.add(i.filename)
            files = {i.filename: z.read(i) for i in infos if not i.is_dir()}
    except (OSError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        raise BadPack(f"{pack}: not a readable evidence pack ({exc})") from None
    if "manifest.json" not in files:
        raise BadPack(f"{pack}: no manifest.json")
    return files


# ---------------------------------------------------------------- signing keys (Ed25519)

def generate_key(path: Path) -> tuple[Path, Path]:
    """A new key pair: `path` (private, PEM, readable by its owner only; never overwritten) and
    `path`.pub (the public key, to hand to whoever verifies the packs)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise EvidenceError(f"{path}: exists (a signing key is never overwritten)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    pub = path.with_name(path.name + ".pub")
    pub.write_bytes(_public_pem(key.public_key()))
    return path, pub


def load_signing_key(path: Path | str | None = None):
    """The Ed25519 private key at `path`, else at IKOU_EVIDENCE_KEY; None when neither is given."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = path or os.environ.get(KEY_ENV)
    if not path:
        return None
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise EvidenceError(f"{path}: not a readable signing key ({type(exc).__name__}; "
                            "make one with `ikou evidence keygen KEY`)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path}: not an Ed25519 key (make one with `ikou evidence keygen KEY`)")
    return key


def load_public_key(path: Path | str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{path}: not a readable public key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError(f"{path}: not an Ed25519 public key")
    return key


def _public_pem(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key) -> str:
    """A short name of a public key (the first 16 hex digits of the SHA-256 of its raw bytes)."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def _signature(key, manifest: bytes) -> dict:
    return {"algorithm": "Ed25519", "signed": "manifest.json", "key_id": key_id(key.public_key()),
            "public_key": _public_pem(key.public_key()).decode("ascii"),
            "signature": base64.b64encode(key.sign(manifest)).decode("ascii")}


def _check_signature(pack: Path, trusted, v: "Verification") -> None:
    """The signature against manifest.json as stored, by the trusted public key when one is given
    (else by the key the pack names: that shows a change after signing, not who signed)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    raw, sig = pack_signature(pack)
    if sig is None:
        v.signed = "not signed"
        if trusted is not None:
            v.problems.append(f"{SIGNATURE}: the pack is not signed (a trusted key {key_id(trusted)} was given)")
        return
    try:
        named = serialization.load_pem_public_key(sig["public_key"].encode("ascii"))
        signature = base64.b64decode(sig["signature"], validate=True)
    except (KeyError, ValueError, TypeError, AttributeError):
        v.problems.append(f"{SIGNATURE}: not a readable signature")
        return
    key = trusted if trusted is not None else named
    try:
        key.verify(signature, raw)
    except (InvalidSignature, AttributeError, TypeError):
        v.problems.append(f"{SIGNATURE}: the signature does not match manifest.json by key {key_id(key)} "
                          "(changed after signing, or signed by another key)")
        v.signed = f"signature invalid ({key_id(named)})"
        return
    v.signed = (f"signed by {key_id(key)} (the trusted key)" if trusted is not None else
                f"signed by {key_id(named)} (not checked against a trusted key: give --public-key)")


# ---------------------------------------------------------------- verify

@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)   # each names the file or table at fault
    checked_files: int = 0
    target: str = "not checked"                         # checked / unreachable: … / not checked
    signed: str = "not signed"                          # signed by <key> (…) / not signed / signature invalid
    status: str | None = None                           # the run's status as its summary.json says: a pack
                                                        # of a failed run verifies, and must say it failed

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_pack(pack: Path, *, target_url: str | None = None, check_target: bool = True,
                public_key: Path | str | None = None) -> Verification:
    """Re-check the signature (by `public_key`, the trusted key, when given: an unsigned pack or
    another key's is then refused) and every checksum of the pack; then, when the target is
    reachable, that it still holds the run and each table's rows and MD5 as recorded."""
    manifest, files = read_pack(Path(pack))
    v = Verification()
    _check_signature(Path(pack), load_public_key(public_key) if public_key else None, v)
    listed = manifest.get("files") or {}
    for name in sorted(set(listed) - set(files)):
        v.problems.append(f"{name}: listed in the manifest, missing from the pack")
    for name in sorted(set(files) - set(listed)):
        v.problems.append(f"{name}: in the pack, not in the manifest")
    for name in sorted(set(listed) & set(files)):
        v.checked_files += 1
        if sha256_bytes(files[name]) != listed[name]["sha256"]:
            v.problems.append(f"{name}: SHA-256 differs from the manifest (changed since the pack was made)")
    # the specs' own manifest, written by the run, against the copies
    specs = _json_member(files, f"{SPECS}/manifest.json", v) or {}
    entries = specs.get("files", [])
    if not isinstance(entries, list) or not all(isinstance(f, dict) and isinstance(f.get("path"), str)
                                                and isinstance(f.get("sha256"), str) for f in entries):
        v.problems.append(f"{SPECS}/manifest.json: files is not a list of entries with a path and a sha256")
        entries = []
    for f in entries:
        data = files.get(f"{SPECS}/{f['path']}")
        if data is None:
            v.problems.append(f"{SPECS}/{f['path']}: in the run's spec manifest, missing from the pack")
        elif sha256_bytes(data) != f["sha256"]:
            v.problems.append(f"{SPECS}/{f['path']}: SHA-256 differs from the run's spec manifest")
    summary = _json_member(files, "summary.json", v)
    if summary is not None:
        v.status = None if summary.get("status") is None else str(summary.get("status"))
        for k in ("run_id", "dantai"):
            if summary.get(k) != manifest.get(k):
                v.problems.append(f"summary.json: {k} {summary.get(k)}, the manifest says {manifest.get(k)}")
    signoffs = (_json_member(files, SIGNOFF, v) or {}).get("signoffs") or []
    if not isinstance(signoffs, list) or not all(isinstance(s, dict) for s in signoffs):
        v.problems.append(f"{SIGNOFF}: not a list of sign-offs")
        signoffs = []
    if signoffs and "summary.json" not in files:
        v.problems.append(f"{SIGNOFF}: sign-offs of a summary.json the pack does not hold")
    elif signoffs:
        digest = sha256_bytes(files["summary.json"])
        for s in signoffs:
            if s.get("summary_sha256") != digest:
                v.problems.append(f"{SIGNOFF}: signed by {s.get('role')} for another summary.json")
    if signoffs and v.status not in (None, "succeeded"):   # `ikou signoff` accepts only a succeeded run
        v.problems.append(f"{SIGNOFF}: {len(signoffs)} sign-off(s) of a run that is {v.status}, not succeeded")
    if v.status not in (None, "succeeded"):   # on the verify line: the pack is of a run that did not succeed
        v.target = f"not checked: run {v.status}: the target does not hold this run"
    elif check_target and "target.json" in files:
        recorded = _json_member(files, "target.json", v)
        shaped = recorded is not None and isinstance(recorded.get("url"), str) and isinstance(
            recorded.get("schema"), str) and isinstance(recorded.get("tables") or {}, dict)
        if recorded is not None and not shaped:
            v.problems.append("target.json: malformed (url and schema must be strings, tables a mapping)")
        elif recorded is not None:
            if v.status == "succeeded" and recorded.get("note"):   # the note would skip the target check
                v.problems.append("target.json: says the target does not hold this run, summary.json says succeeded")
            _verify_target(recorded, manifest, v, target_url)
    return v


def _json_member(files: dict[str, bytes], name: str, v: Verification) -> dict | None:
    """A JSON member of the pack as a dict; None (and a problem) when it is not one."""
    if name not in files:
        return None
    try:
        data = json.loads(files[name])
    except ValueError:
        data = None
    if not isinstance(data, dict):
        v.problems.append(f"{name}: not readable JSON")
        return None
    return data


def _verify_target(recorded: dict, manifest: dict, v: Verification, target_url: str | None) -> None:
    if recorded.get("note"):
        v.target = "not checked: " + recorded["note"]
        return
    try:
        now = target_state(target_url or recorded["url"], recorded["schema"])
    except (TransientError, OSError) as exc:
        v.target = f"unreachable: {str(exc).splitlines()[0]}"
        return
    except IkouError as exc:
        v.target = f"not checked: {str(exc).splitlines()[0]}"
        return
    v.target = "checked"
    held = (now.get("run") or {}).get("run_id")
    if held != manifest.get("run_id"):
        v.problems.append(f"target {recorded['schema']}: holds run {held or '(none)'}, not {manifest.get('run_id')}")
        return
    for which, state in (("the pack's target.json", recorded), ("the target now", now)):
        v.problems += [f"{which}: {recorded['schema']}.{p}" for p in rows_unlike_the_run(state)]
    want, have = recorded.get("tables") or {}, now.get("tables") or {}
    for table in sorted(set(want) | set(have)):
        w, h = want.get(table), have.get(table)
        if w is None or h is None:
            v.problems.append(f"target {recorded['schema']}.{table}: {'not in the pack' if w is None else 'missing'}")
        elif w["rows"] != h["rows"]:
            v.problems.append(f"target {recorded['schema']}.{table}: {h['rows']} rows, the pack says {w['rows']}")
        elif w["md5"] != h["md5"]:
            v.problems.append(f"target {recorded['schema']}.{table}: rows changed since the run (MD5 differs)")
