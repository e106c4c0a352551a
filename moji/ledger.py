"""同定台帳: the per-団体 review ledger of unresolved characters and the reviewers' decisions.

A ledger is a folder (one per 団体, e.g. `runs/<団体コード>/moji_ledger/`) with plain files a
reviewer can open:

- `ledger.csv`     one row per unresolved character and source, as of each source's latest run:
                   char, codepoints, column(s), occurrences, record_keys (row keys, never names),
                   candidates (ranked MJ glyphs with the evidence), glyph_candidates (MJ glyphs
                   ranked by picture, 'MJnnnnnn(score) …': a 外字 as the source's 外字 font draws it,
                   an Adobe-Japan1 sequence as Noto Serif CJK draws it; moji.glyphs), glyph_font
                   (the font that drew it), decided_mj (the active decision, if any), source.
                   A run of one source replaces that source's rows only.
- `decisions.csv`  append-only history: codepoints, mj, decided_by, decided_at, version, note, source.
                   The active decision of a character (and source) is its highest version; an empty `mj`
                   withdraws it. `source` is set for a 外字 (private-use) code only: the vendors' 外字
                   are each their own, so its decision applies to that source (empty: 団体-wide). The next `identify_frame(..., ledger=…)` applies active decisions
                   (outcome `decided`).
- `hints.csv`      optional: codepoints, reading, radical, inner_strokes — what a reviewer knows of a
                   外字 (reading from the paper register, 部首/内画数) to rank candidates for it.
- `gaiji.csv`      the 外字 the 団体's 外字 table mapped (codepoints, mj, source), as of each source's
                   latest run: a decision for one of them would never apply (`check_decision`).
- `ledger.json`    identity: ledger_id (random, kept by every save and snapshot) and dantai (the
                   団体コード, from the folder `runs/<団体コード>/moji_ledger`). 外字 code points are
                   each 団体's own, so a review workbook carries both and is applied to its own ledger only.

Usage::

    led = Ledger.load(dir)                 # empty when the folder is new
    res = identify_frame(df, cols, dictionary=d, ledger=led)
    led.update(res, dictionary=d); led.save(dir)
    led.decide("\\ue001", "MJ028902", decided_by="reviewer-1", note="戸籍謄本で確認")
    led.diff(Ledger.load(dir_of_previous_release))   # what changed between two versions
"""
from __future__ import annotations

import datetime as dt
import json
import os
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ikou.checkdigit import is_valid_dantai_code
from ikou.errors import ConfigError
from ikou.moji.dictionary import MojiDictionary
from ikou.moji.identify import CHAR_RE, HALF_KANA, INVALID, MojiResult, classify_chars, codepoints, parse_codepoints
from ikou.moji import source as src

DECISIONS_SCHEMA = {"codepoints": pl.String, "mj": pl.String, "decided_by": pl.String,
                    "decided_at": pl.String, "version": pl.Int64, "note": pl.String, "source": pl.String}
ENTRIES_SCHEMA = {"char": pl.String, "codepoints": pl.String, "columns": pl.String, "occurrences": pl.Int64,
                  "record_keys": pl.String, "candidates": pl.String, "glyph_candidates": pl.String,
                  "glyph_font": pl.String, "decided_mj": pl.String, "source": pl.String}
HINTS_SCHEMA = {"codepoints": pl.String, "reading": pl.String, "radical": pl.Int32, "inner_strokes": pl.Int32}
GAIJI_SCHEMA = {"codepoints": pl.String, "mj": pl.String, "source": pl.String}
IDENTITY = "ledger.json"
FOLDER = "moji_ledger"   # runs/<団体コード>/moji_ledger
MAX_KEYS = 100
MAX_CANDIDATES = 10


def _read(path: Path, schema: dict) -> pl.DataFrame:
    if not path.exists():
        return pl.DataFrame(schema=schema)
    try:
        f = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise ConfigError(f"{path}: unreadable: {exc}") from exc
    # ledgers written before per-source rows and before glyph candidates lack these columns
    # (decisions written before per-source 外字 decisions lack `source`: each is 団体-wide, as then)
    missing = set(schema) - set(f.columns) - {"char", "source", "glyph_candidates", "glyph_font"}
    if missing:
        raise ConfigError(f"{path}: missing columns {sorted(missing)}")
    try:
        return f.select([pl.col(k).cast(v) if k in f.columns else pl.lit(None, v).alias(k)
                         for k, v in schema.items()])
    except pl.exceptions.PolarsError as exc:
        raise ConfigError(f"{path}: bad value: {exc}") from exc


