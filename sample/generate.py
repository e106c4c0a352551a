"""Deterministic fictional 住民記録 data, rendered in two legacy vendors' formats.

One population of the fictional 団体 999997 架空市 is written twice: as vendor A's 中間標準レイアウト
CSV (CP932, no header, 年号コード dates, half-width フリガナ, 外字 in the user-defined area) and as
vendor B's own table dump (UTF-8, header, M/T/S/H/R dates, its own codes and 外字 assignment).
Known faults are planted at deterministic places and listed in ``faults.csv`` so the pipeline's
quarantine can be checked against ground truth. Everything is vectorised per chunk of persons, so
a 3.7M-person 団体 fits in bounded memory; the same seed gives byte-identical files.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path

import jaconv
import numpy as np
import polars as pl

from ikou import SPECS
from ikou.checkdigit import atena_check_digits, is_valid_dantai_code, kojin_no_check_digits
from ikou.sample import vendor_c

DANTAI_CODE = "999997"  # 99999 + check digit 7; no real 団体 has it
DANTAI_NAME = "架空市"
DEFAULT_SEED = 20261123
CHUNK_PERSONS = 200_000
TODAY = dt.date(2026, 10, 31)  # 基準日 of the extract
_EPOCH = dt.date(1970, 1, 1)

VENDOR_A_FILE = "vendor_a/JUMIN.csv"
VENDOR_B_FILE = "vendor_b/B_JUMIN.csv"

# 個人住民税 (second 業務), same population: vendor A CP932 CSV files, vendor B table dumps.
TAX_FILES_A = {"gimusha": "vendor_a/ZEI_GIMUSHA.csv", "kazei": "vendor_a/ZEI_KAZEI.csv", "kojo": "vendor_a/ZEI_KOJO.csv"}
TAX_FILES_B = {"gimusha": "vendor_b/B_ZEI_GIMUSHA.csv", "kazei": "vendor_b/B_ZEI_KAZEI.csv",
               "kojo": "vendor_b/B_ZEI_KOJO.csv"}
TAX_FAULTS_FILE = "faults_kojin_juminzei.csv"
TAX_YEARS = (2025, 2026)          # 課税年度 令和7年度, 令和8年度
KINTOWARI = 5_000                 # 均等割額 (市町村民税 3,000 + 道府県民税 1,000 + 森林環境税 1,000)
TAX_FAULT_COLUMNS = ["vendor", "source", "line", "atena_no", "kazei_nendo", "column", "fault", "description"]
TAX_FAULTS = {  # fault → (file, vendors, column A|B, description)
    "duplicate_key": ("gimusha", ("vendor_a", "vendor_b"), "ATENA_NO|KOJIN_ID",
                      "second 義務者 row with the same 宛名番号+課税年度"),
    "not_integer": ("kazei", ("vendor_a",), "SHOTOKUWARI", "所得割額 in full-width digits (１２３００)"),
    "negative_amount": ("kazei", ("vendor_a", "vendor_b"), "SHOTOKUWARI|SHOTOKUWARI_GAKU", "所得割額 below zero"),
    "unknown_code": ("kojo", ("vendor_a", "vendor_b"), "KOJO_SHUBETSU|KOJO_CD", "控除種別 in no code table (A 99, B ZZ)"),
    "overlong_field": ("kojo", ("vendor_a",), "KOJO_GAKU", "控除額 of 11 digits: longer than the layout's 10 bytes"),
}
# 控除種別 (standard code, vendor B code, share of taxpayers, low, high in yen)
KOJO = [("01", "SHAHO", 0.95, 50_000, 900_000), ("02", "SEIHO", 0.55, 10_000, 70_000),
        ("03", "JISHIN", 0.25, 1_000, 25_000), ("04", "HAIGU", 0.25, 330_000, 330_000),
        ("05", "FUYO", 0.20, 330_000, 450_000), ("06", "KISO", 1.00, 430_000, 430_000),
        ("07", "IRYO", 0.08, 10_000, 300_000), ("08", "SHOGAI", 0.04, 260_000, 260_000)]
TEKIYO = ["給与", "年金", "営業", "給与・年金", "不動産"]

FAULT_COLUMNS = ["vendor", "source", "line", "atena_no", "rireki_no", "column", "fault", "description"]
FAULT_KINDS = (
    "undecodable_bytes", "wrong_field_count", "impossible_date", "calendar_date_kept",
    "unknown_code", "duplicate_key", "unknown_gaiji", "no_setainushi", "bad_kojin_no",
    "missing_required",
)
_A_ONLY = {"undecodable_bytes", "wrong_field_count"}
CALENDAR_KEPT_NEXT_DAY = dt.date(1993, 3, 1)   # the day after 平成5年2月29日 (calendar_date_kept), were it real

# 外字: ten real MJ glyphs that CP932 cannot encode (Extension B or IVS-only). The canonical text
# carries them as vendor A's user-defined-area code; vendor B has its own PUA assignment.
# (vendor A code, MJ文字図形名, the glyph in Unicode, surname using it, its フリガナ)
GAIJI = [
    ("\ue000", "MJ032932", "\U0002123d", "\ue000屋", "ツチヤ"),
    ("\ue001", "MJ042849", "\U0002550e", "\ue001山", "サキヤマ"),
    ("\ue002", "MJ045559", "\U000266b0", "\ue002坂", "ワキサカ"),
    ("\ue003", "MJ025760", "辻\U000e0102", "\ue003本", "ツジモト"),
    ("\ue004", "MJ022335", "葛\U000e0102", "\ue004西", "カサイ"),
    ("\ue005", "MJ027640", "隆\U000e0104", "\ue005杉", "タカスギ"),
    ("\ue006", "MJ011357", "德\U000e0102", "\ue006永", "トクナガ"),
    ("\ue007", "MJ026199", "邊\U000e010f", "田\ue007", "タナベ"),
    ("\ue008", "MJ026192", "邉\U000e011b", "渡\ue008", "ワタナベ"),
    ("\ue009", "MJ022337", "葛\U000e0107", "\ue009城", "カツラギ"),
]
_VENDOR_B_GAIJI_BASE = 0xF100  # vendor B's own PUA assignment of the same glyphs
# Glyphs of the ordinary name pool that CP932 cannot encode: vendor A registers them as 外字 too.
VENDOR_A_EXTRA_GAIJI = [
    ("\ue00a", "MJ026191", "邉\U000e0119"),  # 渡邉 with an IVS-only 邉
    ("\ue00b", "MJ032129", "\U00020bb7"),    # 𠮷 (Extension B, つちよし)
]
UNKNOWN_GAIJI_A = "\ue700"  # user-defined area, but not in vendor A's 外字 table
UNKNOWN_GAIJI_B = "\uf1ff"  # PUA, but not in vendor B's 外字 table
_SENTINEL_UNDECODABLE = "\ue757"  # encodes to F9 FC; replaced by 85 40 (not valid CP932)
_SENTINEL_EXTRA_FIELD = "\ue756"  # encodes to F9 FB; replaced by a field with a comma

SURNAMES = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("髙橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("渡邉\U000e0119", "ワタナベ"), ("渡邊", "ワタナベ"),
    ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"),
    ("\U00020bb7田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("山口", "ヤマグチ"),
    ("松本", "マツモト"), ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"),
    ("齋藤", "サイトウ"), ("齊藤", "サイトウ"), ("清水", "シミズ"), ("山崎", "ヤマザキ"), ("山﨑", "ヤマザキ"),
    ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"), ("石川", "イシカワ"),
    ("大塚", "オオツカ"), ("大\ufa10", "オオツカ"), ("前田", "マエダ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"),
    ("岡田", "オカダ"), ("長谷川", "ハセガワ"), ("村上", "ムラカミ"), ("近藤", "コンドウ"), ("坂本", "サカモト"),
    ("遠藤", "エンドウ"), ("青木", "アオキ"), ("藤井", "フジイ"), ("西村", "ニシムラ"), ("福田", "フクダ"),
    ("太田", "オオタ"), ("三浦", "ミウラ"), ("藤原", "フジワラ"), ("岡本", "オカモト"), ("松田", "マツダ"),
]
GIVEN_MALE = [
    ("太郎", "タロウ"), ("一郎", "イチロウ"), ("健", "ケン"), ("誠", "マコト"), ("大輔", "ダイスケ"),
    ("翔太", "ショウタ"), ("拓也", "タクヤ"), ("浩二", "コウジ"), ("隆", "タカシ"), ("博", "ヒロシ"),
    ("茂", "シゲル"), ("勇", "イサム"), ("清", "キヨシ"), ("蓮", "レン"), ("悠真", "ユウマ"),
    ("陽翔", "ハルト"), ("湊", "ミナト"), ("大和", "ヤマト"), ("和夫", "カズオ"), ("正男", "マサオ"),
    ("伸也", "シンヤ"), ("剛", "ツヨシ"), ("聡", "サトシ"), ("亮", "リョウ"), ("豊", "ユタカ"),
]
GIVEN_FEMALE = [
    ("花子", "ハナコ"), ("幸子", "サチコ"), ("洋子", "ヨウコ"), ("恵子", "ケイコ"), ("陽子", "ヨウコ"),
    ("美穂", "ミホ"), ("由美", "ユミ"), ("愛", "アイ"), ("さくら", "サクラ"), ("陽葵", "ヒマリ"),
    ("結衣", "ユイ"), ("凛", "リン"), ("芽依", "メイ"), ("和子", "カズコ"), ("久美子", "クミコ"),
    ("直美", "ナオミ"), ("智子", "トモコ"), ("裕子", "ユウコ"), ("真由美", "マユミ"), ("明美", "アケミ"),
    ("ハル", "ハル"), ("トメ", "トメ"), ("きよ", "キヨ"), ("葵", "アオイ"), ("紬", "ツムギ"),
]
# 外国人住民: names as registered in katakana (surname, given).
FOREIGN_SURNAMES = [("スミス", "スミス"), ("グエン", "グエン"), ("キム", "キム"), ("ワン", "ワン"),
                    ("シルバ", "シルバ"), ("サントス", "サントス"), ("ガルシア", "ガルシア"), ("リー", "リー")]
FOREIGN_GIVEN = [("ジョン", "ジョン"), ("バン", "バン"), ("ミンジュン", "ミンジュン"), ("ウェイ", "ウェイ"),
                 ("マリア", "マリア"), ("アナ", "アナ"), ("ルーカス", "ルーカス"), ("リン", "リン")]

# 町字 of 架空市: (町字コード 7 digits, 町字, 郵便番号, 住居表示 or 地番)
MACHIAZA = [
    ("0001001", "本町一丁目", "9990001", True), ("0001002", "本町二丁目", "9990001", True),
    ("0001003", "本町三丁目", "9990001", True), ("0002001", "栄町一丁目", "9990002", True),
    ("0002002", "栄町二丁目", "9990002", True), ("0003001", "緑が丘一丁目", "9990003", True),
    ("0003002", "緑が丘二丁目", "9990003", True), ("0003003", "緑が丘三丁目", "9990003", True),
    ("0004001", "駅前一丁目", "9990004", True), ("0004002", "駅前二丁目", "9990004", True),
    ("0005001", "港町一丁目", "9990005", True), ("0006001", "旭町一丁目", "9990006", True),
    ("0101000", "大字架空", "9990101", False), ("0102000", "大字東谷", "9990102", False),
    ("0103000", "大字西原", "9990103", False), ("0104000", "大字北山", "9990104", False),
    ("0105000", "大字南浜", "9990105", False), ("0106000", "大字中島", "9990106", False),
]
APARTMENTS = ["コーポ架空", "メゾン本町", "グランドハイツ栄", "架空市営住宅３号棟", "サンシャイン緑が丘",
              "レジデンス駅前", "ハイツ旭", "パークサイド港"]

# Standard (標準) codes; vendor renderings come from specs/vendors/<vendor>/code_tables.
ERA_STARTS = [  # (年号コード, letter, first day, year offset)
    (5, "R", dt.date(2019, 5, 1), 2018), (4, "H", dt.date(1989, 1, 8), 1988),
    (3, "S", dt.date(1926, 12, 25), 1925), (2, "T", dt.date(1912, 7, 30), 1911),
    (1, "M", dt.date(1868, 1, 25), 1867),
]
_ERA_LETTER = {code: letter for code, letter, _, _ in ERA_STARTS}


def _days(d: dt.date) -> int:
    return (d - _EPOCH).days


# ---------------------------------------------------------------- code tables

def _code_map(path: Path) -> dict[str, str]:
    """standard code → vendor source code, from a vendor code table (source_code,code,note)."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["code"]: r["source_code"] for r in rows}


