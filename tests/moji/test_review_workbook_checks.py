"""The review cycle's guards: a workbook is applied only to the 団体 and ledger it was written from,
never undoes a decision recorded after it was written, withdraws a decision when its 判断 is emptied
and signed, and no decision is recorded that 文字同定 would never consult."""
from __future__ import annotations

import shutil

import polars as pl
import pytest
from openpyxl import load_workbook

from ikou.flows.cli import main
from ikou.moji.identify import identify_frame, load_gaiji_table
from ikou.moji.ledger import Ledger, LedgerIdentityError
from ikou.moji.review import (CODEPOINTS, DECIDED_BY, DECISION, META, NOTE, SHEET, WorkbookRowError,
                              apply_workbook, write_workbook)


@pytest.fixture()
def make_ledger(tmp_path, dictionary):
    """A 団体's ledger as a run leaves it: U+E700, U+E701 unresolved; U+E705 mapped by the 外字 table."""
    table = tmp_path / "gaiji.csv"
    table.write_text("code,mj\nU+E705,MJ028902\n", encoding="utf-8")

    def make(code: str | None = "999679", sources=("vendor_a",)):
        d = (tmp_path / "runs" / code / "moji_ledger") if code else (tmp_path / "elsewhere" / "moji_ledger")
        led = Ledger.load(d)
        for s in sources:
            df = pl.DataFrame({"_row_id": [1, 2, 3], "shimei": ["\ue700山", "\ue701川", "\ue705田"]})
            res = identify_frame(df, ["shimei"], dictionary=dictionary, key_columns=["_row_id"],
                                 gaiji=load_gaiji_table(table, dictionary))
            led.update(res, dictionary=dictionary, source=s)
        led.save(d)
        return d
    return make


def review(ledger, out):
    assert main(["moji", "review", "--ledger", str(ledger), "--xlsx", str(out),
                 "--html", str(out.with_suffix(".html"))]) == 0
    return out


def fill(xlsx, cells: dict[str, dict[str, str | None]]):
    """Write cells {codepoints: {column: value}} as a reviewer would in Excel."""
    wb = load_workbook(xlsx)
    ws = wb[SHEET]
    head = [c.value for c in ws[1]]
    for r in range(2, ws.max_row + 1):
        for col, value in cells.get(ws.cell(r, 1).value, {}).items():
            ws.cell(r, head.index(col) + 1).value = value
    wb.save(xlsx)


def decide(moji_dir, ledger, *args):
    return main(["moji", "decide", "--ledger", str(ledger), "--by", "審査担当", "--dictionary", str(moji_dir), *args])


def one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ikou: 失敗") and "Traceback" not in err, err
    return err


def active(ledger):
    return {r["codepoints"]: (r["mj"], r["version"]) for r in Ledger.load(ledger).active().iter_rows(named=True)}


# -- 1. which 団体, which ledger --------------------------------------------------------------------
def test_a_workbook_of_another_dantai_is_refused_and_records_nothing(make_ledger, moji_dir, tmp_path, capsys):
    ours, theirs = make_ledger("999679"), make_ledger("999687")
    a = review(ours, tmp_path / "A.xlsx")
    fill(a, {"U+E700": {DECISION: "MJ028902"}})
    assert decide(moji_dir, theirs, "--workbook", str(a)) == 2
    err = one_line(capsys)
    assert "999679" in err and "999687" in err and "団体" in err
    assert Ledger.load(theirs).decisions.height == 0
    assert decide(moji_dir, ours, "--workbook", str(a)) == 0          # its own 団体's ledger takes it
    assert active(ours) == {"U+E700": ("MJ028902", 1)}


def test_a_workbook_of_another_ledger_is_refused(make_ledger, moji_dir, tmp_path, capsys):
    """Same (unknown) 団体, another ledger: its versions say nothing of this one's."""
    ours = make_ledger(None)
    other = tmp_path / "copy" / "moji_ledger"
    Ledger.load(ours).save(other)
    shutil.copy(ours / "ledger.csv", other / "ledger.csv")
    (other / "ledger.json").unlink(missing_ok=True)                    # a ledger from before identities
    a = review(other, tmp_path / "A.xlsx")
    fill(a, {"U+E700": {DECISION: "MJ028902"}})
    assert decide(moji_dir, ours, "--workbook", str(a)) == 2
    assert "another 同定台帳" in one_line(capsys)
    assert Ledger.load(ours).decisions.height == 0


def test_a_workbook_without_identity_is_refused_saying_to_review_again(make_ledger, moji_dir, tmp_path, capsys):
    led = make_ledger()
    a = review(led, tmp_path / "A.xlsx")
    wb = load_workbook(a)
    if META in wb.sheetnames:
        wb.remove(wb[META])                                            # as an older ikou wrote it
    wb.save(a)
    fill(a, {"U+E700": {DECISION: "MJ028902"}})
    assert decide(moji_dir, led, "--workbook", str(a)) == 2
    err = one_line(capsys)
    assert "ikou moji review" in err and "作り直して" in err
    assert Ledger.load(led).decisions.height == 0


