"""The diff step (並行稼働比較): the legacy extract against what the target now holds.

Left = the source rows as the legacy system had them (renamed to target names through the
mapping); right = the loaded target table, compared on the table's primary key. Differences the
migration caused on purpose are explained by rules generated from the same mapping (codes, 和暦,
kana width, 外字 through the 外字 table or a reviewer's decision), so whatever remains is a finding.

Neither side is held in memory: the diff reads the staged extract where it lies, under the target's
names, and the target table in place (DuckDB) or streamed to `diff/<table>.target.parquet`
(PostgreSQL; kept: it is what was compared, as of this run).
"""
from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from ikou.context import RunContext
from ikou.stage import StageResult, step

log = logging.getLogger("ikou")


def source_names(mapping) -> dict[str, str]:
    """source column → target column, as the mapping feeds them (the first mapping of a column wins). A line
    joining several columns (concat) is named by its first: the diff builds its value from all of them
    (`joined_names`)."""
    rename: dict[str, str] = {}
    for c in mapping.columns:
        if c.sources and c.sources[0] not in rename and c.target not in rename.values():
            rename[c.sources[0]] = c.target
    return rename


def copied_names(mapping) -> dict[str, str]:
    """target column → source column for the lines `source_names` leaves out because an earlier line reads
    the same (first) source column: ATENA_NO → atena_no and setainushi_atena_no. The diff compares them too
    (reports.diff.ParquetSource `copies`); left out, such a column showed only as one the target alone has."""
    named = source_names(mapping)
    out: dict[str, str] = {}
    for c in mapping.columns:
        if c.sources and c.target not in named.values() and c.target not in out:
            out[c.target] = c.sources[0]
    return out


def joined_names(mapping) -> dict[str, tuple[tuple[str, ...], bool]]:
    """target column → (its source columns, the line's `strip`) for each line joining several columns (an op
    reading a list: concat) that `source_names` gives a column: the diff's legacy side is those legacy columns
    joined as the standard writes them (reports.diff.ParquetSource `joined`)."""
    from ikou.mappings.ops import OPS

    named = set(source_names(mapping).values()) | set(copied_names(mapping))
    return {c.target: (c.sources, bool(c.strip)) for c in mapping.columns
            if isinstance(c.from_, list) and OPS[c.op].many and c.target in named}


def key_reading(mapping, key: list[str], schema=None) -> dict:
    """How the diff reads each legacy key column so that it names the record the target holds: as the
    mapping's op read it ("integer": ' 01' is 1; "code": every surrounding whitespace trimmed, as
    the ops that always trim read it; "text": the text op's `strip`). A key the mapping keeps verbatim (`text` without `strip`) is compared as written.

    A key column whose op changes the value on purpose (its expected-difference rule is more than a reading:
    a vendor code table HAIGU → 04, a code chain, a 和暦 date, kana width) is read as the op mapped it: a
    KeyMap that runs the op itself (mappings.ops.build) over the column's distinct legacy values, the value as
    read where the op gave none (an unknown code, held at map). A key renumbered through the 団体's crosswalk
    (an op with `prepare`: new_key) is read trimmed and left to the crosswalk (`diff_source(crosswalk=…)`). `schema`: the
    target schema (TargetSchema) an op may read its standard code tables from. Where the op gives one key to
    several legacy values (HAIGU and HAIGU2 → 04), their rows meet on it: the diff counts them as the mapping's
    重複キー (diff._mapped_duplicates); a value the op holds (its error) sets its rows apart as 旧のみ (diff.APART)."""
    from ikou.mappings.ops import OPS
    from ikou.reports.diff import KeyMap

    readings = {"integer": "integer", "trimmed": "code"}   # expected rules that only read the value
    out: dict = {}
    for c in mapping.columns:
        if c.target in key and c.from_ and c.target not in out:
            op = OPS[c.op]
            rule = op.expected_rule(c)
            kind = (rule or {}).get("condition", {}).get("type")
            if c.op == "integer" or kind in readings:
                out[c.target] = "integer" if c.op == "integer" else readings[kind]
            elif kind not in (None, "text") and op.per_value and op.prepare is None:
                out[c.target] = KeyMap(_op_key(c, schema), op=c.op, held=_op_held(c, schema),
                                       table=_table_name(c.table))
            elif op.strip == "always":
                out[c.target] = "code"
            elif op.strip == "option" and c.strip:
                out[c.target] = "text"
    return out