def _vendor_codes(vendors: Path) -> dict[str, dict[str, str]]:
    """`vendors`: the spec tree's vendors folder (<vendor>/code_tables/*.csv)."""
    a, b = vendors / "vendor_a" / "code_tables", vendors / "vendor_b" / "code_tables"
    return {
        "a_seibetsu": _code_map(a / "seibetsu.csv"),
        "b_seibetsu": _code_map(b / "seibetsu.csv"),
        "b_zokugara": _code_map(b / "zokugara.csv"),
        "b_shubetsu": _code_map(b / "jumin_shubetsu.csv"),
        "b_jotai": _code_map(b / "jumin_jotai.csv"),
        "b_ido_jiyu": _code_map(b / "ido_jiyu.csv"),
    }


# ---------------------------------------------------------------- population

def _gather(pool: list[str], idx: np.ndarray) -> pl.Series:
    return pl.Series(pool, dtype=pl.String).gather(pl.Series(idx, dtype=pl.Int64))


def _wareki(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970-01-01 → (年号コード, 和暦年, 月, 日)."""
    dates = pl.Series(days.astype(np.int32)).cast(pl.Date)
    y = dates.dt.year().to_numpy().astype(np.int64)
    m = dates.dt.month().to_numpy().astype(np.int64)
    d = dates.dt.day().to_numpy().astype(np.int64)
    era = np.ones_like(days, dtype=np.int64)
    offset = np.full_like(days, 1867, dtype=np.int64)
    for code, _, start, off in reversed(ERA_STARTS[:-1]):
        hit = days >= _days(start)
        era = np.where(hit, code, era)
        offset = np.where(hit, off, offset)
    return era, y - offset, m, d


def _population(rng: np.random.Generator, n: int, p0: int, h0: int, first: bool,
                plant: bool) -> tuple[pl.DataFrame, int]:
    """One chunk: n persons (numbered from p0) in whole households (from h0) → history rows.

    Codes are the standard ones and text is canonical (外字 as vendor A's codes); the renderers
    turn that into each vendor's conventions. Returns the rows and the number of households.
    """
    today = _days(TODAY)
    sizes = rng.choice(np.arange(1, 6), size=n, p=[0.30, 0.25, 0.20, 0.17, 0.08])
    ends = np.cumsum(sizes)
    h = int(np.searchsorted(ends, n)) + 1
    sizes = sizes[:h].copy()
    sizes[-1] -= ends[h - 1] - n
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    hh = np.repeat(np.arange(h), sizes)
    pos = np.arange(n) - starts[hh]
    is_head = pos == 0

    # household attributes
    sn_w = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.6
    h_surname = rng.choice(len(SURNAMES), size=h, p=sn_w / sn_w.sum())
    h_foreign = rng.random(h) < 0.02
    h_machi = rng.integers(0, len(MACHIAZA), size=h)
    h_ban = rng.integers(1, 40, size=h)
    h_go = rng.integers(1, 30, size=h)
    h_apt = np.where(rng.random(h) < 0.3, rng.integers(0, len(APARTMENTS), size=h), -1)
    h_room = rng.integers(1, 6, size=h) * 100 + rng.integers(1, 12, size=h)
    h_old_machi = rng.integers(0, len(MACHIAZA), size=h)
    h_old_ban = rng.integers(1, 40, size=h)
    h_old_go = rng.integers(1, 30, size=h)
    year = 365.25
    lo, hi = _days(dt.date(1918, 1, 1)), _days(dt.date(2005, 12, 31))
    head_birth = (lo + rng.random(h) * (hi - lo)).astype(np.int64)
    head_male = rng.random(h) < 0.7

    # person attributes
    r = rng.random(n)
    other = rng.choice(["51", "52", "71", "74", "81", "84", "96", "99"], size=n)
    zoku = np.where(is_head, "02", np.where(pos == 1, np.where(r < 0.8, "SP", "20"), np.where(r < 0.85, "20", other)))
    spouse = zoku == "SP"
    zoku = np.where(spouse, np.where(head_male[hh], "12", "11"), zoku)
    male = np.where(is_head, head_male[hh], np.where(spouse, ~head_male[hh], rng.random(n) < 0.5))
    male = np.where(np.isin(zoku, ["51", "71", "74"]), True, np.where(np.isin(zoku, ["52", "81", "84"]), False, male))
    sex = np.where(male, "1", "2")
    sex = np.where(rng.random(n) < 0.003, "0", sex)

    hb = head_birth[hh]
    child_gap = (rng.uniform(20, 42, size=n) * year).astype(np.int64)
    birth = np.select(
        [is_head, spouse, zoku == "20", np.isin(zoku, ["51", "52"])],
        [hb, hb + (rng.normal(0, 3, size=n) * year).astype(np.int64), hb + child_gap,
         hb - (rng.uniform(22, 38, size=n) * year).astype(np.int64)],
        default=(_days(dt.date(1930, 1, 1)) + rng.random(n) * 29000).astype(np.int64),
    )
    birth = np.clip(birth, _days(dt.date(1880, 1, 1)), today - 30)

    foreign = h_foreign[hh]
    surname_idx = np.where(np.isin(zoku, ["96", "99"]), rng.integers(0, len(SURNAMES), size=n), h_surname[hh])
    sur_k = _gather([s for s, _ in SURNAMES], surname_idx)
    sur_kana = _gather([k for _, k in SURNAMES], surname_idx)
    g_idx = rng.integers(0, len(GIVEN_MALE), size=n)
    giv_k = pl.Series(np.where(male, _gather([g for g, _ in GIVEN_MALE], g_idx).to_numpy(),
                               _gather([g for g, _ in GIVEN_FEMALE], g_idx).to_numpy()), dtype=pl.String)
    giv_kana = pl.Series(np.where(male, _gather([k for _, k in GIVEN_MALE], g_idx).to_numpy(),
                                  _gather([k for _, k in GIVEN_FEMALE], g_idx).to_numpy()), dtype=pl.String)
    gaiji = (rng.random(n) < 0.02) & ~foreign
    gj_idx = rng.integers(0, len(GAIJI), size=n)
    f_s = rng.integers(0, len(FOREIGN_SURNAMES), size=n)
    f_g = rng.integers(0, len(FOREIGN_GIVEN), size=n)
    persons = pl.DataFrame({
        "p": np.arange(n), "hh": hh, "head": is_head, "zokugara": zoku, "sex": sex, "birth": birth,
        "foreign": foreign, "gaiji": gaiji,
        "sur": sur_k, "sur_kana": sur_kana, "giv": giv_k, "giv_kana": giv_kana,
        "gj_sur": _gather([g[3] for g in GAIJI], gj_idx), "gj_kana": _gather([g[4] for g in GAIJI], gj_idx),
        "f_sur": _gather([s for s, _ in FOREIGN_SURNAMES], f_s), "f_giv": _gather([s for s, _ in FOREIGN_GIVEN], f_g),
    }).with_columns(
        sur=pl.when("foreign").then("f_sur").when("gaiji").then("gj_sur").otherwise("sur"),
        sur_kana=pl.when("foreign").then("f_sur").when("gaiji").then("gj_kana").otherwise("sur_kana"),
        giv=pl.when("foreign").then("f_giv").otherwise("giv"),
        giv_kana=pl.when("foreign").then("f_giv").otherwise("giv_kana"),
    )

    # birth date parts, with a few 不詳 (unknown day / month and day)
    b_era, b_yy, b_mm, b_dd = _wareki(birth)
    fushou = rng.random(n)
    b_dd = np.where(fushou < 0.004, 0, b_dd)
    b_mm = np.where(fushou < 0.0015, 0, b_mm)

    n_hist = rng.choice(np.arange(1, 5), size=n, p=[0.35, 0.30, 0.20, 0.15])
    end_kind = np.where((~is_head) & (n_hist >= 2) & (rng.random(n) < 0.2),
                        np.where(rng.random(n) < 0.6, "21", "23"), "")

    fault_of_person = np.full(n, "", dtype=object)
    if first:
        # Chunk 0 carries the edge cases at seeded places: 明治45年7月30日 and 大正元年7月30日 (the
        # same day, both legal), an unknown day and an unknown month+day, then the planted faults.
        non_head = np.flatnonzero(~is_head & ~foreign & ~gaiji)
        picks = rng.choice(non_head, size=min(len(non_head), 4 + len(FAULT_KINDS) - 1), replace=False)
        meiji, taisho, no_day, no_md = picks[:4]
        birth[[meiji, taisho]] = _days(dt.date(1912, 7, 30))
        b_era[[meiji, taisho]] = [1, 2]
        b_yy[[meiji, taisho]] = [45, 1]
        b_mm[[meiji, taisho]] = 7
        b_dd[[meiji, taisho]] = 30
        b_dd[[no_day, no_md]] = 0
        b_mm[no_md] = 0
        if plant:
            for k, p in zip([k for k in FAULT_KINDS if k != "no_setainushi"], picks[4:]):
                fault_of_person[p] = k
            # the household held for want of a 世帯主 holds every member: none of the edge cases or
            # planted persons may live there (a fault to keep would be held, another held twice)
            heads_multi = np.flatnonzero(is_head & (sizes[hh] >= 2))
            free = [x for x in np.roll(heads_multi, -(len(heads_multi) // 2)) if hh[x] not in set(hh[picks])]
            if free:
                fault_of_person[free[0]] = "no_setainushi"
            planted = fault_of_person != ""
            n_hist = np.where(planted, 1, n_hist)  # one row per planted person: line = person
            end_kind = np.where(planted, "", end_kind)
            b_dd = np.where(planted, np.maximum(b_dd, 1), b_dd)
            b_mm = np.where(planted, np.maximum(b_mm, 1), b_mm)

    # ids
    g = np.arange(n, dtype=np.int64) + p0
    atena_body = (g * 387_420_489 + 12_345_678) % 1_000_000_000
    atena_cd = atena_check_digits(atena_body)
    atena_cd = np.where(rng.random(n) < 0.05, (atena_cd + 1) % 10, atena_cd)  # legacy numbers
    hg = np.arange(h, dtype=np.int64) + h0
    setai_body = (hg * 282_475_249 + 500_000_003) % 1_000_000_000
    setai_cd = atena_check_digits(setai_body)
    setai_cd = np.where(rng.random(h) < 0.05, (setai_cd + 1) % 10, setai_cd)
    juminhyo = (g * 7_777_777_777 + 12_345_678_901) % 100_000_000_000
    kojin_body = (g * 31_415_926_537 + 27_182_818_284) % 100_000_000_000
    kojin_cd = kojin_no_check_digits(kojin_body)

    persons = persons.with_columns(
        atena_no=pl.Series(atena_body * 10 + atena_cd).cast(pl.String).str.zfill(10),
        setai_no=pl.Series((setai_body * 10 + setai_cd)[hh]).cast(pl.String).str.zfill(10),
        juminhyo_code=pl.Series(juminhyo).cast(pl.String).str.zfill(11),
        kojin_no=pl.Series(kojin_body * 10 + kojin_cd).cast(pl.String).str.zfill(12),
        b_era=pl.Series(b_era), b_yy=pl.Series(b_yy), b_mm=pl.Series(b_mm), b_dd=pl.Series(b_dd),
        shubetsu=pl.when("foreign").then(pl.lit("2")).otherwise(pl.lit("1")),
        room=pl.Series(h_room[hh]),
        _fault=pl.Series(fault_of_person.astype(str)),
    )

    # history rows
    rows_n = int(n_hist.sum())
    pid = np.repeat(np.arange(n), n_hist)
    pstart = np.concatenate([[0], np.cumsum(n_hist)[:-1]])
    rireki = np.arange(rows_n) - pstart[pid] + 1
    last = rireki == n_hist[pid]
    born_here = (rng.random(n) < 0.45) & (birth >= _days(dt.date(1955, 1, 1))) & (b_dd > 0)
    mid_code = rng.choice(["41", "42", "53"], size=rows_n, p=[0.55, 0.3, 0.15])
    code = np.where(rireki == 1, np.where(born_here[pid], "03", "01"), mid_code)
    code = np.where(last & (end_kind[pid] != ""), end_kind[pid], code)
    jotai = np.where(code == "21", "2", np.where(code == "23", "3", "1"))
    move_in = birth + 1 + (rng.random(n) * np.maximum(today - birth - 1, 1)).astype(np.int64)
    d0 = np.where(born_here, birth, np.minimum(move_in, today))
    span = np.maximum(today - d0[pid], 0)
    ido = np.where(rireki == 1, d0[pid],
                   d0[pid] + (span * (rireki - 1 + rng.random(rows_n)) / n_hist[pid]).astype(np.int64))
    if first and plant:
        # 平成5年2月29日 is planted to be kept (calendar_date_kept): no 異動 of that person may come before it,
        # or date.birth_before_ido would hold what faults.csv says to keep
        kept = fault_of_person[pid] == "calendar_date_kept"
        ido = np.where(kept, np.maximum(ido, _days(CALENDAR_KEPT_NEXT_DAY)), ido)
    todoke = np.minimum(ido + rng.integers(0, 15, size=rows_n), today)
    first41 = np.minimum.reduceat(np.where(code == "41", rireki, 99), pstart) if n else np.array([], dtype=np.int64)
    use_old = rireki < first41[pid]
    i_era, i_yy, i_mm, i_dd = _wareki(ido)
    t_era, t_yy, t_mm, t_dd = _wareki(todoke)

    rows = pl.DataFrame({
        "p": pid, "rireki_no": rireki, "ido_jiyu_code": code, "jumin_jotai_code": jotai,
        "i_era": i_era, "i_yy": i_yy, "i_mm": i_mm, "i_dd": i_dd,
        "t_era": t_era, "t_yy": t_yy, "t_mm": t_mm, "t_dd": t_dd, "use_old": use_old,
    }).join(persons, on="p", how="left", maintain_order="left")

    hr = hh[pid]  # household of each row
    m_idx = np.where(use_old, h_old_machi[hr], h_machi[hr])
    ban = np.where(use_old, h_old_ban[hr], h_ban[hr])
    go = np.where(use_old, h_old_go[hr], h_go[hr])
    apt = np.where(use_old, -1, h_apt[hr])
    hyoji = np.array([m[3] for m in MACHIAZA])[m_idx]
    rows = rows.with_columns(
        machiaza_code=_gather([m[0] for m in MACHIAZA], m_idx),
        jusho=_gather([DANTAI_NAME + m[1] for m in MACHIAZA], m_idx),
        yubin_no=_gather([m[2] for m in MACHIAZA], m_idx),
        _ban=pl.Series(ban).cast(pl.String), _go=pl.Series(go).cast(pl.String), _hyoji=pl.Series(hyoji),
        _apt=_gather(APARTMENTS, np.maximum(apt, 0)), _has_apt=pl.Series(apt >= 0),
    ).with_columns(
        banchi=pl.when("_hyoji").then(pl.concat_str("_ban", pl.lit("番"), "_go", pl.lit("号")))
        .otherwise(pl.concat_str("_ban", pl.lit("番地"), "_go")),
        katagaki=pl.when("_has_apt").then(pl.concat_str("_apt", pl.lit("　"), pl.col("room").cast(pl.String),
                                                        pl.lit("号室"))),
        shimei=pl.concat_str("sur", pl.lit("　"), "giv"),
        shimei_kana=pl.concat_str("sur_kana", pl.lit("　"), "giv_kana"),
        _fault=pl.when(pl.col("_fault") != "").then("_fault"),
    )
    if plant:
        f = pl.col("_fault")
        rows = rows.with_columns(
            b_mm=pl.when(f == "impossible_date").then(13).otherwise("b_mm"),
            b_era=pl.when(f == "calendar_date_kept").then(4).otherwise("b_era"),
            b_yy=pl.when(f == "calendar_date_kept").then(5).otherwise("b_yy"),
            zokugara=pl.when(f == "unknown_code").then(pl.lit("77"))
            .when(f == "no_setainushi").then(pl.lit("20")).otherwise("zokugara"),
            shimei=pl.when(f == "missing_required").then(None)
            .when(f == "unknown_gaiji").then(pl.concat_str("sur", pl.lit(UNKNOWN_GAIJI_A), pl.lit("　"), "giv"))
            .otherwise("shimei"),
            kojin_no=pl.when(f == "bad_kojin_no")
            .then(pl.concat_str(pl.col("kojin_no").str.slice(0, 11),
                                ((pl.col("kojin_no").str.slice(11, 1).cast(pl.Int64) + 1) % 10).cast(pl.String)))
            .otherwise("kojin_no"),
        ).with_columns(
            b_mm=pl.when(f == "calendar_date_kept").then(2).otherwise("b_mm"),
            b_dd=pl.when(f == "calendar_date_kept").then(29).otherwise("b_dd"),
        )
        dup = rows.filter(f == "duplicate_key")
        rows = rows.with_columns(_fault=pl.when(f == "duplicate_key").then(None).otherwise(f))
        rows = pl.concat([rows, dup]).sort("p", "rireki_no", maintain_order=True)
    return rows, h


# ---------------------------------------------------------------- rendering

def _d2(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.zfill(2)


def _date_a(prefix: str) -> pl.Expr:
    return pl.concat_str(_d2(f"{prefix}_era"), _d2(f"{prefix}_yy"), _d2(f"{prefix}_mm"), _d2(f"{prefix}_dd"))


def _date_b(prefix: str) -> pl.Expr:
    letter = pl.col(f"{prefix}_era").replace_strict(_ERA_LETTER, return_dtype=pl.String)
    return pl.concat_str(letter, _d2(f"{prefix}_yy"), _d2(f"{prefix}_mm"), _d2(f"{prefix}_dd"))


def _half_kana(expr: pl.Expr) -> pl.Expr:
    """Full-width → half-width katakana over the distinct kana of the pools (ｶﾞ ﾊﾟ as two chars)."""
    chars = sorted({c for _, k in SURNAMES + GIVEN_MALE + GIVEN_FEMALE + FOREIGN_SURNAMES + FOREIGN_GIVEN
                    for c in k} | {c for g in GAIJI for c in g[4]} | {"　"})
    return expr.str.replace_many(chars, [jaconv.z2h(c, kana=True, ascii=True, digit=True) for c in chars])


def render_vendor_a(rows: pl.DataFrame, codes: dict, dantai: str = DANTAI_CODE) -> pl.DataFrame:
    """中間標準レイアウト columns of specs/vendors/vendor_a/layouts/jumin.yaml, as text."""
    f = pl.col("_fault")
    to_gaiji = [g for _, _, g in VENDOR_A_EXTRA_GAIJI]
    shimei = pl.col("shimei").str.replace_many(to_gaiji, [c for c, _, _ in VENDOR_A_EXTRA_GAIJI])
    return rows.select(
        DANTAI_CD=pl.lit(dantai), ATENA_NO="atena_no", RIREKI_NO=pl.col("rireki_no").cast(pl.String),
        SETAI_NO="setai_no", JUMINHYO_CD="juminhyo_code", KOJIN_NO="kojin_no",
        SHIMEI=pl.when(f == "undecodable_bytes").then(pl.concat_str(shimei, pl.lit(_SENTINEL_UNDECODABLE)))
        .otherwise(shimei),
        SHIMEI_KANA=_half_kana(pl.col("shimei_kana")),
        SEIBETSU=pl.col("sex").replace_strict(codes["a_seibetsu"]),
        SEINENGAPPI=_date_a("b"), ZOKUGARA="zokugara", JUMIN_SHUBETSU="shubetsu",
        JUMIN_JOTAI="jumin_jotai_code", IDO_JIYU="ido_jiyu_code",
        IDO_YMD=_date_a("i"), TODOKEDE_YMD=_date_a("t"),
        MACHIAZA_CD="machiaza_code", JUSHO="jusho", BANCHI="banchi",
        KATAGAKI=pl.when(f == "wrong_field_count").then(pl.lit(_SENTINEL_EXTRA_FIELD)).otherwise("katagaki"),
        YUBIN_NO="yubin_no",
    )


def render_vendor_b(rows: pl.DataFrame, codes: dict, dantai: str = DANTAI_CODE) -> pl.DataFrame:
    """Vendor B's B_JUMIN columns (specs/vendors/vendor_b/layouts/b_jumin.yaml), its codes and 外字."""
    gaiji_b = [chr(_VENDOR_B_GAIJI_BASE + i) for i in range(len(GAIJI))]
    zoku = codes["b_zokugara"] | {"77": "77"}  # the planted unknown code stays unknown
    return rows.select(
        DANTAI=pl.lit(dantai), KOJIN_ID="atena_no", SEQ=pl.col("rireki_no").cast(pl.String),
        SETAI_ID="setai_no", JUKI_CODE="juminhyo_code", MYNUMBER="kojin_no",
        NAME_KANJI=pl.col("shimei").str.replace_many([g[0] for g in GAIJI] + [UNKNOWN_GAIJI_A],
                                                      gaiji_b + [UNKNOWN_GAIJI_B]),
        NAME_KANA="shimei_kana", SEX=pl.col("sex").replace_strict(codes["b_seibetsu"]),
        BIRTH=_date_b("b"), ZOKU=pl.col("zokugara").replace_strict(zoku),
        SHUBETSU=pl.col("shubetsu").replace_strict(codes["b_shubetsu"]),
        STATUS=pl.col("jumin_jotai_code").replace_strict(codes["b_jotai"]),
        JIYU=pl.col("ido_jiyu_code").replace_strict(codes["b_ido_jiyu"]),
        IDO_DATE=_date_b("i"), TODOKE_DATE=_date_b("t"),
        MACHI_CD="machiaza_code", ADDRESS="jusho", BANCHI="banchi", KATAGAKI="katagaki", ZIP="yubin_no",
    )


_FAULT_TEXT = {
    "undecodable_bytes": ("SHIMEI", "bytes 0x85 0x40 at the end of 氏名 are not valid CP932"),
    "wrong_field_count": ("KATAGAKI", "an unquoted comma in 方書 makes 22 fields instead of 21"),
    "impossible_date": ("SEINENGAPPI|BIRTH", "生年月日 with month 13"),
    "calendar_date_kept": ("SEINENGAPPI|BIRTH", "平成5年2月29日 (non-leap year): legal in the register, keep it"),
    "unknown_code": ("ZOKUGARA|ZOKU", "続柄 77 is not in the code table"),
    "duplicate_key": ("ATENA_NO|KOJIN_ID", "second row with the same 宛名番号+履歴番号"),
    "unknown_gaiji": ("SHIMEI|NAME_KANJI", "外字 code not in the vendor's 外字 table"),
    "no_setainushi": ("ZOKUGARA|ZOKU", "the household's current residents have no 世帯主 (続柄 02)"),
    "bad_kojin_no": ("KOJIN_NO|MYNUMBER", "個人番号 with a wrong check digit"),
    "missing_required": ("SHIMEI|NAME_KANJI", "氏名 is empty"),
}


def _fault_rows(rows: pl.DataFrame, line0: int) -> list[dict]:
    """faults.csv rows for one chunk; line numbers equal for both files (one row per history row)."""
    hits = rows.with_row_index("_i").filter(pl.col("_fault").is_not_null())
    out = []
    for r in hits.iter_rows(named=True):  # a handful of planted rows
        col_a, text = _FAULT_TEXT[r["_fault"]]
        cols = col_a.split("|")
        for vendor, source, col in (("vendor_a", VENDOR_A_FILE, cols[0]), ("vendor_b", VENDOR_B_FILE, cols[-1])):
            if vendor == "vendor_b" and r["_fault"] in _A_ONLY:
                continue
            out.append({"vendor": vendor, "source": source, "line": line0 + r["_i"] + 1,
                        "atena_no": r["atena_no"], "rireki_no": r["rireki_no"], "column": col,
                        "fault": r["_fault"], "description": text})
    return out


def _encode_a(df: pl.DataFrame) -> bytes:
    text = df.write_csv(include_header=False, line_terminator="\r\n", quote_style="necessary")
    data = text.encode("cp932")
    data = data.replace(_SENTINEL_UNDECODABLE.encode("cp932"), b"\x85\x40")
    return data.replace(_SENTINEL_EXTRA_FIELD.encode("cp932"), "101号室,余分".encode("cp932"))


GYOMU = ("juki", "kojin_juminzei")


def generate(out_dir: Path, persons: int, seed: int = DEFAULT_SEED, faults: bool = True,
             vendor_specs: Path | None = None, gyomu: tuple[str, ...] = ("juki",),
             dantai: str = DANTAI_CODE) -> dict:
    """Write vendor_a/, vendor_b/, vendor_c/, faults.csv and faults_vendor_c.csv under out_dir; returns the counts.

    `gyomu` adds 業務 beyond 住民記録 (always written: it is the population): "kojin_juminzei"
    writes the 個人住民税 files and faults_kojin_juminzei.csv from its own random stream, so the
    住民記録 files are byte-identical either way. `dantai`: the 団体コード the records carry
    (vendor A DANTAI_CD, vendor B DANTAI, vendor C C_KOJIN.DANTAI_CD), for sample data of several 団体
    (a campaign); nothing else changes.
    """
    unknown = set(gyomu) - set(GYOMU)
    if unknown:
        raise ValueError(f"unknown 業務 {sorted(unknown)}; known: {GYOMU}")
    with_tax = "kojin_juminzei" in gyomu
    if not is_valid_dantai_code(dantai):
        raise ValueError(f"{dantai!r} is not a 団体コード (6 digits with a valid check digit)")
    if persons < 1:
        raise ValueError("persons must be at least 1")
    if persons < 100:
        raise ValueError("the sample needs at least 100 persons (edge cases and faults)")
    out_dir = Path(out_dir)
    codes = _vendor_codes(vendor_specs or SPECS / "vendors")
    (out_dir / "vendor_a").mkdir(parents=True, exist_ok=True)
    (out_dir / "vendor_b").mkdir(parents=True, exist_ok=True)
    (out_dir / "vendor_c").mkdir(parents=True, exist_ok=True)
    _write_gaiji_tables(out_dir)
    c_faults: list[dict] = []
    c_rows: dict[str, int] = {}
    path_a, path_b = out_dir / VENDOR_A_FILE, out_dir / VENDOR_B_FILE
    fault_list: list[dict] = []
    tax_faults: list[dict] = []
    tax_lines = {k: 0 for k in TAX_FILES_A}
    done = households = lines = 0
    tax_a = {k: (out_dir / v).open("wb") for k, v in TAX_FILES_A.items()} if with_tax else {}
    tax_b = {k: (out_dir / v).open("wb") for k, v in TAX_FILES_B.items()} if with_tax else {}
    with path_a.open("wb") as fa, path_b.open("wb") as fb:
        chunk_no = 0
        while done < persons:
            n = min(CHUNK_PERSONS, persons - done)
            rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_no]))
            rows, h = _population(rng, n, done, households, first=chunk_no == 0,
                                   plant=faults and chunk_no == 0)
            fa.write(_encode_a(render_vendor_a(rows, codes, dantai)))
            fb.write(render_vendor_b(rows, codes, dantai).write_csv(include_header=chunk_no == 0,
                                                            quote_style="necessary").encode("utf-8"))
            fault_list += _fault_rows(rows, lines)
            crng = np.random.default_rng(np.random.SeedSequence([seed, chunk_no, 11]))
            c_tables, c_found = vendor_c.render_vendor_c(rows, done, households, crng,
                                                         plant=faults and chunk_no == 0, today=TODAY,
                                                         dantai=dantai)
            if chunk_no == 0:
                c_tables |= vendor_c.master_tables(pl.read_csv(SPECS / "gyomu" / "juki" / "code_tables" / "ido_jiyu.csv",
                                                               infer_schema=False))
            for k, v in vendor_c.write_tables(out_dir / "vendor_c", c_tables, first=chunk_no == 0).items():
                c_rows[k] = c_rows.get(k, 0) + v
            c_faults += c_found
            trng = np.random.default_rng(np.random.SeedSequence([seed, chunk_no, 7]))
            tax = _tax_tables(trng, rows, plant=faults and chunk_no == 0) if with_tax else {}
            for k, df in tax.items():
                tax_a[k].write(_encode_tax_a(render_tax_a(k, df, dantai)))
                tax_b[k].write(render_tax_b(k, df, dantai).write_csv(include_header=chunk_no == 0,
                                                              quote_style="necessary").encode("utf-8"))
                tax_faults += _tax_fault_rows(k, df, tax_lines[k])
                tax_lines[k] += df.height
            done += n
            households += h
            lines += rows.height
            chunk_no += 1
    for fh in (*tax_a.values(), *tax_b.values()):
        fh.close()
    with (out_dir / "faults.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, FAULT_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(fault_list)
    with (out_dir / vendor_c.FAULTS_FILE).open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, vendor_c.FAULT_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(c_faults)
    counts = {"persons": persons, "households": households, "rows_vendor_a": lines, "rows_vendor_b": lines,
              "faults": len(fault_list), **{f"rows_{k}": v for k, v in c_rows.items()}, "faults_vendor_c": len(c_faults)}
    if with_tax:
        with (out_dir / TAX_FAULTS_FILE).open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, TAX_FAULT_COLUMNS, lineterminator="\n")
            w.writeheader()
            w.writerows(tax_faults)
        counts |= {**{f"rows_zei_{k}": v for k, v in tax_lines.items()}, "faults_zei": len(tax_faults)}
    return counts


