"""Sign-off (承認) of a run: who accepted it, in which role, against which summary.

`ikou signoff RUN_DIR --by NAME --role PM` refuses while the run's `sign_off_blockers` is not empty
(an unresolved 外字, an unexplained difference, a failed run), unless `--override REASON`, which is
recorded with the blockers it overrode. Each sign-off is appended to RUN_DIR/signoff.json with the
SHA-256 of the summary it accepted, and into the run's evidence pack when there is one.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ikou.errors import TerminalError
from ikou.reports.evidence import (SIGNOFF, EvidenceError, load_signing_key, pack_signature, read_pack, sha256_bytes,
                                   verify_pack, write_zip)


class SignOffRefused(TerminalError):
    """The run has sign-off blockers and no override reason was given."""

    ja = "承認できません (承認の妨げが残っています)"


def sign_off(run_dir: Path, *, by: str, role: str, override: str | None = None,
             pack: Path | None = None, sign_key: Path | str | None = None) -> dict:
    """Record a sign-off of `run_dir`; return it. Refuses (SignOffRefused) while blockers remain,
    unless `override` gives the reason. A signed pack is signed again with the sign-off in it, by
    `sign_key` (else IKOU_EVIDENCE_KEY); without a key it is refused, never left unsigned."""
    run_dir = Path(run_dir)
    summary_file = run_dir / "summary.json"
    if not summary_file.is_file():
        raise TerminalError(f"{run_dir}: no summary.json (not a run folder)")
    raw = summary_file.read_bytes()
    pack = Path(pack) if pack else run_dir / "evidence.zip"
    if pack.is_file():   # never re-seal a pack that was changed: its manifest would hide it
        v = verify_pack(pack, check_target=False)
        if not v.ok:
            raise EvidenceError(f"{pack}: the pack does not verify, not signing into it: {v.problems[0]}")
    key = load_signing_key(sign_key)
    if pack.is_file() and key is None and pack_signature(pack)[1] is not None:
        raise EvidenceError(f"{pack} is signed: give --sign-key KEY (or IKOU_EVIDENCE_KEY) to sign it again "
                            "with the sign-off in it")
    summary = json.loads(raw)
    blockers = list(summary.get("sign_off_blockers") or [])
    if blockers and not (override and override.strip()):
        raise SignOffRefused(f"run {summary['run_id']} has {len(blockers)} sign-off blocker(s): "
                             + "; ".join(blockers) + " (resolve them, or give --override REASON)")
    record = {"run_id": summary["run_id"], "dantai": summary["dantai"], "rehearsal": summary.get("rehearsal"),
              "status": summary.get("status"), "by": by, "role": role,
              "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "summary_sha256": sha256_bytes(raw), "blockers": blockers,
              "override": override.strip() if blockers and override else None}
    f = run_dir / SIGNOFF
    data = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {"signoffs": []}
    data["signoffs"].append(record)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    f.write_text(text, encoding="utf-8")
    if pack.is_file():
        manifest, files = read_pack(pack)
        files[SIGNOFF] = text.encode("utf-8")
        write_zip(pack, files, run_id=manifest["run_id"], dantai=manifest["dantai"], sign_key=key)
        record["pack"] = str(pack)
    return record