class LedgerIdentityError(ConfigError):
    ja = "同定台帳の団体がフォルダの団体と一致しません (他団体の台帳の写しは使えません)"


class UndecidableError(ConfigError):
    ja = "文字同定がこの文字の判断を参照することはありません (判断を記録していません)"


class NotInLedgerError(ConfigError):
    ja = "この文字は同定台帳にありません (データより先に判断するには --ahead を指定してください)"


class NothingToWithdrawError(ConfigError):
    ja = "取り下げる判断がありません"


class DecisionSourceError(ConfigError):
    ja = "外字の判断はソースごとです (--source でソースを指定してください)"


def _is_pua(char: str) -> bool:
    cp = ord(char[0])
    return 0xE000 <= cp <= 0xF8FF or 0xF0000 <= cp <= 0x10FFFD


def _lone_mark(char: str) -> bool:
    """A variation selector or combining mark on its own: no glyph, only part of the character before it."""
    cp = ord(char)
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF or unicodedata.category(char).startswith("M")


def folder_dantai(directory: Path) -> str | None:
    """The 団体コード a ledger folder belongs to (`runs/<団体コード>/moji_ledger`), None elsewhere (a
    test folder, a run's snapshot `moji/ledger`, which keeps the live ledger's identity instead)."""
    d = Path(os.path.abspath(directory))
    return d.parent.name if d.name == FOLDER and is_valid_dantai_code(d.parent.name) else None


def _read_identity(directory: Path) -> dict:
    p = Path(directory) / IDENTITY
    if not p.exists():
        return {}
    try:
        ident = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{p}: unreadable: {exc}") from exc
    if not isinstance(ident, dict):
        raise ConfigError(f"{p}: not an object")
    return ident