# ---------------------------------------------------------------- 個人住民税

def _tax_tables(rng: np.random.Generator, rows: pl.DataFrame, plant: bool) -> dict[str, pl.DataFrame]:
    """義務者, 課税 and 控除 rows (standard codes, amounts in yen) for this chunk's adult residents.

    Uses its own random stream, so the 住民記録 files are the same with or without it.
    """
    cutoff = _days(dt.date(TAX_YEARS[0] - 16, 1, 1))   # 16 or older on 1 January
    people = (rows.unique("p", keep="last", maintain_order=True)
              .filter((pl.col("jumin_jotai_code") == "1") & (pl.col("birth") < cutoff))
              .select("p", "atena_no"))
    m = people.height
    has_income = rng.random(m) < 0.75
    people = people.filter(pl.Series(has_income))
    m = people.height
    kinds = rng.integers(0, len(TEKIYO), size=m)
    base_income = np.round(rng.lognormal(15.0, 0.6, size=m), -3).astype(np.int64)   # ~3.3M yen median
    frames = []
    for y_i, year in enumerate(TAX_YEARS):
        income = np.round(base_income * (1 + 0.02 * y_i + rng.normal(0, 0.03, size=m)), -3).astype(np.int64)
        income = np.maximum(income, 0)
        frames.append(people.with_columns(kazei_nendo=pl.lit(year, pl.Int64), sogo_shotoku_gaku=pl.Series(income),
                                          tekiyo=_gather(TEKIYO, kinds), _y=pl.lit(y_i)))
    g = pl.concat(frames).sort("p", "kazei_nendo")
    n = g.height
    # 控除: one row per applicable kind
    parts = []
    for code, _, share, lo, hi in KOJO:   # eight kinds, not rows
        hit = rng.random(n) < share
        amt = np.where(lo == hi, lo, np.round(rng.uniform(lo, hi, size=n), -3)).astype(np.int64)
        parts.append(g.select("p", "atena_no", "kazei_nendo").with_columns(
            kojo_shubetsu_code=pl.lit(code), kojo_gaku=pl.Series(amt), _hit=pl.Series(hit)).filter("_hit"))
    kojo = pl.concat(parts).drop("_hit").sort("p", "kazei_nendo", "kojo_shubetsu_code")
    total = kojo.group_by("atena_no", "kazei_nendo").agg(pl.col("kojo_gaku").sum().alias("_kojo"))
    g = g.join(total, on=["atena_no", "kazei_nendo"], how="left", maintain_order="left").with_columns(
        kazei_shotoku_gaku=((pl.col("sogo_shotoku_gaku") - pl.col("_kojo").fill_null(0)).clip(0) // 1000 * 1000))
    g = g.with_columns(
        kazei_kubun_code=pl.when(pl.col("sogo_shotoku_gaku") <= 450_000).then(pl.lit("3"))
        .when(pl.col("kazei_shotoku_gaku") == 0).then(pl.lit("2")).otherwise(pl.lit("1")),
        choshu_hoho_code=pl.when(pl.col("tekiyo") == "給与").then(pl.lit("2"))
        .when(pl.col("tekiyo") == "年金").then(pl.lit("3")).otherwise(pl.lit("1")),
    ).with_columns(
        shotokuwari_gaku=pl.when(pl.col("kazei_kubun_code") == "1")
        .then(pl.col("kazei_shotoku_gaku") // 10 // 100 * 100).otherwise(0),
        kintowari_gaku=pl.when(pl.col("kazei_kubun_code") == "3").then(0).otherwise(KINTOWARI),
    ).with_columns(nengaku=pl.col("shotokuwari_gaku") + pl.col("kintowari_gaku"), _fault=pl.lit(None, pl.String))
    kazei = g.filter(pl.col("kazei_kubun_code") != "3")
    gimusha = g.with_columns(_fault=pl.lit(None, pl.String))
    kojo = kojo.with_columns(_fault=pl.lit(None, pl.String))
    if plant:
        def mark(df: pl.DataFrame, at: int, fault: str) -> pl.DataFrame:
            return df.with_columns(_fault=pl.when(pl.int_range(pl.len()) == at).then(pl.lit(fault))
                                   .otherwise("_fault"))
        dup_at = gimusha.height // 3
        gimusha = pl.concat([gimusha.slice(0, dup_at + 1), gimusha.slice(dup_at, 1).with_columns(
            _fault=pl.lit("duplicate_key")), gimusha.slice(dup_at + 1)])
        kazei = mark(mark(kazei, kazei.height // 4, "not_integer"), kazei.height // 2, "negative_amount")
        kojo = mark(mark(kojo, kojo.height // 5, "unknown_code"), kojo.height // 3, "overlong_field")
    return {"gimusha": gimusha, "kazei": kazei, "kojo": kojo}


def render_tax_a(kind: str, df: pl.DataFrame, dantai: str = DANTAI_CODE) -> pl.DataFrame:
    """Vendor A 個人住民税 files (specs/vendors/vendor_a/layouts/zei_*.yaml): standard codes, 西暦 年度."""
    f = pl.col("_fault")
    common = {"DANTAI_CD": pl.lit(dantai), "ATENA_NO": "atena_no", "NENDO": pl.col("kazei_nendo").cast(pl.String)}
    if kind == "gimusha":
        return df.select(**common, KAZEI_KUBUN="kazei_kubun_code", CHOSHU_HOHO="choshu_hoho_code")
    if kind == "kazei":
        wari = pl.col("shotokuwari_gaku").cast(pl.String)
        return df.select(
            **common, SOGO_SHOTOKU=pl.col("sogo_shotoku_gaku").cast(pl.String),
            KAZEI_SHOTOKU=pl.col("kazei_shotoku_gaku").cast(pl.String),
            SHOTOKUWARI=pl.when(f == "not_integer").then(
                wari.str.replace_many(list("0123456789"), list("０１２３４５６７８９")))
            .when(f == "negative_amount").then(pl.lit("-") + wari).otherwise(wari),
            KINTOWARI=pl.col("kintowari_gaku").cast(pl.String), NENGAKU=pl.col("nengaku").cast(pl.String),
            TEKIYO="tekiyo")
    return df.select(
        **common, KOJO_SHUBETSU=pl.when(f == "unknown_code").then(pl.lit("99")).otherwise("kojo_shubetsu_code"),
        KOJO_GAKU=pl.when(f == "overlong_field").then(pl.lit("12345678901"))
        .otherwise(pl.col("kojo_gaku").cast(pl.String)))


def render_tax_b(kind: str, df: pl.DataFrame, dantai: str = DANTAI_CODE) -> pl.DataFrame:
    """Vendor B's own tables B_ZEI_*: its codes, amounts as text; A-only faults rendered clean."""
    f = pl.col("_fault")
    common = {"DANTAI": pl.lit(dantai), "KOJIN_ID": "atena_no", "NENDO": pl.col("kazei_nendo").cast(pl.String)}
    if kind == "gimusha":
        return df.select(**common, KAZEI_KBN=pl.col("kazei_kubun_code").replace_strict({"1": "K", "2": "J", "3": "H"}),
                         CHOSHU=pl.col("choshu_hoho_code").replace_strict({"1": "F", "2": "T", "3": "N"}))
    if kind == "kazei":
        wari = pl.col("shotokuwari_gaku").cast(pl.String)
        return df.select(
            **common, SOGO_SHOTOKU_GAKU=pl.col("sogo_shotoku_gaku").cast(pl.String),
            KAZEI_SHOTOKU_GAKU=pl.col("kazei_shotoku_gaku").cast(pl.String),
            SHOTOKUWARI_GAKU=pl.when(f == "negative_amount").then(pl.lit("-") + wari).otherwise(wari),
            KINTOWARI_GAKU=pl.col("kintowari_gaku").cast(pl.String), NENGAKU=pl.col("nengaku").cast(pl.String),
            TEKIYO="tekiyo")
    to_b = {code: b for code, b, *_ in KOJO}
    return df.select(**common, KOJO_CD=pl.when(f == "unknown_code").then(pl.lit("ZZ"))
                     .otherwise(pl.col("kojo_shubetsu_code").replace_strict(to_b)),
                     KOJO_GAKU=pl.col("kojo_gaku").cast(pl.String))


def _encode_tax_a(df: pl.DataFrame) -> bytes:
    return df.write_csv(include_header=False, line_terminator="\r\n", quote_style="necessary").encode("cp932")


def _tax_fault_rows(kind: str, df: pl.DataFrame, line0: int) -> list[dict]:
    hits = df.with_row_index("_i").filter(pl.col("_fault").is_not_null())
    out = []
    for r in hits.iter_rows(named=True):   # a handful of planted rows
        _, vendors, cols, text = TAX_FAULTS[r["_fault"]]
        col = cols.split("|")
        for vendor in vendors:
            src = (TAX_FILES_A if vendor == "vendor_a" else TAX_FILES_B)[kind]
            out.append({"vendor": vendor, "source": src, "line": line0 + r["_i"] + 1, "atena_no": r["atena_no"],
                        "kazei_nendo": r["kazei_nendo"], "column": col[0] if vendor == "vendor_a" else col[-1],
                        "fault": r["_fault"], "description": text})
    return out


def _write_gaiji_tables(out_dir: Path) -> None:
    def write(path: Path, pairs: list[tuple[str, str]]) -> None:
        with path.open("w", encoding="utf-8", newline="") as f:
            f.write("code,mj\n")
            f.writelines(f"U+{ord(c):04X},{mj}\n" for c, mj in pairs)

    write(out_dir / "vendor_a" / "gaiji.csv",
          [(c, mj) for c, mj, *_ in GAIJI] + [(c, mj) for c, mj, _ in VENDOR_A_EXTRA_GAIJI])
    write(out_dir / "vendor_b" / "gaiji.csv",
          [(chr(_VENDOR_B_GAIJI_BASE + i), g[1]) for i, g in enumerate(GAIJI)])


def _check_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The command line's arguments, refused in one line (ikou.flows.cli) before anything is written;
    returns the 業務 to write."""
    from ikou.errors import ConfigError

    class ArgumentError(ConfigError):
        ja = "ikou generate の引数が正しくありません"

    if args.persons < 100:
        raise ArgumentError(f"--persons {args.persons}: the sample needs at least 100 persons (edge cases and faults)")
    if not is_valid_dantai_code(args.dantai):
        raise ArgumentError(f"--dantai {args.dantai!r} is not a 団体コード (6 digits with a valid check digit)")
    gyomu = tuple(g.strip() for g in args.gyomu.split(",") if g.strip())
    unknown = sorted(set(gyomu) - set(GYOMU))
    if unknown:
        raise ArgumentError(f"--gyomu {args.gyomu!r}: unknown 業務 {unknown}; known: {', '.join(GYOMU)}")
    if args.seed < 0:
        raise ArgumentError(f"--seed {args.seed}: a seed is a number from 0")
    return gyomu


def _cli(args: argparse.Namespace) -> int:
    gyomu = _check_args(args)
    counts = generate(Path(args.out), args.persons, seed=args.seed, faults=not args.no_faults,
                      gyomu=gyomu, dantai=args.dantai)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="架空市 (999997) のサンプル住民記録データを生成する")
    p.add_argument("--persons", type=int, required=True, help="number of persons")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--no-faults", action="store_true", help="do not plant faults")
    p.add_argument("--dantai", default=DANTAI_CODE,
                   help=f"団体コード the records carry (default {DANTAI_CODE}; with check digit)")
    p.add_argument("--gyomu", default=",".join(GYOMU),
                   help="業務 to write, comma-separated (住民記録 is always written): juki,kojin_juminzei")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    p.set_defaults(func=_cli)
