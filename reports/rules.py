"""Expected-difference rules (想定差異): why a differing cell is not a defect.

A rules file is YAML parsed by a strict model. Each rule names the columns it covers, one
condition, a reason (理由) and an owner (担当). Rules only see cells that already differ; the first
rule (in file order) whose condition holds explains the cell, the rest stay unexplained.

```yaml
spec_version: 1
rules:
  - name: shimei_moji
    columns: [shimei]
    condition: {type: moji, char_map: moji_map.csv}      # CSV from,to; or source: package
    reason: 外字を MJ 文字に同定したため
    owner: 文字同定チーム
  - name: zokugara
    columns: [zokugara_code]
    condition: {type: code_table, table: ../code_tables/zokugara.csv}
    reason: 旧コード → 標準コード
    owner: 移行チーム
  - name: zokugara_chain
    columns: [zokugara_code]
    condition: {type: code_chain, table: ../code_tables/zokugara.csv, separator: の}   # 子の妻 → 20
    reason: 名称の連結 → 最初の名称のコード (続柄1)
    owner: 移行チーム
  - name: seinengappi
    columns: [birth_date]
    condition: {type: wareki, format: era2_yymmdd}       # left 和暦, right ISO
    reason: 和暦 → 西暦
    owner: 移行チーム
  - {name: kana, columns: [shimei_kana], condition: {type: normalize, trim: true, width: true},
     reason: 全角半角の違い, owner: 移行チーム}
  - {name: zeigaku, columns: [zeigaku], condition: {type: tolerance, abs: 1}, reason: 端数, owner: 税務}
  - {name: rireki_no, columns: [rireki_no], condition: {type: integer}, reason: 数字の表記, owner: 移行チーム}
```
Paths are relative to the rules file. The conditions named after a mapping op (`integer`, `kana_fullwidth`,
`trimmed`, `text`, `zero_pad`, `digits`, `trim: true` of `code_table`/`code_chain`, `wareki`) read the legacy
side with that op's own expressions (mappings.ops, mappings.wareki), so a rule generated from a mapping
explains exactly what the op did and nothing more.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Callable, Literal, Union

import polars as pl
from pydantic import Field

from ikou.errors import ConfigError
from ikou.spec import StrictModel, load_spec, spec_version_field


class MojiCondition(StrictModel):
    """Equal after 文字同定/縮退: both sides mapped char → char, then compared."""
    type: Literal["moji"]
    char_map: str | None = None          # CSV with columns from,to
    source: Literal["csv", "package"] = "csv"
    # columns whose mapping line trims (`strip: true`): their legacy side is read as the text op reads it
    # (mappings.ops.read_text) before the map, so a padded name holding a 外字 is the op's trim plus the
    # replacement, not a difference neither rule explains alone
    trim_columns: list[str] = Field(default_factory=list)


class CodeTableCondition(StrictModel):
    """Left (legacy code) maps to right (standard code) through a CSV `source_code,code` (other column
    names by `columns: [legacy, new]`, e.g. a key crosswalk `legacy_setai_no,setai_no`)."""
    type: Literal["code_table"]
    table: str
    columns: tuple[str, str] = ("source_code", "code")
    # left read as a code op reads it (mappings.ops.read_code: trimmed, blank → null) before the lookup
    trim: bool = False


class CodeChainCondition(StrictModel):
    """Left is a chain of names joined by `separator` (続柄 子の妻), right the code of its first name: every
    name of the chain is in the CSV (`columns: [name, code]`) and the first one's code equals right."""
    type: Literal["code_chain"]
    table: str
    separator: str = Field(min_length=1)
    columns: tuple[str, str] = ("name", "code")
    trim: bool = False   # left read as the code_chain op reads it (trimmed, blank → null) first


class WarekiCondition(StrictModel):
    """Left 和暦 text equals right ISO date after mappings.wareki conversion."""
    type: Literal["wareki"]
    format: str
    eras: dict[str, str] | None = None   # the mapping line's own era codes (wareki_date `eras:`)


class NormalizeCondition(StrictModel):
    """Equal after trimming / width folding (jaconv: 全角英数→半角, 半角カナ→全角) / case folding."""
    type: Literal["normalize"]
    trim: bool = True
    width: bool = True
    case: bool = False


class IntegerCondition(StrictModel):
    """The same integer: left read as the integer op reads it (mappings.ops.read_integer: trimmed, ASCII
    digits with an optional sign, so ' 7229000', '094200', '+99200') equals right read the same way;
    a blank left explains a null right. What the op cannot read (full-width digits, '1,000') is never
    explained, and exact integers, not floats, are compared."""
    type: Literal["integer"]