def test_a_ledger_copied_into_another_dantai_folder_is_refused(make_ledger, tmp_path):
    src = make_ledger("999679")
    dst = tmp_path / "runs" / "999687" / "moji_ledger"
    shutil.copytree(src, dst)
    with pytest.raises(LedgerIdentityError, match="999679"):
        Ledger.load(dst)
    with pytest.raises(LedgerIdentityError, match="999679"):
        Ledger.load(src).save(tmp_path / "runs" / "999687" / "moji_ledger")


# -- 2. an out-of-date workbook ---------------------------------------------------------------------
def test_an_out_of_date_workbook_does_not_undo_a_later_decision(make_ledger, moji_dir, tmp_path, capsys):
    led = make_ledger()
    a = review(led, tmp_path / "A.xlsx")
    b = tmp_path / "B.xlsx"
    shutil.copy(a, b)
    fill(a, {"U+E700": {DECISION: "MJ028902"}})
    fill(b, {"U+E700": {DECISION: "MJ030196"}})
    assert decide(moji_dir, led, "--workbook", str(a)) == 0
    assert decide(moji_dir, led, "--workbook", str(b)) == 2
    err = one_line(capsys)
    assert "U+E700" in err and "ikou moji review" in err
    assert decide(moji_dir, led, "--workbook", str(a)) == 0           # already so: nothing recorded
    assert Ledger.load(led).decisions["version"].to_list() == [1]
    assert active(led) == {"U+E700": ("MJ028902", 1)}
    # a decision recorded by --char after A was written: A would undo it
    assert decide(moji_dir, led, "--char", "U+E700", "--mj", "MJ030196") == 0
    capsys.readouterr()
    assert decide(moji_dir, led, "--workbook", str(a)) == 2
    assert "U+E700" in one_line(capsys)
    assert active(led) == {"U+E700": ("MJ030196", 2)}


def test_rows_left_as_written_record_nothing_even_when_the_ledger_moved_on(make_ledger, moji_dir, tmp_path):
    led = make_ledger()
    assert decide(moji_dir, led, "--char", "U+E700", "--mj", "MJ028902") == 0
    w = review(led, tmp_path / "W.xlsx")                               # shows U+E700 → MJ028902
    assert decide(moji_dir, led, "--char", "U+E700", "--mj", "MJ030196") == 0
    fill(w, {"U+E701": {DECISION: "MJ030196"}})                        # the reviewer changes another row only
    assert decide(moji_dir, led, "--workbook", str(w)) == 0
    assert active(led) == {"U+E700": ("MJ030196", 2), "U+E701": ("MJ030196", 1)}


# -- 3. an emptied 判断 ----------------------------------------------------------------------------
def test_an_emptied_decision_with_decided_by_withdraws_it(make_ledger, moji_dir, tmp_path, capsys):
    led = make_ledger()
    assert decide(moji_dir, led, "--char", "U+E700", "--mj", "MJ028902") == 0
    w = review(led, tmp_path / "W.xlsx")
    fill(w, {"U+E700": {DECISION: None, DECIDED_BY: "審査担当B", NOTE: "取り下げ"}})
    capsys.readouterr()
    assert decide(moji_dir, led, "--workbook", str(w)) == 0
    assert "1 decision(s) (1 withdrawn)" in capsys.readouterr().out
    last = Ledger.load(led).active().row(0, named=True)
    assert (last["codepoints"], last["mj"], last["version"], last["decided_by"], last["note"]) == (
        "U+E700", None, 2, "審査担当B", "取り下げ")
    assert decide(moji_dir, led, "--workbook", str(w)) == 0           # applied again: nothing more
    assert Ledger.load(led).decisions.height == 2