def _op_key(c, schema):
    """The key `c`'s op gives each distinct legacy value (a Series, as written), or the value as read
    (mappings.ops.read_code) where it gives none: the op's own expressions, not a second definition."""
    def read(raw: pl.Series) -> pl.Series:
        from ikou.mappings import ops

        built = ops.build(c, ops.OpContext(schema=schema))
        frame = raw.to_frame(c.from_)
        if built.pre:
            frame = frame.with_columns(**built.pre)
        return frame.select(pl.coalesce(built.value.cast(pl.String), ops.read_code(pl.col(c.from_)))).to_series()
    return read


def _op_held(c, schema):
    """True for each distinct legacy value (a Series, as written) the op itself holds (its error: the map
    stage held every row of it), so that the diff sets those rows apart as 旧のみ (diff.KeyMap)."""
    def held(raw: pl.Series) -> pl.Series:
        from ikou.mappings import ops

        built = ops.build(c, ops.OpContext(schema=schema))
        if built.error is None:
            return pl.Series(raw.name, [False] * raw.len(), dtype=pl.Boolean)
        frame = raw.to_frame(c.from_)
        if built.pre:
            frame = frame.with_columns(**built.pre)
        return frame.select(built.error.is_not_null().fill_null(False)).to_series()
    return held


def _table_name(table: str | None) -> str:
    """A code table as the diff's messages name it: its file name, or `standard:<name>`."""
    if not table:
        return ""
    return table if table.startswith("standard:") else Path(table).name


def replaced_characters(chars: Path | None) -> pl.DataFrame | None:
    """from → to of every character 文字同定 replaced on purpose (a 外字 through its table or a decision),
    and the kana + combining voiced mark pairs it composes (カ\u3099 → ガ)."""
    from ikou.moji.identify import kana_compositions

    if chars is None or not Path(chars).is_file():
        return None
    df = pl.read_parquet(chars)
    if not {"char", "output", "status"} <= set(df.columns):
        return None
    pairs = kana_compositions()
    return pl.concat([df.filter(pl.col("status").is_in(["gaiji", "decided"]) & (pl.col("char") != pl.col("output")))
                      .select(pl.col("char").alias("from"), pl.col("output").alias("to")),
                      pl.DataFrame({"from": list(pairs), "to": list(pairs.values())})])


@step("diff", name="source_name", total="staged")
def diff_source(mapping, schema, ctx: RunContext, staged: Path, *, source_name: str, origin: str, target_url: str,
                db_schema: str, chars: Path | None = None, sensitive: set[str] = frozenset(),
                crosswalk: Path | None = None) -> StageResult:
    """Compare one source's staged extract with its loaded target table; write diff/<source>/.

    `crosswalk`: legacy key → new key (CSV legacy_<k>,<k>) when the migration issued new keys."""
    from ikou.loaders import diff_input
    from ikou.reports.diff import ParquetSource, compare
    from ikou.reports.expected import rules_from_mapping
    from ikou.reports.report import write_diff_outputs
    from ikou.reports.rules import load_rules

    table = schema.tables[mapping.target]
    left = ParquetSource(staged, source_names(mapping), keys=key_reading(mapping, table.primary_key, schema),
                         joined=joined_names(mapping), copies=copied_names(mapping))
    right = diff_input(target_url, db_schema, mapping.target, ctx.run_dir / "diff" / f"{mapping.target}.target.parquet")
    out_dir = ctx.run_dir / "diff" / source_name
    moji_cols = [c.name for c in table.columns if c.moji]
    rules = load_rules(rules_from_mapping(mapping, out_dir, char_map=replaced_characters(chars),
                                          moji_columns=moji_cols))
    # a decimal is compared by value: 12345.67 and 12345.6700 are one amount (NUMERIC(p, s) writes its scale)
    result = compare(left, right, key=table.primary_key, rules=rules, crosswalk=crosswalk,
                     numeric=[c.name for c in table.columns if c.type == "decimal"],
                     left_name=f"旧 {origin}", right_name=f"新 {db_schema}.{mapping.target}")
    for name, col in ((result.duplicates["left"].get("mapped") or {}).get("columns") or {}).items():
        if name in sensitive:   # the codes a mapping shares are named for a PM, never a sensitive column's values
            col.pop("codes", None)
            col.pop("codes_more", None)
    try:
        summary = write_diff_outputs(result, out_dir, sensitive=sensitive, extra={"table": mapping.target})
    finally:
        result.close()
    log.info("diff %s ⇔ %s: matched %s, only legacy %s, only new %s, changed rows %s", source_name, mapping.target,
             summary.get("matched"), summary.get("only_left"), summary.get("only_right"), summary.get("changed_rows"))
    return StageResult(stage="diff", name=source_name, rows_in=int(summary.get("left_rows") or 0),
                       rows_out=int(summary.get("matched") or 0), outputs={"diff": out_dir}, metrics=summary)