class TrimmedCondition(StrictModel):
    """Left read as a code op reads it (mappings.ops.read_code: surrounding whitespace trimmed, blank →
    null) equals right: a standard code the op only trimmed (" 1" → "1")."""
    type: Literal["trimmed"]


class TextCondition(StrictModel):
    """Left read as the text op reads it (mappings.ops.read_text: half- and full-width spaces around it
    trimmed when `trim`, a value of spaces only → null) equals right: padding and blank fields the op
    dropped on purpose."""
    type: Literal["text"]
    trim: bool = False


class KanaCondition(StrictModel):
    """Left converted as the kana_fullwidth op converts it (mappings.ops.kana_fullwidth_expr: half-width
    kana → full width, voiced marks composed, `trim` as the line's `strip`) equals right. A left holding a
    private-use (外字) character is never explained: the op passes it through, but outside the 文字同定
    columns validation holds it (schema.private_use), so a target showing it is a defect, not the op's doing."""
    type: Literal["kana_fullwidth"]
    trim: bool = False


class ZeroPadCondition(StrictModel):
    """Left read as the zero_pad op reads it (mappings.ops.zero_pad_expr: trimmed, digits padded with leading zeros
    to `width`) equals right: the zeros a numeric legacy column lost, put back."""
    type: Literal["zero_pad"]
    width: int = Field(ge=1, le=30)


class DigitsCondition(StrictModel):
    """Left read as the digits op reads it (mappings.ops.digits_expr: trimmed, NFKC, blanks and hyphens dropped)
    equals right: 999-0006 → 9990006, ９９９０００６ → 9990006, and nothing the op did not do."""
    type: Literal["digits"]


class ToleranceCondition(StrictModel):
    """Numbers within abs + rel × |right|."""
    type: Literal["tolerance"]
    abs: float = 0.0
    rel: float = 0.0


Condition = Annotated[Union[MojiCondition, CodeTableCondition, CodeChainCondition, WarekiCondition,
                            NormalizeCondition, ToleranceCondition, IntegerCondition, TrimmedCondition,
                            KanaCondition, TextCondition, ZeroPadCondition, DigitsCondition],
                      Field(discriminator="type")]


class Rule(StrictModel):
    name: str
    columns: list[str] = Field(min_length=1)
    condition: Condition
    reason: str
    owner: str


class RulesFile(StrictModel):
    spec_version: Literal[1] = spec_version_field("version")
    rules: list[Rule]


# --- moji adapter -----------------------------------------------------------------------------

def moji_char_map_from_csv(path: Path) -> dict[str, str]:
    df = pl.read_csv(path, infer_schema=False)
    if not {"from", "to"} <= set(df.columns):
        raise ConfigError(f"{path}: a moji char map needs columns from,to")
    df = df.filter(pl.col("from").is_not_null()).with_columns(pl.col("to").fill_null(""))
    return dict(zip(df["from"].to_list(), df["to"].to_list()))


def moji_package_transform() -> Callable[[pl.Expr], pl.Expr]:
    """Adapter to the moji package (written separately): the one place to point at its API.

    Accepts, in order: `moji.shrink_expr(expr) -> expr`, `moji.shrink_map() -> {from: to}` or a
    frame with from/to columns, `moji.shrink_text(str) -> str` (applied per distinct value).
    """
    try:
        from ikou import moji
    except ImportError as exc:  # pragma: no cover - moji is part of the repo
        raise ConfigError("moji rule with source: package, but the moji package is absent") from exc
    if hasattr(moji, "shrink_expr"):
        return moji.shrink_expr
    if hasattr(moji, "shrink_map"):
        m = moji.shrink_map()
        if isinstance(m, pl.DataFrame):
            m = dict(zip(m["from"].to_list(), m["to"].to_list()))
        return _replace_chars(m)
    if hasattr(moji, "shrink_text"):
        return _per_distinct(moji.shrink_text)
    raise ConfigError("moji package offers none of shrink_expr / shrink_map / shrink_text yet; "
                      "use condition.char_map (CSV from,to) meanwhile")


def _per_distinct(fn: Callable[[str], str]) -> Callable[[pl.Expr], pl.Expr]:
    """Apply a str → str function once per distinct value of the column, never per row."""
    def apply(s: pl.Series) -> pl.Series:
        u = s.drop_nulls().unique()
        return s.replace_strict(u, [fn(v) for v in u.to_list()], default=None,
                                return_dtype=pl.String)
    return lambda e: e.map_batches(apply, return_dtype=pl.String)