def test_an_emptied_decision_without_decided_by_is_reported_not_withdrawn(make_ledger, moji_dir, tmp_path, capsys):
    led = make_ledger()
    assert decide(moji_dir, led, "--char", "U+E700", "--mj", "MJ028902") == 0
    w = review(led, tmp_path / "W.xlsx")
    fill(w, {"U+E700": {DECISION: None, NOTE: "取り下げ"}, "U+E701": {DECISION: "MJ030196"}})
    capsys.readouterr()
    assert decide(moji_dir, led, "--workbook", str(w)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("1 decision(s) from")
    assert len(out) == 2 and "U+E700" in out[1] and "判断者" in out[1] and "not withdrawn" in out[1]
    assert active(led) == {"U+E700": ("MJ028902", 1), "U+E701": ("MJ030196", 1)}


# -- 4. rows that name no character ----------------------------------------------------------------
@pytest.mark.parametrize("cps", [None, "  ", "U+E700 U+E701", "E700"])
def test_a_decision_without_one_characters_codepoints_is_refused_naming_the_row(make_ledger, tmp_path, cps):
    led = make_ledger()
    w = tmp_path / "W.xlsx"
    write_workbook(Ledger.load(led), w)
    wb = load_workbook(w)
    ws = wb[SHEET]
    head = [c.value for c in ws[1]]
    ws.cell(2, head.index(CODEPOINTS) + 1).value = cps
    ws.cell(2, head.index(DECISION) + 1).value = "MJ028902"
    wb.save(w)
    ledger = Ledger.load(led)
    with pytest.raises(WorkbookRowError, match=rf"{SHEET}!row 2"):
        apply_workbook(ledger, w, default_by="x")
    assert ledger.decisions.height == 0


def test_rows_of_one_character_that_disagree_are_refused(make_ledger, tmp_path):
    led = make_ledger(sources=("vendor_a", "vendor_b"))                # U+E700 has a row per source
    w = tmp_path / "W.xlsx"
    write_workbook(Ledger.load(led), w)
    wb = load_workbook(w)
    ws = wb[SHEET]
    col = [c.value for c in ws[1]].index(DECISION) + 1
    rows = [r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "U+E700"]
    assert len(rows) == 2
    ws.cell(rows[0], col).value = "MJ028902"
    wb.save(w)
    ledger = Ledger.load(led)
    with pytest.raises(WorkbookRowError, match="different 判断"):
        apply_workbook(ledger, w, default_by="x")
    assert ledger.decisions.height == 0


# -- 5. decisions that can never apply -------------------------------------------------------------
@pytest.mark.parametrize("char, mj, why", [
    ("髙", "MJ030196", "MJ028902 exactly"),                          # an exact MJ character
    ("U+E705", "MJ030196", "外字 table"),                             # mapped by the 団体's 外字 table
    ("U+200B", "MJ028902", "not text"),                              # held by 文字同定, never decided
])
def test_a_decision_that_can_never_apply_is_refused(make_ledger, moji_dir, capsys, char, mj, why):
    led = make_ledger()
    for extra in ([], ["--ahead"]):
        assert decide(moji_dir, led, "--char", char, "--mj", mj, *extra) == 2
        assert why in one_line(capsys)
    assert Ledger.load(led).decisions.height == 0


def test_a_gaiji_one_sources_table_maps_may_be_decided_where_another_source_leaves_it_unresolved(
        make_ledger, moji_dir, dictionary):
    led = make_ledger()
    ledger = Ledger.load(led)
    df = pl.DataFrame({"_row_id": [9], "shimei": ["\ue705子"]})     # vendor_b has no 外字 table
    ledger.update(identify_frame(df, ["shimei"], dictionary=dictionary, key_columns=["_row_id"]),
                  dictionary=dictionary, source="vendor_b")
    ledger.save(led)
    assert decide(moji_dir, led, "--char", "U+E705", "--mj", "MJ030196") == 0
    assert active(led) == {"U+E705": ("MJ030196", 1)}


def test_a_character_not_in_the_ledger_is_decided_only_ahead(make_ledger, moji_dir, capsys):
    led = make_ledger()
    assert decide(moji_dir, led, "--char", "U+E702", "--mj", "MJ028902") == 2
    assert "--ahead" in one_line(capsys)
    assert Ledger.load(led).decisions.height == 0
    assert decide(moji_dir, led, "--char", "U+E702", "--mj", "MJ028902", "--ahead") == 0
    assert active(led) == {"U+E702": ("MJ028902", 1)}
    # once decided it is known: a change needs no flag
    assert decide(moji_dir, led, "--char", "U+E702", "--mj", "MJ030196") == 0


def test_withdrawing_nothing_is_refused(make_ledger, moji_dir, capsys):
    led = make_ledger()
    assert decide(moji_dir, led, "--char", "U+E700", "--withdraw") == 2
    assert "no active decision" in one_line(capsys)
    assert Ledger.load(led).decisions.height == 0


def test_a_workbook_row_added_for_a_character_not_in_the_ledger_is_refused(make_ledger, moji_dir, tmp_path, capsys):
    led = make_ledger()
    w = review(led, tmp_path / "W.xlsx")
    wb = load_workbook(w)
    ws = wb[SHEET]
    head = [c.value for c in ws[1]]
    n = ws.max_row + 1
    ws.cell(n, head.index(CODEPOINTS) + 1).value = "U+E702"
    ws.cell(n, head.index(DECISION) + 1).value = "MJ028902"
    wb.save(w)
    fill(w, {"U+E700": {DECISION: "MJ030196"}})
    assert decide(moji_dir, led, "--workbook", str(w)) == 2
    err = one_line(capsys)
    assert f"row {n}" in err and "U+E702" in err and "--ahead" in err
    assert Ledger.load(led).decisions.height == 0                     # all or nothing
    assert decide(moji_dir, led, "--workbook", str(w), "--ahead") == 0
    assert active(led) == {"U+E700": ("MJ030196", 1), "U+E702": ("MJ028902", 1)}
