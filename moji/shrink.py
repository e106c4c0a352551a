"""縮退: MJ glyphs → JIS X 0213 / JIS X 0208 characters for consumers that hold only those.

The MJ縮退マップ gives, per MJ glyph, candidates in five categories. A policy (YAML, versioned)
orders the categories; the first category with a candidate inside the target set decides. Inside
it the best candidates are those with the lowest (ホップ数, 順位); if they name more than one
character the result is `ambiguous` and the text is left as it was — never guessed.

Two presets (`ShrinkPolicy.preset(name)`, or any YAML file):
- `seiji` (default, 正字化): 法務省戸籍法関連通達・通知 first (戸籍の親字・正字 relations that 住民記録
  practice follows), then JIS包摂規準・UCS統合規則, 法務省告示582号別表第四, 辞書類等による関連字,
  読み・字形による類推; a character the target can hold is still replaced when a 正字 is named for it
  (齋 → 斎, which JIS X 0208 holds as 1-67-23). 民一2842号 `別字` relations are excluded: they link
  distinct characters (傅 → 傳), which would change a name.
- `preserve`: JIS包摂規準・UCS統合規則 first and keep every character the target holds (齋 stays 齋;
  﨑 stays 﨑 for JIS X 0213 and becomes 崎 for JIS X 0208).

Per-character statuses: kept, shrunk, ambiguous, unmapped (MJ glyph, nothing in the target),
unresolved (not identified), passthrough (outside MJ's scope). Row status is the worst of them:
unresolved > ambiguous > unmapped > ok.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import field_validator

from ikou.spec import StrictModel, load_spec, spec_version_field
from ikou.moji import source as src
from ikou.moji.dictionary import MojiDictionary
from ikou.moji.identify import CHAR_RE, identify_frame

DEFAULT_ORDER = [src.CAT_HOMU, src.CAT_JIS, src.CAT_582, src.CAT_JISHO, src.CAT_YOMI]
Target = Literal["jisx0208", "jisx0213"]


class ShrinkPolicy(StrictModel):
    """縮退 policy. YAML: `{spec_version: 1, categories: [...], keep_if_in_target: false, max_hop: null}`."""

    spec_version: Literal[1] = spec_version_field("version", default=1)
    categories: list[str] = DEFAULT_ORDER
    keep_if_in_target: bool = False
    max_hop: int | None = None  # ignore 戸籍 relations further than this many hops
    exclude_notes: list[str] = ["別字"]  # 付記 of 民一2842号 relations never used

    @field_validator("categories")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [c for c in v if c not in src.CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {list(src.CATEGORIES)}")
        if len(set(v)) != len(v):
            raise ValueError("a category is listed twice")
        return v

    @classmethod
    def load(cls, path: Path) -> "ShrinkPolicy":
        return load_spec(path, cls)

    @classmethod
    def preset(cls, name: str) -> "ShrinkPolicy":
        if name == "seiji":
            return cls()
        if name == "preserve":
            return cls(categories=[src.CAT_JIS, src.CAT_HOMU, src.CAT_582, src.CAT_JISHO, src.CAT_YOMI],
                       keep_if_in_target=True)
        raise ValueError(f"unknown shrink preset {name!r} (seiji, preserve)")


def target_set(dictionary: MojiDictionary, target: Target) -> pl.Series:
    j = dictionary.jis
    if target == "jisx0208":
        j = j.filter(pl.col("in_x0208"))
    elif target != "jisx0213":
        raise ValueError(f"unknown target {target!r}")
    return j["char"]


def _evidence_expr() -> pl.Expr:
    detail = pl.concat_str([
        pl.col("kind").fill_null(""),
        pl.when(pl.col("note").is_not_null()).then(pl.format(",付記={}", "note")).otherwise(pl.lit("")),
        pl.when(pl.col("hop").is_not_null()).then(pl.format(",ホップ数={}", "hop")).otherwise(pl.lit("")),
        pl.when(pl.col("rank").is_not_null()).then(pl.format(",順位={}", "rank")).otherwise(pl.lit("")),
    ]).str.strip_chars(",")
    return (pl.when(detail == "").then(pl.col("category"))
            .otherwise(pl.format("{}[{}]", "category", detail)))


def shrink_glyphs(mj_names: pl.Series, dictionary: MojiDictionary, target: Target,
                  policy: ShrinkPolicy | None = None) -> pl.DataFrame:
    """Per MJ glyph: mj_name, status (shrunk/ambiguous/unmapped), shrunk (char), category, evidence, options."""
    policy = policy or ShrinkPolicy()
    tset = target_set(dictionary, target)
    order = {c: i for i, c in enumerate(policy.categories)}
    names = pl.DataFrame({"mj_name": mj_names.cast(pl.String)}).unique()
    s = dictionary.shrink.join(names, on="mj_name").filter(
        pl.col("category").is_in(policy.categories) & pl.col("ucs").is_in(tset.implode()))
    if policy.exclude_notes:
        s = s.filter(pl.col("note").is_null() | ~pl.col("note").is_in(policy.exclude_notes))
    if policy.max_hop is not None:
        s = s.filter(pl.col("hop").is_null() | (pl.col("hop") <= policy.max_hop))
    s = s.with_columns(pl.col("category").replace_strict(order, return_dtype=pl.Int32).alias("_cat"),
                       _evidence_expr().alias("evidence"))
    # the deciding category, then its best (hop, rank) tier
    s = s.filter(pl.col("_cat") == pl.col("_cat").min().over("mj_name"))
    s = s.with_columns(pl.col("hop").fill_null(0).alias("_hop"), pl.col("rank").fill_null(0).alias("_rk"))
    s = s.filter(pl.col("_hop") == pl.col("_hop").min().over("mj_name"))
    s = s.filter(pl.col("_rk") == pl.col("_rk").min().over("mj_name"))
    agg = (s.sort("mj_name", "pos").group_by("mj_name")
           .agg(pl.col("ucs").unique(maintain_order=True).alias("options"),
                pl.col("category").first(),
                pl.col("evidence").unique(maintain_order=True).str.join("; ").alias("evidence")))
    out = names.join(agg, on="mj_name", how="left").with_columns(
        pl.when(pl.col("options").is_null()).then(pl.lit("unmapped"))
        .when(pl.col("options").list.len() == 1).then(pl.lit("shrunk"))
        .otherwise(pl.lit("ambiguous")).alias("status"),
        pl.when(pl.col("options").list.len() == 1).then(pl.col("options").list.first()).alias("shrunk"),
        pl.col("options").list.join("|").alias("options"),
    )
    return out.select("mj_name", "status", "shrunk", "category", "evidence", "options")


# CP932's own rows beyond JIS X 0208: NEC row 13, NEC-selected and IBM extensions (not in a JIS target)
_CP932_EXTENSIONS = ((0x8740, 0x879C), (0xED40, 0xEEFC), (0xFA40, 0xFC4B))


def _codec_holds(ch: str, target: Target) -> bool:
    """Whether a Shift_JIS file of `target` holds the passthrough character `ch` though the JIS table spells it
    otherwise: ASCII, half-width kana (JIS X 0201), line ends, and the CP932 forms of JIS cells (～ U+FF5E for
    〜, － for −, ￢ for ¬), which a CP932 export decodes to. Called once per distinct character."""
    codec = "shift_jis" if target == "jisx0208" else "shift_jis_2004"
    try:
        ch.encode(codec)
        return True
    except UnicodeEncodeError:
        pass
    try:
        b = ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    return len(b) == 1 or not any(lo <= int.from_bytes(b, "big") <= hi for lo, hi in _CP932_EXTENSIONS)


def shrink_chars(chars: pl.DataFrame, dictionary: MojiDictionary, target: Target,
                 policy: ShrinkPolicy | None = None) -> pl.DataFrame:
    """Identified characters (char, status, mj_name — e.g. MojiResult.chars) → char-level 縮退."""
    policy = policy or ShrinkPolicy()
    tset = target_set(dictionary, target)
    c = chars.select("char", pl.col("status").alias("id_status"), "mj_name", "output").unique("char")
    g = shrink_glyphs(c["mj_name"].drop_nulls(), dictionary, target, policy)
    c = c.join(g, on="mj_name", how="left")
    in_target = pl.col("output").is_in(tset.implode())
    keep = in_target & (pl.lit(policy.keep_if_in_target) | (pl.col("status") != "shrunk"))
    c = c.with_columns(
        # an invalid character (U+200B, U+FFFD …) has no glyph to shrink either: as unresolved
        pl.when(pl.col("id_status").is_in(["unresolved", "invalid"])).then(pl.lit("unresolved"))
        # text outside MJ's scope the target cannot hold either (か゚, ① for JIS X 0208): unmapped, not "ok"
        .when((pl.col("id_status") == "passthrough") & ~in_target
              & ~pl.col("char").map_elements(lambda ch: _codec_holds(ch, target), return_dtype=pl.Boolean))
        .then(pl.lit("unmapped"))
        .when(pl.col("id_status") == "passthrough").then(pl.lit("passthrough"))
        .when(keep).then(pl.lit("kept"))
        .when(pl.col("status") == "shrunk").then(
            pl.when(pl.col("shrunk") == pl.col("output")).then(pl.lit("kept")).otherwise(pl.lit("shrunk")))
        .otherwise(pl.col("status")).alias("shrink_status"),
    )
    return c.with_columns(
        pl.when(pl.col("shrink_status") == "shrunk").then(pl.col("shrunk")).otherwise(pl.col("output"))
        .alias("shrink_output"))


def shrink_text(texts: pl.Series | list[str], *, target: Target, dictionary: MojiDictionary,
                policy: ShrinkPolicy | None = None, gaiji: pl.DataFrame | None = None) -> pl.DataFrame:
    """Texts → input, output, status (ok/unmapped/ambiguous/unresolved), evidence per changed character.

    Evidence is '髙>高 MJ028902 JIS包摂規準・UCS統合規則' per character, joined by ' / '; ambiguous and
    unmapped characters are listed with their options.
    """
    df = pl.DataFrame({"input": pl.Series(texts, dtype=pl.String)}).with_row_index("_row_id")
    res = identify_frame(df.with_columns(pl.col("input").alias("ident")), ["ident"],
                         dictionary=dictionary, gaiji=gaiji, key_columns=["_row_id"])
    ident = res.frame  # 外字 already replaced by their MJ glyph
    sc = shrink_chars(res.chars, dictionary, target, policy)
    # characters of the identified text: their own output (identity for mj/passthrough)
    per_out = sc.select(pl.col("output").alias("char"), "shrink_status", "shrink_output", "mj_name",
                        "evidence", "options").unique("char", keep="first")
    per_out = per_out.with_columns(
        pl.when(pl.col("shrink_status") == "shrunk")
        .then(pl.format("{}>{} {} {}", "char", "shrink_output", "mj_name", "evidence"))
        .when(pl.col("shrink_status").is_in(["ambiguous"]))
        .then(pl.format("{}? {} {} options={}", "char", "mj_name", "evidence", "options"))
        .when(pl.col("shrink_status") == "unmapped").then(pl.format("{}! {} unmapped", "char", "mj_name"))
        .when(pl.col("shrink_status") == "unresolved").then(pl.format("{}? unresolved", "char"))
        .alias("ev"),
        pl.col("shrink_status").replace_strict(
            {"unresolved": 3, "ambiguous": 2, "unmapped": 1}, default=0, return_dtype=pl.Int8).alias("sev"))
    exploded = (ident.select("_row_id", pl.col("ident").str.extract_all(CHAR_RE).alias("char"))
                .explode("char").join(per_out, on="char", how="left", maintain_order="left"))
    agg = exploded.group_by("_row_id", maintain_order=True).agg(
        pl.col("shrink_output").fill_null(pl.col("char")).drop_nulls().str.join("").alias("output"),
        pl.col("ev").drop_nulls().unique(maintain_order=True).str.join(" / ").alias("evidence"),
        pl.col("sev").max().fill_null(0).alias("sev"))
    out = df.join(agg, on="_row_id", how="left", maintain_order="left").with_columns(
        pl.col("output").fill_null(""), pl.col("evidence").fill_null(""),
        pl.col("sev").fill_null(0).replace_strict({0: "ok", 1: "unmapped", 2: "ambiguous", 3: "unresolved"},
                                                   return_dtype=pl.String).alias("status"))
    return out.select("input", "output", "status", "evidence")