def _replace_chars(mapping: dict[str, str]) -> Callable[[pl.Expr], pl.Expr]:
    if not mapping:
        return lambda e: e
    items = sorted(mapping.items(), key=lambda kv: -len(kv[0]))  # longest first, like jaconv
    frm = [k for k, _ in items]
    to = [v for _, v in items]
    return lambda e: e.str.replace_many(frm, to, leftmost=True)


# --- width folding with jaconv semantics (tables built once from jaconv, applied columnar) -----

@functools.cache
def _width_table() -> tuple[list[str], list[str]]:
    import jaconv
    frm: list[str] = []
    to: list[str] = []
    # 全角 ASCII and 全角スペース → 半角 (jaconv.z2h, ascii/digit)
    for cp in [0x3000, *range(0xFF01, 0xFF5F)]:
        ch = chr(cp)
        h = jaconv.z2h(ch, kana=False, ascii=True, digit=True)
        if h != ch:
            frm.append(ch)
            to.append(h)
    # 半角カナ → 全角 (jaconv.h2z), two-char voiced forms first
    singles = [chr(cp) for cp in range(0xFF61, 0xFFA0)]
    pairs = [a + b for a in singles for b in ("ﾞ", "ﾟ")]
    for s in pairs:
        z = jaconv.h2z(s, kana=True, ascii=False, digit=False)
        if len(z) == 1:
            frm.append(s)
            to.append(z)
    for s in singles:
        z = jaconv.h2z(s, kana=True, ascii=False, digit=False)
        if z != s:
            frm.append(s)
            to.append(z)
    return frm, to


def normalize_expr(e: pl.Expr, *, trim: bool = True, width: bool = True,
                   case: bool = False) -> pl.Expr:
    if width:
        frm, to = _width_table()
        e = e.str.replace_many(frm, to, leftmost=True)
    if trim:
        e = e.str.strip_chars(" \t\u3000")
    if case:
        e = e.str.to_lowercase()
    return e


# --- rule set ---------------------------------------------------------------------------------

def _read_code() -> Callable[[pl.Expr], pl.Expr]:
    """mappings.ops.read_code, imported when a rule needs it: one definition of how a code is trimmed."""
    from ikou.mappings.ops import read_code
    return read_code


