"""Vendor C: the same population as vendors A and B, kept the way a normalized legacy database keeps it.

Vendor A and B write one full snapshot row per change. Vendor C keeps each fact once, with the
period it was valid for, and its own internal keys (not 宛名番号): a person master, a name history,
an address history, household membership, foreign residents' details (with their expired rows), a
change-event table whose rows repeat four event groups side by side (the COBOL `OCCURS` shape), and
the vendor's own code masters. Dates are 西暦 YYYYMMDD, `00` for unknown parts; an open period has no
end date. The standard 個人履歴 has to be rebuilt from this (specs/vendors/vendor_c/mappings/juki/).

Faults of its own kind are planted in chunk 0 and listed in `faults_vendor_c.csv` with the table and
the vendor key: orphans, overlapping periods, a gap, two current addresses, an event code missing
from the vendor's own master, a 続柄 chain longer than four; the population's own planted faults
(vendor A/B `faults.csv`) that vendor C can carry are listed there too, as vendor C shows them.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

TABLES = ("C_KOJIN", "C_SHIMEI_RIREKI", "C_JUSHO_RIREKI", "C_SETAI_KOSEI", "C_GAIKOKUJIN", "C_IDO",
          "C_M_CODE", "C_M_IDO_JIYU")
FAULTS_FILE = "faults_vendor_c.csv"
FAULT_COLUMNS = ["vendor", "source", "kojin_key", "column", "fault", "description"]
IDO_GROUPS = 4                     # C_IDO holds up to four events per person, side by side
KEY_BASE, SETAI_BASE = 10_000_001, 50_000_001
ORPHAN_NAME_KEY, ORPHAN_ADDRESS_KEY, ORPHAN_FOREIGN_KEY = "99999001", "99999002", "99999003"
_ERA_OFFSET = {1: 1867, 2: 1911, 3: 1925, 4: 1988, 5: 2018}
SEIBETSU = {"1": "M", "2": "F", "0": "U"}
SHUBETSU = {"1": "N", "2": "G"}
# standard 続柄 code → name, as vendor C writes 続柄 (names chained with の in the standard's way)
ZOKUGARA_NAMES = {"02": "世帯主", "11": "夫", "12": "妻", "13": "夫（未届）", "14": "妻（未届）", "20": "子",
                  "51": "父", "52": "母", "71": "兄", "74": "弟", "81": "姉", "84": "妹", "96": "縁故者",
                  "99": "同居人", "77": "知人"}   # 77: the population's planted unknown code
KOKUSEKI = ["アメリカ合衆国", "ベトナム", "韓国", "中国", "ブラジル", "フィリピン", "スペイン", "英国"]
ZAIRYU = ["永住者", "技術・人文知識・国際業務", "留学", "家族滞在", "定住者", "特別永住者"]
_INHERITED = {   # population fault → (vendor C table, column, description)
    "impossible_date": ("C_KOJIN", "BIRTH_YMD", "生年月日 with month 13"),
    "calendar_date_kept": ("C_KOJIN", "BIRTH_YMD", "19930229 (not a leap year): legal in the register, kept"),
    "unknown_code": ("C_SETAI_KOSEI", "ZOKUGARA", "続柄 知人: not in the standard's closed set"),
    "unknown_gaiji": ("C_SHIMEI_RIREKI", "SHIMEI", "外字 code not in the vendor's 外字 table"),
    "no_setainushi": ("C_SETAI_KOSEI", "ZOKUGARA", "the household's current residents have no 世帯主"),
    "bad_kojin_no": ("C_KOJIN", "KOJIN_NO", "個人番号 with a wrong check digit"),
    "missing_required": ("C_SHIMEI_RIREKI", "SHIMEI", "氏名 is empty"),
}
OWN_FAULTS = {   # vendor C's own kinds: fault → (table, column, description)
    "orphan_name": ("C_SHIMEI_RIREKI", "KOJIN_KEY", "a name-history row whose person is not in C_KOJIN"),
    "orphan_address": ("C_JUSHO_RIREKI", "KOJIN_KEY", "an address-history row whose person is not in C_KOJIN"),
    "orphan_foreign": ("C_GAIKOKUJIN", "KOJIN_KEY", "a foreign-resident row whose person is not in C_KOJIN"),
    "overlap": ("C_JUSHO_RIREKI", "YUKO_SHURYO", "an address period ends after the next one starts"),
    "gap": ("C_JUSHO_RIREKI", "YUKO_SHURYO", "an address period ends 20 days before the next one starts"),
    "two_current": ("C_JUSHO_RIREKI", "YUKO_SHURYO", "two open (current) addresses for one person"),
    "unknown_master_code": ("C_IDO", "IDO_CD_1", "異動事由 J99 is not in the vendor's own master C_M_IDO_JIYU"),
    "chain_too_long": ("C_SETAI_KOSEI", "ZOKUGARA", "続柄 chained from five names (the standard allows four)"),
}
EDGE_CASES = {   # not faults: must be migrated
    "chained_zokugara": ("C_SETAI_KOSEI", "ZOKUGARA", "続柄 子の妻 (two codes chained with の): migrated as 20, 12"),
    "expired_foreign_row": ("C_GAIKOKUJIN", "YUKO_SHURYO", "在留 row that ended before the cut-over: not migrated"),
}


def _ymd(days: pl.Expr) -> pl.Expr:
    return days.cast(pl.Int32).cast(pl.Date).dt.strftime("%Y%m%d")


def _seireki(era: str, yy: str, mm: str, dd: str) -> pl.Expr:
    year = pl.col(yy) + pl.col(era).replace_strict(_ERA_OFFSET, return_dtype=pl.Int64)
    return pl.concat_str(year.cast(pl.String).str.zfill(4), pl.col(mm).cast(pl.String).str.zfill(2),
                         pl.col(dd).cast(pl.String).str.zfill(2))


def _days(era: str, yy: str, mm: str, dd: str) -> pl.Expr:
    return _seireki(era, yy, mm, dd).str.to_date("%Y%m%d").cast(pl.Int32).cast(pl.Int64)


def master_tables(std_ido_jiyu: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """C_M_CODE (区分, vendor code → standard code) and C_M_IDO_JIYU (異動事由 with the 住民状態 it leaves)."""
    code = pl.DataFrame(
        [("SEIBETSU", v, k, n) for k, v, n in (("1", "M", "男"), ("2", "F", "女"), ("0", "U", "不明"))]
        + [("SHUBETSU", v, k, n) for k, v, n in (("1", "N", "日本人"), ("2", "G", "外国人"))],
        schema=["CODE_KBN", "CODE", "STD_CODE", "NAME"], orient="row")
    jiyu = std_ido_jiyu.select(
        CODE=pl.lit("J") + pl.col("code"), STD_CODE="code",
        JOTAI_CD=pl.when(pl.col("code") == "21").then(pl.lit("2")).when(pl.col("code") == "23").then(pl.lit("3"))
        .when(pl.col("code").str.starts_with("2")).then(pl.lit("9")).otherwise(pl.lit("1")),
        NAME="name")
    return {"C_M_CODE": code, "C_M_IDO_JIYU": jiyu}


def render_vendor_c(rows: pl.DataFrame, p0: int, h0: int, seed_rng: np.random.Generator,
                    plant: bool, today: dt.date, dantai: str) -> tuple[dict[str, pl.DataFrame], list[dict]]:
    """One chunk of the population (generate._population rows) → vendor C's tables and its fault rows.
    `dantai`: the 団体コード the person master carries (C_KOJIN.DANTAI_CD), as vendors A and B carry it."""
    rng = seed_rng
    f = pl.col("_fault")
    rows = rows.filter((f != "duplicate_key") | f.is_null())   # vendor C keeps one row per event
    rows = rows.with_columns(
        KOJIN_KEY=(pl.col("p") + p0 + KEY_BASE).cast(pl.String),
        SETAI_KEY=(pl.col("hh") + h0 + SETAI_BASE).cast(pl.String),
        _ido=_days("i_era", "i_yy", "i_mm", "i_dd"), _todoke=_days("t_era", "t_yy", "t_mm", "t_dd"),
    ).with_columns(   # events of one person on strictly increasing days (one history row per day)
        _ido=(pl.col("_ido") - pl.col("rireki_no")).cum_max().over("p") + pl.col("rireki_no"),
    ).with_columns(_todoke=pl.max_horizontal("_todoke", "_ido"))
    persons = rows.group_by("p", maintain_order=True).agg(
        pl.all().exclude("rireki_no", "_ido", "_todoke", "ido_jiyu_code", "machiaza_code", "jusho", "yubin_no",
                         "banchi", "katagaki").first(),
        pl.col("_ido").min().alias("_first"), pl.len().alias("_n"))
    tables: dict[str, pl.DataFrame] = {}
    tables["C_KOJIN"] = persons.select(
        "KOJIN_KEY", DANTAI_CD=pl.lit(dantai), JUKI_CD="juminhyo_code", KOJIN_NO="kojin_no",
        SEIBETSU=pl.col("sex").replace_strict(SEIBETSU), SHUBETSU=pl.col("shubetsu").replace_strict(SHUBETSU),
        BIRTH_YMD=_seireki("b_era", "b_yy", "b_mm", "b_dd"), TOROKU_YMD=_ymd(pl.col("_first")))
    tables["C_SHIMEI_RIREKI"] = persons.select(
        "KOJIN_KEY", SEQ=pl.lit("1"), SHIMEI="shimei", SHIMEI_KANA="shimei_kana",
        YUKO_KAISHI=_ymd(pl.col("_first")), YUKO_SHURYO=pl.lit(None, pl.String))
    addr = ["machiaza_code", "jusho", "yubin_no", "banchi", "katagaki"]
    moves = (rows.with_columns(_new=pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(1).over("p")) for c in addr])
                               | (pl.col("rireki_no") == 1))
             .filter("_new").with_columns(SEQ=pl.int_range(1, pl.len() + 1).over("p"),
                                          _next=pl.col("_ido").shift(-1).over("p")))
    tables["C_JUSHO_RIREKI"] = moves.select(
        "KOJIN_KEY", pl.col("SEQ").cast(pl.String), MACHI_CD="machiaza_code", JUSHO="jusho", BANCHI="banchi",
        KATAGAKI="katagaki", YUBIN_NO="yubin_no", YUKO_KAISHI=_ymd(pl.col("_ido")),
        YUKO_SHURYO=_ymd(pl.col("_next") - 1), _p="p", _seq="SEQ", _next="_next", _start="_ido")
    tables["C_SETAI_KOSEI"] = persons.select(
        "KOJIN_KEY", "SETAI_KEY", ZOKUGARA=pl.col("zokugara").replace_strict(ZOKUGARA_NAMES),
        YUKO_KAISHI=_ymd(pl.col("_first")), YUKO_SHURYO=pl.lit(None, pl.String), _zoku="zokugara", _p="p")
    foreign = persons.filter("foreign")
    m = foreign.height
    current = foreign.select(
        "KOJIN_KEY", SEQ=pl.lit("2"), KOKUSEKI=pl.Series([KOKUSEKI[i] for i in rng.integers(0, len(KOKUSEKI), m)],
                                                         dtype=pl.String),
        ZAIRYU_SHIKAKU=pl.Series([ZAIRYU[i] for i in rng.integers(0, len(ZAIRYU), m)], dtype=pl.String),
        ZAIRYU_CARD_NO=pl.Series([f"{chr(65 + a)}{chr(65 + b)}{c:08d}{chr(65 + d)}{chr(65 + e)}"
                                  for a, b, c, d, e in zip(*(rng.integers(0, 26, m) for _ in range(2)),
                                                           rng.integers(0, 10**8, m),
                                                           *(rng.integers(0, 26, m) for _ in range(2)))],
                                 dtype=pl.String),
        YUKO_KAISHI=_ymd(pl.col("_first")), YUKO_SHURYO=pl.lit(None, pl.String))
    expired = current.filter(pl.Series(rng.random(m) < 0.5)).with_columns(
        SEQ=pl.lit("1"), ZAIRYU_SHIKAKU=pl.lit("留学"), ZAIRYU_CARD_NO=pl.lit(None, pl.String),
        YUKO_KAISHI=pl.lit("20100401"), YUKO_SHURYO=pl.lit("20150331"))
    tables["C_GAIKOKUJIN"] = pl.concat([expired, current]).sort("KOJIN_KEY", "SEQ")
    ev = rows.with_columns(_g=pl.int_range(1, pl.len() + 1).over("p"))
    wide = persons.select("p", "KOJIN_KEY")
    for g in range(1, IDO_GROUPS + 1):
        part = ev.filter(pl.col("_g") == g).select(
            "p", pl.format("J{}", "ido_jiyu_code").alias(f"IDO_CD_{g}"), _ymd(pl.col("_ido")).alias(f"IDO_YMD_{g}"),
            _ymd(pl.col("_todoke")).alias(f"TODOKE_YMD_{g}"))
        wide = wide.join(part, on="p", how="left", maintain_order="left")
    tables["C_IDO"] = wide.drop("p")

    faults: list[dict] = []
    if plant:
        tables, faults = _plant(tables, persons, rng)
    for t in ("C_KOJIN", "C_SHIMEI_RIREKI", "C_JUSHO_RIREKI", "C_SETAI_KOSEI", "C_IDO"):
        tables[t] = tables[t].select(pl.exclude("^_.*$"))
    return tables, faults


def _fault(source: str, key: str, column: str, fault: str, text: str) -> dict:
    return {"vendor": "vendor_c", "source": source, "kojin_key": key, "column": column, "fault": fault,
            "description": text}


def _plant(tables: dict[str, pl.DataFrame], persons: pl.DataFrame, rng) -> tuple[dict, list[dict]]:
    faults = [_fault(t, k, c, fault, text) for fault, (t, c, text) in _INHERITED.items()
              for k in persons.filter(pl.col("_fault") == fault)["KOJIN_KEY"].to_list()]
    clean = persons.filter(pl.col("_fault").is_null() & ~pl.col("foreign") & ~pl.col("head"))
    # the members of the household held for want of a 世帯主 are held whatever else they carry: a fault or an
    # edge case planted on one of them would be held by another rule too (or, an edge case, not kept)
    doomed = set(persons.filter(pl.col("hh").is_in(persons.filter(pl.col("_fault") == "no_setainushi")["hh"]
                                                   .implode()))["KOJIN_KEY"].to_list())
    taken: set[str] = set()
    jusho = tables["C_JUSHO_RIREKI"]
    movers = (jusho.group_by("KOJIN_KEY", maintain_order=True).len().filter(pl.col("len") >= 2)
              .join(clean.select("KOJIN_KEY"), on="KOJIN_KEY")["KOJIN_KEY"].to_list())
    overlap, gap, two = (_pick(movers, i, doomed, taken) for i in (1, len(movers) // 2, len(movers) - 2))
    first = pl.col("_seq") == 1
    jusho = jusho.with_columns(YUKO_SHURYO=pl.when(first & (pl.col("KOJIN_KEY") == overlap)).then(_ymd(pl.col("_next") + 30))
                               .when(first & (pl.col("KOJIN_KEY") == gap)).then(_ymd(pl.col("_next") - 21))
                               .when(first & (pl.col("KOJIN_KEY") == two)).then(pl.lit(None, pl.String))
                               .otherwise("YUKO_SHURYO"))
    faults += [_fault("C_JUSHO_RIREKI", k, "YUKO_SHURYO", f, OWN_FAULTS[f][2])
               for k, f in ((overlap, "overlap"), (gap, "gap"), (two, "two_current"))]
    # orphans: rows of persons the master does not know
    shimei = tables["C_SHIMEI_RIREKI"]
    tables["C_SHIMEI_RIREKI"] = pl.concat([shimei, shimei.head(1).with_columns(KOJIN_KEY=pl.lit(ORPHAN_NAME_KEY))])
    jusho = pl.concat([jusho, jusho.head(1).with_columns(KOJIN_KEY=pl.lit(ORPHAN_ADDRESS_KEY))])
    gai = tables["C_GAIKOKUJIN"]
    tables["C_GAIKOKUJIN"] = pl.concat([gai, gai.tail(1).with_columns(KOJIN_KEY=pl.lit(ORPHAN_FOREIGN_KEY))])
    faults += [_fault(OWN_FAULTS[f][0], k, "KOJIN_KEY", f, OWN_FAULTS[f][2])
               for k, f in ((ORPHAN_NAME_KEY, "orphan_name"), (ORPHAN_ADDRESS_KEY, "orphan_address"),
                            (ORPHAN_FOREIGN_KEY, "orphan_foreign"))]
    tables["C_JUSHO_RIREKI"] = jusho
    others = [k for k in clean["KOJIN_KEY"].to_list() if k not in (overlap, gap, two)]
    bad_code, chain, too_long = (_pick(others, i, doomed, taken) for i in (3, 7, 11))
    tables["C_IDO"] = tables["C_IDO"].with_columns(
        IDO_CD_1=pl.when(pl.col("KOJIN_KEY") == bad_code).then(pl.lit("J99")).otherwise("IDO_CD_1"))
    faults.append(_fault("C_IDO", bad_code, "IDO_CD_1", "unknown_master_code", OWN_FAULTS["unknown_master_code"][2]))
    setai = tables["C_SETAI_KOSEI"]
    tables["C_SETAI_KOSEI"] = setai.with_columns(
        ZOKUGARA=pl.when(pl.col("KOJIN_KEY") == chain).then(pl.lit("子の妻"))
        .when(pl.col("KOJIN_KEY") == too_long).then(pl.lit("子の妻の父の母の子")).otherwise("ZOKUGARA"))
    faults.append(_fault("C_SETAI_KOSEI", too_long, "ZOKUGARA", "chain_too_long", OWN_FAULTS["chain_too_long"][2]))
    faults.append(_fault("C_SETAI_KOSEI", chain, "ZOKUGARA", "chained_zokugara", EDGE_CASES["chained_zokugara"][2]))
    expired = tables["C_GAIKOKUJIN"].filter(pl.col("SEQ") == "1")["KOJIN_KEY"].to_list()
    for k in [k for k in expired if k not in doomed][:1]:
        faults.append(_fault("C_GAIKOKUJIN", k, "YUKO_SHURYO", "expired_foreign_row",
                             EDGE_CASES["expired_foreign_row"][2]))
    return tables, faults


def _pick(keys: list[str], i: int, avoid: set[str], taken: set[str]) -> str:
    """keys[i], or the next key (wrapping) that is neither in `avoid` nor picked before; recorded in `taken`."""
    k = next(k for k in keys[i:] + keys[:i] if k not in avoid and k not in taken)
    taken.add(k)
    return k


def write_tables(out_dir: Path, tables: dict[str, pl.DataFrame], first: bool) -> dict[str, int]:
    """Append one chunk's tables to vendor_c/<TABLE>.csv (UTF-8, header in the first chunk only)."""
    counts = {}
    for name, df in tables.items():
        with (out_dir / f"{name}.csv").open("wb" if first else "ab") as fh:
            fh.write(df.write_csv(include_header=first, quote_style="necessary").encode("utf-8"))
        counts[name] = df.height
    return counts