@dataclass
class Ledger:
    decisions: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DECISIONS_SCHEMA))
    entries: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ENTRIES_SCHEMA))
    hints: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=HINTS_SCHEMA))
    gaiji: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=GAIJI_SCHEMA))
    ledger_id: str | None = None    # identity (ledger.json): assigned by the first save
    dantai: str | None = None       # 団体コード, when the folder or ledger.json tells it

    # -- files -------------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path) -> "Ledger":
        d = Path(directory)
        dec = _read(d / "decisions.csv", DECISIONS_SCHEMA)
        bad = dec.filter(pl.col("codepoints").is_null() | pl.col("version").is_null()
                         | (pl.col("mj").is_not_null() & ~pl.col("mj").str.contains(r"^MJ\d{6}$")))
        if bad.height:
            raise ConfigError(f"{d / 'decisions.csv'}: {bad.height} bad row(s), first {bad.row(0)}")
        dup = dec.filter(pl.struct("codepoints", "source", "version").is_duplicated())
        if dup.height:
            raise ConfigError(f"{d / 'decisions.csv'}: version {dup['version'][0]} of "
                              f"{dup['codepoints'][0]} recorded twice")
        ident = _read_identity(d)
        here, recorded = folder_dantai(d), ident.get("dantai")
        if here and recorded and here != recorded:
            # a copy of another 団体's ledger would apply its decisions to this 団体's 外字
            raise LedgerIdentityError(f"{d}: {IDENTITY} says 団体 {recorded} but the folder is 団体 {here}'s: "
                                      "a 同定台帳 copied from another 団体 is not used")
        return cls(decisions=dec, entries=_read(d / "ledger.csv", ENTRIES_SCHEMA).drop("char").pipe(_with_char)
                   .select(list(ENTRIES_SCHEMA)),
                   hints=_read(d / "hints.csv", HINTS_SCHEMA), gaiji=_read(d / "gaiji.csv", GAIJI_SCHEMA),
                   ledger_id=ident.get("ledger_id") or None, dantai=here or recorded or None)

    def save(self, directory: Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.decisions.sort("codepoints", "source", "version", nulls_last=False).write_csv(d / "decisions.csv")
        self.entries.write_csv(d / "ledger.csv")
        if self.hints.height:
            self.hints.write_csv(d / "hints.csv")
        if self.gaiji.height or (d / "gaiji.csv").exists():
            self.gaiji.write_csv(d / "gaiji.csv")
        self.save_identity(d)

    def save_identity(self, directory: Path) -> None:
        """Write ledger.json (assigning the id on first use), so a review workbook can name its ledger."""
        d = Path(directory)
        here = folder_dantai(d)
        if here and self.dantai and here != self.dantai:
            raise LedgerIdentityError(f"{d}: 団体 {self.dantai}'s 同定台帳 is not saved into 団体 {here}'s folder")
        self.ledger_id = self.ledger_id or uuid.uuid4().hex
        self.dantai = here or self.dantai
        text = json.dumps({"ledger_id": self.ledger_id, "dantai": self.dantai}, ensure_ascii=False) + "\n"
        p = d / IDENTITY
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            d.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")

    # -- decisions ---------------------------------------------------------------------------
    def active(self) -> pl.DataFrame:
        """Active decision per character and source (null: 団体-wide): codepoints, source, mj (null =
        withdrawn), version, decided_by …"""
        return (self.decisions.sort("version").group_by("codepoints", "source").last()
                .sort("codepoints", "source", nulls_last=False))

    def decisions_frame(self, source: str | None = None) -> pl.DataFrame:
        """char, mj of the active, non-withdrawn decisions that apply to `source` (what identify_frame
        applies): the 団体-wide ones, and `source`'s own 外字 decisions, which win over a wide one. A 外字 code
        is each vendor's own (the same PUA cell holds different glyphs), so one source's decision never
        rewrites another's. Without `source` (a caller that does not know it: `ikou moji identify`), a 外字
        decision applies only when it is the code's one decision."""
        act = self.active().filter(pl.col("mj").is_not_null())
        if source is None:
            act = act.filter(pl.col("source").is_null() | (pl.len().over("codepoints") == 1))
        else:
            act = act.filter(pl.col("source").is_null() | pl.col("source").eq(pl.lit(source, pl.String)))
        act = act.sort(pl.col("source").is_null()).unique("codepoints", keep="first", maintain_order=True)
        return _with_char(act).select("char", "mj")

    def unresolved_sources(self, char: str) -> list[str]:
        """The sources whose latest run found `char` unresolved (named sources only)."""
        return (self.entries.filter(pl.col("codepoints") == codepoints(char))["source"]
                .drop_nulls().unique().sort().to_list())

    def decision_source(self, char: str, source: str | None = None, *, withdraw: bool = False) -> str | None:
        """The source a decision for `char` is recorded for: None (団体-wide) for a real character; for a
        private-use 外字 `source`, else the one source holding it unresolved, else (a decision that took effect
        leaves the code resolved everywhere, and a correction must replace it) the one source holding a
        decision for it. Refused when several do and `source` is not given: the decision would rewrite
        another vendor's 外字 of the same code, whose glyph may differ. Refused too is a 団体-wide decision
        for a code a source's own decision overrides: there it would never apply."""
        cps = codepoints(char)
        if not _is_pua(char):
            if source is not None:
                raise DecisionSourceError(
                    f"{cps} is not a 外字 (private-use) code: its decision is 団体-wide, give no --source",
                    ja=f"{cps} は外字 (私用領域) ではありません: 判断は団体全体に適用されます (--source は指定しないでください)")
            return None
        if source is not None:
            return source
        held = self.active().filter((pl.col("codepoints") == cps) & pl.col("mj").is_not_null())
        own = sorted(held["source"].drop_nulls().to_list())   # sources whose own decision overrides a wide one
        if withdraw:
            srcs = sorted(s if s is not None else "(団体全体)" for s in held["source"].to_list())
        else:
            srcs = self.unresolved_sources(char)
            if not srcs and not self.entries.filter(pl.col("codepoints") == cps).height:
                srcs = own   # unresolved nowhere: correct the decision that took effect
        if len(srcs) > 1:
            listed = ", ".join(srcs)
            raise DecisionSourceError(
                f"{cps} is a 外字 unresolved in (or decided for) several sources ({listed}): each vendor's 外字 "
                "table gives the same code its own glyph; give --source NAME for the source this decision is for",
                ja=f"{cps} は複数のソース ({listed}) にある外字です: ベンダーごとに字形が異なり得るため、"
                   "--source で判断の対象ソースを指定してください")
        if withdraw:
            return held["source"][0] if held.height else None
        if srcs:
            return srcs[0]
        if own:
            listed = ", ".join(own)
            raise DecisionSourceError(
                f"{cps}: a 団体-wide decision would not apply in {listed}, whose own decision for this 外字 "
                f"overrides it; give --source NAME to correct that source's decision",
                ja=f"{cps}: 団体全体の判断は {listed} には適用されません (そのソース自身の判断が優先されます)。"
                   "そのソースの判断を直すには --source で指定してください")
        return None

    def decide(self, char: str, mj: str | None, *, decided_by: str, note: str = "",
               decided_at: str | None = None, source: str | None = None) -> int:
        """Record a new version of the decision for `char` (mj=None withdraws it); returns the version.
        A 外字's decision is recorded for its source (`decision_source`)."""
        from ikou.privacy import check_free_text

        check_free_text(note, "the decision's note")
        cps = codepoints(char)
        source = self.decision_source(char, source, withdraw=mj is None)
        prev = self.decisions.filter((pl.col("codepoints") == cps)
                                     & pl.col("source").eq_missing(pl.lit(source, pl.String)))["version"].max()
        version = int(prev or 0) + 1
        row = pl.DataFrame([{"codepoints": cps, "mj": mj, "decided_by": decided_by,
                             "decided_at": decided_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                             "version": version, "note": note, "source": source}], schema=DECISIONS_SCHEMA)
        self.decisions = pl.concat([self.decisions, row])
        self._refresh_decided()
        return version

    def _refresh_decided(self) -> None:
        """entries.decided_mj from the decisions that apply to each entry's source (a few sources)."""
        parts = []
        for (s,), part in self.entries.group_by("source", maintain_order=True):
            act = self.decisions_frame(s).select(pl.col("char"), pl.col("mj").alias("_mj"))
            parts.append(part.join(act, on="char", how="left", maintain_order="left")
                         .with_columns(pl.col("_mj").alias("decided_mj")).drop("_mj"))
        if parts:
            self.entries = pl.concat(parts).select(list(ENTRIES_SCHEMA))

    def check_decision(self, char: str, mj: str | None, *, dictionary: MojiDictionary, ahead: bool = False,
                       source: str | None = None) -> str | None:
        """Refuse a decision 文字同定 would never consult (an exact MJ character, a 外字 the 団体's table
        maps, a character that is not text, a lone variation selector or combining mark, a half-width kana: made
        full width first), a withdrawal of nothing, a 外字 decision without `source` when several sources hold the
        code (`decision_source`), and — unless `ahead` — a decision for a character this ledger has never seen: it
        would be listed as a change yet change nothing. Returns the source the decision is for (None: 団体-wide)."""
        cps = codepoints(char)
        source = self.decision_source(char, source, withdraw=mj is None)
        act = self.active().filter((pl.col("codepoints") == cps)
                                   & pl.col("source").eq_missing(pl.lit(source, pl.String)))
        if mj is None:
            if not act.height or act["mj"][0] is None:
                raise NothingToWithdrawError(f"{cps}: no active decision to withdraw"
                                             + (f" for source {source}" if source else ""))
            return source   # withdrawing a decision that can never apply is allowed: it tidies the ledger
        if len(char) == 1 and _lone_mark(char):
            raise UndecidableError(
                f"{cps} is a lone variation selector or combining mark: it is part of the character before it, "
                "not a character of its own; decide the whole character (base + selector) instead",
                ja=f"{cps} は単独の異体字セレクタまたは結合文字です: 前の文字の一部であり、単独では判断できません"
                   " (基底文字と合わせた文字を判断してください)")
        if HALF_KANA[0] <= ord(char[0]) <= HALF_KANA[1]:
            raise UndecidableError(
                f"{cps} is a half-width kana: 文字同定 makes it full width before identifying it, a decision would "
                "never apply",
                ja=f"{cps} は半角カナです: 文字同定は同定の前に全角にするため、判断が適用されることはありません")
        here = self.entries.filter((pl.col("codepoints") == cps)
                                   & (pl.lit(source is None) | pl.col("source").eq(pl.lit(source, pl.String))))
        unresolved = here.height > 0
        # a 外字 one source's table maps may be unresolved in another's: there the decision applies
        mapped = self.gaiji if source is None else self.gaiji.filter(pl.col("source").eq(pl.lit(source, pl.String)))
        table = (pl.DataFrame(schema={"code": pl.String, "mj": pl.String}) if unresolved else
                 _with_char(mapped).select(pl.col("char").alias("code"), "mj").unique("code"))
        c = classify_chars([char], dictionary, gaiji=table).row(0, named=True)
        if c["status"] == "mj":
            raise UndecidableError(f"{cps} is {c['mj_name']} exactly: 文字同定 never consults a decision "
                                   "for an MJ character")
        if c["status"] == "gaiji":
            src_ = self.gaiji.filter(pl.col("codepoints") == cps)["source"].drop_nulls().unique().sort().to_list()
            raise UndecidableError(f"{cps} is mapped to {c['mj_name']} by the 団体's 外字 table"
                                   f"{' (' + ', '.join(src_) + ')' if src_ else ''}: a decision would never apply; "
                                   "correct the 外字 table instead")
        if c["status"] == INVALID:
            raise UndecidableError(f"{cps} is not text (a format, control or replacement character): 文字同定 "
                                   "holds its row, a decision would never apply")
        if not (unresolved or act.height or ahead):
            raise NotInLedgerError(f"{cps} is not in this 同定台帳 (no run has found it unresolved"
                                   + (f" in source {source}" if source else "") + "): to decide it "
                                   "ahead of the data, add --ahead")
        return source

    def diff(self, previous: "Ledger") -> pl.DataFrame:
        """Decisions that differ from `previous`: codepoints, mj_before, mj_after, versions, change."""
        a = previous.active().select("codepoints", "source", pl.col("mj").alias("mj_before"),
                                     pl.col("version").alias("version_before"))
        b = self.active().select("codepoints", "source", pl.col("mj").alias("mj_after"),
                                 pl.col("version").alias("version_after"), "decided_by", "note")
        j = a.join(b, on=["codepoints", "source"], how="full", coalesce=True, nulls_equal=True)
        j = j.filter(pl.col("version_before").is_null() | pl.col("version_after").is_null()
                     | (pl.col("version_before") != pl.col("version_after")))
        return j.with_columns(
            pl.when(pl.col("mj_before").is_null() & pl.col("mj_after").is_not_null()).then(pl.lit("added"))
            .when(pl.col("mj_after").is_null() & pl.col("mj_before").is_not_null()).then(pl.lit("withdrawn"))
            .when(pl.col("mj_before") != pl.col("mj_after")).then(pl.lit("changed"))
            .otherwise(pl.lit("reconfirmed")).alias("change")
        ).filter(~(pl.col("mj_before").is_null() & pl.col("mj_after").is_null())).sort("codepoints")

    def validate(self, dictionary: MojiDictionary) -> None:
        act = self.active().filter(pl.col("mj").is_not_null())
        unknown = act.filter(~dictionary.has_glyph(act["mj"]))
        if unknown.height:
            raise ConfigError(f"ledger decisions name MJ glyphs not in the dictionary: {unknown['mj'].to_list()[:5]}")

    # -- inventory ---------------------------------------------------------------------------
    def update(self, result: MojiResult, *, dictionary: MojiDictionary | None = None,
               source: str | None = None, glyph_candidates: pl.DataFrame | None = None) -> pl.DataFrame:
        """Replace `source`'s part of the inventory with this run's unresolved characters (counts, keys,
        candidates, and `glyph_candidates`: char, glyph_candidates, glyph_font from
        moji.glyphs.glyph_candidates); other sources' rows stay (another vendor's run must not erase them)."""
        chars = result.chars.filter(pl.col("status") == "unresolved")
        inv = (chars.group_by("char").agg(pl.col("codepoints").first(),
                                          pl.col("column").unique().sort().str.join(" ").alias("columns"),
                                          pl.col("occurrences").sum()))
        ur = result.unresolved_rows
        key_cols = [c for c in ur.columns if c not in ("column", "chars")]
        if ur.height and key_cols:
            keyed = (ur.select(pl.concat_str([pl.col(k).cast(pl.String) for k in key_cols], separator="/").alias("key"),
                               pl.col("chars").str.extract_all(CHAR_RE).alias("char"))
                     .explode("char").unique(maintain_order=True)
                     .group_by("char").agg(pl.col("key").head(MAX_KEYS).str.join(" ").alias("record_keys")))
            inv = inv.join(keyed, on="char", how="left")
        else:
            inv = inv.with_columns(pl.lit(None, pl.String).alias("record_keys"))
        cands = (candidates(inv["char"], dictionary, self.hints) if dictionary is not None
                 else pl.DataFrame(schema={"char": pl.String, "candidates": pl.String}))
        inv = inv.join(cands, on="char", how="left")
        gc = (glyph_candidates if glyph_candidates is not None
              else pl.DataFrame(schema={"char": pl.String, "glyph_candidates": pl.String, "glyph_font": pl.String}))
        inv = inv.join(gc.select("char", "glyph_candidates", "glyph_font"), on="char", how="left")
        act = self.decisions_frame(source).rename({"mj": "decided_mj"})
        inv = inv.join(act, on="char", how="left").with_columns(pl.lit(source, pl.String).alias("source"))
        kept = self.entries.filter(~pl.col("source").eq_missing(pl.lit(source, pl.String)))
        self.entries = pl.concat([kept, inv.select([pl.col(k).cast(v) for k, v in ENTRIES_SCHEMA.items()])]).sort(
            "occurrences", "codepoints", "source", descending=[True, False, False], nulls_last=True)
        # the 外字 the table mapped, so a decision for one of them is refused (it would never apply)
        mapped = (result.chars.filter(pl.col("status") == "gaiji").group_by("codepoints")
                  .agg(pl.col("mj_name").first().alias("mj"))
                  .with_columns(pl.lit(source, pl.String).alias("source")))
        self.gaiji = pl.concat([self.gaiji.filter(~pl.col("source").eq_missing(pl.lit(source, pl.String))),
                                mapped.select([pl.col(k).cast(v) for k, v in GAIJI_SCHEMA.items()])]).sort(
            "codepoints", "source", nulls_last=True)
        return self.entries


def _with_char(f: pl.DataFrame) -> pl.DataFrame:
    """Add `char` from `codepoints` (mapping the few distinct values)."""
    if not f.height:
        return f.with_columns(pl.lit(None, pl.String).alias("char"))
    return f.with_columns(pl.col("codepoints").map_elements(parse_codepoints, return_dtype=pl.String).alias("char"))


# Ranking of candidate evidence: lower is better.
_RANK = {"same_base": 0, src.CAT_JIS: 1, src.CAT_HOMU: 2, src.CAT_582: 3, src.CAT_JISHO: 4, src.CAT_YOMI: 5,
         "reading+rs": 6, "reading": 7, "rs": 8}


def candidates(chars: pl.Series, dictionary: MojiDictionary, hints: pl.DataFrame | None = None) -> pl.DataFrame:
    """Ranked MJ candidates per unresolved character, as 'MJnnnnnn(evidence) …' strings.

    Evidence: glyphs sharing the base code point (an unknown IVS of a known ideograph), glyphs
    related to that base in the 縮退マップ (by category), and for 外字 the reviewer's hints
    matched against readings (mji_reading) and 部首/内画数 (mji_rsindex).
    """
    c = pl.DataFrame({"char": chars.cast(pl.String)}).unique().with_columns(
        pl.col("char").str.slice(0, 1).alias("base"))
    g = dictionary.glyphs
    same = (c.join(g.select("mj_name", pl.col("corresponding_ucs").alias("base")), on="base")
            .vstack(c.join(g.select("mj_name", pl.col("ucs").alias("base")), on="base"))
            .with_columns(pl.lit("same_base").alias("evidence")))
    rel = (c.join(dictionary.shrink.select("mj_name", pl.col("ucs").alias("base"), pl.col("category").alias("evidence")),
                  on="base"))
    parts = [same.select("char", "mj_name", "evidence"), rel.select("char", "mj_name", "evidence")]
    if hints is not None and hints.height:
        h = _with_char(hints).join(c.select("char"), on="char")
        by_reading = h.filter(pl.col("reading").is_not_null()).join(
            dictionary.reading, on="reading").select("char", "mj_name", pl.lit("reading").alias("evidence"))
        by_rs = h.filter(pl.col("radical").is_not_null()).join(
            dictionary.rsindex, on=["radical", "inner_strokes"]).select("char", "mj_name", pl.lit("rs").alias("evidence"))
        both = by_reading.join(by_rs.select("char", "mj_name"), on=["char", "mj_name"]).with_columns(
            pl.lit("reading+rs").alias("evidence"))
        parts += [both, by_reading, by_rs]
    allc = pl.concat(parts).with_columns(
        pl.col("evidence").replace_strict(_RANK, default=99, return_dtype=pl.Int32).alias("_rank"))
    best = (allc.group_by("char", "mj_name").agg(pl.col("_rank").min(), pl.col("evidence").sort_by("_rank").first())
            .sort("char", "_rank", "mj_name")
            .group_by("char", maintain_order=True)
            .agg(pl.format("{}({})", "mj_name", "evidence").head(MAX_CANDIDATES).str.join(" ").alias("candidates")))
    return best