class RuleSet:
    """Compiled rules: `explain(cells)` fills the `rule` column of the long difference frame."""

    def __init__(self, spec: RulesFile, base_dir: Path):
        self.spec = spec
        self.base_dir = base_dir
        self._conds = [self._compile(r) for r in spec.rules]

    def _path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.base_dir / p

    def _pairs(self, table: str, columns: tuple[str, str]) -> tuple[list, list]:
        """The two columns of a code table CSV (legacy → new); the legacy values must be unique."""
        path = self._path(table)
        df = pl.read_csv(path, infer_schema=False)
        src, dst = columns
        if not {src, dst} <= set(df.columns):
            raise ConfigError(f"{path}: a code table needs columns {src},{dst}")
        if df[src].is_duplicated().any():
            raise ConfigError(f"{path}: {src} values are duplicated")
        return df[src].to_list(), df[dst].to_list()

    def _compile(self, rule: Rule) -> Callable[[pl.Expr, pl.Expr], pl.Expr]:
        c = rule.condition
        if isinstance(c, MojiCondition):
            if c.source == "package":
                f = moji_package_transform()
            else:
                if not c.char_map:
                    raise ConfigError(f"rule {rule.name}: moji needs char_map or source: package")
                f = _replace_chars(moji_char_map_from_csv(self._path(c.char_map)))
            if not c.trim_columns:
                return lambda l, r: f(l).eq_missing(f(r))
            from ikou.mappings.ops import read_text  # lazy: the text op's own reading
            trimmed = list(c.trim_columns)
            # `explain` evaluates conditions on (column, left, right) triples: the column decides the reading
            return lambda l, r: f(pl.when(pl.col("column").is_in(trimmed)).then(read_text(l, strip=True))
                                  .otherwise(l)).eq_missing(f(r))
        if isinstance(c, CodeTableCondition):
            old, new = self._pairs(c.table, c.columns)
            if not c.trim:
                return lambda l, r: l.replace_strict(old, new, default=None,
                                                     return_dtype=pl.String).eq_missing(r) & \
                    l.is_in(old)
            read = _read_code()

            def code(l: pl.Expr, r: pl.Expr) -> pl.Expr:
                t = read(l)   # blank → null: explains a null right, as the op loaded it
                return pl.when(t.is_null()).then(r.is_null()).otherwise(
                    t.replace_strict(old, new, default=None, return_dtype=pl.String).eq_missing(r) & t.is_in(old))
            return code
        if isinstance(c, CodeChainCondition):
            names, codes = self._pairs(c.table, c.columns)
            sep = c.separator
            read = _read_code() if c.trim else None

            def chain(l: pl.Expr, r: pl.Expr) -> pl.Expr:
                if read is not None:
                    t = read(l)
                    return pl.when(t.is_null()).then(r.is_null()).otherwise(chain_of(t, r))
                return chain_of(l, r)

            def chain_of(l: pl.Expr, r: pl.Expr) -> pl.Expr:
                parts = l.str.split(sep)
                first = parts.list.first().replace_strict(names, codes, default=None, return_dtype=pl.String)
                return l.is_not_null() & parts.list.eval(pl.element().is_in(names)).list.all() & first.eq_missing(r)
            return chain
        if isinstance(c, WarekiCondition):
            from ikou.mappings.wareki import wareki_to_iso  # lazy: owned by the mappings package
            fmt, eras = c.format, c.eras
            wareki_to_iso(pl.lit("x"), fmt, eras)  # validates the format name and the eras early (ConfigError)
            return lambda l, r: wareki_to_iso(l, fmt, eras).iso.eq_missing(r)
        if isinstance(c, IntegerCondition):
            from ikou.mappings.ops import read_code, read_integer  # lazy: the integer op's own reading

            def same_integer(l: pl.Expr, r: pl.Expr) -> pl.Expr:
                li = read_integer(l)
                return pl.when(read_code(l).is_null()).then(r.is_null()).otherwise(
                    li.is_not_null() & (li == read_integer(r)))
            return same_integer
        if isinstance(c, TrimmedCondition):
            read = _read_code()
            return lambda l, r: read(l).eq_missing(r)
        if isinstance(c, TextCondition):
            from ikou.mappings.ops import read_text  # lazy: the text op's own reading
            trim = c.trim
            return lambda l, r: read_text(l, strip=trim).eq_missing(r)
        if isinstance(c, KanaCondition):
            from ikou.mappings.ops import kana_fullwidth_expr  # lazy: the op's own conversion
            from ikou.validators.kinds import PRIVATE_USE  # a 外字 the op passed through: held, never explained
            trim = c.trim
            return lambda l, r: kana_fullwidth_expr(l, strip=trim).eq_missing(r) & ~l.str.contains(PRIVATE_USE)
        if isinstance(c, ZeroPadCondition):
            from ikou.mappings.ops import zero_pad_expr  # lazy: the op's own reading
            width = c.width
            return lambda l, r: zero_pad_expr(l, width).eq_missing(r)
        if isinstance(c, DigitsCondition):
            from ikou.mappings.ops import digits_expr  # lazy: the op's own reading
            return lambda l, r: digits_expr(l).eq_missing(r)
        if isinstance(c, NormalizeCondition):
            kw = dict(trim=c.trim, width=c.width, case=c.case)
            return lambda l, r: normalize_expr(l, **kw).eq_missing(normalize_expr(r, **kw))
        if isinstance(c, ToleranceCondition):
            from ikou.reports.diff import equal_expr
            tol = (c.abs, c.rel)
            return lambda l, r: equal_expr(l, r, kind="numeric", tolerance=tol)
        raise ConfigError(f"rule {rule.name}: unknown condition")  # pragma: no cover

    def explain(self, cells: pl.DataFrame) -> pl.DataFrame:
        """Fill `rule` for differing cells. Conditions run once per distinct (column, left, right)
        triple and are joined back: a date or a kana spelling differs the same way on many rows."""
        if cells.is_empty():
            return cells
        l, r = pl.col("left"), pl.col("right")
        expr = pl.lit(None, dtype=pl.String)
        # build when/then chain backwards so the first rule in file order wins
        for rule, cond in reversed(list(zip(self.spec.rules, self._conds))):
            hit = pl.col("column").is_in(rule.columns) & cond(l, r).fill_null(False)
            expr = pl.when(hit).then(pl.lit(rule.name)).otherwise(expr)
        triples = cells.select("column", "left", "right").unique().with_columns(expr.alias("__rule"))
        out = cells.join(triples, on=["column", "left", "right"], how="left", nulls_equal=True, maintain_order="left")
        return out.with_columns(pl.coalesce(pl.col("rule"), pl.col("__rule")).alias("rule")).drop("__rule")

    def metadata(self) -> list[dict]:
        return [{"name": r.name, "columns": list(r.columns), "reason": r.reason,
                 "owner": r.owner, "condition": r.condition.type} for r in self.spec.rules]


def load_rules(path: Path | str) -> RuleSet:
    path = Path(path)
    spec = load_spec(path, RulesFile)
    names = [r.name for r in spec.rules]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{path}: rule name(s) {dup} appear more than once")
    return RuleSet(spec, path.parent)
