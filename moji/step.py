"""The 文字同定 step: every column the schema marks `moji`, 外字 through the source's table.

Unresolved characters do not drop the row: they become the flag `_moji_unresolved` (with the
code points per column in `_moji_unresolved_chars`) that the validation rule moji.unresolved reads,
a warning that blocks sign-off. A character that is not text at all (invisible format characters,
U+2028, U+FFFD: moji.identify `invalid`) holds its row here, as map holds a row it cannot map: an
error `moji.invalid_char` per cell, with the code points and never the value in its message; no
decision can make it a glyph, so the row must not reach the target looking like a good name (the
validation's held_together then holds the rest of the person's history, from this quarantine).

The table is never whole in memory: characters are judged on the distinct values of the moji
columns, then the rewrite and the flag are applied slice by slice on the way from map/ to
moji/<source>.parquet. Slices, not one query over the whole scan: there Polars 2.1
reads ahead of the Parquet sink, and peak memory grew with the rows (1.7 GB at 8.6M rows; 0.5 GB in
slices, flat from 0.5M to 8.6M).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl

from ikou import quarantine as q
from ikou.context import RunContext
from ikou.staging import ROW_ID, SOURCE, SOURCE_LINE, STAGING_COMPRESSION, batch_rows as rows_per_batch
from ikou.moji.dictionary import load_dictionary
from ikou.moji.identify import (CHAR_RE, CHARS_SCHEMA, RULE_HALFWIDTH, RULE_INVALID, RULE_MESSAGES, RULE_UNWRITABLE,
                                MojiResult, identify_frame, identify_lazy, load_gaiji_table, status_counts,
                                unwritable_count, with_codepoints)
from ikou.moji.ledger import Ledger
from ikou.mappings.combine import trace
from ikou.mappings.step import combined_path, held_rows_path, lineage_path, without_private
from ikou.stage import StageResult, step

log = logging.getLogger("ikou")
MOJI_BATCH_ROWS = 250_000   # rows per 文字同定 slice at most: bounds memory whatever the table size (stage peak
                            # 0.46 GB at 1M persons, 0.57 GB with 500k rows, same time; wider rows, fewer:
                            # ikou.staging.batch_rows)


@step("moji", name="source_name", total="mapped")
def identify_source(schema, target: str, ctx: RunContext, mapped: Path, *, source_name: str,
                    gaiji_table: Path | None = None, gaiji_font: Path | None = None,
                    batch_rows: int = MOJI_BATCH_ROWS) -> StageResult:
    """Identify the moji columns of `target` in map/<source>.parquet; write moji/<source>.parquet.

    Outputs: the rewritten rows (`output`), the per-character outcomes (`outputs["chars"]`); the
    団体's 同定台帳 is updated and snapshotted into the run, unresolved 外字 drawn in `gaiji_font` and
    Adobe-Japan1 sequences with MJ glyphs ranked by picture. Metrics: counts per outcome.
    """
    lf = pl.scan_parquet(mapped)
    table = schema.tables[target]
    cols = [c.name for c in table.columns if c.moji]
    dictionary = load_dictionary()
    gaiji = load_gaiji_table(gaiji_table, dictionary) if gaiji_table else None   # its errors name the line
    ledger = Ledger.load(ctx.dantai_dir / "moji_ledger")
    keys = [ROW_ID] + [k for k in table.primary_key if k in lf.collect_schema()]
    ident = identify_lazy(lf, cols, dictionary=dictionary, gaiji=gaiji, ledger=ledger, source=source_name)
    res = MojiResult(frame=None, chars=ident.chars, counts=ident.counts,
                     unresolved_rows=ident.unresolved_rows(lf, keys).collect(engine="streaming"),
                     invalid_rows=ident.invalid_rows(lf, [ROW_ID]).collect(engine="streaming"), widened=ident.widened)
    held_ids = res.invalid_rows[ROW_ID].unique().implode()
    held_rows = lf.filter(pl.col(ROW_ID).is_in(held_ids)).collect() if res.invalid_rows.height else None
    held = _held(held_rows, res.invalid_rows, table=table, target=target, ctx=ctx) if held_rows is not None \
        else q.empty()
    unwritable = ident.unwritable_rows(lf, [ROW_ID]).collect(engine="streaming")
    if unwritable.height:
        rows = lf.filter(pl.col(ROW_ID).is_in(unwritable[ROW_ID].unique().implode())).collect()
        held = q.concat([held, _unwritable(rows, unwritable, res.chars, table=table, target=target, ctx=ctx)])
    halfwidth = ident.halfwidth_rows(lf, [ROW_ID]).collect(engine="streaming")
    if halfwidth.height:
        rows = lf.filter(pl.col(ROW_ID).is_in(halfwidth[ROW_ID].unique().implode())).collect()
        held = q.concat([held, _halfwidth(rows, halfwidth, table=table, target=target, ctx=ctx)])
    flagged = _flags(res.unresolved_rows)
    n = lf.select(pl.len()).collect().item()
    batch_rows = rows_per_batch(mapped, batch_rows)
    slices = [lf.slice(start, batch_rows).with_columns(ident.rewrite_exprs())
              .join(flagged.lazy(), on=ROW_ID, how="left", maintain_order="left")
              .with_columns(pl.col("_moji_unresolved").fill_null(False))
              for start in range(0, max(n, 1), batch_rows)]
    if res.invalid_rows.height:
        slices = [s.filter(~pl.col(ROW_ID).is_in(held_ids)) for s in slices]
    out = ctx.stage_dir("moji") / f"{source_name}.parquet"
    pl.concat(slices, parallel=False).sink_parquet(out, compression=STAGING_COMPRESSION)
    return _result(ctx, res, source_name, n, out, gaiji_font=gaiji_font, ledger=ledger, dictionary=dictionary,
                   held=held, held_rows=[held_rows] if held_rows is not None else [], schema=schema, target=target)


_CPS = "_moji_codepoints"   # a cell's code points, while its message is made
# the unresolved characters a finding names by code point: ideographs (with a selector), 々〆〇 and 外字
_NAMED_UNRESOLVED = r"^[\p{Han}\x{3005}-\x{3007}\x{E000}-\x{F8FF}\x{F0000}-\x{FFFFD}\x{100000}-\x{10FFFD}]"


def _held(rows: pl.DataFrame, invalid: pl.DataFrame, *, table, target: str, ctx: RunContext) -> pl.DataFrame:
    """The quarantine of the rows holding an invalid character: one error per (row, column), with the
    source line, the record key, the value as read (masked wherever shown, like any value of its
    column) and the code points in the message (never the value: it is a name)."""
    ja, en = RULE_MESSAGES[RULE_INVALID]
    moji_cols = list(dict.fromkeys(invalid["column"].to_list()))
    # code points only, never the value (once per distinct chars value: with_codepoints)
    detail = pl.format("{}: {}", "column", _CPS)
    cells = (with_codepoints(invalid.select(ROW_ID, "column", "chars"), "chars", _CPS)
             .join(rows, on=ROW_ID, how="left", maintain_order="left"))
    value = pl.coalesce([pl.when(pl.col("column") == c).then(pl.col(c).cast(pl.String)) for c in moji_cols])
    return _findings(cells, RULE_INVALID, "error", value, pl.format(f"{ja} ({{}})", detail),
                     pl.format(f"{en} ({{}})", detail), table=table, target=target, ctx=ctx)


def _findings(cells: pl.DataFrame, rule: str, severity: str, value: pl.Expr, message_ja: pl.Expr,
              message_en: pl.Expr, *, table, target: str, ctx: RunContext) -> pl.DataFrame:
    """文字同定's quarantine rows, one per (row, column) of `cells` (which carry the rows' lineage and key
    columns): the run, the source line and the record key beside the rule, the value and the messages."""
    key = [pl.format(f"{k}={{}}", pl.col(k).cast(pl.String).fill_null("")) for k in table.primary_key
           if k in cells.columns]
    return q.conform(cells.select(
        pl.lit(ctx.run_id).alias("run_id"), pl.lit(ctx.dantai_code).alias("dantai_code"), pl.lit("moji").alias("stage"),
        pl.lit(target).alias("table"),
        (pl.col(SOURCE) if SOURCE in cells.columns else pl.lit(None, pl.String)).alias("source"),
        (pl.col(SOURCE_LINE) if SOURCE_LINE in cells.columns else pl.lit(None, pl.Int64)).alias("source_line"),
        pl.col(ROW_ID).alias("row_id"),
        (pl.concat_str(key, separator=",") if key else pl.lit(None, pl.String)).alias("record_key"),
        "column", pl.lit(rule).alias("rule"), pl.lit(severity).alias("severity"), value.alias("value"),
        message_ja.alias("message_ja"), message_en.alias("message_en")))


def _unwritable(rows: pl.DataFrame, cells: pl.DataFrame, chars: pl.DataFrame, *, table, target: str,
                ctx: RunContext) -> pl.DataFrame:
    """A warning `moji.gaiji_unwritable` per (row, column) holding a 外字 (or decided character) whose MJ glyph
    has no code point: the row is loaded with the private-use code as it is, which the new system cannot
    read. The message names the code points and the MJ glyph, never the value (a name)."""
    ja, en = RULE_MESSAGES[RULE_UNWRITABLE]
    names = chars.select("column", "char", "mj_name").unique(["column", "char"])
    detail = (cells.select(ROW_ID, "column", pl.col("chars").str.extract_all(CHAR_RE).alias("char")).explode("char")
              .join(names, on=["column", "char"], how="left", maintain_order="left"))
    detail = (with_codepoints(detail, "char", _CPS)
              .group_by(ROW_ID, "column", maintain_order=True)
              .agg(pl.format("{} → {}", _CPS, pl.col("mj_name").fill_null("?")).str.join(", ").alias("_detail")))
    lineage = [c for c in (SOURCE, SOURCE_LINE) if c in rows.columns]
    found = detail.join(rows.select(ROW_ID, *lineage, *[k for k in table.primary_key if k in rows.columns]),
                        on=ROW_ID, how="left", maintain_order="left")
    return _findings(found, RULE_UNWRITABLE, "warning", pl.lit(None, pl.String),
                     pl.format(f"{ja} ({{}}: {{}})", "column", "_detail"),
                     pl.format(f"{en} ({{}}: {{}})", "column", "_detail"), table=table, target=target, ctx=ctx)


def _halfwidth(rows: pl.DataFrame, cells: pl.DataFrame, *, table, target: str, ctx: RunContext) -> pl.DataFrame:
    """A warning `moji.halfwidth_kana` per (row, column) whose half-width kana were made full width: the row is
    loaded as converted; the PM sees how many. The message names the column only: the characters would spell
    the name (no value either, as for `_unwritable`)."""
    ja, en = RULE_MESSAGES[RULE_HALFWIDTH]
    lineage = [c for c in (SOURCE, SOURCE_LINE) if c in rows.columns]
    found = cells.select(ROW_ID, "column").join(
        rows.select(ROW_ID, *lineage, *[k for k in table.primary_key if k in rows.columns]),
        on=ROW_ID, how="left", maintain_order="left")
    return _findings(found, RULE_HALFWIDTH, "warning", pl.lit(None, pl.String), pl.format(f"{ja} ({{}})", "column"),
                     pl.format(f"{en} ({{}})", "column"), table=table, target=target, ctx=ctx)


def _flags(unresolved_rows: pl.DataFrame) -> pl.DataFrame:
    """_row_id → `_moji_unresolved_chars` (per column, the code points of its unresolved characters) and
    `_moji_unresolved` (True): what the validation rule moji.unresolved reads."""
    # 'shimei: U+E700 (\ue700)': readable even where the 外字 has no glyph; the code points worked out
    # once per distinct chars value (with_codepoints: a probe had 600k unresolved cells). Only ideographs and
    # 外字 are named (what a reviewer decides on); other characters outside MJ (Hangul, Latin with marks …) are
    # counted: listed one by one beside the record key they would spell a name.
    seqs = pl.col("chars").str.extract_all(CHAR_RE)
    named = seqs.list.eval(pl.element().filter(pl.element().str.contains(_NAMED_UNRESOLVED))).list.join("")
    others = seqs.list.len() - seqs.list.eval(pl.element().str.contains(_NAMED_UNRESOLVED)).list.sum()
    shown = unresolved_rows.with_columns(named.alias("_named"), others.alias("_others"))
    # `shimei: U+E700 (\ue700)` for what is named, `shimei+: 3` for the count of the others (language-neutral:
    # the rule moji.unresolved words it in each half, validators.kinds._moji_identified)
    return (with_codepoints(shown, "_named", _CPS)
            .with_columns(pl.concat_str(
                pl.when(pl.col("_named") != "").then(pl.format("{}: {} ({})", "column", _CPS, "_named")),
                pl.when(pl.col("_others") > 0).then(pl.format("{}+: {}", "column", "_others")),
                separator=" / ", ignore_nulls=True).alias("_detail"))
            # sorted once, not per group (2.5x faster at 500k cells)
            .sort(ROW_ID, "_detail").group_by(ROW_ID, maintain_order=True)
            .agg(pl.col("_detail").str.join(" / ").alias("_moji_unresolved_chars"))
            .with_columns(pl.lit(True).alias("_moji_unresolved")))


class Identifier:
    """文字同定 of one source batch by batch, as its mapped rows are made (the one pass, ikou.onepass).

    Each batch is identified in memory (`identify_frame`: distinct characters looked up once), rewritten
    and flagged; the per-batch verdicts add up to the same characters, counts and unresolved rows as
    `identify_source` finds over the whole mapped file, so `result` records the same 同定台帳.
    """

    def __init__(self, schema, target: str, ctx: RunContext, *, gaiji_table: Path | None = None,
                 source_name: str | None = None):
        """`source_name`: the source whose rows come (its 外字 decisions apply here, no other source's)."""
        table = schema.tables[target]
        self.source_name = source_name
        self.ctx, self.columns, self.primary_key = ctx, [c.name for c in table.columns if c.moji], table.primary_key
        self.table, self.target = table, target
        self.dictionary = load_dictionary()
        self.gaiji = load_gaiji_table(gaiji_table, self.dictionary) if gaiji_table else None
        self.ledger = Ledger.load(ctx.dantai_dir / "moji_ledger")
        self.rows = 0
        self._chars: list[pl.DataFrame] = []
        self._unresolved: list[pl.DataFrame] = []
        self._held: list[pl.DataFrame] = []
        self._held_rows: list[pl.DataFrame] = []   # the mapped rows held here (no names: `_result` drops them)
        self._widened: list[pl.DataFrame] = []     # the half-width kana made full width, per batch
        self.schema = schema

    def __call__(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The batch with its moji columns rewritten (外字, decided → MJ glyph) and the unresolved flags,
        without the rows holding an invalid character (held: `result().quarantine`)."""
        keys = [ROW_ID] + [k for k in self.primary_key if k in frame.columns]
        res = identify_frame(frame, self.columns, dictionary=self.dictionary, gaiji=self.gaiji, ledger=self.ledger,
                             key_columns=keys, source=self.source_name)
        self.rows += frame.height
        self._chars.append(res.chars)
        self._unresolved.append(res.unresolved_rows)
        out = (res.frame.join(_flags(res.unresolved_rows), on=ROW_ID, how="left", maintain_order="left")
               .with_columns(pl.col("_moji_unresolved").fill_null(False)))
        if res.invalid_rows.height:
            held_ids = res.invalid_rows[ROW_ID].unique().implode()
            rows = frame.filter(pl.col(ROW_ID).is_in(held_ids))
            self._held.append(_held(rows, res.invalid_rows, table=self.table, target=self.target, ctx=self.ctx))
            self._held_rows.append(without_private(rows, self.schema, self.target))
            out = out.filter(~pl.col(ROW_ID).is_in(held_ids))
        if res.unwritable_rows.height:
            rows = frame.filter(pl.col(ROW_ID).is_in(res.unwritable_rows[ROW_ID].unique().implode()))
            self._held.append(_unwritable(rows, res.unwritable_rows, res.chars, table=self.table, target=self.target,
                                          ctx=self.ctx))
        if res.halfwidth_rows.height:
            rows = frame.filter(pl.col(ROW_ID).is_in(res.halfwidth_rows[ROW_ID].unique().implode()))
            self._held.append(_halfwidth(rows, res.halfwidth_rows, table=self.table, target=self.target, ctx=self.ctx))
        if res.widened.height:
            self._widened.append(res.widened)
        return out

    def merged(self) -> MojiResult:
        """The batches' verdicts as one: occurrences summed per (column, character), unresolved rows in
        column order then row order (the order the whole-file identification gives)."""
        chars = (pl.concat(self._chars)
                 .group_by([c for c in CHARS_SCHEMA if c != "occurrences"], maintain_order=True)
                 .agg(pl.col("occurrences").sum())
                 .select([pl.col(k).cast(v) for k, v in CHARS_SCHEMA.items()])
                 .sort("column", "occurrences", "char", descending=[False, True, False]))
        order = {c: i for i, c in enumerate(self.columns)}
        unresolved = pl.concat(self._unresolved)
        unresolved = unresolved.sort(pl.col("column").replace_strict(order, return_dtype=pl.Int32),
                                     maintain_order=True)
        res = MojiResult(frame=None, chars=chars, unresolved_rows=unresolved, counts=status_counts(chars))
        if self._widened:
            res.widened = (pl.concat(self._widened).group_by("column", "char", "codepoints", maintain_order=True)
                           .agg(pl.col("occurrences").sum()))
        return res

    def result(self, output: Path, *, source_name: str, gaiji_font: Path | None = None,
               record: bool = True) -> StageResult:
        """The stage's result; with `record` the 団体's 同定台帳 is updated (else `record_source` does it)."""
        return _result(self.ctx, self.merged(), source_name, self.rows, output, gaiji_font=gaiji_font,
                       ledger=self.ledger if record else None, dictionary=self.dictionary,
                       held=q.concat(self._held), held_rows=self._held_rows, schema=self.schema, target=self.target)


def _result(ctx: RunContext, res: MojiResult, source_name: str, n: int, out: Path, *, gaiji_font, ledger,
            dictionary, held: pl.DataFrame | None = None, held_rows: list[pl.DataFrame] = (), schema=None,
            target: str | None = None) -> StageResult:
    """Write the per-character outcomes (and the unresolved cells) beside `out`; record the ledger unless
    `ledger` is None (a concurrent run records it afterwards, source after source: `record_source`).
    `held`: the quarantine of the rows held here (`_held`), which did not reach `out`; `held_rows`: those rows
    as mapped, kept without their names (moji/<source>.held.parquet, mappings.step.held_rows_path) for the
    validation's household rule: a 世帯主 held here is known as the 世帯主 it was. The findings on the records a
    multi-table source combined name the vendor's table, row and person key (mappings.combine.trace), as the
    map and validate stages name theirs."""
    chars_path = ctx.stage_dir("moji") / f"{source_name}.chars.parquet"
    res.chars.with_columns(pl.lit(source_name).alias("source")).write_parquet(chars_path)
    unresolved_path = ctx.stage_dir("moji") / f"{source_name}.unresolved.parquet"
    res.unresolved_rows.write_parquet(unresolved_path)
    if ledger is not None:
        _record(ctx, res, source_name, gaiji_font=gaiji_font, ledger=ledger, dictionary=dictionary)
    counts = {k: int(v) for k, v in res.counts.items()}
    # 外字 loaded as their code (moji.gaiji_unwritable warnings): a part of `gaiji`/`decided`, so kept out of the
    # per-status counts, which a reader sums
    unwritable = unwritable_count(res.chars)
    # half-width kana made full width (moji.halfwidth_kana warnings): characters as read, outside the per-status
    # counts too (those count what is loaded: the full-width kana, as passthrough)
    halfwidth = int(res.widened["occurrences"].sum()) if res.widened.height else 0
    held = held if held is not None else q.empty()
    kept = [without_private(h, schema, target) for h in held_rows if h.height]
    if kept:
        pl.concat(kept, how="diagonal_relaxed").write_parquet(held_rows_path(ctx, source_name, "moji"))
    n_held = held.filter(pl.col("severity") == "error")["row_id"].n_unique()   # a warning holds no row
    lineage = lineage_path(ctx, source_name)
    if held.height and lineage.is_file():
        held = trace(held, combined_path(ctx, source_name), json.loads(lineage.read_text(encoding="utf-8")))
    log.info("文字同定 %s: %s, %d rows held", source_name, counts, n_held)
    return StageResult(stage="moji", name=source_name, rows_in=n, rows_out=n - n_held, output=out,
                       outputs={"chars": chars_path, "unresolved": unresolved_path}, quarantine=held,
                       metrics={"counts": counts, **({"gaiji_unwritable": unwritable} if unwritable else {}),
                                **({"halfwidth_kana": halfwidth} if halfwidth else {})})


def record_source(ctx: RunContext, result: StageResult, *, gaiji_font: Path | None = None) -> None:
    """Record a 文字同定 result written without its ledger update into the 団体's 同定台帳 (one source at a
    time: every source reads and writes the one ledger)."""
    res = MojiResult(frame=None, chars=pl.read_parquet(result.outputs["chars"]).drop("source"),
                     unresolved_rows=pl.read_parquet(result.outputs["unresolved"]),
                     counts={s: int(v) for s, v in result.metrics["counts"].items()})
    _record(ctx, res, result.name, gaiji_font=gaiji_font, ledger=Ledger.load(ctx.dantai_dir / "moji_ledger"),
            dictionary=load_dictionary())


def _record(ctx: RunContext, res: MojiResult, source_name: str, *, gaiji_font, ledger: Ledger, dictionary) -> None:
    ledger.update(res, dictionary=dictionary, source=source_name,
                  glyph_candidates=_glyph_candidates(res.chars, gaiji_font, dictionary, source_name))
    ledger.save(ctx.dantai_dir / "moji_ledger")
    _record_decision_changes(ctx, ledger)


def _glyph_candidates(chars: pl.DataFrame, gaiji_font: Path | None, dictionary, source_name: str):
    """Unresolved 外字 and Adobe-Japan1 sequences ranked by picture (moji.glyphs). Review help, not data:
    without the fonts or the glyph index the ledger keeps its relation candidates and the run goes on."""
    from ikou.errors import ConfigError
    from ikou.moji.glyphs import glyph_candidates
    un = chars.filter(pl.col("status") == "unresolved")["char"].unique()
    if not un.len():
        return None
    if gaiji_font is not None and not Path(gaiji_font).exists():
        log.warning("文字同定 %s: 外字 font %s not found: no glyph candidates for its 外字", source_name, gaiji_font)
        gaiji_font = None
    try:
        return glyph_candidates(un, gaiji_font=gaiji_font, dictionary=dictionary)
    except (ConfigError, OSError) as exc:
        log.warning("文字同定 %s: no glyph candidates: %s", source_name, exc)
        return None


def _record_decision_changes(ctx: RunContext, ledger: Ledger) -> None:
    """Snapshot the ledger into this run and list decisions changed since the snapshot of the 団体's
    previous succeeded run, picked as the trend picks its run (reports.summary.previous_run_dir): a
    failed or cancelled run, or one still going, also snapshotted the ledger but is no rehearsal to
    compare with. Without the trend's 業務 and schema filter: the 同定台帳 is one per 団体, so each
    decision is listed once, by the first run after it, whatever its 業務."""
    from ikou.reports.summary import previous_run_dir

    snap = ctx.stage_dir("moji") / "ledger"
    ledger.save(snap)
    found = previous_run_dir(ctx.dantai_dir, ctx.run_id)
    if found is not None and (found[0] / "moji" / "ledger").is_dir():
        changes = ledger.diff(Ledger.load(found[0] / "moji" / "ledger"))
        changes.write_csv(ctx.stage_dir("moji") / "decision_changes.csv")
