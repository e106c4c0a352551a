"""Sign-off (承認) of a run: who accepted it, in which role, against which summary.

`ikou signoff RUN_DIR --by NAME --role PM` refuses while the run's `sign_off_blockers` is not empty
(an unresolved 外字, an unexplained difference, a control total that does not balance), unless
`--override REASON`, which is recorded with the blockers it overrode. Only a succeeded run is signed
off: a failed or cancelled one is recorded by its summary, and no override makes it a rehearsal to
accept. Each sign-off is appended to RUN_DIR/signoff.json with the SHA-256 of the summary it accepted,
and into the run's evidence pack when there is one. Then `ikou signoff` (reports.cli) re-renders the run's
report.html and report.xlsx as `ikou run-report` does, so that the page a PM reads shows the sign-off at once;
a failure to re-render leaves the sign-off recorded and says to run `ikou run-report`. The pack keeps the
report it sealed: a sign-off adds only its signoff.json (a sign-off names no hash of a report, so the pack
and every recorded hash verify whatever the order; the run folder's signoff.json and the pack's are the record).

summary.json is a file anyone can edit, so it is not taken at its word: its blockers are re-derived
from the run's own files, and a pack (the sealed record) must be this run's pack, hold this very
summary.json, and keep every sign-off it already holds.

A sign-off accepts what the target holds: a run rolled back (`ikou rollback`) or replaced by a later
run is refused, as `ikou evidence` refuses to pack it. The target is read as `ikou evidence` reads it
(`--target-url`, else the URL the run recorded in specs/manifest.json); when it cannot be read the
sign-off is refused unless `--no-target`, which the sign-off records.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import polars as pl

from ikou.errors import TerminalError
from ikou.reports.evidence import (DEFAULT_PACK, SIGNOFF, EvidenceError, load_signing_key, pack_signature, read_pack,
                                   sha256_bytes, verify_pack, write_zip)


class SignOffRefused(TerminalError):
    """The run has sign-off blockers and no override reason was given (the subclasses: other reasons
    a sign-off is refused, none of which an override lifts)."""

    ja = "承認できません (承認の妨げが残っています)"


class SignOffUsage(SignOffRefused):
    """A sign-off names who signs and in which role: a blank one records nobody."""

    ja = "承認できません (承認者と役割を指定してください)"


class RunNotSignable(SignOffRefused):
    """A run that did not succeed: its summary is the record of the failure, there is nothing to accept."""

    ja = "承認できません (成功した実行ではありません)"


class ParallelRunNotSignable(SignOffRefused):
    """A parallel run (the target cut over, 本番切替済み) loaded nothing: its report is a comparison of the legacy
    data with the live target, not a migration to accept; the cut-over run is the one signed off."""

    ja = "承認できません (切替後の並行稼働の実行は比較のみで、移行先に投入していません)"


class RunNotHeld(SignOffRefused):
    """The target no longer holds the run (rolled back, or replaced by a later run): what it accepts is
    not what the 団体 has."""

    ja = "承認できません (移行先はこの実行を保持していません)"


class TargetNotChecked(SignOffRefused):
    """The target could not be read, so whether it holds the run is unknown."""

    ja = "承認できません (移行先を確認できません: --target-url または --no-target を指定してください)"


class SignOffMismatch(SignOffRefused):
    """The run folder disagrees with its evidence pack or with its own files: a sign-off would accept
    something other than what was run and sealed."""

    ja = "承認できません (実行フォルダの記録が証跡パック・実行結果と一致しません)"


def held_records(summary: dict) -> dict[str, int]:
    """Records held (not migrated) per source table, as the signed summary counts them: what the PM accepts
    being left behind is part of what is signed, not only the blockers (none under the held-rate threshold)."""
    return {name: int(t.get("quarantined") or 0) for name, t in (summary.get("tables") or {}).items()
            if not t.get("derived") and t.get("quarantined")}


def sign_off(run_dir: Path, *, by: str, role: str, override: str | None = None,
             pack: Path | None = None, sign_key: Path | str | None = None, target_url: str | None = None,
             no_target: bool = False) -> dict:
    """Record a sign-off of `run_dir`; return it. Refuses (SignOffRefused) while blockers remain,
    unless `override` gives the reason, and when the target does not hold the run as current (read at
    `target_url`, else the run's recorded URL; `no_target`: not read, and recorded so). A signed pack
    is signed again with the sign-off in it, by `sign_key` (else IKOU_EVIDENCE_KEY); without a key it
    is refused, never left unsigned."""
    by, role = (by or "").strip(), (role or "").strip()
    if not by or not role:
        raise SignOffUsage("--by and --role must not be blank (who signs, in which role)")
    from ikou.context import check_run_folder
    from ikou.privacy import check_free_text

    run_dir = Path(run_dir)
    check_run_folder(run_dir)   # not a link, not another 団体's run under this 団体's folder
    summary_file = run_dir / "summary.json"
    if not summary_file.is_file():
        raise TerminalError(f"{run_dir}: no summary.json (not a run folder)")
    raw = summary_file.read_bytes()
    summary = _json(raw, summary_file)
    if summary.get("status") != "succeeded":
        raise RunNotSignable(f"run {summary.get('run_id')} is {summary.get('status')}: only a succeeded run is signed "
                             "off (--override does not apply; summary.json is the record of the failure)")
    if summary.get("mode") == "parallel_run":
        raise ParallelRunNotSignable(
            f"run {summary.get('run_id')} is a parallel run (target cut over to run "
            f"{(summary.get('cutover') or {}).get('run_id')}): it compared and loaded nothing, so there is nothing "
            "to sign off (--override does not apply)")
    if pack and not Path(pack).is_file():
        raise EvidenceError(f"--pack {pack}: not found (a sign-off goes into an existing pack, or into none)")
    own = run_dir / DEFAULT_PACK
    if pack and own.is_file() and Path(pack).resolve() != own.resolve():   # the run's own pack is checked too
        v = verify_pack(own, check_target=False)
        if not v.ok:
            raise EvidenceError(f"{own}: the run's own pack does not verify, not signing: {v.problems[0]}")
        _check_pack_is_of_run(own, *read_pack(own), summary, raw)
    pack = Path(pack) if pack else own
    sealed: dict | None = None   # the pack's signoff.json: the record that a sign-off appends to
    if pack.is_file():   # never re-seal a pack that was changed: its manifest would hide it
        v = verify_pack(pack, check_target=False)
        if not v.ok:
            raise EvidenceError(f"{pack}: the pack does not verify, not signing into it: {v.problems[0]}")
        manifest, files = read_pack(pack)
        _check_pack_is_of_run(pack, manifest, files, summary, raw)
        sealed = _json(files[SIGNOFF], pack / SIGNOFF) if SIGNOFF in files else {"signoffs": []}
    key = load_signing_key(sign_key)
    from ikou.reports.summary import current_wording

    unlisted = _check_blockers_against_files(run_dir, summary)
    # as a PM reads them now: a line a run wrote in Japanese only in both languages, and a blocker the run has
    # that its summary, written before that blocker existed, does not list
    blockers = [current_wording(b, summary) for b in summary.get("sign_off_blockers") or []] + unlisted
    check_free_text(override, "--override")
    if blockers and not (override and override.strip()):
        raise SignOffRefused(f"run {summary['run_id']} has {len(blockers)} sign-off blocker(s): "
                             + "; ".join(blockers) + " (resolve them, or give --override REASON)")
    f = run_dir / SIGNOFF
    data = _json(f.read_bytes(), f) if f.is_file() else {"signoffs": []}
    if sealed is not None:
        missing = [s for s in _signoffs(sealed, pack / SIGNOFF) if s not in _signoffs(data, f)]
        if missing:
            raise SignOffMismatch(f"{f} lacks {len(missing)} of the sign-off(s) sealed in {pack}: not signing "
                                  "(a sign-off may never drop one; restore signoff.json from the pack)")
    target = _check_target(run_dir, summary, target_url=target_url, no_target=no_target)
    # last of the refusals: a key is worth fetching only for a run that would otherwise be signed off
    if sealed is not None and key is None and pack_signature(pack)[1] is not None:
        raise EvidenceError(f"{pack} is signed: give --sign-key KEY (or IKOU_EVIDENCE_KEY) to sign it again "
                            "with the sign-off in it",
                            ja=f"証跡パック {pack} は署名されています: 承認を記録して署名し直すため、署名鍵を --sign-key KEY "
                               "(または環境変数 IKOU_EVIDENCE_KEY) で指定してください")
    record = {"run_id": summary["run_id"], "dantai": summary["dantai"], "rehearsal": summary.get("rehearsal"),
              "status": summary.get("status"), "by": by, "role": role,
              "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "summary_sha256": sha256_bytes(raw), "blockers": blockers, "held": held_records(summary),
              "override": override.strip() if blockers and override else None, "target": target}
    # the run folder first: should the pack's write fail, the folder still holds all the pack holds
    _signoffs(data, f).append(record)
    f.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    if sealed is not None:
        _signoffs(sealed, pack / SIGNOFF).append(record)
        files[SIGNOFF] = json.dumps(sealed, ensure_ascii=False, indent=2).encode("utf-8")
        write_zip(pack, files, run_id=manifest["run_id"], dantai=manifest["dantai"], sign_key=key)
        record["pack"] = str(pack)
    return record


def _check_target(run_dir: Path, summary: dict, *, target_url: str | None, no_target: bool) -> dict:
    """What the sign-off records of the target: the run it holds, read as `ikou evidence` reads it
    (`target_url`, else specs/manifest.json's URL, else summary.json's: both without a password). Refuses
    a run the target does not hold as current, and a target that cannot be read unless `no_target`."""
    from ikou.loaders import held_runs
    from ikou.reports.evidence import SPECS, hide_password

    if no_target:
        return {"checked": False, "reason": "--no-target: the target was not read"}
    recorded: dict = {}
    manifest = run_dir / SPECS / "manifest.json"
    if manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8")).get("target") or {}
        except (OSError, ValueError, AttributeError):
            recorded = {}
    recorded = {**(summary.get("target") or {}), **{k: v for k, v in recorded.items() if v}}
    url, schema = target_url or recorded.get("url"), recorded.get("schema")
    if not url or not schema:
        raise TargetNotChecked(f"{run_dir}: the run records no target (URL and schema): give --target-url URL, "
                               "or --no-target to sign without reading it (recorded)")
    if not target_url and "***" in url:
        raise TargetNotChecked(f"target {schema}: the recorded URL has no password ({url}): give --target-url URL, "
                               "or --no-target to sign without reading it (recorded)")
    try:
        held = held_runs(url, schema)
    except Exception as exc:   # noqa: BLE001 - any driver's failure: the target is not read, and said so
        line = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
        raise TargetNotChecked(f"target {schema} at {hide_password(url)} cannot be read ({type(exc).__name__}: "
                               f"{hide_password(line)[:160]}): give --target-url URL, or --no-target to sign "
                               "without reading it (recorded)") from None
    current = (held.get("current") or {}).get("run_id")
    if current != summary.get("run_id"):
        raise RunNotHeld(f"target {schema} holds run {current or '(none)'}, not {summary.get('run_id')} "
                         f"({_why_not_held(str(summary.get('run_id') or ''), current)}): "
                         "a sign-off accepts what the target holds")
    from ikou.reports.evidence import rows_unlike_the_run, target_state

    state = target_state(url, schema)
    changed = rows_unlike_the_run(state)
    if changed:
        raise RunNotHeld(f"target {schema} was changed after run {current} loaded it ({'; '.join(changed)}): "
                         "a sign-off accepts what the run loaded")
    # the target's record of the run must be this summary's: a run id used twice (two folders, one id)
    # would otherwise let the summary of one load sign the rows of another
    held_counts = (state.get("run") or {}).get("counts") or {}
    unlike = [f"{t}: target {int(held_counts[t]):,} rows, summary {int(v['loaded']):,}"
              for t, v in sorted((summary.get("tables") or {}).items())
              if isinstance(v, dict) and isinstance(v.get("loaded"), int) and t in held_counts
              and int(held_counts[t]) != int(v["loaded"])]
    if unlike:
        raise RunNotHeld(f"target {schema} holds run {current} with other row counts than this summary records "
                         f"({'; '.join(unlike)}): a sign-off accepts only the rows its summary describes")
    return {"checked": True, "schema": schema, "holds": current}


def _why_not_held(run_id: str, current: str | None) -> str:
    """Why the target holds another run than `run_id`, told by the run ids (they sort by time): a newer
    run replaced it, or a rollback went back to an older one. (The target's kept previous state names the
    run in both cases, so it cannot tell them apart.)"""
    if not current:
        return "it holds no run: rolled back past it, or never loaded"
    if current > run_id:
        return f"replaced by the newer run {current}"
    return f"rolled back to the earlier run {current}"


def _json(raw: bytes, where: Path) -> dict:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SignOffMismatch(f"{where}: not readable JSON, not signing")
    return data


def _signoffs(data: dict, where: Path) -> list:
    """The list of sign-offs in a signoff.json (created empty when the key is missing)."""
    out = data.setdefault("signoffs", [])
    if not isinstance(out, list):
        raise SignOffMismatch(f"{where}: `signoffs` is not a list, not signing")
    return out


def _check_pack_is_of_run(pack: Path, manifest: dict, files: dict[str, bytes], summary: dict, raw: bytes) -> None:
    """The pack is the sealed record of this run: same run and 団体, and the very summary.json (byte for
    byte) that the sign-off names. Else a sign-off would go into another run's pack, or accept a
    summary edited after the pack was made."""
    for k in ("run_id", "dantai"):
        if manifest.get(k) != summary.get(k):
            raise SignOffMismatch(f"{pack} is the pack of {k} {manifest.get(k)}, the run folder's summary.json "
                                  f"says {summary.get(k)}: not signing")
    packed = files.get("summary.json")
    if packed is None or sha256_bytes(packed) != sha256_bytes(raw):
        raise SignOffMismatch(f"summary.json is not the one sealed in {pack} (changed after the pack was made): "
                              "not signing")


def _check_blockers_against_files(run_dir: Path, summary: dict) -> list[str]:
    """Refuse when summary.json lists fewer blockers than the run's files show: deleting a line of
    `sign_off_blockers` must not be enough to sign without an override. Blockers it lists beyond
    these still block (a kind this check does not re-derive). A line written before it was bilingual
    is the same blocker (`current_wording`). Returns the 'nothing loaded' and held-records blockers
    summary.json's own counts show and it does not list (`unlisted_nothing_loaded`: a run written before
    that blocker existed): blockers of the run, which block as the listed ones do, never a mismatch."""
    from ikou.reports.summary import UNLISTED, current_wording, signoff_max_held_rate, unlisted_nothing_loaded

    recorded = summary.get("sign_off_blockers")
    if recorded is None:
        recorded = []
    if not isinstance(recorded, list):
        raise SignOffMismatch("summary.json: sign_off_blockers is not a list, not signing")
    unlisted = unlisted_nothing_loaded(summary, signoff_max_held_rate(run_dir))
    listed = ({current_wording(b, summary) for b in recorded if isinstance(b, str)}
              | {b.removesuffix(UNLISTED) for b in unlisted})
    missing = [b for b in _rederived_blockers(run_dir, summary) if b not in listed]
    if missing:
        raise SignOffMismatch(f"summary.json does not match the run's files: {len(missing)} sign-off blocker(s) they "
                              f"show are not in it ({missing[0]}): not signing")
    return unlisted


def own_diff_names(summary: dict) -> set[str] | None:
    """The diffs under RUN_DIR/diff/ that are the run's own: those summary.json lists, and one of each of its
    sources (the diff step names its folder after the source), so that removing a diff from summary.json does
    not hide its unexplained cells from the sign-off. Any other folder there (an `ikou diff --out` into the
    run, another 団体's comparison) is not read by `ikou signoff`, `ikou run-report` nor the evidence pack.
    None (every folder is the run's) for a summary that names neither diffs nor sources: it cannot tell."""
    if "diff" not in summary and "sources" not in summary:
        return None
    return {str(k) for k in (summary.get("diff") or {})} | {str(k) for k in (summary.get("sources") or {})}


def _rederived_blockers(run_dir: Path, summary: dict) -> list[str]:
    """The blockers of the run as `reports.summary` words them, from the files the run wrote beside
    summary.json where they are kept: the diffs' own summaries (diff/<source>/summary.json: unexplained
    cells) and the 文字同定 outcomes (moji/<source>.chars.parquet, until `ikou purge`; after it the
    unresolved characters listed in summary.json). Control totals are re-balanced from their three
    sums (extracted − loaded − held): their staging is not re-read. A recorded run error is one too. Held
    records are judged against the run's own thresholds.signoff_max_held_rate (its config in specs/)."""
    from ikou.reports.summary import _blockers   # the one place the blocker lines are worded
    from ikou.reports.summary import held_over, signoff_max_held_rate, unresolved_chars

    moji = summary.get("moji") or {}
    counts = dict(moji.get("counts") or {})
    chars = sorted(run_dir.glob("moji/*.chars.parquet"))
    distinct = unresolved_chars(summary)
    if chars:
        frames = [pl.read_parquet(c, columns=[k for k in ("status", "occurrences", "char")
                                              if k in pl.read_parquet_schema(c)]) for c in chars]
        un = pl.concat(frames, how="diagonal_relaxed").filter(pl.col("status") == "unresolved")
        counts["unresolved"] = int(un["occurrences"].sum())
        distinct = un["char"].n_unique() if "char" in un.columns else distinct
    else:
        listed = sum(int(u.get("occurrences") or 0) for u in moji.get("unresolved") or [] if isinstance(u, dict))
        counts["unresolved"] = max(int(counts.get("unresolved") or 0), listed)
    diffs = {k: d for k, d in (summary.get("diff") or {}).items() if isinstance(d, dict)}
    own = own_diff_names(summary)
    for f in sorted(run_dir.glob("diff/*/summary.json")):
        if own is None or f.parent.name in own:   # a folder someone else wrote under diff/ is not the run's
            diffs[f.parent.name] = _json(f.read_bytes(), f)
    totals = {t: {c: {**v, "difference": int(v.get("extracted") or 0) - int(v.get("loaded") or 0)
                      - int(v.get("held") or 0)} for c, v in cols.items()}
              for t, cols in (summary.get("control_totals") or {}).items()}
    error = summary.get("error")
    empty = [name for name, src in (summary.get("sources") or {}).items()
             if isinstance(src, dict) and src.get("rows") == 0]
    from ikou.reports.summary import _untied, all_held

    tables = {t: v for t, v in (summary.get("tables") or {}).items() if isinstance(v, dict)}
    loaded = {t: v["loaded"] for t, v in tables.items() if isinstance(v.get("loaded"), int)}
    failure = (SimpleNamespace(kind=error.get("kind"), stage=error.get("stage")) if isinstance(error, dict)
               else None)
    return _blockers(counts, failure, diffs, totals, empty=empty, untied=_untied(tables), loaded=loaded,
                     all_held=all_held(tables, by_held=failure is not None),
                     held=held_over(tables, summary.get("quarantine_reasons") or [], signoff_max_held_rate(run_dir)),
                     unresolved_chars=distinct)
